//! The demo server binary, started on a free loopback port and driven over
//! raw HTTP/1.1 (no client dependency).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const SECRET: &str = "e2e-secret-known-to-the-test-so-it-can-forge-expired-tokens";

pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(database_url: Option<&str>) -> Self {
        Self::start_with(database_url, &[])
    }

    pub fn start_with(database_url: Option<&str>, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.env("BIND", "127.0.0.1:0")
            .env("TOKEN_SIGNING_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // The caller's environment wins over the defaults above.
        cmd.envs(env.iter().copied());
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        let mut child = cmd.spawn().expect("start the server binary");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    /// One HTTP/1.1 request; returns the status and the JSON body (Null if none).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        self.call_with(method, path, bearer, body, "")
    }

    /// [`Server::call`] in a tenant (the `X-Tenant` header).
    pub fn call_in(
        &self,
        tenant: &str,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let tenant = format!("x-tenant: {tenant}\r\n");
        self.call_with(method, path, bearer, body, &tenant)
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
        extra_headers: &str,
    ) -> (u16, Value) {
        let mut headers = extra_headers.to_owned();
        if let Some(t) = bearer {
            headers.push_str(&format!("authorization: Bearer {t}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            headers.push_str("content-type: application/json\r\n");
        }
        self.raw(&format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n{headers}content-length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        ))
    }

    pub fn raw(&self, request: &str) -> (u16, Value) {
        let (status, _, json) = self.raw_with_headers(request);
        (status, json)
    }

    /// Status, header lines as sent, body text.
    pub fn raw_text(&self, request: &str) -> (u16, Vec<String>, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        let status: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let headers = head.lines().skip(1).map(str::to_owned).collect();
        (status, headers, body.to_owned())
    }

    /// Status, lower-cased header lines, JSON body.
    pub fn raw_with_headers(&self, request: &str) -> (u16, Vec<String>, Value) {
        let (status, headers, body) = self.raw_text(request);
        let headers = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
        let body = body.as_str();
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body)
                .unwrap_or_else(|_| panic!("non-JSON body {body:?} for {request:.60}"))
        };
        assert!(
            status < 500,
            "no 5xx on input: {status} {json} for {request:.80}"
        );
        (status, headers, json)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
