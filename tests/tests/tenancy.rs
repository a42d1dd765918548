//! Tenancy on every store. Attribute tenancy (`Member`: the tenant is a
//! field of the user): every token a member gets names its tenant, whatever
//! the flow; it authenticates in that tenant only; a tenant's suspension
//! ends its sessions and no other's; a member moved to another tenant loses
//! its tokens. Context tenancy (`Person`: the tenant comes from the
//! request): each sign-in is bound to its tenant; logging out everywhere in
//! one tenant, or ending the membership, leaves the others signed in. And
//! tenant confusion: a token re-signed with another tenant, one of another
//! tenant, one without a tenant, a revocation of the same jti in another
//! tenant, names with control characters or empty.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{
    Auth, Authenticated, Claims, Error, EventKind, HashCost, Purpose, Secret, SignInContext,
    SignedIn, Tenant, TokenType, peek_claims, token_resource,
};
use auth_tests::special::{Addressed, Outbox};
use auth_tests::{Collect, PASSWORD};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[token_resource]
pub struct Token;

const SECRET: &str = "tenancy-secret-0123456789abcdef0123456789abcdef";

fn tenant(name: &str) -> Tenant {
    Tenant::new(name).unwrap()
}

fn tenant_of(token: &str) -> Option<String> {
    peek_claims(token).unwrap().tenant
}

/// Attribute tenancy, deny-list tokens, sessions and refresh tokens, a
/// password with resets, magic links, remember-me, confirmations, API keys.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(token_resource = Token, refresh_tokens()),
    session_identifier = "jti",
    strategies(
        password(resettable()),
        magic_link(),
        remember_me(),
        api_key(prefix = "org"),
    ),
    add_ons(
        sessions(),
        confirmation(monitor_fields = ["email"], require_confirmed = false),
    ),
    tenancy(strategy = attribute, field = org),
)]
pub struct Member {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub org: String,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Addressed for Member {
    fn address(&self) -> &str {
        &self.email
    }
}

/// Context tenancy, allow-list tokens, sessions and refresh tokens,
/// sign-in tokens, the audit log.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        store_all_tokens,
        require_token_presence_for_authentication,
        refresh_tokens(),
    ),
    strategies(password()),
    add_ons(sessions(), audit_log()),
    tenancy(strategy = context),
)]
pub struct Person {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
}

/// What the tenancy cases need of a store, for users of type `U`.
pub trait Store<U: auth_core::PasswordUser>:
    auth_core::PasswordStore<U>
    + auth_core::RefreshStore
    + auth_core::SingleUseStore
    + auth_core::ApiKeyStore
    + Clone
    + 'static
{
}

impl<U: auth_core::PasswordUser, S> Store<U> for S where
    S: auth_core::PasswordStore<U>
        + auth_core::RefreshStore
        + auth_core::SingleUseStore
        + auth_core::ApiKeyStore
        + Clone
        + 'static
{
}

mod attribute {
    use super::*;

    fn auth<S: Store<Member>>(store: S, outbox: &Outbox) -> Arc<Auth<Member, S>> {
        let settings = Member::settings().with_sender(outbox.clone());
        Arc::new(
            Auth::with_secret(settings, &Secret::from(SECRET), store)
                .unwrap()
                .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
                .unwrap(),
        )
    }

    async fn join<S: Store<Member>>(
        auth: &Auth<Member, S>,
        email: &str,
        org: &str,
    ) -> SignedIn<Member> {
        let member = Member {
            id: Uuid::new_v4(),
            email: email.into(),
            hashed_password: String::new(),
            org: org.into(),
            confirmed_at: None,
        };
        auth.register_with_password(member, PASSWORD, Some(PASSWORD), SignInContext::default())
            .await
            .unwrap()
    }

    pub async fn every_token_of_a_member_names_its_tenant<S: Store<Member>>(store: S) {
        let outbox = Outbox::default();
        let auth = auth(store, &outbox);
        let ada = join(&auth, "ada@example.com", "acme").await;
        let refresh = ada.refresh_token.as_ref().unwrap();
        assert_eq!(ada.token.claims.tenant.as_deref(), Some("acme"));
        assert_eq!(tenant_of(&ada.token.token).as_deref(), Some("acme"));
        assert_eq!(tenant_of(&refresh.token).as_deref(), Some("acme"));
        // A refresh, a sign-in token, a reset token, an API key: the same.
        let refreshed = auth.refresh(&refresh.token).await.unwrap();
        assert_eq!(tenant_of(&refreshed.token.token).as_deref(), Some("acme"));
        assert_eq!(
            tenant_of(&refreshed.refresh_token.token).as_deref(),
            Some("acme")
        );
        let sign_in = auth
            .sign_in_with_password(
                "ada@example.com",
                PASSWORD,
                TokenType::SignIn,
                SignInContext::default(),
            )
            .await
            .unwrap();
        assert_eq!(tenant_of(&sign_in.token.token).as_deref(), Some("acme"));
        let exchanged = auth
            .sign_in_with_token(&sign_in.token.token, SignInContext::default())
            .await
            .unwrap();
        assert_eq!(exchanged.token.claims.tenant.as_deref(), Some("acme"));
        auth.request_password_reset("ada@example.com").unwrap();
        let reset = outbox.token_for("ada@example.com", 0).await;
        assert_eq!(tenant_of(&reset).as_deref(), Some("acme"));
        // The confirmation registration sent, a magic link, a remember-me
        // token.
        let confirm = outbox
            .message("ada@example.com", &Purpose::CONFIRM, 0)
            .await;
        assert_eq!(tenant_of(&confirm).as_deref(), Some("acme"));
        auth.request_magic_link("ada@example.com").unwrap();
        let link = outbox
            .message("ada@example.com", &Purpose::MAGIC_LINK, 0)
            .await;
        assert_eq!(tenant_of(&link).as_deref(), Some("acme"));
        let remember = auth.issue_remember_me(&exchanged).await.unwrap();
        assert_eq!(remember.claims.tenant.as_deref(), Some("acme"));
        // Presented at another tenant it is refused, and not spent.
        let at = |t: &str| SignInContext::default().tenant(tenant(t));
        let refused = auth.redeem_remember_me(&remember.token, at("globex")).await;
        assert!(matches!(refused, Err(Error::WrongTenant)), "{refused:?}");
        let remembered = auth
            .redeem_remember_me(&remember.token, at("acme"))
            .await
            .unwrap();
        assert_eq!(
            remembered.signed_in.token.claims.tenant.as_deref(),
            Some("acme")
        );
        let reset_in = auth
            .reset_password(
                &reset,
                "a new password 123",
                Some("a new password 123"),
                SignInContext::default(),
            )
            .await
            .unwrap();
        assert_eq!(reset_in.token.claims.tenant.as_deref(), Some("acme"));
        let key = auth
            .create_api_key(&reset_in.user, "ci", &[], None)
            .await
            .unwrap();
        let acme = tenant("acme");
        let found = auth
            .authenticate_headers_in(None, Some(&key.key), Some(&acme))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.user.claims.tenant.as_deref(), Some("acme"));
        // The key acts in its user's tenant only, and in none without one.
        for elsewhere in [Some(tenant("globex")), None] {
            let refused = auth
                .authenticate_headers_in(None, Some(&key.key), elsewhere.as_ref())
                .await;
            assert!(matches!(refused, Err(Error::WrongTenant)), "{refused:?}");
        }
    }

    pub async fn a_member_authenticates_in_its_tenant_only<S: Store<Member>>(store: S) {
        let auth = auth(store, &Outbox::default());
        let ada = join(&auth, "ada@example.com", "acme").await;
        let token = &ada.token.token;
        let (acme, globex) = (tenant("acme"), tenant("globex"));
        let me = auth.authenticate_in(token, Some(&acme)).await.unwrap();
        assert_eq!(me.user.email, "ada@example.com");
        for refused in [
            auth.authenticate_in(token, Some(&globex)).await,
            auth.authenticate_in(token, None).await,
            auth.authenticate(token).await,
        ] {
            let e = refused.unwrap_err();
            assert!(matches!(e, Error::WrongTenant), "{e:?}");
            // Refused like any bad token: 401, nothing said about why.
            assert_eq!(
                (
                    auth_core::http::status_code(&e),
                    auth_core::http::public_code(&e)
                ),
                (401, "unauthorized")
            );
        }
        // A sign-in naming another tenant is refused as a wrong password;
        // naming its own, or none, signs in to the member's.
        let to = |t: &Tenant| SignInContext::default().tenant(t.clone());
        let wrong = auth
            .sign_in_with_password("ada@example.com", PASSWORD, TokenType::User, to(&globex))
            .await;
        assert!(matches!(wrong, Err(Error::AuthenticationFailed)));
        let right = auth
            .sign_in_with_password("ada@example.com", PASSWORD, TokenType::User, to(&acme))
            .await
            .unwrap();
        assert_eq!(right.token.claims.tenant.as_deref(), Some("acme"));
    }

    pub async fn confused_and_forged_tenants_are_refused<S: Store<Member>>(store: S) {
        let auth = auth(store.clone(), &Outbox::default());
        let ada = join(&auth, "ada@example.com", "acme").await;
        let (acme, globex) = (tenant("acme"), tenant("globex"));
        let claims: Claims = ada.token.claims.clone();
        // Re-signed for another tenant without the key: the signature.
        let forger = Auth::<Member, S>::with_secret(
            Member::settings().with_sender(Outbox::default()),
            &Secret::from("another-secret-0123456789abcdef0123456789abcdef"),
            store.clone(),
        )
        .unwrap();
        let forged = forger
            .jwt()
            .sign(&Claims {
                tenant: Some("globex".into()),
                ..claims.clone()
            })
            .unwrap();
        // And the payload edited to another tenant, the signature kept.
        let edited = {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let parts: Vec<&str> = ada.token.token.split('.').collect();
            let mut payload: serde_json::Value =
                serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
            payload["tenant"] = "globex".into();
            let payload = b64.encode(serde_json::to_vec(&payload).unwrap());
            format!("{}.{payload}.{}", parts[0], parts[2])
        };
        for t in [&acme, &globex] {
            let refused = auth.authenticate_in(&forged, Some(t)).await;
            assert!(matches!(refused, Err(Error::UnknownKey(_))), "{refused:?}");
            let refused = auth.authenticate_in(&edited, Some(t)).await;
            assert!(
                matches!(refused, Err(Error::InvalidSignature)),
                "{refused:?}"
            );
        }
        // Signed with the key but without a tenant (as a flow that forgot
        // it would): refused by the tenant-bound resource in any tenant.
        let untenanted = auth
            .jwt()
            .sign(&Claims {
                tenant: None,
                ..claims.clone()
            })
            .unwrap();
        for t in [Some(&acme), None] {
            let refused = auth.authenticate_in(&untenanted, t).await;
            assert!(matches!(refused, Err(Error::WrongTenant)), "{refused:?}");
        }
        // Signed with the key for another tenant (a key shared across
        // tenants): refused, as its session and its user are acme's; and
        // out of a session, as its user is.
        let moved = auth
            .jwt()
            .sign(&Claims {
                tenant: Some("globex".into()),
                ..claims.clone()
            })
            .unwrap();
        let refused = auth.authenticate_in(&moved, Some(&globex)).await;
        assert!(matches!(refused, Err(Error::SessionEnded)), "{refused:?}");
        let sessionless = auth
            .jwt()
            .sign(&Claims {
                tenant: Some("globex".into()),
                sid: None,
                ..claims.clone()
            })
            .unwrap();
        let refused = auth.authenticate_in(&sessionless, Some(&globex)).await;
        assert!(matches!(refused, Err(Error::WrongTenant)), "{refused:?}");
        // The same jti revoked in another tenant revokes nothing here.
        let elsewhere = auth_core::NewTokenRow {
            jti: claims.jti.clone(),
            subject: claims.sub.clone(),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
            purpose: Purpose::REVOCATION.as_str().into(),
            extra_data: None,
            tenant: Some("globex".into()),
        };
        assert!(store.insert_revocation(&elsewhere, &[]).await.unwrap());
        auth.authenticate_in(&ada.token.token, Some(&acme))
            .await
            .expect("a revocation in globex is none in acme");
        // A revocation of the jti alone (the token resource's `revoke_jti`)
        // revokes it in every tenant.
        let other = auth
            .sign_in_with_password(
                "ada@example.com",
                PASSWORD,
                TokenType::User,
                SignInContext::default(),
            )
            .await
            .unwrap();
        auth.authenticate_in(&other.token.token, Some(&acme))
            .await
            .unwrap();
        auth_core::token_actions::revoke_jti(
            &store,
            &Member::settings().token_resource,
            &other.token.claims.jti,
            &other.token.claims.sub,
        )
        .await
        .unwrap();
        let refused = auth.authenticate_in(&other.token.token, Some(&acme)).await;
        assert!(matches!(refused, Err(Error::Revoked)), "{refused:?}");
        // Names with control characters or whitespace, and the empty name,
        // are no tenant.
        for bad in ["", "acme\n", "ac me", "acme\u{0}", "\u{1b}[31m"] {
            assert!(
                matches!(Tenant::new(bad), Err(Error::InvalidInput(_))),
                "{bad:?}"
            );
        }
        // A member whose tenant field is no valid name gets no token, and
        // is not registered.
        let nowhere = Member {
            id: Uuid::new_v4(),
            email: "eve@example.com".into(),
            hashed_password: String::new(),
            org: "ev il".into(),
            confirmed_at: None,
        };
        let refused = auth
            .register_with_password(nowhere, PASSWORD, Some(PASSWORD), SignInContext::default())
            .await;
        assert!(
            matches!(refused, Err(Error::InvalidInput(_))),
            "{refused:?}"
        );
        assert!(
            store
                .get_user_by_identity("eve@example.com")
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn a_member_moved_to_another_tenant_loses_its_tokens<S: Store<Member>>(store: S) {
        let auth = auth(store.clone(), &Outbox::default());
        let ada = join(&auth, "ada@example.com", "acme").await;
        let mut moved = ada.user.clone();
        moved.org = "globex".into();
        assert!(store.update_user(&moved).await.unwrap());
        for t in ["acme", "globex"] {
            let refused = auth
                .authenticate_in(&ada.token.token, Some(&tenant(t)))
                .await;
            assert!(
                matches!(refused, Err(Error::WrongTenant)),
                "{t}: {refused:?}"
            );
        }
        let refresh = &ada.refresh_token.as_ref().unwrap().token;
        assert!(matches!(
            auth.refresh(refresh).await,
            Err(Error::WrongTenant)
        ));
        // Signed in again, the member's tokens are globex's.
        let again = auth
            .sign_in_with_password(
                "ada@example.com",
                PASSWORD,
                TokenType::User,
                SignInContext::default(),
            )
            .await
            .unwrap();
        assert_eq!(again.token.claims.tenant.as_deref(), Some("globex"));
    }

    pub async fn suspending_a_tenant_ends_its_sessions_only<S: Store<Member>>(store: S) {
        let auth = auth(store, &Outbox::default());
        let ada = join(&auth, "ada@example.com", "acme").await;
        let cy = join(&auth, "cy@example.com", "acme").await;
        let bob = join(&auth, "bob@example.com", "globex").await;
        let (acme, globex) = (tenant("acme"), tenant("globex"));
        // Two sessions and a refreshed pair each, per acme member.
        assert!(auth.end_tenant(&acme).await.unwrap() >= 4);
        for member in [&ada, &cy] {
            let refused = auth.authenticate_in(&member.token.token, Some(&acme)).await;
            assert!(matches!(refused, Err(Error::SessionEnded)), "{refused:?}");
            let refresh = &member.refresh_token.as_ref().unwrap().token;
            assert!(auth.refresh(refresh).await.is_err());
        }
        auth.authenticate_in(&bob.token.token, Some(&globex))
            .await
            .expect("globex goes on");
        let refresh = &bob.refresh_token.as_ref().unwrap().token;
        auth.refresh(refresh).await.expect("globex refreshes");
        assert_eq!(auth.end_tenant(&acme).await.unwrap(), 0);
    }
}

mod context {
    use super::*;

    fn auth<S: Store<Person>>(store: S, events: &Collect) -> Arc<Auth<Person, S>> {
        Arc::new(
            Auth::with_secret(Person::settings(), &Secret::from(SECRET), store)
                .unwrap()
                .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
                .unwrap()
                .with_audit_sink(events.clone()),
        )
    }

    fn to(t: &Tenant) -> SignInContext {
        SignInContext::default().tenant(t.clone())
    }

    /// Ada registered in acme, signed in to globex too.
    async fn ada_in_two<S: Store<Person>>(
        auth: &Auth<Person, S>,
    ) -> (SignedIn<Person>, SignedIn<Person>, Tenant, Tenant) {
        let (acme, globex) = (tenant("acme"), tenant("globex"));
        let person = Person {
            id: Uuid::new_v4(),
            email: "ada@example.com".into(),
            hashed_password: String::new(),
        };
        let in_acme = auth
            .register_with_password(person, PASSWORD, Some(PASSWORD), to(&acme))
            .await
            .unwrap();
        let in_globex = auth
            .sign_in_with_password("ada@example.com", PASSWORD, TokenType::User, to(&globex))
            .await
            .unwrap();
        (in_acme, in_globex, acme, globex)
    }

    pub async fn each_sign_in_is_bound_to_its_tenant<S: Store<Person>>(store: S) {
        let auth = auth(store, &Collect::default());
        let (in_acme, in_globex, acme, globex) = ada_in_two(&auth).await;
        assert_eq!(in_acme.token.claims.tenant.as_deref(), Some("acme"));
        assert_eq!(in_globex.token.claims.tenant.as_deref(), Some("globex"));
        auth.authenticate_in(&in_acme.token.token, Some(&acme))
            .await
            .unwrap();
        auth.authenticate_in(&in_globex.token.token, Some(&globex))
            .await
            .unwrap();
        for (token, t) in [
            (&in_acme.token.token, Some(&globex)),
            (&in_globex.token.token, Some(&acme)),
            (&in_acme.token.token, None),
        ] {
            let refused = auth.authenticate_in(token, t).await;
            assert!(matches!(refused, Err(Error::WrongTenant)), "{refused:?}");
        }
        // A refresh stays in its tenant.
        let refreshed = auth
            .refresh(&in_globex.refresh_token.as_ref().unwrap().token)
            .await
            .unwrap();
        assert_eq!(refreshed.token.claims.tenant.as_deref(), Some("globex"));
        auth.authenticate_in(&refreshed.token.token, Some(&globex))
            .await
            .unwrap();
        // The device list, per tenant and whole.
        let user = &in_acme.user;
        assert_eq!(auth.list_sessions(user, None).await.unwrap().len(), 2);
        let listed = auth.list_sessions_in(user, &acme, None).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].tenant.as_deref(), Some("acme"));
        // A sign-in names its tenant.
        let refused = auth
            .sign_in_with_password(
                "ada@example.com",
                PASSWORD,
                TokenType::User,
                SignInContext::default(),
            )
            .await;
        assert!(
            matches!(refused, Err(Error::InvalidInput(_))),
            "{refused:?}"
        );
        // A sign-in token is bound to the tenant it was asked in: exchanged
        // there (or where the request names none), refused elsewhere.
        let sign_in = auth
            .sign_in_with_password("ada@example.com", PASSWORD, TokenType::SignIn, to(&acme))
            .await
            .unwrap();
        assert_eq!(tenant_of(&sign_in.token.token).as_deref(), Some("acme"));
        let refused = auth
            .sign_in_with_token(&sign_in.token.token, to(&globex))
            .await;
        assert!(matches!(refused, Err(Error::WrongTenant)), "{refused:?}");
        let exchanged = auth
            .sign_in_with_token(&sign_in.token.token, SignInContext::default())
            .await
            .unwrap();
        assert_eq!(exchanged.token.claims.tenant.as_deref(), Some("acme"));
    }

    pub async fn logging_out_in_one_tenant_leaves_the_others<S: Store<Person>>(store: S) {
        let auth = auth(store, &Collect::default());
        let (in_acme, in_globex, acme, globex) = ada_in_two(&auth).await;
        let revoked = auth
            .log_out_everywhere_in(&in_acme.user, &acme)
            .await
            .unwrap();
        assert!(revoked >= 3, "session, access and refresh rows: {revoked}");
        assert!(
            auth.authenticate_in(&in_acme.token.token, Some(&acme))
                .await
                .is_err()
        );
        assert!(
            auth.refresh(&in_acme.refresh_token.as_ref().unwrap().token)
                .await
                .is_err()
        );
        auth.authenticate_in(&in_globex.token.token, Some(&globex))
            .await
            .expect("globex stays signed in");
        auth.refresh(&in_globex.refresh_token.as_ref().unwrap().token)
            .await
            .expect("and refreshes");
    }

    pub async fn an_ended_membership_ends_that_tenants_sessions<S: Store<Person>>(store: S) {
        let events = Collect::default();
        let auth = auth(store, &events);
        let (in_acme, in_globex, acme, globex) = ada_in_two(&auth).await;
        assert!(auth.end_membership(&in_acme.user, &globex).await.unwrap() >= 3);
        let refused = auth
            .authenticate_in(&in_globex.token.token, Some(&globex))
            .await;
        assert!(refused.is_err(), "{refused:?}");
        assert!(
            auth.refresh(&in_globex.refresh_token.as_ref().unwrap().token)
                .await
                .is_err()
        );
        auth.authenticate_in(&in_acme.token.token, Some(&acme))
            .await
            .expect("acme goes on");
        // A refused sign-in names the tenant it asked for.
        let wrong = auth
            .sign_in_with_password("ada@example.com", "nope", TokenType::User, to(&acme))
            .await;
        assert!(matches!(wrong, Err(Error::AuthenticationFailed)));
        // Events name their tenant: the sign-ins', the membership's, the
        // refusal's.
        let seen: Vec<_> = events
            .events()
            .iter()
            .map(|e| (e.kind, e.subject.clone(), e.tenant.clone()))
            .collect();
        let ada = Some(in_acme.user_subject());
        let named = |t: &str| Some(t.to_owned());
        assert_eq!(
            seen,
            [
                (EventKind::Registered, ada.clone(), named("acme")),
                (EventKind::SignedIn, ada.clone(), named("globex")),
                (EventKind::MembershipEnded, ada.clone(), named("globex")),
                (EventKind::SignInFailed, ada, named("acme")),
            ]
        );
    }

    trait SubjectOf {
        fn user_subject(&self) -> String;
    }
    impl SubjectOf for SignedIn<Person> {
        fn user_subject(&self) -> String {
            auth_core::UserResource::subject(&self.user)
        }
    }
}

mod every_attribute_case {
    use super::attribute::*;
    use super::*;
    auth_tests::on_every_store!(
        table = super::Member;
        every_token_of_a_member_names_its_tenant,
        a_member_authenticates_in_its_tenant_only,
        confused_and_forged_tenants_are_refused,
        a_member_moved_to_another_tenant_loses_its_tokens,
        suspending_a_tenant_ends_its_sessions_only,
    );
}

mod every_context_case {
    use super::context::*;
    use super::*;
    auth_tests::on_every_store!(
        table = super::Person;
        each_sign_in_is_bound_to_its_tenant,
        logging_out_in_one_tenant_leaves_the_others,
        an_ended_membership_ends_that_tenants_sessions,
    );
}

/// Two nodes with the PostgreSQL cache: what ending a membership and
/// suspending a tenant end on node A, node B (which answered from its
/// cache) refuses within the invalidation bound; other tenants' sessions
/// are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_refuses_what_a_tenant_operation_ended() {
    use auth_core::{AuthCache, CacheConfig};
    use auth_postgres::{PgConnectOptions, PgPoolOptions, PgStore};
    use auth_tests::conformance::Fixture as _;
    use std::str::FromStr;
    use std::time::{Duration, Instant};

    type Node = (
        Auth<Person, PgStore>,
        AuthCache<Person>,
        auth_postgres::InvalidationListener,
    );
    let db = auth_tests::pg::fresh_db().await;
    db.create_user_table::<Person>().await;
    let node = async || -> Node {
        let options = PgConnectOptions::from_str(&auth_tests::pg::database_url())
            .unwrap()
            .options([("search_path", db.schema.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        let store = PgStore::new(pool);
        let cache = AuthCache::new(CacheConfig::default());
        let listener = store
            .listen_for_invalidations::<Person>(cache.clone())
            .await
            .unwrap();
        let auth = Auth::with_secret(Person::settings(), &Secret::from(SECRET), store)
            .unwrap()
            .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
            .unwrap()
            .with_cache(cache.clone());
        let started = Instant::now();
        while !cache.is_listening() {
            assert!(started.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        (auth, cache, listener)
    };
    let (a, b) = (node().await, node().await);
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let to = |t: &Tenant| SignInContext::default().tenant(t.clone());
    let person = Person {
        id: Uuid::new_v4(),
        email: "ada@example.com".into(),
        hashed_password: String::new(),
    };
    let in_acme =
        a.0.register_with_password(person, PASSWORD, Some(PASSWORD), to(&acme))
            .await
            .unwrap();
    let in_globex =
        a.0.sign_in_with_password("ada@example.com", PASSWORD, TokenType::User, to(&globex))
            .await
            .unwrap();
    // Node B answers both from its cache.
    let warm = async |token: &str, t: &Tenant| {
        let started = Instant::now();
        loop {
            let hits = b.1.stats().hits;
            b.0.authenticate_in(token, Some(t)).await.unwrap();
            if b.1.stats().hits > hits {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "never cached");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let refused_on_b = async |token: &str, t: &Tenant| {
        let since = Instant::now();
        while b.0.authenticate_in(token, Some(t)).await.is_ok() {
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "still accepted after 5 s"
            );
            tokio::task::yield_now().await;
        }
        since.elapsed()
    };
    warm(&in_acme.token.token, &acme).await;
    warm(&in_globex.token.token, &globex).await;
    a.0.end_membership(&in_acme.user, &globex).await.unwrap();
    let took = refused_on_b(&in_globex.token.token, &globex).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    warm(&in_acme.token.token, &acme).await;
    a.0.end_tenant(&acme).await.unwrap();
    let took = refused_on_b(&in_acme.token.token, &acme).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    drop((a, b));
}
