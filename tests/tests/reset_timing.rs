//! A password-reset request answers in the same time for a known and an
//! unknown identity, and the request queue drains at the same rate for
//! both, on every store. Alone in its binary: the answer takes
//! microseconds, below the noise of tests running beside it, so the two
//! tests take turns ([`ALONE`]): run side by side, one's load skewed the
//! other's rates.

/// Held by each test for its whole run.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_take_the_same_time_for_a_known_and_an_unknown_identity() {
    let _alone = ALONE.lock().await;
    use auth_tests::conformance::{Memory, Postgres, Sqlite};
    use auth_tests::special::requests_take_the_same_time_for_a_known_and_an_unknown_identity as same_time;
    same_time(Memory).await;
    same_time(Sqlite).await;
    same_time(Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h3_02_a_full_queue_drains_alike_for_known_and_unknown_addresses() {
    let _alone = ALONE.lock().await;
    use auth_tests::conformance::{Memory, Postgres, Sqlite};
    use auth_tests::special::h3_02_a_full_queue_drains_alike_for_known_and_unknown_addresses as drains;
    drains(Memory).await;
    drains(Sqlite).await;
    drains(Postgres).await;
}
