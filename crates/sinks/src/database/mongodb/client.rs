//! The driver side: one [`Connection`] per sink, opened on first use, and the few commands the
//! sink sends (sinks spec §12.2, §12.4).
//!
//! * The client is built from [`Config::client_options`]; `spec.tls`'s CA bundle is handed to
//!   the driver through a private temporary file that lives only while the client is built
//!   (the driver reads it once, when it sets up TLS, and takes no PEM bytes).
//! * The write commands (`insert`, `update`, `delete`) and the provisioning commands (`create`,
//!   `createIndexes`) are sent with `run_command`: they are the exact documents
//!   [`super::encode`] and this module build and unit-test. The partition is read with a
//!   `find` cursor, the collection looked up with `listCollections`.
//! * Every failure is an [`Error`] naming the operation, classified where the module ends.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use mongodb::{
    Client, Database,
    bson::{Bson, Document, RawDocumentBuf, doc},
    options::{ClientOptions, Tls as DriverTls, TlsOptions},
};

use super::{
    config::{Config, add_address},
    encode::{INDEX_NAME, RowKey, StoredDoc, WriteError, WriteReply, index_keys, partition_filter},
    error::{Error, Failure, NAMESPACE_EXISTS, Redactor},
};
use crate::database::Partition;

/// Documents per batch of the partition read (keys only: ~100 bytes each).
const READ_BATCH: u32 = 10_000;

/// An open client on the sink's database.
pub(crate) struct Connection {
    database: Database,
    collection: String,
    namespace: String,
    redactor: Redactor,
    write_concern: Option<RawDocumentBuf>,
}

/// Which write an export sends; names the error of a refused command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// The inserts of new rows and the replaces of changed ones (the Go original's upserts).
    Upsert,
    /// The deletes of documents that left the snapshot.
    DeleteStale,
    /// The delete of the whole partition (empty snapshot).
    DeleteAll,
}

impl Connection {
    /// Builds the client of `config` (resolving SRV records when the URI needs it). The driver
    /// connects lazily: this does no network I/O for a `mongodb://` URI.
    pub(crate) async fn open(config: &Config) -> Result<Self, Error> {
        let mut redactor = config.redactor().clone();
        let mut options = config
            .client_options()
            .await
            .map_err(|error| Error::Connect(error.into(), redactor.clone()))?;
        for host in &options.hosts {
            add_address(&mut redactor, host);
        }
        let write_concern = options
            .write_concern
            .as_ref()
            .and_then(|concern| mongodb::bson::serialize_to_raw_document_buf(concern).ok())
            .filter(|concern| !concern.is_empty());
        let client = match config.tls().ca_pem() {
            Some(pem) => {
                let file = CaFile::write(pem).map_err(Error::CaFile)?;
                set_ca_file(&mut options, file.path());
                Client::with_options(options)
            }
            None => Client::with_options(options),
        }
        .map_err(|error| Error::Connect(error.into(), redactor.clone()))?;
        Ok(Self {
            database: client.database(config.database()),
            collection: config.collection().to_owned(),
            namespace: config.namespace(),
            redactor,
            write_concern,
        })
    }

    /// The URI's write concern (`w`, `j`, `wtimeoutMS`) for the write commands, which
    /// `run_command` does not add by itself.
    pub(crate) fn write_concern(&self) -> Option<&RawDocumentBuf> {
        self.write_concern.as_ref()
    }

    /// `ping` (sinks spec §4.3: the probe).
    pub(crate) async fn ping(&self) -> Result<(), Error> {
        self.database
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|error| Error::Ping(error.into(), self.redactor.clone()))
    }

    /// Whether the collection exists: `listCollections` filtered by name.
    pub(crate) async fn collection_exists(&self) -> Result<bool, Error> {
        self.database
            .list_collection_names()
            .filter(doc! { "name": &self.collection })
            .await
            .map(|names| names.contains(&self.collection))
            .map_err(|error| Error::ListCollections {
                database: self.database.name().to_owned(),
                failure: error.into(),
                redactor: self.redactor.clone(),
            })
    }

    /// `provisioning.mode: existing`: fails when the collection is missing, creates nothing.
    pub(crate) async fn verify(&self) -> Result<(), Error> {
        if self.collection_exists().await? {
            Ok(())
        } else {
            Err(Error::MissingCollection {
                namespace: self.namespace.clone(),
            })
        }
    }

    /// `provisioning.mode: ensure`: creates the collection when it is missing, then the unique
    /// index (idempotent when an identical index exists).
    pub(crate) async fn ensure(&self) -> Result<(), Error> {
        if !self.collection_exists().await? {
            match self
                .database
                .run_command(create_command(&self.collection))
                .await
            {
                Ok(_) => {}
                // Created meanwhile (another replica, another sink): it is there.
                Err(error) if command_code(&error) == Some(NAMESPACE_EXISTS) => {}
                Err(error) => {
                    return Err(Error::CreateCollection {
                        namespace: self.namespace.clone(),
                        failure: error.into(),
                        redactor: self.redactor.clone(),
                    });
                }
            }
        }
        self.database
            .run_command(create_index_command(&self.collection))
            .await
            .map(|_| ())
            .map_err(|error| Error::EnsureIndex {
                namespace: self.namespace.clone(),
                index: INDEX_NAME,
                failure: error.into(),
                redactor: self.redactor.clone(),
            })
    }

    /// The documents of `partition`: their `_id` and key, and with `content` the whole
    /// documents (to compare with the rows), else only those three fields.
    pub(crate) async fn read_partition(
        &self,
        partition: &Partition,
        content: bool,
    ) -> Result<Vec<StoredDoc>, Error> {
        let error = |failure: Failure| Error::ReadPartition {
            namespace: self.namespace.clone(),
            partition: partition.to_string(),
            failure,
            redactor: self.redactor.clone(),
        };
        let collection = self.database.collection::<RawDocumentBuf>(&self.collection);
        let mut find = collection
            .find(partition_filter(partition))
            .batch_size(READ_BATCH);
        if !content {
            find = find.projection(doc! { "_id": 1, "target_name": 1, "source_uid": 1 });
        }
        let mut cursor = find.await.map_err(|e| error(e.into()))?;
        let mut stored = Vec::new();
        while cursor.advance().await.map_err(|e| error(e.into()))? {
            let document = StoredDoc::read(cursor.current(), content).map_err(|message| {
                error(Failure::Write {
                    code: 0,
                    message: format!("unreadable document: {message}"),
                })
            })?;
            stored.push(document);
        }
        Ok(stored)
    }

    /// The `payload` of every document of `partition` (a read back: nothing is created, a
    /// missing collection holds nothing).
    pub(crate) async fn read_payloads(&self, partition: &Partition) -> Result<Vec<Bson>, Error> {
        let error = |failure: Failure| Error::ReadPartition {
            namespace: self.namespace.clone(),
            partition: partition.to_string(),
            failure,
            redactor: self.redactor.clone(),
        };
        let mut cursor = self
            .database
            .collection::<Document>(&self.collection)
            .find(partition_filter(partition))
            .projection(doc! { "_id": 0, "payload": 1 })
            .batch_size(READ_BATCH)
            .await
            .map_err(|e| error(e.into()))?;
        let mut payloads = Vec::new();
        while cursor.advance().await.map_err(|e| error(e.into()))? {
            let mut document = cursor.deserialize_current().map_err(|e| error(e.into()))?;
            payloads.push(document.remove("payload").unwrap_or(Bson::Null));
        }
        Ok(payloads)
    }

    /// Sends one write command (`insert`, `update` or `delete`). A refused statement or write
    /// concern is in the reply ([`WriteReply::error`]): the caller decides what it means.
    pub(crate) async fn write(
        &self,
        kind: WriteKind,
        command: RawDocumentBuf,
    ) -> Result<WriteReply, Error> {
        let reply = self
            .database
            .run_raw_command(command)
            .await
            .map_err(|error| self.failed(kind, error.into()))?;
        Ok(WriteReply::read(&reply))
    }

    /// The error of a write of `kind` that failed with `failure`.
    pub(crate) fn failed(&self, kind: WriteKind, failure: Failure) -> Error {
        let (namespace, redactor) = (self.namespace.clone(), self.redactor.clone());
        match kind {
            WriteKind::Upsert => Error::Upsert {
                namespace,
                failure,
                redactor,
            },
            WriteKind::DeleteStale => Error::DeleteStale {
                namespace,
                failure,
                redactor,
            },
            WriteKind::DeleteAll => Error::DeleteAll {
                namespace,
                failure,
                redactor,
            },
        }
    }

    /// The error of a write of `kind` whose statement the server refused.
    pub(crate) fn refused(&self, kind: WriteKind, error: WriteError) -> Error {
        self.failed(
            kind,
            Failure::Write {
                code: error.code,
                message: error.message,
            },
        )
    }

    /// Whether `partition` holds a document of `key` (a duplicate key on insert is then another
    /// writer's document of the same partition, not another cluster's).
    pub(crate) async fn holds(&self, partition: &Partition, key: &RowKey) -> Result<bool, Error> {
        let mut filter = partition_filter(partition);
        filter.insert("target_name", key.0.as_str());
        filter.insert("source_uid", key.1.as_str());
        self.database
            .collection::<RawDocumentBuf>(&self.collection)
            .count_documents(filter)
            .limit(1)
            .await
            .map(|count| count > 0)
            .map_err(|error| Error::ReadPartition {
                namespace: self.namespace.clone(),
                partition: partition.to_string(),
                failure: error.into(),
                redactor: self.redactor.clone(),
            })
    }

    /// The error of an export that found the partition changed by another writer meanwhile.
    pub(crate) fn partition_changed(&self, partition: &Partition, what: &'static str) -> Error {
        Error::PartitionChanged {
            namespace: self.namespace.clone(),
            partition: partition.to_string(),
            what,
        }
    }
}

/// `{create: <collection>}`.
pub(crate) fn create_command(collection: &str) -> Document {
    doc! { "create": collection }
}

/// `{createIndexes: <collection>, indexes: [{key: {…}, name: …, unique: true}]}` (sinks spec
/// §12.2).
pub(crate) fn create_index_command(collection: &str) -> Document {
    doc! {
        "createIndexes": collection,
        "indexes": [{ "key": index_keys(), "name": INDEX_NAME, "unique": true }],
    }
}

/// The server's code of a failed command.
fn command_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}

/// Points the driver's TLS settings at `path` (keeping the URI's other TLS settings).
fn set_ca_file(options: &mut ClientOptions, path: &Path) {
    let mut tls = match options.tls.take() {
        Some(DriverTls::Enabled(tls)) => tls,
        _ => TlsOptions::default(),
    };
    tls.ca_file_path = Some(path.to_owned());
    options.tls = Some(DriverTls::Enabled(tls));
}

/// A CA bundle written for the driver, readable by this user only, removed when dropped.
struct CaFile {
    path: PathBuf,
}

impl CaFile {
    fn write(pem: &[u8]) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "kollect-mongodb-ca-{}-{}-{nanos}.pem",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut handle = options.open(&path)?;
        // From here on, dropping `file` removes the path, also when the write fails.
        let file = Self { path };
        handle.write_all(pem)?;
        Ok(file)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_commands() {
        assert_eq!(create_command("inventory"), doc! { "create": "inventory" });
        assert_eq!(
            create_index_command("inventory"),
            doc! {
                "createIndexes": "inventory",
                "indexes": [{
                    "key": {
                        "inventory_namespace": 1,
                        "inventory_name": 1,
                        "target_name": 1,
                        "source_uid": 1,
                    },
                    "name": "inventory_namespace_1_inventory_name_1_target_name_1_source_uid_1",
                    "unique": true,
                }],
            }
        );
    }

    #[test]
    fn the_ca_file_is_private_and_removed() {
        let file = CaFile::write(b"-----BEGIN CERTIFICATE-----\n").expect("written");
        let path = file.path().to_owned();
        assert_eq!(
            std::fs::read(&path).expect("readable"),
            b"-----BEGIN CERTIFICATE-----\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(file);
        assert!(!path.exists(), "removed on drop");
    }
}
