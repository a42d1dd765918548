//! The DSL reference pages shipped in auth-core's rustdoc name every option
//! the macros accept: the receivers (what darling parses) against the pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The option names of the receiver structs: `pub name: Option<…>` or
/// `pub name: Flag`, renamed where darling renames them.
fn options(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rename = None;
    for line in source.lines().map(str::trim) {
        if let Some(r) = line.strip_prefix("#[darling(rename = \"") {
            rename = r.split('"').next().map(str::to_owned);
            continue;
        }
        let Some(rest) = line.strip_prefix("pub ") else {
            continue;
        };
        let Some((name, ty)) = rest.split_once(':') else {
            continue;
        };
        let ty = ty.trim();
        // `ident` is the field receiver's own name, not an option.
        if (ty.starts_with("Option<") || ty.starts_with("Flag")) && name.trim() != "ident" {
            out.push(rename.take().unwrap_or_else(|| name.trim().to_owned()));
        }
        rename = None;
    }
    out
}

/// Whether `word` appears in `text` as a whole word.
fn has_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[test]
fn the_reference_pages_name_every_option() {
    for (receivers, page) in [
        (
            "auth-macros/src/authenticated/input.rs",
            "auth-core/docs/authenticated.md",
        ),
        (
            "auth-macros/src/token_resource/args.rs",
            "auth-core/docs/token_resource.md",
        ),
    ] {
        let (source, page) = (read(receivers), read(page));
        let names = options(&source);
        assert!(names.len() > 10, "{receivers}: {names:?}");
        let missing: Vec<_> = names.iter().filter(|n| !has_word(&page, n)).collect();
        assert!(missing.is_empty(), "{page:.40}… lacks {missing:?}");
    }
}

#[test]
fn no_user_facing_text_cites_the_spec() {
    for path in [
        "README.md",
        "auth-core/docs/authenticated.md",
        "auth-core/docs/token_resource.md",
        "auth-macros/src/token_resource/expand.rs",
        "auth-macros/src/authenticated/expand.rs",
    ] {
        assert!(!read(path).contains("SPEC"), "{path} cites SPEC");
    }
}
