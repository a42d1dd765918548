//! What each field of a derived user stores as is rustc's answer, not a
//! reading of the type's spelling: an alias is its target, a newtype may
//! say, anything else is JSON, and `Option` is nullable.

use auth_core::{
    Authenticated, Column, ColumnType, FieldKind, HashedPassword, UserColumn, token_resource,
};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

type Email = String;
type Nickname = Option<String>;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Role {
    Admin,
    Member,
}

/// A newtype that says what it stores as.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Handle(String);

impl Column for Handle {
    const COLUMN: ColumnType = ColumnType::of(FieldKind::Text);
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
)]
pub struct User {
    pub id: uuid::Uuid,
    pub email: Email,
    pub hashed_password: HashedPassword,
    pub nickname: Nickname,
    pub role: Role,
    pub maybe_role: Option<Role>,
    pub tags: Vec<String>,
    pub handle: Handle,
    pub age: core::option::Option<i32>,
    pub seen: chrono::DateTime<chrono::Utc>,
    pub admin: bool,
}

#[test]
fn every_field_stores_as_its_type_says() {
    let columns: Vec<(&str, FieldKind, bool)> = UserColumn::of::<User>()
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.kind, c.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", FieldKind::Uuid, false),
            ("email", FieldKind::Text, false),
            ("hashed_password", FieldKind::Text, false),
            ("nickname", FieldKind::Text, true),
            ("role", FieldKind::Json, false),
            ("maybe_role", FieldKind::Json, true),
            ("tags", FieldKind::Json, false),
            ("handle", FieldKind::Text, false),
            ("age", FieldKind::Int32, true),
            ("seen", FieldKind::DateTime, false),
            ("admin", FieldKind::Bool, false),
        ]
    );
    let _ = (Role::Admin, Role::Member, Handle(String::new()));
}
