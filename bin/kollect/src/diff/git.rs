//! `kollect diff --git REPO REV1 REV2`: both sides read from the trees of two revisions of a Git
//! sink repository (bare or not), without a checkout.
//!
//! The files of a revision are those its `.kollect/manifest.json` lists (the paths the Git sink
//! wrote, so every one must read as an export); without a manifest, every file outside dot
//! folders that looks like an export, as for a folder.

use std::path::Path;

use git2::{ObjectType, Repository, Tree, TreeWalkMode, TreeWalkResult};
use serde_json::Value;

use super::{Objects, read};

/// Where the Git sink records the paths it wrote (`kollect_sinks::snapshot::git::MANIFEST_PATH`).
const MANIFEST_PATH: &str = ".kollect/manifest.json";

/// The objects of revisions `old` and `new` of `repo`.
pub(super) fn load_pair(repo: &Path, old: &str, new: &str) -> Result<(Objects, Objects), String> {
    let repository = open(repo)?;
    Ok((load(&repository, repo, old)?, load(&repository, repo, new)?))
}

fn open(repo: &Path) -> Result<Repository, String> {
    if !repo.exists() {
        return Err(format!(
            "{}: no such Git repository (give the folder of a Git sink's repository, e.g. quickstart-out/inventory.git)",
            repo.display()
        ));
    }
    Repository::open(repo).map_err(|error| {
        format!(
            "{}: not a Git repository ({}); --git takes a repository folder, bare or not",
            repo.display(),
            error.message()
        )
    })
}

/// The objects of one revision.
fn load(repository: &Repository, repo: &Path, revision: &str) -> Result<Objects, String> {
    let tree = repository
        .revparse_single(revision)
        .and_then(|object| object.peel_to_tree())
        .map_err(|error| {
            format!(
                "{}: unknown revision {revision:?} ({}); `git -C {} log --oneline` lists the commits",
                repo.display(),
                error.message(),
                repo.display()
            )
        })?;
    let place = |path: &str| format!("{}@{revision}:{path}", repo.display());
    let manifest = blob(repository, &tree, MANIFEST_PATH).map_err(|e| place(&e))?;
    let (paths, listed) = match manifest {
        Some(bytes) => (manifest_paths(&bytes).map_err(|e| place(&e))?, true),
        None => (all_files(&tree).map_err(|e| place(&e))?, false),
    };
    let mut objects = Objects::new();
    let mut exports = 0;
    for path in &paths {
        let bytes = blob(repository, &tree, path)
            .map_err(|e| place(&e))?
            .ok_or_else(|| {
                place(&format!(
                    "{path} is listed in {MANIFEST_PATH} but not in the revision"
                ))
            })?;
        let rows = match read::rows(path, &bytes) {
            Ok(Some(rows)) => rows,
            Ok(None) => continue, // an index of a tree layout
            Err(_) if !listed && !read::looks_like_export(&bytes) => continue,
            Err(error) => {
                return Err(format!(
                    "{}: {error} (not an export the Git sink writes)",
                    place(path)
                ));
            }
        };
        exports += 1;
        read::add(&mut objects, rows);
    }
    if exports == 0 && !listed {
        return Err(format!(
            "{}: no export found at revision {revision} (no {MANIFEST_PATH} and no envelope files)",
            repo.display()
        ));
    }
    Ok(objects)
}

/// The content of the file at `path`, `None` when the revision has no such file.
fn blob(repository: &Repository, tree: &Tree<'_>, path: &str) -> Result<Option<Vec<u8>>, String> {
    let entry = match tree.get_path(Path::new(path)) {
        Ok(entry) => entry,
        Err(error) if error.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(error) => return Err(format!("{path}: {}", error.message())),
    };
    let object = entry
        .to_object(repository)
        .map_err(|e| format!("{path}: {}", e.message()))?;
    let blob = object
        .as_blob()
        .ok_or_else(|| format!("{path}: a folder, not a file"))?;
    Ok(Some(blob.content().to_vec()))
}

/// Every path the manifest lists (each export's `paths`), sorted and without repeats.
fn manifest_paths(bytes: &[u8]) -> Result<Vec<String>, String> {
    let manifest: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{MANIFEST_PATH}: not JSON ({e})"))?;
    let exports = manifest
        .get("exports")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            format!("{MANIFEST_PATH}: no `exports` list; is this a Kollect Git sink?")
        })?;
    let mut paths: Vec<String> = exports
        .iter()
        .filter_map(|export| export.get("paths").and_then(Value::as_array))
        .flatten()
        .filter_map(|path| path.as_str().map(str::to_owned))
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Every file of the tree outside dot folders (`.kollect`, `.github`).
fn all_files(tree: &Tree<'_>) -> Result<Vec<String>, String> {
    let mut paths = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |root, entry| {
        let name = entry.name().unwrap_or_default();
        if name.starts_with('.') {
            return TreeWalkResult::Skip;
        }
        if entry.kind() == Some(ObjectType::Blob) {
            paths.push(format!("{root}{name}"));
        }
        TreeWalkResult::Ok
    })
    .map_err(|e| e.message().to_owned())?;
    paths.sort();
    Ok(paths)
}
