//! Extraction cost per object, next to the cost of merely parsing the object.
//!
//! Three realistic objects and profiles (`benches/data/`): a `ConfigMap` with a metadata-only
//! profile of 5 attributes, a Pod with 8 JSONPath attributes including a filter, a Deployment
//! with 4 CEL expressions. For each:
//!
//! * `parse`: `serde_json::from_slice::<Value>`, the yardstick;
//! * `extract`: extraction from the already parsed `Value` (the second step of two);
//! * `two_step`: parse, then extract;
//! * `one_pass`: `Extractor::extract_from_slice`, bytes to row.
//!
//! Before timing, heap allocations per object of each path are counted with a counting global
//! allocator and printed. Run with `cargo bench -p kollect-extract --bench extract`.

#![allow(
    clippy::print_stdout,
    reason = "the benchmark reports allocation counts"
)]

use std::{alloc::System, hint::black_box};

use criterion::{Criterion, criterion_group, criterion_main};
use kollect_api::v1alpha1::{AttributeSpec, GroupVersionKind, ProfileSpec};
use kollect_extract::{ExtractOptions, Extractor};
use serde_json::Value;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Counts allocations of the whole process (an atomic add per allocation, on every path alike).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

struct Case {
    name: &'static str,
    bytes: &'static [u8],
    extractor: Extractor,
}

fn profile(kind: GroupVersionKind, paths: &[(&str, &str)]) -> Extractor {
    let spec = ProfileSpec {
        target_gvk: kind,
        attributes: Some(
            paths
                .iter()
                .map(|(name, path)| AttributeSpec {
                    name: (*name).into(),
                    path: (*path).into(),
                    type_hint: None,
                    optional: Some(true),
                })
                .collect(),
        ),
        export: None,
        metrics: None,
    };
    Extractor::compile_spec(&spec, false, &ExtractOptions::default()).expect("compiles")
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "configmap_metadata_5",
            bytes: include_bytes!("data/configmap.json"),
            extractor: profile(
                GroupVersionKind::new("", "v1", "ConfigMap"),
                &[
                    ("app", "{.metadata.labels.app}"),
                    ("team", "{.metadata.labels.team}"),
                    ("owner", "{.metadata.annotations['kollect.dev/owner']}"),
                    ("created", "{.metadata.creationTimestamp}"),
                    ("partOf", "{.metadata.labels['app.kubernetes.io/part-of']}"),
                ],
            ),
        },
        Case {
            name: "pod_jsonpath_8",
            bytes: include_bytes!("data/pod.json"),
            extractor: profile(
                GroupVersionKind::new("", "v1", "Pod"),
                &[
                    ("node", "{.spec.nodeName}"),
                    ("phase", "{.status.phase}"),
                    ("images", "{.spec.containers[*].image}"),
                    ("ready", "{.status.conditions[?(@.type==\"Ready\")].status}"),
                    ("app", "{.metadata.labels.app}"),
                    ("serviceAccount", "{.spec.serviceAccountName}"),
                    ("podIP", "{.status.podIP}"),
                    ("memory", "{.spec.containers[0].resources.limits.memory}"),
                ],
            ),
        },
        Case {
            name: "deployment_cel_4",
            bytes: include_bytes!("data/deployment.json"),
            extractor: profile(
                GroupVersionKind::new("apps", "v1", "Deployment"),
                &[
                    ("replicas", "cel:object.spec.replicas"),
                    (
                        "images",
                        "cel:object.spec.template.spec.containers.map(c, c.image)",
                    ),
                    (
                        "available",
                        "cel:object.status.conditions.exists(c, c.type == 'Available' && c.status == 'True')",
                    ),
                    (
                        "owner",
                        "cel:object.metadata.labels['team'] + '/' + object.metadata.namespace",
                    ),
                ],
            ),
        },
    ]
}

/// Heap allocations of one call, averaged over a few runs after a warm-up.
fn allocations(mut work: impl FnMut()) -> f64 {
    const RUNS: u32 = 100;
    work();
    let region = Region::new(GLOBAL);
    for _ in 0..RUNS {
        work();
    }
    let change = region.change();
    let total = u32::try_from(change.allocations + change.reallocations).unwrap_or(u32::MAX);
    f64::from(total) / f64::from(RUNS)
}

fn report_allocations(cases: &[Case]) {
    println!("allocations per object (counting allocator):");
    for case in cases {
        let parsed: Value = serde_json::from_slice(case.bytes).expect("valid JSON");
        let parse = allocations(|| {
            black_box(serde_json::from_slice::<Value>(black_box(case.bytes)).expect("parses"));
        });
        let extract = allocations(|| {
            black_box(
                case.extractor
                    .extract(black_box(&parsed))
                    .expect("extracts"),
            );
        });
        let one_pass = allocations(|| {
            black_box(
                case.extractor
                    .extract_from_slice(black_box(case.bytes))
                    .expect("extracts"),
            );
        });
        println!(
            "  {:<22} {:>5} bytes  parse {parse:>6.1}  extract {extract:>6.1}  two_step {:>6.1}  one_pass {one_pass:>6.1}",
            case.name,
            case.bytes.len(),
            parse + extract,
        );
    }
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    for case in &cases {
        let one_pass = case
            .extractor
            .extract_from_slice(case.bytes)
            .expect("one pass");
        let parsed: Value = serde_json::from_slice(case.bytes).expect("valid JSON");
        assert_eq!(
            case.extractor.extract(&parsed).expect("two-step"),
            one_pass,
            "{}: the paths disagree",
            case.name
        );
        assert!(
            !one_pass.row.attributes.as_json().contains("null"),
            "{}: every attribute is found: {}",
            case.name,
            one_pass.row.attributes.as_json()
        );
    }
    report_allocations(&cases);
    for case in &cases {
        let mut group = c.benchmark_group(case.name);
        let parsed: Value = serde_json::from_slice(case.bytes).expect("valid JSON");
        group.bench_function("parse", |b| {
            b.iter(|| serde_json::from_slice::<Value>(black_box(case.bytes)).expect("parses"));
        });
        group.bench_function("extract", |b| {
            b.iter(|| {
                case.extractor
                    .extract(black_box(&parsed))
                    .expect("extracts")
            });
        });
        group.bench_function("two_step", |b| {
            b.iter(|| {
                let value: Value = serde_json::from_slice(black_box(case.bytes)).expect("parses");
                case.extractor.extract(&value).expect("extracts")
            });
        });
        group.bench_function("one_pass", |b| {
            b.iter(|| {
                case.extractor
                    .extract_from_slice(black_box(case.bytes))
                    .expect("extracts")
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
