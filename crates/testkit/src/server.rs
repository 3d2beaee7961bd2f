//! The HTTP front: connections, authentication, fault injection, the request log and routing.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::{net::TcpListener, sync::watch};
use tokio_rustls::TlsAcceptor;

use crate::{
    Options,
    auth::{self, UserInfo},
    body::Body,
    control::{FailRule, Fault, Faults, RequestLog, RequestRecord},
    discovery, objects,
    resources::ResourceType,
    status::{ApiError, ApiResult, MAX_BODY_BYTES},
    store::State,
};

/// Locks a mutex, ignoring poisoning: every critical section leaves the data consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Objects.
    pub(crate) state: Mutex<State>,
    /// Server options.
    pub(crate) options: Options,
    /// Faults in force.
    pub(crate) faults: Mutex<Faults>,
    /// Bumped to end every open watch.
    pub(crate) close_watches: watch::Sender<u64>,
    /// Whether watch delivery is paused.
    pub(crate) paused: watch::Sender<bool>,
    /// Requests seen.
    pub(crate) log: Mutex<RequestLog>,
    /// Cached RBAC objects, keyed by the store's RBAC generation.
    pub(crate) rbac: Mutex<Option<(u64, Arc<auth::RbacObjects>)>>,
    /// `host:port` clients reach the server at.
    pub(crate) address: Mutex<String>,
}

impl Shared {
    /// New shared state.
    pub(crate) fn new(options: Options) -> Self {
        Self {
            state: Mutex::new(State::new(options.history_limit)),
            options,
            faults: Mutex::new(Faults::default()),
            close_watches: watch::channel(0).0,
            paused: watch::channel(false).0,
            log: Mutex::new(RequestLog::default()),
            rbac: Mutex::new(None),
            address: Mutex::new(String::new()),
        }
    }

    /// Applies a fault.
    pub(crate) fn inject(&self, fault: Fault) {
        match fault {
            Fault::CloseWatches => {
                self.close_watches.send_modify(|n| *n += 1);
            }
            Fault::ExpireWatches { count } => lock(&self.faults).expire_watches += count,
            Fault::FailRequests {
                status,
                count,
                verb,
                path_prefix,
                retry_after_seconds,
            } => lock(&self.faults).fail.push(FailRule {
                status,
                remaining: count,
                verb,
                path_prefix,
                retry_after: retry_after_seconds,
            }),
            Fault::Latency {
                millis,
                path_prefix,
            } => lock(&self.faults)
                .latency
                .push((Duration::from_millis(millis), path_prefix)),
            Fault::PauseWatches => {
                self.paused.send_replace(true);
            }
            Fault::ResumeWatches => {
                self.paused.send_replace(false);
            }
            Fault::FailList {
                group,
                resource,
                count,
            } => {
                lock(&self.faults).fail_list.push((group, resource, count));
            }
        }
    }

    /// Clears every fault and resumes watch delivery.
    pub(crate) fn clear_faults(&self) {
        *lock(&self.faults) = Faults::default();
        self.paused.send_replace(false);
    }
}

/// A request, read whole (bodies are at most 3 MiB).
#[derive(Debug)]
pub(crate) struct Req {
    /// HTTP method.
    pub(crate) method: Method,
    /// Path, percent-decoded segments joined by `/`.
    pub(crate) path: String,
    /// Decoded query parameters.
    pub(crate) query: Vec<(String, String)>,
    /// `Accept`.
    pub(crate) accept: String,
    /// `Content-Type`.
    pub(crate) content_type: String,
    /// `User-Agent`.
    pub(crate) user_agent: String,
    /// Who is asking.
    pub(crate) user: UserInfo,
    /// Body.
    pub(crate) body: Bytes,
}

impl Req {
    /// A query parameter.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter (`true`/`1`).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1" | "True"))
    }

    /// Whether the client asked for `PartialObjectMetadata` (or its List form).
    pub(crate) fn wants_metadata(&self) -> bool {
        // The first acceptable media type wins, as the apiserver negotiates.
        self.accept
            .split(',')
            .next()
            .is_some_and(|first| first.contains("as=PartialObjectMetadata"))
    }

    /// The field manager of a write: the `fieldManager` parameter, else the user agent's
    /// program name, as the apiserver derives it.
    pub(crate) fn manager(&self) -> String {
        if let Some(manager) = self.param("fieldManager") {
            return manager.to_owned();
        }
        let agent = self.user_agent.split('/').next().unwrap_or("").trim();
        if agent.is_empty() {
            "unknown".to_owned()
        } else {
            agent.to_owned()
        }
    }
}

/// A JSON response.
pub(crate) fn json_response(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON value response.
pub(crate) fn value_response(code: u16, value: &Value) -> Response<Body> {
    json_response(code, serde_json::to_vec(value).unwrap_or_default())
}

/// The response of a failure.
pub(crate) fn error_response(error: &ApiError) -> Response<Body> {
    let mut response = value_response(error.code, &error.to_status());
    if let Some(seconds) = error.retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Serves connections on `listener` until the process ends or `shutdown` fires.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors and the like: back off a little rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(shared, request, peer).await) }
            });
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(TokioIo::new(stream), service, &mut shutdown).await;
                    }
                }
                None => serve_connection(TokioIo::new(stream), service, &mut shutdown).await,
            }
        });
    }
}

/// Serves HTTP/1.1 on one connection until it closes or the server shuts down.
async fn serve_connection<I, S>(io: I, service: S, shutdown: &mut watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body> + Send,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::select! {
        _ = connection => {}
        _ = shutdown.changed() => {}
    }
}

/// What a path names.
#[derive(Debug)]
pub(crate) enum Route {
    /// A non-resource path (discovery, health, version, admin).
    NonResource,
    /// A resource request.
    Resource(Target),
}

/// A resource request's object.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// The resource.
    pub(crate) rt: Arc<ResourceType>,
    /// Namespace from the path.
    pub(crate) namespace: Option<String>,
    /// Object name from the path.
    pub(crate) name: Option<String>,
    /// Subresource (`status`).
    pub(crate) subresource: Option<String>,
    /// Legacy `/watch/` path prefix.
    pub(crate) watch_path: bool,
}

impl Target {
    /// The Kubernetes verb of a request on this target.
    pub(crate) fn verb(&self, method: &Method, watch: bool) -> &'static str {
        match *method {
            Method::GET | Method::HEAD if self.watch_path || watch => "watch",
            Method::GET | Method::HEAD if self.name.is_some() => "get",
            Method::GET | Method::HEAD => "list",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if self.name.is_some() => "delete",
            Method::DELETE => "deletecollection",
            _ => "unknown",
        }
    }
}

/// Parses a resource path; `Err` for paths under `/api` or `/apis` that name nothing served.
fn route(shared: &Shared, segments: &[&str]) -> ApiResult<Route> {
    let (group, version, rest) = match segments {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return Ok(Route::NonResource),
    };
    let (watch_path, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let state = lock(&shared.state);
    let registry = &state.registry;
    if !registry.has_group_version(group, version) {
        return Err(ApiError::no_such_resource());
    }
    let lookup = |resource: &str| registry.get(group, version, resource);
    let (rt, namespace, name, sub) = match rest {
        ["namespaces", ns, resource, tail @ ..]
            if lookup(resource).is_some_and(|r| r.namespaced) =>
        {
            let rt = lookup(resource).ok_or_else(ApiError::no_such_resource)?;
            (
                rt,
                Some((*ns).to_owned()),
                tail.first().copied(),
                tail.get(1).copied(),
            )
        }
        [resource, tail @ ..] => {
            let rt = lookup(resource).ok_or_else(ApiError::no_such_resource)?;
            (rt, None, tail.first().copied(), tail.get(1).copied())
        }
        [] => return Err(ApiError::no_such_resource()),
    };
    let depth = rest.len() - usize::from(namespace.is_some()) * 2;
    if depth > 3 {
        return Err(ApiError::no_such_resource());
    }
    if let Some(sub) = sub
        && !(sub == "status" && rt.status)
    {
        return Err(ApiError::no_such_resource());
    }
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::no_such_resource());
    }
    Ok(Route::Resource(Target {
        rt,
        namespace,
        name: name.map(str::to_owned),
        subresource: sub.map(str::to_owned),
        watch_path,
    }))
}

async fn handle(
    shared: Arc<Shared>,
    request: http::Request<Incoming>,
    _peer: SocketAddr,
) -> Response<Body> {
    let (parts, incoming) = request.into_parts();
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let raw_path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let query: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut record = RequestRecord {
        seq: 0,
        method: parts.method.to_string(),
        verb: parts.method.as_str().to_ascii_lowercase(),
        path: raw_path.clone(),
        query: raw_query,
        accept: header(header::ACCEPT),
        content_type: header(header::CONTENT_TYPE),
        ..RequestRecord::default()
    };

    // The admin endpoints are for the test that owns the server: no authentication.
    if raw_path.starts_with("/testkit/") {
        let body = match read_body(incoming).await {
            Ok(body) => body,
            Err(error) => return error_response(&error),
        };
        return admin(&shared, &parts.method, &raw_path, &body);
    }

    let user = match auth::authenticate(&shared, &parts.headers) {
        Ok(user) => user,
        Err(error) => {
            record.status = error.code;
            lock(&shared.log).push(record);
            return error_response(&error);
        }
    };
    record.user.clone_from(&user.username);
    let segments: Vec<String> = raw_path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let route = route(&shared, &segments);
    let watch = query
        .iter()
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
    if let Ok(Route::Resource(target)) = &route {
        record.verb = target.verb(&parts.method, watch).to_owned();
        record.group.clone_from(&target.rt.group);
        record.resource.clone_from(&target.rt.resource);
        record.namespace = target.namespace.clone().unwrap_or_default();
    }

    let response = async {
        let delay = lock(&shared.faults).latency(&raw_path);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let failure = lock(&shared.faults).take_failure(&record.verb, &raw_path);
        if let Some((status, retry_after)) = failure {
            return Err(match status {
                429 => ApiError::too_many_requests(retry_after),
                500 => ApiError::internal("injected failure"),
                code => ApiError::new(code, "ServiceUnavailable", "injected failure"),
            });
        }
        let body = read_body(incoming).await?;
        let req = Req {
            method: parts.method.clone(),
            path: raw_path.clone(),
            query,
            accept: record.accept.clone(),
            content_type: record.content_type.clone(),
            user_agent: header(header::USER_AGENT),
            user,
            body,
        };
        match route? {
            Route::Resource(target) => {
                auth::authorize_resource(&shared, &req, &target, &record.verb)?;
                objects::handle(&shared, &req, &target, &record.verb).await
            }
            Route::NonResource => {
                auth::authorize_path(&shared, &req)?;
                discovery::handle(&shared, &req, &segments)
            }
        }
    }
    .await;
    let response = response.unwrap_or_else(|error| error_response(&error));
    record.status = response.status().as_u16();
    lock(&shared.log).push(record);
    response
}

async fn read_body(incoming: Incoming) -> ApiResult<Bytes> {
    match Limited::new(incoming, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large()),
        Err(error) => Err(ApiError::bad_request(format!(
            "failed to read the request body: {error}"
        ))),
    }
}

fn percent_decode(segment: &str) -> String {
    if !segment.contains('%') {
        return segment.to_owned();
    }
    // form_urlencoded decodes `+` as space, which a path must keep: protect it first.
    let protected = segment.replace('+', "%2B");
    form_urlencoded::parse(format!("x={protected}").as_bytes())
        .next()
        .map_or_else(|| segment.to_owned(), |(_, v)| v.into_owned())
}

fn admin(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Response<Body> {
    match (method, path) {
        (&Method::GET, "/testkit/requests") => {
            let records: Vec<RequestRecord> = lock(&shared.log).records.iter().cloned().collect();
            json_response(200, serde_json::to_vec(&records).unwrap_or_default())
        }
        (&Method::DELETE, "/testkit/requests") => {
            lock(&shared.log).records.clear();
            json_response(200, "{}")
        }
        (&Method::POST, "/testkit/faults") => match serde_json::from_slice::<Fault>(body) {
            Ok(fault) => {
                shared.inject(fault);
                json_response(200, "{}")
            }
            Err(error) => error_response(&ApiError::bad_request(format!(
                "not a fault: {error}; see docs/testkit.md for the fault types"
            ))),
        },
        (&Method::DELETE, "/testkit/faults") => {
            shared.clear_faults();
            json_response(200, "{}")
        }
        _ => error_response(&ApiError::new(
            404,
            "NotFound",
            format!("no admin endpoint {method} {path}"),
        )),
    }
}
