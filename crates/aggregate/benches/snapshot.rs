//! Snapshot costs at inventory scale: 100 000 rows of a 5-attribute profile (the collection
//! benchmark's shape), in store order and shuffled. `cargo bench -p kollect-aggregate`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::{hint::black_box, sync::Arc};

use chrono::{TimeZone as _, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kollect_aggregate::{EnvelopeMeta, Gvk, Snapshot, TargetRow};
use kollect_api::row::{Attributes, Row};

const ROWS: usize = 100_000;

fn rows() -> Vec<TargetRow> {
    let kind = Gvk::new("", "v1", "ConfigMap");
    let (namespace, name): (Arc<str>, Arc<str>) = ("all".into(), "configmaps".into());
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
                    r#"{{"app":"bench","keys":3,"owner":"team-{}","sent":"","size":1024}}"#,
                    i % 7
                )),
            }),
        })
        .collect()
}

fn snapshot(c: &mut Criterion) {
    let ordered = Snapshot::new(rows()).items().to_vec();
    let mut shuffled = ordered.clone();
    // A fixed permutation (multiplicative step, coprime with ROWS) stands in for hash order.
    shuffled.sort_by_key(|row| {
        let position = ordered
            .binary_search_by(|probe| probe.item().canonical_cmp(&row.item()))
            .unwrap();
        (position * 7_919) % ROWS
    });
    let mut group = c.benchmark_group("snapshot_100k");
    group.sample_size(10);
    group.bench_function("new_from_store_order", |b| {
        b.iter_batched(
            || ordered.clone(),
            |rows| black_box(Snapshot::new(rows)),
            BatchSize::LargeInput,
        );
    });
    group.bench_function("new_from_shuffled", |b| {
        b.iter_batched(
            || shuffled.clone(),
            |rows| black_box(Snapshot::new(rows)),
            BatchSize::LargeInput,
        );
    });
    let built = Snapshot::new(ordered.clone());
    group.bench_function("fingerprint", |b| b.iter(|| black_box(built.fingerprint())));
    let meta = EnvelopeMeta {
        generation: 1,
        exported_at: Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap(),
        cluster: String::new(),
    };
    group.bench_function("envelope", |b| b.iter(|| black_box(built.envelope(&meta))));
    group.bench_function("partition_1mib", |b| {
        b.iter(|| black_box(built.partition(&meta, 1 << 20).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
