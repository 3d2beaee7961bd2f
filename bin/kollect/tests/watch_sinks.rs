//! `kollect collect --watch` with the config folder's snapshot sinks, against kollect-testkit:
//! each change of the cluster becomes a commit of a local Git sink, and SIGTERM exports what
//! the debounce still held.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace};
use kollect_testkit::{Options, TestApiServer};
use kube::{
    Api,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use support::kollect;

mod support;

const CONFIG: &str = r"apiVersion: kollect.dev/v1alpha1
kind: KollectProfile
metadata: {name: images, namespace: shop}
spec:
  targetGVK: {group: apps, version: v1, kind: Deployment}
  attributes:
    - {name: image, path: '$.spec.template.spec.containers[0].image'}
---
apiVersion: kollect.dev/v1alpha1
kind: KollectTarget
metadata: {name: web, namespace: shop}
spec:
  profileRef: images
---
apiVersion: kollect.dev/v1alpha1
kind: KollectSnapshotSink
metadata: {name: history, namespace: shop}
spec:
  type: git
  endpoint: file:../inventory.git
  cluster: testkit
  serialization: {format: yaml}
  git: {branch: main}
";

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": image}]}},
        },
    }))
    .unwrap()
}

/// `git -C repo args`, or `None` when git fails (no branch yet).
fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn commits(repo: &Path) -> usize {
    git(repo, &["rev-list", "--count", "main"]).map_or(0, |n| n.trim().parse().unwrap())
}

/// The (name, image) rows of the inventory at the branch tip (the Git sink's YAML list).
fn inventory(repo: &Path) -> Vec<(String, String)> {
    let yaml = git(repo, &["show", "main:inventory/shop/web.yaml"]).unwrap_or_default();
    // The manifest reader takes mappings: the list becomes the value of `items`.
    let wrapped: String = std::iter::once("items:\n".to_owned())
        .chain(yaml.lines().map(|line| format!("  {line}\n")))
        .collect();
    let document = kollect_api::manifest::parse(wrapped.as_bytes())
        .remove(0)
        .unwrap()
        .value;
    document["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            (
                item["name"].as_str().unwrap().to_owned(),
                item["attributes"]["image"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Polls `check` every 50 ms; panics with `what` after 20 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// `kollect collect --watch` on `config` (a folder with the sink), killed on drop.
struct Watch(Option<Child>);

impl Watch {
    fn start(config: &Path, kubeconfig: &Path, debounce: &str) -> Self {
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
            .arg(config)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self(Some(child))
    }

    /// SIGTERM; the exit code and stderr.
    async fn stop(&mut self) -> (Option<i32>, String) {
        let mut child = self.0.take().unwrap();
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

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn pair(name: &str, image: &str) -> (String, String) {
    (name.to_owned(), image.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_becomes_a_commit_and_sigterm_exports_what_is_pending() {
    let server = TestApiServer::start(Options::default()).await.unwrap();
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
    let create = |name: &'static str, image: &'static str| {
        let deployments = deployments.clone();
        async move {
            deployments
                .create(&PostParams::default(), &deployment(name, image))
                .await
                .unwrap();
        }
    };
    create("web", "nginx:1.27").await;

    let dir = tempfile::tempdir().unwrap();
    let config: PathBuf = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("inventory.yaml"), CONFIG).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    let repo = dir.path().join("inventory.git");

    let mut watch = Watch::start(&config, &kubeconfig, "200ms");
    eventually("the first commit", || commits(&repo) == 1).await;
    assert_eq!(inventory(&repo), [pair("web", "nginx:1.27")]);

    create("api", "api:1").await;
    eventually("the commit of the creation", || commits(&repo) == 2).await;
    assert_eq!(
        inventory(&repo),
        [pair("api", "api:1"), pair("web", "nginx:1.27")]
    );

    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.28"}]}}}})),
        )
        .await
        .unwrap();
    eventually("the commit of the change", || commits(&repo) == 3).await;
    assert_eq!(
        inventory(&repo),
        [pair("api", "api:1"), pair("web", "nginx:1.28")]
    );

    deployments
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the commit of the deletion", || commits(&repo) == 4).await;
    assert_eq!(inventory(&repo), [pair("web", "nginx:1.28")]);
    let (code, stderr) = watch.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("target shop/web: 2 row(s) exported to sink shop/snapshot/history"),
        "{stderr}"
    );
    let log = git(&repo, &["log", "--format=%s", "main"]).unwrap();
    let subjects: Vec<&str> = log
        .lines()
        .map(|s| s.split(" @ ").next().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            "chore(testkit/shop/web): export 1 items",
            "chore(testkit/shop/web): export 2 items",
            "chore(testkit/shop/web): export 2 items",
            "chore(testkit/shop/web): export 1 items",
        ]
    );

    // An hour of debounce: the restart finds the repository up to date (no commit), the next
    // change waits, and SIGTERM exports it.
    let mut watch = Watch::start(&config, &kubeconfig, "1h");
    tokio::time::sleep(Duration::from_secs(1)).await;
    create("cart", "cart:2").await;
    // The watch event reaches the store within milliseconds; a second is a wide margin.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        commits(&repo),
        4,
        "no commit for the restart, the change waits"
    );
    let (code, stderr) = watch.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(commits(&repo), 5, "flushed: {stderr}");
    assert_eq!(
        inventory(&repo),
        [pair("cart", "cart:2"), pair("web", "nginx:1.28")]
    );
    git(&repo, &["fsck", "--strict"]).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_is_retried_and_the_watch_keeps_running() {
    let server = TestApiServer::start(Options::default()).await.unwrap();
    let client = server.client().await.unwrap();
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap(),
        )
        .await
        .unwrap();
    Api::<Deployment>::namespaced(client, "shop")
        .create(&PostParams::default(), &deployment("web", "nginx:1.27"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("inventory.yaml"), CONFIG).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    let repo = dir.path().join("inventory.git");
    let mut watch = Watch::start(&config, &kubeconfig, "100ms");
    eventually("the first commit", || commits(&repo) == 1).await;
    // The repository goes away: exports fail, are reported and retried, the process lives on.
    let moved = dir.path().join("moved.git");
    std::fs::rename(&repo, &moved).unwrap();
    Api::<Deployment>::namespaced(server.client().await.unwrap(), "shop")
        .create(&PostParams::default(), &deployment("api", "api:1"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::rename(&moved, &repo).unwrap();
    // The retry (5 s after the failure) exports the change.
    eventually("the retried export", || commits(&repo) == 2).await;
    let (code, stderr) = watch.stop().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "error: context kollect-testkit: target shop/web: sink shop/snapshot/history: "
        ) && stderr.contains("; retrying in 5s"),
        "{stderr}"
    );
    assert_eq!(
        inventory(&repo),
        [pair("api", "api:1"), pair("web", "nginx:1.27")]
    );
}
