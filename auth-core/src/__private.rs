//! The only items generated code may name. Not public API: no semver promise.

pub use crate::api_key::{ApiKeyConfig, ApiKeyInfo, CreatedApiKey};
pub use crate::api_keys::AuthenticatedKey;
pub use crate::audit::{AuditConfig, AuditEvent, IpMode};
pub use crate::auth::Auth;
pub use crate::claims::{ClaimsContext, ExtraClaims};
pub use crate::column::ColumnType;
pub use crate::config::BruteForceConfig;
pub use crate::config::*;
pub use crate::error::{Error, Result};
pub use crate::secret::{Secret, SigningSecret};
pub use crate::session::SignedIn;
pub use crate::session::{ClientInfo, Refreshed, Session, SignInContext};
pub use crate::special::Reauthentication;
pub use crate::store::AuditStore;
pub use crate::store::{ApiKeyStore, PasswordStore, RefreshStore, SingleUseStore, UserStore};
pub use crate::store::{TokenRow, TokenStore};
pub use crate::subject::SubjectKey;
pub use crate::tenant::{TenancyConfig, TenancyStrategy};

/// The type of a `tenancy(field = …)` field: its `Display` form is the
/// tenant every token of the user carries.
#[diagnostic::on_unimplemented(
    message = "the tenant field's type `{Self}` must be `Serialize + Display`",
    label = "the `tenancy(field = ..)` field's type: its `Display` form is the tenant"
)]
pub trait TenantField {
    /// The tenant's name.
    fn tenant_name(&self) -> ::std::string::String;
}

impl<T: ::serde::Serialize + ::std::fmt::Display> TenantField for T {
    fn tenant_name(&self) -> ::std::string::String {
        ::std::string::ToString::to_string(self)
    }
}
pub use crate::token::{TokenFacts, TokenResource};
pub use crate::token_actions as actions;
pub use crate::user::{Authenticated, NewPrimaryKey, PasswordUser, Settings, UserResource};
pub use crate::user_actions::TokenType;
pub use ::chrono;
pub use ::serde;
pub use ::serde_json;
pub use ::std::borrow::Cow;
pub use ::std::vec::Vec;

/// The standard token fields: for each, its type (`ty::<field>`) and a
/// trait its declared type must implement (the type itself, or an `Option`
/// of it), whose error names the field and the type it must have.
#[allow(non_camel_case_types)]
pub mod standard {
    /// The type of each standard field.
    pub mod ty {
        /// `jti`.
        pub type jti = ::std::string::String;
        /// `subject`.
        pub type subject = ::std::string::String;
        /// `expires_at`.
        pub type expires_at = ::chrono::DateTime<::chrono::Utc>;
        /// `purpose`.
        pub type purpose = ::std::string::String;
        /// `extra_data`.
        pub type extra_data = ::core::option::Option<::serde_json::Value>;
        /// `created_at`.
        pub type created_at = ::chrono::DateTime<::chrono::Utc>;
        /// `updated_at`.
        pub type updated_at = ::chrono::DateTime<::chrono::Utc>;
    }

    macro_rules! standard_field {
        ($field:ident, $message:literal, $label:literal) => {
            #[doc = concat!("A type that can hold `", stringify!($field), "`.")]
            #[diagnostic::on_unimplemented(message = $message, label = $label)]
            pub trait $field: Sized {
                /// Wraps the standard value.
                fn from_standard(value: ty::$field) -> Self;
            }
            #[diagnostic::do_not_recommend]
            impl $field for ty::$field {
                fn from_standard(value: ty::$field) -> Self {
                    value
                }
            }
            #[diagnostic::do_not_recommend]
            impl $field for ::core::option::Option<ty::$field> {
                fn from_standard(value: ty::$field) -> Self {
                    ::core::option::Option::Some(value)
                }
            }
        };
    }

    standard_field!(
        jti,
        "the standard field `jti` must be `String`, not `{Self}`",
        "must be `String` (or `Option<String>`)"
    );
    standard_field!(
        subject,
        "the standard field `subject` must be `String`, not `{Self}`",
        "must be `String` (or `Option<String>`)"
    );
    standard_field!(
        expires_at,
        "the standard field `expires_at` must be `DateTime<Utc>`, not `{Self}`",
        "must be `chrono::DateTime<chrono::Utc>` (or an `Option` of it)"
    );
    standard_field!(
        purpose,
        "the standard field `purpose` must be `String`, not `{Self}`",
        "must be `String` (or `Option<String>`)"
    );
    standard_field!(
        extra_data,
        "the standard field `extra_data` must be `Option<serde_json::Value>`, not `{Self}`",
        "must be `Option<serde_json::Value>`"
    );
    standard_field!(
        created_at,
        "the standard field `created_at` must be `DateTime<Utc>`, not `{Self}`",
        "must be `chrono::DateTime<chrono::Utc>` (or an `Option` of it)"
    );
    standard_field!(
        updated_at,
        "the standard field `updated_at` must be `DateTime<Utc>`, not `{Self}`",
        "must be `chrono::DateTime<chrono::Utc>` (or an `Option` of it)"
    );
}

pub use crate::claims::merge_extra_claims;
pub use crate::user::ExtraClaimsFn;
pub use ::std::vec;

/// The type `confirmed_at` must have (the confirmation add-on writes it).
#[diagnostic::on_unimplemented(
    message = "`confirmed_at` must be `Option<chrono::DateTime<chrono::Utc>>`, not `{Self}`",
    label = "the confirmation add-on writes the moment of confirmation here"
)]
pub trait ConfirmedAt {}

#[diagnostic::do_not_recommend]
impl ConfirmedAt for ::core::option::Option<::chrono::DateTime<::chrono::Utc>> {}

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

// Not recommended: rustc then names `StringField` (one message, the same
// wherever the field is read or written) instead of whichever bound failed.
#[diagnostic::do_not_recommend]
impl<T: AsRef<str> + From<::std::string::String>> StringField for T {
    fn as_field_str(&self) -> &str {
        self.as_ref()
    }
    fn from_field_string(s: ::std::string::String) -> Self {
        T::from(s)
    }
}

/// The column type of a field's type, as rustc resolves it: the type's
/// [`Column`](crate::Column) when it has one (an inherent constant, which
/// wins), JSON otherwise (this trait's default). Asked at the concrete
/// type, so the fallback is decided per field.
pub struct ColumnOf<T: ?Sized>(::core::marker::PhantomData<T>);

impl<T: ?Sized> ::core::fmt::Debug for ColumnOf<T> {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        f.write_str("ColumnOf")
    }
}

impl<T: ?Sized + crate::column::Column> ColumnOf<T> {
    /// The type's own column type.
    pub const COLUMN: crate::column::ColumnType = T::COLUMN;
}

/// The fallback of [`ColumnOf`]: JSON, not null.
pub trait JsonColumn {
    /// JSON, not null.
    const COLUMN: crate::column::ColumnType =
        crate::column::ColumnType::of(crate::column::FieldKind::Json);
}

impl<T: ?Sized> JsonColumn for ColumnOf<T> {}
