//! [`Location`]: where a sink's objects go, from `spec.endpoint` and the sink's Secret.
//!
//! | `spec.endpoint` | `type` | Client |
//! |---|---|---|
//! | `file:///abs/dir` | `s3` or `gcs` | local filesystem, keys are paths under the directory |
//! | `s3://bucket/prefix`, `bucket/prefix` | `s3` | S3, virtual-hosted style, region `us-east-1` |
//! | `http(s)://host[:port]/bucket/prefix` | `s3` or `gcs` | S3 API at that endpoint, path-style |
//! | `gs://bucket/prefix` | `gcs` | GCS JSON/XML API with a service-account key; with HMAC keys the S3-compatible XML API at `storage.googleapis.com` |

use std::{fmt, path::PathBuf};

use kollect_api::v1alpha1::ProvisioningMode;
use kollect_export::{Secrets, SinkType};
use url::Url;

use super::error::ConfigError;

/// Region requests are signed for unless the endpoint names one (sinks spec §9.1: the Go
/// original fixes `us-east-1`, which every S3-compatible store and GCS's XML API accept).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The endpoint of GCS's S3-compatible XML API, used with HMAC keys (sinks spec §9.1, D6).
pub const GCS_INTEROP_ENDPOINT: &str = "https://storage.googleapis.com";

/// Secret keys of static S3 (or GCS HMAC) credentials, each with its fallback (sinks spec §2.5).
const ACCESS_KEY_KEYS: [&str; 2] = ["accessKeyID", "AWS_ACCESS_KEY_ID"];
const SECRET_KEY_KEYS: [&str; 2] = ["secretAccessKey", "AWS_SECRET_ACCESS_KEY"];
const SESSION_TOKEN_KEYS: [&str; 2] = ["sessionToken", "AWS_SESSION_TOKEN"];
/// Secret keys of a GCS service-account JSON key, first non-empty wins.
const SERVICE_ACCOUNT_KEYS: [&str; 2] = ["credentials.json", "service-account.json"];

/// Where objects are stored.
#[derive(Clone, Debug)]
pub enum Location {
    /// A directory of the local filesystem (`file:///abs/dir`); keys are relative paths in it.
    Local {
        /// The directory.
        root: PathBuf,
        /// Whether a missing directory is created (`provisioning.mode: ensure`, the default).
        create_missing: bool,
    },
    /// S3, an S3-compatible store, or GCS through its S3-compatible XML API (HMAC keys).
    S3 {
        /// The bucket.
        bucket: String,
        /// `None`: AWS, virtual-hosted style. `Some`: a custom endpoint, path-style.
        endpoint: Option<Url>,
        /// The signing region.
        region: String,
        /// Static keys from the Secret; `None`: the default credential chain.
        credentials: Option<S3Credentials>,
    },
    /// GCS through its JSON API (`gs://`, DECISIONS D6).
    Gcs {
        /// The bucket.
        bucket: String,
        /// Service-account key from the Secret; `None`: application default credentials.
        service_account: Option<ServiceAccountKey>,
    },
}

/// Static S3 credentials (or GCS HMAC keys). `Debug` shows the key id only.
#[derive(Clone)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A GCS service-account JSON key. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct ServiceAccountKey(pub(crate) String);

impl ServiceAccountKey {
    /// The JSON text.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// `gcs_base_url` of the key: `object_store`'s way of pointing GCS at an emulator.
    pub(crate) fn base_url(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(&self.0).ok()?;
        value.get("gcs_base_url")?.as_str().map(str::to_owned)
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceAccountKey(..)")
    }
}

/// `spec.endpoint`, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `file:///abs/dir`.
    File(PathBuf),
    /// `s3://bucket/prefix` or a bare `bucket/prefix`.
    S3 { bucket: String, prefix: String },
    /// `gs://bucket/prefix`.
    Gs { bucket: String, prefix: String },
    /// `http(s)://host[:port]/bucket/prefix`: path-style.
    Url {
        base: Url,
        bucket: String,
        prefix: String,
    },
}

impl Endpoint {
    const FIELD: &'static str = "spec.endpoint";

    pub(crate) fn parse(sink_type: SinkType, endpoint: Option<&str>) -> Result<Self, ConfigError> {
        let text = endpoint.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Err(ConfigError::new(
                Self::FIELD,
                format!(
                    "required for type {sink_type} (s3://bucket/prefix, gs://bucket/prefix, \
                     https://host/bucket/prefix or file:///directory)"
                ),
            ));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            let (bucket, prefix) = bucket_and_prefix(text)?;
            return Ok(Self::S3 { bucket, prefix });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Self::parse_file(rest),
            "s3" => bucket_and_prefix(rest).map(|(bucket, prefix)| Self::S3 { bucket, prefix }),
            "gs" => bucket_and_prefix(rest).map(|(bucket, prefix)| Self::Gs { bucket, prefix }),
            "http" | "https" => Self::parse_url(text),
            other => Err(ConfigError::new(
                Self::FIELD,
                format!(
                    "unsupported scheme {other:?} (use s3://, gs://, http://, https:// or file://)"
                ),
            )),
        }
    }

    fn parse_file(rest: &str) -> Result<Self, ConfigError> {
        let path = PathBuf::from(rest);
        if !rest.starts_with('/') || !path.is_absolute() {
            return Err(ConfigError::new(
                Self::FIELD,
                "a file:// endpoint needs an absolute path (file:///var/lib/kollect/exports)",
            ));
        }
        if rest.split('/').any(|segment| segment == "..") {
            return Err(ConfigError::new(
                Self::FIELD,
                "the directory must not contain \"..\"",
            ));
        }
        Ok(Self::File(path))
    }

    fn parse_url(text: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(text)
            .map_err(|error| ConfigError::new(Self::FIELD, format!("not a valid URL: {error}")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::new(Self::FIELD, "the URL has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(
                Self::FIELD,
                "credentials in the URL are not allowed; put them in the Secret of spec.secretRef",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                Self::FIELD,
                "the URL must not have a query or fragment",
            ));
        }
        let (bucket, prefix) = bucket_and_prefix(url.path().trim_start_matches('/'))?;
        let mut base = url;
        base.set_path("");
        Ok(Self::Url {
            base,
            bucket,
            prefix,
        })
    }

    /// The location and prefix, with credentials from the Secret.
    pub(crate) fn into_location(
        self,
        sink_type: SinkType,
        secrets: &Secrets,
        provisioning: ProvisioningMode,
    ) -> Result<(Location, String), ConfigError> {
        match (self, sink_type) {
            (Self::File(root), _) => Ok((local_location(root, provisioning)?, String::new())),
            (Self::S3 { bucket, prefix }, SinkType::S3) => Ok((
                Location::S3 {
                    bucket,
                    endpoint: None,
                    region: DEFAULT_REGION.to_owned(),
                    credentials: s3_credentials(secrets)?,
                },
                prefix,
            )),
            (Self::Gs { bucket, prefix }, SinkType::Gcs) => {
                Ok((gcs_location(bucket, secrets)?, prefix))
            }
            (
                Self::Url {
                    base,
                    bucket,
                    prefix,
                },
                _,
            ) => {
                let region = region_of(&base).unwrap_or_else(|| DEFAULT_REGION.to_owned());
                Ok((
                    Location::S3 {
                        bucket,
                        endpoint: Some(base),
                        region,
                        credentials: s3_credentials(secrets)?,
                    },
                    prefix,
                ))
            }
            (Self::S3 { .. }, _) => Err(ConfigError::new(
                Self::FIELD,
                "s3:// and bare bucket endpoints need type s3; for GCS use gs://bucket/prefix",
            )),
            (Self::Gs { .. }, _) => Err(ConfigError::new(
                Self::FIELD,
                "gs:// endpoints need type gcs",
            )),
        }
    }
}

/// `bucket[/prefix]`: the first segment is the bucket; the rest, cleaned, the prefix.
fn bucket_and_prefix(text: &str) -> Result<(String, String), ConfigError> {
    let text = text.trim_start_matches('/');
    let (bucket, rest) = text.split_once('/').unwrap_or((text, ""));
    if bucket.is_empty() {
        return Err(ConfigError::new(
            Endpoint::FIELD,
            "the endpoint must include a bucket",
        ));
    }
    if !is_bucket_name(bucket) {
        return Err(ConfigError::new(
            Endpoint::FIELD,
            format!(
                "{bucket:?} is not a valid bucket name (3-222 characters: lowercase letters, \
                 digits, '.', '-' and '_')"
            ),
        ));
    }
    let prefix = clean_key(rest).map_err(|message| ConfigError::new(Endpoint::FIELD, message))?;
    Ok((bucket.to_owned(), prefix))
}

/// S3 allows 3–63 characters of `[a-z0-9.-]`; GCS adds `_` and up to 222 with dots.
fn is_bucket_name(bucket: &str) -> bool {
    (3..=222).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_'))
}

/// Joins the non-empty segments of `key` with `/`, dropping `.` segments (sinks spec §9.2
/// "cleaned of `.` and duplicate separators"); `..` is refused.
pub(crate) fn clean_key(key: &str) -> Result<String, String> {
    let mut segments = Vec::new();
    for segment in key.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(format!("{key:?} must not contain \"..\"")),
            segment => segments.push(segment),
        }
    }
    Ok(segments.join("/"))
}

/// The region of an AWS endpoint URL (`s3.eu-west-1.amazonaws.com`,
/// `s3-eu-west-1.amazonaws.com`, `s3.dualstack.eu-west-1.amazonaws.com`).
fn region_of(base: &Url) -> Option<String> {
    let host = base.host_str()?;
    let rest = host.strip_suffix(".amazonaws.com")?;
    let labels: Vec<&str> = rest.split('.').collect();
    let region = match labels.as_slice() {
        ["s3", region] | ["s3", "dualstack", region] => *region,
        [single] => single.strip_prefix("s3-")?,
        _ => return None,
    };
    (!region.is_empty()).then(|| region.to_owned())
}

fn local_location(root: PathBuf, provisioning: ProvisioningMode) -> Result<Location, ConfigError> {
    if provisioning == ProvisioningMode::Existing && !root.is_dir() {
        return Err(ConfigError::new(
            Endpoint::FIELD,
            format!(
                "directory {} does not exist (provisioning.mode: existing never creates it)",
                root.display()
            ),
        ));
    }
    Ok(Location::Local {
        root,
        create_missing: provisioning == ProvisioningMode::Ensure,
    })
}

fn secret_text(secrets: &Secrets, keys: &[&str]) -> Result<Option<String>, ConfigError> {
    match secrets.first_non_empty(keys) {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes.to_vec())
            .map(|text| Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
            .map_err(|_| {
                ConfigError::new(
                    "spec.secretRef",
                    format!("the Secret's {} is not UTF-8", keys.join("/")),
                )
            }),
    }
}

/// Static keys when the Secret holds them (sinks spec §2.5); `None` selects the default chain.
fn s3_credentials(secrets: &Secrets) -> Result<Option<S3Credentials>, ConfigError> {
    let access = secret_text(secrets, &ACCESS_KEY_KEYS)?;
    let secret = secret_text(secrets, &SECRET_KEY_KEYS)?;
    let token = secret_text(secrets, &SESSION_TOKEN_KEYS)?;
    match (access, secret) {
        (None, None) => Ok(None),
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(S3Credentials {
            access_key_id,
            secret_access_key,
            session_token: token,
        })),
        (Some(_), None) => Err(ConfigError::new(
            "spec.secretRef",
            "the Secret has accessKeyID but no secretAccessKey",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "spec.secretRef",
            "the Secret has secretAccessKey but no accessKeyID",
        )),
    }
}

/// `gs://`: a service-account key selects the JSON API; HMAC keys the XML API
/// (S3-compatible); neither, the JSON API with application default credentials (D6).
fn gcs_location(bucket: String, secrets: &Secrets) -> Result<Location, ConfigError> {
    if let Some(json) = secret_text(secrets, &SERVICE_ACCOUNT_KEYS)? {
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json).is_err() {
            return Err(ConfigError::new(
                "spec.secretRef",
                "the Secret's credentials.json is not a JSON object (a service-account key)",
            ));
        }
        return Ok(Location::Gcs {
            bucket,
            service_account: Some(ServiceAccountKey(json)),
        });
    }
    if let Some(credentials) = s3_credentials(secrets)? {
        let endpoint = Url::parse(GCS_INTEROP_ENDPOINT).map_err(|error| {
            ConfigError::new(Endpoint::FIELD, format!("GCS interop endpoint: {error}"))
        })?;
        return Ok(Location::S3 {
            bucket,
            endpoint: Some(endpoint),
            region: DEFAULT_REGION.to_owned(),
            credentials: Some(credentials),
        });
    }
    Ok(Location::Gcs {
        bucket,
        service_account: None,
    })
}
