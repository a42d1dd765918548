//! The README's walkthrough is true: every shell block that talks to the
//! demo (`B=http://127.0.0.1:3000`) runs, in order, in one shell against a
//! fresh demo server, and every curl command's status is the one its
//! comment gives (`# 200 …` after it, or on the next line).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failure is a panic with its place

mod common;

use std::process::Command;

use common::Server;

const DEMO: &str = "B=http://127.0.0.1:3000";

/// The README's shell blocks that drive the demo, in order.
fn walkthrough_blocks(readme: &str) -> Vec<&str> {
    readme
        .split("```sh\n")
        .skip(1)
        .map(|rest| &rest[..rest.find("\n```").expect("a closed block") + 1])
        .filter(|block| block.starts_with(DEMO))
        .collect()
}

/// The status each curl command expects (`None` when its comment gives
/// none), in the order the commands run.
fn expected_statuses(block: &str) -> Vec<Option<u16>> {
    let lines: Vec<&str> = block.lines().collect();
    let status_in = |comment: &str| {
        let word = comment
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()?;
        (word.len() == 3).then(|| word.parse().ok()).flatten()
    };
    let mut expected = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let starts_command = lines[i].contains("curl ") && !lines[i].starts_with('#');
        if !starts_command {
            i += 1;
            continue;
        }
        // The command's last line: continuations end with `\`.
        while lines[i].ends_with('\\') {
            i += 1;
        }
        let inline = lines[i].split_once("  # ").map(|(_, c)| c);
        let next = lines.get(i + 1).and_then(|l| l.strip_prefix("# "));
        expected.push(
            inline
                .and_then(status_in)
                .or_else(|| next.and_then(status_in)),
        );
        i += 1;
    }
    expected
}

#[test]
fn every_walkthrough_command_answers_what_the_readme_says() {
    let readme = include_str!("../../../README.md");
    let blocks = walkthrough_blocks(readme);
    assert!(
        blocks.len() >= 2,
        "the curl walkthrough and the sessions block"
    );
    let expected: Vec<Option<u16>> = blocks.iter().flat_map(|b| expected_statuses(b)).collect();
    assert!(expected.iter().flatten().count() >= 10, "{expected:?}");

    let server = Server::start(None);
    let url = format!("B=http://{}", server.addr);
    // Every curl writes its status to stderr, one line each, so the script's
    // own output (and `$(...)` captures) are what the README shows.
    let script = format!(
        "set -eu\ncurl() {{ command curl -w '%{{stderr}}STATUS %{{http_code}}\\n' \"$@\"; }}\n{}",
        blocks.concat().replace(DEMO, &url)
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let statuses: Vec<u16> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("STATUS "))
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(
        statuses.len(),
        expected.len(),
        "one status per curl:\n{stderr}"
    );
    for (i, (got, want)) in statuses.iter().zip(&expected).enumerate() {
        if let Some(want) = want {
            assert_eq!(got, want, "curl command {} of the walkthrough", i + 1);
        }
    }
}

#[test]
fn statuses_are_read_from_the_comments() {
    let block = "B=x\ncurl -s a \\\n  -d b\n# 201 {\"a\"}\n\
                 T=$(curl -s c)   # 200 once, 401 after\ncurl -s $B/health\n# A comment\n";
    assert_eq!(expected_statuses(block), [Some(201), Some(200), None]);
}
