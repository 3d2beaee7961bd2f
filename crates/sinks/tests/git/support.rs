//! Test support for the Git sink: servers on 127.0.0.1 (lighttpd + `git http-backend`, OpenSSH
//! sshd) started per test on free ports and stopped on drop (by PID), bare repositories, the
//! real `git` CLI as an independent reader, and a conformance [`Harness`].
// Failures are reported by panicking with context, as assertions do.
#![allow(clippy::panic)]

use std::{
    collections::{BTreeMap, HashMap},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use kollect_api::{
    names::{NamespaceName, ObjectName},
    v1alpha1::{
        GitSpec, LayoutMode, LayoutSpec, SerializationFormat, SerializationSpec, SinkCommonSpec,
        SnapshotSinkSpec, SnapshotSinkType,
    },
};
use kollect_export::{
    BoxError, InventoryKey, ResolvedSinkSpec, Secrets, Sink, SinkExt as _, SinkSpec, TargetRow,
    conformance::Harness, decode,
};
use kollect_sinks::snapshot::git::GitSinkFactory;
use serde_json::Value;
use tempfile::TempDir;

/// The branch every test writes.
pub(crate) const BRANCH: &str = "main";
/// Basic-auth user of the HTTP server.
pub(crate) const USER: &str = "kollect";
/// Its password.
pub(crate) const PASSWORD: &str = "s3cret-pass";

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services")
}

/// Runs a service script, failing the test with its output when it fails.
fn script(name: &str, args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(scripts().join(name))
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("run {name}: {error}"));
    assert!(
        output.status.success(),
        "{name} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Installs a service's packages once per test process (the scripts are idempotent and quiet).
fn install_once(name: &'static str) {
    static INSTALLED: OnceLock<Mutex<Vec<&'static str>>> = OnceLock::new();
    let mut installed = INSTALLED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !installed.contains(&name) {
        script(name, &["install"]);
        installed.push(name);
    }
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on {port}: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on 127.0.0.1:{port}");
}

/// Runs the real `git` CLI (tests only; the sink never does), isolated from user config.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "foreign")
        .env("GIT_AUTHOR_EMAIL", "foreign@example.org")
        .env("GIT_COMMITTER_NAME", "foreign")
        .env("GIT_COMMITTER_EMAIL", "foreign@example.org")
        .stdin(Stdio::null())
        .output()
        .expect("run git")
}

/// Runs `git` and returns its stdout, failing the test when it fails.
pub(crate) fn git_ok(dir: &Path, args: &[&str]) -> String {
    let output = git(dir, args);
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `git init --bare` at `path`.
pub(crate) fn bare_repo(path: &Path) {
    std::fs::create_dir_all(path).expect("create the repository directory");
    git_ok(path, &["init", "--quiet", "--bare"]);
}

/// Number of commits on `branch` of the bare repository (0 when the branch does not exist).
pub(crate) fn commit_count(repo: &Path, branch: &str) -> u64 {
    let output = git(repo, &["rev-list", "--count", branch, "--"]);
    if !output.status.success() {
        return 0;
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Every file of `branch`, path → bytes, read by the git CLI.
pub(crate) fn files(repo: &Path, branch: &str) -> BTreeMap<String, Vec<u8>> {
    let output = git(repo, &["ls-tree", "-r", "-z", "--name-only", branch]);
    if !output.status.success() {
        return BTreeMap::new();
    }
    output
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|path| {
            let path = String::from_utf8_lossy(path).into_owned();
            let blob = git(repo, &["cat-file", "blob", &format!("{branch}:{path}")]);
            assert!(blob.status.success(), "read {path}");
            (path, blob.stdout)
        })
        .collect()
}

/// `git fsck --strict` is clean.
pub(crate) fn assert_fsck_clean(repo: &Path) {
    let output = git(repo, &["fsck", "--strict", "--no-progress"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("notice:"))
        .collect();
    assert!(
        output.status.success() && problems.is_empty(),
        "git fsck --strict on {}: {}{}",
        repo.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `git log` of `branch`: one `(subject, full message, parents)` per commit, newest first.
pub(crate) fn log(repo: &Path, branch: &str) -> Vec<(String, String, usize)> {
    let text = git_ok(repo, &["log", "--format=%s%x1f%B%x1f%P%x1e", branch]);
    text.split('\u{1e}')
        .map(|record| record.trim_start_matches('\n'))
        .filter(|record| !record.is_empty())
        .map(|record| {
            let mut fields = record.split('\u{1f}');
            let subject = fields.next().unwrap_or_default().to_owned();
            let message = fields.next().unwrap_or_default().to_owned();
            let parents = fields.next().unwrap_or_default().split_whitespace().count();
            (subject, message, parents)
        })
        .collect()
}

/// Commits a foreign file to `branch` of the bare repository with the git CLI, through a
/// temporary clone (as another writer would).
pub(crate) fn foreign_commit(repo: &Path, branch: &str, path: &str, content: &str) {
    let work = TempDir::new().expect("temp dir");
    let url = format!("file://{}", repo.display());
    let clone = git(
        work.path(),
        &["clone", "--quiet", "--branch", branch, &url, "wc"],
    );
    let wc = work.path().join("wc");
    if !clone.status.success() {
        std::fs::create_dir_all(&wc).expect("work tree");
        git_ok(&wc, &["init", "--quiet", "--initial-branch", branch]);
        git_ok(&wc, &["remote", "add", "origin", &url]);
    }
    let file = wc.join(path);
    std::fs::create_dir_all(file.parent().expect("a parent")).expect("create dirs");
    std::fs::write(&file, content).expect("write the foreign file");
    git_ok(&wc, &["add", path]);
    git_ok(
        &wc,
        &["commit", "--quiet", "-m", &format!("foreign: {path}")],
    );
    git_ok(
        &wc,
        &[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ],
    );
}

/// A lighttpd + `git http-backend` server with basic auth, on 127.0.0.1 and a free port.
pub(crate) struct HttpServer {
    pub(crate) dir: TempDir,
    pub(crate) port: u16,
    scheme: &'static str,
    child: Option<Child>,
}

impl HttpServer {
    /// Starts a plain-HTTP server; `backend` replaces git-http-backend (a CGI wrapper).
    pub(crate) fn start(backend: Option<&Path>) -> Self {
        Self::launch(backend, None)
    }

    /// Starts an HTTPS server with the PEM certificate and key.
    pub(crate) fn start_tls(cert: &Path, key: &Path) -> Self {
        Self::launch(None, Some((cert, key)))
    }

    fn launch(backend: Option<&Path>, tls: Option<(&Path, &Path)>) -> Self {
        install_once("git-http.sh");
        let dir = TempDir::new().expect("temp dir");
        let port = free_port();
        let mut args: Vec<String> = vec![
            "init".into(),
            dir.path().to_string_lossy().into_owned(),
            port.to_string(),
            USER.into(),
            PASSWORD.into(),
        ];
        if let Some(backend) = backend {
            args.extend(["--backend".into(), backend.to_string_lossy().into_owned()]);
        }
        if let Some((cert, key)) = tls {
            args.extend([
                "--tls".into(),
                cert.to_string_lossy().into_owned(),
                key.to_string_lossy().into_owned(),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        script("git-http.sh", &args);
        let mut server = Self {
            dir,
            port,
            scheme: if tls.is_some() { "https" } else { "http" },
            child: None,
        };
        server.run();
        server
    }

    fn run(&mut self) {
        let mut child = Command::new("bash")
            .arg(scripts().join("git-http.sh"))
            .arg("run")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lighttpd");
        wait_for_port(self.port, &mut child, "lighttpd");
        self.child = Some(child);
    }

    /// Stops the server (by PID) and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Creates the bare repository `name` and returns its path.
    pub(crate) fn repo(&self, name: &str) -> PathBuf {
        script(
            "git-http.sh",
            &["repo", &self.dir.path().to_string_lossy(), name],
        );
        self.repo_path(name)
    }

    /// The path of repository `name`.
    pub(crate) fn repo_path(&self, name: &str) -> PathBuf {
        self.dir.path().join("repos").join(format!("{name}.git"))
    }

    /// The URL of repository `name`.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("{}://127.0.0.1:{}/git/{name}.git", self.scheme, self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An OpenSSH server on 127.0.0.1 with its own host key and one authorized client key.
pub(crate) struct SshServer {
    pub(crate) dir: TempDir,
    pub(crate) port: u16,
    child: Child,
}

impl SshServer {
    /// Starts a server.
    pub(crate) fn start() -> Self {
        install_once("git-ssh.sh");
        let dir = TempDir::new().expect("temp dir");
        let port = free_port();
        script(
            "git-ssh.sh",
            &["init", &dir.path().to_string_lossy(), &port.to_string()],
        );
        let mut child = Command::new("bash")
            .arg(scripts().join("git-ssh.sh"))
            .arg("run")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        wait_for_port(port, &mut child, "sshd");
        Self { dir, port, child }
    }

    /// Creates the bare repository `name` and returns its path.
    pub(crate) fn repo(&self, name: &str) -> PathBuf {
        script(
            "git-ssh.sh",
            &["repo", &self.dir.path().to_string_lossy(), name],
        );
        self.dir.path().join("repos").join(format!("{name}.git"))
    }

    /// The `ssh://` URL of repository `name` (no user: it comes from the Secret).
    pub(crate) fn url(&self, name: &str) -> String {
        format!(
            "ssh://127.0.0.1:{}{}/repos/{name}.git",
            self.port,
            self.dir.path().display()
        )
    }

    /// The login user: the user running the tests.
    pub(crate) fn user() -> String {
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout)
                    .trim()
                    .to_owned()
            })
    }

    /// Secrets with the client key, the user and `known_hosts`.
    pub(crate) fn secrets(&self, with_known_hosts: bool) -> Secrets {
        let read = |name: &str| std::fs::read(self.dir.path().join(name)).expect("read a key file");
        let mut data = BTreeMap::new();
        data.insert("ssh-privatekey".to_owned(), read("client_ed25519"));
        data.insert("username".to_owned(), Self::user().into_bytes());
        if with_known_hosts {
            data.insert("known_hosts".to_owned(), read("known_hosts"));
        }
        Secrets::new(data)
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The spec of a Git sink writing `format` to `endpoint` on [`BRANCH`].
pub(crate) fn spec(endpoint: &str, format: SerializationFormat) -> SnapshotSinkSpec {
    SnapshotSinkSpec {
        sink_type: SnapshotSinkType::Git,
        common: SinkCommonSpec {
            endpoint: Some(endpoint.to_owned()),
            serialization: Some(SerializationSpec {
                format: Some(format),
                compression: None,
            }),
            ..SinkCommonSpec::default()
        },
        git: Some(GitSpec {
            branch: Some(BRANCH.to_owned()),
            ..GitSpec::default()
        }),
        gitlab: None,
        object_store: None,
        http: None,
    }
}

/// The resolved spec of sink `team-a/<name>`.
pub(crate) fn resolved(spec: SnapshotSinkSpec, secrets: Secrets) -> ResolvedSinkSpec {
    let namespace: NamespaceName = "conformance".parse().expect("namespace");
    let name: ObjectName = "git".parse().expect("name");
    ResolvedSinkSpec::new(namespace, name, SinkSpec::Snapshot(spec)).with_secrets(secrets)
}

/// Basic-auth secrets of [`USER`] with `password`.
pub(crate) fn basic_secrets(password: &str) -> Secrets {
    let mut data = BTreeMap::new();
    data.insert("username".to_owned(), USER.as_bytes().to_vec());
    data.insert("password".to_owned(), password.as_bytes().to_vec());
    Secrets::new(data)
}

/// Decodes the rows a set of files of one inventory holds: document files (YAML, JSON
/// envelopes, NDJSON) or, in split mode, the index's item files.
pub(crate) fn read_rows(
    files: &BTreeMap<String, Vec<u8>>,
    inventory: &InventoryKey,
    mode: LayoutMode,
    extension: &str,
) -> Result<Vec<TargetRow>, BoxError> {
    let prefix = format!(
        "inventory/{}/{}",
        inventory.path_namespace(),
        inventory.name()
    );
    let mut rows = Vec::new();
    for (path, bytes) in files {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        let Some(middle) = rest.strip_suffix(extension) else {
            continue;
        };
        let is_part = middle.starts_with(".part-") && middle.len() == ".part-0001-of-0002".len();
        if !(middle.is_empty() || is_part) {
            continue;
        }
        match mode {
            LayoutMode::Split => {
                let index = parse_document(bytes, extension)?;
                for item_path in index["paths"].as_array().ok_or("the index has no paths")? {
                    let item_path = item_path.as_str().ok_or("a path is not text")?;
                    let item = files
                        .get(item_path)
                        .ok_or_else(|| format!("{item_path} is missing"))?;
                    let value = parse_document(item, extension)?;
                    rows.extend(
                        decode(serde_json::to_string(&Value::Array(vec![value]))?.as_bytes())?
                            .items,
                    );
                }
            }
            LayoutMode::Document | LayoutMode::PerResource => {
                let json = match extension {
                    ".json" => String::from_utf8(bytes.clone())?,
                    ".ndjson" => format!(
                        "[{}]",
                        String::from_utf8(bytes.clone())?
                            .lines()
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    _ => serde_json::to_string(&parse_document(bytes, extension)?)?,
                };
                rows.extend(decode(json.as_bytes())?.items);
            }
        }
    }
    Ok(rows)
}

/// One YAML or JSON document as a JSON value.
pub(crate) fn parse_document(bytes: &[u8], extension: &str) -> Result<Value, BoxError> {
    if extension == ".yaml" {
        // Kollect's reader takes manifests (mappings): wrap the document as one member.
        let text = std::str::from_utf8(bytes)?;
        let wrapped: String = std::iter::once("kind: Wrapped\nvalue:\n".to_owned())
            .chain(text.lines().map(|line| format!("  {line}\n")))
            .collect();
        let mut documents = kollect_api::manifest::parse(wrapped.as_bytes());
        let document = documents.pop().ok_or("no YAML document")?;
        let mut value = document.map_err(|e| e.to_string())?.value;
        return Ok(value["value"].take());
    }
    Ok(serde_json::from_slice(bytes)?)
}

/// Where a harness's repositories live.
pub(crate) enum Backend {
    /// Bare repositories on disk, `file://` URLs.
    File(TempDir),
    /// The smart-HTTP server.
    Http(HttpServer),
    /// The SSH server.
    Ssh(SshServer),
}

/// The conformance harness: one bare repository per prefix, read back with the git CLI.
pub(crate) struct GitHarness {
    backend: Backend,
    format: SerializationFormat,
    mode: LayoutMode,
    cache: TempDir,
    repos: Mutex<HashMap<String, PathBuf>>,
}

impl GitHarness {
    /// `file://` remotes.
    pub(crate) fn file(format: SerializationFormat, mode: LayoutMode) -> Self {
        Self::new(
            Backend::File(TempDir::new().expect("temp dir")),
            format,
            mode,
        )
    }

    /// The smart-HTTP server, with basic auth.
    pub(crate) fn http(format: SerializationFormat) -> Self {
        Self::new(
            Backend::Http(HttpServer::start(None)),
            format,
            LayoutMode::Document,
        )
    }

    /// The SSH server, with a key and `known_hosts`.
    pub(crate) fn ssh(format: SerializationFormat) -> Self {
        Self::new(
            Backend::Ssh(SshServer::start()),
            format,
            LayoutMode::Document,
        )
    }

    fn new(backend: Backend, format: SerializationFormat, mode: LayoutMode) -> Self {
        Self {
            backend,
            format,
            mode,
            cache: TempDir::new().expect("temp dir"),
            repos: Mutex::default(),
        }
    }

    fn repo(&self, prefix: &str) -> Result<PathBuf, BoxError> {
        let repos = self.repos.lock().map_err(|_| "poisoned")?;
        Ok(repos
            .get(prefix)
            .ok_or("no repository for the prefix")?
            .clone())
    }

    fn extension(&self) -> &'static str {
        match self.format {
            SerializationFormat::Json => ".json",
            SerializationFormat::Ndjson => ".ndjson",
            _ => ".yaml",
        }
    }
}

impl Drop for GitHarness {
    fn drop(&mut self) {
        // Every repository a conformance case wrote passes `git fsck --strict`.
        if std::thread::panicking() {
            return;
        }
        for repo in self
            .repos
            .lock()
            .map(|r| r.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if commit_count(&repo, BRANCH) > 0 {
                assert_fsck_clean(&repo);
            }
        }
    }
}

#[async_trait::async_trait]
impl Harness for GitHarness {
    async fn sink(&self, prefix: &str) -> Result<Arc<dyn Sink>, BoxError> {
        let (repo, endpoint, secrets) = match &self.backend {
            Backend::File(dir) => {
                let repo = dir.path().join(format!("{prefix}.git"));
                bare_repo(&repo);
                let url = format!("file://{}", repo.display());
                (repo, url, Secrets::default())
            }
            Backend::Http(server) => (
                server.repo(prefix),
                server.url(prefix),
                basic_secrets(PASSWORD),
            ),
            Backend::Ssh(server) => (
                server.repo(prefix),
                server.url(prefix),
                server.secrets(true),
            ),
        };
        let mut spec = spec(&endpoint, self.format);
        if self.mode != LayoutMode::Document {
            spec.common.layout = Some(LayoutSpec {
                mode: self.mode,
                path_template: Some(
                    "{cluster}/{namespace}/{name}/{sourceNamespace}/{kind}/{sourceName}{extension}"
                        .to_owned(),
                ),
                ..LayoutSpec::default()
            });
        }
        self.repos
            .lock()
            .map_err(|_| "poisoned")?
            .insert(prefix.to_owned(), repo);
        let factory = GitSinkFactory::new(self.cache.path().join("cache"));
        Ok(factory.build_git(&resolved(spec, secrets))?.into_dyn())
    }

    async fn read_back(
        &self,
        prefix: &str,
        inventory: &InventoryKey,
    ) -> Result<Vec<TargetRow>, BoxError> {
        let repo = self.repo(prefix)?;
        read_rows(
            &files(&repo, BRANCH),
            inventory,
            self.mode,
            self.extension(),
        )
    }

    async fn writes(&self, prefix: &str) -> Result<u64, BoxError> {
        Ok(commit_count(&self.repo(prefix)?, BRANCH))
    }
}
