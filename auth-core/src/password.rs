//! Password hashing: argon2id off the async executor, a bounded number at
//! once over reused memory, and a dummy hash so an unknown identity costs
//! what a wrong password costs.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

/// Shortest password accepted at registration and password change.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (bytes): bounds the work an attacker can ask for.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The largest argon2 memory a stored hash may ask for at verification
/// (1 GiB): a hash from elsewhere with a larger cost counts as unverifiable.
const MAX_VERIFY_MEMORY_KIB: usize = 1024 * 1024;

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

/// How many hashes or verifications run at once, and how long one waits
/// for its turn before it is refused with [`Error::Unavailable`].
///
/// Each running hash holds `memory_kib` of argon2 memory, so the hasher's
/// memory is at most `max_concurrent` × the cost's memory (19 MiB each at
/// [`HashCost::OWASP`]), however many requests arrive: the rest wait,
/// holding no memory, and past `max_wait` they are turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashLimits {
    /// Hashes at once (default: the number of CPU cores).
    pub max_concurrent: usize,
    /// The longest wait for a permit (default 5 s).
    pub max_wait: Duration,
}

impl Default for HashLimits {
    fn default() -> Self {
        Self {
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_wait: Duration::from_secs(5),
        }
    }
}

/// Hashes and verifies passwords with argon2id. Cheap to clone; clones
/// share the limit and the memory.
///
/// The argon2 memory of the running hashes is allocated once per permit and
/// reused: it is never returned to the system, and it never grows past
/// `max_concurrent` blocks of the cost's size (a general-purpose allocator,
/// asked for 19 MiB per request, keeps freed blocks in per-thread arenas
/// instead, so a burst could leave hundreds of MiB behind).
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    cost: HashCost,
    params: Params,
    limits: HashLimits,
    permits: Arc<Semaphore>,
    /// Idle argon2 memory, one buffer per permit at most.
    memory: Mutex<Vec<Box<[Block]>>>,
    dummy: OnceLock<String>,
    #[cfg(test)]
    running: test_gauge::Gauge,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.inner.cost)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

impl Default for PasswordHasher {
    /// argon2's defaults (OWASP's recommendation) and the default limits.
    fn default() -> Self {
        Self::from_params(HashCost::OWASP, Params::DEFAULT, HashLimits::default())
    }
}

impl PasswordHasher {
    /// A hasher with these costs and the default limits; invalid parameters
    /// are [`Error::Config`].
    pub fn new(cost: HashCost) -> Result<Self, Error> {
        Self::with_limits(cost, HashLimits::default())
    }

    /// A hasher with these costs and limits.
    pub fn with_limits(cost: HashCost, limits: HashLimits) -> Result<Self, Error> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| Error::Config(format!("invalid argon2 parameters: {e}")))?;
        if limits.max_concurrent == 0 || limits.max_concurrent > Semaphore::MAX_PERMITS {
            return Err(Error::Config(
                "`max_concurrent` password hashes must be at least 1".into(),
            ));
        }
        Ok(Self::from_params(cost, params, limits))
    }

    fn from_params(cost: HashCost, params: Params, limits: HashLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                cost,
                params,
                limits,
                permits: Arc::new(Semaphore::new(limits.max_concurrent)),
                memory: Mutex::new(Vec::new()),
                dummy: OnceLock::new(),
                #[cfg(test)]
                running: test_gauge::Gauge::default(),
            }),
        }
    }

    /// The costs new hashes are made with.
    pub fn cost(&self) -> HashCost {
        self.inner.cost
    }

    /// The concurrency limits.
    pub fn limits(&self) -> HashLimits {
        self.inner.limits
    }

    /// The most argon2 memory this hasher holds at once, in bytes:
    /// `max_concurrent` × the cost's memory.
    pub fn peak_memory_bytes(&self) -> usize {
        self.inner.limits.max_concurrent * self.inner.params.block_count() * Block::SIZE
    }

    /// Hashes synchronously (blocking: call from a blocking thread). Not
    /// counted against the limit: [`PasswordHasher::hash`] is.
    pub fn hash_blocking(&self, password: &str) -> Result<String, Error> {
        self.with_memory(|memory| self.hash_into(password, memory))
    }

    /// Verifies synchronously (blocking, not counted against the limit).
    /// A stored hash that does not parse costs a dummy verification and is
    /// no match.
    pub fn verify_blocking(&self, password: &str, hash: &str) -> bool {
        self.with_memory(|memory| match PasswordHash::new(hash) {
            Ok(phc) => verify_into(password, &phc, memory),
            Err(_) => {
                self.verify_dummy(password, memory);
                false
            }
        })
    }

    /// Hashes on a blocking thread, never on the async executor, once a
    /// permit is free ([`Error::Unavailable`] past the bounded wait).
    pub async fn hash(&self, password: &str) -> Result<String, Error> {
        let password = password.to_owned();
        self.run(move |this| this.hash_blocking(&password)).await?
    }

    /// Verifies on a blocking thread once a permit is free. With
    /// `hash = None` (no such user), or a stored hash that does not parse,
    /// it verifies against a dummy hash of the same cost and answers
    /// `false`, so every case takes the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, Error> {
        let password = password.to_owned();
        let hash = hash.map(str::to_owned);
        self.run(move |this| match hash {
            Some(hash) => this.verify_blocking(&password, &hash),
            None => this.with_memory(|memory| {
                this.verify_dummy(&password, memory);
                false
            }),
        })
        .await
    }

    /// Runs `work` on a blocking thread under a permit. The permit moves
    /// into the blocking task, so a caller that gives up (a client that
    /// disconnects) does not free it while argon2 still runs.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> T + Send + 'static,
    ) -> Result<T, Error> {
        let permit = self.permit().await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let out = {
                #[cfg(test)]
                let _running = this.inner.running.enter();
                work(&this)
            };
            drop(permit);
            out
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing task failed");
            Error::Unavailable("password hashing failed")
        })
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, Error> {
        let wait = self.inner.permits.clone().acquire_owned();
        match tokio::time::timeout(self.inner.limits.max_wait, wait).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a timeout is the real case.
            _ => {
                tracing::warn!(
                    max_concurrent = self.inner.limits.max_concurrent,
                    "password hashing at capacity: request refused"
                );
                Err(Error::Unavailable("password hashing is at capacity"))
            }
        }
    }

    /// Lends `f` an argon2 buffer of this cost's size: an idle one, or a new
    /// one. At most `max_concurrent` are kept for later.
    fn with_memory<T>(&self, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let idle = self
            .inner
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let mut memory =
            idle.unwrap_or_else(|| vec![Block::default(); self.inner.params.block_count()].into());
        let out = f(&mut memory);
        let mut pool = self.inner.memory.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < self.inner.limits.max_concurrent {
            pool.push(memory);
        }
        out
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            self.inner.params.clone(),
        )
    }

    fn hash_into(&self, password: &str, memory: &mut [Block]) -> Result<String, Error> {
        let failed = |e: &dyn fmt::Display| Error::Config(format!("password hashing failed: {e}"));
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
        let mut out = [0u8; 32];
        self.argon2()
            .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
            .map_err(|e| failed(&e))?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.inner.params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(phc.to_string())
    }

    fn verify_dummy(&self, password: &str, memory: &mut [Block]) {
        let dummy = self.inner.dummy.get_or_init(|| {
            let random = crate::jwt::new_jti();
            self.hash_into(&random, memory).unwrap_or_default()
        });
        if let Ok(phc) = PasswordHash::new(dummy) {
            let _ = verify_into(password, &phc, memory);
        }
    }
}

/// Verifies against a parsed PHC hash, in `memory` when it is large enough
/// (a hash made with a larger cost gets its own, bounded, buffer). The
/// outputs are compared in constant time (`Output`'s equality).
fn verify_into(password: &str, phc: &PasswordHash, memory: &mut [Block]) -> bool {
    let verified = || -> Option<bool> {
        let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
        let version = phc
            .version
            .map(Version::try_from)
            .transpose()
            .ok()?
            .unwrap_or_default();
        let params = Params::try_from(phc).ok()?;
        let (salt, expected) = (phc.salt.as_ref()?, phc.hash.as_ref()?);
        let mut out = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let needed = params.block_count();
        if needed <= memory.len() {
            argon2
                .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
                .ok()?;
        } else if needed * Block::SIZE / 1024 <= MAX_VERIFY_MEMORY_KIB {
            let mut own = vec![Block::default(); needed];
            argon2
                .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut own[..])
                .ok()?;
        } else {
            return None;
        }
        Some(Output::new(&out).ok()? == *expected)
    };
    verified().unwrap_or(false)
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
mod test_gauge {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// How many hashes run now, and the most that ever ran at once.
    #[derive(Default)]
    pub(super) struct Gauge {
        now: AtomicUsize,
        pub(super) peak: AtomicUsize,
    }

    pub(super) struct Entered<'a>(&'a Gauge);

    impl Gauge {
        pub(super) fn enter(&self) -> Entered<'_> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            Entered(self)
        }
    }

    impl Drop for Entered<'_> {
        fn drop(&mut self) {
            self.0.now.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A password's confirmation, when given, equals it; when the strategy
/// requires one, it is given.
pub(crate) fn check_confirmation(
    config: &crate::config::PasswordConfig,
    password: &str,
    confirmation: Option<&str>,
) -> Result<(), Error> {
    match confirmation {
        Some(c) if c != password => Err(Error::PasswordConfirmationMismatch),
        None if config.confirmation_required => Err(Error::InvalidInput(
            "password_confirmation is required".into(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 1: 150 concurrent sign-ins ran 150 argon2 hashes at once
    /// (19 MiB each). Now at most `max_concurrent` run; the rest wait.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn f01_concurrent_hashes_never_exceed_the_permits() {
        let limits = HashLimits {
            max_concurrent: 2,
            max_wait: Duration::from_secs(60),
        };
        let h = PasswordHasher::with_limits(HashCost::INSECURE_FAST_FOR_TESTS, limits).unwrap();
        let hash = h.hash("correct horse").await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (h, hash) = (h.clone(), hash.clone());
                tokio::spawn(async move {
                    let known = (i % 2 == 0).then_some(hash.as_str());
                    h.verify("correct horse", known).await
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), i % 2 == 0);
        }
        let peak = h
            .inner
            .running
            .peak
            .load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
        // The memory kept is one buffer per permit at most.
        assert!(h.inner.memory.lock().unwrap().len() <= 2);
        assert_eq!(h.peak_memory_bytes(), 2 * 1024 * 1024);
    }

    /// Finding 1: past the bounded wait a request is refused as unavailable
    /// instead of queueing without bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn f01_past_the_bounded_wait_hashing_is_unavailable() {
        let limits = HashLimits {
            max_concurrent: 1,
            max_wait: Duration::from_millis(1),
        };
        let h = PasswordHasher::with_limits(HashCost::OWASP, limits).unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.verify("pw", None).await })
            })
            .collect();
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(matched) => assert!(!matched),
                Err(Error::Unavailable(_)) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused > 0, "16 OWASP hashes, 1 permit, 1 ms wait");
        // And once the burst is over, hashing works again.
        assert!(h.hash("afterwards").await.is_ok());
        assert!(
            PasswordHasher::with_limits(
                HashCost::OWASP,
                HashLimits {
                    max_concurrent: 0,
                    ..limits
                }
            )
            .is_err()
        );
    }

    /// Finding 10: a stored hash that does not parse costs the same argon2
    /// verification as an unknown identity (it answered in 80 µs, not 20 ms,
    /// which told an attacker which accounts have no usable password).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn f10_an_unparsable_stored_hash_costs_a_dummy_verification() {
        let h = PasswordHasher::new(HashCost::OWASP).unwrap();
        async fn fastest(h: &PasswordHasher, hash: Option<&str>) -> Duration {
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let start = std::time::Instant::now();
                assert!(!h.verify("guess", hash).await.unwrap());
                best = best.min(start.elapsed());
            }
            best
        }
        let unknown = fastest(&h, None).await;
        for broken in [
            "",
            "not a hash",
            "$argon2id$v=19$m=1024,t=1,p=1$bad",
            "$2b$12$bcrypt",
        ] {
            let took = fastest(&h, Some(broken)).await;
            assert!(
                took * 5 >= unknown,
                "{broken:?}: {took:?} against {unknown:?} for an unknown identity"
            );
        }
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(HashCost::INSECURE_FAST_FOR_TESTS).unwrap();
        let hash = h.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
        assert!(h.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!h.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!h.verify("correct horse", None).await.unwrap());
        assert!(!h.verify("x", Some("not a hash")).await.unwrap());
        // Hashes made with other costs still verify, both ways.
        let owasp = PasswordHasher::default();
        assert_eq!(owasp.cost(), HashCost::OWASP);
        assert!(owasp.verify("correct horse", Some(&hash)).await.unwrap());
        let big = owasp.hash("correct horse").await.unwrap();
        assert!(h.verify("correct horse", Some(&big)).await.unwrap());
        // The argon2 crate's own verifier agrees with ours.
        use argon2::password_hash::PasswordVerifier as _;
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", hash.as_str())
                .is_ok()
        );
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
