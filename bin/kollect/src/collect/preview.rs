//! `kollect preview`: the rows `kollect collect` would export, printed instead of written.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;
use serde_json::{Map, Value};

use super::run::TargetOutcome;

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PreviewFormat {
    /// Aligned columns (the default on a terminal).
    Table,
    /// One JSON array of every row.
    Json,
    /// YAML documents, one per row.
    Yaml,
    /// One JSON row per line (the default when stdout is not a terminal).
    Ndjson,
}

/// One row as previewed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreviewRow {
    context: String,
    target_namespace: String,
    target_name: String,
    kind: String,
    namespace: String,
    name: String,
    uid: String,
    attributes: Map<String, Value>,
}

/// The rows of one context's outcomes.
pub(crate) fn rows(context: &str, outcomes: &[TargetOutcome]) -> Vec<PreviewRow> {
    outcomes
        .iter()
        .filter_map(|outcome| outcome.snapshot.as_ref())
        .flat_map(kollect_aggregate::Snapshot::items)
        .map(|row| PreviewRow {
            context: context.to_owned(),
            target_namespace: row.target_namespace.to_string(),
            target_name: row.target_name.to_string(),
            kind: row.kind.kind.to_string(),
            namespace: row.row.namespace.to_string(),
            name: row.row.name.to_string(),
            uid: row.row.uid.to_string(),
            attributes: row.row.attributes.to_map(),
        })
        .collect()
}

/// Longest attribute text shown in a table cell before it is cut with `…`.
const MAX_CELL_CHARS: usize = 80;

/// Renders rows in `format`.
pub(crate) fn render(rows: &[PreviewRow], format: PreviewFormat) -> Result<String> {
    Ok(match format {
        PreviewFormat::Json => format!("{}\n", serde_json::to_string_pretty(rows)?),
        PreviewFormat::Ndjson => {
            let mut out = String::new();
            for row in rows {
                out.push_str(&serde_json::to_string(row)?);
                out.push('\n');
            }
            out
        }
        PreviewFormat::Yaml => {
            let mut out = String::new();
            for row in rows {
                out.push_str("---\n");
                out.push_str(&kollect_api::manifest::to_yaml(&serde_json::to_value(row)?));
            }
            out
        }
        PreviewFormat::Table => table(rows),
    })
}

fn table(rows: &[PreviewRow]) -> String {
    let header = ["TARGET", "KIND", "NAMESPACE", "NAME", "ATTRIBUTES"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [
                format!("{}/{}", row.target_namespace, row.target_name),
                row.kind.clone(),
                row.namespace.clone(),
                row.name.clone(),
                cut(&Value::Object(row.attributes.clone()).to_string()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 5]| {
        for (index, cell) in cells.iter().enumerate() {
            if index == 4 {
                let _ = writeln!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<width$}   ", width = widths[index]);
            }
        }
    };
    line(header);
    for row in &cells {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    let _ = writeln!(out, "{} row(s)", rows.len());
    out
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_CELL_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_CELL_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, attributes: &Value) -> PreviewRow {
        PreviewRow {
            context: "c".into(),
            target_namespace: "inv".into(),
            target_name: "apps".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: name.into(),
            uid: "u".into(),
            attributes: attributes.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn tables_align_and_cut_long_attributes() {
        let rows = [
            row("web", &serde_json::json!({"image": "nginx"})),
            row(
                "a-much-longer-name",
                &serde_json::json!({"note": "x".repeat(100)}),
            ),
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "TARGET     KIND         NAMESPACE   NAME                 ATTRIBUTES"
        );
        assert_eq!(
            lines[1],
            "inv/apps   Deployment   shop        web                  {\"image\":\"nginx\"}"
        );
        assert!(lines[2].ends_with('…') && lines[2].chars().count() < 140);
        assert_eq!(lines[3], "2 row(s)");
    }

    #[test]
    fn machine_formats_carry_every_field() {
        let rows = [row("web", &serde_json::json!({"image": "nginx"}))];
        let ndjson = render(&rows, PreviewFormat::Ndjson).unwrap_or_default();
        assert_eq!(
            ndjson,
            "{\"context\":\"c\",\"targetNamespace\":\"inv\",\"targetName\":\"apps\",\"kind\":\"Deployment\",\"namespace\":\"shop\",\"name\":\"web\",\"uid\":\"u\",\"attributes\":{\"image\":\"nginx\"}}\n"
        );
        assert!(
            render(&rows, PreviewFormat::Yaml)
                .unwrap_or_default()
                .starts_with("---\n")
        );
    }
}
