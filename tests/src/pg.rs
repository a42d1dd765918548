//! PostgreSQL for tests: `DATABASE_URL` when set, else a throwaway cluster
//! started once per test binary from the `initdb`/`postgres` on the PATH.
//! Each test gets a fresh schema, dropped when its guard goes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;

use auth_postgres::{PgConnectOptions, PgPoolOptions, PgStore};

/// A store on a fresh schema of its own; the schema is dropped on drop.
#[derive(Debug)]
pub struct TestDb {
    pub store: PgStore,
    pub schema: String,
    url: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// The server to test against (`DATABASE_URL`, or a throwaway cluster).
pub fn database_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => match throwaway_cluster() {
            Ok(url) => url,
            Err(why) => panic!(
                "the PostgreSQL tests need a server and found none: {why}\n\
                 Either set DATABASE_URL=postgres://user@host:port/db, or install PostgreSQL \
                 (Debian: `apt-get install postgresql`) so `initdb` and `postgres` are on the PATH."
            ),
        },
    })
    .clone()
}

/// A `PgStore` on a fresh schema, with the token table and the test users table.
pub async fn fresh_db() -> TestDb {
    let url = database_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let options = PgConnectOptions::from_str(&url)
        .expect("DATABASE_URL parses")
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(12)
        .connect_with(options)
        .await
        .expect("connect to the test schema");
    let store = PgStore::new(pool);
    for table in ["tokens", "other_tokens", "legacy_tokens"] {
        let bound = store.clone().with_token_table(table).expect("a valid name");
        bound.migrate().await.expect("migrate");
    }
    sqlx::raw_sql(
        // `confirmed_at` (nullable) for the demo's confirmation add-on.
        "CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, \
         hashed_password text NOT NULL, role text NOT NULL, confirmed_at timestamptz)",
    )
    .execute(store.pool())
    .await
    .expect("users table");
    TestDb { store, schema, url }
}

fn throwaway_cluster() -> Result<String, String> {
    let which = |bin: &str| -> Option<PathBuf> {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| Path::new(d).join(bin))
            .find(|p| p.is_file())
    };
    let initdb = which("initdb").ok_or("`initdb` is not on the PATH")?;
    let postgres = which("postgres").ok_or("`postgres` is not on the PATH")?;
    let root = is_root();
    let dir = std::env::temp_dir().join(format!("auth-tests-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let data = dir.join("data");
    // As root, initdb and postgres refuse to run: drop to the `postgres` user.
    let run_as = |bin: &Path| -> Command {
        if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        }
    };
    if root {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| format!("chown: {e}"))?
            .success();
        if !ok {
            return Err(
                "running as root and cannot hand the data directory to the `postgres` user \
                        (is there a `postgres` user?)"
                    .into(),
            );
        }
    }
    let out = run_as(&initdb)
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync"])
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port()?;
    let log = std::fs::File::create(dir.join("postgres.log")).map_err(|e| e.to_string())?;
    let child = run_as(&postgres)
        .arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
        ])
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args(["-c", "fsync=off", "-c", "max_connections=200"])
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    // Stop the cluster and remove its files when this test process exits.
    // `child` may be `runuser`, not the postmaster: stop the postmaster by
    // the pid it records, then the wrapper.
    let watchdog = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; \
         pm=$(head -n1 '{data}/postmaster.pid' 2>/dev/null); \
         [ -n \"$pm\" ] && kill -INT \"$pm\" 2>/dev/null; \
         for i in 1 2 3 4 5 6 7 8 9 10; do [ -n \"$pm\" ] && kill -0 \"$pm\" 2>/dev/null || break; sleep 0.5; done; \
         [ -n \"$pm\" ] && kill -9 \"$pm\" 2>/dev/null; kill -9 {child} 2>/dev/null; rm -rf '{dir}'",
        me = std::process::id(),
        child = child.id(),
        data = data.display(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .spawn()
        .map_err(|e| format!("cannot start the cleanup watchdog: {e}"))?;
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            eprintln!(
                "auth-tests: started a throwaway PostgreSQL at {url} (data in {})",
                dir.display()
            );
            return Ok(url);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!(
        "postgres did not start; see {}",
        dir.join("postgres.log").display()
    ))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
