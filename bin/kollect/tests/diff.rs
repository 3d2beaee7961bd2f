//! `kollect diff` end to end: the quickstart collected twice, once after editing a manifest, to
//! folders and into its Git sink (`--git REPO OLD NEW`).
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

fn git(repo: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.org"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The quickstart collected into its Git sink twice, the second time after editing one
/// manifest; returns the bare repository.
fn quickstart_history(root: &Path) -> std::path::PathBuf {
    let config = quickstart_config(root, true);
    let cluster = root.join("examples/quickstart/cluster");
    copy_dir(&quickstart("cluster"), &cluster);
    let collect = || {
        let (code, _, stderr) = kollect(&[
            "collect",
            "--config",
            config.to_str().unwrap(),
            "--from-dir",
            cluster.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        stderr
    };
    collect();
    let shop = cluster.join("shop.yaml");
    let text = std::fs::read_to_string(&shop).unwrap();
    std::fs::write(
        &shop,
        text.replace("ghcr.io/acme/cart:2.4.1", "ghcr.io/acme/cart:2.5.0"),
    )
    .unwrap();
    let second = collect();
    assert!(
        second.contains("sink inventory/snapshot/history: 2 target(s) written, 5 unchanged"),
        "{second}"
    );
    root.join("quickstart-out/inventory.git")
}

#[test]
fn two_revisions_of_a_git_sink_repository() {
    let root = tempfile::tempdir().unwrap();
    let repo = quickstart_history(root.path());
    let repo = repo.to_str().unwrap();
    // One commit per changed target: the Deployments, then the Pods.
    let log = git(Path::new(repo), &["log", "--format=%s", "-3", "main"]);
    assert!(
        log.starts_with("chore(quickstart/inventory/pods)")
            && log.contains("\nchore(quickstart/inventory/deployments)"),
        "{log}"
    );

    let (code, stdout, stderr) = kollect(&["diff", "--git", repo, "HEAD~2", "HEAD"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.starts_with("~ Deployment.apps shop/cart (target inventory/deployments)\n    images: [\"ghcr.io/acme/cart:2.4.1\"] → [\"ghcr.io/acme/cart:2.5.0\"]\n~ Pod shop/cart-"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("0 added, 0 removed, 4 changed, 130 unchanged\n"),
        "{stdout}"
    );

    // The last commit alone holds the Pods; a branch name and a commit id are revisions too.
    let head = git(Path::new(repo), &["rev-parse", "main"]);
    let (code, stdout, _) = kollect(&[
        "diff",
        "--git",
        repo,
        "main~1",
        head.trim(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let kinds: Vec<&str> = report["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Pod", "Pod", "Pod"]);
    assert_eq!(report["unchanged"], 131);

    let (code, stdout, _) = kollect(&["diff", "--git", repo, "HEAD~2", "HEAD~2"]);
    assert_eq!(code, 0);
    assert!(
        stdout.ends_with("0 added, 0 removed, 0 changed, 134 unchanged\n"),
        "{stdout}"
    );
    // A checkout is a folder of the sink's YAML item lists.
    let checkout = root.path().join("checkout");
    git(
        root.path(),
        &["clone", "-q", repo, checkout.to_str().unwrap()],
    );
    let (code, stdout, stderr) = kollect(&[
        "diff",
        checkout.to_str().unwrap(),
        checkout.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.ends_with("0 added, 0 removed, 0 changed, 134 unchanged\n"),
        "{stdout}"
    );
    // A bare repository given as a folder points at --git.
    let (code, _, stderr) = kollect(&["diff", repo, repo]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!(
            "a bare Git repository; compare two of its revisions with `kollect diff --git {repo} OLD NEW`"
        )),
        "{stderr}"
    );
}

#[test]
fn git_problems_are_one_line_with_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("inventory");
    std::fs::create_dir_all(repo.join(".kollect")).unwrap();
    std::fs::create_dir_all(repo.join("inventory/shop")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join(".kollect/manifest.json"),
        r#"{"schemaVersion":"kollect.dev/v1alpha1","kind":"KollectGitManifest","exports":[{"paths":["inventory/shop/web.yaml"]}]}"#,
    )
    .unwrap();
    std::fs::write(repo.join("inventory/shop/web.yaml"), "[]\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "empty inventory"]);
    std::fs::write(
        repo.join("inventory/shop/web.yaml"),
        "- name: web\n  namespace: shop\n",
    )
    .unwrap();
    git(&repo, &["commit", "-q", "-am", "not an export"]);
    let repo = repo.to_str().unwrap();
    let not_a_repo = dir.path().to_str().unwrap();
    let cases: [(&[&str], String); 4] = [
        (
            &["/nonexistent/inventory.git", "HEAD~1", "HEAD"],
            "error: /nonexistent/inventory.git: no such Git repository".to_owned(),
        ),
        (
            &[not_a_repo, "HEAD~1", "HEAD"],
            format!("error: {not_a_repo}: not a Git repository"),
        ),
        (
            &[repo, "v9", "HEAD"],
            format!(
                "error: {repo}: unknown revision \"v9\" (revspec 'v9' not found); `git -C {repo} log --oneline` lists the commits"
            ),
        ),
        (
            &[repo, "HEAD~1", "HEAD"],
            format!(
                "error: {repo}@HEAD:inventory/shop/web.yaml: invalid export at [0]: missing field `targetNamespace`"
            ),
        ),
    ];
    for (args, message) in cases {
        let (code, stdout, stderr) = kollect(&[&["diff", "--git"][..], args].concat());
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.starts_with(&message), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    let (code, stdout, _) = kollect(&["diff", "--git", repo, "HEAD~1", "HEAD~1"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "0 added, 0 removed, 0 changed, 0 unchanged\n");
}

#[test]
fn a_parquet_export_is_compared_with_the_live_state() {
    let root = tempfile::tempdir().unwrap();
    let config = support::quickstart_config(root.path(), true);
    let cluster = support::quickstart("cluster");
    let collected = support::run(
        support::kollect()
            .arg("collect")
            .arg("--config")
            .arg(&config)
            .arg("--from-dir")
            .arg(&cluster),
    );
    assert_eq!(collected.code, 0, "{}", collected.stderr);
    let parquet = root.path().join("quickstart-out/parquet");
    let diff = |cluster: &std::path::Path| {
        support::run(
            support::kollect()
                .arg("diff")
                .arg(&parquet)
                .arg("--live")
                .arg(&config)
                .arg("--from-dir")
                .arg(cluster),
        )
    };
    let same = diff(&cluster);
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    assert!(
        same.stdout
            .contains("0 added, 0 removed, 0 changed, 134 unchanged"),
        "{}",
        same.stdout
    );
    let edited = support::edited_cluster(root.path(), |name, text| {
        if name == "shop.yaml" {
            text.replace("nginx:1.27.2", "nginx:1.27.9")
        } else {
            text
        }
    });
    let changed = diff(&edited);
    assert_eq!(changed.code, 1, "{}{}", changed.stdout, changed.stderr);
    assert!(
        changed.stdout.contains(
            "~ Deployment.apps shop/web (target inventory/deployments)\n    images: [\"docker.io/library/nginx:1.27.2\"] → [\"docker.io/library/nginx:1.27.9\"]"
        ),
        "{}",
        changed.stdout
    );
    // Without NEW or --live: a usage error.
    let usage = support::run(support::kollect().arg("diff").arg(&parquet));
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    assert!(usage.stderr.contains("<NEW>"), "{}", usage.stderr);
}
