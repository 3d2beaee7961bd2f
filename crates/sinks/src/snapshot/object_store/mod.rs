//! Object-store snapshot sink: local filesystem, S3 and GCS (sinks spec §9).
