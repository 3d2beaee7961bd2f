//! What the binary's integration tests share: running `kollect`, and the quickstart's folders.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses its own part

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The binary, with no logging filter, kubeconfig or colour from the environment.
pub(crate) fn kollect() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kollect"));
    command
        .env_remove("RUST_LOG")
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1");
    command
}

/// A finished run.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn run(command: &mut Command) -> Run {
    let output = command.output().expect("the binary runs");
    Run {
        code: output
            .status
            .code()
            .expect("exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `examples/quickstart/<part>` of the repository.
pub(crate) fn quickstart(part: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/quickstart")
        .join(part)
}

/// Copies the quickstart's config folder to `root/examples/quickstart/config` (its sinks write to
/// `root/quickstart-out`), without the sinks when `sinks` is false.
pub(crate) fn quickstart_config(root: &Path, sinks: bool) -> PathBuf {
    let target = root.join("examples/quickstart/config");
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(quickstart("config")).unwrap() {
        let entry = entry.unwrap();
        if sinks || entry.file_name() != "sinks.yaml" {
            std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
        }
    }
    target
}

/// A copy of the quickstart's cluster dump at `root/cluster`, each file's text passed through
/// `edit(file name, text)`.
pub(crate) fn edited_cluster(
    root: &Path,
    mut edit: impl FnMut(&std::ffi::OsStr, String) -> String,
) -> PathBuf {
    let edited = root.join("cluster");
    std::fs::create_dir_all(&edited).unwrap();
    for entry in std::fs::read_dir(quickstart("cluster")).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = edit(&entry.file_name(), text);
        std::fs::write(edited.join(entry.file_name()), text).unwrap();
    }
    edited
}
