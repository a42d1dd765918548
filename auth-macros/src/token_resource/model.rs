//! The validated token resource: everything expansion needs, nothing optional that is required.

use proc_macro2::TokenStream;

/// One of the ten generated actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    StoreToken,
    GetToken,
    RevokeToken,
    RevokeJti,
    RevokeAllStoredForSubject,
    IsRevoked,
    ReadExpired,
    ExpungeExpired,
    StoreConfirmationChanges,
    GetConfirmationChanges,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Self::StoreToken,
        Self::GetToken,
        Self::RevokeToken,
        Self::RevokeJti,
        Self::RevokeAllStoredForSubject,
        Self::IsRevoked,
        Self::ReadExpired,
        Self::ExpungeExpired,
        Self::StoreConfirmationChanges,
        Self::GetConfirmationChanges,
    ];

    /// The default name (also the name of the runtime function it calls).
    pub fn default_name(self) -> &'static str {
        match self {
            Self::StoreToken => "store_token",
            Self::GetToken => "get_token",
            Self::RevokeToken => "revoke_token",
            Self::RevokeJti => "revoke_jti",
            Self::RevokeAllStoredForSubject => "revoke_all_stored_for_subject",
            Self::IsRevoked => "is_revoked",
            Self::ReadExpired => "read_expired",
            Self::ExpungeExpired => "expunge_expired",
            Self::StoreConfirmationChanges => "store_confirmation_changes",
            Self::GetConfirmationChanges => "get_confirmation_changes",
        }
    }
}

/// A standard field: its name, its standard type, and the user's type when redeclared.
pub struct Field {
    pub name: syn::Ident,
    /// The field in `TokenRow` it is filled from.
    pub row_field: &'static str,
    pub standard_ty: TokenStream,
    pub declared: Option<syn::Field>,
}

pub struct TokenResource {
    pub item: syn::ItemStruct,
    pub private: TokenStream,
    /// `None`: the runtime's default (`TokenResourceConfig::default`).
    pub table: Option<String>,
    /// `None`: the runtime's default.
    pub expunge_interval_hours: Option<u64>,
    pub fields: Vec<Field>,
    pub actions: Vec<(Action, syn::Ident)>,
}
