//! `kollect diff` end to end: the quickstart collected twice, once after editing a manifest.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use serde_json::Value;
use support::{quickstart, quickstart_config, run};

mod support;

fn kollect(args: &[&str]) -> (i32, String, String) {
    let out = run(support::kollect().args(args));
    (out.code, out.stdout, out.stderr)
}

fn collect(cluster: &Path, out: &Path) {
    // The quickstart's profiles and targets, without its sinks: files under `out`.
    let config = quickstart_config(&out.with_extension("config"), false);
    let (code, _, stderr) = kollect(&[
        "collect",
        "--cluster",
        "quickstart",
        "--config",
        config.to_str().unwrap(),
        "--from-dir",
        cluster.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn an_edited_manifest_shows_as_changed_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster");
    copy_dir(&quickstart("cluster"), &cluster);
    let (before, after) = (dir.path().join("before"), dir.path().join("after"));
    collect(&cluster, &before);
    let shop = cluster.join("shop.yaml");
    let text = std::fs::read_to_string(&shop).unwrap();
    std::fs::write(
        &shop,
        text.replace("ghcr.io/acme/cart:2.4.1", "ghcr.io/acme/cart:2.5.0"),
    )
    .unwrap();
    collect(&cluster, &after);

    let (same, stdout, _) = kollect(&["diff", before.to_str().unwrap(), before.to_str().unwrap()]);
    assert_eq!(same, 0);
    assert!(
        stdout.ends_with("0 added, 0 removed, 0 changed, 134 unchanged\n"),
        "{stdout}"
    );

    let (code, stdout, stderr) =
        kollect(&["diff", before.to_str().unwrap(), after.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.contains("~ Deployment.apps shop/cart (target inventory/deployments)\n    images: [\"ghcr.io/acme/cart:2.4.1\"] → [\"ghcr.io/acme/cart:2.5.0\"]\n"),
        "{stdout}"
    );
    // Three pods and the Deployment.
    assert!(
        stdout.ends_with("0 added, 0 removed, 4 changed, 130 unchanged\n"),
        "{stdout}"
    );

    let (code, stdout, _) = kollect(&[
        "diff",
        before
            .join("inventory/inventory/deployments.yaml")
            .to_str()
            .unwrap(),
        after
            .join("inventory/inventory/deployments.yaml")
            .to_str()
            .unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["changed"][0]["name"], "cart");
    assert_eq!(
        report["changed"][0]["attributes"]["images"]["new"][0],
        "ghcr.io/acme/cart:2.5.0"
    );
    assert_eq!(report["unchanged"], 19);
}

#[test]
fn unreadable_inputs_are_errors_not_differences() {
    let dir = tempfile::tempdir().unwrap();
    let not_export = dir.path().join("notes.txt");
    std::fs::write(&not_export, "hello").unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, r#"{"schemaVersion":"kollect.dev/v99","items":[]}"#).unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let cases = [
        ("/nonexistent/a", "No such file"),
        (
            not_export.to_str().unwrap(),
            "invalid export at .: expected value",
        ),
        (broken.to_str().unwrap(), "unsupported schemaVersion"),
        (empty.to_str().unwrap(), "no export found"),
    ];
    for (path, message) in cases {
        let (code, stdout, stderr) = kollect(&["diff", path, path]);
        assert_eq!(code, 2, "{path}: {stderr}");
        assert!(stdout.is_empty());
        assert!(stderr.contains(message), "{path}: {stderr}");
    }
}
