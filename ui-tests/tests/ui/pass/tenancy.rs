use auth_core::{Authenticated, TenancyStrategy, UserResource, token_resource};
use serde::{Deserialize, Serialize};

#[token_resource]
pub struct Token;

/// The tenant is a field of the user, of any `Serialize + Display` type.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password(), api_key(prefix = "org")),
    tenancy(strategy = attribute, field = org_id),
)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
    pub org_id: uuid::Uuid,
}

/// The tenant comes from the request; each sign-in is bound to one.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password()),
    add_ons(sessions()),
    tenancy(strategy = context),
)]
pub struct Person {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

fn main() {
    let org = uuid::Uuid::nil();
    let member = Member {
        id: 1,
        email: "ada@example.com".into(),
        hashed_password: String::new(),
        org_id: org,
    };
    assert_eq!(member.tenant(), Some(org.to_string()));
    let strategy = |t: Option<auth_core::TenancyConfig>| t.map(|t| t.strategy);
    assert_eq!(strategy(Member::settings().tenancy), Some(TenancyStrategy::Attribute));
    assert_eq!(strategy(Person::settings().tenancy), Some(TenancyStrategy::Context));
    let person = Person {
        id: 1,
        email: "ada@example.com".into(),
        hashed_password: String::new(),
    };
    assert_eq!(person.tenant(), None);
}
