//! `#[derive(Authenticated)]`: parse, validate, expand.

mod expand;
mod input;
mod model;
mod validate;

use darling::FromDeriveInput;
use proc_macro2::TokenStream;

use crate::common::{Errors, to_compile_errors};

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
            return errors.into_tokens();
        }
    };
    match validate::validate(parsed) {
        Ok(model) => expand::expand(model),
        Err(errors) => errors.into_tokens(),
    }
}
