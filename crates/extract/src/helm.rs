//! `helm:release.<field>` paths: fields of a Helm 3 release stored in a Secret or `ConfigMap`
//! (`data.release`: base64, optionally base64 again, optionally gzip, then JSON).

use std::io::Read as _;

use base64::Engine as _;
use serde_json::Value;

use crate::node::{JsonNode, NodeKind, Scalar};

/// Largest decompressed release accepted. Helm releases live in one Secret (at most 1 MiB), and
/// gzip rarely exceeds 20:1 on them; anything larger is a decompression bomb.
pub const MAX_RELEASE_BYTES: u64 = 32 * 1024 * 1024;

/// gzip magic number and the deflate method byte.
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Why a release could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HelmError(String);

/// Decodes the release held by a Helm Secret or `ConfigMap`.
pub fn decode_release(object: &Value) -> Result<Value, HelmError> {
    decode_data(object.get("data"))
}

/// Decodes the release from the object's `data` member.
pub(crate) fn decode_data<'a, N: JsonNode<'a>>(data: Option<N>) -> Result<Value, HelmError> {
    let error = |message: String| HelmError(message);
    let data = match data.map(|d| (d.kind(), d)) {
        None | Some((NodeKind::Null, _)) => return Err(error("secret has no data".to_owned())),
        Some((NodeKind::Object, data)) => data,
        Some(_) => return Err(error("read secret data: data is not a map".to_owned())),
    };
    let release = data.member("release").map(|r| (r.kind(), r.scalar()));
    let encoded = match release {
        None => return Err(error("secret data.release not found".to_owned())),
        Some((NodeKind::String, Scalar::Str(text))) => text,
        Some((kind, _)) => {
            return Err(error(format!(
                "secret data.release has unsupported type {kind:?}"
            )));
        }
    };
    let engine = &base64::engine::general_purpose::STANDARD;
    let outer = engine
        .decode(encoded.trim())
        .map_err(|e| error(format!("base64 decode data.release: {e}")))?;
    // Helm base64-encodes the release itself; legacy releases are not encoded twice.
    let bytes = engine.decode(&outer).unwrap_or(outer);
    let json = if bytes.starts_with(&GZIP_MAGIC) {
        gunzip(&bytes)?
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|e| error(format!("json decode release: {e}")))
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, HelmError> {
    let mut decoder = flate2::read::GzDecoder::new(bytes).take(MAX_RELEASE_BYTES + 1);
    let mut out = Vec::new();
    decoder.read_to_end(&mut out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidInput || e.to_string().contains("header") {
            HelmError(format!("gzip decode release: {e}"))
        } else {
            HelmError(format!("read gzip release: {e}"))
        }
    })?;
    if out.len() as u64 > MAX_RELEASE_BYTES {
        return Err(HelmError(format!(
            "read gzip release: the release expands beyond {MAX_RELEASE_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// Walks a dotted path through maps: a missing member is `None`, a non-map on the way an error.
pub fn field(release: &Value, path: &str) -> Result<Option<Value>, HelmError> {
    let mut current = release;
    let mut walked = String::new();
    for segment in path.split('.') {
        match current {
            Value::Object(map) => match map.get(segment) {
                Some(next) => current = next,
                None => return Ok(None),
            },
            Value::Null => return Ok(None),
            other => {
                return Err(HelmError(format!(
                    "accessor error: {walked} is {} and has no field {segment:?}",
                    json_type(other)
                )));
            }
        }
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(segment);
    }
    Ok((!current.is_null()).then(|| current.clone()))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use serde_json::json;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).expect("write");
        encoder.finish().expect("finish")
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn release_json() -> Value {
        json!({
            "name": "my-app",
            "namespace": "apps",
            "version": 2,
            "info": {"status": "deployed", "last_deployed": "2024-01-15T10:30:00Z"},
            "chart": {"metadata": {"name": "nginx", "version": "14.3.0", "appVersion": "2.1.0"}, "templates": [{"name": "x"}]},
            "config": {"replicaCount": 2},
            "manifest": "---\\nkind: Secret",
        })
    }

    /// A Secret as Helm 3 writes it: base64(base64(gzip(json))) in data.release.
    pub(crate) fn helm_secret(release: &Value) -> Value {
        let inner = b64(&gzip(release.to_string().as_bytes()));
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sh.helm.release.v1.my-app.v2", "namespace": "apps", "uid": "u1"}, "type": "helm.sh/release.v1", "data": {"release": b64(inner.as_bytes())}})
    }

    #[test]
    fn helm01_decodes_a_double_base64_gzip_release() {
        let release = decode_release(&helm_secret(&release_json())).expect("decodes");
        assert_eq!(release["name"], "my-app");
        assert_eq!(
            field(&release, "chart.metadata.version"),
            Ok(Some(json!("14.3.0")))
        );
    }

    #[test]
    fn helm06_broken_secrets_are_errors_never_crashes() {
        let cases = [
            (json!({}), "secret has no data"),
            (json!({"data": "x"}), "read secret data"),
            (json!({"data": {}}), "secret data.release not found"),
            (
                json!({"data": {"release": "%%%"}}),
                "base64 decode data.release",
            ),
            (json!({"data": {"release": 42}}), "unsupported type"),
        ];
        for (object, needle) in cases {
            let error = decode_release(&object).expect_err("fails");
            assert!(error.to_string().contains(needle), "{error}");
        }
    }

    #[test]
    fn helm07_legacy_single_base64_plain_json() {
        let object = json!({"data": {"release": b64(br#"{"name":"legacy-app","version":7}"#)}});
        let release = decode_release(&object).expect("decodes");
        assert_eq!(field(&release, "version"), Ok(Some(json!(7))));
    }

    #[test]
    fn helm08_corrupt_payloads() {
        let mut bad_header = gzip(b"{}");
        bad_header[3] = 0xff;
        bad_header[4..10].fill(0xff);
        let truncated = {
            let full = gzip(release_json().to_string().as_bytes());
            full[..full.len() / 2].to_vec()
        };
        let cases: [(Vec<u8>, &str); 4] = [
            (truncated, "gzip"),
            (gzip(b"not json"), "json decode release"),
            (b"plain garbage".to_vec(), "json decode release"),
            ([0x1f, 0x8b, 0x08, 0x00].to_vec(), "gzip"),
        ];
        for (payload, needle) in cases {
            let object = json!({"data": {"release": b64(b64(&payload).as_bytes())}});
            let error = decode_release(&object).expect_err("fails");
            assert!(error.to_string().contains(needle), "{needle}: {error}");
        }
    }

    #[test]
    fn gzip_bombs_are_refused() {
        let bomb = gzip(&vec![
            b' ';
            usize::try_from(MAX_RELEASE_BYTES).expect("fits") + 10
        ]);
        let object = json!({"data": {"release": b64(b64(&bomb).as_bytes())}});
        let error = decode_release(&object).expect_err("too large");
        assert!(error.to_string().contains("expands beyond"), "{error}");
    }

    #[test]
    fn helm09_and_helm10_field_walking() {
        let release = release_json();
        let error = field(&release, "name.sub").expect_err("through a string");
        assert!(error.to_string().contains("accessor error"), "{error}");
        assert_eq!(field(&release, "doesNotExist"), Ok(None));
        assert_eq!(field(&release, "config.replicaCount"), Ok(Some(json!(2))));
    }
}
