//! Destinations for the tests (a temporary directory, moto, fake-gcs-server behind the XML
//! adapter), sink specs pointing at them, and reading back what a sink wrote: listing the
//! objects under a prefix and decoding them (JSON, NDJSON, CSV, Parquet; gzip, zstd) back into
//! rows with decoders of their own.

use std::{
    collections::{BTreeMap, HashMap},
    io::Read as _,
    sync::{Arc, Mutex},
};

use arrow_array::{Array, BinaryArray, RecordBatch, StringArray};
use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt as _;
use kollect_api::{
    row::{Attributes, Row},
    v1alpha1::{
        Compression, SerializationFormat, SerializationSpec, SinkCommonSpec, SnapshotSinkSpec,
        SnapshotSinkType,
    },
};
use kollect_export::{
    BoxError, Gvk, InventoryKey, ResolvedSinkSpec, Secrets, Sink, SinkSpec, TargetRow,
    conformance::Harness,
};
use kollect_sinks::snapshot::object_store::{AmbientCredentials, Config, ObjectStoreSink, connect};
use object_store::{ObjectStore, ObjectStoreExt as _, local::LocalFileSystem, path::Path};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{
    counting::{Counters, CountingStore},
    gcs_xml::GcsXmlAdapter,
    servers::{Kind, Server},
};

/// The bucket every server-backed test uses (one server per test).
pub const BUCKET: &str = "kollect-test";

/// Where a test's sink writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A temporary directory, through `file://`.
    Local,
    /// moto, path-style `http://127.0.0.1:<port>/<bucket>/<prefix>`.
    S3,
    /// fake-gcs-server (behind the XML adapter), `gs://<bucket>/<prefix>`.
    Gcs,
}

/// A running destination.
pub struct Env {
    backend: Backend,
    server: Option<Server>,
    adapter: Option<GcsXmlAdapter>,
    dir: Option<tempfile::TempDir>,
}

impl Env {
    /// Starts the destination of `backend`, with its bucket.
    pub async fn start(backend: Backend) -> Self {
        let mut env = Self {
            backend,
            server: None,
            adapter: None,
            dir: None,
        };
        match backend {
            Backend::Local => env.dir = Some(tempfile::tempdir().expect("a temporary directory")),
            Backend::S3 => {
                let server = Server::start(Kind::S3);
                server.create_bucket(BUCKET);
                env.server = Some(server);
            }
            Backend::Gcs => {
                let server = Server::start(Kind::Gcs);
                server.create_bucket(BUCKET);
                env.adapter = Some(GcsXmlAdapter::start(server.port()).await);
                env.server = Some(server);
            }
        }
        env
    }

    /// The test server (S3, GCS).
    pub fn server(&mut self) -> &mut Server {
        self.server.as_mut().expect("a server-backed destination")
    }

    /// The local directory (local).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.as_ref().expect("a local destination").path()
    }

    /// `spec.endpoint` for objects under `prefix`.
    pub fn endpoint(&self, prefix: &str) -> String {
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        match self.backend {
            Backend::Local => format!("file://{}{prefix}", self.dir().display()),
            Backend::S3 => format!(
                "{}/{BUCKET}{prefix}",
                self.server.as_ref().expect("moto").url()
            ),
            Backend::Gcs => format!("gs://{BUCKET}{prefix}"),
        }
    }

    /// The sink's Secret: any keys for moto, a service-account key pointing at the adapter
    /// (`object_store`'s emulator settings) for GCS.
    pub fn secrets(&self) -> Secrets {
        let mut data = BTreeMap::new();
        match self.backend {
            Backend::Local => {}
            Backend::S3 => {
                data.insert("accessKeyID".to_owned(), b"kollect".to_vec());
                data.insert("secretAccessKey".to_owned(), b"kollect-secret".to_vec());
            }
            Backend::Gcs => {
                let key = format!(
                    r#"{{"private_key":"unused","private_key_id":"unused","client_email":"kollect@test","disable_oauth":true,"gcs_base_url":"{}"}}"#,
                    self.adapter.as_ref().expect("the GCS adapter").url()
                );
                data.insert("credentials.json".to_owned(), key.into_bytes());
            }
        }
        Secrets::new(data)
    }

    /// `spec.type`.
    pub fn sink_type(&self) -> SnapshotSinkType {
        match self.backend {
            Backend::Local | Backend::S3 => SnapshotSinkType::S3,
            Backend::Gcs => SnapshotSinkType::Gcs,
        }
    }

    /// A sink spec writing under `prefix` in `format`, changed by `configure`.
    pub fn resolved(
        &self,
        prefix: &str,
        format: SerializationFormat,
        compression: Option<Compression>,
        configure: impl FnOnce(&mut SnapshotSinkSpec),
    ) -> ResolvedSinkSpec {
        let mut spec = SnapshotSinkSpec {
            sink_type: self.sink_type(),
            common: SinkCommonSpec {
                endpoint: Some(self.endpoint(prefix)),
                serialization: Some(SerializationSpec {
                    format: Some(format),
                    compression,
                }),
                ..SinkCommonSpec::default()
            },
            git: None,
            gitlab: None,
            object_store: None,
            http: None,
        };
        configure(&mut spec);
        ResolvedSinkSpec::new(
            "conformance".parse().expect("namespace"),
            "object-store".parse().expect("name"),
            SinkSpec::Snapshot(spec),
        )
        .with_secrets(self.secrets())
    }

    /// A store rooted at the bucket (or directory), for reading back.
    pub fn root_store(&self) -> Arc<dyn ObjectStore> {
        if self.backend == Backend::Local {
            return Arc::new(LocalFileSystem::new_with_prefix(self.dir()).expect("the directory"));
        }
        let resolved = self.resolved("", SerializationFormat::Json, None, |_| {});
        let config = Config::from_spec(&resolved).expect("a valid spec");
        connect(&config, &AmbientCredentials::default()).expect("a client")
    }

    /// Every object under `prefix` (keys relative to it), export markers included.
    pub async fn objects(&self, prefix: &str) -> BTreeMap<String, Bytes> {
        let store = self.root_store();
        let listed: Vec<_> = store
            .list(Some(&Path::from(prefix)))
            .try_collect()
            .await
            .expect("list the objects");
        let mut objects = BTreeMap::new();
        for meta in listed {
            let key = meta.location.to_string();
            let relative = key
                .strip_prefix(prefix)
                .unwrap_or(&key)
                .trim_start_matches('/')
                .to_owned();
            let bytes = store
                .get(&meta.location)
                .await
                .expect("get the object")
                .bytes()
                .await
                .expect("read the object");
            objects.insert(relative, bytes);
        }
        objects
    }

    /// The data objects under `prefix`: export markers left out.
    pub async fn data_objects(&self, prefix: &str) -> BTreeMap<String, Bytes> {
        let mut objects = self.objects(prefix).await;
        objects.retain(|key, _| !key.starts_with(".kollect/"));
        objects
    }
}

/// The sink of `resolved`, writing through a counting store.
pub fn counted_sink(resolved: &ResolvedSinkSpec) -> (ObjectStoreSink, Arc<Counters>) {
    let config = Config::from_spec(resolved).expect("a valid spec");
    let store = connect(&config, &AmbientCredentials::default()).expect("a client");
    let counting = CountingStore::new(store);
    let counters = counting.counters();
    (
        ObjectStoreSink::with_store(config, Arc::new(counting)),
        counters,
    )
}

/// The conformance harness of one destination, format and compression.
pub struct Conformance {
    env: Env,
    format: SerializationFormat,
    compression: Option<Compression>,
    counters: Mutex<HashMap<String, Arc<Counters>>>,
}

impl Conformance {
    /// Starts the destination.
    pub async fn new(
        backend: Backend,
        format: SerializationFormat,
        compression: Option<Compression>,
    ) -> Self {
        Self {
            env: Env::start(backend).await,
            format,
            compression,
            counters: Mutex::default(),
        }
    }
}

#[async_trait]
impl Harness for Conformance {
    async fn sink(&self, prefix: &str) -> Result<Arc<dyn Sink>, BoxError> {
        let resolved = self
            .env
            .resolved(prefix, self.format, self.compression, |_| {});
        let (sink, counters) = counted_sink(&resolved);
        self.counters
            .lock()
            .map_err(|_| "poisoned")?
            .insert(prefix.to_owned(), counters);
        Ok(Arc::new(sink))
    }

    async fn read_back(
        &self,
        prefix: &str,
        inventory: &InventoryKey,
    ) -> Result<Vec<TargetRow>, BoxError> {
        read_back(&self.env, prefix, inventory, self.format, self.compression).await
    }

    async fn writes(&self, prefix: &str) -> Result<u64, BoxError> {
        let counters = self.counters.lock().map_err(|_| "poisoned")?;
        Ok(counters.get(prefix).map_or(0, |c| c.writes()))
    }
}

/// The rows `env` holds for `inventory` under `prefix`: every part of the newest generation.
pub async fn read_back(
    env: &Env,
    prefix: &str,
    inventory: &InventoryKey,
    format: SerializationFormat,
    compression: Option<Compression>,
) -> Result<Vec<TargetRow>, BoxError> {
    let mut found: Vec<(i64, Vec<TargetRow>)> = Vec::new();
    for (key, bytes) in env.data_objects(prefix).await {
        let Some(identity) = identity(&key, format, compression) else {
            continue;
        };
        if identity.namespace == inventory.path_namespace()
            && identity.name == inventory.name().as_str()
        {
            found.push((identity.generation, decode(format, compression, &bytes)?));
        }
    }
    let newest = found.iter().map(|(generation, _)| *generation).max();
    Ok(found
        .into_iter()
        .filter(|(generation, _)| Some(*generation) == newest)
        .flat_map(|(_, rows)| rows)
        .collect())
}

/// What a key says about its object (sinks spec §1.8 rule O).
#[derive(Debug, PartialEq, Eq)]
pub struct Identity {
    pub namespace: String,
    /// The inventory name, without a part suffix.
    pub name: String,
    pub generation: i64,
}

/// The identity of `key` (relative to the prefix) in the default key layout of `format`.
pub fn identity(
    key: &str,
    format: SerializationFormat,
    compression: Option<Compression>,
) -> Option<Identity> {
    let strip_part = |name: &str| name.split(".part-").next().unwrap_or(name).to_owned();
    if format == SerializationFormat::Parquet {
        let mut values = HashMap::new();
        for segment in key.split('/') {
            if let Some((field, value)) = segment.split_once('=') {
                values.insert(field, value.trim_end_matches(".parquet"));
            }
        }
        return Some(Identity {
            namespace: (*values.get("ns")?).to_owned(),
            name: strip_part(values.get("name")?),
            generation: values.get("generation")?.parse().ok()?,
        });
    }
    let suffix = format!(
        "{}{}",
        format_extension(format),
        match compression {
            Some(Compression::Gzip) => ".gz",
            Some(Compression::Zstd) => ".zst",
            _ => "",
        }
    );
    let mut segments: Vec<&str> = key.split('/').collect();
    let file = segments.pop()?.strip_suffix(&suffix)?;
    Some(Identity {
        namespace: (*segments.last()?).to_owned(),
        name: strip_part(file),
        generation: 0,
    })
}

fn format_extension(format: SerializationFormat) -> &'static str {
    match format {
        SerializationFormat::Json => ".json",
        SerializationFormat::Ndjson => ".ndjson",
        SerializationFormat::Csv => ".csv",
        SerializationFormat::Parquet => ".parquet",
        SerializationFormat::Yaml => ".yaml",
    }
}

/// Undoes the whole-object compression of text formats.
pub fn decompress(compression: Option<Compression>, bytes: &[u8]) -> Result<Vec<u8>, BoxError> {
    Ok(match compression {
        Some(Compression::Gzip) => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
            out
        }
        Some(Compression::Zstd) => zstd::decode_all(bytes)?,
        _ => bytes.to_vec(),
    })
}

/// Decodes one object back into rows.
pub fn decode(
    format: SerializationFormat,
    compression: Option<Compression>,
    bytes: &[u8],
) -> Result<Vec<TargetRow>, BoxError> {
    match format {
        SerializationFormat::Parquet => decode_parquet(bytes),
        SerializationFormat::Json => {
            Ok(kollect_export::decode(&decompress(compression, bytes)?)?.items)
        }
        SerializationFormat::Ndjson => {
            let text = String::from_utf8(decompress(compression, bytes)?)?;
            let array = format!("[{}]", text.lines().collect::<Vec<_>>().join(","));
            Ok(kollect_export::decode(array.as_bytes())?.items)
        }
        SerializationFormat::Csv => decode_csv(&decompress(compression, bytes)?),
        SerializationFormat::Yaml => Err("yaml is not an object-store format".into()),
    }
}

/// The row of the identity columns and the attribute JSON of one record.
fn row_from(
    field: &dyn Fn(&str) -> Result<Option<String>, BoxError>,
) -> Result<TargetRow, BoxError> {
    let text = |name: &str| -> Result<String, BoxError> {
        field(name)?.ok_or_else(|| format!("column {name} is null").into())
    };
    let attributes: serde_json::Value = serde_json::from_str(&text("attributes")?)?;
    let attributes = match attributes {
        serde_json::Value::Object(map) => Attributes::from_map(&map),
        other => return Err(format!("attributes is not an object: {other}").into()),
    };
    Ok(TargetRow {
        target_namespace: text("target_namespace")?.into(),
        target_name: text("target_name")?.into(),
        kind: Gvk::new(
            &field("group")?.unwrap_or_default(),
            &text("api_version")?,
            &text("kind")?,
        ),
        row: Arc::new(Row {
            namespace: text("namespace")?.into(),
            name: text("name")?.into(),
            uid: text("uid")?.into(),
            resource_version: "".into(),
            attributes,
        }),
    })
}

fn decode_csv(bytes: &[u8]) -> Result<Vec<TargetRow>, BoxError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let headers = reader.headers()?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let field = |name: &str| -> Result<Option<String>, BoxError> {
            let index = headers
                .iter()
                .position(|header| header == name)
                .ok_or_else(|| format!("no column {name}"))?;
            Ok(record
                .get(index)
                .filter(|v| !v.is_empty())
                .map(str::to_owned))
        };
        rows.push(row_from(&field)?);
    }
    Ok(rows)
}

fn decode_parquet(bytes: &[u8]) -> Result<Vec<TargetRow>, BoxError> {
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes))?.build()?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch?;
        for index in 0..batch.num_rows() {
            let field = |name: &str| -> Result<Option<String>, BoxError> {
                let column = batch
                    .column_by_name(name)
                    .ok_or_else(|| format!("no column {name}"))?;
                if column.is_null(index) {
                    return Ok(None);
                }
                if let Some(strings) = column.as_any().downcast_ref::<StringArray>() {
                    return Ok(Some(strings.value(index).to_owned()));
                }
                if let Some(binary) = column.as_any().downcast_ref::<BinaryArray>() {
                    return Ok(Some(String::from_utf8(binary.value(index).to_vec())?));
                }
                Err(format!("column {name} is not text").into())
            };
            rows.push(row_from(&field)?);
        }
    }
    Ok(rows)
}
