//! Reading an inventory back from the branch (`Sink::stored`, for `kollect collect --dry-run`):
//! the files the manifest lists for the inventory, decoded into rows. Document layouts only: the
//! per-row layouts may hold a projection of the row (`content: resource`), not the row.

use std::io::Read as _;

use kollect_api::{row::TargetRow, v1alpha1::LayoutMode};
use serde_json::Value;

use super::{
    client::{Session, read_blob},
    config::{Config, Format, Packing},
    error::{Error, Result},
    manifest::{self, Key, Manifest},
};

/// What the branch holds for `key`: `Ok(None)` for a layout that does not keep whole rows, no
/// rows when the branch or the inventory's entry does not exist yet.
pub(super) fn stored(
    config: &Config,
    cache: std::path::PathBuf,
    key: &Key,
    deadline: std::time::Instant,
) -> Result<Option<Vec<TargetRow>>> {
    let document = config
        .layout
        .explicit
        .is_none_or(|layout| layout.mode == LayoutMode::Document);
    if !document {
        return Ok(None);
    }
    let mut session = Session::open(config, cache, deadline)?;
    let heads = session.sync(config.branch.as_ref().map(super::remote::Branch::as_str))?;
    let branch = config.branch_or(heads.default.as_ref());
    let Some(tip) = heads.branches.get(branch).copied() else {
        return Ok(Some(Vec::new()));
    };
    let repo = &session.repo;
    let read_error = |source: git2::Error| Error::Repository {
        action: "read the branch",
        path: session.path().to_owned(),
        source,
    };
    let tree = repo
        .find_commit(tip)
        .and_then(|commit| commit.tree())
        .map_err(read_error)?;
    let manifest = Manifest::read(read_blob(repo, &tree, manifest::PATH).as_deref());
    let Some(entry) = manifest.entry(key) else {
        return Ok(Some(Vec::new()));
    };
    let mut rows = Vec::new();
    for path in &entry.paths {
        let Some(bytes) = read_blob(repo, &tree, path) else {
            continue;
        };
        rows.extend(decode(
            path,
            &bytes,
            config.layout.format,
            config.layout.packing,
        )?);
    }
    Ok(Some(rows))
}

/// The rows of one document file: a YAML list of items, a JSON envelope, or NDJSON lines,
/// compressed or not.
fn decode(path: &str, bytes: &[u8], format: Format, packing: Packing) -> Result<Vec<TargetRow>> {
    let invalid = |message: String| Error::Config(format!("{path}: {message}"));
    let mut text = String::new();
    match packing {
        Packing::None => text = String::from_utf8_lossy(bytes).into_owned(),
        Packing::Gzip => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_string(&mut text)
                .map_err(|e| invalid(format!("not gzip text: {e}")))?;
        }
        Packing::Zstd => {
            let raw = zstd::decode_all(bytes).map_err(|e| invalid(format!("not zstd: {e}")))?;
            text = String::from_utf8_lossy(&raw).into_owned();
        }
    }
    let json = match format {
        // One compact item per line.
        Format::Ndjson => format!(
            "[{}]",
            text.lines()
                .filter(|line| !line.trim().is_empty())
                .collect::<Vec<_>>()
                .join(",")
        ),
        // The envelope itself.
        Format::Json => text,
        Format::Yaml => yaml_items(&text).map_err(invalid)?,
    };
    kollect_export::decode(json.as_bytes())
        .map(|decoded| decoded.items)
        .map_err(|e| invalid(e.to_string()))
}

/// A YAML sequence of items (the document layout's YAML) as a JSON array.
fn yaml_items(text: &str) -> std::result::Result<String, String> {
    // The manifest reader takes mappings: the list becomes the value of `items`.
    let mut wrapped = String::with_capacity(text.len() + text.len() / 8 + 8);
    wrapped.push_str("items:\n");
    for line in text.lines() {
        wrapped.push_str("  ");
        wrapped.push_str(line);
        wrapped.push('\n');
    }
    let mut documents = kollect_api::manifest::parse(wrapped.as_bytes());
    match documents.len() {
        0 => Ok("[]".to_owned()),
        1 => {
            let document = documents.remove(0).map_err(|e| e.message)?;
            let items = document.value.get("items").cloned().unwrap_or(Value::Null);
            Ok(items.to_string())
        }
        n => Err(format!("{n} YAML documents, expected one list of items")),
    }
}
