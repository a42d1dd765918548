//! Browser sessions and remember-me through the axum layer, on a real
//! router with tower-sessions over the token table: every case written
//! once, generic over the backend ([`browser_suite!`](crate::browser_suite)).
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;

use auth_core::http::axum::{AuthLayer, CurrentUser};
use auth_core::http::sessions::{
    Cookies, Session, SessionManagerLayer, TokenTableSessionStore, cookie::SameSite,
};
use auth_core::{
    Auth, Authenticated, ClientInfo, HashCost, Secret, SessionIdentifier, SessionKind,
    SignInContext, TokenType, token_resource,
};
use auth_core::{Purpose, TokenResource, UserStore};
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::conformance::{Backend, Fixture, SuiteStore};

#[token_resource]
pub struct Token;

#[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
#[authentication(
    session_identifier = "jti",
    tokens(
        token_resource = Token,
        token_lifetime = "15m",
        store_all_tokens,
        require_token_presence_for_authentication,
    ),
    strategies(password(), remember_me(cookie_name = "remember_me", token_lifetime = "30d")),
    add_ons(sessions(lifetime = "30d"), log_out_everywhere(apply_on_password_change)),
)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub hashed_password: String,
    pub role: String,
}

const SECRET: &str = "browser-secret-0123456789abcdef0123456789abcdef";
use crate::PASSWORD;

/// How the runtime is configured for a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The derive's settings: allow-list, sessions, `"jti"`.
    AllowList,
    /// Deny-list tokens, sessions, `"jti"`.
    DenyList,
    /// Deny-list, `"jti"`, no sessions add-on: the cookie keeps the token.
    NoSessions,
    /// `"unsafe"`: the cookie keeps the subject only.
    Unsafe,
}

#[allow(missing_debug_implementations)]
pub struct App<S> {
    pub auth: Arc<Auth<User, S>>,
    pub router: Router,
}

pub async fn app<B: Backend>(
    b: B,
    mode: Mode,
) -> (B::Fixture, App<<B::Fixture as Fixture>::Store>) {
    let f = b.fresh().await;
    let mut settings = User::settings();
    if mode != Mode::AllowList {
        settings.tokens.store_all_tokens = false;
        settings.tokens.require_token_presence_for_authentication = false;
        settings.log_out_everywhere = None;
    }
    if mode == Mode::NoSessions {
        settings.sessions = None;
    }
    if mode == Mode::Unsafe {
        settings.session_identifier = SessionIdentifier::Unsafe;
    }
    let auth = Arc::new(
        Auth::with_secret(settings, &Secret::from(SECRET), f.store())
            .unwrap()
            .with_hash_cost(HashCost::INSECURE_FAST_FOR_TESTS)
            .unwrap(),
    );
    let router = router(auth.clone());
    (f, App { auth, router })
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: String,
    remember_me: Option<String>,
}

type A<S> = Arc<Auth<User, S>>;

async fn sign_in<S: SuiteStore>(
    State(auth): State<A<S>>,
    session: Session,
    cookies: Cookies,
    client: ClientInfo,
    Form(form): Form<SignInForm>,
) -> StatusCode {
    let context = SignInContext::default()
        .client(client)
        .kind(SessionKind::Cookie);
    let Ok(signed_in) =
        User::sign_in_with_password(&auth, &form.email, &form.password, TokenType::User, context)
            .await
    else {
        return StatusCode::UNAUTHORIZED;
    };
    auth.store_in_session(&session, &signed_in).await.unwrap();
    if form.remember_me.is_some() {
        let token = auth.issue_remember_me(&signed_in).await.unwrap();
        cookies.add(auth.remember_me_cookie(&token).unwrap());
    }
    StatusCode::NO_CONTENT
}

async fn me(CurrentUser(me): CurrentUser<User>) -> String {
    format!(
        "{} {}",
        me.user.email,
        me.claims.sid.unwrap_or_else(|| "-".into())
    )
}

async fn sign_out<S: SuiteStore>(
    State(auth): State<A<S>>,
    session: Session,
    cookies: Cookies,
) -> StatusCode {
    auth.sign_out_of_session(&session, &cookies).await.unwrap();
    StatusCode::NO_CONTENT
}

async fn visit(session: Session) -> StatusCode {
    session.insert("visited", true).await.unwrap();
    StatusCode::NO_CONTENT
}

fn router<S: SuiteStore>(auth: A<S>) -> Router {
    let sessions = SessionManagerLayer::new(TokenTableSessionStore::new(auth.clone()))
        .with_secure(false)
        .with_same_site(SameSite::Lax);
    Router::new()
        .route("/sign_in", post(sign_in::<S>))
        .route("/me", get(me))
        .route("/sign_out", post(sign_out::<S>))
        .route("/visit", post(visit))
        .layer(AuthLayer::optional(auth.clone()))
        .layer(sessions)
        .with_state(auth)
}

/// A browser: a cookie jar over the router.
#[derive(Clone, Debug, Default)]
pub struct Browser {
    pub jar: BTreeMap<String, String>,
    /// The `Set-Cookie` headers of the last response.
    pub set_cookies: Vec<String>,
}

impl Browser {
    pub async fn send(
        &mut self,
        router: &Router,
        method: &str,
        uri: &str,
        form: Option<&str>,
        bearer: Option<&str>,
    ) -> (StatusCode, String) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::USER_AGENT, "TestBrowser/1.0");
        if !self.jar.is_empty() {
            let cookie = self
                .jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header(header::COOKIE, cookie);
        }
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match form {
            Some(f) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(f.to_owned())
            }
            None => Body::empty(),
        };
        let mut svc = router.clone().into_service::<Body>();
        std::future::poll_fn(|cx| tower_service::Service::poll_ready(&mut svc, cx))
            .await
            .unwrap();
        let res = tower_service::Service::call(&mut svc, req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status();
        self.set_cookies = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in self.set_cookies.clone() {
            let pair = c.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let gone = c.to_ascii_lowercase().contains("max-age=0");
            if gone {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn sign_in(&mut self, router: &Router, email: &str, remember: bool) -> StatusCode {
        let mut form = format!("email={email}&password={PASSWORD}");
        if remember {
            form.push_str("&remember_me=on");
        }
        self.send(router, "POST", "/sign_in", Some(&form), None)
            .await
            .0
    }

    pub async fn me(&mut self, router: &Router) -> StatusCode {
        self.send(router, "GET", "/me", None, None).await.0
    }

    /// The `Set-Cookie` header of `name` in the last response.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

pub async fn register<S: SuiteStore>(auth: &Auth<User, S>, email: &str) -> User {
    crate::register_with(auth, email, PASSWORD, ClientInfo::default())
        .await
        .user
}

const SESSION_COOKIE: &str = "id";

/// Ada registered, and a browser of hers signed in (remembered or not).
async fn ada_signed_in<S: SuiteStore>(app: &App<S>, remember: bool) -> (User, Browser) {
    let ada = register(&app.auth, "ada@example.com").await;
    let mut browser = Browser::default();
    assert_eq!(
        browser
            .sign_in(&app.router, "ada@example.com", remember)
            .await,
        StatusCode::NO_CONTENT
    );
    (ada, browser)
}

pub async fn a_cookie_session_lives_from_sign_in_to_sign_out<B: Backend>(b: B) {
    for mode in [
        Mode::AllowList,
        Mode::DenyList,
        Mode::NoSessions,
        Mode::Unsafe,
    ] {
        let (_f, app) = app(b, mode).await;
        let ada = register(&app.auth, "ada@example.com").await;
        let mut browser = Browser::default();
        assert_eq!(browser.me(&app.router).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            browser.sign_in(&app.router, "ada@example.com", false).await,
            StatusCode::NO_CONTENT,
            "{mode:?}"
        );
        let cookie = browser
            .set_cookie(SESSION_COOKIE)
            .expect("a session cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let (status, body) = browser.send(&app.router, "GET", "/me", None, None).await;
        assert_eq!(
            (status, body.split(' ').next()),
            (StatusCode::OK, Some("ada@example.com")),
            "{mode:?}"
        );
        if mode != Mode::NoSessions {
            let sessions = User::list_sessions(&app.auth, &ada, None).await.unwrap();
            let cookie_sessions: Vec<_> = sessions.iter().filter(|s| s.kind == "cookie").collect();
            assert_eq!(cookie_sessions.len(), 1, "{mode:?}: {sessions:?}");
            assert_eq!(
                cookie_sessions[0].user_agent.as_deref(),
                Some("TestBrowser/1.0")
            );
        }
        // The cookie, copied before sign-out, is worth nothing after it.
        let copy = browser.clone();
        assert_eq!(
            browser
                .send(&app.router, "POST", "/sign_out", None, None)
                .await
                .0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            browser.me(&app.router).await,
            StatusCode::UNAUTHORIZED,
            "{mode:?}"
        );
        let mut copy = copy;
        assert_eq!(
            copy.me(&app.router).await,
            StatusCode::UNAUTHORIZED,
            "{mode:?}: a copied cookie after sign-out"
        );
        if mode != Mode::NoSessions {
            let live = User::list_sessions(&app.auth, &ada, None).await.unwrap();
            let cookie_live = live.iter().filter(|s| s.kind == "cookie").count();
            // "unsafe" keeps no session id, so its session row outlives the sign-out.
            assert_eq!(cookie_live, usize::from(mode == Mode::Unsafe), "{mode:?}");
        }
    }
}

pub async fn an_ended_session_row_signs_the_browser_out<B: Backend>(b: B) {
    for mode in [Mode::AllowList, Mode::DenyList] {
        let (_f, app) = app(b, mode).await;
        let (ada, mut browser) = ada_signed_in(&app, false).await;
        let (status, body) = browser.send(&app.router, "GET", "/me", None, None).await;
        assert_eq!(status, StatusCode::OK);
        let sid = body.split(' ').nth(1).unwrap().to_owned();
        // Ended from another device's device list.
        User::revoke_session(&app.auth, &ada, &sid).await.unwrap();
        assert_eq!(
            browser.me(&app.router).await,
            StatusCode::UNAUTHORIZED,
            "{mode:?}"
        );
    }
    // "unsafe" keeps no session id: ending the row does not sign it out
    // (documented: it cannot be revoked).
    let (_f, app) = app(b, Mode::Unsafe).await;
    let (ada, mut browser) = ada_signed_in(&app, false).await;
    for s in User::list_sessions(&app.auth, &ada, None).await.unwrap() {
        User::revoke_session(&app.auth, &ada, &s.id).await.unwrap();
    }
    assert_eq!(browser.me(&app.router).await, StatusCode::OK);
}

pub async fn log_out_everywhere_and_a_password_change_sign_browsers_out<B: Backend>(b: B) {
    let (_f, app) = app(b, Mode::AllowList).await;
    let ada = register(&app.auth, "ada@example.com").await;
    let mut plain = Browser::default();
    plain.sign_in(&app.router, "ada@example.com", false).await;
    let mut remembered = Browser::default();
    remembered
        .sign_in(&app.router, "ada@example.com", true)
        .await;
    User::log_out_everywhere(&app.auth, &ada).await.unwrap();
    assert_eq!(plain.me(&app.router).await, StatusCode::UNAUTHORIZED);
    assert_eq!(remembered.me(&app.router).await, StatusCode::UNAUTHORIZED);
    assert!(
        remembered
            .set_cookie("remember_me")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "the revoked remember-me cookie is deleted: {:?}",
        remembered.set_cookies
    );

    // A password change (its cred check) ends cookie sessions and
    // remember-me tokens even where no row was revoked.
    let mut plain = Browser::default();
    plain.sign_in(&app.router, "ada@example.com", true).await;
    let remember_cookie = plain.jar.get("remember_me").cloned().unwrap();
    let ada = UserStore::<User>::get_user(app.auth.store(), &ada.id)
        .await
        .unwrap()
        .unwrap();
    User::change_password(
        &app.auth,
        &ada,
        PASSWORD,
        "password-2",
        Some("password-2"),
        ClientInfo::default(),
    )
    .await
    .unwrap();
    assert_eq!(plain.me(&app.router).await, StatusCode::UNAUTHORIZED);
    let mut fresh = Browser::default();
    fresh.jar.insert("remember_me".into(), remember_cookie);
    assert_eq!(fresh.me(&app.router).await, StatusCode::UNAUTHORIZED);
}

pub async fn remember_me_signs_in_a_new_session_of_kind_remember_me<B: Backend>(b: B) {
    for mode in [Mode::AllowList, Mode::DenyList] {
        let (_f, app) = app(b, mode).await;
        let (ada, mut browser) = ada_signed_in(&app, true).await;
        let cookie = browser
            .set_cookie("remember_me")
            .expect("a remember-me cookie")
            .to_owned();
        for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        // The token's remaining life, 30 days from its `iat`: a second
        // boundary may pass between minting it and building the cookie.
        let max_age: u64 = cookie
            .split("Max-Age=")
            .nth(1)
            .and_then(|v| v.split(';').next())
            .and_then(|v| v.trim().parse().ok())
            .expect("Max-Age");
        assert!(
            (2_592_000 - 2..=2_592_000).contains(&max_age),
            "Max-Age {max_age} in {cookie}"
        );
        // The browser restarts: its session cookie is gone, remember-me stays.
        browser.jar.remove(SESSION_COOKIE);
        let (status, body) = browser.send(&app.router, "GET", "/me", None, None).await;
        assert_eq!(status, StatusCode::OK, "{mode:?}");
        assert!(
            browser.set_cookie(SESSION_COOKIE).is_some(),
            "a new cookie session"
        );
        let sid = body.split(' ').nth(1).unwrap();
        let sessions = User::list_sessions(&app.auth, &ada, Some(sid))
            .await
            .unwrap();
        let current = sessions
            .iter()
            .find(|s| s.current)
            .expect("the new session is listed");
        assert_eq!(current.kind, "remember_me");
        // Later requests use the new cookie session (no second sign-in).
        assert_eq!(browser.me(&app.router).await, StatusCode::OK);
        assert_eq!(
            User::list_sessions(&app.auth, &ada, None)
                .await
                .unwrap()
                .len(),
            sessions.len()
        );
        // Sign-out revokes the remember-me token: a copy of the cookie does
        // not sign in and is deleted.
        let remember = browser.jar.get("remember_me").cloned().unwrap();
        browser
            .send(&app.router, "POST", "/sign_out", None, None)
            .await;
        assert!(
            browser
                .set_cookie("remember_me")
                .is_some_and(|c| c.contains("Max-Age=0"))
        );
        let mut thief = Browser::default();
        thief.jar.insert("remember_me".into(), remember);
        assert_eq!(thief.me(&app.router).await, StatusCode::UNAUTHORIZED);
        assert!(
            thief
                .set_cookie("remember_me")
                .is_some_and(|c| c.contains("Max-Age=0")),
            "{:?}",
            thief.set_cookies
        );
    }
}

pub async fn ending_the_session_from_the_device_list_ends_its_remember_me<B: Backend>(b: B) {
    let (_f, app) = app(b, Mode::AllowList).await;
    let ada = register(&app.auth, "ada@example.com").await;
    let mut phone = Browser::default();
    phone.sign_in(&app.router, "ada@example.com", true).await;
    let (_, body) = phone.send(&app.router, "GET", "/me", None, None).await;
    let sid = body.split(' ').nth(1).unwrap().to_owned();
    // Another device ends the phone's session.
    User::revoke_session(&app.auth, &ada, &sid).await.unwrap();
    // The phone's next page: signed out, and its remember-me cookie does
    // not sign it back in (it is deleted).
    assert_eq!(phone.me(&app.router).await, StatusCode::UNAUTHORIZED);
    assert!(
        phone
            .set_cookie("remember_me")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    // Only registration's own (bearer) session is left.
    let live = User::list_sessions(&app.auth, &ada, None).await.unwrap();
    assert!(live.iter().all(|s| s.kind == "bearer"), "{live:?}");
}

pub async fn a_remember_me_token_is_rotated_and_single_use<B: Backend>(b: B) {
    let (_f, app) = app(b, Mode::AllowList).await;
    let ada = register(&app.auth, "ada@example.com").await;
    let signed = app
        .auth
        .sign_in(ada.clone(), ClientInfo::default())
        .await
        .unwrap();
    let first = app.auth.issue_remember_me(&signed).await.unwrap().token;
    // 16 browsers present the same token at once: one signs in.
    let auth = app.auth.clone();
    let winner = crate::exactly_one_winner(
        16,
        |_| {
            let (auth, token) = (auth.clone(), first.clone());
            async move { auth.redeem_remember_me(&token, ClientInfo::default()).await }
        },
        |e| {
            matches!(
                e,
                auth_core::Error::AlreadyRevoked
                    | auth_core::Error::Revoked
                    | auth_core::Error::SessionEnded
            )
        },
    )
    .await;
    let second = winner.remember_me.token;
    assert_ne!(first, second);
    // The spent token is refused; the rotated one works once more.
    assert!(
        app.auth
            .redeem_remember_me(&first, ClientInfo::default())
            .await
            .is_err()
    );
    let again = app
        .auth
        .redeem_remember_me(&second, ClientInfo::default())
        .await
        .unwrap();
    assert_eq!(again.signed_in.user.id, ada.id);
    // The sessions the spent tokens were bound to are over: of the
    // sign-ins above, only the last remembered one is live (beside the
    // registration's own).
    let live = User::list_sessions(&app.auth, &ada, None).await.unwrap();
    let kinds: Vec<_> = live.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["remember_me", "bearer"], "{live:?}");
    assert_eq!(live[0].id, again.signed_in.session.clone().unwrap());
}

pub async fn an_invalid_remember_me_cookie_is_deleted<B: Backend>(b: B) {
    let (_f, app) = app(b, Mode::AllowList).await;
    let ada = register(&app.auth, "ada@example.com").await;
    // An access token is not a remember-me token.
    let access = crate::sign_in_as(&app.auth, "ada@example.com", TokenType::User)
        .await
        .token
        .token;
    for junk in ["junk", access.as_str()] {
        let mut browser = Browser::default();
        browser.jar.insert("remember_me".into(), junk.to_owned());
        assert_eq!(browser.me(&app.router).await, StatusCode::UNAUTHORIZED);
        let gone = browser.set_cookie("remember_me").expect("deleted");
        assert!(gone.contains("Max-Age=0"), "{gone}");
        assert!(!browser.jar.contains_key("remember_me"));
    }
    // A remember-me token is not a bearer token.
    let signed = app.auth.sign_in(ada, ClientInfo::default()).await.unwrap();
    let remember = app.auth.issue_remember_me(&signed).await.unwrap().token;
    let mut browser = Browser::default();
    let (status, _) = browser
        .send(&app.router, "GET", "/me", None, Some(&remember))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(app.auth.authenticate(&remember).await.is_err());
}

pub async fn a_bearer_header_comes_first<B: Backend>(b: B) {
    let (_f, app) = app(b, Mode::AllowList).await;
    register(&app.auth, "ada@example.com").await;
    let grace = register(&app.auth, "grace@example.com").await;
    let mut browser = Browser::default();
    browser.sign_in(&app.router, "ada@example.com", false).await;
    // A bad bearer header is refused even with a good cookie session.
    let (status, _) = browser
        .send(&app.router, "GET", "/me", None, Some("junk"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A good one wins over the cookie session.
    let token = app
        .auth
        .sign_in(grace, ClientInfo::default())
        .await
        .unwrap()
        .token
        .token;
    let (status, body) = browser
        .send(&app.router, "GET", "/me", None, Some(&token))
        .await;
    assert_eq!(
        (status, body.split(' ').next()),
        (StatusCode::OK, Some("grace@example.com"))
    );
}

pub async fn the_session_id_changes_at_sign_in<B: Backend>(b: B) {
    let (_f, app) = app(b, Mode::AllowList).await;
    register(&app.auth, "ada@example.com").await;
    let mut browser = Browser::default();
    browser
        .send(&app.router, "POST", "/visit", None, None)
        .await;
    let planted = browser
        .jar
        .get(SESSION_COOKIE)
        .cloned()
        .expect("an anonymous session");
    browser.sign_in(&app.router, "ada@example.com", false).await;
    let signed_in = browser.jar.get(SESSION_COOKIE).cloned().unwrap();
    assert_ne!(planted, signed_in, "sign-in cycles the session id");
    // Whoever planted the old id is not signed in.
    let mut attacker = Browser::default();
    attacker.jar.insert(SESSION_COOKIE.into(), planted);
    assert_eq!(attacker.me(&app.router).await, StatusCode::UNAUTHORIZED);
    assert_eq!(browser.me(&app.router).await, StatusCode::OK);
}

pub async fn cookie_session_records_are_rows_of_the_token_table<B: Backend>(b: B) {
    let (_f, app) = app(b, Mode::AllowList).await;
    let (ada, browser) = ada_signed_in(&app, false).await;
    let id = browser.jar.get(SESSION_COOKIE).cloned().unwrap();
    let row = auth_core::token_actions::get_token(
        app.auth.store(),
        &Token::CONFIG,
        &id,
        Some(&Purpose::COOKIE_SESSION),
    )
    .await
    .unwrap()
    .expect("the record's row");
    assert_eq!(row.subject, auth_core::UserResource::subject(&ada));
    let data = row.extra_data.unwrap();
    let kept = data.get("auth:user").expect("the sign-in");
    assert!(
        kept.get("sid").is_some() && kept.get("token").is_none(),
        "{kept}"
    );
    // An unknown or forged session id signs nobody in.
    let mut forged = Browser::default();
    forged
        .jar
        .insert(SESSION_COOKIE.into(), "AAAAAAAAAAAAAAAAAAAAAA".into());
    assert_eq!(forged.me(&app.router).await, StatusCode::UNAUTHORIZED);
    forged
        .jar
        .insert(SESSION_COOKIE.into(), "not base64 !".into());
    assert_eq!(forged.me(&app.router).await, StatusCode::UNAUTHORIZED);
}

/// Runs every browser case on a backend.
#[macro_export]
macro_rules! browser_suite {
    ($backend:expr) => {
        $crate::backend_cases!(browser, 2, $backend;
            a_cookie_session_lives_from_sign_in_to_sign_out,
            an_ended_session_row_signs_the_browser_out,
            log_out_everywhere_and_a_password_change_sign_browsers_out,
            remember_me_signs_in_a_new_session_of_kind_remember_me,
            ending_the_session_from_the_device_list_ends_its_remember_me,
            a_remember_me_token_is_rotated_and_single_use,
            an_invalid_remember_me_cookie_is_deleted,
            a_bearer_header_comes_first,
            the_session_id_changes_at_sign_in,
            cookie_session_records_are_rows_of_the_token_table,
        );
    };
}
