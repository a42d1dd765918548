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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut paths: Vec<String> = [
        "README.md",
        "auth-core/docs/authenticated.md",
        "auth-core/docs/token_resource.md",
        "auth-macros/src/lib.rs",
        "auth-macros/src/token_resource/expand.rs",
        "auth-macros/src/authenticated/expand.rs",
    ]
    .map(str::to_owned)
    .to_vec();
    // Every rustdoc source of the crates users depend on.
    for dir in ["auth-core/src", "auth-core/src/http", "auth-postgres/src"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".rs") {
                paths.push(format!("{dir}/{name}"));
            }
        }
    }
    for path in paths {
        assert!(!read(&path).contains("SPEC"), "{path} cites SPEC");
    }
}

mod defaults {
    use auth_core::{
        Authenticated, ConfirmationConfig, LogOutEverywhereConfig, MagicLinkConfig, PasswordConfig,
        PurposeFilter, RefreshConfig, RememberMeConfig, ResetConfig, SessionsConfig, SigningSecret,
        TokenConfig, TokenResource, TokenResourceConfig, token_resource,
    };
    use serde::{Deserialize, Serialize};

    #[token_resource]
    pub struct Token;

    // Every option left to its default (but the token lifetime, which must
    // be shorter than the default refresh lifetime).
    #[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
    #[authentication(
        tokens(
            token_resource = Token,
            token_lifetime = "15m",
            store_all_tokens,
            require_token_presence_for_authentication,
            refresh_tokens(),
        ),
        strategies(password(resettable()), remember_me(), magic_link()),
        add_ons(log_out_everywhere(), sessions(), confirmation()),
    )]
    pub struct User {
        pub id: i64,
        pub email: String,
        pub hashed_password: String,
        pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
    }

    /// What the macros generate for options left out is the runtime's own
    /// defaults: the knowledge duplicated across the proc-macro boundary is
    /// tied here.
    #[test]
    fn the_macros_defaults_are_the_runtimes() {
        let s = User::settings();
        let runtime = TokenConfig::new(SigningSecret::Env("TOKEN_SIGNING_SECRET".into()));
        assert_eq!(s.tokens.algorithm, runtime.algorithm);
        assert_eq!(s.tokens.leeway, runtime.leeway);
        assert_eq!(
            format!("{:?}", s.tokens.signing_secret),
            format!("{:?}", runtime.signing_secret)
        );
        assert_eq!(s.tokens.issuer, env!("CARGO_PKG_NAME"));
        assert_eq!(s.tokens.audience, env!("CARGO_PKG_NAME"));
        assert_eq!(
            s.password,
            Some(PasswordConfig {
                reset: Some(ResetConfig::default()),
                ..PasswordConfig::default()
            })
        );
        assert_eq!(s.magic_link, Some(MagicLinkConfig::default()));
        assert_eq!(s.confirmation, Some(ConfirmationConfig::default()));
        assert_eq!(
            s.log_out_everywhere,
            Some(LogOutEverywhereConfig {
                apply_on_password_change: false,
                purposes: PurposeFilter::default(),
            })
        );
        assert_eq!(s.sessions, Some(SessionsConfig::default()));
        assert_eq!(s.refresh_tokens, Some(RefreshConfig::default()));
        assert_eq!(s.remember_me, Some(RememberMeConfig::default()));
        assert_eq!(Token::CONFIG, TokenResourceConfig::default());
    }

    #[derive(Authenticated, Clone, Debug, Serialize, Deserialize)]
    #[authentication(session_identifier = "jti", tokens(token_resource = Token))]
    pub struct Bare {
        pub id: i64,
    }

    #[test]
    fn the_default_token_lifetime_is_the_runtimes() {
        let runtime = TokenConfig::new(SigningSecret::Env("X".into()));
        assert_eq!(
            Bare::settings().tokens.token_lifetime,
            runtime.token_lifetime
        );
    }
}

/// No module of auth-core imports one that imports it back, by any path:
/// the modules' `crate::` references (outside their tests) form no cycle.
#[test]
fn auth_core_modules_import_in_one_direction() {
    use std::collections::{BTreeMap, BTreeSet};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../auth-core/src");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    // A module's name: its path under src, `mod.rs` naming its directory.
    let name_of = |path: &Path| {
        let rel = path.strip_prefix(&root).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        parts.join("::")
    };
    let modules: BTreeSet<String> = files.iter().map(|f| name_of(f)).collect();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let name = name_of(file);
        if name == "lib" || name == "__private" {
            continue;
        }
        let source = std::fs::read_to_string(file).unwrap();
        let code = source.split("#[cfg(test)]\nmod ").next().unwrap_or("");
        let deps = imports.entry(name.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let path: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segments: Vec<&str> = path.split("::").collect();
            // The longest module the path names: `http::axum`, else `http`.
            let target = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|m| modules.contains(m));
            if let Some(target) = target
                && target != "__private"
                && target != name
                && !name.starts_with(&format!("{target}::"))
            {
                deps.insert(target);
            }
        }
    }
    // Depth-first search for a path back to where it started.
    fn cycle_from(
        start: &str,
        at: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        for next in imports.get(at).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if let Some(c) = cycle_from(start, next, imports, path, seen) {
                    return Some(c);
                }
                path.pop();
            }
        }
        None
    }
    for module in imports.keys() {
        let mut path = vec![module.clone()];
        if let Some(cycle) = cycle_from(module, module, &imports, &mut path, &mut BTreeSet::new()) {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
    assert!(
        imports.len() > 20,
        "the scan found the modules: {imports:?}"
    );
}
