//! Shared helpers of the testkit's integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::panic
)]

use std::{future::Future, time::Duration};

use kollect_testkit::{Options, TestApiServer};

/// How long a test waits for a client to converge before failing. Generous: this bounds a hang,
/// it does not measure speed.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// A server with fast bookmarks and no Kollect CRDs.
pub async fn server() -> TestApiServer {
    server_with(Options::default()).await
}

/// A server with fast bookmarks, no Kollect CRDs and the given overrides.
pub async fn server_with(options: Options) -> TestApiServer {
    TestApiServer::start(Options {
        bookmark_interval: Duration::from_millis(200),
        kollect_crds: false,
        ..options
    })
    .await
    .expect("the test API server starts")
}

/// Polls `check` until it returns true; panics after [`CONVERGE`] naming `what`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
