//! Helpers shared by both macros: error wording, the runtime's path, attribute stripping.

pub mod spanned;

use proc_macro2::TokenStream;
use quote::quote;

/// Darling's errors as they are (its own conversion: each spanned where
/// darling spanned it, all reported together). Its wording is darling's:
/// nothing here rewrites a dependency's messages.
pub fn to_compile_errors(err: darling::Error) -> Vec<syn::Error> {
    err.flatten().into_iter().map(syn::Error::from).collect()
}

/// Collects every error of a macro run, like darling's `Accumulator`, and
/// like it cannot be dropped unchecked: it ends in [`Errors::into_tokens`]
/// or [`Errors::finish`], or it panics, so no rule's error is ever lost on
/// a path that forgot it. (It holds `syn::Error`s rather than darling's so
/// that an error on a type or a path underlines all of it.)
pub struct Errors {
    errors: Vec<syn::Error>,
    /// Defused by `into_tokens` or `finish`.
    armed: bool,
}

impl Default for Errors {
    fn default() -> Self {
        Self {
            errors: Vec::new(),
            armed: true,
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
            panic!(
                "auth-macros: {} error(s) dropped without being reported",
                self.errors.len()
            );
        }
    }
}

impl Errors {
    pub fn push(&mut self, span: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(span, msg));
    }

    pub fn push_span(&mut self, span: proc_macro2::Span, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, msg));
    }

    pub fn extend(&mut self, errors: impl IntoIterator<Item = syn::Error>) {
        self.errors.extend(errors);
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok` when nothing was reported (and the collector is done), else
    /// the collector back, to be reported.
    pub fn finish(mut self) -> Result<(), Self> {
        if self.errors.is_empty() {
            self.armed = false;
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The errors as `compile_error!`s. Never empty: a rule that failed
    /// without reporting must not become a silent fallback.
    pub fn into_tokens(mut self) -> TokenStream {
        self.armed = false;
        let errors = std::mem::take(&mut self.errors);
        if errors.is_empty() {
            return syn::Error::new(
                proc_macro2::Span::call_site(),
                "internal error in auth-macros: a check failed without saying why; please report it",
            )
            .to_compile_error();
        }
        let errs = errors.into_iter().map(|e| e.to_compile_error());
        quote!(#(#errs)*)
    }

    /// The errors, to be reported by another collector.
    pub fn into_errors(mut self) -> Vec<syn::Error> {
        self.armed = false;
        std::mem::take(&mut self.errors)
    }

    #[cfg(test)]
    pub fn messages(self) -> Vec<String> {
        self.into_errors().iter().map(ToString::to_string).collect()
    }
}

/// The path generated code uses to reach the runtime: `::auth_core` unless
/// `#[authentication(crate = "...")]` says otherwise.
pub fn private_path(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::auth_core::__private),
    }
}

/// `snake_case` of a type name: `UserAccount` → `user_account`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An action name option's value as an identifier (rule T4 and its user-side
/// twin): a Rust identifier, not a keyword, not raw.
pub fn action_ident(lit: &syn::LitStr, option: &str, errors: &mut Errors) -> Option<syn::Ident> {
    let value = lit.value();
    match syn::parse_str::<syn::Ident>(&value) {
        // `syn::Ident`'s parser refuses keywords.
        Ok(_) if !value.starts_with("r#") => Some(syn::Ident::new(&value, lit.span())),
        _ => {
            errors.push(
                lit,
                format!(
                    "`{option}` must be a Rust identifier such as \"my_action\", not {}",
                    quote::ToTokens::to_token_stream(lit)
                ),
            );
            None
        }
    }
}

/// The action's name: what the user wrote for `option` (checked by
/// [`action_ident`]), else `default`. `None` only when the written one was
/// refused (and reported).
pub fn action_name(
    written: Option<&syn::LitStr>,
    option: &str,
    default: &str,
    errors: &mut Errors,
) -> Option<syn::Ident> {
    match written {
        Some(lit) => action_ident(lit, option, errors),
        None => Some(syn::Ident::new(default, proc_macro2::Span::call_site())),
    }
}

/// Whether an attribute is ours (`#[authentication(...)]`).
pub fn is_our_attr(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("authentication")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases() {
        assert_eq!(snake_case("UserAccount"), "user_account");
        assert_eq!(snake_case("User"), "user");
    }
}
