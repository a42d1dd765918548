//! The token store in SQL: every operation one statement, the conditional
//! writes atomic through `ON CONFLICT ... WHERE`; the expunger one node at a time (advisory try-lock).

use std::sync::Arc;

use auth_core::{
    AuditEvent, ExpungedBatch, NewTokenRow, Purpose, PurposeFilter, Redeem, RefreshStore,
    RevokeAll, Rotated, Rotation, Rows, SessionFacts, Sessions, SingleUseStore, StoreError,
    TokenRow, TokenRowFacts, TokenStore,
};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgConnection, Postgres, Row};

use auth_sql::tokens::{self as ops, Param, TokenStatements};
use auth_sql::{limit, sql};

use crate::events::{bind_events, with_events, with_events_if_any};
use crate::store::{PgStore, db_err};

/// The statements for one token table, built once: the ones every SQL
/// store has, and PostgreSQL's own.
// `pub` only for the `TokenSql` impl; the module is private, so nothing
// outside the crate can name it.
#[derive(Debug)]
pub struct TokenQueries {
    common: TokenStatements,
    insert_many: Arc<str>,
    insert_many_audited: Arc<str>,
    redeem: Arc<str>,
    rotate: Arc<str>,
    rotate_audited: Arc<str>,
    delete_expired: Arc<str>,
    /// `revoke_all`, and the subject's API keys in the same statement.
    revoke_all_and_keys: Arc<str>,
    /// `revoke`, `revoke_all` and `revoke_all_and_keys` with the write's
    /// events appended by the same statement (after the write's own
    /// parameters): a sign-out or a log-out-everywhere is done whatever
    /// it changes, so its events are kept unconditionally.
    revoke_audited: Arc<str>,
    revoke_all_audited: Arc<str>,
    revoke_all_and_keys_audited: Arc<str>,
    /// `end_sessions` and `end_session` with the write's events, appended
    /// only when it ended a session; each returns how many it ended.
    end_sessions_audited: Arc<str>,
    end_session_audited: Arc<str>,
    pub(crate) table: String,
    /// The event table beside it (quoted), for statements built per call.
    pub(crate) events_table: String,
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

/// Log out everywhere, shared by its own statement and the password change:
/// `$1` subject, `$2` included purposes (NULL: all), `$3` excluded purposes,
/// `$4` seconds a revocation is kept past the token's expiry.
pub(crate) const REVOKE_ALL_SET: &str = "purpose = 'revocation', \
     expires_at = expires_at + make_interval(secs => $4), updated_at = now()";
pub(crate) const REVOKE_ALL_WHERE: &str = "subject = $1 AND purpose <> 'revocation' \
     AND ($2::text[] IS NULL OR purpose = ANY($2)) AND NOT (purpose = ANY($3))";
/// Log out everywhere in one tenant: the tenant at parameter `$n` (NULL:
/// every tenant).
pub(crate) fn in_tenant(n: usize) -> String {
    format!("(${n}::text IS NULL OR tenant = ${n})")
}

impl TokenQueries {
    /// The statements of the token table `t` and its API-key table `k`
    /// (both quoted).
    pub(crate) fn new(tables: &auth_sql::Tables<'_>) -> Self {
        let (t, k) = (tables.tokens, tables.api_keys);
        // The refresh rotation's CTEs and its report (see `rotate` below).
        let rotate_with = format!(
            "WITH session AS (SELECT 1 FROM {t} WHERE jti = $2 AND (purpose = 'session' \
                 AND subject = $3 AND expires_at > now()) IS TRUE), \
             used AS (UPDATE {t} SET purpose = 'refresh_used', updated_at = now(), \
                 extra_data = jsonb_set(coalesce(extra_data, '{{}}'::jsonb), '{{successor}}', $11::jsonb) \
                 WHERE jti = $1 AND (purpose = 'refresh' AND subject = $3 AND expires_at > now()) IS TRUE \
                 AND EXISTS (SELECT 1 FROM session) RETURNING 1), \
             sibling AS (SELECT extra_data -> 'successor' AS successor FROM {t} WHERE jti = $1 AND $4 > 0 AND (purpose = 'refresh_used' \
                 AND subject = $3 AND updated_at >= now() - make_interval(secs => $4)) IS TRUE \
                 AND EXISTS (SELECT 1 FROM session)), \
             ok AS (SELECT 1 FROM used UNION ALL SELECT 1 FROM sibling), \
             inserted AS (INSERT INTO {t} ({NEW_COLUMNS}) {} \
                 WHERE EXISTS (SELECT 1 FROM used)), \
             touched AS (UPDATE {t} SET updated_at = now(), extra_data = \
                 jsonb_set(coalesce(extra_data, '{{}}'::jsonb), '{{last_seen_at}}', to_jsonb(now())) \
                 WHERE jti = $2 AND EXISTS (SELECT 1 FROM ok))",
            unnest_rows(5)
        );
        let rotate_select = format!(
            "SELECT EXISTS (SELECT 1 FROM used) AS rotated, \
                 EXISTS (SELECT 1 FROM sibling) AS sibling, \
                 (SELECT successor FROM sibling) AS successor, \
                 (SELECT purpose FROM {t} WHERE jti = $1 AND (subject = $3) IS TRUE) AS old_purpose, \
                 EXISTS (SELECT 1 FROM session) AS session_live"
        );
        let revoke_all_and_keys = format!(
            "WITH keys AS ({}) UPDATE {t} SET {REVOKE_ALL_SET} \
             WHERE {REVOKE_ALL_WHERE} AND {}",
            crate::api_keys::revoke_all(k),
            in_tenant(5)
        );
        let common = TokenStatements {
            lookup: format!("SELECT {} FROM {}", ops::lookup_columns(true), lookup_from(t, true))
                .into(),
            lookup_token: format!(
                "SELECT {} FROM {}",
                ops::lookup_columns(false),
                lookup_from(t, false)
            )
            .into(),
            list_sessions: format!(
                "SELECT {COLUMNS} FROM {t} WHERE subject = $1 AND purpose = 'session' AND expires_at > $2"
            )
            .into(),
            live_tokens: format!(
                "SELECT {COLUMNS} FROM {t} WHERE subject = $1 AND purpose = $3 AND expires_at > $2"
            )
            .into(),
            // $2: only this one; $3: all but this one; both NULL: all.
            end_sessions: format!(
                "UPDATE {t} SET purpose = 'revocation', updated_at = now() \
                 WHERE subject = $1 AND purpose = 'session' \
                 AND ($2::text IS NULL OR jti = $2) AND ($3::text IS NULL OR jti <> $3)"
            )
            .into(),
            end_session: format!(
                "UPDATE {t} SET purpose = 'revocation', updated_at = now() \
                 WHERE jti = $2 AND subject = $1 AND purpose = 'session' AND $3::text IS NULL"
            )
            .into(),
            // A revocation row is never turned back into a live one: the
            // update's WHERE skips it and RETURNING yields no row.
            upsert: format!(
                "INSERT INTO {t} ({NEW_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (jti) DO UPDATE SET subject = EXCLUDED.subject, \
                 expires_at = EXCLUDED.expires_at, purpose = EXCLUDED.purpose, \
                 extra_data = EXCLUDED.extra_data, tenant = EXCLUDED.tenant, updated_at = now() \
                 WHERE {t}.purpose <> 'revocation' RETURNING 1"
            )
            .into(),
            get: format!(
                "SELECT {COLUMNS} FROM {t} WHERE jti = $1 AND expires_at > $2 \
                 AND ($3::text IS NULL OR purpose = $3)"
            )
            .into(),
            // Concurrent revocations of one jti serialise on the row: the
            // first inserts or flips it, the others find a revocation and
            // return no row.
            revoke: format!(
                "INSERT INTO {t} ({NEW_COLUMNS}) \
                 VALUES ($1, $2, $3, 'revocation', NULL, $4) \
                 ON CONFLICT (jti) DO UPDATE SET purpose = 'revocation', \
                 subject = EXCLUDED.subject, expires_at = EXCLUDED.expires_at, \
                 tenant = EXCLUDED.tenant, \
                 extra_data = NULL, updated_at = now() \
                 WHERE {t}.purpose <> 'revocation' RETURNING 1"
            )
            .into(),
            is_revoked: format!(
                "SELECT EXISTS (SELECT 1 FROM {t} WHERE jti = $1 AND purpose = 'revocation')"
            )
            .into(),
            revoke_all: format!(
                "UPDATE {t} SET {REVOKE_ALL_SET} WHERE {REVOKE_ALL_WHERE} AND {}",
                in_tenant(5)
            )
            .into(),
            // The partial (tenant, subject) index finds a tenant's rows.
            revoke_tenant: format!(
                "UPDATE {t} SET purpose = 'revocation', \
                 expires_at = expires_at + make_interval(secs => $2), updated_at = now() \
                 WHERE tenant = $1 AND purpose <> 'revocation'"
            )
            .into(),
            read_expired: format!(
                "SELECT {COLUMNS} FROM {t} WHERE expires_at < now() ORDER BY expires_at LIMIT $1"
            )
            .into(),
            insert: format!("INSERT INTO {t} ({NEW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)")
            .into(),
        };
        // After the write's own parameters: the revocation binds four, the
        // revocations of a subject five (`now` binds none).
        let revoke_audited = with_events(tables.events, 5, &common.revoke).into();
        let revoke_all_audited = with_events(tables.events, 6, &common.revoke_all).into();
        let revoke_all_and_keys_audited =
            with_events(tables.events, 6, &revoke_all_and_keys).into();
        let end_sessions_audited =
            with_events_if_any(tables.events, 4, &common.end_sessions).into();
        let end_session_audited = with_events_if_any(tables.events, 4, &common.end_session).into();
        Self {
            common,
            insert_many: format!("INSERT INTO {t} ({NEW_COLUMNS}) {}", unnest_rows(1)).into(),
            // With a sign-in's events at $7-$14, in the same statement.
            insert_many_audited: with_events(
                tables.events,
                7,
                &format!("INSERT INTO {t} ({NEW_COLUMNS}) {}", unnest_rows(1)),
            )
            .into(),
            // A single-use token spent and a sign-in's rows inserted, both
            // or neither: a concurrent redemption waits for the row lock,
            // then finds it spent.
            redeem: format!(
                "WITH spent AS (UPDATE {t} SET purpose = 'revocation', updated_at = now() \
                     WHERE jti = $7 AND subject = $8 AND purpose = $9 AND expires_at > now() \
                     RETURNING 1), \
                 issued AS (INSERT INTO {t} ({NEW_COLUMNS}) \
                     SELECT r.* FROM ({}) r WHERE EXISTS (SELECT 1 FROM spent)) \
                 SELECT EXISTS (SELECT 1 FROM spent)",
                unnest_rows(1)
            )
            .into(),
            // The refresh rotation, one statement: the used row is marked
            // with its successor (or, within the grace, left as it was and
            // its successor returned: no new row), the new rows are
            // inserted and the session's last_seen_at moves, all only while
            // the session is live. The outer SELECT reports what was seen
            // (its snapshot is the statement's start: a concurrent winner's
            // write shows as `refresh` with nothing done, and the caller asks
            // again). $1 old jti, $2 sid, $3 subject, $4 grace seconds, $5-$10
            // the new rows, $11 the successor.
            // Every row is found by its primary key: the other conditions
            // sit inside `(…) IS TRUE`, which no index serves, so the
            // planner cannot trade the key for the (subject, purpose) index
            // (a subject with thousands of used refresh rows made that
            // O(rows)); a concurrent update still re-checks all of them.
            // No grace (`$4` = 0) means no sibling, as in `Rotation::decide`.
            // Comparing times would not do: `now()` is taken when the
            // transaction starts, before its snapshot, so a concurrent
            // winner can commit a later `updated_at` in between.
            // `rotate_audited`: with the rotation's events at $12-$19,
            // inserted only when it rotated.
            rotate: format!("{rotate_with} {rotate_select}").into(),
            rotate_audited: format!(
                "{rotate_with}, ev AS ({}) {rotate_select}",
                crate::events::insert_events(tables.events, 12, Some("used"))
            )
            .into(),
            // One expunger per table at a time (a transaction-scoped advisory
            // try-lock on the table's oid, so same-named tables in other
            // schemas do not share it: the others delete nothing and never wait). Batches walk
            // the expires_at index from the previous batch's last value and
            // delete by ctid, so no batch rescans the table or the rows of
            // earlier batches.
            delete_expired: format!(
                "WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtext('auth_postgres_expunge:' || $3::regclass::oid::text)) AS got), \
                 batch AS (SELECT ctid FROM {t} WHERE (SELECT got FROM lock) AND expires_at < now() \
                 AND expires_at >= $1 ORDER BY expires_at LIMIT $2), \
                 gone AS (DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM batch)) RETURNING expires_at) \
                 SELECT count(*) AS deleted, max(expires_at) AS last FROM gone"
            )
            .into(),
            revoke_all_and_keys: revoke_all_and_keys.into(),
            revoke_audited,
            revoke_all_audited,
            revoke_all_and_keys_audited,
            end_sessions_audited,
            end_session_audited,
            table: t.to_owned(),
            keys: crate::api_keys::KeyQueries::new(k),
            attempts: crate::attempts::AttemptQueries::new(tables.attempts, tables.events),
            events: crate::events::EventQueries::new(tables.events),
            events_table: tables.events.to_owned(),
        }
    }
}

fn token_row(row: &PgRow) -> Result<TokenRow, sqlx::Error> {
    Ok(TokenRow {
        jti: row.try_get("jti")?,
        subject: row.try_get("subject")?,
        expires_at: row.try_get("expires_at")?,
        purpose: row.try_get("purpose")?,
        extra_data: row.try_get("extra_data")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        tenant: row.try_get("tenant")?,
    })
}

/// The columns a new row writes (the database sets the timestamps).
pub(crate) const NEW_COLUMNS: &str = "jti, subject, expires_at, purpose, extra_data, tenant";

/// `SELECT` of new rows bound as six arrays from parameter `$first` on.
pub(crate) fn unnest_rows(first: usize) -> String {
    let [a, b, c, d, e, f] = [0, 1, 2, 3, 4, 5].map(|i| first + i);
    format!(
        "SELECT * FROM unnest(${a}::text[], ${b}::text[], ${c}::timestamptz[], ${d}::text[], \
         ${e}::jsonb[], ${f}::text[])"
    )
}

/// New rows as the six arrays [`unnest_rows`] binds.
pub(crate) struct RowArrays {
    jti: Vec<String>,
    subject: Vec<String>,
    expires_at: Vec<DateTime<Utc>>,
    purpose: Vec<String>,
    extra_data: Vec<Option<serde_json::Value>>,
    tenant: Vec<Option<String>>,
}

impl RowArrays {
    pub(crate) fn new(rows: &[NewTokenRow]) -> Self {
        Self {
            jti: rows.iter().map(|r| r.jti.clone()).collect(),
            subject: rows.iter().map(|r| r.subject.clone()).collect(),
            expires_at: rows.iter().map(|r| r.expires_at).collect(),
            purpose: rows.iter().map(|r| r.purpose.clone()).collect(),
            extra_data: rows.iter().map(|r| r.extra_data.clone()).collect(),
            tenant: rows.iter().map(|r| r.tenant.clone()).collect(),
        }
    }

    pub(crate) fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        q.bind(self.jti)
            .bind(self.subject)
            .bind(self.expires_at)
            .bind(self.purpose)
            .bind(self.extra_data)
            .bind(self.tenant)
    }
}

/// One row whatever is found: `$1` the token's jti and, `with_session`,
/// `$2` its sid.
pub(crate) fn lookup_from(t: &str, with_session: bool) -> String {
    let session = if with_session {
        format!(" LEFT JOIN {t} s ON s.jti = $2")
    } else {
        String::new()
    };
    format!("(SELECT 1) one LEFT JOIN {t} t ON t.jti = $1{session}")
}

/// Reads what a lookup row holds of the token's row and, `with_session`,
/// of the session's, by position (`ops::lookup_columns`' order: the user,
/// if selected, comes after them).
pub(crate) fn lookup_rows(row: &PgRow, with_session: bool) -> Result<auth_core::Rows, sqlx::Error> {
    let token = match row.try_get::<Option<String>, _>(2)? {
        None => None,
        Some(purpose) => Some(TokenRowFacts {
            subject: row.try_get(0)?,
            expires_at: row.try_get(1)?,
            purpose,
            extra_data: row.try_get(3)?,
            created_at: row.try_get(4)?,
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
                expires_at: row.try_get(8)?,
                purpose: row.try_get(9)?,
                created_at: row.try_get(10)?,
                tenant: row.try_get(11)?,
            }),
        },
    };
    Ok(auth_core::Rows { token, session })
}

/// Purpose names as a `text[]`.
fn purpose_names(purposes: &[Purpose]) -> Vec<&str> {
    purposes.iter().map(Purpose::as_str).collect()
}

/// The bind values of a [`PurposeFilter`]: included purposes (`None`: all)
/// and excluded ones.
pub(crate) fn filter_params(filter: &PurposeFilter) -> (Option<Vec<&str>>, Vec<&str>) {
    (
        filter.include.as_deref().map(purpose_names),
        purpose_names(&filter.exclude),
    )
}

/// `sql` with `params` bound as PostgreSQL takes them: times as
/// `timestamptz`, JSON as `jsonb`, durations in seconds, purposes as
/// `text[]`; [`Param::Now`] binds nothing (the statements read the
/// database's `now()`).
fn query(
    sql: &Arc<str>,
    params: &[Param<'_>],
) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    params
        .iter()
        .fold(sqlx::query(auth_sql::sql(sql)), |q, p| match *p {
            Param::Text(t) => q.bind(t),
            Param::MaybeText(t) => q.bind(t),
            Param::Time(t) => q.bind(t),
            Param::Json(v) => q.bind(v),
            Param::Duration(d) => q.bind(d.as_secs_f64()),
            Param::Purposes(p) => q.bind(p.map(purpose_names)),
            Param::Limit(n) => q.bind(n),
            Param::Now => q,
        })
}

auth_sql::token_sql!(PgStore {
    queries: TokenQueries,
    reader: pool,
    query: query,
    token_row: token_row,
    lookup_rows: lookup_rows,
    db_err: db_err,
});

impl TokenStore for PgStore {
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
        // The events in the insert's own statement: one round trip.
        let query = if events.is_empty() {
            RowArrays::new(rows).bind(sqlx::query(sql(&q.insert_many)))
        } else {
            let rows = RowArrays::new(rows).bind(sqlx::query(sql(&q.insert_many_audited)));
            crate::events::bind_events(rows, events)
        };
        query
            .execute(&self.pool)
            .await
            .map_err(db_err("insert tokens"))?;
        Ok(())
    }

    async fn end_sessions(
        &self,
        subject: &str,
        which: Sessions<'_>,
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        if events.is_empty() {
            return ops::end_sessions(self, subject, which, events).await;
        }
        // One statement that also appends the events when it ended one.
        let q = self.token_queries();
        let params = ops::end_sessions_params(subject, which);
        let audited = match which {
            Sessions::One(_) => &q.end_session_audited,
            _ => &q.end_sessions_audited,
        };
        let ended: i64 = bind_events(query(audited, &params), events)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db_err("end sessions"))?;
        Ok(u64::try_from(ended).unwrap_or_default())
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

    /// With events, one statement that also appends them.
    async fn insert_revocation(
        &self,
        row: &NewTokenRow,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        if events.is_empty() {
            return ops::insert_revocation(self, row, events).await;
        }
        let q = self.token_queries();
        let params = ops::revocation_params(row);
        let written = bind_events(query(&q.revoke_audited, &params), events)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("revoke token"))?;
        Ok(written.is_some())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        ops::is_revoked(self, jti).await
    }

    /// One statement, with the events appended by it when there are any.
    async fn revoke_all_for_subject(
        &self,
        revoke: &RevokeAll<'_>,
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        let params = ops::revoke_all_params(revoke);
        let q = self.token_queries();
        let (plain, audited, what) = if revoke.api_keys {
            (
                &q.revoke_all_and_keys,
                &q.revoke_all_and_keys_audited,
                "revoke all and API keys",
            )
        } else {
            (
                &q.common.revoke_all,
                &q.revoke_all_audited,
                "revoke all for subject",
            )
        };
        let statement = if events.is_empty() {
            query(plain, &params)
        } else {
            // One statement that also appends the events.
            bind_events(query(audited, &params), events)
        };
        let done = statement.execute(&self.pool).await.map_err(db_err(what))?;
        Ok(done.rows_affected())
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
        // Expiry is decided by the database's `now()`, not this node's clock.
        let row = sqlx::query(sql(&q.delete_expired))
            .bind(from)
            .bind(limit(limit_to))
            .bind(&q.table)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("delete expired"))?;
        let deleted: i64 = row
            .try_get("deleted")
            .map_err(db_err("decode expunge row"))?;
        let last: Option<DateTime<Utc>> =
            row.try_get("last").map_err(db_err("decode expunge row"))?;
        tracing::debug!(table = %q.table, removed = deleted, "expunged a batch");
        Ok(ExpungedBatch {
            deleted: u64::try_from(deleted).unwrap_or(0),
            last_expires_at: last,
        })
    }
}

impl RefreshStore for PgStore {
    async fn rotate_refresh(&self, rotation: &Rotation<'_>) -> Result<Rotated, StoreError> {
        let q = self.token_queries();
        // With events, they are a CTE of the rotation: one round trip.
        let statement = match rotation.events {
            [] => &q.rotate,
            _ => &q.rotate_audited,
        };
        let query = sqlx::query(sql(statement))
            .bind(rotation.old_jti)
            .bind(rotation.sid)
            .bind(rotation.subject)
            .bind(rotation.reuse_grace.as_secs_f64());
        let query = RowArrays::new(rotation.new_rows)
            .bind(query)
            .bind(rotation.successor);
        let query = match rotation.events {
            [] => query,
            events => crate::events::bind_events(query, events),
        };
        let row = query
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("rotate refresh token"))?;
        let seen = (|| {
            Ok::<_, sqlx::Error>(Rotated {
                rotated: row.try_get("rotated")?,
                sibling: row.try_get("sibling")?,
                successor: row.try_get("successor")?,
                old_purpose: row.try_get("old_purpose")?,
                session_live: row.try_get("session_live")?,
            })
        })();
        seen.map_err(db_err("decode rotation row"))
    }

    async fn list_sessions(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<TokenRow>, StoreError> {
        ops::list_sessions(self, subject, now).await
    }
}

impl SingleUseStore for PgStore {
    async fn redeem(
        &self,
        redeem: &Redeem<'_>,
        new_rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let q = self.token_queries();
        let work = async |conn: &mut PgConnection| {
            let row = RowArrays::new(new_rows)
                .bind(sqlx::query(sql(&q.redeem)))
                .bind(redeem.jti)
                .bind(redeem.subject)
                .bind(redeem.purpose)
                .fetch_one(conn)
                .await?;
            row.try_get::<bool, _>(0)
        };
        self.audited(events, work, |spent| *spent)
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
