//! Sessions, rotating refresh tokens with reuse detection, and the device
//! list. Every case written once, generic over the backend; a backend runs
//! them all with [`session_suite!`](crate::session_suite).
#![allow(missing_docs)]

use std::sync::Arc;

use auth_core::SingleUseStore as _;

use auth_core::{
    Auth, Authenticated, ClientInfo, Error, ExtraClaims, HashCost, Lifetime, Secret, SignInContext,
    SignedIn, TokenType, token_resource,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::conformance::{Backend, Fixture, SuiteStore};

#[token_resource]
pub struct Token;

// The pinned example of the sessions add-on, verbatim.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        token_lifetime = "15m",                 // access tokens: short
        store_all_tokens,
        require_token_presence_for_authentication,
        refresh_tokens(
            lifetime = "7d",                    // idle timeout: a refresh token unused this long dies
            reuse_grace = "30s",                // a second use this soon after the first is answered, not punished (default 0s)
        ),
    ),
    strategies(password()),
    add_ons(
        sessions(lifetime = "30d"),             // absolute cap of one sign-in, refreshes included
        log_out_everywhere(apply_on_password_change),
    ),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

/// A fresh fixture of the backend and its store.
async fn backend<B: Backend>(b: B) -> (B::Fixture, <B::Fixture as Fixture>::Store) {
    let f = b.fresh().await;
    let store = f.store();
    (f, store)
}

const SECRET: &str = "sessions-secret-0123456789abcdef0123456789abcdef";

/// Allow-list mode (the example), or deny-list mode with only what sessions
/// and refresh tokens need stored; `grace` overrides the reuse grace.
async fn auth_with<B: Backend>(
    b: B,
    allow_list: bool,
    grace: Option<u64>,
) -> (B::Fixture, Auth<User, <B::Fixture as Fixture>::Store>) {
    let (guard, store) = backend(b).await;
    let mut settings = User::settings();
    if !allow_list {
        settings.tokens.store_all_tokens = false;
        settings.tokens.require_token_presence_for_authentication = false;
    }
    if let (Some(secs), Some(refresh)) = (grace, settings.refresh_tokens.as_mut()) {
        refresh.reuse_grace = Lifetime::from_secs(secs);
    }
    (guard, auth_from(settings, store))
}

fn auth_from<S: SuiteStore>(settings: auth_core::Settings<User>, store: S) -> Auth<User, S> {
    Auth::with_secret(settings, &Secret::from(SECRET), store)
        .unwrap()
        .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
        .unwrap()
}

async fn register<S: SuiteStore>(auth: &Auth<User, S>, email: &str) -> SignedIn<User> {
    let client = ClientInfo::new(Some("curl/8.5"), Some("192.0.2.7".parse().unwrap()));
    crate::register_with(auth, email, crate::PASSWORD, client).await
}

async fn sign_in<S: SuiteStore>(auth: &Auth<User, S>, email: &str) -> SignedIn<User> {
    let client = ClientInfo::new(Some("Firefox\nFake"), Some("198.51.100.1".parse().unwrap()));
    User::sign_in_with_password(auth, email, "password-1", TokenType::User, client)
        .await
        .unwrap()
}

fn refresh_of(s: &SignedIn<User>) -> String {
    s.refresh_token
        .as_ref()
        .expect("a refresh token")
        .token
        .clone()
}

async fn works<S: SuiteStore>(auth: &Auth<User, S>, token: &str) -> bool {
    auth.authenticate(token).await.is_ok()
}

pub async fn the_pinned_example_signs_in_refreshes_and_lists_sessions<B: Backend>(b: B) {
    // The declaration's settings, as documented.
    let settings = <User as Authenticated>::settings();
    assert_eq!(settings.sessions.unwrap().lifetime.as_secs(), 30 * 86_400);
    let refresh = settings.refresh_tokens.unwrap();
    assert_eq!(
        (refresh.lifetime.as_secs(), refresh.reuse_grace.as_secs()),
        (7 * 86_400, 30)
    );
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, None).await;
        let ada = register(&auth, "ada@example.com").await;
        let sid = ada.session.clone().expect("registration opens a session");
        assert_eq!(ada.token.claims.sid.as_deref(), Some(sid.as_str()));
        assert_eq!(ada.token.claims.exp - ada.token.claims.iat, 15 * 60);
        let refresh = ada.refresh_token.as_ref().unwrap();
        assert_eq!(refresh.claims.sid.as_deref(), Some(sid.as_str()));
        assert_eq!(refresh.claims.exp - refresh.claims.iat, 7 * 86_400);
        assert!(
            works(&auth, &ada.token.token).await,
            "allow_list={allow_list}"
        );

        let sessions = User::list_sessions(&auth, &ada.user, Some(&sid))
            .await
            .unwrap();
        assert_eq!(sessions.len(), 1);
        let s = &sessions[0];
        assert_eq!(
            (s.id.as_str(), s.kind.as_str(), s.current),
            (sid.as_str(), "bearer", true)
        );
        assert_eq!(s.user_agent.as_deref(), Some("curl/8.5"));
        assert_eq!(s.ip.as_deref(), Some("192.0.2.7"));
        assert!(s.expires_at > chrono::Utc::now() + chrono::Duration::days(29));

        let pair = User::refresh(&auth, &refresh.token).await.unwrap();
        assert_eq!(pair.token.claims.sid.as_deref(), Some(sid.as_str()));
        assert!(works(&auth, &pair.token.token).await);
        let later = crate::sessions_of(&auth, &ada.user).await;
        assert!(later[0].last_seen_at >= s.last_seen_at);
        assert!(!later[0].current);
    }
}

pub async fn a_user_agent_is_cut_and_escaped<B: Backend>(b: B) {
    let (_guard, auth) = auth_with(b, true, None).await;
    let ada = register(&auth, "ada@example.com").await;
    let long = "x".repeat(1000);
    let signed = User::sign_in_with_password(
        &auth,
        "ada@example.com",
        "password-1",
        TokenType::User,
        SignInContext::default().client(ClientInfo::new(Some(&long), None)),
    )
    .await
    .unwrap();
    let _ = ada;
    let list = User::list_sessions(&auth, &signed.user, signed.session.as_deref())
        .await
        .unwrap();
    let mine = list.iter().find(|s| s.current).unwrap();
    assert_eq!(
        mine.user_agent.as_ref().unwrap().chars().count(),
        257,
        "256 and an ellipsis"
    );
    let other = sign_in(&auth, "ada@example.com").await;
    let list = User::list_sessions(&auth, &other.user, other.session.as_deref())
        .await
        .unwrap();
    let mine = list.iter().find(|s| s.current).unwrap();
    assert_eq!(mine.user_agent.as_deref(), Some("Firefox\\nFake"));
}

pub async fn rotation_returns_a_working_pair_and_spends_the_old_refresh_token<B: Backend>(b: B) {
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, Some(0)).await;
        let ada = register(&auth, "ada@example.com").await;
        let first = refresh_of(&ada);
        let pair = User::refresh(&auth, &first).await.unwrap();
        assert!(works(&auth, &pair.token.token).await);
        let next = User::refresh(&auth, &pair.refresh_token.token)
            .await
            .unwrap();
        assert!(works(&auth, &next.token.token).await);
        // The first one is spent: presenting it again (grace 0) is reuse.
        let again = User::refresh(&auth, &first).await;
        assert!(matches!(again, Err(Error::RefreshTokenReused)), "{again:?}");
    }
}

pub async fn reuse_past_the_grace_ends_the_session_and_every_token_of_it<B: Backend>(b: B) {
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, Some(0)).await;
        let ada = register(&auth, "ada@example.com").await;
        let other = sign_in(&auth, "ada@example.com").await;
        let stolen = refresh_of(&ada);
        let pair = User::refresh(&auth, &stolen).await.unwrap();
        assert!(matches!(
            User::refresh(&auth, &stolen).await,
            Err(Error::RefreshTokenReused)
        ));
        for token in [&ada.token.token, &pair.token.token] {
            let e = auth.authenticate(token).await;
            assert!(
                matches!(e, Err(Error::SessionEnded)),
                "allow_list={allow_list}: {e:?}"
            );
        }
        let e = User::refresh(&auth, &pair.refresh_token.token).await;
        assert!(matches!(e, Err(Error::SessionEnded)), "{e:?}");
        // Another session of the same user is untouched.
        assert!(works(&auth, &other.token.token).await);
        assert!(User::refresh(&auth, &refresh_of(&other)).await.is_ok());
    }
}

pub async fn within_the_grace_a_retry_gets_the_same_successor<B: Backend>(b: B) {
    let (_guard, auth) = auth_with(b, true, Some(30)).await;
    let ada = register(&auth, "ada@example.com").await;
    let used = refresh_of(&ada);
    let first = User::refresh(&auth, &used).await.unwrap();
    let again = User::refresh(&auth, &used).await.unwrap();
    assert_eq!(
        (&first.token.claims, &first.refresh_token.claims),
        (&again.token.claims, &again.refresh_token.claims),
        "the same pair"
    );
    assert_eq!(first.token.token, again.token.token, "HS256 signs alike");
    assert!(works(&auth, &again.token.token).await);
    // The successor rotates once; its own retry gets its own successor.
    let next = User::refresh(&auth, &again.refresh_token.token)
        .await
        .unwrap();
    assert!(works(&auth, &next.token.token).await);
    auth.revoke(&next.token.token).await.unwrap();
    assert!(matches!(
        User::refresh(&auth, &next.refresh_token.token).await,
        Err(Error::SessionEnded)
    ));
}

/// Review finding H3-4 (refresh): one used refresh token presented within
/// the grace produced 310 399 live sibling refresh tokens in 20 s. Now a
/// retry gets the first use's successor again and writes no row: after 32
/// concurrent and 200 sequential presentations the session holds exactly
/// one live refresh token and one new access token row.
pub async fn h3_04_a_flood_of_retries_within_the_grace_adds_no_row<B: Backend>(b: B) {
    let (_guard, auth) = auth_with(b, true, Some(30)).await;
    let ada = register(&auth, "ada@example.com").await;
    let used = refresh_of(&ada);
    let subject = auth_core::UserResource::subject(&ada.user);
    let auth = Arc::new(auth);
    let live = |purpose: &'static str| {
        let (auth, subject) = (auth.clone(), subject.clone());
        async move {
            auth.store()
                .live_tokens(&subject, purpose, chrono::Utc::now())
                .await
                .unwrap()
                .len()
        }
    };
    let access_before = live("user").await;
    let pairs = crate::at_once(32, |_| {
        let (auth, used) = (auth.clone(), used.clone());
        async move { User::refresh(&auth, &used).await }
    })
    .await;
    let mut jtis = std::collections::HashSet::new();
    for pair in &pairs {
        let pair = pair
            .as_ref()
            .expect("every retry within the grace succeeds");
        jtis.insert(pair.refresh_token.claims.jti.clone());
    }
    for _ in 0..200 {
        let pair = User::refresh(&auth, &used).await.unwrap();
        jtis.insert(pair.refresh_token.claims.jti.clone());
    }
    assert_eq!(jtis.len(), 1, "one successor, however often replayed");
    assert_eq!(live("refresh").await, 1, "one live refresh token");
    assert_eq!(live("refresh_used").await, 1);
    assert_eq!(live("user").await, access_before + 1, "one new access row");
}

pub async fn with_grace_zero_32_concurrent_refreshes_have_one_winner_and_end_the_session<
    B: Backend,
>(
    b: B,
) {
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, Some(0)).await;
        let auth = Arc::new(auth);
        let ada = register(&auth, "ada@example.com").await;
        let token = refresh_of(&ada);
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (auth, token) = (auth.clone(), token.clone());
                tokio::spawn(async move { User::refresh(&auth, &token).await })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(pair) => winners.push(pair),
                Err(Error::RefreshTokenReused | Error::SessionEnded) => {}
                Err(e) => panic!("allow_list={allow_list}: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "allow_list={allow_list}");
        // The losers were reuse: the session, and the winner's pair, are dead.
        assert!(matches!(
            auth.authenticate(&winners[0].token.token).await,
            Err(Error::SessionEnded)
        ));
        assert!(crate::has_no_sessions(&auth, &ada.user).await);
    }
}

pub async fn refresh_tokens_and_access_tokens_are_not_each_other<B: Backend>(b: B) {
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, None).await;
        let ada = register(&auth, "ada@example.com").await;
        let e = auth.authenticate(&refresh_of(&ada)).await;
        assert!(matches!(e, Err(Error::WrongPurpose { .. })), "{e:?}");
        let e = User::refresh(&auth, &ada.token.token).await;
        assert!(matches!(e, Err(Error::WrongPurpose { .. })), "{e:?}");
        let sign_in_token = crate::sign_in_as(&auth, "ada@example.com", TokenType::SignIn)
            .await
            .token;
        assert!(matches!(
            User::refresh(&auth, &sign_in_token.token).await,
            Err(Error::WrongPurpose { .. })
        ));
    }
}

pub async fn rotation_never_extends_the_session<B: Backend>(b: B) {
    let (_guard, store) = backend(b).await;
    let mut settings = User::settings();
    settings.sessions.as_mut().unwrap().lifetime = Lifetime::from_secs(3 * 3600);
    settings.refresh_tokens.as_mut().unwrap().lifetime = Lifetime::from_secs(2 * 3600);
    settings.tokens.token_lifetime = Lifetime::from_secs(3600);
    let auth = auth_from(settings, store);
    let ada = register(&auth, "ada@example.com").await;
    let session = crate::sessions_of(&auth, &ada.user).await.remove(0);
    let cap = session.expires_at.timestamp();
    let mut refresh = refresh_of(&ada);
    for _ in 0..3 {
        let pair = User::refresh(&auth, &refresh).await.unwrap();
        assert!(pair.token.claims.exp <= cap && pair.refresh_token.claims.exp <= cap);
        refresh = pair.refresh_token.token;
    }
    let after = crate::sessions_of(&auth, &ada.user).await.remove(0);
    assert_eq!(after.expires_at, session.expires_at);
}

pub async fn no_token_outlives_its_session<B: Backend>(b: B) {
    let (_guard, store) = backend(b).await;
    let mut settings = User::settings();
    // A session shorter than the tokens would be: the tokens are cut to it.
    settings.sessions.as_mut().unwrap().lifetime = Lifetime::from_secs(600);
    let auth = auth_from(settings, store);
    let ada = register(&auth, "ada@example.com").await;
    let session = crate::sessions_of(&auth, &ada.user).await.remove(0);
    let cap = session.expires_at.timestamp();
    assert!(ada.token.claims.exp <= cap);
    assert_eq!(ada.refresh_token.unwrap().claims.exp, cap);
}

pub async fn ending_one_session_leaves_the_others_working<B: Backend>(b: B) {
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, None).await;
        let phone = register(&auth, "ada@example.com").await;
        let laptop = sign_in(&auth, "ada@example.com").await;
        let tablet = sign_in(&auth, "ada@example.com").await;
        let bob = register(&auth, "bob@example.com").await;
        // Another user's session is not found, and nothing ends.
        let e = User::revoke_session(&auth, &bob.user, phone.session.as_deref().unwrap()).await;
        assert!(matches!(e, Err(Error::SessionNotFound)), "{e:?}");
        assert!(works(&auth, &phone.token.token).await);

        User::revoke_session(&auth, &phone.user, phone.session.as_deref().unwrap())
            .await
            .unwrap();
        assert!(matches!(
            auth.authenticate(&phone.token.token).await,
            Err(Error::SessionEnded)
        ));
        assert!(matches!(
            User::refresh(&auth, &refresh_of(&phone)).await,
            Err(Error::SessionEnded)
        ));
        assert!(works(&auth, &laptop.token.token).await && works(&auth, &tablet.token.token).await);
        // Ending it again: not found.
        let e = User::revoke_session(&auth, &phone.user, phone.session.as_deref().unwrap()).await;
        assert!(matches!(e, Err(Error::SessionNotFound)));

        let ended =
            User::revoke_other_sessions(&auth, &laptop.user, laptop.session.as_deref().unwrap())
                .await
                .unwrap();
        assert_eq!(ended, 1, "the tablet");
        assert!(works(&auth, &laptop.token.token).await);
        assert!(matches!(
            auth.authenticate(&tablet.token.token).await,
            Err(Error::SessionEnded)
        ));
        assert!(
            works(&auth, &bob.token.token).await,
            "other users untouched"
        );
        let left = crate::sessions_of(&auth, &laptop.user).await;
        assert_eq!(left.len(), 1);
    }
}

pub async fn sign_out_ends_the_session_and_its_refresh_token<B: Backend>(b: B) {
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, None).await;
        let ada = register(&auth, "ada@example.com").await;
        let other = sign_in(&auth, "ada@example.com").await;
        auth.revoke(&ada.token.token).await.unwrap();
        auth.revoke(&ada.token.token).await.unwrap(); // twice is fine
        assert!(matches!(
            auth.authenticate(&ada.token.token).await,
            Err(Error::SessionEnded)
        ));
        assert!(matches!(
            User::refresh(&auth, &refresh_of(&ada)).await,
            Err(Error::SessionEnded)
        ));
        assert!(works(&auth, &other.token.token).await);
    }
}

pub async fn log_out_everywhere_ends_every_session<B: Backend>(b: B) {
    let (_guard, auth) = auth_with(b, true, None).await;
    let a = register(&auth, "ada@example.com").await;
    let b = sign_in(&auth, "ada@example.com").await;
    User::log_out_everywhere(&auth, &a.user).await.unwrap();
    for s in [&a, &b] {
        assert!(auth.authenticate(&s.token.token).await.is_err());
        assert!(User::refresh(&auth, &refresh_of(s)).await.is_err());
    }
    assert!(crate::has_no_sessions(&auth, &a.user).await);
}

pub async fn a_password_change_ends_every_session_and_opens_one_for_the_caller<B: Backend>(b: B) {
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, None).await;
        let a = register(&auth, "ada@example.com").await;
        let b = sign_in(&auth, "ada@example.com").await;
        let changed = User::change_password(
            &auth,
            &a.user,
            "password-1",
            "password-2",
            Some("password-2"),
            ClientInfo::new(Some("ua"), None),
        )
        .await
        .unwrap();
        for s in [&a, &b] {
            assert!(auth.authenticate(&s.token.token).await.is_err());
            assert!(User::refresh(&auth, &refresh_of(s)).await.is_err());
        }
        assert!(works(&auth, &changed.token.token).await);
        let pair = User::refresh(&auth, &refresh_of(&changed)).await.unwrap();
        assert!(works(&auth, &pair.token.token).await);
        let sessions = User::list_sessions(&auth, &changed.user, changed.session.as_deref())
            .await
            .unwrap();
        assert_eq!(sessions.len(), 1, "allow_list={allow_list}");
        assert!(sessions[0].current);
    }
}

pub async fn a_token_minted_before_its_session_ended_fails_with_session_ended<B: Backend>(b: B) {
    for allow_list in [true, false] {
        let (_guard, auth) = auth_with(b, allow_list, None).await;
        let ada = register(&auth, "ada@example.com").await;
        let pair = User::refresh(&auth, &refresh_of(&ada)).await.unwrap();
        User::revoke_session(&auth, &ada.user, ada.session.as_deref().unwrap())
            .await
            .unwrap();
        for token in [&ada.token.token, &pair.token.token] {
            assert!(matches!(
                auth.authenticate(token).await,
                Err(Error::SessionEnded)
            ));
            assert!(matches!(auth.verify(token).await, Err(Error::SessionEnded)));
        }
    }
}

pub async fn sign_in_token_exchange_opens_a_session<B: Backend>(b: B) {
    let (_guard, auth) = auth_with(b, true, None).await;
    register(&auth, "ada@example.com").await;
    let exchange = crate::sign_in_as(&auth, "ada@example.com", TokenType::SignIn).await;
    assert!(exchange.session.is_none() && exchange.refresh_token.is_none());
    let signed = User::sign_in_with_token(&auth, &exchange.token.token, ExtraClaims::new())
        .await
        .unwrap();
    assert!(signed.session.is_some() && signed.refresh_token.is_some());
    assert!(works(&auth, &signed.token.token).await);
}

pub async fn an_expired_refresh_token_is_refused<B: Backend>(b: B) {
    let (_guard, auth) = auth_with(b, true, None).await;
    let ada = register(&auth, "ada@example.com").await;
    let mut claims = ada.refresh_token.as_ref().unwrap().claims.clone();
    claims.exp = chrono::Utc::now().timestamp() - 1;
    let stale = auth.jwt().sign(&claims).unwrap();
    assert!(matches!(
        User::refresh(&auth, &stale).await,
        Err(Error::Expired)
    ));
}

pub async fn a_cookie_sign_in_gets_no_refresh_token<B: Backend>(b: B) {
    let (_guard, auth) = auth_with(b, true, None).await;
    register(&auth, "ada@example.com").await;
    for kind in [
        auth_core::SessionKind::Cookie,
        auth_core::SessionKind::RememberMe,
    ] {
        let browser = User::sign_in_with_password(
            &auth,
            "ada@example.com",
            "password-1",
            TokenType::User,
            SignInContext::default().kind(kind),
        )
        .await
        .unwrap();
        assert!(browser.session.is_some(), "{kind:?} opens a session");
        assert!(
            browser.refresh_token.is_none(),
            "{kind:?}: its session lives in a cookie"
        );
    }
}

pub async fn sessions_work_without_refresh_tokens<B: Backend>(b: B) {
    for allow_list in [true, false] {
        let (_guard, store) = backend(b).await;
        let mut settings = User::settings();
        settings.refresh_tokens = None;
        if !allow_list {
            settings.tokens.store_all_tokens = false;
            settings.tokens.require_token_presence_for_authentication = false;
        }
        let auth = auth_from(settings, store);
        let ada = register(&auth, "ada@example.com").await;
        assert!(ada.refresh_token.is_none());
        let sid = ada.session.clone().unwrap();
        assert_eq!(ada.token.claims.sid.as_deref(), Some(sid.as_str()));
        assert!(works(&auth, &ada.token.token).await);
        assert!(matches!(
            User::refresh(&auth, &ada.token.token).await,
            Err(Error::NotConfigured(_))
        ));
        assert_eq!(crate::sessions_of(&auth, &ada.user).await.len(), 1);
        auth.revoke(&ada.token.token).await.unwrap();
        assert!(matches!(
            auth.authenticate(&ada.token.token).await,
            Err(Error::SessionEnded)
        ));
    }
}

/// Expands to one `#[tokio::test]` per session case on `$backend` (a
/// [`Backend`]).
#[macro_export]
macro_rules! session_suite {
    ($backend:expr) => {
        $crate::backend_cases!(sessions, 4, $backend;
            the_pinned_example_signs_in_refreshes_and_lists_sessions,
            a_user_agent_is_cut_and_escaped,
            rotation_returns_a_working_pair_and_spends_the_old_refresh_token,
            reuse_past_the_grace_ends_the_session_and_every_token_of_it,
            within_the_grace_a_retry_gets_the_same_successor,
            h3_04_a_flood_of_retries_within_the_grace_adds_no_row,
            with_grace_zero_32_concurrent_refreshes_have_one_winner_and_end_the_session,
            refresh_tokens_and_access_tokens_are_not_each_other,
            rotation_never_extends_the_session,
            no_token_outlives_its_session,
            ending_one_session_leaves_the_others_working,
            sign_out_ends_the_session_and_its_refresh_token,
            log_out_everywhere_ends_every_session,
            a_password_change_ends_every_session_and_opens_one_for_the_caller,
            a_token_minted_before_its_session_ended_fails_with_session_ended,
            sign_in_token_exchange_opens_a_session,
            an_expired_refresh_token_is_refused,
            sessions_work_without_refresh_tokens,
            a_cookie_sign_in_gets_no_refresh_token,
        );
    };
}
