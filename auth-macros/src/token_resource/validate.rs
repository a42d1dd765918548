//! Rules T1–T7 for `#[token_resource]`; each one a function, all errors collected.

use std::collections::HashMap;

use proc_macro2::Span;
use quote::quote;
use syn::spanned::Spanned;

use super::args::Args;
use super::model::{Action, Field, TokenResource};
use crate::common::{Errors, private_path};

/// The rules, in order: each line calls the rule's function (its sentence
/// above it, its ui cases beside it); every error is collected; the model
/// is built only when none was reported. T6 (unknown options) is darling's,
/// in `args.rs`; T5 is checked by rustc through the generated bound.
pub fn validate(args: Args, item: syn::Item) -> Result<TokenResource, Errors> {
    let mut errors = Errors::default();
    let e = &mut errors;
    // T1: a unit struct or a struct with named fields, not generic.  (t1-enum, t1-tuple-struct)
    let item = t1_struct_shape(item, e);
    // T2: `expunge_interval` is a positive whole number of hours.     (t2-zero-interval, t2-string-interval)
    let expunge_interval_hours =
        t2_expunge_interval(args.expunge_interval.as_ref().map(|x| &x.0), e);
    // T3: no two actions share a name; T4: names are identifiers.    (t3-duplicate-action-names, t3-name-clashes-with-a-default, t4-keyword, t4-not-an-identifier)
    let actions = t3_t4_action_names(&args, e);
    let created_at = args
        .created_at_attribute_name
        .as_ref()
        .and_then(|lit| crate::common::action_ident(lit, "created_at_attribute_name", e))
        .unwrap_or_else(|| syn::Ident::new("created_at", Span::call_site()));
    let private = private_path(args.krate.as_ref());
    // T7: every declared field is a standard one (T5: of its type).  (t7-extra-field, t5-incompatible-field-type)
    let fields = item
        .as_ref()
        .map(|item| t7_standard_fields(item, &created_at, &private, e))
        .unwrap_or_default();

    // The model, when every rule passed (a rule that failed without
    // reporting is an internal error, said by `into_tokens`).
    errors.finish()?;
    let item = item.ok_or_else(Errors::default)?;
    Ok(TokenResource {
        private,
        table: args.table.map(|t| (*t).clone()),
        item,
        expunge_interval_hours,
        fields,
        actions,
    })
}

/// T1: only unit structs or structs with named fields (not tuple structs, enums, unions, generics).
fn t1_struct_shape(item: syn::Item, errors: &mut Errors) -> Option<syn::ItemStruct> {
    let syn::Item::Struct(s) = item else {
        let span = match &item {
            syn::Item::Enum(e) => e.enum_token.span(),
            syn::Item::Union(u) => u.union_token.span(),
            other => other.span(),
        };
        errors.push_span(
            span,
            "`#[token_resource]` goes on a struct: write `pub struct Token;`",
        );
        return None;
    };
    if let syn::Fields::Unnamed(fields) = &s.fields {
        errors.push(
            fields,
            "`#[token_resource]` needs a unit struct or named fields, not a tuple struct: write `pub struct Token;`",
        );
    }
    if !s.generics.params.is_empty() {
        errors.push(
            &s.generics,
            "a token resource cannot be generic: remove the parameters",
        );
    }
    Some(s)
}

/// T2: `expunge_interval` must be a positive integer (hours). `None`
/// when not written: the runtime's default applies.
fn t2_expunge_interval(expr: Option<&syn::Expr>, errors: &mut Errors) -> Option<u64> {
    let expr = expr?;
    let value = match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) if int.suffix().is_empty() || int.suffix() == "u64" => int.base10_parse::<u64>().ok(),
        _ => None,
    };
    match value {
        Some(hours) if hours > 0 && hours <= 24 * 365 => Some(hours),
        _ => {
            errors.push(
                expr,
                "`expunge_interval` must be a positive whole number of hours, as in `expunge_interval = 12`",
            );
            None
        }
    }
}

/// An action name as the user wrote it: the option and its literal.
type Written<'a> = Option<(&'static str, &'a syn::LitStr)>;

/// T3: two actions configured with the same name. T4: a name that is not a Rust identifier.
fn t3_t4_action_names(args: &Args, errors: &mut Errors) -> Vec<(Action, syn::Ident)> {
    let rev = args.revocation.as_ref();
    let conf = args.confirmation.as_ref();
    let written = |action: Action| -> Option<(&'static str, &syn::LitStr)> {
        let (option, lit) = match action {
            Action::StoreToken => (
                "store_token_action_name",
                args.store_token_action_name.as_ref(),
            ),
            Action::GetToken => ("get_token_action_name", args.get_token_action_name.as_ref()),
            Action::ReadExpired => (
                "read_expired_action_name",
                args.read_expired_action_name.as_ref(),
            ),
            Action::ExpungeExpired => (
                "expunge_expired_action_name",
                args.expunge_expired_action_name.as_ref(),
            ),
            Action::RevokeToken => (
                "revoke_token_action_name",
                rev.and_then(|r| r.revoke_token_action_name.as_ref()),
            ),
            Action::RevokeJti => (
                "revoke_jti_action_name",
                rev.and_then(|r| r.revoke_jti_action_name.as_ref()),
            ),
            Action::RevokeAllStoredForSubject => (
                "revoke_all_stored_for_subject_action_name",
                rev.and_then(|r| r.revoke_all_stored_for_subject_action_name.as_ref()),
            ),
            Action::IsRevoked => (
                "is_revoked_action_name",
                rev.and_then(|r| r.is_revoked_action_name.as_ref()),
            ),
            Action::StoreConfirmationChanges => (
                "store_changes_action_name",
                conf.and_then(|c| c.store_changes_action_name.as_ref()),
            ),
            Action::GetConfirmationChanges => (
                "get_changes_action_name",
                conf.and_then(|c| c.get_changes_action_name.as_ref()),
            ),
        };
        lit.map(|lit| (option, lit))
    };

    let mut actions = Vec::new();
    // name -> (action, the option and its literal when the user wrote it)
    let mut seen: HashMap<String, (Action, Written<'_>)> = HashMap::new();
    for action in Action::ALL {
        let option = written(action);
        let ident = match option {
            Some((opt, lit)) => match crate::common::action_ident(lit, opt, errors) {
                Some(ident) => ident,
                None => continue,
            },
            None => syn::Ident::new(action.default_name(), Span::call_site()),
        };
        let name = ident.to_string();
        if let Some((other, other_option)) = seen.get(&name) {
            // Underline what the user wrote: this option, else the earlier one.
            let describe = |a: Action, o: Option<(&str, &syn::LitStr)>| match o {
                Some((opt, _)) => format!("`{opt}`"),
                None => format!("the default name of `{}`", a.default_name()),
            };
            let span = option
                .or(*other_option)
                .map_or_else(Span::call_site, |(_, lit)| lit.span());
            errors.push_span(
                span,
                format!(
                    "{} and {} both name the action `{name}`: choose another name",
                    describe(*other, *other_option),
                    describe(action, option),
                ),
            );
            continue;
        }
        seen.insert(name, (action, option));
        actions.push((action, ident));
    }
    actions
}

/// T7: every declared field must be a standard field (T5, its type, is checked by rustc
/// through the generated bound `__private::standard::<field>` spanned on the type,
/// whose error names the field and the type it must have).
fn t7_standard_fields(
    item: &syn::ItemStruct,
    created_at: &syn::Ident,
    p: &proc_macro2::TokenStream,
    errors: &mut Errors,
) -> Vec<Field> {
    // The standard fields' types and type checks live in auth-core
    // (`__private::standard`); here only their names.
    let standard: [(String, &'static str); 7] = [
        ("jti".into(), "jti"),
        ("subject".into(), "subject"),
        ("expires_at".into(), "expires_at"),
        ("purpose".into(), "purpose"),
        ("extra_data".into(), "extra_data"),
        (created_at.to_string(), "created_at"),
        ("updated_at".into(), "updated_at"),
    ];
    let declared: Vec<&syn::Field> = match &item.fields {
        syn::Fields::Named(named) => named.named.iter().collect(),
        _ => Vec::new(),
    };
    let names: Vec<&str> = standard.iter().map(|(n, _)| n.as_str()).collect();
    for field in &declared {
        let Some(ident) = &field.ident else { continue };
        if !names.contains(&ident.to_string().as_str()) {
            errors.push(
                ident,
                format!(
                    "`{ident}` is not a standard token field: a token resource has only {}; remove it",
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    standard
        .into_iter()
        .map(|(name, row_field)| Field {
            declared: declared
                .iter()
                .find(|f| f.ident.as_ref().is_some_and(|i| *i == name))
                .map(|f| (*f).clone()),
            name: syn::Ident::new(&name, created_at.span()),
            row_field,
            standard_ty: {
                let field = syn::Ident::new(row_field, proc_macro2::Span::call_site());
                quote!(#p::standard::ty::#field)
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use darling::FromMeta;
    use darling::ast::NestedMeta;
    use syn::parse_quote;

    fn run(args: proc_macro2::TokenStream, item: syn::Item) -> Result<TokenResource, Vec<String>> {
        let list = NestedMeta::parse_meta_list(args).unwrap();
        let args = Args::from_list(&list).unwrap();
        validate(args, item).map_err(|e| e.messages())
    }

    #[test]
    fn defaults() {
        let m = run(
            quote!(),
            parse_quote!(
                pub struct Token;
            ),
        )
        .ok()
        .unwrap();
        assert_eq!(m.table, None, "the runtime's default table");
        assert_eq!(
            m.expunge_interval_hours, None,
            "the runtime's default interval"
        );
        assert_eq!(m.actions.len(), 10);
        assert_eq!(m.fields.len(), 7);
    }

    #[test]
    fn rules_report_every_mistake() {
        let errs = run(
            quote!(
                expunge_interval = 0,
                store_token_action_name = "read_expired",
                get_token_action_name = "fn"
            ),
            parse_quote!(
                pub struct Token {
                    pub id: i64,
                }
            ),
        )
        .err()
        .unwrap();
        assert_eq!(errs.len(), 4, "{errs:#?}");
        assert!(errs[0].contains("expunge_interval"));
        assert!(errs.iter().any(|e| e.contains("Rust identifier")));
        assert!(
            errs.iter()
                .any(|e| e.contains("both name the action `read_expired`"))
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("`id` is not a standard token field"))
        );
    }

    #[test]
    fn tuple_structs_and_enums_are_refused() {
        assert!(
            run(
                quote!(),
                parse_quote!(
                    struct T(String);
                )
            )
            .is_err()
        );
        assert!(
            run(
                quote!(),
                parse_quote!(
                    enum T {
                        A,
                    }
                )
            )
            .is_err()
        );
        assert!(
            run(
                quote!(),
                parse_quote!(
                    pub struct Token {
                        subject: Option<String>,
                    }
                )
            )
            .is_ok()
        );
    }
}
