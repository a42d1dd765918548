//! The only items generated code may name. Not public API: no semver promise.

pub use crate::auth::Auth;
pub use crate::claims::{ClaimsContext, ExtraClaims};
pub use crate::config::*;
pub use crate::error::{Error, Result};
pub use crate::secret::{Secret, SigningSecret};
pub use crate::session::{Refreshed, Session, SignInContext};
pub use crate::store::{PasswordStore, UserStore};
pub use crate::store::{TokenRow, TokenStore};
pub use crate::subject::SubjectKey;
pub use crate::token::{self as actions, TokenFacts, TokenResource};
pub use crate::user::{Authenticated, PasswordUser, Settings, UserResource};
pub use crate::user_actions::{SignedIn, TokenType};
pub use ::chrono;
pub use ::serde_json;
pub use ::std::borrow::Cow;
pub use ::std::vec::Vec;

/// A type that can hold a standard token field of type `T`: `T` itself or `Option<T>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold this standard token field",
    label = "use the standard field's type, or an `Option` of it"
)]
pub trait StandardField<T>: Sized {
    /// Wraps the standard value.
    fn from_standard(value: T) -> Self;
}

impl<T> StandardField<T> for T {
    fn from_standard(value: T) -> Self {
        value
    }
}

impl<T> StandardField<T> for ::core::option::Option<T> {
    fn from_standard(value: T) -> Self {
        ::core::option::Option::Some(value)
    }
}
pub use crate::claims::merge_extra_claims;
pub use crate::user::ExtraClaimsFn;
pub use ::std::vec;

/// A field the password strategy reads and writes as text: the identity and
/// the hash (`String`, `HashedPassword`, or any `AsRef<str> + From<String>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold an identity or a password hash: it must be text",
    label = "use `String` (or `HashedPassword` for the hash)"
)]
pub trait StringField {
    /// The text.
    fn as_field_str(&self) -> &str;
    /// From text.
    fn from_field_string(s: ::std::string::String) -> Self;
}

impl<T: AsRef<str> + From<::std::string::String>> StringField for T {
    fn as_field_str(&self) -> &str {
        self.as_ref()
    }
    fn from_field_string(s: ::std::string::String) -> Self {
        T::from(s)
    }
}
