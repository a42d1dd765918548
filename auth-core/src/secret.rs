//! Signing secrets: where they come from, how they become keys, and redaction.

use std::borrow::Cow;
use std::fmt;

use jsonwebtoken::{DecodingKey, EncodingKey};

use crate::config::Algorithm;
use crate::error::Error;

/// Secret bytes. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The secret bytes; keep them out of logs.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// A fresh secret of 64 bytes from the operating system's random source:
    /// long enough for every HMAC algorithm (HS512 needs 64), for demos that
    /// have none configured.
    pub fn random() -> Result<Self, Error> {
        let mut bytes = vec![0u8; 64];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Config(format!("the system random source failed: {e}")))?;
        Ok(Self(bytes))
    }

    /// The secret kept in the file at `path`, generated there when the file
    /// is missing (or empty, as a crash of an older version could leave it):
    /// 64 random bytes as hex, so tokens outlive a restart as a database
    /// file does.
    ///
    /// The file is written whole or not at all: a temporary file (mode
    /// 0600) in the same directory, synced, then linked into place, so a
    /// crash leaves no half-written secret and a concurrent start-up uses
    /// whichever secret landed first. On Unix an existing file that its
    /// group or others may read is refused (`Error::Config`, saying how to
    /// fix it): whoever reads the secret can sign tokens for any user.
    ///
    /// ```no_run
    /// let secret = auth_core::Secret::from_file_or_generate("app.db.secret".as_ref())?;
    /// # Ok::<(), auth_core::Error>(())
    /// ```
    pub fn from_file_or_generate(path: &std::path::Path) -> Result<Self, Error> {
        match read_secret_file(path)? {
            Some(secret) => Ok(secret),
            None => write_secret_file(path),
        }
    }
}

/// The secret in `path`, `None` when the file is missing or empty.
fn read_secret_file(path: &std::path::Path) -> Result<Option<Secret>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::Config(format!(
                "{} may be read by other users (mode {:o}): whoever reads it can sign tokens;                  run `chmod 600 {}` (and consider the secret leaked: delete the file to                  generate a new one, which signs everyone out)",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
    }
    let text = text.trim();
    Ok((!text.is_empty()).then(|| Secret::from(text.to_owned())))
}

/// Generates a secret into `path`, atomically: see
/// [`Secret::from_file_or_generate`].
fn write_secret_file(path: &std::path::Path) -> Result<Secret, Error> {
    use std::io::Write as _;
    let fresh = Secret::random()?;
    let hex: String = fresh.expose().iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let tmp = std::path::PathBuf::from(tmp);
    let io = |what: &str, e: std::io::Error| Error::Config(format!("cannot {what}: {e}"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(hex.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| io(&format!("write {}", tmp.display()), e));
    let placed = written.and_then(|()| {
        // A leftover empty file (no token was ever signed with it) is
        // replaced; otherwise link, which fails if another process won.
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            std::fs::rename(&tmp, path).map_err(|e| io(&format!("replace {}", path.display()), e))
        } else {
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(io(&format!("create {}", path.display()), e)),
            }
        }
    });
    let _ = std::fs::remove_file(&tmp);
    placed?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new directory entry survives a power cut too.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    // Whichever secret landed (ours, or a concurrent start-up's) is the one.
    read_secret_file(path)?
        .ok_or_else(|| Error::Config(format!("{} is empty after writing it", path.display())))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

/// Where the signing secret comes from (the DSL's `signing_secret`).
///
/// For HMAC algorithms the secret is the shared key. For RS/PS/ES/EdDSA it is
/// a PEM bundle: the private key block followed by the public key block (as
/// `openssl genpkey` and `openssl pkey -pubout` print them, concatenated).
#[derive(Clone)]
pub enum SigningSecret {
    /// `signing_secret = "literal"` (discouraged outside tests).
    Literal(Secret),
    /// `signing_secret(env = "NAME")`: read when the runtime is built.
    Env(Cow<'static, str>),
    /// `signing_secret(with = path::to::fn)`: called when the runtime is built.
    With(fn() -> Option<String>),
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(_) => f.write_str("SigningSecret::Literal(<redacted>)"),
            Self::Env(name) => f.debug_tuple("SigningSecret::Env").field(name).finish(),
            Self::With(_) => f.write_str("SigningSecret::With(<fn>)"),
        }
    }
}

impl SigningSecret {
    /// Resolves the secret now; a missing or empty secret is a clear error.
    pub fn resolve(&self) -> Result<Secret, Error> {
        let secret = match self {
            Self::Literal(s) => s.clone(),
            Self::Env(name) => match std::env::var(name.as_ref()) {
                Ok(v) => Secret::from(v),
                Err(_) => {
                    return Err(Error::Config(format!(
                        "the signing secret environment variable `{name}` is not set"
                    )));
                }
            },
            Self::With(f) => f().map(Secret::from).ok_or_else(|| {
                Error::Config("the signing secret function returned no secret".into())
            })?,
        };
        if secret.expose().iter().all(u8::is_ascii_whitespace) {
            return Err(Error::Config("the signing secret is empty".into()));
        }
        Ok(secret)
    }
}

/// The keys of one algorithm, built once.
pub(crate) struct Keys {
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    /// Builds and validates the keys: an HMAC secret at least as long as its
    /// hash; for the asymmetric algorithms, a private and a public key of
    /// one pair, of the algorithm's curve, RSA at least 2048 bits, proven by
    /// signing and verifying a probe. A bad key fails here, at start-up,
    /// never at the first request.
    pub(crate) fn new(algorithm: Algorithm, secret: &Secret) -> Result<Self, Error> {
        if let Some(min) = algorithm.min_hmac_secret_len() {
            let len = secret.expose().len();
            if len < min {
                return Err(Error::Config(format!(
                    "the {algorithm} signing secret is {len} bytes; it must be at least {min} \
                     (the hash length), or it can be guessed from one token: generate one with \
                     `openssl rand -base64 {min}`"
                )));
            }
            return Ok(Self {
                encoding: EncodingKey::from_secret(secret.expose()),
                decoding: DecodingKey::from_secret(secret.expose()),
            });
        }
        let bad = |what: &str| {
            Error::Config(format!(
                "the {algorithm} signing secret must be a PEM bundle with the private and the public key: {what}"
            ))
        };
        let text = std::str::from_utf8(secret.expose()).map_err(|_| bad("not UTF-8"))?;
        let (private, public) =
            split_pem(text).ok_or_else(|| bad("expected a private and a public key block"))?;
        let (encoding, decoding) = match algorithm {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => (
                EncodingKey::from_rsa_pem(private.as_bytes()),
                DecodingKey::from_rsa_pem(public.as_bytes()),
            ),
            Algorithm::ES256 | Algorithm::ES384 => (
                EncodingKey::from_ec_pem(private.as_bytes()),
                DecodingKey::from_ec_pem(public.as_bytes()),
            ),
            Algorithm::EdDSA => (
                EncodingKey::from_ed_pem(private.as_bytes()),
                DecodingKey::from_ed_pem(public.as_bytes()),
            ),
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => unreachable_hmac(),
        };
        let keys = Self {
            encoding: encoding.map_err(|e| bad(&format!("private key: {e}")))?,
            decoding: decoding.map_err(|e| bad(&format!("public key: {e}")))?,
        };
        keys.probe(algorithm)?;
        Ok(keys)
    }

    /// Signs and verifies a probe: catches a private key of another curve
    /// (signing fails), halves of two different pairs (verification fails)
    /// and short RSA keys (an RSA signature is as long as the modulus).
    fn probe(&self, algorithm: Algorithm) -> Result<(), Error> {
        const PROBE: &[u8] = b"auth-core key probe";
        let bad =
            |why: String| Error::Config(format!("the {algorithm} key pair is unusable: {why}"));
        let signature = jsonwebtoken::crypto::sign(PROBE, &self.encoding, algorithm.to_jwt())
            .map_err(|e| {
                bad(format!(
                    "signing a probe failed ({e}): is the private key of the algorithm's type and curve?"
                ))
            })?;
        let verified =
            jsonwebtoken::crypto::verify(&signature, PROBE, &self.decoding, algorithm.to_jwt())
                .unwrap_or(false);
        if !verified {
            return Err(bad(
                "the public key does not verify the private key's signature: they are not one pair, or not of this algorithm"
                    .into(),
            ));
        }
        if algorithm.is_rsa() {
            use base64::Engine as _;
            let bits = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&signature)
                .map_or(0, |s| s.len() * 8);
            if bits < MIN_RSA_BITS {
                return Err(bad(format!(
                    "the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
                )));
            }
        }
        Ok(())
    }
}

/// The smallest RSA modulus accepted.
pub const MIN_RSA_BITS: usize = 2048;

// HMAC returned above; kept as a function so the match stays exhaustive
// without a panic path.
fn unreachable_hmac() -> (
    jsonwebtoken::errors::Result<EncodingKey>,
    jsonwebtoken::errors::Result<DecodingKey>,
) {
    (
        Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into()),
        Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into()),
    )
}

/// Splits a bundle into its private-key and public-key PEM blocks.
fn split_pem(text: &str) -> Option<(String, String)> {
    let (mut private, mut public) = (None, None);
    let mut current: Option<(bool, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line.strip_prefix("-----BEGIN ") {
            current = Some((label.contains("PRIVATE KEY"), String::new()));
        }
        if let Some((is_private, block)) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                let block = std::mem::take(block);
                if *is_private {
                    private = Some(block);
                } else if line.contains("PUBLIC KEY") {
                    public = Some(block);
                }
                current = None;
            }
        }
    }
    Some((private?, public?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SigningSecret::Literal(Secret::from("hunter2-hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:?}", Secret::from("hunter2")).contains("hunter2"));
    }

    #[test]
    fn missing_env_and_empty_secret_are_config_errors() {
        let e = SigningSecret::Env("AUTH_CORE_TEST_SURELY_UNSET_VAR".into()).resolve();
        assert!(
            matches!(e, Err(Error::Config(m)) if m.contains("AUTH_CORE_TEST_SURELY_UNSET_VAR"))
        );
        let e = SigningSecret::Literal(Secret::from("  ")).resolve();
        assert!(matches!(e, Err(Error::Config(m)) if m.contains("empty")));
        fn none() -> Option<String> {
            None
        }
        assert!(matches!(
            SigningSecret::With(none).resolve(),
            Err(Error::Config(_))
        ));
        fn some() -> Option<String> {
            Some("from-fn".into())
        }
        assert_eq!(
            SigningSecret::With(some).resolve().unwrap().expose(),
            b"from-fn"
        );
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("auth-core-secret-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    #[cfg(unix)]
    fn h3_06_the_secret_file_is_private_whole_and_checked() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = scratch("app.db.secret");
        let made = Secret::from_file_or_generate(&path).unwrap();
        assert_eq!(made.expose().len(), 128, "64 bytes as hex");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        let dir = path.parent().unwrap();
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            1,
            "no temporary file is left beside it"
        );
        assert_eq!(
            Secret::from_file_or_generate(&path).unwrap(),
            made,
            "read back"
        );

        // Readable by the group or others: refused, saying how to fix it.
        for loose in [0o640, 0o644, 0o666, 0o604] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
            let e = Secret::from_file_or_generate(&path).unwrap_err();
            assert!(
                matches!(&e, Error::Config(m) if m.contains("chmod 600")),
                "{loose:o}: {e}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

        // An empty file (a crash of the old non-atomic write) is replaced.
        std::fs::write(&path, "").unwrap();
        let fresh = Secret::from_file_or_generate(&path).unwrap();
        assert_eq!(fresh.expose().len(), 128);
        assert_ne!(fresh, made);
        assert_eq!(mode(&path), 0o600);

        // Concurrent first start-ups all end with the one secret that landed.
        let path = scratch("race.secret");
        let got: Vec<Secret> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Secret::from_file_or_generate(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(got.iter().all(|s| *s == got[0]));
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn split_pem_finds_both_blocks() {
        let bundle = "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n-----BEGIN PUBLIC KEY-----\nBBB\n-----END PUBLIC KEY-----\n";
        let (a, b) = split_pem(bundle).unwrap();
        assert!(a.contains("AAA") && a.ends_with("-----END PRIVATE KEY-----\n"));
        assert!(b.contains("BBB"));
        assert!(split_pem("-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----").is_none());
        assert!(split_pem("garbage").is_none());
    }
}
