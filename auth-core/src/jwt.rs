//! JWT signing and verification on jsonwebtoken: header, signature, time, issuer, audience.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::Header;
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use crate::claims::{Claims, ExtraClaims, StrictObject};
use crate::config::{Algorithm, Lifetime, Purpose, TokenConfig};
use crate::error::{Error, truncated};
use crate::keys::{KeySet, SigningKey};
use crate::secret::Secret;

/// The longest token accepted; anything longer is refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Signs and verifies tokens for one configuration. Built once; cheap to share.
///
/// It signs with one key and verifies with the key a token's `kid` names (a
/// map lookup), requiring the header's `alg` to be that key's algorithm. A
/// token without `kid` (issued before key sets) is verified with the legacy
/// key, the one the DSL's `signing_secret` configures, when there is one.
#[derive(Debug)]
pub struct Jwt {
    signing: Arc<SigningKey>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    legacy: Option<Arc<SigningKey>>,
    leeway: i64,
    issuer: String,
    audience: String,
}

impl Jwt {
    /// Resolves the configured secret and builds the keys.
    pub fn new(config: &TokenConfig) -> Result<Self, Error> {
        Self::with_secret(config, &config.signing_secret.resolve()?)
    }

    /// Builds the keys from `secret`, overriding the configured one. The key
    /// gets a `kid` derived from it, and also verifies tokens without `kid`.
    pub fn with_secret(config: &TokenConfig, secret: &Secret) -> Result<Self, Error> {
        let key = Arc::new(Self::dsl_key(config, secret)?);
        let by_kid = HashMap::from([(key.kid().to_owned(), key.clone())]);
        Self::assemble(config, key.clone(), by_kid, Some(key))
    }

    /// Signs with the key set's active key and verifies with any of its
    /// keys. `legacy` (the secret the DSL configures) keeps verifying the
    /// tokens it signed before the key set: those without `kid`, and those
    /// naming its derived `kid`. Without it, such tokens are refused.
    pub fn with_keys(
        config: &TokenConfig,
        keys: &KeySet,
        legacy: Option<&Secret>,
    ) -> Result<Self, Error> {
        let legacy = legacy
            .map(|secret| Self::dsl_key(config, secret).map(Arc::new))
            .transpose()?;
        let mut by_kid = keys.map().clone();
        if let Some(legacy) = &legacy {
            // Tokens the DSL key signed name its derived kid.
            by_kid
                .entry(legacy.kid().to_owned())
                .or_insert_with(|| legacy.clone());
        }
        Self::assemble(config, keys.active_arc(), by_kid, legacy)
    }

    fn dsl_key(config: &TokenConfig, secret: &Secret) -> Result<SigningKey, Error> {
        let kid = crate::keys::derived_kid(config.algorithm, secret);
        SigningKey::new(kid, config.algorithm, secret).map_err(|e| match e {
            // The DSL key has no name the user gave: say where it comes from.
            Error::Config(m) => Error::Config(
                m.split_once(": ")
                    .map_or(m.clone(), |(_, rest)| format!("signing_secret: {rest}")),
            ),
            other => other,
        })
    }

    fn assemble(
        config: &TokenConfig,
        signing: Arc<SigningKey>,
        by_kid: HashMap<String, Arc<SigningKey>>,
        legacy: Option<Arc<SigningKey>>,
    ) -> Result<Self, Error> {
        if config.token_lifetime.is_zero() {
            return Err(Error::Config("`token_lifetime` must be positive".into()));
        }
        Ok(Self {
            signing,
            by_kid,
            legacy,
            leeway: i64::try_from(config.leeway.as_secs())
                .map_err(|_| Error::Config("`leeway` is too large".into()))?,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.signing.algorithm()
    }

    /// The `kid` tokens are signed with.
    pub fn kid(&self) -> &str {
        self.signing.kid()
    }

    /// The public keys of the asymmetric verification keys, as a JWK Set.
    pub fn jwks(&self) -> JwkSet {
        crate::keys::jwks_of(self.by_kid.values())
    }

    /// The `aud` a token of `purpose` carries: the configured audience for
    /// access tokens (purpose `user`) only; every other purpose gets
    /// `<audience>:<purpose>` (`my-app:refresh`), so a verifier elsewhere
    /// that checks signature, `exp`, `iss` and `aud` (as any stock JWT
    /// library does) accepts access tokens and nothing else.
    pub fn audience_for(&self, purpose: &str) -> String {
        audience_for(&self.audience, purpose)
    }

    /// Fresh claims for `sub`: a new `jti`, `iat = nbf = now`, `exp = now + lifetime`.
    pub fn claims(
        &self,
        sub: String,
        purpose: &Purpose,
        lifetime: Lifetime,
        extra: ExtraClaims,
        now: i64,
    ) -> Claims {
        // Lifetimes are capped at 100 years when parsed, so this cannot overflow
        // for any real clock; saturate anyway rather than panic.
        let exp = now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
        Claims {
            sub,
            jti: new_jti(),
            iat: now,
            nbf: now,
            exp,
            iss: self.issuer.clone(),
            aud: self.audience_for(purpose.as_str()),
            purpose: purpose.as_str().to_owned(),
            cred: None,
            sid: None,
            tenant: None,
            extra,
        }
    }

    /// Signs claims into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        let mut header = Header::new(self.signing.algorithm().to_jwt());
        header.kid = Some(self.signing.kid().to_owned());
        jsonwebtoken::encode(&header, &claims.to_json(), &self.signing.keys.encoding)
            .map_err(|e| Error::Signing(e.to_string()))
    }

    /// Verifies a token now. See [`Jwt::verify_at`].
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// Verifies a token at Unix time `now`, in this order:
    /// header `alg`, signature, `exp`, `nbf`, `iss`, `aud`, then the types of
    /// the remaining registered claims. Subject, revocation and presence are
    /// checked by the caller, which knows the resource and the store.
    pub fn verify_at(&self, token: &str, now: i64) -> Result<Claims, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::MalformedToken("token is too long"));
        }
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Error::MalformedToken(
                "expected three dot-separated segments",
            ));
        };
        let key = self.check_header(header)?;
        // The signature covers the header and payload segments as sent.
        let message = &token[..header.len() + 1 + payload.len()];
        let valid = jsonwebtoken::crypto::verify(
            signature,
            message.as_bytes(),
            &key.keys.decoding,
            key.algorithm().to_jwt(),
        )
        .unwrap_or(false);
        if !valid {
            return Err(Error::InvalidSignature);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Error::MalformedToken("payload is not base64url"))?;
        let mut map = serde_json::from_slice::<StrictObject>(&bytes)
            .map_err(|_| {
                Error::MalformedToken("payload is not a JSON object without duplicate keys")
            })?
            .0;

        let exp = int_claim(&map, "exp")?;
        if exp <= now.saturating_sub(self.leeway) {
            return Err(Error::Expired);
        }
        let nbf = int_claim(&map, "nbf")?;
        if nbf > now.saturating_add(self.leeway) {
            return Err(Error::NotYetValid);
        }
        if map.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Error::InvalidIssuer);
        }
        // The audience a token must name follows from its (signed) purpose:
        // an access token names ours, anything else ours and its purpose.
        let audience = match map.get("purpose") {
            Some(Value::String(purpose)) => self.audience_for(purpose),
            _ => return Err(Error::InvalidClaim("purpose")),
        };
        let aud_ok = match map.get("aud") {
            Some(Value::String(a)) => *a == audience,
            Some(Value::Array(items)) => items.iter().any(|a| a.as_str() == Some(&audience)),
            _ => false,
        };
        if !aud_ok {
            return Err(Error::InvalidAudience);
        }
        map.insert("aud".into(), Value::String(audience));
        Claims::from_json(map)
    }

    /// Reads the header and picks the key: by `kid` (a map lookup), or the
    /// legacy key for a token without one; the header's `alg` must be that
    /// key's algorithm (so `none` and algorithm confusion fail); `crit` is
    /// refused; `typ`, when present, must be `JWT`.
    fn check_header(&self, header: &str) -> Result<&SigningKey, Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| Error::MalformedToken("header is not base64url"))?;
        let header = serde_json::from_slice::<StrictObject>(&bytes)
            .map_err(|_| {
                Error::MalformedToken("header is not a JSON object without duplicate keys")
            })?
            .0;
        let key = match header.get("kid") {
            None => self.legacy.as_deref().ok_or(Error::UnknownKey(
                "(none: a token without `kid` and no legacy key)".into(),
            ))?,
            Some(Value::String(kid)) => self
                .by_kid
                .get(kid.as_str())
                .map(|k| &**k)
                .ok_or_else(|| Error::UnknownKey(truncated(kid)))?,
            Some(_) => return Err(Error::MalformedToken("header `kid` is not a string")),
        };
        match header.get("alg") {
            Some(Value::String(alg)) if alg == key.algorithm().as_str() => {}
            Some(Value::String(alg)) => {
                return Err(Error::AlgorithmMismatch {
                    expected: key.algorithm(),
                    found: truncated(alg),
                });
            }
            _ => return Err(Error::MalformedToken("header has no `alg` string")),
        }
        // RFC 7515 section 4.1.11: a recipient must refuse a token whose
        // `crit` names an extension it does not understand; we understand none.
        if header.contains_key("crit") {
            return Err(Error::MalformedToken(
                "header has a `crit` extension this verifier does not support",
            ));
        }
        // `typ` is optional; when present it must say this is a JWT (media
        // type names are case-insensitive, RFC 7519 section 5.1).
        match header.get("typ") {
            None => Ok(key),
            Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => Ok(key),
            Some(_) => Err(Error::MalformedToken("header `typ` is not `JWT`")),
        }
    }
}

/// `aud` of a token of `purpose` under the configured `audience`: see
/// [`Jwt::audience_for`].
pub(crate) fn audience_for(audience: &str, purpose: &str) -> String {
    if purpose == Purpose::USER.as_str() {
        audience.to_owned()
    } else {
        format!("{audience}:{purpose}")
    }
}

fn int_claim(map: &ExtraClaims, name: &'static str) -> Result<i64, Error> {
    map.get(name)
        .and_then(Value::as_i64)
        .ok_or(Error::InvalidClaim(name))
}

/// A new unique, opaque token id: 128 random bits as 32 lowercase hex digits.
pub fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Reads a token's claims **without verifying anything**.
///
/// Only for tokens this process minted or already verified (for example, to
/// store or revoke them); never to make a trust decision.
pub fn peek_claims(token: &str) -> Result<Claims, Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::MalformedToken("token is too long"));
    }
    let payload = token.split('.').nth(1).ok_or(Error::MalformedToken(
        "expected three dot-separated segments",
    ))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Error::MalformedToken("payload is not base64url"))?;
    let map: ExtraClaims = serde_json::from_slice(&bytes)
        .map_err(|_| Error::MalformedToken("payload is not a JSON object"))?;
    Claims::from_json(map)
}
