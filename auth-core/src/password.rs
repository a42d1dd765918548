//! Password hashing: argon2id off the async executor, with a dummy hash so an
//! unknown identity costs what a wrong password costs.

use std::fmt;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::Error;

/// Shortest password accepted at registration and password change.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (bytes): bounds the work an attacker can ask for.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Parallelism.
    pub parallelism: u32,
}

impl HashCost {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 iterations, 1 lane.
    pub const OWASP: HashCost = HashCost {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// Cheap parameters for tests only (1 MiB, 1 iteration). Never in production.
    pub const INSECURE_FAST_FOR_TESTS: HashCost = HashCost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
}

impl Default for HashCost {
    fn default() -> Self {
        Self::OWASP
    }
}

/// Hashes and verifies passwords with argon2id. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    cost: HashCost,
    params: Params,
    dummy: OnceLock<String>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.inner.cost)
            .finish()
    }
}

impl Default for PasswordHasher {
    /// argon2's defaults, which are OWASP's recommendation.
    fn default() -> Self {
        Self::from_params(HashCost::OWASP, Params::DEFAULT)
    }
}

impl PasswordHasher {
    /// A hasher with these costs; invalid parameters are [`Error::Config`].
    pub fn new(cost: HashCost) -> Result<Self, Error> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| Error::Config(format!("invalid argon2 parameters: {e}")))?;
        Ok(Self::from_params(cost, params))
    }

    fn from_params(cost: HashCost, params: Params) -> Self {
        Self {
            inner: Arc::new(Inner {
                cost,
                params,
                dummy: OnceLock::new(),
            }),
        }
    }

    /// The costs new hashes are made with.
    pub fn cost(&self) -> HashCost {
        self.inner.cost
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            self.inner.params.clone(),
        )
    }

    /// Hashes synchronously (blocking: call from a blocking thread).
    pub fn hash_blocking(&self, password: &str) -> Result<String, Error> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Config(format!("password hashing failed: {e}")))
    }

    /// Verifies synchronously; a malformed stored hash is simply "no match".
    pub fn verify_blocking(&self, password: &str, hash: &str) -> bool {
        // Parameters come from the stored hash, so old hashes keep verifying
        // after the cost changes.
        self.argon2()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
    }

    /// Hashes on a blocking thread, never on the async executor.
    pub async fn hash(&self, password: &str) -> Result<String, Error> {
        let (this, password) = (self.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || this.hash_blocking(&password))
            .await
            .map_err(|e| Error::Config(format!("password hashing task failed: {e}")))?
    }

    /// Verifies on a blocking thread. With `hash = None` (no such user) it
    /// verifies against a dummy hash of the same cost and returns `false`,
    /// so both cases take the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let this = self.clone();
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        let task = tokio::task::spawn_blocking(move || match hash {
            Some(hash) => this.verify_blocking(&password, &hash),
            None => {
                let dummy = this.dummy_hash();
                let _ = this.verify_blocking(&password, &dummy);
                false
            }
        });
        task.await.unwrap_or(false)
    }

    fn dummy_hash(&self) -> String {
        self.inner
            .dummy
            .get_or_init(|| {
                let random = crate::jwt::new_jti();
                self.hash_blocking(&random).unwrap_or_default()
            })
            .clone()
    }
}

/// Checks a new password's length.
pub(crate) fn check_password(password: &str) -> Result<(), Error> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(Error::InvalidInput(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidInput(format!(
            "password must be at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// A password hash with a `Debug` that does not show it: use it as the type
/// of the `hashed_password_field` so `{:?}` of a user never prints the hash.
/// Serializes as the plain string (a `text` column).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct HashedPassword(String);

impl HashedPassword {
    /// The PHC string (`$argon2id$...`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HashedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashedPassword(<redacted>)")
    }
}

impl AsRef<str> for HashedPassword {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for HashedPassword {
    fn from(hash: String) -> Self {
        Self(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(HashCost::INSECURE_FAST_FOR_TESTS).unwrap();
        let hash = h.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert!(h.verify("correct horse", Some(&hash)).await);
        assert!(!h.verify("wrong horse", Some(&hash)).await);
        assert!(!h.verify("correct horse", None).await);
        assert!(!h.verify("x", Some("not a hash")).await);
        // Hashes made with other costs still verify.
        let owasp = PasswordHasher::default();
        assert_eq!(owasp.cost(), HashCost::OWASP);
        assert!(owasp.verify("correct horse", Some(&hash)).await);
    }

    #[test]
    fn password_length_rules() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        let h = HashedPassword::from("$argon2id$secret".to_owned());
        assert!(!format!("{h:?}").contains("secret"));
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            serde_json::json!("$argon2id$secret")
        );
    }
}
