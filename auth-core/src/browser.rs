//! Browser sign-ins, framework-agnostic: what a cookie session keeps of a
//! sign-in ([`SessionState`]) and how a request is authenticated from it,
//! and the remember-me strategy's tokens. The tower-sessions glue (feature
//! `sessions`) is in `auth_core::http::sessions`.
//!
//! # What a cookie session keeps
//!
//! Never a token the browser could replay elsewhere: the record lives on the
//! server, the cookie holds only its random id. With `session_identifier =
//! "jti"` (or in allow-list mode) the record keeps the subject and the id of
//! the sign-in's session row (the sessions add-on), so every request checks
//! that row in the same store call that loads the user: ending the session
//! from the device list, signing out, log out everywhere or a password
//! change signs the browser out on its next request. Without the sessions
//! add-on it keeps the sign-in's token instead, checked like a bearer token
//! (it signs the browser out when it expires). With `"unsafe"` it keeps the
//! subject alone: nothing stored ends it but the cookie session itself.
//! Every form keeps the fingerprint of the password hash: a password change
//! ends every browser session.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::auth::{Auth, AuthenticatedUser, IssuedToken};
use crate::claims::{Claims, ExtraClaims};
use crate::config::{Purpose, RememberMeConfig, SessionIdentifier};
use crate::error::{Error, Result, truncated};
use crate::session::SignedIn;
use crate::session::{SessionKind, SignInContext};
use crate::store::{TokenStore, UserStore};
use crate::user::UserResource;
use crate::verify::fail_closed;

/// What a cookie session keeps of a sign-in (see the module docs).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The user's subject.
    pub sub: String,
    /// The session row's id (with the sessions add-on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The sign-in's token (without the sessions add-on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The fingerprint of the password hash at sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred: Option<String>,
    /// The tenant signed in to (a resource with tenancy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState")
            .field("sub", &self.sub)
            .field("sid", &self.sid)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl<U: UserResource, S> Auth<U, S> {
    /// What a cookie session keeps of this sign-in, as `session_identifier`
    /// says (see the module docs).
    pub fn session_state(&self, signed_in: &SignedIn<U>) -> SessionState {
        let claims = &signed_in.token.claims;
        let revocable = self.settings().session_identifier != SessionIdentifier::Unsafe;
        SessionState {
            sub: claims.sub.clone(),
            sid: signed_in.session.clone().filter(|_| revocable),
            token: (revocable && signed_in.session.is_none())
                .then(|| signed_in.token.token.clone()),
            cred: claims.cred.clone(),
            tenant: claims.tenant.clone(),
        }
    }

    pub(crate) fn remember_me_config(&self) -> Result<&RememberMeConfig> {
        self.settings()
            .remember_me
            .as_ref()
            .ok_or(Error::NotConfigured(
                "this resource has no remember-me strategy",
            ))
    }
}

impl<U: UserResource, S: TokenStore + UserStore<U>> Auth<U, S> {
    /// Authenticates a request from its cookie session's state: the session
    /// row (or token) still live, the user loaded, the password unchanged,
    /// in one store call. The claims returned describe the session (purpose
    /// `session`, `jti` and `sid` its id) when there is no token.
    ///
    /// At a resource with tenancy every state is refused here: use
    /// [`Auth::authenticate_session_in`] with the request's tenant.
    pub async fn authenticate_session(&self, state: &SessionState) -> Result<AuthenticatedUser<U>> {
        self.authenticate_session_in(state, None).await
    }

    /// [`Auth::authenticate_session`] in the request's `tenant`: the
    /// sign-in must be bound to it (and its session row too).
    pub async fn authenticate_session_in(
        &self,
        state: &SessionState,
        tenant: Option<&crate::tenant::Tenant>,
    ) -> Result<AuthenticatedUser<U>> {
        crate::tenant::same(self.request_tenant(tenant)?, state.tenant.as_deref())?;
        if let Some(token) = &state.token {
            let found = self.authenticate_in(token, tenant).await?;
            if found.claims.sub != state.sub {
                return Err(Error::InvalidSubject(truncated(&state.sub)));
            }
            return Ok(found);
        }
        let now = Utc::now();
        let probe = self.session_claims(state, now.timestamp());
        let key = self.subject_key(&probe)?;
        let (user, claims) = match &state.sid {
            Some(sid) => {
                // The session row is the one row asked for (as a token's
                // row: no join of the row to itself).
                let (rows, user) = self.authentication_rows(&key, sid, None).await?;
                let session = rows
                    .token
                    .filter(|s| s.is_live_session(&state.sub, now) && s.tenant == state.tenant)
                    .ok_or(Error::SessionEnded)?;
                let mut claims = probe;
                claims.iat = session.created_at.timestamp();
                claims.nbf = claims.iat;
                claims.exp = session.expires_at.timestamp();
                (user, claims)
            }
            None => {
                let user = self.store().get_user(&key).await.map_err(fail_closed)?;
                (user, probe)
            }
        };
        let user = user.ok_or(Error::UserNotFound)?;
        crate::verify::check_credential(&claims, &user)?;
        self.check_user_tenant(&claims, &user)?;
        Ok(AuthenticatedUser { user, claims })
    }

    fn session_claims(&self, state: &SessionState, now: i64) -> Claims {
        let sid = state.sid.clone();
        Claims {
            sub: state.sub.clone(),
            jti: sid.clone().unwrap_or_default(),
            iat: now,
            nbf: now,
            exp: now,
            iss: self.settings().tokens.issuer.clone(),
            aud: self.settings().tokens.audience.clone(),
            purpose: Purpose::SESSION.as_str().to_owned(),
            cred: state.cred.clone(),
            sid,
            tenant: state.tenant.clone(),
            extra: ExtraClaims::new(),
        }
    }

    /// Issues a remember-me token for a sign-in (purpose `remember_me`,
    /// always stored, the strategy's lifetime), for the cookie a sign-in
    /// that asked for it sets. With the sessions add-on it is bound to the
    /// sign-in's session: ending that session (device list, sign-out, log
    /// out everywhere) ends it too. [`Error::NotConfigured`] without the
    /// strategy.
    pub async fn issue_remember_me(&self, signed_in: &SignedIn<U>) -> Result<IssuedToken> {
        let lifetime = self.remember_me_config()?.token_lifetime;
        // Bound to the session by `sid`, not capped at its end here: the
        // session is checked, live, whenever the token is used.
        let session = signed_in
            .session
            .clone()
            .or_else(|| signed_in.token.claims.sid.clone())
            .map(|id| {
                crate::auth::SessionRef::session(
                    id,
                    i64::MAX,
                    signed_in.token.claims.tenant.clone(),
                )
            });
        self.issue_stored(
            &signed_in.user,
            &Purpose::REMEMBER_ME,
            lifetime,
            session.as_ref(),
        )
        .await
    }

    /// Signs a browser in again from its remember-me token, and rotates the
    /// token: every check of a token (purpose `remember_me`, its row present
    /// and not revoked, the session it is bound to not ended, the password
    /// unchanged since it was issued); then the token is spent (once, even
    /// under concurrent requests: a loser gets [`Error::AlreadyRevoked`]),
    /// the session it was bound to ends (that browser lost it), a new
    /// sign-in of kind `remember_me` opens, and a new remember-me token
    /// bound to it replaces the spent one.
    pub async fn redeem_remember_me(
        &self,
        token: &str,
        context: impl Into<SignInContext>,
    ) -> Result<Remembered<U>> {
        self.remember_me_config()?;
        let (claims, _, user) = self.check_single_use(token, &Purpose::REMEMBER_ME).await?;
        // Refused in another tenant before it is spent.
        let context = self.exchange_context(&claims, context.into())?;
        let sid = claims.sid.as_deref();
        // Spend it: of concurrent uses, one goes on.
        self.revoke_verified(&claims, &[]).await?;
        if let Some(sid) = sid {
            self.store()
                .end_sessions(&claims.sub, crate::store::Sessions::One(sid), &[])
                .await
                .map_err(fail_closed)?;
        }
        let signed_in = self
            .sign_in(user, context.kind(SessionKind::RememberMe))
            .await?;
        let remember_me = self.issue_remember_me(&signed_in).await?;
        Ok(Remembered {
            signed_in,
            remember_me,
        })
    }
}

/// A browser signed in again from its remember-me token
/// ([`Auth::redeem_remember_me`]).
#[derive(Clone, Debug)]
pub struct Remembered<U> {
    /// The new sign-in (a session of kind `remember_me`).
    pub signed_in: SignedIn<U>,
    /// The remember-me token replacing the one presented.
    pub remember_me: IssuedToken,
}
