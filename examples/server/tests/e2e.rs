//! End to end: the real server binary on a free loopback port, driven over
//! HTTP: each step of the scenario a named test on each backend (the
//! in-memory store, PostgreSQL, SQLite), plus the findings' tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{SECRET, Server};

use auth_core::Algorithm;
use serde_json::{Value, json};

fn post(s: &Server, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    s.call("POST", path, bearer, Some(&body.to_string()))
}

fn token(v: &Value) -> String {
    v["token"].as_str().unwrap().to_owned()
}

fn sign_in(s: &Server, email: &str, password: &str) -> String {
    let (st, v) = post(
        s,
        "/auth/user/password/sign_in",
        None,
        json!({"email": email, "password": password}),
    );
    assert_eq!(st, 200, "{v}");
    token(&v)
}

/// Registers ada (role `admin`) and returns her first token.
fn ada(s: &Server) -> String {
    let reg = json!({"email": "ada@example.com", "password": "correct horse", "password_confirmation": "correct horse", "role": "admin"});
    let (st, v) = post(s, "/auth/user/password/register", None, reg);
    assert_eq!(st, 201, "{v}");
    token(&v)
}

/// A token signed with another secret, with `t`'s claims.
fn forged(s: &Server, t: &str) -> String {
    let (_, v) = s.call("GET", "/me", Some(t), None);
    auth_tests::forge(
        &json!({"alg": "HS256"}),
        &v["token_claims"],
        Algorithm::HS256,
        "not the server's secret",
    )
}

/// The HTTP scenario, one named step each, run on every backend by
/// `backend_tests!` (a server of its own per step).
mod steps {
    use super::*;

    /// Tenants (`/t/...`, named by `X-Tenant`): a member signed in to two
    /// tenants; each token is refused at the other tenant and without one;
    /// logging out everywhere in acme leaves globex signed in; an admin's
    /// suspension of acme ends every acme session (another member's too)
    /// and no globex one.
    pub fn tenants_are_kept_apart(s: &Server) {
        let creds = json!({"email": "ada@example.com", "password": "correct horse",
                           "password_confirmation": "correct horse"});
        let body = creds.to_string();
        let (st, v) = s.call_in("acme", "POST", "/t/auth/register", None, Some(&body));
        assert_eq!((st, v["tenant"].as_str()), (201, Some("acme")), "{v}");
        let in_acme = token(&v);
        let (st, v) = s.call_in("globex", "POST", "/t/auth/sign_in", None, Some(&body));
        assert_eq!((st, v["tenant"].as_str()), (200, Some("globex")), "{v}");
        let (in_globex, globex_refresh) = (token(&v), v["refresh_token"].clone());
        let me = |tenant: &str, t: &str| s.call_in(tenant, "GET", "/t/me", Some(t), None);
        let (st, v) = me("acme", &in_acme);
        assert_eq!((st, v["tenant"].as_str()), (200, Some("acme")), "{v}");
        assert_eq!(me("globex", &in_globex).0, 200);
        // A token of acme at globex, of globex at acme, and either without
        // a tenant (or with an invalid one): 401, nothing said about why.
        for (tenant, t) in [("globex", &in_acme), ("acme", &in_globex)] {
            let (st, v) = me(tenant, t);
            assert_eq!((st, &v["error"]), (401, &json!("unauthorized")), "{v}");
        }
        assert_eq!(s.call("GET", "/t/me", Some(&in_acme), None).0, 401);
        assert_eq!(me("ac me", &in_acme).0, 401);
        // A sign-in names a valid tenant.
        assert_eq!(s.call("POST", "/t/auth/sign_in", None, Some(&body)).0, 400);
        assert_eq!(
            s.call_in("ac\u{7f}me", "POST", "/t/auth/sign_in", None, Some(&body))
                .0,
            400
        );
        // Log out everywhere in acme: globex goes on, and refreshes.
        let (st, v) = s.call_in(
            "acme",
            "POST",
            "/t/auth/log_out_everywhere",
            Some(&in_acme),
            None,
        );
        assert_eq!(st, 204, "{v}");
        assert_eq!(me("acme", &in_acme).0, 401);
        assert_eq!(me("globex", &in_globex).0, 200);
        let refresh = json!({"refresh_token": globex_refresh}).to_string();
        let (st, v) = s.call("POST", "/t/auth/refresh", None, Some(&refresh));
        assert_eq!(st, 200, "{v}");
        let in_globex = token(&v);
        // Suspending acme ends every acme session, of every member.
        let (_, v) = s.call_in("acme", "POST", "/t/auth/sign_in", None, Some(&body));
        let ada_again = token(&v);
        let bob = json!({"email": "bob@example.com", "password": "battery staple",
                         "password_confirmation": "battery staple"});
        let (st, v) = s.call_in(
            "acme",
            "POST",
            "/t/auth/register",
            None,
            Some(&bob.to_string()),
        );
        assert_eq!(st, 201, "{v}");
        let bob = token(&v);
        assert_eq!(me("acme", &bob).0, 200);
        let suspend = "/admin/tenants/acme/suspend";
        assert_eq!(
            post(s, suspend, Some(&bob), json!({})).0,
            401,
            "a member token is no admin's"
        );
        let admin = ada(s);
        let (st, v) = post(s, suspend, Some(&admin), json!({}));
        assert_eq!(st, 200, "{v}");
        assert!(v["ended"].as_u64().unwrap() >= 4, "{v}");
        for t in [&ada_again, &bob] {
            assert_eq!(me("acme", t).0, 401);
        }
        assert_eq!(me("globex", &in_globex).0, 200, "globex is not suspended");
    }

    /// API keys over HTTP: made with a token (never with a key), shown
    /// once, used as `Bearer` or `X-Api-Key`, scoped, listed without their
    /// secret, revoked at once; log out everywhere leaves them alone.
    pub fn api_keys_are_made_used_scoped_and_revoked(s: &Server) {
        let t = ada(s);
        let make = |body: Value| post(s, "/auth/api_keys", Some(&t), body);
        let (st, reader) = make(json!({"name": "nightly", "scopes": ["reports:read"]}));
        assert_eq!(st, 201, "{reader}");
        let key = reader["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("demo_"), "{key}");
        let (st, writer) =
            make(json!({"name": "writer", "scopes": ["reports:write"], "lifetime": "30d"}));
        assert_eq!(st, 201, "{writer}");
        let writer_key = writer["key"].as_str().unwrap().to_owned();
        for bad in [
            json!({"name": "x", "scopes": ["admin"]}),
            json!({"name": "", "scopes": []}),
            json!({"name": "x", "lifetime": "30"}),
        ] {
            assert_eq!(make(bad.clone()).0, 422, "{bad}");
        }

        let (st, v) = s.call("GET", "/reports", Some(&key), None);
        assert_eq!((st, &v["key"]), (200, &json!("nightly")), "{v}");
        let (st, _, body) = s.raw_text(&format!(
            "GET /reports HTTP/1.1\r\nhost: x\r\nx-api-key: {key}\r\nconnection: close\r\n\r\n"
        ));
        assert_eq!(st, 200, "{body}");
        let (st, v) = s.call("GET", "/reports", Some(&writer_key), None);
        assert_eq!(
            (st, &v["error"]),
            (403, &json!("insufficient_scope")),
            "{v}"
        );
        assert_eq!(
            s.call("GET", "/reports", Some(&t), None).0,
            401,
            "a token is no key"
        );
        let (st, v) = s.call("GET", "/me", Some(&key), None);
        assert_eq!(
            (st, &v["token_claims"]["purpose"]),
            (200, &json!("api_key")),
            "{v}"
        );
        // A key cannot make keys.
        let (st, _) = post(s, "/auth/api_keys", Some(&key), json!({"name": "more"}));
        assert_eq!(st, 403);

        let (st, v) = s.call("GET", "/auth/api_keys", Some(&t), None);
        assert_eq!(st, 200);
        assert_eq!(v["api_keys"].as_array().unwrap().len(), 2, "{v}");
        let listed = v.to_string();
        for k in [&key, &writer_key] {
            let secret = k.split('_').nth(2).unwrap();
            assert!(!listed.contains(secret), "a list never shows a secret");
        }

        // Log out everywhere ends sign-ins, not keys.
        let other = sign_in(s, "ada@example.com", "correct horse");
        assert_eq!(
            post(s, "/auth/log_out_everywhere", Some(&other), json!({})).0,
            204
        );
        assert_eq!(s.call("GET", "/reports", Some(&key), None).0, 200);

        let t = sign_in(s, "ada@example.com", "correct horse");
        let id = reader["api_key"]["id"].as_str().unwrap();
        assert_eq!(
            s.call("DELETE", &format!("/auth/api_keys/{id}"), Some(&t), None)
                .0,
            204
        );
        assert_eq!(s.call("GET", "/reports", Some(&key), None).0, 401);
        assert_eq!(
            s.call("DELETE", &format!("/auth/api_keys/{id}"), Some(&t), None)
                .0,
            404
        );
        // A typo is refused like any bad key.
        let typo = format!("{}x", &writer_key[..writer_key.len() - 1]);
        let typo = if typo == writer_key {
            format!("{}y", &writer_key[..writer_key.len() - 1])
        } else {
            typo
        };
        assert_eq!(s.call("GET", "/reports", Some(&typo), None).0, 401);
    }

    pub fn control_characters_are_invalid_input(s: &Server) {
        assert_eq!(s.call("GET", "/health", None, None).0, 200);
        // Finding 11: a NUL byte (which PostgreSQL cannot hold) is invalid
        // input, not a 503; finding 9: so is any control character.
        for (email, role) in [
            ("nul\0@example.com", "member"),
            ("nul@example.com", "ad\0min"),
            ("bell\u{7}@example.com", "member"),
        ] {
            let body = json!({"email": email, "password": "correct horse", "password_confirmation": "correct horse", "role": role});
            let (st, v) = post(s, "/auth/user/password/register", None, body);
            assert_eq!(st, 422, "{email:?} {role:?}: {v}");
            let (st, v) = post(
                s,
                "/auth/user/password/sign_in",
                None,
                json!({"email": email, "password": "correct horse"}),
            );
            assert!(st == 422 || st == 401, "{email:?}: {st} {v}");
        }
    }

    pub fn registration_returns_the_user_and_refuses_a_taken_identity(s: &Server) {
        // Registration.
        let reg = json!({"email": "ada@example.com", "password": "correct horse", "password_confirmation": "correct horse", "role": "admin"});
        let (st, v) = post(s, "/auth/user/password/register", None, reg.clone());
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["user"]["email"], "ada@example.com");
        assert_eq!(v["user"]["role"], "admin");
        assert!(v["user"]["id"].is_string());
        assert!(v["user"].get("hashed_password").is_none(), "never the hash");
        assert!(!token(&v).is_empty());
        let (st, v) = post(s, "/auth/user/password/register", None, reg);
        assert_eq!((st, v["error"].as_str()), (409, Some("identity_taken")));
    }

    pub fn bad_input_is_a_4xx_with_a_json_error_never_a_5xx(s: &Server) {
        // Bad input: 4xx with a JSON error, never a 5xx or a panic.
        for (body, want) in [
            (
                r#"{"email":"b@example.com","password":"correct horse","password_confirmation":"other horse"}"#,
                422,
            ),
            (
                r#"{"email":"b@example.com","password":"short","password_confirmation":"short"}"#,
                422,
            ),
            (
                r#"{"email":"not-an-email","password":"correct horse","password_confirmation":"correct horse"}"#,
                422,
            ),
            (
                r#"{"email":"b@example.com","password":"correct horse"}"#,
                422,
            ),
            (r#"{"email":"b@example.com"}"#, 422),
            (r#"{"email":5,"password":true}"#, 422),
            (r#"[1,2,3]"#, 422),
            (r#"{"email":"#, 400),
            ("not json at all", 400),
        ] {
            let (st, v) = s.call("POST", "/auth/user/password/register", None, Some(body));
            assert_eq!(st, want, "{body} -> {v}");
            assert!(v["error"].is_string(), "{v}");
        }
        let (st, v) = s.raw(
        "POST /auth/user/password/register HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}",
    );
        assert_eq!(st, 415, "{v}");
        let huge = format!(r#"{{"email":"{}","password":"x"}}"#, "a".repeat(64 * 1024));
        let (st, _) = s.call("POST", "/auth/user/password/register", None, Some(&huge));
        assert_eq!(st, 413);
        assert_eq!(s.call("GET", "/no/such/route", None, None).0, 404);
    }

    pub fn password_sign_in_answers_alike_for_a_wrong_password_and_an_unknown_user(s: &Server) {
        ada(s);
        // Password sign-in: the same answer for a wrong password and an unknown user.
        let (st, wrong) = post(
            s,
            "/auth/user/password/sign_in",
            None,
            json!({"email": "ada@example.com", "password": "wrong horse"}),
        );
        assert_eq!(st, 401);
        let (st, unknown) = post(
            s,
            "/auth/user/password/sign_in",
            None,
            json!({"email": "nobody@example.com", "password": "correct horse"}),
        );
        assert_eq!(st, 401);
        assert_eq!(wrong, json!({"error": "authentication_failed"}));
        assert_eq!(wrong, unknown);
        let (st, _) = post(
            s,
            "/auth/user/password/sign_in",
            None,
            json!({"email": "ada@example.com", "password": "correct horse", "token_type": "bogus"}),
        );
        assert_eq!(st, 422);
    }

    pub fn me_returns_the_user_and_the_stored_claims(s: &Server) {
        ada(s);
        // /me.
        let t = sign_in(s, "ada@example.com", "correct horse");
        let (st, v) = s.call("GET", "/me", Some(&t), None);
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["user"]["email"], "ada@example.com");
        assert_eq!(
            v["token_claims"]["role"], "admin",
            "extra claims restored from the store"
        );
        assert_eq!(v["token_claims"]["purpose"], "user");
        assert_eq!(
            s.call("GET", "/me", None, None),
            (401, json!({"error": "unauthorized"}))
        );
        assert_eq!(s.call("GET", "/me", Some("garbage"), None).0, 401);
    }

    pub fn forged_tampered_none_and_expired_tokens_are_refused(s: &Server) {
        ada(s);
        let t = sign_in(s, "ada@example.com", "correct horse");
        let (_, v) = s.call("GET", "/me", Some(&t), None);
        // Forged, tampered and expired tokens.
        let mut tampered = t.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(s.call("GET", "/me", Some(&tampered), None).0, 401);
        let claims = &v["token_claims"];
        let forged = auth_tests::forge(
            &json!({"alg": "HS256"}),
            claims,
            Algorithm::HS256,
            "not the server's secret",
        );
        assert_eq!(s.call("GET", "/me", Some(&forged), None).0, 401);
        let body = t.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIn0.{body}.");
        assert_eq!(s.call("GET", "/me", Some(&none), None).0, 401);
        let mut expired = claims.clone();
        expired["exp"] = json!(1_000_000_000);
        let expired =
            auth_tests::forge(&json!({"alg": "HS256"}), &expired, Algorithm::HS256, SECRET);
        assert_eq!(s.call("GET", "/me", Some(&expired), None).0, 401);
    }

    pub fn a_sign_in_token_is_no_bearer_token_and_is_exchanged_once(s: &Server) {
        ada(s);
        // Sign-in token: not a bearer token, exchanged once.
        let (st, v) = post(
            s,
            "/auth/user/password/sign_in",
            None,
            json!({"email": "ada@example.com", "password": "correct horse", "token_type": "sign_in"}),
        );
        assert_eq!(st, 200);
        let sit = token(&v);
        assert_eq!(
            s.call("GET", "/me", Some(&sit), None).0,
            401,
            "a sign-in token is not a bearer token"
        );
        let (st, v) = s.call(
            "GET",
            &format!("/auth/user/password/sign_in_with_token?token={sit}"),
            None,
            None,
        );
        assert_eq!(st, 200, "{v}");
        let exchanged = token(&v);
        assert_eq!(s.call("GET", "/me", Some(&exchanged), None).0, 200);
        assert_eq!(
            s.call(
                "GET",
                &format!("/auth/user/password/sign_in_with_token?token={sit}"),
                None,
                None
            )
            .0,
            401,
            "reuse"
        );
        assert_eq!(
            s.call("GET", "/auth/user/password/sign_in_with_token", None, None)
                .0,
            401
        );
    }

    pub fn sign_out_is_idempotent_checks_the_signature_and_spares_other_sessions(s: &Server) {
        ada(s);
        let t = sign_in(s, "ada@example.com", "correct horse");
        let forged = forged(s, &t);
        let exchanged = sign_in(s, "ada@example.com", "correct horse");
        // Sign out: idempotent, signature checked.
        assert_eq!(s.call("POST", "/auth/sign_out", Some(&t), None).0, 204);
        assert_eq!(s.call("GET", "/me", Some(&t), None).0, 401);
        assert_eq!(
            s.call("POST", "/auth/sign_out", Some(&t), None).0,
            204,
            "already revoked is fine"
        );
        assert_eq!(s.call("POST", "/auth/sign_out", Some(&forged), None).0, 401);
        assert_eq!(s.call("POST", "/auth/sign_out", None, None).0, 401);
        assert_eq!(
            s.call("GET", "/me", Some(&exchanged), None).0,
            200,
            "other sessions live on"
        );
    }

    pub fn log_out_everywhere_ends_every_token(s: &Server) {
        let first = ada(s);
        let exchanged = sign_in(s, "ada@example.com", "correct horse");
        // Log out everywhere.
        let (a, b) = (
            sign_in(s, "ada@example.com", "correct horse"),
            sign_in(s, "ada@example.com", "correct horse"),
        );
        assert_eq!(
            s.call("POST", "/auth/log_out_everywhere", Some(&a), None).0,
            204
        );
        for dead in [&a, &b, &exchanged, &first] {
            assert_eq!(s.call("GET", "/me", Some(dead), None).0, 401);
        }
        assert_eq!(
            s.call("POST", "/auth/log_out_everywhere", None, None).0,
            401
        );
    }

    pub fn a_password_change_ends_every_earlier_token(s: &Server) {
        ada(s);
        // Password change.
        let (c, d) = (
            sign_in(s, "ada@example.com", "correct horse"),
            sign_in(s, "ada@example.com", "correct horse"),
        );
        let change = |cur: &str, new: &str, conf: &str| {
            post(
                s,
                "/auth/user/password/change",
                Some(&c),
                json!({"current_password": cur, "password": new, "password_confirmation": conf}),
            )
        };
        assert_eq!(
            change("wrong horse", "battery staple", "battery staple").0,
            401
        );
        assert_eq!(
            change("correct horse", "battery staple", "other staple").0,
            422
        );
        assert_eq!(change("correct horse", "short", "short").0, 422);
        let (st, v) = change("correct horse", "battery staple", "battery staple");
        assert_eq!(st, 200, "{v}");
        let fresh = token(&v);
        assert_eq!(
            s.call("GET", "/me", Some(&c), None).0,
            401,
            "the calling token died"
        );
        assert_eq!(
            s.call("GET", "/me", Some(&d), None).0,
            401,
            "every earlier token died"
        );
        assert_eq!(s.call("GET", "/me", Some(&fresh), None).0, 200);
        assert_eq!(
            post(
                s,
                "/auth/user/password/sign_in",
                None,
                json!({"email": "ada@example.com", "password": "correct horse"})
            )
            .0,
            401
        );
        sign_in(s, "ada@example.com", "battery staple");
        let (st, _) = post(
            s,
            "/auth/user/password/change",
            None,
            json!({"current_password": "a", "password": "b", "password_confirmation": "b"}),
        );
        assert_eq!(st, 401);
    }

    pub fn sessions_and_refresh_tokens(s: &Server) {
        super::sessions_scenario(s);
    }
}

/// Sessions and refresh tokens over HTTP.
fn sessions_scenario(s: &Server) {
    let reg = json!({"email": "sam@example.com", "password": "correct horse", "password_confirmation": "correct horse"});
    let (st, v) = post(s, "/auth/user/password/register", None, reg);
    assert_eq!(st, 201, "{v}");
    let (phone, phone_refresh) = (token(&v), v["refresh_token"].as_str().unwrap().to_owned());
    let (st, me) = s.call("GET", "/me", Some(&phone), None);
    assert_eq!(st, 200);
    let claims = &me["token_claims"];
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        15 * 60
    );
    let phone_sid = claims["sid"].as_str().unwrap().to_owned();

    // A second device.
    let (st, v) = post(
        s,
        "/auth/user/password/sign_in",
        None,
        json!({"email": "sam@example.com", "password": "correct horse"}),
    );
    assert_eq!(st, 200, "{v}");
    let (laptop, laptop_refresh) = (token(&v), v["refresh_token"].as_str().unwrap().to_owned());

    // The device list, the current one marked.
    let (st, v) = s.call("GET", "/auth/sessions", Some(&laptop), None);
    assert_eq!(st, 200, "{v}");
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|x| x["current"] == true).count(), 1);
    assert!(
        sessions
            .iter()
            .all(|x| x["ip"] == "127.0.0.1" && x["kind"] == "bearer"),
        "{v}"
    );
    assert_eq!(s.call("GET", "/auth/sessions", None, None).0, 401);

    // Refresh: a new pair; the old refresh token is spent; a refresh token is no bearer token.
    let (st, pair) = post(
        s,
        "/auth/refresh",
        None,
        json!({"refresh_token": phone_refresh}),
    );
    assert_eq!(st, 200, "{pair}");
    let phone2 = token(&pair);
    assert_eq!(s.call("GET", "/me", Some(&phone2), None).0, 200);
    let next_refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(s.call("GET", "/me", Some(&next_refresh), None).0, 401);
    assert_eq!(
        post(s, "/auth/refresh", None, json!({"refresh_token": phone2})).0,
        401
    );
    assert_eq!(
        post(
            s,
            "/auth/refresh",
            None,
            json!({"refresh_token": "garbage"})
        )
        .0,
        401
    );
    assert_eq!(post(s, "/auth/refresh", None, json!({})).0, 422);

    // Another user cannot end this user's session: 404, and nothing ends.
    let reg = json!({"email": "eve@example.com", "password": "correct horse", "password_confirmation": "correct horse"});
    let (_, v) = post(s, "/auth/user/password/register", None, reg);
    let eve = token(&v);
    let path = format!("/auth/sessions/{phone_sid}");
    assert_eq!(s.call("DELETE", &path, Some(&eve), None).0, 404);
    assert_eq!(s.call("GET", "/me", Some(&phone2), None).0, 200);
    assert_eq!(
        s.call("DELETE", "/auth/sessions/unknown", Some(&laptop), None)
            .0,
        404
    );

    // The laptop ends the phone's session: every token of it dies.
    assert_eq!(s.call("DELETE", &path, Some(&laptop), None).0, 204);
    assert_eq!(s.call("GET", "/me", Some(&phone2), None).0, 401);
    assert_eq!(
        post(
            s,
            "/auth/refresh",
            None,
            json!({"refresh_token": next_refresh})
        )
        .0,
        401
    );
    assert_eq!(s.call("GET", "/me", Some(&laptop), None).0, 200);

    // Sign-out ends the laptop's session, its refresh token included.
    assert_eq!(s.call("POST", "/auth/sign_out", Some(&laptop), None).0, 204);
    assert_eq!(
        post(
            s,
            "/auth/refresh",
            None,
            json!({"refresh_token": laptop_refresh})
        )
        .0,
        401
    );
    let (_, v) = post(
        s,
        "/auth/user/password/sign_in",
        None,
        json!({"email": "sam@example.com", "password": "correct horse"}),
    );
    let (st, v) = s.call("GET", "/auth/sessions", Some(&token(&v)), None);
    assert_eq!((st, v["sessions"].as_array().unwrap().len()), (200, 1));
}

/// A server on a backend of its own, with what must outlive it.
struct Backend {
    server: Server,
    _pg: Option<(auth_tests::pg::TestDb, tokio::runtime::Runtime)>,
    sqlite: Option<std::path::PathBuf>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(file) = &self.sqlite {
            remove_sqlite_files(file);
        }
    }
}

fn memory() -> Backend {
    Backend {
        server: Server::start(None),
        _pg: None,
        sqlite: None,
    }
}

fn postgres() -> Backend {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(auth_tests::pg::fresh_db());
    let server = Server::start(Some(&pg_url(&db)));
    Backend {
        server,
        _pg: Some((db, rt)),
        sqlite: None,
    }
}

fn sqlite() -> Backend {
    let file = auth_tests::sqlite::fresh_path();
    let server = Server::start(Some(&format!("sqlite://{}", file.display())));
    Backend {
        server,
        _pg: None,
        sqlite: Some(file),
    }
}

/// One `#[test]` per step of `steps`, on a fresh server of the backend.
macro_rules! backend_tests {
    ($backend:ident: $($step:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $step() {
                    let b = super::$backend();
                    super::steps::$step(&b.server);
                }
            )*
        }
    };
}

macro_rules! every_backend {
    ($($step:ident),* $(,)?) => {
        backend_tests!(memory: $($step),*);
        backend_tests!(postgres: $($step),*);
        backend_tests!(sqlite: $($step),*);
    };
}

every_backend!(
    api_keys_are_made_used_scoped_and_revoked,
    control_characters_are_invalid_input,
    registration_returns_the_user_and_refuses_a_taken_identity,
    bad_input_is_a_4xx_with_a_json_error_never_a_5xx,
    password_sign_in_answers_alike_for_a_wrong_password_and_an_unknown_user,
    me_returns_the_user_and_the_stored_claims,
    forged_tampered_none_and_expired_tokens_are_refused,
    a_sign_in_token_is_no_bearer_token_and_is_exchanged_once,
    sign_out_is_idempotent_checks_the_signature_and_spares_other_sessions,
    log_out_everywhere_ends_every_token,
    a_password_change_ends_every_earlier_token,
    sessions_and_refresh_tokens,
    tenants_are_kept_apart,
);

fn pg_url(db: &auth_tests::pg::TestDb) -> String {
    let url = auth_tests::pg::database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{}", db.schema)
}

/// Runs the server's operator subcommand `cmd` on the database at `url`;
/// its standard output, once it succeeded.
fn operator_command(url: &str, cmd: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg(cmd)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The operator subcommands on PostgreSQL.
#[test]
fn migrate_and_expunge_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(auth_tests::pg::fresh_db());
    let url = pg_url(&db);

    let run = |cmd: &str| operator_command(&url, cmd);
    assert_eq!(run("migrate"), "schema is up to date\n");
    rt.block_on(async {
        sqlx::raw_sql(
            "INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES \
             ('e1', 'user?id=x', now() - interval '1 hour', 'user'), \
             ('e2', 'user?id=x', now() - interval '1 day', 'revocation'), \
             ('e3', 'user?id=x', now() - interval '1 minute', 'sign_in')",
        )
        .execute(db.store.pool())
        .await
        .unwrap();
    });
    assert_eq!(run("expunge"), "removed 3 expired token rows\n");
    assert_eq!(run("expunge"), "removed 0 expired token rows\n");
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("bogus")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// The operator subcommands on SQLite.
#[test]
fn migrate_and_expunge_on_sqlite() {
    let file = auth_tests::sqlite::fresh_path();
    let url = format!("sqlite://{}", file.display());
    // The server creates the file; the subcommands find it.
    drop(Server::start(Some(&url)));
    let run = |cmd: &str| operator_command(&url, cmd);
    assert_eq!(run("migrate"), "schema is up to date\n");
    assert!(run("expunge").starts_with("removed "));
    remove_sqlite_files(&file);
}

fn remove_sqlite_files(file: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", ".secret"] {
        let mut p = file.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// A SQLite file is the whole state: after the process is killed (no
/// shutdown) and started again on the same file, with no secret in the
/// environment, the registered user signs in, a token issued before still
/// authenticates (the secret generated beside the database persisted), and
/// a revoked one stays revoked.
#[test]
fn the_demo_on_sqlite_keeps_users_tokens_and_revocations_across_a_restart() {
    let file = auth_tests::sqlite::fresh_path();
    let url = format!("sqlite://{}", file.display());
    let no_secret = [("TOKEN_SIGNING_SECRET", "")];
    let mut first = Server::start_with(Some(&url), &no_secret);
    let reg = json!({"email": "ada@example.com", "password": "correct horse", "password_confirmation": "correct horse"});
    let (st, v) = post(&first, "/auth/user/password/register", None, reg);
    assert_eq!(st, 201, "{v}");
    let kept = token(&v);
    let revoked = sign_in(&first, "ada@example.com", "correct horse");
    let (st, _) = post(&first, "/auth/sign_out", Some(&revoked), json!({}));
    assert_eq!(st, 204);
    assert_eq!(first.call("GET", "/me", Some(&revoked), None).0, 401);
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    drop(first);

    let mut secret = file.as_os_str().to_owned();
    secret.push(".secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the secret is readable by its owner only"
        );
    }

    let second = Server::start_with(Some(&url), &no_secret);
    let (st, v) = second.call("GET", "/me", Some(&kept), None);
    assert_eq!(st, 200, "a token from before the restart: {v}");
    assert_eq!(v["user"]["email"], "ada@example.com");
    assert_eq!(second.call("GET", "/me", Some(&revoked), None).0, 401);
    sign_in(&second, "ada@example.com", "correct horse");
    drop(second);
    remove_sqlite_files(&file);
}

/// Finding 14: responses carrying tokens were cacheable, and the GET
/// sign-in-with-token route (token in the URL) sent a `Referer`.
#[test]
fn f14_token_responses_are_not_stored_and_send_no_referrer() {
    let s = Server::start(None);
    let reg = json!({"email": "ada@example.com", "password": "correct horse", "password_confirmation": "correct horse"}).to_string();
    let (st, headers, v) = s.raw_with_headers(&format!(
        "POST /auth/user/password/register HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reg}",
        reg.len()
    ));
    assert_eq!(st, 201, "{v}");
    assert!(
        headers.contains(&"cache-control: no-store".to_owned()),
        "{headers:?}"
    );
    let (st, v) = post(
        &s,
        "/auth/user/password/sign_in",
        None,
        json!({"email": "ada@example.com", "password": "correct horse", "token_type": "sign_in"}),
    );
    assert_eq!(st, 200, "{v}");
    let (st, headers, v) = s.raw_with_headers(&format!(
        "GET /auth/user/password/sign_in_with_token?token={} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        token(&v)
    ));
    assert_eq!(st, 200, "{v}");
    assert!(
        headers.contains(&"referrer-policy: no-referrer".to_owned()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"cache-control: no-store".to_owned()),
        "{headers:?}"
    );
    // The public keys alone may be cached, shorter than a key is listed
    // before it signs.
    let (st, headers, v) = s.raw_with_headers(
        "GET /.well-known/jwks.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(st, 200, "{v}");
    let cache: Vec<_> = headers
        .iter()
        .filter(|h| h.starts_with("cache-control:"))
        .collect();
    assert_eq!(cache, ["cache-control: public, max-age=300"], "{headers:?}");
}

/// Opens a connection and sends half a request's headers.
fn half_open(s: &Server) -> TcpStream {
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").unwrap();
    c
}

/// Finding 8: a half-sent header kept a connection open past 45 s. The
/// server now drops a client that has not sent its headers in time
/// (`HEADER_READ_TIMEOUT`, 30 s by default; 1 s here).
#[test]
fn f08_a_client_that_never_finishes_its_headers_is_disconnected() {
    let s = Server::start_with(None, &[("HEADER_READ_TIMEOUT", "1s")]);
    let mut c = half_open(&s);
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let read = c.read_to_end(&mut buf);
    let took = start.elapsed();
    assert!(read.is_ok(), "the server closed the connection: {read:?}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "not before the timeout: {took:?}"
    );
    // And the server still serves.
    assert_eq!(s.call("GET", "/health", None, None).0, 200);
}

/// Finding 8: with one slow client connected, SIGTERM took 41 s to stop
/// the server. Its graceful shutdown now has a deadline
/// (`SHUTDOWN_DEADLINE`, 10 s by default; 2 s here).
#[test]
fn f08_sigterm_stops_the_server_within_the_deadline_whatever_its_clients_do() {
    let mut s = Server::start_with(
        None,
        &[("HEADER_READ_TIMEOUT", "10m"), ("SHUTDOWN_DEADLINE", "2s")],
    );
    let _slow = half_open(&s);
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = start.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(6), "exited after {took:?}");
}

/// Finding 8: a connection limit. With `MAX_CONNECTIONS=2` held by two
/// slow clients, a third waits; it is served once a slot frees.
#[test]
fn f08_connections_beyond_the_limit_wait_for_a_free_slot() {
    let s = Server::start_with(
        None,
        &[("MAX_CONNECTIONS", "2"), ("HEADER_READ_TIMEOUT", "10m")],
    );
    let first = half_open(&s);
    let _second = half_open(&s);
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(&s.addr).unwrap();
    third
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(third.read(&mut buf).is_err(), "served beyond the limit");
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    third.read_to_end(&mut out).unwrap();
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"),
        "{out:?}"
    );
}

/// Key rotation over HTTP, on PostgreSQL (rows survive the restarts):
/// The ES256 key of the test fixtures as a key-file entry named `kid`.
fn es256_key(kid: &str) -> Value {
    let p256 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/keys/p256.pem"
    ))
    .unwrap();
    let (private, public) = p256.split_at(p256.find("-----BEGIN PUBLIC KEY-----").unwrap());
    json!({"kid": kid, "alg": "ES256", "private_key_pem": private, "public_key_pem": public})
}

/// What another service does with our JWKS: a stock verifier (jsonwebtoken)
/// checking the signature with the key `kid` names, `exp`, `iss` and `aud`
/// (the demo's package name), nothing else.
fn stock_verify(
    jwks: &jsonwebtoken::jwk::JwkSet,
    kid: &str,
    token: &str,
) -> jsonwebtoken::errors::Result<Value> {
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(kid).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["server"]);
    validation.set_issuer(&["server"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|d| d.claims)
}

/// the secret alone → key A (HMAC) with the secret as legacy → key B
/// (ES256) active with A listed → B alone. JWKS checked by jsonwebtoken.
#[test]
fn keys_rotate_over_http_without_logging_anyone_out() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(auth_tests::pg::fresh_db());
    let url = pg_url(&db);
    let dir = std::env::temp_dir().join(format!("keys-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.json");
    let key_a =
        json!({"kid": "A", "alg": "HS256", "secret": "key-a-secret-of-at-least-32-bytes!!"});
    let key_b = es256_key("B");
    let start = |keys: Option<Value>| match keys {
        Some(k) => {
            std::fs::write(&file, k.to_string()).unwrap();
            Server::start_with(Some(&url), &[("TOKEN_KEYS_FILE", file.to_str().unwrap())])
        }
        None => Server::start(Some(&url)),
    };
    let me = |s: &Server, t: &str| s.call("GET", "/me", Some(t), None).0;
    let kid = |t: &str| -> Value {
        use base64::Engine as _;
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&h).unwrap()["kid"].clone()
    };

    let s = start(None);
    let reg = json!({"email": "kim@example.com", "password": "correct horse", "password_confirmation": "correct horse"});
    let (st, v) = post(&s, "/auth/user/password/register", None, reg);
    assert_eq!(st, 201, "{v}");
    let t0 = token(&v);
    drop(s);

    let s = start(Some(json!({"active": "A", "keys": [key_a]})));
    assert_eq!(me(&s, &t0), 200, "the secret's tokens survive the key file");
    let ta = sign_in(&s, "kim@example.com", "correct horse");
    assert_eq!(kid(&ta), "A");
    let (st, jwks) = s.call("GET", "/.well-known/jwks.json", None, None);
    assert_eq!(
        (st, jwks),
        (200, json!({"keys": []})),
        "HMAC keys are not published"
    );
    drop(s);

    let s = start(Some(json!({"active": "B", "keys": [key_b, key_a]})));
    assert_eq!(me(&s, &ta), 200, "A still verifies");
    let tb = sign_in(&s, "kim@example.com", "correct horse");
    assert_eq!(kid(&tb), "B");
    assert_eq!(me(&s, &tb), 200);
    let (st, jwks) = s.call("GET", "/.well-known/jwks.json", None, None);
    assert_eq!(st, 200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    assert_eq!(set.keys.len(), 1, "{jwks}");
    assert_eq!(jwks["keys"][0]["use"], "sig");
    let claims = stock_verify(&set, "B", &tb).unwrap();
    assert_eq!(claims["purpose"], "user");
    drop(s);

    let s = start(Some(json!({"active": "B", "keys": [key_b]})));
    assert_eq!(me(&s, &ta), 401, "A removed: its tokens are retired");
    assert_eq!(me(&s, &tb), 200);
    drop(s);

    // A broken key file stops the server at start-up, saying which key.
    std::fs::write(
        &file,
        json!({"active": "A", "keys": [{"kid": "A", "alg": "HS256", "secret": "short"}]})
            .to_string(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .env("DATABASE_URL", &url)
        .env("TOKEN_KEYS_FILE", &file)
        .env("BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("key `A`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A form POST to the pages: `cookies` as a `Cookie` header.
fn form_post(s: &Server, path: &str, cookies: &str, body: &str) -> (u16, Vec<String>, String) {
    s.raw_text(&format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncookie: {cookies}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
        s.addr,
        body.len()
    ))
}

/// `name=value` of the `Set-Cookie` header for `name`.
fn set_cookie<'h>(headers: &'h [String], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .filter_map(|h| h.strip_prefix("set-cookie: "))
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

/// The CSRF token of the first form of a page.
fn form_token(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's token")
        .to_owned()
}

/// A GET of a page with `cookies`: status, headers, body.
fn get_page(s: &Server, path: &str, cookies: &str) -> (u16, Vec<String>, String) {
    s.raw_text(&format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncookie: {cookies}\r\n\r\n",
        s.addr
    ))
}

/// Review finding H3-5: a CSRF cookie and token minted in the attacker's
/// browser and planted in the victim's (from a sibling subdomain, or over
/// plain http) were accepted: the token was bound to its cookie only. It
/// is now bound to the session too, and behind https the cookie is
/// `__Host-csrf`, which neither can set.
#[test]
fn h3_05_a_csrf_pair_planted_from_another_browser_is_refused() {
    let s = Server::start(None);
    let form = |email: &str| {
        format!("email={email}&password=correct+horse&password_confirmation=correct+horse")
    };
    // Two browsers register: the victim and the attacker, each signed in.
    let mut browsers = Vec::new();
    for email in ["victim%40example.com", "mallory%40example.com"] {
        let (_, h, html) = get_page(&s, "/register", "");
        let csrf = pair(set_cookie(&h, "csrf").unwrap()).to_owned();
        let body = format!("{}&csrf_token={}", form(email), form_token(&html));
        let (status, headers, _) = form_post(&s, "/register", &csrf, &body);
        assert_eq!(status, 303);
        let session = pair(set_cookie(&headers, "session").unwrap()).to_owned();
        let cookies = format!("{csrf}; {session}");
        let (_, _, account) = get_page(&s, "/account", &cookies);
        browsers.push((csrf, session, form_token(&account)));
    }
    let (victim_csrf, victim_session, victim_token) = &browsers[0];
    let (mallory_csrf, _, mallory_token) = &browsers[1];
    // An anonymous pair of the attacker's, and the pair of the attacker's
    // own session, planted beside the victim's session cookie: refused.
    let (_, h, html) = get_page(&s, "/sign_in", "");
    let anonymous = (
        pair(set_cookie(&h, "csrf").unwrap()).to_owned(),
        form_token(&html),
    );
    for (csrf, token) in [anonymous, (mallory_csrf.clone(), mallory_token.clone())] {
        let cookies = format!("{csrf}; {victim_session}");
        let (status, _, _) = form_post(
            &s,
            "/log_out_everywhere",
            &cookies,
            &format!("csrf_token={token}"),
        );
        assert_eq!(status, 403, "a planted pair");
        assert_eq!(get_page(&s, "/account", &cookies).0, 200, "still signed in");
    }
    // The victim's own pair works.
    let cookies = format!("{victim_csrf}; {victim_session}");
    let (status, _, _) = form_post(
        &s,
        "/log_out_everywhere",
        &cookies,
        &format!("csrf_token={victim_token}"),
    );
    assert_eq!(status, 303);
    drop(s);

    // Behind https the cookie is `__Host-csrf`: Secure, Path=/, no Domain.
    let s = Server::start_with(None, &[("SECURE_COOKIES", "true")]);
    let (_, h, _) = get_page(&s, "/sign_in", "");
    let cookie = set_cookie(&h, "__Host-csrf")
        .expect("a __Host- cookie")
        .to_ascii_lowercase();
    assert!(
        cookie.contains("; secure") && cookie.contains("path=/") && !cookie.contains("domain="),
        "{cookie}"
    );
    assert!(set_cookie(&h, "csrf").is_none());
}

#[test]
fn the_pages_refuse_forms_without_their_csrf_token_and_the_api_ignores_cookies() {
    let s = Server::start(None);
    let (status, headers, html) = s.raw_text(&format!(
        "GET /register HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        s.addr
    ));
    assert_eq!(status, 200);
    let csrf = set_cookie(&headers, "csrf")
        .expect("a csrf cookie")
        .to_owned();
    let lower = csrf.to_ascii_lowercase();
    assert!(
        lower.contains("httponly") && lower.contains("samesite=lax"),
        "{csrf}"
    );
    let token = form_token(&html);
    let form = "email=ada%40example.com&password=correct+horse&password_confirmation=correct+horse";

    // Without the token, with a token of another cookie, with a wrong one: 403.
    let (other, _, _) = {
        let (_, h, _) = s.raw_text(&format!(
            "GET /sign_in HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            s.addr
        ));
        (pair(set_cookie(&h, "csrf").unwrap()).to_owned(), (), ())
    };
    for (cookie, body) in [
        (pair(&csrf).to_owned(), form.to_owned()),
        (other, format!("{form}&csrf_token={token}")),
        (
            pair(&csrf).to_owned(),
            format!("{form}&csrf_token=x{token}"),
        ),
        (String::new(), format!("{form}&csrf_token={token}")),
    ] {
        let (status, _, _) = form_post(&s, "/register", &cookie, &body);
        assert_eq!(status, 403, "{cookie} {body}");
    }
    // With it: registered and signed in (a cookie session), sent to the account page.
    let (status, headers, _) = form_post(
        &s,
        "/register",
        pair(&csrf),
        &format!("{form}&csrf_token={token}"),
    );
    assert_eq!(status, 303);
    assert!(
        headers.iter().any(|h| h == "location: /account"),
        "{headers:?}"
    );
    let session = pair(set_cookie(&headers, "session").expect("a session cookie")).to_owned();
    let cookies = format!("{}; {session}", pair(&csrf));
    let account = |cookies: &str| {
        s.raw_text(&format!(
            "GET /account HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncookie: {cookies}\r\n\r\n",
            s.addr
        ))
    };
    let (status, _, html) = account(&cookies);
    assert_eq!(status, 200);
    assert!(html.contains("ada@example.com"));
    // A forged log-out-everywhere (the session cookie, no token) does nothing.
    let (status, _, _) = form_post(&s, "/log_out_everywhere", &cookies, "");
    assert_eq!(status, 403);
    assert_eq!(account(&cookies).0, 200);
    // The JSON API authenticates bearer tokens only, never the cookie.
    let (status, _, _) = s.raw_text(&format!(
        "GET /me HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncookie: {cookies}\r\n\r\n",
        s.addr
    ));
    assert_eq!(status, 401);
    // Signing out with the account page's token (bound to this session)
    // ends the cookie session.
    let token = form_token(&account(&cookies).2);
    let (status, _, _) = form_post(&s, "/sign_out", &cookies, &format!("csrf_token={token}"));
    assert_eq!(status, 303);
    let (status, headers, _) = account(&cookies);
    assert_eq!(status, 303);
    assert!(headers.iter().any(|h| h == "location: /sign_in"));
}

#[test]
fn the_api_sign_in_sets_a_remember_me_cookie_when_asked() {
    let s = Server::start(None);
    ada(&s);
    let body =
        json!({"email": "ada@example.com", "password": "correct horse", "remember_me": true});
    let body = body.to_string();
    let (status, headers, json) = s.raw_with_headers(&format!(
        "POST /auth/user/password/sign_in HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        s.addr,
        body.len()
    ));
    assert_eq!(status, 200, "{json}");
    let cookie = set_cookie(&headers, "remember_me").expect("a remember-me cookie");
    for attribute in ["httponly", "samesite=lax", "path=/", "max-age=2592000"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    // Served over plain http by default: no `Secure`.
    assert!(!cookie.contains("secure"), "{cookie}");
    let (_, headers, _) = s.raw_with_headers(&format!(
        "POST /auth/user/password/sign_in HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
        s.addr,
        json!({"email": "ada@example.com", "password": "correct horse"})
            .to_string()
            .len(),
        json!({"email": "ada@example.com", "password": "correct horse"})
    ));
    assert!(
        set_cookie(&headers, "remember_me").is_none(),
        "only when asked"
    );
}

/// The outbox file's messages of `kind` so far.
fn outbox(path: &std::path::Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| m["kind"] == kind)
        .collect()
}

/// Waits for the `n`-th message of `kind` in the outbox (the request answers first).
fn nth_message(path: &std::path::Path, kind: &str, n: usize) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(m) = outbox(path, kind).get(n) {
            return m.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no message {n} in the outbox"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn password_reset_through_the_outbox(s: &Server, path: &std::path::Path) {
    let first = ada(s);
    // Unknown and known addresses get the same answer; only ada gets mail.
    let (st, _) = post(
        s,
        "/auth/user/password/reset_request",
        None,
        json!({"email": "nobody@example.com"}),
    );
    assert_eq!(st, 202);
    let (st, _) = post(
        s,
        "/auth/user/password/reset_request",
        None,
        json!({"email": " ADA@example.com"}),
    );
    assert_eq!(st, 202);
    let (st, v) = post(
        s,
        "/auth/user/password/reset_request",
        None,
        json!({"email": 42}),
    );
    assert_eq!(st, 422, "{v}");
    let mail = nth_message(path, "password_reset", 0);
    assert_eq!(mail["to"], "ada@example.com");
    let reset_token = mail["token"].as_str().unwrap().to_owned();
    assert!(
        mail["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/password/reset?token={reset_token}"))
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(
        outbox(path, "password_reset").len(),
        1,
        "no mail for an unknown address"
    );
    // The reset token is no bearer token.
    assert_eq!(s.call("GET", "/me", Some(&reset_token), None).0, 401);
    let reset = json!({"reset_token": reset_token, "password": "battery staple", "password_confirmation": "battery staple"});
    let (st, v) = post(s, "/auth/user/password/reset", None, reset.clone());
    assert_eq!(st, 200, "{v}");
    assert!(
        v["token"].is_string() && v["refresh_token"].is_string(),
        "{v}"
    );
    assert_eq!(s.call("GET", "/me", Some(&token(&v)), None).0, 200);
    // Earlier sessions are over, the old password too; the token worked once.
    assert_eq!(s.call("GET", "/me", Some(&first), None).0, 401);
    let (st, _) = post(
        s,
        "/auth/user/password/sign_in",
        None,
        json!({"email": "ada@example.com", "password": "correct horse"}),
    );
    assert_eq!(st, 401);
    sign_in(s, "ada@example.com", "battery staple");
    let (st, _) = post(s, "/auth/user/password/reset", None, reset);
    assert_eq!(st, 401, "a reset token works once");
    let (st, _) = post(
        s,
        "/auth/user/password/reset",
        None,
        json!({"reset_token": "junk", "password": "battery staple", "password_confirmation": "battery staple"}),
    );
    assert_eq!(st, 401);
}

fn magic_link_through_the_outbox(s: &Server, path: &std::path::Path) {
    let before = outbox(path, "magic_link").len();
    let (st, _) = post(
        s,
        "/auth/user/magic_link/request",
        None,
        json!({"email": "nobody@example.com"}),
    );
    assert_eq!(st, 202);
    let (st, _) = post(
        s,
        "/auth/user/magic_link/request",
        None,
        json!({"email": "ada@example.com"}),
    );
    assert_eq!(st, 202);
    let mail = nth_message(path, "magic_link", before);
    assert_eq!(
        (&mail["to"], &mail["kind"]),
        (&json!("ada@example.com"), &json!("magic_link"))
    );
    let link_token = mail["token"].as_str().unwrap().to_owned();
    assert!(
        mail["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/magic_link?token={link_token}"))
    );
    // Following the link (GET) shows a button and spends nothing.
    let (st, _, html) = s.raw_text(&format!(
        "GET /magic_link?token={link_token} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        s.addr
    ));
    assert_eq!(st, 200);
    assert!(html.contains(&link_token));
    assert_eq!(
        s.call("GET", "/me", Some(&link_token), None).0,
        401,
        "no bearer token"
    );
    let (st, v) = post(
        s,
        "/auth/user/magic_link/sign_in",
        None,
        json!({"token": link_token}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["user"]["email"], "ada@example.com");
    assert_eq!(s.call("GET", "/me", Some(&token(&v)), None).0, 200);
    let (st, _) = post(
        s,
        "/auth/user/magic_link/sign_in",
        None,
        json!({"token": link_token}),
    );
    assert_eq!(st, 401, "a magic link works once");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(
        outbox(path, "magic_link").len(),
        before + 1,
        "no mail for an unknown address"
    );
}

fn confirmation_through_the_outbox(s: &Server, path: &std::path::Path) {
    // Registration sent a confirmation; the user is not confirmed yet.
    // (Ada proved her address by the magic link: a new user here.)
    let reg = json!({"email": "cy@example.com", "password": "battery staple", "password_confirmation": "battery staple"});
    assert_eq!(post(s, "/auth/user/password/register", None, reg).0, 201);
    let bearer = sign_in(s, "cy@example.com", "battery staple");
    let (_, me) = s.call("GET", "/me", Some(&bearer), None);
    assert_eq!(me["user"]["confirmed_at"], Value::Null);
    let created = nth_message(path, "confirm", 1);
    assert_eq!(created["to"], "cy@example.com");
    let (st, _) = post(
        s,
        "/auth/user/confirm",
        None,
        json!({"confirm_token": created["token"], "password": "wrong password"}),
    );
    assert_eq!(st, 403, "a wrong password spends nothing");
    let (st, v) = post(
        s,
        "/auth/user/confirm",
        None,
        json!({"confirm_token": created["token"], "password": "battery staple"}),
    );
    assert_eq!(st, 200, "{v}");
    assert!(v["user"]["confirmed_at"].is_string(), "{v}");
    let (st, _) = post(
        s,
        "/auth/user/confirm",
        None,
        json!({"confirm_token": created["token"]}),
    );
    assert_eq!(st, 401, "a confirmation works once");
    // An email change: held until the new address confirms it.
    let (st, v) = post(
        s,
        "/auth/user/email/change",
        Some(&bearer),
        json!({"email": "Ada@New.Example"}),
    );
    assert_eq!(st, 202, "{v}");
    let (_, me) = s.call("GET", "/me", Some(&bearer), None);
    assert_eq!(
        me["user"]["email"], "cy@example.com",
        "not visible until confirmed"
    );
    let change = nth_message(path, "confirm", 2);
    assert_eq!(change["to"], "ada@new.example");
    assert!(change["link"].as_str().unwrap().contains("/confirm?token="));
    let (st, v) = post(
        s,
        "/auth/user/confirm",
        None,
        json!({"confirm_token": change["token"]}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["user"]["email"], "ada@new.example");
    sign_in(s, "ada@new.example", "battery staple");
    let (st, _) = post(
        s,
        "/auth/user/confirm",
        None,
        json!({"confirm_token": change["token"]}),
    );
    assert_eq!(st, 401, "a second confirmation of the same token fails");
    // A taken address, a bad one, no bearer.
    let reg = json!({"email": "grace@example.com", "password": "correct horse", "password_confirmation": "correct horse"});
    assert_eq!(post(s, "/auth/user/password/register", None, reg).0, 201);
    let bearer = sign_in(s, "ada@new.example", "battery staple");
    let (st, _) = post(
        s,
        "/auth/user/email/change",
        Some(&bearer),
        json!({"email": "grace@example.com"}),
    );
    assert_eq!(st, 409);
    let (st, _) = post(
        s,
        "/auth/user/email/change",
        Some(&bearer),
        json!({"email": "not an address"}),
    );
    assert_eq!(st, 422);
    let (st, _) = post(
        s,
        "/auth/user/email/change",
        None,
        json!({"email": "x@example.com"}),
    );
    assert_eq!(st, 401);
}

#[test]
fn special_tokens_through_the_outbox_on_every_store() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(auth_tests::pg::fresh_db());
    let sqlite = auth_tests::sqlite::fresh_path();
    let urls = [
        None,
        Some(pg_url(&db)),
        Some(format!("sqlite://{}", sqlite.display())),
    ];
    for url in urls {
        let path = std::env::temp_dir().join(format!("outbox-{}.jsonl", uuid::Uuid::new_v4()));
        let path_text = path.display().to_string();
        let s = Server::start_with(url.as_deref(), &[("OUTBOX", path_text.as_str())]);
        password_reset_through_the_outbox(&s, &path);
        magic_link_through_the_outbox(&s, &path);
        confirmation_through_the_outbox(&s, &path);
        let _ = std::fs::remove_file(&path);
    }
    remove_sqlite_files(&sqlite);
}

/// Review finding H3-7: a service verifying the demo's tokens through
/// JWKS with signature, `exp`, `iss` and `aud` (as the README says)
/// accepted a 7-day refresh token and a 3-day confirmation token. Only
/// access tokens carry the audience now; a stock verifier (jsonwebtoken,
/// nothing but those four checks) accepts the access token and refuses a
/// refresh, reset, magic-link and confirmation token.
#[test]
fn h3_07_a_stock_verifier_accepts_access_tokens_and_nothing_else() {
    let dir = std::env::temp_dir().join(format!("h3-07-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys.json");
    let mailbox = dir.join("outbox.jsonl");
    let key = es256_key("B");
    std::fs::write(&keys, json!({"active": "B", "keys": [key]}).to_string()).unwrap();
    let s = Server::start_with(
        None,
        &[
            ("TOKEN_KEYS_FILE", keys.to_str().unwrap()),
            ("OUTBOX", mailbox.to_str().unwrap()),
        ],
    );
    let reg = json!({"email": "kim@example.com", "password": "correct horse", "password_confirmation": "correct horse"});
    let (st, v) = post(&s, "/auth/user/password/register", None, reg);
    assert_eq!(st, 201, "{v}");
    let access = token(&v);
    let refresh = v["refresh_token"].as_str().unwrap().to_owned();
    for (path, kind) in [
        ("/auth/user/password/reset_request", "password_reset"),
        ("/auth/user/magic_link/request", "magic_link"),
    ] {
        let (st, _) = post(&s, path, None, json!({"email": "kim@example.com"}));
        assert_eq!(st, 202, "{kind}");
    }
    let special = ["confirm", "password_reset", "magic_link"].map(|kind| {
        (
            kind,
            nth_message(&mailbox, kind, 0)["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    });

    // The other service: the JWKS, and the checks the README lists.
    let (st, jwks) = s.call("GET", "/.well-known/jwks.json", None, None);
    assert_eq!(st, 200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let verify = |t: &str| stock_verify(&set, "B", t);
    let claims = verify(&access).expect("an access token verifies");
    assert_eq!(claims["purpose"], "user");
    let mut refused = vec![("refresh", verify(&refresh))];
    refused.extend(special.iter().map(|(kind, t)| (*kind, verify(t))));
    for (kind, result) in refused {
        let e = result.expect_err(kind);
        assert!(
            matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidAudience),
            "{kind}: {e:?}"
        );
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unknown URL: an HTML page for a browser, JSON for an API client.
#[test]
fn unknown_urls_are_a_page_for_browsers_and_json_for_clients() {
    let s = Server::start(None);
    let get = |accept: &str| {
        s.raw_text(&format!(
            "GET /no/such/page HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{accept}\r\n"
        ))
    };
    let browser = "accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n";
    let (st, headers, body) = get(browser);
    assert_eq!(st, 404);
    assert!(
        headers
            .iter()
            .any(|h| h.starts_with("content-type: text/html")),
        "{headers:?}"
    );
    assert!(body.contains("<h1>Page not found</h1>"), "{body}");
    for accept in [
        "accept: application/json\r\n",
        "accept: */*\r\n",
        "",
        "accept: application/json, text/html\r\n",
    ] {
        let (st, headers, body) = get(accept);
        assert_eq!(st, 404, "{accept}");
        assert!(
            headers
                .iter()
                .any(|h| h.starts_with("content-type: application/json")),
            "{accept}: {headers:?}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"],
            "not_found"
        );
    }
    // The page that asks for a new magic link (where a refused one points).
    let (st, _, body) =
        s.raw_text("GET /magic_link/request HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!(st, 200);
    assert!(body.contains("action=\"/magic_link/request\""), "{body}");
}

/// Two demo nodes on one PostgreSQL: five wrong passwords on node A lock
/// the identity on node B (its right password answers 401 as a wrong one
/// does), and fifty failures from one address, spread over both nodes,
/// throttle it on both (429 with `Retry-After`).
#[test]
fn failed_sign_ins_on_one_node_count_on_another() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(auth_tests::pg::fresh_db());
    let a = Server::start(Some(&pg_url(&db)));
    let b = Server::start(Some(&pg_url(&db)));
    ada(&a);
    let try_sign_in = |s: &Server, email: &str, password: &str| {
        post(
            s,
            "/auth/user/password/sign_in",
            None,
            json!({"email": email, "password": password}),
        )
    };
    for _ in 0..5 {
        let (st, v) = try_sign_in(&a, "ada@example.com", "wrong horse");
        assert_eq!(
            (st, v["error"].as_str()),
            (401, Some("authentication_failed"))
        );
    }
    let (st, v) = try_sign_in(&b, "ada@example.com", "correct horse");
    assert_eq!(
        (st, v["error"].as_str()),
        (401, Some("authentication_failed")),
        "locked on node B, answered as a wrong password"
    );
    // 5 failures so far from this address; 45 more over both nodes.
    for n in 0..45 {
        let node = if n % 2 == 0 { &a } else { &b };
        let (st, _) = try_sign_in(node, &format!("guess{n}@example.com"), "wrong");
        assert_eq!(st, 401, "failure {n}");
    }
    for node in [&a, &b] {
        let body = json!({"email": "bob@example.com", "password": "x"}).to_string();
        let (st, headers, v) = node.raw_with_headers(&format!(
            "POST /auth/user/password/sign_in HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ));
        assert_eq!((st, v["error"].as_str()), (429, Some("too_many_attempts")));
        let retry: u64 = headers
            .iter()
            .find_map(|h| h.strip_prefix("retry-after: "))
            .expect("a Retry-After header")
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
    }
    drop((a, b));
    drop(db);
}
