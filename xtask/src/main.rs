//! `cargo xtask <task>`: project automation that needs no extra tools.
//!
//! * `crdgen` writes `deploy/crds/*.yaml` and `docs/reference/crds.md` from the Rust types.
//! * `arch` checks the crate dependency graph against the layering of STYLE.md §1.
//! * `services-up` / `services-down` start and stop the sink test servers by hand.
//! * `quickstart` writes the offline cluster dump of `examples/quickstart/cluster/`.

mod arch;
mod crdgen;
mod quickstart;
mod services;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  crdgen   regenerate deploy/crds/*.yaml and docs/reference/crds.md
  arch     check the workspace dependency graph against the allowed layering
  services-up    start the sink test servers (S3, GCS, Git over HTTP and SSH) on 127.0.0.1
  services-down  stop them
  quickstart  regenerate the offline cluster of examples/quickstart/cluster/ (--check: fail if stale)";

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = workspace_root()?;
    match task.as_str() {
        "crdgen" => crdgen::run(&root),
        "arch" => arch::run(&root),
        "services-up" => services::up(&root),
        "services-down" => services::down(&root),
        "quickstart" => {
            quickstart::run(&root, std::env::args().nth(2).as_deref() == Some("--check"))
        }
        "" | "help" | "--help" | "-h" => {
            print_line(USAGE);
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives inside the workspace")
}

/// xtask's output is for humans at a terminal.
#[allow(clippy::print_stdout)]
fn print_line(line: &str) {
    println!("{line}");
}
