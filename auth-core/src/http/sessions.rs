//! Browser sessions on tower-sessions (feature `sessions`): Ash's
//! `store_in_session`, `retrieve_from_session`, `revoke_session_tokens` and
//! `sign_in_using_remember_me` (here `sign_in_from_remember_me_cookie`), and a tower-sessions [`SessionStore`] over
//! the token table ([`TokenTableSessionStore`]), so cookie sessions live in
//! the same store as everything else (memory, PostgreSQL, SQLite) and the
//! expunger removes them.
//!
//! The layers, outermost first: tower-sessions' `SessionManagerLayer`, then
//! [`AuthLayer`](super::axum::AuthLayer), which authenticates a request by
//! its bearer header first, else by its cookie session, else by its
//! remember-me cookie (signing the browser in again, a new session of kind
//! `remember_me`).
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::http::axum::{AuthLayer, CurrentUser};
//! use auth_core::http::sessions::{Cookies, Expiry, Session, SessionManagerLayer, TokenTableSessionStore};
//! use auth_core::http::sessions::cookie::{SameSite, time::Duration};
//! use auth_core::{Auth, ClientInfo, MemoryStore, SessionKind, SignInContext, TokenType};
//! use auth_core::{Authenticated, token_resource};
//! use axum::{Form, Router, extract::State, response::Redirect, routing::{get, post}};
//! use serde::{Deserialize, Serialize};
//!
//! #[token_resource]
//! pub struct Token;
//!
//! #[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
//! #[authentication(
//!     session_identifier = "jti",
//!     tokens(token_resource = Token, signing_secret = "a secret of at least 32 bytes, for HS256"),
//!     strategies(password(), remember_me(token_lifetime = "30d")),
//!     add_ons(sessions(lifetime = "30d")),
//! )]
//! pub struct User { pub id: i64, pub email: String, pub hashed_password: String }
//!
//! type A = Arc<Auth<User, MemoryStore>>;
//!
//! fn auth() -> auth_core::Result<A> {
//!     let mut settings = User::settings();
//!     if let Some(remember_me) = settings.remember_me.as_mut() {
//!         remember_me.secure = false; // served over plain http (development)
//!     }
//!     Ok(Arc::new(Auth::from_settings(settings, MemoryStore::new())?))
//! }
//!
//! #[derive(Deserialize)]
//! struct SignIn { email: String, password: String, remember_me: Option<String> }
//!
//! async fn sign_in(
//!     State(auth): State<A>,
//!     session: Session,
//!     cookies: Cookies,
//!     client: ClientInfo,
//!     Form(form): Form<SignIn>,
//! ) -> Result<Redirect, &'static str> {
//!     let context = SignInContext::default().client(client).kind(SessionKind::Cookie);
//!     let signed_in = User::sign_in_with_password(&auth, &form.email, &form.password, TokenType::User, context)
//!         .await
//!         .map_err(|_| "wrong email or password")?;
//!     auth.store_in_session(&session, &signed_in).await.map_err(|_| "try again")?;
//!     if form.remember_me.is_some() {
//!         let token = auth.issue_remember_me(&signed_in).await.map_err(|_| "try again")?;
//!         cookies.add(auth.remember_me_cookie(&token).map_err(|_| "try again")?);
//!     }
//!     Ok(Redirect::to("/account"))
//! }
//!
//! async fn account(CurrentUser(me): CurrentUser<User>) -> String {
//!     format!("signed in as {}", me.user.email)
//! }
//!
//! async fn sign_out(State(auth): State<A>, session: Session, cookies: Cookies) -> Redirect {
//!     let _ = auth.sign_out_of_session(&session, &cookies).await;
//!     Redirect::to("/")
//! }
//!
//! fn app(auth: A) -> Router {
//!     let sessions = SessionManagerLayer::new(TokenTableSessionStore::new(auth.clone()))
//!         .with_secure(false)                 // `true` behind https
//!         .with_same_site(SameSite::Lax)
//!         .with_expiry(Expiry::OnInactivity(Duration::days(30)));
//!     Router::new()
//!         .route("/sign_in", post(sign_in))
//!         .route("/account", get(account))
//!         .route("/sign_out", post(sign_out))
//!         .layer(AuthLayer::optional(auth.clone()))   // inside the session layer
//!         .layer(sessions)
//!         .with_state(auth)
//! }
//! # let _ = app(auth().unwrap());
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tower_cookies::cookie::{Cookie, SameSite};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

pub use tower_cookies::Cookies;
pub use tower_sessions::{Expiry, Session, SessionManagerLayer, cookie};

use crate::auth::{Auth, AuthenticatedUser, IssuedToken};
use crate::browser::{Remembered, SessionState};
use crate::config::Purpose;
use crate::error::{Error, Result};
use crate::session::SignInContext;
use crate::session::SignedIn;
use crate::store::{NewTokenRow, Sessions, TokenStore, UserStore};
use crate::user::UserResource;

/// The key of the sign-in in a cookie session: `auth:<subject_name>`, so
/// several user resources can share one session.
pub fn session_key<U: UserResource>() -> String {
    format!("auth:{}", U::SUBJECT_NAME)
}

/// Whether an error means "this credential is no good" (signed out), as
/// opposed to the store being down (fail closed, but keep the session).
fn is_refusal(e: &Error) -> bool {
    super::status_code(e) == 401
}

impl<U: UserResource, S: TokenStore + UserStore<U>> Auth<U, S> {
    /// Keeps a sign-in in the browser's cookie session (Ash's
    /// `store_in_session`): the session id is changed first, so an id
    /// planted before sign-in is worth nothing after it. What is kept
    /// depends on `session_identifier` ([`SessionState`]).
    pub async fn store_in_session(&self, session: &Session, signed_in: &SignedIn<U>) -> Result<()> {
        session.cycle_id().await.map_err(session_error)?;
        session
            .insert(&session_key::<U>(), self.session_state(signed_in))
            .await
            .map_err(session_error)
    }

    /// The user of a cookie session (Ash's `retrieve_from_session`), checked
    /// against the store on every call ([`Auth::authenticate_session`]).
    /// `None` when the session holds no sign-in, or one that no longer
    /// counts (it is then removed from the session); an error when the
    /// store could not be asked.
    pub async fn retrieve_from_session(
        &self,
        session: &Session,
    ) -> Result<Option<AuthenticatedUser<U>>> {
        self.retrieve_from_session_in(session, None).await
    }

    /// [`Auth::retrieve_from_session`] in the request's `tenant`
    /// ([`Auth::authenticate_session_in`]). A sign-in of another tenant is
    /// `None` but stays in the session (it is not ended by a visit to
    /// another tenant).
    pub async fn retrieve_from_session_in(
        &self,
        session: &Session,
        tenant: Option<&crate::tenant::Tenant>,
    ) -> Result<Option<AuthenticatedUser<U>>> {
        let key = session_key::<U>();
        let Some(state) = session
            .get::<SessionState>(&key)
            .await
            .map_err(session_error)?
        else {
            return Ok(None);
        };
        match self.authenticate_session_in(&state, tenant).await {
            Ok(user) => Ok(Some(user)),
            Err(Error::WrongTenant) => Ok(None),
            Err(e) if is_refusal(&e) => {
                tracing::debug!(error = %e, "cookie session refused");
                session.flush().await.map_err(session_error)?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Signs the browser out (Ash's `revoke_session_tokens`): ends the
    /// sign-in's session row (or revokes its token), revokes the
    /// remember-me token and deletes its cookie, and deletes the cookie
    /// session. Idempotent.
    pub async fn sign_out_of_session(&self, session: &Session, cookies: &Cookies) -> Result<()> {
        let state = session
            .get::<SessionState>(&session_key::<U>())
            .await
            .map_err(session_error)?;
        if let Some(state) = state {
            if let Some(sid) = &state.sid {
                self.store()
                    .end_sessions(&state.sub, Sessions::One(sid), &[])
                    .await
                    .map_err(crate::verify::fail_closed)?;
            }
            if let Some(token) = &state.token {
                self.revoke_if_valid(token).await?;
            }
        }
        if let Some(config) = &self.settings().remember_me
            && let Some(cookie) = cookies.get(&config.cookie_name)
        {
            self.revoke_if_valid(cookie.value()).await?;
            self.forget_remember_me(cookies);
        }
        session.flush().await.map_err(session_error)
    }

    /// Revokes a token a browser held; one that no longer counts (expired,
    /// forged, already revoked) needs nothing. Only a store failure is an error.
    async fn revoke_if_valid(&self, token: &str) -> Result<()> {
        match self.revoke(token).await {
            Err(e) if !is_refusal(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// The remember-me cookie for a token from [`Auth::issue_remember_me`]:
    /// `HttpOnly`, `SameSite=Lax`, `Path=/`, lasting as long as the token,
    /// and `Secure` unless the strategy's settings say `secure: false`
    /// (an application served over plain http).
    pub fn remember_me_cookie(&self, token: &IssuedToken) -> Result<Cookie<'static>> {
        let config = self.remember_me_config()?;
        let secure = config.secure;
        let max_age = (token.claims.exp - Utc::now().timestamp()).max(0);
        Ok(
            Cookie::build((config.cookie_name.to_string(), token.token.clone()))
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(secure)
                .path("/")
                .max_age(tower_cookies::cookie::time::Duration::seconds(max_age))
                .build(),
        )
    }

    /// Deletes the remember-me cookie (`Max-Age=0`).
    pub fn forget_remember_me(&self, cookies: &Cookies) {
        if let Some(config) = &self.settings().remember_me {
            cookies.remove(
                Cookie::build((config.cookie_name.to_string(), ""))
                    .path("/")
                    .build(),
            );
        }
    }

    /// Signs a browser in from its remember-me cookie (Ash's
    /// `sign_in_using_remember_me`) when it has one and the strategy is
    /// configured ([`Auth::redeem_remember_me`]): a new session of
    /// kind `remember_me`, kept in the cookie session, and the cookie
    /// replaced by the rotated token. A cookie that does not sign in
    /// (invalid, expired, revoked, its session ended) is deleted
    /// (`Max-Age=0`) and `None` returned; one that lost a race with another
    /// request of the same browser is left alone (the winner's response
    /// replaces it).
    ///
    /// `context` is the client (a [`ClientInfo`](crate::ClientInfo)) or a whole
    /// [`SignInContext`]: with tenancy, the request's tenant; a cookie of
    /// another tenant's sign-in is left alone and `None` returned.
    pub async fn sign_in_from_remember_me_cookie(
        &self,
        session: &Session,
        cookies: &Cookies,
        context: impl Into<SignInContext>,
    ) -> Result<Option<AuthenticatedUser<U>>> {
        let Some(config) = &self.settings().remember_me else {
            return Ok(None);
        };
        let Some(cookie) = cookies.get(&config.cookie_name) else {
            return Ok(None);
        };
        match self.redeem_remember_me(cookie.value(), context).await {
            Ok(Remembered {
                signed_in,
                remember_me,
            }) => {
                self.store_in_session(session, &signed_in).await?;
                cookies.add(self.remember_me_cookie(&remember_me)?);
                Ok(Some(AuthenticatedUser {
                    claims: signed_in.token.claims,
                    user: signed_in.user,
                }))
            }
            Err(Error::AlreadyRevoked | Error::WrongTenant) => Ok(None),
            Err(e) if is_refusal(&e) => {
                tracing::debug!(error = %e, "remember-me cookie refused");
                self.forget_remember_me(cookies);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn session_error(e: tower_sessions::session::Error) -> Error {
    tracing::error!(error = %e, "cookie session store failed");
    Error::Unavailable("the cookie session store failed")
}

/// A tower-sessions [`SessionStore`] over the token table of an [`Auth`]:
/// each cookie session record is a row of purpose `cookie_session` (its id
/// the `jti`, its data the `extra_data`, its expiry the row's), so it works
/// on every store the framework has, survives restarts with a durable one,
/// and is removed by the expunger. Deleting a record flips its row to a
/// revocation, so a deleted id is never loaded or written again. A
/// record's rows carry the signed-in subject, so log out everywhere ends
/// the user's cookie sessions too.
pub struct TokenTableSessionStore<U, S> {
    auth: Arc<Auth<U, S>>,
}

impl<U, S> TokenTableSessionStore<U, S> {
    /// A session store writing to `auth`'s token table.
    pub fn new(auth: Arc<Auth<U, S>>) -> Self {
        Self { auth }
    }
}

impl<U, S> Clone for TokenTableSessionStore<U, S> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
        }
    }
}

impl<U, S> std::fmt::Debug for TokenTableSessionStore<U, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenTableSessionStore")
            .finish_non_exhaustive()
    }
}

impl<U: UserResource, S: TokenStore + 'static> TokenTableSessionStore<U, S> {
    fn row(record: &Record) -> NewTokenRow {
        let state = record.data.get(&session_key::<U>());
        let text = |name: &str| {
            state
                .and_then(|s| s.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let subject = text("sub").unwrap_or_default();
        NewTokenRow {
            // A suspended tenant's cookie sessions end with its tokens.
            tenant: text("tenant"),
            jti: record.id.to_string(),
            subject,
            expires_at: to_chrono(record.expiry_date),
            purpose: Purpose::COOKIE_SESSION.as_str().to_owned(),
            extra_data: Some(Value::Object(
                record
                    .data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )),
        }
    }
}

fn to_chrono(t: tower_cookies::cookie::time::OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond()).unwrap_or_default()
}

fn to_time(t: DateTime<Utc>) -> tower_cookies::cookie::time::OffsetDateTime {
    tower_cookies::cookie::time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .unwrap_or(tower_cookies::cookie::time::OffsetDateTime::UNIX_EPOCH)
}

fn backend(e: crate::error::StoreError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait::async_trait]
impl<U: UserResource, S: TokenStore + 'static> SessionStore for TokenTableSessionStore<U, S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh random 128-bit id; on the (astronomically unlikely)
        // conflict, draw another once.
        let store = self.auth.store();
        if store.insert_token(&Self::row(record)).await.is_ok() {
            return Ok(());
        }
        record.id = Id::default();
        store
            .insert_token(&Self::row(record))
            .await
            .map_err(backend)
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // `false`: the record was deleted meanwhile (a revocation row);
        // it stays deleted.
        self.auth
            .store()
            .upsert_token(&Self::row(record))
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = self
            .auth
            .store()
            .get_token(
                &id.to_string(),
                Some(Purpose::COOKIE_SESSION.as_str()),
                Utc::now(),
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|row| Record {
            id: *id,
            data: match row.extra_data {
                Some(Value::Object(map)) => map.into_iter().collect(),
                _ => Default::default(),
            },
            expiry_date: to_time(row.expires_at),
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let row = NewTokenRow {
            jti: id.to_string(),
            subject: String::new(),
            // Kept a day, so a stolen id cannot be written again meanwhile.
            expires_at: Utc::now() + chrono::Duration::days(1),
            purpose: Purpose::REVOCATION.as_str().to_owned(),
            extra_data: None,
            tenant: None,
        };
        self.auth
            .store()
            .insert_revocation(&row, &[])
            .await
            .map(|_| ())
            .map_err(backend)
    }
}
