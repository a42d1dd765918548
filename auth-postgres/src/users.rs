//! The user store in SQL, for any user struct: rows go in and out through the
//! struct's serde form (`jsonb_populate_record` / `to_jsonb`), one column per field.

use auth_core::{
    InsertUserError, Presence, StoreError, SubjectKey, TokenStore, UserResource, UserStore,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row};

use crate::store::{PgStore, db_err, quote_column};

fn from_json<U: UserResource>(value: Value) -> Result<U, StoreError> {
    serde_json::from_value(value)
        .map_err(|e| StoreError::new("stored user does not deserialize", e))
}

fn to_json<U: UserResource>(user: &U) -> Result<serde_json::Map<String, Value>, StoreError> {
    match serde_json::to_value(user) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(StoreError::msg("a user must serialize to a JSON object")),
        Err(e) => Err(StoreError::new("user does not serialize", e)),
    }
}

fn by_key<U: UserResource>(table: &str, param: usize) -> String {
    format!(
        "SELECT to_jsonb(u) FROM {table} u WHERE u.{} = ${param}::{}",
        quote_column(U::PRIMARY_KEY_FIELD),
        <U::PrimaryKey as SubjectKey>::SQL_TYPE
    )
}

impl PgStore {
    /// The allow-list authenticate query for `U` and a token table, built once.
    fn authenticate_sql<U: UserResource>(
        &self,
        table: &str,
    ) -> Result<std::sync::Arc<str>, StoreError> {
        let key = (table.to_owned(), U::SUBJECT_NAME);
        if let Some(sql) = self.cached_sql(&key) {
            return Ok(sql);
        }
        let q = self.token_queries(table)?;
        let users = self.user_table(U::SUBJECT_NAME)?;
        let sql: std::sync::Arc<str> = format!(
            "SELECT t.extra_data, ({}) AS \"user\" FROM {} t \
             WHERE t.jti = $1 AND t.expires_at > $2 AND t.purpose = $3",
            by_key::<U>(&users, 4),
            q.table
        )
        .into();
        self.cache_sql(key, sql.clone());
        Ok(sql)
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

impl<U: UserResource> UserStore<U> for PgStore {
    async fn get_user(&self, key: &U::PrimaryKey) -> Result<Option<U>, StoreError> {
        let table = self.user_table(U::SUBJECT_NAME)?;
        let value: Option<Value> = sqlx::query_scalar(AssertSqlSafe(by_key::<U>(&table, 1)))
            .bind(key.to_subject_value())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("get user"))?;
        value.map(from_json).transpose()
    }

    async fn get_user_by_identity(&self, identity: &str) -> Result<Option<U>, StoreError> {
        let field = U::IDENTITY_FIELD
            .ok_or_else(|| StoreError::msg("this user resource has no identity field"))?;
        let table = self.user_table(U::SUBJECT_NAME)?;
        let sql = format!(
            "SELECT to_jsonb(u) FROM {table} u WHERE u.{} = $1",
            quote_column(field)
        );
        let value: Option<Value> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(identity)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("get user by identity"))?;
        value.map(from_json).transpose()
    }

    async fn insert_user(&self, user: &U) -> Result<(), InsertUserError> {
        let table = self.user_table(U::SUBJECT_NAME)?;
        let row = to_json(user)?;
        let columns: Vec<String> = row.keys().map(|k| quote_column(k)).collect();
        let columns = columns.join(", ");
        // One statement: the unique indexes decide races between registrations.
        let sql = format!(
            "INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_record(NULL::{table}, $1)"
        );
        match sqlx::query(AssertSqlSafe(sql))
            .bind(Value::Object(row))
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(InsertUserError::IdentityTaken),
            Err(e) => Err(InsertUserError::Store(db_err("insert user")(e))),
        }
    }

    async fn update_user(&self, user: &U) -> Result<bool, StoreError> {
        let table = self.user_table(U::SUBJECT_NAME)?;
        let row = to_json(user)?;
        let pk = quote_column(U::PRIMARY_KEY_FIELD);
        let sets: Vec<String> = row
            .keys()
            .filter(|k| *k != U::PRIMARY_KEY_FIELD)
            .map(|k| {
                let c = quote_column(k);
                format!("{c} = r.{c}")
            })
            .collect();
        if sets.is_empty() {
            return Ok(true);
        }
        let sql = format!(
            "UPDATE {table} u SET {} FROM jsonb_populate_record(NULL::{table}, $1) r WHERE u.{pk} = r.{pk}",
            sets.join(", ")
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(Value::Object(row))
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::new("identity is already taken", e)
                } else {
                    db_err("update user")(e)
                }
            })?;
        Ok(done.rows_affected() > 0)
    }

    /// One round trip: the token's `extra_data` and, in the same query, the
    /// user as a scalar subquery decoded straight into `U`. No row: no token.
    async fn get_presence_and_user(
        &self,
        key: &U::PrimaryKey,
        table: &str,
        jti: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Presence<U>>, StoreError>
    where
        Self: TokenStore,
    {
        let sql = self.authenticate_sql::<U>(table)?;
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(jti)
            .bind(now)
            .bind(purpose)
            .bind(key.to_subject_value())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("authenticate"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let decode = || db_err("decode authenticate row");
        let extra_data: Option<Value> = row.try_get("extra_data").map_err(decode())?;
        let user: Option<Json<U>> = row.try_get("user").map_err(decode())?;
        Ok(Some(Presence {
            extra_data,
            user: user.map(|Json(u)| u),
        }))
    }
}
