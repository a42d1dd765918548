//! Every way a token can be wrong, table-driven: each is refused with the
//! variant of the check that catches it, and nothing panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::{
    Algorithm, Auth, Error, ExtraClaims, MemoryStore, Secret, Settings, SigningSecret, TokenConfig,
    TokenResourceConfig, UserResource, UserStore,
};
use auth_tests::{SECRET, User, claims_for, forge};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// What a case expects, by the check that must refuse it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Malformed,
    Algorithm,
    Signature,
    Expired,
    Claim(&'static str),
    WrongSubject,
    InvalidSubject,
    Revoked,
    WrongPurpose,
    InvalidAudience,
    UnknownKey,
}

fn matches(e: &Error, want: Want) -> bool {
    match want {
        Want::Malformed => matches!(e, Error::MalformedToken(_)),
        Want::Algorithm => matches!(e, Error::AlgorithmMismatch { .. }),
        Want::Signature => matches!(e, Error::InvalidSignature),
        Want::Expired => matches!(e, Error::Expired),
        Want::Claim(c) => matches!(e, Error::InvalidClaim(n) if *n == c),
        Want::WrongSubject => matches!(e, Error::WrongSubject { .. }),
        Want::InvalidSubject => matches!(e, Error::InvalidSubject(_)),
        Want::Revoked => matches!(e, Error::Revoked),
        Want::WrongPurpose => matches!(e, Error::WrongPurpose { .. }),
        Want::InvalidAudience => matches!(e, Error::InvalidAudience),
        Want::UnknownKey => matches!(e, Error::UnknownKey(_)),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs raw header and payload bytes with the real secret (HS256).
fn sign_raw(header: &str, payload: &str) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
        .unwrap();
    format!("{message}.{sig}")
}

fn with(claims: &Value, name: &str, value: Value) -> Value {
    let mut c = claims.clone();
    c[name] = value;
    c
}

fn without(claims: &Value, name: &str) -> Value {
    let mut c = claims.clone();
    c.as_object_mut().unwrap().remove(name);
    c
}

fn hs256(payload: &Value) -> String {
    forge(
        &json!({"alg": "HS256", "typ": "JWT"}),
        payload,
        Algorithm::HS256,
        SECRET,
    )
}

const ES256_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHfNa2570WRZB4Vs1sINftYT0Zn4o
imeUGL/9bV5eXSZqsePhxydDG8jOLs6c4bRzoPbn/lKWzUsPNZIDRp+ttw==
-----END PUBLIC KEY-----
";

#[tokio::test]
async fn every_wrong_token_is_refused_by_the_right_check() {
    let auth = auth_tests::auth(false, MemoryStore::new());
    let user = User::new("ada@example.com");
    auth.store().insert_user(&user).await.unwrap();
    let claims = Value::Object(claims_for(&user).to_json());
    let good = hs256(&claims);
    let [h, p, s]: [&str; 3] = good.split('.').collect::<Vec<_>>().try_into().unwrap();
    let revoked = {
        let issued = auth
            .token_for_user(&user, ExtraClaims::new())
            .await
            .unwrap();
        auth.revoke(&issued.token).await.unwrap();
        issued.token
    };
    let sign_in = auth_tests::sign_in_token(&auth, &user).await.token;

    let mut cases: Vec<(String, String, Want)> = Vec::new();
    let mut case =
        |name: &str, token: String, want: Want| cases.push((name.to_owned(), token, want));

    // Algorithm: `none` in any casing, swapped HMAC algorithms, confusion.
    for none in ["none", "None", "NONE", "nOnE", "NoNe"] {
        let head = b64(json!({"alg": none, "typ": "JWT"}).to_string().as_bytes());
        case(
            &format!("alg {none}, no signature"),
            format!("{head}.{p}."),
            Want::Algorithm,
        );
        case(
            &format!("alg {none}, old signature"),
            format!("{head}.{p}.{s}"),
            Want::Algorithm,
        );
    }
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let t = forge(&json!({"alg": alg.as_str()}), &claims, alg, SECRET);
        case(&format!("{alg} with the right secret"), t, Want::Algorithm);
    }
    for alg in ["RS256", "ES256", "PS256", "EdDSA", "HS256 ", "hs256", ""] {
        let t = forge(&json!({"alg": alg}), &claims, Algorithm::HS256, SECRET);
        case(
            &format!("header says {alg:?}, HS256 signature"),
            t,
            Want::Algorithm,
        );
    }
    let t = forge(
        &json!({"alg": "HS256"}),
        &claims,
        Algorithm::HS256,
        ES256_PUBLIC,
    );
    case("HS256 signed with an ES256 public key", t, Want::Signature);
    case(
        "header alg is a number",
        sign_raw(r#"{"alg":256}"#, &claims.to_string()),
        Want::Malformed,
    );
    case(
        "header without alg",
        sign_raw(r#"{"typ":"JWT"}"#, &claims.to_string()),
        Want::Malformed,
    );
    case(
        "header not JSON",
        format!("{}.{p}.{s}", b64(b"{alg")),
        Want::Malformed,
    );
    case(
        "header a JSON array",
        format!("{}.{p}.{s}", b64(b"[\"HS256\"]")),
        Want::Malformed,
    );
    case(
        "header with duplicate alg",
        sign_raw(r#"{"alg":"none","alg":"HS256"}"#, &claims.to_string()),
        Want::Malformed,
    );

    // Shape: segments, base64.
    case("empty", String::new(), Want::Malformed);
    case("one segment", h.to_owned(), Want::Malformed);
    case("two segments", format!("{h}.{p}"), Want::Malformed);
    case("four segments", format!("{good}.{s}"), Want::Malformed);
    case(
        "five segments",
        format!("{h}.{p}.{s}.{p}.{s}"),
        Want::Malformed,
    );
    case("only dots", "..".into(), Want::Malformed);
    case(
        "header truncated",
        format!("{}.{p}.{s}", &h[..h.len() - 3]),
        Want::Malformed,
    );
    case(
        "payload truncated",
        format!("{h}.{}.{s}", &p[..p.len() - 1]),
        Want::Signature,
    );
    case(
        "signature truncated",
        format!("{h}.{p}.{}", &s[..s.len() - 2]),
        Want::Signature,
    );
    case("signature empty", format!("{h}.{p}."), Want::Signature);
    case("signature padded", format!("{h}.{p}.{s}="), Want::Signature);
    case("header padded", format!("{h}=.{p}.{s}"), Want::Malformed);
    case(
        "header in standard base64",
        format!("{}.{p}.{s}", STANDARD.encode(r#"{"alg":"HS256"}?>"#)),
        Want::Malformed,
    );
    case(
        "invalid base64 header",
        format!("!!!.{p}.{s}"),
        Want::Malformed,
    );
    case(
        "invalid base64 payload",
        format!("{h}.!!!.{s}"),
        Want::Signature,
    );
    case(
        "whitespace inside",
        format!("{h}. {p}.{s}"),
        Want::Signature,
    );
    case(
        "1 MiB token",
        format!("{h}.{}.{s}", "A".repeat(1 << 20)),
        Want::Malformed,
    );
    case("1 MiB of dots", ".".repeat(1 << 20), Want::Malformed);
    case("unicode", "ünï.cödé.tøkén".into(), Want::Malformed);

    // Payload: signed correctly by us, but not a claims object.
    for (name, payload) in [
        ("payload array", "[1,2,3]"),
        ("payload string", "\"user\""),
        ("payload number", "42"),
        ("payload null", "null"),
        ("payload not JSON", "{sub:"),
        ("payload empty", ""),
    ] {
        case(
            name,
            sign_raw(r#"{"alg":"HS256"}"#, payload),
            Want::Malformed,
        );
    }
    let dup = claims.to_string().replacen(
        '{',
        &format!("{{\"sub\":\"user?id={}\",", uuid::Uuid::new_v4()),
        1,
    );
    case(
        "duplicate sub in payload",
        sign_raw(r#"{"alg":"HS256"}"#, &dup),
        Want::Malformed,
    );

    // Claims of the wrong JSON type.
    for (value, name) in [
        (json!("9999999999"), "exp as a string"),
        (json!(9_999_999_999.5), "exp as a float"),
        (
            json!(18_446_744_073_709_551_616_f64),
            "exp beyond i64 (float)",
        ),
        (json!(u64::MAX), "exp beyond i64"),
        (json!(null), "exp null"),
        (json!([1]), "exp an array"),
        (json!(true), "exp a bool"),
    ] {
        case(
            name,
            hs256(&with(&claims, "exp", value)),
            Want::Claim("exp"),
        );
    }
    case(
        "exp negative",
        hs256(&with(&claims, "exp", json!(-5))),
        Want::Expired,
    );
    case(
        "exp zero",
        hs256(&with(&claims, "exp", json!(0))),
        Want::Expired,
    );
    case(
        "exp i64::MIN",
        hs256(&with(&claims, "exp", json!(i64::MIN))),
        Want::Expired,
    );
    case(
        "nbf as a string",
        hs256(&with(&claims, "nbf", json!("0"))),
        Want::Claim("nbf"),
    );
    case(
        "sub a number",
        hs256(&with(&claims, "sub", json!(5))),
        Want::Claim("sub"),
    );
    case(
        "jti an object",
        hs256(&with(&claims, "jti", json!({}))),
        Want::Claim("jti"),
    );
    case(
        "purpose null",
        hs256(&with(&claims, "purpose", Value::Null)),
        Want::Claim("purpose"),
    );
    case(
        "iat a string",
        hs256(&with(&claims, "iat", json!("now"))),
        Want::Claim("iat"),
    );

    // Missing claims.
    case(
        "missing exp",
        hs256(&without(&claims, "exp")),
        Want::Claim("exp"),
    );
    case(
        "missing nbf",
        hs256(&without(&claims, "nbf")),
        Want::Claim("nbf"),
    );
    case(
        "missing sub",
        hs256(&without(&claims, "sub")),
        Want::Claim("sub"),
    );
    case(
        "missing jti",
        hs256(&without(&claims, "jti")),
        Want::Claim("jti"),
    );
    case(
        "missing purpose",
        hs256(&without(&claims, "purpose")),
        Want::Claim("purpose"),
    );

    // Subjects.
    let id = user.id;
    case(
        "another subject name",
        hs256(&with(&claims, "sub", json!(format!("admin?id={id}")))),
        Want::WrongSubject,
    );
    case(
        "subject name case",
        hs256(&with(&claims, "sub", json!(format!("User?id={id}")))),
        Want::WrongSubject,
    );
    case(
        "malformed pk",
        hs256(&with(&claims, "sub", json!("user?id=not-a-uuid"))),
        Want::InvalidSubject,
    );
    case(
        "two pks",
        hs256(&with(
            &claims,
            "sub",
            json!(format!("user?id={id}&id={id}")),
        )),
        Want::InvalidSubject,
    );
    case(
        "other key field",
        hs256(&with(&claims, "sub", json!(format!("user?uid={id}")))),
        Want::InvalidSubject,
    );
    case(
        "no query",
        hs256(&with(&claims, "sub", json!("user"))),
        Want::InvalidSubject,
    );
    case(
        "empty sub",
        hs256(&with(&claims, "sub", json!(""))),
        Want::InvalidSubject,
    );

    // `kid`: only the keys of this resource, by exact id; anything else is
    // an unknown key or a malformed header, before any signature check.
    let with_kid = |kid: Value| {
        forge(
            &json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
            &claims,
            Algorithm::HS256,
            SECRET,
        )
    };
    for (name, kid) in [
        ("kid unknown", json!("another-key")),
        ("kid empty", json!("")),
        (
            "kid huge (within the 16 KiB token limit)",
            json!("k".repeat(8_000)),
        ),
        ("kid path-like", json!("../../etc/passwd")),
        ("kid with a NUL", json!("a\0b")),
        (
            "kid of the legacy key, upper-cased",
            json!(auth.jwt().kid().to_uppercase()),
        ),
    ] {
        case(name, with_kid(kid), Want::UnknownKey);
    }
    for (name, kid) in [
        ("kid a number", json!(1)),
        ("kid null", Value::Null),
        ("kid an array", json!([auth.jwt().kid()])),
        ("kid an object", json!({"kid": auth.jwt().kid()})),
        ("kid true", json!(true)),
    ] {
        case(name, with_kid(kid), Want::Malformed);
    }
    let right_kid_wrong_secret = forge(
        &json!({"alg": "HS256", "kid": auth.jwt().kid()}),
        &claims,
        Algorithm::HS256,
        "another-secret-of-at-least-32-bytes-long",
    );
    case(
        "the right kid over another key's signature",
        right_kid_wrong_secret,
        Want::Signature,
    );

    // Stored state and purpose.
    case("valid signature over a revoked jti", revoked, Want::Revoked);
    case(
        "a sign-in token as a bearer token",
        sign_in,
        Want::WrongPurpose,
    );
    let other_jti = with(&claims, "jti", json!(auth_core::new_jti()));
    // With the audience its purpose names, a token of another purpose is
    // refused for its purpose; with the access audience, for its audience.
    let admin = with(&other_jti, "purpose", json!("admin"));
    let admin_aud = format!("{}:admin", claims["aud"].as_str().unwrap());
    case(
        "purpose forged to something else",
        hs256(&with(&admin, "aud", json!(admin_aud))),
        Want::WrongPurpose,
    );
    case(
        "another purpose with the access audience",
        hs256(&admin),
        Want::InvalidAudience,
    );

    assert!(cases.len() > 80, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (name, token, want) in &cases {
        // `authenticate` runs every check, `verify` all but the purpose.
        let got = auth.authenticate(token).await;
        match got {
            Err(ref e) if matches(e, *want) => {}
            other => failures.push(format!(
                "{name}: wanted {want:?}, got {:?}",
                other.map(|u| u.claims)
            )),
        }
        let header = format!("Bearer {token}");
        assert!(
            auth.authenticate_bearer(&header).await.is_err(),
            "{name} via the header"
        );
        assert!(
            auth.revoke(token).await.is_err()
                || *want == Want::Revoked
                || *want == Want::WrongPurpose,
            "{name}: revoke"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // The good token still works: nothing above damaged the store.
    assert!(auth.authenticate(&good).await.is_ok());
}

#[tokio::test]
async fn algorithm_confusion_the_other_way() {
    // An ES256 resource refuses HS256 tokens, whatever key signed them.
    let bundle = format!(
        "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgA++oCjiOBOBYbue6
kyVtx/B64eHXfx2sutF+czhE7wChRANCAAQd81rbnvRZFkHhWzWwg1+1hPRmfiiK
Z5QYv/1tXl5dJmqx4+HHJ0MbyM4uzpzhtHOg9uf+UpbNSw81kgNGn623
-----END PRIVATE KEY-----
{ES256_PUBLIC}"
    );
    let mut tokens = TokenConfig::new(SigningSecret::Literal(Secret::from(bundle)));
    tokens.algorithm = Algorithm::ES256;
    let auth: Auth<User, _> = Auth::from_settings(
        Settings::new(tokens, TokenResourceConfig::default()),
        MemoryStore::new(),
    )
    .unwrap();
    let user = User::new("ada@example.com");
    let claims = Value::Object(claims_for(&user).to_json());
    for key in [ES256_PUBLIC, SECRET, ""] {
        let t = forge(&json!({"alg": "HS256"}), &claims, Algorithm::HS256, key);
        assert!(matches!(
            auth.verify(&t).await,
            Err(Error::AlgorithmMismatch { .. })
        ));
    }
    // An ES256 header over an HS256 signature fails the signature check.
    let t = forge(
        &json!({"alg": "ES256"}),
        &claims,
        Algorithm::HS256,
        ES256_PUBLIC,
    );
    assert!(matches!(
        auth.verify(&t).await,
        Err(Error::InvalidSignature | Error::MalformedToken(_))
    ));
    let _ = user.subject();
}
