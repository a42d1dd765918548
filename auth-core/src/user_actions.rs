//! The user actions of SPEC 5: password registration and sign-in, sign-in
//! tokens, password change, log out everywhere. `#[derive(Authenticated)]`
//! generates associated functions that call these.

use crate::auth::{Auth, IssuedToken};
use crate::claims::ExtraClaims;
use crate::config::{PasswordConfig, Purpose, PurposeFilter};
use crate::error::{Error, Result, truncated};
use crate::password::check_password;
use crate::store::{InsertUserError, TokenStore, UserStore};
use crate::token::{self, TokenFacts};
use crate::user::{PasswordUser, UserResource};

/// A user with a freshly issued token.
#[derive(Clone, Debug)]
pub struct SignedIn<U> {
    /// The user.
    pub user: U,
    /// The token (a sign-in token when one was asked for).
    pub token: IssuedToken,
}

/// Which token a password sign-in returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenType {
    /// A normal token that authenticates requests.
    #[default]
    User,
    /// A short-lived, single-use token to exchange with `sign_in_with_token`.
    SignIn,
}

impl<U: UserResource, S> Auth<U, S> {
    fn password_config(&self) -> Result<&PasswordConfig> {
        self.settings()
            .password
            .as_ref()
            .ok_or(Error::NotConfigured(
                "this resource has no password strategy",
            ))
    }
}

fn check_confirmation(
    config: &PasswordConfig,
    password: &str,
    confirmation: Option<&str>,
) -> Result<()> {
    match confirmation {
        Some(c) if c != password => Err(Error::PasswordConfirmationMismatch),
        None if config.confirmation_required => Err(Error::InvalidInput(
            "password_confirmation is required".into(),
        )),
        _ => Ok(()),
    }
}

impl<U: PasswordUser, S: TokenStore + UserStore<U>> Auth<U, S> {
    /// `register_with_password`: checks the confirmation and the password,
    /// hashes it (argon2id, off the executor), inserts `user` with the hash,
    /// atomically refusing a taken identity ([`Error::IdentityTaken`]), and
    /// issues a token. Nothing is written when a check fails.
    pub async fn register_with_password(
        &self,
        mut user: U,
        password: &str,
        password_confirmation: Option<&str>,
        extra_claims: ExtraClaims,
    ) -> Result<SignedIn<U>> {
        let config = self.password_config()?;
        if user.identity().is_none_or(|i| i.trim().is_empty()) {
            return Err(Error::InvalidInput(format!(
                "`{}` must not be empty",
                config.identity_field
            )));
        }
        check_confirmation(config, password, password_confirmation)?;
        check_password(password)?;
        user.set_hashed_password(self.hasher().hash(password).await?);
        match self.store().insert_user(&user).await {
            Ok(()) => {}
            Err(InsertUserError::IdentityTaken) => return Err(Error::IdentityTaken),
            Err(InsertUserError::Store(e)) => return Err(Error::Store(e)),
        }
        let token = self.token_for_user(&user, extra_claims).await?;
        Ok(SignedIn { user, token })
    }

    /// `sign_in_with_password`: the user and a token, or with
    /// [`TokenType::SignIn`] a short-lived sign-in token. An unknown identity
    /// and a wrong password are the same [`Error::AuthenticationFailed`] and
    /// cost the same argon2 verification.
    pub async fn sign_in_with_password(
        &self,
        identity: &str,
        password: &str,
        token_type: TokenType,
        extra_claims: ExtraClaims,
    ) -> Result<SignedIn<U>> {
        let config = self.password_config()?;
        if !config.sign_in_enabled {
            return Err(Error::NotConfigured("password sign-in is disabled"));
        }
        if token_type == TokenType::SignIn && !config.sign_in_tokens_enabled {
            return Err(Error::NotConfigured("sign-in tokens are disabled"));
        }
        let lifetime = config.sign_in_token_lifetime;
        let found = if password.len() > crate::password::MAX_PASSWORD_LEN {
            None
        } else {
            self.store()
                .get_user_by_identity(identity)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "user store failed during sign-in");
                    Error::Store(e)
                })?
        };
        let ok = self
            .hasher()
            .verify(password, found.as_ref().map(PasswordUser::hashed_password))
            .await;
        let user = match found {
            Some(user) if ok => user,
            _ => return Err(Error::AuthenticationFailed),
        };
        let token = match token_type {
            TokenType::User => self.token_for_user(&user, extra_claims).await?,
            TokenType::SignIn => {
                self.issue(&user, &Purpose::SIGN_IN, lifetime, extra_claims)
                    .await?
            }
        };
        Ok(SignedIn { user, token })
    }

    /// `sign_in_with_token`: verifies a sign-in token (every check, purpose
    /// `sign_in`), revokes it atomically so it works once even under
    /// concurrent requests, and issues a normal token for the same user with
    /// these per-call claims.
    pub async fn sign_in_with_token(
        &self,
        sign_in_token: &str,
        extra_claims: ExtraClaims,
    ) -> Result<SignedIn<U>> {
        let claims = self.verify(sign_in_token).await?;
        if claims.purpose != Purpose::SIGN_IN.as_str() {
            return Err(Error::WrongPurpose {
                expected: Purpose::SIGN_IN.to_string(),
                found: truncated(&claims.purpose),
            });
        }
        let facts = TokenFacts::try_from(&claims)?;
        match token::revoke_token(self.store(), &self.settings().token_resource, &facts).await {
            Ok(()) => {}
            // Another request redeemed it first.
            Err(Error::AlreadyRevoked) => return Err(Error::Revoked),
            Err(e) => return Err(e),
        }
        let user = self.load_user(&claims).await?;
        let token = self.token_for_user(&user, extra_claims).await?;
        Ok(SignedIn { user, token })
    }

    /// `change_password`: checks the current password against the stored
    /// hash, saves the new hash, then (with `apply_on_password_change`) logs
    /// out everywhere, so every earlier token dies, and returns a fresh token.
    pub async fn change_password(
        &self,
        user: &U,
        current_password: &str,
        password: &str,
        password_confirmation: Option<&str>,
    ) -> Result<SignedIn<U>> {
        let config = self.password_config()?;
        let stored = self
            .store()
            .get_user(&user.primary_key())
            .await?
            .ok_or(Error::UserNotFound)?;
        if !self
            .hasher()
            .verify(current_password, Some(stored.hashed_password()))
            .await
        {
            return Err(Error::AuthenticationFailed);
        }
        check_confirmation(config, password, password_confirmation)?;
        check_password(password)?;
        let mut updated = stored;
        updated.set_hashed_password(self.hasher().hash(password).await?);
        if !self.store().update_user(&updated).await? {
            return Err(Error::UserNotFound);
        }
        let apply = self
            .settings()
            .log_out_everywhere
            .as_ref()
            .is_some_and(|l| l.apply_on_password_change);
        if apply {
            self.log_out_everywhere(&updated).await?;
        }
        let token = self.token_for_user(&updated, ExtraClaims::new()).await?;
        Ok(SignedIn {
            user: updated,
            token,
        })
    }
}

impl<U: UserResource, S: TokenStore> Auth<U, S> {
    /// `log_out_everywhere`: flips every stored token row of the user to a
    /// revocation, filtered by the add-on's purposes (default: every purpose
    /// but revocation). Returns how many rows it revoked.
    pub async fn log_out_everywhere(&self, user: &U) -> Result<u64> {
        let filter = self
            .settings()
            .log_out_everywhere
            .as_ref()
            .map_or_else(PurposeFilter::all, |l| l.purposes.clone());
        token::revoke_all_stored_for_subject(
            self.store(),
            &self.settings().token_resource,
            &user.subject(),
            &filter,
        )
        .await
    }
}
