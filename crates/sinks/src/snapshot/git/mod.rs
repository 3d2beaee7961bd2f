//! Git snapshot sink (sinks spec §6, §7; `docs/sinks/git.md`; ADR 0009).
//!
//! Each export of an inventory becomes (at most) one commit on a branch of a Git remote —
//! `file://`, `http(s)://` (smart HTTP, basic auth or token), `ssh://` or SCP-style
//! `user@host:path` (key from the Secret, host key checked against `known_hosts`). Git runs
//! in-process through libgit2 (`git2`); no `git` binary is needed.
//!
//! ```text
//!  ExportBatch ─parts─> layout::project ──files──> write::run ──commit──> push
//!                        (document | perResource | split,     (fetch tip, manifest,
//!                         yaml | json | ndjson, gz | zst)      prune, tree, retry)
//! ```
//!
//! Invariants:
//! * **Idempotent** per (inventory, generation, digest): `.kollect/manifest.json` on the branch
//!   records what each (sink, cluster, inventory) last wrote; the same export again writes
//!   nothing (`wrote: false`), and an export that changes no file makes no commit (D27).
//! * **Prunes exactly what it wrote** (D11): paths of an inventory's previous export that its
//!   current one does not write are deleted; files Kollect never wrote are never touched.
//! * **Never loses a concurrent commit**: when the branch moved between fetch and push, the
//!   export is rebuilt on the new tip and pushed again (at most [`MAX_ATTEMPTS`] rounds), so
//!   foreign commits stay in the history (`Commit` policy).
//! * All parts of a multipart export land in one commit, so readers never see half a set.

mod client;
mod config;
mod encode;
mod error;
mod layout;
mod manifest;
mod read;
mod remote;
mod sink;
mod trust;
mod write;

#[cfg(test)]
mod tests;

pub use self::{
    config::Config,
    sink::{AllowAll, EndpointGuard, GitSink, GitSinkFactory},
    write::MAX_ATTEMPTS,
};

/// The path of the sink's manifest in the branch (DECISIONS D11).
pub const MANIFEST_PATH: &str = manifest::PATH;

/// Creates an empty bare repository at `path` unless one is there: the pipeline CLI's local
/// destination (`file://` endpoints), so a first run needs no `git init`. An existing directory
/// that is not a bare repository is left alone and reported.
pub fn init_local_remote(path: &std::path::Path) -> Result<bool, kollect_export::SinkError> {
    if path.exists() {
        return match git2::Repository::open_bare(path) {
            Ok(_) => Ok(false),
            Err(error) => Err(kollect_export::SinkError::misconfigured(format!(
                "{} exists but is not a bare Git repository",
                path.display()
            ))
            .with_source(error)),
        };
    }
    git2::Repository::init_opts(
        path,
        git2::RepositoryInitOptions::new()
            .bare(true)
            .mkpath(true)
            .initial_head("main"),
    )
    .map(|_| true)
    .map_err(|error| {
        kollect_export::SinkError::misconfigured(format!(
            "cannot create the bare repository {}",
            path.display()
        ))
        .with_source(error)
    })
}
