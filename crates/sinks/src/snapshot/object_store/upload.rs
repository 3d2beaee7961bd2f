//! Uploads: an encoder on a blocking thread streams what it writes to the store, as one `PUT`
//! or, above [`MULTIPART_PART_BYTES`], a multipart upload; nothing is committed unless the
//! encoder finished.
//!
//! ```text
//!  encoder (spawn_blocking) ──1 MiB chunks, bounded channel (4)──> PendingUpload
//!                                                                  < 8 MiB: one PUT at the end
//!                                                                  ≥ 8 MiB: WriteMultipart, 8 MiB parts,
//!                                                                           4 in flight
//! ```

use std::{
    io::{self, Write},
    sync::Arc,
};

use bytes::Bytes;
use object_store::{
    Attributes, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
    path::Path,
};
use tokio::sync::mpsc;

use super::error::{EncodeError, Error, UploadStoppedMarker};

/// Bytes the encoder hands to the upload at a time: large enough that the channel costs
/// nothing, small enough that a few in flight are no memory concern.
pub(crate) const UPLOAD_CHUNK_BYTES: usize = 1024 * 1024;

/// Chunks in flight between the encoder and the upload: the encoder runs at most this far
/// ahead of the network (4 MiB).
const UPLOAD_CHANNEL_CHUNKS: usize = 4;

/// Objects up to this size go in one PUT; larger ones in a multipart upload of parts this size.
/// S3 needs at least 5 MiB per part except the last; 8 MiB is the AWS CLI's default.
pub const MULTIPART_PART_BYTES: usize = 8 * 1024 * 1024;

/// Multipart parts uploaded at the same time: bounds memory (`4 × 8 MiB`) and connections.
const MULTIPART_CONCURRENCY: usize = 4;

/// What [`upload`] sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Uploaded {
    /// Bytes of the object.
    pub(crate) bytes: u64,
    /// Whether it went up as a multipart upload.
    pub(crate) multipart: bool,
}

/// Runs `encode` on a blocking thread and streams what it writes to `key`: one PUT when the
/// object stays below [`MULTIPART_PART_BYTES`], else a multipart upload. Nothing is committed
/// unless the encoder finished: a failed encoder aborts the upload.
pub(crate) async fn upload<F>(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    attributes: Attributes,
    format: &'static str,
    encode: F,
) -> Result<Uploaded, Error>
where
    F: FnOnce(&mut ChunkWriter) -> Result<(), EncodeError> + Send + 'static,
{
    let (sender, mut chunks) = mpsc::channel::<Bytes>(UPLOAD_CHANNEL_CHUNKS);
    let encoder = tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter::new(sender);
        encode(&mut writer)?;
        writer.finish()
    });
    let mut pending = PendingUpload::new(Arc::clone(store), key.clone(), attributes);
    let mut upload_error = None;
    while let Some(chunk) = chunks.recv().await {
        if let Err(error) = pending.push(chunk).await {
            upload_error = Some(error);
            break;
        }
    }
    // Stops an encoder still writing after a failed upload.
    drop(chunks);
    let outcome = encoder.await;
    let put_error = |source| Error::PutObject {
        key: key.to_string(),
        source,
    };
    let failure = match (upload_error, outcome) {
        (Some(source), _) => put_error(source),
        (None, Err(source)) => Error::EncoderTask {
            key: key.to_string(),
            source,
        },
        (None, Ok(Err(source))) => Error::Encode {
            key: key.to_string(),
            format,
            source,
        },
        (None, Ok(Ok(()))) => return pending.finish().await.map_err(put_error),
    };
    pending.abort().await;
    Err(failure)
}

/// The bytes of one upload so far: buffered until they reach a multipart part, then streamed.
enum PendingUpload {
    Buffered {
        store: Arc<dyn ObjectStore>,
        key: Path,
        attributes: Attributes,
        chunks: Vec<Bytes>,
        bytes: usize,
    },
    Multipart {
        upload: WriteMultipart,
        bytes: usize,
    },
}

impl PendingUpload {
    fn new(store: Arc<dyn ObjectStore>, key: Path, attributes: Attributes) -> Self {
        Self::Buffered {
            store,
            key,
            attributes,
            chunks: Vec::new(),
            bytes: 0,
        }
    }

    async fn push(&mut self, chunk: Bytes) -> object_store::Result<()> {
        match self {
            Self::Buffered {
                store,
                key,
                attributes,
                chunks,
                bytes,
            } => {
                *bytes += chunk.len();
                chunks.push(chunk);
                if *bytes >= MULTIPART_PART_BYTES {
                    let options = PutMultipartOptions {
                        attributes: std::mem::take(attributes),
                        ..PutMultipartOptions::default()
                    };
                    let multipart = store.put_multipart_opts(key, options).await?;
                    let mut upload =
                        WriteMultipart::new_with_chunk_size(multipart, MULTIPART_PART_BYTES);
                    for chunk in chunks.drain(..) {
                        upload.put(chunk);
                    }
                    *self = Self::Multipart {
                        upload,
                        bytes: *bytes,
                    };
                }
                Ok(())
            }
            Self::Multipart { upload, bytes } => {
                *bytes += chunk.len();
                upload.wait_for_capacity(MULTIPART_CONCURRENCY).await?;
                upload.put(chunk);
                Ok(())
            }
        }
    }

    async fn finish(self) -> object_store::Result<Uploaded> {
        match self {
            Self::Buffered {
                store,
                key,
                attributes,
                chunks,
                bytes,
            } => {
                let options = PutOptions {
                    attributes,
                    ..PutOptions::default()
                };
                store
                    .put_opts(&key, PutPayload::from_iter(chunks), options)
                    .await?;
                Ok(Uploaded {
                    bytes: bytes as u64,
                    multipart: false,
                })
            }
            Self::Multipart { upload, bytes } => {
                upload.finish().await?;
                Ok(Uploaded {
                    bytes: bytes as u64,
                    multipart: true,
                })
            }
        }
    }

    /// Drops what was sent of a multipart upload (a PUT that never happened needs nothing).
    async fn abort(self) {
        if let Self::Multipart { upload, .. } = self
            && let Err(error) = upload.abort().await
        {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "Aborting a multipart upload failed; the store's lifecycle rules remove it."
            );
        }
    }
}

/// The `io::Write` encoders write to: sends 1 MiB chunks to the upload, blocking while the upload
/// is [`UPLOAD_CHANNEL_CHUNKS`] chunks behind. Used on a blocking thread only.
pub(crate) struct ChunkWriter {
    sender: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn new(sender: mpsc::Sender<Bytes>) -> Self {
        Self {
            sender,
            buffer: Vec::with_capacity(UPLOAD_CHUNK_BYTES),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(UPLOAD_CHUNK_BYTES));
        self.sender
            .blocking_send(Bytes::from(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, UploadStoppedMarker))
    }

    /// Sends what is left.
    fn finish(mut self) -> Result<(), EncodeError> {
        if !self.buffer.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= UPLOAD_CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
