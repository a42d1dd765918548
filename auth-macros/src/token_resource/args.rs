//! The `#[token_resource(...)]` arguments, mirroring the DSL one option per field.

use darling::FromMeta;
use darling::util::SpannedValue;

#[derive(Debug, Default, FromMeta)]
pub struct Args {
    /// Table (or memory-store namespace); default `tokens`.
    pub table: Option<SpannedValue<String>>,
    /// Hours between expunger runs; a positive integer, default 12.
    pub expunge_interval: Option<RawExpr>,
    /// Name of the creation timestamp field; default `created_at`.
    pub created_at_attribute_name: Option<syn::LitStr>,
    pub expunge_expired_action_name: Option<syn::LitStr>,
    pub read_expired_action_name: Option<syn::LitStr>,
    pub store_token_action_name: Option<syn::LitStr>,
    pub get_token_action_name: Option<syn::LitStr>,
    /// `revocation(...)`: names of the revocation actions.
    pub revocation: Option<RevocationArgs>,
    /// `confirmation(...)`: names of the confirmation actions.
    pub confirmation: Option<ConfirmationArgs>,
    /// Path to `auth_core` for crates that re-export it.
    #[darling(rename = "crate")]
    pub krate: Option<syn::Path>,
}

#[derive(Debug, Default, FromMeta)]
pub struct RevocationArgs {
    pub revoke_token_action_name: Option<syn::LitStr>,
    pub revoke_jti_action_name: Option<syn::LitStr>,
    pub revoke_all_stored_for_subject_action_name: Option<syn::LitStr>,
    pub is_revoked_action_name: Option<syn::LitStr>,
}

#[derive(Debug, Default, FromMeta)]
pub struct ConfirmationArgs {
    pub store_changes_action_name: Option<syn::LitStr>,
    pub get_changes_action_name: Option<syn::LitStr>,
}

/// An option's value exactly as written (darling would parse the contents of
/// a string literal as an expression, turning `"12"` into `12`).
#[derive(Debug)]
pub struct RawExpr(pub syn::Expr);

impl FromMeta for RawExpr {
    fn from_expr(expr: &syn::Expr) -> darling::Result<Self> {
        Ok(Self(expr.clone()))
    }
}
