//! Git export of a 10k-row inventory, run by hand:
//!
//! ```text
//! cargo bench -p kollect-sinks --features git --bench git
//! ```
//!
//! For the document (YAML) and perResource (one YAML file per row) layouts, against a bare
//! `file://` repository: first export, one row changed, nothing changed. Next to it, the floor:
//! the git CLI committing the same files (`git add -A && git commit`) in a work tree that
//! already holds them on disk. Each figure is the median of `RUNS` runs.
#![allow(clippy::print_stdout, missing_docs)]

use std::{
    path::Path,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::DateTime;
use kollect_api::{
    names::{NamespaceName, ObjectName},
    row::{Attributes, Gvk, Row},
    v1alpha1::{
        GitSpec, LayoutMode, LayoutSpec, SerializationFormat, SerializationSpec, SinkCommonSpec,
        SnapshotSinkSpec, SnapshotSinkType,
    },
};
use kollect_export::{ExportBatch, ResolvedSinkSpec, Sink, SinkSpec, Snapshot, TargetRow};
use kollect_sinks::snapshot::git::{GitSink, GitSinkFactory};
use tempfile::TempDir;

const ROWS: usize = 10_000;
const RUNS: usize = 5;

fn rows(changed: usize) -> Vec<TargetRow> {
    (0..ROWS)
        .map(|i| {
            let image = if i == 4242 { format!("app:{changed}") } else { "app:1".to_owned() };
            TargetRow {
                target_namespace: "team-a".into(),
                target_name: "deployments".into(),
                kind: Gvk::new("apps", "v1", "Deployment"),
                row: Arc::new(Row {
                    namespace: format!("ns-{:02}", i % 50).into(),
                    name: format!("app-{i:05}").into(),
                    uid: format!("0000{i:05}-aaaa-bbbb-cccc-{i:012}").into(),
                    resource_version: "".into(),
                    attributes: Attributes::from_canonical(format!(
                        r#"{{"image":"{image}","labels":{{"app":"app-{i:05}","team":"team-{}"}},"replicas":{},"tier":"backend"}}"#,
                        i % 7,
                        i % 5
                    )),
                }),
            }
        })
        .collect()
}

fn batch(rows: Vec<TargetRow>) -> ExportBatch {
    ExportBatch::builder(
        "team-a/apps".parse().expect("key"),
        "team-a/snapshot/bench".parse().expect("id"),
        Arc::new(Snapshot::new(rows)),
    )
    .generation(1)
    .exported_at(DateTime::from_timestamp_nanos(1_768_478_400_000_000_000))
    .build()
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.org")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.org")
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?}");
}

fn sink(dir: &Path, mode: LayoutMode) -> GitSink {
    let remote = dir.join("remote.git");
    std::fs::create_dir_all(&remote).expect("dir");
    git(
        &remote,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    );
    let spec = SnapshotSinkSpec {
        sink_type: SnapshotSinkType::Git,
        common: SinkCommonSpec {
            endpoint: Some(format!("file://{}", remote.display())),
            serialization: Some(SerializationSpec {
                format: Some(SerializationFormat::Yaml),
                compression: None,
            }),
            layout: (mode != LayoutMode::Document).then(|| LayoutSpec {
                mode,
                ..LayoutSpec::default()
            }),
            ..SinkCommonSpec::default()
        },
        git: Some(GitSpec {
            branch: Some("main".to_owned()),
            ..GitSpec::default()
        }),
        gitlab: None,
        object_store: None,
        http: None,
    };
    let namespace: NamespaceName = "team-a".parse().expect("ns");
    let name: ObjectName = "bench".parse().expect("name");
    GitSinkFactory::new(dir.join("cache"))
        .build_git(&ResolvedSinkSpec::new(
            namespace,
            name,
            SinkSpec::Snapshot(spec),
        ))
        .expect("build")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

async fn kollect(mode: LayoutMode) -> [Duration; 3] {
    let (mut first, mut changed, mut unchanged) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        let dir = TempDir::new().expect("temp dir");
        let sink = sink(dir.path(), mode);
        let start = Instant::now();
        assert!(sink.export(&batch(rows(0))).await.expect("first").wrote);
        first.push(start.elapsed());
        let start = Instant::now();
        assert!(
            sink.export(&batch(rows(run + 1)))
                .await
                .expect("changed")
                .wrote
        );
        changed.push(start.elapsed());
        let start = Instant::now();
        assert!(
            !sink
                .export(&batch(rows(run + 1)))
                .await
                .expect("same")
                .wrote
        );
        unchanged.push(start.elapsed());
    }
    [median(first), median(changed), median(unchanged)]
}

/// The git CLI committing the files the sink wrote: checked out once (untimed), then
/// re-committed from scratch, and with one file changed.
fn floor(mode: LayoutMode) -> [Duration; 2] {
    let (mut first, mut changed) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let dir = TempDir::new().expect("temp dir");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let sink = sink(dir.path(), mode);
        runtime
            .block_on(sink.export(&batch(rows(0))))
            .expect("export");
        let source = dir.path().join("source");
        git(
            dir.path(),
            &[
                "clone",
                "--quiet",
                &format!("file://{}", dir.path().join("remote.git").display()),
                "source",
            ],
        );
        std::fs::remove_dir_all(source.join(".git")).expect("drop .git");
        git(&source, &["init", "--quiet", "--initial-branch=main"]);
        let start = Instant::now();
        git(&source, &["add", "-A"]);
        git(&source, &["commit", "--quiet", "-m", "first"]);
        first.push(start.elapsed());
        let target = if mode == LayoutMode::Document {
            source.join("inventory/team-a/apps.part-0001-of-0003.yaml")
        } else {
            source.join("default/ns-42/deployment/app-04242.yaml")
        };
        let text = std::fs::read_to_string(&target).unwrap_or_default();
        std::fs::write(&target, format!("{text}# run {run}\n")).expect("change");
        let start = Instant::now();
        git(&source, &["add", "-A"]);
        git(&source, &["commit", "--quiet", "-m", "changed"]);
        changed.push(start.elapsed());
    }
    [median(first), median(changed)]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("Git export of {ROWS} rows to a file:// remote (median of {RUNS} runs)");
    println!(
        "| layout | first export | one row changed | nothing changed | floor: git add+commit (first / one file) |"
    );
    println!("|---|---|---|---|---|");
    for mode in [LayoutMode::Document, LayoutMode::PerResource] {
        let [first, changed, unchanged] = runtime.block_on(kollect(mode));
        let [floor_first, floor_changed] = floor(mode);
        println!(
            "| {} | {} | {} | {} | {} / {} |",
            mode.as_str(),
            ms(first),
            ms(changed),
            ms(unchanged),
            ms(floor_first),
            ms(floor_changed)
        );
    }
}
