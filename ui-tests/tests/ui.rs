//! Diagnostics of the macros: one mistake per file, `.stderr` generated with
//! `TRYBUILD=overwrite cargo test -p ui-tests` and reviewed.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/authenticated/*.rs");
    t.compile_fail("tests/ui/token_resource/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

/// One mistake, one error: every failing case's expected output holds
/// exactly one `error` (with its notes), but a case that declares more
/// mistakes (`//! mistakes: N`) holds N. Follow-on errors (a generated
/// action "not found", a type "not a token resource") would break this.
#[test]
fn each_mistake_is_one_error() {
    for dir in ["tests/ui/authenticated", "tests/ui/token_resource"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "stderr") {
                continue;
            }
            let stderr = std::fs::read_to_string(&path).unwrap();
            let source = std::fs::read_to_string(path.with_extension("rs")).unwrap();
            let mistakes = source
                .lines()
                .find_map(|l| l.strip_prefix("//! mistakes: "))
                .map_or(1, |n| n.trim().parse::<usize>().unwrap());
            let errors = stderr.lines().filter(|l| l.starts_with("error")).count();
            assert_eq!(errors, mistakes, "{}:\n{stderr}", path.display());
        }
    }
}
