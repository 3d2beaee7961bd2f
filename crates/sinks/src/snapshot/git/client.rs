//! libgit2 plumbing (blocking; callers run it in `spawn_blocking`): the local cache repository
//! per remote, listing the remote's branches, fetching one branch, pushing, and the callbacks
//! that supply credentials and decide trust.
//!
//! ```text
//!  <cache root>/<sha256(url)[..32]>.git   bare repository, never checked out
//!     refs/kollect/tips/<branch>          the remote tip last seen
//!     refs/heads/<branch>                 what is pushed
//! ```
//!
//! Nothing runs a `git` binary, and no HTTP proxy is used (the proxy options stay empty).

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use base64::Engine as _;
use git2::{
    CertificateCheckStatus, Cred, CredentialType, Direction, ErrorClass as GitClass, ErrorCode,
    FetchOptions, Oid, PushOptions, RemoteCallbacks, Repository, RepositoryInitOptions,
};
use sha2::{Digest as _, Sha256};

use super::{
    config::{Auth, Branch, Config, Transport},
    error::{Error, Result},
    trust::{HostKeyCheck, fingerprint},
};

/// The remote's branches, as advertised.
#[derive(Clone, Debug, Default)]
pub(super) struct Heads {
    pub(super) branches: HashMap<String, Oid>,
    /// The branch the remote's `HEAD` points at, when it says.
    pub(super) default: Option<Branch>,
}

/// State the callbacks of one operation share.
#[derive(Default)]
struct CallbackState {
    basic_attempts: Cell<u32>,
    key_attempts: Cell<u32>,
    rejected: RefCell<Option<String>>,
    certificate_problem: RefCell<Option<String>>,
}

/// The cache directory root: created 0700, and refused when it is a symlink, not owned by the
/// process user, or writable by group or others (sinks spec §7.3 step 5).
pub(super) fn prepare_root(root: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let cache = |action, source| Error::Cache {
        action,
        path: root.to_owned(),
        source,
    };
    if !root.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|source| cache("create", source))?;
    }
    let unsafe_cache = |reason: &str| Error::UnsafeCache {
        path: root.to_owned(),
        reason: reason.to_owned(),
    };
    let metadata = fs::symlink_metadata(root).map_err(|source| cache("inspect", source))?;
    if metadata.file_type().is_symlink() {
        return Err(unsafe_cache("it is a symbolic link"));
    }
    if !metadata.is_dir() {
        return Err(unsafe_cache("it is not a directory"));
    }
    if metadata.permissions().mode() & 0o022 != 0 {
        return Err(unsafe_cache(
            "it is writable by group or others (expected mode 0700)",
        ));
    }
    // A file this process creates is owned by its user: compare without calling into libc.
    let probe = root.join(format!(".owner-{}", std::process::id()));
    fs::write(&probe, b"").map_err(|source| cache("write to", source))?;
    let owner = fs::metadata(&probe).map(|m| m.uid());
    let _ = fs::remove_file(&probe);
    if owner.map_err(|source| cache("inspect", source))? != metadata.uid() {
        return Err(unsafe_cache("it is owned by another user"));
    }
    Ok(())
}

/// The cache repository of `url` under `root`.
pub(super) fn cache_path(root: &Path, url: &str) -> PathBuf {
    let digest = Sha256::digest(url.as_bytes());
    let name = digest[..16]
        .iter()
        .fold(String::with_capacity(32), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        });
    root.join(format!("{name}.git"))
}

/// One operation against one remote through its cache repository.
pub(super) struct Session<'c> {
    config: &'c Config,
    pub(super) repo: Repository,
    path: PathBuf,
    deadline: Instant,
    /// The URL with the login user (SSH), as handed to libgit2.
    url: String,
}

impl<'c> Session<'c> {
    /// Opens (or creates) the cache repository at `path`. A cache that does not open is
    /// deleted and created anew: it holds nothing the remote does not.
    pub(super) fn open(config: &'c Config, path: PathBuf, deadline: Instant) -> Result<Self> {
        let repo = match Repository::open_bare(&path) {
            Ok(repo) => repo,
            Err(error) => {
                if path.exists() {
                    tracing::warn!(
                        path = %path.display(),
                        error = &error as &dyn std::error::Error,
                        "The Git cache repository does not open; creating it anew."
                    );
                    fs::remove_dir_all(&path).map_err(|source| Error::Cache {
                        action: "remove",
                        path: path.clone(),
                        source,
                    })?;
                }
                Repository::init_opts(&path, RepositoryInitOptions::new().bare(true).mkpath(true))
                    .map_err(|source| Error::Repository {
                    action: "create the repository",
                    path: path.clone(),
                    source,
                })?
            }
        };
        Ok(Self {
            config,
            repo,
            path,
            deadline,
            url: config.remote.url_for(config.auth.user()),
        })
    }

    fn repository_error(&self, action: &'static str) -> impl FnOnce(git2::Error) -> Error + '_ {
        move |source| Error::Repository {
            action,
            path: self.path.clone(),
            source,
        }
    }

    /// The cache path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Fails once the deadline has passed.
    pub(super) fn check_deadline(&self) -> Result<()> {
        if Instant::now() >= self.deadline {
            return Err(self.deadline_error());
        }
        Ok(())
    }

    fn deadline_error(&self) -> Error {
        Error::Deadline {
            remote: self.config.remote.to_string(),
            seconds: super::sink::EXPORT_DEADLINE.as_secs(),
        }
    }

    /// Lists the remote's branches; when `fetch` names a branch the cache lacks the tip of,
    /// fetches it (at the configured depth) over the same connection.
    pub(super) fn sync(&mut self, branch: Option<&str>) -> Result<Heads> {
        let state = CallbackState::default();
        let remote_name = self.config.remote.to_string();
        let mut remote =
            self.repo
                .remote_anonymous(&self.url)
                .map_err(|source| Error::Connect {
                    remote: remote_name.clone(),
                    source,
                })?;
        let connect_callbacks = callbacks(self.config, self.deadline, &state);
        let mut connection = remote
            .connect_auth(Direction::Fetch, Some(connect_callbacks), None)
            .map_err(|source| {
                self.transport_error(&state, source, |source| Error::Connect {
                    remote: remote_name.clone(),
                    source,
                })
            })?;
        let mut heads = Heads::default();
        for head in connection.list().map_err(|source| Error::Connect {
            remote: remote_name.clone(),
            source,
        })? {
            if let Some(name) = head.name().strip_prefix("refs/heads/") {
                heads.branches.insert(name.to_owned(), head.oid());
            }
        }
        if let Ok(default) = connection.default_branch()
            && let Some(name) = std::str::from_utf8(&default)
                .ok()
                .and_then(|d| d.strip_prefix("refs/heads/"))
        {
            heads.default = Branch::parse(name).ok();
        }
        let branch = branch.unwrap_or_else(|| self.config.branch_or(heads.default.as_ref()));
        let Some(&tip) = heads.branches.get(branch) else {
            return Ok(heads);
        };
        let odb = self
            .repo
            .odb()
            .map_err(self.repository_error("open the object database"))?;
        if !odb.exists(tip) {
            self.check_deadline()?;
            let state = CallbackState::default();
            let mut options = FetchOptions::new();
            options.remote_callbacks(callbacks(self.config, self.deadline, &state));
            // libgit2's local transport cannot fetch shallow; local fetches are cheap anyway.
            if self.config.clone_depth > 0 && self.config.remote.transport != Transport::File {
                options.depth(i32::try_from(self.config.clone_depth).unwrap_or(i32::MAX));
            }
            let header = basic_header(self.config);
            let headers: Vec<&str> = header.iter().map(String::as_str).collect();
            options.custom_headers(&headers);
            let refspec = format!("+refs/heads/{branch}:refs/kollect/tips/{branch}");
            connection
                .remote()
                .download(&[refspec.as_str()], Some(&mut options))
                .map_err(|source| {
                    self.transport_error(&state, source, |source| Error::Fetch {
                        remote: remote_name.clone(),
                        branch: branch.to_owned(),
                        source,
                    })
                })?;
        }
        drop(connection);
        self.repo
            .reference(
                &format!("refs/kollect/tips/{branch}"),
                tip,
                true,
                "kollect: remote tip",
            )
            .map_err(self.repository_error("record the remote tip"))?;
        Ok(heads)
    }

    /// Pushes `commit` to `branch` (forced with `force`). A refused update comes back as
    /// [`Error::Rejected`], a moved branch as [`Error::Push`] with `NotFastForward`.
    pub(super) fn push(&mut self, branch: &str, commit: Oid, force: bool) -> Result<()> {
        self.check_deadline()?;
        let local = format!("refs/heads/{branch}");
        self.repo
            .reference(&local, commit, true, "kollect: export")
            .map_err(self.repository_error("point the branch at the commit"))?;
        let state = CallbackState::default();
        let remote_name = self.config.remote.to_string();
        let mut remote = self
            .repo
            .remote_anonymous(&self.url)
            .map_err(|source| Error::Push {
                remote: remote_name.clone(),
                branch: branch.to_owned(),
                source,
            })?;
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks(self.config, self.deadline, &state));
        let header = basic_header(self.config);
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        options.custom_headers(&headers);
        let refspec = format!("{}{local}:{local}", if force { "+" } else { "" });
        remote
            .push(&[refspec.as_str()], Some(&mut options))
            .map_err(|source| {
                self.transport_error(&state, source, |source| Error::Push {
                    remote: remote_name.clone(),
                    branch: branch.to_owned(),
                    source,
                })
            })?;
        if let Some(status) = state.rejected.borrow_mut().take() {
            return Err(Error::Rejected {
                remote: remote_name,
                branch: branch.to_owned(),
                status,
            });
        }
        self.repo
            .reference(
                &format!("refs/kollect/tips/{branch}"),
                commit,
                true,
                "kollect: pushed",
            )
            .map_err(self.repository_error("record the pushed tip"))?;
        if let Some(path) = self.config.remote.file_path() {
            point_head_if_unborn(&path, &local);
        }
        Ok(())
    }

    /// A transport error, with the certificate problem the callback saw and the deadline taken
    /// into account.
    fn transport_error(
        &self,
        state: &CallbackState,
        source: git2::Error,
        wrap: impl FnOnce(git2::Error) -> Error,
    ) -> Error {
        if source.code() == ErrorCode::User && Instant::now() >= self.deadline {
            return self.deadline_error();
        }
        wrap(with_certificate_problem(state, source))
    }
}

/// A certificate error with the reason the certificate callback found (libgit2's own message
/// only says the certificate was refused).
fn with_certificate_problem(state: &CallbackState, source: git2::Error) -> git2::Error {
    match state.certificate_problem.borrow().as_deref() {
        Some(problem) if source.code() == ErrorCode::Certificate => git2::Error::new(
            source.code(),
            source.class(),
            format!("{} ({problem})", source.message()),
        ),
        _ => source,
    }
}

/// A bare `file://` remote whose `HEAD` names a branch that does not exist is pointed at the
/// branch just pushed, so that clones check it out (sinks spec §7.3 step 11).
fn point_head_if_unborn(path: &Path, branch_ref: &str) {
    let Ok(repo) = Repository::open(path) else {
        return;
    };
    let head_resolves = repo.head().is_ok();
    if !head_resolves && let Err(error) = repo.set_head(branch_ref) {
        tracing::debug!(
            error = &error as &dyn std::error::Error,
            "Could not point the file remote's HEAD at the exported branch."
        );
    }
}

/// Connects to the remote for a push and lists its refs, writing nothing (sinks spec §4.3).
pub(super) fn probe(config: &Config, deadline: Instant) -> Result<()> {
    let state = CallbackState::default();
    let remote_name = config.remote.to_string();
    let url = config.remote.url_for(config.auth.user());
    let connect_error = |source| Error::Connect {
        remote: remote_name.clone(),
        source,
    };
    let mut remote = git2::Remote::create_detached(url.as_str()).map_err(connect_error)?;
    let connect_callbacks = callbacks(config, deadline, &state);
    let connection = remote
        .connect_auth(Direction::Push, Some(connect_callbacks), None)
        .map_err(|source| Error::Connect {
            remote: remote_name.clone(),
            source: with_certificate_problem(&state, source),
        })?;
    connection.list().map_err(|source| Error::Connect {
        remote: remote_name.clone(),
        source,
    })?;
    Ok(())
}

/// `Authorization: Basic …` for `forceBasicAuth` on HTTP(S) remotes.
fn basic_header(config: &Config) -> Option<String> {
    match (&config.auth, config.remote.transport) {
        (Auth::Basic { user, password }, Transport::Https | Transport::Http)
            if config.force_basic_auth =>
        {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            Some(format!("Authorization: Basic {token}"))
        }
        _ => None,
    }
}

fn auth_error(message: impl AsRef<str>) -> git2::Error {
    git2::Error::new(ErrorCode::Auth, GitClass::Callback, message.as_ref())
}

fn certificate_error(message: impl AsRef<str>) -> git2::Error {
    git2::Error::new(ErrorCode::Certificate, GitClass::Callback, message.as_ref())
}

/// Credentials, trust decisions and the deadline, for one operation.
fn callbacks<'a>(
    config: &'a Config,
    deadline: Instant,
    state: &'a CallbackState,
) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |_url, _user, allowed| credentials(config, state, allowed));
    callbacks.certificate_check(move |cert, host| {
        if let Some(hostkey) = cert.as_hostkey() {
            // libgit2 replaces the message of a refused host key with its own: keep ours.
            return check_host_key(config, hostkey).inspect_err(|error| {
                *state.certificate_problem.borrow_mut() = Some(error.message().to_owned());
            });
        }
        if config.tls.insecure {
            return Ok(CertificateCheckStatus::CertificateOk);
        }
        match (&config.tls.ca, cert.as_x509()) {
            (Some(ca), Some(x509)) => match ca.verify(x509.data(), host) {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(problem) => {
                    *state.certificate_problem.borrow_mut() = Some(format!("CA bundle: {problem}"));
                    Ok(CertificateCheckStatus::CertificatePassthrough)
                }
            },
            _ => Ok(CertificateCheckStatus::CertificatePassthrough),
        }
    });
    callbacks.push_update_reference(move |_reference, status| {
        if let Some(status) = status {
            *state.rejected.borrow_mut() = Some(status.to_owned());
        }
        Ok(())
    });
    // Returning false cancels the transfer: the export's deadline bounds slow servers.
    callbacks.transfer_progress(move |_| Instant::now() < deadline);
    callbacks.sideband_progress(move |_| Instant::now() < deadline);
    callbacks
}

fn credentials(
    config: &Config,
    state: &CallbackState,
    allowed: CredentialType,
) -> Result<Cred, git2::Error> {
    match &config.auth {
        Auth::Basic { user, password } if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
            let attempt = state.basic_attempts.get() + 1;
            state.basic_attempts.set(attempt);
            if attempt > 1 {
                return Err(auth_error(format!(
                    "the remote refused the credentials of user {user:?}"
                )));
            }
            Cred::userpass_plaintext(user, password)
        }
        Auth::Ssh { user, .. } if allowed.contains(CredentialType::USERNAME) => {
            Cred::username(user)
        }
        Auth::Ssh {
            user, private_key, ..
        } if allowed.contains(CredentialType::SSH_KEY)
            || allowed.contains(CredentialType::SSH_MEMORY) =>
        {
            let attempt = state.key_attempts.get() + 1;
            state.key_attempts.set(attempt);
            if attempt > 1 {
                return Err(auth_error(format!(
                    "the SSH server refused the key of user {user:?}"
                )));
            }
            Cred::ssh_key_from_memory(user, None, private_key, None)
        }
        Auth::Anonymous => Err(auth_error(
            "the remote asks for credentials and none are configured: set username/password or \
             token in the Secret",
        )),
        _ => Err(auth_error(format!(
            "the remote asks for credentials of types {allowed:?}, which the configured \
             spec.git.auth.type cannot provide"
        ))),
    }
}

fn check_host_key(
    config: &Config,
    hostkey: &git2::cert::CertHostkey<'_>,
) -> Result<CertificateCheckStatus, git2::Error> {
    if config.tls.insecure {
        return Ok(CertificateCheckStatus::CertificateOk);
    }
    let Auth::Ssh {
        known_hosts: Some(known_hosts),
        ..
    } = &config.auth
    else {
        return Err(certificate_error(
            "ssh git export requires known_hosts in secret or tls.insecureSkipVerify for dev",
        ));
    };
    let Some(key) = hostkey.hostkey() else {
        return Err(certificate_error(
            "the SSH server's host key is not available for checking",
        ));
    };
    let name = config.remote.known_hosts_name();
    match known_hosts.check(&name, key) {
        HostKeyCheck::Trusted => Ok(CertificateCheckStatus::CertificateOk),
        HostKeyCheck::Revoked => Err(certificate_error(format!(
            "the host key of {name} ({}) is marked @revoked in known_hosts",
            fingerprint(key)
        ))),
        HostKeyCheck::Unknown => {
            let listed = known_hosts.types_for(&name);
            Err(certificate_error(format!(
                "the host key of {name} ({}) is not in known_hosts ({})",
                fingerprint(key),
                if listed.is_empty() {
                    "no entry for this host".to_owned()
                } else {
                    format!("it lists other keys: {}", listed.join(", "))
                }
            )))
        }
    }
}

/// Reads the blob at `path` of `tree`, if there is one.
pub(super) fn read_blob(repo: &Repository, tree: &git2::Tree<'_>, path: &str) -> Option<Vec<u8>> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    Some(blob.content().to_vec())
}
