//! The version line: `<version> (commit <sha>, built <date>)`, as the Go original prints it.
//! Release builds set `KOLLECT_GIT_COMMIT` and `KOLLECT_BUILD_DATE` (see build.rs).

/// `0.1.0 (commit abc1234, built 2026-11-25T12:00:00Z)`.
pub(crate) const LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KOLLECT_GIT_COMMIT"),
    ", built ",
    env!("KOLLECT_BUILD_DATE"),
    ")"
);
