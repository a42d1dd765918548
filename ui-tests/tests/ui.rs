//! Diagnostics of the macros: one mistake per file, `.stderr` generated with
//! `TRYBUILD=overwrite cargo test -p ui-tests` and reviewed.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/authenticated/*.rs");
    t.compile_fail("tests/ui/token_resource/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
