//! The remote of a Git sink: `spec.endpoint` parsed into the URL spoken on the wire (never with
//! credentials) and its transport, and branch names checked against the safe-ref rules.

use std::fmt;

use super::error::{Error, Result};

/// A Git remote: the URL spoken on the wire (never with credentials) and its transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Remote {
    /// The URL handed to libgit2.
    pub(super) url: String,
    pub(super) transport: Transport,
    /// Host name (empty for `file://`).
    pub(super) host: String,
    /// Port, when the URL names one.
    pub(super) port: Option<u16>,
    /// The login user written in an `ssh://` URL (or SCP-style `user@`).
    pub(super) url_user: Option<String>,
}

/// How libgit2 reaches a remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    Https,
    Http,
    Ssh,
    /// The unauthenticated `git://` protocol.
    Git,
    /// A repository on a local path (`file://`).
    File,
}

impl Remote {
    /// Parses `spec.endpoint`: a URL (`https`, `http`, `ssh`, `git`, `file`), optionally with a
    /// `#branch=<b>` fragment, or an SCP-style `user@host:path` remote (DECISIONS D19).
    pub(super) fn parse(endpoint: &str) -> Result<(Self, Option<Branch>)> {
        let invalid = |problem: String| Error::Config(format!("spec.endpoint: {problem}"));
        let (address, fragment) = match endpoint.split_once('#') {
            Some((address, fragment)) => (address, Some(fragment)),
            None => (endpoint, None),
        };
        let branch = match fragment {
            None | Some("") => None,
            Some(fragment) => {
                let value = fragment.strip_prefix("branch=").ok_or_else(|| {
                    invalid(format!(
                        "unsupported fragment #{fragment}; only #branch=<name> is understood"
                    ))
                })?;
                Some(Branch::parse(value).map_err(|problem| {
                    invalid(format!("the #branch= fragment {value:?} {problem}"))
                })?)
            }
        };
        let url_text = if address.contains("://") {
            address.to_owned()
        } else {
            scp_to_url(address).ok_or_else(|| {
                invalid(format!(
                    "{address:?} is not a Git remote: use https://host/org/repo.git, \
                     ssh://git@host/org/repo.git or git@host:org/repo.git"
                ))
            })?
        };
        let mut url = url::Url::parse(&url_text)
            .map_err(|error| invalid(format!("{address:?} is not a valid URL ({error})")))?;
        let transport = match url.scheme() {
            "https" => Transport::Https,
            "http" => Transport::Http,
            "ssh" => Transport::Ssh,
            "git" => Transport::Git,
            "file" => Transport::File,
            other => {
                return Err(invalid(format!(
                    "unsupported scheme {other:?}: use https://, http://, ssh://, git:// or file://"
                )));
            }
        };
        if url.password().is_some() {
            return Err(invalid(
                "must not carry a password; put credentials in the Secret named by \
                 spec.git.auth.secretRef or spec.secretRef"
                    .to_owned(),
            ));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        if transport != Transport::File && host.is_empty() {
            return Err(invalid(format!("{address:?} names no host")));
        }
        if transport == Transport::File && url.path().trim_matches('/').is_empty() {
            return Err(invalid(format!("{address:?} names no repository path")));
        }
        let url_user = Some(url.username().to_owned()).filter(|u| !u.is_empty());
        if matches!(transport, Transport::Https | Transport::Http) {
            // Userinfo never goes on the wire; credentials come from the Secret (§7.1).
            url.set_username("")
                .map_err(|()| invalid(format!("{address:?} cannot drop its user name")))?;
        }
        let port = url.port();
        Ok((
            Self {
                url: url.to_string(),
                transport,
                host,
                port,
                url_user,
            },
            branch,
        ))
    }

    /// The URL for `user`: SSH logins carry the user in the URL (DECISIONS D32).
    pub(super) fn url_for(&self, user: Option<&str>) -> String {
        match (self.transport, user) {
            (Transport::Ssh, Some(user)) => match url::Url::parse(&self.url) {
                Ok(mut url) => {
                    if url.set_username(user).is_ok() {
                        url.to_string()
                    } else {
                        self.url.clone()
                    }
                }
                Err(_) => self.url.clone(),
            },
            _ => self.url.clone(),
        }
    }

    /// The `host:port` (or `[host]:port`) a `known_hosts` line names this remote by.
    pub(super) fn known_hosts_name(&self) -> String {
        match self.port {
            Some(port) if port != 22 => format!("[{}]:{port}", self.host),
            _ => self.host.clone(),
        }
    }

    /// The local path of a `file://` remote.
    pub(super) fn file_path(&self) -> Option<std::path::PathBuf> {
        if self.transport != Transport::File {
            return None;
        }
        url::Url::parse(&self.url).ok()?.to_file_path().ok()
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// `user@host:path` → `ssh://user@host/path` (DECISIONS D19); `None` when `address` is not
/// SCP-style (no `:` before the first `/`).
fn scp_to_url(address: &str) -> Option<String> {
    let colon = address.find(':')?;
    if address.find('/').is_some_and(|slash| slash < colon) {
        return None;
    }
    let (login, path) = (&address[..colon], &address[colon + 1..]);
    let host = login.rsplit_once('@').map_or(login, |(_, host)| host);
    if host.is_empty() || path.is_empty() {
        return None;
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Some(format!("ssh://{login}{path}"))
}

/// A branch name that is a safe short ref (sinks spec §7.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Branch(String);

impl Branch {
    /// Checks the rules: not empty; no leading `-` or `.`; no `..`, `@{`, `//`; not `@`; no
    /// trailing `.`, `/` or `.lock`; no `refs/` prefix; only `[A-Za-z0-9._/-]`.
    pub(super) fn parse(name: &str) -> Result<Self, String> {
        let problem = if name.is_empty() {
            Some("must not be empty")
        } else if name.starts_with(['-', '.']) {
            Some("must not start with '-' or '.'")
        } else if name.contains("..") || name.contains("@{") || name.contains("//") {
            Some("must not contain '..', '@{' or '//'")
        } else if name == "@" {
            Some("must not be '@'")
        } else if name.ends_with(['.', '/']) || name.ends_with(".lock") {
            Some("must not end with '.', '/' or '.lock'")
        } else if name.starts_with("refs/") {
            Some("must be a short name such as main, not refs/heads/main")
        } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        {
            Some("must match ^[A-Za-z0-9][A-Za-z0-9._/-]*$")
        } else if name.split('/').any(|segment| segment.starts_with('.')) {
            Some("must not have a path segment starting with '.'")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(problem.to_owned()),
            None => Ok(Self(name.to_owned())),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}
