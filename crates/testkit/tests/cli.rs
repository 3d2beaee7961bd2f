//! The `kollect-testkit` binary: `serve` with a kubeconfig and preloaded manifests, `load`, and
//! clear errors for bad input.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::{
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::{Api, api::ListParams};

const BIN: &str = env!("CARGO_BIN_EXE_kollect-testkit");

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// Starts `serve`, waits for its kubeconfig and returns the child.
fn serve(args: &[&str], kubeconfig: &Path) -> Child {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--port", "0", "--kubeconfig"])
        .arg(kubeconfig)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if line.starts_with("press Ctrl-C") {
            break;
        }
        assert!(Instant::now() < deadline, "serve did not start");
    }
    child
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn stop(mut child: Child) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_preloads_manifests_and_writes_a_working_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    write(
        &manifests,
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n  namespace: team-a\ndata:\n  k: v\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: two, namespace: team-a}\n",
    );
    write(
        &manifests.join("nested"),
        "pod.json",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"team-b"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"x"}]},"status":{"phase":"Running"}}"#,
    );
    let kubeconfig = dir.path().join("kubeconfig");
    let child = serve(
        &[
            "--preload",
            manifests.to_str().unwrap(),
            "--bookmark-seconds",
            "1",
        ],
        &kubeconfig,
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&kubeconfig).unwrap().permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "the kubeconfig holds a token: owner-only"
    );

    let client = client(&kubeconfig).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
    let names: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(names, ["one", "two"]);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "team-b");
    let running = pods
        .list(&ListParams::default().fields("status.phase=Running"))
        .await
        .unwrap();
    assert_eq!(
        running.items.len(),
        1,
        "preloaded objects keep their status"
    );

    let load = Command::new(BIN)
        .args(["load", "--kubeconfig"])
        .arg(&kubeconfig)
        .args([
            "--count",
            "60",
            "--namespaces",
            "3",
            "--size",
            "600",
            "--churn-rate",
            "100",
            "--churn-seconds",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&load.stdout);
    assert!(
        load.status.success(),
        "load failed: {stdout}\n{}",
        String::from_utf8_lossy(&load.stderr)
    );
    assert!(
        stdout.contains("created 60 configmaps in 3 namespaces"),
        "{stdout}"
    );
    assert!(stdout.contains("churned for"), "{stdout}");
    let loaded: Api<ConfigMap> = Api::all(client);
    let count = loaded
        .list(&ListParams::default().labels("app.kubernetes.io/part-of=kollect-load"))
        .await
        .unwrap()
        .items
        .len();
    assert!(count >= 50, "load objects exist ({count})");
    stop(child);
}

#[test]
fn bad_input_gets_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    );
    let output = Command::new(BIN)
        .args(["serve", "--port", "0", "--preload"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("failed to preload") && stderr.contains("bad.yaml"),
        "{stderr}"
    );

    write(
        dir.path(),
        "bad.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    let output = Command::new(BIN)
        .args(["serve", "--port", "0", "--preload"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("Widget") && stderr.contains("CustomResourceDefinition"),
        "{stderr}"
    );

    let output = Command::new(BIN)
        .args(["serve", "--user", "nobody"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("NAME=TOKEN"));

    let output = Command::new(BIN)
        .args(["load", "--kind", "widgets"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "clap rejects unknown kinds");
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown kind"));
}
