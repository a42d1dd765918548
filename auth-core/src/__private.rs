//! The only items generated code may name. Not public API: no semver promise.

pub use crate::claims::{ClaimsContext, ExtraClaims};
pub use crate::config::*;
pub use crate::secret::{Secret, SigningSecret};
pub use crate::subject::SubjectKey;
pub use crate::token::{self as actions, TokenFacts, TokenResource};
pub use crate::user::{Authenticated, Settings, UserResource};
pub use ::chrono;
pub use ::serde_json;
