//! The security event catalogue: every action of an account's life, once,
//! handed to the sink with its subject, session, client and outcome; a
//! failed action records its failure (or nothing); without the add-on
//! nothing is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;

use auth_core::{
    Auth, Authenticated, ClientInfo, Error, EventKind, HashCost, MemoryStore, Outcome, Purpose,
    Reauthentication, Secret, TokenType, token_resource,
};
use auth_tests::special::{Addressed, Outbox};
use auth_tests::{Collect, PASSWORD};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        store_all_tokens,
        require_token_presence_for_authentication,
        refresh_tokens(lifetime = "7d"),
    ),
    strategies(
        password(resettable()),
        magic_link(),
        api_key(prefix = "audit"),
    ),
    add_ons(
        sessions(lifetime = "30d"),
        log_out_everywhere(),
        confirmation(monitor_fields = ["email"], require_confirmed = false),
        brute_force(max_failures = 100, max_failures_per_ip = 2),
        audit_log(ip = full),
    ),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Addressed for User {
    fn address(&self) -> &str {
        &self.email
    }
}

const SECRET: &str = "audit-secret-0123456789abcdef0123456789abcdef";

fn from(ip: &str) -> ClientInfo {
    ClientInfo::new(Some("curl/8"), Some(ip.parse::<IpAddr>().unwrap()))
}

fn auth(
    settings: auth_core::Settings<User>,
    outbox: &Outbox,
    sink: &Collect,
) -> Arc<Auth<User, MemoryStore>> {
    Arc::new(
        Auth::with_secret(
            settings.with_sender(outbox.clone()),
            &Secret::from(SECRET),
            MemoryStore::new(),
        )
        .unwrap()
        .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
        .unwrap()
        .with_audit_sink(sink.clone()),
    )
}

#[tokio::test]
async fn every_kind_of_the_catalogue_is_recorded_once_per_action() {
    let (outbox, events) = (Outbox::default(), Collect::default());
    let auth = auth(User::settings(), &outbox, &events);
    let expect = |kind: EventKind| {
        let last = events.last().expect("an event");
        assert_eq!(last.kind, kind, "{:?}", events.kinds());
        last
    };

    // Registered, from an address (kept whole: `ip = full`).
    let ada = User {
        id: Uuid::new_v4(),
        email: "ada@example.com".into(),
        hashed_password: String::new(),
        confirmed_at: None,
    };
    let registered = auth
        .register_with_password(ada, PASSWORD, Some(PASSWORD), from("192.0.2.1"))
        .await
        .unwrap();
    let subject = auth_core::UserResource::subject(&registered.user);
    let e = expect(EventKind::Registered);
    assert_eq!(e.subject.as_deref(), Some(subject.as_str()));
    assert_eq!(e.ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(e.user_agent.as_deref(), Some("curl/8"));
    assert!(e.session.is_some() && e.outcome == Outcome::Success);

    // Confirmed (with the password, which a first proof would clear otherwise).
    let token = outbox
        .message("ada@example.com", &Purpose::CONFIRM, 0)
        .await;
    let ada = User::confirm_with_password(&auth, &token, PASSWORD)
        .await
        .unwrap();
    expect(EventKind::Confirmed);

    // A failed sign-in names the account it tried; a success.
    let sign_in = |password: &'static str, ip: &'static str| {
        let auth = auth.clone();
        async move {
            auth.sign_in_with_password("ada@example.com", password, TokenType::User, from(ip))
                .await
        }
    };
    assert!(sign_in("wrong", "192.0.2.2").await.is_err());
    let e = expect(EventKind::SignInFailed);
    assert_eq!(
        (e.subject.as_deref(), e.outcome),
        (Some(subject.as_str()), Outcome::Failure)
    );
    let signed_in = sign_in(PASSWORD, "192.0.2.3").await.unwrap();
    let e = expect(EventKind::SignedIn);
    assert_eq!(e.session, signed_in.token.claims.sid);

    // Refreshed; the used refresh token again: reuse detected.
    let refresh = signed_in.refresh_token.as_ref().unwrap().token.clone();
    auth.refresh(&refresh).await.unwrap();
    expect(EventKind::Refreshed);
    assert!(matches!(
        auth.refresh(&refresh).await,
        Err(Error::RefreshTokenReused)
    ));
    let e = expect(EventKind::RefreshReuseDetected);
    assert_eq!(e.outcome, Outcome::Failure);

    // Signed out; a session ended from the device list; everywhere.
    let s = sign_in(PASSWORD, "192.0.2.3").await.unwrap();
    auth.revoke(&s.token.token).await.unwrap();
    expect(EventKind::SignedOut);
    let s = sign_in(PASSWORD, "192.0.2.3").await.unwrap();
    auth.revoke_session(&ada, s.token.claims.sid.as_deref().unwrap())
        .await
        .unwrap();
    expect(EventKind::SessionEnded);
    auth.log_out_everywhere(&ada).await.unwrap();
    expect(EventKind::LoggedOutEverywhere);

    // The password changed, a reset asked for and made.
    User::change_password(
        &auth,
        &ada,
        PASSWORD,
        "password-2",
        Some("password-2"),
        from("192.0.2.4"),
    )
    .await
    .unwrap();
    expect(EventKind::PasswordChanged);
    User::request_password_reset(&auth, "ada@example.com").unwrap();
    expect(EventKind::PasswordResetRequested);
    let token = outbox.token_for("ada@example.com", 0).await;
    User::reset_password(
        &auth,
        &token,
        "password-3",
        Some("password-3"),
        from("192.0.2.5"),
    )
    .await
    .unwrap();
    let e = expect(EventKind::PasswordReset);
    assert_eq!(e.ip.as_deref(), Some("192.0.2.5"));

    // A magic link asked for and used.
    User::request_magic_link(&auth, "ada@example.com").unwrap();
    expect(EventKind::MagicLinkRequested);
    let token = outbox
        .message("ada@example.com", &Purpose::MAGIC_LINK, 0)
        .await;
    auth.sign_in_with_magic_link(&token, from("192.0.2.6"))
        .await
        .unwrap();
    expect(EventKind::SignedIn);

    // The email changed once confirmed (nothing before).
    let ada = auth_core::UserStore::<User>::get_user(auth.store(), &ada.id)
        .await
        .unwrap()
        .unwrap();
    let mut moved = ada.clone();
    moved.email = "ada@example.org".into();
    let before = events.kinds().len();
    User::change_with_confirmation(
        &auth,
        &ada,
        &moved,
        Reauthentication::Password("password-3"),
    )
    .await
    .unwrap();
    assert_eq!(events.kinds().len(), before, "nothing happened yet");
    let token = outbox
        .message("ada@example.org", &Purpose::CONFIRM, 0)
        .await;
    User::confirm(&auth, &token).await.unwrap();
    expect(EventKind::EmailChanged);

    // API keys.
    let key = auth.create_api_key(&ada, "ci", &[], None).await.unwrap();
    expect(EventKind::ApiKeyCreated);
    auth.revoke_api_key(&ada, &key.info.id).await.unwrap();
    expect(EventKind::ApiKeyRevoked);
    let before = events.kinds().len();
    assert!(auth.revoke_api_key(&ada, &key.info.id).await.is_err());
    assert_eq!(
        events.kinds().len(),
        before,
        "a failed revocation records nothing"
    );

    // An address throttled by brute-force protection: locked out.
    for _ in 0..2 {
        assert!(sign_in("wrong", "203.0.113.9").await.is_err());
    }
    assert!(matches!(
        sign_in(PASSWORD, "203.0.113.9").await,
        Err(Error::TooManyAttempts { .. })
    ));
    let e = expect(EventKind::LockedOut);
    assert_eq!(
        (e.ip.as_deref(), e.outcome),
        (Some("203.0.113.9"), Outcome::Failure)
    );

    // Every kind of the catalogue was recorded, but the one of a resource
    // with tenancy (`membership_ended`: `tenancy.rs` records it).
    let mut seen = events.kinds();
    seen.sort();
    seen.dedup();
    let expected: Vec<_> = EventKind::ALL
        .into_iter()
        .filter(|k| *k != EventKind::MembershipEnded)
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn without_the_add_on_nothing_is_recorded() {
    let (outbox, events) = (Outbox::default(), Collect::default());
    let mut settings = User::settings();
    settings.audit_log = None;
    let auth = auth(settings, &outbox, &events);
    let ada = User {
        id: Uuid::new_v4(),
        email: "ada@example.com".into(),
        hashed_password: String::new(),
        confirmed_at: None,
    };
    auth.register_with_password(ada, PASSWORD, Some(PASSWORD), from("192.0.2.1"))
        .await
        .unwrap();
    auth.sign_in_with_password(
        "ada@example.com",
        "wrong",
        TokenType::User,
        from("192.0.2.1"),
    )
    .await
    .unwrap_err();
    assert!(events.kinds().is_empty());
}

mod stored {
    //! Events kept in the store (`store_audit_events`), listed per user,
    //! on every store.
    use super::*;
    use auth_core::{AuditStore, PasswordStore, SingleUseStore};

    #[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
    #[authentication(
        tokens(
            token_resource = Token,
            store_all_tokens,
            require_token_presence_for_authentication,
        ),
        strategies(password()),
        add_ons(audit_log(ip = truncate)),
    )]
    pub struct Member {
        pub id: Uuid,
        pub email: String,
        pub hashed_password: String,
        pub role: String,
    }

    async fn events_are_stored_and_listed_newest_first<S>(store: S)
    where
        S: PasswordStore<Member> + SingleUseStore + AuditStore + Clone + 'static,
    {
        let plain = Auth::with_secret(Member::settings(), &Secret::from(SECRET), store.clone())
            .unwrap()
            .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
            .unwrap();
        let member = Member {
            id: Uuid::new_v4(),
            email: "ada@example.com".into(),
            hashed_password: String::new(),
            role: "member".into(),
        };
        let ada = plain
            .register_with_password(member, PASSWORD, Some(PASSWORD), from("192.0.2.1"))
            .await
            .unwrap()
            .user;
        assert!(
            matches!(
                plain.list_events(&ada, 10).await,
                Err(Error::NotConfigured(_))
            ),
            "not stored unless asked"
        );
        // An event past the retention (90 days): the writer's first round
        // deletes it.
        let ancient = auth_core::AuditEvent {
            kind: EventKind::SignedIn,
            at: chrono::Utc::now() - chrono::Duration::days(100),
            subject: Some(auth_core::UserResource::subject(&ada)),
            session: None,
            tenant: None,
            ip: None,
            user_agent: None,
            outcome: Outcome::Success,
        };
        store.insert_events(&[ancient]).await.unwrap();
        let auth = plain.store_audit_events();
        auth.sign_in_with_password(
            "ada@example.com",
            "nope",
            TokenType::User,
            from("192.0.2.2"),
        )
        .await
        .unwrap_err();
        let signed_in = auth
            .sign_in_with_password(
                "ada@example.com",
                PASSWORD,
                TokenType::User,
                from("192.0.2.3"),
            )
            .await
            .unwrap();
        auth.revoke(&signed_in.token.token).await.unwrap();
        let listed = auth.list_events(&ada, 10).await.unwrap();
        assert_eq!(
            listed.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [
                EventKind::SignedOut,
                EventKind::SignedIn,
                EventKind::SignInFailed,
                EventKind::SignedIn,
            ],
            "written before the list reads; newest first (the ancient one not swept yet)"
        );
        assert_eq!(listed[1].ip.as_deref(), Some("192.0.2.0/24"));
        assert_eq!(auth.list_events(&ada, 1).await.unwrap().len(), 1);
        // The background writer stores what the list did not flush.
        auth.sign_in_with_password(
            "ada@example.com",
            PASSWORD,
            TokenType::User,
            from("192.0.2.3"),
        )
        .await
        .unwrap();
        tokio::time::sleep(auth_core::EVENT_FLUSH * 3).await;
        let direct = store
            .list_events(&auth_core::UserResource::subject(&ada), 10)
            .await
            .unwrap();
        assert_eq!(
            direct.len(),
            4,
            "four new, the ancient one swept: {direct:?}"
        );
        assert!(
            direct
                .iter()
                .all(|e| e.at > chrono::Utc::now() - chrono::Duration::days(1))
        );
    }

    auth_tests::on_every_store!(table = super::Member; events_are_stored_and_listed_newest_first);
}

mod committed {
    //! An action that writes commits its event in the same transaction:
    //! the event is in the store when the action returns (no batch, no
    //! flush), and an `Auth` dropped right after (a crash before the batch)
    //! loses nothing.
    use super::*;
    use auth_core::{AuditStore, PasswordStore, SingleUseStore, UserResource};

    #[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
    #[authentication(
        tokens(
            token_resource = Token,
            store_all_tokens,
            require_token_presence_for_authentication,
            refresh_tokens(lifetime = "7d"),
        ),
        strategies(password(), api_key(prefix = "ev")),
        add_ons(
            sessions(lifetime = "30d"),
            log_out_everywhere(),
            brute_force(max_failures = 100),
            audit_log(ip = none),
        ),
    )]
    pub struct Account {
        pub id: Uuid,
        pub email: String,
        pub hashed_password: String,
    }

    async fn events_are_stored_with_their_actions<S>(store: S)
    where
        S: PasswordStore<Account>
            + SingleUseStore
            + auth_core::RefreshStore
            + auth_core::ApiKeyStore
            + AuditStore
            + Clone
            + 'static,
    {
        let auth = || {
            Auth::with_secret(Account::settings(), &Secret::from(SECRET), store.clone())
                .unwrap()
                .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
                .unwrap()
                .store_audit_events()
        };
        let a = auth();
        let account = Account {
            id: Uuid::new_v4(),
            email: "ada@example.com".into(),
            hashed_password: String::new(),
        };
        let subject = account.subject();
        // The newest stored event, read straight from the store.
        let newest = async || {
            let listed = store.list_events(&subject, 1).await.unwrap();
            listed.first().map(|e| e.kind)
        };
        let ada = a
            .register_with_password(account, PASSWORD, Some(PASSWORD), from("192.0.2.1"))
            .await
            .unwrap();
        assert_eq!(newest().await, Some(EventKind::Registered));
        let wrong = a
            .sign_in_with_password(
                "ada@example.com",
                "nope",
                TokenType::User,
                from("192.0.2.2"),
            )
            .await;
        assert!(matches!(wrong, Err(Error::AuthenticationFailed)));
        assert_eq!(newest().await, Some(EventKind::SignInFailed));
        let signed_in = a
            .sign_in_with_password(
                "ada@example.com",
                PASSWORD,
                TokenType::User,
                from("192.0.2.3"),
            )
            .await
            .unwrap();
        assert_eq!(newest().await, Some(EventKind::SignedIn));
        let refresh = signed_in.refresh_token.as_ref().unwrap();
        a.refresh(&refresh.token).await.unwrap();
        assert_eq!(newest().await, Some(EventKind::Refreshed));
        let key = a.create_api_key(&ada.user, "ci", &[], None).await.unwrap();
        assert_eq!(newest().await, Some(EventKind::ApiKeyCreated));
        a.revoke_api_key(&ada.user, &key.info.id).await.unwrap();
        assert_eq!(newest().await, Some(EventKind::ApiKeyRevoked));
        let sid = signed_in.session.as_deref().unwrap();
        a.revoke_session(&ada.user, sid).await.unwrap();
        assert_eq!(newest().await, Some(EventKind::SessionEnded));
        let changed = a
            .change_password(
                &ada.user,
                PASSWORD,
                "a new passphrase 2",
                Some("a new passphrase 2"),
                from("192.0.2.4"),
            )
            .await
            .unwrap();
        assert_eq!(newest().await, Some(EventKind::PasswordChanged));
        a.revoke(&changed.token.token).await.unwrap();
        assert_eq!(newest().await, Some(EventKind::SignedOut));
        // A crash right after the action: the event committed with it.
        let b = auth();
        b.log_out_everywhere(&changed.user).await.unwrap();
        drop(b);
        assert_eq!(newest().await, Some(EventKind::LoggedOutEverywhere));
        // A refused change writes nothing, and records nothing stored.
        let refused = a
            .change_password(
                &changed.user,
                "nope",
                "another one 3",
                Some("another one 3"),
                from("192.0.2.5"),
            )
            .await;
        assert!(refused.is_err());
        assert_eq!(newest().await, Some(EventKind::LoggedOutEverywhere));
        let all = store.list_events(&subject, 100).await.unwrap();
        assert_eq!(all.len(), 10, "each once: {all:?}");
    }

    auth_tests::on_every_store!(table = super::Account; events_are_stored_with_their_actions);
}
