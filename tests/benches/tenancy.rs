//! Tenancy's cost on the authenticate path: a tenant-bound resource's
//! `authenticate_in(token, Some(&tenant))` against the same resource
//! without tenancy (`settings.tenancy = None`, tokens without a tenant)
//! authenticating with `authenticate`, interleaved in one run on one
//! PostgreSQL, allow-list mode with sessions (the token's row, its
//! session's and the user in one statement). Attribute tenancy (the
//! tenant a field of the user) and context tenancy (the session's).
//!
//! `cargo bench -p auth-tests --bench tenancy` (needs PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use auth_core::{
    Auth, Authenticated, HashCost, Secret, SignInContext, Tenant, UserResource, token_resource,
};
use auth_postgres::PgStore;
use auth_tests::bench::interleave;
use auth_tests::conformance::Fixture as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
    add_ons(sessions()),
    tenancy(strategy = attribute, field = org),
)]
pub struct Member {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub org: String,
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, store_all_tokens, require_token_presence_for_authentication),
    strategies(password()),
    add_ons(sessions()),
    tenancy(strategy = context),
)]
pub struct Person {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
}

const SECRET: &str = "tenancy-bench-secret-0123456789abcdef0123456789abcdef";

fn auth<U: Authenticated>(store: PgStore, tenancy: bool) -> Arc<Auth<U, PgStore>> {
    let mut settings = U::settings();
    if !tenancy {
        settings.tenancy = None;
    }
    Arc::new(
        Auth::with_secret(settings, &Secret::from(SECRET), store)
            .unwrap()
            .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
            .unwrap(),
    )
}

/// Both runtimes' tokens for `user` (stored by `with`), the tenant-bound
/// one signed in to `tenant`.
async fn tokens<U: Authenticated>(
    store: &PgStore,
    user: U,
    tenant: &Tenant,
) -> [(Arc<Auth<U, PgStore>>, Arc<str>, Option<Tenant>); 2] {
    use auth_core::UserStore;
    let (with, without) = (
        auth::<U>(store.clone(), true),
        auth::<U>(store.clone(), false),
    );
    store.insert_user(&user).await.unwrap();
    let ctx = SignInContext::default().tenant(tenant.clone());
    let bound = with.sign_in(user.clone(), ctx).await.unwrap();
    let plain = without
        .sign_in(user, SignInContext::default())
        .await
        .unwrap();
    assert!(bound.token.claims.tenant.is_some() && plain.token.claims.tenant.is_none());
    [
        (with, bound.token.token.into(), Some(tenant.clone())),
        (without, plain.token.token.into(), None),
    ]
}

async fn compare<U: Authenticated>(store: &PgStore, name: &str, user: U) {
    let acme = Tenant::new("acme").unwrap();
    let [with, without] = tokens(store, user, &acme).await;
    for tasks in [1, 16] {
        let op = |(auth, token, tenant): (Arc<Auth<U, PgStore>>, Arc<str>, Option<Tenant>)| {
            move || {
                let (auth, token, tenant) = (auth.clone(), token.clone(), tenant.clone());
                async move {
                    auth.authenticate_in(&token, tenant.as_ref()).await.unwrap();
                }
            }
        };
        let run = interleave(tasks, 15, 2_000, op(with.clone()), op(without.clone())).await;
        println!("| authenticate | {name} | {tasks} | {} |", run.cells());
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = auth_tests::pg::fresh_db().await;
        db.create_user_table::<Member>().await;
        db.create_user_table::<Person>().await;
        let store: PgStore = db.store.clone();
        println!("| path | tenancy | tasks | with tenancy | without | median ratio (min–max) |");
        println!("|---|---|---|---|---|---|");
        let member = Member {
            id: Uuid::new_v4(),
            email: "ada@example.com".into(),
            hashed_password: String::new(),
            org: "acme".into(),
        };
        assert_eq!(member.tenant().as_deref(), Some("acme"));
        compare(&store, "attribute", member).await;
        let person = Person {
            id: Uuid::new_v4(),
            email: "bob@example.com".into(),
            hashed_password: String::new(),
        };
        compare(&store, "context", person).await;
    });
}
