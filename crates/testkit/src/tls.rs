//! TLS for the fake API server: a throwaway certificate authority, the server's rustls
//! configuration, and HTTPS calls to validating admission webhooks.
//!
//! Everything here uses rustls with the *ring* provider, passed explicitly, so no process-wide
//! default provider has to be installed and the crate stays on the provider kube-rs uses.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Common name of the generated certificate authority.
const CA_COMMON_NAME: &str = "kollect-testkit-ca";
/// Common name of the generated server certificate.
const SERVER_COMMON_NAME: &str = "kollect-testkit";
/// How long the generated certificates stay valid: ten years.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// How far back the certificates' validity starts, to tolerate clock skew: one day.
const BACKDATE: Duration = Duration::from_secs(24 * 60 * 60);
/// The most bytes of a webhook's response body that are read.
pub(crate) const MAX_WEBHOOK_RESPONSE_BYTES: usize = 3 * 1024 * 1024;

/// Errors of certificate generation, TLS setup and webhook calls.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A key or certificate could not be generated.
    #[error("failed to generate the {what}")]
    GenerateCertificate {
        /// Which key or certificate, e.g. "server certificate".
        what: &'static str,
        /// The generator's error.
        #[source]
        source: rcgen::Error,
    },
    /// PEM text could not be parsed.
    #[error("failed to parse the {what} PEM")]
    ParsePem {
        /// What the PEM should hold, e.g. "webhook CA bundle".
        what: &'static str,
        /// The parser's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// PEM text held no certificate.
    #[error("the {what} PEM holds no certificate")]
    NoCertificate {
        /// What the PEM should hold, e.g. "webhook CA bundle".
        what: &'static str,
    },
    /// The rustls server configuration could not be built.
    #[error("failed to build the TLS server configuration")]
    ServerConfig {
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// The rustls client configuration for a webhook call could not be built.
    #[error("failed to build the TLS client configuration for the webhook at {url}")]
    ClientConfig {
        /// The webhook's URL.
        url: String,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// A certificate of a webhook's CA bundle is not a usable trust anchor.
    #[error("failed to trust a certificate of the CA bundle of the webhook at {url}")]
    TrustAnchor {
        /// The webhook's URL.
        url: String,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// A webhook URL could not be parsed.
    #[error("invalid webhook URL {url:?}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// The parser's error.
        #[source]
        source: hyper::http::uri::InvalidUri,
    },
    /// A webhook URL is not an absolute `http` or `https` URL.
    #[error("invalid webhook URL {url:?}: it must be an absolute https (or http) URL")]
    UnsupportedUrl {
        /// The URL as given.
        url: String,
    },
    /// The HTTP request to a webhook could not be built.
    #[error("failed to build the request to the webhook at {url}")]
    BuildRequest {
        /// The webhook's URL.
        url: String,
        /// The HTTP error.
        #[source]
        source: hyper::http::Error,
    },
    /// A webhook could not be called: connecting, TLS or the HTTP exchange failed.
    #[error("failed to call webhook at {url}")]
    Request {
        /// The webhook's URL.
        url: String,
        /// The client's error; its sources tell the cause, e.g. "connection refused".
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// A webhook's response body could not be read.
    #[error("failed to read the response of the webhook at {url}")]
    ReadBody {
        /// The webhook's URL.
        url: String,
        /// The body's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A webhook's response body is larger than [`MAX_WEBHOOK_RESPONSE_BYTES`].
    #[error("the response of the webhook at {url} is larger than {limit} bytes")]
    ResponseTooLarge {
        /// The webhook's URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A webhook call did not finish in time.
    #[error("failed to call webhook at {url}: timed out after {timeout:?}")]
    Timeout {
        /// The webhook's URL.
        url: String,
        /// The time the whole call was given.
        timeout: Duration,
    },
}

/// A throwaway certificate authority and one server certificate it signed.
#[allow(clippy::struct_field_names)] // every field is PEM text; the suffix says so at use sites
#[derive(Clone)]
pub struct Pki {
    /// The CA's certificate, PEM; what a kubeconfig's `certificate-authority-data` holds.
    pub ca_cert_pem: String,
    /// The server's certificate, PEM, signed by the CA.
    pub server_cert_pem: String,
    /// The server's private key, PKCS#8 PEM.
    pub server_key_pem: String,
}

impl Pki {
    /// New CA (CN "kollect-testkit-ca", valid 10 years from yesterday) and a server certificate
    /// for `hosts` (IP addresses become IP SANs, names DNS SANs; 127.0.0.1 and localhost are
    /// always included), with ECDSA P-256 keys.
    pub fn generate(hosts: &[String]) -> Result<Self, TlsError> {
        let valid_from = backdated_now();

        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
            TlsError::GenerateCertificate {
                what: "CA key",
                source,
            }
        })?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = common_name(CA_COMMON_NAME);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut ca_params, valid_from);
        let ca_cert =
            ca_params
                .self_signed(&ca_key)
                .map_err(|source| TlsError::GenerateCertificate {
                    what: "CA certificate",
                    source,
                })?;

        let server_key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
                TlsError::GenerateCertificate {
                    what: "server key",
                    source,
                }
            })?;
        let mut server_params = CertificateParams::default();
        server_params.distinguished_name = common_name(SERVER_COMMON_NAME);
        server_params.subject_alt_names = subject_alt_names(hosts)?;
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server_params.use_authority_key_identifier_extension = true;
        set_validity(&mut server_params, valid_from);
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(|source| TlsError::GenerateCertificate {
                what: "server certificate",
                source,
            })?;

        Ok(Self {
            ca_cert_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
        })
    }

    /// A rustls server configuration for the server certificate: ring provider, ALPN
    /// `http/1.1` only (the server speaks HTTP/1.1), no client authentication.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let certs = parse_certificates(self.server_cert_pem.as_bytes(), "server certificate")?;
        let key =
            PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).map_err(|source| {
                TlsError::ParsePem {
                    what: "server key",
                    source,
                }
            })?;
        let mut config = ServerConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::ServerConfig { source })?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|source| TlsError::ServerConfig { source })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The answer of a webhook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebhookResponse {
    /// The HTTP status code.
    pub(crate) status: u16,
    /// The response body, at most [`MAX_WEBHOOK_RESPONSE_BYTES`] long.
    pub(crate) body: Vec<u8>,
}

/// POSTs `body` (JSON) to an `https` (or plain `http`, for tests) `url` with `Content-Type` and
/// `Accept` set to `application/json`, and returns the status and body of the answer, whatever
/// the status.
///
/// The server's certificate must chain to one of the certificates of `ca_bundle_pem` (PEM,
/// possibly several certificates; malformed or certificate-less PEM is an error). Without a
/// bundle nothing is trusted, so an `https` call fails. The whole call, connecting included, is
/// bounded by `timeout`; a body longer than [`MAX_WEBHOOK_RESPONSE_BYTES`] is an error.
pub(crate) async fn post_json(
    url: &str,
    ca_bundle_pem: Option<&[u8]>,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<WebhookResponse, TlsError> {
    match tokio::time::timeout(timeout, post_json_unbounded(url, ca_bundle_pem, body)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(TlsError::Timeout {
            url: url.to_owned(),
            timeout,
        }),
    }
}

/// [`post_json`] without the time bound.
async fn post_json_unbounded(
    url: &str,
    ca_bundle_pem: Option<&[u8]>,
    body: Vec<u8>,
) -> Result<WebhookResponse, TlsError> {
    let uri: Uri = url.parse().map_err(|source| TlsError::InvalidUrl {
        url: url.to_owned(),
        source,
    })?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.host().is_none() {
        return Err(TlsError::UnsupportedUrl {
            url: url.to_owned(),
        });
    }

    let mut roots = RootCertStore::empty();
    if let Some(pem) = ca_bundle_pem {
        for cert in parse_certificates(pem, "webhook CA bundle")? {
            roots.add(cert).map_err(|source| TlsError::TrustAnchor {
                url: url.to_owned(),
                source,
            })?;
        }
    }
    let tls = ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::ClientConfig {
            url: url.to_owned(),
            source,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector);

    let request = Request::post(uri)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|source| TlsError::BuildRequest {
            url: url.to_owned(),
            source,
        })?;
    let response = client
        .request(request)
        .await
        .map_err(|source| TlsError::Request {
            url: url.to_owned(),
            source,
        })?;
    let status = response.status().as_u16();
    let collected = Limited::new(response.into_body(), MAX_WEBHOOK_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|source| {
            if source.is::<LengthLimitError>() {
                TlsError::ResponseTooLarge {
                    url: url.to_owned(),
                    limit: MAX_WEBHOOK_RESPONSE_BYTES,
                }
            } else {
                TlsError::ReadBody {
                    url: url.to_owned(),
                    source,
                }
            }
        })?;
    Ok(WebhookResponse {
        status,
        body: collected.to_bytes().to_vec(),
    })
}

/// The ring crypto provider, passed explicitly to every rustls configuration.
fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// All certificates of `pem`; an error if it is malformed or holds none.
fn parse_certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::ParsePem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { what });
    }
    Ok(certs)
}

/// A distinguished name holding only the common name `cn`.
fn common_name(cn: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    name
}

/// The subject alternative names for `hosts` plus 127.0.0.1 and localhost, without duplicates:
/// IP addresses (bracketed IPv6 accepted) become IP SANs, everything else DNS SANs.
fn subject_alt_names(hosts: &[String]) -> Result<Vec<SanType>, TlsError> {
    let mut ips = BTreeSet::from([IpAddr::from([127, 0, 0, 1])]);
    let mut names = BTreeSet::from([String::from("localhost")]);
    for host in hosts {
        let host = host.trim();
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            ips.insert(ip);
        } else if !host.is_empty() {
            names.insert(host.to_ascii_lowercase());
        }
    }
    let mut sans: Vec<SanType> = ips.into_iter().map(SanType::IpAddress).collect();
    for name in names {
        let name = name
            .try_into()
            .map_err(|source| TlsError::GenerateCertificate {
                what: "server certificate's DNS names",
                source,
            })?;
        sans.push(SanType::DnsName(name));
    }
    Ok(sans)
}

/// Seconds from the Unix epoch to a day ago, where the generated certificates' validity starts.
fn backdated_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(BACKDATE)
}

/// Makes `params` valid from `since_epoch` after the Unix epoch for [`VALIDITY`].
fn set_validity(params: &mut CertificateParams, since_epoch: Duration) {
    // rcgen's dates are `time` dates; built from the epoch, no direct `time` dependency is needed.
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_after = params.not_before + VALIDITY;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls_pki_types::{ServerName, UnixTime};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::*;

    /// The error and all its sources, joined by ": " as the server reports them.
    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// A PKI for the usual test hosts.
    fn pki() -> Pki {
        Pki::generate(&["kollect.example".to_owned()]).unwrap()
    }

    /// A root store trusting the certificates of `pem`.
    fn roots(pem: &str) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        for cert in parse_certificates(pem.as_bytes(), "test CA").unwrap() {
            roots.add(cert).unwrap();
        }
        roots
    }

    /// Checks the server certificate of `pki` for `name` at `at`, trusting `pki`'s CA.
    fn verify(pki: &Pki, name: &str, at: UnixTime) -> Result<(), rustls::Error> {
        let verifier = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots(&pki.ca_cert_pem)),
            ring_provider(),
        )
        .build()
        .unwrap();
        let certs = parse_certificates(pki.server_cert_pem.as_bytes(), "server").unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(&certs[0], &certs[1..], &name, &[], at)
            .map(|_| ())
    }

    /// Unix time `offset` after (or, if `back`, before) now.
    fn now_shifted(offset: Duration, back: bool) -> UnixTime {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        UnixTime::since_unix_epoch(if back {
            now.saturating_sub(offset)
        } else {
            now + offset
        })
    }

    #[test]
    /// The generated PEM parses back, and the server certificate chains to the CA for every
    /// requested host, 127.0.0.1 and localhost, and for no other name.
    fn generated_certificates_parse_back_with_their_sans() {
        let pki = Pki::generate(&[
            "10.1.2.3".to_owned(),
            "[::1]".to_owned(),
            " Kollect.Example ".to_owned(),
            "localhost".to_owned(),
            String::new(),
        ])
        .unwrap();
        assert_eq!(
            parse_certificates(pki.ca_cert_pem.as_bytes(), "ca")
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            parse_certificates(pki.server_cert_pem.as_bytes(), "server")
                .unwrap()
                .len(),
            1
        );
        PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();

        let now = UnixTime::now();
        for name in [
            "127.0.0.1",
            "localhost",
            "10.1.2.3",
            "::1",
            "kollect.example",
        ] {
            verify(&pki, name, now).unwrap();
        }
        for name in ["other.example", "10.1.2.4", "127.0.0.2"] {
            assert!(verify(&pki, name, now).is_err(), "{name} must not be valid");
        }
    }

    #[test]
    /// The certificates are valid from a day ago for ten years.
    fn generated_certificates_are_valid_from_yesterday_for_ten_years() {
        let pki = pki();
        let hour = Duration::from_secs(60 * 60);
        verify(&pki, "localhost", now_shifted(23 * hour, true)).unwrap();
        verify(
            &pki,
            "localhost",
            now_shifted(VALIDITY.saturating_sub(25 * hour), false),
        )
        .unwrap();
        assert!(verify(&pki, "localhost", now_shifted(25 * hour, true)).is_err());
        assert!(verify(&pki, "localhost", now_shifted(VALIDITY, false)).is_err());
    }

    #[test]
    /// Each call makes a new CA.
    fn every_pki_is_new() {
        assert_ne!(pki().ca_cert_pem, pki().ca_cert_pem);
    }

    #[test]
    /// A host that is no valid DNS name is an error, not a panic.
    fn non_ascii_host_is_an_error() {
        let err = Pki::generate(&["bücher.example".to_owned()]).err().unwrap();
        assert!(
            matches!(err, TlsError::GenerateCertificate { .. }),
            "{err:?}"
        );
    }

    #[test]
    /// A server configuration from malformed PEM is an error.
    fn server_config_rejects_bad_pem() {
        let mut pki = pki();
        pki.server_key_pem = "no key here".to_owned();
        assert!(matches!(
            pki.server_config(),
            Err(TlsError::ParsePem {
                what: "server key",
                ..
            })
        ));
        pki.server_cert_pem = String::new();
        assert!(matches!(
            pki.server_config(),
            Err(TlsError::NoCertificate { .. })
        ));
    }

    /// Serves one TLS handshake with `server`'s configuration and connects to it as a client
    /// trusting `client_ca_pem` and offering h2 and http/1.1; returns the negotiated ALPN protocol.
    async fn handshake(
        server: &Pki,
        client_ca_pem: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, std::io::Error> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server.server_config().unwrap());
        let server_task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await.map(|_| ())
        });

        let mut config = ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(client_ca_pem))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let result = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await;
        let alpn = result.map(|stream| stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec));
        if alpn.is_ok() {
            server_task.await.unwrap().unwrap();
        }
        alpn
    }

    #[tokio::test]
    /// A client trusting the CA completes a handshake, by IP and by name, and gets HTTP/1.1.
    async fn server_config_accepts_clients_trusting_the_ca() {
        let pki = pki();
        for name in ["127.0.0.1", "localhost", "kollect.example"] {
            let alpn = handshake(&pki, &pki.ca_cert_pem, name).await.unwrap();
            assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]), "{name}");
        }
    }

    #[tokio::test]
    /// A client trusting another CA refuses the server.
    async fn server_config_is_refused_by_clients_trusting_another_ca() {
        let err = handshake(&pki(), &pki().ca_cert_pem, "127.0.0.1")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("invalid peer certificate"),
            "{err}"
        );
    }

    /// What the test webhook answers.
    #[derive(Clone, Copy)]
    enum Answer {
        /// 200 with a JSON object describing the request.
        Echo,
        /// The status with a small JSON body.
        Status(u16),
        /// Nothing before this long.
        Sleep(Duration),
        /// 200 with a body one byte over the limit.
        Huge,
    }

    /// Answers one request of the test webhook.
    async fn answer(
        request: Request<Incoming>,
        answer: Answer,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (method, path) = (
            request.method().to_string(),
            request.uri().path().to_owned(),
        );
        let (content_type, accept) = (header(CONTENT_TYPE), header(ACCEPT));
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let (status, body) = match answer {
            Answer::Echo => (
                200,
                Bytes::from(format!(
                    r#"{{"method":"{method}","path":"{path}","contentType":"{content_type}","accept":"{accept}","request":{}}}"#,
                    String::from_utf8_lossy(&body)
                )),
            ),
            Answer::Status(status) => (status, Bytes::from_static(br#"{"message":"denied"}"#)),
            Answer::Sleep(delay) => {
                tokio::time::sleep(delay).await;
                (200, Bytes::from_static(b"{}"))
            }
            Answer::Huge => (200, Bytes::from(vec![b' '; MAX_WEBHOOK_RESPONSE_BYTES + 1])),
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, "application/json".parse().unwrap());
        Ok(response)
    }

    /// Starts a test webhook on 127.0.0.1, over TLS with `tls` or else plain HTTP.
    async fn spawn_webhook(tls: Option<Arc<ServerConfig>>, what: Answer) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(request, what));
                    let served = match tls {
                        Some(config) => match TlsAcceptor::from(config).accept(tcp).await {
                            Ok(stream) => {
                                http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await
                            }
                            Err(_) => return,
                        },
                        None => {
                            http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), service)
                                .await
                        }
                    };
                    drop(served);
                });
            }
        });
        addr
    }

    /// Starts an HTTPS test webhook with `pki`'s certificate and returns its URL.
    async fn https_webhook(pki: &Pki, what: Answer) -> String {
        let addr = spawn_webhook(Some(pki.server_config().unwrap()), what).await;
        format!("https://{addr}/validate?timeout=10s")
    }

    /// A timeout no local call comes near, even on a busy machine.
    const PLENTY: Duration = Duration::from_secs(10);

    #[tokio::test]
    /// A call trusting the webhook's CA posts JSON and returns the answer.
    async fn post_json_returns_the_answer() {
        let pki = pki();
        let url = https_webhook(&pki, Answer::Echo).await;
        let response = post_json(
            &url,
            Some(pki.ca_cert_pem.as_bytes()),
            br#"{"kind":"AdmissionReview"}"#.to_vec(),
            PLENTY,
        )
        .await
        .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            String::from_utf8(response.body).unwrap(),
            r#"{"method":"POST","path":"/validate","contentType":"application/json","accept":"application/json","request":{"kind":"AdmissionReview"}}"#
        );
    }

    #[tokio::test]
    /// A bundle of several certificates is trusted as a whole.
    async fn post_json_trusts_every_certificate_of_the_bundle() {
        let pki = pki();
        let url = https_webhook(&pki, Answer::Echo).await;
        let other = Pki::generate(&[]).unwrap();
        let bundle = format!("{}{}", other.ca_cert_pem, pki.ca_cert_pem);
        let response = post_json(&url, Some(bundle.as_bytes()), b"{}".to_vec(), PLENTY)
            .await
            .unwrap();
        assert_eq!(response.status, 200);
    }

    #[tokio::test]
    /// A status other than 2xx is an answer, not an error.
    async fn post_json_returns_non_success_statuses() {
        let pki = pki();
        let url = https_webhook(&pki, Answer::Status(500)).await;
        let response = post_json(
            &url,
            Some(pki.ca_cert_pem.as_bytes()),
            b"{}".to_vec(),
            PLENTY,
        )
        .await
        .unwrap();
        assert_eq!(
            response,
            WebhookResponse {
                status: 500,
                body: br#"{"message":"denied"}"#.to_vec()
            }
        );
    }

    #[tokio::test]
    /// Plain HTTP works too, for tests.
    async fn post_json_speaks_plain_http() {
        let addr = spawn_webhook(None, Answer::Status(201)).await;
        let response = post_json(&format!("http://{addr}/"), None, b"{}".to_vec(), PLENTY)
            .await
            .unwrap();
        assert_eq!(response.status, 201);
    }

    #[tokio::test]
    /// A webhook whose certificate is not signed by the bundle is refused, saying where.
    async fn post_json_refuses_a_webhook_signed_by_another_ca() {
        let url = https_webhook(&pki(), Answer::Echo).await;
        let err = post_json(
            &url,
            Some(pki().ca_cert_pem.as_bytes()),
            b"{}".to_vec(),
            PLENTY,
        )
        .await
        .unwrap_err();
        let text = chain(&err);
        assert!(matches!(err, TlsError::Request { .. }), "{text}");
        assert!(
            text.starts_with(&format!("failed to call webhook at {url}: ")),
            "{text}"
        );
        assert!(text.contains("invalid peer certificate"), "{text}");
    }

    #[tokio::test]
    /// Without a bundle nothing is trusted.
    async fn post_json_without_bundle_trusts_nothing() {
        let url = https_webhook(&pki(), Answer::Echo).await;
        let err = post_json(&url, None, b"{}".to_vec(), PLENTY)
            .await
            .unwrap_err();
        assert!(
            chain(&err).contains("invalid peer certificate"),
            "{}",
            chain(&err)
        );
    }

    #[tokio::test]
    /// A webhook slower than the timeout fails with the timeout in the message.
    async fn post_json_times_out() {
        let pki = pki();
        let url = https_webhook(&pki, Answer::Sleep(Duration::from_secs(30))).await;
        let timeout = Duration::from_millis(200);
        let err = post_json(
            &url,
            Some(pki.ca_cert_pem.as_bytes()),
            b"{}".to_vec(),
            timeout,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to call webhook at {url}: timed out after 200ms")
        );
    }

    #[tokio::test]
    /// A closed port fails with the connection error in the source chain.
    async fn post_json_reports_refused_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/validate", listener.local_addr().unwrap());
        drop(listener);
        let err = post_json(&url, None, b"{}".to_vec(), PLENTY)
            .await
            .unwrap_err();
        let text = chain(&err);
        assert!(
            text.starts_with(&format!("failed to call webhook at {url}: ")),
            "{text}"
        );
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
    }

    #[tokio::test]
    /// A body over the limit is an error.
    async fn post_json_caps_the_body() {
        let pki = pki();
        let url = https_webhook(&pki, Answer::Huge).await;
        let err = post_json(
            &url,
            Some(pki.ca_cert_pem.as_bytes()),
            b"{}".to_vec(),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, TlsError::ResponseTooLarge { .. }),
            "{}",
            chain(&err)
        );
    }

    #[tokio::test]
    /// A malformed bundle, or one without certificates, is an error before any connection.
    async fn post_json_rejects_bad_bundles() {
        let url = "https://127.0.0.1:1/validate";
        let bad = b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        let err = post_json(url, Some(bad), b"{}".to_vec(), PLENTY)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::ParsePem { .. }), "{}", chain(&err));
        let err = post_json(url, Some(b"just text"), b"{}".to_vec(), PLENTY)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TlsError::NoCertificate { .. }),
            "{}",
            chain(&err)
        );
    }

    #[tokio::test]
    /// URLs that are not absolute http(s) URLs are errors.
    async fn post_json_rejects_bad_urls() {
        for url in ["not a url", "/validate", "ftp://127.0.0.1/x"] {
            let err = post_json(url, None, b"{}".to_vec(), PLENTY)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    TlsError::InvalidUrl { .. } | TlsError::UnsupportedUrl { .. }
                ),
                "{url}: {}",
                chain(&err)
            );
        }
    }
}
