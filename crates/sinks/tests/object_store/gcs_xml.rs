//! An adapter that gives fake-gcs-server the part of GCS's XML API that `object_store`'s GCS
//! client speaks, by translating each call to fake-gcs-server's JSON API:
//!
//! | XML API call (`object_store`) | JSON API call (fake-gcs-server) |
//! |---|---|
//! | `GET /b?list-type=2&prefix&delimiter&continuation-token` | `GET /storage/v1/b/b/o?prefix&delimiter&pageToken` |
//! | `GET`/`HEAD /b/o` | `GET /storage/v1/b/b/o/o` (metadata) and `?alt=media` (bytes) |
//! | `PUT /b/o` | `POST /upload/storage/v1/b/b/o?uploadType=media&name=o` |
//! | `POST /b/o?uploads`, `PUT /b/o?partNumber&uploadId`, `POST /b/o?uploadId` | parts kept here, then one media upload of their concatenation |
//! | `DELETE /b/o?uploadId` | parts dropped |
//! | `DELETE /b/o` | `DELETE /storage/v1/b/b/o/o` |
//!
//! fake-gcs-server answers the JSON API only (its XML `PUT` fails with "invalid uploadType"),
//! so without this adapter `object_store` cannot write to it. Everything the sink's GCS client
//! does goes through the adapter; storage semantics are fake-gcs-server's.

use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    fmt::Write as _,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;

use super::servers::http;

/// A running adapter in front of fake-gcs-server; stopped on drop.
pub struct GcsXmlAdapter {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl GcsXmlAdapter {
    /// Serves on a free port of 127.0.0.1, forwarding to fake-gcs-server on `upstream`.
    pub async fn start(upstream: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the GCS adapter");
        let port = listener.local_addr().expect("an address").port();
        let state = Arc::new(State {
            upstream,
            uploads: Mutex::default(),
            next_upload: AtomicU64::new(1),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&state), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { port, task }
    }

    /// `http://127.0.0.1:<port>`: the `gcs_base_url` of the sink's service-account key.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for GcsXmlAdapter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    upstream: u16,
    uploads: Mutex<HashMap<String, Upload>>,
    next_upload: AtomicU64,
}

#[derive(Default)]
struct Upload {
    content_type: String,
    parts: BTreeMap<usize, Bytes>,
}

/// One XML API request, taken apart.
struct Call {
    method: String,
    bucket: String,
    object: Option<String>,
    query: HashMap<String, String>,
    content_type: String,
    body: Bytes,
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let path = parts.uri.path().trim_start_matches('/');
    let (bucket, object) = match path.split_once('/') {
        Some((bucket, object)) => (decode(bucket), Some(decode(object))),
        None => (decode(path), None),
    };
    let call = Call {
        method: parts.method.as_str().to_owned(),
        bucket,
        object,
        query: form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
        content_type: parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned(),
        body,
    };
    let response = tokio::task::spawn_blocking(move || dispatch(&state, &call))
        .await
        .unwrap_or_else(|error| reply(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()));
    Ok(response)
}

fn dispatch(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let has = |key: &str| call.query.contains_key(key);
    match (call.method.as_str(), call.object.as_deref()) {
        ("GET", None) if has("list-type") => list(state, call),
        ("GET", Some(object)) => get(state, &call.bucket, object, false),
        ("HEAD", Some(object)) => get(state, &call.bucket, object, true),
        ("PUT", Some(_)) if has("uploadId") => put_part(state, call),
        ("PUT", Some(object)) => {
            put_object(state, &call.bucket, object, &call.content_type, &call.body)
        }
        ("POST", Some(object)) if has("uploads") => initiate(state, call, object),
        ("POST", Some(object)) if has("uploadId") => complete(state, call, object),
        ("DELETE", Some(_)) if has("uploadId") => {
            lock(state).remove(&call.query["uploadId"]);
            reply(StatusCode::NO_CONTENT, "")
        }
        ("DELETE", Some(object)) => delete(state, &call.bucket, object),
        _ => reply(StatusCode::NOT_IMPLEMENTED, "not in the adapter"),
    }
}

fn lock(state: &State) -> std::sync::MutexGuard<'_, HashMap<String, Upload>> {
    state.uploads.lock().expect("the adapter's upload table")
}

fn list(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let mut query = String::new();
    for (xml, json) in [
        ("prefix", "prefix"),
        ("delimiter", "delimiter"),
        ("continuation-token", "pageToken"),
        ("max-keys", "maxResults"),
        ("start-after", "startOffset"),
    ] {
        if let Some(value) = call.query.get(xml) {
            let _ = write!(query, "&{json}={}", encode(value));
        }
    }
    let path = format!(
        "/storage/v1/b/{}/o?projection=noAcl{query}",
        encode(&call.bucket)
    );
    let (status, body) = upstream(state, "GET", &path, &[], b"");
    if status == 404 {
        return xml_error(StatusCode::NOT_FOUND, "NoSuchBucket");
    }
    if status != 200 {
        return reply(status_code(status), body);
    }
    let listing: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>{}</Name>",
        escape(&call.bucket)
    );
    for item in listing["items"].as_array().into_iter().flatten() {
        let _ = write!(
            xml,
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>\"{}\"</ETag><Size>{}</Size></Contents>",
            escape(item["name"].as_str().unwrap_or_default()),
            item["updated"].as_str().unwrap_or_default(),
            escape(item["etag"].as_str().unwrap_or_default()),
            item["size"].as_str().unwrap_or("0"),
        );
    }
    for prefix in listing["prefixes"].as_array().into_iter().flatten() {
        let _ = write!(
            xml,
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            escape(prefix.as_str().unwrap_or_default())
        );
    }
    if let Some(token) = listing["nextPageToken"].as_str() {
        let _ = write!(
            xml,
            "<NextContinuationToken>{}</NextContinuationToken>",
            escape(token)
        );
    }
    xml.push_str("</ListBucketResult>");
    reply(StatusCode::OK, xml)
}

fn object_path(bucket: &str, object: &str) -> String {
    format!("/storage/v1/b/{}/o/{}", encode(bucket), encode(object))
}

fn get(state: &State, bucket: &str, object: &str, head: bool) -> Response<Full<Bytes>> {
    let (status, body) = upstream(state, "GET", &object_path(bucket, object), &[], b"");
    if status == 404 {
        return xml_error(StatusCode::NOT_FOUND, "NoSuchKey");
    }
    if status != 200 {
        return reply(status_code(status), body);
    }
    let meta: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let bytes = if head {
        Bytes::new()
    } else {
        let path = format!("{}?alt=media", object_path(bucket, object));
        let (status, body) = upstream(state, "GET", &path, &[], b"");
        if status != 200 {
            return reply(status_code(status), body);
        }
        Bytes::from(body)
    };
    let updated = meta["updated"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc().format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default();
    Response::builder()
        .status(StatusCode::OK)
        .header(
            "ETag",
            format!("\"{}\"", meta["etag"].as_str().unwrap_or_default()),
        )
        .header("Last-Modified", updated)
        .header("Content-Length", meta["size"].as_str().unwrap_or("0"))
        .header(
            "Content-Type",
            meta["contentType"]
                .as_str()
                .unwrap_or("application/octet-stream"),
        )
        .header(
            "x-goog-generation",
            meta["generation"].as_str().unwrap_or("1"),
        )
        .body(Full::new(bytes))
        .expect("a valid response")
}

fn put_object(
    state: &State,
    bucket: &str,
    object: &str,
    content_type: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let path = format!(
        "/upload/storage/v1/b/{}/o?uploadType=media&name={}",
        encode(bucket),
        encode(object)
    );
    let (status, reply_body) = upstream(
        state,
        "POST",
        &path,
        &[("Content-Type", content_type)],
        body,
    );
    if status != 200 {
        return reply(status_code(status), reply_body);
    }
    let meta: serde_json::Value = serde_json::from_slice(&reply_body).unwrap_or_default();
    Response::builder()
        .status(StatusCode::OK)
        .header(
            "ETag",
            format!("\"{}\"", meta["etag"].as_str().unwrap_or_default()),
        )
        .header(
            "x-goog-generation",
            meta["generation"].as_str().unwrap_or("1"),
        )
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

fn initiate(state: &State, call: &Call, object: &str) -> Response<Full<Bytes>> {
    let id = format!(
        "upload-{}",
        state.next_upload.fetch_add(1, Ordering::Relaxed)
    );
    lock(state).insert(
        id.clone(),
        Upload {
            content_type: call.content_type.clone(),
            parts: BTreeMap::new(),
        },
    );
    reply(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
            escape(&call.bucket),
            escape(object)
        ),
    )
}

fn put_part(state: &State, call: &Call) -> Response<Full<Bytes>> {
    let number: usize = call
        .query
        .get("partNumber")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut uploads = lock(state);
    let Some(upload) = uploads.get_mut(&call.query["uploadId"]) else {
        return xml_error(StatusCode::NOT_FOUND, "NoSuchUpload");
    };
    upload.parts.insert(number, call.body.clone());
    Response::builder()
        .status(StatusCode::OK)
        .header("ETag", format!("\"part-{number}\""))
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

fn complete(state: &State, call: &Call, object: &str) -> Response<Full<Bytes>> {
    let Some(upload) = lock(state).remove(&call.query["uploadId"]) else {
        return xml_error(StatusCode::NOT_FOUND, "NoSuchUpload");
    };
    let listed = String::from_utf8_lossy(&call.body);
    let mut data = Vec::new();
    for number in listed.split("<PartNumber>").skip(1) {
        let number: usize = number
            .split('<')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        match upload.parts.get(&number) {
            Some(part) => data.extend_from_slice(part),
            None => return xml_error(StatusCode::BAD_REQUEST, "InvalidPart"),
        }
    }
    let stored = put_object(state, &call.bucket, object, &upload.content_type, &data);
    if stored.status() != StatusCode::OK {
        return stored;
    }
    let etag = stored
        .headers()
        .get("ETag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let generation = stored
        .headers()
        .get("x-goog-generation")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("1")
        .to_owned();
    Response::builder()
        .status(StatusCode::OK)
        .header("x-goog-generation", generation)
        .body(Full::new(Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUploadResult><ETag>{}</ETag></CompleteMultipartUploadResult>",
            escape(&etag)
        ))))
        .expect("a valid response")
}

fn delete(state: &State, bucket: &str, object: &str) -> Response<Full<Bytes>> {
    match upstream(state, "DELETE", &object_path(bucket, object), &[], b"") {
        (200 | 204, _) => reply(StatusCode::NO_CONTENT, ""),
        (404, _) => xml_error(StatusCode::NOT_FOUND, "NoSuchKey"),
        (status, body) => reply(status_code(status), body),
    }
}

fn upstream(
    state: &State,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    http(state.upstream, method, path, headers, body)
        .unwrap_or_else(|error| (502, error.to_string().into_bytes()))
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()))
        .expect("a valid response")
}

fn xml_error(status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code></Error>"),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Percent-decodes a path segment (`object_store` encodes every non-alphanumeric byte).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(byte) = text
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
