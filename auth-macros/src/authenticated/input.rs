//! The `#[authentication(...)]` receivers, mirroring the DSL one option per field.

use darling::ast::NestedMeta;
use darling::util::{Flag, Ignored};
use darling::{FromDeriveInput, FromField, FromMeta};
use syn::spanned::Spanned;

use crate::common::spanned::Opt;

#[derive(Debug, FromDeriveInput)]
#[darling(attributes(authentication))]
pub struct Input {
    pub ident: syn::Ident,
    pub generics: syn::Generics,
    pub data: darling::ast::Data<Ignored, Field>,
    /// Path to `auth_core` for crates that re-export it.
    #[darling(rename = "crate")]
    pub krate: Option<syn::Path>,
    /// The name in subjects; default: the struct name in snake_case.
    pub subject_name: Option<Opt<syn::LitStr>>,
    /// `"jti"` or `"unsafe"` (rule A9).
    pub session_identifier: Option<Opt<syn::LitStr>>,
    /// The `tokens(...)` block.
    pub tokens: Option<Opt<Tokens>>,
    /// The `strategies(...)` block.
    pub strategies: Option<Strategies>,
    /// The `add_ons(...)` block.
    pub add_ons: Option<AddOns>,
    /// `tenancy(strategy = attribute, field = org_id)` or
    /// `tenancy(strategy = context)`.
    pub tenancy: Option<Opt<Tenancy>>,
}

#[derive(Debug, Default, FromMeta)]
pub struct Tenancy {
    /// `attribute` or `context` (checked by T1).
    pub strategy: Option<syn::Expr>,
    /// The user's tenant field (attribute tenancy; checked by T2, T3).
    pub field: Option<syn::Expr>,
}

#[derive(Debug, FromField)]
#[darling(attributes(authentication))]
pub struct Field {
    pub ident: Option<syn::Ident>,
    pub ty: syn::Type,
    /// `#[authentication(primary_key)]`.
    pub primary_key: Flag,
}

#[derive(Debug, Default, FromMeta)]
pub struct Tokens {
    /// Default true once the block is written.
    pub enabled: Option<Opt<bool>>,
    /// The `#[token_resource]` type; required when tokens are enabled.
    pub token_resource: Option<syn::Path>,
    /// Default HS256.
    pub signing_algorithm: Option<syn::LitStr>,
    /// A literal, `(env = "...")` or `(with = path)`; default `(env = "TOKEN_SIGNING_SECRET")`.
    pub signing_secret: Option<Opt<SigningSecret>>,
    /// Default `"15m"` with `refresh_tokens`, `"14d"` without.
    pub token_lifetime: Option<syn::LitStr>,
    /// Default `"0s"`.
    pub leeway: Option<syn::LitStr>,
    /// Default false.
    pub store_all_tokens: Option<Opt<bool>>,
    /// Default false; needs `store_all_tokens`.
    pub require_token_presence_for_authentication: Option<Opt<bool>>,
    /// A function path or a static list.
    pub extra_claims: Option<ExtraClaims>,
    /// The `iss` claim; default: the package name.
    pub issuer: Option<syn::LitStr>,
    /// The `aud` claim; default: the package name.
    pub audience: Option<syn::LitStr>,
    /// `refresh_tokens(...)`: rotating refresh tokens; needs `add_ons(sessions(...))`.
    pub refresh_tokens: Option<Opt<RefreshTokens>>,
}

#[derive(Debug, Default, FromMeta)]
pub struct RefreshTokens {
    /// Idle timeout of a refresh token; default `"7d"`.
    pub lifetime: Option<syn::LitStr>,
    /// How soon a second use is answered instead of punished; default `"0s"`.
    pub reuse_grace: Option<syn::LitStr>,
    /// Name of the generated function; default `refresh`.
    pub action_name: Option<syn::LitStr>,
}

#[derive(Debug, Default, FromMeta)]
pub struct Sessions {
    /// The absolute cap of one sign-in; default `"30d"`.
    pub lifetime: Option<syn::LitStr>,
    /// Default `list_sessions`.
    pub list_action_name: Option<syn::LitStr>,
    /// Default `revoke_session`.
    pub revoke_action_name: Option<syn::LitStr>,
    /// Default `revoke_other_sessions`.
    pub revoke_others_action_name: Option<syn::LitStr>,
}

#[derive(Debug)]
pub enum SigningSecret {
    Literal(syn::LitStr),
    Env(syn::LitStr),
    With(syn::Path),
}

#[derive(Debug, Default, FromMeta)]
struct SigningSecretForms {
    env: Option<syn::LitStr>,
    with: Option<syn::Path>,
}

impl FromMeta for SigningSecret {
    fn from_value(value: &syn::Lit) -> darling::Result<Self> {
        match value {
            syn::Lit::Str(s) => Ok(Self::Literal(s.clone())),
            other => Err(darling::Error::custom(
                "`signing_secret` takes a string, `(env = \"NAME\")` or `(with = path::to::fn)`",
            )
            .with_span(other)),
        }
    }

    /// Rule A16: exactly one of the forms.
    fn from_list(items: &[NestedMeta]) -> darling::Result<Self> {
        let forms = SigningSecretForms::from_list(items)?;
        match (forms.env, forms.with) {
            (Some(env), None) => Ok(Self::Env(env)),
            (None, Some(with)) => Ok(Self::With(with)),
            (Some(_), Some(with)) => Err(darling::Error::custom(
                "`signing_secret` takes one form: `env = \"...\"` or `with = path`, not both",
            )
            .with_span(&with)),
            (None, None) => Err(darling::Error::custom(
                "`signing_secret(...)` needs `env = \"NAME\"` or `with = path::to::fn`",
            )),
        }
    }
}

#[derive(Debug)]
pub enum ExtraClaims {
    /// `extra_claims = path::to::fn`.
    Fn(syn::Path),
    /// `extra_claims(name = value, ...)`.
    Static(Vec<(syn::Ident, syn::Expr)>),
}

impl FromMeta for ExtraClaims {
    fn from_expr(expr: &syn::Expr) -> darling::Result<Self> {
        match expr {
            syn::Expr::Path(p) => Ok(Self::Fn(p.path.clone())),
            other => Err(darling::Error::custom(
                "`extra_claims` takes a function path or a list like `extra_claims(tier = 3)`",
            )
            .with_span(other)),
        }
    }

    fn from_list(items: &[NestedMeta]) -> darling::Result<Self> {
        let mut errors = darling::Error::accumulator();
        let mut claims = Vec::new();
        for item in items {
            match item {
                NestedMeta::Meta(syn::Meta::NameValue(nv)) if nv.path.get_ident().is_some() => {
                    if let Some(ident) = nv.path.get_ident() {
                        claims.push((ident.clone(), nv.value.clone()));
                    }
                }
                other => errors.push(
                    darling::Error::custom("write each static claim as `name = value`")
                        .with_span(&other.span()),
                ),
            }
        }
        errors.finish_with(Self::Static(claims))
    }
}

#[derive(Debug, Default, FromMeta)]
pub struct Strategies {
    /// `password(...)`.
    pub password: Option<Opt<Password>>,
    /// `remember_me(...)`: needs tokens.
    pub remember_me: Option<Opt<RememberMe>>,
    /// `magic_link(...)`: needs tokens and the password strategy's identity.
    pub magic_link: Option<Opt<MagicLink>>,
    /// `api_key(...)`: needs tokens (its table sits beside the token table).
    pub api_key: Option<Opt<ApiKey>>,
}

#[derive(Debug, Default, FromMeta)]
pub struct ApiKey {
    /// Required: what every key starts with.
    pub prefix: Option<syn::LitStr>,
    /// The scopes a key may be given: `["reports:read", ...]`.
    pub scopes: Option<Opt<Vec<syn::LitStr>>>,
    /// Default `"90d"`.
    pub default_lifetime: Option<syn::LitStr>,
    /// Default 50.
    pub max_per_user: Option<syn::LitInt>,
    /// Default false: log out everywhere and password changes and resets
    /// leave keys alone. Needs one of them.
    pub revoke_with_sign_ins: Option<Opt<bool>>,
}

#[derive(Debug, Default, FromMeta)]
pub struct MagicLink {
    /// Default `"10m"`.
    pub token_lifetime: Option<syn::LitStr>,
}

#[derive(Debug, Default, FromMeta)]
pub struct RememberMe {
    /// Default `"remember_me"`.
    pub cookie_name: Option<syn::LitStr>,
    /// Default `"30d"`.
    pub token_lifetime: Option<syn::LitStr>,
}

#[derive(Debug, Default, FromMeta)]
pub struct Password {
    /// Default `"email"`.
    pub identity_field: Option<syn::LitStr>,
    /// Default `"hashed_password"`.
    pub hashed_password_field: Option<syn::LitStr>,
    /// Default true.
    pub sign_in_enabled: Option<Opt<bool>>,
    /// Default true; needs tokens and `sign_in_enabled`.
    pub sign_in_tokens_enabled: Option<Opt<bool>>,
    /// Default `"60s"`.
    pub sign_in_token_lifetime: Option<syn::LitStr>,
    /// Default true.
    pub confirmation_required: Option<Opt<bool>>,
    /// Name of the generated registration function; default `register_with_password`.
    pub register_action_name: Option<syn::LitStr>,
    /// Default `sign_in_with_password`.
    pub sign_in_action_name: Option<syn::LitStr>,
    /// Default `sign_in_with_token`.
    pub sign_in_with_token_action_name: Option<syn::LitStr>,
    /// Default `change_password`.
    pub change_password_action_name: Option<syn::LitStr>,
    /// `resettable(...)`: password reset by a token sent out of band; needs tokens.
    pub resettable: Option<Opt<Resettable>>,
}

#[derive(Debug, Default, FromMeta)]
pub struct Resettable {
    /// Default `"1h"`.
    pub token_lifetime: Option<syn::LitStr>,
}

#[derive(Debug, Default, FromMeta)]
pub struct AddOns {
    /// `log_out_everywhere(...)`.
    pub log_out_everywhere: Option<Opt<LogOutEverywhere>>,
    /// `sessions(...)`: every sign-in opens a session.
    pub sessions: Option<Opt<Sessions>>,
    /// `confirmation(...)`: changes of monitored fields wait for a confirmation.
    pub confirmation: Option<Opt<Confirmation>>,
    /// `brute_force(...)`: failed sign-ins counted in the store.
    pub brute_force: Option<Opt<BruteForce>>,
    /// `audit_log(...)`: security events handed to a sink.
    pub audit_log: Option<Opt<AuditLog>>,
}

#[derive(Debug, Default, FromMeta)]
pub struct AuditLog {
    /// Default `"90d"`.
    pub retention: Option<syn::LitStr>,
    /// Default `hash` (one of `hash`, `truncate`, `full`, `none`; checked by L2).
    pub ip: Option<syn::Expr>,
}

#[derive(Debug, Default, FromMeta)]
pub struct BruteForce {
    /// Default 5.
    pub max_failures: Option<syn::LitInt>,
    /// Default 50.
    pub max_failures_per_ip: Option<syn::LitInt>,
    /// Default `"15m"`.
    pub window: Option<syn::LitStr>,
    /// Default `"15m"`.
    pub lockout: Option<syn::LitStr>,
    /// Default `[identity, ip]` (an array of names, checked by B4).
    pub by: Option<syn::Expr>,
}

#[derive(Debug, Default, FromMeta)]
pub struct Confirmation {
    /// Default `["email"]`.
    pub monitor_fields: Option<Vec<syn::LitStr>>,
    /// Default true.
    pub confirm_on_create: Option<Opt<bool>>,
    /// Default true.
    pub confirm_on_update: Option<Opt<bool>>,
    /// Default `"3d"`.
    pub token_lifetime: Option<syn::LitStr>,
    /// Default: `confirm_on_create`.
    pub require_confirmed: Option<Opt<bool>>,
    /// Default `"10m"`; `"0s"`: always the current password.
    pub fresh_sign_in: Option<syn::LitStr>,
}

#[derive(Debug, Default, FromMeta)]
pub struct LogOutEverywhere {
    /// Default false; needs a password strategy.
    pub apply_on_password_change: Option<Opt<bool>>,
    /// Default: every purpose.
    pub include_purposes: Option<Vec<syn::LitStr>>,
    /// Default `["revocation"]`.
    pub exclude_purposes: Option<Vec<syn::LitStr>>,
    /// Name of the generated function; default `log_out_everywhere`.
    pub action_name: Option<syn::LitStr>,
}
