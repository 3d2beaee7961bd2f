//! Where `kollect collect` puts envelopes: files under a folder, or records on stdout
//! (operations spec §3.4).

use std::{
    io,
    path::{Path, PathBuf},
};

use kollect_aggregate::read_header;
use serde::Serialize;
use serde_json::value::RawValue;

/// The default object path of a target's envelope (operations spec §3.3).
pub(crate) const DEFAULT_PATH_TEMPLATE: &str = "inventory/{namespace}/{name}.yaml";

/// One target's export, as stdout records carry it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record<'a> {
    pub(crate) context: &'a str,
    pub(crate) target_namespace: &'a str,
    pub(crate) target_name: &'a str,
    pub(crate) path: &'a str,
    /// The envelope bytes exactly as exported (no re-encoding: large integers keep their value).
    pub(crate) envelope: &'a RawValue,
}

/// Stdout encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One compact JSON record per line.
    Ndjson,
    /// YAML documents separated by `---`.
    Yaml,
    /// One indented JSON array of every record (written at the end).
    Json,
}

/// Renders the path template for a target.
pub(crate) fn render_path(template: &str, cluster: &str, namespace: &str, name: &str) -> String {
    template
        .replace("{cluster}", cluster)
        .replace("{namespace}", namespace)
        .replace("{name}", name)
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// The file was created or changed.
    Changed,
    /// The file already held these bytes.
    Unchanged,
}

/// Writes an envelope to `root/path` unless the file already holds an envelope with the same
/// items (same `checksum`, `cluster` and generation: only `exportedAt` would change), so a run
/// over an unchanged cluster changes no file. Writes through a temporary file and a rename, so
/// a reader never sees half a file.
pub(crate) fn write_envelope(root: &Path, path: &str, envelope: &str) -> io::Result<Written> {
    let target = safe_join(root, path)?;
    if let Ok(existing) = std::fs::read(&target) {
        let (old, new) = (read_header(&existing), read_header(envelope.as_bytes()));
        if !old.checksum.is_empty()
            && (&old.checksum, &old.cluster, old.generation, old.item_count)
                == (&new.checksum, &new.cluster, new.generation, new.item_count)
        {
            return Ok(Written::Unchanged);
        }
    }
    let bytes = envelope.as_bytes();
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = target.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, &target)?;
    Ok(Written::Changed)
}

/// `root/path`, refusing paths that would leave `root` (absolute, `..`).
fn safe_join(root: &Path, path: &str) -> io::Result<PathBuf> {
    let relative = Path::new(path);
    let escapes = relative.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if escapes || path.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path {path:?} must stay inside the output folder"),
        ));
    }
    Ok(root.join(relative))
}

/// Encodes records for stdout. NDJSON and YAML stream; JSON is one array of all of them.
pub(crate) fn encode_record(
    record: &Record<'_>,
    format: Format,
) -> Result<String, serde_json::Error> {
    match format {
        Format::Ndjson => Ok(format!("{}\n", serde_json::to_string(record)?)),
        Format::Yaml => {
            let value = serde_json::to_value(record)?;
            Ok(format!("---\n{}", kollect_api::manifest::to_yaml(&value)))
        }
        Format::Json => serde_json::to_string_pretty(record),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cli_01_02_paths_render_and_stay_inside() {
        assert_eq!(
            render_path(DEFAULT_PATH_TEMPLATE, "prod", "team-a", "apps"),
            "inventory/team-a/apps.yaml"
        );
        // CLI-01: the sink's cluster; CLI-02: the context name when there is none.
        let template = "{cluster}/{namespace}/{name}.yaml";
        assert_eq!(
            render_path(template, "prod", "app", "inv"),
            "prod/app/inv.yaml"
        );
        assert_eq!(
            render_path(template, "prod-eu-1", "app", "inv"),
            "prod-eu-1/app/inv.yaml"
        );
        assert_eq!(
            render_path("{cluster}/{name}.json", "prod", "a", "b"),
            "prod/b.json"
        );
        let root = Path::new("/tmp/out");
        assert!(safe_join(root, "../etc/passwd").is_err());
        assert!(safe_join(root, "/etc/passwd").is_err());
        assert!(safe_join(root, "").is_err());
        assert_eq!(safe_join(root, "a/b.yaml").unwrap(), root.join("a/b.yaml"));
    }

    #[test]
    fn envelopes_with_the_same_items_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let envelope = |checksum: &str, at: &str| {
            format!(
                r#"{{"schemaVersion":"kollect.dev/v1alpha1","checksum":"{checksum}","itemCount":0,"exportedAt":"{at}","items":[]}}"#
            )
        };
        let first = envelope("c1", "2026-01-01T00:00:00Z");
        assert_eq!(
            write_envelope(dir.path(), "a/b.yaml", &first).unwrap(),
            Written::Changed
        );
        let later = envelope("c1", "2026-01-02T00:00:00Z");
        assert_eq!(
            write_envelope(dir.path(), "a/b.yaml", &later).unwrap(),
            Written::Unchanged
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a/b.yaml")).unwrap(),
            first
        );
        let changed = envelope("c2", "2026-01-02T00:00:00Z");
        assert_eq!(
            write_envelope(dir.path(), "a/b.yaml", &changed).unwrap(),
            Written::Changed
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a/b.yaml")).unwrap(),
            changed
        );
        // A file that is not an envelope is replaced.
        std::fs::write(dir.path().join("a/c.yaml"), "hand-written").unwrap();
        assert_eq!(
            write_envelope(dir.path(), "a/c.yaml", &first).unwrap(),
            Written::Changed
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a")).unwrap().collect();
        assert_eq!(leftovers.len(), 2, "no temporary file left behind");
    }

    #[test]
    fn cli_09_records_keep_the_envelope_bytes() {
        let envelope =
            RawValue::from_string(r#"{"itemCount":1,"n":12345678901234567890}"#.into()).unwrap();
        let record = Record {
            context: "kind-dev",
            target_namespace: "team-a",
            target_name: "apps",
            path: "inventory/team-a/apps.yaml",
            envelope: &envelope,
        };
        assert_eq!(
            encode_record(&record, Format::Ndjson).unwrap(),
            "{\"context\":\"kind-dev\",\"targetNamespace\":\"team-a\",\"targetName\":\"apps\",\"path\":\"inventory/team-a/apps.yaml\",\"envelope\":{\"itemCount\":1,\"n\":12345678901234567890}}\n"
        );
        let yaml = encode_record(&record, Format::Yaml).unwrap();
        assert!(yaml.starts_with("---\n"));
        // Every encoding carries the same record.
        let from_json: serde_json::Value =
            serde_json::from_str(&encode_record(&record, Format::Json).unwrap()).unwrap();
        let from_ndjson: serde_json::Value =
            serde_json::from_str(&encode_record(&record, Format::Ndjson).unwrap()).unwrap();
        assert_eq!(from_json, from_ndjson);
        let from_yaml = kollect_api::manifest::parse(yaml.as_bytes())
            .remove(0)
            .unwrap()
            .value;
        assert_eq!(from_yaml["path"], from_json["path"]);
        assert_eq!(
            from_yaml["envelope"]["itemCount"],
            from_json["envelope"]["itemCount"]
        );
    }
}
