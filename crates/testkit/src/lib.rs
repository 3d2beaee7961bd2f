//! `kollect-testkit`: a Kubernetes API server that runs inside a test, a benchmark or a demo.
//!
//! No real kube-apiserver can be installed on Kollect's build machines, yet every layer above
//! extraction must be proven against Kubernetes API behaviour. This crate serves the REST API
//! over HTTP(S) from memory, faithfully enough that unmodified clients — kube-rs's `Api` and
//! `watcher`, and `kubectl` — work against it:
//!
//! * discovery (legacy and aggregated), built-in kinds, CRDs served as soon as they are created;
//! * uid, generation, one global resourceVersion, optimistic concurrency, `dryRun`;
//! * JSON merge, JSON and strategic merge patches, server-side apply with field managers;
//! * status subresources, finalizers, namespace deletion;
//! * list pagination over consistent snapshots, label and field selectors, `resourceVersionMatch`;
//! * watches from a resourceVersion, bookmarks, `sendInitialEvents`, `410 Expired` past a
//!   configurable history, metadata-only (`PartialObjectMetadata`) lists and watches;
//! * bearer tokens, RBAC on every request, access and token reviews, validating webhooks;
//! * fault injection and a request log for tests ([`TestApiServer::inject`],
//!   [`TestApiServer::requests`]), load generation for benchmarks ([`load`]).
//!
//! What is not faithful is listed in `docs/testkit.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = kollect_testkit::TestApiServer::start(kollect_testkit::Options::default()).await?;
//! let client = server.client().await?;
//! // ... use `client` with kube::Api, or write `server.kubeconfig()` for kubectl.
//! # Ok(()) }
//! ```

mod admission;
mod auth;
mod body;
mod control;
mod discovery;
pub mod load;
mod objects;
mod patch;
mod proto;
mod rbac;
mod resources;
mod selector;
mod server;
mod status;
mod store;
pub mod tls;
mod watch;

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use serde_json::Value;
use tokio::{net::TcpListener, sync::watch as signal};

pub use crate::control::{Fault, RequestRecord};
use crate::server::{Shared, lock};

/// Errors of starting the server and of its helpers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("failed to listen on {address}")]
    Bind {
        /// Address asked for.
        address: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// TLS material could not be made.
    #[error("failed to set up TLS")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A kube client could not be built for the server.
    #[error("failed to build a kube client for the test server")]
    Client(#[source] kube::Error),
    /// The generated kubeconfig could not be read back.
    #[error("failed to read the generated kubeconfig")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    /// A file could not be read or written.
    #[error("failed to access {path}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A manifest could not be parsed.
    #[error("{path}: {message}")]
    Manifest {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The server refused an object.
    #[error("{context}: {message} ({reason}, HTTP {code})")]
    Api {
        /// What was being done.
        context: String,
        /// `Status.reason`.
        reason: String,
        /// `Status.message`.
        message: String,
        /// HTTP status.
        code: u16,
    },
}

impl Error {
    fn api(context: impl Into<String>, error: &status::ApiError) -> Self {
        Self::Api {
            context: context.into(),
            reason: error.reason.to_owned(),
            message: error.message.clone(),
            code: error.code,
        }
    }
}

/// A user a bearer token authenticates as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUser {
    /// The bearer token.
    pub token: String,
    /// User name.
    pub username: String,
    /// User uid.
    pub uid: String,
    /// Groups (`system:authenticated` is added).
    pub groups: Vec<String>,
}

impl TokenUser {
    /// A user with a name and groups; the token is random.
    #[must_use]
    pub fn new(username: &str, groups: &[&str]) -> Self {
        Self {
            token: uuid::Uuid::new_v4().simple().to_string(),
            username: username.to_owned(),
            uid: uuid::Uuid::new_v4().to_string(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Serve HTTPS with a generated CA (default) or plain HTTP.
    pub tls: bool,
    /// Watch events kept per resource for watches from an older resourceVersion and for
    /// pagination; a request older than that gets `410 Expired`. Default 10 000. Too small a
    /// window makes clients relist often; it cannot make them lose events.
    pub history_limit: usize,
    /// How often watches that asked for bookmarks get one. Default 5 s (a real apiserver sends
    /// one about every minute); tests shorten it to see bookmarks quickly.
    pub bookmark_interval: Duration,
    /// Allow requests without a token as `system:anonymous`. Default off, like a hardened cluster.
    pub anonymous: bool,
    /// The token of the built-in superuser (group `system:masters`). Random by default.
    pub admin_token: String,
    /// More users.
    pub tokens: Vec<TokenUser>,
    /// Install Kollect's CustomResourceDefinitions at start. Default on.
    pub kollect_crds: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(5),
            anonymous: false,
            admin_token: uuid::Uuid::new_v4().simple().to_string(),
            tokens: Vec::new(),
            kollect_crds: true,
        }
    }
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct TestApiServer {
    shared: Arc<Shared>,
    address: SocketAddr,
    ca_pem: Option<String>,
    shutdown: signal::Sender<bool>,
}

impl TestApiServer {
    /// Starts a server on the current tokio runtime: built-in kinds, the bootstrap RBAC
    /// policy, the `default`, `kube-system`, `kube-public` and `kube-node-lease` namespaces and,
    /// unless turned off, Kollect's CRDs.
    pub async fn start(options: Options) -> Result<Self, Error> {
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|source| Error::Bind {
                address: options.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| Error::Bind {
            address: options.listen,
            source,
        })?;
        let (acceptor, ca_pem) = if options.tls {
            let hosts = vec![address.ip().to_string(), "localhost".to_owned()];
            let pki = tls::Pki::generate(&hosts).map_err(|e| Error::Tls(Box::new(e)))?;
            let config = pki.server_config().map_err(|e| Error::Tls(Box::new(e)))?;
            (
                Some(tokio_rustls::TlsAcceptor::from(config)),
                Some(pki.ca_cert_pem),
            )
        } else {
            (None, None)
        };
        let kollect_crds = options.kollect_crds;
        let shared = Arc::new(Shared::new(options));
        *lock(&shared.address) = address.to_string();
        let (shutdown, shutdown_rx) = signal::channel(false);
        let server = Self {
            shared: Arc::clone(&shared),
            address,
            ca_pem,
            shutdown,
        };
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            objects::ensure_namespace(&shared, namespace)
                .await
                .map_err(|e| Error::api(format!("creating namespace {namespace}"), &e))?;
        }
        for object in rbac::bootstrap_policy() {
            server.apply(object).await?;
        }
        if kollect_crds {
            for crd in kollect_api::crd::crds() {
                let value = serde_json::to_value(&crd).map_err(|e| Error::Manifest {
                    path: "kollect-api CRDs".into(),
                    message: e.to_string(),
                })?;
                server.apply(value).await?;
            }
        }
        tokio::spawn(server::serve(shared, listener, acceptor, shutdown_rx));
        Ok(server)
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `https://127.0.0.1:PORT` (or `http://` without TLS).
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.address)
    }

    /// The superuser's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.shared.options.admin_token
    }

    /// The CA certificate (PEM) clients must trust; `None` without TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A kubeconfig (YAML) for the superuser, context `kollect-testkit`.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_for(self.admin_token())
    }

    /// A kubeconfig (YAML) authenticating with `token`.
    pub fn kubeconfig_for(&self, token: &str) -> String {
        use base64::Engine as _;
        let ca = self.ca_pem.as_ref().map_or_else(String::new, |pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        });
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kollect-testkit\n  cluster:\n    server: {url}\n{ca}contexts:\n- name: kollect-testkit\n  context:\n    cluster: kollect-testkit\n    user: kollect-testkit\n    namespace: default\ncurrent-context: kollect-testkit\nusers:\n- name: kollect-testkit\n  user:\n    token: {token}\npreferences: {{}}\n",
            url = self.url(),
        )
    }

    /// Writes [`kubeconfig`](Self::kubeconfig) to a file (mode 0600 on Unix).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(path, self.kubeconfig()).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        Ok(())
    }

    /// A kube client for the superuser.
    pub async fn client(&self) -> Result<kube::Client, Error> {
        self.client_for(self.admin_token()).await
    }

    /// A kube client authenticating with `token`.
    pub async fn client_for(&self, token: &str) -> Result<kube::Client, Error> {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_for(token))
            .map_err(Error::Kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(Error::Kubeconfig)?;
        kube::Client::try_from(config).map_err(Error::Client)
    }

    /// Creates or replaces an object directly (no authorization, no webhooks). The kind must
    /// be served; a namespaced object without a namespace goes to `default`, which like any
    /// other namespace named is created when missing. Returns the stored object.
    pub async fn apply(&self, object: Value) -> Result<Value, Error> {
        let what = describe(&object);
        objects::load_object(&self.shared, object)
            .await
            .map(|stored| stored.value())
            .map_err(|e| Error::api(format!("loading {what}"), &e))
    }

    /// Loads every manifest (`.yaml`, `.yml`, `.json`, multi-document, `kind: List`) under a
    /// directory, recursively, CustomResourceDefinitions first. Returns how many objects were
    /// loaded.
    pub async fn preload(&self, dir: &Path) -> Result<usize, Error> {
        let mut files = Vec::new();
        collect_files(dir, &mut files)?;
        files.sort();
        let mut documents = Vec::new();
        for file in &files {
            let bytes = std::fs::read(file).map_err(|source| Error::Io {
                path: file.display().to_string(),
                source,
            })?;
            for document in kollect_api::manifest::parse(&bytes) {
                let document = document.map_err(|e| Error::Manifest {
                    path: file.display().to_string(),
                    message: e.to_string(),
                })?;
                documents.push((file.display().to_string(), document.value));
            }
        }
        // CRDs first, then namespaces, then everything else, so that kinds and namespaces exist.
        documents.sort_by_key(|(_, v)| match v.get("kind").and_then(Value::as_str) {
            Some("CustomResourceDefinition") => 0,
            Some("Namespace") => 1,
            _ => 2,
        });
        let count = documents.len();
        for (path, object) in documents {
            let what = describe(&object);
            objects::load_object(&self.shared, object)
                .await
                .map_err(|e| Error::api(format!("{path}: loading {what}"), &e))?;
        }
        Ok(count)
    }

    /// Injects a fault (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        self.shared.inject(fault);
    }

    /// Clears every fault and resumes paused watches.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// The requests seen so far (the last 100 000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).records.iter().cloned().collect()
    }

    /// Forgets the requests seen so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).records.clear();
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.state).rv
    }

    /// Stops accepting connections and ends open ones.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn describe(object: &Value) -> String {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("?")
    };
    format!("{}/{}", text("/kind"), text("/metadata/name"))
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}
