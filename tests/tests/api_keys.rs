//! The API-key flow on every store: create (shown once), authenticate
//! (scopes, expiry, revocation, a deleted user), list, revoke; the
//! adversarial cases (a bad checksum refused before any lookup, an unknown
//! id, the right id with a wrong secret, a key used as a JWT and a JWT as a
//! key); last-used recorded without a write per request; revoke against
//! concurrent uses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use auth_core::{
    ApiKeyConfig, ApiKeyRow, ApiKeyStore, Auth, Error, ExtraClaims, Lifetime, NewApiKey,
    StoreError, UserStore,
};
use auth_tests::{User, settings};

const SCOPES: &[&str] = &["reports:read", "reports:write"];

fn auth<S: ApiKeyStore + UserStore<User>>(store: S) -> Auth<User, S> {
    let mut s = settings(false);
    s.api_key = Some(ApiKeyConfig {
        scopes: Cow::Borrowed(SCOPES),
        max_per_user: 3,
        ..ApiKeyConfig::new("myapp")
    });
    Auth::from_settings(s, store).unwrap()
}

async fn the_flow<S>(store: S)
where
    S: ApiKeyStore + UserStore<User> + Clone + 'static,
{
    let auth = auth(store.clone());
    let ada = User::new("ada@example.com");
    store.insert_user(&ada).await.unwrap();

    // Created: the whole key once, in the scanner-recognisable format.
    let created = auth
        .create_api_key(&ada, "  nightly report  ", &["reports:read"], None)
        .await
        .unwrap();
    assert!(created.key.starts_with("myapp_"), "{}", created.key);
    assert!(
        !format!("{created:?}").contains(&created.key),
        "Debug hides the key"
    );
    assert_eq!(created.info.name, "nightly report");
    let in_90_days = chrono::Utc::now() + chrono::Duration::days(90);
    assert!((created.info.expires_at - in_90_days).num_seconds().abs() < 5);
    // The store holds a hash, not the secret.
    let row = store.get_api_key(&created.info.id).await.unwrap().unwrap();
    assert!(!created.key.contains(&row.secret_hash) && row.secret_hash.len() == 64);

    // Authenticated, with its scopes.
    let found = auth.authenticate_api_key(&created.key).await.unwrap();
    assert_eq!(found.user, ada);
    assert!(found.require_scope("reports:read").is_ok());
    assert!(matches!(
        found.require_scope("reports:write"),
        Err(Error::InsufficientScope(s)) if s == "reports:write"
    ));

    // Listed without any secret; the cap (3) refuses a fourth.
    let listed = auth.list_api_keys(&ada).await.unwrap();
    assert_eq!(listed, vec![created.info.clone()]);
    auth.create_api_key(&ada, "two", &[], None).await.unwrap();
    auth.create_api_key(&ada, "three", SCOPES, Some(Lifetime::from_secs(60)))
        .await
        .unwrap();
    assert!(matches!(
        auth.create_api_key(&ada, "four", &[], None).await,
        Err(Error::InvalidInput(m)) if m.contains("at most 3")
    ));
    // Bad input: a zero lifetime, an unknown scope, a scope twice, an empty name.
    assert!(matches!(
        auth.create_api_key(&ada, "x", &[], Some(Lifetime::from_secs(0)))
            .await,
        Err(Error::InvalidInput(_))
    ));
    for (name, scopes) in [
        ("x", &["admin"][..]),
        ("x", &["reports:read", "reports:read"][..]),
        ("  ", &[][..]),
        ("a\u{0}b", &[][..]),
    ] {
        assert!(matches!(
            auth.create_api_key(&ada, name, scopes, None).await,
            Err(Error::InvalidInput(_))
        ));
    }

    // Log out everywhere ends sign-ins, not keys.
    auth.token_for_user(&ada, ExtraClaims::new()).await.unwrap();
    auth.log_out_everywhere(&ada).await.unwrap();
    assert!(auth.authenticate_api_key(&created.key).await.is_ok());

    // Revoked: refused at once, and not listed; someone else's id is not found.
    let bob = User::new("bob@example.com");
    store.insert_user(&bob).await.unwrap();
    assert!(matches!(
        auth.revoke_api_key(&bob, &created.info.id).await,
        Err(Error::ApiKeyNotFound)
    ));
    auth.revoke_api_key(&ada, &created.info.id).await.unwrap();
    assert!(matches!(
        auth.authenticate_api_key(&created.key).await,
        Err(Error::InvalidApiKey)
    ));
    assert_eq!(auth.list_api_keys(&ada).await.unwrap().len(), 2);
    assert_eq!(auth.revoke_all_api_keys(&ada).await.unwrap(), 2);
    assert!(auth.list_api_keys(&ada).await.unwrap().is_empty());
}

async fn the_attacks<S>(store: S)
where
    S: ApiKeyStore + UserStore<User> + Clone + 'static,
{
    let auth = auth(store.clone());
    let ada = User::new("ada@example.com");
    store.insert_user(&ada).await.unwrap();
    let created = auth.create_api_key(&ada, "k", &[], None).await.unwrap();
    let key = created.key.clone();
    let refused = |r: Result<_, Error>| matches!(r, Err(Error::InvalidApiKey));

    // The right id with another secret (and a checksum made to match).
    let other = auth.create_api_key(&ada, "other", &[], None).await.unwrap();
    let parts: Vec<&str> = key.split('_').collect();
    let other_secret = other.key.split('_').nth(2).unwrap();
    let body = format!("{}_{}_{}", parts[0], parts[1], other_secret);
    let forged = auth_tests::with_key_checksum(&body);
    assert!(
        auth_core::PresentedKey::parse(&forged).is_ok(),
        "well formed"
    );
    assert!(refused(auth.authenticate_api_key(&forged).await));
    // An unknown id, well formed.
    let unknown_body = format!("myapp_{}_{}", "A".repeat(22), parts[2]);
    let unknown = auth_tests::with_key_checksum(&unknown_body);
    assert!(refused(auth.authenticate_api_key(&unknown).await));
    // Another application's prefix.
    let theirs_body = format!("theirs_{}_{}", parts[1], parts[2]);
    let theirs = auth_tests::with_key_checksum(&theirs_body);
    assert!(refused(auth.authenticate_api_key(&theirs).await));

    // An expired key (a lifetime of one second, waited out).
    let expired = auth
        .create_api_key(&ada, "old", &[], Some(Lifetime::from_secs(1)))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert!(refused(auth.authenticate_api_key(&expired.key).await));

    // A key as a JWT, a JWT as a key.
    assert!(auth.authenticate(&key).await.is_err());
    let jwt = auth
        .token_for_user(&ada, ExtraClaims::new())
        .await
        .unwrap()
        .token;
    assert!(refused(auth.authenticate_api_key(&jwt).await));

    // A key whose user is gone authenticates nobody.
    let ghost = User::new("ghost@example.com");
    store
        .insert_api_key(
            &NewApiKey {
                id: "G".repeat(22),
                subject: auth_core::UserResource::subject(&ghost),
                user_key: ghost.id.to_string(),
                name: "ghost".into(),
                scopes: vec![],
                secret_hash: "00".repeat(32),
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
            },
            3,
            &[],
        )
        .await
        .unwrap();
    let ghost_key = auth.create_api_key(&ghost, "g", &[], None).await.unwrap();
    assert!(refused(auth.authenticate_api_key(&ghost_key.key).await));
}

async fn uses_are_written_in_batches_at_most_once_per_interval<S>(store: S)
where
    S: ApiKeyStore + UserStore<User> + Clone + 'static,
{
    let auth = auth(store.clone());
    let ada = User::new("ada@example.com");
    store.insert_user(&ada).await.unwrap();
    let created = auth.create_api_key(&ada, "k", &[], None).await.unwrap();
    for _ in 0..20 {
        auth.authenticate_api_key(&created.key).await.unwrap();
    }
    assert_eq!(
        auth.pending_api_key_uses(),
        1,
        "one use remembered, nothing written"
    );
    let row = store.get_api_key(&created.info.id).await.unwrap().unwrap();
    assert_eq!(row.last_used_at, None);
    auth.flush_api_key_uses().await.unwrap();
    let row = store.get_api_key(&created.info.id).await.unwrap().unwrap();
    let used = row.last_used_at.expect("written by the flush");
    assert!((chrono::Utc::now() - used).num_seconds() < 5);
    // Within the interval nothing more is remembered.
    auth.authenticate_api_key(&created.key).await.unwrap();
    assert_eq!(auth.pending_api_key_uses(), 0);
    assert_eq!(
        auth.list_api_keys(&ada).await.unwrap()[0].last_used_at,
        Some(used)
    );
}

/// A revocation that returned is final: no use after it succeeds, while
/// uses race it (five trials of 16 uses).
async fn revoke_races_uses<S>(store: S)
where
    S: ApiKeyStore + UserStore<User> + Clone + 'static,
{
    let auth = Arc::new(auth(store.clone()));
    let ada = User::new("ada@example.com");
    store.insert_user(&ada).await.unwrap();
    for trial in 0..5 {
        let created = auth.create_api_key(&ada, "k", &[], None).await.unwrap();
        let key: Arc<str> = created.key.into();
        let after = Arc::new(AtomicUsize::new(0));
        let uses: Vec<_> = (0..16)
            .map(|_| {
                let (auth, key) = (auth.clone(), key.clone());
                tokio::spawn(async move { auth.authenticate_api_key(&key).await.is_ok() })
            })
            .collect();
        auth.revoke_api_key(&ada, &created.info.id).await.unwrap();
        for _ in 0..4 {
            if auth.authenticate_api_key(&key).await.is_ok() {
                after.fetch_add(1, Ordering::SeqCst);
            }
        }
        for u in uses {
            u.await.unwrap();
        }
        assert_eq!(after.load(Ordering::SeqCst), 0, "trial {trial}");
    }
}

auth_tests::on_every_store!(
    the_flow,
    the_attacks,
    uses_are_written_in_batches_at_most_once_per_interval,
    revoke_races_uses
);

/// A malformed key costs no lookup: the store is never asked.
#[tokio::test]
async fn a_bad_checksum_is_refused_before_any_lookup() {
    #[derive(Clone, Default)]
    struct Counting(auth_core::MemoryStore, Arc<AtomicUsize>);
    impl auth_core::TokenStore for Counting {
        fn token_table(&self) -> &str {
            self.0.token_table()
        }
        async fn upsert_token(&self, r: &auth_core::NewTokenRow) -> Result<bool, StoreError> {
            self.0.upsert_token(r).await
        }
        async fn insert_token(&self, r: &auth_core::NewTokenRow) -> Result<(), StoreError> {
            self.0.insert_token(r).await
        }
        async fn get_token(
            &self,
            j: &str,
            p: Option<&str>,
            n: chrono::DateTime<chrono::Utc>,
        ) -> Result<Option<auth_core::TokenRow>, StoreError> {
            self.0.get_token(j, p, n).await
        }
        async fn insert_revocation(
            &self,
            r: &auth_core::NewTokenRow,
            e: &[auth_core::AuditEvent],
        ) -> Result<bool, StoreError> {
            self.0.insert_revocation(r, e).await
        }
        async fn is_revoked(&self, j: &str) -> Result<bool, StoreError> {
            self.0.is_revoked(j).await
        }
        async fn revoke_all_for_subject(
            &self,
            r: &auth_core::RevokeAll<'_>,
            e: &[auth_core::AuditEvent],
        ) -> Result<u64, StoreError> {
            self.0.revoke_all_for_subject(r, e).await
        }
        async fn revoke_tenant(
            &self,
            tenant: &str,
            keep_for: std::time::Duration,
        ) -> Result<u64, StoreError> {
            self.0.revoke_tenant(tenant, keep_for).await
        }
        async fn read_expired(&self, l: usize) -> Result<Vec<auth_core::TokenRow>, StoreError> {
            self.0.read_expired(l).await
        }
        async fn delete_expired(
            &self,
            f: chrono::DateTime<chrono::Utc>,
            l: usize,
        ) -> Result<auth_core::ExpungedBatch, StoreError> {
            self.0.delete_expired(f, l).await
        }
        async fn lookup(&self, j: &str, s: Option<&str>) -> Result<auth_core::Rows, StoreError> {
            self.0.lookup(j, s).await
        }
        async fn insert_tokens(
            &self,
            r: &[auth_core::NewTokenRow],
            e: &[auth_core::AuditEvent],
        ) -> Result<(), StoreError> {
            self.0.insert_tokens(r, e).await
        }
        async fn end_sessions(
            &self,
            s: &str,
            w: auth_core::Sessions<'_>,
            e: &[auth_core::AuditEvent],
        ) -> Result<u64, StoreError> {
            self.0.end_sessions(s, w, e).await
        }
    }
    impl ApiKeyStore for Counting {
        async fn insert_api_key(
            &self,
            k: &NewApiKey,
            m: usize,
            e: &[auth_core::AuditEvent],
        ) -> Result<bool, StoreError> {
            self.0.insert_api_key(k, m, e).await
        }
        async fn get_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.get_api_key(id).await
        }
        async fn list_api_keys(
            &self,
            s: &str,
            n: chrono::DateTime<chrono::Utc>,
        ) -> Result<Vec<ApiKeyRow>, StoreError> {
            self.0.list_api_keys(s, n).await
        }
        async fn revoke_api_key(
            &self,
            s: &str,
            id: &str,
            e: &[auth_core::AuditEvent],
        ) -> Result<bool, StoreError> {
            self.0.revoke_api_key(s, id, e).await
        }
        async fn revoke_api_keys(
            &self,
            s: &str,
            e: &[auth_core::AuditEvent],
        ) -> Result<u64, StoreError> {
            self.0.revoke_api_keys(s, e).await
        }
        async fn record_api_key_uses(
            &self,
            u: &[(String, chrono::DateTime<chrono::Utc>)],
        ) -> Result<(), StoreError> {
            self.0.record_api_key_uses(u).await
        }
        async fn delete_dead_api_keys(&self, l: usize) -> Result<u64, StoreError> {
            self.0.delete_dead_api_keys(l).await
        }
    }
    impl UserStore<User> for Counting {
        async fn get_user(&self, k: &uuid::Uuid) -> Result<Option<User>, StoreError> {
            UserStore::<User>::get_user(&self.0, k).await
        }
        async fn get_user_by_identity(&self, i: &str) -> Result<Option<User>, StoreError> {
            UserStore::<User>::get_user_by_identity(&self.0, i).await
        }
        async fn insert_user(&self, u: &User) -> Result<(), auth_core::InsertUserError> {
            self.0.insert_user(u).await
        }
        async fn update_user(&self, u: &User) -> Result<bool, StoreError> {
            self.0.update_user(u).await
        }
        async fn apply_redeemed(
            &self,
            k: &uuid::Uuid,
            f: &serde_json::Map<String, serde_json::Value>,
            r: &auth_core::Redeem<'_>,
            e: &[auth_core::AuditEvent],
        ) -> Result<bool, StoreError> {
            UserStore::<User>::apply_redeemed(&self.0, k, f, r, e).await
        }
        async fn insert_user_with_tokens(
            &self,
            u: &User,
            r: &[auth_core::NewTokenRow],
            e: &[auth_core::AuditEvent],
        ) -> Result<(), auth_core::InsertUserError> {
            self.0.insert_user_with_tokens(u, r, e).await
        }
    }

    let store = Counting::default();
    let auth = auth(store.clone());
    let ada = User::new("ada@example.com");
    store.insert_user(&ada).await.unwrap();
    let key = auth.create_api_key(&ada, "k", &[], None).await.unwrap().key;
    let mut typo = key.clone().into_bytes();
    let i = typo.len() / 2;
    typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let before = store.1.load(Ordering::SeqCst);
    for bad in [
        typo.as_str(),
        &key[..key.len() - 1],
        "myapp_x_y_z",
        "",
        "Bearer",
    ] {
        assert!(matches!(
            auth.authenticate_api_key(bad).await,
            Err(Error::InvalidApiKey)
        ));
    }
    assert_eq!(
        store.1.load(Ordering::SeqCst),
        before,
        "no lookup for a malformed key"
    );
    auth.authenticate_api_key(&key).await.unwrap();
    assert_eq!(
        store.1.load(Ordering::SeqCst),
        before + 1,
        "one lookup for a well-formed key"
    );
}

/// Through the axum layer: a key in `X-Api-Key` or `Authorization: Bearer`
/// reaches `CurrentUser` and `ApiKey`; a token reaches `CurrentUser` only;
/// a route's scope refuses a key without it (403), a bad key is 401.
#[tokio::test]
async fn keys_and_tokens_through_the_same_layer() {
    use auth_core::http::axum::{ApiKey, AuthLayer, CurrentUser};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;

    async fn me(CurrentUser(me): CurrentUser<User>) -> String {
        format!("{} {}", me.user.email, me.claims.purpose)
    }
    async fn reports(ApiKey(key): ApiKey<User>) -> axum::response::Response {
        match key.require_scope("reports:read") {
            Ok(()) => "reports".into_response(),
            Err(e) => StatusCode::from_u16(auth_core::http::status_code(&e))
                .unwrap()
                .into_response(),
        }
    }

    let store = auth_core::MemoryStore::new();
    let auth = Arc::new(auth(store.clone()));
    let ada = User::new("ada@example.com");
    store.insert_user(&ada).await.unwrap();
    let reader = auth
        .create_api_key(&ada, "reader", &["reports:read"], None)
        .await
        .unwrap()
        .key;
    let writer = auth
        .create_api_key(&ada, "writer", &["reports:write"], None)
        .await
        .unwrap()
        .key;
    let token = auth
        .token_for_user(&ada, ExtraClaims::new())
        .await
        .unwrap()
        .token;
    let router = axum::Router::new()
        .route("/me", get(me))
        .route("/reports", get(reports))
        .layer(AuthLayer::optional(auth.clone()));
    let send = |uri: &str, header: Option<(&str, String)>| {
        let mut req = Request::builder().uri(uri);
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        let req = req.body(Body::empty()).unwrap();
        let mut svc = router.clone().into_service::<Body>();
        async move {
            std::future::poll_fn(|cx| tower_service::Service::poll_ready(&mut svc, cx))
                .await
                .unwrap();
            let res = tower_service::Service::call(&mut svc, req).await.unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let bearer = |t: &str| Some(("authorization", format!("Bearer {t}")));
    let header = |k: &str| Some(("x-api-key", k.to_owned()));

    assert_eq!(
        send("/me", header(&reader)).await,
        (StatusCode::OK, "ada@example.com api_key".into())
    );
    assert_eq!(
        send("/me", bearer(&reader)).await,
        (StatusCode::OK, "ada@example.com api_key".into())
    );
    assert_eq!(
        send("/me", bearer(&token)).await,
        (StatusCode::OK, "ada@example.com user".into())
    );
    assert_eq!(send("/reports", header(&reader)).await.0, StatusCode::OK);
    assert_eq!(
        send("/reports", bearer(&writer)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send("/reports", bearer(&token)).await.0,
        StatusCode::UNAUTHORIZED,
        "a token is not a key"
    );
    let mut typo = reader.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'x' { 'y' } else { 'x' });
    assert_eq!(send("/me", header(&typo)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send("/reports", None).await.0, StatusCode::UNAUTHORIZED);
}
