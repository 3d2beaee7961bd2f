//! [`ObjectStoreSink`]: the [`Sink`] of `s3` and `gcs` snapshot sinks (and local directories),
//! and [`ObjectStoreSinkFactory`], which builds it from a resolved spec.
//!
//! One export:
//!
//! ```text
//!  batch.parts()             oversize row: PayloadTooLarge, nothing written
//!  KeyPlan                   one key per part, the series' marker key
//!  GET marker                same generation, digest, encoding, keys, and every object still
//!                            there with its size: unchanged, nothing written (wrote: false)
//!  for each part             encode on a blocking thread ──> PUT or multipart upload
//!  DELETE leftovers          keys of the previous marker this export did not write (D9)
//!  PUT marker                last, so an interrupted export is redone in full next time
//! ```

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::{StreamExt as _, TryStreamExt as _};
use kollect_export::{
    ExportBatch, ExportReceipt, Parts, ResolvedSinkSpec, Sink, SinkError, SinkFactory,
    SinkRegistry, SinkRole, SinkType, format_exported_at,
};
use object_store::{ObjectStore, PutOptions, PutPayload, path::Path};
use tracing::Instrument as _;

use super::{
    client::{self, AmbientCredentials},
    config::Config,
    config::{Compression, Format},
    encode::{KnownRows, PartJob, split_rows},
    error::Error,
    key::{KeyPlan, PartKey},
    location::Location,
    marker::{MARKER_VERSION, MarkedObject, Marker},
    schema::{Columns, RowContext, TypeHints},
    upload::{self, Uploaded},
};

/// How long a probe may take (DECISIONS D33: every probe is bounded, 15 s as the Go original's
/// MongoDB and BigQuery probes).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Objects checked at the same time when an unchanged export verifies its objects are intact.
const HEAD_CONCURRENCY: usize = 8;

/// A snapshot sink writing to S3, GCS or a local directory.
pub struct ObjectStoreSink {
    config: Config,
    store: Arc<dyn ObjectStore>,
    type_hints: Option<Arc<dyn TypeHints>>,
}

impl ObjectStoreSink {
    /// The sink of `config`, with a client built for it (credentials from the config's Secret,
    /// else from `ambient`).
    pub fn new(config: Config, ambient: &AmbientCredentials) -> Result<Self, SinkError> {
        if config.tls().insecure_skip_verify()
            && !matches!(config.location(), Location::Local { .. })
        {
            tracing::warn!(
                sink = %config,
                "TLS certificate verification is disabled for this sink; use only for development."
            );
        }
        let store = client::connect(&config, ambient)?;
        Ok(Self::with_store(config, store))
    }

    /// The sink of `config` writing through `store` (a client from [`client::connect`],
    /// possibly wrapped, such as a counting store in tests).
    pub fn with_store(config: Config, store: Arc<dyn ObjectStore>) -> Self {
        Self {
            config,
            store,
            type_hints: None,
        }
    }

    /// Types promoted attribute columns by the profiles' `type` hints; without it every
    /// promoted column is text.
    #[must_use]
    pub fn with_type_hints(mut self, hints: Arc<dyn TypeHints>) -> Self {
        self.type_hints = Some(hints);
        self
    }

    /// The sink's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the store keeps object attributes (`Content-Type`); the local filesystem does not.
    fn keeps_attributes(&self) -> bool {
        !matches!(self.config.location(), Location::Local { .. })
    }

    /// Everything besides the rows that shapes the objects: part of the marker.
    fn encoding(&self, batch: &ExportBatch, columns: &Columns) -> String {
        let config = &self.config;
        format!(
            "format={};compression={};cluster={};maxPartBytes={};columns={}",
            config.format(),
            config.compression(),
            batch.cluster_or(config.cluster()),
            batch.max_part_bytes(),
            columns.describe(),
        )
    }

    async fn export_parts(
        &self,
        batch: &ExportBatch,
        parts: Arc<Parts>,
    ) -> Result<ExportReceipt, SinkError> {
        let plan = KeyPlan::new(&self.config, batch, parts.parts.len())
            .map_err(|message| SinkError::misconfigured(format!("object key: {message}")))?;
        let columns = Arc::new(Columns::new(
            self.config.hot_attributes(),
            self.type_hints.as_deref(),
            batch.inventory(),
        ));
        let encoding = self.encoding(batch, &columns);
        let keys: Vec<&str> = plan.parts.iter().map(|part| part.key.as_str()).collect();
        let marker_path = client::object_path(&plan.marker)?;
        let previous = client::get_optional(self.store.as_ref(), &marker_path)
            .await?
            .and_then(|bytes| Marker::parse(&bytes));
        let inventory = batch.inventory().to_string();
        if let Some(previous) = &previous
            && previous.inventory == inventory
            && previous.records(
                batch.generation(),
                batch.digest().as_str(),
                &encoding,
                &keys,
            )
            && self.objects_intact(previous).await?
        {
            tracing::debug!(marker = %plan.marker, "Export unchanged; nothing written.");
            return Ok(ExportReceipt::unchanged());
        }
        let mut receipt = ExportReceipt {
            wrote: true,
            ..ExportReceipt::default()
        };
        let mut known = self.known_rows(batch, &parts).await.into_iter();
        let mut objects = Vec::with_capacity(plan.parts.len());
        for (index, part) in plan.parts.iter().enumerate() {
            let mut job = self.job(batch, &parts, index, part, &columns);
            job.rows = known.next();
            let uploaded = self.write_part(&part.key, job).await?;
            tracing::debug!(
                key = %part.key,
                bytes = uploaded.bytes,
                multipart = uploaded.multipart,
                "Part written."
            );
            receipt.parts += 1;
            receipt.bytes_written += uploaded.bytes;
            receipt.object_keys.push(part.key.clone());
            objects.push(MarkedObject {
                key: part.key.clone(),
                bytes: uploaded.bytes,
            });
        }
        // Only this inventory's own earlier parts: a marker of another inventory sharing the key
        // (a cluster inventory and a namespace called `cluster`, D31) is overwritten, not obeyed.
        if let Some(previous) = previous.as_ref().filter(|p| p.inventory == inventory) {
            for leftover in previous.leftovers(&keys) {
                client::delete(self.store.as_ref(), &client::object_path(leftover)?).await?;
                tracing::debug!(key = %leftover, "Leftover part deleted.");
            }
        }
        let marker = Marker {
            version: MARKER_VERSION,
            inventory,
            generation: batch.generation(),
            digest: batch.digest().to_string(),
            encoding,
            exported_at: format_exported_at(&batch.exported_at()),
            objects,
        };
        self.write_marker(&marker_path, &marker).await?;
        Ok(receipt)
    }

    /// The rows of each part, for formats that encode rows: the snapshot itself for one part;
    /// for several, split on a blocking thread ([`split_rows`]). Empty when the envelopes must
    /// be read back (JSON needs no rows; a split that does not check out).
    async fn known_rows(&self, batch: &ExportBatch, parts: &Arc<Parts>) -> Vec<KnownRows> {
        if self.config.format() == Format::Json {
            return Vec::new();
        }
        if parts.parts.len() == 1 {
            return vec![KnownRows::Whole(Arc::clone(batch.snapshot()))];
        }
        let (snapshot, all) = (Arc::clone(batch.snapshot()), Arc::clone(parts));
        tokio::task::spawn_blocking(move || split_rows(&snapshot, &all))
            .await
            .ok()
            .flatten()
            .map(|split| split.into_iter().map(KnownRows::Part).collect())
            .unwrap_or_default()
    }

    fn job(
        &self,
        batch: &ExportBatch,
        parts: &Arc<Parts>,
        index: usize,
        part: &PartKey,
        columns: &Arc<Columns>,
    ) -> PartJob {
        PartJob {
            format: self.config.format(),
            compression: self.config.compression(),
            columns: Arc::clone(columns),
            context: RowContext {
                cluster: batch.cluster_or(self.config.cluster()).to_owned(),
                inventory_namespace: batch.inventory().path_namespace().to_owned(),
                inventory_name: part.inventory_name.clone(),
                exported_at: batch.exported_at(),
            },
            parts: Arc::clone(parts),
            index,
            rows: None,
        }
    }

    async fn write_part(&self, key: &str, job: PartJob) -> Result<Uploaded, SinkError> {
        let path = client::object_path(key)?;
        let format = self.config.format();
        let attributes = client::content_type(
            self.keeps_attributes(),
            self.config.compression().content_type(format),
        );
        upload::upload(
            &self.store,
            &path,
            attributes,
            format.as_str(),
            move |out| job.encode(out),
        )
        .await
        .map_err(SinkError::from)
    }

    async fn write_marker(&self, path: &Path, marker: &Marker) -> Result<(), SinkError> {
        let options = PutOptions {
            attributes: client::content_type(self.keeps_attributes(), "application/json"),
            ..PutOptions::default()
        };
        self.store
            .put_opts(path, PutPayload::from(marker.to_bytes()), options)
            .await
            .map(|_| ())
            .map_err(|source| {
                Error::PutObject {
                    key: path.to_string(),
                    source,
                }
                .into_sink_error()
            })
    }

    /// Whether every object of `marker` is still there with its recorded size.
    async fn objects_intact(&self, marker: &Marker) -> Result<bool, SinkError> {
        let checks: Vec<(String, u64)> = marker
            .objects
            .iter()
            .map(|object| (object.key.clone(), object.bytes))
            .collect();
        let intact: Vec<bool> = futures::stream::iter(checks)
            .map(|(key, bytes)| {
                let store = Arc::clone(&self.store);
                async move {
                    let path = client::object_path(&key)?;
                    let size = client::size_of(store.as_ref(), &path).await?;
                    Ok::<_, Error>(size == Some(bytes))
                }
            })
            .buffered(HEAD_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(intact.into_iter().all(|intact| intact))
    }
}

impl fmt::Display for ObjectStoreSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl fmt::Debug for ObjectStoreSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreSink")
            .field("config", &self.config)
            .field("store", &self.store.to_string())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Sink for ObjectStoreSink {
    fn role(&self) -> SinkRole {
        SinkRole::Snapshot
    }

    /// The objects the export marker lists for the inventory, decoded (Parquet, JSON,
    /// NDJSON; CSV cannot say: the canonical encoding of values is not kept).
    async fn stored(
        &self,
        batch: &ExportBatch,
    ) -> Result<Option<Vec<kollect_api::row::TargetRow>>, SinkError> {
        let format = self.config.format();
        if format == Format::Csv {
            return Ok(None);
        }
        let plan = KeyPlan::new(&self.config, batch, 1)
            .map_err(|message| SinkError::misconfigured(format!("object key: {message}")))?;
        let marker_path = client::object_path(&plan.marker)?;
        let Some(marker) = client::get_optional(self.store.as_ref(), &marker_path)
            .await?
            .and_then(|bytes| Marker::parse(&bytes))
            .filter(|marker| marker.inventory == batch.inventory().to_string())
        else {
            return Ok(Some(Vec::new()));
        };
        let mut rows = Vec::new();
        for object in &marker.objects {
            let path = client::object_path(&object.key)?;
            let Some(bytes) = client::get_optional(self.store.as_ref(), &path).await? else {
                continue;
            };
            let unreadable = |message: String| {
                SinkError::invalid_payload(format!("read back {}: {message}", object.key))
            };
            if format == Format::Parquet {
                rows.extend(super::read_parquet(bytes).map_err(|e| unreadable(e.to_string()))?);
                continue;
            }
            let text = decompress(&bytes, self.config.compression()).map_err(unreadable)?;
            let json = if format == Format::Ndjson {
                format!(
                    "[{}]",
                    text.lines()
                        .filter(|line| !line.trim().is_empty())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            } else {
                text
            };
            let decoded =
                kollect_export::decode(json.as_bytes()).map_err(|e| unreadable(e.to_string()))?;
            rows.extend(decoded.items);
        }
        Ok(Some(rows))
    }

    async fn probe(&self) -> Result<(), SinkError> {
        let prefix = match self.config.prefix() {
            "" => None,
            prefix => Some(client::object_path(prefix)?),
        };
        let span = tracing::debug_span!("object_store_probe", sink = %self);
        let listed = tokio::time::timeout(
            PROBE_TIMEOUT,
            client::list_first(self.store.as_ref(), prefix.as_ref()),
        )
        .instrument(span)
        .await;
        match listed {
            Ok(result) => result.map_err(SinkError::from),
            Err(_) => Err(Error::ProbeTimeout {
                destination: self.config.destination(),
                seconds: PROBE_TIMEOUT.as_secs(),
            }
            .into_sink_error()),
        }
    }

    async fn export(&self, batch: &ExportBatch) -> Result<ExportReceipt, SinkError> {
        // Before anything is read or written: a row over the cap fails the export here (Q1).
        let parts = batch.parts()?;
        let span = tracing::info_span!(
            "object_store_export",
            sink = %self,
            inventory = %batch.inventory(),
            generation = batch.generation(),
            parts = parts.parts.len(),
        );
        let receipt = self.export_parts(batch, parts).instrument(span).await?;
        if receipt.wrote {
            tracing::debug!(
                sink = %self,
                inventory = %batch.inventory(),
                parts = receipt.parts,
                bytes = receipt.bytes_written,
                "Export written."
            );
        }
        Ok(receipt)
    }
}

/// Builds [`ObjectStoreSink`]s for `s3` and `gcs` snapshot sinks.
#[derive(Clone, Default)]
pub struct ObjectStoreSinkFactory {
    ambient: AmbientCredentials,
    type_hints: Option<Arc<dyn TypeHints>>,
}

impl ObjectStoreSinkFactory {
    /// A factory with no ambient credentials and untyped promoted columns.
    pub fn new() -> Self {
        Self::default()
    }

    /// Credentials of the default chains (AWS, Google), for sinks whose Secret holds none. The
    /// binary passes [`AmbientCredentials::from_env`].
    #[must_use]
    pub fn with_ambient_credentials(mut self, ambient: AmbientCredentials) -> Self {
        self.ambient = ambient;
        self
    }

    /// Types promoted attribute columns by the profiles' `type` hints.
    #[must_use]
    pub fn with_type_hints(mut self, hints: Arc<dyn TypeHints>) -> Self {
        self.type_hints = Some(hints);
        self
    }

    /// `registry` with this factory registered for `s3` and `gcs`.
    pub fn register(self, registry: SinkRegistry) -> SinkRegistry {
        let factory: Arc<dyn SinkFactory> = Arc::new(self);
        registry
            .with(SinkType::S3, Arc::clone(&factory))
            .with(SinkType::Gcs, factory)
    }
}

impl fmt::Debug for ObjectStoreSinkFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreSinkFactory")
            .field("ambient", &self.ambient)
            .field("type_hints", &self.type_hints.is_some())
            .finish()
    }
}

impl SinkFactory for ObjectStoreSinkFactory {
    fn build(&self, spec: &ResolvedSinkSpec) -> Result<Arc<dyn Sink>, SinkError> {
        let config = Config::from_spec(spec)?;
        let mut sink = ObjectStoreSink::new(config, &self.ambient)?;
        if let Some(hints) = &self.type_hints {
            sink = sink.with_type_hints(Arc::clone(hints));
        }
        Ok(Arc::new(sink))
    }
}

/// The text of an object written with `compression` (JSON and NDJSON objects).
fn decompress(bytes: &[u8], compression: Compression) -> Result<String, String> {
    use std::io::Read as _;
    let raw = match compression {
        Compression::None | Compression::Snappy => bytes.to_vec(),
        Compression::Gzip => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| format!("not gzip: {e}"))?;
            out
        }
        Compression::Zstd => zstd::decode_all(bytes).map_err(|e| format!("not zstd: {e}"))?,
    };
    String::from_utf8(raw).map_err(|_| "not UTF-8 text".to_owned())
}
