//! Single-use tokens sent out of band: password reset, magic links, and
//! the confirmation add-on (changes of monitored fields held until a token
//! sent to the new address confirms them).
//!
//! Each is a stored JWT of its own purpose, never accepted as anything
//! else, redeemed **once**: the store write that applies its effect also
//! spends it ([`PasswordChange::redeem`]), so a failed effect leaves the
//! token unspent and a spent token means the effect happened. The
//! application delivers tokens through a [`Sender`](crate::Sender) handed to the runtime
//! in its [`Settings`](crate::Settings); a strategy that sends, configured
//! without one, is an error when [`Auth`] is built.
//!
//! A request (for a reset or a magic link) answers at once, the same way whether the
//! identity exists or not: it only puts the identity on a bounded queue;
//! the lookup, the token and the sending happen in one background task, so
//! neither the answer nor its timing tells who has an account. A full
//! queue ([`REQUEST_QUEUE`] waiting requests) answers
//! [`Error::Unavailable`] (503) for everyone alike. Rate-limit the request
//! route in the application too.

use std::fmt;
use std::sync::Arc;

use chrono::Utc;

use crate::audit::{EventKind, Outcome};
use crate::auth::Auth;
use crate::config::Purpose;
use crate::error::{Error, Result, store_failure, truncated};
use crate::password::check_password;
use crate::sender::{Message, Queue, Request};
use crate::session::SignInContext;
use crate::session::SignedIn;
use crate::store::{PasswordChange, PasswordStore, Redeem, RevokeAll, SingleUseStore, UserStore};
use crate::user::normalize_identity;
use crate::user::{PasswordUser, UserResource};
use crate::verify::fail_closed;

/// How many out-of-band requests may wait for the background task.
pub const REQUEST_QUEUE: usize = 1024;

/// How many live single-use tokens of one kind (reset, magic link,
/// confirmation of a change) one user may have at once: a request past it
/// sends nothing (a reset or magic-link request, silently: its answer
/// cannot differ) or is refused ([`Error::TooManyPending`]: a change), so
/// a flood of cheap requests cannot grow the token table or a mailbox.
pub const MAX_PENDING: usize = 5;

/// What proves that whoever asks for a change of a monitored field (the
/// email) holds the account now, not just a stolen token: the current
/// password, or a sign-in recent enough (`confirmation(fresh_sign_in)`,
/// default 10 minutes).
#[derive(Clone, Copy)]
pub enum Reauthentication<'a> {
    /// The current password, checked against the stored hash.
    Password(&'a str),
    /// The verified claims of the token that authenticated this request
    /// ([`AuthenticatedUser::claims`](crate::AuthenticatedUser)): its
    /// session's sign-in (or, without sessions, the token's `iat`) must be
    /// within `fresh_sign_in`. A refresh does not make a sign-in fresh.
    FreshSignIn(&'a crate::Claims),
}

impl fmt::Debug for Reauthentication<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::FreshSignIn(claims) => f.debug_tuple("FreshSignIn").field(&claims.jti).finish(),
        }
    }
}

/// How long one out-of-band request holds the task: a moving average
/// (weight 1/8) of the requests that sent a token, starting at 5 ms (a
/// durable insert and a hand-over to the sender), at most 10 s.
#[derive(Debug)]
struct Pace(std::time::Duration);

impl Default for Pace {
    fn default() -> Self {
        Self(std::time::Duration::from_millis(5))
    }
}

impl Pace {
    const MAX: std::time::Duration = std::time::Duration::from_secs(10);

    fn observe(&mut self, took: std::time::Duration) {
        let took = took.min(Self::MAX);
        self.0 = (self.0 * 7 + took) / 8;
    }

    fn current(&self) -> std::time::Duration {
        self.0
    }
}

impl<U: PasswordUser, S: SingleUseStore + PasswordStore<U> + 'static> Auth<U, S> {
    /// Requests a password reset for `identity`: answers at once, the same
    /// whether the identity exists or not; in the background, when it
    /// does, a reset token (purpose `password_reset`, stored, bound to the
    /// current password) is issued and handed to the sender. Only an
    /// identity that cannot be one is an error ([`Error::InvalidInput`]).
    pub fn request_password_reset(self: &Arc<Self>, identity: &str) -> Result<()> {
        let config = self.password_config()?;
        let lifetime = config
            .reset
            .ok_or(Error::NotConfigured("password reset is not configured"))?
            .token_lifetime;
        self.enqueue(identity, Purpose::PASSWORD_RESET, lifetime)?;
        self.audit(
            EventKind::PasswordResetRequested,
            None,
            crate::audit::At::NONE,
            None,
            Outcome::Success,
        );
        Ok(())
    }

    /// [`Auth::request_password_reset`] from `client`: with the brute-force
    /// add-on, every request counts against the client's address, and an
    /// address past `max_failures_per_ip` within the window is refused
    /// ([`Error::TooManyAttempts`], 429 with `Retry-After`) until its
    /// lockout has passed. The answer is still the same whether the
    /// identity exists or not.
    pub async fn request_password_reset_from(
        self: &Arc<Self>,
        identity: &str,
        client: &crate::session::ClientInfo,
    ) -> Result<()> {
        self.address_counted(client.ip, || self.request_password_reset(identity))
            .await
    }

    /// [`Auth::request_magic_link`] from `client`, throttled per address as
    /// [`Auth::request_password_reset_from`].
    pub async fn request_magic_link_from(
        self: &Arc<Self>,
        identity: &str,
        client: &crate::session::ClientInfo,
    ) -> Result<()> {
        self.address_counted(client.ip, || self.request_magic_link(identity))
            .await
    }

    /// Requests a magic link for `identity`: as
    /// [`request_password_reset`](Self::request_password_reset), with a
    /// token of purpose `magic_link`.
    pub fn request_magic_link(self: &Arc<Self>, identity: &str) -> Result<()> {
        let lifetime = self
            .settings()
            .magic_link
            .ok_or(Error::NotConfigured("magic links are not configured"))?
            .token_lifetime;
        self.enqueue(identity, Purpose::MAGIC_LINK, lifetime)?;
        self.audit(
            EventKind::MagicLinkRequested,
            None,
            crate::audit::At::NONE,
            None,
            Outcome::Success,
        );
        Ok(())
    }

    /// Normalises the identity and queues the request: the whole of what a
    /// request does before it answers.
    fn enqueue(
        self: &Arc<Self>,
        identity: &str,
        purpose: Purpose,
        lifetime: crate::Lifetime,
    ) -> Result<()> {
        let identity = normalize_identity(self.password_config()?, identity)?;
        self.queue()
            .try_send((identity, purpose, lifetime))
            .map_err(|_| Error::Unavailable("too many requests waiting"))
    }

    /// The request queue, and its task, started on first use. The task
    /// holds the runtime weakly: it ends when the last `Arc<Auth>` goes.
    ///
    /// Every request takes the task the same time, known identity or not:
    /// one that sent a token (a durable write and a mail) teaches the pace
    /// (a moving average of those), and every request, whatever it did,
    /// is held until the pace has passed. So the queue drains at one rate,
    /// and a client that fills it learns nothing from how fast slots free.
    fn queue(self: &Arc<Self>) -> &Queue {
        self.requests.get_or_init(|| {
            let (queue, mut waiting) = tokio::sync::mpsc::channel::<Request>(REQUEST_QUEUE);
            let auth = Arc::downgrade(self);
            tokio::spawn(async move {
                let mut pace = Pace::default();
                while let Some((identity, purpose, lifetime)) = waiting.recv().await {
                    let Some(auth) = auth.upgrade() else { break };
                    let started = tokio::time::Instant::now();
                    match auth.send_token(&identity, &purpose, lifetime).await {
                        Ok(true) => pace.observe(started.elapsed()),
                        Ok(false) => {}
                        Err(e) => {
                            tracing::error!(error = %e, %purpose, "an out-of-band request failed");
                        }
                    }
                    drop(auth);
                    let due = started + pace.current();
                    if due > tokio::time::Instant::now() {
                        tokio::time::sleep_until(due).await;
                    }
                }
            });
            queue
        })
    }

    /// Handles one request; `true` when a token was issued and sent.
    async fn send_token(
        &self,
        identity: &str,
        purpose: &Purpose,
        lifetime: crate::Lifetime,
    ) -> Result<bool> {
        let Some(user) = self
            .store()
            .get_user_by_identity(identity)
            .await
            .map_err(|e| store_failure("out-of-band request", e))?
        else {
            return Ok(false);
        };
        if self.pending(&user, purpose).await? >= MAX_PENDING {
            tracing::info!(%purpose, "too many pending tokens for one user: nothing sent");
            return Ok(false);
        }
        let issued = self.issue_stored(&user, purpose, lifetime, None).await?;
        self.deliver(&user, purpose, &issued.token).await?;
        Ok(true)
    }

    /// How many out-of-band requests wait for the background task now (for
    /// monitoring: at [`REQUEST_QUEUE`], requests answer 503).
    pub fn waiting_requests(&self) -> usize {
        self.requests
            .get()
            .map_or(0, |q| REQUEST_QUEUE - q.capacity())
    }

    /// Signs in with a magic-link token (redeem it by POST: a mail scanner
    /// following a GET link must not spend it): every check of
    /// [`reset_password`](Self::reset_password)'s kind, then one store write
    /// spends the token and records the new sign-in (its session). Of
    /// concurrent redemptions one succeeds; the others get
    /// [`Error::Revoked`].
    pub async fn sign_in_with_magic_link(
        &self,
        magic_link_token: &str,
        context: impl Into<SignInContext>,
    ) -> Result<SignedIn<U>> {
        if self.settings().magic_link.is_none() {
            return Err(Error::NotConfigured("magic links are not configured"));
        }
        let context = context.into();
        let ip = context.client.ip;
        self.address_guarded(ip, self.redeem_magic_link(magic_link_token, context))
            .await
    }

    async fn redeem_magic_link(
        &self,
        magic_link_token: &str,
        context: SignInContext,
    ) -> Result<SignedIn<U>> {
        let (claims, key, user) = self
            .check_single_use(magic_link_token, &Purpose::MAGIC_LINK)
            .await?;
        let context = self.exchange_context(&claims, context)?;
        if self.never_confirmed(&user) {
            return self
                .first_proof_by_magic_link(&claims, &key, &user, context)
                .await;
        }
        let client = context.client.clone();
        let minted = self.mint_sign_in(&user, context)?;
        let redeem = Redeem {
            jti: &claims.jti,
            subject: &claims.sub,
            purpose: Purpose::MAGIC_LINK.as_str(),
        };
        let event = self.event(
            EventKind::SignedIn,
            Some(&claims.sub),
            crate::audit::At::of(&minted.token.claims),
            Some(client.seen()),
            Outcome::Success,
        );
        let spent = self
            .store()
            .redeem(&redeem, &minted.rows, event.events())
            .await
            .map_err(|e| store_failure("magic link sign-in", e))?;
        if !spent {
            return Err(Error::Revoked);
        }
        self.recorded(event, true);
        Ok(minted.signed_in(user))
    }

    /// Resets the password with a reset token: every check of a token
    /// (purpose `password_reset`, its row present, the password unchanged
    /// since it was issued), the new password checked and hashed; then one
    /// store write spends the token, sets the new hash, ends every earlier
    /// session and token (as log out everywhere does) and records a new
    /// sign-in, which is returned. Of concurrent resets with one token,
    /// one succeeds; the others get [`Error::Revoked`].
    pub async fn reset_password(
        &self,
        reset_token: &str,
        password: &str,
        password_confirmation: Option<&str>,
        context: impl Into<SignInContext>,
    ) -> Result<SignedIn<U>> {
        let config = self.password_config()?;
        if config.reset.is_none() {
            return Err(Error::NotConfigured("password reset is not configured"));
        }
        let (claims, key, mut user) = self
            .check_single_use(reset_token, &Purpose::PASSWORD_RESET)
            .await?;
        crate::password::check_confirmation(config, password, password_confirmation)?;
        check_password(password)?;
        let current = user.hashed_password().to_owned();
        let new_hash = self.hasher().hash(password).await?;
        user.set_hashed_password(new_hash.clone());
        let context = self.exchange_context(&claims, context.into())?;
        let client = context.client.clone();
        let minted = self.mint_sign_in(&user, context)?;
        let filter = self.log_out_filter();
        let event = self.event(
            EventKind::PasswordReset,
            Some(&claims.sub),
            crate::audit::At::of(&minted.token.claims),
            Some(client.seen()),
            Outcome::Success,
        );
        let change = PasswordChange {
            key: &key,
            current_hash: &current,
            new_hash: &new_hash,
            revoke: Some(RevokeAll {
                subject: &claims.sub,
                filter: &filter,
                keep_for: crate::token::revocation_keep_for(self.leeway()),
                api_keys: self.sign_ins_take_keys(),
                // The password is the account's: every tenant's sign-ins.
                tenant: None,
            }),
            new_rows: &minted.rows,
            redeem: Some(Redeem {
                jti: &claims.jti,
                subject: &claims.sub,
                purpose: Purpose::PASSWORD_RESET.as_str(),
            }),
            events: event.events(),
        };
        let changed = self
            .store()
            .change_password(&change)
            .await
            .map_err(|e| store_failure("reset password", e))?;
        if !changed {
            // Spent by a concurrent reset, or the password changed meanwhile.
            return Err(Error::Revoked);
        }
        // A reset proves the address: a locked identity unlocks.
        if let (Some(b), Some(identity)) = (&self.settings().brute_force, user.identity()) {
            let counters = crate::lockout::Counters::of(b, U::SUBJECT_NAME, identity, None);
            crate::lockout::clear_identity(self.store(), &counters).await;
        }
        self.recorded(event, true);
        Ok(minted.signed_in(user))
    }
}

impl<U: UserResource, S: SingleUseStore + UserStore<U>> Auth<U, S> {
    fn confirmation_config(&self) -> Result<crate::config::ConfirmationConfig> {
        self.settings().confirmation.ok_or(Error::NotConfigured(
            "this resource has no confirmation add-on",
        ))
    }

    /// How many live tokens of `purpose` wait for `user` (see [`MAX_PENDING`]).
    async fn pending(&self, user: &U, purpose: &Purpose) -> Result<usize> {
        let live = self
            .store()
            .live_tokens(&user.subject(), purpose.as_str(), Utc::now())
            .await
            .map_err(|e| store_failure("count pending tokens", e))?;
        Ok(live.len())
    }

    /// Whether `user`'s address has never been confirmed (with the
    /// confirmation add-on; without it, `false`).
    pub(crate) fn never_confirmed(&self, user: &U) -> bool {
        self.settings().confirmation.is_some()
            && serde_json::to_value(user).is_ok_and(|v| {
                v.get(crate::config::ConfirmationConfig::CONFIRMED_AT_FIELD)
                    .is_none_or(serde_json::Value::is_null)
            })
    }

    /// Issues a confirmation token holding `changes` (stored with
    /// `store_confirmation_changes`) and sends it to `recipient` (the user
    /// as the changes would make it: a new address gets the mail). A
    /// change's token (purpose `confirm_change`) is bound to the password
    /// like a session's tokens; a new account's (`confirm`, no changes) is not.
    async fn send_confirmation(
        &self,
        user: &U,
        recipient: &U,
        changes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let config = self.confirmation_config()?;
        let (purpose, issued) = if changes.is_empty() {
            let issued = self.mint_unbound(user, &Purpose::CONFIRM, config.token_lifetime)?;
            (Purpose::CONFIRM, issued)
        } else {
            let purpose = Purpose::CONFIRM_CHANGE;
            let issued = self.mint_plain(user, &purpose, config.token_lifetime, None)?;
            (purpose, issued)
        };
        let facts = crate::token::TokenFacts::try_from(&issued.claims)?;
        crate::token::store_confirmation_changes(
            self.store(),
            &self.settings().token_resource,
            &facts,
            &purpose,
            changes,
        )
        .await?;
        self.deliver(recipient, &Purpose::CONFIRM, &issued.token)
            .await
    }

    /// The confirmation of a new account (`confirm_on_create`): a token
    /// with no change to apply; confirming it sets `confirmed_at`.
    pub(crate) async fn confirm_creation(&self, user: &U) {
        if !self
            .settings()
            .confirmation
            .is_some_and(|c| c.confirm_on_create)
        {
            return;
        }
        if let Err(e) = self.send_confirmation(user, user, Default::default()).await {
            tracing::error!(error = %e, "the confirmation of a new account was not sent");
        }
    }

    /// Whether `password` is `user`'s (a dummy verification when the user
    /// has none, so the answer takes the same time).
    async fn password_proved(&self, user: &U, password: &str) -> Result<bool> {
        self.hasher().verify(password, user.credential_hash()).await
    }

    /// What a proof of the address writes to the user: `confirmed_at`
    /// now, and with `clear_password` an empty hash (it verifies nothing;
    /// every token bound to the old one dies with it).
    fn proof_fields(&self, clear_password: bool) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = serde_json::Map::from_iter([(
            crate::config::ConfirmationConfig::CONFIRMED_AT_FIELD.to_owned(),
            serde_json::json!(Utc::now()),
        )]);
        if let (true, Some(config)) = (clear_password, &self.settings().password) {
            fields.insert(
                config.hashed_password_field.to_owned(),
                serde_json::Value::String(String::new()),
            );
        }
        fields
    }

    /// Checks that whoever asks for a change holds the account now: the
    /// current password, or a sign-in within `fresh_sign_in`.
    async fn reauthenticated(
        &self,
        user: &U,
        proof: Reauthentication<'_>,
        fresh_sign_in: crate::Lifetime,
    ) -> Result<()> {
        let fresh = match proof {
            Reauthentication::Password(password) => self.password_proved(user, password).await?,
            Reauthentication::FreshSignIn(claims) => {
                let signed_in_at = match &claims.sid {
                    // The session's row was written at the sign-in; a
                    // refresh does not move it.
                    Some(sid) => self
                        .store()
                        .lookup(&claims.jti, Some(sid))
                        .await
                        .map_err(fail_closed)?
                        .session
                        .filter(|s| s.is_live_session(&claims.sub, Utc::now()))
                        .map(|s| s.created_at.timestamp()),
                    None => Some(claims.iat),
                };
                let window = i64::try_from(fresh_sign_in.as_secs()).unwrap_or(i64::MAX);
                claims.sub == user.subject()
                    && !fresh_sign_in.is_zero()
                    && signed_in_at
                        .is_some_and(|at| Utc::now().timestamp().saturating_sub(at) <= window)
            }
        };
        if fresh {
            Ok(())
        } else {
            Err(Error::ReauthenticationRequired)
        }
    }

    /// Holds the changes of monitored fields from `user` to `updated` until
    /// confirmed: they are stored with a confirmation token sent to the user
    /// as `updated` describes them (a new address gets the mail); nothing
    /// of the user changes now. Changes of other fields are not applied
    /// here (write them with `update_user`). A new identity is normalised
    /// as at registration (trimmed, NFC, lower case).
    ///
    /// `proof` shows the account's holder asks, not someone with a stolen
    /// token: the current password, or a fresh sign-in
    /// ([`Error::ReauthenticationRequired`] otherwise). The token sent is
    /// bound to the password, and log out everywhere ends it, so a
    /// recovery (password change, reset, log out everywhere) ends every
    /// pending change. [`Error::InvalidInput`] when no monitored field
    /// changes or the new identity is not valid; [`Error::IdentityTaken`]
    /// when it is someone's; [`Error::TooManyPending`] when
    /// [`MAX_PENDING`] changes already wait.
    pub async fn change_with_confirmation(
        &self,
        user: &U,
        updated: &U,
        proof: Reauthentication<'_>,
    ) -> Result<()> {
        let config = self.confirmation_config()?;
        if !config.confirm_on_update {
            return Err(Error::NotConfigured("`confirm_on_update` is off"));
        }
        let (before, mut after) = match (serde_json::to_value(user), serde_json::to_value(updated))
        {
            (Ok(serde_json::Value::Object(b)), Ok(serde_json::Value::Object(a))) => (b, a),
            _ => return Err(Error::InvalidInput("the user is not a JSON object".into())),
        };
        // A new identity is normalised as registration and sign-in
        // normalise it, or the confirmed address could not sign in.
        if let (Some(field), Some(password)) = (U::IDENTITY_FIELD, &self.settings().password)
            && let Some(serde_json::Value::String(identity)) = after.get_mut(field)
        {
            *identity = normalize_identity(password, identity)?;
        }
        let changes: serde_json::Map<_, _> = config
            .monitor_fields
            .iter()
            .filter_map(|f| {
                let new = after.get(*f)?;
                (before.get(*f) != Some(new)).then(|| ((*f).to_owned(), new.clone()))
            })
            .collect();
        if changes.is_empty() {
            return Err(Error::InvalidInput("no monitored field changes".into()));
        }
        // The password is proved against the stored hash, and the token
        // bound to it, whatever copy of the user the caller holds.
        let user = &self
            .store()
            .get_user(&user.primary_key())
            .await
            .map_err(|e| store_failure("change with confirmation", e))?
            .ok_or(Error::UserNotFound)?;
        self.reauthenticated(user, proof, config.fresh_sign_in)
            .await?;
        if self.pending(user, &Purpose::CONFIRM_CHANGE).await? >= MAX_PENDING {
            return Err(Error::TooManyPending(
                "confirm one of the changes already sent, or wait until they expire",
            ));
        }
        if let Some(identity) = U::IDENTITY_FIELD
            .and_then(|field| changes.get(field))
            .and_then(serde_json::Value::as_str)
        {
            let taken = self
                .store()
                .get_user_by_identity(identity)
                .await
                .map_err(|e| store_failure("change with confirmation", e))?;
            if taken.is_some_and(|other| other.subject() != user.subject()) {
                return Err(Error::IdentityTaken);
            }
        }
        let recipient = crate::user::apply_fields(user, &changes)?;
        self.send_confirmation(user, &recipient, changes).await
    }

    /// Confirms with a confirmation token: every check of a token (purpose
    /// `confirm`, or `confirm_change` bound to the password; its row
    /// present); then one store write spends it and applies its changes
    /// (`get_confirmation_changes`) with `confirmed_at` set to now. Returns
    /// the user as confirmed. Of concurrent confirmations one succeeds;
    /// the others get [`Error::Revoked`]. A new identity taken meanwhile is
    /// [`Error::IdentityTaken`], and spends nothing.
    ///
    /// The first confirmation of an account never confirmed proves the
    /// address, not who registered it: the password set at registration is
    /// cleared (in the same write) and every session ends, so whoever
    /// registered an address not theirs loses the account to its owner,
    /// who sets a password by a reset. A registrant who confirms their own
    /// account keeps it with [`confirm_with_password`](Self::confirm_with_password).
    pub async fn confirm(&self, confirm_token: &str) -> Result<U> {
        self.confirm_proving(confirm_token, None).await
    }

    /// [`confirm`](Self::confirm) by someone who also knows the account's
    /// password: on an account never confirmed, the password is kept (and
    /// its sessions live) when `password` is the current one; otherwise
    /// [`Error::ReauthenticationRequired`] and nothing is spent.
    pub async fn confirm_with_password(&self, confirm_token: &str, password: &str) -> Result<U> {
        self.confirm_proving(confirm_token, Some(password)).await
    }

    async fn confirm_proving(&self, confirm_token: &str, password: Option<&str>) -> Result<U> {
        self.confirmation_config()?;
        let (claims, key, user) = self
            .check_single_use_of(confirm_token, &[Purpose::CONFIRM, Purpose::CONFIRM_CHANGE])
            .await?;
        let purpose = if claims.purpose == Purpose::CONFIRM_CHANGE.as_str() {
            Purpose::CONFIRM_CHANGE
        } else {
            Purpose::CONFIRM
        };
        let mut fields = crate::token::get_confirmation_changes(
            self.store(),
            &self.settings().token_resource,
            &claims.jti,
            &purpose,
        )
        .await?
        .unwrap_or_default();
        if purpose == Purpose::CONFIRM && !fields.is_empty() {
            // A change held by a token not bound to the password (issued
            // before changes were): it would survive a recovery.
            return Err(Error::CredentialChanged);
        }
        let first_proof = self.never_confirmed(&user);
        let clear_password = match password {
            _ if !first_proof => false,
            None => user.credential_hash().is_some(),
            Some(password) if self.password_proved(&user, password).await? => false,
            Some(_) => return Err(Error::ReauthenticationRequired),
        };
        fields.extend(self.proof_fields(clear_password));
        let redeem = Redeem {
            jti: &claims.jti,
            subject: &claims.sub,
            purpose: purpose.as_str(),
        };
        let kind = if purpose == Purpose::CONFIRM_CHANGE {
            EventKind::EmailChanged
        } else {
            EventKind::Confirmed
        };
        let event = self.event(
            kind,
            Some(&claims.sub),
            crate::audit::At::of(&claims),
            None,
            Outcome::Success,
        );
        let applied = self
            .store()
            .apply_redeemed(&key, &fields, &redeem, event.events())
            .await;
        let spent = match applied {
            Ok(spent) => spent,
            Err(e) if e.to_string().starts_with("identity is already taken") => {
                return Err(Error::IdentityTaken);
            }
            Err(e) => return Err(store_failure("confirm", e)),
        };
        if !spent {
            return Err(Error::Revoked);
        }
        if clear_password {
            // Every token of the registrant carries the cleared hash's
            // fingerprint and is dead already; their rows end too.
            self.end_everything(&claims.sub).await?;
        }
        self.recorded(event, true);
        crate::user::apply_fields(&user, &fields)
    }

    /// Log out everywhere for `subject` (the add-on's filter, sessions and
    /// pending changes always), and revoke every API key: this ends what
    /// a registrant who never proved the address made, and whoever held
    /// its password may not be its owner.
    async fn end_everything(&self, subject: &str) -> Result<()> {
        let filter = self.log_out_filter();
        let revoke = RevokeAll {
            api_keys: self.settings().api_key.is_some(),
            ..RevokeAll::tokens(
                subject,
                &filter,
                crate::token::revocation_keep_for(self.leeway()),
            )
        };
        self.store()
            .revoke_all_for_subject(&revoke, &[])
            .await
            .map(|_| ())
            .map_err(|e| store_failure("end every session", e))
    }
}

impl<U: PasswordUser, S: SingleUseStore + PasswordStore<U> + 'static> Auth<U, S> {
    /// A magic link into an account never confirmed: the first proof of
    /// the address. The link is spent with `confirmed_at` set and the
    /// password set before it cleared (one write); every earlier session
    /// ends; then the new sign-in (bound to no password) is recorded.
    async fn first_proof_by_magic_link(
        &self,
        claims: &crate::Claims,
        key: &U::PrimaryKey,
        user: &U,
        context: SignInContext,
    ) -> Result<SignedIn<U>> {
        let fields = self.proof_fields(true);
        let redeem = Redeem {
            jti: &claims.jti,
            subject: &claims.sub,
            purpose: Purpose::MAGIC_LINK.as_str(),
        };
        let spent = self
            .store()
            .apply_redeemed(key, &fields, &redeem, &[])
            .await
            .map_err(|e| store_failure("magic link sign-in", e))?;
        if !spent {
            return Err(Error::Revoked);
        }
        self.end_everything(&claims.sub).await?;
        let user = crate::user::apply_fields(user, &fields)?;
        self.sign_in(user, context).await
    }
}

impl<U: UserResource, S> Auth<U, S> {
    /// Hands a token to the application's sender (its error goes to the
    /// log, cut; the caller sees `Unavailable`).
    async fn deliver(&self, user: &U, purpose: &Purpose, token: &str) -> Result<()> {
        let sender = self
            .settings()
            .sender
            .as_ref()
            .ok_or(Error::NotConfigured("no sender"))?;
        let message = Message {
            user,
            purpose,
            token,
        };
        sender.0.send(message).await.map_err(|e: String| {
            tracing::error!(error = %truncated(&e), %purpose, "the sender failed");
            Error::Unavailable("the sender failed")
        })
    }
}
