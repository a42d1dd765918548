//! Shared set-up for the benchmarks: an allow-list `Auth` on a fresh Postgres
//! schema with one user and one token, and bulk row filling in SQL.

use auth_core::{Auth, ExtraClaims, UserStore};
use auth_postgres::PgStore;

use crate::pg::TestDb;
use crate::{User, settings};

/// An allow-list runtime on a fresh schema, a stored user and a live token.
pub async fn pg_auth() -> (TestDb, Auth<User, PgStore>, User, String) {
    let db = crate::pg::fresh_db().await;
    let auth = Auth::from_settings(settings(true), db.store.clone()).expect("auth");
    let user = User::new("ada@example.com");
    auth.store().insert_user(&user).await.expect("insert user");
    let token = auth
        .token_for_user(&user, ExtraClaims::new())
        .await
        .expect("issue")
        .token;
    (db, auth, user, token)
}

/// Inserts `n` rows into `tokens` expiring `expires_in` from now (an SQL
/// interval such as `'-1 hour'`), in one statement.
pub async fn fill_tokens(store: &PgStore, n: u64, expires_in: &str, tag: &str) {
    let sql = format!(
        "INSERT INTO tokens (jti, subject, expires_at, purpose) \
         SELECT '{tag}-' || g, 'user?id=' || g, now() + interval '{expires_in}', 'user' \
         FROM generate_series(1, {n}) g"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(store.pool())
        .await
        .expect("fill tokens");
    sqlx::raw_sql("ANALYZE tokens")
        .execute(store.pool())
        .await
        .expect("analyze");
}

/// p50, p99 and max of latencies, in microseconds.
pub fn percentiles(mut samples: Vec<std::time::Duration>) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99), at(1.0))
}
