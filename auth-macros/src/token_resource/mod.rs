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
    let krate = parsed_krate(&errors, &args);
    match validate::validate(args, item.clone()) {
        Ok(model) => match errors.finish() {
            Ok(()) => expand::expand(model),
            // The arguments did not parse: the struct is fine, so generate
            // it as the defaults would (its fields, actions and trait impl),
            // and the user sees the one error they made.
            Err(errors) => {
                let generated = expand::expand(model);
                let errors = errors.into_tokens();
                quote!(#generated #errors)
            }
        },
        Err(more) => {
            errors.extend(more.into_errors());
            fallback(item, krate.as_ref(), errors)
        }
    }
}

/// `crate = ..` when the arguments parsed (only then is it known).
fn parsed_krate(errors: &Errors, args: &args::Args) -> Option<syn::Path> {
    errors.is_empty().then(|| args.krate.clone()).flatten()
}

/// On error: the errors plus the original item without our attributes and
/// a placeholder `TokenResource` impl, so the user sees these errors and not
/// a cascade about a missing struct or a type that is "not a token
/// resource". The placeholder never runs: the crate does not compile.
fn fallback(mut item: syn::Item, krate: Option<&syn::Path>, errors: Errors) -> TokenStream {
    let placeholder = match &mut item {
        syn::Item::Struct(s) => {
            s.attrs.retain(|a| !is_our_attr(a));
            let p = crate::common::private_path(krate);
            let ident = &s.ident;
            let generics_free = s.generics.params.is_empty();
            generics_free.then(|| {
                quote! {
                    #[automatically_derived]
                    impl #p::TokenResource for #ident {
                        const CONFIG: #p::TokenResourceConfig = #p::TokenResourceConfig::DEFAULT;
                    }
                }
            })
        }
        _ => None,
    };
    let errors = errors.into_tokens();
    quote!(#item #placeholder #errors)
}
