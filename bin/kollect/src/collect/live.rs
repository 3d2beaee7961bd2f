//! `kollect collect --watch`: the engine without CRDs. One shared watch per kind feeds the row
//! store; each target's envelope is rewritten (files, stdout) or exported to the config folder's
//! snapshot sinks through the export schedule (a quiet window, a maximum delay, nothing re-sent
//! unchanged, a failed export retried after [`RETRY_AFTER`] or the next change) until Ctrl-C or
//! SIGTERM, when pending changes are flushed before exiting.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use anyhow::{Context as _, Result};
use chrono::Utc;
use kollect_aggregate::{
    EnvelopeMeta, Snapshot,
    schedule::{Binding, Schedule, Signals, Timing, drive},
};
use kollect_api::{row::Row, v1alpha1::KollectTarget};
use kollect_collect::{
    RawObject, Shape, Store, TargetKey, TargetRows, WatchScope, Watches,
    filter::NamespaceInfo,
    matcher::{Matcher, Namespaces, ObjectView, Verdict},
};
use kollect_extract::{Extractor, WatchShape};
use kube::{Client, discovery::Scope};
use serde_json::Value;
use tokio::sync::watch;

use super::{
    Destination, EXIT_PARTIAL, Sent,
    config::{Config, namespace_of},
    run::{Options, Plan, truncate},
    send,
    sinks::{self, Built, Delivered},
    source::Source,
    write::Written,
};
use crate::{cli::EXIT_OK, output};

/// Back-off after a failed write or export (a full disk, a closed stdout, a sink that is down);
/// a change arriving meanwhile waits for it too, so a failing sink is not hammered.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What `--watch` needs besides the config.
pub(crate) struct WatchRun<'a> {
    /// Where to serve the read API, if anywhere (loopback, checked).
    pub(crate) http: Option<std::net::SocketAddr>,
    pub(crate) config: &'a Config,
    pub(crate) client: Client,
    pub(crate) context: String,
    pub(crate) cluster: String,
    pub(crate) destination: &'a Destination,
    /// The built sinks, with [`Destination::Sinks`].
    pub(crate) sinks: Vec<Built>,
    pub(crate) options: &'a Options,
    pub(crate) timing: Timing,
}

/// One target being watched.
struct Watched {
    key: TargetKey,
    export: Arc<Mutex<TargetExport>>,
    changes: watch::Sender<u64>,
    synced: watch::Sender<bool>,
    driver: tokio::task::JoinHandle<Schedule>,
    /// Dropping it ends the task that holds the watch subscription.
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub(crate) async fn run(mut watch: WatchRun<'_>) -> Result<u8> {
    let namespaces = Source::Live(watch.client.clone())
        .namespaces()
        .await
        .map_err(|failure| {
            anyhow::anyhow!(
                "context {}: cannot read namespaces ({failure}); is the cluster reachable?",
                watch.context
            )
        })?;
    let by_name: Arc<Namespaces> = Arc::new(
        namespaces
            .iter()
            .map(|ns| (ns.name.clone(), ns.clone()))
            .collect(),
    );
    let store = Arc::new(Store::new());
    if let Some(address) = watch.http {
        let bound = super::http::serve(address, Arc::clone(&store))
            .await
            .with_context(|| format!("cannot serve the read API on {address}"))?;
        output::error_line(&format!(
            "serving the read API on http://{bound}/v1alpha1/inventory"
        ));
    }
    let watches = Watches::new(watch.client.clone());
    let delivery = Arc::new(Delivery {
        context: watch.context.clone(),
        cluster: watch.cluster.clone(),
        destination: watch.destination.clone(),
        sinks: std::mem::take(&mut watch.sinks),
    });
    let mut targets = Vec::new();
    for target in &watch.config.targets {
        match start_target(
            &watch,
            &delivery,
            &target.object,
            &namespaces,
            &by_name,
            &store,
            &watches,
        )
        .await
        {
            Ok(target) => targets.push(target),
            Err(reason) => output::error_line(&format!(
                "warning: context {}: target {}/{} not watched: {reason}",
                watch.context,
                namespace_of(&target.object.metadata),
                target.object.metadata.name.as_deref().unwrap_or_default()
            )),
        }
    }
    if targets.is_empty() {
        anyhow::bail!("context {}: no target could be watched", watch.context);
    }
    output::error_line(&format!(
        "context {}: watching {} target(s); Ctrl-C or SIGTERM stops after writing pending changes",
        watch.context,
        targets.len()
    ));
    let forward = forward_changes(&store, &targets);
    shutdown_signal().await?;
    forward.abort();
    let mut code = EXIT_OK;
    for target in targets {
        // Dropping the senders ends the driver; what it had not exported yet is written now.
        let Watched {
            key,
            export,
            changes,
            synced,
            driver,
            _stop,
        } = target;
        drop((changes, synced));
        let schedule = driver.await.context("an export schedule failed")?;
        let pending = {
            let mut export = export.lock().unwrap_or_else(PoisonError::into_inner);
            let (digest, _) = export.payload();
            schedule
                .last()
                .is_none_or(|last| last.digest != digest)
                .then(|| export.pending())
        };
        if let Some(pending) = pending
            && let Err(error) = pending.write().await
        {
            code = EXIT_PARTIAL;
            output::error_line(&format!(
                "error: target {}/{}: the last changes were not written: {error:#}",
                key.namespace, key.name
            ));
        }
    }
    output::error_line(&format!("context {}: stopped", watch.context));
    Ok(code)
}

async fn start_target(
    watch: &WatchRun<'_>,
    delivery: &Arc<Delivery>,
    target: &KollectTarget,
    namespaces: &[NamespaceInfo],
    by_name: &Arc<Namespaces>,
    store: &Arc<Store>,
    watches: &Arc<Watches>,
) -> Result<Watched, String> {
    let profile = watch
        .config
        .profile_of(target)
        .ok_or("its profile is not in the config folder")?;
    let plan = Plan::new(target, profile, namespaces, watch.options)?;
    let gvk = &profile.spec.target_gvk;
    let kind = kube::core::GroupVersionKind::gvk(
        gvk.group.as_deref().unwrap_or_default(),
        &gvk.version,
        &gvk.kind,
    );
    let (_, capabilities) = kube::discovery::pinned_kind(&watch.client, &kind)
        .await
        .map_err(|e| format!("kind {}/{} not served: {e}", gvk.version, gvk.kind))?;
    let matcher = plan.matcher(target, capabilities.scope == Scope::Cluster)?;
    let shape = match plan.extractor.watch_shape() {
        WatchShape::MetadataOnly if !matcher.needs_object() => Shape::Metadata,
        _ => Shape::Full,
    };
    let key = TargetKey::namespaced(
        &namespace_of(&target.metadata),
        target.metadata.name.as_deref().unwrap_or_default(),
    );
    let rows = TargetRows::new(
        Arc::clone(store),
        key.clone(),
        plan.kind.clone(),
        row_maker(plan.extractor, matcher, Arc::clone(by_name), key.clone()),
    );
    let mut subscription = watches
        .subscribe_selected(
            &kind,
            WatchScope::Cluster,
            shape,
            plan.pushed_selector.clone(),
            rows,
        )
        .await
        .map_err(|e| e.to_string())?;
    let export = Arc::new(Mutex::new(TargetExport {
        store: Arc::clone(store),
        key: key.clone(),
        delivery: Arc::clone(delivery),
        snapshot: Arc::default(),
    }));
    let (changes, changes_rx) = watch::channel(0_u64);
    let (synced, synced_rx) = watch::channel(false);
    let (requests, requests_rx) = watch::channel(0_u64);
    let signals = Signals {
        changes: changes_rx,
        synced: synced_rx,
        requests: requests_rx,
    };
    let mut binding = Shared(Arc::clone(&export));
    let timing = watch.timing;
    let driver = tokio::spawn(async move {
        let _requests = requests; // kept alive: `drive` stops when a sender goes
        drive(Schedule::default(), timing, signals, &mut binding).await
    });
    // The subscription lives in this task: it reports the first sync, then holds the watch
    // until the run stops.
    let synced_sender = synced.clone();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            () = subscription.synced() => {
                let _ = synced_sender.send(true);
                let _ = (&mut stopped).await;
            }
            _ = &mut stopped => {}
        }
        drop(subscription);
    });
    Ok(Watched {
        key,
        export,
        changes,
        synced,
        driver,
        _stop: stop,
    })
}

/// Turns a watched object into the target's row: the target's filter first, then extraction in
/// one pass over the bytes. A refused or failing object has no row (and leaves the store).
fn row_maker(
    extractor: Extractor,
    matcher: Matcher,
    namespaces: Arc<Namespaces>,
    key: TargetKey,
) -> impl Fn(&RawObject<'_>) -> Option<Row> + Send + Sync + 'static {
    move |object| {
        let view = ObjectView::from_json(object.json).ok()?;
        let parsed: Option<Value> = if matcher.needs_object() {
            serde_json::from_str(object.json).ok()
        } else {
            None
        };
        if matcher.check(&view, parsed.as_ref(), &namespaces) != Verdict::Collect {
            return None;
        }
        match extractor.extract_from_slice(object.json.as_bytes()) {
            Ok(extracted) => Some(extracted.row),
            Err(error) => {
                output::error_line(&format!(
                    "warning: target {}/{}: {}/{} (uid {}): {}",
                    key.namespace,
                    key.name,
                    object.namespace,
                    object.name,
                    object.uid,
                    truncate(&error.to_string())
                ));
                None
            }
        }
    }
}

/// Bumps the change signal of every target whose store shard changed.
fn forward_changes(store: &Store, watched: &[Watched]) -> tokio::task::JoinHandle<()> {
    let mut notifications = store.subscribe();
    let mut by_shard: HashMap<Arc<str>, Vec<watch::Sender<u64>>> = HashMap::new();
    for target in watched {
        by_shard
            .entry(Arc::clone(&target.key.namespace))
            .or_default()
            .push(target.changes.clone());
    }
    tokio::spawn(async move {
        loop {
            let shard = match notifications.recv().await {
                Ok(shard) => Some(shard),
                // Missed notifications: every target may have changed.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            for (namespace, senders) in &by_shard {
                if shard.as_ref().is_none_or(|s| s == namespace) {
                    for sender in senders {
                        sender.send_modify(|n| *n += 1);
                    }
                }
            }
        }
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}

/// Where every target's envelopes go.
struct Delivery {
    context: String,
    cluster: String,
    destination: Destination,
    /// With [`Destination::Sinks`]: the sinks, each exported every changed snapshot.
    sinks: Vec<Built>,
}

/// One target's envelope and where it goes.
struct TargetExport {
    store: Arc<Store>,
    key: TargetKey,
    delivery: Arc<Delivery>,
    /// The snapshot `payload` built, shared with the export that writes it.
    snapshot: Arc<Snapshot>,
}

impl TargetExport {
    fn payload(&mut self) -> (String, i64) {
        self.snapshot = Arc::new(Snapshot::new(self.store.target_rows(&self.key)));
        (self.snapshot.fingerprint(), 0)
    }

    /// The export of the last payload, to run without holding the lock.
    fn pending(&self) -> Pending {
        Pending {
            key: self.key.clone(),
            delivery: Arc::clone(&self.delivery),
            snapshot: Arc::clone(&self.snapshot),
        }
    }
}

/// One export of one target's snapshot.
struct Pending {
    key: TargetKey,
    delivery: Arc<Delivery>,
    snapshot: Arc<Snapshot>,
}

impl Pending {
    async fn write(self) -> Result<()> {
        let Self {
            key,
            delivery,
            snapshot,
        } = self;
        let target = (&*key.namespace, &*key.name);
        let context = &delivery.context;
        if let Destination::Sinks = delivery.destination {
            return export_to_sinks(&delivery, target, &snapshot).await;
        }
        let meta = EnvelopeMeta {
            generation: 0,
            exported_at: Utc::now(),
            cluster: delivery.cluster.clone(),
        };
        match send(&delivery.destination, context, target, &snapshot, &meta)? {
            Sent::File(Written::Changed, file) => output::error_line(&format!(
                "context {context}: target {}/{}: {} row(s) written to {}",
                target.0,
                target.1,
                snapshot.len(),
                file.display()
            )),
            Sent::Record(encoded) => output::stdout(&encoded)?,
            Sent::File(Written::Unchanged, _) | Sent::Nothing => {}
        }
        Ok(())
    }
}

/// Exports to every sink, reporting each write; fails (to be retried) when any sink failed.
async fn export_to_sinks(
    delivery: &Delivery,
    target: (&str, &str),
    snapshot: &Arc<Snapshot>,
) -> Result<()> {
    let context = &delivery.context;
    let delivered = sinks::export_target(&delivery.sinks, &delivery.cluster, target, snapshot)
        .await
        .map_err(|error| anyhow::anyhow!("target {}/{}: {error}", target.0, target.1))?;
    let mut failures = Vec::new();
    for Delivered { sink, outcome } in delivered {
        match outcome {
            Ok(true) => output::error_line(&format!(
                "context {context}: target {}/{}: {} row(s) exported to sink {sink}",
                target.0,
                target.1,
                snapshot.len()
            )),
            Ok(false) => {}
            Err(error) => failures.push(format!("sink {sink}: {error}")),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "context {context}: target {}/{}: {}",
            target.0,
            target.1,
            failures.join("; ")
        )
    }
}

/// The schedule's view of a target export.
struct Shared(Arc<Mutex<TargetExport>>);

impl Binding for Shared {
    fn payload(&mut self) -> (String, i64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .payload()
    }

    fn export(
        &mut self,
        _digest: &str,
    ) -> impl std::future::Future<Output = Result<(), Duration>> + Send {
        let pending = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pending();
        async move {
            pending.write().await.map_err(|error| {
                output::error_line(&format!(
                    "error: {error:#}; retrying in {}s",
                    RETRY_AFTER.as_secs()
                ));
                RETRY_AFTER
            })
        }
    }
}
