//! The user actions `#[derive(Authenticated)]` generates: registration,
//! password sign-in, sign-in tokens, extra claims, password change and log
//! out everywhere. Every case written once, generic over the store; a
//! backend runs them all with [`user_action_suite!`](crate::user_action_suite).
#![allow(missing_docs)]

use std::sync::Arc;

use auth_core::{
    Auth, Authenticated, ClaimsContext, Error, ExtraClaims, HashCost, Purpose, Secret, SignedIn,
    TokenType, UserStore, token_resource,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::conformance::{Fixture, SuiteStore};

#[token_resource]
pub struct Token;

fn role_claims(user: &User, _: &ClaimsContext) -> ExtraClaims {
    let mut m = ExtraClaims::new();
    m.insert("role".into(), user.role.clone().into());
    m.insert("sub".into(), json!("user?id=forged"));
    m
}

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        signing_secret(env = "USER_ACTIONS_TEST_SECRET_UNSET"),
        store_all_tokens,
        require_token_presence_for_authentication,
        extra_claims = role_claims,
    ),
    strategies(password()),
    add_ons(log_out_everywhere(apply_on_password_change, exclude_purposes = ["revocation", "confirm"])),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

/// The same user with renamed actions, deny-list mode and no confirmation.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "renamed-secret-0123456789abcdef0123456789abcdef"),
    strategies(password(
        identity_field = "login",
        hashed_password_field = "hash",
        confirmation_required = false,
        sign_in_token_lifetime = "5m",
        register_action_name = "sign_up",
        sign_in_action_name = "log_in",
        sign_in_with_token_action_name = "redeem",
        change_password_action_name = "rotate_password",
    )),
)]
pub struct Member {
    pub id: i64,
    pub login: String,
    pub hash: String,
}

/// A user whose password strategy has sign-in tokens off.
#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(token_resource = Token, signing_secret = "s-0123456789abcdef0123456789abcdef"),
    strategies(password(sign_in_tokens_enabled = false)),
)]
pub struct NoSignInTokens {
    pub id: i64,
    pub email: String,
    pub hashed_password: String,
}

async fn auth<F: Fixture>(f: &F) -> Auth<User, F::Store> {
    f.create_user_table::<User>().await;
    Auth::with_secret(
        User::settings(),
        &Secret::from("user-actions-secret-0123456789abcdef0123456789abcdef"),
        f.store(),
    )
    .unwrap()
    .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
    .unwrap()
}

async fn register<S: SuiteStore>(auth: &Auth<User, S>, email: &str) -> SignedIn<User> {
    crate::register_with(auth, email, crate::PASSWORD, ExtraClaims::new()).await
}

pub async fn register_hashes_stores_and_signs_in<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let s = register(&auth, "ada@example.com").await;
    assert!(s.user.hashed_password.starts_with("$argon2id$"));
    assert_ne!(s.user.hashed_password, "password-1");
    let stored: User = UserStore::<User>::get_user(auth.store(), &s.user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.hashed_password, s.user.hashed_password);
    let me = auth.authenticate(&s.token.token).await.unwrap();
    assert_eq!(me.user.email, "ada@example.com");
}

/// The generated registration input: the key is made up, the hash never
/// written by the caller, the input reads from JSON and hides the password
/// from `Debug`, and its checks are the registration's.
pub async fn the_registration_input_needs_no_key_and_no_hash<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let input: UserRegistration = serde_json::from_value(json!({
        "email": "ada@example.com",
        "role": "admin",
        "password": "password-1",
        "password_confirmation": "password-1",
    }))
    .unwrap();
    let shown = format!("{input:?}");
    assert!(
        shown.contains("ada@example.com") && !shown.contains("password-1"),
        "{shown}"
    );
    let ada = User::register_with_password(&auth, input, ExtraClaims::new())
        .await
        .unwrap();
    assert_eq!(ada.user.id.get_version_num(), 4);
    assert!(ada.user.hashed_password.starts_with("$argon2id$"));
    assert_eq!(ada.user.role, "admin");
    let stored: User = UserStore::<User>::get_user(auth.store(), &ada.user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.email, "ada@example.com");
    assert_eq!(
        auth.authenticate(&ada.token.token).await.unwrap().user.id,
        ada.user.id
    );

    let bob = |confirmation: Option<&str>| UserRegistration {
        email: "bob@example.com".into(),
        role: "member".into(),
        password: "password-2".into(),
        password_confirmation: confirmation.map(str::to_owned),
    };
    let e = User::register_with_password(&auth, bob(Some("password-3")), ExtraClaims::new()).await;
    assert!(matches!(e, Err(Error::PasswordConfirmationMismatch)));
    let e = User::register_with_password(&auth, bob(None), ExtraClaims::new()).await;
    assert!(
        matches!(e, Err(Error::InvalidInput(_))),
        "confirmation required"
    );
    let b = User::register_with_password(&auth, bob(Some("password-2")), ExtraClaims::new())
        .await
        .unwrap();
    assert_ne!(b.user.id, ada.user.id);
    let again = UserRegistration {
        email: "ADA@example.com".into(),
        ..bob(Some("password-2"))
    };
    let e = User::register_with_password(&auth, again, ExtraClaims::new()).await;
    assert!(matches!(e, Err(Error::IdentityTaken)));
}

pub async fn registration_checks_write_nothing_when_they_fail<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let u = crate::new_member::<User>("bob@example.com");
    let id = u.id;
    let e = auth
        .register_with_password(
            u.clone(),
            "password-1",
            Some("password-2"),
            ExtraClaims::new(),
        )
        .await;
    assert!(matches!(e, Err(Error::PasswordConfirmationMismatch)));
    let e = auth
        .register_with_password(u.clone(), "password-1", None, ExtraClaims::new())
        .await;
    assert!(
        matches!(e, Err(Error::InvalidInput(_))),
        "confirmation required"
    );
    let e = auth
        .register_with_password(u.clone(), "short", Some("short"), ExtraClaims::new())
        .await;
    assert!(matches!(e, Err(Error::InvalidInput(_))));
    let e = crate::try_register(&auth, " ", "password-1", ExtraClaims::new()).await;
    assert!(matches!(e, Err(Error::InvalidInput(_))));
    let none: Option<User> = UserStore::<User>::get_user(auth.store(), &id)
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(f.token_count().await, 0);

    register(&auth, "bob@example.com").await;
    let e = crate::try_register(&auth, "bob@example.com", "password-9", ExtraClaims::new()).await;
    assert!(matches!(e, Err(Error::IdentityTaken)));
}

pub async fn concurrent_registrations_of_one_identity_have_one_winner<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let auth = Arc::new(auth);
    let attempt = |_| {
        let auth = auth.clone();
        async move {
            crate::try_register(
                &*auth,
                "race@example.com",
                crate::PASSWORD,
                ExtraClaims::new(),
            )
            .await
        }
    };
    crate::exactly_one_winner(16, attempt, |e| matches!(e, Error::IdentityTaken)).await;
}

pub async fn sign_in_with_password_and_the_same_error_for_unknown_and_wrong<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let s = register(&auth, "ada@example.com").await;
    let signed = crate::sign_in_as(&auth, "ada@example.com", TokenType::User).await;
    assert_eq!(signed.user.id, s.user.id);
    assert_eq!(signed.token.claims.purpose, "user");
    assert!(auth.authenticate(&signed.token.token).await.is_ok());

    let wrong = User::sign_in_with_password(
        &auth,
        "ada@example.com",
        "password-2",
        TokenType::User,
        ExtraClaims::new(),
    )
    .await;
    let unknown = User::sign_in_with_password(
        &auth,
        "nobody@example.com",
        "password-1",
        TokenType::User,
        ExtraClaims::new(),
    )
    .await;
    assert!(matches!(wrong, Err(Error::AuthenticationFailed)));
    assert!(matches!(unknown, Err(Error::AuthenticationFailed)));
    assert_eq!(
        wrong.unwrap_err().to_string(),
        unknown.unwrap_err().to_string()
    );
}

pub async fn sign_in_tokens_are_short_lived_single_use_and_not_bearer_tokens<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let s = register(&auth, "ada@example.com").await;
    let signed = crate::sign_in_as(&auth, "ada@example.com", TokenType::SignIn).await;
    let t = signed.token;
    assert_eq!(t.claims.purpose, "sign_in");
    assert_eq!(t.claims.exp - t.claims.iat, 60, "60 s by default");
    let row = Token::get_token(auth.store(), &t.claims.jti, Some(&Purpose::SIGN_IN))
        .await
        .unwrap();
    assert!(row.is_some(), "stored with purpose sign_in");
    assert!(matches!(
        auth.authenticate(&t.token).await,
        Err(Error::WrongPurpose { .. })
    ));

    let mut per_call = ExtraClaims::new();
    per_call.insert("device".into(), json!("phone"));
    let exchanged = User::sign_in_with_token(&auth, &t.token, per_call)
        .await
        .unwrap();
    assert_eq!(exchanged.user.id, s.user.id);
    assert_eq!(exchanged.token.claims.purpose, "user");
    assert_eq!(exchanged.token.claims.extra["device"], "phone");
    let me = auth.authenticate(&exchanged.token.token).await.unwrap();
    assert_eq!(
        me.claims.extra["device"], "phone",
        "restored from the store"
    );

    let again = User::sign_in_with_token(&auth, &t.token, ExtraClaims::new()).await;
    assert!(matches!(again, Err(Error::Revoked)), "{again:?}");
    // A normal token cannot be exchanged.
    let e = User::sign_in_with_token(&auth, &exchanged.token.token, ExtraClaims::new()).await;
    assert!(matches!(e, Err(Error::WrongPurpose { .. })));
}

pub async fn sixteen_concurrent_exchanges_have_exactly_one_success<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    {
        register(&auth, "ada@example.com").await;
        let t = crate::sign_in_as(&auth, "ada@example.com", TokenType::SignIn)
            .await
            .token
            .token;
        let auth = Arc::new(auth);
        crate::exactly_one_winner(
            16,
            |_| {
                let (auth, t) = (auth.clone(), t.clone());
                async move { User::sign_in_with_token(&auth, &t, ExtraClaims::new()).await }
            },
            |e| matches!(e, Error::Revoked),
        )
        .await;
    }
}

pub async fn extra_claims_precedence_and_storage<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let s = register(&auth, "ada@example.com").await;
    let c = &s.token.claims;
    assert_eq!(c.extra["role"], "member", "from the DSL function");
    assert_eq!(
        c.sub,
        format!("user?id={}", s.user.id),
        "the DSL cannot set sub"
    );

    let mut per_call = ExtraClaims::new();
    per_call.insert("role".into(), json!("auditor"));
    per_call.insert("sub".into(), json!("user?id=someone"));
    let signed = User::sign_in_with_password(
        &auth,
        "ada@example.com",
        "password-1",
        TokenType::User,
        per_call,
    )
    .await
    .unwrap();
    let c = &signed.token.claims;
    assert_eq!(
        c.extra["role"], "auditor",
        "per-call claims win over the DSL's"
    );
    assert_eq!(c.sub, format!("user?id={}", s.user.id), "never sub");
    let row = Token::get_token(auth.store(), &c.jti, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.extra_data, Some(json!({"role": "auditor"})));
    let me = auth.authenticate(&signed.token.token).await.unwrap();
    assert_eq!(
        serde_json::Value::Object(me.claims.extra),
        json!({"role": "auditor"})
    );
}

pub async fn log_out_everywhere_respects_subjects_and_purposes<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let ada = register(&auth, "ada@example.com").await;
    let bob = register(&auth, "bob@example.com").await;
    let sign_in = crate::sign_in_as(&auth, "ada@example.com", TokenType::SignIn)
        .await
        .token;
    let confirm = auth
        .issue(
            &ada.user,
            &Purpose::from_static("confirm"),
            auth_core::Lifetime::from_secs(600),
            ExtraClaims::new(),
        )
        .await
        .unwrap();

    let n = User::log_out_everywhere(&auth, &ada.user).await.unwrap();
    assert_eq!(
        n, 2,
        "the user token and the sign-in token; `confirm` is excluded"
    );
    assert!(matches!(
        auth.authenticate(&ada.token.token).await,
        Err(Error::Revoked)
    ));
    assert!(matches!(
        User::sign_in_with_token(&auth, &sign_in.token, ExtraClaims::new()).await,
        Err(Error::Revoked)
    ));
    assert!(
        auth.verify(&confirm.token).await.is_ok(),
        "excluded purpose survives"
    );
    assert!(
        auth.authenticate(&bob.token.token).await.is_ok(),
        "another user's tokens are untouched"
    );
}

pub async fn change_password_kills_every_earlier_token<F: Fixture>(f: F) {
    let auth = auth(&f).await;
    let ada = register(&auth, "ada@example.com").await;
    let other_session = crate::sign_in_as(&auth, "ada@example.com", TokenType::User).await;
    let me = auth.authenticate(&ada.token.token).await.unwrap().user;

    let e = User::change_password(
        &auth,
        &me,
        "wrong-password",
        "password-2",
        Some("password-2"),
        auth_core::ExtraClaims::new(),
    )
    .await;
    assert!(matches!(e, Err(Error::AuthenticationFailed)));
    let e = User::change_password(
        &auth,
        &me,
        "password-1",
        "password-2",
        Some("password-3"),
        auth_core::ExtraClaims::new(),
    )
    .await;
    assert!(matches!(e, Err(Error::PasswordConfirmationMismatch)));
    assert!(
        auth.authenticate(&ada.token.token).await.is_ok(),
        "failed attempts change nothing"
    );

    let fresh = User::change_password(
        &auth,
        &me,
        "password-1",
        "password-2",
        Some("password-2"),
        auth_core::ExtraClaims::new(),
    )
    .await
    .unwrap();
    assert!(
        matches!(
            auth.authenticate(&ada.token.token).await,
            Err(Error::Revoked)
        ),
        "the calling token"
    );
    assert!(matches!(
        auth.authenticate(&other_session.token.token).await,
        Err(Error::Revoked)
    ));
    assert!(
        auth.authenticate(&fresh.token.token).await.is_ok(),
        "the new token works"
    );
    let old = User::sign_in_with_password(
        &auth,
        "ada@example.com",
        "password-1",
        TokenType::User,
        ExtraClaims::new(),
    )
    .await;
    assert!(matches!(old, Err(Error::AuthenticationFailed)));
    User::sign_in_with_password(
        &auth,
        "ada@example.com",
        "password-2",
        TokenType::User,
        ExtraClaims::new(),
    )
    .await
    .unwrap();
}

pub async fn renamed_actions_in_deny_list_mode<F: Fixture>(f: F) {
    f.create_user_table::<Member>().await;
    let store = f.store();
    let auth = Auth::<Member, _>::new(store)
        .unwrap()
        .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
        .unwrap();
    let m = MemberRegistration {
        login: "neo".into(),
        password: "password-1".into(),
        password_confirmation: None,
    };
    let s = Member::sign_up(&auth, m, ExtraClaims::new()).await.unwrap();
    assert!(s.user.hash.starts_with("$argon2id$"));
    assert!(s.user.id > 0, "a made-up i64 key is positive");
    let t = Member::log_in(
        &auth,
        "neo",
        "password-1",
        TokenType::SignIn,
        ExtraClaims::new(),
    )
    .await
    .unwrap()
    .token;
    assert_eq!(t.claims.exp - t.claims.iat, 300);
    let normal = Member::redeem(&auth, &t.token, ExtraClaims::new())
        .await
        .unwrap();
    assert!(matches!(
        Member::redeem(&auth, &t.token, ExtraClaims::new()).await,
        Err(Error::Revoked)
    ));
    let me = auth.authenticate(&normal.token.token).await.unwrap().user;
    Member::rotate_password(
        &auth,
        &me,
        "password-1",
        "password-2",
        None,
        auth_core::ExtraClaims::new(),
    )
    .await
    .unwrap();
    // Even without log-out-everywhere, a token issued under the old password
    // no longer authenticates: it carries the old hash's fingerprint.
    assert!(matches!(
        auth.authenticate(&normal.token.token).await,
        Err(Error::CredentialChanged)
    ));
}

pub async fn password_actions_need_a_password_strategy_and_enabled_options<F: Fixture>(f: F) {
    f.create_user_table::<NoSignInTokens>().await;
    let store = f.store();
    let auth = Auth::<NoSignInTokens, _>::new(store)
        .unwrap()
        .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
        .unwrap();
    let u = NoSignInTokens {
        id: 1,
        email: "a@b.c".into(),
        hashed_password: String::new(),
    };
    auth.register_with_password(u, "password-1", Some("password-1"), ExtraClaims::new())
        .await
        .unwrap();
    let e = NoSignInTokens::sign_in_with_password(
        &auth,
        "a@b.c",
        "password-1",
        TokenType::SignIn,
        ExtraClaims::new(),
    )
    .await;
    assert!(matches!(e, Err(Error::NotConfigured(_))));
}

/// Expands to one `#[tokio::test]` per user-action case, each on a fresh
/// [`Fixture`] from `$make` (an async expression).
#[macro_export]
macro_rules! user_action_suite {
    ($make:expr) => {
        $crate::user_action_suite!(@cases $make;
            register_hashes_stores_and_signs_in,
            registration_checks_write_nothing_when_they_fail,
            the_registration_input_needs_no_key_and_no_hash,
            concurrent_registrations_of_one_identity_have_one_winner,
            sign_in_with_password_and_the_same_error_for_unknown_and_wrong,
            sign_in_tokens_are_short_lived_single_use_and_not_bearer_tokens,
            sixteen_concurrent_exchanges_have_exactly_one_success,
            extra_claims_precedence_and_storage,
            log_out_everywhere_respects_subjects_and_purposes,
            change_password_kills_every_earlier_token,
            renamed_actions_in_deny_list_mode,
            password_actions_need_a_password_strategy_and_enabled_options,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture = $make.await;
            $crate::user_actions::$case(fixture).await;
        }
    )*};
}
