//! The token-resource actions (see [`token_resource`](crate::token_resource)), written once and generic over the store.
//!
//! `#[token_resource]` generates associated functions that call these.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

use crate::audit::AuditEvent;
use crate::claims::{Claims, ExtraClaims};
use crate::config::{Purpose, PurposeFilter, TokenResourceConfig};
use crate::error::{Error, Result};
use crate::jwt::peek_claims;
use crate::store::{NewTokenRow, RevokeAll, TokenRow, TokenStore};

const REVOCATION: &str = Purpose::REVOCATION.as_str();

/// A type that is a token resource: the `#[token_resource]` macro implements it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a token resource",
    label = "`token_resource` must name a struct with `#[token_resource]`"
)]
pub trait TokenResource {
    /// Its settings.
    const CONFIG: TokenResourceConfig;
}

/// The facts a token row is made of: `jti`, `sub`, `exp`, `tenant`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFacts {
    /// The token's `jti`.
    pub jti: String,
    /// The token's `sub`.
    pub subject: String,
    /// The token's `exp`.
    pub expires_at: DateTime<Utc>,
    /// The token's `tenant` (a resource with tenancy).
    pub tenant: Option<String>,
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
            tenant: claims.tenant.clone(),
        })
    }
}

/// How much longer than the token it revokes a revocation row is kept, on
/// top of the verifier's leeway: room for application clocks that disagree
/// with the store's (the expunger deletes by the store's clock). A
/// revocation deleted while its token still verifies anywhere would bring
/// the token back.
pub const REVOCATION_SKEW_MARGIN: std::time::Duration = std::time::Duration::from_secs(10 * 60);

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
        tenant: facts.tenant.clone(),
    }
}

fn store_err(action: &'static str) -> impl FnOnce(crate::error::StoreError) -> Error {
    move |e| crate::error::store_failure(action, e)
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
    check_bound(store, resource)?;
    if purpose.as_str() == REVOCATION {
        return Err(Error::Config(
            "`store_token` cannot store a revocation: use `revoke_token`".into(),
        ));
    }
    let row = new_row(facts, purpose.as_str(), extra_data);
    match store.upsert_token(&row).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::Revoked),
        Err(e) => Err(store_err("store_token")(e)),
    }
}

/// Records a token this process just minted: a plain insert (its `jti` is
/// fresh), used when issuing with `store_all_tokens`.
pub(crate) async fn insert_new_row<S: TokenStore>(store: &S, row: &NewTokenRow) -> Result<()> {
    store
        .insert_token(row)
        .await
        .map_err(store_err("store_token"))
}

/// Whether `store` is bound to `resource`'s table: a store bound to another
/// would read and write another resource's rows.
pub(crate) fn check_bound<S: TokenStore>(store: &S, resource: &TokenResourceConfig) -> Result<()> {
    let (bound, declared) = (store.token_table(), &*resource.table);
    if bound == declared {
        return Ok(());
    }
    Err(Error::Config(format!(
        "the store is bound to the token table `{bound}`, but the token resource's table is `{declared}`: build the store with `.with_token_table(\"{declared}\")`"
    )))
}

/// The row of a freshly issued token.
pub(crate) fn new_token_row(
    facts: &TokenFacts,
    purpose: &str,
    extra_data: Option<Value>,
) -> NewTokenRow {
    new_row(facts, purpose, extra_data)
}

/// `get_token`: the unexpired row for `jti`, of `purpose` when given.
pub async fn get_token<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    jti: &str,
    purpose: Option<&Purpose>,
) -> Result<Option<TokenRow>> {
    check_bound(store, resource)?;
    store
        .get_token(jti, purpose.map(Purpose::as_str), Utc::now())
        .await
        .map_err(store_err("get_token"))
}

/// `revoke_token`: makes the token a revocation row kept until its own
/// expiry plus [`REVOCATION_SKEW_MARGIN`]. Revoking it again is
/// [`Error::AlreadyRevoked`]; of concurrent revocations exactly one succeeds.
pub async fn revoke_token<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    facts: &TokenFacts,
) -> Result<()> {
    revoke_token_keeping(store, resource, facts, std::time::Duration::ZERO, &[]).await
}

/// [`revoke_token`] for a verifier with this leeway: the row is kept for the
/// leeway too, as long as the token can still pass the expiry check.
pub(crate) async fn revoke_token_keeping<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    facts: &TokenFacts,
    leeway: std::time::Duration,
    events: &[AuditEvent],
) -> Result<()> {
    check_bound(store, resource)?;
    let mut row = new_row(facts, REVOCATION, None);
    row.expires_at = kept_until(row.expires_at, leeway);
    revoke_row(store, &row, events).await
}

/// How long past `expires_at` a revocation row must be kept for a verifier
/// with `leeway`.
pub(crate) fn revocation_keep_for(leeway: std::time::Duration) -> std::time::Duration {
    leeway.saturating_add(REVOCATION_SKEW_MARGIN)
}

fn kept_until(expires_at: DateTime<Utc>, leeway: std::time::Duration) -> DateTime<Utc> {
    Duration::from_std(revocation_keep_for(leeway))
        .ok()
        .and_then(|d| expires_at.checked_add_signed(d))
        .unwrap_or(expires_at)
}

/// `revoke_jti`: revokes by `jti` and subject when the token itself is gone.
/// The expiry is unknown, so the row is kept for a thousand years.
pub async fn revoke_jti<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    jti: &str,
    subject: &str,
) -> Result<()> {
    check_bound(store, resource)?;
    let facts = TokenFacts {
        jti: jti.to_owned(),
        subject: subject.to_owned(),
        expires_at: Utc::now() + Duration::days(JTI_REVOCATION_LIFETIME_DAYS),
        tenant: None,
    };
    revoke_row(store, &new_row(&facts, REVOCATION, None), &[]).await
}

/// Inserts a revocation row with `events` ([`Error::AlreadyRevoked`] when
/// it already was one; the events are written either way).
async fn revoke_row<S: TokenStore>(
    store: &S,
    row: &NewTokenRow,
    events: &[AuditEvent],
) -> Result<()> {
    match store.insert_revocation(row, events).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::AlreadyRevoked),
        Err(e) => Err(store_err("revoke_token")(e)),
    }
}

/// `revoke_all_stored_for_subject`: flips every stored row of `subject`
/// whose purpose passes `filter` to a revocation (kept until the token's
/// expiry plus [`REVOCATION_SKEW_MARGIN`]); returns how many.
pub async fn revoke_all_stored_for_subject<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    subject: &str,
    filter: &PurposeFilter,
) -> Result<u64> {
    let keep_for = revocation_keep_for(std::time::Duration::ZERO);
    revoke_all(
        store,
        resource,
        &RevokeAll::tokens(subject, filter, keep_for),
        &[],
    )
    .await
}

/// Log out everywhere, as `revoke` says, with `events`.
pub(crate) async fn revoke_all<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    revoke: &RevokeAll<'_>,
    events: &[AuditEvent],
) -> Result<u64> {
    check_bound(store, resource)?;
    store
        .revoke_all_for_subject(revoke, events)
        .await
        .map_err(store_err("revoke_all_stored_for_subject"))
}

/// `is_revoked` (Ash: `revoked?`): whether a revocation row exists for `jti`.
pub async fn is_revoked<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    jti: &str,
) -> Result<bool> {
    check_bound(store, resource)?;
    store.is_revoked(jti).await.map_err(store_err("is_revoked"))
}

/// `read_expired`: rows whose `expires_at` is past, at most `limit`.
pub async fn read_expired<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
    limit: usize,
) -> Result<Vec<TokenRow>> {
    check_bound(store, resource)?;
    store
        .read_expired(limit)
        .await
        .map_err(store_err("read_expired"))
}

/// `expunge_expired`: deletes every row expired by the store's clock, in
/// batches of `expunge_batch_size`, and returns how many. Never touches
/// unexpired rows.
pub async fn expunge_expired<S: TokenStore>(
    store: &S,
    resource: &TokenResourceConfig,
) -> Result<u64> {
    check_bound(store, resource)?;
    let batch = resource.expunge_batch_size.max(1);
    // Batches walk forward in `expires_at` order from the oldest possible row.
    // 0001-01-01: older than any row, and within every database's range.
    let mut from = DateTime::<Utc>::from_timestamp(-62_135_596_800, 0).unwrap_or_default();
    let mut total = 0;
    loop {
        let done = store
            .delete_expired(from, batch)
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
    check_bound(store, resource)?;
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
    check_bound(store, resource)?;
    let row = get_token(store, resource, jti, Some(purpose)).await?;
    Ok(row.and_then(|r| match r.extra_data {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }))
}
