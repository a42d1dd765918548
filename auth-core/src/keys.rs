//! Key sets: one active signing key and any number of verification keys,
//! each with its own algorithm and `kid`; rotation without logging anyone
//! out; the public keys as a JWK Set.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use serde::Deserialize;

use crate::config::Algorithm;
use crate::error::Error;
use crate::secret::{Keys, Secret};

/// The longest `kid` accepted in a key set.
pub const MAX_KID_LEN: usize = 128;

/// One key: its id (`kid`), its algorithm, and its material, validated when
/// built (HMAC at least as long as the hash; asymmetric pairs proven by a
/// probe signature, RSA at least 2048 bits, the curve of the algorithm).
pub struct SigningKey {
    kid: String,
    algorithm: Algorithm,
    pub(crate) keys: Keys,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from secret material: the shared secret for HMAC, or a PEM
    /// bundle (private key block, then public key block) for RS/PS/ES/EdDSA.
    pub fn new(
        kid: impl Into<String>,
        algorithm: Algorithm,
        secret: &Secret,
    ) -> Result<Self, Error> {
        let kid = kid.into();
        check_kid(&kid)?;
        let keys = Keys::new(algorithm, secret).map_err(|e| in_key(&kid, e))?;
        Ok(Self {
            kid,
            algorithm,
            keys,
        })
    }

    /// An asymmetric key from its private and public PEM blocks.
    pub fn from_pem(
        kid: impl Into<String>,
        algorithm: Algorithm,
        private_key_pem: &str,
        public_key_pem: &str,
    ) -> Result<Self, Error> {
        let kid = kid.into();
        if algorithm.is_hmac() {
            return Err(in_key(
                &kid,
                Error::Config(format!("{algorithm} takes a `secret`, not PEM keys")),
            ));
        }
        let bundle = format!("{}\n{}\n", private_key_pem.trim(), public_key_pem.trim());
        Self::new(kid, algorithm, &Secret::from(bundle))
    }

    /// The key id tokens signed with it carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its algorithm: a token naming this key must say exactly this `alg`.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key as a JWK (`kid`, `alg`, `use: "sig"`); `None` for
    /// HMAC keys, which have no public half.
    pub fn public_jwk(&self) -> Option<Jwk> {
        if self.algorithm.is_hmac() {
            return None;
        }
        let mut jwk =
            Jwk::from_decoding_key(&self.keys.decoding, Some(self.algorithm.to_jwt())).ok()?;
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Some(jwk)
    }
}

fn check_kid(kid: &str) -> Result<(), Error> {
    let ok =
        !kid.is_empty() && kid.len() <= MAX_KID_LEN && kid.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "a key id must be 1 to {MAX_KID_LEN} printable ASCII characters, got `{}`",
            crate::error::truncated(kid)
        )))
    }
}

fn in_key(kid: &str, e: Error) -> Error {
    match e {
        Error::Config(m) => Error::Config(format!("key `{kid}`: {m}")),
        other => other,
    }
}

/// One active signing key and any number of verification keys, selected by
/// the `kid` in a token's header (a map lookup: no trial verifications).
///
/// Rotation: add the new key as active and keep the old one listed (tokens
/// it signed keep verifying); once they have expired, remove it.
///
/// ```
/// use auth_core::{Algorithm, KeySet, Secret, SigningKey};
///
/// let old = SigningKey::new("2026-06", Algorithm::HS256, &Secret::from("an old secret of at least thirty-two bytes"))?;
/// let new = SigningKey::new("2026-12", Algorithm::HS256, &Secret::from("a new secret of at least thirty-two bytes!"))?;
/// let keys = KeySet::new(new).with_verification_key(old)?;
/// assert_eq!(keys.active().kid(), "2026-12");
/// assert!(keys.get("2026-06").is_some());
/// # Ok::<(), auth_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeySet {
    active: Arc<SigningKey>,
    by_kid: HashMap<String, Arc<SigningKey>>,
}

impl KeySet {
    /// A set whose active (signing) key is `active`.
    pub fn new(active: SigningKey) -> Self {
        let active = Arc::new(active);
        let by_kid = HashMap::from([(active.kid.clone(), active.clone())]);
        Self { active, by_kid }
    }

    /// Adds a key that verifies the tokens naming its `kid` (and does not sign).
    pub fn with_verification_key(mut self, key: SigningKey) -> Result<Self, Error> {
        if self.by_kid.contains_key(&key.kid) {
            return Err(Error::Config(format!(
                "key `{}` is listed twice in the key set",
                key.kid
            )));
        }
        self.by_kid.insert(key.kid.clone(), Arc::new(key));
        Ok(self)
    }

    /// The key that signs.
    pub fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(|k| &**k)
    }

    pub(crate) fn active_arc(&self) -> Arc<SigningKey> {
        self.active.clone()
    }

    pub(crate) fn map(&self) -> &HashMap<String, Arc<SigningKey>> {
        &self.by_kid
    }

    /// The public keys of the asymmetric keys, as a JWK Set (`kid`, `alg`,
    /// `use: "sig"`), for other services to verify these tokens without a
    /// shared secret. Empty when every key is HMAC.
    pub fn jwks(&self) -> JwkSet {
        jwks_of(self.by_kid.values())
    }

    /// A key set from its JSON form:
    ///
    /// ```json
    /// {"active": "2026-12",
    ///  "keys": [{"kid": "2026-12", "alg": "ES256", "private_key_pem": "-----BEGIN…", "public_key_pem": "-----BEGIN…"},
    ///           {"kid": "2026-06", "alg": "HS256", "secret": "at least 32 bytes …"}]}
    /// ```
    ///
    /// An HMAC `secret` is the raw UTF-8 string. Unknown fields, a missing
    /// or unlisted `active`, duplicate ids and bad keys are errors naming
    /// the key.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let file: KeyFile = serde_json::from_str(json)
            .map_err(|e| Error::Config(format!("the key set does not parse: {e}")))?;
        let mut active = None;
        let mut others = Vec::new();
        for entry in file.keys {
            let algorithm: Algorithm = entry.alg.parse().map_err(|e| in_key(&entry.kid, e))?;
            let key = match (entry.secret, entry.private_key_pem, entry.public_key_pem) {
                (Some(secret), None, None) if algorithm.is_hmac() => {
                    SigningKey::new(entry.kid, algorithm, &Secret::from(secret))?
                }
                (None, Some(private), Some(public)) if !algorithm.is_hmac() => {
                    SigningKey::from_pem(entry.kid, algorithm, &private, &public)?
                }
                _ => {
                    let want = if algorithm.is_hmac() {
                        "`secret`"
                    } else {
                        "`private_key_pem` and `public_key_pem`"
                    };
                    return Err(Error::Config(format!(
                        "key `{}`: {algorithm} takes {want}, and nothing else",
                        entry.kid
                    )));
                }
            };
            if key.kid == file.active && active.is_none() {
                active = Some(key);
            } else {
                others.push(key);
            }
        }
        let active = active.ok_or_else(|| {
            Error::Config(format!(
                "the active key `{}` is not in the key set",
                file.active
            ))
        })?;
        others
            .into_iter()
            .try_fold(Self::new(active), Self::with_verification_key)
    }

    /// [`KeySet::from_json`] of a file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read the key set {}: {e}", path.display()))
        })?;
        Self::from_json(&json)
    }
}

/// The public JWKs of `keys`, in `kid` order (HMAC keys have none).
pub(crate) fn jwks_of<'a>(keys: impl Iterator<Item = &'a Arc<SigningKey>>) -> JwkSet {
    let mut keys: Vec<&Arc<SigningKey>> = keys.collect();
    keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    JwkSet {
        keys: keys.into_iter().filter_map(|k| k.public_jwk()).collect(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    active: String,
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    kid: String,
    alg: String,
    secret: Option<String>,
    private_key_pem: Option<String>,
    public_key_pem: Option<String>,
}

/// The `kid` of a key configured without one (the DSL's `signing_secret`):
/// 72 bits of SHA-256 over the algorithm and the material, so it changes
/// when the secret does and reveals nothing of it.
pub(crate) fn derived_kid(algorithm: Algorithm, secret: &Secret) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(b"auth-core kid v1\0")
        .chain_update(algorithm.as_str().as_bytes())
        .chain_update(b"\0")
        .chain_update(secret.expose())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9])
}
