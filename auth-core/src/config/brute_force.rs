//! The settings of the `brute_force` add-on (the flow is `lockout.rs`).

use crate::config::Lifetime;

/// The settings of the `brute_force` add-on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BruteForceConfig {
    /// Failures of one identity within `window` that lock it (default 5).
    pub max_failures: u32,
    /// Failures from one client address within `window`, whatever the
    /// identities, that throttle it (default 50).
    pub max_failures_per_ip: u32,
    /// How long failures are counted from the first (default 15 minutes).
    pub window: Lifetime,
    /// How long a lock or a throttle lasts (default 15 minutes).
    pub lockout: Lifetime,
    /// Whether identities are counted (`by = [identity, ..]`).
    pub by_identity: bool,
    /// Whether client addresses are counted (`by = [.., ip]`).
    pub by_ip: bool,
}

impl BruteForceConfig {
    /// The defaults: 5 failures per identity, 50 per address, a 15-minute
    /// window, a 15-minute lockout, both counted.
    pub const fn new() -> Self {
        Self {
            max_failures: auth_dsl::defaults::BRUTE_FORCE_MAX_FAILURES,
            max_failures_per_ip: auth_dsl::defaults::BRUTE_FORCE_MAX_FAILURES_PER_IP,
            window: Lifetime::from_secs(auth_dsl::defaults::BRUTE_FORCE_WINDOW),
            lockout: Lifetime::from_secs(auth_dsl::defaults::BRUTE_FORCE_LOCKOUT),
            by_identity: true,
            by_ip: true,
        }
    }
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// [`Error::Config`] unless the settings make sense.
pub(crate) fn check_brute_force(config: &BruteForceConfig) -> crate::error::Result<()> {
    let bad = |m: &str| Err(crate::error::Error::Config(format!("brute_force: {m}")));
    if config.max_failures == 0 || config.max_failures_per_ip == 0 {
        return bad("max_failures must be at least 1");
    }
    if config.window.as_secs() == 0 || config.lockout.as_secs() == 0 {
        return bad("window and lockout must be longer than zero");
    }
    if !config.by_identity && !config.by_ip {
        return bad("count by identity, by ip, or both");
    }
    Ok(())
}
