//! [`GitSink`] (the [`Sink`] implementation) and [`GitSinkFactory`].
//!
//! An export lays the batch out as files (CPU work, on a blocking thread), then, holding the
//! lock of its remote, runs the write algorithm of `write.rs` on a blocking thread. The lock is
//! per factory and remote URL: exports to one remote from one process never race each other;
//! writers elsewhere are handled by the non-fast-forward retry.

use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use kollect_export::{
    ExportBatch, ExportReceipt, INLINE_MAX_PART_BYTES, ResolvedSinkSpec, Sink, SinkError,
    SinkFactory, SinkRole,
};
use tracing::Instrument as _;

use super::{
    client,
    config::{Config, Transport},
    error::Error,
    layout,
    manifest::Key,
    write::{self, Input, Job, Outcome},
};

/// Bound of one export, all attempts included (sinks spec §7.3 step 2). libgit2 calls block:
/// transfers are cancelled through their progress callbacks once it passes.
pub(super) const EXPORT_DEADLINE: Duration = Duration::from_secs(120);
/// Bound of a probe (DECISIONS D33).
pub(super) const PROBE_DEADLINE: Duration = Duration::from_secs(15);

/// Decides whether the sink may connect to a host; the hook for the outbound network policy of
/// sinks spec §5 (resolved-address guard, `--allow-private-sinks`). Called before every
/// connection with the remote's host and port; `file://` remotes are not checked.
pub trait EndpointGuard: Send + Sync {
    /// `Err(reason)` refuses the connection.
    fn check(&self, host: &str, port: Option<u16>) -> Result<(), String>;
}

/// The default guard: every configured endpoint is accepted.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl EndpointGuard for AllowAll {
    fn check(&self, _host: &str, _port: Option<u16>) -> Result<(), String> {
        Ok(())
    }
}

/// What every sink of one factory shares: the cache root, the per-remote locks and the guard.
struct Shared {
    cache_root: PathBuf,
    guard: Arc<dyn EndpointGuard>,
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Shared {
    fn lock_of(&self, cache: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(cache.to_owned()).or_default())
    }
}

/// Builds [`GitSink`]s (`spec.type: git`).
///
/// One factory per process: its sinks share a cache directory (one bare repository per remote
/// URL, so later exports fetch only what changed) and a lock per remote.
#[derive(Clone)]
pub struct GitSinkFactory {
    shared: Arc<Shared>,
}

impl fmt::Debug for GitSinkFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitSinkFactory")
            .field("cache_root", &self.shared.cache_root)
            .finish_non_exhaustive()
    }
}

impl Default for GitSinkFactory {
    fn default() -> Self {
        Self::new(std::env::temp_dir().join("kollect-git-cache"))
    }
}

impl GitSinkFactory {
    /// A factory caching remotes under `cache_root`. The directory is created with mode 0700
    /// and refused when it is a symlink, owned by another user or writable by others.
    pub fn new(cache_root: impl Into<PathBuf>) -> Self {
        Self {
            shared: Arc::new(Shared {
                cache_root: cache_root.into(),
                guard: Arc::new(AllowAll),
                locks: Mutex::default(),
            }),
        }
    }

    /// Checks every remote host with `guard` before connecting (sinks spec §5).
    #[must_use]
    pub fn with_endpoint_guard(self, guard: Arc<dyn EndpointGuard>) -> Self {
        Self {
            shared: Arc::new(Shared {
                cache_root: self.shared.cache_root.clone(),
                guard,
                locks: Mutex::default(),
            }),
        }
    }

    /// Builds the sink of `spec` with its configuration parsed.
    pub fn build_git(&self, spec: &ResolvedSinkSpec) -> Result<GitSink, SinkError> {
        let config = Config::from_resolved(spec)?;
        if config.tls.insecure {
            tracing::warn!(
                sink = %spec.id(),
                "TLS certificate verification is disabled; use only for development."
            );
        }
        Ok(GitSink::new(config, Arc::clone(&self.shared)))
    }
}

impl SinkFactory for GitSinkFactory {
    fn build(&self, spec: &ResolvedSinkSpec) -> Result<Arc<dyn Sink>, SinkError> {
        Ok(Arc::new(self.build_git(spec)?))
    }
}

/// A Git remote receiving inventory snapshots as commits.
pub struct GitSink {
    config: Arc<Config>,
    shared: Arc<Shared>,
    name: String,
}

impl GitSink {
    fn new(config: Config, shared: Arc<Shared>) -> Self {
        let name = format!(
            "git({}#{})",
            config.remote,
            config
                .branch
                .as_ref()
                .map_or("<default branch>", |b| b.as_str())
        );
        Self {
            config: Arc::new(config),
            shared,
            name,
        }
    }

    /// The parsed configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn guard(&self) -> Result<(), SinkError> {
        let remote = &self.config.remote;
        if remote.transport == Transport::File {
            return Ok(());
        }
        self.shared
            .guard
            .check(&remote.host, remote.port)
            .map_err(|reason| SinkError::misconfigured(format!("spec.endpoint: {reason}")))
    }

    fn cache(&self) -> Result<PathBuf, SinkError> {
        client::prepare_root(&self.shared.cache_root)?;
        Ok(client::cache_path(
            &self.shared.cache_root,
            &self.config.remote.url,
        ))
    }
}

impl fmt::Display for GitSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[async_trait]
impl Sink for GitSink {
    fn role(&self) -> SinkRole {
        SinkRole::Snapshot
    }

    async fn probe(&self) -> Result<(), SinkError> {
        self.guard()?;
        let config = Arc::clone(&self.config);
        let span = tracing::Span::current();
        let probe = tokio::task::spawn_blocking(move || {
            span.in_scope(|| client::probe(&config, Instant::now() + PROBE_DEADLINE))
        });
        match tokio::time::timeout(PROBE_DEADLINE, probe).await {
            Ok(joined) => Ok(joined.map_err(Error::Worker)??),
            Err(_) => Err(SinkError::timeout(format!(
                "probe of {} did not finish within {} s",
                self.config.remote,
                PROBE_DEADLINE.as_secs()
            ))),
        }
    }

    async fn stored(
        &self,
        batch: &ExportBatch,
    ) -> Result<Option<Vec<kollect_api::row::TargetRow>>, SinkError> {
        self.guard()?;
        let cache = self.cache()?;
        let key = Key {
            sink: self.config.sink.to_string(),
            cluster: batch
                .cluster_or(Some(&self.config.layout.cluster))
                .to_owned(),
            inventory: batch.inventory().to_string(),
        };
        let config = Arc::clone(&self.config);
        let guard = self.shared.lock_of(&cache).lock_owned().await;
        let deadline = Instant::now() + EXPORT_DEADLINE;
        tokio::task::spawn_blocking(move || {
            let _guard = guard;
            super::read::stored(&config, cache, &key, deadline)
        })
        .await
        .map_err(|error| SinkError::other(format!("git read back: {error}")))?
        .map_err(SinkError::from)
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        let span = tracing::debug_span!(
            "git_export",
            sink = %self,
            inventory = %batch.inventory(),
            generation = batch.generation(),
            rows = batch.snapshot().len(),
        );
        self.export_batch(batch).instrument(span).await
    }
}

impl GitSink {
    async fn export_batch(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        // Before anything is written: a row over the cap fails here (DECISIONS Q1).
        let parts = batch.parts_within(INLINE_MAX_PART_BYTES)?;
        self.guard()?;
        let cache = self.cache()?;
        let deadline = Instant::now() + EXPORT_DEADLINE;
        let layout = Arc::clone(&self.config.layout);
        let cluster = batch.cluster_or(Some(&layout.cluster)).to_owned();
        let exported_at = batch.exported_at().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let generation = batch.generation();
        let input = Input {
            inventory: batch.inventory().clone(),
            cluster: cluster.clone(),
            generation,
            exported_at: exported_at.clone(),
            snapshot: Arc::clone(batch.snapshot()),
            parts: Arc::clone(&parts),
        };
        let document_path = layout::document_path(&layout, &input.export())?;
        let message = self.message(batch, &cluster, &exported_at, &document_path);
        let job = Job {
            config: Arc::clone(&self.config),
            cache: cache.clone(),
            input,
            key: Key {
                sink: self.config.sink.to_string(),
                cluster,
                inventory: batch.inventory().to_string(),
            },
            generation,
            digest: batch.digest().to_string(),
            message,
            deadline,
        };
        // Held until the blocking job ends, even if this future is dropped (a timeout): two
        // jobs never share a cache repository.
        let guard = self.shared.lock_of(&cache).lock_owned().await;
        let span = tracing::Span::current();
        let outcome = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            span.in_scope(|| write::run(&job))
        })
        .await
        .map_err(Error::Worker)??;
        Ok(match outcome {
            Outcome::Unchanged { branch, tip } => {
                tracing::debug!(branch = %branch, "Export unchanged; no commit.");
                ExportReceipt {
                    commit: tip.map(|t| t.to_string()),
                    ..ExportReceipt::unchanged()
                }
            }
            Outcome::Written {
                branch,
                commit,
                attempts,
                primary,
                bytes: bytes_written,
            } => {
                tracing::debug!(branch = %branch, commit = %commit, attempts, "Export committed.");
                ExportReceipt {
                    wrote: true,
                    parts: parts.parts.len(),
                    bytes_written,
                    commit: Some(commit.to_string()),
                    object_keys: primary,
                    ..ExportReceipt::default()
                }
            }
        })
    }

    /// The commit message of this export (sinks spec §7.4, DECISIONS D21).
    fn message(&self, batch: &ExportBatch, cluster: &str, exported_at: &str, path: &str) -> String {
        let checksum = batch.fingerprint().to_string();
        let inventory = batch.inventory();
        let values = MessageValues {
            cluster,
            namespace: inventory.path_namespace(),
            name: inventory.name().as_str(),
            generation: batch.generation(),
            item_count: batch.snapshot().len(),
            checksum: &checksum,
            exported_at,
            sink: self.config.sink.name().as_str(),
            path,
        };
        self.config.message.render(&values)
    }
}

/// The values of commit-message placeholders.
pub(super) struct MessageValues<'a> {
    pub(super) cluster: &'a str,
    pub(super) namespace: &'a str,
    pub(super) name: &'a str,
    pub(super) generation: i64,
    pub(super) item_count: usize,
    pub(super) checksum: &'a str,
    pub(super) exported_at: &'a str,
    pub(super) sink: &'a str,
    pub(super) path: &'a str,
}

impl MessageValues<'_> {
    fn value(&self, placeholder: &str) -> Option<String> {
        Some(match placeholder {
            "cluster" => self.cluster.to_owned(),
            "namespace" => self.namespace.to_owned(),
            "name" => self.name.to_owned(),
            "generation" | "exportGeneration" => self.generation.to_string(),
            "itemCount" => self.item_count.to_string(),
            "checksum" => self.checksum.to_owned(),
            "checksumShort" => self
                .checksum
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect(),
            "exportedAt" => self.exported_at.to_owned(),
            "sink" => self.sink.to_owned(),
            "path" => self.path.to_owned(),
            _ => return None,
        })
    }

    /// Substitutes the placeholders of `template` in one pass; unknown ones stay as written.
    pub(super) fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let found = after
                .find('}')
                .and_then(|close| Some((close, self.value(&after[..close])?)));
            if let Some((close, value)) = found {
                out.push_str(&value);
                rest = &after[close + 1..];
            } else {
                out.push('{');
                rest = after;
            }
        }
        out.push_str(rest);
        out
    }
}

impl super::config::MessageTemplate {
    /// Subject; a blank line and the body when there is one; a blank line and the trailers, one
    /// per line, as the final paragraph (DECISIONS D21).
    pub(super) fn render(&self, values: &MessageValues<'_>) -> String {
        let mut message = values.render(&self.subject).trim().to_owned();
        let body = values.render(&self.body);
        if !body.trim().is_empty() {
            message.push_str("\n\n");
            message.push_str(body.trim());
        }
        let trailers: Vec<String> = self
            .trailers
            .iter()
            .map(|t| values.render(t).trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if !trailers.is_empty() {
            message.push_str("\n\n");
            message.push_str(&trailers.join("\n"));
        }
        message.push('\n');
        message
    }
}
