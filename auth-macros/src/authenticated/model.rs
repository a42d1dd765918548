//! The validated user resource: what expansion needs, with every default applied.

use proc_macro2::TokenStream;

pub struct User {
    pub ident: syn::Ident,
    pub private: TokenStream,
    pub subject_name: String,
    pub primary_key: (syn::Ident, syn::Type),
    /// Every field: name and type.
    pub fields: Vec<(String, syn::Type)>,
    pub session_identifier: SessionIdentifier,
    pub tokens: Option<Tokens>,
    pub password: Option<Password>,
    pub log_out_everywhere: Option<LogOutEverywhere>,
    pub sessions: Option<Sessions>,
    pub refresh: Option<Refresh>,
    pub remember_me: Option<RememberMe>,
    /// `magic_link(token_lifetime)`, when configured.
    pub magic_link_lifetime_secs: Option<u64>,
    pub confirmation: Option<Confirmation>,
    pub api_key: Option<ApiKey>,
    pub brute_force: Option<BruteForce>,
    pub audit_log: Option<AuditLog>,
    pub tenancy: Option<Tenancy>,
}

pub enum Tenancy {
    /// The tenant is this field of the user (its type checked by rustc).
    Attribute(syn::Ident, Box<syn::Type>),
    /// The tenant comes from the request.
    Context,
}

pub struct AuditLog {
    pub retention_secs: u64,
    /// `Hash`, `Truncate`, `Full` or `None`: the `IpMode` variant.
    pub ip: &'static str,
}

pub struct BruteForce {
    pub max_failures: u32,
    pub max_failures_per_ip: u32,
    pub window_secs: u64,
    pub lockout_secs: u64,
    pub by_identity: bool,
    pub by_ip: bool,
}

pub struct ApiKey {
    pub prefix: String,
    pub scopes: Vec<String>,
    pub default_lifetime_secs: u64,
    pub max_per_user: usize,
    pub revoke_with_sign_ins: bool,
}

pub struct Confirmation {
    pub monitor_fields: Vec<String>,
    pub on_create: bool,
    pub on_update: bool,
    pub require_confirmed: bool,
    pub fresh_sign_in_secs: u64,
    pub lifetime_secs: u64,
    /// The declared type of `confirmed_at`, checked by rustc.
    pub confirmed_at_ty: syn::Type,
}

pub struct RememberMe {
    pub cookie_name: String,
    pub token_lifetime_secs: u64,
}

pub struct Sessions {
    pub lifetime_secs: u64,
    pub list_action: syn::Ident,
    pub revoke_action: syn::Ident,
    pub revoke_others_action: syn::Ident,
}

pub struct Refresh {
    pub lifetime_secs: u64,
    pub reuse_grace_secs: u64,
    pub action: syn::Ident,
}

#[derive(Clone, Copy)]
pub enum SessionIdentifier {
    Unset,
    Jti,
    Unsafe,
}

pub struct Tokens {
    pub token_resource: syn::Path,
    pub algorithm: syn::Ident,
    pub secret: SigningSecret,
    pub lifetime_secs: u64,
    pub leeway_secs: u64,
    pub store_all_tokens: bool,
    pub require_token_presence: bool,
    pub extra_claims: Option<ExtraClaims>,
    pub issuer: Option<syn::LitStr>,
    pub audience: Option<syn::LitStr>,
}

pub enum SigningSecret {
    Literal(syn::LitStr),
    Env(String),
    With(syn::Path),
}

pub enum ExtraClaims {
    Fn(syn::Path),
    Static(Vec<(String, syn::Expr)>),
}

pub struct Password {
    /// The identity field and its type.
    pub identity_field: (syn::Ident, syn::Type),
    /// The hash field and its type.
    pub hashed_password_field: (syn::Ident, syn::Type),
    pub sign_in_enabled: bool,
    pub sign_in_tokens_enabled: bool,
    pub sign_in_token_lifetime_secs: u64,
    pub confirmation_required: bool,
    pub register_action: syn::Ident,
    pub sign_in_action: syn::Ident,
    pub sign_in_with_token_action: syn::Ident,
    pub change_password_action: syn::Ident,
    /// `resettable(token_lifetime)`, when configured.
    pub reset_token_lifetime_secs: Option<u64>,
}

pub struct LogOutEverywhere {
    pub apply_on_password_change: bool,
    pub include_purposes: Option<Vec<String>>,
    pub exclude_purposes: Vec<String>,
    pub action: syn::Ident,
}
