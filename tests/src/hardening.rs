//! The findings of the outside security review, one case each, named after
//! the finding it answers (`fNN_...`; each failed on the code before the
//! fix). Written once, generic over the backend; a backend runs them all
//! with [`hardening_suite!`](crate::hardening_suite).
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use auth_core::{
    Auth, Authenticated, Error, ExtraClaims, HashCost, Lifetime, Purpose, Secret, Settings,
    SignedIn, TokenType, UserStore, token_resource,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::conformance::{Backend, Fixture, SuiteStore};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    tokens(
        token_resource = Token,
        signing_secret(env = "HARDENING_TEST_SECRET_UNSET"),
        store_all_tokens,
        require_token_presence_for_authentication,
    ),
    strategies(password()),
    add_ons(log_out_everywhere(apply_on_password_change)),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

/// What a backend lets the cases do beside the store traits.
pub trait Hooks: Fixture {
    /// Whether the store holds any string, NUL included.
    const HOLDS_NUL: bool;
    /// The SQL that makes every statement writing `tokens` in the way
    /// `{when}` says fail, and the SQL that undoes it (`None`: a store
    /// without SQL).
    const REFUSE_TOKEN_WRITES: Option<[&'static str; 2]>;
}

/// An application's own role update, one column (`false`: a store without
/// SQL, which writes whole users only).
pub async fn promote<F: Fixture>(store: &F::Store, id: Uuid) -> bool {
    let promote = format!("UPDATE users SET role = 'admin' WHERE id = '{id}'");
    F::execute(store, promote).await == Some(1)
}

/// Makes every statement writing `tokens` in the way `when` says fail
/// (`false`: a store without SQL, which writes under one lock and cannot
/// fail half way).
pub async fn fail_token_writes<F: Hooks>(store: &F::Store, when: &str) -> bool {
    let Some([refuse, _]) = F::REFUSE_TOKEN_WRITES else {
        return false;
    };
    F::execute(store, refuse.replace("{when}", when)).await;
    true
}

/// Undoes [`fail_token_writes`].
pub async fn heal<F: Hooks>(store: &F::Store) {
    if let Some([_, heal]) = F::REFUSE_TOKEN_WRITES {
        F::execute(store, heal.to_owned()).await;
    }
}

/// A fresh fixture of the backend and its store.
async fn backend<B: Backend>(b: B) -> (B::Fixture, <B::Fixture as Fixture>::Store) {
    let f = b.fresh().await;
    let store = f.store();
    (f, store)
}

const SECRET: &str = "hardening-secret-0123456789abcdef0123456789abcdef";

fn with_settings<S: SuiteStore>(settings: Settings<User>, store: S) -> Auth<User, S> {
    Auth::with_secret(settings, &Secret::from(SECRET), store)
        .unwrap()
        .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
        .unwrap()
}

/// Allow-list mode (the derive's settings), or deny-list mode with nothing stored.
async fn auth<B: Backend>(
    b: B,
    allow_list: bool,
) -> (B::Fixture, Auth<User, <B::Fixture as Fixture>::Store>) {
    let (guard, store) = backend(b).await;
    let mut settings = User::settings();
    if !allow_list {
        settings.tokens.store_all_tokens = false;
        settings.tokens.require_token_presence_for_authentication = false;
        settings.log_out_everywhere = None;
    }
    (guard, with_settings(settings, store))
}

async fn register<S: SuiteStore>(
    auth: &Auth<User, S>,
    email: &str,
    password: &str,
) -> SignedIn<User> {
    crate::register_with(auth, email, password, ExtraClaims::new()).await
}

/// Changes `user`'s password from `old-password` to `new` (confirmed).
async fn change_from_old<S: SuiteStore>(
    auth: &Auth<User, S>,
    user: &User,
    new: &str,
) -> Result<SignedIn<User>, Error> {
    User::change_password(
        auth,
        user,
        "old-password",
        new,
        Some(new),
        ExtraClaims::new(),
    )
    .await
}

async fn sign_in<S: SuiteStore>(
    auth: &Auth<User, S>,
    email: &str,
    password: &str,
) -> Result<SignedIn<User>, Error> {
    User::sign_in_with_password(auth, email, password, TokenType::User, ExtraClaims::new()).await
}

/// Finding 2: a sign-in that verified the old password, racing a password
/// change, minted a token the change's log-out-everywhere never saw (11 of
/// 12 trials). Now every token carries the verified hash's fingerprint and
/// dies with it: in 50 trials per mode, no token minted with the old
/// password authenticates after the change.
pub async fn f02_a_sign_in_racing_a_password_change_never_survives_it<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    for allow_list in [true, false] {
        let (_guard, auth) = auth(b, allow_list).await;
        let auth = Arc::new(auth);
        let mut survivors = 0;
        let mut signed_in = 0;
        // Trials whose old-password sign-in succeeded and finished after
        // the change had begun: the race the name speaks of.
        let mut raced = 0;
        for trial in 0..50u64 {
            let email = format!("race{trial}@example.com");
            let me = register(&auth, &email, "old-password").await.user;
            let changer = {
                let (auth, me) = (auth.clone(), me.clone());
                tokio::spawn(async move {
                    let began = std::time::Instant::now();
                    (began, change_from_old(&auth, &me, "new-password").await)
                })
            };
            let signer = {
                let (auth, email) = (auth.clone(), email.clone());
                tokio::spawn(async move {
                    // Spread the sign-ins across the change's whole run.
                    tokio::time::sleep(Duration::from_micros(trial * 40)).await;
                    let signed = sign_in(&auth, &email, "old-password").await;
                    (signed, std::time::Instant::now())
                })
            };
            let (change_began, changed) = changer.await.unwrap();
            changed.unwrap();
            let (signed, finished) = signer.await.unwrap();
            if let Ok(signed) = signed {
                signed_in += 1;
                raced += usize::from(finished > change_began);
                if auth.authenticate(&signed.token.token).await.is_ok() {
                    survivors += 1;
                }
            }
        }
        assert_eq!(
            survivors, 0,
            "allow_list={allow_list}: {signed_in} old-password sign-ins, {raced} raced"
        );
        assert!(
            raced > 0,
            "allow_list={allow_list}: no old-password sign-in finished after the change began \
             ({signed_in} signed in): the race was not exercised"
        );
    }
}

/// Finding 2, sign-in tokens: one issued with the old password cannot be
/// exchanged after the change (the exchange checks the fingerprint).
pub async fn f02_a_sign_in_token_from_the_old_password_dies_with_it<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    for allow_list in [true, false] {
        let (_guard, auth) = auth(b, allow_list).await;
        let me = register(&auth, "ada@example.com", "old-password")
            .await
            .user;
        let exchange = User::sign_in_with_password(
            &auth,
            "ada@example.com",
            "old-password",
            TokenType::SignIn,
            ExtraClaims::new(),
        )
        .await
        .unwrap()
        .token;
        change_from_old(&auth, &me, "new-password").await.unwrap();
        let e = User::sign_in_with_token(&auth, &exchange.token, ExtraClaims::new()).await;
        assert!(
            matches!(
                e,
                Err(Error::CredentialChanged | Error::Revoked | Error::NotPresent)
            ),
            "allow_list={allow_list}: {e:?}"
        );
    }
}

/// Finding 3: two changes proving the same old password both succeeded, and
/// the full-row update from a stale copy undid other changes. Now the
/// change is a compare-and-swap on the proved hash touching only that
/// column: one winner, and a role changed meanwhile is kept (50 trials; the
/// role part where the store can update one column: PostgreSQL).
pub async fn f03_concurrent_password_changes_have_one_winner_and_keep_other_fields<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    let (_guard, auth) = auth(b, true).await;
    let auth = Arc::new(auth);
    for trial in 0..50 {
        let email = format!("cas{trial}@example.com");
        let me = register(&auth, &email, "old-password").await.user;
        let change = |new: &'static str| {
            let (auth, me) = (auth.clone(), me.clone());
            tokio::spawn(async move { change_from_old(&auth, &me, new).await })
        };
        let (a, b) = (change("password-a"), change("password-b"));
        // A role change made beside the password changes, as a column
        // update (where the store has columns).
        let promote = {
            let (auth, id) = (auth.clone(), me.id);
            tokio::spawn(async move { promote::<B::Fixture>(auth.store(), id).await })
        };
        let results = [a.await.unwrap(), b.await.unwrap()];
        let promoted = promote.await.unwrap();
        let winners: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(winners.len(), 1, "trial {trial}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(Error::AuthenticationFailed))),
            "the loser proves a password that is no longer current"
        );
        let stored: User = UserStore::<User>::get_user(auth.store(), &me.id)
            .await
            .unwrap()
            .unwrap();
        if promoted {
            assert_eq!(
                stored.role, "admin",
                "trial {trial}: the role change was lost"
            );
        }
        let winner = winners[0].as_ref().unwrap();
        assert_eq!(stored.hashed_password, winner.user.hashed_password);
        let new = if results[0].is_ok() {
            "password-a"
        } else {
            "password-b"
        };
        assert!(sign_in(&auth, &email, new).await.is_ok());
        assert!(sign_in(&auth, &email, "old-password").await.is_err());
    }
}

/// Finding 6: the allow-list lookup matched `jti` only, so a token forged
/// with the victim's `sub` and the attacker's own stored `jti` authenticated
/// as the victim. Rows are now bound to the token's subject.
pub async fn f06_allow_list_rows_are_bound_to_the_subject<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    let (_guard, auth) = auth(b, true).await;
    let victim = register(&auth, "victim@example.com", "password-1")
        .await
        .user;
    let attacker = register(&auth, "eve@example.com", "password-1").await;
    let mut forged = attacker.token.claims.clone();
    forged.sub = auth_core::UserResource::subject(&victim);
    let token = auth.jwt().sign(&forged).unwrap();
    for result in [
        auth.authenticate(&token).await.map(|_| ()),
        auth.verify(&token).await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(Error::NotPresent)), "{result:?}");
    }
    // The attacker's own token still works.
    assert!(auth.authenticate(&attacker.token.token).await.is_ok());
}

/// Settings with a 60 s leeway.
fn with_leeway(allow_list: bool) -> Settings<User> {
    let mut settings = User::settings();
    settings.tokens.leeway = Lifetime::from_secs(60);
    if !allow_list {
        settings.tokens.store_all_tokens = false;
        settings.tokens.require_token_presence_for_authentication = false;
        settings.log_out_everywhere = None;
    }
    settings
}

/// A token for `user` that expired 10 s ago (still valid under a 60 s
/// leeway), stored in allow-list mode as issuing would have stored it.
async fn just_expired<S: SuiteStore>(auth: &Auth<User, S>, user: &User) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = auth
        .token_for_user(user, ExtraClaims::new())
        .await
        .unwrap()
        .claims;
    claims.jti = auth_core::new_jti();
    (claims.iat, claims.nbf, claims.exp) = (now - 3_600, now - 3_600, now - 10);
    let token = auth.jwt().sign(&claims).unwrap();
    if auth.settings().tokens.store_all_tokens {
        let facts = auth_core::TokenFacts::try_from(&claims).unwrap();
        Token::store_token(auth.store(), &facts, &Purpose::USER, None)
            .await
            .unwrap();
    }
    token
}

/// A runtime with a leeway (`allow_list` or not) on a fresh fixture, a
/// registered member and a token of theirs just expired (within the
/// leeway).
async fn expired_within_the_leeway<B: Backend>(
    b: B,
    allow_list: bool,
) -> (
    B::Fixture,
    Auth<User, <B::Fixture as Fixture>::Store>,
    User,
    String,
)
where
    B::Fixture: Hooks,
{
    let (guard, store) = backend(b).await;
    let auth = with_settings(with_leeway(allow_list), store);
    let me = register(&auth, "ada@example.com", "password-1").await.user;
    let token = just_expired(&auth, &me).await;
    (guard, auth, me, token)
}

/// Finding 7: a revocation row expired with its token's `exp`, but the
/// verifier accepts until `exp + leeway`: after the expunger ran, a revoked
/// token worked again. Revocations are now kept for the leeway plus a skew
/// margin.
pub async fn f07_a_revoked_token_stays_revoked_through_the_leeway_and_the_expunger<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    for allow_list in [false, true] {
        let (_guard, auth, _, token) = expired_within_the_leeway(b, allow_list).await;
        assert!(auth.authenticate(&token).await.is_ok(), "inside the leeway");
        auth.revoke(&token).await.unwrap();
        Token::expunge_expired(auth.store()).await.unwrap();
        let e = auth.authenticate(&token).await;
        assert!(
            matches!(e, Err(Error::Revoked)),
            "allow_list={allow_list}: {e:?}"
        );
    }
}

/// Finding 7, log out everywhere: the flipped rows are kept past the leeway too.
pub async fn f07_log_out_everywhere_survives_the_expunger_within_the_leeway<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    let (_guard, auth, me, token) = expired_within_the_leeway(b, true).await;
    User::log_out_everywhere(&auth, &me).await.unwrap();
    Token::expunge_expired(auth.store()).await.unwrap();
    assert!(matches!(
        auth.authenticate(&token).await,
        Err(Error::Revoked)
    ));
}

/// Finding 15 (observation): in allow-list mode the leeway was ignored for
/// `exp` (the row had expired); it now counts as for the token itself.
pub async fn f15_the_leeway_applies_to_allow_list_presence<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    let (_guard, auth, _, token) = expired_within_the_leeway(b, true).await;
    let me_again = auth.authenticate(&token).await;
    assert!(me_again.is_ok(), "{me_again:?}");
}

/// Finding 9: `Ada@Example.com`, `ADA@EXAMPLE.COM` all registered, and
/// `aDa@example.com` could not sign in. Identities are now normalised
/// (trimmed, NFC, lower case, no control characters) before every insert
/// and lookup.
pub async fn f09_identities_are_normalised_and_unique_case_insensitively<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    let (_guard, auth) = auth(b, true).await;
    let ada = register(&auth, "  Ada@Example.com ", "password-1").await;
    assert_eq!(ada.user.email, "ada@example.com");
    for other in [
        "ada@example.com",
        "ADA@EXAMPLE.COM",
        "ada@example.com\u{a0}",
    ] {
        let e = crate::try_register(&auth, other, crate::PASSWORD, ExtraClaims::new()).await;
        assert!(matches!(e, Err(Error::IdentityTaken)), "{other:?}: {e:?}");
    }
    assert!(
        sign_in(&auth, "aDa@example.com", "password-1")
            .await
            .is_ok()
    );
    // NFC: a decomposed "é" is the composed one.
    register(&auth, "Jos\u{e9}@example.com", "password-1").await;
    assert!(
        sign_in(&auth, "jose\u{301}@example.com", "password-1")
            .await
            .is_ok()
    );
    for bad in [
        "ada\0@example.com",
        "a\nb@example.com",
        "\u{7}@example.com",
        " ",
    ] {
        let e = crate::try_register(&auth, bad, crate::PASSWORD, ExtraClaims::new()).await;
        assert!(matches!(e, Err(Error::InvalidInput(_))), "{bad:?}: {e:?}");
        assert!(matches!(
            sign_in(&auth, bad, "password-1").await,
            Err(Error::InvalidInput(_))
        ));
    }
}

/// Finding 11: a NUL byte in a field the store cannot hold gave a 503 and
/// an ERROR log; it is now invalid input (422), and nothing is written.
pub async fn f11_a_nul_byte_is_invalid_input_not_an_outage<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    let (_guard, auth) = auth(b, true).await;
    let mut user = crate::new_member::<User>("nul@example.com");
    user.role = "admin\0".into();
    let e = auth
        .register_with_password(user, "password-1", Some("password-1"), ExtraClaims::new())
        .await;
    if <B::Fixture as Hooks>::HOLDS_NUL {
        assert!(e.is_ok(), "{e:?}");
    } else {
        assert!(matches!(e, Err(Error::InvalidInput(_))), "{e:?}");
        // Nothing was written: the identity is still free.
        register(&auth, "nul@example.com", "password-1").await;
    }
}

/// Finding 4: the new hash was saved, then log out everywhere ran; a
/// failure in between left the new password in force and every earlier
/// (maybe stolen) token alive. Now one statement: when revoking fails,
/// nothing changed.
pub async fn f04_a_password_change_is_all_or_nothing<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    let (_guard, auth) = auth(b, true).await;
    let ada = register(&auth, "ada@example.com", "old-password").await;
    if !fail_token_writes::<B::Fixture>(auth.store(), "BEFORE UPDATE").await {
        return; // this store cannot fail half way: it writes under one lock
    }
    let e = change_from_old(&auth, &ada.user, "new-password").await;
    assert!(matches!(e, Err(Error::Store(_))), "{e:?}");
    heal::<B::Fixture>(auth.store()).await;
    assert!(
        sign_in(&auth, "ada@example.com", "old-password")
            .await
            .is_ok()
    );
    assert!(
        sign_in(&auth, "ada@example.com", "new-password")
            .await
            .is_err()
    );
    assert!(auth.authenticate(&ada.token.token).await.is_ok());
}

/// Finding 4, registration: the user row and its first token row are
/// written together; when the token row fails, no user is left behind.
pub async fn f04_registration_is_all_or_nothing<B: Backend>(b: B)
where
    B::Fixture: Hooks,
{
    let (_guard, auth) = auth(b, true).await;
    if !fail_token_writes::<B::Fixture>(auth.store(), "BEFORE INSERT").await {
        return; // this store cannot fail half way: it writes under one lock
    }
    let e = crate::try_register(
        &auth,
        "ada@example.com",
        crate::PASSWORD,
        ExtraClaims::new(),
    )
    .await;
    assert!(matches!(e, Err(Error::Store(_))), "{e:?}");
    heal::<B::Fixture>(auth.store()).await;
    let nobody: Option<User> =
        UserStore::<User>::get_user_by_identity(auth.store(), "ada@example.com")
            .await
            .unwrap();
    assert!(
        nobody.is_none(),
        "a user without its token row was left behind"
    );
    register(&auth, "ada@example.com", "password-1").await;
}

/// Expands to one `#[tokio::test]` per finding on `$backend` (a [`Backend`]
/// whose fixture implements [`Hooks`]).
#[macro_export]
macro_rules! hardening_suite {
    ($backend:expr) => {
        $crate::backend_cases!(hardening, 4, $backend;
            f02_a_sign_in_racing_a_password_change_never_survives_it,
            f02_a_sign_in_token_from_the_old_password_dies_with_it,
            f03_concurrent_password_changes_have_one_winner_and_keep_other_fields,
            f06_allow_list_rows_are_bound_to_the_subject,
            f07_a_revoked_token_stays_revoked_through_the_leeway_and_the_expunger,
            f07_log_out_everywhere_survives_the_expunger_within_the_leeway,
            f15_the_leeway_applies_to_allow_list_presence,
            f09_identities_are_normalised_and_unique_case_insensitively,
            f11_a_nul_byte_is_invalid_input_not_an_outage,
            f04_a_password_change_is_all_or_nothing,
            f04_registration_is_all_or_nothing,
        );
    };
}

impl Hooks for auth_core::MemoryStore {
    const HOLDS_NUL: bool = true;
    const REFUSE_TOKEN_WRITES: Option<[&'static str; 2]> = None;
}

impl Hooks for crate::pg::TestDb {
    /// PostgreSQL text and jsonb cannot hold a NUL byte.
    const HOLDS_NUL: bool = false;
    const REFUSE_TOKEN_WRITES: Option<[&'static str; 2]> = Some([
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
         CREATE TRIGGER refuse {when} ON tokens FOR EACH ROW EXECUTE FUNCTION refuse();",
        "DROP TRIGGER refuse ON tokens; DROP FUNCTION refuse();",
    ]);
}

impl Hooks for crate::sqlite::TestSqlite {
    /// SQLite text holds any string, NUL included.
    const HOLDS_NUL: bool = true;
    const REFUSE_TOKEN_WRITES: Option<[&'static str; 2]> = Some([
        "CREATE TRIGGER refuse {when} ON tokens BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        "DROP TRIGGER refuse;",
    ]);
}
