//! Tenancy: the tenant a token is bound to, where it comes from, and the
//! one rule that compares it.
//!
//! A resource configured with `tenancy(...)` binds every token to one
//! tenant (claim `tenant`, and the `tenant` column of its row):
//! - `strategy = attribute`: the tenant is a field of the user (a user
//!   belongs to one tenant); every token of the user carries it, whatever
//!   flow mints it, and a token dies when the user's tenant changes;
//! - `strategy = context`: the tenant comes from the request (one user may
//!   sign in to several tenants); each sign-in opens a session bound to the
//!   tenant its [`SignInContext`](crate::SignInContext) names, and every
//!   token of that session carries it.
//!
//! Authentication compares the token's tenant with the request's
//! ([`Auth::authenticate_in`](crate::Auth::authenticate_in)): a token of
//! another tenant, or of none, is refused like any other bad token (401,
//! nothing said about why).

use std::fmt;

use crate::error::{Error, truncated};

/// The longest tenant name accepted (bytes).
pub const MAX_TENANT_LEN: usize = 128;

/// A tenant's name: non-empty, at most [`MAX_TENANT_LEN`] bytes, without
/// control characters or whitespace. Build it with [`Tenant::new`] (or the
/// axum extractor, from the request).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    /// A tenant name, checked: an empty name, one longer than
    /// [`MAX_TENANT_LEN`] bytes, or one with a control character or
    /// whitespace is [`Error::InvalidInput`].
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::InvalidInput("the tenant is empty".into()));
        }
        if name.len() > MAX_TENANT_LEN {
            return Err(Error::InvalidInput(format!(
                "the tenant is longer than {MAX_TENANT_LEN} bytes"
            )));
        }
        if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::InvalidInput(format!(
                "the tenant `{}` holds a control character or whitespace",
                truncated(&name)
            )));
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tenant({:?})", self.0)
    }
}

impl std::str::FromStr for Tenant {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl AsRef<str> for Tenant {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Where a resource's tenant comes from (the DSL's `tenancy(strategy = …)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenancyStrategy {
    /// A field of the user (`field = …`): a user belongs to one tenant.
    Attribute,
    /// The request: each sign-in (each session) is bound to one tenant.
    Context,
}

/// The `tenancy(...)` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenancyConfig {
    /// Where the tenant comes from.
    pub strategy: TenancyStrategy,
}

/// Where a request names its tenant, for the axum extractor
/// (`http::axum::TenantId`) and the authentication
/// layer. The default is the `X-Tenant` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantSource {
    /// A header (its name, lower-case).
    Header(String),
    /// The first label of the `Host` header below `base`
    /// (`acme.example.com` with base `example.com` is `acme`).
    Subdomain {
        /// The domain tenants are subdomains of.
        base: String,
    },
    /// The path segment at this index (`/t/acme/...` with 1 is `acme`).
    PathSegment(usize),
}

impl Default for TenantSource {
    fn default() -> Self {
        Self::Header(DEFAULT_TENANT_HEADER.to_owned())
    }
}

/// The header [`TenantSource::default`] reads.
pub const DEFAULT_TENANT_HEADER: &str = "x-tenant";

impl TenantSource {
    /// A header source (the name is lower-cased).
    pub fn header(name: &str) -> Self {
        Self::Header(name.to_ascii_lowercase())
    }

    /// The tenant a request names: `header` reads one header's value
    /// (`Host` for a subdomain), `path` is the request's path. `None` when
    /// the request names none; an invalid name is [`Error::InvalidInput`].
    pub fn tenant_of<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        path: &str,
    ) -> Result<Option<Tenant>, Error> {
        let name = match self {
            Self::Header(name) => header(name).map(str::to_owned),
            Self::Subdomain { base } => header("host").and_then(|host| {
                let host = host.split(':').next().unwrap_or(host);
                let label = host
                    .strip_suffix(base.as_str())?
                    .strip_suffix('.')
                    .filter(|l| !l.is_empty() && !l.contains('.'))?;
                Some(label.to_ascii_lowercase())
            }),
            Self::PathSegment(index) => path
                .split('/')
                .filter(|s| !s.is_empty())
                .nth(*index)
                .map(str::to_owned),
        };
        name.map(Tenant::new).transpose()
    }
}

/// The tenancy rule, applied where a token is judged: `found` (the
/// token's tenant, its row's, its session's or its user's) must be
/// `expected`. A resource without tenancy expects none.
pub(crate) fn same(expected: Option<&str>, found: Option<&str>) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::WrongTenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(Tenant::new("acme").unwrap().as_str(), "acme");
        for bad in ["", "a b", "acme\n", "\u{0}", "tab\there", "\u{7f}"] {
            let refused = Tenant::new(bad);
            assert!(
                matches!(refused, Err(Error::InvalidInput(_))),
                "{bad:?} accepted"
            );
        }
        assert!(Tenant::new("x".repeat(MAX_TENANT_LEN)).is_ok());
        assert!(Tenant::new("x".repeat(MAX_TENANT_LEN + 1)).is_err());
    }

    #[test]
    fn sources_read_the_request() {
        let headers = |name: &str| match name {
            "x-tenant" => Some("acme"),
            "host" => Some("globex.example.com:8080"),
            _ => None,
        };
        let of = |source: TenantSource, path: &str| {
            source
                .tenant_of(headers, path)
                .unwrap()
                .map(|t| t.to_string())
        };
        assert_eq!(of(TenantSource::default(), "/"), Some("acme".into()));
        assert_eq!(of(TenantSource::header("X-Other"), "/"), None);
        let sub = TenantSource::Subdomain {
            base: "example.com".into(),
        };
        assert_eq!(of(sub, "/"), Some("globex".into()));
        let other = TenantSource::Subdomain {
            base: "other.org".into(),
        };
        assert_eq!(of(other, "/"), None);
        assert_eq!(
            of(TenantSource::PathSegment(1), "/t/initech/me"),
            Some("initech".into())
        );
        assert_eq!(of(TenantSource::PathSegment(5), "/t/initech"), None);
        let bad = TenantSource::header("x-bad").tenant_of(|_| Some("a b"), "/");
        assert!(bad.is_err());
    }

    #[test]
    fn the_rule_is_equality_including_none() {
        assert!(same(Some("a"), Some("a")).is_ok());
        assert!(same(None, None).is_ok());
        for (e, f) in [(Some("a"), Some("b")), (Some("a"), None), (None, Some("a"))] {
            assert!(matches!(same(e, f), Err(Error::WrongTenant)));
        }
    }
}
