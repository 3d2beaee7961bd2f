//! Parquet export of 100 000 rows to the local filesystem, next to its floor: `std::fs::write`
//! of the same bytes. Run by hand:
//!
//! ```text
//! cargo bench -p kollect-sinks --features object-store --bench object_store
//! ```
//!
//! The batch's parts (envelopes below the ceiling) are computed before each timed export, as the
//! pipeline does when it decides on the digest; the time to compute them is printed once per
//! case. Besides criterion's times the bench prints, once per case, the bytes written and the
//! peak resident memory of one export above the resident memory before it (`VmHWM` after
//! resetting it through `/proc/self/clear_refs`; Linux only).
//!
//! Cases:
//! * `one_part`: the whole inventory in one object (`max_part_bytes = 0`, as the CLI writes it).
//! * `default_parts`: the operator's default 1.5 MiB ceiling, which splits the export into parts.
//! * `fs_write_floor`: writing the one-part object's bytes with `std::fs::write`.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stderr)]

use std::{hint::black_box, path::Path, sync::Arc, time::Instant};

use chrono::{TimeZone as _, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kollect_api::{
    row::{Attributes, Row},
    v1alpha1::{
        SerializationFormat, SerializationSpec, SinkCommonSpec, SnapshotSinkSpec, SnapshotSinkType,
    },
};
use kollect_export::{
    DEFAULT_MAX_PART_BYTES, Digest, ExportBatch, Gvk, ResolvedSinkSpec, Sink, SinkFactory as _,
    SinkSpec, Snapshot, TargetRow,
};
use kollect_sinks::snapshot::object_store::ObjectStoreSinkFactory;

const ROWS: usize = 100_000;

/// 100 000 rows of a five-attribute profile, the shape of the aggregate benchmark.
fn snapshot() -> Arc<Snapshot> {
    let kind = Gvk::new("", "v1", "ConfigMap");
    let (namespace, name): (Arc<str>, Arc<str>) = ("all".into(), "configmaps".into());
    Arc::new(Snapshot::new(
        (0..ROWS)
            .map(|i| TargetRow {
                target_namespace: Arc::clone(&namespace),
                target_name: Arc::clone(&name),
                kind: kind.clone(),
                row: Arc::new(Row {
                    namespace: format!("ns-{:03}", i % 100).into(),
                    name: format!("cm-{i:06}").into(),
                    uid: format!("{:032x}", i * 7919).into(),
                    resource_version: "1".into(),
                    attributes: Attributes::from_canonical(format!(
                        r#"{{"app":"bench","image":"registry/app:{}","keys":3,"owner":"team-{}","size":1024}}"#,
                        i % 13,
                        i % 7
                    )),
                }),
            })
            .collect(),
    ))
}

fn sink(dir: &Path) -> (ResolvedSinkSpec, Arc<dyn Sink>) {
    let spec = SnapshotSinkSpec {
        sink_type: SnapshotSinkType::S3,
        common: SinkCommonSpec {
            endpoint: Some(format!("file://{}", dir.display())),
            serialization: Some(SerializationSpec {
                format: Some(SerializationFormat::Parquet),
                compression: None,
            }),
            ..SinkCommonSpec::default()
        },
        git: None,
        gitlab: None,
        object_store: None,
        http: None,
    };
    let resolved = ResolvedSinkSpec::new(
        "bench".parse().unwrap(),
        "local".parse().unwrap(),
        SinkSpec::Snapshot(spec),
    );
    let sink = ObjectStoreSinkFactory::new().build(&resolved).unwrap();
    (resolved, sink)
}

/// A batch whose digest differs from every earlier one: the sink writes it in full.
fn batch(
    resolved: &ResolvedSinkSpec,
    snapshot: &Arc<Snapshot>,
    max_part_bytes: usize,
    round: u64,
) -> ExportBatch {
    ExportBatch::builder(
        "bench/inventory".parse().unwrap(),
        resolved.id().clone(),
        Arc::clone(snapshot),
    )
    .generation(1)
    .exported_at(Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap())
    .max_part_bytes(max_part_bytes)
    .digest(format!("{round:064x}").parse::<Digest>().unwrap())
    .build()
}

/// Kilobytes of a `/proc/self/status` line (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Runs `work` once and returns the peak resident memory above the memory before, in MiB.
fn peak_mib(work: impl FnOnce()) -> Option<f64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_kib("VmRSS")?;
    work();
    let peak = status_kib("VmHWM")?;
    #[allow(clippy::cast_precision_loss)]
    Some(peak.saturating_sub(before) as f64 / 1024.0)
}

fn parquet_export(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let snapshot = snapshot();
    let dir = tempfile::tempdir().unwrap();
    // Every export gets a digest of its own, so that none is skipped as unchanged.
    let rounds = std::cell::Cell::new(0_u64);
    let next_round = || {
        rounds.set(rounds.get() + 1);
        rounds.get()
    };
    let mut group = c.benchmark_group("parquet_export_100k");
    group.sample_size(10);
    let mut one_part_bytes = Vec::new();
    for (case, cap) in [("one_part", 0), ("default_parts", DEFAULT_MAX_PART_BYTES)] {
        let case_dir = dir.path().join(case);
        let (resolved, sink) = sink(&case_dir);
        let first = batch(&resolved, &snapshot, cap, next_round());
        let started = Instant::now();
        first.parts().unwrap();
        let partition = started.elapsed();
        let mut receipt = None;
        let peak = peak_mib(|| receipt = Some(runtime.block_on(sink.export(&first)).unwrap()));
        let receipt = receipt.unwrap();
        eprintln!(
            "{case}: {} rows, {} parts (computed in {partition:.0?}), {} bytes, peak memory above baseline {}",
            snapshot.len(),
            receipt.parts,
            receipt.bytes_written,
            peak.map_or("n/a".to_owned(), |mib| format!("{mib:.1} MiB")),
        );
        if case == "one_part" {
            one_part_bytes = std::fs::read(case_dir.join(&receipt.object_keys[0])).unwrap();
        }
        group.bench_function(case, |b| {
            b.iter_batched(
                || {
                    let batch = batch(&resolved, &snapshot, cap, next_round());
                    batch.parts().unwrap();
                    batch
                },
                |batch| black_box(runtime.block_on(sink.export(&batch)).unwrap()),
                BatchSize::PerIteration,
            );
        });
    }
    let floor = dir.path().join("floor.parquet");
    let peak = peak_mib(|| std::fs::write(&floor, &one_part_bytes).unwrap());
    eprintln!(
        "fs_write_floor: {} bytes, peak memory above baseline {}",
        one_part_bytes.len(),
        peak.map_or("n/a".to_owned(), |mib| format!("{mib:.1} MiB")),
    );
    group.bench_function("fs_write_floor", |b| {
        b.iter(|| std::fs::write(&floor, black_box(&one_part_bytes)).unwrap());
    });
    group.finish();
}

criterion_group!(benches, parquet_export);
criterion_main!(benches);
