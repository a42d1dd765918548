//! `Opt<T>`: an option's value together with the span of the option's name,
//! so errors underline what the user wrote (`store_all_tokens`, not the struct).

use darling::FromMeta;
use proc_macro2::Span;
use syn::spanned::Spanned;

#[derive(Debug, Clone)]
pub struct Opt<T> {
    pub value: T,
    pub span: Span,
}

impl<T> std::ops::Deref for Opt<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: FromMeta> FromMeta for Opt<T> {
    fn from_meta(item: &syn::Meta) -> darling::Result<Self> {
        Ok(Self {
            value: T::from_meta(item).map_err(|e| e.with_span(item))?,
            span: item.path().span(),
        })
    }
}
