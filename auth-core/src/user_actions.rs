//! The user actions: password registration and sign-in, sign-in
//! tokens, password change, log out everywhere. `#[derive(Authenticated)]`
//! generates associated functions that call these.

use crate::audit::{EventKind, Outcome};
use crate::auth::Auth;
use crate::config::{Purpose, PurposeFilter};
use crate::error::store_failure;
use crate::error::{Error, Result, truncated};
use crate::lockout;
use crate::password::check_password;
use crate::session::{SignInContext, SignedIn};
use crate::store::{
    InsertUserError, PasswordChange, PasswordStore, RevokeAll, SingleUseStore, TokenStore,
};
use crate::token;
use crate::user::{PasswordUser, UserResource};
use crate::verify::check_credential;

/// Which token a password sign-in returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenType {
    /// A normal token that authenticates requests.
    #[default]
    User,
    /// A short-lived, single-use token to exchange with `sign_in_with_token`.
    SignIn,
}

impl<U: PasswordUser, S: SingleUseStore + PasswordStore<U>> Auth<U, S> {
    /// `register_with_password`: normalises the identity, checks the
    /// confirmation and the password, hashes it (argon2id, off the
    /// executor), and inserts `user` with the hash together with its first
    /// token's row (one atomic write: both or neither), refusing a taken
    /// identity ([`Error::IdentityTaken`]). Nothing is written when a check
    /// fails.
    pub async fn register_with_password(
        &self,
        mut user: U,
        password: &str,
        password_confirmation: Option<&str>,
        context: impl Into<SignInContext>,
    ) -> Result<SignedIn<U>> {
        let config = self.password_config()?;
        let identity =
            crate::user::normalize_identity(config, user.identity().unwrap_or_default())?;
        user.set_identity(identity);
        crate::password::check_confirmation(config, password, password_confirmation)?;
        check_password(password)?;
        user.set_hashed_password(self.hasher().hash(password).await?);
        if self
            .settings()
            .confirmation
            .is_some_and(|c| c.confirm_on_create)
        {
            // Unconfirmed until the confirmation sent below comes back.
            let unconfirmed = serde_json::Map::from_iter([(
                crate::config::ConfirmationConfig::CONFIRMED_AT_FIELD.to_owned(),
                serde_json::Value::Null,
            )]);
            user = crate::user::apply_fields(&user, &unconfirmed)?;
        }
        let context = context.into();
        let client = context.client.clone();
        let minted = self.mint_sign_in(&user, context)?;
        let event = self.event(
            EventKind::Registered,
            Some(&user.subject()),
            crate::audit::At::of(&minted.token.claims),
            Some(client.seen()),
            Outcome::Success,
        );
        let inserted = if minted.rows.is_empty() && event.events().is_empty() {
            self.store().insert_user(&user).await
        } else {
            self.store()
                .insert_user_with_tokens(&user, &minted.rows, event.events())
                .await
        };
        match inserted {
            Ok(()) => {
                self.confirm_creation(&user).await;
                self.recorded(event, true);
                Ok(minted.signed_in(user))
            }
            Err(InsertUserError::IdentityTaken) => Err(Error::IdentityTaken),
            Err(InsertUserError::Store(e)) => Err(store_failure("register", e)),
        }
    }

    /// `sign_in_with_password`: the user and a token, or with
    /// [`TokenType::SignIn`] a short-lived sign-in token. An unknown identity
    /// and a wrong password are the same [`Error::AuthenticationFailed`] and
    /// cost the same argon2 verification. The token carries a fingerprint
    /// of the hash that was verified, so it dies if the password changes,
    /// even while this sign-in is still running.
    pub async fn sign_in_with_password(
        &self,
        identity: &str,
        password: &str,
        token_type: TokenType,
        context: impl Into<SignInContext>,
    ) -> Result<SignedIn<U>> {
        let context = context.into();
        let config = self.password_config()?;
        if !config.sign_in_enabled {
            return Err(Error::NotConfigured("password sign-in is disabled"));
        }
        if token_type == TokenType::SignIn && !config.sign_in_tokens_enabled {
            return Err(Error::NotConfigured("sign-in tokens are disabled"));
        }
        let lifetime = config.sign_in_token_lifetime;
        let identity = crate::user::normalize_identity(config, identity)?;
        let brute_force = self.settings().brute_force.as_ref();
        // A refusal's event names the tenant the sign-in asked for.
        let asked_in = crate::audit::At {
            session: None,
            tenant: context.tenant.as_ref().map(crate::tenant::Tenant::as_str),
        };
        let counters = brute_force
            .map(|b| lockout::Counters::of(b, U::SUBJECT_NAME, &identity, context.client.ip));
        // The user and the counters, in one round trip where the store can.
        let keys = counters
            .as_ref()
            .map(lockout::Counters::keys)
            .unwrap_or_default();
        let rows = self
            .store()
            .sign_in_lookup(&identity, &keys)
            .await
            .map_err(|e| store_failure("sign in", e))?;
        let verdict = match &counters {
            Some(c) => match lockout::verdict(c, &rows.locked) {
                Err(e @ Error::TooManyAttempts { .. }) => {
                    self.audit(
                        EventKind::LockedOut,
                        None,
                        asked_in,
                        Some(context.client.seen()),
                        Outcome::Failure,
                    );
                    return Err(e);
                }
                other => other?,
            },
            None => lockout::Verdict::Open,
        };
        let found = if password.len() > crate::password::MAX_PASSWORD_LEN {
            None
        } else {
            rows.user
        };
        let ok = self
            .hasher()
            .verify(password, found.as_ref().map(PasswordUser::hashed_password))
            .await?;
        // A locked identity answers as a wrong password, after the same
        // work, and its attempts are not counted until it unlocks.
        let user = match found {
            Some(user) if ok && verdict == lockout::Verdict::Open => user,
            found => {
                let subject = found.map(|u| u.subject());
                let event = self.event(
                    EventKind::SignInFailed,
                    subject.as_deref(),
                    asked_in,
                    Some(context.client.seen()),
                    Outcome::Failure,
                );
                // The failure is counted and recorded in one write.
                let written = match (brute_force, &counters) {
                    (Some(b), Some(c)) if verdict == lockout::Verdict::Open => {
                        lockout::failed(self.store(), b, c, event.events()).await
                    }
                    _ => false,
                };
                self.recorded(event, written);
                return Err(Error::AuthenticationFailed);
            }
        };
        if let Some(c) = &counters {
            lockout::clear_identity(self.store(), c).await;
        }
        // Said only to whoever knows the password: it tells nothing else.
        if self
            .settings()
            .confirmation
            .is_some_and(|c| c.require_confirmed)
            && self.never_confirmed(&user)
        {
            return Err(Error::NotConfirmed);
        }
        match token_type {
            TokenType::User => self.sign_in(user, context).await,
            TokenType::SignIn => {
                // With context tenancy, bound to the tenant signed in to.
                let tenant = self.sign_in_tenant(&user, context.tenant.as_ref())?;
                let token = self
                    .issue_in(
                        &user,
                        &Purpose::SIGN_IN,
                        lifetime,
                        context.extra_claims,
                        tenant,
                    )
                    .await?;
                Ok(SignedIn {
                    user,
                    token,
                    refresh_token: None,
                    session: None,
                })
            }
        }
    }

    /// `sign_in_with_token`: verifies a sign-in token (every check, purpose
    /// `sign_in`), revokes it atomically so it works once even under
    /// concurrent requests, checks the password has not changed since it
    /// was issued, and issues a normal token for the same user with these
    /// per-call claims.
    pub async fn sign_in_with_token(
        &self,
        sign_in_token: &str,
        context: impl Into<SignInContext>,
    ) -> Result<SignedIn<U>> {
        let context = context.into();
        let ip = context.client.ip;
        self.address_guarded(ip, self.exchange_sign_in_token(sign_in_token, context))
            .await
    }

    async fn exchange_sign_in_token(
        &self,
        sign_in_token: &str,
        context: SignInContext,
    ) -> Result<SignedIn<U>> {
        let claims = self.verify(sign_in_token).await?;
        if claims.purpose != Purpose::SIGN_IN.as_str() {
            return Err(Error::WrongPurpose {
                expected: Purpose::SIGN_IN.to_string(),
                found: truncated(&claims.purpose),
            });
        }
        // Refused in another tenant before it is spent.
        let context = self.exchange_context(&claims, context)?;
        match self.revoke_verified(&claims, &[]).await {
            Ok(()) => {}
            // Another request redeemed it first.
            Err(Error::AlreadyRevoked) => return Err(Error::Revoked),
            Err(e) => return Err(e),
        }
        let user = self.load_user(&claims).await?;
        check_credential(&claims, &user)?;
        self.check_user_tenant(&claims, &user)?;
        self.sign_in(user, context).await
    }

    /// `change_password`: checks the current password against the stored
    /// hash, then in one atomic store write replaces that hash (only if it
    /// is still the stored one: of two changes proving the same password,
    /// one wins and the other is [`Error::AuthenticationFailed`]; no other
    /// column is written), revokes every earlier token (with
    /// `apply_on_password_change`) and records the fresh token it returns.
    /// Tokens issued under the old password stop authenticating either way
    /// (their `cred` no longer matches).
    pub async fn change_password(
        &self,
        user: &U,
        current_password: &str,
        password: &str,
        password_confirmation: Option<&str>,
        context: impl Into<SignInContext>,
    ) -> Result<SignedIn<U>> {
        let config = self.password_config()?;
        let stored = self
            .store()
            .get_user(&user.primary_key())
            .await
            .map_err(|e| store_failure("change password", e))?
            .ok_or(Error::UserNotFound)?;
        let proved = stored.hashed_password().to_owned();
        if !self
            .hasher()
            .verify(current_password, Some(&proved))
            .await?
        {
            return Err(Error::AuthenticationFailed);
        }
        crate::password::check_confirmation(config, password, password_confirmation)?;
        check_password(password)?;
        let mut updated = stored;
        updated.set_hashed_password(self.hasher().hash(password).await?);
        let context = context.into();
        let client = context.client.clone();
        let minted = self.mint_sign_in(&updated, context)?;
        let subject = updated.subject();
        let event = self.event(
            EventKind::PasswordChanged,
            Some(&subject),
            crate::audit::At::of(&minted.token.claims),
            Some(client.seen()),
            Outcome::Success,
        );
        // Every earlier session ends with the old password (their tokens
        // are dead anyway: `cred`); with `apply_on_password_change`, every
        // stored token row is revoked too.
        let apply = self
            .settings()
            .log_out_everywhere
            .as_ref()
            .is_some_and(|l| l.apply_on_password_change);
        let filter = if apply {
            self.log_out_filter()
        } else {
            PurposeFilter {
                include: Some(vec![
                    Purpose::SESSION,
                    Purpose::REFRESH,
                    Purpose::CONFIRM_CHANGE,
                ]),
                exclude: Vec::new(),
            }
        };
        let keys = self.sign_ins_take_keys();
        let revoke = (apply || keys || self.settings().sessions.is_some()).then_some(RevokeAll {
            subject: &subject,
            filter: &filter,
            keep_for: crate::token::revocation_keep_for(self.leeway()),
            api_keys: keys,
            // The password is the account's: every tenant's sign-ins.
            tenant: None,
        });
        let change = PasswordChange {
            key: &updated.primary_key(),
            current_hash: &proved,
            new_hash: updated.hashed_password(),
            revoke,
            new_rows: &minted.rows,
            redeem: None,
            events: event.events(),
        };
        if !self
            .store()
            .change_password(&change)
            .await
            .map_err(|e| store_failure("change password", e))?
        {
            // The hash changed (or the user went) since it was proved.
            return Err(Error::AuthenticationFailed);
        }
        self.recorded(event, true);
        Ok(minted.signed_in(updated))
    }
}

impl<U: UserResource, S: TokenStore> Auth<U, S> {
    /// `log_out_everywhere`: flips every stored token row of the user to a
    /// revocation, filtered by the add-on's purposes (default: every purpose
    /// but revocation). Returns how many rows it revoked.
    pub async fn log_out_everywhere(&self, user: &U) -> Result<u64> {
        let (subject, filter) = (user.subject(), self.log_out_filter());
        let revoke = RevokeAll {
            api_keys: self.sign_ins_take_keys(),
            ..RevokeAll::tokens(&subject, &filter, token::revocation_keep_for(self.leeway()))
        };
        let event = self.event(
            EventKind::LoggedOutEverywhere,
            Some(&subject),
            crate::audit::At::NONE,
            None,
            Outcome::Success,
        );
        let revoked = token::revoke_all(
            self.store(),
            &self.settings().token_resource,
            &revoke,
            event.events(),
        )
        .await?;
        self.recorded(event, true);
        Ok(revoked)
    }
}
