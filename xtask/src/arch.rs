//! `cargo xtask arch`: every dependency edge between workspace crates (dev-dependencies
//! included) must be allowed by the layering of STYLE.md §1.
//!
//! ```text
//! layer 0  kollect-api
//! layer 1  kollect-extract   kollect-collect   kollect-aggregate     (no edges between them)
//! layer 2  kollect-export        -> aggregate, api
//! layer 3  kollect-sinks         -> export, api
//! layer 3  kollect-controllers   -> extract, collect, aggregate, export, api   (never sinks)
//! layer 4  kollect (bin)         -> everything; the only crate that links kollect-sinks
//! ```
//!
//! `kollect-testkit` (the in-repo API server) depends on the API only, and any crate but the
//! API may use it as a dev-dependency. `xtask`, `kollect-e2e` and `kollect-bench` (the
//! benchmark harness) may depend on anything.

use std::{collections::BTreeSet, path::Path, process::Command};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// What a crate may depend on.
#[derive(Clone, Copy)]
enum Rule {
    /// Only these workspace crates.
    Only(&'static [&'static str]),
    /// Anything in the workspace (tooling and end-to-end tests).
    Any,
}

/// The rule of a crate; `None` for crates the table does not know.
fn allowed(krate: &str) -> Option<Rule> {
    const API: &[&str] = &["kollect-api"];
    Some(match krate {
        "kollect-api" => Rule::Only(&[]),
        "kollect-extract" | "kollect-collect" | "kollect-aggregate" | "kollect-testkit" => {
            Rule::Only(API)
        }
        "kollect-export" => Rule::Only(&["kollect-api", "kollect-aggregate"]),
        "kollect-sinks" => Rule::Only(&["kollect-api", "kollect-export"]),
        "kollect-controllers" => Rule::Only(&[
            "kollect-api",
            "kollect-extract",
            "kollect-collect",
            "kollect-aggregate",
            "kollect-export",
        ]),
        "kollect" => Rule::Only(&[
            "kollect-api",
            "kollect-extract",
            "kollect-collect",
            "kollect-aggregate",
            "kollect-export",
            "kollect-sinks",
            "kollect-controllers",
        ]),
        "xtask" | "kollect-e2e" | "kollect-bench" => Rule::Any,
        _ => return None,
    })
}

/// A dependency edge the layering forbids, or a crate it does not know.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Violation(pub(crate) String);

/// Checks `cargo metadata` output (format version 1).
pub(crate) fn check(metadata: &Value) -> Vec<Violation> {
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let members: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let mut violations = BTreeSet::new();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(rule) = allowed(name) else {
            violations.insert(Violation(format!(
                "{name}: not in the architecture table; add it to xtask/src/arch.rs and STYLE.md §1"
            )));
            continue;
        };
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let target = dependency["name"].as_str().unwrap_or_default();
            if !members.contains(target) {
                continue;
            }
            let dev = dependency["kind"].as_str() == Some("dev");
            let permitted = match rule {
                Rule::Any => true,
                Rule::Only(list) => {
                    list.contains(&target)
                        || (dev && target == "kollect-testkit" && name != "kollect-api")
                }
            };
            if !permitted {
                let kind = if dev { "dev-dependency" } else { "dependency" };
                violations.insert(Violation(format!(
                    "{name} -> {target} ({kind}) is not allowed by the layering of STYLE.md §1"
                )));
            }
        }
    }
    violations.into_iter().collect()
}

pub(crate) fn run(root: &Path) -> Result<()> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .context("run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout).context("parse cargo metadata")?;
    let violations = check(&metadata);
    if violations.is_empty() {
        let count = metadata["packages"].as_array().map_or(0, Vec::len);
        crate::print_line(&format!(
            "architecture: {count} crates, every dependency edge allowed"
        ));
        return Ok(());
    }
    let list: Vec<String> = violations
        .into_iter()
        .map(|v| format!("  {}", v.0))
        .collect();
    bail!("architecture check failed:\n{}", list.join("\n"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn package(name: &str, dependencies: &[(&str, &str)]) -> Value {
        let dependencies: Vec<Value> = dependencies
            .iter()
            .map(|(target, kind)| {
                let kind = if kind.is_empty() {
                    Value::Null
                } else {
                    json!(kind)
                };
                json!({"name": target, "kind": kind})
            })
            .collect();
        json!({"name": name, "dependencies": dependencies})
    }

    #[test]
    fn fails_on_a_forbidden_edge() {
        let metadata = json!({"packages": [
            package("kollect-api", &[("kollect-extract", ""), ("serde", "")]),
            package("kollect-extract", &[("kollect-api", "")]),
        ]});
        let violations = check(&metadata);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0]
                .0
                .starts_with("kollect-api -> kollect-extract (dependency)")
        );
    }

    #[test]
    fn dev_dependencies_count_too() {
        let metadata = json!({"packages": [
            package("kollect-api", &[]),
            package("kollect-collect", &[("kollect-api", "")]),
            package("kollect-aggregate", &[("kollect-api", ""), ("kollect-collect", "dev")]),
        ]});
        let violations = check(&metadata);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0]
                .0
                .contains("kollect-aggregate -> kollect-collect (dev-dependency)")
        );
    }

    #[test]
    fn controllers_never_link_sinks_and_testkit_is_a_test_tool() {
        let metadata = json!({"packages": [
            package("kollect-api", &[]),
            package("kollect-testkit", &[("kollect-api", "")]),
            package("kollect-export", &[("kollect-api", "")]),
            package("kollect-sinks", &[("kollect-export", ""), ("kollect-testkit", "dev")]),
            package("kollect-controllers", &[("kollect-sinks", ""), ("kollect-testkit", "dev")]),
        ]});
        let violations = check(&metadata);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0]
                .0
                .starts_with("kollect-controllers -> kollect-sinks")
        );
    }

    #[test]
    fn unknown_crates_are_reported() {
        let metadata = json!({"packages": [package("kollect-model", &[])]});
        assert!(
            check(&metadata)[0]
                .0
                .contains("not in the architecture table")
        );
    }

    #[test]
    fn the_workspace_itself_passes() {
        let root = crate::workspace_root().expect("root");
        run(&root).expect("the workspace follows its own layering");
    }
}
