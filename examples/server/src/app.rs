//! The demo's routes (listed in the README), generic over the store.

use std::sync::Arc;

use auth_core::http::axum::{ApiKey, AuthLayer, BearerToken, CurrentUser};
use auth_core::http::{public_code, status_code};
use auth_core::{Auth, ClientInfo, Error, Reauthentication, SignInContext, SignedIn, TokenType};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use auth_core::http::sessions::cookie::SameSite;
use auth_core::http::sessions::{Expiry, SessionManagerLayer, TokenTableSessionStore};

use crate::model::{PublicUser, Store, User, UserRegistration};
use crate::pages::{self, PageState, Pages};
use crate::tenants::Members;

/// Request bodies larger than this are refused (413).
pub const BODY_LIMIT: usize = 16 * 1024;

pub type App<S> = Arc<Auth<User, S>>;

/// Every route: the JSON API (bearer tokens only) and the browser pages
/// (cookie sessions, CSRF-checked forms), with the body limit.
pub fn router<S: Store>(auth: App<S>, members: Members<S>, pages: Pages) -> Router {
    let sessions = SessionManagerLayer::new(TokenTableSessionStore::new(auth.clone()))
        .with_name("session")
        .with_secure(pages.secure)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnSessionEnd);
    let html = Router::new()
        .route("/", get(pages::home))
        .route(
            "/sign_in",
            get(pages::sign_in_form::<S>).post(pages::sign_in::<S>),
        )
        .route(
            "/register",
            get(pages::register_form::<S>).post(pages::register::<S>),
        )
        .route("/account", get(pages::account::<S>))
        .route(
            "/password/forgot",
            get(pages::forgot_form::<S>).post(pages::forgot::<S>),
        )
        .route(
            "/password/reset",
            get(pages::reset_form::<S>).post(pages::reset::<S>),
        )
        .route(
            "/confirm",
            get(pages::confirm_form::<S>).post(pages::confirm::<S>),
        )
        .route(
            "/magic_link",
            get(pages::magic_link_form::<S>).post(pages::magic_link::<S>),
        )
        .route(
            "/magic_link/request",
            get(pages::magic_link_request_form::<S>).post(pages::magic_link_request::<S>),
        )
        .route("/account/sessions/{id}/end", post(pages::end_session::<S>))
        .route("/account/api_keys", post(pages::create_api_key::<S>))
        .route(
            "/account/api_keys/{id}/revoke",
            post(pages::revoke_api_key::<S>),
        )
        .route("/sign_out", post(pages::sign_out::<S>))
        .route("/log_out_everywhere", post(pages::log_out_everywhere::<S>))
        .layer(AuthLayer::optional(auth.clone()))
        .layer(sessions)
        .with_state(PageState {
            auth: auth.clone(),
            pages,
        });
    let auth_for_admin = auth.clone();
    // The API authenticates bearer tokens only: no cookie, so no request
    // forged by another site is ever authenticated here.
    let api = Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/.well-known/jwks.json", get(jwks::<S>))
        .route("/auth/user/password/register", post(register::<S>))
        .route("/auth/user/password/sign_in", post(sign_in::<S>))
        .route(
            "/auth/user/password/sign_in_with_token",
            get(sign_in_with_token::<S>),
        )
        .route("/auth/user/password/change", post(change_password::<S>))
        .route(
            "/auth/user/password/reset_request",
            post(reset_request::<S>),
        )
        .route("/auth/user/password/reset", post(reset_password::<S>))
        .route("/auth/user/email/change", post(change_email::<S>))
        .route("/auth/user/confirm", post(confirm::<S>))
        .route(
            "/auth/user/magic_link/request",
            post(magic_link_request::<S>),
        )
        .route(
            "/auth/user/magic_link/sign_in",
            post(magic_link_sign_in::<S>),
        )
        .route("/auth/sign_out", post(sign_out::<S>))
        .route("/auth/refresh", post(refresh::<S>))
        .route("/auth/sessions", get(list_sessions::<S>))
        .route("/auth/sessions/{id}", delete(end_session::<S>))
        .route("/auth/log_out_everywhere", post(log_out_everywhere::<S>))
        .route(
            "/auth/api_keys",
            get(list_api_keys::<S>).post(create_api_key::<S>),
        )
        .route("/auth/api_keys/{id}", delete(revoke_api_key::<S>))
        .route("/reports", get(reports))
        .route("/me", get(me))
        .layer(AuthLayer::optional(auth.clone()))
        .with_state(auth);
    api.merge(html)
        .merge(crate::tenants::router(members, auth_for_admin))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(no_store))
}

/// An unknown URL: a page for a browser (it asks for `text/html`), JSON
/// for everyone else (`Accept: application/json`, `*/*`, none).
async fn not_found(headers: axum::http::HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let json_first = accept.trim_start().starts_with("application/json");
    if accept.contains("text/html") && !json_first {
        pages::not_found_page()
    } else {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", None).into_response()
    }
}

/// Responses carry tokens and user data: no cache keeps them (the public
/// JWKS alone says otherwise), and no `Referer` leaks the sign-in token of a
/// `?token=` URL.
async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(header::HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A JSON error response: `{"error": code, "message"?: ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Option<String>,
    retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: Option<String>) -> Self {
        Self {
            status,
            code,
            message,
            retry_after: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status =
            StatusCode::from_u16(status_code(&e)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Input problems are the client's to fix and safe to describe; token
        // and sign-in failures are not described (the log has the reason).
        let message = match &e {
            Error::InvalidInput(m) => Some(m.clone()),
            Error::PasswordConfirmationMismatch => Some(e.to_string()),
            _ => None,
        };
        if matches!(e, Error::Unavailable(_)) {
            tracing::warn!(error = %e, "request refused: at capacity");
        } else if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        } else {
            tracing::debug!(error = %e, "request refused");
        }
        Self {
            retry_after: auth_core::http::retry_after(&e),
            ..Self::new(status, public_code(&e), message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.message {
            Some(m) => json!({"error": self.code, "message": m}),
            None => json!({"error": self.code}),
        };
        let mut response = (self.status, Json(body)).into_response();
        let retry_after = match self.retry_after {
            Some(wait) => Some(wait.as_secs().to_string()),
            None => (self.status == StatusCode::SERVICE_UNAVAILABLE).then(|| "1".to_owned()),
        };
        if let Some(value) = retry_after.and_then(|v| header::HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// `Json<T>` whose rejections are JSON too: 400 for malformed JSON, 422 for
/// wrong types or missing fields, 415 without a JSON content type, 413 too large.
pub struct Body<T>(pub T);

impl<T, St> FromRequest<St> for Body<T>
where
    Json<T>: FromRequest<St, Rejection = JsonRejection>,
    St: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &St) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => {
                let (status, code) = match &rejection {
                    JsonRejection::JsonSyntaxError(_) => {
                        (StatusCode::BAD_REQUEST, "malformed_json")
                    }
                    JsonRejection::JsonDataError(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")
                    }
                    JsonRejection::MissingJsonContentType(_) => {
                        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected_json")
                    }
                    _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
                    }
                    _ => (StatusCode::BAD_REQUEST, "bad_request"),
                };
                Err(ApiError::new(status, code, Some(rejection.body_text())))
            }
        }
    }
}

/// `{user, token, refresh_token}`, the body of every route that signs a
/// user in (`refresh_token` is absent for a sign-in token).
fn signed_in_body(signed: &SignedIn<User>) -> serde_json::Value {
    let mut body = json!({"user": PublicUser::from(&signed.user), "token": signed.token.token});
    if let Some(refresh) = &signed.refresh_token {
        body["refresh_token"] = json!(refresh.token);
    }
    body
}

#[derive(Deserialize)]
struct RegisterBody {
    email: String,
    password: String,
    password_confirmation: Option<String>,
    role: Option<String>,
}

pub fn check_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim();
    let ok = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
    if ok {
        Ok(email.to_owned())
    } else {
        Err(Error::InvalidInput("`email` is not an email address".into()).into())
    }
}

async fn register<S: Store>(
    State(auth): State<App<S>>,
    client: ClientInfo,
    Body(b): Body<RegisterBody>,
) -> Result<Response, ApiError> {
    let role = b.role.unwrap_or_else(|| "member".into());
    if role.is_empty() || role.len() > 64 || role.chars().any(char::is_control) {
        return Err(Error::InvalidInput(
            "`role` must be 1 to 64 characters, none of them control characters".into(),
        )
        .into());
    }
    let registration = UserRegistration {
        email: check_email(&b.email)?,
        role,
        password: b.password,
        password_confirmation: b.password_confirmation,
    };
    let signed = User::register_with_password(&auth, registration, client).await?;
    let body = signed_in_body(&signed);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Deserialize)]
struct SignInBody {
    email: String,
    password: String,
    token_type: Option<String>,
    remember_me: Option<bool>,
}

async fn sign_in<S: Store>(
    State(auth): State<App<S>>,
    client: ClientInfo,
    Body(b): Body<SignInBody>,
) -> Result<Response, ApiError> {
    let token_type = match b.token_type.as_deref() {
        None | Some("user") => TokenType::User,
        Some("sign_in") => TokenType::SignIn,
        Some(_) => {
            return Err(
                Error::InvalidInput("`token_type` must be \"user\" or \"sign_in\"".into()).into(),
            );
        }
    };
    let signed =
        User::sign_in_with_password(&auth, b.email.trim(), &b.password, token_type, client).await?;
    let mut response = Json(signed_in_body(&signed)).into_response();
    if b.remember_me == Some(true) && token_type == TokenType::User {
        let cookie = auth.remember_me_cookie(&auth.issue_remember_me(&signed).await?)?;
        if let Ok(value) = header::HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: String,
}

async fn sign_in_with_token<S: Store>(
    State(auth): State<App<S>>,
    client: ClientInfo,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Ok(Query(q)) = query else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            None,
        ));
    };
    let signed = User::sign_in_with_token(&auth, &q.token, client).await?;
    Ok(Json(signed_in_body(&signed)).into_response())
}

#[derive(Deserialize)]
struct CreateApiKeyBody {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    /// Like `"30d"`; the strategy's default (90 days) when absent.
    lifetime: Option<String>,
}

/// Keys are made by a signed-in user, not by another key (a leaked key
/// must not be able to mint more): 403 when a key asks.
fn not_by_a_key(me: &auth_core::AuthenticatedUser<User>) -> Result<(), ApiError> {
    if me.claims.purpose == auth_core::API_KEY_PURPOSE {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            Some("API keys are managed with a signed-in token, not with a key".into()),
        ));
    }
    Ok(())
}

/// 201 with the whole key, shown this once.
async fn create_api_key<S: Store>(
    State(auth): State<App<S>>,
    CurrentUser(me): CurrentUser<User>,
    Body(b): Body<CreateApiKeyBody>,
) -> Result<Response, ApiError> {
    not_by_a_key(&me)?;
    let lifetime = b
        .lifetime
        .as_deref()
        .map(auth_core::Lifetime::parse)
        .transpose()
        .map_err(|e| ApiError::from(Error::InvalidInput(format!("lifetime: {e}"))))?;
    let scopes: Vec<&str> = b.scopes.iter().map(String::as_str).collect();
    let created = User::create_api_key(&auth, &me.user, &b.name, &scopes, lifetime).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"key": created.key, "api_key": created.info})),
    )
        .into_response())
}

async fn list_api_keys<S: Store>(
    State(auth): State<App<S>>,
    CurrentUser(me): CurrentUser<User>,
) -> Result<Response, ApiError> {
    let keys = User::list_api_keys(&auth, &me.user).await?;
    Ok(Json(json!({ "api_keys": keys })).into_response())
}

async fn revoke_api_key<S: Store>(
    State(auth): State<App<S>>,
    CurrentUser(me): CurrentUser<User>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    not_by_a_key(&me)?;
    User::revoke_api_key(&auth, &me.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A route for keys with the `reports:read` scope (403 without it, 401
/// for a token: reports are for scripts).
async fn reports(ApiKey(key): ApiKey<User>) -> Result<Json<serde_json::Value>, ApiError> {
    key.require_scope("reports:read")?;
    Ok(Json(json!({"reports": [], "key": key.key.name})))
}

async fn me(CurrentUser(me): CurrentUser<User>) -> Json<serde_json::Value> {
    Json(json!({"user": PublicUser::from(&me.user), "token_claims": me.claims.to_json()}))
}

#[derive(Deserialize)]
struct ChangeBody {
    current_password: String,
    password: String,
    password_confirmation: Option<String>,
}

async fn change_password<S: Store>(
    State(auth): State<App<S>>,
    client: ClientInfo,
    CurrentUser(me): CurrentUser<User>,
    Body(b): Body<ChangeBody>,
) -> Result<Response, ApiError> {
    let signed = User::change_password(
        &auth,
        &me.user,
        &b.current_password,
        &b.password,
        b.password_confirmation.as_deref(),
        SignInContext::default().client(client),
    )
    .await?;
    let mut body = signed_in_body(&signed);
    body.as_object_mut().map(|b| b.remove("user"));
    Ok(Json(body).into_response())
}

async fn sign_out<S: Store>(
    State(auth): State<App<S>>,
    BearerToken(token): BearerToken,
) -> Result<StatusCode, ApiError> {
    auth.revoke(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn log_out_everywhere<S: Store>(
    State(auth): State<App<S>>,
    CurrentUser(me): CurrentUser<User>,
) -> Result<StatusCode, ApiError> {
    User::log_out_everywhere(&auth, &me.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ResetRequestBody {
    email: String,
}

/// 202 whether the address has an account or not, in the same time (the
/// lookup and the mail happen after the answer).
async fn reset_request<S: Store>(
    State(auth): State<App<S>>,
    client: ClientInfo,
    Body(b): Body<ResetRequestBody>,
) -> Result<Response, ApiError> {
    User::request_password_reset_from(&auth, &b.email, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response())
}

/// 202 whether the address has an account or not, as `reset_request`.
async fn magic_link_request<S: Store>(
    State(auth): State<App<S>>,
    client: ClientInfo,
    Body(b): Body<ResetRequestBody>,
) -> Result<Response, ApiError> {
    User::request_magic_link_from(&auth, &b.email, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response())
}

#[derive(Deserialize)]
struct EmailChangeBody {
    email: String,
    /// Needed unless the bearer's sign-in is fresh (`fresh_sign_in`).
    current_password: Option<String>,
}

/// 202: the new address is held until the confirmation sent to it comes
/// back; the account keeps its address meanwhile. A stolen token is not
/// enough: the current password, or a sign-in of the last minutes (403
/// `reauthentication_required` otherwise).
async fn change_email<S: Store>(
    State(auth): State<App<S>>,
    CurrentUser(me): CurrentUser<User>,
    Body(b): Body<EmailChangeBody>,
) -> Result<Response, ApiError> {
    let mut updated = me.user.clone();
    updated.email = check_email(&b.email)?;
    let proof = match &b.current_password {
        Some(password) => Reauthentication::Password(password),
        None => Reauthentication::FreshSignIn(&me.claims),
    };
    User::change_with_confirmation(&auth, &me.user, &updated, proof).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": "confirmation sent"})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ConfirmBody {
    confirm_token: String,
    /// The account's password, to keep it when confirming a new account.
    password: Option<String>,
}

/// Confirming a new account without its password clears the password (the
/// confirmer proved the address, not who registered it).
async fn confirm<S: Store>(
    State(auth): State<App<S>>,
    Body(b): Body<ConfirmBody>,
) -> Result<Response, ApiError> {
    let user = match &b.password {
        Some(password) => User::confirm_with_password(&auth, &b.confirm_token, password).await?,
        None => User::confirm(&auth, &b.confirm_token).await?,
    };
    Ok(Json(json!({"user": PublicUser::from(&user)})).into_response())
}

#[derive(Deserialize)]
struct MagicLinkBody {
    token: String,
}

async fn magic_link_sign_in<S: Store>(
    State(auth): State<App<S>>,
    client: ClientInfo,
    Body(b): Body<MagicLinkBody>,
) -> Result<Response, ApiError> {
    let signed = User::sign_in_with_magic_link(&auth, &b.token, client).await?;
    Ok(Json(signed_in_body(&signed)).into_response())
}

#[derive(Deserialize)]
struct ResetBody {
    reset_token: String,
    password: String,
    password_confirmation: Option<String>,
}

async fn reset_password<S: Store>(
    State(auth): State<App<S>>,
    client: ClientInfo,
    Body(b): Body<ResetBody>,
) -> Result<Response, ApiError> {
    let confirmation = b.password_confirmation.as_deref();
    let signed =
        User::reset_password(&auth, &b.reset_token, &b.password, confirmation, client).await?;
    let mut body = signed_in_body(&signed);
    body.as_object_mut().map(|b| b.remove("user"));
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh<S: Store>(
    State(auth): State<App<S>>,
    Body(b): Body<RefreshBody>,
) -> Result<Response, ApiError> {
    let pair = User::refresh(&auth, &b.refresh_token).await?;
    Ok(
        Json(json!({"token": pair.token.token, "refresh_token": pair.refresh_token.token}))
            .into_response(),
    )
}

async fn list_sessions<S: Store>(
    State(auth): State<App<S>>,
    CurrentUser(me): CurrentUser<User>,
) -> Result<Response, ApiError> {
    let sessions = User::list_sessions(&auth, &me.user, me.claims.sid.as_deref()).await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

async fn end_session<S: Store>(
    State(auth): State<App<S>>,
    CurrentUser(me): CurrentUser<User>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    User::revoke_session(&auth, &me.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys of the key set, for other services to verify our tokens.
/// The public keys, cacheable for five minutes: key rotation lists a key
/// longer than that before it signs (`auth_core::http::JWKS_CACHE_CONTROL`).
async fn jwks<S: Store>(State(auth): State<App<S>>) -> impl IntoResponse {
    let cache = header::HeaderValue::from_static(auth_core::http::JWKS_CACHE_CONTROL);
    ([(header::CACHE_CONTROL, cache)], Json(auth.jwks()))
}
