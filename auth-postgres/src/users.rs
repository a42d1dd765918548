//! The user store in SQL, for any user struct: rows go in and out through the
//! struct's serde form (`jsonb_populate_record` / `to_jsonb`), one column per
//! field; the hot lookups (authenticate, an API key) read the columns one by
//! one instead (`user_row`).

use auth_core::{
    AuditEvent, InsertUserError, NewTokenRow, PasswordChange, PasswordStore, PasswordUser, Redeem,
    Rows, SignInRows, StoreError, SubjectKey, TokenStore, UserResource, UserStore,
};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Row};

use crate::schema::pg_type;
use auth_sql::{identity_column, inserted, quote_column, stored_user, update_err, user_fields};

use crate::store::{PgStore, db_err};
use crate::tokens::{
    NEW_COLUMNS, REVOKE_ALL_SET, REVOKE_ALL_WHERE, RowArrays, filter_params, in_tenant,
    lookup_from, lookup_rows, unnest_rows,
};
use crate::user_row::UserRow;

fn from_json<U: UserResource>(value: Value) -> Result<U, StoreError> {
    stored_user(serde_json::from_value(value))
}

/// The user whose key is the parameter `$param`, as JSON.
fn by_key<U: UserResource>(table: &str, param: usize) -> String {
    format!(
        "SELECT to_json(u) FROM {table} u WHERE u.{} = ${param}::{}",
        quote_column(U::PRIMARY_KEY_FIELD),
        pg_type(<U::PrimaryKey as SubjectKey>::KIND)
    )
}

/// `LEFT JOIN` of the user table as `u`, on its key equal to the text
/// `value` (a parameter or a column).
fn join_user<U: UserResource>(table: &str, value: &str) -> String {
    format!(
        "LEFT JOIN {table} u ON u.{} = {value}::{}",
        quote_column(U::PRIMARY_KEY_FIELD),
        pg_type(<U::PrimaryKey as SubjectKey>::KIND)
    )
}

impl PgStore {
    /// An API key's row and its user's columns, one row or none, built
    /// once per reading of the user table.
    fn api_key_sql<U: UserResource>(
        &self,
        user: &UserRow,
    ) -> Result<std::sync::Arc<str>, StoreError> {
        user.statement(auth_sql::UserStatement::ApiKey, || {
            let k = &self.token_queries().keys.table;
            let users = self.user_table(U::SUBJECT_NAME)?;
            let sql = format!(
                "SELECT {}, {} FROM {k} k {} WHERE k.id = $1",
                crate::api_keys::COLUMNS
                    .split(", ")
                    .map(|c| format!("k.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                user.select(),
                join_user::<U>(&users, "k.user_key"),
            );
            Ok(sql)
        })
    }

    /// The authenticate query for `U` and the bound token table, built
    /// once per variant and reading of the user table: the token's row,
    /// with a session what verification reads of its row (`$2`), and the
    /// user's columns (its key the last parameter), one row always.
    fn authenticate_sql<U: UserResource>(
        &self,
        with_session: bool,
        user: &UserRow,
    ) -> Result<std::sync::Arc<str>, StoreError> {
        let which = auth_sql::UserStatement::authenticate(with_session);
        user.statement(which, || {
            let q = self.token_queries();
            let users = self.user_table(U::SUBJECT_NAME)?;
            let sql = format!(
                "SELECT {}, {} FROM {} {}",
                auth_sql::tokens::lookup_columns(with_session),
                user.select(),
                lookup_from(&q.table, with_session),
                join_user::<U>(&users, if with_session { "$3" } else { "$2" }),
            );
            Ok(sql)
        })
    }
}

/// The user insert (`$1`: the user as JSON) and the JSON object it binds.
fn insert_user_sql<U: UserResource>(
    table: &str,
    user: &U,
) -> Result<(String, serde_json::Map<String, Value>), StoreError> {
    let row = user_fields(user)?;
    let columns: Vec<String> = row.keys().map(|k| quote_column(k)).collect();
    let columns = columns.join(", ");
    let sql = format!(
        "INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_record(NULL::{table}, $1)"
    );
    Ok((sql, row))
}

/// `col = r.col` for each field but the primary key, `r` being the row
/// `jsonb_populate_record` makes of the fields.
fn assignments<U: UserResource>(fields: &serde_json::Map<String, Value>) -> Vec<String> {
    fields
        .keys()
        .filter(|k| *k != U::PRIMARY_KEY_FIELD)
        .map(|k| {
            let c = quote_column(k);
            format!("{c} = r.{c}")
        })
        .collect()
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
        let identity_column = identity_column::<U>()?;
        let table = self.user_table(U::SUBJECT_NAME)?;
        let sql = format!("SELECT to_jsonb(u) FROM {table} u WHERE u.{identity_column} = $1");
        let value: Option<Value> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(identity)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("get user by identity"))?;
        value.map(from_json).transpose()
    }

    async fn insert_user(&self, user: &U) -> Result<(), InsertUserError> {
        let (insert, row) = insert_user_sql(&self.user_table(U::SUBJECT_NAME)?, user)?;
        // One statement: the unique indexes decide races between registrations.
        let done = sqlx::query(AssertSqlSafe(insert))
            .bind(Value::Object(row))
            .execute(&self.pool)
            .await;
        inserted(done.map(|_| ()), db_err("insert user"))
    }

    async fn insert_user_with_tokens(
        &self,
        user: &U,
        rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<(), InsertUserError> {
        let (insert, row) = insert_user_sql(&self.user_table(U::SUBJECT_NAME)?, user)?;
        let tokens = self.token_queries();
        // One statement: the token rows (and the registration's events)
        // are inserted only from the user insert's RETURNING, so all land
        // or none does.
        let events_cte = match events {
            [] => String::new(),
            _ => format!(
                ", ev AS ({})",
                crate::events::insert_events(&tokens.events_table, 8, Some("u"))
            ),
        };
        let sql = format!(
            "WITH u AS ({insert} RETURNING 1){events_cte} \
             INSERT INTO {} ({NEW_COLUMNS}) \
             SELECT r.* FROM ({}) r, u",
            tokens.table,
            unnest_rows(2)
        );
        let query = sqlx::query(AssertSqlSafe(sql)).bind(Value::Object(row));
        let query = RowArrays::new(rows).bind(query);
        let query = match events {
            [] => query,
            events => crate::events::bind_events(query, events),
        };
        inserted(
            query.execute(&self.pool).await.map(|_| ()),
            db_err("insert user"),
        )
    }

    async fn update_user(&self, user: &U) -> Result<bool, StoreError> {
        let table = self.user_table(U::SUBJECT_NAME)?;
        let row = user_fields(user)?;
        let pk = quote_column(U::PRIMARY_KEY_FIELD);
        let sets = assignments::<U>(&row);
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
            .map_err(update_err(db_err("update user")))?;
        Ok(done.rows_affected() > 0)
    }

    async fn apply_redeemed(
        &self,
        key: &U::PrimaryKey,
        fields: &serde_json::Map<String, Value>,
        redeem: &Redeem<'_>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let users = self.user_table(U::SUBJECT_NAME)?;
        let tokens = self.token_queries();
        let t = &tokens.table;
        let pk = quote_column(U::PRIMARY_KEY_FIELD);
        let key_type = pg_type(<U::PrimaryKey as SubjectKey>::KIND);
        let sets = assignments::<U>(fields);
        if sets.is_empty() {
            return Err(StoreError::msg("no field to apply"));
        }
        // One statement: the token spent, and the fields written only if it was.
        let sql = format!(
            "WITH spent AS (UPDATE {t} SET purpose = 'revocation', updated_at = now() \
                 WHERE jti = $3 AND subject = $4 AND purpose = $5 AND expires_at > now() RETURNING 1), \
             changed AS (UPDATE {users} u SET {} FROM jsonb_populate_record(NULL::{users}, $1) r \
                 WHERE u.{pk} = $2::{key_type} AND EXISTS (SELECT 1 FROM spent) RETURNING 1) \
             SELECT EXISTS (SELECT 1 FROM spent)",
            sets.join(", ")
        );
        let work = async |conn: &mut sqlx::PgConnection| {
            sqlx::query_scalar::<_, bool>(AssertSqlSafe(sql))
                .bind(Value::Object(fields.clone()))
                .bind(key.to_subject_value())
                .bind(redeem.jti)
                .bind(redeem.subject)
                .bind(redeem.purpose)
                .fetch_one(conn)
                .await
        };
        self.audited(events, work, |spent| *spent)
            .await
            .map_err(update_err(db_err("apply confirmed changes")))
    }

    /// One round trip: the token's row, its session's row and the user
    /// (decoded straight into `U`), in one query that always returns a row.
    async fn authenticate_lookup(
        &self,
        key: &U::PrimaryKey,
        jti: &str,
        sid: Option<&str>,
    ) -> Result<(Rows, Option<U>), StoreError>
    where
        Self: TokenStore,
    {
        let with_session = sid.is_some();
        let mut tries = 0;
        let (rows, user) = loop {
            tries += 1;
            let user = self.user_row::<U>().await?;
            let sql = self.authenticate_sql::<U>(with_session, &user)?;
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(jti);
            if let Some(sid) = sid {
                query = query.bind(sid);
            }
            let found = query
                .bind(key.to_subject_value())
                .fetch_one(&self.pool)
                .await;
            let row = match found {
                Err(e) if self.again::<U>(&e, tries) => continue,
                found => found.map_err(db_err("authenticate"))?,
            };
            let decode = || db_err("decode authenticate row");
            let rows = lookup_rows(&row, with_session).map_err(decode())?;
            let width = auth_sql::tokens::lookup_width(with_session);
            break (rows, user.get(&row, width).map_err(decode())?);
        };
        Ok((rows, user.map(from_json).transpose()?))
    }

    /// One round trip: the key's row and its user in one query.
    async fn api_key_lookup(
        &self,
        id: &str,
    ) -> Result<(Option<auth_core::ApiKeyRow>, Option<U>), StoreError>
    where
        Self: auth_core::ApiKeyStore,
    {
        self.key_and_user::<U>(id).await
    }
}

impl PgStore {
    pub(crate) async fn key_and_user<U: UserResource>(
        &self,
        id: &str,
    ) -> Result<(Option<auth_core::ApiKeyRow>, Option<U>), StoreError> {
        let mut tries = 0;
        let (user, row) = loop {
            tries += 1;
            let user = self.user_row::<U>().await?;
            let sql = self.api_key_sql::<U>(&user)?;
            let found = sqlx::query(AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&self.pool)
                .await;
            match found {
                Err(e) if self.again::<U>(&e, tries) => continue,
                found => break (user, found.map_err(db_err("authenticate API key"))?),
            }
        };
        let Some(row) = row else {
            return Ok((None, None));
        };
        let decode = || db_err("decode API key row");
        let key = crate::api_keys::key_row(&row).map_err(decode())?;
        let user = user.get(&row, crate::api_keys::WIDTH).map_err(decode())?;
        Ok((Some(key), user.map(from_json).transpose()?))
    }
}

impl<U: PasswordUser> PasswordStore<U> for PgStore {
    /// One statement: the user and the locked counters.
    async fn sign_in_lookup(
        &self,
        identity: &str,
        keys: &[String],
    ) -> Result<SignInRows<U>, StoreError> {
        let identity_column = identity_column::<U>()?;
        let table = self.user_table(U::SUBJECT_NAME)?;
        let a = &self.token_queries().attempts.table;
        let sql = format!(
            "SELECT (SELECT to_jsonb(u) FROM {table} u WHERE u.{identity_column} = $1) AS user, \
             l.keys, l.until FROM (SELECT array_agg(key) AS keys, array_agg(locked_until) AS until \
             FROM {a} WHERE key = ANY($2) AND locked_until > now()) l"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(identity)
            .bind(keys)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("sign-in lookup"))?;
        let user: Option<Value> = row
            .try_get("user")
            .map_err(db_err("decode sign-in lookup"))?;
        let keys: Option<Vec<String>> = row
            .try_get("keys")
            .map_err(db_err("decode sign-in lookup"))?;
        let until: Option<Vec<chrono::DateTime<chrono::Utc>>> = row
            .try_get("until")
            .map_err(db_err("decode sign-in lookup"))?;
        Ok(SignInRows {
            user: user.map(from_json).transpose()?,
            locked: keys
                .unwrap_or_default()
                .into_iter()
                .zip(until.unwrap_or_default())
                .collect(),
        })
    }

    async fn change_password(
        &self,
        change: &PasswordChange<'_, U::PrimaryKey>,
    ) -> Result<bool, StoreError> {
        let users = self.user_table(U::SUBJECT_NAME)?;
        let tokens = self.token_queries();
        let (hash, pk) = (
            quote_column(U::HASHED_PASSWORD_FIELD),
            quote_column(U::PRIMARY_KEY_FIELD),
        );
        let key_type = pg_type(<U::PrimaryKey as SubjectKey>::KIND);
        let (t, k) = (&tokens.table, &tokens.keys.table);
        // One statement: the compare-and-swap on the proved hash (only that
        // column), then, only if it happened, log out everywhere (and, when
        // asked, the API keys) and the new token's row. The CTEs share one snapshot, so the revocation does
        // not see the row inserted beside it.
        // With a token to redeem: its row is locked first (a concurrent
        // redemption waits, then sees it spent), the change requires it,
        // and it is spent only if the change happened.
        let sql = format!(
            "WITH tok AS (SELECT 1 FROM {t} WHERE jti = $14 AND subject = $15 \
                 AND purpose = $16 AND expires_at > now() FOR UPDATE), \
             changed AS (UPDATE {users} u SET {hash} = $7 \
                 WHERE u.{pk} = $5::{key_type} AND u.{hash} = $6 \
                 AND ($14::text IS NULL OR EXISTS (SELECT 1 FROM tok)) RETURNING 1), \
             spent AS (UPDATE {t} SET purpose = 'revocation', updated_at = now() \
                 WHERE jti = $14 AND EXISTS (SELECT 1 FROM changed)), \
             revoked AS (UPDATE {t} SET {REVOKE_ALL_SET} \
                 WHERE EXISTS (SELECT 1 FROM changed) AND {REVOKE_ALL_WHERE} AND {}), \
             keys AS (UPDATE {k} SET revoked = true WHERE $17 AND subject = $1 AND NOT revoked \
                 AND EXISTS (SELECT 1 FROM changed)), \
             issued AS (INSERT INTO {t} ({NEW_COLUMNS}) \
                 SELECT r.* FROM ({}) r WHERE EXISTS (SELECT 1 FROM changed)) \
             SELECT EXISTS (SELECT 1 FROM changed)",
            in_tenant(18),
            unnest_rows(8)
        );
        let (include, exclude) = change
            .revoke
            .map(|r| filter_params(r.filter))
            .unwrap_or_default();
        let query = sqlx::query(AssertSqlSafe(sql))
            .bind(change.revoke.map(|r| r.subject))
            .bind(include)
            .bind(exclude)
            .bind(change.revoke.map_or(0.0, |r| r.keep_for.as_secs_f64()))
            .bind(change.key.to_subject_value())
            .bind(change.current_hash)
            .bind(change.new_hash);
        let redeem = change.redeem;
        let work = async |conn: &mut sqlx::PgConnection| {
            let row = RowArrays::new(change.new_rows)
                .bind(query)
                .bind(redeem.map(|r| r.jti))
                .bind(redeem.map(|r| r.subject))
                .bind(redeem.map(|r| r.purpose))
                .bind(change.revoke.is_some_and(|r| r.api_keys))
                .bind(change.revoke.and_then(|r| r.tenant))
                .fetch_one(conn)
                .await?;
            row.try_get::<bool, _>(0)
        };
        self.audited(change.events, work, |changed| *changed)
            .await
            .map_err(db_err("change password"))
    }
}
