//! Offline validation speed: how long `kollect validate` spends per document, and how fast
//! hostile input is refused. Numbers go to docs/performance.md.

use std::{hint::black_box, path::Path};

use criterion::{Criterion, criterion_group, criterion_main};
use kollect_api::{
    manifest,
    validation::{self, Settings},
};

/// Parses and checks every document of `bytes`; returns the number of errors.
fn validate_all(bytes: &[u8]) -> usize {
    let settings = Settings::default();
    manifest::parse(bytes)
        .into_iter()
        .map(|document| match document {
            Ok(document) => validation::check(&document.value, &settings)
                .report
                .errors
                .len(),
            Err(_) => 1,
        })
        .sum()
}

fn examples() -> Vec<u8> {
    let mut all = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples")];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .expect("examples")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                all.extend(b"---\n");
                all.extend(std::fs::read(&path).expect("readable"));
            }
        }
    }
    all
}

fn secret_with(bytes: usize) -> Vec<u8> {
    let mut text = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: big, namespace: a}\nstringData:\n  blob: ",
    );
    text.push_str(&"x".repeat(bytes));
    text.push('\n');
    text.into_bytes()
}

fn alias_bomb() -> Vec<u8> {
    let mut text = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: bomb}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..10 {
        let refs = vec![format!("*a{}", level - 1); 9].join(", ");
        text = format!("{text}a{level}: &a{level} [{refs}]\n");
    }
    text.into_bytes()
}

fn benches(c: &mut Criterion) {
    let examples = examples();
    let count = manifest::parse(&examples).len();
    c.bench_function(&format!("validate/examples ({count} documents)"), |b| {
        b.iter(|| assert_eq!(validate_all(black_box(&examples)), 0));
    });
    let largest = secret_with(3 * 1024 * 1024 - 200);
    c.bench_function("validate/largest accepted document (3 MiB)", |b| {
        b.iter(|| assert_eq!(validate_all(black_box(&largest)), 0));
    });
    let mut group = c.benchmark_group("refuse");
    group.sample_size(10);
    let oversized = secret_with(50 * 1024 * 1024);
    group.bench_function("50 MiB document", |b| {
        b.iter(|| assert_eq!(validate_all(black_box(&oversized)), 1));
    });
    let bomb = alias_bomb();
    group.bench_function("alias bomb", |b| {
        b.iter(|| assert_eq!(validate_all(black_box(&bomb)), 1));
    });
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    group.bench_function("100k nested lists", |b| {
        b.iter(|| assert_eq!(validate_all(black_box(&deep)), 1));
    });
    let garbage: Vec<u8> = (0..1_048_576u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[2])
        .collect();
    group.bench_function("1 MiB binary garbage", |b| {
        b.iter(|| assert_eq!(validate_all(black_box(&garbage)), 1));
    });
    group.finish();
}

criterion_group!(validate, benches);
criterion_main!(validate);
