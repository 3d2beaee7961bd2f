//! [`Config`]: a Git sink's settings as validated values, parsed once from a
//! [`ResolvedSinkSpec`] (STYLE §4 "parse, don't re-check"). Every error names the field it is
//! about (`spec.git.branch: …`).

use std::{fmt, sync::Arc};

use kollect_api::v1alpha1::{
    Compression, FilenameSpec, GitAuthType, GitEngine, GroupInPath, LayoutContent, LayoutMode,
    PushPolicy, SerializationFormat, SnapshotSinkSpec, SnapshotSinkType,
};
use kollect_export::{ResolvedSinkSpec, SinkId, SinkSpec};
use sha2::{Digest as _, Sha256};

pub(super) use super::remote::{Branch, Remote, Transport};
use super::{
    error::{Error, Result},
    layout::{Grammar, Template},
    trust::{CaBundle, KnownHosts},
};

/// Default commit subject (sinks spec §7.1).
pub(super) const DEFAULT_SUBJECT: &str =
    "chore({cluster}/{namespace}/{name}): export {itemCount} items @ {checksumShort}";
/// Default document path (DECISIONS API 19, 20).
const DEFAULT_DOCUMENT_TEMPLATE: &str = "inventory/{namespace}/{name}{extension}";
/// Default per-item path of tree layouts (sinks spec §6.1).
const DEFAULT_ITEM_TEMPLATE: &str = "{cluster}/{sourceNamespace}/{kind}/{sourceName}{extension}";
/// Default branch when neither the spec, the endpoint fragment nor the remote names one.
pub(super) const DEFAULT_BRANCH: &str = "main";
/// Default per-segment cap of rendered item paths (sinks spec §6.1): a DNS label.
const DEFAULT_MAX_SEGMENT_LENGTH: usize = 63;
/// Default author (sinks spec §7.1).
const DEFAULT_AUTHOR_NAME: &str = "kollect";
const DEFAULT_AUTHOR_EMAIL: &str = "kollect@kollect.dev";
/// Secret keys holding an SSH private key, first non-empty wins (sinks spec §2.5).
const SSH_KEY_KEYS: [&str; 3] = ["ssh-privatekey", "identity", "id_rsa"];

/// A Git sink's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The sink object (its name is `{sink}` in commit templates).
    pub(super) sink: SinkId,
    /// Where commits go.
    pub(super) remote: Remote,
    /// The branch, when the spec or the endpoint's `#branch=` fragment names one; otherwise the
    /// remote's default branch, else `main`.
    pub(super) branch: Option<Branch>,
    /// `Commit` appends; `ForcePush` replaces the branch with one snapshot commit.
    pub(super) push_policy: PushPolicy,
    /// Credentials.
    pub(super) auth: Auth,
    /// TLS trust for `https` remotes.
    pub(super) tls: Tls,
    /// Commit message templates.
    pub(super) message: MessageTemplate,
    /// Author and committer.
    pub(super) author: Identity,
    /// Fetch depth (0: full history).
    pub(super) clone_depth: u32,
    /// Whether document-mode files left behind by an earlier configuration are deleted too.
    pub(super) prune: bool,
    /// Send the basic-auth header with every request instead of waiting for a 401.
    pub(super) force_basic_auth: bool,
    /// How the snapshot becomes files.
    pub(super) layout: Arc<LayoutConfig>,
}

impl Config {
    /// The configuration of the Git sink `spec` resolves to.
    pub fn from_resolved(resolved: &ResolvedSinkSpec) -> Result<Self, kollect_export::SinkError> {
        Self::parse(resolved).map_err(Into::into)
    }

    fn parse(resolved: &ResolvedSinkSpec) -> Result<Self> {
        let SinkSpec::Snapshot(spec) = resolved.spec() else {
            return Err(Error::Config(format!(
                "spec.type: the git backend builds snapshot sinks, not {} sinks",
                resolved.id().family()
            )));
        };
        if spec.sink_type != SnapshotSinkType::Git {
            return Err(Error::Config(format!(
                "spec.type: the git backend cannot build a {} sink",
                spec.sink_type
            )));
        }
        let git = spec.git.clone().unwrap_or_default();
        if git.engine == Some(GitEngine::Cli) {
            return Err(Error::Config(
                "spec.git.engine: cli is not supported; Git runs in-process (go-git)".to_owned(),
            ));
        }
        let endpoint = spec
            .common
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                Error::Config("spec.endpoint: required: the Git remote URL".to_owned())
            })?;
        let (remote, fragment_branch) = Remote::parse(endpoint)?;
        let branch = match git.branch.as_deref().map(str::trim) {
            Some(branch) => Some(Branch::parse(branch).map_err(|problem| {
                Error::Config(format!("spec.git.branch: {branch:?} {problem}"))
            })?),
            None => fragment_branch,
        };
        let tls = Tls::parse(spec, resolved.ca_bundle(), &remote)?;
        let auth = Auth::parse(&git, resolved, &remote, &tls)?;
        let clone_depth = match git.clone_depth {
            None => 1,
            Some(depth) => u32::try_from(depth)
                .ok()
                .filter(|d| *d >= 1)
                .ok_or_else(|| {
                    Error::Config(format!("spec.git.cloneDepth: {depth} must be at least 1"))
                })?,
        };
        Ok(Self {
            sink: resolved.id().clone(),
            remote,
            branch,
            push_policy: git.push_policy.unwrap_or_default(),
            auth,
            tls,
            message: MessageTemplate::parse(&git)?,
            author: Identity::parse(git.author.as_ref())?,
            clone_depth,
            prune: git.prune.unwrap_or(false),
            force_basic_auth: git.force_basic_auth.unwrap_or(false),
            layout: Arc::new(LayoutConfig::parse(spec)?),
        })
    }

    /// The branch name commits go to when `advertised` is the remote's default branch (if any).
    pub(super) fn branch_or<'a>(&'a self, advertised: Option<&'a Branch>) -> &'a str {
        self.branch
            .as_ref()
            .or(advertised)
            .map_or(DEFAULT_BRANCH, Branch::as_str)
    }
}

/// Credentials for the remote (sinks spec §7.2).
#[derive(Clone)]
pub(super) enum Auth {
    /// Send nothing (no credentials configured, or a `file://`/`git://` remote).
    Anonymous,
    /// HTTP basic auth (a token goes in the password).
    Basic { user: String, password: String },
    /// An SSH key; the host key is checked against `known_hosts` unless TLS is insecure.
    Ssh {
        user: String,
        private_key: String,
        known_hosts: Option<KnownHosts>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: *** }}"),
            Self::Ssh {
                user, known_hosts, ..
            } => write!(
                f,
                "Ssh {{ user: {user:?}, private_key: ***, known_hosts: {} entries }}",
                known_hosts.as_ref().map_or(0, KnownHosts::len)
            ),
        }
    }
}

impl Auth {
    fn parse(
        git: &kollect_api::v1alpha1::GitSpec,
        resolved: &ResolvedSinkSpec,
        remote: &Remote,
        tls: &Tls,
    ) -> Result<Self> {
        let explicit = git.auth.as_ref().and_then(|a| a.auth_type);
        let field = "spec.git.auth.type";
        let auth_type = match (explicit, remote.transport) {
            (Some(GitAuthType::Ssh) | None, Transport::Ssh) => GitAuthType::Ssh,
            (Some(GitAuthType::Token) | None, Transport::Https | Transport::Http) => {
                GitAuthType::Token
            }
            (None, Transport::File | Transport::Git) => return Ok(Self::Anonymous),
            (Some(GitAuthType::Ssh), _) => {
                return Err(Error::Config(format!(
                    "{field}: ssh needs an ssh:// or git@host:path endpoint, not {}",
                    remote.url
                )));
            }
            (Some(GitAuthType::Token), _) => {
                return Err(Error::Config(format!(
                    "{field}: token needs an https:// or http:// endpoint, not {}",
                    remote.url
                )));
            }
        };
        let secrets = resolved.secrets();
        let text = |key: &str| -> Result<Option<String>> {
            secrets
                .get(key)
                .map(|bytes| {
                    String::from_utf8(bytes.to_vec())
                        .map(|s| s.trim().to_owned())
                        .map_err(|_| Error::Config(format!("secret key {key}: is not UTF-8 text")))
                })
                .transpose()
                .map(|value| value.filter(|v| !v.is_empty()))
        };
        let username = text("username")?;
        if auth_type == GitAuthType::Token {
            let token = text("token")?;
            let password = text("password")?;
            if username.is_none() && token.is_none() && password.is_none() {
                return Ok(Self::Anonymous);
            }
            let user = username.unwrap_or_else(|| {
                if token.is_some() {
                    "x-access-token".to_owned()
                } else {
                    "git".to_owned()
                }
            });
            return Ok(Self::Basic {
                user,
                password: token.or(password).unwrap_or_default(),
            });
        }
        let key = secrets.first_non_empty(&SSH_KEY_KEYS).ok_or_else(|| {
            Error::Config(
                "spec.git.auth: ssh needs a private key under ssh-privatekey, identity or id_rsa \
                 in the Secret"
                    .to_owned(),
            )
        })?;
        let private_key = String::from_utf8(key.to_vec())
            .ok()
            .filter(|k| k.contains("PRIVATE KEY-----"))
            .ok_or_else(|| {
                Error::Config(
                    "spec.git.auth: the SSH private key in the Secret is not a PEM/OpenSSH private \
                     key (-----BEGIN ... PRIVATE KEY-----)"
                        .to_owned(),
                )
            })?;
        let known_hosts =
            match secrets.get("known_hosts").filter(|k| !k.is_empty()) {
                Some(bytes) => Some(KnownHosts::parse(bytes).map_err(|problem| {
                    Error::Config(format!("secret key known_hosts: {problem}"))
                })?),
                None if tls.insecure => None,
                None => {
                    return Err(Error::Config(
                    "ssh git export requires known_hosts in secret or tls.insecureSkipVerify for \
                     dev"
                        .to_owned(),
                ));
                }
            };
        // DECISIONS D32: Secret `username`, else the endpoint's user, else `git`.
        let user = username
            .or_else(|| remote.url_user.clone())
            .unwrap_or_else(|| "git".to_owned());
        Ok(Self::Ssh {
            user,
            private_key,
            known_hosts,
        })
    }

    /// The user name, for the `Display` of logs (never the secret).
    pub(super) fn user(&self) -> Option<&str> {
        match self {
            Self::Anonymous => None,
            Self::Basic { user, .. } | Self::Ssh { user, .. } => Some(user),
        }
    }
}

/// TLS trust for `https` remotes (DECISIONS D12, D28).
#[derive(Clone, Debug, Default)]
pub(super) struct Tls {
    /// Accept any certificate (and any SSH host key). Warned about at build time.
    pub(super) insecure: bool,
    /// Extra trusted CAs, checked in libgit2's certificate callback.
    pub(super) ca: Option<Arc<CaBundle>>,
}

impl Tls {
    fn parse(spec: &SnapshotSinkSpec, ca: Option<&[u8]>, remote: &Remote) -> Result<Self> {
        let tls = spec.common.tls.clone().unwrap_or_default();
        let insecure = tls.insecure_skip_verify.unwrap_or(false);
        let ca = match ca.filter(|pem| !pem.is_empty()) {
            None => None,
            Some(pem) => Some(Arc::new(CaBundle::parse(pem).map_err(|problem| {
                Error::Config(format!("spec.tls.caBundle: {problem}"))
            })?)),
        };
        if ca.is_some() && remote.transport != Transport::Https {
            tracing::warn!(
                remote = %remote,
                "A CA bundle is configured but the remote does not use https; it is not used."
            );
        }
        Ok(Self { insecure, ca })
    }
}

/// Commit message templates (sinks spec §7.4; DECISIONS D21).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MessageTemplate {
    pub(super) subject: String,
    pub(super) body: String,
    pub(super) trailers: Vec<String>,
}

impl MessageTemplate {
    fn parse(git: &kollect_api::v1alpha1::GitSpec) -> Result<Self> {
        let subject = git
            .commit_message
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SUBJECT)
            .to_owned();
        if subject.contains(['\0', '\n', '\r']) {
            return Err(Error::Config(
                "spec.git.commitMessage: must be one line without NUL".to_owned(),
            ));
        }
        let body = git
            .commit_body
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        let trailers = git.commit_trailers.clone().unwrap_or_default();
        for (index, trailer) in trailers.iter().enumerate() {
            if trailer.contains(['\0', '\n', '\r']) {
                return Err(Error::Config(format!(
                    "spec.git.commitTrailers[{index}]: must be one line without NUL"
                )));
            }
        }
        if body.contains('\0') {
            return Err(Error::Config(
                "spec.git.commitBody: must not contain NUL".to_owned(),
            ));
        }
        Ok(Self {
            subject,
            body,
            trailers,
        })
    }
}

/// Commit author and committer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Identity {
    pub(super) name: String,
    pub(super) email: String,
}

impl Identity {
    fn parse(author: Option<&kollect_api::v1alpha1::GitAuthor>) -> Result<Self> {
        let pick = |value: Option<&String>, default: &str, field: &str| -> Result<String> {
            let value = value.map_or(default, |v| v.trim());
            if value.is_empty() || value.starts_with('-') || value.contains(['<', '>', '\n', '\0'])
            {
                return Err(Error::Config(format!(
                    "spec.git.author.{field}: {value:?} must be non-empty, must not start with '-' \
                     and must not contain '<', '>' or line breaks"
                )));
            }
            Ok(value.to_owned())
        };
        Ok(Self {
            name: pick(
                author.and_then(|a| a.name.as_ref()),
                DEFAULT_AUTHOR_NAME,
                "name",
            )?,
            email: pick(
                author.and_then(|a| a.email.as_ref()),
                DEFAULT_AUTHOR_EMAIL,
                "email",
            )?,
        })
    }
}

/// The file format of data files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Yaml,
    Json,
    Ndjson,
}

impl Format {
    pub(super) fn extension(self) -> &'static str {
        match self {
            Self::Yaml => ".yaml",
            Self::Json => ".json",
            Self::Ndjson => ".ndjson",
        }
    }
}

/// Compression of data files (DECISIONS API 17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Packing {
    None,
    Gzip,
    Zstd,
}

impl Packing {
    pub(super) fn suffix(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Zstd => ".zst",
        }
    }
}

/// How a snapshot becomes files (sinks spec §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LayoutConfig {
    pub(super) format: Format,
    pub(super) packing: Packing,
    /// `{extension}`: the format's, plus the compression suffix.
    pub(super) extension: String,
    /// `spec.cluster` trimmed (empty: unset).
    pub(super) cluster: String,
    /// `spec.pathTemplate` (or the default).
    pub(super) document: Template,
    /// The `layout` block, when the spec has one (its mode then counts as explicit).
    pub(super) explicit: Option<ExplicitLayout>,
    /// Per-item path template.
    pub(super) item: Template,
    /// `layout.index.enabled`.
    pub(super) index_enabled: Option<bool>,
    /// Index path template.
    pub(super) index: Template,
    pub(super) group_in_path: GroupInPath,
    pub(super) lowercase_kind: bool,
    pub(super) max_segment_length: usize,
    /// SHA-256 over everything above: exports under another layout are re-written.
    pub(super) digest: String,
}

/// The mode and content a `layout` block sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ExplicitLayout {
    pub(super) mode: LayoutMode,
    pub(super) content: LayoutContent,
}

impl LayoutConfig {
    pub(super) fn parse(spec: &SnapshotSinkSpec) -> Result<Self> {
        let format = match spec.effective_format() {
            SerializationFormat::Yaml => Format::Yaml,
            SerializationFormat::Json => Format::Json,
            SerializationFormat::Ndjson => Format::Ndjson,
            other => {
                return Err(Error::Config(format!(
                    "spec.serialization.format: git sinks write yaml, json or ndjson, not {other}"
                )));
            }
        };
        let packing = match spec.common.compression() {
            Compression::None => Packing::None,
            Compression::Gzip => Packing::Gzip,
            Compression::Zstd => Packing::Zstd,
            Compression::Snappy => {
                return Err(Error::Config(
                    "spec.serialization.compression: snappy is for parquet only; git files use \
                     none, gzip or zstd"
                        .to_owned(),
                ));
            }
        };
        let layout = spec.common.layout.clone();
        let document = template(
            spec.common.path_template.as_deref(),
            DEFAULT_DOCUMENT_TEMPLATE,
            Grammar::Inventory,
            "spec.pathTemplate",
        )?;
        let item = template(
            layout.as_ref().and_then(|l| l.path_template.as_deref()),
            DEFAULT_ITEM_TEMPLATE,
            Grammar::Item,
            "spec.layout.pathTemplate",
        )?;
        let index = template(
            layout
                .as_ref()
                .and_then(|l| l.index.as_ref())
                .and_then(|i| i.path_template.as_deref()),
            DEFAULT_DOCUMENT_TEMPLATE,
            Grammar::Inventory,
            "spec.layout.index.pathTemplate",
        )?;
        let filename: FilenameSpec = layout
            .as_ref()
            .and_then(|l| l.filename.clone())
            .unwrap_or_default();
        let max_segment_length = match filename.max_segment_length {
            None => DEFAULT_MAX_SEGMENT_LENGTH,
            Some(length) => usize::try_from(length)
                .ok()
                .filter(|l| *l >= 1)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "spec.layout.filename.maxSegmentLength: {length} must be at least 1"
                    ))
                })?,
        };
        let mut config = Self {
            format,
            packing,
            extension: format!("{}{}", format.extension(), packing.suffix()),
            cluster: spec
                .common
                .cluster
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            document,
            explicit: layout.as_ref().map(|l| ExplicitLayout {
                mode: l.mode,
                content: l.content,
            }),
            item,
            index_enabled: layout
                .as_ref()
                .and_then(|l| l.index.as_ref())
                .and_then(|i| i.enabled),
            index,
            group_in_path: filename.group_in_path.unwrap_or_default(),
            lowercase_kind: filename.lowercase_kind.unwrap_or(true),
            max_segment_length,
            digest: String::new(),
        };
        config.digest = config.fingerprint();
        Ok(config)
    }

    fn fingerprint(&self) -> String {
        let text = format!(
            "{:?}|{:?}|{}|{}|{}|{:?}|{}|{:?}|{}|{:?}|{}|{}",
            self.format,
            self.packing,
            self.cluster,
            self.document,
            self.item,
            self.explicit,
            self.index,
            self.index_enabled,
            self.max_segment_length,
            self.group_in_path,
            self.lowercase_kind,
            self.extension,
        );
        Sha256::digest(text.as_bytes())
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                use std::fmt::Write as _;
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }
}

fn template(value: Option<&str>, default: &str, grammar: Grammar, field: &str) -> Result<Template> {
    let text = value
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(default);
    Template::parse(text, grammar).map_err(|problem| Error::Config(format!("{field}: {problem}")))
}
