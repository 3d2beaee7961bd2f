//! Just enough of the Kubernetes protobuf encoding to read a `SelfSubjectAccessReview`, which
//! `kubectl auth can-i` always sends as protobuf. Every other protobuf request body is refused
//! with 415, as a real apiserver refuses protobuf for custom resources (docs/testkit.md).

use serde_json::{Map, Value, json};

/// The magic prefix of a Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\x00";

/// One field of a message: number and payload (length-delimited payloads only; numbers and
/// fixed-width values are skipped, none of the fields read here has one).
fn fields(mut bytes: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let (number, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = bytes.get(8..).ok_or("truncated 64-bit field")?,
            5 => bytes = bytes.get(4..).ok_or("truncated 32-bit field")?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).map_err(|_| "field too long")?;
                let payload = bytes.get(..len).ok_or("truncated length-delimited field")?;
                out.push((number, payload));
                bytes = &bytes[len..];
            }
            other => return Err(format!("unsupported protobuf wire type {other}")),
        }
    }
    Ok(out)
}

fn varint(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or("truncated varint")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn strings(message: &[u8], names: &[(u64, &str)]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (number, payload) in fields(message)? {
        if let Some((_, name)) = names.iter().find(|(n, _)| *n == number) {
            let text =
                std::str::from_utf8(payload).map_err(|_| format!("field {name} is not UTF-8"))?;
            out.insert((*name).to_owned(), json!(text));
        }
    }
    Ok(out)
}

/// Decodes a protobuf `SelfSubjectAccessReview` into its JSON form.
pub(crate) fn decode_self_subject_access_review(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf magic")?;
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (number, payload) in fields(envelope)? {
        match number {
            1 => {
                let type_meta = strings(payload, &[(1, "apiVersion"), (2, "kind")])?;
                type_meta
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .clone_into(&mut kind);
            }
            2 => raw = payload,
            _ => {}
        }
    }
    if kind != "SelfSubjectAccessReview" {
        return Err(format!(
            "protobuf bodies are only read for SelfSubjectAccessReview, not {kind:?}"
        ));
    }
    let mut spec = Map::new();
    for (number, payload) in fields(raw)? {
        if number != 2 {
            continue;
        }
        for (field, attributes) in fields(payload)? {
            match field {
                1 => {
                    let names = [
                        (1, "namespace"),
                        (2, "verb"),
                        (3, "group"),
                        (4, "version"),
                        (5, "resource"),
                        (6, "subresource"),
                        (7, "name"),
                    ];
                    spec.insert(
                        "resourceAttributes".into(),
                        Value::Object(strings(attributes, &names)?),
                    );
                }
                2 => {
                    spec.insert(
                        "nonResourceAttributes".into(),
                        Value::Object(strings(attributes, &[(1, "path"), (2, "verb")])?),
                    );
                }
                _ => {}
            }
        }
    }
    Ok(
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {}, "spec": spec}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(payload.len()).unwrap()];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_what_kubectl_auth_can_i_sends() {
        let attributes = [
            field(1, b"default"),
            field(2, b"list"),
            field(5, b"secrets"),
        ]
        .concat();
        let spec = field(1, &attributes);
        let review = [field(1, b""), field(2, &spec)].concat();
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &review)].concat();
        let decoded = decode_self_subject_access_review(&body).unwrap();
        assert_eq!(
            decoded["spec"]["resourceAttributes"],
            json!({"namespace": "default", "verb": "list", "resource": "secrets"})
        );
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta)].concat();
        assert!(
            decode_self_subject_access_review(&body)
                .unwrap_err()
                .contains("ConfigMap")
        );
        assert!(decode_self_subject_access_review(b"{}").is_err());
        assert!(decode_self_subject_access_review(b"k8s\x00\x0a\xff").is_err());
        assert!(
            decode_self_subject_access_review(
                b"k8s\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
            )
            .is_err()
        );
    }
}
