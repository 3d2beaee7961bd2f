//! `kollect-bench`: measures the collection engine against a kollect-testkit API server, with
//! the collector in its own process, and the `kubectl get -o json | jq` baseline a user would
//! otherwise write, in the same run.
//!
//! ```sh
//! cargo build --release -p kollect-testkit -p kollect-bench
//! target/release/kollect-bench run --objects 10000
//! ```
//!
//! Figures: initial sync time, collector RSS per object, collector CPU seconds, event→row
//! latency p50/p99 under churn, API requests made; baseline elapsed time and peak RSS.

use std::{
    io::{BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use kollect_aggregate::{
    Snapshot,
    schedule::{Binding, Schedule, Signals, Timing, drive},
};
use kollect_api::{row::Gvk, v1alpha1::ProfileSpec};
use kollect_collect::{RawObject, Shape, Store, TargetKey, TargetRows, WatchScope, Watches};
use kollect_extract::{ExtractOptions, Extractor, plan::WatchShape};
use kube::{
    Api, Client,
    api::{DynamicObject, GroupVersionKind, Patch, PatchParams},
    discovery::ApiResource,
};
use serde_json::json;

/// Benchmark harness for Kollect's collection engine.
#[derive(Parser, Debug)]
#[command(name = "kollect-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command_,
}

#[derive(Subcommand, Debug)]
enum Command_ {
    /// Start a testkit server, load objects, run the baseline and the collector, churn, report.
    Run {
        /// `ConfigMap`s to create.
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        /// Namespaces to spread them over.
        #[arg(long, default_value_t = 100)]
        namespaces: usize,
        /// Approximate size of each `ConfigMap` in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Changes per second during the latency phase.
        #[arg(long, default_value_t = 100)]
        churn_rate: u32,
        /// Seconds of churn.
        #[arg(long, default_value_t = 20)]
        churn_seconds: u64,
    },
    /// The collector process (started by `run`; reads `report` on stdin).
    #[command(hide = true)]
    Collector {
        /// kubeconfig of the API server.
        #[arg(long)]
        kubeconfig: PathBuf,
    },
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The 5-attribute profile of the benchmark. Dotted label keys are escaped (`app\.kubernetes\.io`):
/// in the kubectl dialect `['a.b']` is split on its dots (pipeline spec JP-12).
fn profile() -> Result<Extractor> {
    let spec: ProfileSpec = serde_json::from_value(json!({
        "targetGVK": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "attributes": [
            {"name": "app", "path": "$.metadata.labels.app\\.kubernetes\\.io/name", "optional": true},
            {"name": "tier", "path": "$.metadata.labels.tier", "optional": true},
            {"name": "generation", "path": "$.metadata.annotations.kollect\\.dev/load-generation", "optional": true},
            {"name": "mode", "path": "$.data.mode", "optional": true},
            {"name": "sent", "path": "$.metadata.annotations.kollect\\.dev/bench-sent", "optional": true}
        ]
    }))
    .context("the benchmark profile does not decode")?;
    Extractor::compile_spec(&spec, false, &ExtractOptions::default())
        .map_err(|errors| anyhow::anyhow!("the benchmark profile does not compile: {errors:?}"))
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command name: state is index 0, utime 11, stime 12; 100 ticks per second.
    (ticks(11) + ticks(12)) / 100.0
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// What the collector records while it collects.
#[derive(Default)]
struct Records {
    /// Event→row latencies of stamped changes, in µs.
    latencies: Mutex<Vec<u64>>,
    /// Objects the extractor refused.
    failures: Mutex<u64>,
    /// Send stamps of changes not exported yet, for event→snapshot latency.
    pending: Mutex<Vec<u128>>,
}

/// The benchmark's row maker: one-pass extraction, plus the latency of stamped changes.
fn row_maker(
    extractor: Extractor,
    records: Arc<Records>,
) -> impl Fn(&RawObject<'_>) -> Option<kollect_api::row::Row> + Send + Sync + 'static {
    move |object| {
        let Ok(extracted) = extractor.extract_from_slice(object.json.as_bytes()) else {
            *lock(&records.failures) += 1;
            return None;
        };
        let sent = extracted
            .row
            .attributes
            .to_map()
            .get("sent")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<u128>().ok());
        if let Some(sent) = sent {
            lock(&records.pending).push(sent);
            let micros = u64::try_from(now_nanos().saturating_sub(sent) / 1000).unwrap_or(u64::MAX);
            lock(&records.latencies).push(micros);
        }
        Some(extracted.row)
    }
}

async fn client(kubeconfig: &Path) -> Result<Client> {
    let config = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(Client::try_from(config)?)
}

#[allow(clippy::too_many_lines)] // one measurement script, top to bottom
async fn collector(kubeconfig: &Path) -> Result<()> {
    let rss_start = proc_status_kib("VmRSS:");
    let start = Instant::now();
    let extractor = profile()?;
    let shape = match extractor.watch_shape() {
        WatchShape::MetadataOnly => Shape::Metadata,
        WatchShape::Trimmed(_) | WatchShape::Full => Shape::Full,
    };
    let store = Arc::new(Store::new());
    let records = Arc::new(Records::default());
    let consumer = TargetRows::new(
        Arc::clone(&store),
        TargetKey::cluster("all", "configmaps"),
        Gvk::new("", "v1", "ConfigMap"),
        row_maker(extractor, Arc::clone(&records)),
    );
    // The export schedule's change signal: every store change.
    let (changes, changes_rx) = tokio::sync::watch::channel(0_u64);
    let mut store_changes = store.subscribe();
    let forward = tokio::spawn(async move {
        while let Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) =
            store_changes.recv().await
        {
            changes.send_modify(|n| *n += 1);
        }
    });
    let client = client(kubeconfig).await?;
    let watches = Watches::new(client);
    let gvk = GroupVersionKind::gvk("", "v1", "ConfigMap");
    let mut subscription = watches
        .subscribe(&gvk, WatchScope::Cluster, shape, consumer)
        .await?;
    subscription.synced().await;
    let synced = start.elapsed();
    let rows = store.count("all");
    let snapshot_start = Instant::now();
    let fingerprint = Snapshot::new(store.snapshot("all")).fingerprint();
    let snapshot = snapshot_start.elapsed();
    let rss = proc_status_kib("VmRSS:");
    out(&format!(
        "synced seconds={:.3} rows={rows} rss_start_kib={rss_start} rss_kib={rss} cpu_s={:.2} snapshot_s={:.3} fingerprint={fingerprint} shape={shape:?}",
        synced.as_secs_f64(),
        cpu_seconds(),
        snapshot.as_secs_f64(),
    ));
    // Exports: the schedule of one binding, snapshotting the shard when due (debounce 200 ms,
    // at most 1 s late, no interval); "exporting" records how long each change waited.
    let (synced_tx, synced_rx) = tokio::sync::watch::channel(true);
    let (requests_tx, requests_rx) = tokio::sync::watch::channel(0);
    let signals = Signals {
        changes: changes_rx,
        synced: synced_rx,
        requests: requests_rx,
    };
    let timing = Timing {
        quiet: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
        interval: Duration::ZERO,
        floor: Duration::ZERO,
    };
    let exported = Arc::new(Mutex::new(Vec::<u64>::new()));
    let mut binding = SnapshotExport {
        store: Arc::clone(&store),
        records: Arc::clone(&records),
        exported: Arc::clone(&exported),
    };
    let driver = tokio::spawn(async move {
        drive(Schedule::default(), timing, signals, &mut binding).await;
    });
    // Wait for `report` on stdin, then print latencies.
    let mut line = String::new();
    tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await??;
    let mut latencies = lock(&records.latencies).clone();
    latencies.sort_unstable();
    out(&format!(
        "report events={} p50_us={} p99_us={} max_us={} rows={} rss_kib={} hwm_kib={} cpu_s={:.2} failures={}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        store.count("all"),
        proc_status_kib("VmRSS:"),
        proc_status_kib("VmHWM:"),
        cpu_seconds(),
        *lock(&records.failures),
    ));
    driver.abort();
    forward.abort();
    drop((synced_tx, requests_tx));
    let mut waited = lock(&exported).clone();
    waited.sort_unstable();
    out(&format!(
        "exports changes={} p50_us={} p99_us={} max_us={}",
        waited.len(),
        percentile(&waited, 0.5),
        percentile(&waited, 0.99),
        waited.last().copied().unwrap_or(0)
    ));
    drop(subscription);
    Ok(())
}

/// The `p` quantile (0..=1) of sorted values; 0 for none.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The benchmark's export: the whole shard's snapshot, built and fingerprinted when the
/// schedule says so; every change waiting since the last export gets its latency recorded.
struct SnapshotExport {
    store: Arc<Store>,
    records: Arc<Records>,
    exported: Arc<Mutex<Vec<u64>>>,
}

impl Binding for SnapshotExport {
    fn payload(&mut self) -> (String, i64) {
        (Snapshot::new(self.store.snapshot("all")).fingerprint(), 1)
    }

    fn export(
        &mut self,
        _digest: &str,
    ) -> impl std::future::Future<Output = Result<(), Duration>> + Send {
        let now = now_nanos();
        let waited: Vec<u64> = std::mem::take(&mut *lock(&self.records.pending))
            .into_iter()
            .map(|sent| u64::try_from(now.saturating_sub(sent) / 1000).unwrap_or(u64::MAX))
            .collect();
        lock(&self.exported).extend(waited);
        std::future::ready(Ok(()))
    }
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found next to {}; build both first: cargo build --release -p kollect-testkit -p kollect-bench",
            name,
            exe.display()
        );
    }
    Ok(path)
}

/// Reads lines of a child's stdout until one starts with `prefix`.
fn wait_line(reader: &mut impl std::io::BufRead, prefix: &str) -> Result<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("the child process ended before printing {prefix:?}");
        }
        if line.starts_with(prefix) {
            return Ok(line.trim().to_owned());
        }
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field_ms(line: &str, name: &str) -> String {
    field(line, name)
        .parse::<f64>()
        .map_or("?".to_owned(), |us| format!("{:.1}", us / 1000.0))
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("?")
}

#[allow(clippy::too_many_lines)]
async fn run(
    objects: usize,
    namespaces: usize,
    size: usize,
    churn_rate: u32,
    churn_seconds: u64,
) -> Result<()> {
    let testkit = sibling("kollect-testkit")?;
    let dir = std::env::temp_dir().join(format!("kollect-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let kubeconfig = dir.join("kubeconfig");
    let mut server = Killed(
        Command::new(&testkit)
            .args([
                "serve",
                "--port",
                "0",
                "--no-kollect-crds",
                "--history",
                "1000000",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .spawn()
            .context("failed to start kollect-testkit")?,
    );
    let mut server_out = BufReader::new(server.0.stdout.take().context("no stdout")?);
    wait_line(&mut server_out, "press Ctrl-C")?;
    out(&format!(
        "| objects | {objects} ConfigMaps of ~{size} B in {namespaces} namespaces |"
    ));

    let start = Instant::now();
    let load = Command::new(&testkit)
        .args(["load", "--kubeconfig"])
        .arg(&kubeconfig)
        .args([
            "--count",
            &objects.to_string(),
            "--namespaces",
            &namespaces.to_string(),
            "--size",
            &size.to_string(),
            "--concurrency",
            "32",
        ])
        .stdout(Stdio::null())
        .status()?;
    if !load.success() {
        bail!("loading objects failed");
    }
    out(&format!(
        "| load through the API | {:.1} s |",
        start.elapsed().as_secs_f64()
    ));

    let jq = "[.items[] | {namespace: .metadata.namespace, name: .metadata.name, uid: .metadata.uid, app: .metadata.labels[\"app.kubernetes.io/name\"], tier: .metadata.labels.tier, generation: .metadata.annotations[\"kollect.dev/load-generation\"], mode: .data.mode}] | length";
    let script = format!(
        "kubectl --kubeconfig '{}' get configmaps -A -o json | jq '{jq}'",
        kubeconfig.display()
    );
    let baseline = Command::new("/usr/bin/time")
        .args(["-f", "time %e %M"])
        .args(["sh", "-c", &script])
        .env("HOME", &dir)
        .output()
        .context("the baseline needs /usr/bin/time, kubectl and jq")?;
    let stderr = String::from_utf8_lossy(&baseline.stderr);
    let timing = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("time "))
        .unwrap_or("time ? ?")
        .to_owned();
    let parts: Vec<&str> = timing.split_whitespace().collect();
    out(&format!(
        "| baseline `kubectl get -A -o json \\| jq` (7 fields) | {} s, peak RSS {} MiB (largest process), {} rows |",
        parts.get(1).unwrap_or(&"?"),
        parts
            .get(2)
            .and_then(|k| k.parse::<u64>().ok())
            .map_or("?".to_owned(), |k| (k / 1024).to_string()),
        String::from_utf8_lossy(&baseline.stdout).trim()
    ));

    let client = client(&kubeconfig).await?;
    let clear = http::Request::delete("/testkit/requests").body(Vec::new())?;
    client.request_text(clear).await.ok();
    let mut collector = Killed(
        Command::new(std::env::current_exe()?)
            .args(["collector", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let mut stdin: ChildStdin = collector.0.stdin.take().context("no stdin")?;
    let mut reader = BufReader::new(collector.0.stdout.take().context("no stdout")?);
    let synced = wait_line(&mut reader, "synced")?;
    let rss_start: f64 = field(&synced, "rss_start_kib").parse().unwrap_or(0.0);
    let rss: f64 = field(&synced, "rss_kib").parse().unwrap_or(0.0);
    #[allow(clippy::cast_precision_loss)]
    let per_object = (rss - rss_start) * 1024.0 / objects as f64;
    out(&format!(
        "| collector: initial sync (list + extract {} rows, shape {}) | {} s |",
        field(&synced, "rows"),
        field(&synced, "shape"),
        field(&synced, "seconds")
    ));
    out(&format!(
        "| collector RSS after sync | {:.0} MiB ({:.0} B per object over the {:.0} MiB at start) |",
        rss / 1024.0,
        per_object,
        rss_start / 1024.0
    ));
    out(&format!(
        "| collector CPU for the sync | {} s |",
        field(&synced, "cpu_s")
    ));
    out(&format!(
        "| snapshot of all rows (sort + fingerprint) | {} s |",
        field(&synced, "snapshot_s")
    ));

    // Churn: annotate objects with the send time at `churn_rate` per second.
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("", "v1", "ConfigMap"),
        "configmaps",
    );
    let period = Duration::from_secs_f64(1.0 / f64::from(churn_rate.max(1)));
    let mut ticker = tokio::time::interval(period);
    let churn_start = Instant::now();
    let mut sent = 0usize;
    while churn_start.elapsed() < Duration::from_secs(churn_seconds) {
        ticker.tick().await;
        let index = (sent * 7919) % objects;
        let namespace = format!("load-{}", index % namespaces.max(1));
        let name = format!("load-{index:06}");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
        let patch = json!({"metadata": {"annotations": {"kollect.dev/bench-sent": now_nanos().to_string()}}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        sent += 1;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    writeln!(stdin, "report")?;
    let report = wait_line(&mut reader, "report")?;
    let micros = |name: &str| {
        field(&report, name)
            .parse::<f64>()
            .map_or("?".to_owned(), |us| format!("{:.1}", us / 1000.0))
    };
    out(&format!(
        "| event→row latency at {churn_rate} changes/s ({} of {sent} changes seen) | p50 {} ms, p99 {} ms, max {} ms |",
        field(&report, "events"),
        micros("p50_us"),
        micros("p99_us"),
        micros("max_us")
    ));
    let exports = wait_line(&mut reader, "exports")?;
    out(&format!(
        "| event→snapshot export (schedule: 200 ms quiet, ≤ 1 s delay; snapshot of all rows built per export) | p50 {} ms, p99 {} ms, max {} ms over {} changes |",
        field_ms(&exports, "p50_us"),
        field_ms(&exports, "p99_us"),
        field_ms(&exports, "max_us"),
        field(&exports, "changes")
    ));
    out(&format!(
        "| collector CPU in all (sync + churn) | {} s; peak RSS {} MiB |",
        field(&report, "cpu_s"),
        field(&report, "hwm_kib")
            .parse::<u64>()
            .map_or("?".to_owned(), |k| (k / 1024).to_string())
    ));
    let log = client
        .request_text(http::Request::get("/testkit/requests").body(Vec::new())?)
        .await?;
    let records: Vec<serde_json::Value> = serde_json::from_str(&log)?;
    let count = |verb: &str| {
        records
            .iter()
            .filter(|r| r["verb"] == verb && r["resource"] == "configmaps")
            .count()
    };
    out(&format!(
        "| API requests by the collector | {} list pages, {} watch |",
        count("list"),
        count("watch")
    ));
    drop(collector);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command_::Run {
            objects,
            namespaces,
            size,
            churn_rate,
            churn_seconds,
        } => run(objects, namespaces, size, churn_rate, churn_seconds).await,
        Command_::Collector { kubeconfig } => collector(&kubeconfig).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
