//! Helpers shared by both macros: error wording, the runtime's path, attribute stripping.

pub mod spanned;

use proc_macro2::TokenStream;
use quote::quote;

/// Turns darling's errors into ours: lowercase, "option" instead of "field",
/// each spanned where darling spanned it, all reported together.
pub fn to_compile_errors(err: darling::Error) -> Vec<syn::Error> {
    err.into_iter()
        .map(|e| {
            let span = e.span();
            syn::Error::new(span, reword(&e.to_string()))
        })
        .collect()
}

fn reword(msg: &str) -> String {
    // Darling appends " at a/b" with the option path; the span already shows it.
    let msg = match msg.rsplit_once(" at ") {
        Some((head, path))
            if path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_/".contains(c)) =>
        {
            head
        }
        _ => msg,
    };
    let msg = msg
        .replace("Unknown field: ", "unknown option ")
        .replace("Unknown literal value ", "unexpected value ")
        .replace(". Did you mean ", ": did you mean ")
        .replace(". Available values: ", "; the options here are ")
        .replace("Duplicate field ", "option given twice: ")
        .replace("Missing field ", "missing option ")
        .replace("Unexpected literal type ", "unexpected value of type ");
    let mut chars = msg.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => msg,
    }
}

/// Collects errors, mirroring darling's accumulator but for `syn::Error`.
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    pub fn push(&mut self, span: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.0.push(syn::Error::new_spanned(span, msg));
    }

    pub fn push_span(&mut self, span: proc_macro2::Span, msg: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, msg));
    }

    pub fn extend(&mut self, errors: impl IntoIterator<Item = syn::Error>) {
        self.0.extend(errors);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors as `compile_error!`s. Never empty: a rule that failed
    /// without reporting must not become a silent fallback.
    pub fn into_tokens(self) -> TokenStream {
        if self.0.is_empty() {
            return syn::Error::new(
                proc_macro2::Span::call_site(),
                "internal error in auth-macros: a check failed without saying why; please report it",
            )
            .to_compile_error();
        }
        let errs = self.0.into_iter().map(|e| e.to_compile_error());
        quote!(#(#errs)*)
    }

    pub fn into_iter(self) -> std::vec::IntoIter<syn::Error> {
        self.0.into_iter()
    }

    #[cfg(test)]
    pub fn messages(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
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
    fn rewording() {
        assert_eq!(
            reword("Unknown field: `tokenz`. Did you mean `tokens`? at tokens"),
            "unknown option `tokenz`: did you mean `tokens`?"
        );
        assert_eq!(snake_case("UserAccount"), "user_account");
        assert_eq!(snake_case("User"), "user");
    }
}
