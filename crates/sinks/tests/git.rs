//! Integration tests of the Git sink against real remotes on 127.0.0.1: bare repositories over
//! `file://`, lighttpd + `git http-backend` (smart HTTP, basic auth, TLS) and OpenSSH, all
//! started by the tests themselves. Every repository written is checked with the real `git`
//! CLI (`git fsck --strict`, `git log`).
#![cfg(feature = "git")]
// Tests report failures by panicking with context, as assertions do.
#![allow(clippy::panic)]

#[path = "git/support.rs"]
mod support;

use std::{collections::BTreeMap, path::Path, sync::Arc};

use chrono::DateTime;
use kollect_api::{
    row::{Attributes, Gvk, Row},
    v1alpha1::{
        Compression, FilenameSpec, GitAuthor, GitSpec, LayoutContent, LayoutIndexSpec, LayoutMode,
        LayoutSpec, PushPolicy, SerializationFormat, SerializationSpec, TlsSpec,
    },
};
use kollect_export::SinkExt as _;
use kollect_export::{
    ExportBatch, ExportReceipt, InventoryKey, Secrets, Sink, SinkError, Snapshot, TargetRow,
};
use kollect_sinks::snapshot::git::{GitSink, GitSinkFactory, MANIFEST_PATH};
use support::{
    BRANCH, GitHarness, HttpServer, PASSWORD, SshServer, assert_fsck_clean, bare_repo,
    basic_secrets, commit_count, files, foreign_commit, git_ok, log, resolved, spec,
};
use tempfile::TempDir;

mod conformance_file_yaml {
    kollect_export::conformance_tests!(super::GitHarness::file(
        kollect_api::v1alpha1::SerializationFormat::Yaml,
        kollect_api::v1alpha1::LayoutMode::Document
    ));
}

mod conformance_file_split {
    kollect_export::conformance_tests!(super::GitHarness::file(
        kollect_api::v1alpha1::SerializationFormat::Yaml,
        kollect_api::v1alpha1::LayoutMode::Split
    ));
}

mod conformance_http_json {
    kollect_export::conformance_tests!(super::GitHarness::http(
        kollect_api::v1alpha1::SerializationFormat::Json
    ));
}

mod conformance_ssh_ndjson {
    kollect_export::conformance_tests!(super::GitHarness::ssh(
        kollect_api::v1alpha1::SerializationFormat::Ndjson
    ));
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn row(namespace: &str, kind: Gvk, name: &str, attributes: &str) -> TargetRow {
    TargetRow {
        target_namespace: "team-a".into(),
        target_name: "deployments".into(),
        kind,
        row: Arc::new(Row {
            namespace: namespace.into(),
            name: name.into(),
            uid: format!("uid-{name}").into(),
            resource_version: "".into(),
            attributes: Attributes::from_canonical(attributes),
        }),
    }
}

fn deployment(name: &str, attributes: &str) -> TargetRow {
    row(
        "team-a",
        Gvk::new("apps", "v1", "Deployment"),
        name,
        attributes,
    )
}

fn apps() -> Vec<TargetRow> {
    vec![
        deployment("api", r#"{"image":"api:1.0","replicas":2}"#),
        deployment(
            "web",
            r#"{"image":"nginx:1.27","note":"multi\nline","tier":"\u003cfront\u003e"}"#,
        ),
    ]
}

fn inventory() -> InventoryKey {
    "team-a/apps".parse().expect("inventory key")
}

fn batch(sink: &GitSink, rows: Vec<TargetRow>, generation: i64) -> ExportBatch {
    let _ = sink;
    ExportBatch::builder(
        inventory(),
        "team-a/snapshot/git".parse().expect("sink id"),
        Arc::new(Snapshot::new(rows)),
    )
    .generation(generation)
    .exported_at(DateTime::from_timestamp_nanos(1_768_478_400_500_000_000))
    .build()
}

/// A bare repository on disk and a factory caching under the same temp dir.
struct Local {
    dir: TempDir,
}

impl Local {
    fn new() -> Self {
        let local = Self {
            dir: TempDir::new().expect("temp dir"),
        };
        bare_repo(&local.repo());
        local
    }

    fn repo(&self) -> std::path::PathBuf {
        self.dir.path().join("remote.git")
    }

    fn url(&self) -> String {
        format!("file://{}", self.repo().display())
    }

    fn sink(&self, spec: kollect_api::v1alpha1::SnapshotSinkSpec) -> GitSink {
        GitSinkFactory::new(self.dir.path().join("cache"))
            .build_git(&resolved(spec, Secrets::default()))
            .expect("build the sink")
    }

    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        files(&self.repo(), BRANCH)
    }

    fn text(&self, path: &str) -> String {
        let files = self.files();
        let bytes = files
            .get(path)
            .unwrap_or_else(|| panic!("{path} in {:?}", files.keys()));
        String::from_utf8(bytes.clone()).expect("utf-8")
    }

    fn commits(&self) -> u64 {
        commit_count(&self.repo(), BRANCH)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if !std::thread::panicking() && commit_count(&self.repo(), BRANCH) > 0 {
            assert_fsck_clean(&self.repo());
        }
    }
}

async fn export(sink: &GitSink, batch: &ExportBatch) -> ExportReceipt {
    sink.export(batch)
        .await
        .unwrap_or_else(|error| panic!("export to {sink}: {error:?}"))
}

fn kind(error: &SinkError) -> String {
    format!("{error:?}")
        .split([' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

const APPS_YAML: &str = "\
- attributes:
    image: api:1.0
    replicas: 2
  group: apps
  kind: Deployment
  name: api
  namespace: team-a
  targetName: deployments
  targetNamespace: team-a
  uid: uid-api
  version: v1
- attributes:
    image: nginx:1.27
    note: |-
      multi
      line
    tier: \"<front>\"
  group: apps
  kind: Deployment
  name: web
  namespace: team-a
  targetName: deployments
  targetNamespace: team-a
  uid: uid-web
  version: v1
";

// ---------------------------------------------------------------------------------------------
// Layouts and files.

#[tokio::test]
async fn document_yaml_is_exact_deterministic_and_committed_once() {
    let local = Local::new();
    let sink = local.sink(spec(&local.url(), SerializationFormat::Yaml));
    let receipt = export(&sink, &batch(&sink, apps(), 3)).await;
    assert!(receipt.wrote);
    assert_eq!(receipt.object_keys, ["inventory/team-a/apps.yaml"]);
    assert_eq!(local.text("inventory/team-a/apps.yaml"), APPS_YAML);
    assert!(local.files().contains_key(MANIFEST_PATH));
    // Rows given in another order give the same bytes: nothing to commit.
    let mut reversed = apps();
    reversed.reverse();
    let again = export(&sink, &batch(&sink, reversed, 3)).await;
    assert!(!again.wrote, "{again:?}");
    assert_eq!(local.commits(), 1);
    let checksum = Snapshot::new(apps()).fingerprint();
    let history = log(&local.repo(), BRANCH);
    assert_eq!(
        history[0].0,
        format!(
            "chore(default/team-a/apps): export 2 items @ {}",
            &checksum[..12]
        )
    );
    let author = git_ok(
        &local.repo(),
        &["log", "-1", "--format=%an <%ae>|%cn <%ce>", BRANCH],
    );
    assert_eq!(
        author.trim(),
        "kollect <kollect@kollect.dev>|kollect <kollect@kollect.dev>"
    );
    assert_eq!(
        receipt.commit.as_deref(),
        Some(git_ok(&local.repo(), &["rev-parse", BRANCH]).trim())
    );
}

#[tokio::test]
async fn a_new_generation_with_identical_files_makes_no_commit() {
    let local = Local::new();
    let sink = local.sink(spec(&local.url(), SerializationFormat::Yaml));
    export(&sink, &batch(&sink, apps(), 1)).await;
    let receipt = export(&sink, &batch(&sink, apps(), 2)).await;
    assert!(
        !receipt.wrote,
        "D27: no file changed, no commit: {receipt:?}"
    );
    assert_eq!(local.commits(), 1);
}

#[tokio::test]
async fn json_document_is_the_envelope_and_ndjson_one_item_per_line() {
    let local = Local::new();
    let json = local.sink(spec(&local.url(), SerializationFormat::Json));
    let batch_json = batch(&json, apps(), 3);
    export(&json, &batch_json).await;
    let envelope = batch_json.parts().expect("parts").parts[0].envelope.clone();
    assert_eq!(local.text("inventory/team-a/apps.json"), envelope);
    let ndjson = local.sink(spec(&local.url(), SerializationFormat::Ndjson));
    export(&ndjson, &batch(&ndjson, apps(), 3)).await;
    let lines: Vec<String> = apps().iter().map(TargetRow::encode).collect();
    assert_eq!(
        local.text("inventory/team-a/apps.ndjson"),
        format!("{}\n", lines.join("\n"))
    );
    // Two sink configurations writing the same inventory keep each other's files.
    assert!(local.files().contains_key("inventory/team-a/apps.json"));
}

#[tokio::test]
async fn per_resource_layout_writes_one_file_per_row_and_prunes_rows_that_left() {
    let local = Local::new();
    let mut spec = spec(&local.url(), SerializationFormat::Yaml);
    spec.common.cluster = Some("prod-west".to_owned());
    spec.common.layout = Some(LayoutSpec {
        mode: LayoutMode::PerResource,
        ..LayoutSpec::default()
    });
    let sink = local.sink(spec);
    let receipt = export(&sink, &batch(&sink, apps(), 1)).await;
    assert!(receipt.wrote);
    let api = "prod-west/team-a/deployment/api.yaml";
    let web = "prod-west/team-a/deployment/web.yaml";
    assert_eq!(
        local.text(api),
        APPS_YAML
            .lines()
            .take(11)
            .flat_map(|l| [&l[2..], "\n"])
            .collect::<String>()
    );
    assert!(local.files().contains_key(web));
    // A file Kollect did not write, in a directory it manages.
    foreign_commit(
        &local.repo(),
        BRANCH,
        "prod-west/team-a/deployment/README.md",
        "hand-written\n",
    );
    let receipt = export(&sink, &batch(&sink, apps()[..1].to_vec(), 1)).await;
    assert!(receipt.wrote);
    let after = local.files();
    assert!(after.contains_key(api));
    assert!(
        !after.contains_key(web),
        "web.yaml is pruned: {:?}",
        after.keys()
    );
    assert!(
        after.contains_key("prod-west/team-a/deployment/README.md"),
        "D11: foreign files stay"
    );
    assert_eq!(local.commits(), 3);
}

#[tokio::test]
async fn split_layout_writes_an_index_and_item_files() {
    let local = Local::new();
    let mut spec = spec(&local.url(), SerializationFormat::Json);
    spec.common.cluster = Some("prod-west".to_owned());
    spec.common.layout = Some(LayoutSpec {
        mode: LayoutMode::Split,
        content: LayoutContent::Attributes,
        ..LayoutSpec::default()
    });
    let sink = local.sink(spec);
    export(&sink, &batch(&sink, apps(), 1)).await;
    let checksum = Snapshot::new(apps()).fingerprint();
    assert_eq!(
        local.text("inventory/team-a/apps.json"),
        format!(
            "{{\n  \"schemaVersion\": \"kollect.dev/v1alpha1\",\n  \"itemCount\": 2,\n  \
             \"checksum\": \"{checksum}\",\n  \"exportedAt\": \"2026-01-15T12:00:00Z\",\n  \
             \"cluster\": \"prod-west\",\n  \"paths\": [\n    \
             \"prod-west/team-a/deployment/api.json\",\n    \
             \"prod-west/team-a/deployment/web.json\"\n  ]\n}}\n"
        )
    );
    assert_eq!(
        local.text("prod-west/team-a/deployment/web.json"),
        "{\n  \"image\": \"nginx:1.27\",\n  \"note\": \"multi\\nline\",\n  \"tier\": \"\\u003cfront\\u003e\"\n}\n"
    );
}

#[tokio::test]
async fn resource_export_becomes_a_tree_of_native_objects() {
    let local = Local::new();
    let sink = local.sink(spec(&local.url(), SerializationFormat::Yaml));
    let rows = vec![
        row(
            "",
            Gvk::new("rbac.authorization.k8s.io", "v1", "ClusterRole"),
            "view",
            r#"{"resource":{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"view"}}}"#,
        ),
        row(
            "team-a",
            Gvk::new("", "v1", "ConfigMap"),
            "settings",
            r#"{"resource":{"apiVersion":"v1","data":{"a":"1"},"kind":"ConfigMap","metadata":{"name":"settings","namespace":"team-a"}}}"#,
        ),
    ];
    export(&sink, &batch(&sink, rows, 1)).await;
    let paths: Vec<String> = local.files().into_keys().collect();
    assert_eq!(
        paths,
        [
            MANIFEST_PATH,
            "default/clusterrole/view.yaml",
            "default/team-a/configmap/settings.yaml"
        ]
        .map(str::to_owned)
        .iter()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(
        local.text("default/team-a/configmap/settings.yaml"),
        "apiVersion: v1\ndata:\n  a: \"1\"\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team-a\n"
    );
}

#[tokio::test]
async fn layout_errors_fail_without_a_commit() {
    let local = Local::new();
    let mut manifest_spec = spec(&local.url(), SerializationFormat::Yaml);
    manifest_spec.common.layout = Some(LayoutSpec {
        mode: LayoutMode::PerResource,
        content: LayoutContent::Manifest,
        ..LayoutSpec::default()
    });
    let sink = local.sink(manifest_spec);
    let error = sink
        .export(&batch(&sink, apps(), 1))
        .await
        .expect_err("no embedded object");
    assert_eq!(kind(&error), "InvalidPayload");
    assert!(
        error.to_string().contains("missing attribute \"resource\""),
        "{error}"
    );
    let mut collision = spec(&local.url(), SerializationFormat::Yaml);
    collision.common.layout = Some(LayoutSpec {
        mode: LayoutMode::PerResource,
        path_template: Some("{cluster}/{sourceName}{extension}".to_owned()),
        ..LayoutSpec::default()
    });
    let sink = local.sink(collision);
    let clash = vec![
        deployment("api", "{}"),
        row("team-b", Gvk::new("apps", "v1", "Deployment"), "api", "{}"),
    ];
    let error = sink
        .export(&batch(&sink, clash, 1))
        .await
        .expect_err("two rows, one path");
    assert!(error.to_string().contains("layout collision"), "{error}");
    assert_eq!(local.commits(), 0);
}

fn big_rows(count: usize, payload: usize) -> Vec<TargetRow> {
    (0..count)
        .map(|i| {
            deployment(
                &format!("app-{i:02}"),
                &format!("{{\"payload\":\"{}\"}}", "x".repeat(payload)),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_multipart_tree_export_is_one_commit_with_a_set_manifest() {
    let local = Local::new();
    let mut spec = spec(&local.url(), SerializationFormat::Yaml);
    spec.common.layout = Some(LayoutSpec {
        mode: LayoutMode::Split,
        ..LayoutSpec::default()
    });
    let sink = local.sink(spec);
    let batch = ExportBatch::builder(
        inventory(),
        "team-a/snapshot/git".parse().expect("id"),
        Arc::new(Snapshot::new(big_rows(4, 300))),
    )
    .generation(5)
    .exported_at(DateTime::from_timestamp_nanos(1_768_478_400_000_000_000))
    .max_part_bytes(1000)
    .build();
    let parts = batch.parts().expect("parts").parts.len();
    assert!(parts >= 2);
    let receipt = export(&sink, &batch).await;
    assert_eq!(receipt.parts, parts);
    assert_eq!(local.commits(), 1, "all parts land in one commit");
    let manifest: serde_json::Value =
        serde_json::from_str(&local.text("inventory/team-a/apps.manifest.json")).expect("json");
    assert_eq!(manifest["kind"], "KollectExportSetManifest");
    assert_eq!(manifest["partTotal"], parts);
    assert_eq!(manifest["generation"], 5);
    let files = local.files();
    for path in manifest["paths"].as_array().expect("paths") {
        assert!(
            files.contains_key(path.as_str().expect("text")),
            "{path} exists"
        );
    }
    assert!(files.contains_key(&format!(
        "inventory/team-a/apps.part-0001-of-{parts:04}.yaml"
    )));
}

#[tokio::test]
async fn document_parts_left_over_from_a_larger_set_are_deleted() {
    let local = Local::new();
    let sink = local.sink(spec(&local.url(), SerializationFormat::Yaml));
    let split = |rows: Vec<TargetRow>, cap: usize| {
        ExportBatch::builder(
            inventory(),
            "team-a/snapshot/git".parse().expect("id"),
            Arc::new(Snapshot::new(rows)),
        )
        .generation(1)
        .exported_at(DateTime::from_timestamp_nanos(1_768_478_400_000_000_000))
        .max_part_bytes(cap)
        .build()
    };
    export(&sink, &split(big_rows(3, 300), 900)).await;
    let before: Vec<String> = local
        .files()
        .into_keys()
        .filter(|p| p.starts_with("inventory/"))
        .collect();
    assert_eq!(before.len(), 3, "{before:?}");
    export(&sink, &split(big_rows(1, 300), 900)).await;
    let after: Vec<String> = local
        .files()
        .into_keys()
        .filter(|p| p.starts_with("inventory/"))
        .collect();
    assert_eq!(
        after,
        ["inventory/team-a/apps.yaml"],
        "D9: no leftover parts"
    );
}

#[tokio::test]
async fn an_emptied_inventory_is_an_empty_list_file() {
    let local = Local::new();
    let sink = local.sink(spec(&local.url(), SerializationFormat::Yaml));
    export(&sink, &batch(&sink, apps(), 1)).await;
    let receipt = export(&sink, &batch(&sink, Vec::new(), 1)).await;
    assert!(receipt.wrote);
    assert_eq!(local.text("inventory/team-a/apps.yaml"), "[]\n");
    let history = log(&local.repo(), BRANCH);
    assert!(history[0].0.contains("export 0 items"), "{history:?}");
}

#[tokio::test]
async fn compressed_files_decompress_to_the_plain_bytes() {
    let local = Local::new();
    let mut spec = spec(&local.url(), SerializationFormat::Yaml);
    spec.common.serialization = Some(SerializationSpec {
        format: Some(SerializationFormat::Yaml),
        compression: Some(Compression::Gzip),
    });
    let sink = local.sink(spec);
    export(&sink, &batch(&sink, apps(), 1)).await;
    let files = local.files();
    let gz = files
        .get("inventory/team-a/apps.yaml.gz")
        .expect("a .yaml.gz file");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut text)
        .expect("gunzip");
    assert_eq!(text, APPS_YAML);
}

#[tokio::test]
async fn commit_message_body_and_trailers_render_with_trailers_as_the_final_paragraph() {
    let local = Local::new();
    let mut spec = spec(&local.url(), SerializationFormat::Yaml);
    spec.git = Some(GitSpec {
        branch: Some(BRANCH.to_owned()),
        commit_message: Some("inv {namespace}/{name} gen={generation} sink={sink}".to_owned()),
        commit_body: Some("{itemCount} items exported at {exportedAt} to {path}".to_owned()),
        commit_trailers: Some(vec![
            "Kollect-Checksum: {checksum}".to_owned(),
            "Kollect-Cluster: {cluster}".to_owned(),
        ]),
        author: Some(GitAuthor {
            name: Some("Inventory Bot".to_owned()),
            email: Some("bot@example.org".to_owned()),
        }),
        ..GitSpec::default()
    });
    let sink = local.sink(spec);
    export(&sink, &batch(&sink, apps(), 4)).await;
    let checksum = Snapshot::new(apps()).fingerprint();
    let (subject, message, parents) = log(&local.repo(), BRANCH).remove(0);
    assert_eq!(subject, "inv team-a/apps gen=4 sink=git");
    assert_eq!(parents, 0);
    assert_eq!(
        message.trim_end(),
        format!(
            "inv team-a/apps gen=4 sink=git\n\n2 items exported at 2026-01-15T12:00:00Z to \
             inventory/team-a/apps.yaml\n\nKollect-Checksum: {checksum}\nKollect-Cluster: default"
        )
    );
    let trailers = git_ok(
        &local.repo(),
        &["log", "-1", "--format=%(trailers:only,unfold)", BRANCH],
    );
    assert_eq!(
        trailers.trim(),
        format!("Kollect-Checksum: {checksum}\nKollect-Cluster: default")
    );
    let author = git_ok(&local.repo(), &["log", "-1", "--format=%an <%ae>", BRANCH]);
    assert_eq!(author.trim(), "Inventory Bot <bot@example.org>");
}

// ---------------------------------------------------------------------------------------------
// Concurrent writers.

#[tokio::test]
async fn a_foreign_commit_between_exports_is_kept() {
    let local = Local::new();
    let sink = local.sink(spec(&local.url(), SerializationFormat::Yaml));
    export(&sink, &batch(&sink, apps(), 1)).await;
    foreign_commit(&local.repo(), BRANCH, "docs/README.md", "by hand\n");
    let receipt = export(&sink, &batch(&sink, apps()[..1].to_vec(), 1)).await;
    assert!(receipt.wrote);
    let history = log(&local.repo(), BRANCH);
    assert_eq!(history.len(), 3);
    assert!(history[1].0.starts_with("foreign:"), "{history:?}");
    assert!(local.files().contains_key("docs/README.md"));
}

/// A CGI wrapper around git-http-backend: the first time a client connects to push, it first
/// pushes a foreign commit to the repository, so the branch moves between the client's fetch
/// and its push.
fn racing_backend(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("racing-backend.sh");
    let script = format!(
        r#"#!/bin/sh
export PATH=/usr/local/bin:/usr/bin:/bin
marker="{marker}"
if [ "$QUERY_STRING" = "service=git-receive-pack" ] && [ ! -e "$marker" ]; then
  touch "$marker"
  repo="$GIT_PROJECT_ROOT${{PATH_INFO%/info/refs}}"
  work=$(mktemp -d)
  git clone --quiet --branch main "file://$repo" "$work/wc" >/dev/null 2>&1
  echo "by another writer" > "$work/wc/RACE.md"
  git -C "$work/wc" add RACE.md >/dev/null 2>&1
  git -C "$work/wc" -c user.name=racer -c user.email=racer@example.org commit --quiet -m "foreign: race" >/dev/null 2>&1
  git -C "$work/wc" push --quiet origin HEAD:refs/heads/main >/dev/null 2>&1
  rm -rf "$work"
fi
exec /usr/lib/git-core/git-http-backend
"#,
        marker = dir.join("raced").display()
    );
    std::fs::write(&path, script).expect("write the wrapper");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    path
}

#[tokio::test]
async fn a_remote_that_moved_between_fetch_and_push_ends_with_both_commits() {
    let scratch = TempDir::new().expect("temp dir");
    let wrapper = racing_backend(scratch.path());
    let server = HttpServer::start(Some(&wrapper));
    let repo = server.repo("race");
    let factory = GitSinkFactory::new(scratch.path().join("cache"));
    let sink = factory
        .build_git(&resolved(
            spec(&server.url("race"), SerializationFormat::Yaml),
            basic_secrets(PASSWORD),
        ))
        .expect("build");
    // The first push creates the branch (the wrapper cannot race an empty repository).
    std::fs::write(scratch.path().join("raced"), b"").expect("marker");
    export(&sink, &batch(&sink, apps(), 1)).await;
    std::fs::remove_file(scratch.path().join("raced")).expect("re-arm the race");
    let receipt = export(&sink, &batch(&sink, apps()[..1].to_vec(), 1)).await;
    assert!(receipt.wrote);
    assert!(
        scratch.path().join("raced").exists(),
        "the wrapper raced the push"
    );
    let history = log(&repo, BRANCH);
    let subjects: Vec<&str> = history.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(
        subjects[0].starts_with("chore(default/team-a/apps): export 1 items"),
        "{subjects:?}"
    );
    assert_eq!(subjects[1], "foreign: race");
    let files = files(&repo, BRANCH);
    assert!(files.contains_key("RACE.md"));
    assert_eq!(
        support::read_rows(&files, &inventory(), LayoutMode::Document, ".yaml")
            .expect("rows")
            .len(),
        1
    );
    // Retrying the same export adds nothing.
    assert!(
        !export(&sink, &batch(&sink, apps()[..1].to_vec(), 1))
            .await
            .wrote
    );
    assert_eq!(commit_count(&repo, BRANCH), 3);
    assert_fsck_clean(&repo);
}

#[tokio::test]
async fn force_push_replaces_the_branch_with_one_snapshot_commit() {
    let local = Local::new();
    let mut spec = spec(&local.url(), SerializationFormat::Yaml);
    spec.git = Some(GitSpec {
        branch: Some(BRANCH.to_owned()),
        push_policy: Some(PushPolicy::ForcePush),
        ..GitSpec::default()
    });
    let sink = local.sink(spec);
    export(&sink, &batch(&sink, apps(), 1)).await;
    foreign_commit(&local.repo(), BRANCH, "docs/README.md", "by hand\n");
    export(&sink, &batch(&sink, apps()[..1].to_vec(), 1)).await;
    assert_eq!(local.commits(), 1, "one snapshot commit, history replaced");
    assert!(
        local.files().contains_key("docs/README.md"),
        "the tip's files are kept"
    );
}

// ---------------------------------------------------------------------------------------------
// Transports, credentials and failures.

#[tokio::test]
async fn a_wrong_password_is_unauthenticated() {
    let server = HttpServer::start(None);
    server.repo("auth");
    let cache = TempDir::new().expect("temp dir");
    let sink = GitSinkFactory::new(cache.path())
        .build_git(&resolved(
            spec(&server.url("auth"), SerializationFormat::Yaml),
            basic_secrets("wrong"),
        ))
        .expect("build");
    let probe = sink.probe().await.expect_err("wrong password");
    assert_eq!(kind(&probe), "Unauthenticated", "{probe:?}");
    let error = sink
        .export(&batch(&sink, apps(), 1))
        .await
        .expect_err("wrong password");
    assert_eq!(kind(&error), "Unauthenticated", "{error:?}");
    assert!(error.to_string().contains("git auth failed"), "{error}");
    assert!(
        !format!("{error:?}").contains("wrong"),
        "the password never appears: {error:?}"
    );
}

#[tokio::test]
async fn an_http_outage_is_unreachable_and_the_next_export_lands_once() {
    let mut server = HttpServer::start(None);
    let repo = server.repo("outage");
    let cache = TempDir::new().expect("temp dir");
    let sink = GitSinkFactory::new(cache.path())
        .build_git(&resolved(
            spec(&server.url("outage"), SerializationFormat::Yaml),
            basic_secrets(PASSWORD),
        ))
        .expect("build");
    sink.probe().await.expect("probe");
    export(&sink, &batch(&sink, apps(), 1)).await;
    // Exports go through the standard decorators, as in the operator: the failure shows on the
    // sink's breaker.
    let layers = kollect_export::Layers {
        retry: kollect_export::RetryPolicy::default()
            .with_max_attempts(2)
            .with_initial_backoff(std::time::Duration::from_millis(10)),
        ..kollect_export::Layers::default()
    };
    let id: kollect_export::SinkId = "team-a/snapshot/git".parse().expect("sink id");
    let layered = GitSinkFactory::new(cache.path())
        .build_git(&resolved(
            spec(&server.url("outage"), SerializationFormat::Yaml),
            basic_secrets(PASSWORD),
        ))
        .expect("build")
        .layered(&layers, &id, kollect_export::SinkType::Git);
    server.stop();
    let latest = batch(&sink, apps()[..1].to_vec(), 2);
    let error = layered.export(&latest).await.expect_err("server down");
    assert_eq!(kind(&error), "Unreachable", "{error:?}");
    assert!(error.is_retriable());
    assert_eq!(
        layers.breakers.state(&id),
        Some(kollect_export::BreakerState::Closed {
            consecutive_failures: 1
        }),
        "the failed export is visible on the sink's breaker"
    );
    let probe = sink.probe().await.expect_err("server down");
    assert_eq!(kind(&probe), "Unreachable", "{probe:?}");
    server.restart();
    let receipt = layered
        .export(&latest)
        .await
        .expect("exported after the restart");
    assert!(receipt.wrote);
    assert_eq!(
        layers.breakers.state(&id),
        Some(kollect_export::BreakerState::Closed {
            consecutive_failures: 0
        })
    );
    assert!(!export(&sink, &latest).await.wrote, "no duplicate");
    assert_eq!(
        commit_count(&repo, BRANCH),
        2,
        "one commit per delivered snapshot"
    );
    let files = files(&repo, BRANCH);
    assert_eq!(
        support::read_rows(&files, &inventory(), LayoutMode::Document, ".yaml").expect("rows"),
        apps()[..1].to_vec()
    );
    assert_fsck_clean(&repo);
}

#[tokio::test]
async fn ssh_checks_the_host_key_against_known_hosts() {
    let server = SshServer::start();
    server.repo("keys");
    let cache = TempDir::new().expect("temp dir");
    let factory = GitSinkFactory::new(cache.path());
    // known_hosts that lists another key for the server.
    let mut secrets = BTreeMap::new();
    let pair = |name: &str| std::fs::read(server.dir.path().join(name)).expect("key file");
    secrets.insert("ssh-privatekey".to_owned(), pair("client_ed25519"));
    secrets.insert("username".to_owned(), SshServer::user().into_bytes());
    let other_key = String::from_utf8(pair("client_ed25519.pub")).expect("utf-8");
    let mut fields = other_key.split_whitespace();
    let wrong = format!(
        "[127.0.0.1]:{} {} {}\n",
        server.port,
        fields.next().expect("type"),
        fields.next().expect("key")
    );
    secrets.insert("known_hosts".to_owned(), wrong.into_bytes());
    let sink = factory
        .build_git(&resolved(
            spec(&server.url("keys"), SerializationFormat::Yaml),
            Secrets::new(secrets),
        ))
        .expect("build");
    let error = sink.probe().await.expect_err("unknown host key");
    assert_eq!(kind(&error), "Misconfigured", "{error:?}");
    assert!(error.to_string().contains("not in known_hosts"), "{error}");
    // Without known_hosts (and without insecureSkipVerify) the sink is not even built.
    let build = factory.build_git(&resolved(
        spec(&server.url("keys"), SerializationFormat::Yaml),
        server.secrets(false),
    ));
    let error = build.err().expect("known_hosts required");
    assert!(
        error.to_string().contains("requires known_hosts"),
        "{error}"
    );
    // insecureSkipVerify accepts any host key (development only).
    let mut insecure = spec(&server.url("keys"), SerializationFormat::Yaml);
    insecure.common.tls = Some(TlsSpec {
        insecure_skip_verify: Some(true),
        ..TlsSpec::default()
    });
    let sink = factory
        .build_git(&resolved(insecure, server.secrets(false)))
        .expect("build");
    sink.probe().await.expect("insecure probe");
}

#[tokio::test]
async fn probing_a_closed_port_is_unreachable() {
    let cache = TempDir::new().expect("temp dir");
    let url = format!("http://127.0.0.1:{}/git/none.git", support::free_port());
    let sink = GitSinkFactory::new(cache.path())
        .build_git(&resolved(
            spec(&url, SerializationFormat::Yaml),
            basic_secrets(PASSWORD),
        ))
        .expect("build");
    let error = sink.probe().await.expect_err("nothing listens");
    assert_eq!(kind(&error), "Unreachable", "{error:?}");
}

#[tokio::test]
async fn bad_configuration_names_the_field() {
    let cache = TempDir::new().expect("temp dir");
    let factory = GitSinkFactory::new(cache.path());
    let mut bad_branch = spec(
        "https://git.example.org/org/repo.git",
        SerializationFormat::Yaml,
    );
    bad_branch.git = Some(GitSpec {
        branch: Some("refs/heads/main".to_owned()),
        ..GitSpec::default()
    });
    let error = factory
        .build_git(&resolved(bad_branch, Secrets::default()))
        .err()
        .expect("refused");
    assert!(error.to_string().contains("spec.git.branch"), "{error}");
    assert_eq!(kind(&error), "Misconfigured");
    let mut bad_layout = spec(
        "https://git.example.org/org/repo.git",
        SerializationFormat::Yaml,
    );
    bad_layout.common.layout = Some(LayoutSpec {
        filename: Some(FilenameSpec {
            max_segment_length: Some(0),
            ..FilenameSpec::default()
        }),
        index: Some(LayoutIndexSpec::default()),
        ..LayoutSpec::default()
    });
    let error = factory
        .build_git(&resolved(bad_layout, Secrets::default()))
        .err()
        .expect("refused");
    assert!(
        error
            .to_string()
            .contains("spec.layout.filename.maxSegmentLength"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// HTTPS with a private CA.

struct Pki {
    ca_pem: String,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn private_ca(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).expect("server cert");
    let cert_path = dir.join("server.crt");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    Pki {
        ca_pem: ca.pem(),
        cert: cert_path,
        key: key_path,
    }
}

#[tokio::test]
async fn https_with_a_private_ca_needs_the_ca_bundle() {
    let scratch = TempDir::new().expect("temp dir");
    let pki = private_ca(scratch.path());
    let server = HttpServer::start_tls(&pki.cert, &pki.key);
    let repo = server.repo("tls");
    let url = server.url("tls");
    let factory = GitSinkFactory::new(scratch.path().join("cache"));
    let untrusted = factory
        .build_git(&resolved(
            spec(&url, SerializationFormat::Yaml),
            basic_secrets(PASSWORD),
        ))
        .expect("build");
    let error = untrusted
        .export(&batch(&untrusted, apps(), 1))
        .await
        .expect_err("unknown CA");
    assert_eq!(kind(&error), "Misconfigured", "{error:?}");
    let trusted = factory
        .build_git(
            &resolved(
                spec(&url, SerializationFormat::Yaml),
                basic_secrets(PASSWORD),
            )
            .with_ca_bundle(pki.ca_pem.clone().into_bytes()),
        )
        .expect("build");
    trusted.probe().await.expect("probe through the private CA");
    assert!(export(&trusted, &batch(&trusted, apps(), 1)).await.wrote);
    assert_eq!(commit_count(&repo, BRANCH), 1);
    let mut insecure = spec(&url, SerializationFormat::Yaml);
    insecure.common.tls = Some(TlsSpec {
        insecure_skip_verify: Some(true),
        ..TlsSpec::default()
    });
    let insecure = factory
        .build_git(&resolved(insecure, basic_secrets(PASSWORD)))
        .expect("build");
    insecure.probe().await.expect("insecure probe");
    assert_fsck_clean(&repo);
}
