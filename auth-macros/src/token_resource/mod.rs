//! `#[token_resource]`: parse the arguments, validate, expand.

mod args;
mod expand;
mod model;
mod validate;

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::TokenStream;
use quote::quote;

use crate::common::{Errors, is_our_attr, to_compile_errors};

pub fn token_resource(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: syn::Item = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let parsed = NestedMeta::parse_meta_list(args)
        .map_err(darling::Error::from)
        .and_then(|list| args::Args::from_list(&list));
    let args = match parsed {
        Ok(args) => args,
        Err(e) => {
            errors.extend(to_compile_errors(e));
            args::Args::default()
        }
    };
    match validate::validate(args, item.clone()) {
        Ok(model) if errors.is_empty() => expand::expand(model),
        Ok(_) => fallback(item, errors),
        Err(more) => {
            errors.extend(more.into_iter());
            fallback(item, errors)
        }
    }
}

/// On error: the errors plus the original item without our attributes, so the
/// user sees these errors and not a cascade about a missing struct.
fn fallback(mut item: syn::Item, errors: Errors) -> TokenStream {
    if let syn::Item::Struct(s) = &mut item {
        s.attrs.retain(|a| !is_our_attr(a));
    }
    let errors = errors.into_tokens();
    quote!(#item #errors)
}
