//! The token store in SQLite: each operation one statement (conditional
//! writes through `ON CONFLICT ... WHERE ... RETURNING`), except the refresh
//! rotation, one `BEGIN IMMEDIATE` transaction. Every write runs on the one
//! writer connection; times are bound from this process's clock (the
//! database is on the same machine).

use std::sync::Arc;

use auth_core::{
    AuditEvent, ExpungedBatch, NewTokenRow, Purpose, Redeem, RefreshStore, RevokeAll, Rotated,
    Rotation, Rows, SessionFacts, Sessions, SingleUseStore, StoreError, TokenRow, TokenRowFacts,
    TokenStore,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite, SqliteConnection};

use auth_sql::tokens::{self as ops, Param, TokenStatements};
use auth_sql::{limit, sql};

use crate::store::{SqliteStore, db_err, duration_micros, from_micros, micros};

/// The statements for one token table, built once: the ones every SQL
/// store has, and SQLite's own.
// `pub` only for the `TokenSql` impl; the module is private, so nothing
// outside the crate can name it.
#[derive(Debug)]
pub struct TokenQueries {
    pub(crate) common: TokenStatements,
    pub(crate) insert_many: Arc<str>,
    get_row: Arc<str>,
    mark_used: Arc<str>,
    touch_session: Arc<str>,
    pub(crate) redeem: Arc<str>,
    expunge_last: Arc<str>,
    delete_expired: Arc<str>,
    pub(crate) table: String,
    /// The statements of the API-key table beside it.
    pub(crate) keys: crate::api_keys::KeyQueries,
    /// The statements of the failed-attempt counters beside it.
    pub(crate) attempts: crate::attempts::AttemptQueries,
    /// The statements of the security events beside it.
    pub(crate) events: crate::events::EventQueries,
}

impl AsRef<TokenStatements> for TokenQueries {
    fn as_ref(&self) -> &TokenStatements {
        &self.common
    }
}

const COLUMNS: &str = ops::COLUMN_LIST;

impl TokenQueries {
    /// The statements of the token table `t` and its API-key table `k`
    /// (both quoted).
    pub(crate) fn new(tables: &auth_sql::Tables<'_>) -> Self {
        let (t, k) = (tables.tokens, tables.api_keys);
        let common = TokenStatements {
            lookup: lookup_sql(t, None, true).into(),
            lookup_token: lookup_sql(t, None, false).into(),
            list_sessions: format!(
                "SELECT {COLUMNS} FROM {t} WHERE subject = ?1 AND purpose = 'session' AND expires_at > ?2"
            )
            .into(),
            live_tokens: format!(
                "SELECT {COLUMNS} FROM {t} WHERE subject = ?1 AND purpose = ?3 AND expires_at > ?2"
            )
            .into(),
            // ?2: only this one; ?3: all but this one; both NULL: all.
            end_sessions: format!(
                "UPDATE {t} SET purpose = 'revocation', updated_at = ?4 \
                 WHERE subject = ?1 AND purpose = 'session' \
                 AND (?2 IS NULL OR jti = ?2) AND (?3 IS NULL OR jti <> ?3)"
            )
            .into(),
            end_session: format!(
                "UPDATE {t} SET purpose = 'revocation', updated_at = ?4 \
                 WHERE jti = ?2 AND subject = ?1 AND purpose = 'session' AND ?3 IS NULL"
            )
            .into(),
            // A revocation row is never turned back into a live one: the
            // update's WHERE skips it and RETURNING yields no row.
            upsert: format!(
                "INSERT INTO {t} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?7, ?7, ?6) \
                 ON CONFLICT (jti) DO UPDATE SET subject = excluded.subject, \
                 expires_at = excluded.expires_at, purpose = excluded.purpose, \
                 extra_data = excluded.extra_data, tenant = excluded.tenant, \
                 updated_at = excluded.updated_at \
                 WHERE {t}.purpose <> 'revocation' RETURNING 1"
            )
            .into(),
            insert: format!("INSERT INTO {t} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?7, ?7, ?6)")
                .into(),
            get: format!(
                "SELECT {COLUMNS} FROM {t} WHERE jti = ?1 AND expires_at > ?2 \
                 AND (?3 IS NULL OR purpose = ?3)"
            )
            .into(),
            // Writers are serialised: the first of concurrent revocations
            // inserts or flips the row, the others find a revocation.
            revoke: format!(
                "INSERT INTO {t} ({COLUMNS}) VALUES (?1, ?2, ?3, 'revocation', NULL, ?5, ?5, ?4) \
                 ON CONFLICT (jti) DO UPDATE SET purpose = 'revocation', \
                 subject = excluded.subject, expires_at = excluded.expires_at, \
                 tenant = excluded.tenant, \
                 extra_data = NULL, updated_at = excluded.updated_at \
                 WHERE {t}.purpose <> 'revocation' RETURNING 1"
            )
            .into(),
            is_revoked: format!(
                "SELECT EXISTS (SELECT 1 FROM {t} WHERE jti = ?1 AND purpose = 'revocation')"
            )
            .into(),
            // ?2 and ?3: JSON arrays of purposes; ?4: microseconds; ?5 the
            // tenant (NULL: every tenant).
            revoke_all: format!(
                "UPDATE {t} SET purpose = 'revocation', expires_at = expires_at + ?4, updated_at = ?6 \
                 WHERE subject = ?1 AND purpose <> 'revocation' \
                 AND (?2 IS NULL OR purpose IN (SELECT value FROM json_each(?2))) \
                 AND purpose NOT IN (SELECT value FROM json_each(?3)) \
                 AND (?5 IS NULL OR tenant = ?5)"
            )
            .into(),
            // The partial (tenant, subject) index finds a tenant's rows.
            revoke_tenant: format!(
                "UPDATE {t} SET purpose = 'revocation', expires_at = expires_at + ?2, updated_at = ?3 \
                 WHERE tenant = ?1 AND purpose <> 'revocation'"
            )
            .into(),
            read_expired: format!(
                "SELECT {COLUMNS} FROM {t} WHERE expires_at < ?2 ORDER BY expires_at LIMIT ?1"
            )
            .into(),
        };
        Self {
            common,
            // ?1 the rows as a JSON array (see `rows_json`), ?2 now: one
            // statement, so all rows land or none does.
            insert_many: format!(
                "INSERT INTO {t} ({COLUMNS}) \
                 SELECT value ->> 'j', value ->> 's', value ->> 'e', value ->> 'p', value -> 'x', \
                 ?2, ?2, value ->> 't' \
                 FROM json_each(?1)"
            )
            .into(),
            get_row: format!("SELECT {COLUMNS} FROM {t} WHERE jti = ?1").into(),
            mark_used: format!(
                "UPDATE {t} SET purpose = 'refresh_used', updated_at = ?2, \
                 extra_data = json_set(coalesce(extra_data, '{{}}'), '$.successor', json(?3)) \
                 WHERE jti = ?1"
            )
            .into(),
            touch_session: format!(
                "UPDATE {t} SET updated_at = ?2, \
                 extra_data = json_set(coalesce(extra_data, '{{}}'), '$.last_seen_at', ?3) \
                 WHERE jti = ?1"
            )
            .into(),
            // ?1 jti, ?2 subject, ?3 purpose, ?4 now: a single-use token spent.
            redeem: format!(
                "UPDATE {t} SET purpose = 'revocation', updated_at = ?4 \
                 WHERE jti = ?1 AND subject = ?2 AND purpose = ?3 AND expires_at > ?4"
            )
            .into(),
            // Batches walk the expires_at index from the previous batch's
            // last value and delete by rowid, so no batch rescans the rows
            // of earlier batches. `expunge_last` reads the batch's last
            // expiry from the index alone (RETURNING every deleted row made
            // the batch 1.7 times slower), `delete_expired` deletes it; both
            // run in one write transaction.
            expunge_last: format!(
                "SELECT max(expires_at) FROM (SELECT expires_at FROM {t} \
                 WHERE expires_at < ?1 AND expires_at >= ?2 ORDER BY expires_at LIMIT ?3)"
            )
            .into(),
            delete_expired: format!(
                "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} \
                 WHERE expires_at < ?1 AND expires_at >= ?2 ORDER BY expires_at LIMIT ?3)"
            )
            .into(),
            table: t.to_owned(),
            keys: crate::api_keys::KeyQueries::new(k),
            attempts: crate::attempts::AttemptQueries::new(tables.attempts),
            events: crate::events::EventQueries::new(tables.events),
        }
    }
}

/// The lookup: one row whatever is found, `?1` the token's jti and,
/// `with_session`, `?2` its sid; with `user`, that scalar subquery as a
/// column `user` too (the authenticate query).
pub(crate) fn lookup_sql(t: &str, user: Option<&str>, with_session: bool) -> String {
    let columns = ops::lookup_columns(with_session);
    let user = user.map(|u| format!(", ({u}) AS user")).unwrap_or_default();
    let session = if with_session {
        format!(" LEFT JOIN {t} s ON s.jti = ?2")
    } else {
        String::new()
    };
    format!("SELECT {columns}{user} FROM (SELECT 1) one LEFT JOIN {t} t ON t.jti = ?1{session}")
}

/// A token row's JSON text, decoded.
fn json(text: Option<String>) -> Result<Option<Value>, sqlx::Error> {
    text.map(|text| serde_json::from_str::<Value>(&text))
        .transpose()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn token_row(row: &SqliteRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        jti: row.try_get("jti")?,
        subject: row.try_get("subject")?,
        expires_at: from_micros(row.try_get("expires_at")?),
        purpose: row.try_get("purpose")?,
        extra_data: json(row.try_get("extra_data")?)?,
        created_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
        tenant: row.try_get("tenant")?,
    })
}

/// Reads what a lookup row holds of the token's row and, `with_session`,
/// of the session's, by position (`ops::lookup_columns`' order: the user,
/// if selected, comes after them).
pub(crate) fn lookup_rows(row: &SqliteRow, with_session: bool) -> Result<Rows, sqlx::Error> {
    let token = match row.try_get::<Option<String>, _>(2)? {
        None => None,
        Some(purpose) => Some(TokenRowFacts {
            subject: row.try_get(0)?,
            expires_at: from_micros(row.try_get(1)?),
            purpose,
            extra_data: json(row.try_get(3)?)?,
            created_at: from_micros(row.try_get(4)?),
            tenant: row.try_get(5)?,
        }),
    };
    let session = match with_session {
        false => None,
        true => match row.try_get::<Option<String>, _>(6)? {
            None => None,
            Some(jti) => Some(SessionFacts {
                jti,
                subject: row.try_get(7)?,
                expires_at: from_micros(row.try_get(8)?),
                purpose: row.try_get(9)?,
                created_at: from_micros(row.try_get(10)?),
                tenant: row.try_get(11)?,
            }),
        },
    };
    Ok(Rows { token, session })
}

/// New rows as the JSON array `insert_many` reads.
pub(crate) fn rows_json(rows: &[NewTokenRow]) -> String {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            o.insert("j".into(), r.jti.clone().into());
            o.insert("s".into(), r.subject.clone().into());
            o.insert("e".into(), micros(r.expires_at).into());
            o.insert("p".into(), r.purpose.clone().into());
            if let Some(x) = &r.extra_data {
                o.insert("x".into(), x.clone());
            }
            if let Some(t) = &r.tenant {
                o.insert("t".into(), t.clone().into());
            }
            Value::Object(o)
        })
        .collect();
    Value::Array(rows).to_string()
}

/// Purposes as the JSON array the statements read with `json_each`.
fn purposes_json(purposes: &[Purpose]) -> String {
    Value::Array(purposes.iter().map(|p| p.as_str().into()).collect()).to_string()
}

/// Log out everywhere inside a transaction, at its time: the subject's
/// token rows and, when asked, its API keys. How many token rows.
pub(crate) async fn revoke_all(
    tx: &mut SqliteConnection,
    tokens: &TokenQueries,
    revoke: &RevokeAll<'_>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let [subject, include, exclude, keep_for, tenant, _now] = ops::revoke_all_params(revoke);
    let params = [
        subject,
        include,
        exclude,
        keep_for,
        tenant,
        Param::Time(now),
    ];
    let done = query(&tokens.common.revoke_all, &params)
        .execute(&mut *tx)
        .await?;
    if revoke.api_keys {
        sqlx::query(sql(&tokens.keys.revoke_all))
            .bind(revoke.subject)
            .execute(&mut *tx)
            .await?;
    }
    Ok(done.rows_affected())
}

/// `sql` with `params` bound as SQLite stores them: times and durations in
/// microseconds, JSON and purpose lists as JSON text; [`Param::Now`] is
/// this process's clock (the database is on the same machine).
pub(crate) fn query(
    sql: &Arc<str>,
    params: &[Param<'_>],
) -> sqlx::query::Query<'static, Sqlite, SqliteArguments> {
    params
        .iter()
        .fold(sqlx::query(auth_sql::sql(sql)), |q, p| match *p {
            Param::Text(t) => q.bind(t),
            Param::MaybeText(t) => q.bind(t),
            Param::Time(t) => q.bind(micros(t)),
            Param::Json(v) => q.bind(v.map(Value::to_string)),
            Param::Duration(d) => q.bind(duration_micros(d)),
            Param::Purposes(p) => q.bind(p.map(purposes_json)),
            Param::Limit(n) => q.bind(n),
            Param::Now => q.bind(micros(Utc::now())),
        })
}

auth_sql::token_sql!(SqliteStore {
    queries: TokenQueries,
    reader: reader,
    query: query,
    token_row: token_row,
    lookup_rows: lookup_rows,
    db_err: db_err,
});

/// Spends the single-use token `redeem` inside the caller's transaction:
/// whether its row was a live row of its purpose and subject (now a
/// revocation).
pub(crate) async fn spend(
    conn: &mut SqliteConnection,
    q: &TokenQueries,
    redeem: &Redeem<'_>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(sql(&q.redeem))
        .bind(redeem.jti)
        .bind(redeem.subject)
        .bind(redeem.purpose)
        .bind(micros(now))
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts `rows` on `conn` (inside the caller's transaction, or alone).
pub(crate) async fn insert_rows(
    conn: &mut SqliteConnection,
    q: &TokenQueries,
    rows: &[NewTokenRow],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(sql(&q.insert_many))
        .bind(rows_json(rows))
        .bind(micros(now))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The row of `jti`, whatever its purpose and expiry.
async fn get_row(
    conn: &mut SqliteConnection,
    q: &TokenQueries,
    jti: &str,
) -> Result<Option<TokenRow>, sqlx::Error> {
    let row = sqlx::query(sql(&q.get_row))
        .bind(jti)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(token_row).transpose()
}

impl TokenStore for SqliteStore {
    fn token_table(&self) -> &str {
        self.bound_table()
    }

    async fn lookup(&self, jti: &str, sid: Option<&str>) -> Result<Rows, StoreError> {
        ops::lookup(self, jti, sid).await
    }

    async fn insert_tokens(
        &self,
        rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let q = self.token_queries();
        let work = async |conn: &mut SqliteConnection| insert_rows(conn, q, rows, Utc::now()).await;
        self.audited(events, work, |_| true)
            .await
            .map_err(db_err("insert tokens"))
    }

    async fn end_sessions(
        &self,
        subject: &str,
        which: Sessions<'_>,
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        ops::end_sessions(self, subject, which, events).await
    }

    async fn upsert_token(&self, row: &NewTokenRow) -> Result<bool, StoreError> {
        ops::upsert_token(self, row).await
    }

    async fn insert_token(&self, row: &NewTokenRow) -> Result<(), StoreError> {
        ops::insert_token(self, row).await
    }

    async fn get_token(
        &self,
        jti: &str,
        purpose: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRow>, StoreError> {
        ops::get_token(self, jti, purpose, now).await
    }

    async fn insert_revocation(
        &self,
        row: &NewTokenRow,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        ops::insert_revocation(self, row, events).await
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        ops::is_revoked(self, jti).await
    }

    async fn revoke_all_for_subject(
        &self,
        revoke: &RevokeAll<'_>,
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        if !revoke.api_keys {
            return ops::revoke_all_for_subject(self, revoke, events).await;
        }
        let tokens = self.token_queries();
        let write = async |tx: &mut SqliteConnection, now| {
            let revoked = revoke_all(tx, tokens, revoke, now).await?;
            self.append_events(tx, events).await?;
            Ok(revoked)
        };
        self.write(write, |_| true)
            .await
            .map_err(db_err("revoke all and API keys"))
    }

    async fn revoke_tenant(
        &self,
        tenant: &str,
        keep_for: std::time::Duration,
    ) -> Result<u64, StoreError> {
        ops::revoke_tenant(self, tenant, keep_for).await
    }

    async fn read_expired(&self, limit_to: usize) -> Result<Vec<TokenRow>, StoreError> {
        ops::read_expired(self, limit_to).await
    }

    async fn delete_expired(
        &self,
        from: DateTime<Utc>,
        limit_to: usize,
    ) -> Result<ExpungedBatch, StoreError> {
        let q = self.token_queries();
        let (from, limit_to) = (micros(from), limit(limit_to));
        let batch = async |tx: &mut SqliteConnection, now| {
            let now = micros(now);
            let last: Option<i64> = sqlx::query_scalar(sql(&q.expunge_last))
                .bind(now)
                .bind(from)
                .bind(limit_to)
                .fetch_one(&mut *tx)
                .await?;
            let deleted = sqlx::query(sql(&q.delete_expired))
                .bind(now)
                .bind(from)
                .bind(limit_to)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok(ExpungedBatch {
                deleted,
                last_expires_at: last.map(from_micros),
            })
        };
        let batch = self
            .write(batch, |_| true)
            .await
            .map_err(db_err("delete expired"))?;
        tracing::debug!(table = %q.table, removed = batch.deleted, "expunged a batch");
        Ok(batch)
    }
}

impl RefreshStore for SqliteStore {
    async fn rotate_refresh(&self, rotation: &Rotation<'_>) -> Result<Rotated, StoreError> {
        let q = self.token_queries();
        // Nothing changes between the reads and the writes (the write lock
        // is taken first); what `decide` refuses leaves nothing written.
        let rotate = async |tx: &mut SqliteConnection, now| {
            let (session, old) = (
                get_row(tx, q, rotation.sid).await?.map(SessionFacts::from),
                get_row(tx, q, rotation.old_jti).await?,
            );
            let seen = rotation.decide(session.as_ref(), old.as_ref(), now);
            if !(seen.rotated || seen.sibling) {
                return Ok(seen);
            }
            if seen.rotated {
                insert_rows(tx, q, rotation.new_rows, now).await?;
                sqlx::query(sql(&q.mark_used))
                    .bind(rotation.old_jti)
                    .bind(micros(now))
                    .bind(rotation.successor.to_string())
                    .execute(&mut *tx)
                    .await?;
                self.append_events(tx, rotation.events).await?;
            }
            sqlx::query(sql(&q.touch_session))
                .bind(rotation.sid)
                .bind(micros(now))
                .bind(now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .execute(&mut *tx)
                .await?;
            Ok(seen)
        };
        self.write(rotate, |seen| seen.rotated || seen.sibling)
            .await
            .map_err(db_err("rotate refresh token"))
    }

    async fn list_sessions(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenRow>, StoreError> {
        ops::list_sessions(self, subject, now).await
    }
}

impl SingleUseStore for SqliteStore {
    async fn redeem(
        &self,
        redeem: &Redeem<'_>,
        new_rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let q = self.token_queries();
        // The token spent and the rows inserted, or neither.
        let spend_then_insert = async |tx: &mut SqliteConnection, now| {
            let spent = spend(tx, q, redeem, now).await?;
            if spent {
                insert_rows(tx, q, new_rows, now).await?;
                self.append_events(tx, events).await?;
            }
            Ok(spent)
        };
        self.write(spend_then_insert, |spent| *spent)
            .await
            .map_err(db_err("redeem token"))
    }

    async fn live_tokens(
        &self,
        subject: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenRow>, StoreError> {
        ops::live_tokens(self, subject, purpose, now).await
    }
}
