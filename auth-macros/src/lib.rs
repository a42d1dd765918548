//! Procedural macros for `auth-core`: `#[derive(Authenticated)]` and `#[token_resource]`.
//! Use them through `auth_core`, which re-exports them. This is the only file that
//! sees `proc_macro::TokenStream`.

mod authenticated;
mod common;
mod token_resource;

use proc_macro::TokenStream;

/// Declares a token resource: adds the standard fields and generates the
/// token actions as associated functions (reference: `auth_core::token_resource`).
#[proc_macro_attribute]
pub fn token_resource(args: TokenStream, item: TokenStream) -> TokenStream {
    token_resource::token_resource(args.into(), item.into()).into()
}

/// Derives the user-resource metadata and the `#[authentication(...)]`
/// configuration (reference: `auth_core::Authenticated`).
#[proc_macro_derive(Authenticated, attributes(authentication))]
pub fn derive_authenticated(input: TokenStream) -> TokenStream {
    authenticated::derive(input.into()).into()
}
