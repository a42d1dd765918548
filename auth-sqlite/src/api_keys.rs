//! API keys in SQLite: the table beside the token table
//! (`<token table>_api_keys`); reads on the readers, each write one
//! statement on the writer, but for the insert under the per-user cap (one
//! `BEGIN IMMEDIATE` transaction: the count and the insert see the same
//! database). Times are microseconds since the Unix epoch, scopes JSON text.

use std::sync::Arc;

use auth_core::{ApiKeyRow, ApiKeyStore, AuditEvent, NewApiKey, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use auth_sql::{limit, sql};

use crate::store::{SqliteStore, db_err, from_micros, micros};

pub(crate) const COLUMNS: &str =
    "id, subject, name, scopes, secret_hash, created_at, expires_at, last_used_at, revoked";

/// The API-key statements of one token table, built once.
#[derive(Debug)]
pub(crate) struct KeyQueries {
    /// The quoted key table.
    pub(crate) table: String,
    insert: Arc<str>,
    get: Arc<str>,
    list: Arc<str>,
    revoke: Arc<str>,
    /// Revoke every live key of a subject: subject.
    pub(crate) revoke_all: Arc<str>,
    record_uses: Arc<str>,
    delete_dead: Arc<str>,
}

impl KeyQueries {
    /// The statements for the key table `k` (quoted).
    pub(crate) fn new(k: &str) -> Self {
        Self {
            table: k.to_owned(),
            insert: format!(
                "INSERT INTO {k} (id, subject, name, scopes, secret_hash, created_at, expires_at, user_key) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?8, ?6, ?9 WHERE (SELECT count(*) FROM {k} \
                 WHERE subject = ?2 AND NOT revoked AND expires_at > ?8) < ?7"
            )
            .into(),
            get: format!("SELECT {COLUMNS} FROM {k} WHERE id = ?1").into(),
            list: format!(
                "SELECT {COLUMNS} FROM {k} WHERE subject = ?1 AND NOT revoked AND expires_at > ?2 \
                 ORDER BY created_at, id"
            )
            .into(),
            revoke: format!(
                "UPDATE {k} SET revoked = 1 WHERE id = ?1 AND subject = ?2 AND NOT revoked"
            )
            .into(),
            revoke_all: format!("UPDATE {k} SET revoked = 1 WHERE subject = ?1 AND NOT revoked")
                .into(),
            delete_dead: format!(
                "DELETE FROM {k} WHERE id IN (SELECT id FROM {k} \
                 WHERE revoked OR expires_at <= ?1 LIMIT ?2)"
            )
            .into(),
            record_uses: format!(
                "UPDATE {k} SET last_used_at = max(coalesce(last_used_at, 0), u.at) \
                 FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS at \
                 FROM json_each(?1)) AS u WHERE {k}.id = u.id"
            )
            .into(),
        }
    }
}

pub(crate) fn key_row(row: &SqliteRow) -> Result<ApiKeyRow, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    let scopes: Vec<String> =
        serde_json::from_str(&scopes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let last_used: Option<i64> = row.try_get("last_used_at")?;
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        name: row.try_get("name")?,
        scopes,
        secret_hash: row.try_get("secret_hash")?,
        created_at: from_micros(row.try_get("created_at")?),
        expires_at: from_micros(row.try_get("expires_at")?),
        last_used_at: last_used.map(from_micros),
        revoked: row.try_get("revoked")?,
    })
}

impl ApiKeyStore for SqliteStore {
    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        max: usize,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let q = &self.token_queries().keys;
        let scopes = Value::from(key.scopes.clone()).to_string();
        let insert = async |tx: &mut sqlx::SqliteConnection, now| {
            let done = sqlx::query(sql(&q.insert))
                .bind(&key.id)
                .bind(&key.subject)
                .bind(&key.name)
                .bind(&scopes)
                .bind(&key.secret_hash)
                .bind(micros(key.expires_at))
                .bind(limit(max))
                .bind(micros(now))
                .bind(&key.user_key)
                .execute(&mut *tx)
                .await?;
            let inserted = done.rows_affected() == 1;
            if inserted {
                self.append_events(tx, events).await?;
            }
            Ok(inserted)
        };
        self.write(insert, |inserted| *inserted)
            .await
            .map_err(db_err("insert API key"))
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let q = &self.token_queries().keys;
        let row = sqlx::query(sql(&q.get))
            .bind(id)
            .fetch_optional(&self.reader)
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
            .bind(micros(now))
            .fetch_all(&self.reader)
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
            .bind(micros(Utc::now()))
            .bind(limit(limit_to))
            .execute(&self.writer)
            .await
            .map_err(db_err("delete dead API keys"))?;
        Ok(done.rows_affected())
    }

    async fn record_api_key_uses(
        &self,
        uses: &[(String, DateTime<Utc>)],
    ) -> Result<(), StoreError> {
        let q = &self.token_queries().keys;
        let batch: Vec<Value> = uses
            .iter()
            .map(|(id, at)| serde_json::json!([id, micros(*at)]))
            .collect();
        sqlx::query(sql(&q.record_uses))
            .bind(Value::Array(batch).to_string())
            .execute(&self.writer)
            .await
            .map_err(db_err("record API key uses"))?;
        Ok(())
    }
}
