//! What `auth-macros` (at compile time) and `auth-core` (at run time) both
//! know, written once: the lifetime grammar, the signing algorithm names,
//! the registered claims and the DSL's default lifetimes. The derive checks
//! an attribute with the same parser and lists the runtime uses, so the two
//! cannot disagree.
//!
//! An implementation detail of `auth-core`, which re-exports what users
//! need (`auth_core::Lifetime`, `auth_core::Algorithm`,
//! `auth_core::REGISTERED_CLAIMS`).

use std::fmt;

/// The signing algorithms, by their JWT names (exactly so spelled).
pub const ALGORITHMS: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// The claims the framework writes itself; extra claims never set them.
pub const REGISTERED_CLAIMS: [&str; 11] = [
    "sub", "jti", "iat", "nbf", "exp", "iss", "aud", "purpose", "cred", "sid", "tenant",
];

/// The longest lifetime the grammar accepts: a hundred years (so that any
/// lifetime added to a Unix time in seconds stays within `i64`).
pub const MAX_LIFETIME_SECS: u64 = 100 * 365 * 86_400;

/// The DSL's defaults, in seconds: what an option left out means.
pub mod defaults {
    /// `token_lifetime` without refresh tokens: the access token is the
    /// whole sign-in.
    pub const TOKEN_LIFETIME: u64 = 14 * 86_400;
    /// `token_lifetime` with `refresh_tokens`: a refresh buys the next one,
    /// and a stolen one is good for minutes.
    pub const TOKEN_LIFETIME_WITH_REFRESH: u64 = 15 * 60;
    /// `leeway`.
    pub const LEEWAY: u64 = 0;
    /// `sign_in_token_lifetime`.
    pub const SIGN_IN_TOKEN_LIFETIME: u64 = 60;
    /// `resettable(token_lifetime)`.
    pub const RESET_TOKEN_LIFETIME: u64 = 3_600;
    /// `magic_link(token_lifetime)`.
    pub const MAGIC_LINK_LIFETIME: u64 = 600;
    /// `confirmation(token_lifetime)`.
    pub const CONFIRMATION_LIFETIME: u64 = 3 * 86_400;
    /// `confirmation(fresh_sign_in)`.
    pub const FRESH_SIGN_IN: u64 = 600;
    /// `sessions(lifetime)`.
    pub const SESSION_LIFETIME: u64 = 30 * 86_400;
    /// `refresh_tokens(lifetime)`.
    pub const REFRESH_LIFETIME: u64 = 7 * 86_400;
    /// `refresh_tokens(reuse_grace)`.
    pub const REFRESH_REUSE_GRACE: u64 = 0;
    /// `remember_me(token_lifetime)`.
    pub const REMEMBER_ME_LIFETIME: u64 = 30 * 86_400;
    /// `api_key(default_lifetime)`.
    pub const API_KEY_LIFETIME: u64 = 90 * 86_400;
    /// `api_key(max_per_user)` (a count, not seconds).
    pub const API_KEYS_PER_USER: usize = 50;
    /// `brute_force(max_failures)` (a count).
    pub const BRUTE_FORCE_MAX_FAILURES: u32 = 5;
    /// `brute_force(max_failures_per_ip)` (a count).
    pub const BRUTE_FORCE_MAX_FAILURES_PER_IP: u32 = 50;
    /// `brute_force(window)`.
    pub const BRUTE_FORCE_WINDOW: u64 = 15 * 60;
    /// `brute_force(lockout)`.
    pub const BRUTE_FORCE_LOCKOUT: u64 = 15 * 60;
    /// `audit_log(retention)`.
    pub const AUDIT_RETENTION: u64 = 90 * 86_400;
}

/// Why a lifetime does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifetimeError {
    /// `"14"`: a number without `s`, `m`, `h` or `d`.
    MissingUnit,
    /// The unit is not one of `s`, `m`, `h`, `d`.
    UnknownUnit,
    /// No digits before the unit.
    NotANumber,
    /// More than a hundred years.
    TooLarge,
}

impl fmt::Display for LifetimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingUnit => {
                "a unit is required: write it like \"60s\", \"15m\", \"12h\" or \"14d\""
            }
            Self::UnknownUnit => "unknown unit: use s, m, h or d, as in \"14d\"",
            Self::NotANumber => "expected a whole number followed by a unit, as in \"14d\"",
            Self::TooLarge => "the value is too large (at most 100 years)",
        })
    }
}

impl std::error::Error for LifetimeError {}

/// Seconds of `<whole number><s|m|h|d>` (surrounding spaces allowed), at
/// most a hundred years. Zero parses: a leeway may be zero; a lifetime
/// that must be positive is checked by its caller.
pub fn parse_lifetime_secs(s: &str) -> Result<u64, LifetimeError> {
    let s = s.trim();
    let unit_at = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or(LifetimeError::MissingUnit)?;
    let (digits, unit) = s.split_at(unit_at);
    if digits.is_empty() {
        return Err(LifetimeError::NotANumber);
    }
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(LifetimeError::UnknownUnit),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|secs| *secs <= MAX_LIFETIME_SECS)
        .ok_or(LifetimeError::TooLarge)
}

/// The shortest API-key prefix.
pub const MIN_API_KEY_PREFIX_LEN: usize = 2;
/// The longest API-key prefix.
pub const MAX_API_KEY_PREFIX_LEN: usize = 16;
/// The longest API-key scope name (bytes).
pub const MAX_API_KEY_SCOPE_LEN: usize = 128;

/// Whether `prefix` may start API keys: 2 to 16 of `a`–`z` and `0`–`9`,
/// starting with a letter (secret scanners match it exactly, and `_`
/// separates a key's parts). The error says what is wrong.
pub fn check_api_key_prefix(prefix: &str) -> Result<(), String> {
    if !(MIN_API_KEY_PREFIX_LEN..=MAX_API_KEY_PREFIX_LEN).contains(&prefix.len()) {
        return Err(format!(
            "an API key prefix is {MIN_API_KEY_PREFIX_LEN} to {MAX_API_KEY_PREFIX_LEN} characters long, `{prefix}` is {}",
            prefix.len()
        ));
    }
    if !prefix.starts_with(|c: char| c.is_ascii_lowercase())
        || !prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err(format!(
            "an API key prefix is lower-case letters and digits, starting with a letter (scanners match it exactly): `{prefix}`"
        ));
    }
    Ok(())
}

/// Whether `scope` may name an API-key scope: 1 to 128 of ASCII letters,
/// digits and `:` `_` `-` `.` `/` (`reports:read`, `repo/write`).
pub fn check_api_key_scope(scope: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ":_-./".contains(c);
    if scope.is_empty() || scope.len() > MAX_API_KEY_SCOPE_LEN || !scope.chars().all(allowed) {
        return Err(format!(
            "a scope is 1 to {MAX_API_KEY_SCOPE_LEN} of ASCII letters, digits and `:` `_` `-` `.` `/`: `{scope}`"
        ));
    }
    Ok(())
}
