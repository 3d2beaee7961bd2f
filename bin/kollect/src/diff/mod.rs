//! `kollect diff A B`: what changed between two exports — two envelope files, or two folders of
//! them (`kollect collect --output` folders, checkouts of a Git sink) — object by object and
//! attribute by attribute.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Result;
use kollect_aggregate::{TargetRow, decode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    cli::{EXIT_INVALID, EXIT_OK},
    output,
};

/// Exit code: the exports differ (as `diff` does).
const EXIT_DIFFERENT: u8 = 1;

/// `kollect diff` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    /// The older export: an envelope file or a folder of them.
    #[arg(value_name = "OLD")]
    pub(crate) old: PathBuf,
    /// The newer export.
    #[arg(value_name = "NEW")]
    pub(crate) new: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Text)]
    pub(crate) output: DiffFormat,
}

/// How the difference is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DiffFormat {
    /// One block per object (coloured on a terminal unless `NO_COLOR` is set).
    Text,
    /// One JSON document: added, removed and changed objects, and the unchanged count.
    Json,
}

/// An object as the diff identifies it: by target, kind, namespace and name (a re-created
/// object, with a new uid, is a change of its `uid`, not a removal and an addition).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectKey {
    target_namespace: String,
    target_name: String,
    group: String,
    kind: String,
    namespace: String,
    name: String,
}

struct Object {
    uid: String,
    attributes: Map<String, Value>,
}

/// One attribute's change; `None` where it is absent.
#[derive(Debug, Serialize)]
struct Change {
    old: Option<Value>,
    new: Option<Value>,
}

#[derive(Debug, Serialize)]
struct Changed {
    #[serde(flatten)]
    key: ObjectKey,
    attributes: BTreeMap<String, Change>,
}

#[derive(Debug, Serialize)]
struct Present {
    #[serde(flatten)]
    key: ObjectKey,
    uid: String,
    attributes: Map<String, Value>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    added: Vec<Present>,
    removed: Vec<Present>,
    changed: Vec<Changed>,
    unchanged: usize,
}

pub(crate) fn run(args: &DiffArgs) -> Result<u8> {
    let (old, new) = match (load(&args.old), load(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(error), _) | (_, Err(error)) => {
            output::error_line(&format!("error: {error}"));
            return Ok(EXIT_INVALID);
        }
    };
    let report = compare(old, new);
    let rendered = match args.output {
        DiffFormat::Text => render_text(&report, colour()),
        DiffFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
    };
    output::stdout(&rendered)?;
    let same = report.added.is_empty() && report.removed.is_empty() && report.changed.is_empty();
    Ok(if same { EXIT_OK } else { EXIT_DIFFERENT })
}

fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && output::stdout_is_terminal()
}

/// Every object of an export file, or of every export file below a folder.
fn load(path: &Path) -> Result<BTreeMap<ObjectKey, Object>, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut files = Vec::new();
    if metadata.is_dir() {
        walk(path, &mut files).map_err(|e| format!("{}: {e}", path.display()))?;
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut objects = BTreeMap::new();
    let mut exports = 0;
    for file in &files {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let decoded = match decode(&bytes) {
            Ok(decoded) => decoded,
            // In a folder, files that are not exports (a README, a Git sink's manifest) are
            // not part of the inventory; a single file must be one.
            Err(_) if metadata.is_dir() && !looks_like_export(&bytes) => continue,
            Err(error) => return Err(format!("{}: {error}", file.display())),
        };
        exports += 1;
        for row in decoded.items {
            let (key, object) = split(&row);
            objects.insert(key, object);
        }
    }
    if exports == 0 {
        return Err(format!(
            "{}: no export found (envelope files written by `kollect collect` or a snapshot sink)",
            path.display()
        ));
    }
    Ok(objects)
}

/// Whether a file that failed to decode was meant to be an export (then the error matters).
fn looks_like_export(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]);
    head.contains("\"schemaVersion\"") || head.contains("\"targetNamespace\"")
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

fn compare(mut old: BTreeMap<ObjectKey, Object>, new: BTreeMap<ObjectKey, Object>) -> Report {
    let mut report = Report::default();
    for (key, object) in new {
        let Some(before) = old.remove(&key) else {
            report.added.push(Present {
                key,
                uid: object.uid,
                attributes: object.attributes,
            });
            continue;
        };
        let mut changes = BTreeMap::new();
        if before.uid != object.uid {
            changes.insert(
                "(uid)".to_owned(),
                Change {
                    old: Some(Value::String(before.uid)),
                    new: Some(Value::String(object.uid)),
                },
            );
        }
        let mut names: Vec<&String> = before
            .attributes
            .keys()
            .chain(object.attributes.keys())
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let (a, b) = (before.attributes.get(name), object.attributes.get(name));
            if a != b {
                changes.insert(
                    name.clone(),
                    Change {
                        old: a.cloned(),
                        new: b.cloned(),
                    },
                );
            }
        }
        if changes.is_empty() {
            report.unchanged += 1;
        } else {
            report.changed.push(Changed {
                key,
                attributes: changes,
            });
        }
    }
    report.removed = old
        .into_iter()
        .map(|(key, object)| Present {
            key,
            uid: object.uid,
            attributes: object.attributes,
        })
        .collect();
    report
}

fn render_text(report: &Report, colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for present in &report.added {
        let _ = writeln!(
            out,
            "{}",
            paint("32", &format!("+ {}", title(&present.key)))
        );
        for (name, value) in &present.attributes {
            let _ = writeln!(out, "    {name}: {value}");
        }
    }
    for present in &report.removed {
        let _ = writeln!(
            out,
            "{}",
            paint("31", &format!("- {}", title(&present.key)))
        );
    }
    for changed in &report.changed {
        let _ = writeln!(
            out,
            "{}",
            paint("33", &format!("~ {}", title(&changed.key)))
        );
        for (name, change) in &changed.attributes {
            let show = |v: &Option<Value>| {
                v.as_ref()
                    .map_or_else(|| "(absent)".to_owned(), ToString::to_string)
            };
            let _ = writeln!(
                out,
                "    {name}: {} → {}",
                paint("31", &show(&change.old)),
                paint("32", &show(&change.new))
            );
        }
    }
    let _ = writeln!(
        out,
        "{} added, {} removed, {} changed, {} unchanged",
        report.added.len(),
        report.removed.len(),
        report.changed.len(),
        report.unchanged
    );
    out
}

/// `Deployment shop/web (target inventory/deployments)`.
fn title(key: &ObjectKey) -> String {
    let kind = if key.group.is_empty() {
        key.kind.clone()
    } else {
        format!("{}.{}", key.kind, key.group)
    };
    let object = if key.namespace.is_empty() {
        key.name.clone()
    } else {
        format!("{}/{}", key.namespace, key.name)
    };
    format!(
        "{kind} {object} (target {}/{})",
        key.target_namespace, key.target_name
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn object(uid: &str, attributes: Value) -> Object {
        let Value::Object(attributes) = attributes else {
            panic!("attributes are an object")
        };
        Object {
            uid: uid.into(),
            attributes,
        }
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            target_namespace: "inv".into(),
            target_name: "apps".into(),
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    #[test]
    fn objects_are_added_removed_changed_or_unchanged() {
        let old = BTreeMap::from([
            (
                key("web"),
                object("u1", json!({"image": "nginx:1.27", "replicas": 2})),
            ),
            (key("gone"), object("u2", json!({}))),
            (key("same"), object("u3", json!({"a": 1}))),
            (key("recreated"), object("u4", json!({"a": 1}))),
        ]);
        let new = BTreeMap::from([
            (
                key("web"),
                object("u1", json!({"image": "nginx:1.28", "team": "shop"})),
            ),
            (key("new"), object("u5", json!({"a": 2}))),
            (key("same"), object("u3", json!({"a": 1}))),
            (key("recreated"), object("u6", json!({"a": 1}))),
        ]);
        let report = compare(old, new);
        assert_eq!(report.unchanged, 1);
        assert_eq!(report.added.len(), 1);
        assert_eq!(report.removed.len(), 1);
        let text = render_text(&report, false);
        assert_eq!(
            text,
            "+ Deployment.apps shop/new (target inv/apps)\n    a: 2\n\
             - Deployment.apps shop/gone (target inv/apps)\n\
             ~ Deployment.apps shop/recreated (target inv/apps)\n    (uid): \"u4\" → \"u6\"\n\
             ~ Deployment.apps shop/web (target inv/apps)\n    image: \"nginx:1.27\" → \"nginx:1.28\"\n    replicas: 2 → (absent)\n    team: (absent) → \"shop\"\n\
             1 added, 1 removed, 2 changed, 1 unchanged\n"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["changed"][1]["attributes"]["replicas"],
            json!({"old": 2, "new": null})
        );
        assert_eq!(json["added"][0]["name"], "new");
    }
}
