//! The token operations both SQL stores run alike: which statement, which
//! values in which order, and what its result means, said once. Each store
//! writes the statements in its own SQL ([`TokenStatements`]) and encodes
//! the values its own way ([`Param`], [`TokenSql`]); the operations whose
//! shape differs between the databases (the rotation, the redemption, the
//! expunge batch, the many-row insert) stay in the stores.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{
    AuditEvent, NewTokenRow, Purpose, RevokeAll, Rows, Sessions, StoreError, TokenRow,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The token table's columns, in the order every store selects them.
pub const COLUMNS: [&str; 8] = [
    "jti",
    "subject",
    "expires_at",
    "purpose",
    "extra_data",
    "created_at",
    "updated_at",
    "tenant",
];

/// [`COLUMNS`] as a select list.
pub const COLUMN_LIST: &str =
    "jti, subject, expires_at, purpose, extra_data, created_at, updated_at, tenant";

/// The columns of a token's own row that verification reads (what
/// `auth_core::TokenRowFacts` holds), in this order; `purpose` is never
/// NULL in a row, so a NULL `purpose` is a row not found.
pub const TOKEN_FACT_COLUMNS: [&str; 6] = [
    "subject",
    "expires_at",
    "purpose",
    "extra_data",
    "created_at",
    "tenant",
];

/// The columns of a session row that verification reads (what
/// `auth_core::SessionFacts` holds): not its `extra_data` or `updated_at`.
pub const SESSION_COLUMNS: [&str; 6] = [
    "jti",
    "subject",
    "expires_at",
    "purpose",
    "created_at",
    "tenant",
];

/// The select list of a lookup, in this order (a store reads it by
/// position): what verification reads of the token's row (`t.c AS t_c`,
/// each of [`TOKEN_FACT_COLUMNS`]) and, `with_session`, of its session's
/// (`s.c AS s_c`, each of [`SESSION_COLUMNS`]).
pub fn lookup_columns(with_session: bool) -> String {
    let token = TOKEN_FACT_COLUMNS.iter().map(|c| format!("t.{c} AS t_{c}"));
    let session = SESSION_COLUMNS
        .iter()
        .filter(|_| with_session)
        .map(|c| format!("s.{c} AS s_{c}"));
    token.chain(session).collect::<Vec<_>>().join(", ")
}

/// How many columns [`lookup_columns`] selects: the position of what a
/// query selects after them (the authenticate query's user).
pub const fn lookup_width(with_session: bool) -> usize {
    TOKEN_FACT_COLUMNS.len()
        + if with_session {
            SESSION_COLUMNS.len()
        } else {
            0
        }
}

/// A value bound to a token statement, in the statement's parameter order.
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    /// Text (a jti, a subject, a purpose).
    Text(&'a str),
    /// Text or NULL.
    MaybeText(Option<&'a str>),
    /// A point in time.
    Time(DateTime<Utc>),
    /// A JSON document or NULL (`extra_data`).
    Json(Option<&'a Value>),
    /// How long (a revocation kept past the token's expiry).
    Duration(Duration),
    /// A list of purposes, or NULL for "every purpose".
    Purposes(Option<&'a [Purpose]>),
    /// A row count (`LIMIT`).
    Limit(i64),
    /// The time of the write. Always the last value: a store whose
    /// database reads its own clock in the statement (PostgreSQL's
    /// `now()`) binds nothing for it; one that binds this process's clock
    /// (SQLite) binds it like a [`Param::Time`].
    Now,
}

/// The statements every SQL token store runs through the operations
/// below, in its own SQL. Each takes its values in the order the
/// operation's `Param`s list them.
#[derive(Debug)]
pub struct TokenStatements {
    /// The token's row and what verification reads of its session's
    /// ([`lookup_columns`] with the session), one row whatever is found:
    /// jti, sid.
    pub lookup: Arc<str>,
    /// The token's row alone, one row whatever is found (a token without
    /// a session joins nothing): jti.
    pub lookup_token: Arc<str>,
    /// Insert a row unless a revocation holds its jti, returning a row
    /// when written: jti, subject, expires_at, purpose, extra_data, tenant,
    /// now.
    pub upsert: Arc<str>,
    /// Insert a row (a conflict is an error): as `upsert`.
    pub insert: Arc<str>,
    /// The live row of a jti: jti, now, purpose (or NULL: any).
    pub get: Arc<str>,
    /// Insert or turn a row into a revocation unless it is one, returning
    /// a row when written: jti, subject, expires_at, tenant, now.
    pub revoke: Arc<str>,
    /// Whether a jti's row is a revocation (one boolean): jti.
    pub is_revoked: Arc<str>,
    /// Turn a subject's rows into revocations kept past their expiry:
    /// subject, included purposes (or NULL: all), excluded purposes, how
    /// long they are kept, the tenant (or NULL: every tenant), now.
    pub revoke_all: Arc<str>,
    /// Turn a tenant's rows into revocations kept past their expiry:
    /// tenant, how long they are kept, now.
    pub revoke_tenant: Arc<str>,
    /// A subject's live sessions: subject, now.
    pub list_sessions: Arc<str>,
    /// A subject's live rows of one purpose: subject, now, purpose.
    pub live_tokens: Arc<str>,
    /// End a subject's sessions: subject, only this sid (or NULL), all but
    /// this sid (or NULL), now.
    pub end_sessions: Arc<str>,
    /// End one session, found by its primary key (`end_sessions` with
    /// only this sid walks the subject's sessions): the same parameters,
    /// the third NULL.
    pub end_session: Arc<str>,
    /// The earliest expired rows: how many, now.
    pub read_expired: Arc<str>,
}

/// How a SQL store runs a token statement: the statements of its table, and
/// its driver, binding each [`Param`] its own way. Errors carry the store's
/// name and `what` was being done.
pub trait TokenSql: Sync {
    /// The store's statements of one table ([`TokenStatements`] and its
    /// own).
    type Queries: AsRef<TokenStatements> + Send + Sync;

    /// The statements of the table the store is bound to.
    fn queries(&self) -> &Self::Queries;

    /// Runs a write: how many rows it changed. `events` are appended in
    /// its transaction when `took` says the count took effect.
    fn write(
        &self,
        sql: &Arc<str>,
        params: &[Param<'_>],
        what: &'static str,
        events: &[AuditEvent],
        took: fn(u64) -> bool,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs a write ending in `RETURNING`: whether it returned a row.
    /// `events` are appended in its transaction either way.
    fn write_returning(
        &self,
        sql: &Arc<str>,
        params: &[Param<'_>],
        what: &'static str,
        events: &[AuditEvent],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Reads token rows.
    fn read_rows(
        &self,
        sql: &Arc<str>,
        params: &[Param<'_>],
        what: &'static str,
    ) -> impl Future<Output = Result<Vec<TokenRow>, StoreError>> + Send;

    /// Reads one boolean.
    fn read_flag(
        &self,
        sql: &Arc<str>,
        params: &[Param<'_>],
        what: &'static str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Reads a lookup row: the token's row and, `with_session`, its
    /// session's.
    fn read_lookup(
        &self,
        sql: &Arc<str>,
        params: &[Param<'_>],
        with_session: bool,
    ) -> impl Future<Output = Result<Rows, StoreError>> + Send;
}

/// A new row's values: jti, subject, expires_at, purpose, extra_data,
/// tenant, now.
fn new_row(row: &NewTokenRow) -> [Param<'_>; 7] {
    [
        Param::Text(&row.jti),
        Param::Text(&row.subject),
        Param::Time(row.expires_at),
        Param::Text(&row.purpose),
        Param::Json(row.extra_data.as_ref()),
        Param::MaybeText(row.tenant.as_deref()),
        Param::Now,
    ]
}

/// A write's events are appended however many rows it changed.
pub const ALWAYS: fn(u64) -> bool = |_| true;

/// A write's events are appended when it changed a row.
pub const ANY: fn(u64) -> bool = |n| n > 0;

/// `TokenStore::lookup`.
pub async fn lookup<S: TokenSql>(s: &S, jti: &str, sid: Option<&str>) -> Result<Rows, StoreError> {
    let q = s.queries().as_ref();
    match sid {
        Some(sid) => {
            let params = [Param::Text(jti), Param::Text(sid)];
            s.read_lookup(&q.lookup, &params, true).await
        }
        None => {
            s.read_lookup(&q.lookup_token, &[Param::Text(jti)], false)
                .await
        }
    }
}

/// `TokenStore::upsert_token`.
pub async fn upsert_token<S: TokenSql>(s: &S, row: &NewTokenRow) -> Result<bool, StoreError> {
    let q = s.queries();
    s.write_returning(&q.as_ref().upsert, &new_row(row), "store token", &[])
        .await
}

/// `TokenStore::insert_token`.
pub async fn insert_token<S: TokenSql>(s: &S, row: &NewTokenRow) -> Result<(), StoreError> {
    let q = s.queries();
    s.write(
        &q.as_ref().insert,
        &new_row(row),
        "insert token",
        &[],
        ALWAYS,
    )
    .await
    .map(|_| ())
}

/// `TokenStore::get_token`.
pub async fn get_token<S: TokenSql>(
    s: &S,
    jti: &str,
    purpose: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<TokenRow>, StoreError> {
    let q = s.queries();
    let params = [
        Param::Text(jti),
        Param::Time(now),
        Param::MaybeText(purpose),
    ];
    let rows = s.read_rows(&q.as_ref().get, &params, "get token").await?;
    Ok(rows.into_iter().next())
}

/// `TokenStore::insert_revocation`.
pub async fn insert_revocation<S: TokenSql>(
    s: &S,
    row: &NewTokenRow,
    events: &[AuditEvent],
) -> Result<bool, StoreError> {
    let q = s.queries();
    let params = revocation_params(row);
    s.write_returning(&q.as_ref().revoke, &params, "revoke token", events)
        .await
}

/// The parameters of [`TokenStatements::revoke`]: jti, subject, expiry,
/// tenant, now.
pub fn revocation_params(row: &NewTokenRow) -> [Param<'_>; 5] {
    [
        Param::Text(&row.jti),
        Param::Text(&row.subject),
        Param::Time(row.expires_at),
        Param::MaybeText(row.tenant.as_deref()),
        Param::Now,
    ]
}

impl TokenStatements {
    /// The statement that ends `which` sessions: [`Self::end_session`]
    /// for one, else [`Self::end_sessions`].
    pub fn ending(&self, which: Sessions<'_>) -> &Arc<str> {
        match which {
            Sessions::One(_) => &self.end_session,
            _ => &self.end_sessions,
        }
    }
}

/// The parameters of [`TokenStatements::end_sessions`]: subject, only
/// this sid (or NULL), all but this sid (or NULL), now.
pub fn end_sessions_params<'a>(subject: &'a str, which: Sessions<'a>) -> [Param<'a>; 4] {
    let (one, all_but) = match which {
        Sessions::One(sid) => (Some(sid), None),
        Sessions::AllBut(sid) => (None, Some(sid)),
        Sessions::All => (None, None),
    };
    [
        Param::Text(subject),
        Param::MaybeText(one),
        Param::MaybeText(all_but),
        Param::Now,
    ]
}

/// `TokenStore::is_revoked`.
pub async fn is_revoked<S: TokenSql>(s: &S, jti: &str) -> Result<bool, StoreError> {
    let q = s.queries();
    s.read_flag(&q.as_ref().is_revoked, &[Param::Text(jti)], "is revoked")
        .await
}

/// The values of `revoke_all` (log out everywhere): subject, included and
/// excluded purposes, how long a revocation is kept, the tenant (or NULL),
/// now.
pub fn revoke_all_params<'a>(revoke: &RevokeAll<'a>) -> [Param<'a>; 6] {
    [
        Param::Text(revoke.subject),
        Param::Purposes(revoke.filter.include.as_deref()),
        Param::Purposes(Some(&revoke.filter.exclude)),
        Param::Duration(revoke.keep_for),
        Param::MaybeText(revoke.tenant),
        Param::Now,
    ]
}

/// `TokenStore::revoke_all_for_subject`, without the API keys.
pub async fn revoke_all_for_subject<S: TokenSql>(
    s: &S,
    revoke: &RevokeAll<'_>,
    events: &[AuditEvent],
) -> Result<u64, StoreError> {
    let q = s.queries();
    let params = revoke_all_params(revoke);
    let what = "revoke all for subject";
    s.write(&q.as_ref().revoke_all, &params, what, events, ALWAYS)
        .await
}

/// `TokenStore::revoke_tenant`.
pub async fn revoke_tenant<S: TokenSql>(
    s: &S,
    tenant: &str,
    keep_for: Duration,
) -> Result<u64, StoreError> {
    let q = s.queries();
    let params = [Param::Text(tenant), Param::Duration(keep_for), Param::Now];
    s.write(
        &q.as_ref().revoke_tenant,
        &params,
        "revoke tenant",
        &[],
        ALWAYS,
    )
    .await
}

/// `RefreshStore::list_sessions`.
pub async fn list_sessions<S: TokenSql>(
    s: &S,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Vec<TokenRow>, StoreError> {
    let q = s.queries();
    let params = [Param::Text(subject), Param::Time(now)];
    s.read_rows(&q.as_ref().list_sessions, &params, "list sessions")
        .await
}

/// `SingleUseStore::live_tokens`.
pub async fn live_tokens<S: TokenSql>(
    s: &S,
    subject: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<Vec<TokenRow>, StoreError> {
    let q = s.queries();
    let params = [Param::Text(subject), Param::Time(now), Param::Text(purpose)];
    s.read_rows(&q.as_ref().live_tokens, &params, "live tokens")
        .await
}

/// `TokenStore::end_sessions`.
pub async fn end_sessions<S: TokenSql>(
    s: &S,
    subject: &str,
    which: Sessions<'_>,
    events: &[AuditEvent],
) -> Result<u64, StoreError> {
    let q = s.queries();
    let params = end_sessions_params(subject, which);
    s.write(
        q.as_ref().ending(which),
        &params,
        "end sessions",
        events,
        ANY,
    )
    .await
}

/// `ApiKeyStore::revoke_api_key` on the store's statement `sql` (`$1` the
/// key's id, `$2` its subject): whether it revoked it, with `events` then.
pub async fn revoke_api_key<S: TokenSql>(
    s: &S,
    sql: &Arc<str>,
    subject: &str,
    id: &str,
    events: &[AuditEvent],
) -> Result<bool, StoreError> {
    let params = [Param::Text(id), Param::Text(subject)];
    let revoked = s.write(sql, &params, "revoke API key", events, ANY).await?;
    Ok(revoked == 1)
}

/// `ApiKeyStore::revoke_api_keys` on the store's statement `sql` (`$1` the
/// subject): how many, with `events` when any.
pub async fn revoke_api_keys<S: TokenSql>(
    s: &S,
    sql: &Arc<str>,
    subject: &str,
    events: &[AuditEvent],
) -> Result<u64, StoreError> {
    let params = [Param::Text(subject)];
    s.write(sql, &params, "revoke API keys", events, ANY).await
}

/// `TokenStore::read_expired`.
pub async fn read_expired<S: TokenSql>(
    s: &S,
    limit_to: usize,
) -> Result<Vec<TokenRow>, StoreError> {
    let q = s.queries();
    let params = [Param::Limit(crate::limit(limit_to)), Param::Now];
    s.read_rows(&q.as_ref().read_expired, &params, "read expired")
        .await
}

/// Implements [`TokenSql`] for a store from its parts: `$queries` its
/// statements, `$reader` its reading pool (a field; writes go through the
/// store's `audited`, which appends a write's events in its transaction),
/// `$query` its
/// [`Param`] binding, `$token_row` and `$lookup_rows` its row decoding,
/// `$db_err` its error naming. A macro because the drivers' query results
/// share no trait (`rows_affected` is each driver's own method).
#[macro_export]
macro_rules! token_sql {
    ($store:ty {
        queries: $queries:ty,
        reader: $reader:ident,
        query: $query:path,
        token_row: $token_row:path,
        lookup_rows: $lookup_rows:path,
        db_err: $db_err:path $(,)?
    }) => {
        /// The driver half of the shared token operations
        /// (`auth_sql::tokens`): internal, hidden from the store's
        /// documentation.
        #[doc(hidden)]
        impl $crate::tokens::TokenSql for $store {
            type Queries = $queries;

            fn queries(&self) -> &$queries {
                self.token_queries()
            }

            async fn write(
                &self,
                sql: &::std::sync::Arc<str>,
                params: &[$crate::tokens::Param<'_>],
                what: &'static str,
                events: &[::auth_core::AuditEvent],
                took: fn(u64) -> bool,
            ) -> ::std::result::Result<u64, ::auth_core::StoreError> {
                self.audited(
                    events,
                    async |conn| {
                        let done = $query(sql, params).execute(&mut *conn).await?;
                        Ok(done.rows_affected())
                    },
                    |n| took(*n),
                )
                .await
                .map_err($db_err(what))
            }

            async fn write_returning(
                &self,
                sql: &::std::sync::Arc<str>,
                params: &[$crate::tokens::Param<'_>],
                what: &'static str,
                events: &[::auth_core::AuditEvent],
            ) -> ::std::result::Result<bool, ::auth_core::StoreError> {
                self.audited(
                    events,
                    async |conn| {
                        let row = $query(sql, params).fetch_optional(&mut *conn).await?;
                        Ok(row.is_some())
                    },
                    |_| true,
                )
                .await
                .map_err($db_err(what))
            }

            async fn read_rows(
                &self,
                sql: &::std::sync::Arc<str>,
                params: &[$crate::tokens::Param<'_>],
                what: &'static str,
            ) -> ::std::result::Result<
                ::std::vec::Vec<::auth_core::TokenRow>,
                ::auth_core::StoreError,
            > {
                let rows = $query(sql, params)
                    .fetch_all(&self.$reader)
                    .await
                    .map_err($db_err(what))?;
                $crate::decode_rows(&rows, $token_row, $db_err(what))
            }

            async fn read_flag(
                &self,
                sql: &::std::sync::Arc<str>,
                params: &[$crate::tokens::Param<'_>],
                what: &'static str,
            ) -> ::std::result::Result<bool, ::auth_core::StoreError> {
                let row = $query(sql, params).fetch_one(&self.$reader).await;
                row.and_then(|r| $crate::__sqlx::Row::try_get(&r, 0))
                    .map_err($db_err(what))
            }

            async fn read_lookup(
                &self,
                sql: &::std::sync::Arc<str>,
                params: &[$crate::tokens::Param<'_>],
                with_session: bool,
            ) -> ::std::result::Result<::auth_core::Rows, ::auth_core::StoreError> {
                let row = $query(sql, params)
                    .fetch_one(&self.$reader)
                    .await
                    .map_err($db_err("lookup"))?;
                $lookup_rows(&row, with_session).map_err($db_err("decode lookup row"))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_list_is_the_columns() {
        assert_eq!(COLUMN_LIST, COLUMNS.join(", "));
        let token = lookup_columns(false);
        // The stores read these by position.
        assert_eq!(
            token,
            "t.subject AS t_subject, t.expires_at AS t_expires_at, t.purpose AS t_purpose, \
             t.extra_data AS t_extra_data, t.created_at AS t_created_at, t.tenant AS t_tenant"
        );
        assert_eq!(lookup_width(false), 6);
        assert_eq!(lookup_width(true), 12);
        let both = lookup_columns(true);
        assert_eq!(
            both,
            format!(
                "{token}, s.jti AS s_jti, s.subject AS s_subject, s.expires_at AS s_expires_at, \
                 s.purpose AS s_purpose, s.created_at AS s_created_at, s.tenant AS s_tenant"
            )
        );
        assert!(
            !both.contains("s.extra_data") && !both.contains("s.updated_at"),
            "a session's device is not read to authenticate: {both}"
        );
    }
}
