//! `#[derive(Authenticated)]`: parse, validate, expand.

mod expand;
mod fallback;
mod input;
mod model;
mod validate;

use darling::FromDeriveInput;
use proc_macro2::TokenStream;

use crate::common::{Errors, to_compile_errors};
use fallback::fallback;

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
        Ok(model) => expand::expand(model, &input),
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
