//! [`Config`]: a `KollectDatabaseSink` of type `mongodb`, parsed and validated once, without
//! any I/O (the factory's `build` is synchronous; sinks spec §12.1).
//!
//! ```text
//!  ResolvedSinkSpec ──Config::from_spec──> Config { URI (from the Secret, D4), database,
//!   (spec, Secret, CA)                              collection, provisioning mode, cluster,
//!                                                   TLS (spec.tls over the URI's options, D12) }
//! ```
//!
//! The URI is checked with the driver's synchronous parser; a `mongodb://` URI is also turned
//! into client options here, so that every option error surfaces at construction (D29). A
//! `mongodb+srv://` URI needs DNS, so its options are completed on first use. Errors name the
//! field and never show the URI, its hosts or its credentials.

use std::fmt;

use futures::FutureExt as _;
use kollect_api::v1alpha1::{DatabaseSinkSpec, DatabaseSinkType, MongoDbSpec, ProvisioningMode};
use kollect_export::{ResolvedSinkSpec, SinkError, SinkSpec};
use mongodb::options::{
    ClientOptions, ConnectionString, HostInfo, ServerAddress, Tls as DriverTls,
};

use super::error::{Error, Redactor};
use crate::database::connection_string;

/// The Secret keys the URI is read from, first non-empty wins (sinks spec §2.5, DECISIONS D4).
pub const URI_KEYS: [&str; 4] = ["uri", "url", "connectionString", "MONGODB_URI"];

/// A validated MongoDB sink configuration. `Debug` and `Display` show no part of the URI.
#[derive(Clone)]
pub struct Config {
    uri: Uri,
    database: String,
    collection: String,
    mode: ProvisioningMode,
    cluster: Option<String>,
    tls: Tls,
}

impl Config {
    /// Parses and validates the spec of a `KollectDatabaseSink` of type `mongodb`, with its
    /// resolved Secret (`spec.mongodb.databaseRef`) and CA bundle.
    pub fn from_spec(resolved: &ResolvedSinkSpec) -> Result<Self, SinkError> {
        let spec = database_spec(resolved)?;
        let mongodb = spec.mongodb.as_ref().ok_or_else(|| {
            SinkError::misconfigured("spec.mongodb: required when spec.type is mongodb")
        })?;
        let (database, collection) = names(mongodb)?;
        let text = connection_string(resolved.secrets(), &URI_KEYS, "mongodb databaseRef")?;
        let uri = Uri::parse(&text).map_err(Error::into_sink_error)?;
        let tls = Tls::parse(spec, resolved.ca_bundle())?;
        if tls.configured() && uri.disables_tls() {
            return Err(Error::TlsDisabledByUri.into_sink_error());
        }
        let cluster = spec
            .common
            .cluster
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        Ok(Self {
            uri,
            database,
            collection,
            mode: spec.common.provisioning_mode(),
            cluster,
            tls,
        })
    }

    /// `spec.mongodb.database`, trimmed.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// `spec.mongodb.collection`, trimmed.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// `<database>.<collection>`, the collection's namespace (for messages).
    pub fn namespace(&self) -> String {
        format!("{}.{}", self.database, self.collection)
    }

    /// `spec.provisioning.mode` (`ensure` when unset): honoured (sinks spec §12.2).
    pub fn provisioning_mode(&self) -> ProvisioningMode {
        self.mode
    }

    /// `spec.cluster`, trimmed; `None` when unset or blank.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// Outbound TLS trust from `spec.tls`.
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    /// The URI's options, with SRV records resolved when the URI needs it, `spec.tls` applied
    /// and the sink's defaults filled in (see [`apply_defaults`]).
    pub(crate) async fn client_options(&self) -> Result<ClientOptions, mongodb::error::Error> {
        let mut options = match &self.uri.options {
            Some(options) => options.clone(),
            None => ClientOptions::parse(self.uri.connection.clone()).await?,
        };
        self.tls.apply(&mut options);
        apply_defaults(&mut options);
        Ok(options)
    }

    /// Removes the URI's secrets (hosts, user, password, the URI) from driver messages.
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.uri.redactor
    }
}

impl TryFrom<&ResolvedSinkSpec> for Config {
    type Error = SinkError;

    fn try_from(resolved: &ResolvedSinkSpec) -> Result<Self, Self::Error> {
        Self::from_spec(resolved)
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mongodb({}.{})", self.database, self.collection)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field("mode", &self.mode)
            .field("cluster", &self.cluster)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// How long the driver looks for a usable server before an operation fails, unless the URI
/// sets `serverSelectionTimeoutMS`: 10 s instead of the driver's 30 s, so that an unreachable
/// server fails an export attempt (30 s) and a probe (15 s) with the driver's reason
/// (`Unreachable`) rather than with the caller's bare deadline.
pub const SERVER_SELECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The sink's settings on top of the URI's: no driver-level retries (the export decorators
/// retry, STYLE §5), a bounded server selection, and `appName=kollect` unless the URI names
/// the application.
fn apply_defaults(options: &mut ClientOptions) {
    options.retry_reads = Some(false);
    options.retry_writes = Some(false);
    if options.server_selection_timeout.is_none() {
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
    }
    if options.app_name.is_none() {
        options.app_name = Some("kollect".to_owned());
    }
}

/// The `KollectDatabaseSink` spec of type `mongodb`.
fn database_spec(resolved: &ResolvedSinkSpec) -> Result<&DatabaseSinkSpec, SinkError> {
    match resolved.spec() {
        SinkSpec::Database(spec) if spec.sink_type == DatabaseSinkType::Mongodb => Ok(spec),
        SinkSpec::Database(spec) => Err(SinkError::misconfigured(format!(
            "spec.type: the mongodb backend builds mongodb sinks, not {}",
            spec.sink_type
        ))),
        other => Err(SinkError::misconfigured(format!(
            "spec.type: the mongodb backend builds database sinks, not {} sinks",
            other.family()
        ))),
    }
}

/// The trimmed database and collection names, checked as admission checks them (a spec that
/// bypassed the webhook still fails here, with the field named).
fn names(spec: &MongoDbSpec) -> Result<(String, String), SinkError> {
    let database = spec.database.trim();
    let collection = spec.collection.trim();
    if database.is_empty() {
        return Err(SinkError::misconfigured(
            "spec.mongodb.database: the MongoDB database is required",
        ));
    }
    if database.contains([
        '/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?', '\0',
    ]) {
        return Err(SinkError::misconfigured(format!(
            "spec.mongodb.database: {database:?} must not contain any of / \\ . space \" $ * < > \
             : | ? or NUL"
        )));
    }
    if collection.is_empty() {
        return Err(SinkError::misconfigured(
            "spec.mongodb.collection: the MongoDB collection is required",
        ));
    }
    if collection.contains(['$', '\0']) || collection.starts_with("system.") {
        return Err(SinkError::misconfigured(format!(
            "spec.mongodb.collection: {collection:?} must not contain '$' or NUL nor start with \
             system."
        )));
    }
    Ok((database.to_owned(), collection.to_owned()))
}

/// The connection string: parsed, with the client options when they need no DNS.
#[derive(Clone)]
struct Uri {
    connection: ConnectionString,
    /// `Some` for `mongodb://` URIs (complete at construction), `None` for `mongodb+srv://`.
    options: Option<ClientOptions>,
    redactor: Redactor,
}

impl Uri {
    fn parse(text: &str) -> Result<Self, Error> {
        if !(text.starts_with("mongodb://") || text.starts_with("mongodb+srv://")) {
            return Err(Error::UnsupportedScheme);
        }
        let connection = ConnectionString::parse(text).map_err(|_| Error::InvalidUri)?;
        let redactor = redactor_of(text, &connection);
        let options = match &connection.host_info {
            // No I/O for a host list: the driver's parse future completes on its first poll.
            HostInfo::HostIdentifiers(_) => match ClientOptions::parse(connection.clone())
                .into_future()
                .now_or_never()
            {
                Some(Ok(options)) => Some(options),
                Some(Err(_)) => return Err(Error::InvalidUri),
                None => None,
            },
            _ => None,
        };
        if unacknowledged(connection.write_concern.as_ref()) {
            return Err(Error::UnacknowledgedWrites);
        }
        Ok(Self {
            connection,
            options,
            redactor,
        })
    }

    /// Whether the URI turns TLS off explicitly (`tls=false`, `ssl=false`).
    fn disables_tls(&self) -> bool {
        matches!(self.connection.tls, Some(DriverTls::Disabled))
    }
}

/// Whether `concern` asks for unacknowledged writes (`w=0`): the sink could not tell what was
/// written, so it refuses them.
fn unacknowledged(concern: Option<&mongodb::options::WriteConcern>) -> bool {
    matches!(
        concern.and_then(|concern| concern.w.as_ref()),
        Some(mongodb::options::Acknowledgment::Nodes(0))
    )
}

/// The secrets of a URI: the text itself, its hosts (with and without port), user and password.
fn redactor_of(text: &str, connection: &ConnectionString) -> Redactor {
    let mut redactor = Redactor::default();
    redactor.add(text);
    match &connection.host_info {
        HostInfo::HostIdentifiers(hosts) => {
            for host in hosts {
                add_address(&mut redactor, host);
            }
        }
        HostInfo::DnsRecord(name) => redactor.add(name.clone()),
        _ => {}
    }
    if let Some(credential) = &connection.credential {
        if let Some(user) = &credential.username {
            redactor.add(user.clone());
        }
        if let Some(password) = &credential.password {
            redactor.add(password.clone());
        }
    }
    redactor
}

/// Adds a server address, with and without its port, to `redactor`.
pub(crate) fn add_address(redactor: &mut Redactor, address: &ServerAddress) {
    redactor.add(address.to_string());
    if let ServerAddress::Tcp { host, .. } = address {
        redactor.add(host.clone());
    }
}

/// `spec.tls` for the driver (DECISIONS D12): a CA bundle replaces the trusted roots,
/// `insecureSkipVerify` accepts any server certificate. Either turns TLS on; without them the
/// URI's TLS options (`tls=true`, `tlsCAFile`, `tlsInsecure`, …) apply unchanged.
#[derive(Clone, Default)]
pub struct Tls {
    ca_pem: Option<Vec<u8>>,
    insecure_skip_verify: bool,
}

impl Tls {
    fn parse(spec: &DatabaseSinkSpec, ca_bundle: Option<&[u8]>) -> Result<Self, SinkError> {
        let insecure_skip_verify = crate::tls::insecure_skip_verify(&spec.common);
        let ca_pem = match ca_bundle {
            None => None,
            Some(pem) => {
                crate::tls::pem_roots(pem).map_err(|error| {
                    SinkError::misconfigured(format!(
                        "spec.tls: failed to parse CA bundle PEM: {error}"
                    ))
                })?;
                Some(pem.to_vec())
            }
        };
        Ok(Self {
            ca_pem,
            insecure_skip_verify,
        })
    }

    /// Whether `spec.tls` says anything the driver must know.
    fn configured(&self) -> bool {
        self.ca_pem.is_some() || self.insecure_skip_verify
    }

    /// The PEM CA bundle trusted instead of the driver's built-in roots.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    /// Whether server certificates go unchecked (`spec.tls.insecureSkipVerify`).
    pub fn insecure_skip_verify(&self) -> bool {
        self.insecure_skip_verify
    }

    /// Turns TLS on with these settings over the URI's. The CA file path is filled in by the
    /// client when it writes the bundle ([`super::client`]).
    fn apply(&self, options: &mut ClientOptions) {
        if !self.configured() {
            return;
        }
        let mut tls = match options.tls.take() {
            Some(DriverTls::Enabled(tls)) => tls,
            _ => mongodb::options::TlsOptions::default(),
        };
        if self.insecure_skip_verify {
            tls.allow_invalid_certificates = Some(true);
        }
        options.tls = Some(DriverTls::Enabled(tls));
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("ca_bundle_bytes", &self.ca_pem.as_ref().map(Vec::len))
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kollect_api::v1alpha1::{
        CaBundle, ProvisioningSpec, SecretReference, SinkCommonSpec, TlsSpec,
    };
    use kollect_export::Secrets;
    use rstest::rstest;

    use super::*;

    fn spec(database: &str, collection: &str) -> DatabaseSinkSpec {
        DatabaseSinkSpec {
            sink_type: DatabaseSinkType::Mongodb,
            common: SinkCommonSpec::default(),
            postgres: None,
            bigquery: None,
            mongodb: Some(MongoDbSpec {
                database_ref: SecretReference {
                    name: "mongo".parse().expect("name"),
                    namespace: None,
                },
                database: database.into(),
                collection: collection.into(),
            }),
        }
    }

    fn secrets(pairs: &[(&str, &str)]) -> Secrets {
        Secrets::new(
            pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.as_bytes().to_vec()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn resolved(spec: DatabaseSinkSpec, secrets: Secrets) -> ResolvedSinkSpec {
        ResolvedSinkSpec::new(
            "team-a".parse().expect("namespace"),
            "mongo".parse().expect("name"),
            SinkSpec::Database(spec),
        )
        .with_secrets(secrets)
    }

    fn parse(spec: DatabaseSinkSpec, pairs: &[(&str, &str)]) -> Result<Config, SinkError> {
        Config::from_spec(&resolved(spec, secrets(pairs)))
    }

    fn error(spec: DatabaseSinkSpec, pairs: &[(&str, &str)]) -> SinkError {
        parse(spec, pairs).expect_err("the configuration is refused")
    }

    const URI: &str = "mongodb://alice:s3cr3t@db.internal.example:27017/?directConnection=true";

    #[test]
    fn a_valid_spec_is_parsed_and_trimmed() {
        let mut spec = spec(" kollect ", " inventory ");
        spec.common.cluster = Some(" prod-west ".into());
        let config = parse(spec, &[("uri", &format!("  {URI}\n"))]).expect("valid");
        assert_eq!(config.database(), "kollect");
        assert_eq!(config.collection(), "inventory");
        assert_eq!(config.namespace(), "kollect.inventory");
        assert_eq!(config.cluster(), Some("prod-west"));
        assert_eq!(config.provisioning_mode(), ProvisioningMode::Ensure);
        assert_eq!(config.to_string(), "mongodb(kollect.inventory)");
        let debug = format!("{config:?}");
        for secret in ["alice", "s3cr3t", "db.internal", "27017"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[rstest]
    #[case::uri("uri")]
    #[case::url("url")]
    #[case::connection_string("connectionString")]
    #[case::env_style("MONGODB_URI")]
    fn the_uri_is_read_from_each_key(#[case] key: &str) {
        parse(spec("kollect", "inventory"), &[(key, URI)]).expect("valid");
    }

    #[test]
    fn the_first_non_empty_key_wins() {
        let config = parse(
            spec("kollect", "inventory"),
            &[
                ("uri", ""),
                ("url", "mongodb://first.example/"),
                ("MONGODB_URI", "not a uri"),
            ],
        )
        .expect("url wins over MONGODB_URI");
        assert!(
            config
                .uri
                .redactor
                .scrub("first.example")
                .contains("<redacted>")
        );
    }

    #[test]
    fn blank_cluster_and_existing_mode() {
        let mut spec = spec("kollect", "inventory");
        spec.common.cluster = Some("   ".into());
        spec.common.provisioning = Some(ProvisioningSpec {
            mode: Some(ProvisioningMode::Existing),
            ..ProvisioningSpec::default()
        });
        let config = parse(spec, &[("uri", URI)]).expect("valid");
        assert_eq!(config.cluster(), None);
        assert_eq!(config.provisioning_mode(), ProvisioningMode::Existing);
    }

    #[rstest]
    #[case::empty_secret(&[], "mongodb databaseRef secret is empty")]
    #[case::other_keys(&[("password", "x")], "must contain one of the keys uri, url, connectionString, MONGODB_URI")]
    #[case::all_empty(&[("uri", ""), ("url", "")], "must contain one of the keys")]
    #[case::blank(&[("uri", "  \n ")], "mongodb databaseRef")]
    #[case::not_a_uri(&[("uri", "db.internal.example:27017")], "must start with mongodb:// or mongodb+srv://")]
    #[case::postgres_dsn(&[("uri", "postgres://alice:s3cr3t@db.internal.example/db")], "must start with mongodb://")]
    #[case::bad_port(&[("uri", "mongodb://alice:s3cr3t@db.internal.example:notaport/")], "parse mongodb URI: invalid connection string")]
    #[case::bad_option(&[("uri", "mongodb://db.internal.example/?serverSelectionTimeoutMS=soon")], "parse mongodb URI: invalid connection string")]
    #[case::unsupported_option(&[("uri", "mongodb://db.internal.example/?socketTimeoutMS=1000")], "parse mongodb URI: invalid connection string")]
    #[case::no_host(&[("uri", "mongodb://alice:s3cr3t@/")], "parse mongodb URI: invalid connection string")]
    #[case::unacknowledged(&[("uri", "mongodb://db.internal.example/?w=0")], "w=0")]
    fn bad_secrets_are_misconfigured_and_reveal_nothing(
        #[case] pairs: &[(&str, &str)],
        #[case] expected: &str,
    ) {
        let error = error(spec("kollect", "inventory"), pairs);
        assert!(
            matches!(error, SinkError::Misconfigured { .. }),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains(expected), "{text}");
        for secret in ["alice", "s3cr3t", "db.internal", "27017", "notaport"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            std::error::Error::source(&error).is_none(),
            "no driver text"
        );
    }

    #[rstest]
    #[case::blank_database(
        " ",
        "inventory",
        "spec.mongodb.database: the MongoDB database is required"
    )]
    #[case::dotted_database("a.b", "inventory", "spec.mongodb.database: \"a.b\" must not contain")]
    #[case::blank_collection(
        "kollect",
        "\t",
        "spec.mongodb.collection: the MongoDB collection is required"
    )]
    #[case::dollar_collection(
        "kollect",
        "a$b",
        "spec.mongodb.collection: \"a$b\" must not contain"
    )]
    #[case::system_collection("kollect", "system.users", "nor start with system.")]
    fn bad_names_are_misconfigured(
        #[case] database: &str,
        #[case] collection: &str,
        #[case] expected: &str,
    ) {
        let error = error(spec(database, collection), &[("uri", URI)]);
        assert!(
            matches!(error, SinkError::Misconfigured { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(expected), "{error}");
    }

    #[test]
    fn other_types_and_missing_blocks_are_refused() {
        let mut no_block = spec("kollect", "inventory");
        no_block.mongodb = None;
        assert!(
            error(no_block, &[("uri", URI)])
                .to_string()
                .contains("spec.mongodb: required")
        );
        let mut postgres = spec("kollect", "inventory");
        postgres.sink_type = DatabaseSinkType::Postgres;
        assert!(
            error(postgres, &[("uri", URI)])
                .to_string()
                .contains("builds mongodb sinks, not postgres")
        );
    }

    fn tls_spec(tls: TlsSpec) -> DatabaseSinkSpec {
        let mut spec = spec("kollect", "inventory");
        spec.common.tls = Some(tls);
        spec
    }

    fn ca_pem() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("a key");
        let params =
            rcgen::CertificateParams::new(vec!["db.internal.example".to_owned()]).expect("params");
        params
            .self_signed(&key)
            .expect("a certificate")
            .pem()
            .into_bytes()
    }

    #[tokio::test]
    async fn spec_tls_turns_tls_on_over_the_uri() {
        let resolved = resolved(
            tls_spec(TlsSpec {
                insecure_skip_verify: Some(true),
                ca_bundle: Some(CaBundle(ca_pem())),
                ca_secret_ref: None,
            }),
            secrets(&[("uri", URI)]),
        )
        .with_ca_bundle(ca_pem());
        let config = Config::from_spec(&resolved).expect("valid");
        assert!(config.tls().insecure_skip_verify());
        assert!(config.tls().ca_pem().is_some());
        let options = config.client_options().await.expect("options");
        match options.tls {
            Some(DriverTls::Enabled(tls)) => {
                assert_eq!(tls.allow_invalid_certificates, Some(true));
            }
            other => panic!("TLS is on: {other:?}"),
        }
        assert_eq!(options.retry_writes, Some(false));
        assert_eq!(options.retry_reads, Some(false));
        assert_eq!(
            options.server_selection_timeout,
            Some(SERVER_SELECTION_TIMEOUT)
        );
        assert_eq!(options.app_name.as_deref(), Some("kollect"));
    }

    #[tokio::test]
    async fn uri_tls_options_keep_working_without_spec_tls() {
        let config = parse(
            spec("kollect", "inventory"),
            &[(
                "uri",
                "mongodb://db.internal.example/?tls=true&tlsAllowInvalidCertificates=true&appName=inv&serverSelectionTimeoutMS=2500",
            )],
        )
        .expect("valid");
        let options = config.client_options().await.expect("options");
        match options.tls {
            Some(DriverTls::Enabled(tls)) => {
                assert_eq!(tls.allow_invalid_certificates, Some(true));
            }
            other => panic!("TLS is on: {other:?}"),
        }
        assert_eq!(options.app_name.as_deref(), Some("inv"));
        assert_eq!(
            options.server_selection_timeout,
            Some(std::time::Duration::from_millis(2500))
        );
        let plain = parse(spec("kollect", "inventory"), &[("uri", URI)]).expect("valid");
        assert!(plain.client_options().await.expect("options").tls.is_none());
    }

    #[test]
    fn spec_tls_and_a_uri_without_tls_conflict() {
        let error = Config::from_spec(&resolved(
            tls_spec(TlsSpec {
                insecure_skip_verify: Some(true),
                ca_bundle: None,
                ca_secret_ref: None,
            }),
            secrets(&[("uri", "mongodb://db.internal.example/?tls=false")]),
        ))
        .expect_err("a conflict");
        assert!(error.to_string().contains("disables TLS"), "{error}");
    }

    #[test]
    fn a_ca_bundle_that_is_not_pem_is_refused() {
        for pem in [b"not pem".to_vec(), Vec::new()] {
            let error = Config::from_spec(
                &resolved(spec("kollect", "inventory"), secrets(&[("uri", URI)]))
                    .with_ca_bundle(pem),
            )
            .expect_err("refused");
            assert!(
                error
                    .to_string()
                    .contains("spec.tls: failed to parse CA bundle PEM"),
                "{error}"
            );
        }
    }

    #[test]
    fn srv_uris_are_completed_on_first_use() {
        let config = parse(
            spec("kollect", "inventory"),
            &[("uri", "mongodb+srv://alice:s3cr3t@cluster0.example.net/")],
        )
        .expect("valid");
        assert!(config.uri.options.is_none(), "DNS is needed");
        assert_eq!(
            config.redactor().scrub("cluster0.example.net alice s3cr3t"),
            "<redacted> <redacted> <redacted>"
        );
    }
}
