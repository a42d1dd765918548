//! How the hot lookups (authenticate, an API key) read a user: its table's
//! columns selected one by one from a join, each typed where the driver
//! decodes it as is and through its own `to_json` otherwise, then put
//! together into the same JSON object `to_json(u)` would give. Building a
//! whole row's JSON on the server was most of the distance between the
//! authenticate statement and its hand-written floor (BENCHMARKS.md,
//! table 10).
//!
//! The columns come from the catalogue, once per user table, so any user
//! type reads this way (derived or written by hand, with serde renames or
//! not). A statement that names a column since dropped fails with
//! `undefined_column`; the caller then forgets what it read and reads the
//! catalogue again ([`is_stale`]).

use std::sync::Arc;

use auth_core::{PerTable, StoreError};
use auth_sql::UserStatement;
use serde_json::{Map, Value};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgPool, Row};

use auth_sql::quote_column;

use crate::store::db_err;

/// How one column is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    /// `text`, `varchar`, `citext`, `uuid`: as text (`::text`, which
    /// prints each as its `to_json` string does).
    Text,
    /// `smallint`, `integer`, `bigint`: as `bigint`.
    Int,
    /// `boolean`.
    Bool,
    /// Anything else (`char(n)`, dates, numbers with a fraction, jsonb,
    /// enums, domains, arrays): `to_json` of the column alone.
    Json,
}

impl Read {
    fn of(type_name: &str) -> Self {
        match type_name {
            "text" | "varchar" | "citext" | "uuid" => Self::Text,
            "int2" | "int4" | "int8" => Self::Int,
            "bool" => Self::Bool,
            _ => Self::Json,
        }
    }

    fn select(self, column: &str) -> String {
        match self {
            Self::Text => format!("u.{column}::text"),
            Self::Int => format!("u.{column}::bigint"),
            Self::Bool => format!("u.{column}"),
            Self::Json => format!("to_json(u.{column})"),
        }
    }

    fn get(self, row: &PgRow, at: usize) -> Result<Value, sqlx::Error> {
        Ok(match self {
            Self::Text => row.try_get::<Option<String>, _>(at)?.map(Value::String),
            Self::Int => row.try_get::<Option<i64>, _>(at)?.map(Value::from),
            Self::Bool => row.try_get::<Option<bool>, _>(at)?.map(Value::Bool),
            Self::Json => row.try_get::<Option<Json<Value>>, _>(at)?.map(|Json(v)| v),
        }
        .unwrap_or(Value::Null))
    }
}

/// A user table's columns as a statement selects them (from the table
/// joined as `u`) and how each is read back, with the statements built
/// from them: a statement and the columns it is decoded by are always of
/// the same reading of the catalogue.
#[derive(Debug)]
pub(crate) struct UserRow {
    columns: Vec<(String, Read)>,
    /// The position of the primary key among `columns`: null when the
    /// join found no user.
    key: usize,
    statements: PerTable<UserStatement, Arc<str>>,
}

impl UserRow {
    /// The columns of `table` (quoted as the store quotes it), from the
    /// catalogue; `key` is the primary key's column.
    pub(crate) async fn of(pool: &PgPool, table: &str, key: &str) -> Result<Self, StoreError> {
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.attname::text, t.typname::text FROM pg_attribute a \
             JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .map_err(db_err("read the user table's columns"))?;
        Self::from_catalogue(found, table, key)
    }

    fn from_catalogue(
        found: Vec<(String, String)>,
        table: &str,
        key: &str,
    ) -> Result<Self, StoreError> {
        let columns: Vec<(String, Read)> = found
            .into_iter()
            .map(|(name, ty)| (name, Read::of(&ty)))
            .collect();
        let key = columns
            .iter()
            .position(|(name, _)| name == key)
            .ok_or_else(|| {
                StoreError::msg(format!(
                    "the user table {table} has no column `{key}` (the user's primary key)"
                ))
            })?;
        Ok(Self {
            columns,
            key,
            statements: PerTable::default(),
        })
    }

    /// The statement `which` selecting these columns, built by `make` on
    /// first use.
    pub(crate) fn statement(
        &self,
        which: UserStatement,
        make: impl FnOnce() -> Result<String, StoreError>,
    ) -> Result<Arc<str>, StoreError> {
        self.statements
            .get_or_try_insert(&which, || Ok((which, make()?.into())))
    }

    /// The select list: one expression per column, in the catalogue's
    /// order, named `u_0`, `u_1`, … (apart from the columns beside them).
    pub(crate) fn select(&self) -> String {
        self.columns
            .iter()
            .enumerate()
            .map(|(at, (name, read))| format!("{} AS u_{at}", read.select(&quote_column(name))))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The user in `row` from position `first` on, as `to_json(u)` gives
    /// it; `None` when the join found none.
    pub(crate) fn get(&self, row: &PgRow, first: usize) -> Result<Option<Value>, sqlx::Error> {
        let mut user = Map::with_capacity(self.columns.len());
        for (at, (name, read)) in self.columns.iter().enumerate() {
            let value = read.get(row, first + at)?;
            if at == self.key && value.is_null() {
                return Ok(None);
            }
            user.insert(name.clone(), value);
        }
        Ok(Some(Value::Object(user)))
    }
}

/// The statement named a column the table no longer has (dropped while
/// this store ran): read the catalogue again and retry.
pub(crate) fn is_stale(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("42703"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_is_read_as_to_json_prints_it() {
        assert_eq!(Read::of("uuid"), Read::Text);
        assert_eq!(Read::of("citext"), Read::Text);
        assert_eq!(Read::of("int4"), Read::Int);
        // `char(n)::text` drops the padding `to_json` keeps.
        assert_eq!(Read::of("bpchar"), Read::Json);
        assert_eq!(Read::of("float8"), Read::Json);
        assert_eq!(Read::of("timestamptz"), Read::Json);
        assert_eq!(Read::Text.select("\"id\""), "u.\"id\"::text");
    }

    #[test]
    fn a_table_without_its_key_column_is_an_error() {
        let found = vec![("id".to_owned(), "uuid".to_owned())];
        let e = UserRow::from_catalogue(found.clone(), "users", "key").unwrap_err();
        assert!(e.to_string().contains("no column `key`"), "{e}");
        assert_eq!(
            UserRow::from_catalogue(found, "users", "id").unwrap().key,
            0
        );
    }
}
