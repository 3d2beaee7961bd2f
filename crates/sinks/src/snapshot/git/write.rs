//! The write algorithm of one export (blocking): sync the branch, decide from the manifest
//! whether anything changes, build the new tree in the object database, commit, push; when the
//! branch moved meanwhile, start over on the new tip (bounded).
//!
//! ```text
//!   ┌─> list + fetch tip ─> manifest says same (generation, digest, layout)? ──yes──> unchanged
//!   │        │ no
//!   │   upsert files, delete paths that left (D11) ─> no data change? ──yes──> unchanged (D27)
//!   │        │
//!   │   manifest entry, tree, commit (parent: tip; none for ForcePush) ─> push
//!   └──── branch moved (non-fast-forward, lost ref race), attempts left ─┘      │ ok
//!                                                                        written
//! ```
//!
//! No working tree is ever checked out: blobs and trees go straight into the cache repository's
//! object database, and only subtrees that change are rewritten.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use git2::{
    FileMode, ObjectType, Oid, Repository, Signature, Tree, TreeWalkMode, TreeWalkResult,
    build::TreeUpdateBuilder,
};
use kollect_api::v1alpha1::{LayoutMode, PushPolicy};

use kollect_export::{InventoryKey, Parts, Snapshot};

use super::{
    client::{Session, read_blob},
    config::{Branch, Config},
    error::{Error, Result, is_moved},
    layout::{self, Export, Projection},
    manifest::{self, Entry, Key, Manifest},
};

/// Fetch-rebuild-push rounds before an export gives up with a conflict. Each round costs one
/// listing, usually a small fetch and a push; five rides out a burst of concurrent writers
/// (several operators, CI jobs) without hammering a remote that keeps moving.
pub const MAX_ATTEMPTS: usize = 5;

/// One export, ready to write.
pub(super) struct Job {
    pub(super) config: Arc<Config>,
    /// The cache repository.
    pub(super) cache: PathBuf,
    /// What the files are projected from, when the manifest says they are needed.
    pub(super) input: Input,
    pub(super) key: Key,
    pub(super) generation: i64,
    pub(super) digest: String,
    /// The full commit message.
    pub(super) message: String,
    pub(super) deadline: Instant,
}

/// The owned inputs of [`layout::project`].
pub(super) struct Input {
    pub(super) inventory: InventoryKey,
    pub(super) cluster: String,
    pub(super) generation: i64,
    pub(super) exported_at: String,
    pub(super) snapshot: Arc<Snapshot>,
    pub(super) parts: Arc<Parts>,
}

impl Input {
    pub(super) fn export(&self) -> Export<'_> {
        Export {
            inventory: &self.inventory,
            cluster: &self.cluster,
            generation: self.generation,
            exported_at: &self.exported_at,
            snapshot: &self.snapshot,
            parts: &self.parts,
        }
    }
}

/// What an export did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The branch already held this export; nothing was committed.
    Unchanged { branch: String, tip: Option<Oid> },
    /// A commit was pushed.
    Written {
        branch: String,
        commit: Oid,
        attempts: usize,
        /// Inventory-level files (documents, indexes, set manifest).
        primary: Vec<String>,
        /// Bytes of all files of the export.
        bytes: u64,
    },
}

enum Prepared {
    Unchanged,
    Commit(Oid),
}

/// Runs the export to completion.
pub(super) fn run(job: &Job) -> Result<Outcome> {
    let mut session = Session::open(&job.config, job.cache.clone(), job.deadline)?;
    let explicit = job.config.branch.as_ref().map(Branch::as_str);
    let mut branch = String::new();
    // Projected once, and only when the manifest does not already hold this export.
    let mut projection: Option<Projection> = None;
    for attempt in 1..=MAX_ATTEMPTS {
        session.check_deadline()?;
        let heads = session.sync(explicit)?;
        job.config
            .branch_or(heads.default.as_ref())
            .clone_into(&mut branch);
        let tip = heads.branches.get(&branch).copied();
        let commit = match prepare(&session.repo, session.path(), job, tip, &mut projection)? {
            Prepared::Unchanged => return Ok(Outcome::Unchanged { branch, tip }),
            Prepared::Commit(commit) => commit,
        };
        let force = job.config.push_policy == PushPolicy::ForcePush;
        match session.push(&branch, commit, force) {
            Ok(()) => {
                let files = projection.as_ref().map_or(&[][..], |p| p.files.as_slice());
                return Ok(Outcome::Written {
                    branch,
                    commit,
                    attempts: attempt,
                    primary: projection
                        .as_ref()
                        .map(|p| p.primary.clone())
                        .unwrap_or_default(),
                    bytes: files.iter().map(|f| f.bytes.len() as u64).sum(),
                });
            }
            Err(error) if is_moved(&error) => {
                tracing::debug!(
                    attempt,
                    branch = %branch,
                    error = &error as &dyn std::error::Error,
                    "The branch moved before the push; rebuilding on the new tip."
                );
            }
            Err(error) => return Err(error),
        }
    }
    Err(Error::Contended {
        remote: job.config.remote.to_string(),
        branch,
        attempts: MAX_ATTEMPTS,
    })
}

fn repository_error<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(git2::Error) -> Error + 'a {
    move |source| Error::Repository {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Builds the commit of this export on `tip`, or finds there is nothing to write.
fn prepare(
    repo: &Repository,
    path: &Path,
    job: &Job,
    tip: Option<Oid>,
    projection: &mut Option<Projection>,
) -> Result<Prepared> {
    let base_commit = tip
        .map(|tip| repo.find_commit(tip))
        .transpose()
        .map_err(repository_error(path, "read the remote tip"))?;
    let base_tree = match &base_commit {
        Some(commit) => commit
            .tree()
            .map_err(repository_error(path, "read the tip's tree"))?,
        None => empty_tree(repo).map_err(repository_error(path, "write the empty tree"))?,
    };
    let mut manifest = Manifest::read(read_blob(repo, &base_tree, manifest::PATH).as_deref());
    let layout = &job.config.layout.digest;
    let previous = manifest.entry(&job.key).cloned();
    let entries = index_tree(&base_tree).map_err(repository_error(path, "read the tip's tree"))?;
    if let Some(entry) = &previous
        && entry.generation == job.generation
        && entry.digest == job.digest
        && entry.layout == *layout
        && entry.paths.iter().all(|p| entries.contains_key(p.as_str()))
    {
        return Ok(Prepared::Unchanged);
    }
    if projection.is_none() {
        *projection = Some(layout::project(&job.config.layout, &job.input.export())?);
    }
    let Some(projection) = projection.as_ref() else {
        return Ok(Prepared::Unchanged);
    };
    let files = &projection.files;
    let written: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut update = TreeUpdateBuilder::new();
    let mut changed = false;
    let mut checked_dirs = HashSet::new();
    for file in files {
        check_placement(&entries, &file.path, &mut checked_dirs)?;
        // Hash first: an unchanged file costs no object-database write.
        let oid = Oid::hash_object(ObjectType::Blob, &file.bytes)
            .map_err(repository_error(path, "hash a blob"))?;
        let current = entries.get(file.path.as_str()).map(|(oid, _)| *oid);
        if current != Some(oid) {
            let oid = repo
                .blob(&file.bytes)
                .map_err(repository_error(path, "write a blob"))?;
            update.upsert(&file.path, oid, FileMode::Blob);
            changed = true;
        }
    }
    // DECISIONS D11: delete exactly the paths this inventory's last export wrote and this one
    // does not, unless another entry still claims them. A document written under another
    // layout is kept (and released) unless pruning is on.
    let prune = projection.mode != LayoutMode::Document
        || job.config.prune
        || previous.as_ref().is_some_and(|e| e.layout == *layout);
    if prune && let Some(entry) = &previous {
        let claimed = manifest.claimed_by_others(&job.key);
        for stale in &entry.paths {
            let gone = !written.contains(stale.as_str()) && !claimed.contains(stale.as_str());
            if gone && entries.contains_key(stale.as_str()) {
                update.remove(stale);
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(Prepared::Unchanged);
    }
    manifest.upsert(Entry {
        sink: job.key.sink.clone(),
        cluster: job.key.cluster.clone(),
        inventory: job.key.inventory.clone(),
        generation: job.generation,
        digest: job.digest.clone(),
        layout: layout.clone(),
        paths: written.iter().map(|p| (*p).to_owned()).collect(),
    });
    let manifest_blob = repo
        .blob(&manifest.to_bytes())
        .map_err(repository_error(path, "write the manifest"))?;
    update.upsert(manifest::PATH, manifest_blob, FileMode::Blob);
    let tree = update
        .create_updated(repo, &base_tree)
        .map_err(repository_error(path, "build the tree"))?;
    let tree = repo
        .find_tree(tree)
        .map_err(repository_error(path, "read the new tree"))?;
    let author = &job.config.author;
    let signature = Signature::now(&author.name, &author.email)
        .map_err(repository_error(path, "sign the commit"))?;
    let parents: Vec<&git2::Commit<'_>> = match (&base_commit, job.config.push_policy) {
        (Some(parent), PushPolicy::Commit) => vec![parent],
        _ => Vec::new(),
    };
    let commit = repo
        .commit(None, &signature, &signature, &job.message, &tree, &parents)
        .map_err(repository_error(path, "commit"))?;
    Ok(Prepared::Commit(commit))
}

/// Every path of `tree` (files and directories) with its object id and kind, in one walk: far
/// cheaper than a lookup by path per file of a large tree.
fn index_tree(tree: &Tree<'_>) -> Result<HashMap<String, (Oid, Option<ObjectType>)>, git2::Error> {
    let mut entries = HashMap::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if let Ok(name) = entry.name() {
            entries.insert(format!("{dir}{name}"), (entry.id(), entry.kind()));
        }
        TreeWalkResult::Ok
    })?;
    Ok(entries)
}

/// Refuses to replace a foreign directory with a file, or to put a file below a foreign file.
fn check_placement(
    entries: &HashMap<String, (Oid, Option<ObjectType>)>,
    path: &str,
    checked_dirs: &mut HashSet<String>,
) -> Result<()> {
    if let Some((_, Some(ObjectType::Tree))) = entries.get(path) {
        return Err(Error::Layout(format!(
            "the branch has a directory at {path:?}, where the export writes a file"
        )));
    }
    let mut dir = path;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        if !checked_dirs.insert(parent.to_owned()) {
            break;
        }
        if let Some((_, kind)) = entries.get(parent)
            && *kind != Some(ObjectType::Tree)
        {
            return Err(Error::Layout(format!(
                "the branch has a file at {parent:?}, where the export needs a directory for \
                 {path:?}"
            )));
        }
        dir = parent;
    }
    Ok(())
}

fn empty_tree(repo: &Repository) -> Result<Tree<'_>, git2::Error> {
    let oid = repo.treebuilder(None)?.write()?;
    repo.find_tree(oid)
}
