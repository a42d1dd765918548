//! What a field's Rust type stores as: its [`FieldKind`] and whether it
//! may be null. Read by the derive (through `__private::ColumnOf`), by
//! subject keys, and by the SQL stores' `CREATE TABLE`. Depends on nothing
//! else in the crate.

/// What a field holds: what a store needs to choose a column type (each
/// store names the column types). A field's kind is its type's [`Column`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldKind {
    /// `Uuid`.
    Uuid,
    /// `String`, `str`, `HashedPassword`.
    Text,
    /// `i64`, `u32`.
    Int64,
    /// `i32`, `u16`, `i16`, `u8`, `i8`.
    Int32,
    /// `bool`.
    Bool,
    /// `f64`, `f32`.
    Float,
    /// `DateTime<Tz>` (serialized as RFC 3339 with its offset).
    DateTime,
    /// `NaiveDateTime`.
    NaiveDateTime,
    /// Anything else: stored as JSON (collections, enums, nested structs).
    Json,
}

/// What a Rust type stores as: its [`FieldKind`], and whether it may be
/// null (`Option`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnType {
    /// What it holds.
    pub kind: FieldKind,
    /// `None` is possible: the column is nullable.
    pub nullable: bool,
}

impl ColumnType {
    /// Not null, of this kind.
    pub const fn of(kind: FieldKind) -> Self {
        Self {
            kind,
            nullable: false,
        }
    }

    /// The same kind, nullable.
    pub const fn nullable(self) -> Self {
        Self {
            kind: self.kind,
            nullable: true,
        }
    }
}

/// A field type with a column type of its own. The derive asks every
/// field's type through this trait (rustc resolves it, so a type alias is
/// its target: `type Email = String` is text); a type without it is stored
/// as JSON (collections, enums, nested structs). Implement it for a
/// newtype of your own to store it otherwise.
pub trait Column {
    /// What the type stores as.
    const COLUMN: ColumnType;
}

macro_rules! columns {
    ($($kind:ident: $($ty:ty),+;)*) => {$($(
        impl Column for $ty {
            const COLUMN: ColumnType = ColumnType::of(FieldKind::$kind);
        }
    )+)*};
}

columns! {
    Uuid: uuid::Uuid;
    Text: String, str, crate::password::HashedPassword;
    Int64: i64, u32;
    Int32: i32, u16, i16, u8, i8;
    Bool: bool;
    Float: f64, f32;
    NaiveDateTime: chrono::NaiveDateTime;
}

impl<Tz: chrono::TimeZone> Column for chrono::DateTime<Tz> {
    const COLUMN: ColumnType = ColumnType::of(FieldKind::DateTime);
}

impl<T: Column> Column for Option<T> {
    const COLUMN: ColumnType = T::COLUMN.nullable();
}
