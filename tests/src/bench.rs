//! Shared set-up for the benchmarks: an allow-list `Auth` on a fresh Postgres
//! schema with one user and one token, and bulk row filling in SQL.

use auth_core::{Auth, ExtraClaims, TokenFacts, UserResource, UserStore};
use auth_postgres::PgStore;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use crate::pg::TestDb;
use crate::{SECRET, User, settings};

/// The hand-written baselines' JWT work: the keys of [`SECRET`] and the
/// checks `authenticate` makes (HS256, this application as audience and
/// issuer).
pub struct Jwt {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    app: String,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Default for Jwt {
    fn default() -> Self {
        let app = auth_core::application_name();
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[app.as_str()]);
        validation.set_issuer(&[app.as_str()]);
        Self {
            decoding: DecodingKey::from_secret(SECRET.as_bytes()),
            encoding: EncodingKey::from_secret(SECRET.as_bytes()),
            validation,
            app,
        }
    }
}

impl Jwt {
    /// Decodes and checks `token` (signature, expiry, audience, issuer):
    /// its claims.
    pub fn claims(&self, token: &str) -> Value {
        jsonwebtoken::decode::<Value>(token, &self.decoding, &self.validation)
            .expect("baseline decode")
            .claims
    }

    /// Signs a token of `purpose` for `subject` living `ttl_secs`, with the
    /// registered claims ours carries and `extra` merged in (`role`, `sid`):
    /// the token, its jti and its expiry (Unix seconds).
    pub fn sign(
        &self,
        subject: &str,
        purpose: &str,
        ttl_secs: i64,
        extra: Value,
    ) -> (String, String, i64) {
        let now = chrono::Utc::now().timestamp();
        let jti = auth_core::new_jti();
        let mut claims = json!({
            "sub": subject, "jti": jti, "iat": now, "nbf": now, "exp": now + ttl_secs,
            "iss": self.app, "aud": self.app, "purpose": purpose,
        });
        if let (Value::Object(claims), Value::Object(extra)) = (&mut claims, extra) {
            claims.extend(extra);
        }
        let token = jsonwebtoken::encode(&Header::default(), &claims, &self.encoding)
            .expect("baseline encode");
        (token, jti, now + ttl_secs)
    }

    /// The token `token_for_user` issues `user` with the test settings
    /// (14 days, the `role` claim): the token, its jti and its expiry.
    pub fn user_token(&self, user: &User) -> (String, String, i64) {
        self.sign(
            &user.subject(),
            "user",
            14 * 86_400,
            json!({"role": user.role}),
        )
    }
}

/// A user as the baselines select it: id (as text), email, hash, role.
impl From<(String, String, String, String)> for User {
    fn from((id, email, hashed_password, role): (String, String, String, String)) -> Self {
        Self {
            id: id.parse().expect("a uuid"),
            email,
            hashed_password,
            role,
        }
    }
}

/// A token of `user`'s to revoke, living an hour: a fresh one per
/// iteration, so no revocation finds its row already revoked.
pub fn fresh_facts(user: &User) -> TokenFacts {
    TokenFacts {
        jti: auth_core::new_jti(),
        subject: user.subject(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        tenant: None,
    }
}

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

/// Wall time of `ops` operations spread over `tasks` tasks (the interleaved
/// benchmarks' round).
pub async fn round<F, Fut>(tasks: usize, ops: usize, op: F) -> std::time::Duration
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = std::sync::Arc::new(op);
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                for _ in (t..ops).step_by(tasks) {
                    op().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    started.elapsed()
}

/// Ours against a baseline, interleaved: `rounds` rounds (after one
/// warm-up) alternate `ops` operations of each on `tasks` tasks, so drift
/// on the shared cores hits both alike; which of the two goes first
/// alternates too (every other round the baseline does), so neither
/// always follows the other.
#[derive(Clone, Copy, Debug)]
pub struct Interleaved {
    /// Ours, microseconds per operation over every round.
    pub ours_us: f64,
    /// The baseline, microseconds per operation over every round.
    pub base_us: f64,
    /// The median of the per-round ratios (ours ÷ baseline).
    pub median: f64,
    /// The smallest per-round ratio.
    pub min: f64,
    /// The largest per-round ratio.
    pub max: f64,
}

impl Interleaved {
    /// The table cells: ours, the baseline, the median ratio (min–max).
    pub fn cells(&self) -> String {
        format!(
            "{:.1} µs | {:.1} µs | **{:.2}x** ({:.2}–{:.2})",
            self.ours_us, self.base_us, self.median, self.min, self.max
        )
    }
}

/// Runs [`Interleaved`] rounds of `ours` and `base`.
pub async fn interleave<A, FA, B, FB>(
    tasks: usize,
    rounds: usize,
    ops: usize,
    ours: A,
    base: B,
) -> Interleaved
where
    A: Fn() -> FA + Clone + Send + Sync + 'static,
    FA: std::future::Future<Output = ()> + Send,
    B: Fn() -> FB + Clone + Send + Sync + 'static,
    FB: std::future::Future<Output = ()> + Send,
{
    let mut ratios = Vec::with_capacity(rounds);
    let (mut ours_total, mut base_total) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for r in 0..=rounds {
        let (a, b) = if r % 2 == 0 {
            let a = round(tasks, ops, ours.clone()).await;
            (a, round(tasks, ops, base.clone()).await)
        } else {
            let b = round(tasks, ops, base.clone()).await;
            (round(tasks, ops, ours.clone()).await, b)
        };
        if r == 0 {
            continue; // warm-up
        }
        ours_total += a;
        base_total += b;
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let per_op = |d: std::time::Duration| d.as_secs_f64() * 1e6 / (rounds * ops) as f64;
    Interleaved {
        ours_us: per_op(ours_total),
        base_us: per_op(base_total),
        median: ratios[ratios.len() / 2],
        min: ratios[0],
        max: ratios[ratios.len() - 1],
    }
}
