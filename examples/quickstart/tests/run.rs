//! The quickstart does what it says, on a fresh database and on a second run.

use std::process::Command;

#[test]
fn the_quickstart_registers_signs_in_refreshes_and_signs_out() {
    let dir = std::env::temp_dir().join(format!("quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("quickstart.db");
    for run in ["first", "second"] {
        let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
            .env("DB", &db)
            .env(
                "TOKEN_SIGNING_SECRET",
                "quickstart-test-secret-0123456789abcdef",
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{run} run: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines,
            [
                "registered ada@example.com",
                "signed in: GET /me 200 OK",
                "refreshed: GET /me 200 OK",
                "signed out: GET /me 401 Unauthorized",
                "signed out: refresh the token's session has ended",
            ],
            "{run} run"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
