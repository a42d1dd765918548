//! `#[derive(Authenticated)]`: parse, validate, expand.

mod expand;
mod input;
mod model;
mod validate;

use darling::FromDeriveInput;
use proc_macro2::TokenStream;
use quote::quote;

use crate::common::{Errors, private_path, to_compile_errors};

pub fn derive(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let parsed = match input::Input::from_derive_input(&input) {
        Ok(parsed) => parsed,
        Err(e) => {
            let mut errors = Errors::default();
            errors.extend(to_compile_errors(e));
            // Keep `crate = ...` for the placeholders even when another
            // option failed to parse.
            let krate = CrateOnly::from_derive_input(&input)
                .ok()
                .and_then(|c| c.krate);
            return fallback(&input, krate.as_ref(), errors);
        }
    };
    let krate = parsed.krate.clone();
    match validate::validate(parsed) {
        Ok(model) => expand::expand(model),
        Err(errors) => fallback(&input, krate.as_ref(), errors),
    }
}

/// Only `crate = path`, read leniently when the full attribute does not parse.
#[derive(FromDeriveInput)]
#[darling(attributes(authentication), allow_unknown_fields)]
struct CrateOnly {
    #[darling(rename = "crate")]
    krate: Option<syn::Path>,
}

/// The errors plus placeholder impls, so code using the type as a user
/// resource reports these errors only, not a cascade of missing impls. The
/// placeholders never run: the crate does not compile while errors remain.
fn fallback(input: &syn::DeriveInput, krate: Option<&syn::Path>, errors: Errors) -> TokenStream {
    let errors = errors.into_tokens();
    // A generic type, an enum or a tuple struct can never be a user
    // resource: placeholder impls would only add errors about their bounds.
    let named_struct =
        matches!(&input.data, syn::Data::Struct(s) if matches!(s.fields, syn::Fields::Named(_)));
    if !input.generics.params.is_empty() || !named_struct {
        return errors;
    }
    let ident = &input.ident;
    let p = private_path(krate);
    quote! {
        #errors
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
        };
    }
}
