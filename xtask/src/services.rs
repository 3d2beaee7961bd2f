//! `cargo xtask services-up|down`: the sink test servers, started by hand on 127.0.0.1 for
//! trying sinks out or debugging a test (the tests start their own). State lives under
//! `target/services/`; `services-down` stops what `services-up` started, by PID.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

/// Fixed ports, away from the pre-started PostgreSQL (5432) and NATS (4222).
const S3_PORT: u16 = 19_000;
const GCS_PORT: u16 = 19_001;
const GIT_HTTP_PORT: u16 = 19_002;
const GIT_SSH_PORT: u16 = 19_003;
/// Basic-auth user of the Git HTTP server.
const GIT_USER: &str = "kollect";
const GIT_PASSWORD: &str = "kollect";

fn state(root: &Path) -> PathBuf {
    root.join("target/services")
}

fn script(root: &Path, name: &str, args: &[&str]) -> Result<String> {
    let path = root.join("scripts/services").join(name);
    let output = Command::new("bash")
        .arg(&path)
        .args(args)
        .output()
        .with_context(|| format!("running {}", path.display()))?;
    if !output.status.success() {
        bail!(
            "{} {} failed:\n{}",
            path.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub(crate) fn up(root: &Path) -> Result<()> {
    let dir = state(root);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    script(
        root,
        "s3.sh",
        &["start", &S3_PORT.to_string(), &path("s3.pid")],
    )?;
    script(
        root,
        "gcs.sh",
        &["start", &GCS_PORT.to_string(), &path("gcs.pid")],
    )?;
    let http = path("git-http");
    script(
        root,
        "git-http.sh",
        &[
            "init",
            &http,
            &GIT_HTTP_PORT.to_string(),
            GIT_USER,
            GIT_PASSWORD,
        ],
    )?;
    script(root, "git-http.sh", &["repo", &http, "inventory"])?;
    script(root, "git-http.sh", &["start", &http])?;
    let ssh = path("git-ssh");
    script(
        root,
        "git-ssh.sh",
        &["init", &ssh, &GIT_SSH_PORT.to_string()],
    )?;
    script(root, "git-ssh.sh", &["repo", &ssh, "inventory"])?;
    script(root, "git-ssh.sh", &["start", &ssh])?;
    crate::print_line(&format!(
        "S3 (moto)              http://127.0.0.1:{S3_PORT}  (any access key)\n\
         GCS (fake-gcs-server)  http://127.0.0.1:{GCS_PORT}\n\
         Git over HTTP          http://{GIT_USER}:{GIT_PASSWORD}@127.0.0.1:{GIT_HTTP_PORT}/git/inventory.git\n\
         Git over SSH           ssh://$USER@127.0.0.1:{GIT_SSH_PORT}{ssh}/repos/inventory.git  (key {ssh}/client_ed25519, known_hosts {ssh}/known_hosts)\n\
         stop them with `cargo xtask services-down`"
    ));
    Ok(())
}

pub(crate) fn down(root: &Path) -> Result<()> {
    let dir = state(root);
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let mut failures = Vec::new();
    for (name, args) in [
        ("s3.sh", vec!["stop".to_owned(), path("s3.pid")]),
        ("gcs.sh", vec!["stop".to_owned(), path("gcs.pid")]),
        ("git-http.sh", vec!["stop".to_owned(), path("git-http")]),
        ("git-ssh.sh", vec!["stop".to_owned(), path("git-ssh")]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(error) = script(root, name, &args) {
            failures.push(format!("{error:#}"));
        }
    }
    if failures.is_empty() {
        crate::print_line("stopped the test servers");
        Ok(())
    } else {
        bail!("some servers did not stop:\n{}", failures.join("\n"))
    }
}
