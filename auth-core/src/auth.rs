//! `Auth`: the runtime for one user resource: issue, verify, authenticate, revoke.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::claims::{Claims, ClaimsContext, ExtraClaims, merge_extra_claims};
use crate::config::{Lifetime, PasswordConfig, Purpose, PurposeFilter};
use crate::error::{Error, Result};
use crate::jwt::Jwt;
use crate::keys::KeySet;
use crate::password::{HashCost, HashLimits, PasswordHasher};
use crate::secret::Secret;
use crate::store::{TokenStore, UserStore};
use crate::tenant::{TenancyStrategy, Tenant};
use crate::token::{self, TokenFacts};
use crate::user::{Authenticated, Settings, UserResource};

/// What new tokens are minted in: a session (its id and absolute end) and
/// the tenant it is bound to (context tenancy), or a tenant alone.
#[derive(Clone, Debug)]
pub(crate) struct SessionRef {
    /// The session's id; `None`: a tenant alone, no session.
    pub(crate) id: Option<String>,
    pub(crate) expires_at: i64,
    /// The tenant (context tenancy).
    pub(crate) tenant: Option<String>,
}

impl SessionRef {
    /// A session.
    pub(crate) fn session(id: String, expires_at: i64, tenant: Option<String>) -> Self {
        Self {
            id: Some(id),
            expires_at,
            tenant,
        }
    }

    /// No session, only a tenant (a context-tenancy sign-in token).
    pub(crate) fn tenant_only(tenant: Option<String>) -> Option<Self> {
        tenant.map(|t| Self {
            id: None,
            expires_at: i64::MAX,
            tenant: Some(t),
        })
    }
}

/// The runtime of one user resource over one store.
///
/// Built once at start-up (the signing secret is resolved then, so a missing
/// secret fails here, not at the first request), then shared (`Arc<Auth>`).
pub struct Auth<U, S> {
    settings: Settings<U>,
    jwt: Jwt,
    store: S,
    hasher: PasswordHasher,
    #[cfg(feature = "cache")]
    cache: Option<crate::cache::AuthCache<U>>,
    /// The queue of out-of-band requests (password reset), started with
    /// the first one.
    pub(crate) requests: std::sync::OnceLock<crate::sender::Queue>,
    /// API-key uses not yet written (`api_key.rs`, flushed by `api_keys.rs`).
    pub(crate) key_uses: std::sync::Arc<crate::api_key::KeyUses>,
    /// Where security events go (`audit.rs`).
    pub(crate) audit_sink: std::sync::Arc<dyn crate::audit::AuditSink>,
    /// Security events waiting for the store (`events.rs`), when stored.
    pub(crate) event_queue: Option<std::sync::Arc<crate::audit::EventQueue>>,
}

impl<U, S: fmt::Debug> fmt::Debug for Auth<U, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("subject_name", &std::any::type_name::<U>())
            .field("jwt", &self.jwt)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// A token just issued.
#[derive(Clone, PartialEq)]
pub struct IssuedToken {
    /// The compact JWT. Hand it to the client; never log it.
    pub token: String,
    /// Its claims.
    pub claims: Claims,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

/// The user behind an authenticated request, with the token's claims.
#[derive(Clone, Debug)]
pub struct AuthenticatedUser<U> {
    /// The user, loaded from the store.
    pub user: U,
    /// The token's claims. In allow-list mode the extra claims are the ones
    /// stored with the token.
    pub claims: Claims,
}

impl<U: Authenticated, S: TokenStore> Auth<U, S> {
    /// The runtime configured by `#[derive(Authenticated)]`.
    pub fn new(store: S) -> Result<Self> {
        Self::from_settings(U::settings(), store)
    }
}

impl<U: UserResource, S: TokenStore> Auth<U, S> {
    /// A runtime from explicit settings.
    pub fn from_settings(settings: Settings<U>, store: S) -> Result<Self> {
        let jwt = Jwt::new(&settings.tokens)?;
        Self::assemble(settings, jwt, store)
    }

    /// A runtime whose signing secret overrides the configured one.
    pub fn with_secret(settings: Settings<U>, secret: &Secret, store: S) -> Result<Self> {
        let jwt = Jwt::with_secret(&settings.tokens, secret)?;
        Self::assemble(settings, jwt, store)
    }

    /// A runtime that signs with the key set's active key and verifies a
    /// token with the key its `kid` names (rotation: keep the old key listed
    /// until its tokens expire). A token without `kid`, issued before the
    /// key set, is verified with the secret the DSL configures
    /// (`signing_secret`) when that resolves, and refused otherwise.
    pub fn with_keys(settings: Settings<U>, keys: &KeySet, store: S) -> Result<Self> {
        let legacy = settings.tokens.signing_secret.resolve().ok();
        let jwt = Jwt::with_keys(&settings.tokens, keys, legacy.as_ref())?;
        Self::assemble(settings, jwt, store)
    }

    /// The public keys of the asymmetric keys as a JWK Set, for other
    /// services to verify these tokens (serve it at `/.well-known/jwks.json`).
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.jwt.jwks()
    }

    /// Checks the store is bound to the token resource's table (a store
    /// bound to another would read and write the wrong rows): an error
    /// here, at start-up, not a surprise at the first request.
    fn assemble(settings: Settings<U>, jwt: Jwt, store: S) -> Result<Self> {
        token::check_bound(&store, &settings.token_resource)?;
        if let Some(keys) = &settings.api_key {
            crate::api_key::check_config(keys)?;
        }
        if let Some(brute_force) = &settings.brute_force {
            crate::config::check_brute_force(brute_force)?;
        }
        crate::sender::check_sender(&settings)?;
        Ok(Self {
            settings,
            jwt,
            store,
            hasher: PasswordHasher::default(),
            #[cfg(feature = "cache")]
            cache: None,
            requests: std::sync::OnceLock::new(),
            key_uses: std::sync::Arc::default(),
            audit_sink: crate::audit::default_sink(),
            event_queue: None,
        })
    }
}

impl<U: UserResource, S> Auth<U, S> {
    /// Keeps authentication answers in `cache` (see [`AuthCache`] for when
    /// an answer is served). A cache serves nothing until a listener for
    /// the store's invalidations says it is listening.
    ///
    /// [`AuthCache`]: crate::AuthCache
    #[cfg(feature = "cache")]
    pub fn with_cache(mut self, cache: crate::cache::AuthCache<U>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The attached cache, if any.
    #[cfg(feature = "cache")]
    pub fn cache(&self) -> Option<&crate::cache::AuthCache<U>> {
        self.cache.as_ref()
    }

    /// Uses these argon2 costs for new password hashes (default
    /// [`HashCost::OWASP`]; [`HashCost::INSECURE_FAST_FOR_TESTS`] in tests),
    /// keeping the current limits.
    pub fn with_hash_cost(mut self, cost: HashCost) -> Result<Self> {
        self.hasher = PasswordHasher::with_limits(cost, self.hasher.limits())?;
        Ok(self)
    }

    /// Bounds password hashing: at most `limits.max_concurrent` at once
    /// (default: the number of cores), each waiting at most
    /// `limits.max_wait` for its turn, else [`Error::Unavailable`] (503 over
    /// HTTP). Peak argon2 memory is `max_concurrent` × the cost's memory.
    pub fn with_hash_limits(mut self, limits: HashLimits) -> Result<Self> {
        self.hasher = PasswordHasher::with_limits(self.hasher.cost(), limits)?;
        Ok(self)
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The settings.
    pub fn settings(&self) -> &Settings<U> {
        &self.settings
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The signer/verifier.
    pub fn jwt(&self) -> &Jwt {
        &self.jwt
    }

    /// Checks that `claims.sub` names a user of this resource; returns its key.
    pub fn subject_key(&self, claims: &Claims) -> Result<U::PrimaryKey> {
        crate::subject::canonical_key(&claims.sub, U::SUBJECT_NAME, U::PRIMARY_KEY_FIELD)
    }
}

impl<U: UserResource, S: TokenStore> Auth<U, S> {
    /// Issues a normal (`user`) token with the DSL's and these per-call extra
    /// claims (Ash: `token_for_user`), storing it when `store_all_tokens`.
    pub async fn token_for_user(&self, user: &U, extra_claims: ExtraClaims) -> Result<IssuedToken> {
        let lifetime = self.settings.tokens.token_lifetime;
        self.issue(user, &Purpose::USER, lifetime, extra_claims)
            .await
    }

    /// Issues a token of any purpose and lifetime.
    pub async fn issue(
        &self,
        user: &U,
        purpose: &Purpose,
        lifetime: Lifetime,
        extra_claims: ExtraClaims,
    ) -> Result<IssuedToken> {
        self.issue_in(user, purpose, lifetime, extra_claims, None)
            .await
    }

    /// [`Auth::issue`] bound to `tenant` (context tenancy; with attribute
    /// tenancy every token is bound to the user's tenant anyway).
    pub(crate) async fn issue_in(
        &self,
        user: &U,
        purpose: &Purpose,
        lifetime: Lifetime,
        extra_claims: ExtraClaims,
        tenant: Option<String>,
    ) -> Result<IssuedToken> {
        let bound = SessionRef::tenant_only(tenant);
        let issued = self.mint(user, purpose, lifetime, extra_claims, bound.as_ref())?;
        if let Some(row) = self.row_to_store(&issued)? {
            token::insert_new_row(&self.store, &row).await?;
        }
        Ok(issued)
    }

    /// Signs a token of `purpose` for `user` that is not bound to the
    /// password (no `cred`): a confirmation proves an address, whatever the
    /// password becomes meanwhile.
    pub(crate) fn mint_unbound(
        &self,
        user: &U,
        purpose: &Purpose,
        lifetime: Lifetime,
    ) -> Result<IssuedToken> {
        self.signed(self.claims_now(user, purpose, lifetime, ExtraClaims::new(), None)?)
    }

    /// Mints a token without extra claims (in `session` when given) and
    /// stores its row whatever `store_all_tokens` says: the single-use and
    /// remember-me tokens, which are checked against their rows.
    pub(crate) async fn issue_stored(
        &self,
        user: &U,
        purpose: &Purpose,
        lifetime: Lifetime,
        session: Option<&SessionRef>,
    ) -> Result<IssuedToken> {
        let issued = self.mint_plain(user, purpose, lifetime, session)?;
        let facts = TokenFacts::try_from(&issued.claims)?;
        let row = token::new_token_row(&facts, purpose.as_str(), None);
        token::insert_new_row(&self.store, &row).await?;
        Ok(issued)
    }

    /// Signs a token for `user` (claims merged, `cred` set from the user's
    /// password hash; in a session, `sid` set and `exp` capped at the
    /// session's end) without storing anything.
    pub(crate) fn mint(
        &self,
        user: &U,
        purpose: &Purpose,
        lifetime: Lifetime,
        extra_claims: ExtraClaims,
        session: Option<&SessionRef>,
    ) -> Result<IssuedToken> {
        let dsl = self
            .settings
            .extra_claims
            .map(|f| f(user, &ClaimsContext::new(purpose.clone())))
            .unwrap_or_default();
        self.sign_for(
            user,
            purpose,
            lifetime,
            merge_extra_claims(dsl, extra_claims),
            session,
        )
    }

    /// Like [`Auth::mint`] without extra claims (refresh tokens).
    pub(crate) fn mint_plain(
        &self,
        user: &U,
        purpose: &Purpose,
        lifetime: Lifetime,
        session: Option<&SessionRef>,
    ) -> Result<IssuedToken> {
        self.sign_for(user, purpose, lifetime, ExtraClaims::new(), session)
    }

    fn sign_for(
        &self,
        user: &U,
        purpose: &Purpose,
        lifetime: Lifetime,
        extra: ExtraClaims,
        session: Option<&SessionRef>,
    ) -> Result<IssuedToken> {
        let mut claims = self.claims_now(user, purpose, lifetime, extra, session)?;
        claims.cred = user
            .credential_hash()
            .map(crate::claims::credential_fingerprint);
        if let Some(SessionRef {
            id: Some(id),
            expires_at,
            ..
        }) = session
        {
            // No token outlives its session.
            claims.exp = claims.exp.min(*expires_at);
            claims.sid = Some(id.clone());
        }
        self.signed(claims)
    }

    /// The registered claims of a token of `user`'s issued now (in
    /// `session`), with `extra` merged in and bound to its tenant; not yet
    /// bound to a password or a session.
    fn claims_now(
        &self,
        user: &U,
        purpose: &Purpose,
        lifetime: Lifetime,
        extra: ExtraClaims,
        session: Option<&SessionRef>,
    ) -> Result<Claims> {
        let now = Utc::now().timestamp();
        let mut claims = self
            .jwt
            .claims(user.subject(), purpose, lifetime, extra, now);
        claims.tenant = self.minted_tenant(user, session)?;
        Ok(claims)
    }

    /// The tenant a token minted now for `user` (in `session`) is bound
    /// to: with attribute tenancy the user's, whatever the flow (so no
    /// token of a tenant-bound user is minted without it); with context
    /// tenancy its session's (a token outside a session has none, and
    /// authenticates nowhere).
    pub(crate) fn minted_tenant(
        &self,
        user: &U,
        session: Option<&SessionRef>,
    ) -> Result<Option<String>> {
        match self.settings.tenancy.map(|t| t.strategy) {
            None => Ok(None),
            Some(TenancyStrategy::Attribute) => self.user_tenant(user).map(Some),
            Some(TenancyStrategy::Context) => Ok(session.and_then(|s| s.tenant.clone())),
        }
    }

    /// The tenant an attribute-tenancy user belongs to, checked as a
    /// [`Tenant`] name is.
    pub(crate) fn user_tenant(&self, user: &U) -> Result<String> {
        let name = user.tenant().ok_or(Error::Config(
            "tenancy(strategy = attribute): the user has no tenant".into(),
        ))?;
        Ok(Tenant::new(name)?.as_str().to_owned())
    }

    /// The tenant a sign-in of `user` opens its session in, from what the
    /// request `asked`: with attribute tenancy the user's own (a request
    /// naming another tenant is refused like a wrong password); with
    /// context tenancy the one asked, which is required; without tenancy
    /// none may be asked.
    pub(crate) fn sign_in_tenant(
        &self,
        user: &U,
        asked: Option<&Tenant>,
    ) -> Result<Option<String>> {
        match (self.settings.tenancy.map(|t| t.strategy), asked) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Error::NotConfigured(
                "this resource has no tenancy: a sign-in names no tenant",
            )),
            (Some(TenancyStrategy::Attribute), asked) => {
                let own = self.user_tenant(user)?;
                match asked {
                    Some(asked) if asked.as_str() != own => Err(Error::AuthenticationFailed),
                    _ => Ok(Some(own)),
                }
            }
            (Some(TenancyStrategy::Context), Some(asked)) => Ok(Some(asked.as_str().to_owned())),
            (Some(TenancyStrategy::Context), None) => Err(Error::InvalidInput(
                "a sign-in to a tenant-bound resource names its tenant (`SignInContext::tenant`)"
                    .into(),
            )),
        }
    }

    /// `claims` signed.
    pub(crate) fn signed(&self, claims: Claims) -> Result<IssuedToken> {
        let token = self.jwt.sign(&claims)?;
        Ok(IssuedToken { token, claims })
    }

    /// The row to record for a token just minted, when `store_all_tokens`.
    pub(crate) fn row_to_store(
        &self,
        issued: &IssuedToken,
    ) -> Result<Option<crate::store::NewTokenRow>> {
        if !self.settings.tokens.store_all_tokens {
            return Ok(None);
        }
        let facts = TokenFacts::try_from(&issued.claims)?;
        Ok(Some(token::new_token_row(
            &facts,
            &issued.claims.purpose,
            issued.claims.extra_data(),
        )))
    }

    /// The verifier's leeway.
    pub(crate) fn leeway(&self) -> std::time::Duration {
        self.settings.tokens.leeway.as_duration()
    }

    /// The earliest expiry a stored row may have and still count at `now`:
    /// the token itself passes the expiry check until `exp + leeway`, so
    /// its row must count as long.
    pub(crate) fn presence_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.leeway())
            .ok()
            .and_then(|l| now.checked_sub_signed(l))
            .unwrap_or(now)
    }

    /// Verifies a token now: every check of [`Auth::verify_at`].
    pub async fn verify(&self, token: &str) -> Result<Claims> {
        self.verify_at(token, Utc::now()).await
    }

    /// Allow-list mode: only stored tokens count.
    pub(crate) fn allow_list(&self) -> bool {
        self.settings
            .tokens
            .require_token_presence_for_authentication
    }

    /// Signs out with a presented token: its signature, expiry, issuer,
    /// audience and subject are checked (a forged token revokes nothing), its
    /// revocation state is not, so signing out twice succeeds twice. A token
    /// of a session ends the session: every token of it (its refresh token
    /// included) stops working.
    pub async fn revoke(&self, token: &str) -> Result<()> {
        let claims = self.jwt.verify(token)?;
        self.subject_key(&claims)?;
        let event = self.event(
            crate::audit::EventKind::SignedOut,
            Some(&claims.sub),
            crate::audit::At::of(&claims),
            None,
            crate::audit::Outcome::Success,
        );
        let written = if let Some(sid) = &claims.sid {
            self.end_session_of(&claims, sid, event.events()).await?
        } else {
            // The revocation is written with its event, new or not.
            match self.revoke_verified(&claims, event.events()).await {
                Ok(()) | Err(Error::AlreadyRevoked) => true,
                Err(e) => return Err(e),
            }
        };
        self.recorded(event, written);
        Ok(())
    }

    /// Revokes a verified token, keeping the row as long as the token could
    /// still pass the expiry check anywhere ([`Error::AlreadyRevoked`] when
    /// it already was).
    pub(crate) async fn revoke_verified(
        &self,
        claims: &Claims,
        events: &[crate::audit::AuditEvent],
    ) -> Result<()> {
        let facts = TokenFacts::try_from(claims)?;
        token::revoke_token_keeping(
            &self.store,
            &self.settings.token_resource,
            &facts,
            self.leeway(),
            events,
        )
        .await
    }
}

impl<U: UserResource, S: TokenStore + UserStore<U>> Auth<U, S> {
    /// Loads the user a verified token's subject names (Ash: `load_subjects`).
    pub async fn load_user(&self, claims: &Claims) -> Result<U> {
        let key = self.subject_key(claims)?;
        let user = self.store.get_user(&key).await.map_err(|e| {
            tracing::error!(error = %e, "user store failed while loading a subject");
            Error::Store(e)
        })?;
        user.ok_or(Error::UserNotFound)
    }
}

impl<U: UserResource, S> Auth<U, S> {
    /// Whether ending every sign-in of a user (log out everywhere, a
    /// password change or reset) revokes their API keys too: the strategy's
    /// `revoke_with_sign_ins`.
    pub(crate) fn sign_ins_take_keys(&self) -> bool {
        self.settings()
            .api_key
            .as_ref()
            .is_some_and(|k| k.revoke_with_sign_ins)
    }

    /// What log out everywhere revokes: the add-on's purposes, and with the
    /// sessions add-on every session and refresh token too.
    pub(crate) fn log_out_filter(&self) -> PurposeFilter {
        let filter = self
            .settings()
            .log_out_everywhere
            .as_ref()
            .map_or_else(PurposeFilter::all, |l| l.purposes.clone());
        let mut filter = if self.settings().sessions.is_some() {
            session_filter(filter)
        } else {
            filter
        };
        if self.settings().confirmation.is_some()
            && filter.include.is_none()
            && !filter.exclude.contains(&Purpose::CONFIRM)
        {
            // A pending confirmation signs nobody in: it survives (unless
            // the add-on's `include_purposes` names it).
            filter.exclude.push(Purpose::CONFIRM);
        }
        if self.settings().confirmation.is_some() {
            // A pending change of the email must not outlive a recovery:
            // whoever stole a token may have asked for it.
            always_revoke(&mut filter, &[Purpose::CONFIRM_CHANGE]);
        }
        if self.settings().remember_me.is_some() {
            // A remembered browser must not sign itself in again.
            always_revoke(
                &mut filter,
                &[Purpose::REMEMBER_ME, Purpose::COOKIE_SESSION],
            );
        }
        filter
    }
}

/// The purposes a password change or log out everywhere revokes: the
/// log-out-everywhere filter, plus sessions and refresh tokens always (those
/// must end with it).
fn session_filter(mut filter: PurposeFilter) -> PurposeFilter {
    always_revoke(&mut filter, &[Purpose::SESSION, Purpose::REFRESH]);
    filter
}

/// Makes `filter` pass `purposes` whatever the add-on's lists say.
fn always_revoke(filter: &mut PurposeFilter, purposes: &[Purpose]) {
    filter.exclude.retain(|p| !purposes.contains(p));
    if let Some(include) = filter.include.as_mut() {
        for p in purposes {
            if !include.contains(p) {
                include.push(p.clone());
            }
        }
    }
}

impl<U: UserResource, S> Auth<U, S> {
    /// The password strategy's settings, or why there are none.
    pub(crate) fn password_config(&self) -> Result<&PasswordConfig> {
        self.settings()
            .password
            .as_ref()
            .ok_or(Error::NotConfigured(
                "this resource has no password strategy",
            ))
    }
}

impl<U: crate::user::UserResource, S> Auth<U, S> {
    /// Hands security events to `sink` instead of `tracing` (with the
    /// `audit_log` add-on; without it no event is made).
    pub fn with_audit_sink(mut self, sink: impl crate::audit::AuditSink) -> Self {
        self.audit_sink = std::sync::Arc::new(sink);
        self
    }

    /// Records an event of an action that writes nothing (or whose write
    /// cannot carry it), when the `audit_log` add-on is on: to the sink,
    /// and to the batch the store gets later.
    pub(crate) fn audit(
        &self,
        kind: crate::audit::EventKind,
        subject: Option<&str>,
        at: crate::audit::At<'_>,
        client: Option<crate::audit::Client<'_>>,
        outcome: crate::audit::Outcome,
    ) {
        let pending = self.event(kind, subject, at, client, outcome);
        self.recorded(pending, false);
    }

    /// The event of an action, made before the action's write so that the
    /// write carries it ([`Pending::events`](crate::audit::Pending::events)):
    /// nothing without the `audit_log` add-on.
    pub(crate) fn event(
        &self,
        kind: crate::audit::EventKind,
        subject: Option<&str>,
        at: crate::audit::At<'_>,
        client: Option<crate::audit::Client<'_>>,
        outcome: crate::audit::Outcome,
    ) -> crate::audit::Pending {
        let event = self
            .settings()
            .audit_log
            .map(|config| crate::audit::AuditEvent {
                kind,
                at: Utc::now(),
                subject: subject.map(str::to_owned),
                session: at.session.map(str::to_owned),
                tenant: at.tenant.map(str::to_owned),
                ip: config.ip.keep(client.and_then(|c| c.ip)),
                user_agent: client.and_then(|c| c.user_agent.map(str::to_owned)),
                outcome,
            });
        crate::audit::Pending {
            event,
            stored: self.event_queue.is_some(),
        }
    }

    /// The action is done: its event goes to the sink, and, unless its
    /// write appended it (`written`), to the batch the store gets later.
    pub(crate) fn recorded(&self, pending: crate::audit::Pending, written: bool) {
        let Some(event) = pending.event else {
            return;
        };
        self.audit_sink.record(&event);
        if let Some(queue) = &self.event_queue
            && !written
        {
            queue.push(event);
        }
    }
}
