//! `kollect collect` end to end: offline from folders of manifests, and live against
//! kollect-testkit (a real HTTPS API server) with a kubeconfig, as a user would run it.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace};
use kollect_testkit::{Options, TestApiServer, TokenUser};
use kube::{Api, api::PostParams};
use serde_json::{Value, json};
use support::{Run, kollect, quickstart, quickstart_config, run};

mod support;

const PROFILE: &str = r"apiVersion: kollect.dev/v1alpha1
kind: KollectProfile
metadata: {name: images, namespace: shop}
spec:
  targetGVK: {group: apps, version: v1, kind: Deployment}
  attributes:
    - {name: image, path: '$.spec.template.spec.containers[0].image'}
    - {name: replicas, path: 'cel:object.spec.replicas', optional: true}
";

const TARGET: &str = r"apiVersion: kollect.dev/v1alpha1
kind: KollectTarget
metadata: {name: web, namespace: shop}
spec:
  profileRef: images
  labelSelector:
    matchLabels: {tier: web}
";

fn deployment(namespace: &str, name: &str, tier: &str, image: Option<&str>) -> Value {
    let containers = image.map_or_else(|| json!([]), |i| json!([{"name": "c", "image": i}]));
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"tier": tier, "app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
        },
    })
}

/// A config folder with the profile and target above.
fn config() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("profile.yaml"), PROFILE).unwrap();
    std::fs::write(dir.path().join("target.yml"), TARGET).unwrap();
    dir
}

/// A cluster dump: two web Deployments, one of another tier, in `shop`.
fn dump(objects: &[Value]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(dir.path().join("dump.json"), list.to_string()).unwrap();
    dir
}

fn records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn names(envelope: &Value) -> Vec<&str> {
    envelope["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect()
}

#[test]
fn offline_folders_give_one_record_per_target() {
    let config = config();
    let cluster = dump(&[
        deployment("shop", "web", "web", Some("nginx:1.27")),
        deployment("shop", "api", "web", Some("api:2")),
        deployment("shop", "db", "data", Some("postgres:16")),
    ]);
    let out = run(kollect()
        .args(["collect", "--output", "-", "--cluster", "prod"])
        .arg("--config")
        .arg(config.path())
        .arg("--from-dir")
        .arg(cluster.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = records(&out.stdout);
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["context"], "prod");
    assert_eq!(record["path"], "inventory/shop/web.yaml");
    let envelope = &record["envelope"];
    assert_eq!(envelope["cluster"], "prod");
    assert_eq!(envelope["itemCount"], 2);
    assert_eq!(
        names(envelope),
        ["api", "web"],
        "canonical order, selector applied"
    );
    assert_eq!(
        envelope["items"][1]["attributes"],
        json!({"image": "nginx:1.27", "replicas": 2})
    );
    assert!(envelope.get("generation").is_none());
    assert!(
        out.stderr.contains("1 of 1 target(s) exported, 2 row(s)"),
        "{}",
        out.stderr
    );
}

#[test]
fn files_are_written_once_and_rewritten_only_on_change() {
    let config = config();
    let cluster = dump(&[deployment("shop", "web", "web", Some("nginx:1.27"))]);
    let out_dir = tempfile::tempdir().unwrap();
    let collect = |cluster: &Path| {
        run(kollect()
            .arg("collect")
            .arg("--config")
            .arg(config.path())
            .arg("--from-dir")
            .arg(cluster)
            .arg("--output")
            .arg(out_dir.path()))
    };
    let first = collect(cluster.path());
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("1 file(s) changed"),
        "{}",
        first.stderr
    );
    let file = out_dir.path().join("inventory/shop/web.yaml");
    let written = std::fs::read_to_string(&file).unwrap();
    let again = collect(cluster.path());
    assert!(
        again.stderr.contains("0 file(s) changed, 1 unchanged"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        written,
        "untouched, timestamp included"
    );
    let changed = dump(&[deployment("shop", "web", "web", Some("nginx:1.28"))]);
    let third = collect(changed.path());
    assert!(
        third.stderr.contains("1 file(s) changed"),
        "{}",
        third.stderr
    );
    let envelope: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(envelope["items"][0]["attributes"]["image"], "nginx:1.28");
}

#[test]
fn failed_objects_make_a_partial_run_and_are_named() {
    let config = config();
    let cluster = dump(&[
        deployment("shop", "web", "web", Some("nginx:1.27")),
        deployment("shop", "empty", "web", None),
    ]);
    let out = run(kollect()
        .args(["collect", "--output", "-"])
        .arg("--config")
        .arg(config.path())
        .arg("--from-dir")
        .arg(cluster.path()));
    assert_eq!(out.code, 1, "partial: one object failed, one exported");
    assert!(
        out.stderr
            .contains("target shop/web: shop/empty (uid static-")
            && out.stderr.contains("attribute \"image\""),
        "{}",
        out.stderr
    );
    assert_eq!(names(&records(&out.stdout)[0]["envelope"]), ["web"]);
}

#[test]
fn bad_config_stops_before_any_cluster_with_file_line_and_field() {
    let config = config();
    std::fs::write(
        config.path().join("target.yml"),
        TARGET.replace("profileRef: images", "profileRef: missing"),
    )
    .unwrap();
    std::fs::write(
        config.path().join("sink.yaml"),
        "apiVersion: kollect.dev/v1alpha1\nkind: KollectEventSink\nmetadata: {name: s, namespace: shop}\nspec:\n  type: nats\n  nats: {url: \"nats://nats.example.org:4222\", subject: inventory}\n",
    )
    .unwrap();
    let out = run(kollect()
        .args(["collect", "--output", "-", "--kubeconfig", "/nonexistent"])
        .arg("--config")
        .arg(config.path()));
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("target.yml:1: KollectTarget/shop/web: spec.profileRef: KollectProfile shop/missing is not in the config folder"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "sink.yaml:1: KollectEventSink/shop/s: event sinks (kafka, nats) are not available"
        ),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("kubeconfig"),
        "the cluster is never contacted: {}",
        out.stderr
    );
}

#[test]
fn bad_flags_and_bad_folders_are_refused_clearly() {
    let config = config();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--dry-run", "--output", "-"],
            "--output - and --dry-run exclude each other",
        ),
        (
            &["--output", "out", "--format", "yaml"],
            "--format applies to stdout records only",
        ),
        (&[], "nowhere to write"),
        (
            &["--output", "-", "--from-dir", "/nonexistent/dump"],
            "cannot read --from-dir",
        ),
    ];
    for (flags, message) in cases {
        let out = run(kollect()
            .arg("collect")
            .arg("--config")
            .arg(config.path())
            .args(flags));
        assert_eq!(out.code, 2, "{flags:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{flags:?}: {}", out.stderr);
    }
    let out = run(kollect().args([
        "collect",
        "--output",
        "-",
        "--config",
        "/nonexistent/config",
    ]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot read the config folder"),
        "{}",
        out.stderr
    );
    let garbage = tempfile::tempdir().unwrap();
    std::fs::write(garbage.path().join("bad.yaml"), "kind: [unclosed").unwrap();
    let out = run(kollect()
        .args(["collect", "--output", "-"])
        .arg("--config")
        .arg(garbage.path()));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("bad.yaml:2: invalid YAML"),
        "{}",
        out.stderr
    );
}

/// Runs `kollect collect` against a testkit server holding `objects`, as `token` (the admin
/// when `None`); returns the run and the kubeconfig folder.
/// A testkit server (knowing `tokens`) with namespace `shop` holding `objects` (Deployments).
async fn shop_server(
    tokens: Vec<TokenUser>,
    objects: Vec<Value>,
) -> (TestApiServer, Api<Deployment>) {
    let server = TestApiServer::start(Options {
        tokens,
        ..Options::default()
    })
    .await
    .unwrap();
    let client = server.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap(),
        )
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client, "shop");
    for object in objects {
        deployments
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).unwrap(),
            )
            .await
            .unwrap();
    }
    (server, deployments)
}

async fn live(objects: Vec<Value>, user: Option<TokenUser>, extra: &[&str]) -> Run {
    let (server, _) = shop_server(user.iter().cloned().collect(), objects).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig: PathBuf = dir.path().join("kubeconfig");
    let yaml = match &user {
        Some(user) => server.kubeconfig_for(&user.token),
        None => server.kubeconfig(),
    };
    std::fs::write(&kubeconfig, yaml).unwrap();
    let config = config();
    let mut command = kollect();
    command
        .arg("collect")
        .arg("--config")
        .arg(config.path())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(extra);
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_cluster_through_a_kubeconfig() {
    let out = live(
        vec![
            deployment("shop", "web", "web", Some("nginx:1.27")),
            deployment("shop", "db", "data", Some("postgres:16")),
        ],
        None,
        &["--output", "-", "--context", "kollect-*"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = records(&out.stdout);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["context"], "kollect-testkit");
    let envelope = &records[0]["envelope"];
    assert_eq!(names(envelope), ["web"]);
    let uid = envelope["items"][0]["uid"].as_str().unwrap();
    assert!(
        !uid.is_empty() && !uid.starts_with("static-"),
        "the server's uid: {uid}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_context_and_a_forbidden_identity_are_reported() {
    let out = live(vec![], None, &["--output", "-", "--context", "nope"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--context nope: no such context (the kubeconfig has: kollect-testkit)"),
        "{}",
        out.stderr
    );
    // A user without any RBAC binding cannot even list namespaces: nothing is collected.
    let nobody = TokenUser::new("nobody", &[]);
    let out = live(
        vec![deployment("shop", "web", "web", Some("nginx:1"))],
        Some(nobody),
        &["--output", "-"],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("cannot read namespaces (forbidden"),
        "{}",
        out.stderr
    );
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
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

#[test]
fn the_quickstart_writes_git_and_parquet_and_a_second_run_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let config = quickstart_config(root.path(), true);
    let cluster = quickstart("cluster");
    let collect = || {
        run(kollect()
            .args(["collect", "--cluster", "quickstart"])
            .arg("--config")
            .arg(&config)
            .arg("--from-dir")
            .arg(&cluster))
    };
    let first = collect();
    assert_eq!(first.code, 0, "{}", first.stderr);
    for sink in ["history", "tables"] {
        assert!(
            first.stderr.contains(&format!(
                "sink inventory/snapshot/{sink}: 7 target(s) written, 0 unchanged"
            )),
            "{}",
            first.stderr
        );
    }
    let out = root.path().join("quickstart-out");
    let repo = out.join("inventory.git");
    assert_eq!(
        git(&repo, &["rev-list", "--count", "main"]).trim(),
        "7",
        "one commit per target"
    );
    git(&repo, &["fsck", "--strict"]);
    let configmaps = git(&repo, &["show", "main:inventory/inventory/configmaps.yaml"]);
    assert!(configmaps.contains("web-config"), "{configmaps}");
    let parquet: Vec<_> = walk(&out.join("parquet/inventory"));
    assert_eq!(
        parquet
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .count(),
        7
    );
    // Secret values never reach the inventory, in either sink.
    let secrets = git(&repo, &["show", "main:inventory/inventory/secrets.yaml"]);
    assert!(
        !secrets.contains("bm90LWEtcmVhbC1wYXNzd29yZA") && !secrets.contains("not-a-real-password")
    );
    for file in &parquet {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !bytes.windows(19).any(|w| w == b"not-a-real-password"),
            "{}",
            file.display()
        );
    }

    let second = collect();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("sink inventory/snapshot/history: 0 target(s) written, 7 unchanged"),
        "{}",
        second.stderr
    );
    assert!(
        second
            .stderr
            .contains("sink inventory/snapshot/tables: 0 target(s) written, 7 unchanged"),
        "{}",
        second.stderr
    );
    assert_eq!(
        git(&repo, &["rev-list", "--count", "main"]).trim(),
        "7",
        "no commit when nothing changed"
    );
}

#[test]
fn a_dry_run_says_what_each_sink_would_get_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let config = quickstart_config(root.path(), true);
    let collect = |cluster: &Path, dry_run: bool| {
        let mut command = kollect();
        command.args(["collect", "--cluster", "quickstart"]);
        if dry_run {
            command.arg("--dry-run");
        }
        run(command
            .arg("--config")
            .arg(&config)
            .arg("--from-dir")
            .arg(cluster))
    };
    let out = root.path().join("quickstart-out");
    // Before the first run: nothing exists, and nothing is created.
    let first = collect(&quickstart("cluster"), true);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains(&format!(
            "sink inventory/snapshot/history: target inventory/deployments: would create {} and add 20 row(s)",
            out.join("inventory.git").display()
        )),
        "{}",
        first.stderr
    );
    assert!(!out.exists(), "a dry run creates nothing");
    assert_eq!(collect(&quickstart("cluster"), false).code, 0);
    // One image changed: the Git sink reads its branch back and names the change.
    let edited = support::edited_cluster(root.path(), |name, text| {
        if name == "shop.yaml" {
            text.replacen("nginx:1.27.2", "nginx:1.27.3", 1)
        } else {
            text
        }
    });
    let commits = git(&out.join("inventory.git"), &["rev-list", "--count", "main"]);
    let dry = collect(&edited, true);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    for line in [
        "sink inventory/snapshot/history: target inventory/configmaps: unchanged (24 row(s))",
        "sink inventory/snapshot/history: target inventory/deployments: would add 0, change 1, remove 0 row(s)",
        "sink inventory/snapshot/tables: target inventory/deployments: would add 0, change 1, remove 0 row(s)",
    ] {
        assert!(dry.stderr.contains(line), "{line}\n{}", dry.stderr);
    }
    assert_eq!(
        git(&out.join("inventory.git"), &["rev-list", "--count", "main"]),
        commits,
        "a dry run commits nothing"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_quickstart_to_files_keeps_its_go_meaning() {
    let root = tempfile::tempdir().unwrap();
    let config = quickstart_config(root.path(), false);
    let cluster = quickstart("cluster");
    let out_dir = root.path().join("files");
    let collect = || {
        run(kollect()
            .args(["collect", "--cluster", "quickstart"])
            .arg("--config")
            .arg(&config)
            .arg("--from-dir")
            .arg(&cluster)
            .arg("--output")
            .arg(&out_dir))
    };
    let first = collect();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("7 of 7 target(s) exported, 134 row(s), 7 file(s) changed"),
        "{}",
        first.stderr
    );
    let second = collect();
    assert!(
        second.stderr.contains("0 file(s) changed, 7 unchanged"),
        "{}",
        second.stderr
    );
    let configmaps: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("inventory/inventory/configmaps.yaml")).unwrap(),
    )
    .unwrap();
    let app = configmaps["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "web-config")
        .unwrap();
    assert_eq!(
        app["attributes"]["keys"],
        json!(["FEATURE_FLAGS", "LOG_LEVEL", "PORT"])
    );
    // With sinks in the folder, --output is refused: the sinks are where envelopes go.
    let with_sinks = quickstart_config(&root.path().join("other"), true);
    let refused = run(kollect()
        .args(["collect", "--output", "-"])
        .arg("--config")
        .arg(&with_sinks)
        .arg("--from-dir")
        .arg(&cluster));
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("has 2 sink(s)"),
        "{}",
        refused.stderr
    );
}

/// Polls `check` every 50 ms until it holds; panics with `what` after 20 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn item_names(file: &Path) -> Option<Vec<String>> {
    let envelope: Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    Some(
        envelope["items"]
            .as_array()?
            .iter()
            .map(|i| i["name"].as_str().unwrap_or_default().to_owned())
            .collect(),
    )
}

/// A testkit server with namespace `shop` and Deployment `web`, and `kollect collect --watch`
/// writing to a folder with the given debounce (and maximum delay).
struct Watching {
    _server: TestApiServer,
    deployments: Api<Deployment>,
    /// `None` once stopped; killed on drop otherwise (a failing test leaves no process behind).
    child: Option<std::process::Child>,
    file: PathBuf,
    _dir: tempfile::TempDir,
    _config: tempfile::TempDir,
}

impl Watching {
    async fn start(debounce: &str) -> Self {
        Self::start_with(debounce, &[]).await
    }

    async fn start_with(debounce: &str, extra: &[&str]) -> Self {
        let (server, deployments) = shop_server(
            Vec::new(),
            vec![deployment("shop", "web", "web", Some("nginx:1.27"))],
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
        let config = config();
        let out = dir.path().join("out");
        let child = kollect()
            .args([
                "collect",
                "--watch",
                "--debounce",
                debounce,
                "--max-delay",
                debounce,
            ])
            .arg("--config")
            .arg(config.path())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--output")
            .arg(&out)
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let watching = Self {
            _server: server,
            deployments,
            child: Some(child),
            file: out.join("inventory/shop/web.yaml"),
            _dir: dir,
            _config: config,
        };
        let file = watching.file.clone();
        eventually("the first envelope", || {
            item_names(&file) == Some(vec!["web".to_owned()])
        })
        .await;
        watching
    }

    async fn create(&self, object: Value) {
        self.deployments
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).unwrap(),
            )
            .await
            .unwrap();
    }

    /// SIGTERM, then the exit code and stderr.
    async fn stop(&mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::task::spawn_blocking(move || {
            let status = child.wait().unwrap();
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            (status.code(), stderr)
        })
        .await
        .unwrap()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_mode_follows_creates_changes_and_deletes_then_stops_on_sigterm() {
    let mut watching = Watching::start("100ms").await;
    let file = watching.file.clone();
    // A new object of the target, one it does not select, and a deletion.
    watching
        .create(deployment("shop", "api", "web", Some("api:1")))
        .await;
    watching
        .create(deployment("shop", "db", "data", Some("postgres:16")))
        .await;
    eventually("api to appear", || {
        item_names(&file) == Some(vec!["api".to_owned(), "web".to_owned()])
    })
    .await;
    watching
        .deployments
        .delete("web", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    eventually("web to leave", || {
        item_names(&file) == Some(vec!["api".to_owned()])
    })
    .await;
    let (code, stderr) = watching.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("watching 1 target(s)"), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_mode_writes_pending_changes_when_stopped() {
    // The first envelope is written once the watch has synced; with an hour of debounce, only
    // the shutdown flush can write a later change.
    let mut watching = Watching::start("1h").await;
    watching
        .create(deployment("shop", "api", "web", Some("api:1")))
        .await;
    // The watch event reaches the store within milliseconds; a second is a wide margin.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        item_names(&watching.file),
        Some(vec!["web".to_owned()]),
        "still debounced"
    );
    let file = watching.file.clone();
    let (code, stderr) = watching.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        item_names(&file),
        Some(vec!["api".to_owned(), "web".to_owned()]),
        "flushed: {stderr}"
    );
}

#[test]
fn preview_prints_the_rows_and_writes_nothing() {
    let preview = |format: &str| {
        run(kollect()
            .args(["preview", "--output", format])
            .arg("--config")
            .arg(quickstart("config"))
            .arg("--from-dir")
            .arg(quickstart("cluster")))
    };
    let ndjson = preview("ndjson");
    assert_eq!(ndjson.code, 0, "{}", ndjson.stderr);
    let rows: Vec<Value> = records(&ndjson.stdout);
    assert_eq!(rows.len(), 134);
    let web = rows
        .iter()
        .find(|r| r["kind"] == "Deployment" && r["name"] == "web")
        .unwrap();
    assert_eq!(
        web["attributes"]["images"],
        json!(["docker.io/library/nginx:1.27.2"])
    );
    let table = preview("table");
    assert!(table.stdout.starts_with("TARGET "), "{}", table.stdout);
    assert!(table.stdout.ends_with("134 row(s)\n"));
    let array: Value = serde_json::from_str(&preview("json").stdout).unwrap();
    assert_eq!(array.as_array().unwrap().len(), 134);
}

/// One HTTP/1.1 request on a fresh connection; the status code and the body.
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_mode_serves_the_rows_on_loopback() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut watching = Watching::start_with("100ms", &["--http", &address]).await;
    let get = |path: &'static str| tokio::task::spawn_blocking(move || http(port, "GET", path));
    let (status, body) = get("/v1alpha1/inventory").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let summary: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(summary["schemaVersion"], "kollect.dev/v1alpha1");
    assert_eq!(summary["itemCount"], 1);
    assert_eq!(summary["items"][0]["name"], "web");
    assert_eq!(
        summary["pagination"],
        json!({"limit": 500, "offset": 0, "total": 1, "hasMore": false})
    );
    assert_eq!(summary["checksum"].as_str().unwrap().len(), 64);

    // SSE: the summary at connect, then after a change.
    let (first, first_seen) = std::sync::mpsc::channel();
    let events = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead as _, Write as _};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET /v1alpha1/inventory/watch HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .unwrap();
        let mut reader = std::io::BufReader::new(stream);
        let mut counts = Vec::new();
        let mut line = String::new();
        while counts.len() < 2 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if let Some(data) = line.strip_prefix("data: ") {
                let summary: Value = serde_json::from_str(data).unwrap();
                counts.push(summary["itemCount"].as_u64().unwrap());
                let _ = first.send(());
            }
        }
        counts
    });
    tokio::task::spawn_blocking(move || first_seen.recv().unwrap())
        .await
        .unwrap();
    watching
        .create(deployment("shop", "api", "web", Some("api:1")))
        .await;
    assert_eq!(events.await.unwrap(), [1, 2]);

    let (status, body) = get("/v1alpha1/inventory/shop/web?limit=1&offset=1")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["items"][0]["name"], "web", "second of [api, web]");
    assert_eq!(page["pagination"]["total"], 2);
    assert_eq!(
        (page["namespace"].as_str(), page["inventory"].as_str()),
        (Some("shop"), Some("web"))
    );
    let (status, _) = get("/v1alpha1/inventory?kind=Deployment&name=api")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(get("/v1alpha1/inventory/shop/nope").await.unwrap().0, 404);
    assert_eq!(get("/v1alpha1/inventory?limit=many").await.unwrap().0, 400);
    assert_eq!(get("/v1alpha1/status/inventories").await.unwrap().0, 404);
    let refused = tokio::task::spawn_blocking(move || http(port, "POST", "/v1alpha1/inventory"));
    assert_eq!(refused.await.unwrap().0, 405);
    let (code, stderr) = watching.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "serving the read API on http://{address}/v1alpha1/inventory"
        )),
        "{stderr}"
    );
}

#[test]
fn the_read_api_refuses_addresses_others_can_reach() {
    let config = config();
    let out = run(kollect()
        .args([
            "collect",
            "--watch",
            "--http",
            "0.0.0.0:8082",
            "--output",
            "-",
            "--kubeconfig",
            "/nonexistent",
        ])
        .arg("--config")
        .arg(config.path()));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("loopback only"), "{}", out.stderr);
}

#[test]
fn secrets_come_from_the_folder_and_the_environment() {
    let root = tempfile::tempdir().unwrap();
    let config = quickstart_config(root.path(), true);
    std::fs::write(
        config.join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: git-token, namespace: inventory}\nstringData:\n  token: ${env:KOLLECT_TEST_GIT_TOKEN}\n",
    )
    .unwrap();
    let cluster = quickstart("cluster");
    let unset = run(kollect()
        .env_remove("KOLLECT_TEST_GIT_TOKEN")
        .arg("collect")
        .arg("--config")
        .arg(&config)
        .arg("--from-dir")
        .arg(&cluster));
    assert_eq!(unset.code, 2);
    assert!(
        unset.stderr.contains("secret.yaml:1: Secret/inventory/git-token: key token: environment variable KOLLECT_TEST_GIT_TOKEN is not set"),
        "{}",
        unset.stderr
    );
    // A sink naming a Secret that is not in the folder is refused before anything is collected.
    let sinks = std::fs::read_to_string(config.join("sinks.yaml")).unwrap();
    std::fs::write(
        config.join("sinks.yaml"),
        sinks.replace("  cluster: quickstart\n  serialization:\n    format: yaml\n", "  cluster: quickstart\n  secretRef: {name: missing}\n  serialization:\n    format: yaml\n"),
    )
    .unwrap();
    let missing = run(kollect()
        .env("KOLLECT_TEST_GIT_TOKEN", "t0ken")
        .arg("collect")
        .arg("--config")
        .arg(&config)
        .arg("--from-dir")
        .arg(&cluster));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("KollectSnapshotSink/inventory/history: Secret inventory/missing is not in the config folder"),
        "{}",
        missing.stderr
    );
    assert!(
        !root.path().join("quickstart-out/inventory.git").exists(),
        "nothing written"
    );
}

#[test]
fn cli_03_05_two_targets_of_one_kind_and_sorted_failures() {
    let config = tempfile::tempdir().unwrap();
    std::fs::write(config.path().join("profile.yaml"), PROFILE).unwrap();
    let target = |name: &str, namespace: &str| {
        format!(
            "apiVersion: kollect.dev/v1alpha1\nkind: KollectTarget\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  profileRef: images\n  includedNamespaces: [{namespace}]\n"
        )
    };
    std::fs::write(
        config.path().join("targets.yaml"),
        format!("{}---\n{}", target("a", "ns-a"), target("b", "ns-b")),
    )
    .unwrap();
    let cluster = dump(&[
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-a"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-b"}}),
        deployment("ns-a", "one", "web", Some("one:1")),
        deployment("ns-b", "two", "web", Some("two:1")),
        deployment("ns-b", "zz-broken", "web", None),
        deployment("ns-b", "aa-broken", "web", None),
    ]);
    let out = run(kollect()
        .args(["collect", "--output", "-"])
        .arg("--config")
        .arg(config.path())
        .arg("--from-dir")
        .arg(cluster.path()));
    assert_eq!(out.code, 1, "degraded by the failures: {}", out.stderr);
    let records = records(&out.stdout);
    let by_target: Vec<(String, Vec<&str>)> = records
        .iter()
        .map(|r| {
            (
                r["targetName"].as_str().unwrap().to_owned(),
                names(&r["envelope"]),
            )
        })
        .collect();
    assert_eq!(
        by_target,
        [("a".to_owned(), vec!["one"]), ("b".to_owned(), vec!["two"])],
        "one row each, in its namespace"
    );
    // CLI-05: failures in (target, namespace, name, uid) order.
    let failures: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("-broken"))
        .collect();
    assert_eq!(failures.len(), 2, "{}", out.stderr);
    assert!(
        failures[0].contains("shop/b: ns-b/aa-broken")
            && failures[1].contains("shop/b: ns-b/zz-broken"),
        "{failures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_07_a_kind_the_server_does_not_serve_skips_its_target_only() {
    let config = config();
    std::fs::write(
        config.path().join("missing.yaml"),
        "apiVersion: kollect.dev/v1alpha1\nkind: KollectProfile\nmetadata: {name: widgets, namespace: shop}\nspec:\n  targetGVK: {group: example.com, version: v1, kind: Widget}\n  attributes:\n    - {name: size, path: '$.spec.size'}\n---\napiVersion: kollect.dev/v1alpha1\nkind: KollectTarget\nmetadata: {name: widgets, namespace: shop}\nspec:\n  profileRef: widgets\n",
    )
    .unwrap();
    let (server, _) = shop_server(
        Vec::new(),
        vec![deployment("shop", "web", "web", Some("nginx:1"))],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    let mut command = kollect();
    command
        .args(["collect", "--output", "-"])
        .arg("--config")
        .arg(config.path())
        .arg("--kubeconfig")
        .arg(&kubeconfig);
    let out = tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap();
    assert_eq!(out.code, 1, "partial: {}", out.stderr);
    assert!(
        out.stderr
            .contains("target shop/widgets skipped: kind not served: example.com/v1/Widget"),
        "{}",
        out.stderr
    );
    let records = records(&out.stdout);
    assert_eq!(records.len(), 1, "the sibling target is exported");
    assert_eq!(names(&records[0]["envelope"]), ["web"]);
}

/// One kubeconfig (JSON, which kubeconfig readers accept) with a context per server, named
/// `names[i]`.
fn merged_kubeconfig(servers: &[&TestApiServer], names: &[&str]) -> Value {
    let mut merged = json!({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": [], "current-context": names[0]});
    for (server, name) in servers.iter().zip(names) {
        let yaml = server.kubeconfig();
        let config = kollect_api::manifest::parse(yaml.as_bytes())
            .remove(0)
            .unwrap()
            .value;
        let mut cluster = config["clusters"][0].clone();
        cluster["name"] = json!(name);
        let mut user = config["users"][0].clone();
        user["name"] = json!(name);
        merged["clusters"].as_array_mut().unwrap().push(cluster);
        merged["users"].as_array_mut().unwrap().push(user);
        merged["contexts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "context": {"cluster": name, "user": name}}));
    }
    merged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_run_together_and_the_worst_exit_code_wins() {
    let (first, _) = shop_server(
        Vec::new(),
        vec![deployment("shop", "web", "web", Some("a:1"))],
    )
    .await;
    let (second, _) = shop_server(
        Vec::new(),
        vec![deployment("shop", "web", "web", Some("b:1"))],
    )
    .await;
    let (gone, _) = shop_server(Vec::new(), Vec::new()).await;
    let kubeconfig = merged_kubeconfig(
        &[&first, &second, &gone],
        &["prod-eu", "prod-us", "prod-gone"],
    );
    drop(gone); // its context now points at a closed port
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig.to_string()).unwrap();
    let config = config();
    let mut command = kollect();
    command
        .args(["collect", "--output", "-", "--context", "prod-*"])
        .arg("--config")
        .arg(config.path())
        .arg("--kubeconfig")
        .arg(&path);
    let out = tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap();
    assert_eq!(
        out.code, 2,
        "an unreachable context is the worst: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("error: context prod-gone: cannot read namespaces"),
        "{}",
        out.stderr
    );
    let records = records(&out.stdout);
    let contexts: Vec<&str> = records
        .iter()
        .map(|r| r["context"].as_str().unwrap())
        .collect();
    assert_eq!(
        contexts,
        ["prod-eu", "prod-us"],
        "reported in kubeconfig order"
    );
    let images: Vec<&Value> = records
        .iter()
        .map(|r| &r["envelope"]["items"][0]["attributes"]["image"])
        .collect();
    assert_eq!(images, [&json!("a:1"), &json!("b:1")]);
}

#[test]
fn quiet_keeps_only_problems_on_stderr() {
    let root = tempfile::tempdir().unwrap();
    let config = quickstart_config(root.path(), true);
    let out = run(kollect()
        .args(["collect", "--quiet"])
        .arg("--config")
        .arg(&config)
        .arg("--from-dir")
        .arg(quickstart("cluster")));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "nothing to report: {}", out.stderr);
    assert_eq!(
        git(
            &root.path().join("quickstart-out/inventory.git"),
            &["rev-list", "--count", "main"]
        )
        .trim(),
        "7",
        "written all the same"
    );

    let config = self::config();
    let cluster = dump(&[
        deployment("shop", "web", "web", Some("nginx:1.27")),
        deployment("shop", "empty", "web", None),
    ]);
    let out = run(kollect()
        .args(["collect", "-q", "--output", "-"])
        .arg("--config")
        .arg(config.path())
        .arg("--from-dir")
        .arg(cluster.path()));
    assert_eq!(out.code, 1);
    assert_eq!(records(&out.stdout).len(), 1, "stdout unchanged");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("warning: context ") && out.stderr.contains("shop/empty"),
        "{}",
        out.stderr
    );
}
