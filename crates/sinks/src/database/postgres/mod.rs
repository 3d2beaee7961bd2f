//! Postgres sink (sinks spec §11): being written.
