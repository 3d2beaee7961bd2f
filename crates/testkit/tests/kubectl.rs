//! The testkit judged by the real `kubectl`: client- and server-side apply, get with label and
//! field selectors, watch, delete, `auth can-i`, `api-resources` and `explain`, each test
//! against its own server.
//!
//! Without kubectl (on PATH, or named by `KOLLECT_TEST_KUBECTL`) every test prints a SKIPPED
//! line on stderr and passes: `scripts/services/install-kubectl.sh` installs one.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::print_stderr, // the SKIPPED lines must be loud
    clippy::too_many_lines,
    missing_docs
)]

mod support;

use std::{
    collections::BTreeSet,
    ffi::OsString,
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::OnceLock,
};

use k8s_openapi::{
    api::{apps::v1::Deployment, core::v1::ConfigMap},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kollect_testkit::{Options, RequestRecord, TestApiServer, TokenUser};
use kube::{
    Api, ResourceExt as _,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
    },
};
use serde_json::{Value, json};
use support::{CONVERGE, server, server_with};
use tempfile::TempDir;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------
// Driving kubectl
// ---------------------------------------------------------------------------------------------

/// The kubectl binary: `KOLLECT_TEST_KUBECTL` (to try another version) or `kubectl` on PATH.
fn kubectl_program() -> OsString {
    std::env::var_os("KOLLECT_TEST_KUBECTL").unwrap_or_else(|| "kubectl".into())
}

/// kubectl's client minor version, asked once; `None` when there is no kubectl.
fn kubectl_minor() -> Option<u32> {
    static MINOR: OnceLock<Option<u32>> = OnceLock::new();
    *MINOR.get_or_init(|| {
        let output = match Command::new(kubectl_program())
            .args(["version", "--client", "-o", "json"])
            .output()
        {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("running `kubectl version --client`: {e}"),
        };
        assert!(
            output.status.success(),
            "`kubectl version --client -o json` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let version: Value = serde_json::from_slice(&output.stdout).unwrap();
        // "32+" on some builds.
        let minor = version["clientVersion"]["minor"].as_str().unwrap();
        let digits: String = minor.chars().take_while(char::is_ascii_digit).collect();
        Some(digits.parse().unwrap())
    })
}

/// One kubectl user of one server: its own kubeconfig and its own HOME, so that the discovery
/// cache (`~/.kube/cache`) is never shared between tests.
struct Kubectl {
    dir: TempDir,
    kubeconfig: PathBuf,
    minor: u32,
}

impl Kubectl {
    /// kubectl as the superuser, or `None` (after a loud SKIPPED line) when there is none.
    fn admin(server: &TestApiServer, test: &str) -> Option<Self> {
        Self::with_token(server, server.admin_token(), test)
    }

    /// kubectl authenticating with `token`, or `None` when there is no kubectl.
    fn with_token(server: &TestApiServer, token: &str, test: &str) -> Option<Self> {
        let Some(minor) = kubectl_minor() else {
            eprintln!("SKIPPED {test}: kubectl not found; run scripts/services/install-kubectl.sh");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("kollect-kubectl-")
            .tempdir()
            .unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig_for(token)).unwrap();
        Some(Self {
            dir,
            kubeconfig,
            minor,
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(kubectl_program());
        command
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        command
    }

    /// Runs `kubectl --request-timeout=20s ARGS` to completion (off the async workers).
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command();
        command.arg("--request-timeout=20s").args(args);
        let shown = format!("kubectl {}", args.join(" "));
        tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("running {shown}: {e}"))
    }

    /// Runs kubectl, asserts it succeeded and returns its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args).await;
        assert!(
            output.status.success(),
            "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs kubectl, asserts it failed and returns (exit code, stdout, stderr).
    async fn fails(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let output = self.run(args).await;
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            !output.status.success(),
            "kubectl {} should have failed:\nstdout: {stdout}\nstderr: {stderr}",
            args.join(" ")
        );
        (output.status.code(), stdout, stderr)
    }

    /// Writes a manifest into this kubectl's temp dir.
    fn manifest(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// `kubectl apply -f FILE EXTRA...`, asserting success; returns stdout.
    async fn apply(&self, file: &Path, extra: &[&str]) -> String {
        let file = file.to_str().unwrap();
        let mut args = vec!["apply", "-f", file];
        // kubectl before 1.27 validates manifests against OpenAPI v2, which the server does not
        // publish (only v3): it would fail with "the server could not find the requested
        // resource". Debian's kubernetes-client is 1.20.
        if self.minor < 27 {
            args.push("--validate=false");
        }
        args.extend_from_slice(extra);
        self.ok(&args).await
    }

    /// Starts a long-running kubectl (a watch); its stdout is parsed as a stream of JSON values.
    fn spawn_json_stream(&self, args: &[&str]) -> JsonStream {
        let stderr_path = self.dir.path().join(format!(
            "stream-{}.stderr",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        // No --request-timeout here: it would end the watch; the test kills the child instead.
        let mut child = self
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, values) = mpsc::unbounded_channel();
        // Pretty-printed or one per line, a stream deserializer reads either.
        std::thread::spawn(move || {
            let stream = serde_json::Deserializer::from_reader(BufReader::new(stdout));
            for value in stream.into_iter::<Value>() {
                let Ok(value) = value else { break };
                if sender.send(value).is_err() {
                    break;
                }
            }
        });
        JsonStream {
            child,
            values,
            stderr_path,
            command: format!("kubectl {}", args.join(" ")),
        }
    }
}

/// A running kubectl whose stdout is a stream of JSON values; killed when dropped.
struct JsonStream {
    child: Child,
    values: mpsc::UnboundedReceiver<Value>,
    stderr_path: PathBuf,
    command: String,
}

impl JsonStream {
    /// The next value printed, waiting at most [`CONVERGE`] (a bound on a hang, not a speed).
    async fn next(&mut self, what: &str) -> Value {
        match tokio::time::timeout(CONVERGE, self.values.recv()).await {
            Ok(Some(value)) => value,
            Ok(None) => panic!(
                "`{}` ended before {what}; stderr: {}",
                self.command,
                std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
            ),
            Err(elapsed) => panic!(
                "`{}` printed nothing while waiting for {what} ({elapsed} after {CONVERGE:?}); \
                 stderr: {}",
                self.command,
                std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
            ),
        }
    }
}

impl Drop for JsonStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// The non-empty lines of kubectl's output, as a set (kubectl prints in server order; the tests
/// check membership).
fn lines(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The first column of `kubectl api-resources`.
fn resource_names(stdout: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The `api-resources` row of one resource.
fn resource_row<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("api-resources has no row for {name}:\n{stdout}"))
}

/// One query parameter of a logged request, decoded.
fn query_param(record: &RequestRecord, key: &str) -> Option<String> {
    form_urlencoded::parse(record.query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn parse_json(stdout: &str) -> Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("kubectl printed no JSON ({e}):\n{stdout}"))
}

fn names_in(list: &Value) -> BTreeSet<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap().to_owned())
        // A real apiserver puts this into every namespace; do not depend on either behaviour.
        .filter(|name| name != "kube-root-ca.crt")
        .collect()
}

fn with_kollect_crds() -> Options {
    Options {
        kollect_crds: true,
        ..Options::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------------

const DEPLOYMENT_V1: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        env:
        - {name: KEEP, value: "1"}
        - {name: DROP, value: "2"}
"#;

/// Image changed, env `DROP` removed, a `sidecar` container added.
const DEPLOYMENT_V2: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        env:
        - {name: KEEP, value: "1"}
      - name: sidecar
        image: busybox:1.36
        command: [sleep, infinity]
"#;

// Label values are quoted or non-boolean words: YAML 1.1 reads a bare `y` as true.
const SELECTOR_OBJECTS: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: alpha, labels: {app: x, tier: a}}
data: {k: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: beta, labels: {app: x, tier: c}}
data: {k: "2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gamma, labels: {app: z, tier: b}}
data: {k: "3"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: delta, labels: {app: z}}
data: {k: "4"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: epsilon, namespace: other, labels: {app: x, tier: a}}
data: {k: "5"}
"#;

const WIDGET_CRD: &str = r"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A widget for tests.
        properties:
          spec:
            type: object
            description: What the widget should be.
            properties:
              size:
                type: integer
                description: How big the widget is.
              color:
                type: string
";

fn widget(size: u32) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: gadget}}\nspec: {{size: {size}, color: blue}}\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_then_updates_a_deployment_and_reports_unchanged() {
    let server = server().await;
    let Some(kubectl) = Kubectl::admin(&server, "apply_creates_then_updates_a_deployment") else {
        return;
    };
    let deployments: Api<Deployment> = Api::namespaced(server.client().await.unwrap(), "default");

    let v1 = kubectl.manifest("web-v1.yaml", DEPLOYMENT_V1);
    assert_eq!(
        kubectl.apply(&v1, &[]).await.trim(),
        "deployment.apps/web created"
    );
    let created = deployments.get("web").await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(
        created
            .annotations()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration"),
        "client-side apply records the applied configuration"
    );

    server.clear_requests();
    let v2 = kubectl.manifest("web-v2.yaml", DEPLOYMENT_V2);
    assert_eq!(
        kubectl.apply(&v2, &[]).await.trim(),
        "deployment.apps/web configured"
    );
    // Client-side apply of a built-in kind sends a strategic merge patch.
    let patches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "patch" && r.resource == "deployments")
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(
        patches[0]
            .content_type
            .starts_with("application/strategic-merge-patch+json"),
        "{:?}",
        patches[0]
    );
    assert_eq!(patches[0].status, 200);

    let got = parse_json(&kubectl.ok(&["get", "deploy", "web", "-o", "json"]).await);
    assert_eq!(got["metadata"]["generation"], 2);
    let containers = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let names: Vec<_> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "sidecar"]);
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "KEEP", "value": "1"}])
    );
    assert_eq!(containers[1]["image"], "busybox:1.36");
    assert_eq!(containers[1]["command"], json!(["sleep", "infinity"]));

    let updated = deployments.get("web").await.unwrap();
    assert_eq!(updated.metadata.generation, Some(2));

    // The same manifest again: kubectl computes an empty patch and sends nothing.
    server.clear_requests();
    assert_eq!(
        kubectl.apply(&v2, &[]).await.trim(),
        "deployment.apps/web unchanged"
    );
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch"))
        .collect();
    assert!(
        writes.is_empty(),
        "an unchanged apply writes nothing: {writes:?}"
    );
    let after = deployments.get("web").await.unwrap();
    assert_eq!(after.resource_version(), updated.resource_version());
    assert_eq!(after.metadata.generation, Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn get_lists_and_filters_with_label_and_field_selectors() {
    let server = server().await;
    let Some(kubectl) = Kubectl::admin(&server, "get_lists_and_filters_with_selectors") else {
        return;
    };
    let file = kubectl.manifest("objects.yaml", SELECTOR_OBJECTS);
    assert_eq!(
        lines(&kubectl.apply(&file, &[]).await),
        set(&[
            "namespace/other created",
            "configmap/alpha created",
            "configmap/beta created",
            "configmap/gamma created",
            "configmap/delta created",
            "configmap/epsilon created",
        ])
    );

    let list = parse_json(&kubectl.ok(&["get", "configmaps", "-o", "json"]).await);
    assert_eq!(list["kind"], "List");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(names_in(&list), set(&["alpha", "beta", "gamma", "delta"]));
    let alpha = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "alpha")
        .unwrap();
    assert_eq!(alpha["data"], json!({"k": "1"}));
    assert_eq!(alpha["kind"], "ConfigMap");

    let names = |stdout: String| lines(&stdout);
    let get = |selector: &'static [&'static str]| {
        let mut args = vec!["get", "configmaps", "-o", "name"];
        args.extend_from_slice(selector);
        args
    };
    server.clear_requests();
    assert_eq!(
        names(kubectl.ok(&get(&["-l", "app=x"])).await),
        set(&["configmap/alpha", "configmap/beta"])
    );
    assert_eq!(
        names(kubectl.ok(&get(&["-l", "tier in (a,b)"])).await),
        set(&["configmap/alpha", "configmap/gamma"])
    );
    assert_eq!(
        names(kubectl.ok(&get(&["-l", "!tier"])).await),
        set(&["configmap/delta"])
    );
    assert_eq!(
        names(kubectl.ok(&get(&["-l", "app=x,tier!=a"])).await),
        set(&["configmap/beta"])
    );
    assert_eq!(
        names(kubectl.ok(&get(&["-l", "tier notin (a,b)"])).await),
        set(&["configmap/beta", "configmap/delta"])
    );
    assert_eq!(
        names(
            kubectl
                .ok(&get(&["--field-selector", "metadata.name=gamma"]))
                .await
        ),
        set(&["configmap/gamma"])
    );
    assert_eq!(
        names(
            kubectl
                .ok(&get(&["--field-selector", "metadata.name!=gamma"]))
                .await
        ),
        set(&["configmap/alpha", "configmap/beta", "configmap/delta"])
    );
    // A selector nothing matches: kubectl says so on stderr and exits 0 with empty stdout.
    assert!(
        kubectl
            .ok(&get(&["-l", "app=nothing"]))
            .await
            .trim()
            .is_empty()
    );

    // The server filtered: kubectl sent the selectors as query parameters.
    let lists: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "list" && r.resource == "configmaps")
        .collect();
    let label_selectors: BTreeSet<_> = lists
        .iter()
        .filter_map(|r| query_param(r, "labelSelector"))
        .collect();
    assert!(
        label_selectors.contains("tier in (a,b)") && label_selectors.contains("!tier"),
        "{label_selectors:?}"
    );
    let field_selectors: BTreeSet<_> = lists
        .iter()
        .filter_map(|r| query_param(r, "fieldSelector"))
        .collect();
    assert!(
        field_selectors.contains("metadata.name=gamma"),
        "{field_selectors:?}"
    );

    // Other namespaces: -n and --all-namespaces.
    assert_eq!(
        names(
            kubectl
                .ok(&["get", "configmaps", "-n", "other", "-o", "name"])
                .await
        ),
        set(&["configmap/epsilon"])
    );
    let everywhere = parse_json(
        &kubectl
            .ok(&[
                "get",
                "configmaps",
                "--all-namespaces",
                "-l",
                "app=x",
                "-o",
                "json",
            ])
            .await,
    );
    let qualified: BTreeSet<_> = everywhere["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["metadata"]["namespace"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        qualified,
        set(&["default/alpha", "default/beta", "other/epsilon"])
    );

    // -o jsonpath over one object.
    assert_eq!(
        kubectl
            .ok(&[
                "get",
                "configmap",
                "gamma",
                "-o",
                "jsonpath={.metadata.labels.tier}"
            ])
            .await,
        "b"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_watch_prints_added_modified_and_deleted_events() {
    let server = server().await;
    let Some(kubectl) = Kubectl::admin(&server, "get_watch_prints_events") else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(server.client().await.unwrap(), "default");
    let cm = |name: &str, labelled: bool| -> ConfigMap {
        let labels = if labelled {
            json!({"app": "watched"})
        } else {
            json!({"app": "other"})
        };
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "data": {"v": "1"},
        }))
        .unwrap()
    };
    cms.create(&PostParams::default(), &cm("first", true))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("noise", false))
        .await
        .unwrap();

    let mut watch = kubectl.spawn_json_stream(&[
        "get",
        "configmaps",
        "--watch",
        "--output-watch-events",
        "-o",
        "json",
        "-l",
        "app=watched",
    ]);
    let event = |value: &Value| {
        (
            value["type"].as_str().unwrap_or_default().to_owned(),
            value["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let initial = watch.next("the initial object").await;
    assert_eq!(
        event(&initial),
        ("ADDED".into(), "first".into()),
        "{initial}"
    );
    assert_eq!(initial["object"]["kind"], "ConfigMap");

    cms.create(&PostParams::default(), &cm("second", true))
        .await
        .unwrap();
    let added = watch.next("ADDED second").await;
    assert_eq!(event(&added), ("ADDED".into(), "second".into()), "{added}");

    cms.patch(
        "second",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    let modified = watch.next("MODIFIED second").await;
    assert_eq!(
        event(&modified),
        ("MODIFIED".into(), "second".into()),
        "{modified}"
    );
    assert_eq!(modified["object"]["data"]["v"], "2");

    // Not selected: must not show up before the deletion below.
    cms.create(&PostParams::default(), &cm("noise-2", false))
        .await
        .unwrap();
    cms.delete("second", &DeleteParams::default())
        .await
        .unwrap();
    let deleted = watch.next("DELETED second").await;
    assert_eq!(
        event(&deleted),
        ("DELETED".into(), "second".into()),
        "{deleted}"
    );
    drop(watch);

    let watches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "watch" && r.resource == "configmaps")
        .collect();
    assert!(!watches.is_empty(), "kubectl opened a watch");
    assert!(
        watches.iter().all(|r| r.status == 200
            && query_param(r, "labelSelector").as_deref() == Some("app=watched")),
        "{watches:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_by_file_and_by_name_removes_objects() {
    let server = server().await;
    let Some(kubectl) = Kubectl::admin(&server, "delete_by_file_and_by_name") else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(server.client().await.unwrap(), "default");
    let pair = kubectl.manifest(
        "pair.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {k: \"1\"}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\ndata: {k: \"2\"}\n",
    );
    let third = kubectl.manifest(
        "three.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: three}\ndata: {k: \"3\"}\n",
    );
    kubectl.apply(&pair, &[]).await;
    kubectl.apply(&third, &[]).await;
    for name in ["one", "two", "three"] {
        assert!(cms.get_opt(name).await.unwrap().is_some(), "{name} exists");
    }

    let deleted = kubectl.ok(&["delete", "-f", pair.to_str().unwrap()]).await;
    assert_eq!(
        lines(&deleted),
        set(&[r#"configmap "one" deleted"#, r#"configmap "two" deleted"#])
    );
    assert!(cms.get_opt("one").await.unwrap().is_none());
    assert!(cms.get_opt("two").await.unwrap().is_none());
    assert!(cms.get_opt("three").await.unwrap().is_some(), "untouched");

    assert_eq!(
        kubectl.ok(&["delete", "configmap", "three"]).await.trim(),
        r#"configmap "three" deleted"#
    );
    assert!(cms.get_opt("three").await.unwrap().is_none());

    // Deleting what is gone: NotFound, exit status 1; --ignore-not-found makes it quiet.
    let (code, _, stderr) = kubectl.fails(&["delete", "configmap", "three"]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("NotFound") && stderr.contains(r#"configmaps "three" not found"#),
        "{stderr}"
    );
    assert!(
        kubectl
            .ok(&["delete", "-f", pair.to_str().unwrap(), "--ignore-not-found"])
            .await
            .trim()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_can_i_follows_rbac_granted_with_apply() {
    let alice = TokenUser::new("alice", &[]);
    let server = server_with(Options {
        tokens: vec![alice.clone()],
        ..Options::default()
    })
    .await;
    let Some(admin) = Kubectl::admin(&server, "auth_can_i_follows_rbac") else {
        return;
    };
    let Some(as_alice) = Kubectl::with_token(&server, &alice.token, "auth_can_i_follows_rbac")
    else {
        return;
    };

    assert_eq!(
        admin.ok(&["auth", "can-i", "list", "secrets"]).await.trim(),
        "yes"
    );
    assert_eq!(
        admin
            .ok(&["auth", "can-i", "delete", "namespaces", "--all-namespaces"])
            .await
            .trim(),
        "yes"
    );

    // `can-i` answers "no" with exit status 1 (a reason may follow on the same line).
    let (code, stdout, _) = as_alice.fails(&["auth", "can-i", "list", "secrets"]).await;
    assert_eq!(code, Some(1));
    assert!(stdout.trim_start().starts_with("no"), "{stdout}");
    let (code, _, stderr) = as_alice.fails(&["get", "secrets"]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("Forbidden")
            && stderr.contains(r#"User "alice" cannot list resource "secrets""#),
        "{stderr}"
    );

    let rbac = admin.manifest(
        "rbac.yaml",
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secret-reader, namespace: default}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads-secrets, namespace: default}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
roleRef: {kind: Role, name: secret-reader, apiGroup: rbac.authorization.k8s.io}
"#,
    );
    assert_eq!(
        lines(&admin.apply(&rbac, &[]).await),
        set(&[
            "role.rbac.authorization.k8s.io/secret-reader created",
            "rolebinding.rbac.authorization.k8s.io/alice-reads-secrets created",
        ])
    );

    server.clear_requests();
    assert_eq!(
        as_alice
            .ok(&["auth", "can-i", "list", "secrets"])
            .await
            .trim(),
        "yes"
    );
    let reviews: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "selfsubjectaccessreviews")
        .collect();
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(
        (reviews[0].user.as_str(), reviews[0].status),
        ("alice", 201)
    );

    // Listing now works (no secrets: empty stdout, exit 0).
    as_alice.ok(&["get", "secrets"]).await;
    // The grant is namespaced and read-only.
    let (code, stdout, _) = as_alice
        .fails(&["auth", "can-i", "list", "secrets", "-n", "kube-system"])
        .await;
    assert_eq!(code, Some(1));
    assert!(stdout.trim_start().starts_with("no"), "{stdout}");
    let (code, stdout, _) = as_alice
        .fails(&["auth", "can-i", "delete", "secrets"])
        .await;
    assert_eq!(code, Some(1));
    assert!(stdout.trim_start().starts_with("no"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_resources_lists_builtin_kollect_and_new_crd_kinds() {
    let server = TestApiServer::start(with_kollect_crds()).await.unwrap();
    let Some(kubectl) = Kubectl::admin(&server, "api_resources_lists_kinds") else {
        return;
    };
    let client = server.client().await.unwrap();

    let resources = kubectl.ok(&["api-resources"]).await;
    let names = resource_names(&resources);
    for builtin in [
        "configmaps",
        "secrets",
        "namespaces",
        "pods",
        "deployments",
        "customresourcedefinitions",
        "roles",
        "rolebindings",
        "selfsubjectaccessreviews",
        "kollectprofiles",
        "kollecttargets",
        "kollectclusterinventories",
    ] {
        assert!(names.contains(builtin), "{builtin} missing:\n{resources}");
    }
    assert!(!names.contains("widgets"));
    let row = resource_row(&resources, "kollectprofiles");
    for part in ["kollect.dev/v1alpha1", "true", "KollectProfile"] {
        assert!(row.split_whitespace().any(|w| w == part), "{row}");
    }
    let row = resource_row(&resources, "kollectclusterinventories");
    assert!(
        row.split_whitespace().any(|w| w == "false"),
        "cluster-scoped: {row}"
    );

    let kollect = lines(
        &kubectl
            .ok(&["api-resources", "--api-group=kollect.dev", "-o", "name"])
            .await,
    );
    assert!(
        kollect.contains("kollectprofiles.kollect.dev"),
        "{kollect:?}"
    );
    assert!(
        kollect.iter().all(|n| n.ends_with(".kollect.dev")),
        "{kollect:?}"
    );

    // A new CRD is served at once.
    let crd = kubectl.manifest("widget-crd.yaml", WIDGET_CRD);
    assert_eq!(
        kubectl.apply(&crd, &[]).await.trim(),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    );
    let resources = kubectl.ok(&["api-resources"]).await;
    let row = resource_row(&resources, "widgets");
    for part in ["wd", "example.com/v1", "true", "Widget"] {
        assert!(row.split_whitespace().any(|w| w == part), "{row}");
    }

    let gadget = kubectl.manifest("gadget.yaml", &widget(3));
    assert_eq!(
        kubectl.apply(&gadget, &[]).await.trim(),
        "widget.example.com/gadget created"
    );
    let table = kubectl.ok(&["get", "widgets"]).await;
    assert!(
        table
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().next() == Some("gadget")),
        "{table}"
    );
    assert_eq!(
        kubectl
            .ok(&["get", "wd", "gadget", "-o", "jsonpath={.spec.size}"])
            .await,
        "3"
    );

    // Client-side apply of a custom resource sends a JSON merge patch (no strategic merge).
    server.clear_requests();
    let gadget = kubectl.manifest("gadget.yaml", &widget(4));
    assert_eq!(
        kubectl.apply(&gadget, &[]).await.trim(),
        "widget.example.com/gadget configured"
    );
    let patch = server
        .requests()
        .into_iter()
        .find(|r| r.verb == "patch" && r.resource == "widgets")
        .expect("kubectl patched the widget");
    assert!(
        patch
            .content_type
            .starts_with("application/merge-patch+json"),
        "{patch:?}"
    );
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let stored = widgets.get("gadget").await.unwrap();
    assert_eq!(stored.data["spec"], json!({"size": 4, "color": "blue"}));
    assert_eq!(stored.metadata.generation, Some(2));

    // Deleting the CRD takes the kind away.
    let deleted = kubectl.ok(&["delete", "-f", crd.to_str().unwrap()]).await;
    assert_eq!(
        deleted.trim(),
        r#"customresourcedefinition.apiextensions.k8s.io "widgets.example.com" deleted"#
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    assert!(crds.get_opt("widgets.example.com").await.unwrap().is_none());
    assert!(!resource_names(&kubectl.ok(&["api-resources"]).await).contains("widgets"));
    let (_, _, stderr) = kubectl.fails(&["get", "widgets"]).await;
    assert!(stderr.contains("widgets"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_apply_creates_updates_and_reports_conflicts() {
    let server = server().await;
    let Some(kubectl) = Kubectl::admin(&server, "server_side_apply") else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(server.client().await.unwrap(), "default");
    let data = |cm: &ConfigMap| {
        cm.data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<Vec<_>>()
    };
    let owned_by = |cm: &ConfigMap, manager: &str| -> Value {
        let entry = cm
            .managed_fields()
            .iter()
            .find(|m| m.manager.as_deref() == Some(manager))
            .unwrap_or_else(|| panic!("no managedFields entry for {manager}: {cm:?}"));
        assert_eq!(entry.operation.as_deref(), Some("Apply"));
        entry.fields_v1.as_ref().unwrap().0.clone()
    };
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());

    let first = kubectl.manifest(
        "first.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, labels: {app: ssa}}\n\
         data: {owner: first, shared: \"1\", temp: gone-soon}\n",
    );
    server.clear_requests();
    assert_eq!(
        kubectl.apply(&first, &["--server-side"]).await.trim(),
        "configmap/ssa serverside-applied"
    );
    let apply = server
        .requests()
        .into_iter()
        .find(|r| r.verb == "patch" && r.resource == "configmaps")
        .expect("kubectl sent an apply patch");
    assert!(
        apply
            .content_type
            .starts_with("application/apply-patch+yaml"),
        "{apply:?}"
    );
    assert_eq!(
        query_param(&apply, "fieldManager").as_deref(),
        Some("kubectl")
    );
    assert_eq!(apply.status, 201, "the apply created the object");
    let created = cms.get("ssa").await.unwrap();
    assert_eq!(
        data(&created),
        [
            pair("owner", "first"),
            pair("shared", "1"),
            pair("temp", "gone-soon")
        ]
    );

    // The manager stops applying `temp` and adds `extra`: temp is removed.
    let update = kubectl.manifest(
        "update.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, labels: {app: ssa}}\n\
         data: {owner: first, shared: \"1\", extra: x}\n",
    );
    assert_eq!(
        kubectl.apply(&update, &["--server-side"]).await.trim(),
        "configmap/ssa serverside-applied"
    );
    let updated = cms.get("ssa").await.unwrap();
    assert_eq!(
        data(&updated),
        [
            pair("extra", "x"),
            pair("owner", "first"),
            pair("shared", "1")
        ]
    );
    assert!(
        owned_by(&updated, "kubectl")["f:data"]
            .get("f:temp")
            .is_none()
    );

    // A second manager changing `shared` conflicts...
    let other = kubectl.manifest(
        "other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {shared: \"2\"}\n",
    );
    let mut args = vec!["apply", "--server-side", "--field-manager=other", "-f"];
    args.push(other.to_str().unwrap());
    if kubectl.minor < 27 {
        args.push("--validate=false"); // see Kubectl::apply
    }
    let (code, _, stderr) = kubectl.fails(&args).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.to_lowercase().contains("conflict")
            && stderr.contains(".data.shared")
            && stderr.contains(r#""kubectl""#),
        "{stderr}"
    );
    assert_eq!(
        cms.get("ssa").await.unwrap().resource_version(),
        updated.resource_version(),
        "a conflicting apply changes nothing"
    );

    // ...unless it forces: it then owns the field.
    server.clear_requests();
    assert_eq!(
        kubectl
            .apply(
                &other,
                &[
                    "--server-side",
                    "--field-manager=other",
                    "--force-conflicts"
                ]
            )
            .await
            .trim(),
        "configmap/ssa serverside-applied"
    );
    let forced_request = server
        .requests()
        .into_iter()
        .find(|r| r.verb == "patch" && r.resource == "configmaps")
        .unwrap();
    assert_eq!(
        query_param(&forced_request, "force").as_deref(),
        Some("true")
    );
    let forced = cms.get("ssa").await.unwrap();
    assert_eq!(
        data(&forced),
        [
            pair("extra", "x"),
            pair("owner", "first"),
            pair("shared", "2")
        ]
    );
    assert!(
        owned_by(&forced, "other")["f:data"]
            .get("f:shared")
            .is_some()
    );
    assert!(
        owned_by(&forced, "kubectl")["f:data"]
            .get("f:shared")
            .is_none()
    );
    // kubectl 1.21+ hides managedFields unless asked; 1.20 has no such flag and shows them.
    let mut args = vec!["get", "configmap", "ssa", "-o", "json"];
    if kubectl.minor >= 21 {
        args.push("--show-managed-fields");
    }
    let shown = parse_json(&kubectl.ok(&args).await);
    let managers: BTreeSet<_> = shown["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(managers, set(&["kubectl", "other"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn explain_prints_kollect_crd_field_descriptions() {
    let server = TestApiServer::start(with_kollect_crds()).await.unwrap();
    let Some(kubectl) = Kubectl::admin(&server, "explain_prints_crd_fields") else {
        return;
    };
    if kubectl.minor < 27 {
        // Older kubectl explains from OpenAPI v2, which the server does not publish.
        eprintln!(
            "SKIPPED explain_prints_crd_fields: kubectl 1.{} explains from OpenAPI v2; the \
             server publishes v3 only (kubectl 1.27+)",
            kubectl.minor
        );
        return;
    }
    let crds: Api<CustomResourceDefinition> = Api::all(server.client().await.unwrap());
    let crd = serde_json::to_value(crds.get("kollectprofiles.kollect.dev").await.unwrap()).unwrap();
    let spec_schema = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec")
        .unwrap();
    let description = spec_schema["description"].as_str().unwrap();
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");

    let explained = kubectl.ok(&["explain", "kollectprofile.spec"]).await;
    assert!(explained.contains("KollectProfile"), "{explained}");
    assert!(explained.contains("kollect.dev"), "{explained}");
    // kubectl wraps the text: compare word by word.
    assert!(
        words(&explained).contains(&words(description)),
        "explain shows the schema's description {description:?}:\n{explained}"
    );
    for field in spec_schema["properties"].as_object().unwrap().keys() {
        assert!(
            explained
                .lines()
                .any(|l| l.split_whitespace().next() == Some(field.as_str())),
            "field {field} listed:\n{explained}"
        );
    }

    // A field of a field, by its short name.
    let nested = kubectl.ok(&["explain", "kprof.spec.targetGVK"]).await;
    let target = &spec_schema["properties"]["targetGVK"];
    assert!(
        words(&nested).contains(&words(target["description"].as_str().unwrap())),
        "{nested}"
    );

    // A path that does not exist fails.
    let (_, _, stderr) = kubectl
        .fails(&["explain", "kollectprofile.spec.noSuchField"])
        .await;
    assert!(stderr.contains("noSuchField"), "{stderr}");
}
