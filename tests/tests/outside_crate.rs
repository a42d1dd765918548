//! The README's "Add it to your project" is true: a crate outside this
//! workspace with exactly the README's `[dependencies]` lines (the git
//! source swapped for the path form the README gives) builds and runs the
//! README's first program.

#![allow(clippy::unwrap_used)] // a test: a failure is a panic with its place
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The first fenced block of `kind` after `heading`.
fn block_after<'a>(readme: &'a str, heading: &str, kind: &str) -> &'a str {
    let from = readme
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in the README"));
    let fence = format!("```{kind}\n");
    let start = from + readme[from..].find(&fence).unwrap() + fence.len();
    let len = readme[start..].find("\n```").unwrap();
    &readme[start..start + len + 1]
}

/// The code rustdoc compiles: hidden lines (`# `) shown.
fn rustdoc_code(block: &str) -> String {
    block
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) => rest,
            None if l == "#" => "",
            None => l,
        })
        .fold(String::new(), |out, l| out + l + "\n")
}

#[test]
fn a_crate_outside_the_workspace_builds_and_runs_the_readme_program() {
    let root = workspace();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let deps = block_after(&readme, "## Add it to your project", "toml");
    let program = rustdoc_code(block_after(&readme, "## A first program", "rust"));
    assert!(deps.starts_with("[dependencies]\n"), "{deps}");
    assert!(
        program.contains("fn main()"),
        "the first program is a whole program"
    );

    // The path form the README gives for a checkout, pointing at this one.
    let git = r#"git = "https://github.com/auth-core-rs/auth-core""#;
    assert_eq!(
        deps.matches(git).count(),
        2,
        "auth-core and auth-sqlite from git:\n{deps}"
    );
    let deps = deps
        .replacen(git, &format!("path = {:?}", root.join("auth-core")), 1)
        .replacen(git, &format!("path = {:?}", root.join("auth-sqlite")), 1);

    let dir = std::env::temp_dir().join(format!("outside-crate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"my-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{deps}\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/main.rs"), program).unwrap();
    // The workspace's lock: the same dependency versions, all in the local
    // registry cache (no network needed).
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let out = Command::new(env!("CARGO"))
        .args(["run", "--offline", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", root.join("target/outside-crate"))
        .env(
            "TOKEN_SIGNING_SECRET",
            "outside-crate-test-secret-0123456789abcdef",
        )
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "signed in as ada@example.com\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
