//! What the derive emits when the attribute has a mistake: the errors, and
//! placeholders for everything it would have generated (the trait impls,
//! every user action, the registration input), so code using the type
//! reports the one mistake made, not one follow-on error per use. The
//! placeholders never run: the crate does not compile while errors remain.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote};

use super::expand::{ActionSet, registration, user_actions};
use super::model::{LogOutEverywhere, Password, Refresh, Sessions};
use crate::common::{Errors, private_path};

pub fn fallback(
    input: &syn::DeriveInput,
    krate: Option<&syn::Path>,
    errors: Errors,
) -> TokenStream {
    let errors = errors.into_tokens();
    // A generic type, an enum or a tuple struct can never be a user
    // resource: placeholder impls would only add errors about their bounds.
    let fields = match &input.data {
        syn::Data::Struct(s) if matches!(s.fields, syn::Fields::Named(_)) => &s.fields,
        _ => return errors,
    };
    if !input.generics.params.is_empty() {
        return errors;
    }
    let ident = &input.ident;
    let p = private_path(krate);
    let written = Written::scan(input);
    let field = |name: &str| {
        fields
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| i == name))
            .map(|f| (format_ident!("{name}"), f.ty.clone()))
    };
    let text = || -> syn::Type { syn::parse_quote!(::std::string::String) };
    // The primary key as the derive would find it: marked, else `id`.
    let pk = fields
        .iter()
        .find(|f| {
            f.attrs.iter().any(|a| {
                a.path().is_ident("authentication")
                    && a.parse_args::<syn::Ident>()
                        .is_ok_and(|i| i == "primary_key")
            })
        })
        .and_then(|f| f.ident.clone().map(|i| (i, f.ty.clone())))
        .or_else(|| field("id"))
        .unwrap_or_else(|| (format_ident!("id"), text()));
    let identity = written.value("identity_field").unwrap_or("email");
    let hashed = written
        .value("hashed_password_field")
        .unwrap_or("hashed_password");
    let name = |option: &str, default: &str| {
        syn::Ident::new(written.value(option).unwrap_or(default), Span::call_site())
    };
    let password = Password {
        identity_field: field(identity).unwrap_or_else(|| (format_ident!("{identity}"), text())),
        hashed_password_field: field(hashed).unwrap_or_else(|| (format_ident!("{hashed}"), text())),
        sign_in_enabled: true,
        sign_in_tokens_enabled: true,
        sign_in_token_lifetime_secs: 60,
        confirmation_required: true,
        register_action: name("register_action_name", "register_with_password"),
        sign_in_action: name("sign_in_action_name", "sign_in_with_password"),
        sign_in_with_token_action: name("sign_in_with_token_action_name", "sign_in_with_token"),
        change_password_action: name("change_password_action_name", "change_password"),
        reset_token_lifetime_secs: Some(3600),
    };
    let log_out = LogOutEverywhere {
        apply_on_password_change: false,
        include_purposes: None,
        exclude_purposes: Vec::new(),
        action: name("log_out_everywhere.action_name", "log_out_everywhere"),
    };
    let sessions = Sessions {
        lifetime_secs: 1,
        list_action: name("list_action_name", "list_sessions"),
        revoke_action: name("revoke_action_name", "revoke_session"),
        revoke_others_action: name("revoke_others_action_name", "revoke_other_sessions"),
    };
    let refresh = Refresh {
        lifetime_secs: 1,
        reuse_grace_secs: 0,
        action: name("refresh_tokens.action_name", "refresh"),
    };
    let confirmation = fields
        .iter()
        .any(|f| f.ident.as_ref().is_some_and(|i| i == "confirmed_at"));
    let input_struct = registration(input, &p, &password, (&pk.0, &pk.1), confirmation);
    let every_action = ActionSet {
        registration: Some(&input_struct),
        password: Some(&password),
        log_out: Some(&log_out),
        sessions: Some(&sessions),
        refresh: Some(&refresh),
        magic_link: true,
        confirmation: true,
        api_key: true,
        audit_log: true,
    };
    let actions = user_actions(ident, every_action);
    let actions = placeholder_bodies(actions);
    let registration_struct = &input_struct.item;
    quote! {
        #errors
        #registration_struct
        const _: () = {
            use #p as __p;
            #[automatically_derived]
            impl __p::UserResource for #ident {
                type PrimaryKey = ::std::string::String;
                const SUBJECT_NAME: &'static str = "";
                const PRIMARY_KEY_FIELD: &'static str = "";
                fn primary_key(&self) -> ::std::string::String {
                    ::core::unreachable!()
                }
            }
            #[automatically_derived]
            impl __p::Authenticated for #ident {
                fn settings() -> __p::Settings<Self> {
                    ::core::unreachable!()
                }
            }
            #actions
        };
    }
}

/// The actions with `unreachable!()` bodies and no `where` clauses (their
/// bounds name traits the placeholders do not implement), each name once.
fn placeholder_bodies(actions: TokenStream) -> TokenStream {
    let Ok(mut imp) = syn::parse2::<syn::ItemImpl>(actions) else {
        return TokenStream::new();
    };
    let mut seen = std::collections::HashSet::new();
    imp.items.retain_mut(|item| {
        let syn::ImplItem::Fn(f) = item else {
            return false;
        };
        f.sig.generics.where_clause = None;
        f.block = syn::parse_quote!({ ::core::unreachable!() });
        f.attrs.retain(|a| a.path().is_ident("doc"));
        seen.insert(f.sig.ident.to_string())
    });
    imp.attrs
        .push(syn::parse_quote!(#[allow(unused_variables, clippy::all)]));
    quote!(#imp)
}

/// `name = "value"` options as written in `#[authentication(..)]`, read
/// leniently (the attribute did not parse). `action_name` is recorded
/// under its block too (`refresh_tokens.action_name`).
struct Written(Vec<(String, String)>);

impl Written {
    fn scan(input: &syn::DeriveInput) -> Self {
        let mut found = Vec::new();
        for attr in input
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("authentication"))
        {
            if let syn::Meta::List(list) = &attr.meta {
                walk(list.tokens.clone(), "", &mut found);
            }
        }
        Self(found)
    }

    fn value(&self, option: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == option && syn::parse_str::<syn::Ident>(v).is_ok())
            .map(|(_, v)| v.as_str())
    }
}

fn walk(tokens: TokenStream, block: &str, found: &mut Vec<(String, String)>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tree) in tokens.iter().enumerate() {
        match tree {
            TokenTree::Group(g) => {
                let name = match i.checked_sub(1).map(|j| &tokens[j]) {
                    Some(TokenTree::Ident(id)) => id.to_string(),
                    _ => String::new(),
                };
                walk(g.stream(), &name, found);
            }
            TokenTree::Ident(id) => {
                let (Some(TokenTree::Punct(eq)), Some(TokenTree::Literal(lit))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                else {
                    continue;
                };
                let Ok(syn::Lit::Str(value)) = syn::parse_str::<syn::Lit>(&lit.to_string()) else {
                    continue;
                };
                if eq.as_char() == '=' {
                    found.push((id.to_string(), value.value()));
                    found.push((format!("{block}.{id}"), value.value()));
                }
            }
            _ => {}
        }
    }
}
