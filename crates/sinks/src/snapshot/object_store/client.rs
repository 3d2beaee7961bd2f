//! The `object_store` client of a [`Config`], and the object I/O the sink does with it.
//!
//! ```text
//!  Config ──connect──> Arc<dyn ObjectStore>   LocalFileSystem | AmazonS3 | GoogleCloudStorage
//!                                             (HTTP: reqwest + rustls with ring, no retries)
//! ```
//!
//! * **Crypto.** The workspace uses `ring` everywhere. `object_store`'s `aws`/`gcp` features
//!   would bring `aws-lc-rs`, so the sink uses `aws-base`/`gcp-base` with `ring`, and hands
//!   reqwest a rustls `ClientConfig` built on ring's provider: no process-wide provider is
//!   installed or needed (ADR 0010).
//! * **No retries.** `object_store` retries by default (up to 10 times over 3 minutes); the sink
//!   turns that off, because sinks classify and the export decorators retry (STYLE §5).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::StreamExt as _;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientConfigKey, ClientOptions, ObjectStore,
    ObjectStoreExt as _, RetryConfig,
    aws::AmazonS3Builder,
    client::{HttpClient, HttpConnector},
    gcp::GoogleCloudStorageBuilder,
    local::LocalFileSystem,
    path::Path,
};
use rustls::client::danger::ServerCertVerifier;

use super::{
    config::{Config, Tls},
    error::Error,
    location::Location,
};

/// TCP and TLS connection setup; a healthy endpoint answers well within it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One HTTP request, an 8 MiB part included, on a slow link.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What the sink tells servers it is.
const USER_AGENT: &str = concat!("kollect/", env!("CARGO_PKG_VERSION"));

/// The environment variables of the AWS and Google default credential chains, captured by the
/// binary (only the binary reads the environment, STYLE §4) and used when a sink's Secret holds
/// no credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AmbientCredentials {
    variables: BTreeMap<String, String>,
}

impl AmbientCredentials {
    /// The AWS variables of the default chain: static keys, web identity (IRSA), container
    /// credentials (ECS, EKS Pod Identity), instance metadata settings.
    pub const AWS_VARIABLES: [&'static str; 12] = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_ENDPOINT_URL_STS",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_METADATA_ENDPOINT",
        "AWS_IMDSV1_FALLBACK",
    ];

    /// The Google variable of application default credentials (a key file path).
    pub const GOOGLE_VARIABLE: &'static str = "GOOGLE_APPLICATION_CREDENTIALS";

    /// The credential variables of the process environment (for the binary to call).
    pub fn from_env() -> Self {
        Self::from_pairs(std::env::vars())
    }

    /// The credential variables among `pairs`; others are ignored.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let variables = pairs
            .into_iter()
            .filter(|(key, value)| {
                !value.is_empty()
                    && (Self::AWS_VARIABLES.contains(&key.as_str()) || key == Self::GOOGLE_VARIABLE)
            })
            .collect();
        Self { variables }
    }

    fn aws(&self) -> impl Iterator<Item = (&str, &str)> {
        self.variables
            .iter()
            .filter(|(key, _)| key.starts_with("AWS_"))
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    fn google_application_credentials(&self) -> Option<&str> {
        self.variables
            .get(Self::GOOGLE_VARIABLE)
            .map(String::as_str)
    }
}

impl std::fmt::Debug for AmbientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.variables.keys()).finish()
    }
}

/// Builds the store of `config`. Creates a missing local directory unless the sink says
/// `provisioning.mode: existing`; buckets are never created.
pub fn connect(
    config: &Config,
    ambient: &AmbientCredentials,
) -> Result<Arc<dyn ObjectStore>, kollect_export::SinkError> {
    connect_store(config, ambient).map_err(Error::into_sink_error)
}

fn connect_store(
    config: &Config,
    ambient: &AmbientCredentials,
) -> Result<Arc<dyn ObjectStore>, Error> {
    let build_error = |kind: &'static str| {
        let destination = config.destination();
        move |source| Error::BuildClient {
            kind,
            destination,
            source,
        }
    };
    match config.location() {
        Location::Local {
            root,
            create_missing,
        } => {
            if *create_missing {
                std::fs::create_dir_all(root).map_err(|source| Error::CreateDirectory {
                    path: root.display().to_string(),
                    source,
                })?;
            }
            let store = LocalFileSystem::new_with_prefix(root)
                .map_err(build_error("local filesystem"))?
                .with_automatic_cleanup(true);
            Ok(Arc::new(store))
        }
        Location::S3 {
            bucket,
            endpoint,
            region,
            credentials,
        } => {
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(region)
                .with_retry(no_retries())
                .with_http_connector(RingConnector::new(config.tls())?);
            builder = match endpoint {
                None => builder.with_virtual_hosted_style_request(true),
                Some(url) => builder
                    .with_endpoint(url.as_str().trim_end_matches('/'))
                    .with_virtual_hosted_style_request(false)
                    .with_allow_http(url.scheme() == "http"),
            };
            match credentials {
                Some(keys) => {
                    builder = builder
                        .with_access_key_id(&keys.access_key_id)
                        .with_secret_access_key(&keys.secret_access_key);
                    if let Some(token) = &keys.session_token {
                        builder = builder.with_token(token);
                    }
                }
                None => {
                    for (key, value) in ambient.aws() {
                        if let Ok(key) = key.to_ascii_lowercase().parse() {
                            builder = builder.with_config(key, value);
                        }
                    }
                }
            }
            let store = builder
                .build()
                .map_err(build_error(config.sink_type().as_str()))?;
            Ok(Arc::new(store))
        }
        Location::Gcs {
            bucket,
            service_account,
        } => {
            let mut builder = GoogleCloudStorageBuilder::new()
                .with_bucket_name(bucket)
                .with_retry(no_retries())
                .with_http_connector(RingConnector::new(config.tls())?);
            match service_account {
                Some(key) => {
                    // An emulator's `gcs_base_url` may be plain HTTP (tests); GCS itself is not.
                    let http = key.base_url().is_some_and(|url| url.starts_with("http://"));
                    builder = builder
                        .with_service_account_key(key.json())
                        .with_client_options(ClientOptions::new().with_allow_http(http));
                }
                None => {
                    if let Some(path) = ambient.google_application_credentials() {
                        builder = builder.with_application_credentials(path);
                    }
                }
            }
            let store = builder.build().map_err(build_error("gcs"))?;
            Ok(Arc::new(store))
        }
    }
}

/// Sinks never retry (STYLE §5); the export decorators do.
fn no_retries() -> RetryConfig {
    RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    }
}

/// Builds reqwest clients whose TLS runs on ring, with the sink's CA bundle (or no verification
/// when `spec.tls.insecureSkipVerify` says so), whatever rustls provider the process has.
#[derive(Debug)]
struct RingConnector {
    tls: rustls::ClientConfig,
}

impl RingConnector {
    fn new(tls: &Tls) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_error = |source: rustls::Error| Error::Tls { source };
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?;
        let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify() {
            Arc::new(crate::tls::SignaturesOnly(provider))
        } else {
            Arc::new(
                rustls_platform_verifier::Verifier::new_with_extra_roots(
                    tls.extra_roots().iter().cloned(),
                    provider,
                )
                .map_err(tls_error)?,
            )
        };
        let mut config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { tls: config })
    }
}

impl HttpConnector for RingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let allow_http = options
            .get_config_value(&ClientConfigKey::AllowHttp)
            .is_some_and(|value| value.eq_ignore_ascii_case("true"));
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(self.tls.clone())
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .http1_only()
            // reqwest would read `HTTPS_PROXY` and friends; the sink reads no environment.
            .no_proxy()
            .https_only(!allow_http)
            .build()
            .map_err(|source| object_store::Error::Generic {
                store: "http",
                source: Box::new(source),
            })?;
        Ok(HttpClient::new(client))
    }
}

/// An object key, checked by `object_store`'s path rules.
pub(crate) fn object_path(key: &str) -> Result<Path, Error> {
    Path::parse(key).map_err(|source| Error::InvalidKey {
        key: key.to_owned(),
        source,
    })
}

/// The object at `key`, or `None` when there is none.
pub(crate) async fn get_optional(
    store: &dyn ObjectStore,
    key: &Path,
) -> Result<Option<Bytes>, Error> {
    let get_error = |source| Error::GetObject {
        key: key.to_string(),
        source,
    };
    match store.get(key).await {
        Ok(result) => result.bytes().await.map(Some).map_err(get_error),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(get_error(source)),
    }
}

/// The size of the object at `key`, or `None` when there is none.
pub(crate) async fn size_of(store: &dyn ObjectStore, key: &Path) -> Result<Option<u64>, Error> {
    match store.head(key).await {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(Error::HeadObject {
            key: key.to_string(),
            source,
        }),
    }
}

/// Deletes the object at `key`; one that is already gone is fine.
pub(crate) async fn delete(store: &dyn ObjectStore, key: &Path) -> Result<(), Error> {
    match store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(Error::DeleteObject {
            key: key.to_string(),
            source,
        }),
    }
}

/// Lists the first page under `prefix` (`None`: the bucket root): proves the bucket exists and
/// the credentials may read it, and writes nothing.
pub(crate) async fn list_first(
    store: &dyn ObjectStore,
    prefix: Option<&Path>,
) -> Result<(), Error> {
    match store.list(prefix).next().await {
        None | Some(Ok(_)) => Ok(()),
        Some(Err(source)) => Err(Error::ListObjects {
            prefix: prefix.map(ToString::to_string).unwrap_or_default(),
            source,
        }),
    }
}

/// The `Content-Type` of an upload, for stores that keep it (the local filesystem does not).
pub(crate) fn content_type(store_keeps_attributes: bool, content_type: &'static str) -> Attributes {
    let mut attributes = Attributes::new();
    if store_keeps_attributes {
        attributes.insert(Attribute::ContentType, AttributeValue::from(content_type));
    }
    attributes
}
