//! The demo's sender: it sends no mail. With `OUTBOX=<path>` it appends one
//! JSON line per message, `{"to", "kind", "token", "link"}` (`kind`:
//! `password_reset`, `magic_link` or `confirm`); without it, it prints the
//! same line on standard output after `dev mail: `. This is the only place
//! the demo writes a token anywhere.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use auth_core::{Message, SendFuture, Sender};
use serde_json::json;

use crate::model::User;

#[derive(Debug)]
pub struct Outbox {
    path: Option<PathBuf>,
    base: String,
    /// One writer at a time, so lines never interleave.
    lock: Mutex<()>,
}

impl Outbox {
    /// `OUTBOX` from the environment; links point at `base` (`http://addr`).
    pub fn from_env(base: String) -> Self {
        Self {
            path: std::env::var_os("OUTBOX")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            base,
            lock: Mutex::new(()),
        }
    }

    fn write(&self, line: &str) -> Result<(), String> {
        let _guard = self.lock.lock().map_err(|_| "outbox lock poisoned")?;
        match &self.path {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{line}"))
                .map_err(|e| format!("cannot write {}: {e}", path.display())),
            // Standard output may be closed (a supervisor that read the
            // first line): the mail is then lost, never the server.
            None => {
                let _ = writeln!(std::io::stdout(), "dev mail: {line}");
                Ok(())
            }
        }
    }
}

impl Sender<User> for Outbox {
    fn send<'a>(&'a self, message: Message<'a, User>) -> SendFuture<'a> {
        Box::pin(async move {
            let kind = message.purpose.as_str();
            let link = match kind {
                "password_reset" => format!("{}/password/reset?token={}", self.base, message.token),
                "magic_link" => format!("{}/magic_link?token={}", self.base, message.token),
                "confirm" => format!("{}/confirm?token={}", self.base, message.token),
                _ => format!("{}/?token={}", self.base, message.token),
            };
            let line = json!({
                "to": message.user.email,
                "kind": kind,
                "token": message.token,
                "link": link,
            });
            self.write(&line.to_string())
        })
    }
}
