//! Finding 1 under load: 300 concurrent sign-ins with unknown emails and 300
//! with wrong passwords against the demo (loopback only). Peak RSS must stay
//! below the idle baseline + permits × argon2 memory + 100 MiB, every answer
//! is 401 or 503, and a normal sign-in right after succeeds.
//!
//! Runs in `cargo test` (debug build: argon2 is optimised in the dev
//! profile, so the memory behaviour is the release one). For the figures
//! of SECURITY.md: `cargo test --release -p server --test load -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn sign_in_status(addr: &str, email: &str, password: &str) -> u16 {
    let body = json!({"email": email, "password": password}).to_string();
    let request = format!(
        "POST /auth/user/password/sign_in HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[test]
#[cfg(target_os = "linux")]
fn f01_hostile_sign_ins_stay_within_the_hashing_memory_bound() {
    const PERMITS: u64 = 2;
    const ARGON2_KIB: u64 = 19 * 1024;
    let permits = PERMITS.to_string();
    let s = Server::start_with(None, &[("HASH_CONCURRENCY", permits.as_str())]);
    let reg = json!({"email": "ada@example.com", "password": "correct horse", "password_confirmation": "correct horse"});
    assert_eq!(
        s.call(
            "POST",
            "/auth/user/password/register",
            None,
            Some(&reg.to_string())
        )
        .0,
        201
    );
    let pid = s.pid();
    let idle = proc_kib(pid, "VmRSS");

    let n = 600;
    let barrier = Arc::new(Barrier::new(n));
    let start = Instant::now();
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let (addr, barrier) = (s.addr.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                if i % 2 == 0 {
                    sign_in_status(&addr, &format!("nobody{i}@example.com"), "wrong password")
                } else {
                    sign_in_status(&addr, "ada@example.com", &format!("wrong password {i}"))
                }
            })
        })
        .collect();
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let took = start.elapsed();
    let (unauthorized, unavailable) = (
        statuses.iter().filter(|&&s| s == 401).count(),
        statuses.iter().filter(|&&s| s == 503).count(),
    );
    let peak = proc_kib(pid, "VmHWM");
    let after = proc_kib(pid, "VmRSS");
    let bound = idle + PERMITS * ARGON2_KIB + 100 * 1024;
    println!(
        "load: {n} hostile sign-ins in {took:.2?}: {unauthorized} × 401, {unavailable} × 503; \
         RSS idle {} MiB, peak {} MiB, after {} MiB; bound {} MiB",
        idle / 1024,
        peak / 1024,
        after / 1024,
        bound / 1024
    );
    assert_eq!(
        unauthorized + unavailable,
        n,
        "only 401 or 503: {statuses:?}"
    );
    assert!(unauthorized > 0);
    assert!(
        peak <= bound,
        "peak RSS {peak} KiB over the bound {bound} KiB"
    );
    // The server is alive and a normal sign-in works right after.
    let ok = sign_in_status(&s.addr, "ada@example.com", "correct horse");
    assert_eq!(ok, 200);
}
