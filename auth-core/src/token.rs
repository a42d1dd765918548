//! The token-resource actions of SPEC 3.1, written once and generic over the store.
//!
//! `#[token_resource]` generates associated functions that call these.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

use crate::claims::{Claims, ExtraClaims};
use crate::config::{Purpose, PurposeFilter, TokenResourceConfig};
use crate::error::{Error, Result};
use crate::jwt::peek_claims;
use crate::store::{NewTokenRow, REVOCATION, TokenRow, TokenStore};

/// A type that is a token resource: the `#[token_resource]` macro implements it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a token resource",
    label = "`token_resource` must name a struct with `#[token_resource]`"
)]
pub trait TokenResource {
    /// Its settings.
    const CONFIG: TokenResourceConfig;
}

/// The facts a token row is made of: `jti`, `sub`, `exp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFacts {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `exp`.
    pub expires_at: DateTime<Utc>,
}

impl TokenFacts {
    /// Reads the facts from a token **without verifying it**: for tokens this
    /// application issued or already verified.
    pub fn peek(token: &str) -> Result<Self> {
        Self::try_from(&peek_claims(token)?)
    }
}

impl TryFrom<&Claims> for TokenFacts {
    type Error = Error;
    fn try_from(claims: &Claims) -> Result<Self> {
        Ok(Self {
            jti: claims.jti.clone(),
            subject: claims.sub.clone(),
            expires_at: Utc
                .timestamp_opt(claims.exp, 0)
                .single()
                .ok_or(Error::InvalidClaim("exp"))?,
        })
    }
}

/// How long a jti-only revocation is kept: the token's expiry is unknown,
/// so the row must outlive any token (it is never expunged in practice).
const JTI_REVOCATION_LIFETIME_DAYS: i64 = 365 * 1000;

fn new_row(facts: &TokenFacts, purpose: &str, extra_data: Option<Value>) -> NewTokenRow {
    NewTokenRow {
        jti: facts.jti.clone(),
        subject: facts.subject.clone(),
        expires_at: facts.expires_at,
        purpose: purpose.to_owned(),
        extra_data,
    }
}

fn store_err(action: &'static str) -> impl FnOnce(crate::error::StoreError) -> Error {
    move |e| {
        tracing::error!(action, error = %e, "token store failed");
        Error::Store(e)
    }
}

/// `store_token`: records an issued token. Upserts on `jti`, but never turns
/// a revocation row back into a live one ([`Error::Revoked`] then).
pub async fn store_token<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    facts: &TokenFacts,
    purpose: &Purpose,
    extra_data: Option<Value>,
) -> Result<()> {
    if purpose.as_str() == REVOCATION {
        return Err(Error::Config(
            "`store_token` cannot store a revocation: use `revoke_token`".into(),
        ));
    }
    let row = new_row(facts, purpose.as_str(), extra_data);
    match store.upsert_token(&resource.table, &row).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::Revoked),
        Err(e) => Err(store_err("store_token")(e)),
    }
}

/// Records a token this process just minted: a plain insert (its `jti` is
/// fresh), used when issuing with `store_all_tokens`.
pub(crate) async fn store_new_token<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    facts: &TokenFacts,
    purpose: &Purpose,
    extra_data: Option<Value>,
) -> Result<()> {
    let row = new_row(facts, purpose.as_str(), extra_data);
    store
        .insert_token(&resource.table, &row)
        .await
        .map_err(store_err("store_token"))
}

/// `get_token`: the unexpired row for `jti`, of `purpose` when given.
pub async fn get_token<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    jti: &str,
    purpose: Option<&Purpose>,
) -> Result<Option<TokenRow>> {
    store
        .get_token(
            &resource.table,
            jti,
            purpose.map(Purpose::as_str),
            Utc::now(),
        )
        .await
        .map_err(store_err("get_token"))
}

/// `revoke_token`: makes the token a revocation row that keeps its own
/// expiry. Revoking it again is [`Error::AlreadyRevoked`]; of concurrent
/// revocations exactly one succeeds.
pub async fn revoke_token<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    facts: &TokenFacts,
) -> Result<()> {
    revoke_row(store, resource, &new_row(facts, REVOCATION, None)).await
}

/// `revoke_jti`: revokes by `jti` and subject when the token itself is gone.
/// The expiry is unknown, so the row is kept for a thousand years.
pub async fn revoke_jti<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    jti: &str,
    subject: &str,
) -> Result<()> {
    let facts = TokenFacts {
        jti: jti.to_owned(),
        subject: subject.to_owned(),
        expires_at: Utc::now() + Duration::days(JTI_REVOCATION_LIFETIME_DAYS),
    };
    revoke_row(store, resource, &new_row(&facts, REVOCATION, None)).await
}

async fn revoke_row<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    row: &NewTokenRow,
) -> Result<()> {
    match store.insert_revocation(&resource.table, row).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::AlreadyRevoked),
        Err(e) => Err(store_err("revoke_token")(e)),
    }
}

/// `revoke_all_stored_for_subject`: flips every stored row of `subject`
/// whose purpose passes `filter` to a revocation; returns how many.
pub async fn revoke_all_stored_for_subject<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    subject: &str,
    filter: &PurposeFilter,
) -> Result<u64> {
    store
        .revoke_all_for_subject(&resource.table, subject, filter)
        .await
        .map_err(store_err("revoke_all_stored_for_subject"))
}

/// `is_revoked` (Ash: `revoked?`): whether a revocation row exists for `jti`.
pub async fn is_revoked<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    jti: &str,
) -> Result<bool> {
    store
        .is_revoked(&resource.table, jti)
        .await
        .map_err(store_err("is_revoked"))
}

/// `read_expired`: rows whose `expires_at` is past, at most `limit`.
pub async fn read_expired<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    limit: usize,
) -> Result<Vec<TokenRow>> {
    store
        .read_expired(&resource.table, Utc::now(), limit)
        .await
        .map_err(store_err("read_expired"))
}

/// `expunge_expired`: deletes every row expired now, in batches of
/// `expunge_batch_size`, and returns how many. Never touches unexpired rows.
pub async fn expunge_expired<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
) -> Result<u64> {
    let now = Utc::now();
    let batch = resource.expunge_batch_size.max(1);
    // Batches walk forward in `expires_at` order from the oldest possible row.
    let mut from = DateTime::<Utc>::from_timestamp(-62_135_596_800, 0).unwrap_or(now); // 0001-01-01
    let mut total = 0;
    loop {
        let done = store
            .delete_expired(&resource.table, now, from, batch)
            .await
            .map_err(store_err("expunge_expired"))?;
        total += done.deleted;
        if done.deleted < batch as u64 {
            return Ok(total);
        }
        from = done.last_expires_at.unwrap_or(from);
    }
}

/// `store_confirmation_changes`: stores pending changes for a confirmation
/// token under the add-on's purpose.
pub async fn store_confirmation_changes<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    facts: &TokenFacts,
    purpose: &Purpose,
    changes: ExtraClaims,
) -> Result<()> {
    store_token(
        store,
        resource,
        facts,
        purpose,
        Some(Value::Object(changes)),
    )
    .await
}

/// `get_confirmation_changes`: the pending changes for `jti` under the
/// add-on's purpose, while unexpired.
pub async fn get_confirmation_changes<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    jti: &str,
    purpose: &Purpose,
) -> Result<Option<ExtraClaims>> {
    let row = get_token(store, resource, jti, Some(purpose)).await?;
    Ok(row.and_then(|r| match r.extra_data {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }))
}
