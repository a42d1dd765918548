//! Generates the token struct, its `TokenResource` impl and its actions. Cannot fail.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{Action, TokenResource};

pub fn expand(model: TokenResource) -> TokenStream {
    let TokenResource {
        item,
        private: p,
        table,
        expunge_interval_hours,
        fields,
        actions,
    } = model;
    let ident = &item.ident;
    let vis = &item.vis;
    let attrs = item.attrs.iter().filter(|a| !crate::common::is_our_attr(a));

    let struct_fields = fields.iter().map(|f| match &f.declared {
        Some(declared) => quote!(#declared),
        None => {
            let (name, ty) = (&f.name, &f.standard_ty);
            let doc = format!("Standard token field `{}`.", f.row_field);
            quote!(#[doc = #doc] pub #name: #ty)
        }
    });
    let from_row = fields.iter().map(|f| {
        let name = &f.name;
        let row_field = format_ident!("{}", f.row_field);
        match &f.declared {
            Some(declared) => {
                let ty = &declared.ty;
                quote_spanned! {declared.ty.span()=>
                    #name: <#ty as __p::standard::#row_field>::from_standard(row.#row_field)
                }
            }
            None => quote!(#name: row.#row_field),
        }
    });
    let action_fns = actions
        .iter()
        .map(|(action, name)| action_fn(*action, name));
    // Only what the user wrote is generated; every default is the runtime's.
    let config = match &table {
        Some(table) => quote!(__p::TokenResourceConfig::new(#table)),
        None => quote!(__p::TokenResourceConfig::DEFAULT),
    };
    let config = match expunge_interval_hours {
        Some(hours) => quote!(#config.with_expunge_interval_hours(#hours)),
        None => config,
    };

    quote! {
        #(#attrs)*
        #vis struct #ident {
            #(#struct_fields,)*
        }

        const _: () = {
            use #p as __p;

            #[automatically_derived]
            impl __p::TokenResource for #ident {
                const CONFIG: __p::TokenResourceConfig = #config;
            }

            #[automatically_derived]
            impl ::core::convert::From<__p::TokenRow> for #ident {
                fn from(row: __p::TokenRow) -> Self {
                    Self { #(#from_row,)* }
                }
            }

            impl #ident {
                #(#action_fns)*
            }
        };
    }
}

fn action_fn(action: Action, name: &syn::Ident) -> TokenStream {
    let runtime = format_ident!("{}", action.default_name());
    let config = quote!(&<Self as __p::TokenResource>::CONFIG);
    let doc = format!(
        "The `{}` action of this token resource (see `auth_core::token_resource`).",
        action.default_name()
    );
    let (params, ret, call): (TokenStream, TokenStream, TokenStream) = match action {
        Action::StoreToken => (
            quote!(facts: &__p::TokenFacts, purpose: &__p::Purpose, extra_data: ::core::option::Option<__p::serde_json::Value>),
            quote!(()),
            quote!(__p::actions::#runtime(store, #config, facts, purpose, extra_data).await),
        ),
        Action::GetToken => (
            quote!(jti: &str, purpose: ::core::option::Option<&__p::Purpose>),
            quote!(::core::option::Option<Self>),
            quote!(__p::actions::#runtime(store, #config, jti, purpose).await
                .map(|row| row.map(::core::convert::From::from))),
        ),
        Action::RevokeToken => (
            quote!(facts: &__p::TokenFacts),
            quote!(()),
            quote!(__p::actions::#runtime(store, #config, facts).await),
        ),
        Action::RevokeJti => (
            quote!(jti: &str, subject: &str),
            quote!(()),
            quote!(__p::actions::#runtime(store, #config, jti, subject).await),
        ),
        Action::RevokeAllStoredForSubject => (
            quote!(subject: &str, purposes: &__p::PurposeFilter),
            quote!(u64),
            quote!(__p::actions::#runtime(store, #config, subject, purposes).await),
        ),
        Action::IsRevoked => (
            quote!(jti: &str),
            quote!(bool),
            quote!(__p::actions::#runtime(store, #config, jti).await),
        ),
        Action::ReadExpired => (
            quote!(limit: usize),
            quote!(__p::Vec<Self>),
            quote!(__p::actions::#runtime(store, #config, limit).await
                .map(|rows| rows.into_iter().map(::core::convert::From::from).collect())),
        ),
        Action::ExpungeExpired => (
            quote!(),
            quote!(u64),
            quote!(__p::actions::#runtime(store, #config).await),
        ),
        Action::StoreConfirmationChanges => (
            quote!(facts: &__p::TokenFacts, purpose: &__p::Purpose, changes: __p::ExtraClaims),
            quote!(()),
            quote!(__p::actions::#runtime(store, #config, facts, purpose, changes).await),
        ),
        Action::GetConfirmationChanges => (
            quote!(jti: &str, purpose: &__p::Purpose),
            quote!(::core::option::Option<__p::ExtraClaims>),
            quote!(__p::actions::#runtime(store, #config, jti, purpose).await),
        ),
    };
    quote! {
        #[doc = #doc]
        pub async fn #name<S: __p::TokenStore>(store: &S, #params)
            -> ::core::result::Result<#ret, __p::Error>
        {
            #call
        }
    }
}
