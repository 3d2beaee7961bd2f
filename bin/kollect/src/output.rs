//! Writing command output. Results go to stdout, diagnostics to stderr; a closed pipe
//! (`kollect crds | head`) ends the command quietly instead of panicking.
//!
//! Every problem line on stderr starts with `error` or `warning`; `--quiet` keeps those and
//! drops the rest (summaries, progress notes) and the progress bars. Progress bars are drawn
//! only when stderr is a terminal; lines written meanwhile are printed above them.

use std::{
    io::{self, IsTerminal as _, Write as _},
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
};

use anyhow::Result;
use indicatif::{MultiProgress, ProgressDrawTarget};

/// `--quiet`: only problems on stderr, no progress bars.
static QUIET: AtomicBool = AtomicBool::new(false);
/// The progress bars' shared area on stderr, once one was asked for; `None` when bars are off.
static BARS: OnceLock<Option<MultiProgress>> = OnceLock::new();

/// Writes command output to stdout.
pub(crate) fn stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Sets `--quiet`; call before anything is written.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Writes one line to stderr, ignoring failures (there is nowhere else to report them). Under
/// `--quiet` only problems (`error…`, `warning…`) are written.
pub(crate) fn error_line(line: &str) {
    if QUIET.load(Ordering::Relaxed) && !is_problem(line) {
        return;
    }
    write_line(line);
}

/// Writes one line to stderr whatever `--quiet` says (the questions and answers of `init`).
pub(crate) fn terminal_line(line: &str) {
    write_line(line);
}

fn write_line(line: &str) {
    let write = || {
        let _ = writeln!(io::stderr().lock(), "{line}");
    };
    match BARS.get().and_then(Option::as_ref) {
        Some(bars) => bars.suspend(write),
        None => write(),
    }
}

fn is_problem(line: &str) -> bool {
    line.starts_with("error") || line.starts_with("warning")
}

/// Where progress bars go: the shared area on stderr, or a hidden one when stderr is not a
/// terminal or `--quiet` is set (then nothing is drawn and output is unchanged).
pub(crate) fn progress() -> MultiProgress {
    BARS.get_or_init(|| {
        (io::stderr().is_terminal() && !QUIET.load(Ordering::Relaxed))
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
    })
    .clone()
    .unwrap_or_else(|| MultiProgress::with_draw_target(ProgressDrawTarget::hidden()))
}

/// Whether stdout is a terminal (colour and progress only then).
pub(crate) fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_the_lines_quiet_keeps() {
        for line in [
            "error: context prod: cannot read namespaces",
            "warning: examples/config/sinks.yaml:17: parquet files are binary",
        ] {
            assert!(is_problem(line), "{line}");
        }
        for line in [
            "context prod: 7 of 7 target(s) exported, 134 row(s)",
            "created the bare Git repository out/inventory.git",
            "dry run: context prod: would write inventory/shop/web.yaml",
        ] {
            assert!(!is_problem(line), "{line}");
        }
    }
}
