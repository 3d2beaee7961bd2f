//! The static source: cluster state read from folders of manifests instead of a live API, so the
//! pipeline runs offline and tests use fixtures.
//!
//! Accepted: `.yaml`, `.yml` and `.json` files (and the same gzip-compressed, `.gz`), with one or
//! many documents, `kind: List` (as `kubectl get -o yaml|json` writes), found recursively.
//! Every problem is reported with its file and line, and nothing is loaded when any file is bad:
//! an inventory built from half a dump would silently miss objects.

use std::{
    collections::BTreeMap,
    fmt::{self, Write as _},
    io::Read as _,
    path::{Path, PathBuf},
};

use kollect_api::manifest;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Largest decompressed size of one gzip file, as for plain files.
const MAX_DECOMPRESSED_BYTES: u64 = manifest::MAX_FILE_BYTES as u64;

/// A problem with one input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SourceError {
    /// The file (or folder).
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// One object read from a folder.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticObject {
    /// The object. `metadata.uid` is filled in when the manifest has none (see
    /// [`synthetic_uid`]).
    pub value: Value,
    /// Where it was read.
    pub origin: String,
}

/// Objects read from folders, by `apiVersion` and kind.
#[derive(Clone, Debug, Default)]
pub struct StaticSource {
    objects: BTreeMap<(String, String), BTreeMap<(String, String), StaticObject>>,
    files: usize,
    duplicates: usize,
}

/// A stable uid for an object that has none (a hand-written manifest rather than a dump): rows
/// are identified by uid, and the same manifest must give the same rows on every run.
/// `static-` followed by 32 hex characters of SHA-256 over apiVersion, kind, namespace and name.
pub fn synthetic_uid(api_version: &str, kind: &str, namespace: &str, name: &str) -> String {
    let digest =
        Sha256::digest(format!("{api_version}\u{0}{kind}\u{0}{namespace}\u{0}{name}").as_bytes());
    digest
        .iter()
        .take(16)
        .fold(String::from("static-"), |mut uid, b| {
            let _ = write!(uid, "{b:02x}");
            uid
        })
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl StaticSource {
    /// Reads every manifest under `paths` (files or folders, recursively, in name order).
    pub fn load(paths: &[PathBuf]) -> Result<Self, Vec<SourceError>> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            collect_files(path, &mut files, &mut errors);
        }
        if files.is_empty() && errors.is_empty() {
            errors.push(SourceError {
                path: paths.first().cloned().unwrap_or_default(),
                line: None,
                message: "no .yaml, .yml, .json or .gz manifest found; point --from-dir at a folder of manifests or `kubectl get -o yaml` dumps".into(),
            });
        }
        let mut source = Self::default();
        for file in &files {
            source.files += 1;
            let bytes = match read(file) {
                Ok(bytes) => bytes,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            };
            for document in manifest::parse(&bytes) {
                match document {
                    Ok(document) => {
                        if let Err(message) = source.add(document.value, file, document.start.line)
                        {
                            errors.push(SourceError {
                                path: file.clone(),
                                line: Some(document.start.line),
                                message,
                            });
                        }
                    }
                    Err(error) => errors.push(SourceError {
                        path: file.clone(),
                        line: Some(error.location.line),
                        message: error.message,
                    }),
                }
            }
        }
        if errors.is_empty() {
            Ok(source)
        } else {
            Err(errors)
        }
    }

    fn add(&mut self, mut value: Value, file: &Path, line: usize) -> Result<(), String> {
        let api_version = text(&value, "/apiVersion").to_owned();
        let kind = text(&value, "/kind").to_owned();
        let name = text(&value, "/metadata/name").to_owned();
        if api_version.is_empty() || kind.is_empty() {
            return Err(
                "the document has no apiVersion or kind; is it a Kubernetes object?".into(),
            );
        }
        if name.is_empty() {
            return Err(format!("{kind} without metadata.name"));
        }
        let namespace = text(&value, "/metadata/namespace").to_owned();
        if text(&value, "/metadata/uid").is_empty() {
            let uid = synthetic_uid(&api_version, &kind, &namespace, &name);
            if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.insert("uid".into(), Value::String(uid));
            }
        }
        let origin = format!("{}:{line}", file.display());
        let objects = self.objects.entry((api_version, kind.clone())).or_default();
        match objects.get(&(namespace.clone(), name.clone())) {
            Some(existing) if existing.value == value => {
                self.duplicates += 1;
                Ok(())
            }
            Some(existing) => Err(format!(
                "{kind} {namespace}/{name} is also defined, differently, at {}; keep one of them",
                existing.origin
            )),
            None => {
                objects.insert((namespace, name), StaticObject { value, origin });
                Ok(())
            }
        }
    }

    /// Files read.
    pub fn files(&self) -> usize {
        self.files
    }

    /// Identical copies of objects that were read more than once (overlapping dumps) and kept once.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Objects read.
    pub fn len(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    /// Whether no object was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The (apiVersion, kind) pairs present, with their object counts.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str, usize)> {
        self.objects
            .iter()
            .map(|((v, k), o)| (v.as_str(), k.as_str(), o.len()))
    }

    /// Objects of a group and kind in any version (a dump may hold another version than the
    /// profile names), ordered by namespace and name.
    pub fn objects(&self, group: &str, kind: &str) -> impl Iterator<Item = &StaticObject> {
        self.objects
            .iter()
            .filter(move |((api_version, k), _)| {
                k == kind && api_version.split_once('/').map_or("", |(g, _)| g) == group
            })
            .flat_map(|(_, objects)| objects.values())
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<SourceError>) {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => {
            errors.push(SourceError {
                path: path.to_owned(),
                line: None,
                message: format!("cannot read: {error}"),
            });
            return;
        }
    };
    if metadata.is_file() {
        out.push(path.to_owned());
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(SourceError {
                path: path.to_owned(),
                line: None,
                message: format!("cannot list the folder: {error}"),
            });
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        let hidden = child
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        // Symlinked folders are not followed: a link loop would recurse without end.
        let link = std::fs::symlink_metadata(&child).is_ok_and(|m| m.file_type().is_symlink());
        if child.is_dir() && !link {
            collect_files(&child, out, errors);
        } else if is_manifest(&child) {
            out.push(child);
        }
    }
}

fn is_manifest(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = name.strip_suffix(".gz").unwrap_or(name);
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn read(path: &Path) -> Result<Vec<u8>, SourceError> {
    let error = |message: String| SourceError {
        path: path.to_owned(),
        line: None,
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| error(format!("cannot read: {e}")))?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| error(format!("not a valid gzip file: {e}")))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(error(format!(
            "decompresses to more than {} MiB; split the dump into several files",
            MAX_DECOMPRESSED_BYTES / (1024 * 1024)
        )));
    }
    Ok(out)
}
