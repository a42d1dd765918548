//! The settings the macros fill in (and hand-written configurations build):
//! one struct per block of the DSL, each default written once here.

use auth_dsl::defaults;
use std::borrow::Cow;
use std::time::Duration;

use super::values::{Algorithm, Lifetime, PurposeFilter};
use crate::secret::SigningSecret;

/// Settings of a user resource's `tokens(...)` block, ready to run.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    /// The signing algorithm; verification requires the header to say exactly this.
    pub algorithm: Algorithm,
    /// Where the signing key comes from.
    pub signing_secret: SigningSecret,
    /// Lifetime of a normal (`user`) token; default 14 days.
    pub token_lifetime: Lifetime,
    /// Clock-skew allowance for `exp` and `nbf`; default 0.
    pub leeway: Lifetime,
    /// Store a row for every issued token.
    pub store_all_tokens: bool,
    /// Allow-list mode: a token authenticates only while its row is present.
    pub require_token_presence_for_authentication: bool,
    /// The `iss` claim written and required.
    pub issuer: String,
    /// The `aud` claim written and required.
    pub audience: String,
}

impl TokenConfig {
    /// The defaults with the given secret. The issuer and audience default
    /// to [`application_name`] (the running executable's name), so two
    /// applications that happen to share a secret do not accept each
    /// other's tokens; `#[derive(Authenticated)]` uses the crate's package
    /// name instead. Set both explicitly when several programs must accept
    /// one another's tokens.
    pub fn new(signing_secret: SigningSecret) -> Self {
        let app = application_name();
        Self {
            algorithm: Algorithm::HS256,
            signing_secret,
            token_lifetime: Lifetime::from_secs(defaults::TOKEN_LIFETIME),
            leeway: Lifetime::from_secs(defaults::LEEWAY),
            store_all_tokens: false,
            require_token_presence_for_authentication: false,
            issuer: app.clone(),
            audience: app,
        }
    }
}

/// The name of the running executable (its file stem), the default `iss`
/// and `aud` of a [`TokenConfig`] built by hand; `auth-core-app` when the
/// operating system does not tell.
pub fn application_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "auth-core-app".to_owned())
}

/// The token table of a token resource that names none, and of a store
/// built without `with_token_table`.
pub const DEFAULT_TOKEN_TABLE: &str = "tokens";

/// Settings of a `#[token_resource]`, ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResourceConfig {
    /// The table (or memory-store namespace) holding the rows.
    pub table: Cow<'static, str>,
    /// How often the expunger runs.
    pub expunge_interval: Duration,
    /// Rows deleted per statement by `expunge_expired`, so no lock is held long.
    pub expunge_batch_size: usize,
}

impl TokenResourceConfig {
    /// The defaults: table `tokens`, every 12 hours, batches of 50 000
    /// (measured in BENCHMARKS.md: per-statement overhead dominates smaller
    /// batches, and expired rows are read by no request, so their row locks
    /// block nobody). `#[token_resource]` starts from these.
    pub const DEFAULT: Self = Self::new(DEFAULT_TOKEN_TABLE);

    /// The defaults with another table.
    pub const fn new(table: &'static str) -> Self {
        Self {
            table: Cow::Borrowed(table),
            expunge_interval: Duration::from_secs(12 * 3_600),
            expunge_batch_size: 50_000,
        }
    }

    /// With the expunger running every `hours` hours.
    pub const fn with_expunge_interval_hours(mut self, hours: u64) -> Self {
        self.expunge_interval = Duration::from_secs(hours * 3_600);
        self
    }
}

impl Default for TokenResourceConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Settings of the password strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordConfig {
    /// The field holding the identity (default `email`).
    pub identity_field: &'static str,
    /// The field holding the argon2 hash (default `hashed_password`).
    pub hashed_password_field: &'static str,
    /// Whether signing in with a password is allowed.
    pub sign_in_enabled: bool,
    /// Whether sign-in may return a short-lived sign-in token.
    pub sign_in_tokens_enabled: bool,
    /// Lifetime of sign-in tokens (default 60 seconds).
    pub sign_in_token_lifetime: Lifetime,
    /// Whether registration requires a matching `password_confirmation`.
    pub confirmation_required: bool,
    /// Password reset by a token sent out of band (`resettable`), when configured.
    pub reset: Option<ResetConfig>,
}

/// Settings of password reset (`password(resettable(...))`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResetConfig {
    /// The reset token's lifetime (default 1 hour).
    pub token_lifetime: Lifetime,
}

impl Default for ResetConfig {
    fn default() -> Self {
        Self {
            token_lifetime: Lifetime::from_secs(defaults::RESET_TOKEN_LIFETIME),
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            identity_field: "email",
            hashed_password_field: "hashed_password",
            sign_in_enabled: true,
            sign_in_tokens_enabled: true,
            sign_in_token_lifetime: Lifetime::from_secs(defaults::SIGN_IN_TOKEN_LIFETIME),
            confirmation_required: true,
            reset: None,
        }
    }
}

/// Settings of the log-out-everywhere add-on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOutEverywhereConfig {
    /// Run it from `change_password`.
    pub apply_on_password_change: bool,
    /// Which purposes it revokes.
    pub purposes: PurposeFilter,
}

/// Settings of the sessions add-on: every sign-in opens a session, every
/// token carries its id (`sid`) and dies with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionsConfig {
    /// The absolute cap of one sign-in, refreshes included (default 30 days).
    pub lifetime: Lifetime,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            lifetime: Lifetime::from_secs(defaults::SESSION_LIFETIME),
        }
    }
}

/// Settings of the remember-me strategy: a long-lived, stored token in an
/// `HttpOnly` cookie that signs a browser in again when its session is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RememberMeConfig {
    /// The cookie's name (default `remember_me`).
    pub cookie_name: Cow<'static, str>,
    /// The remember-me token's lifetime (default 30 days).
    pub token_lifetime: Lifetime,
    /// Whether the cookie is `Secure` (sent over https only): default
    /// `true`; set it to `false` for an application served over plain http
    /// (local development).
    pub secure: bool,
}

impl Default for RememberMeConfig {
    fn default() -> Self {
        Self {
            cookie_name: Cow::Borrowed("remember_me"),
            token_lifetime: Lifetime::from_secs(defaults::REMEMBER_ME_LIFETIME),
            secure: true,
        }
    }
}

/// Settings of the magic-link strategy (`strategies(magic_link(...))`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MagicLinkConfig {
    /// The magic-link token's lifetime (default 10 minutes).
    pub token_lifetime: Lifetime,
}

impl Default for MagicLinkConfig {
    fn default() -> Self {
        Self {
            token_lifetime: Lifetime::from_secs(defaults::MAGIC_LINK_LIFETIME),
        }
    }
}

/// Settings of the confirmation add-on (`add_ons(confirmation(...))`): the
/// user struct has `confirmed_at: Option<DateTime<Utc>>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfirmationConfig {
    /// Fields whose changes wait for a confirmation (default `["email"]`).
    pub monitor_fields: &'static [&'static str],
    /// Send a confirmation at registration (default true).
    pub confirm_on_create: bool,
    /// Hold changes of monitored fields until confirmed (default true).
    pub confirm_on_update: bool,
    /// The confirmation token's lifetime (default 3 days).
    pub token_lifetime: Lifetime,
    /// Password sign-in refuses an account never confirmed
    /// ([`Error::NotConfirmed`](crate::Error::NotConfirmed)); default: on
    /// when `confirm_on_create` is. Without it, someone who registers an
    /// address that is not theirs can use the account until its owner
    /// proves the address (which then ends every session and clears the
    /// password they set).
    pub require_confirmed: bool,
    /// How recent a sign-in may stand in for the current password when a
    /// monitored field (the email) changes (default 10 minutes; zero:
    /// always ask for the password).
    pub fresh_sign_in: Lifetime,
}

impl ConfirmationConfig {
    /// The user field a confirmation sets.
    pub const CONFIRMED_AT_FIELD: &'static str = "confirmed_at";
}

impl Default for ConfirmationConfig {
    fn default() -> Self {
        Self {
            monitor_fields: &["email"],
            confirm_on_create: true,
            confirm_on_update: true,
            token_lifetime: Lifetime::from_secs(defaults::CONFIRMATION_LIFETIME),
            require_confirmed: true,
            fresh_sign_in: Lifetime::from_secs(defaults::FRESH_SIGN_IN),
        }
    }
}

/// Settings of rotating refresh tokens (needs sessions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshConfig {
    /// Idle timeout: a refresh token unused this long dies (default 7 days).
    pub lifetime: Lifetime,
    /// A second use this soon after the first is answered with the same
    /// pair the first use got (no new row) instead of ending the session
    /// (default 0: never).
    pub reuse_grace: Lifetime,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            lifetime: Lifetime::from_secs(defaults::REFRESH_LIFETIME),
            reuse_grace: Lifetime::from_secs(defaults::REFRESH_REUSE_GRACE),
        }
    }
}
