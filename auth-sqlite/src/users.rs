//! The user store in SQLite, for any user struct: rows go in and out through
//! the struct's serde form, one column per field. The table's columns are
//! read once (`pragma_table_info`) and their declared types decide the
//! conversion: `BOOLEAN` columns hold 0/1 and come back as JSON booleans,
//! `JSON` columns hold JSON text, every other column holds the value itself.

use std::sync::Arc;

use auth_core::{
    AuditEvent, InsertUserError, NewTokenRow, PasswordChange, PasswordStore, PasswordUser, Redeem,
    Rows, SignInRows, StoreError, SubjectKey, TokenStore, UserResource, UserStore,
};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

use auth_sql::{
    identity_column, inserted, quote_column, quote_literal, stored_user, update_err, user_fields,
};

use crate::store::{SqliteStore, db_err};
use crate::tokens::{insert_rows, lookup_rows, lookup_sql, spend};

/// How a column's value converts to and from the user's JSON form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Stored as is (text, integer, real).
    Plain,
    /// `BOOLEAN`: 0/1.
    Bool,
    /// `JSON`: JSON text.
    Json,
}

impl Kind {
    fn of_declared(declared: &str) -> Self {
        let declared = declared.to_ascii_uppercase();
        if declared.contains("BOOL") {
            Self::Bool
        } else if declared.contains("JSON") {
            Self::Json
        } else {
            Self::Plain
        }
    }

    /// The column's value as JSON, for `json_object`.
    fn read(self, column: &str) -> String {
        match self {
            Self::Plain => column.to_owned(),
            Self::Bool => format!(
                "json(CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN 'true' ELSE 'false' END)"
            ),
            Self::Json => format!("json({column})"),
        }
    }

    /// The value to store from the field at JSON path `path` of `?1`.
    fn write(self, path: &str) -> String {
        match self {
            Self::Plain | Self::Bool => format!("json_extract(?1, {path})"),
            Self::Json => format!(
                "CASE WHEN json_type(?1, {path}) IN ('null') THEN NULL ELSE ?1 -> {path} END"
            ),
        }
    }
}

/// A user table as the store found it, with its statements.
#[derive(Debug)]
pub(crate) struct UserTable {
    name: String,
    columns: Vec<(String, Kind)>,
    /// `json_object(...)` of a row aliased `u`.
    pub(crate) as_json: String,
}

impl UserTable {
    fn new(name: String, columns: Vec<(String, Kind)>) -> Self {
        let pairs: Vec<String> = columns
            .iter()
            .map(|(c, kind)| {
                format!(
                    "{}, {}",
                    quote_literal(c),
                    kind.read(&format!("u.{}", quote_column(c)))
                )
            })
            .collect();
        let as_json = format!("json_object({})", pairs.join(", "));
        Self {
            name,
            columns,
            as_json,
        }
    }

    fn kind(&self, column: &str) -> Option<Kind> {
        self.columns
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, k)| *k)
    }

    /// `SELECT` of the user whose primary key is `?{param}`.
    pub(crate) fn by_key<U: UserResource>(&self, param: usize) -> String {
        self.by_key_of::<U>(&format!("?{param}"))
    }

    /// The user whose key is `value` (a parameter or a column), as JSON.
    pub(crate) fn by_key_of<U: UserResource>(&self, value: &str) -> String {
        format!(
            "SELECT {} FROM {} u WHERE u.{} = {value}",
            self.as_json,
            self.name,
            quote_column(U::PRIMARY_KEY_FIELD)
        )
    }

    /// The columns of `user` (its serialized keys) and the values written
    /// from `?1` (the user as JSON); a key without a column is an error.
    fn assignments(
        &self,
        user: &serde_json::Map<String, Value>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        user.keys()
            .map(|k| {
                let kind = self.kind(k).ok_or_else(|| {
                    StoreError::msg(format!(
                        "the user table {} has no column `{k}` for the user's field",
                        self.name
                    ))
                })?;
                let path = quote_literal(&format!("$.\"{}\"", k.replace('"', "\\\"")));
                Ok((quote_column(k), kind.write(&path)))
            })
            .collect()
    }

    /// The `UPDATE` writing `fields` (from `?1`, the fields as JSON) to the
    /// row whose primary key is `?2`; `None` when no field but the primary
    /// key is given.
    fn update_sql<U: UserResource>(
        &self,
        fields: &serde_json::Map<String, Value>,
    ) -> Result<Option<String>, StoreError> {
        let pk = quote_column(U::PRIMARY_KEY_FIELD);
        let sets: Vec<String> = self
            .assignments(fields)?
            .into_iter()
            .filter(|(c, _)| *c != pk)
            .map(|(c, v)| format!("{c} = {v}"))
            .collect();
        Ok((!sets.is_empty()).then(|| {
            format!(
                "UPDATE {} SET {} WHERE {pk} = ?2",
                self.name,
                sets.join(", ")
            )
        }))
    }

    fn insert_sql(&self, user: &serde_json::Map<String, Value>) -> Result<String, StoreError> {
        let (columns, values): (Vec<String>, Vec<String>) =
            self.assignments(user)?.into_iter().unzip();
        Ok(format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.name,
            columns.join(", "),
            values.join(", ")
        ))
    }
}

fn from_json<U: UserResource>(text: &str) -> Result<U, StoreError> {
    stored_user(serde_json::from_str(text))
}

impl SqliteStore {
    /// The user table of `U`, read from the database once.
    pub(crate) async fn user_table<U: UserResource>(&self) -> Result<Arc<UserTable>, StoreError> {
        if let Some(t) = self.user_tables().get(U::SUBJECT_NAME) {
            return Ok(t);
        }
        let name = self.user_table_name(U::SUBJECT_NAME)?;
        let bare = name.trim_matches('"').to_owned();
        let rows = sqlx::query("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
            .bind(&bare)
            .fetch_all(&self.reader)
            .await
            .map_err(db_err("read the user table's columns"))?;
        let columns = rows
            .iter()
            .map(|r| {
                let name: String = r.try_get("name")?;
                let declared: String = r.try_get("type")?;
                Ok((name, Kind::of_declared(&declared)))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db_err("read the user table's columns"))?;
        if columns.is_empty() {
            return Err(StoreError::msg(format!(
                "the user table {name} does not exist: create it (`SqliteStore::create_user_table`, \
                 or your own migration)"
            )));
        }
        let table = Arc::new(UserTable::new(name, columns));
        self.user_tables().insert(U::SUBJECT_NAME, table.clone());
        Ok(table)
    }

    /// The authenticate query for `U` and the bound token table, built
    /// once per variant: the token's row, with a session what verification
    /// reads of its row (`?2`), and the user (the last parameter), one row
    /// always.
    async fn authenticate_sql<U: UserResource>(
        &self,
        with_session: bool,
    ) -> Result<Arc<str>, StoreError> {
        let key = (
            U::SUBJECT_NAME,
            auth_sql::UserStatement::authenticate(with_session),
        );
        if let Some(sql) = self.sql_cache().get(&key) {
            return Ok(sql);
        }
        // The user table is read from the database first (async), then the
        // statement is built.
        let users = self.user_table::<U>().await?;
        self.sql_cache().get_or_try_insert(&key, || {
            let q = self.token_queries();
            let user = users.by_key::<U>(if with_session { 3 } else { 2 });
            let sql = lookup_sql(&q.table, Some(&user), with_session);
            Ok((key, sql.into()))
        })
    }
}

impl SqliteStore {
    /// An API key's row and its user, one row or none, built once per user
    /// resource.
    async fn api_key_sql<U: UserResource>(&self) -> Result<Arc<str>, StoreError> {
        let key = (U::SUBJECT_NAME, auth_sql::UserStatement::ApiKey);
        if let Some(sql) = self.sql_cache().get(&key) {
            return Ok(sql);
        }
        let users = self.user_table::<U>().await?;
        self.sql_cache().get_or_try_insert(&key, || {
            let k = &self.token_queries().keys.table;
            let columns = crate::api_keys::COLUMNS
                .split(", ")
                .map(|c| format!("k.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let user = users.by_key_of::<U>("k.user_key");
            let sql = format!("SELECT {columns}, ({user}) AS user FROM {k} k WHERE k.id = ?1");
            Ok((key, sql.into()))
        })
    }
}

impl<U: UserResource> UserStore<U> for SqliteStore {
    /// One query: the key's row and its user.
    async fn api_key_lookup(
        &self,
        id: &str,
    ) -> Result<(Option<auth_core::ApiKeyRow>, Option<U>), StoreError>
    where
        Self: auth_core::ApiKeyStore,
    {
        let sql = self.api_key_sql::<U>().await?;
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err("authenticate API key"))?;
        let Some(row) = row else {
            return Ok((None, None));
        };
        let decode = || db_err("decode API key row");
        let key = crate::api_keys::key_row(&row).map_err(decode())?;
        let user: Option<String> = row.try_get("user").map_err(decode())?;
        Ok((Some(key), user.as_deref().map(from_json).transpose()?))
    }

    async fn get_user(&self, key: &U::PrimaryKey) -> Result<Option<U>, StoreError> {
        let table = self.user_table::<U>().await?;
        let text: Option<String> = sqlx::query_scalar(AssertSqlSafe(table.by_key::<U>(1)))
            .bind(key.to_subject_value())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err("get user"))?;
        text.as_deref().map(from_json).transpose()
    }

    async fn get_user_by_identity(&self, identity: &str) -> Result<Option<U>, StoreError> {
        let identity_column = identity_column::<U>()?;
        let table = self.user_table::<U>().await?;
        let sql = format!(
            "SELECT {} FROM {} u WHERE u.{identity_column} = ?1",
            table.as_json, table.name
        );
        let text: Option<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(identity)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err("get user by identity"))?;
        text.as_deref().map(from_json).transpose()
    }

    async fn insert_user(&self, user: &U) -> Result<(), InsertUserError> {
        let table = self.user_table::<U>().await?;
        let row = user_fields(user)?;
        // One statement: the unique indexes decide races between registrations.
        let done = sqlx::query(AssertSqlSafe(table.insert_sql(&row)?))
            .bind(Value::Object(row).to_string())
            .execute(&self.writer)
            .await;
        inserted(done.map(|_| ()), db_err("insert user"))
    }

    async fn insert_user_with_tokens(
        &self,
        user: &U,
        rows: &[NewTokenRow],
        events: &[AuditEvent],
    ) -> Result<(), InsertUserError> {
        let table = self.user_table::<U>().await?;
        let tokens = self.token_queries();
        let row = user_fields(user)?;
        let insert = table.insert_sql(&row)?;
        // One transaction: the user and its rows land together or not at all.
        let insert_both = async |tx: &mut SqliteConnection, now| {
            let user_done = sqlx::query(AssertSqlSafe(insert))
                .bind(Value::Object(row).to_string())
                .execute(&mut *tx)
                .await
                .map(|_| ());
            if user_done.is_ok() {
                insert_rows(tx, tokens, rows, now).await?;
                self.append_events(tx, events).await?;
            }
            Ok(user_done)
        };
        let user_done = self
            .write(insert_both, Result::is_ok)
            .await
            .map_err(db_err("insert user"))?;
        inserted(user_done, db_err("insert user"))
    }

    async fn update_user(&self, user: &U) -> Result<bool, StoreError> {
        let table = self.user_table::<U>().await?;
        let row = user_fields(user)?;
        let Some(sql) = table.update_sql::<U>(&row)? else {
            return Ok(true);
        };
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(Value::Object(row).to_string())
            .bind(user.primary_key().to_subject_value())
            .execute(&self.writer)
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
        let table = self.user_table::<U>().await?;
        let tokens = self.token_queries();
        let update = table
            .update_sql::<U>(fields)?
            .ok_or_else(|| StoreError::msg("no field to apply"))?;
        // One transaction: the token spent and the fields written, or
        // neither.
        let spend_then_update = async |tx: &mut SqliteConnection, now| {
            let spent = spend(tx, tokens, redeem, now).await?;
            if spent {
                sqlx::query(AssertSqlSafe(update))
                    .bind(Value::Object(fields.clone()).to_string())
                    .bind(key.to_subject_value())
                    .execute(&mut *tx)
                    .await?;
                self.append_events(tx, events).await?;
            }
            Ok(spent)
        };
        self.write(spend_then_update, |spent| *spent)
            .await
            .map_err(update_err(db_err("apply confirmed changes")))
    }

    /// One query: the token's row, its session's row and the user.
    async fn authenticate_lookup(
        &self,
        key: &U::PrimaryKey,
        jti: &str,
        sid: Option<&str>,
    ) -> Result<(Rows, Option<U>), StoreError>
    where
        Self: TokenStore,
    {
        let sql = self.authenticate_sql::<U>(sid.is_some()).await?;
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(jti);
        if let Some(sid) = sid {
            query = query.bind(sid);
        }
        let row = query
            .bind(key.to_subject_value())
            .fetch_one(&self.reader)
            .await
            .map_err(db_err("authenticate"))?;
        let decode = || db_err("decode authenticate row");
        let rows = lookup_rows(&row, sid.is_some()).map_err(decode())?;
        let user: Option<String> = row
            .try_get(auth_sql::tokens::lookup_width(sid.is_some()))
            .map_err(decode())?;
        Ok((rows, user.as_deref().map(from_json).transpose()?))
    }
}

impl<U: PasswordUser> PasswordStore<U> for SqliteStore {
    /// One read: the user and the locked counters.
    async fn sign_in_lookup(
        &self,
        identity: &str,
        keys: &[String],
    ) -> Result<SignInRows<U>, StoreError> {
        let identity_column = identity_column::<U>()?;
        let table = self.user_table::<U>().await?;
        let a = &self.token_queries().attempts.table;
        let sql = format!(
            "SELECT (SELECT {} FROM {} u WHERE u.{identity_column} = ?1) AS user, \
             (SELECT json_group_array(json_array(key, locked_until)) FROM {a} \
             WHERE key IN (SELECT value FROM json_each(?2)) AND locked_until > ?3) AS locked",
            table.as_json, table.name
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(identity)
            .bind(crate::attempts::keys_json(keys))
            .bind(crate::store::micros(chrono::Utc::now()))
            .fetch_one(&self.reader)
            .await
            .map_err(db_err("sign-in lookup"))?;
        let user: Option<String> = row
            .try_get("user")
            .map_err(db_err("decode sign-in lookup"))?;
        let locked: String = row
            .try_get("locked")
            .map_err(db_err("decode sign-in lookup"))?;
        let locked: Vec<(String, i64)> = serde_json::from_str(&locked)
            .map_err(|e| db_err("decode sign-in lookup")(sqlx::Error::Decode(Box::new(e))))?;
        Ok(SignInRows {
            user: user.as_deref().map(from_json).transpose()?,
            locked: locked
                .into_iter()
                .map(|(key, until)| (key, crate::store::from_micros(until)))
                .collect(),
        })
    }

    async fn change_password(
        &self,
        change: &PasswordChange<'_, U::PrimaryKey>,
    ) -> Result<bool, StoreError> {
        let users = self.user_table::<U>().await?;
        let tokens = self.token_queries();
        let (hash, pk) = (
            quote_column(U::HASHED_PASSWORD_FIELD),
            quote_column(U::PRIMARY_KEY_FIELD),
        );
        let cas = format!(
            "UPDATE {} SET {hash} = ?3 WHERE {pk} = ?1 AND {hash} = ?2",
            users.name
        );
        // One transaction: the compare-and-swap on the proved hash (only
        // that column), then, only if it happened, log out everywhere and
        // the new rows.
        let change_then_revoke = async |tx: &mut SqliteConnection, now| {
            if let Some(redeem) = change.redeem
                && !spend(tx, tokens, &redeem, now).await?
            {
                return Ok(false);
            }
            let changed = sqlx::query(AssertSqlSafe(cas))
                .bind(change.key.to_subject_value())
                .bind(change.current_hash)
                .bind(change.new_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !changed {
                return Ok(false);
            }
            if let Some(revoke) = &change.revoke {
                crate::tokens::revoke_all(tx, tokens, revoke, now).await?;
            }
            insert_rows(tx, tokens, change.new_rows, now).await?;
            self.append_events(tx, change.events).await?;
            Ok(true)
        };
        self.write(change_then_revoke, |changed| *changed)
            .await
            .map_err(db_err("change password"))
    }
}
