//! Sessions: every sign-in opens one, every token carries its id (`sid`) and
//! dies with it; rotating refresh tokens with reuse detection; the device list.
//!
//! # Refresh tokens, reuse, and the one successor
//!
//! A refresh token is single use. Presenting it marks it `refresh_used`,
//! records the new pair in its row, and returns a new access token and a
//! new refresh token in the same session (one atomic store write, which
//! also checks the session is live). Presenting a used one again means one
//! of two things: the client lost the response (or two tabs raced), or
//! someone else holds a copy. Within `reuse_grace` of the first use the
//! framework assumes the first and answers with the **same** pair the
//! first use got (its claims signed again: the same `jti`s, so no row is
//! written), as Supabase's "one behind" rule does: a used refresh token
//! has at most one live successor, however often it is replayed. After the
//! grace it assumes theft (RFC 9700 section 4.14.2) and ends the whole
//! session: every access and refresh token of that `sid` stops working at
//! once, because every check of a token with `sid` checks the session row.
//!
//! The grace is therefore a window in which a stolen copy obtains the same
//! successor as its owner, never a branch of its own; keep it to seconds
//! (0, the default, allows no retry: of N concurrent refreshes exactly one
//! succeeds and the session ends). No rotation extends the session's
//! absolute expiry.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::audit::AuditEvent;
use crate::auth::{Auth, IssuedToken, SessionRef};
use crate::claims::{Claims, ExtraClaims};
use crate::config::{Lifetime, Purpose};
use crate::error::{Error, Result, truncated_to};
use crate::jwt::new_jti;
use crate::store::{
    NewTokenRow, RefreshStore, Rotation, Sessions, TokenRow, TokenStore, UserStore,
};
use crate::user::UserResource;
use crate::verify::Expect;
use crate::verify::fail_closed;

/// The longest user agent kept in a session row (characters).
pub const MAX_USER_AGENT_LEN: usize = 256;

/// Who is signing in, as the HTTP request tells: its user agent and IP.
/// Build it with [`ClientInfo::new`] (or the axum extractor); it is stored in
/// the session row and shown in the device list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The `User-Agent` header, cut to [`MAX_USER_AGENT_LEN`] characters,
    /// control characters escaped.
    pub user_agent: Option<String>,
    /// The client's address.
    pub ip: Option<IpAddr>,
}

impl ClientInfo {
    /// What a security event keeps of the client.
    pub(crate) fn seen(&self) -> crate::audit::Client<'_> {
        crate::audit::Client {
            ip: self.ip,
            user_agent: self.user_agent.as_deref(),
        }
    }

    /// From a request's `User-Agent` header value and peer address.
    pub fn new(user_agent: Option<&str>, ip: Option<IpAddr>) -> Self {
        Self {
            user_agent: user_agent
                .map(str::trim)
                .filter(|ua| !ua.is_empty())
                .map(|ua| truncated_to(ua, MAX_USER_AGENT_LEN)),
            ip,
        }
    }
}

/// How a session was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionKind {
    /// Tokens handed to the client (an API or mobile client).
    #[default]
    Bearer,
    /// A browser cookie session.
    Cookie,
    /// A browser signed in again from its remember-me cookie.
    RememberMe,
}

impl SessionKind {
    /// The name stored in the session row.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Cookie => "cookie",
            Self::RememberMe => "remember_me",
        }
    }
}

/// What a sign-in carries besides the credentials: per-call extra claims
/// for its token, and the client it comes from (for its session row).
///
/// Every sign-in action takes `impl Into<SignInContext>`, so passing
/// `ExtraClaims::new()` or a [`ClientInfo`] alone works.
#[derive(Clone, Debug, Default)]
pub struct SignInContext {
    /// Claims for the access token, over the DSL's `extra_claims`.
    pub extra_claims: ExtraClaims,
    /// The client, recorded in the session row.
    pub client: ClientInfo,
    /// The kind of session to open.
    pub kind: SessionKind,
    /// The tenant signed in to (a resource with tenancy): required with
    /// context tenancy; with attribute tenancy, when given, it must be the
    /// user's.
    pub tenant: Option<crate::tenant::Tenant>,
}

impl SignInContext {
    /// A context with these per-call claims.
    pub fn claims(mut self, extra_claims: ExtraClaims) -> Self {
        self.extra_claims = extra_claims;
        self
    }

    /// A context for this client.
    pub fn client(mut self, client: ClientInfo) -> Self {
        self.client = client;
        self
    }

    /// A context opening a session of this kind.
    pub fn kind(mut self, kind: SessionKind) -> Self {
        self.kind = kind;
        self
    }

    /// A context signing in to this tenant.
    pub fn tenant(mut self, tenant: crate::tenant::Tenant) -> Self {
        self.tenant = Some(tenant);
        self
    }
}

impl From<ExtraClaims> for SignInContext {
    fn from(extra_claims: ExtraClaims) -> Self {
        Self::default().claims(extra_claims)
    }
}

impl From<ClientInfo> for SignInContext {
    fn from(client: ClientInfo) -> Self {
        Self::default().client(client)
    }
}

/// One live session of a user, as the device list shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Session {
    /// The session id (`sid` of its tokens).
    pub id: String,
    /// `bearer`, `cookie`, `remember_me`.
    pub kind: String,
    /// When the sign-in happened.
    pub created_at: DateTime<Utc>,
    /// When its refresh token was last used (the sign-in time before that).
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end of the session.
    pub expires_at: DateTime<Utc>,
    /// The user agent of the sign-in.
    pub user_agent: Option<String>,
    /// The IP of the sign-in.
    pub ip: Option<String>,
    /// Whether it is the session of the token that asked.
    pub current: bool,
    /// The tenant it is bound to (a resource with tenancy).
    pub tenant: Option<String>,
}

impl Session {
    fn from_row(row: TokenRow, current: Option<&str>) -> Self {
        let extra = row.extra_data.unwrap_or(Value::Null);
        let text = |name: &str| extra.get(name).and_then(Value::as_str).map(str::to_owned);
        let last_seen_at = extra
            .get("last_seen_at")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or(row.created_at);
        Self {
            current: current == Some(row.jti.as_str()),
            id: row.jti,
            kind: text("kind").unwrap_or_else(|| SessionKind::Bearer.as_str().to_owned()),
            created_at: row.created_at,
            last_seen_at,
            expires_at: row.expires_at,
            user_agent: text("user_agent"),
            ip: text("ip"),
            tenant: row.tenant,
        }
    }
}

/// A new access token and a new refresh token, from [`Auth::refresh`].
#[derive(Clone, Debug)]
pub struct Refreshed {
    /// The access token.
    pub token: IssuedToken,
    /// The refresh token replacing the one presented.
    pub refresh_token: IssuedToken,
}

/// A user with a freshly issued token.
#[derive(Clone, Debug)]
pub struct SignedIn<U> {
    /// The user.
    pub user: U,
    /// The token (a sign-in token when one was asked for).
    pub token: IssuedToken,
    /// With `refresh_tokens`: the refresh token of the new session.
    pub refresh_token: Option<IssuedToken>,
    /// With the sessions add-on: the id of the new session (`sid`).
    pub session: Option<String>,
}

/// A sign-in's tokens and the rows to store with them, all in one write.
pub(crate) struct Minted {
    pub(crate) token: IssuedToken,
    pub(crate) refresh_token: Option<IssuedToken>,
    pub(crate) session: Option<String>,
    pub(crate) rows: Vec<NewTokenRow>,
}

impl Minted {
    pub(crate) fn signed_in<U>(self, user: U) -> SignedIn<U> {
        SignedIn {
            user,
            token: self.token,
            refresh_token: self.refresh_token,
            session: self.session,
        }
    }
}

impl<U: UserResource, S: TokenStore> Auth<U, S> {
    /// Mints what a sign-in hands out: with the sessions add-on, a session
    /// row and tokens carrying its `sid` (and a refresh token with
    /// `refresh_tokens`); the rows to store (session, refresh, and the access
    /// token when `store_all_tokens`). Nothing is stored yet.
    pub(crate) fn mint_sign_in(&self, user: &U, context: SignInContext) -> Result<Minted> {
        let now = Utc::now();
        let subject = user.subject();
        let tenant = self.sign_in_tenant(user, context.tenant.as_ref())?;
        let mut rows = Vec::new();
        let session = self.settings().sessions.map(|config| {
            let id = new_jti();
            let expires_at = now + config.lifetime.as_duration();
            let ip = context.client.ip.map(|ip| ip.to_string());
            rows.push(NewTokenRow {
                jti: id.clone(),
                subject: subject.clone(),
                expires_at,
                purpose: Purpose::SESSION.as_str().to_owned(),
                extra_data: Some(json!({
                    "kind": context.kind.as_str(),
                    "user_agent": context.client.user_agent,
                    "ip": ip,
                    "last_seen_at": now,
                })),
                tenant: tenant.clone(),
            });
            SessionRef::session(id, expires_at.timestamp(), tenant.clone())
        });
        let lifetime = self.settings().tokens.token_lifetime;
        let token = self.mint(
            user,
            &Purpose::USER,
            lifetime,
            context.extra_claims,
            session.as_ref(),
        )?;
        rows.extend(self.row_to_store(&token)?);
        // A browser's session lives in its cookie: no refresh token, and
        // no refresh row nobody will present.
        let refresh_token = match (self.settings().refresh_tokens, &session) {
            (Some(config), Some(session)) if context.kind == SessionKind::Bearer => {
                let refresh = self.mint_refresh(user, config.lifetime, session)?;
                rows.push(refresh_row(&refresh)?);
                Some(refresh)
            }
            _ => None,
        };
        Ok(Minted {
            token,
            refresh_token,
            session: session.and_then(|s| s.id),
            rows,
        })
    }

    fn mint_refresh(
        &self,
        user: &U,
        lifetime: Lifetime,
        session: &SessionRef,
    ) -> Result<IssuedToken> {
        // A refresh token carries no extra claims: it is read only by us.
        self.mint_plain(user, &Purpose::REFRESH, lifetime, Some(session))
    }

    /// Signs a user in after the application checked who they are by its
    /// own means (single sign-on, a passkey...): opens a session (with the
    /// sessions add-on) and issues its tokens, storing what must be stored
    /// in one write. The password strategy's actions end here too.
    pub async fn sign_in(&self, user: U, context: impl Into<SignInContext>) -> Result<SignedIn<U>> {
        let context = context.into();
        let client = context.client.clone();
        let minted = self.mint_sign_in(&user, context)?;
        let event = self.event(
            crate::audit::EventKind::SignedIn,
            Some(&user.subject()),
            crate::audit::At::of(&minted.token.claims),
            Some(client.seen()),
            crate::audit::Outcome::Success,
        );
        let written = self.store_rows(&minted.rows, event.events()).await?;
        self.recorded(event, written);
        Ok(minted.signed_in(user))
    }

    /// A sign-in `context` for the exchange of a verified single-use token
    /// (`claims`): a token bound to a tenant signs in to that tenant only
    /// (a request naming another is refused).
    pub(crate) fn exchange_context(
        &self,
        claims: &Claims,
        mut context: SignInContext,
    ) -> Result<SignInContext> {
        if let Some(bound) = &claims.tenant {
            match &context.tenant {
                Some(asked) if asked.as_str() != bound => return Err(Error::WrongTenant),
                Some(_) => {}
                None => context.tenant = Some(crate::tenant::Tenant::new(bound.as_str())?),
            }
        }
        Ok(context)
    }

    pub(crate) async fn store_rows(
        &self,
        rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<bool> {
        if rows.is_empty() {
            return Ok(false);
        }
        self.store()
            .insert_tokens(rows, events)
            .await
            .map(|()| true)
            .map_err(|e| crate::error::store_failure("sign in", e))
    }

    /// Ends the session of a verified token (sign-out): idempotent. Whether
    /// it ended it (and so wrote `events` with it).
    pub(crate) async fn end_session_of(
        &self,
        claims: &Claims,
        sid: &str,
        events: &[AuditEvent],
    ) -> Result<bool> {
        self.store()
            .end_sessions(&claims.sub, Sessions::One(sid), events)
            .await
            .map(|ended| ended > 0)
            .map_err(fail_closed)
    }

    /// The user's live sessions, newest first; `current` marks the one of
    /// the token that asks (the device list).
    pub async fn list_sessions(&self, user: &U, current: Option<&str>) -> Result<Vec<Session>>
    where
        S: RefreshStore,
    {
        let mut rows = self
            .store()
            .list_sessions(&user.subject(), Utc::now())
            .await
            .map_err(fail_closed)?;
        rows.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(rows
            .into_iter()
            .map(|row| Session::from_row(row, current))
            .collect())
    }

    /// [`Auth::list_sessions`] in one tenant: the device list a tenant's
    /// page shows (the user's sessions in other tenants are not listed).
    pub async fn list_sessions_in(
        &self,
        user: &U,
        tenant: &crate::tenant::Tenant,
        current: Option<&str>,
    ) -> Result<Vec<Session>>
    where
        S: RefreshStore,
    {
        let mut sessions = self.list_sessions(user, current).await?;
        sessions.retain(|s| s.tenant.as_deref() == Some(tenant.as_str()));
        Ok(sessions)
    }

    /// Ends one of the user's sessions: every token of it stops working.
    /// [`Error::SessionNotFound`] when no live session with this id is the
    /// user's (another user's session is not found either).
    pub async fn revoke_session(&self, user: &U, session_id: &str) -> Result<()> {
        let subject = user.subject();
        let event = self.event(
            crate::audit::EventKind::SessionEnded,
            Some(&subject),
            crate::audit::At::session(session_id),
            None,
            crate::audit::Outcome::Success,
        );
        let ended = self
            .store()
            .end_sessions(&subject, Sessions::One(session_id), event.events())
            .await
            .map_err(fail_closed)?;
        if ended == 0 {
            return Err(Error::SessionNotFound);
        }
        self.recorded(event, true);
        Ok(())
    }

    /// Ends every session of the user but `current`; returns how many.
    pub async fn revoke_other_sessions(&self, user: &U, current: &str) -> Result<u64> {
        self.store()
            .end_sessions(&user.subject(), Sessions::AllBut(current), &[])
            .await
            .map_err(fail_closed)
    }
}

impl<U: UserResource, S: RefreshStore + UserStore<U>> Auth<U, S> {
    /// Exchanges a refresh token for a new access token and a new refresh
    /// token in the same session (rotation), in one atomic store write that
    /// also checks the session is live. A used refresh token presented
    /// again within `reuse_grace` gets a sibling pair; after it, the whole
    /// session ends ([`Error::RefreshTokenReused`], and a `warn` event
    /// `refresh_token_reused` naming the subject and `sid`). New tokens
    /// never outlive the session: no refresh extends it.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refreshed> {
        let config = self
            .settings()
            .refresh_tokens
            .ok_or(Error::NotConfigured("this resource has no refresh tokens"))?;
        let verified = self
            .verify_token(refresh_token, &Expect::REFRESH, Utc::now())
            .await?;
        let (claims, user) = (verified.claims, verified.user);
        // The pipeline checked it: the token has a `sid` and a live session.
        let (Some(sid), Some(session)) = (claims.sid.clone(), verified.rows.session) else {
            return Err(Error::SessionEnded);
        };

        let session = SessionRef::session(
            sid.clone(),
            session.expires_at.timestamp(),
            claims.tenant.clone(),
        );
        let lifetime = self.settings().tokens.token_lifetime;
        let token = self.mint(
            &user,
            &Purpose::USER,
            lifetime,
            ExtraClaims::new(),
            Some(&session),
        )?;
        let next = self.mint_refresh(&user, config.lifetime, &session)?;
        let mut new_rows = vec![refresh_row(&next)?];
        new_rows.extend(self.row_to_store(&token)?);
        // The used row keeps the new pair's claims: a retry within the
        // grace gets this same pair back, so one used refresh token never
        // has two live successors (nor a row more per retry).
        let successor = json!({
            "access": token.claims.to_json(),
            "refresh": next.claims.to_json(),
        });
        let event = self.event(
            crate::audit::EventKind::Refreshed,
            Some(&claims.sub),
            crate::audit::At::of(&claims),
            None,
            crate::audit::Outcome::Success,
        );
        let rotation = Rotation {
            old_jti: &claims.jti,
            sid: &sid,
            subject: &claims.sub,
            reuse_grace: config.reuse_grace.as_duration(),
            new_rows: &new_rows,
            successor: &successor,
            events: event.events(),
        };
        // A SQL store that lost a race for the row reports the row as it
        // was before; asking once more sees the winner's write.
        for attempt in 0..2 {
            let seen = self
                .store()
                .rotate_refresh(&rotation)
                .await
                .map_err(fail_closed)?;
            if seen.rotated {
                self.recorded(event, true);
                return Ok(Refreshed {
                    token,
                    refresh_token: next,
                });
            }
            if seen.sibling {
                // A sibling writes nothing: its event is batched.
                self.recorded(event, false);
                return self.successor_again(seen.successor);
            }
            if !seen.session_live {
                return Err(Error::SessionEnded);
            }
            match seen.old_purpose.as_deref() {
                Some("refresh_used") => return Err(self.reused(&claims, &sid).await),
                Some("refresh") if attempt == 0 => continue,
                Some("refresh") => return Err(Error::Expired),
                Some("revocation") => return Err(Error::Revoked),
                _ => return Err(Error::NotPresent),
            }
        }
        Err(Error::NotPresent)
    }

    /// The pair a used refresh token was exchanged for, signed again (the
    /// same claims: the same `jti`s, rows and expiry) for a retry within
    /// the grace.
    fn successor_again(&self, successor: Option<Value>) -> Result<Refreshed> {
        let claims = |which: &str| -> Result<Claims> {
            match successor.as_ref().and_then(|s| s.get(which)) {
                Some(Value::Object(map)) => Claims::from_json(map.clone()),
                // Used before successors were recorded: no pair to give.
                _ => Err(Error::NotPresent),
            }
        };
        Ok(Refreshed {
            token: self.signed(claims("access")?)?,
            refresh_token: self.signed(claims("refresh")?)?,
        })
    }

    /// A used refresh token came back after its grace: assume theft and
    /// end the whole session.
    async fn reused(&self, claims: &Claims, sid: &str) -> Error {
        tracing::warn!(
            subject = %crate::error::truncated(&claims.sub),
            sid = %crate::error::truncated(sid),
            "refresh_token_reused: the session has been ended"
        );
        let event = self.event(
            crate::audit::EventKind::RefreshReuseDetected,
            Some(&claims.sub),
            crate::audit::At::of(claims),
            None,
            crate::audit::Outcome::Failure,
        );
        let ended = self.end_session_of(claims, sid, event.events()).await;
        // Recorded even when the session could not be ended.
        self.recorded(event, matches!(ended, Ok(true)));
        match ended {
            Ok(_) => Error::RefreshTokenReused,
            Err(e) => e,
        }
    }
}

/// The stored row of a refresh token: the session id in `extra_data`.
fn refresh_row(refresh: &IssuedToken) -> Result<NewTokenRow> {
    let facts = crate::token::TokenFacts::try_from(&refresh.claims)?;
    Ok(crate::token::new_token_row(
        &facts,
        Purpose::REFRESH.as_str(),
        Some(json!({ "sid": refresh.claims.sid })),
    ))
}
