//! Replays the seed corpora of the cargo-fuzz targets (`fuzz/corpus/<target>/`) through the same
//! target bodies the fuzzer runs (`fuzz_support`), so the regular test run catches a regression
//! on any input the fuzzer once found interesting. Fuzzing itself: `scripts/fuzz.sh TARGET`.

mod fuzz_support;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::PathBuf,
};

/// Feeds every file of `fuzz/corpus/<target>` to `body`; fails naming each file that panicked.
fn replay(target: &str, body: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the corpus directory of the target is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).expect("a readable corpus file");
            catch_unwind(AssertUnwindSafe(|| body(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: these inputs panicked: {failed:#?}"
    );
}

#[test]
fn jsonpath_parse_corpus_replays() {
    replay("jsonpath_parse", fuzz_support::jsonpath_parse);
}

#[test]
fn cel_corpus_replays() {
    replay("cel", fuzz_support::cel);
}

#[test]
fn extract_corpus_replays() {
    replay("extract", fuzz_support::extract);
}
