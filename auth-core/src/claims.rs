//! Claims: the registered ones every token carries, extra ones, and their precedence.

use serde_json::{Map, Value};

use crate::config::Purpose;
use crate::error::Error;

/// A JSON object of claims.
pub type ExtraClaims = Map<String, Value>;

/// Claims that the framework writes itself; extra claims never override them
/// (the derive refuses them in static `extra_claims` from the same list).
pub use auth_dsl::REGISTERED_CLAIMS;

/// What an `extra_claims` function is told about the token being minted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClaimsContext {
    /// The purpose of the token being minted.
    pub purpose: Purpose,
}

impl ClaimsContext {
    /// A context for a token of this purpose.
    pub fn new(purpose: Purpose) -> Self {
        Self { purpose }
    }
}

/// The claims of a token: registered claims typed, extra claims at the top level.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    /// Subject: `<subject_name>?<pk pairs>`.
    pub sub: String,
    /// Unique token id.
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Purpose: `user` for normal tokens, `sign_in` for sign-in tokens.
    pub purpose: String,
    /// Fingerprint of the password hash the user had when the token was
    /// issued (users with a password only): the token dies when it changes.
    pub cred: Option<String>,
    /// The session the token belongs to (sessions add-on): the token dies
    /// with it.
    pub sid: Option<String>,
    /// The tenant the token is bound to (a resource with tenancy): it
    /// authenticates in that tenant only.
    pub tenant: Option<String>,
    /// Every other claim.
    pub extra: ExtraClaims,
}

/// The claims as the token carries them: registered claims and extra ones
/// at the top level (what [`Claims::to_json`] returns), so a handler can
/// answer `Json(&me.claims)`.
impl serde::Serialize for Claims {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl Claims {
    /// The claims as one JSON object (what is signed).
    pub fn to_json(&self) -> ExtraClaims {
        let mut map = self.extra.clone();
        map.insert("sub".into(), self.sub.clone().into());
        map.insert("jti".into(), self.jti.clone().into());
        map.insert("iat".into(), self.iat.into());
        map.insert("nbf".into(), self.nbf.into());
        map.insert("exp".into(), self.exp.into());
        map.insert("iss".into(), self.iss.clone().into());
        map.insert("aud".into(), self.aud.clone().into());
        map.insert("purpose".into(), self.purpose.clone().into());
        if let Some(cred) = &self.cred {
            map.insert("cred".into(), cred.clone().into());
        }
        if let Some(sid) = &self.sid {
            map.insert("sid".into(), sid.clone().into());
        }
        if let Some(tenant) = &self.tenant {
            map.insert("tenant".into(), tenant.clone().into());
        }
        map
    }

    /// Reads claims from a verified payload, checking each registered claim's type.
    ///
    /// `aud` may be a string or an array of strings (RFC 7519); of an array,
    /// the first string is kept. The verifier has checked the audience on the
    /// raw payload before this runs.
    pub(crate) fn from_json(mut map: ExtraClaims) -> Result<Self, Error> {
        fn string(map: &mut ExtraClaims, name: &'static str) -> Result<String, Error> {
            match map.remove(name) {
                Some(Value::String(s)) => Ok(s),
                _ => Err(Error::InvalidClaim(name)),
            }
        }
        fn optional_string(
            map: &mut ExtraClaims,
            name: &'static str,
        ) -> Result<Option<String>, Error> {
            match map.remove(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(Error::InvalidClaim(name)),
            }
        }
        fn int(map: &mut ExtraClaims, name: &'static str) -> Result<i64, Error> {
            map.remove(name)
                .and_then(|v| v.as_i64())
                .ok_or(Error::InvalidClaim(name))
        }
        let aud = match map.remove("aud") {
            Some(Value::String(s)) => s,
            Some(Value::Array(items)) => items
                .into_iter()
                .find_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .ok_or(Error::InvalidClaim("aud"))?,
            _ => return Err(Error::InvalidClaim("aud")),
        };
        Ok(Self {
            exp: int(&mut map, "exp")?,
            nbf: int(&mut map, "nbf")?,
            iat: int(&mut map, "iat")?,
            iss: string(&mut map, "iss")?,
            aud,
            sub: string(&mut map, "sub")?,
            jti: string(&mut map, "jti")?,
            purpose: string(&mut map, "purpose")?,
            cred: optional_string(&mut map, "cred")?,
            sid: optional_string(&mut map, "sid")?,
            tenant: optional_string(&mut map, "tenant")?,
            extra: map,
        })
    }

    /// The extra claims worth storing in a token row: all but `sub` and `purpose`
    /// (registered claims are never in `extra`). `None` when empty.
    pub fn extra_data(&self) -> Option<Value> {
        (!self.extra.is_empty()).then(|| Value::Object(self.extra.clone()))
    }
}

/// The `cred` claim for a password hash: 96 bits of SHA-256 over the PHC
/// string (which holds a random salt, so the fingerprint reveals nothing
/// that helps guess the password), base64url. It only needs to change when
/// the hash changes; the token's signature protects it.
pub(crate) fn credential_fingerprint(hash: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"auth-core credential v1\0")
        .chain_update(hash.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// A JSON object that refuses duplicate keys: a payload saying `sub` twice
/// is ambiguous (parsers disagree on which one wins), so it is malformed.
pub(crate) struct StrictObject(pub(crate) ExtraClaims);

impl<'de> serde::Deserialize<'de> for StrictObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = StrictObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object without duplicate keys")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<StrictObject, A::Error> {
                let mut out = ExtraClaims::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom("duplicate key"));
                    }
                    let value: Value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(StrictObject(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Merges extra claims with the documented precedence: the DSL's
/// claims, then the per-call claims over them. Registered claims (`sub`,
/// `exp`, `purpose`, ...) are the framework's and are dropped from both,
/// with a warning naming the claim (never its value).
pub fn merge_extra_claims(dsl: ExtraClaims, per_call: ExtraClaims) -> ExtraClaims {
    let mut merged = dsl;
    merged.extend(per_call);
    merged.retain(|name, _| {
        let registered = REGISTERED_CLAIMS.contains(&name.as_str());
        if registered {
            tracing::warn!(claim = %name, "extra claim ignored: registered claims are set by the framework");
        }
        !registered
    });
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> ExtraClaims {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn per_call_claims_override_dsl_claims_but_never_registered_ones() {
        let dsl = obj(json!({"role": "admin", "tier": 1, "sub": "evil?id=1"}));
        let call = obj(json!({"tier": 3, "exp": 0, "purpose": "user", "x": true}));
        let merged = merge_extra_claims(dsl, call);
        assert_eq!(
            Value::Object(merged),
            json!({"role": "admin", "tier": 3, "x": true})
        );
    }

    #[test]
    fn claims_round_trip_and_type_checks() {
        let c = Claims {
            sub: "user?id=1".into(),
            jti: "j".into(),
            iat: 10,
            nbf: 10,
            exp: 20,
            iss: "i".into(),
            aud: "a".into(),
            purpose: "user".into(),
            cred: Some("c".into()),
            sid: Some("s".into()),
            tenant: Some("acme".into()),
            extra: obj(json!({"role": "x"})),
        };
        assert_eq!(Claims::from_json(c.to_json()).unwrap(), c);
        // Serialize writes the token's own JSON: registered and extra
        // claims side by side, `null` for an absent `cred`/`sid` left out.
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json, Value::Object(c.to_json()));
        assert_eq!(json["role"], "x");
        assert_eq!(json["sub"], "user?id=1");
        let no_sid = Claims {
            sid: None,
            ..c.clone()
        };
        assert!(serde_json::to_value(&no_sid).unwrap().get("sid").is_none());
        for (name, bad) in [
            ("exp", json!("20")),
            ("exp", json!(20.5)),
            ("exp", json!(u64::MAX)),
            ("sub", json!(1)),
            ("jti", Value::Null),
            ("purpose", json!(["user"])),
            ("aud", json!(1)),
            ("cred", json!(1)),
            ("sid", json!(["s"])),
        ] {
            let mut m = c.to_json();
            m.insert(name.into(), bad);
            assert!(
                matches!(Claims::from_json(m), Err(Error::InvalidClaim(n)) if n == name),
                "{name}"
            );
        }
        let mut m = c.to_json();
        m.remove("jti");
        assert!(matches!(
            Claims::from_json(m),
            Err(Error::InvalidClaim("jti"))
        ));
    }
}
