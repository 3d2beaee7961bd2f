//! Writing command output. Results go to stdout, diagnostics to stderr; a closed pipe
//! (`kollect crds | head`) ends the command quietly instead of panicking.

use std::io::{self, Write as _};

use anyhow::Result;

/// Writes command output to stdout.
pub(crate) fn stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes one line to stderr, ignoring failures (there is nowhere else to report them).
pub(crate) fn error_line(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Whether stdout is a terminal (colour and progress only then).
pub(crate) fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal as _;
    io::stdout().is_terminal()
}
