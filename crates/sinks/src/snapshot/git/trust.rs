//! Trust decisions libgit2 hands to its certificate callback: a per-sink CA bundle for `https`
//! remotes, and `known_hosts` for SSH host keys.
//!
//! libgit2 keeps its OpenSSL trust store process-wide, so a CA bundle of one sink cannot be
//! given to OpenSSL without affecting every other sink. Instead the callback checks the
//! server's certificate against the bundle with webpki (chain to a bundle certificate, validity
//! period, server-auth usage, host name). Only the leaf certificate reaches the callback: a
//! server that relies on intermediates must have them in the bundle too. When the bundle does not
//! vouch for the certificate, OpenSSL's own verdict against the system roots stands.

use std::fmt;

use base64::Engine as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject as _};
use sha1::{Digest as _, Sha1};
use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};

/// A PEM bundle of trusted CA certificates.
#[derive(Clone)]
pub(super) struct CaBundle {
    certs: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaBundle({} certificates)", self.certs.len())
    }
}

impl CaBundle {
    /// Reads every certificate of a PEM bundle; each must be usable as a trust anchor.
    pub(super) fn parse(pem: &[u8]) -> Result<Self, String> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| format!("tls: failed to parse CA bundle PEM ({error})"))?;
        if certs.is_empty() {
            return Err("tls: failed to parse CA bundle PEM (no CERTIFICATE block)".to_owned());
        }
        for (index, cert) in certs.iter().enumerate() {
            anchor_from_trusted_cert(cert).map_err(|error| {
                format!(
                    "certificate {} of the bundle is not a usable CA ({error})",
                    index + 1
                )
            })?;
        }
        Ok(Self { certs })
    }

    /// Checks that `leaf` (DER) chains to a bundle certificate, is valid now for server
    /// authentication, and names `host`.
    pub(super) fn verify(&self, leaf: &[u8], host: &str) -> Result<(), String> {
        let anchors: Vec<_> = self
            .certs
            .iter()
            .filter_map(|cert| anchor_from_trusted_cert(cert).ok())
            .collect();
        let leaf = CertificateDer::from(leaf.to_vec());
        let end_entity = EndEntityCert::try_from(&leaf)
            .map_err(|error| format!("unreadable certificate ({error})"))?;
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &self.certs,
                UnixTime::now(),
                KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(|error| format!("not issued by the configured CA ({error})"))?;
        let name = ServerName::try_from(host.trim_matches(['[', ']']))
            .map_err(|error| format!("{host:?} is not a valid server name ({error})"))?;
        end_entity
            .verify_is_valid_for_subject_name(&name)
            .map_err(|error| format!("not valid for {host} ({error})"))
    }
}

/// Host keys an SSH remote may present (OpenSSH `known_hosts` format).
#[derive(Clone)]
pub(super) struct KnownHosts {
    entries: Vec<HostEntry>,
}

#[derive(Clone)]
struct HostEntry {
    revoked: bool,
    patterns: Vec<Pattern>,
    key_type: String,
    key: Vec<u8>,
}

#[derive(Clone)]
enum Pattern {
    /// A host pattern with `*` and `?` wildcards; `negated` for `!pattern`.
    Plain { pattern: String, negated: bool },
    /// `|1|salt|hash`: HMAC-SHA1 of the host name.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// The verdict on a presented host key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum HostKeyCheck {
    Trusted,
    Revoked,
    Unknown,
}

impl KnownHosts {
    /// Reads a `known_hosts` file. Comments and blank lines are skipped; `@cert-authority`
    /// lines are refused (certificates are not supported); a line that does not parse is an
    /// error naming its number.
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())?;
        let mut entries = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry =
                parse_line(line).map_err(|problem| format!("line {}: {problem}", number + 1))?;
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err("holds no host key".to_owned());
        }
        Ok(Self { entries })
    }

    /// Number of host-key lines.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Checks `key` (the SSH wire-format public key) presented by `host` (`name` or
    /// `[name]:port`).
    pub(super) fn check(&self, host: &str, key: &[u8]) -> HostKeyCheck {
        let matching: Vec<&HostEntry> = self.entries.iter().filter(|e| e.matches(host)).collect();
        if matching.iter().any(|e| e.revoked && e.key == key) {
            return HostKeyCheck::Revoked;
        }
        if matching.iter().any(|e| !e.revoked && e.key == key) {
            HostKeyCheck::Trusted
        } else {
            HostKeyCheck::Unknown
        }
    }

    /// The key types listed for `host` (for error messages).
    pub(super) fn types_for(&self, host: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| !e.revoked && e.matches(host))
            .map(|e| e.key_type.as_str())
            .collect()
    }
}

fn parse_line(line: &str) -> Result<HostEntry, String> {
    let mut fields = line.split_whitespace();
    let mut first = fields.next().ok_or("empty line")?;
    let mut revoked = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            "@cert-authority" => {
                return Err(
                    "@cert-authority lines are not supported; list the host keys".to_owned(),
                );
            }
            other => return Err(format!("unknown marker {other}")),
        }
        first = fields.next().ok_or("no host pattern after the marker")?;
    }
    let key_type = fields.next().ok_or("no key type")?.to_owned();
    let key = fields.next().ok_or("no key")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|error| format!("the key is not base64 ({error})"))?;
    let patterns = first
        .split(',')
        .map(parse_pattern)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HostEntry {
        revoked,
        patterns,
        key_type,
        key,
    })
}

fn parse_pattern(text: &str) -> Result<Pattern, String> {
    if let Some(hashed) = text.strip_prefix("|1|") {
        let (salt, hash) = hashed
            .split_once('|')
            .ok_or("a hashed host lacks its hash")?;
        let decode = |part: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(part)
                .map_err(|error| format!("a hashed host is not base64 ({error})"))
        };
        return Ok(Pattern::Hashed {
            salt: decode(salt)?,
            hash: decode(hash)?,
        });
    }
    let (pattern, negated) = match text.strip_prefix('!') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    if pattern.is_empty() {
        return Err("empty host pattern".to_owned());
    }
    Ok(Pattern::Plain {
        pattern: pattern.to_ascii_lowercase(),
        negated,
    })
}

impl HostEntry {
    /// OpenSSH semantics: a matching negated pattern excludes the host whatever else matches.
    fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let mut matched = false;
        for pattern in &self.patterns {
            match pattern {
                Pattern::Plain { pattern, negated } => {
                    if glob(pattern.as_bytes(), host.as_bytes()) {
                        if *negated {
                            return false;
                        }
                        matched = true;
                    }
                }
                Pattern::Hashed { salt, hash } => {
                    if hmac_sha1(salt, host.as_bytes()).as_slice() == hash.as_slice() {
                        matched = true;
                    }
                }
            }
        }
        matched
    }
}

/// `*` (any run) and `?` (one character) wildcards.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// HMAC-SHA1 (RFC 2104), as OpenSSH hashes host names.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let mut inner = Sha1::new();
    inner.update(pad(0x36));
    inner.update(message);
    let mut outer = Sha1::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The OpenSSH fingerprint of a wire-format public key (`SHA256:…`).
pub(super) fn fingerprint(key: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn key() -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(KEY)
            .unwrap()
    }

    #[test]
    fn plain_wildcard_negated_and_port_patterns_match_like_openssh() {
        let hosts = KnownHosts::parse(
            format!(
                "# comment\n[127.0.0.1]:2222 ssh-ed25519 {KEY}\n*.example.org,!evil.example.org ssh-ed25519 {KEY} c\n"
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            hosts.check("[127.0.0.1]:2222", &key()),
            HostKeyCheck::Trusted
        );
        assert_eq!(hosts.check("127.0.0.1", &key()), HostKeyCheck::Unknown);
        assert_eq!(
            hosts.check("git.example.org", &key()),
            HostKeyCheck::Trusted
        );
        assert_eq!(
            hosts.check("evil.example.org", &key()),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            hosts.check("git.example.org", b"other"),
            HostKeyCheck::Unknown
        );
        assert_eq!(hosts.types_for("git.example.org"), ["ssh-ed25519"]);
    }

    #[test]
    fn hashed_hosts_and_revocations_are_honoured() {
        // `ssh-keygen -H` form of "github.com" with a fixed salt.
        let salt = [7u8; 20];
        let hash = hmac_sha1(&salt, b"github.com");
        let engine = base64::engine::general_purpose::STANDARD;
        let line = format!(
            "|1|{}|{} ssh-ed25519 {KEY}\n",
            engine.encode(salt),
            engine.encode(hash)
        );
        let hosts = KnownHosts::parse(line.as_bytes()).unwrap();
        assert_eq!(hosts.check("github.com", &key()), HostKeyCheck::Trusted);
        assert_eq!(hosts.check("gitlab.com", &key()), HostKeyCheck::Unknown);
        let revoked = KnownHosts::parse(
            format!("@revoked * ssh-ed25519 {KEY}\ngithub.com ssh-ed25519 {KEY}\n").as_bytes(),
        )
        .unwrap();
        assert_eq!(revoked.check("github.com", &key()), HostKeyCheck::Revoked);
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        let digest = hmac_sha1(b"Jefe", b"what do ya want for nothing?");
        let hex = digest.iter().fold(String::new(), |mut hex, b| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
            hex
        });
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn bad_known_hosts_and_bundles_are_refused() {
        assert!(KnownHosts::parse(b"\n# only a comment\n").is_err());
        assert!(KnownHosts::parse(b"@cert-authority * ssh-ed25519 AAAA\n").is_err());
        assert!(KnownHosts::parse(b"host ssh-ed25519 !!!\n").is_err());
        assert!(CaBundle::parse(b"not pem").is_err());
    }
}
