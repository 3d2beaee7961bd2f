//! Endpoint safety rules: sink endpoints are untrusted input (API spec §10.5, sinks spec §5.1).
//!
//! Admission checks literal hosts only; names are not resolved here. The sinks repeat the check
//! on every resolved address at dial time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Settings;

/// Host names that always point at the local machine or a cloud metadata service.
const DENIED_HOSTS: [&str; 6] = [
    "localhost",
    "localhost.localdomain",
    "metadata",
    "metadata.google.internal",
    "instance-data",
    "instance-data.ec2.internal",
];

/// What the endpoint guard lets through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// RFC 1918 and IPv6 ULA literals are allowed (`--allow-private-sinks`).
    pub allow_private: bool,
    /// `file://` URLs, local paths, loopback and `localhost` are allowed: the pipeline CLI writes
    /// to the user's own machine.
    pub allow_local: bool,
}

impl From<&Settings> for EndpointPolicy {
    fn from(settings: &Settings) -> Self {
        Self {
            allow_private: settings.allow_private_sinks,
            allow_local: settings.allow_local_endpoints,
        }
    }
}

/// The parts of a `scheme://[user@]host[:port]/path` URL the guard needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    pub(crate) scheme: String,
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
}

/// Splits a URL with an explicit `scheme://`; `None` when there is no scheme.
pub(crate) fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let valid_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let path = &after[..after.find(['?', '#']).unwrap_or(after.len())];
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    Some(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        host: strip_port(host_port),
        path,
    })
}

/// `host:port` → `host`; `[v6]:port` → `v6`; bare hosts and IPv6 literals are returned as is.
pub(crate) fn strip_port(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    if host_port.matches(':').count() == 1 {
        return host_port
            .split_once(':')
            .map_or(host_port, |(host, _)| host);
    }
    host_port
}

/// Checks a host name or IP literal. The error says why the host is refused.
pub fn check_host(host: &str, policy: EndpointPolicy) -> Result<(), String> {
    let name = host.trim().trim_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Ok(());
    }
    let local_name = DENIED_HOSTS[..2].contains(&name.as_str()) || name.ends_with(".localhost");
    if local_name && policy.allow_local {
        return Ok(());
    }
    if local_name || DENIED_HOSTS.contains(&name.as_str()) {
        return Err(format!(
            "endpoint host {name:?} is not allowed: it names the local machine or a cloud \
             metadata service"
        ));
    }
    let literal = name.split('%').next().unwrap_or_default();
    let Ok(ip) = literal.parse::<IpAddr>() else {
        return Ok(());
    };
    check_ip(ip, policy).map_err(|why| format!("endpoint address {ip} is not allowed: {why}"))
}

fn check_ip(ip: IpAddr, policy: EndpointPolicy) -> Result<(), &'static str> {
    match ip {
        IpAddr::V4(v4) => check_ipv4(v4, policy),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => check_ipv4(v4, policy),
            None => check_ipv6(v6, policy),
        },
    }
}

fn check_ipv4(ip: Ipv4Addr, policy: EndpointPolicy) -> Result<(), &'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        return if policy.allow_local {
            Ok(())
        } else {
            Err("loopback addresses are refused")
        };
    }
    if ip.is_unspecified() {
        return Err("the unspecified address is refused");
    }
    if ip.is_link_local() {
        return Err("link-local addresses (including cloud metadata) are refused");
    }
    if a == 224 && b == 0 && c == 0 {
        return Err("link-local multicast addresses are refused");
    }
    if a == 100 && (64..128).contains(&b) {
        return Err("carrier-grade NAT addresses (100.64.0.0/10) are refused");
    }
    if a == 198 && (b == 18 || b == 19) {
        return Err("benchmarking addresses (198.18.0.0/15) are refused");
    }
    if ip.is_private() && !policy.allow_private {
        return Err(
            "private addresses are refused unless the operator runs with \
                    --allow-private-sinks",
        );
    }
    Ok(())
}

fn check_ipv6(ip: Ipv6Addr, policy: EndpointPolicy) -> Result<(), &'static str> {
    let segments = ip.segments();
    if ip.is_loopback() {
        return if policy.allow_local {
            Ok(())
        } else {
            Err("loopback addresses are refused")
        };
    }
    if ip.is_unspecified() {
        return Err("the unspecified address is refused");
    }
    if segments[0] & 0xffc0 == 0xfe80 {
        return Err("link-local addresses are refused");
    }
    if segments[0] == 0xff02 {
        return Err("link-local multicast addresses are refused");
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Err("the AWS metadata address is refused");
    }
    if segments[0] & 0xfe00 == 0xfc00 && !policy.allow_private {
        return Err(
            "unique local addresses (fc00::/7) are refused unless the operator runs with \
                    --allow-private-sinks",
        );
    }
    Ok(())
}

/// Checks a URL: `file://` is refused unless local endpoints are allowed; other URLs have their
/// host checked. A string without `scheme://` is not a URL and passes.
pub(crate) fn check_url(url: &str, policy: EndpointPolicy) -> Result<(), String> {
    let Some(parts) = split_url(url.trim()) else {
        return Ok(());
    };
    if parts.scheme == "file" {
        return if policy.allow_local {
            Ok(())
        } else {
            Err(
                "file:// endpoints are not allowed: the operator must not write to its own \
                 filesystem"
                    .to_owned(),
            )
        };
    }
    check_host(parts.host, policy)
}

/// Checks a Kafka broker: a URL, `host:port`, `[v6]:port`, a bare IP or a bare host.
pub(crate) fn check_broker(broker: &str, policy: EndpointPolicy) -> Result<(), String> {
    let broker = broker.trim();
    if broker.contains("://") {
        return check_url(broker, policy);
    }
    check_host(strip_port(broker), policy)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const STRICT: EndpointPolicy = EndpointPolicy {
        allow_private: false,
        allow_local: false,
    };
    const PRIVATE: EndpointPolicy = EndpointPolicy {
        allow_private: true,
        allow_local: false,
    };
    const LOCAL: EndpointPolicy = EndpointPolicy {
        allow_private: false,
        allow_local: true,
    };

    #[rstest]
    #[case("169.254.169.254")]
    #[case("169.254.1.1")]
    #[case("fd00:ec2::254")]
    #[case("fd00:ec2::254%eth0")]
    #[case("fe80::1")]
    #[case("127.0.0.1")]
    #[case("::1")]
    #[case("100.64.0.1")]
    #[case("198.18.0.1")]
    #[case("0.0.0.0")]
    #[case("::")]
    #[case("::ffff:127.0.0.1")]
    #[case("224.0.0.1")]
    #[case("ff02::1")]
    #[case("localhost")]
    #[case("LOCALHOST.")]
    #[case("foo.localhost")]
    #[case("metadata.google.internal")]
    #[case("instance-data.ec2.internal")]
    fn always_denied(#[case] host: &str) {
        assert!(check_host(host, STRICT).is_err(), "{host}");
        assert!(
            check_host(host, PRIVATE).is_err(),
            "{host} with private allowed"
        );
    }

    #[rstest]
    #[case("192.168.1.1")]
    #[case("10.1.2.3")]
    #[case("172.16.9.9")]
    #[case("fd00::1")]
    #[case("::ffff:10.0.0.1")]
    fn private_needs_the_flag(#[case] host: &str) {
        assert!(check_host(host, STRICT).is_err(), "{host}");
        assert!(check_host(host, PRIVATE).is_ok(), "{host}");
    }

    #[rstest]
    #[case("8.8.8.8")]
    #[case("93.184.216.34")]
    #[case("github.com")]
    #[case("kafka.example.com")]
    #[case("172.32.0.1")]
    fn always_allowed(#[case] host: &str) {
        assert!(check_host(host, STRICT).is_ok(), "{host}");
    }

    #[test]
    fn local_policy_allows_loopback_but_not_metadata() {
        assert!(check_host("127.0.0.1", LOCAL).is_ok());
        assert!(check_host("localhost", LOCAL).is_ok());
        assert!(check_host("::1", LOCAL).is_ok());
        assert!(check_host("169.254.169.254", LOCAL).is_err());
        assert!(check_host("metadata", LOCAL).is_err());
        assert!(check_url("file:///srv/repo.git", LOCAL).is_ok());
        assert!(check_url("file:///srv/repo.git", STRICT).is_err());
    }

    #[rstest]
    #[case(
        "https://user:pw@git.example.org:8443/a/b.git",
        "https",
        "git.example.org",
        "/a/b.git"
    )]
    #[case("https://[fe80::1]:443/x", "https", "fe80::1", "/x")]
    #[case("nats://127.0.0.1:4222", "nats", "127.0.0.1", "")]
    #[case("s3://bucket/prefix", "s3", "bucket", "/prefix")]
    #[case("HTTP://Host/p?q#f", "http", "Host", "/p")]
    fn splits_urls(
        #[case] url: &str,
        #[case] scheme: &str,
        #[case] host: &str,
        #[case] path: &str,
    ) {
        let parts = split_url(url).expect("a URL");
        assert_eq!(
            (parts.scheme.as_str(), parts.host, parts.path),
            (scheme, host, path)
        );
    }

    #[rstest]
    #[case("localhost:9092", false)]
    #[case("[::1]:9092", false)]
    #[case("kafka://broker.example.com:9092", true)]
    #[case("broker.example.com", true)]
    #[case("8.8.8.8:9092", true)]
    #[case("10.0.0.1:9092", false)]
    fn brokers(#[case] broker: &str, #[case] ok: bool) {
        assert_eq!(check_broker(broker, STRICT).is_ok(), ok, "{broker}");
    }
}
