//! API keys in PostgreSQL: the table beside the token table
//! (`<token table>_api_keys`); each operation one statement, but for the
//! insert under the per-user cap (one transaction holding a per-subject
//! advisory lock, so concurrent creations never pass the cap).

use std::sync::Arc;

use auth_core::{ApiKeyRow, ApiKeyStore, AuditEvent, NewApiKey, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

use auth_sql::{limit, sql};

use crate::store::{PgStore, db_err};

pub(crate) const COLUMNS: &str =
    "id, subject, name, scopes, secret_hash, created_at, expires_at, last_used_at, revoked";

/// How many [`COLUMNS`]: where what a statement selects after them begins.
pub(crate) const WIDTH: usize = 9;

/// The API-key statements of one token table, built once.
#[derive(Debug)]
pub(crate) struct KeyQueries {
    /// The quoted key table.
    pub(crate) table: String,
    lock: Arc<str>,
    insert: Arc<str>,
    get: Arc<str>,
    list: Arc<str>,
    revoke: Arc<str>,
    revoke_all: Arc<str>,
    record_uses: Arc<str>,
    delete_dead: Arc<str>,
}

impl KeyQueries {
    /// The statements for the key table `k` (quoted).
    pub(crate) fn new(k: &str) -> Self {
        Self {
            table: k.to_owned(),
            lock: "SELECT pg_advisory_xact_lock(hashtextextended('auth_api_keys:' || $1, 0))"
                .into(),
            insert: format!(
                "INSERT INTO {k} (id, subject, name, scopes, secret_hash, expires_at, user_key) \
                 SELECT $1, $2, $3, $4, $5, $6, $8 WHERE (SELECT count(*) FROM {k} \
                 WHERE subject = $2 AND NOT revoked AND expires_at > now()) < $7"
            )
            .into(),
            get: format!("SELECT {COLUMNS} FROM {k} WHERE id = $1").into(),
            list: format!(
                "SELECT {COLUMNS} FROM {k} WHERE subject = $1 AND NOT revoked AND expires_at > $2 \
                 ORDER BY created_at, id"
            )
            .into(),
            revoke: format!(
                "UPDATE {k} SET revoked = true WHERE id = $1 AND subject = $2 AND NOT revoked"
            )
            .into(),
            revoke_all: revoke_all(k).into(),
            delete_dead: format!(
                "DELETE FROM {k} WHERE id IN (SELECT id FROM {k} \
                 WHERE revoked OR expires_at <= now() LIMIT $1)"
            )
            .into(),
            record_uses: format!(
                "UPDATE {k} k SET last_used_at = greatest(k.last_used_at, u.at) \
                 FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id"
            )
            .into(),
        }
    }
}

/// Revoke every live key of the subject `$1` in the key table `k`.
pub(crate) fn revoke_all(k: &str) -> String {
    format!("UPDATE {k} SET revoked = true WHERE subject = $1 AND NOT revoked")
}

pub(crate) fn key_row(row: &PgRow) -> Result<ApiKeyRow, sqlx::Error> {
    let scopes: sqlx::types::Json<Vec<String>> = row.try_get("scopes")?;
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        name: row.try_get("name")?,
        scopes: scopes.0,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked: row.try_get("revoked")?,
    })
}

impl ApiKeyStore for PgStore {
    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        max: usize,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let q = &self.token_queries().keys;
        let err = db_err("insert API key");
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(sql(&q.lock))
            .bind(&key.subject)
            .execute(&mut *tx)
            .await
            .map_err(db_err("lock the user's API keys"))?;
        // A new snapshot after the lock: it sees every key a concurrent
        // creation committed before releasing it.
        let done = sqlx::query(sql(&q.insert))
            .bind(&key.id)
            .bind(&key.subject)
            .bind(&key.name)
            .bind(sqlx::types::Json(&key.scopes))
            .bind(&key.secret_hash)
            .bind(key.expires_at)
            .bind(limit(max))
            .bind(&key.user_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err("insert API key"))?;
        let inserted = done.rows_affected() == 1;
        if inserted && !events.is_empty() {
            self.append_events(&mut tx, events)
                .await
                .map_err(db_err("insert API key"))?;
        }
        tx.commit().await.map_err(db_err("insert API key"))?;
        Ok(inserted)
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let q = &self.token_queries().keys;
        let row = sqlx::query(sql(&q.get))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("get API key"))?;
        row.as_ref()
            .map(key_row)
            .transpose()
            .map_err(db_err("decode API key"))
    }

    async fn list_api_keys(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<ApiKeyRow>, StoreError> {
        let q = &self.token_queries().keys;
        let rows = sqlx::query(sql(&q.list))
            .bind(subject)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("list API keys"))?;
        rows.iter()
            .map(key_row)
            .collect::<Result<_, _>>()
            .map_err(db_err("decode API key"))
    }

    async fn revoke_api_key(
        &self,
        subject: &str,
        id: &str,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let q = &self.token_queries().keys;
        auth_sql::tokens::revoke_api_key(self, &q.revoke, subject, id, events).await
    }

    async fn revoke_api_keys(
        &self,
        subject: &str,
        events: &[AuditEvent],
    ) -> Result<u64, StoreError> {
        let q = &self.token_queries().keys;
        auth_sql::tokens::revoke_api_keys(self, &q.revoke_all, subject, events).await
    }

    async fn delete_dead_api_keys(&self, limit_to: usize) -> Result<u64, StoreError> {
        let q = &self.token_queries().keys;
        let done = sqlx::query(sql(&q.delete_dead))
            .bind(limit(limit_to))
            .execute(&self.pool)
            .await
            .map_err(db_err("delete dead API keys"))?;
        Ok(done.rows_affected())
    }

    async fn record_api_key_uses(
        &self,
        uses: &[(String, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        let q = &self.token_queries().keys;
        let (ids, ats): (Vec<&str>, Vec<DateTime<Utc>>) =
            uses.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
        sqlx::query(sql(&q.record_uses))
            .bind(ids)
            .bind(ats)
            .execute(&self.pool)
            .await
            .map_err(db_err("record API key uses"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_width_counts_the_columns() {
        assert_eq!(super::COLUMNS.split(", ").count(), super::WIDTH);
    }
}
