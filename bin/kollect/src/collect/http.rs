//! The read API of `kollect collect --watch --http ADDR` (operations spec §2.7, pipeline spec
//! §5.11): the rows in memory as JSON, paginated, on loopback only — the CLI has no
//! authentication, so it never listens where others can reach it.
//!
//! * `GET /v1alpha1/inventory` (alias `/inventory`): every row, filtered by `namespace` (object or
//!   target namespace), `inventory` (a target: in the CLI each target is exported as its own
//!   inventory), `target`, `group`, `version`, `kind` and `name`; `limit` (default 500, at most
//!   5000) and `offset`.
//! * `GET /v1alpha1/inventory/{namespace}/{name}`: the rows of one target.
//! * `GET /v1alpha1/inventory/watch` (alias `/inventory/watch`): Server-Sent Events, event
//!   `inventory`, the summary at connect and after every change.
//!
//! Items are in canonical order, so pages are stable; `checksum` is the page's fingerprint.

use std::{collections::HashMap, convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::{Method, Request, Response, StatusCode, body::Frame, service::service_fn};
use hyper_util::rt::TokioIo;
use kollect_aggregate::{SCHEMA_VERSION, Snapshot, TargetRow};
use kollect_collect::Store;
use serde_json::{Value, json, value::RawValue};
use tokio::net::TcpListener;

/// Rows per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 500;
/// The largest page (operations spec §2.7).
const MAX_LIMIT: usize = 5000;
/// Changes closer together than this produce one SSE event.
const COALESCE: Duration = Duration::from_millis(100);

type Body = BoxBody<Bytes, Infallible>;

/// Checks the address: loopback only.
pub(crate) fn loopback(address: &str) -> Result<SocketAddr, String> {
    let parsed: SocketAddr = address
        .parse()
        .map_err(|e| format!("--http {address:?}: {e}; give an address such as 127.0.0.1:8082"))?;
    if !parsed.ip().is_loopback() {
        return Err(format!(
            "--http {address}: the read API of `kollect collect` listens on loopback only (127.0.0.1 or [::1]): it has no authentication"
        ));
    }
    Ok(parsed)
}

/// Serves the read API until the task is dropped.
pub(crate) async fn serve(address: SocketAddr, store: Arc<Store>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let store = Arc::clone(&store);
                    async move { Ok::<_, Infallible>(route(&request, store)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

fn route(request: &Request<hyper::body::Incoming>, store: Arc<Store>) -> Response<Body> {
    if request.method() != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
    }
    let path = request.uri().path().trim_end_matches('/');
    let query = Query::parse(request.uri().query().unwrap_or_default());
    let query = match query {
        Ok(query) => query,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1alpha1", "inventory"] | ["inventory"] => json_response(&summary(&store, &query)),
        ["v1alpha1", "inventory", "watch"] | ["inventory", "watch"] => watch(store, query),
        ["v1alpha1", "inventory", namespace, name] => {
            let query = Query {
                target_namespace: Some((*namespace).to_owned()),
                target: Some((*name).to_owned()),
                ..query
            };
            let page = summary(&store, &query);
            // The store knows targets by their rows (the CLI has namespaced targets only).
            let key = kollect_collect::TargetKey::namespaced(namespace, name);
            if page["pagination"]["total"] == 0 && store.target_rows(&key).is_empty() {
                return error(
                    StatusCode::NOT_FOUND,
                    &format!("no target {namespace}/{name} is collected"),
                );
            }
            json_response(&page)
        }
        ["v1alpha1", "status", ..] => error(
            StatusCode::NOT_FOUND,
            "status endpoints need the operator: `kollect collect` has no custom resources",
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "unknown path; see /v1alpha1/inventory",
        ),
    }
}

/// The query parameters of §2.7.
#[derive(Debug, Default, Clone)]
struct Query {
    namespace: Option<String>,
    target_namespace: Option<String>,
    target: Option<String>,
    group: Option<String>,
    version: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    limit: usize,
    offset: usize,
}

impl Query {
    fn parse(query: &str) -> Result<Self, String> {
        let pairs: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let number = |key: &str, default: usize| -> Result<usize, String> {
            pairs.get(key).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| format!("{key}={v:?}: must be a non-negative integer"))
            })
        };
        let limit = match number("limit", DEFAULT_LIMIT)? {
            0 => DEFAULT_LIMIT,
            limit => limit.min(MAX_LIMIT),
        };
        let text = |key: &str| pairs.get(key).filter(|v| !v.is_empty()).cloned();
        Ok(Self {
            namespace: text("namespace"),
            target_namespace: text("inventory").and(text("namespace")),
            target: text("target").or_else(|| text("inventory")),
            group: text("group"),
            version: text("version"),
            kind: text("kind"),
            name: text("name"),
            limit,
            offset: number("offset", 0)?,
        })
    }

    fn selects(&self, row: &TargetRow) -> bool {
        let equal = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let namespace_ok = self
            .namespace
            .as_deref()
            .is_none_or(|ns| *row.row.namespace == *ns || *row.target_namespace == *ns);
        namespace_ok
            && equal(&self.target_namespace, &row.target_namespace)
            && equal(&self.target, &row.target_name)
            && equal(&self.group, &row.kind.group)
            && equal(&self.version, &row.kind.version)
            && equal(&self.kind, &row.kind.kind)
            && equal(&self.name, &row.row.name)
    }
}

fn all_rows(store: &Store) -> Vec<TargetRow> {
    store
        .namespaces()
        .iter()
        .flat_map(|namespace| store.snapshot(namespace))
        .collect()
}

fn summary(store: &Store, query: &Query) -> Value {
    let selected: Vec<TargetRow> = all_rows(store)
        .into_iter()
        .filter(|row| query.selects(row))
        .collect();
    let snapshot = Snapshot::new(selected);
    let total = snapshot.len();
    let page: Vec<TargetRow> = snapshot
        .items()
        .iter()
        .skip(query.offset)
        .take(query.limit)
        .cloned()
        .collect();
    let page = Snapshot::new(page);
    // The items exactly as exported (canonical JSON, no re-encoding).
    let items: Option<Box<RawValue>> = RawValue::from_string(page.items_json()).ok();
    let mut body = json!({
        "schemaVersion": SCHEMA_VERSION,
        "itemCount": page.len(),
        "items": items,
        "updatedAt": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "pagination": {
            "limit": query.limit,
            "offset": query.offset,
            "total": total,
            "hasMore": query.offset + page.len() < total,
        },
        "checksum": page.fingerprint(),
    });
    if let Some(namespace) = query.target_namespace.as_ref().or(query.namespace.as_ref()) {
        body["namespace"] = json!(namespace);
    }
    if let Some(target) = &query.target {
        body["inventory"] = json!(target);
    }
    body
}

fn watch(store: Arc<Store>, query: Query) -> Response<Body> {
    let mut changes = store.subscribe();
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        loop {
            let event = format!("event: inventory\ndata: {}\n\n", summary(&store, &query));
            if sender
                .send(Ok(Frame::data(Bytes::from(event))))
                .await
                .is_err()
            {
                return; // the client went away
            }
            match changes.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
            tokio::time::sleep(COALESCE).await;
            while changes.try_recv().is_ok() {}
        }
    });
    let stream = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let mut response = Response::new(StreamBody::new(stream).boxed());
    set_type(&mut response, "text/event-stream");
    response
}

fn json_response(value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    set_type(&mut response, "application/json");
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = json_response(&json!({"error": message, "code": status.as_u16()}));
    *response.status_mut() = status;
    response
}

fn set_type(response: &mut Response<Body>, content_type: &'static str) {
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_served() {
        assert!(loopback("127.0.0.1:8082").is_ok());
        assert!(loopback("[::1]:8082").is_ok());
        let error = loopback("0.0.0.0:8082").unwrap_err();
        assert!(error.contains("loopback only"), "{error}");
        assert!(
            loopback("localhost")
                .unwrap_err()
                .contains("127.0.0.1:8082")
        );
    }

    #[test]
    fn limits_are_defaulted_capped_and_checked() {
        assert_eq!(Query::parse("").map(|q| q.limit), Ok(DEFAULT_LIMIT));
        assert_eq!(Query::parse("limit=0").map(|q| q.limit), Ok(DEFAULT_LIMIT));
        assert_eq!(Query::parse("limit=99999").map(|q| q.limit), Ok(MAX_LIMIT));
        assert!(
            Query::parse("limit=-1")
                .unwrap_err()
                .contains("limit=\"-1\"")
        );
        assert!(Query::parse("offset=x").is_err());
        let query = Query::parse("inventory=apps&namespace=team-a&kind=Pod").unwrap_or_default();
        assert_eq!(query.target.as_deref(), Some("apps"));
        assert_eq!(query.target_namespace.as_deref(), Some("team-a"));
    }
}
