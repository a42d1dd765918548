//! User resources: what the runtime needs to know about a user struct.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::claims::{ClaimsContext, ExtraClaims};
use crate::column::{ColumnType, FieldKind};
use crate::config::{
    LogOutEverywhereConfig, PasswordConfig, RefreshConfig, RememberMeConfig, SessionIdentifier,
    SessionsConfig, TokenConfig, TokenResourceConfig,
};
use crate::error::Error;
use crate::subject::{Subject, SubjectKey};

/// A user struct the runtime can put in tokens and load back.
///
/// `#[derive(Authenticated)]` implements it; implementing it by hand is fine
/// too. Users are stored through their serde form (one JSON field, or one
/// column, per struct field).
pub trait UserResource: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The primary key's type.
    type PrimaryKey: SubjectKey + Clone;
    /// The subject name (`user` in `user?id=...`).
    const SUBJECT_NAME: &'static str;
    /// The primary key field's name.
    const PRIMARY_KEY_FIELD: &'static str;
    /// The identity field's name (password strategy), kept unique by stores;
    /// [`UserResource::identity`] must return that field's value.
    const IDENTITY_FIELD: Option<&'static str> = None;
    /// Every field: its name and what its Rust type stores as (the
    /// [`Column`](crate::Column) of the type, as rustc resolves it), for printing a table
    /// definition. Empty when implemented by hand.
    const FIELDS: &'static [(&'static str, ColumnType)] = &[];

    /// This user's primary key.
    fn primary_key(&self) -> Self::PrimaryKey;

    /// This user's identity (e.g. email) when it has one; stores keep it unique.
    fn identity(&self) -> Option<&str> {
        None
    }

    /// The stored password hash, for a user with a password: every token
    /// issued for the user carries a fingerprint of it (claim `cred`), and
    /// authentication refuses the token once the stored hash differs, so a
    /// password change ends every sign-in made with the old password (even
    /// one racing the change). `#[derive(Authenticated)]` returns the
    /// hashed password field; the default is `None` (no such check).
    fn credential_hash(&self) -> Option<&str> {
        None
    }

    /// The tenant this user belongs to (`tenancy(strategy = attribute,
    /// field = …)`: the field's `Display` form), written into every token
    /// of the user; `None` without attribute tenancy (the default). A
    /// token whose tenant is not its user's current one is refused.
    fn tenant(&self) -> Option<String> {
        None
    }

    /// This user's subject, as written into `sub`.
    fn subject(&self) -> String {
        Subject::new(
            Self::SUBJECT_NAME,
            Self::PRIMARY_KEY_FIELD,
            &self.primary_key(),
        )
        .to_string()
    }
}

/// A user resource with a password strategy: `#[derive(Authenticated)]`
/// implements it when `strategies(password(...))` is configured.
pub trait PasswordUser: UserResource {
    /// The name of the hashed password field (its column in SQL stores).
    const HASHED_PASSWORD_FIELD: &'static str;
    /// The stored argon2 hash (the `hashed_password_field`).
    fn hashed_password(&self) -> &str;
    /// Replaces the stored hash.
    fn set_hashed_password(&mut self, hash: String);
    /// Replaces the identity (the `identity_field`), e.g. with its
    /// normalised form.
    fn set_identity(&mut self, identity: String);
}

/// A function computing a user's extra claims (the DSL's `extra_claims = path`).
pub type ExtraClaimsFn<U> = fn(&U, &ClaimsContext) -> ExtraClaims;

/// Everything `#[authentication(...)]` configures for a user resource.
#[derive(Debug)]
pub struct Settings<U> {
    /// The `tokens(...)` block.
    pub tokens: TokenConfig,
    /// The token resource's settings.
    pub token_resource: TokenResourceConfig,
    /// `session_identifier`.
    pub session_identifier: SessionIdentifier,
    /// The DSL's extra claims (static ones compile to a function too).
    pub extra_claims: Option<ExtraClaimsFn<U>>,
    /// The password strategy, when configured.
    pub password: Option<PasswordConfig>,
    /// The log-out-everywhere add-on, when configured.
    pub log_out_everywhere: Option<LogOutEverywhereConfig>,
    /// The sessions add-on, when configured.
    pub sessions: Option<SessionsConfig>,
    /// Rotating refresh tokens, when configured (needs `sessions`).
    pub refresh_tokens: Option<RefreshConfig>,
    /// The remember-me strategy, when configured.
    pub remember_me: Option<RememberMeConfig>,
    /// The magic-link strategy, when configured (needs the password
    /// strategy's identity).
    pub magic_link: Option<crate::config::MagicLinkConfig>,
    /// The confirmation add-on, when configured.
    pub confirmation: Option<crate::config::ConfirmationConfig>,
    /// The API-key strategy, when configured.
    pub api_key: Option<crate::api_key::ApiKeyConfig>,
    /// The brute-force add-on, when configured.
    pub brute_force: Option<crate::config::BruteForceConfig>,
    /// The audit-log add-on, when configured.
    pub audit_log: Option<crate::audit::AuditConfig>,
    /// Tenancy, when configured: every token is bound to one tenant.
    pub tenancy: Option<crate::tenant::TenancyConfig>,
    /// Delivers single-use tokens (password reset); required when a
    /// strategy sends one. Not part of the DSL: set it with
    /// [`Settings::with_sender`].
    pub sender: Option<crate::sender::SenderHandle<U>>,
}

impl<U> Clone for Settings<U> {
    fn clone(&self) -> Self {
        Self {
            tokens: self.tokens.clone(),
            token_resource: self.token_resource.clone(),
            session_identifier: self.session_identifier,
            extra_claims: self.extra_claims,
            password: self.password.clone(),
            log_out_everywhere: self.log_out_everywhere.clone(),
            sessions: self.sessions,
            refresh_tokens: self.refresh_tokens,
            remember_me: self.remember_me.clone(),
            magic_link: self.magic_link,
            confirmation: self.confirmation,
            api_key: self.api_key.clone(),
            brute_force: self.brute_force.clone(),
            audit_log: self.audit_log,
            tenancy: self.tenancy,
            sender: self.sender.clone(),
        }
    }
}

impl<U> Settings<U> {
    /// Token settings with a token resource, and nothing else configured.
    pub fn new(tokens: TokenConfig, token_resource: TokenResourceConfig) -> Self {
        Self {
            tokens,
            token_resource,
            session_identifier: SessionIdentifier::Jti,
            extra_claims: None,
            password: None,
            log_out_everywhere: None,
            sessions: None,
            refresh_tokens: None,
            remember_me: None,
            magic_link: None,
            confirmation: None,
            api_key: None,
            brute_force: None,
            audit_log: None,
            tenancy: None,
            sender: None,
        }
    }
}

/// A user resource with an `#[authentication(...)]` configuration.
/// `#[derive(Authenticated)]` implements it.
pub trait Authenticated: UserResource {
    /// The configuration.
    fn settings() -> Settings<Self>;
}

/// One column of a derived user's table, from the derive's metadata: what a
/// SQL store needs to write its `CREATE TABLE` (it names the types).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserColumn {
    /// The field's name.
    pub name: &'static str,
    /// What it holds.
    pub kind: FieldKind,
    /// An `Option` field: the column is nullable.
    pub nullable: bool,
    /// The primary key.
    pub primary_key: bool,
    /// The identity field (unique, case-insensitively).
    pub identity: bool,
}

impl UserColumn {
    /// The columns of `U`, in field order; an error when `U` has no field
    /// metadata (implemented by hand: write its table yourself).
    pub fn of<U: UserResource>() -> Result<Vec<Self>, crate::error::StoreError> {
        if U::FIELDS.is_empty() {
            return Err(crate::error::StoreError::msg(
                "this user type has no field metadata: derive `Authenticated`, or write the table by hand",
            ));
        }
        Ok(U::FIELDS
            .iter()
            .map(|(name, column)| {
                let ColumnType { kind, nullable } = *column;
                Self {
                    name,
                    kind,
                    nullable,
                    primary_key: *name == U::PRIMARY_KEY_FIELD,
                    identity: U::IDENTITY_FIELD == Some(*name),
                }
            })
            .collect())
    }
}

/// `user` with `fields` (part of its serde form: field name to value)
/// written over it: how a stored change (a confirmation's) is applied to
/// a user in memory.
pub(crate) fn with_fields<U: UserResource>(
    user: &U,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Result<U> {
    let mut row = match serde_json::to_value(user)? {
        serde_json::Value::Object(row) => row,
        _ => serde_json::Map::new(),
    };
    row.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
    serde_json::from_value(serde_json::Value::Object(row))
}

/// [`with_fields`], a misfit said as invalid input.
pub(crate) fn apply_fields<U: UserResource>(
    user: &U,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<U, Error> {
    with_fields(user, fields)
        .map_err(|e| Error::InvalidInput(format!("the changes do not fit the user: {e}")))
}

/// How the generated registration (`User::register_with_password` taking a
/// `UserRegistration`) picks the primary key of a new user, so no caller
/// invents one:
///
/// | key type | a new user's key |
/// |---|---|
/// | `Uuid` | a random (version 4) UUID |
/// | `String` | a random UUID as text, hyphenated |
/// | `i64` | a random number in `1..=i64::MAX` (63 random bits) |
/// | `u64` | a random number in `1..=u64::MAX >> 1` (63 random bits) |
///
/// Random keys need no round trip and do not count your users; two users
/// draw the same 63-bit key with probability about n²/2⁶⁴ (one in 18 million
/// for a million users), and that registration then fails as a taken
/// identity would. Another key type (a `i32` serial, a key of your own):
/// implement this trait, or build the user yourself and call
/// `Auth::register_with_password`.
#[diagnostic::on_unimplemented(
    message = "registration cannot make up a `{Self}` primary key",
    label = "the key of every new user",
    note = "use `Uuid`, `String`, `i64` or `u64`, implement `auth_core::NewPrimaryKey` for it, or build the user yourself and call `Auth::register_with_password`"
)]
pub trait NewPrimaryKey: Sized {
    /// A fresh key, or `Error::Config` when the system has no randomness.
    fn new_primary_key() -> Result<Self, Error>;
}

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("no system randomness for a new key: {e}")))?;
    Ok(bytes)
}

/// 63 random bits, never zero.
fn random_63_bits() -> Result<u64, Error> {
    loop {
        let n = u64::from_le_bytes(random_bytes()?) >> 1;
        if n != 0 {
            return Ok(n);
        }
    }
}

impl NewPrimaryKey for uuid::Uuid {
    fn new_primary_key() -> Result<Self, Error> {
        Ok(uuid::Builder::from_random_bytes(random_bytes()?).into_uuid())
    }
}

impl NewPrimaryKey for String {
    fn new_primary_key() -> Result<Self, Error> {
        Ok(uuid::Uuid::new_primary_key()?.hyphenated().to_string())
    }
}

impl NewPrimaryKey for i64 {
    fn new_primary_key() -> Result<Self, Error> {
        // 63 bits fit an i64 whole.
        Ok(i64::try_from(random_63_bits()?).unwrap_or(i64::MAX))
    }
}

impl NewPrimaryKey for u64 {
    fn new_primary_key() -> Result<Self, Error> {
        random_63_bits()
    }
}

/// Normalises an identity before every insert and lookup: trimmed, Unicode
/// NFC, lower-cased (so `Ada@Example.com` and `ada@example.com` are one
/// identity in every store), control characters (NUL included) refused.
pub fn normalize_identity(
    config: &crate::config::PasswordConfig,
    identity: &str,
) -> Result<String, Error> {
    use unicode_normalization::UnicodeNormalization as _;
    let field = config.identity_field;
    let trimmed = identity.trim();
    if trimmed.is_empty() {
        return Err(Error::InvalidInput(format!("`{field}` must not be empty")));
    }
    if trimmed.len() > MAX_IDENTITY_LEN {
        return Err(Error::InvalidInput(format!(
            "`{field}` must be at most {MAX_IDENTITY_LEN} bytes"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(trimmed.nfc().collect::<String>().to_lowercase())
}

/// The longest identity accepted (bytes).
pub const MAX_IDENTITY_LEN: usize = 320;

#[cfg(test)]
mod new_primary_key_tests {
    use super::NewPrimaryKey;

    #[test]
    fn new_keys_are_random_positive_and_well_formed() {
        let ids: std::collections::HashSet<i64> =
            (0..1000).map(|_| i64::new_primary_key().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|&id| id > 0));
        // Every one of the 63 bits varies.
        let ored = ids.iter().fold(0i64, |a, &b| a | b);
        assert_eq!(ored, i64::MAX);
        let uuid = uuid::Uuid::new_primary_key().unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        let text = String::new_primary_key().unwrap();
        assert_eq!(uuid::Uuid::parse_str(&text).unwrap().get_version_num(), 4);
        assert!(u64::new_primary_key().unwrap() <= u64::MAX >> 1);
    }
}
