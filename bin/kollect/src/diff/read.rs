//! Reading one side of a diff from files: an export file, or every export file below a folder.
//! A file is read by its name: `.gz`/`.zst` are decompressed first; `.ndjson` holds one item per
//! line; `.yaml`/`.yml` a YAML list of items (the Git sink's document layout) or a JSON envelope
//! (what `collect --output` writes); anything else a JSON envelope or list of items.

use std::{
    io::Read as _,
    path::{Path, PathBuf},
};

use kollect_aggregate::{TargetRow, decode};
use serde_json::Value;

use super::{Object, ObjectKey, Objects};

/// Largest decompressed file read: the Git sink's parts are at most 1 MiB, a whole export
/// written by `collect --output` is bounded by the manifest reader's 64 MiB.
const MAX_DECOMPRESSED_BYTES: u64 = kollect_api::manifest::MAX_FILE_BYTES as u64;

/// Every object of an export file, or of every export file below a folder.
pub(super) fn load(path: &Path) -> Result<Objects, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut files = Vec::new();
    if metadata.is_dir() {
        walk(path, &mut files).map_err(|e| format!("{}: {e}", path.display()))?;
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut objects = Objects::new();
    let mut exports = 0;
    for file in &files {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let name = file.to_string_lossy();
        let rows = match rows(&name, &bytes) {
            Ok(Some(rows)) => rows,
            // In a folder, files that are not exports (a README, a Git sink's manifest or
            // index) are not part of the inventory; a single file must be one.
            Ok(None) if metadata.is_dir() => continue,
            Err(_) if metadata.is_dir() && !looks_like_export(&bytes) => continue,
            Ok(None) => {
                return Err(format!(
                    "{}: not an export (an index or manifest, not items)",
                    file.display()
                ));
            }
            Err(error) => return Err(format!("{}: {error}", file.display())),
        };
        exports += 1;
        add(&mut objects, rows);
    }
    if exports == 0 && path.join("HEAD").is_file() && path.join("objects").is_dir() {
        return Err(format!(
            "{}: a bare Git repository; compare two of its revisions with `kollect diff --git {} OLD NEW` (e.g. HEAD~1 HEAD)",
            path.display(),
            path.display()
        ));
    }
    if exports == 0 {
        return Err(format!(
            "{}: no export found (envelope files written by `kollect collect` or a snapshot sink)",
            path.display()
        ));
    }
    Ok(objects)
}

/// Adds rows to a side of the diff.
pub(super) fn add(objects: &mut Objects, rows: Vec<TargetRow>) {
    for row in rows {
        let (key, object) = split(&row);
        objects.insert(key, object);
    }
}

/// Whether a file that failed to decode was meant to be an export (then the error matters).
pub(super) fn looks_like_export(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
    [
        "\"schemaVersion\"",
        "\"targetNamespace\"",
        "targetNamespace:",
    ]
    .iter()
    .any(|marker| head.contains(marker))
}

/// The rows of one export file named `name` (only its extensions matter). `Ok(None)` for a file
/// Kollect writes next to exports that holds no items: a Git sink's index of a tree layout or
/// its set manifest.
pub(super) fn rows(name: &str, bytes: &[u8]) -> Result<Option<Vec<TargetRow>>, String> {
    let (name, bytes) = decompress(name, bytes)?;
    let extension = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let json_text = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[');
    match extension {
        // An object-store sink's Parquet export (docs/reference/parquet.md).
        "parquet" => kollect_sinks::snapshot::object_store::read_parquet(bytes.clone().into())
            .map(Some)
            .map_err(|e| e.to_string()),
        "ndjson" => {
            let mut items = Vec::new();
            for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                items.push(
                    serde_json::from_slice::<Value>(line)
                        .map_err(|e| format!("line {}: not JSON: {e}", index + 1))?,
                );
            }
            from_value(Value::Array(items))
        }
        "yaml" | "yml" if !json_text => match yaml(&bytes)? {
            Some(value) => from_value(value),
            None => Ok(Some(Vec::new())),
        },
        _ if json_text => {
            // One item (a tree layout's file) or an index is not an envelope; look first.
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(value) if value.is_object() => {
                    check_object(&value)?;
                    if is_item(&value) || is_index(&value) {
                        return from_value(value);
                    }
                }
                _ => {}
            }
            // Decoded from the bytes: errors point at the file's own lines and columns.
            decode_rows(&bytes).map(Some)
        }
        _ => decode_rows(&bytes).map(Some),
    }
}

/// One YAML document: a list of items (the Git sink's document layout), an envelope, an item
/// or an index; `None` when empty.
fn yaml(bytes: &[u8]) -> Result<Option<Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let first = text
        .lines()
        .map(str::trim_start)
        .find(|line| !line.is_empty() && !line.starts_with('#'));
    // The manifest reader takes mappings only: a top-level list is read as the value of
    // `items`, every line indented (which keeps block scalars and nesting intact).
    let list = first.is_some_and(|line| line == "-" || line.starts_with("- "));
    let wrapped;
    let (source, shift) = if list {
        let mut text_items = String::with_capacity(text.len() + text.len() / 8 + 8);
        text_items.push_str("items:\n");
        for line in text.lines() {
            text_items.push_str("  ");
            text_items.push_str(line);
            text_items.push('\n');
        }
        wrapped = text_items;
        (wrapped.as_bytes(), 1)
    } else {
        (bytes, 0)
    };
    let mut documents = kollect_api::manifest::parse(source);
    match documents.len() {
        0 => Ok(None),
        1 => match documents.remove(0) {
            Ok(document) if list => Ok(document.value.get("items").cloned()),
            Ok(document) => Ok(Some(document.value)),
            // The manifest reader's word for a scalar document speaks of manifests.
            Err(error) if error.message.contains("must be a mapping") => Err(format!(
                "not an export: expected a list of items or an envelope, found {}",
                error
                    .message
                    .rsplit_once("found ")
                    .map_or("something else", |(_, found)| found)
            )),
            Err(error) => Err(format!(
                "invalid YAML at {}:{}: {}",
                error.location.line.saturating_sub(shift).max(1),
                error.location.column,
                error.message
            )),
        },
        n => Err(format!(
            "{n} YAML documents; an export is one list of items or one envelope"
        )),
    }
}

/// `name` without `.gz`/`.zst` and the bytes decompressed; other files as they are.
fn decompress<'a>(name: &'a str, bytes: &[u8]) -> Result<(&'a str, Vec<u8>), String> {
    let mut out = Vec::new();
    let result = if let Some(inner) = name.strip_suffix(".gz") {
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_DECOMPRESSED_BYTES + 1)
            .read_to_end(&mut out)
            .map(|_| inner)
    } else if let Some(inner) = name.strip_suffix(".zst") {
        zstd::stream::read::Decoder::new(bytes)
            .and_then(|decoder| {
                decoder
                    .take(MAX_DECOMPRESSED_BYTES + 1)
                    .read_to_end(&mut out)
            })
            .map(|_| inner)
    } else {
        return Ok((name, bytes.to_vec()));
    };
    let inner = result.map_err(|e| format!("cannot decompress: {e}"))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes; not an export Kollect wrote"
        ));
    }
    Ok((inner, out))
}

/// A value read from YAML or NDJSON: an envelope, a list of items, one item, or an index.
fn from_value(value: Value) -> Result<Option<Vec<TargetRow>>, String> {
    check_object(&value)?;
    if is_index(&value) {
        return Ok(None);
    }
    let value = if is_item(&value) {
        Value::Array(vec![value])
    } else {
        value
    };
    let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    // Lines and columns would count in this re-encoding, not in the file: the path says where.
    decode_rows(&bytes)
        .map(Some)
        .map_err(|error| without_position(&error).to_owned())
}

/// `message` without the trailing ` at line L column C` of `serde_json` errors.
fn without_position(message: &str) -> &str {
    match message.rsplit_once(" at line ") {
        Some((head, tail))
            if tail
                .split_once(" column ")
                .is_some_and(|(l, c)| is_number(l) && is_number(c)) =>
        {
            head
        }
        _ => message,
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn decode_rows(bytes: &[u8]) -> Result<Vec<TargetRow>, String> {
    decode(bytes)
        .map(|decoded| decoded.items)
        .map_err(|e| e.to_string())
}

/// A mapping is an envelope, an item or an index; any other (a config file next to exports)
/// is not an export, where `decode` would read it as an envelope without items.
fn check_object(value: &Value) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Ok(());
    };
    if ["items", "schemaVersion", "targetNamespace", "paths"]
        .iter()
        .any(|key| map.contains_key(*key))
    {
        Ok(())
    } else {
        Err("not an export: a mapping without items, schemaVersion or targetNamespace".into())
    }
}

/// One item (a row), as a tree layout's `item` files hold.
fn is_item(value: &Value) -> bool {
    value.get("targetNamespace").is_some() && value.get("items").is_none()
}

/// A Git sink's index of a tree layout (`paths` instead of `items`) or its set manifest.
fn is_index(value: &Value) -> bool {
    value.get("items").is_none()
        && (value.get("paths").is_some()
            || value.get("kind").and_then(Value::as_str) == Some("KollectExportSetManifest"))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // .git, .kollect
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

fn split(row: &TargetRow) -> (ObjectKey, Object) {
    (
        ObjectKey {
            target_namespace: row.target_namespace.to_string(),
            target_name: row.target_name.to_string(),
            group: row.kind.group.to_string(),
            kind: row.kind.kind.to_string(),
            namespace: row.row.namespace.to_string(),
            name: row.row.name.to_string(),
        },
        Object {
            uid: row.row.uid.to_string(),
            attributes: row.row.attributes.to_map(),
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write as _;

    use super::*;

    const ITEM: &str = r#"{"targetNamespace":"inv","targetName":"apps","namespace":"shop","name":"web","group":"apps","version":"v1","kind":"Deployment","uid":"u1","attributes":{"image":"nginx:1.27"}}"#;

    fn names(rows: &[TargetRow]) -> Vec<String> {
        rows.iter().map(|r| r.row.name.to_string()).collect()
    }

    #[test]
    fn every_layout_the_git_sink_writes_is_read() {
        let envelope = format!(
            r#"{{"schemaVersion":"kollect.dev/v1alpha1","checksum":"x","itemCount":1,"exportedAt":"2026-01-15T12:00:00Z","items":[{ITEM}]}}"#
        );
        let yaml = "- attributes:\n    image: nginx:1.27\n  group: apps\n  kind: Deployment\n  name: web\n  namespace: shop\n  targetName: apps\n  targetNamespace: inv\n  uid: u1\n  version: v1\n";
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(yaml.as_bytes()).unwrap();
        let gzip = gzip.finish().unwrap();
        let zstd = zstd::bulk::compress(format!("{ITEM}\n").as_bytes(), 3).unwrap();
        let one_item = yaml.trim_start_matches("- ").replace("\n  ", "\n");
        let cases: [(&str, &[u8]); 7] = [
            ("inventory/inv/apps.json", envelope.as_bytes()),
            ("inventory/inv/apps.yaml", envelope.as_bytes()),
            ("inventory/inv/apps.yaml", yaml.as_bytes()),
            ("inventory/inv/apps.yaml.gz", &gzip),
            ("inventory/inv/apps.ndjson.zst", &zstd),
            ("prod/shop/deployment/web.json", ITEM.as_bytes()),
            ("prod/shop/deployment/web.yaml", one_item.as_bytes()),
        ];
        for (name, bytes) in cases {
            let rows = rows(name, bytes).unwrap().unwrap();
            assert_eq!(names(&rows), ["web"], "{name}");
            assert_eq!(rows[0].row.uid.to_string(), "u1", "{name}");
        }
        assert_eq!(rows("a.yaml", b"[]\n").unwrap().unwrap().len(), 0);
        assert_eq!(rows("a.ndjson", b"").unwrap().unwrap().len(), 0);
    }

    #[test]
    fn indexes_are_not_exports_and_broken_files_say_where() {
        let index = "checksum: x\nitemCount: 1\npaths:\n- prod/shop/deployment/web.yaml\nschemaVersion: kollect.dev/v1alpha1\n";
        assert!(
            rows("inventory/inv/apps.yaml", index.as_bytes())
                .unwrap()
                .is_none()
        );
        let error = rows("a.yaml", b"- name: web\n").unwrap_err();
        assert_eq!(
            error,
            "invalid export at [0]: missing field `targetNamespace`"
        );
        let error = rows("a.ndjson", format!("{ITEM}\nnot json\n").as_bytes()).unwrap_err();
        assert!(error.starts_with("line 2: not JSON"), "{error}");
        let error = rows("a.yaml", b"a: [unclosed\n").unwrap_err();
        assert!(error.starts_with("invalid YAML at 2:"), "{error}");
        let error = rows("a.yaml", b"hello\n").unwrap_err();
        assert_eq!(
            error,
            "not an export: expected a list of items or an envelope, found a string"
        );
        let error = rows("a.yaml", b"apiVersion: v1\nkind: ConfigMap\n").unwrap_err();
        assert!(error.starts_with("not an export: a mapping"), "{error}");
        let error = rows("a.json.gz", b"not gzip").unwrap_err();
        assert!(error.starts_with("cannot decompress"), "{error}");
    }
}
