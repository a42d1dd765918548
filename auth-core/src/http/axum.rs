//! axum/tower integration (feature `axum`): [`AuthLayer`] authenticates the
//! bearer token of every request (with the `sessions` feature, a request
//! without one by its cookie session, then its remember-me cookie: see
//! [`sessions`](super::sessions)) and puts the [`AuthenticatedUser`] in the
//! request's extensions (Ash's `retrieve_from_bearer` + `set_actor`);
//! [`CurrentUser`] hands it to handlers; [`BearerToken`] gives sign-out
//! handlers the presented token; [`ClientInfo`] is an
//! extractor too (the `User-Agent` header and the peer address of
//! [`ConnectInfo`](axum::extract::ConnectInfo)), for the session row a
//! sign-in opens.
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::http::axum::{AuthLayer, CurrentUser};
//! use auth_core::{Auth, MemoryStore, UserResource};
//! use axum::{Json, Router, routing::get};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Clone, Debug, Serialize, Deserialize)]
//! # struct User { id: i64 }
//! # impl UserResource for User {
//! #     type PrimaryKey = i64;
//! #     const SUBJECT_NAME: &'static str = "user";
//! #     const PRIMARY_KEY_FIELD: &'static str = "id";
//! #     fn primary_key(&self) -> i64 { self.id }
//! # }
//!
//! async fn me(CurrentUser(me): CurrentUser<User>) -> Json<i64> {
//!     Json(me.user.id)
//! }
//!
//! fn router(auth: Arc<Auth<User, MemoryStore>>) -> Router {
//!     Router::new()
//!         .route("/me", get(me))                 // 401 with a JSON body if absent
//!         .layer(AuthLayer::optional(auth))      // or `required`: 401 before any handler
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};

use crate::api_keys::AuthenticatedKey;
use crate::auth::{Auth, AuthenticatedUser};
use crate::http::{API_KEY_HEADER, RequestCredential, bearer_token};
use crate::session::ClientInfo;
use crate::store::{ApiKeyStore, AttemptStore, TokenStore, UserStore};
use crate::tenant::{Tenant, TenantSource};
use crate::user::UserResource;

/// The response to a request without a valid token: 401,
/// `{"error":"unauthorized"}` and `WWW-Authenticate: Bearer`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut res = (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({"error": "unauthorized"})),
        )
            .into_response();
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        res
    }
}

/// The response to a request from an address the brute-force add-on
/// throttles (its refused API keys): 429, `{"error":"too_many_attempts"}`
/// and `Retry-After` in seconds.
#[derive(Clone, Copy, Debug)]
pub struct TooManyAttempts(pub std::time::Duration);

impl IntoResponse for TooManyAttempts {
    fn into_response(self) -> Response {
        let mut res = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(serde_json::json!({"error": "too_many_attempts"})),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&self.0.as_secs().max(1).to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

/// Authenticates `Authorization: Bearer` on every request (every check of
/// [`Auth::authenticate`]); on success the request carries the
/// [`AuthenticatedUser`]. `optional` lets requests without a valid token
/// through (handlers decide with [`CurrentUser`]); `required` answers them
/// with [`Unauthorized`].
///
/// At a resource with tenancy it reads the request's tenant from
/// [`AuthLayer::tenant_from`]'s source (default: the `X-Tenant` header)
/// and authenticates in it ([`Auth::authenticate_in`]); a request naming
/// no tenant, or an invalid one, authenticates nobody. The tenant is left
/// in the request for the [`TenantId`] extractor.
pub struct AuthLayer<U, S> {
    auth: Arc<Auth<U, S>>,
    required: bool,
    tenants: Arc<TenantSource>,
}

impl<U, S> Clone for AuthLayer<U, S> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            required: self.required,
            tenants: self.tenants.clone(),
        }
    }
}

impl<U, S> std::fmt::Debug for AuthLayer<U, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("required", &self.required)
            .finish()
    }
}

impl<U, S> AuthLayer<U, S> {
    /// Sets the user when the token is valid; lets other requests through.
    pub fn optional(auth: Arc<Auth<U, S>>) -> Self {
        Self {
            auth,
            required: false,
            tenants: Arc::default(),
        }
    }

    /// Answers 401 unless the token is valid.
    pub fn required(auth: Arc<Auth<U, S>>) -> Self {
        Self {
            auth,
            required: true,
            tenants: Arc::default(),
        }
    }

    /// Where requests name their tenant (a resource with tenancy); the
    /// default is the `X-Tenant` header.
    pub fn tenant_from(mut self, source: TenantSource) -> Self {
        self.tenants = Arc::new(source);
        self
    }
}

impl<I, U, S> tower_layer::Layer<I> for AuthLayer<U, S> {
    type Service = AuthService<I, U, S>;

    fn layer(&self, inner: I) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
            required: self.required,
            tenants: self.tenants.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
pub struct AuthService<I, U, S> {
    inner: I,
    auth: Arc<Auth<U, S>>,
    required: bool,
    tenants: Arc<TenantSource>,
}

impl<I: Clone, U, S> Clone for AuthService<I, U, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            auth: self.auth.clone(),
            required: self.required,
            tenants: self.tenants.clone(),
        }
    }
}

impl<I, U, S> std::fmt::Debug for AuthService<I, U, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("required", &self.required)
            .finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<I, U, S> tower_service::Service<Request> for AuthService<I, U, S>
where
    I: tower_service::Service<Request, Response = Response> + Clone + Send + 'static,
    I::Future: Send + 'static,
    U: UserResource,
    S: ApiKeyStore + UserStore<U> + AttemptStore + Clone + 'static,
{
    type Response = Response;
    type Error = I::Error;
    type Future = BoxFuture<Result<Response, I::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (auth, required) = (self.auth.clone(), self.required);
        let tenants = self.tenants.clone();
        Box::pin(async move {
            let (authorization, api_key) = (
                header_text(&req, header::AUTHORIZATION.as_str()),
                header_text(&req, API_KEY_HEADER),
            );
            // An invalid tenant name authenticates nobody (and is no
            // tenant for the handler either).
            let tenant = match auth.settings().tenancy {
                Some(_) => tenant_of(&tenants, req.headers(), req.uri().path()),
                None => None,
            };
            if let Some(tenant) = &tenant {
                req.extensions_mut().insert(tenant.clone());
            }
            let ip = client_info(req.headers(), req.extensions()).ip;
            let result = match auth
                .authenticate_headers_from(
                    authorization.as_deref(),
                    api_key.as_deref(),
                    tenant.as_ref(),
                    ip,
                )
                .await
            {
                Ok(Some(found)) => Ok(found),
                Err(e) => Err(Some(e)),
                #[cfg(feature = "sessions")]
                Ok(None) => {
                    let browser = Browser::of(&req);
                    browser
                        .user(&auth, tenant.as_ref())
                        .await
                        .map(|user| RequestCredential { user, key: None })
                }
                #[cfg(not(feature = "sessions"))]
                Ok(None) => Err(None),
            };
            match result {
                Ok(found) => {
                    req.extensions_mut().insert(found.user);
                    if let Some(key) = found.key {
                        req.extensions_mut().insert(key);
                    }
                }
                Err(e) => {
                    if let Some(e) = &e {
                        // Which check failed goes to the log, never to the client.
                        tracing::debug!(error = %e, "bearer token refused");
                        // A throttled address is told when to come back.
                        if let Some(wait) = crate::http::retry_after(e) {
                            return Ok(TooManyAttempts(wait).into_response());
                        }
                    }
                    if required {
                        return Ok(Unauthorized.into_response());
                    }
                }
            }
            inner.call(req).await
        })
    }
}

/// The tenant a request names by `source`; `None` when it names none or
/// an invalid one.
fn tenant_of(source: &TenantSource, headers: &HeaderMap, path: &str) -> Option<Tenant> {
    let header = |name: &str| headers.get(name).and_then(|h| h.to_str().ok());
    source.tenant_of(header, path).ok().flatten()
}

/// The request's tenant (a resource with tenancy): the one [`AuthLayer`]
/// read, else read from the [`TenantSource`] in the request's extensions
/// (`Extension(source)`), else from the `X-Tenant` header. Rejects a
/// request naming none, or an invalid one, with 400
/// `{"error":"invalid_tenant"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantId(pub Tenant);

/// The rejection of [`TenantId`]: 400, `{"error":"invalid_tenant"}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct InvalidTenant;

impl IntoResponse for InvalidTenant {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "invalid_tenant"})),
        )
            .into_response()
    }
}

impl<St: Send + Sync> FromRequestParts<St> for TenantId {
    type Rejection = InvalidTenant;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, InvalidTenant> {
        if let Some(tenant) = parts.extensions.get::<Tenant>() {
            return Ok(Self(tenant.clone()));
        }
        let source = parts
            .extensions
            .get::<TenantSource>()
            .cloned()
            .unwrap_or_default();
        tenant_of(&source, &parts.headers, parts.uri.path())
            .map(Self)
            .ok_or(InvalidTenant)
    }
}

/// A header's value as text, if it is there and is text.
fn header_text(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
}

/// Without a bearer header: the cookie session's user, else the
/// remember-me cookie's (signing the browser in again).
#[cfg(feature = "sessions")]
struct Browser {
    session: Option<crate::http::sessions::Session>,
    cookies: Option<crate::http::sessions::Cookies>,
    client: ClientInfo,
}

#[cfg(feature = "sessions")]
impl Browser {
    fn of(req: &Request) -> Self {
        Self {
            session: req.extensions().get().cloned(),
            cookies: req.extensions().get().cloned(),
            client: client_info(req.headers(), req.extensions()),
        }
    }

    async fn user<U, S>(
        self,
        auth: &Auth<U, S>,
        tenant: Option<&Tenant>,
    ) -> Result<AuthenticatedUser<U>, Option<crate::Error>>
    where
        U: UserResource,
        S: TokenStore + UserStore<U>,
    {
        let Some(session) = self.session else {
            return Err(None);
        };
        if let Some(user) = auth
            .retrieve_from_session_in(&session, tenant)
            .await
            .map_err(Some)?
        {
            return Ok(user);
        }
        let Some(cookies) = self.cookies else {
            return Err(None);
        };
        let mut context = crate::session::SignInContext::default().client(self.client);
        context.tenant = tenant.cloned();
        auth.sign_in_from_remember_me_cookie(&session, &cookies, context)
            .await
            .map_err(Some)?
            .ok_or(None)
    }
}

/// What [`AuthLayer`] put in the request's extensions; [`Unauthorized`]
/// when it put none.
fn put_there<T: Clone + Send + Sync + 'static>(parts: &Parts) -> Result<T, Unauthorized> {
    parts.extensions.get::<T>().cloned().ok_or(Unauthorized)
}

/// The authenticated user of a request that went through [`AuthLayer`];
/// [`Unauthorized`] when there is none.
#[derive(Clone, Debug)]
pub struct CurrentUser<U>(pub AuthenticatedUser<U>);

impl<U, St> FromRequestParts<St> for CurrentUser<U>
where
    U: Clone + Send + Sync + 'static,
    St: Send + Sync,
{
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Unauthorized> {
        put_there::<AuthenticatedUser<U>>(parts).map(CurrentUser)
    }
}

/// The API key of a request that went through [`AuthLayer`] with one
/// (`X-Api-Key`, or `Authorization: Bearer <key>`); [`Unauthorized`] when
/// the request was not authenticated by a key. A handler checks a scope
/// with [`AuthenticatedKey::require_scope`] (403 `insufficient_scope`
/// through [`http::status_code`](crate::http::status_code)).
#[derive(Clone, Debug)]
pub struct ApiKey<U>(pub AuthenticatedKey<U>);

impl<U, St> FromRequestParts<St> for ApiKey<U>
where
    U: Clone + Send + Sync + 'static,
    St: Send + Sync,
{
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Unauthorized> {
        put_there::<AuthenticatedKey<U>>(parts).map(ApiKey)
    }
}

/// The raw token of `Authorization: Bearer <token>`, unverified: for sign-out
/// handlers, which pass it to [`Auth::revoke`] (that checks the signature).
#[derive(Clone)]
pub struct BearerToken(pub String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl<St: Send + Sync> FromRequestParts<St> for BearerToken {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Unauthorized> {
        parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| bearer_token(h).ok())
            .map(|t| BearerToken(t.to_owned()))
            .ok_or(Unauthorized)
    }
}

/// The client of a request, for the session a sign-in opens: its
/// `User-Agent` header and its peer address, from the
/// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) extension that
/// `into_make_service_with_connect_info` (or your own server loop) sets.
/// Forwarded headers are not trusted: behind a proxy, build the
/// [`ClientInfo`] yourself from the address your proxy vouches for.
impl<St: Send + Sync> FromRequestParts<St> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Self::Rejection> {
        Ok(client_info(&parts.headers, &parts.extensions))
    }
}

fn client_info(headers: &axum::http::HeaderMap, extensions: &axum::http::Extensions) -> ClientInfo {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|h| h.to_str().ok());
    let ip = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    ClientInfo::new(user_agent, ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExtraClaims, MemoryStore, Secret, Settings, SigningSecret, TokenConfig};
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;

    use crate::test_user::User;

    async fn send(router: Router, bearer: Option<&str>) -> (StatusCode, Option<String>) {
        let mut req = axum::http::Request::builder().uri("/me");
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let mut svc = router.into_service::<Body>();
        std::future::poll_fn(|cx| tower_service::Service::poll_ready(&mut svc, cx))
            .await
            .unwrap();
        let res = tower_service::Service::call(&mut svc, req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let www = res
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        (res.status(), www)
    }

    #[tokio::test]
    async fn optional_and_required_layers() {
        let tokens = TokenConfig::new(SigningSecret::Literal(Secret::from(
            "layer-secret-0123456789abcdef0123456789abcdef",
        )));
        let auth = Arc::new(
            Auth::from_settings(
                Settings::new(tokens, Default::default()),
                MemoryStore::new(),
            )
            .unwrap(),
        );
        auth.store().insert_user(&User { id: 1 }).await.unwrap();
        let token = auth
            .token_for_user(&User { id: 1 }, ExtraClaims::new())
            .await
            .unwrap()
            .token;
        async fn me(CurrentUser(me): CurrentUser<User>) -> String {
            me.user.id.to_string()
        }
        async fn open() -> &'static str {
            "anyone"
        }
        let optional = Router::new()
            .route("/me", get(me))
            .layer(AuthLayer::optional(auth.clone()));
        assert_eq!(send(optional.clone(), Some(&token)).await.0, StatusCode::OK);
        let (status, www) = send(optional.clone(), None).await;
        assert_eq!(
            (status, www.as_deref()),
            (StatusCode::UNAUTHORIZED, Some("Bearer"))
        );
        assert_eq!(
            send(optional, Some("junk")).await.0,
            StatusCode::UNAUTHORIZED
        );

        let required = Router::new()
            .route("/me", get(open))
            .layer(AuthLayer::required(auth.clone()));
        assert_eq!(send(required.clone(), Some(&token)).await.0, StatusCode::OK);
        assert_eq!(
            send(required.clone(), None).await.0,
            StatusCode::UNAUTHORIZED
        );
        auth.revoke(&token).await.unwrap();
        assert_eq!(
            send(required, Some(&token)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn client_info_comes_from_the_user_agent_and_the_peer() {
        let mut req = axum::http::Request::builder()
            .header(
                header::USER_AGENT,
                format!("Mozilla/5.0 {}", "x".repeat(400)),
            )
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [203, 0, 113, 9],
                4711,
            ))));
        let (mut parts, ()) = req.into_parts();
        let client = ClientInfo::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        assert_eq!(client.ip, Some([203, 0, 113, 9].into()));
        let ua = client.user_agent.unwrap();
        assert!(
            ua.starts_with("Mozilla/5.0 ") && ua.chars().count() == 257,
            "cut: {ua}"
        );
        // Without the header or the peer: nothing.
        let (mut bare, ()) = axum::http::Request::builder()
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            ClientInfo::from_request_parts(&mut bare, &())
                .await
                .unwrap(),
            ClientInfo::default()
        );
    }
}
