//! Brute-force protection (the `brute_force` add-on): failed password
//! sign-ins counted in the store, so every node sees the same counts.
//!
//! Two kinds of counter, each a row of the store's attempt table
//! ([`AttemptStore`]):
//! - **per identity** (the normalised identity, hashed): after
//!   `max_failures` failures within `window` the identity is locked for
//!   `lockout`. A locked identity answers exactly as a wrong password does
//!   (401 `authentication_failed`, after the same password hashing work),
//!   even to its right password, so a lockout tells nobody the account
//!   exists, and its failures are not counted while it is locked. It
//!   unlocks when `lockout` has passed or when the password is reset.
//! - **per client address** (an IPv4 address, or an IPv6 /64): after
//!   `max_failures_per_ip` failures within `window`, whatever identities
//!   they named, the address is refused with 429 and `Retry-After` until
//!   `lockout` has passed. A credential-stuffing run from one address is
//!   throttled while every account stays usable by its owner from another.
//!
//! A successful sign-in clears its identity's counter (not the address's:
//! a run with a few right guesses is still throttled). Counters whose
//! window and lockout have passed are deleted by the expunger
//! ([`crate::expunge_expired_attempts`]).

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::audit::AuditEvent;
use crate::auth::Auth;
use crate::config::BruteForceConfig;
use crate::error::{Error, Result};
use crate::store::{AttemptStore, Failure};
use crate::user::UserResource;

/// The counters one sign-in attempt touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Counters {
    identity: Option<String>,
    ip: Option<String>,
}

impl Counters {
    /// The counters of `identity` (already normalised) from `ip` under
    /// `config`, for the user resource `resource` (its subject name: two
    /// resources never share a counter).
    pub(crate) fn of(
        config: &BruteForceConfig,
        resource: &str,
        identity: &str,
        ip: Option<IpAddr>,
    ) -> Self {
        Self {
            identity: config
                .by_identity
                .then(|| format!("{resource}:identity:{}", hex_sha256(identity))),
            ip: address_counter(config, resource, ip),
        }
    }

    /// The counter of the address `ip` alone (a token exchange names no
    /// identity).
    pub(crate) fn of_address(
        config: &BruteForceConfig,
        resource: &str,
        ip: Option<IpAddr>,
    ) -> Self {
        Self {
            identity: None,
            ip: address_counter(config, resource, ip),
        }
    }

    pub(crate) fn keys(&self) -> Vec<String> {
        self.identity.iter().chain(&self.ip).cloned().collect()
    }
}

/// What the counters say before an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go on.
    Open,
    /// The identity is locked: answer as a wrong password, count nothing.
    IdentityLocked,
}

/// Reads the counters: [`Error::TooManyAttempts`] when the address is
/// throttled, else whether the identity is locked.
pub(crate) async fn check<S: AttemptStore>(store: &S, counters: &Counters) -> Result<Verdict> {
    let keys = counters.keys();
    if keys.is_empty() {
        return Ok(Verdict::Open);
    }
    let locked = store
        .locked_attempts(&keys)
        .await
        .map_err(|e| crate::error::store_failure("read sign-in attempts", e))?;
    verdict(counters, &locked)
}

/// The verdict on `counters` given the ones `locked`:
/// [`Error::TooManyAttempts`] when the address is throttled, else whether
/// the identity is locked.
pub(crate) fn verdict(counters: &Counters, locked: &[(String, DateTime<Utc>)]) -> Result<Verdict> {
    let until = |key: &Option<String>| {
        key.as_ref()
            .and_then(|k| locked.iter().find(|(l, _)| l == k))
            .map(|(_, until)| *until)
    };
    if let Some(until) = until(&counters.ip) {
        return Err(Error::TooManyAttempts {
            retry_after: retry_after(until, Utc::now()),
        });
    }
    Ok(if until(&counters.identity).is_some() {
        Verdict::IdentityLocked
    } else {
        Verdict::Open
    })
}

/// Counts a failure against each counter, appending `events` in the same
/// write; whether it was written. A store failure is logged (the attempt
/// is refused anyway).
pub(crate) async fn failed<S: AttemptStore>(
    store: &S,
    config: &BruteForceConfig,
    counters: &Counters,
    events: &[AuditEvent],
) -> bool {
    let mut failures = Vec::with_capacity(2);
    if let Some(key) = &counters.identity {
        failures.push(Failure {
            key,
            max_failures: config.max_failures,
        });
    }
    if let Some(key) = &counters.ip {
        failures.push(Failure {
            key,
            max_failures: config.max_failures_per_ip,
        });
    }
    if failures.is_empty() {
        return false;
    }
    let (window, lockout) = (config.window.as_duration(), config.lockout.as_duration());
    match store
        .record_failures(&failures, window, lockout, events)
        .await
    {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "could not count a failed sign-in");
            false
        }
    }
}

/// Clears the identity's counter (a success, a password reset). A store
/// failure is logged: the counter then runs out with its window.
pub(crate) async fn clear_identity<S: AttemptStore>(store: &S, counters: &Counters) {
    if let Some(key) = &counters.identity
        && let Err(e) = store.clear_attempts(std::slice::from_ref(key)).await
    {
        tracing::error!(error = %e, "could not clear a sign-in counter");
    }
}

impl<U: UserResource, S: AttemptStore> Auth<U, S> {
    /// Runs a token exchange (a sign-in token, a magic link) under its
    /// address's throttle: refused with [`Error::TooManyAttempts`] while the
    /// address is throttled, and a refusal of the token counts a failure
    /// against the address (a store or configuration fault does not).
    pub(crate) async fn address_guarded<T>(
        &self,
        ip: Option<IpAddr>,
        run: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let Some((config, counters)) = self.address_open(ip).await? else {
            return run.await;
        };
        let result = run.await;
        if let Err(e) = &result
            && refused(e)
        {
            failed(self.store(), config, &counters, &[]).await;
        }
        result
    }

    /// Runs an out-of-band request (a password reset, a magic link) under
    /// its address's throttle: refused with [`Error::TooManyAttempts`]
    /// while the address is throttled, and every request counts against
    /// the address (each one mails someone: a flood from one address is
    /// bounded like a flood of guesses).
    pub(crate) async fn address_counted<T>(
        &self,
        ip: Option<IpAddr>,
        run: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let Some((config, counters)) = self.address_open(ip).await? else {
            return run();
        };
        let result = run();
        if result.is_ok() {
            failed(self.store(), config, &counters, &[]).await;
        }
        result
    }

    /// With the brute-force add-on, the address's counter once it is not
    /// throttled ([`Error::TooManyAttempts`] while it is, recorded as
    /// `locked_out`); `None` without the add-on.
    async fn address_open(
        &self,
        ip: Option<IpAddr>,
    ) -> Result<Option<(&BruteForceConfig, Counters)>> {
        let Some(config) = &self.settings().brute_force else {
            return Ok(None);
        };
        let counters = Counters::of_address(config, U::SUBJECT_NAME, ip);
        if let Err(e) = check(self.store(), &counters).await {
            if matches!(e, Error::TooManyAttempts { .. }) {
                self.audit(
                    crate::audit::EventKind::LockedOut,
                    None,
                    crate::audit::At::NONE,
                    Some(crate::audit::Client {
                        ip,
                        user_agent: None,
                    }),
                    crate::audit::Outcome::Failure,
                );
            }
            return Err(e);
        }
        Ok(Some((config, counters)))
    }
}

/// Whether an error refuses what the client presented (not a fault of the
/// server, its store or its settings).
fn refused(e: &Error) -> bool {
    !matches!(
        e,
        Error::Store(_)
            | Error::Unavailable(_)
            | Error::Config(_)
            | Error::Signing(_)
            | Error::NotConfigured(_)
            | Error::TooManyAttempts { .. }
    )
}

/// The counter of the address `ip`, when addresses are counted.
fn address_counter(
    config: &BruteForceConfig,
    resource: &str,
    ip: Option<IpAddr>,
) -> Option<String> {
    ip.filter(|_| config.by_ip)
        .map(|ip| format!("{resource}:ip:{}", address_key(ip)))
}

/// Whole seconds from `now` until `until`, at least one.
fn retry_after(until: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    let secs = (until - now).num_seconds().max(0) as u64;
    Duration::from_secs(secs.max(1))
}

/// An address as counted: IPv4 whole, IPv6 by its /64 (one host's range).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Lifetime, check_brute_force};

    #[test]
    fn addresses_are_counted_whole_or_by_their_64() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(address_key(v4), "203.0.113.7");
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(address_key(mapped), "203.0.113.7");
    }

    #[test]
    fn counters_name_their_resource_and_hide_the_identity() {
        let config = BruteForceConfig::new();
        let ip = Some("203.0.113.7".parse().unwrap());
        let c = Counters::of(&config, "user", "ada@example.com", ip);
        let keys = c.keys();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].starts_with("user:identity:") && !keys[0].contains("ada"));
        assert_eq!(keys[1], "user:ip:203.0.113.7");
        let only_ip = BruteForceConfig {
            by_identity: false,
            ..BruteForceConfig::new()
        };
        assert_eq!(Counters::of(&only_ip, "user", "ada", None).keys().len(), 0);
    }

    #[test]
    fn retry_after_is_whole_seconds_and_never_zero() {
        let now = Utc::now();
        assert_eq!(retry_after(now, now), Duration::from_secs(1));
        let later = now + chrono::Duration::milliseconds(90_500);
        assert_eq!(retry_after(later, now), Duration::from_secs(90));
    }

    #[test]
    fn settings_are_checked() {
        assert!(check_brute_force(&BruteForceConfig::new()).is_ok());
        for bad in [
            BruteForceConfig {
                max_failures: 0,
                ..BruteForceConfig::new()
            },
            BruteForceConfig {
                window: Lifetime::from_secs(0),
                ..BruteForceConfig::new()
            },
            BruteForceConfig {
                by_identity: false,
                by_ip: false,
                ..BruteForceConfig::new()
            },
        ] {
            assert!(check_brute_force(&bad).is_err(), "{bad:?}");
        }
    }
}
