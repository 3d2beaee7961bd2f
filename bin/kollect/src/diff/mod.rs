//! `kollect diff A B`: what changed between two exports — two envelope files, two folders of
//! them (`kollect collect --output` folders, checkouts of a Git sink), or two revisions of a Git
//! sink repository (`--git REPO REV1 REV2`) — object by object and attribute by attribute.
//!
//! ```text
//!  file | folder ─┐                          ┌─ text (coloured on a terminal)
//!                 ├─ read::rows ─> Objects ─ compare ─> Report ─┤
//!  REPO @ REV ────┘   (envelope, YAML or                        └─ JSON
//!  (git::load)         NDJSON items, .gz/.zst)
//! ```

mod git;
mod read;

use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf};

use anyhow::Result;
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
    /// The older export: an envelope file or a folder of them; with --git, a revision.
    #[arg(value_name = "OLD")]
    pub(crate) old: PathBuf,
    /// The newer export; with --git, a revision. Omitted with --live.
    #[arg(
        value_name = "NEW",
        required_unless_present = "live",
        conflicts_with = "live"
    )]
    pub(crate) new: Option<PathBuf>,
    /// Compare OLD with the live state instead of a second export: collect now with this config
    /// folder (as `kollect preview` does, writing nothing), from the current kubeconfig context
    /// or --context/--from-dir. OLD may be any export, a Parquet folder included.
    #[arg(long, value_name = "CONFIG_DIR", conflicts_with = "git")]
    pub(crate) live: Option<PathBuf>,
    /// With --live: read the cluster from manifest files instead of an API server (repeatable).
    #[arg(long = "from-dir", value_name = "DIR", requires = "live")]
    pub(crate) from_dir: Vec<PathBuf>,
    /// With --live: the kubeconfig file.
    #[arg(long, value_name = "PATH", requires = "live")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// With --live: the context(s) to collect (comma-separated, globs).
    #[arg(long, value_name = "NAME", value_delimiter = ',', requires = "live")]
    pub(crate) context: Vec<String>,
    /// With --live: the cluster name of the collected rows.
    #[arg(long, value_name = "NAME", requires = "live")]
    pub(crate) cluster: Option<String>,
    /// With --live: collect every target from this namespace only.
    #[arg(long, value_name = "NS", requires = "live")]
    pub(crate) namespace: Option<String>,
    /// Compare two revisions of this Git repository (a Git sink's, bare or not): OLD and NEW
    /// are then revisions as `git rev-parse` reads them (HEAD~1, main, a tag, a commit id).
    #[arg(long, value_name = "REPO")]
    pub(crate) git: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, visible_alias = "format", value_enum, default_value_t = DiffFormat::Text)]
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

/// The objects of one side, by identity.
type Objects = BTreeMap<ObjectKey, Object>;

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
    let loaded = match (&args.git, &args.live, &args.new) {
        (Some(repo), _, Some(new)) => {
            git::load_pair(repo, &args.old.to_string_lossy(), &new.to_string_lossy())
        }
        (None, Some(config), _) => {
            let old = match read::load(&args.old) {
                Ok(old) => old,
                Err(error) => {
                    output::error_line(&format!("error: {error}"));
                    return Ok(EXIT_INVALID);
                }
            };
            let source = crate::collect::SourceArgs {
                config: config.clone(),
                from_dir: args.from_dir.clone(),
                cluster: args.cluster.clone(),
                kubeconfig: args.kubeconfig.clone(),
                context: args.context.clone(),
                namespace: args.namespace.clone(),
            };
            match crate::collect::live_rows(&source)? {
                Ok(rows) => {
                    let mut new = Objects::new();
                    read::add(&mut new, rows);
                    Ok((old, new))
                }
                Err(code) => return Ok(code),
            }
        }
        (None, None, Some(new)) => {
            read::load(&args.old).and_then(|old| Ok((old, read::load(new)?)))
        }
        _ => Err("give NEW, or --live CONFIG_DIR to compare with the live state".to_owned()),
    };
    let (old, new) = match loaded {
        Ok(pair) => pair,
        Err(error) => {
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

fn compare(mut old: Objects, new: Objects) -> Report {
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
