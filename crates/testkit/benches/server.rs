//! `cargo bench -p kollect-testkit --bench server`: the numbers of docs/performance.md
//! ("kollect-testkit"). Measures, over HTTPS on loopback with the superuser token:
//!
//! 1. creating N `ConfigMap`s of about 1 KiB through the API (16 in flight), and the process's
//!    resident memory once they are stored;
//! 2. listing them all with `limit=500` pages, and in one unpaginated list;
//! 3. watch events per second delivered to 1 and to 10 watchers while the objects are updated.
//!
//! `KOLLECT_BENCH_OBJECTS` sets N (default 100 000). Not a criterion bench: each number is one
//! long run, printed as a table row.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    missing_docs
)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kollect_testkit::{
    Options, TestApiServer,
    load::{LoadKind, LoadSpec},
};
use kube::{Api, api::ListParams};

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Opens a raw watch and counts events (lines) until `expected` arrived; returns when.
async fn count_events(
    client: kube::Client,
    rv: String,
    expected: usize,
    received: Arc<AtomicUsize>,
) -> Instant {
    let uri =
        format!("/api/v1/configmaps?watch=true&resourceVersion={rv}&allowWatchBookmarks=false");
    let request = http::Request::get(uri).body(Vec::new()).unwrap();
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(data) = frame.data_ref() {
            let lines = data.iter().filter(|b| **b == b'\n').count();
            seen += lines;
            received.fetch_add(lines, Ordering::Relaxed);
            if seen >= expected {
                return Instant::now();
            }
        }
    }
    panic!("watch ended after {seen} of {expected} events");
}

/// Waits for every watcher, failing loudly (instead of hanging) if one stalls.
async fn join(
    tasks: Vec<tokio::task::JoinHandle<Instant>>,
    received: &AtomicUsize,
    expected: usize,
) -> Instant {
    let mut last = None::<Instant>;
    for task in tasks {
        let done = tokio::time::timeout(Duration::from_secs(300), task)
            .await
            .unwrap_or_else(|elapsed| {
                panic!(
                    "a watcher stalled ({elapsed}): {} of {expected} events received in all",
                    received.load(Ordering::Relaxed)
                )
            })
            .unwrap();
        last = Some(last.map_or(done, |l| l.max(done)));
    }
    last.unwrap()
}

/// Watchers counting `expected` events from `rv`, and the shared count of events received.
async fn spawn_watchers(
    server: &TestApiServer,
    rv: &str,
    watchers: usize,
    expected: usize,
) -> (Vec<tokio::task::JoinHandle<Instant>>, Arc<AtomicUsize>) {
    let client = server.client().await.unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let tasks = (0..watchers)
        .map(|_| {
            let watch = count_events(
                client.clone(),
                rv.to_owned(),
                expected,
                Arc::clone(&received),
            );
            tokio::spawn(watch)
        })
        .collect();
    (tasks, received)
}

/// Makes `updates` changes through the server, 8 at a time.
async fn update(server: &TestApiServer, spec: &LoadSpec, updates: usize, round: u64) {
    let mut writes = futures::stream::iter(0..updates)
        .map(|i| server.apply(kollect_testkit::load::object(spec, i % spec.count, round)))
        .buffer_unordered(8);
    while let Some(result) = writes.next().await {
        result.unwrap();
    }
}

/// Live delivery: watchers open, then `updates` changes are made through the server.
/// Returns (updates made per second, events delivered per second over all watchers).
async fn live(
    server: &TestApiServer,
    spec: &LoadSpec,
    watchers: usize,
    updates: usize,
    round: u64,
) -> (f64, f64) {
    let rv = server.resource_version().to_string();
    let (tasks, received) = spawn_watchers(server, &rv, watchers, updates).await;
    // Let the watches open before the first update.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    update(server, spec, updates, round).await;
    let produced = start.elapsed();
    let last = join(tasks, &received, updates * watchers).await;
    (
        updates as f64 / produced.as_secs_f64(),
        (updates * watchers) as f64 / last.duration_since(start).as_secs_f64(),
    )
}

/// Live delivery without the writer as the bottleneck: watchers open, watch delivery is
/// paused, `updates` changes queue up (fewer than the 16 384 a watcher may fall behind), then
/// delivery resumes. Returns events delivered per second over all watchers.
async fn burst(
    server: &TestApiServer,
    spec: &LoadSpec,
    watchers: usize,
    updates: usize,
    round: u64,
) -> f64 {
    let rv = server.resource_version().to_string();
    let (tasks, received) = spawn_watchers(server, &rv, watchers, updates).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.inject(kollect_testkit::Fault::PauseWatches);
    update(server, spec, updates, round).await;
    let start = Instant::now();
    server.inject(kollect_testkit::Fault::ResumeWatches);
    let last = join(tasks, &received, updates * watchers).await;
    (updates * watchers) as f64 / last.duration_since(start).as_secs_f64()
}

/// Catch-up delivery: watchers start from a resourceVersion `updates` events back and replay
/// them from the history. Returns events delivered per second over all watchers.
async fn replay(server: &TestApiServer, from: &str, watchers: usize, updates: usize) -> f64 {
    let start = Instant::now();
    let (tasks, received) = spawn_watchers(server, from, watchers, updates).await;
    let last = join(tasks, &received, updates * watchers).await;
    (updates * watchers) as f64 / last.duration_since(start).as_secs_f64()
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("KOLLECT_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let before = rss_kib("VmRSS:");
    let server = TestApiServer::start(Options {
        history_limit: 200_000,
        kollect_crds: false,
        ..Options::default()
    })
    .await
    .unwrap();
    let client = server.client().await.unwrap();
    let spec = LoadSpec {
        kind: LoadKind::ConfigMap,
        count,
        namespaces: 100,
        size: 1024,
        prefix: "bench".into(),
        concurrency: 16,
    };
    let sample = serde_json::to_vec(&kollect_testkit::load::object(&spec, 1, 0))
        .unwrap()
        .len();
    let report = kollect_testkit::load::populate(&client, &spec, &|_| {})
        .await
        .unwrap();
    let after = rss_kib("VmRSS:");
    println!("| step | result |");
    println!("|---|---|");
    println!(
        "| create {count} ConfigMaps of {sample} B over HTTPS (16 in flight) | {:.1} s, {:.0} objects/s |",
        report.elapsed.as_secs_f64(),
        report.rate()
    );
    println!(
        "| RSS after storing them (process, incl. client) | {} MiB (start {} MiB; +{:.2} KiB per object) |",
        after / 1024,
        before / 1024,
        (after - before) as f64 / count as f64
    );

    let cms: Api<ConfigMap> = Api::all(client.clone());
    let start = Instant::now();
    let mut params = ListParams::default().limit(500);
    let mut listed = 0;
    loop {
        let page = cms.list(&params).await.unwrap();
        listed += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    let paginated = start.elapsed();
    assert_eq!(listed, count);
    println!(
        "| list all, limit=500 ({} pages, typed client decode included) | {:.2} s |",
        count.div_ceil(500),
        paginated.as_secs_f64()
    );
    let start = Instant::now();
    let all = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), count);
    println!(
        "| list all in one response | {:.2} s |",
        start.elapsed().as_secs_f64()
    );
    drop(all);

    let updates = 20_000.min(count);
    for (round, watchers) in [1, 10].into_iter().enumerate() {
        let from = server.resource_version().to_string();
        let (produced, delivered) = live(&server, &spec, watchers, updates, round as u64 + 1).await;
        println!(
            "| live: {updates} updates while {watchers} watcher(s) watch | {delivered:.0} events/s delivered in all (updates made at {produced:.0}/s) |"
        );
        let delivered = replay(&server, &from, watchers, updates).await;
        println!(
            "| catch-up: {watchers} watcher(s) replay {updates} events from history | {delivered:.0} events/s delivered in all |"
        );
        let queued = 15_000.min(count);
        let delivered = burst(&server, &spec, watchers, queued, round as u64 + 10).await;
        println!(
            "| burst: {queued} queued live events released to {watchers} watcher(s) | {delivered:.0} events/s delivered in all |"
        );
    }
    println!("| peak RSS of the run | {} MiB |", rss_kib("VmHWM:") / 1024);
}
