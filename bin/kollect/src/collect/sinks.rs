//! The sinks of the config folder (snapshot and database): resolved (Secrets, CA), built with
//! the backends this binary links, and fed one snapshot per target.

use std::{path::PathBuf, sync::Arc};

use kollect_api::{
    k8s::ObjectMeta,
    names::{NamespaceName, ObjectName},
    v1alpha1::{DatabaseSinkType, KollectSnapshotSink, SecretReference, SnapshotSinkType, TlsSpec},
};
use kollect_export::{
    ExportBatch, InventoryKey, Layers, ResolvedSinkSpec, Secrets, Sink, SinkExt as _, SinkFactory,
    SinkId, SinkSpec, SinkType,
};
use kollect_sinks::{
    database::{mongodb::MongoDbSinkFactory, postgres::PostgresSinkFactory},
    snapshot::{
        git::{GitSinkFactory, init_local_remote},
        object_store::{AmbientCredentials, ObjectStoreSinkFactory, StaticTypeHints},
    },
};

use super::{
    config::{Config, namespace_of},
    progress::ContextProgress,
    run::TargetOutcome,
};
use crate::output;

/// A built sink.
pub(crate) struct Built {
    pub(crate) id: SinkId,
    backend: Backend,
    /// `spec.cluster`: the cluster name of this sink's exports, whatever the context.
    cluster: Option<String>,
}

/// What a [`Built`] sink writes to.
enum Backend {
    /// The backend, with the export layers.
    Ready(Arc<dyn Sink>),
    /// Dry runs only: a local destination that does not exist yet (building the backend would
    /// create it); it holds nothing.
    Missing(String),
}

impl Built {
    /// The backend, unless the destination is missing (dry runs only).
    fn sink(&self) -> Option<&Arc<dyn Sink>> {
        match &self.backend {
            Backend::Ready(sink) => Some(sink),
            Backend::Missing(_) => None,
        }
    }

    /// An export of `snapshot` as `inventory`, under this sink's cluster, else `cluster`.
    fn batch(
        &self,
        inventory: &InventoryKey,
        snapshot: &Arc<kollect_aggregate::Snapshot>,
        cluster: &str,
    ) -> ExportBatch {
        ExportBatch::builder(inventory.clone(), self.id.clone(), Arc::clone(snapshot))
            .cluster(self.cluster.as_deref().unwrap_or(cluster))
            .build()
    }
}

/// Builds every sink of `config`; all problems are returned together, one line each. With
/// `create`, a missing local Git repository is created (not for dry runs).
pub(crate) fn build(config: &Config, create: bool) -> Result<Vec<Built>, Vec<String>> {
    let layers = Layers::default();
    let git = GitSinkFactory::new(cache_dir().join("git"));
    let profiles = config.profiles.values().map(|p| &p.object.spec);
    let object_store = ObjectStoreSinkFactory::new()
        .with_ambient_credentials(AmbientCredentials::from_env())
        .with_type_hints(Arc::new(StaticTypeHints::from_profiles(profiles)));
    let mut built = Vec::new();
    let mut errors = Vec::new();
    for located in &config.sinks {
        let sink = &located.object;
        let label = format!(
            "{}: KollectSnapshotSink/{}/{}",
            located.place,
            namespace_of(&sink.metadata),
            sink.metadata.name.as_deref().unwrap_or_default()
        );
        let secret_ref = sink
            .spec
            .git
            .as_ref()
            .and_then(|g| g.auth.as_ref())
            .and_then(|a| a.secret_ref.as_ref())
            .or(sink.spec.common.secret_ref.as_ref());
        match resolve(
            config,
            &sink.metadata,
            SinkSpec::Snapshot(sink.spec.clone()),
            secret_ref,
            sink.spec.common.tls.as_ref(),
        )
        .and_then(|resolved| {
            let id = resolved.id().clone();
            let missing = local_path(sink)
                .filter(|path| !create && !std::path::Path::new(path).exists())
                .map(str::to_owned);
            if let Some(path) = missing {
                return Ok(Built {
                    id,
                    backend: Backend::Missing(path),
                    cluster: None,
                });
            }
            let backend = match sink.spec.sink_type {
                SnapshotSinkType::Git => {
                    if create {
                        prepare_local_git(sink)?;
                    }
                    git.build(&resolved)
                }
                SnapshotSinkType::S3 | SnapshotSinkType::Gcs => object_store.build(&resolved),
                SnapshotSinkType::Gitlab => {
                    return Err("type gitlab is not available in this build of `kollect collect` yet; use type git with the project's clone URL".to_owned());
                }
            }
            .map_err(|e| error_chain(&e))?;
            let sink_type = SinkType::from(sink.spec.sink_type);
            Ok(Built {
                backend: Backend::Ready(backend.layered(&layers, &id, sink_type)),
                id,
                cluster: sink.spec.common.cluster.clone().filter(|c| !c.is_empty()),
            })
        }) {
            Ok(sink) => built.push(sink),
            Err(message) => errors.push(format!("{label}: {message}")),
        }
    }
    for located in &config.database_sinks {
        let sink = &located.object;
        let label = format!(
            "{}: KollectDatabaseSink/{}/{}",
            located.place,
            namespace_of(&sink.metadata),
            sink.metadata.name.as_deref().unwrap_or_default()
        );
        match build_database(config, sink, &layers) {
            Ok(sink) => built.push(sink),
            Err(message) => errors.push(format!("{label}: {message}")),
        }
    }
    if errors.is_empty() {
        Ok(built)
    } else {
        Err(errors)
    }
}

/// Builds one database sink of the config folder.
fn build_database(
    config: &Config,
    sink: &kollect_api::v1alpha1::KollectDatabaseSink,
    layers: &Layers,
) -> Result<Built, String> {
    let database_ref = match sink.spec.sink_type {
        DatabaseSinkType::Postgres => sink.spec.postgres.as_ref().map(|p| &p.database_ref),
        DatabaseSinkType::Mongodb => sink.spec.mongodb.as_ref().map(|m| &m.database_ref),
        DatabaseSinkType::Bigquery => sink
            .spec
            .bigquery
            .as_ref()
            .and_then(|b| b.secret_ref.as_ref()),
    };
    resolve(
        config,
        &sink.metadata,
        SinkSpec::Database(sink.spec.clone()),
        database_ref,
        sink.spec.common.tls.as_ref(),
    )
    .and_then(|resolved| {
        let id = resolved.id().clone();
        let backend = match sink.spec.sink_type {
            DatabaseSinkType::Postgres => PostgresSinkFactory.build(&resolved),
            DatabaseSinkType::Mongodb => MongoDbSinkFactory.build(&resolved),
            DatabaseSinkType::Bigquery => {
                return Err(
                    "type bigquery is not available in this build of `kollect collect` yet; use type postgres or mongodb"
                        .to_owned(),
                );
            }
        }
        .map_err(|e| error_chain(&e))?;
        let sink_type = SinkType::from(sink.spec.sink_type);
        Ok(Built {
            backend: Backend::Ready(backend.layered(layers, &id, sink_type)),
            id,
            cluster: sink.spec.common.cluster.clone().filter(|c| !c.is_empty()),
        })
    })
}

/// Where the Git sink keeps its clones: `$XDG_CACHE_HOME/kollect`, else `~/.cache/kollect`.
fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("kollect")
}

/// A `file://` Git remote that does not exist yet is created (a bare repository), so a first run
/// needs no `git init`.
fn prepare_local_git(sink: &KollectSnapshotSink) -> Result<(), String> {
    let Some(path) = local_path(sink) else {
        return Ok(());
    };
    match init_local_remote(std::path::Path::new(path)) {
        Ok(true) => {
            output::error_line(&format!("created the bare Git repository {path}"));
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(error) => Err(error_chain(&error)),
    }
}

/// The directory of a `file://` destination (a Git remote, an object-store root).
fn local_path(sink: &KollectSnapshotSink) -> Option<&str> {
    let path = sink
        .spec
        .common
        .endpoint
        .as_deref()
        .and_then(|e| e.strip_prefix("file://"))?;
    Some(path.split('#').next().unwrap_or(path))
}

/// The sink with its Secret (`secret_ref`: the credentials reference of its type) and CA read
/// from the config folder.
fn resolve(
    config: &Config,
    metadata: &ObjectMeta,
    spec: SinkSpec,
    secret_ref: Option<&SecretReference>,
    tls: Option<&TlsSpec>,
) -> Result<ResolvedSinkSpec, String> {
    let namespace = namespace_of(metadata);
    let name = metadata.name.clone().unwrap_or_default();
    let mut resolved = ResolvedSinkSpec::new(
        NamespaceName::try_from(namespace.clone())
            .map_err(|e| format!("metadata.namespace: {e}"))?,
        ObjectName::try_from(name).map_err(|e| format!("metadata.name: {e}"))?,
        spec,
    );
    if let Some(reference) = secret_ref {
        let data = secret(config, &namespace, reference)?;
        resolved = resolved.with_secrets(Secrets::new(data.clone()));
    }
    if let Some(reference) = tls.and_then(|t| t.ca_secret_ref.as_ref()) {
        let data = secret(config, &namespace, reference)?;
        // sinks spec §2.5: the first non-empty of these keys.
        if let Some(pem) = ["tls.crt", "ca.crt", "ca.pem"]
            .iter()
            .filter_map(|key| data.get(*key))
            .find(|value| !value.is_empty())
        {
            resolved = resolved.with_ca_bundle(pem.clone());
        }
    }
    Ok(resolved)
}

fn secret<'a>(
    config: &'a Config,
    namespace: &str,
    reference: &SecretReference,
) -> Result<&'a std::collections::BTreeMap<String, Vec<u8>>, String> {
    let namespace = reference
        .namespace
        .as_ref()
        .map_or(namespace, NamespaceName::as_str);
    config
        .secrets
        .get(namespace, reference.name.as_str())
        .ok_or_else(|| {
            format!(
                "Secret {namespace}/{} is not in the config folder (put a v1 Secret manifest next to the sink; values may be ${{env:NAME}})",
                reference.name
            )
        })
}

/// An error with its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Exports every target's snapshot to every sink; returns the context's exit code given the
/// code of its collection (`collected`).
pub(crate) async fn export(
    sinks: &[Built],
    context: &str,
    cluster: &str,
    outcomes: &[TargetOutcome],
    collected: u8,
) -> u8 {
    let mut delivered = false;
    let (targets, mut failed) = exportable(context, outcomes);
    for built in sinks {
        let Some(sink) = built.sink() else {
            continue; // dry runs only
        };
        let (mut written, mut unchanged) = (0, 0);
        let progress = ContextProgress::exporting(context, &built.id.to_string(), targets.len());
        for (outcome, inventory, snapshot) in &targets {
            progress.kind(&format!("{}/{}", outcome.namespace, outcome.name));
            match sink
                .export(&built.batch(inventory, snapshot, cluster))
                .await
            {
                Ok(receipt) if receipt.wrote => written += 1,
                Ok(_) => unchanged += 1,
                Err(error) => {
                    failed = true;
                    output::error_line(&format!(
                        "error: context {context}: sink {}: target {}/{}: {} ({})",
                        built.id,
                        outcome.namespace,
                        outcome.name,
                        error_chain(&error),
                        error.reason().as_str()
                    ));
                }
            }
            progress.target_done();
        }
        drop(progress);
        delivered |= written + unchanged > 0;
        output::error_line(&format!(
            "context {context}: sink {}: {written} target(s) written, {unchanged} unchanged",
            built.id
        ));
    }
    match (failed, delivered) {
        (false, _) => collected,
        (true, true) => collected.max(super::EXIT_PARTIAL),
        (true, false) => crate::cli::EXIT_INVALID,
    }
}

/// A target to export: its outcome, its inventory key and its snapshot.
type Exportable<'o> = (
    &'o TargetOutcome,
    InventoryKey,
    Arc<kollect_aggregate::Snapshot>,
);

/// The targets that have a snapshot, each with its inventory key and its snapshot in one `Arc`
/// shared by every sink; and whether a target's key could not be built (reported here).
fn exportable<'o>(context: &str, outcomes: &'o [TargetOutcome]) -> (Vec<Exportable<'o>>, bool) {
    let mut failed = false;
    let mut targets = Vec::new();
    for outcome in outcomes {
        let Some(snapshot) = &outcome.snapshot else {
            continue;
        };
        match format!("{}/{}", outcome.namespace, outcome.name).parse::<InventoryKey>() {
            Ok(inventory) => targets.push((outcome, inventory, Arc::new(snapshot.clone()))),
            Err(error) => {
                failed = true;
                output::error_line(&format!(
                    "error: context {context}: target {}/{} cannot be exported: {error}",
                    outcome.namespace, outcome.name
                ));
            }
        }
    }
    (targets, failed)
}

/// `--dry-run` with sinks: reads back what each sink holds for each target and says what an
/// export would add, change and remove there; writes nothing. Returns the context's exit code
/// given the code of its collection (`collected`).
pub(crate) async fn dry_run(
    sinks: &[Built],
    context: &str,
    cluster: &str,
    outcomes: &[TargetOutcome],
    collected: u8,
) -> u8 {
    let mut answered = false;
    let (targets, mut failed) = exportable(context, outcomes);
    for built in sinks {
        for (outcome, inventory, snapshot) in &targets {
            let prefix = format!(
                "dry run: context {context}: sink {}: target {}/{}",
                built.id, outcome.namespace, outcome.name
            );
            let stored = match &built.backend {
                Backend::Ready(sink) => {
                    sink.stored(&built.batch(inventory, snapshot, cluster))
                        .await
                }
                Backend::Missing(path) => {
                    answered = true;
                    output::error_line(&format!(
                        "{prefix}: would create {path} and add {} row(s)",
                        snapshot.len()
                    ));
                    continue;
                }
            };
            match stored {
                Ok(Some(rows)) => {
                    answered = true;
                    let changes = kollect_aggregate::ChangeSet::between(
                        &kollect_aggregate::Snapshot::new(rows),
                        snapshot,
                    );
                    if changes.is_empty() {
                        output::error_line(&format!(
                            "{prefix}: unchanged ({} row(s))",
                            snapshot.len()
                        ));
                    } else {
                        output::error_line(&format!(
                            "{prefix}: would add {}, change {}, remove {} row(s)",
                            changes.added.len(),
                            changes.updated.len(),
                            changes.removed.len()
                        ));
                    }
                }
                Ok(None) => {
                    answered = true;
                    output::error_line(&format!(
                        "{prefix}: would export {} row(s) (this sink type cannot read back what it holds)",
                        snapshot.len()
                    ));
                }
                Err(error) => {
                    failed = true;
                    output::error_line(&format!(
                        "error: {prefix}: cannot read what the sink holds: {} ({})",
                        error_chain(&error),
                        error.reason().as_str()
                    ));
                }
            }
        }
    }
    match (failed, answered) {
        (false, _) => collected,
        (true, true) => collected.max(super::EXIT_PARTIAL),
        (true, false) => crate::cli::EXIT_INVALID,
    }
}

/// What one sink did with one target's envelope under `--watch`.
pub(crate) struct Delivered {
    pub(crate) sink: SinkId,
    /// `Ok(true)` written, `Ok(false)` unchanged, or the error on one line.
    pub(crate) outcome: Result<bool, String>,
}

/// Exports one target's snapshot (`target` is namespace, name) to every sink, as the one-shot
/// [`export`] does for each target: `kollect collect --watch` calls it on the debounce
/// schedule.
pub(crate) async fn export_target(
    sinks: &[Built],
    cluster: &str,
    target: (&str, &str),
    snapshot: &Arc<kollect_aggregate::Snapshot>,
) -> Result<Vec<Delivered>, String> {
    let inventory = format!("{}/{}", target.0, target.1)
        .parse::<InventoryKey>()
        .map_err(|e| e.to_string())?;
    let mut delivered = Vec::with_capacity(sinks.len());
    for built in sinks {
        let Some(sink) = built.sink() else {
            continue; // dry runs only
        };
        let outcome = match sink
            .export(&built.batch(&inventory, snapshot, cluster))
            .await
        {
            Ok(receipt) => Ok(receipt.wrote),
            Err(error) => Err(format!(
                "{} ({})",
                error_chain(&error),
                error.reason().as_str()
            )),
        };
        delivered.push(Delivered {
            sink: built.id.clone(),
            outcome,
        });
    }
    Ok(delivered)
}
