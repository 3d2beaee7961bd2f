//! Resource requests: get, list, create, update, patch, delete, deletecollection (watch lives in
//! `watch.rs`). Writes follow the apiserver's optimistic pattern: compute the new object from a
//! read outside the lock (admission webhooks may be called meanwhile), then commit only if the
//! object has not changed since, else start again.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::{Method, Response};
use serde_json::{Map, Value, json};

use crate::{
    admission, auth,
    body::Body,
    patch::{self, PatchError},
    resources::{Behaviour, ResourceType, crd_resource_types},
    selector::{FieldSelector, LabelSelector},
    server::{Req, Shared, Target, error_response, json_response, lock, value_response},
    status::{
        ApiError, ApiResult, CUSTOM_PATCH_MEDIA_TYPES, OBJECT_MEDIA_TYPES, PATCH_MEDIA_TYPES,
    },
    store::{Key, POD_FIELDS, Page, Stored},
    watch,
};

/// How often a write is retried when the object changed between read and commit.
const MAX_WRITE_ATTEMPTS: usize = 64;

/// Dispatches a resource request.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    req: &Req,
    target: &Target,
    verb: &str,
) -> ApiResult<Response<Body>> {
    if target.rt.behaviour == Behaviour::Review {
        return if verb == "create" {
            auth::review(shared, req, &target.rt).map(|v| value_response(201, &v))
        } else {
            Err(ApiError::method_not_allowed())
        };
    }
    if let Some(dry_run) = req.param("dryRun")
        && dry_run != "All"
    {
        return Err(ApiError::bad_request(format!(
            "dryRun: Unsupported value: {dry_run:?}: supported values: \"All\""
        )));
    }
    match verb {
        "get" => get(shared, req, target),
        "list" => list(shared, req, target),
        "watch" => watch::watch(shared, req, target),
        "create" => create(shared, req, target).await,
        "update" => update(shared, req, target).await,
        "patch" => patch(shared, req, target).await,
        "delete" => delete(shared, req, target).await,
        "deletecollection" => delete_collection(shared, req, target).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// RFC 3339 time, seconds precision, as object timestamps are written.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn key_of(target: &Target, name: &str) -> Key {
    (
        target.namespace.clone().unwrap_or_default(),
        name.to_owned(),
    )
}

/// The object's JSON as this resource version serves it.
pub(crate) fn render(rt: &ResourceType, stored: &Stored, metadata_only: bool) -> Bytes {
    if metadata_only {
        return stored.metadata_json();
    }
    // Objects are serialized with sorted keys, so `apiVersion` comes first.
    let expected = format!("{{\"apiVersion\":\"{}\",", rt.api_version());
    if stored.json.starts_with(expected.as_bytes()) {
        return stored.json.clone();
    }
    let mut value = stored.value();
    value["apiVersion"] = json!(rt.api_version());
    Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

fn respond_object(code: u16, rt: &ResourceType, stored: &Stored, req: &Req) -> Response<Body> {
    json_response(code, render(rt, stored, req.wants_metadata()))
}

fn get(shared: &Shared, req: &Req, target: &Target) -> ApiResult<Response<Body>> {
    let name = target.name.as_deref().unwrap_or("");
    let stored = lock(&shared.state)
        .get(&target.rt.group_resource(), &key_of(target, name))
        .ok_or_else(|| ApiError::not_found(&target.rt, name))?;
    Ok(respond_object(200, &target.rt, &stored, req))
}

/// Namespace, label and field filters of a list or watch.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    /// Reads `labelSelector` and `fieldSelector`, refusing fields the kind cannot select on.
    pub(crate) fn from_request(req: &Req, target: &Target) -> ApiResult<Self> {
        let labels = LabelSelector::parse(req.param("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        for requirement in fields.requirements() {
            let field = requirement.field.as_str();
            let allowed = matches!(field, "metadata.name" | "metadata.namespace")
                || (target.rt.kind == "Pod"
                    && target.rt.group.is_empty()
                    && POD_FIELDS.contains(&field));
            if !allowed {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
        }
        Ok(Self {
            namespace: target.namespace.clone(),
            labels,
            fields,
        })
    }

    /// Whether selectors beyond the namespace are set.
    pub(crate) fn has_selectors(&self) -> bool {
        !self.labels.is_empty() || !self.fields.is_empty()
    }

    /// Whether an object passes.
    pub(crate) fn matches(&self, key: &Key, stored: &Stored) -> bool {
        if let Some(ns) = &self.namespace
            && &key.0 != ns
        {
            return false;
        }
        self.labels.matches(stored.labels.as_ref())
            && self.fields.matches(|field| stored.field(key, field))
    }
}

/// Parses a resourceVersion parameter.
pub(crate) fn parse_rv(text: &str) -> ApiResult<u64> {
    text.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "resourceVersion: Invalid value: {text:?}: must be a non-negative integer"
        ))
    })
}

fn encode_continue(rv: u64, key: &Key) -> String {
    use base64::Engine as _;
    let token =
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}\u{0}{}", key.0, key.1)});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, Key)> {
    use base64::Engine as _;
    let invalid = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let rv = value
        .get("rv")
        .and_then(Value::as_u64)
        .ok_or_else(invalid)?;
    let start = value
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let (ns, name) = start.split_once('\u{0}').ok_or_else(invalid)?;
    Ok((rv, (ns.to_owned(), name.to_owned())))
}

/// Which state a list reads.
enum ListFrom<'a> {
    /// The current state, after checking the server has reached `at_least`.
    Current { at_least: Option<u64> },
    /// The state at an exact resourceVersion.
    Exact(u64),
    /// The rest of a paginated list.
    Continue(&'a str),
}

/// Validates the list parameters the way the apiserver does.
fn list_from(req: &Req) -> ApiResult<ListFrom<'_>> {
    let rv_param = req.param("resourceVersion").unwrap_or("");
    let rv_match = req.param("resourceVersionMatch").unwrap_or("");
    let continue_token = req.param("continue").filter(|c| !c.is_empty());
    let problem = if continue_token.is_some() && !rv_param.is_empty() {
        Some("specifying resource version is not allowed when using continue".to_owned())
    } else if !rv_match.is_empty() && rv_param.is_empty() {
        Some("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided".to_owned())
    } else if !matches!(rv_match, "" | "Exact" | "NotOlderThan") {
        Some(format!(
            "resourceVersionMatch: Unsupported value: {rv_match:?}: supported values: \"Exact\", \"NotOlderThan\""
        ))
    } else if rv_match == "Exact" && rv_param == "0" {
        Some("resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(ApiError::bad_request(problem));
    }
    Ok(match (continue_token, rv_match) {
        (Some(token), _) => ListFrom::Continue(token),
        (None, "Exact") => ListFrom::Exact(parse_rv(rv_param)?),
        (None, _) if rv_param.is_empty() => ListFrom::Current { at_least: None },
        (None, _) => ListFrom::Current {
            at_least: Some(parse_rv(rv_param)?),
        },
    })
}

/// The list's resourceVersion and the page of objects it returns.
fn list_page(
    shared: &Shared,
    rt: &ResourceType,
    from: &ListFrom<'_>,
    filter: &Filter,
    limit: Option<usize>,
) -> ApiResult<(u64, Page)> {
    let accept = |key: &Key, stored: &Stored| filter.matches(key, stored);
    let namespace = filter.namespace.as_deref();
    let mut state = lock(&shared.state);
    let current = state.rv;
    let collection = state.collection(&rt.group_resource());
    match from {
        ListFrom::Continue(token) => {
            let (rv, start) = decode_continue(token)?;
            let page = collection
                .page(Some(rv), Some(&start), namespace, &accept, limit)
                .ok_or_else(ApiError::continue_expired)?;
            Ok((rv, page))
        }
        ListFrom::Exact(rv) if *rv > current => Err(ApiError::too_large_rv(*rv, current)),
        ListFrom::Exact(rv) => {
            let page = collection
                .page(Some(*rv), None, namespace, &accept, limit)
                .ok_or_else(|| ApiError::too_old(*rv, collection.compacted()))?;
            Ok((*rv, page))
        }
        ListFrom::Current { at_least: Some(rv) } if *rv > current => {
            Err(ApiError::too_large_rv(*rv, current))
        }
        ListFrom::Current { .. } => {
            let page = collection
                .page(None, None, namespace, &accept, limit)
                .unwrap_or_default();
            Ok((current, page))
        }
    }
}

fn list(shared: &Shared, req: &Req, target: &Target) -> ApiResult<Response<Body>> {
    let rt = &target.rt;
    let filter = Filter::from_request(req, target)?;
    if lock(&shared.faults).take_list_failure(&rt.group, &rt.resource) {
        return Err(ApiError::internal(format!(
            "injected failure listing {}",
            rt.qualified()
        )));
    }
    let limit = match req.param("limit") {
        None | Some("" | "0") => None,
        Some(text) => Some(
            text.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("limit: Invalid value: {text:?}")))?,
        ),
    };
    let from = list_from(req)?;
    let (list_rv, page) = list_page(shared, rt, &from, &filter, limit)?;
    let metadata_only = req.wants_metadata();
    let mut body =
        BytesMut::with_capacity(page.items.iter().map(|s| s.json.len() + 1).sum::<usize>() + 2);
    body.put_slice(b"[");
    for (index, stored) in page.items.iter().enumerate() {
        if index > 0 {
            body.put_slice(b",");
        }
        body.put_slice(&render(rt, stored, metadata_only));
    }
    body.put_slice(b"]");
    let remaining = page.remaining;
    let last = page.last.as_ref();
    let mut metadata = json!({"resourceVersion": list_rv.to_string()});
    if remaining > 0
        && let Some(last) = last
    {
        metadata["continue"] = json!(encode_continue(list_rv, last));
        if !filter.has_selectors() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    let (kind, api_version) = if metadata_only {
        (
            "PartialObjectMetadataList".to_owned(),
            "meta.k8s.io/v1".to_owned(),
        )
    } else {
        (format!("{}List", rt.kind), rt.api_version())
    };
    let head = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata}).to_string();
    let mut out = BytesMut::with_capacity(head.len() + body.len() + 16);
    // `{"kind":...,"metadata":{...}` + `,"items":[...]}`
    out.put_slice(&head.as_bytes()[..head.len() - 1]);
    out.put_slice(b",\"items\":");
    out.put_slice(&body);
    out.put_slice(b"}");
    Ok(json_response(200, out.freeze()))
}

/// Reads a request body as one JSON object (JSON or YAML).
fn parse_object(req: &Req) -> ApiResult<Value> {
    let content_type = req.content_type.split(';').next().unwrap_or("").trim();
    let value = match content_type {
        "application/json" | "" | "*/*" => {
            serde_json::from_slice::<Value>(&req.body).map_err(|e| {
                ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
            })?
        }
        "application/yaml" => parse_yaml(&req.body)?,
        other => return Err(ApiError::unsupported_media_type(other, OBJECT_MEDIA_TYPES)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: the request body is not a JSON object",
        ));
    }
    Ok(value)
}

fn parse_yaml(bytes: &[u8]) -> ApiResult<Value> {
    let mut documents = kollect_api::manifest::parse(bytes).into_iter();
    match documents.next() {
        Some(Ok(document)) => Ok(document.value),
        Some(Err(error)) => Err(ApiError::bad_request(format!(
            "error converting YAML to JSON: {error}"
        ))),
        None => Err(ApiError::bad_request("the request body is empty")),
    }
}

fn check_type(rt: &ResourceType, object: &Value) -> ApiResult<()> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind.is_empty() {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing in the request body",
        ));
    }
    if api_version.is_empty() {
        return Err(ApiError::bad_request(
            "Object 'apiVersion' is missing in the request body",
        ));
    }
    if api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    if kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    Ok(())
}

fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("invariant: metadata was just made an object")
}

/// Validates an object name for its kind, as the apiserver does.
fn name_problem(rt: &ResourceType, name: &str) -> Option<String> {
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if rt.group == "rbac.authorization.k8s.io" {
        if name == "." || name == ".." || name.contains('/') || name.contains('%') {
            return Some(format!(
                "Invalid value: {name:?}: may not contain '/' or '%' and may not be '.' or '..'"
            ));
        }
        return None;
    }
    if rt.kind == "Namespace" && rt.group.is_empty() {
        return (!label(name)).then(|| {
            format!("Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
        });
    }
    let subdomain = name.len() <= 253 && name.split('.').all(label);
    (!subdomain).then(|| {
        format!("Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    })
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// Checks the namespace of a new namespaced object exists and is not terminating.
fn check_namespace(shared: &Shared, namespace: &str) -> ApiResult<()> {
    namespace_problem(&lock(&shared.state), namespace).map_or(Ok(()), Err)
}

/// Why objects cannot be created in `namespace` now, if they cannot.
fn namespace_problem(state: &crate::store::State, namespace: &str) -> Option<ApiError> {
    let Some(ns) = state.get(&namespaces(), &(String::new(), namespace.to_owned())) else {
        return Some(ApiError::namespace_not_found(namespace));
    };
    let terminating = ns.value().pointer("/metadata/deletionTimestamp").is_some();
    if !terminating {
        return None;
    }
    let mut error = ApiError::new(
        403,
        "Forbidden",
        format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        ),
    );
    error.details = Some(
        json!({"name": namespace, "kind": "namespaces", "causes": [{"reason": "NamespaceTerminating", "message": format!("namespace {namespace} is being terminated"), "field": "metadata.namespace"}]}),
    );
    Some(error)
}

/// The namespaces resource key.
pub(crate) fn namespaces() -> crate::resources::GroupResource {
    crate::resources::GroupResource {
        group: String::new(),
        resource: "namespaces".into(),
    }
}

async fn create(shared: &Arc<Shared>, req: &Req, target: &Target) -> ApiResult<Response<Body>> {
    if target.name.is_some() || target.subresource.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    let object = parse_object(req)?;
    check_type(&target.rt, &object)?;
    let body_ns = meta_str(&object, "namespace");
    if target.rt.namespaced {
        let ns = target.namespace.as_deref().unwrap_or("");
        if !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let stored = create_object(shared, req, target, object, false).await?;
    Ok(respond_object(201, &target.rt, &stored, req))
}

/// Creates an object: metadata filled in, admission, then commit. `managed` says whether
/// `metadata.managedFields` is already set (server-side apply).
/// System metadata of a new object: name from `generateName`, namespace from the path, uid,
/// creation time, generation; client-set system fields are dropped.
fn fill_create_metadata(
    rt: &ResourceType,
    object: &mut Value,
    namespace: &str,
    now: &str,
    managed: bool,
) {
    let metadata = metadata_mut(object);
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let generate = metadata
        .get("generateName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() && !generate.is_empty() {
        let generated = format!("{generate}{}", random_suffix());
        metadata.insert("name".into(), json!(generated));
    } else {
        metadata.insert("name".into(), json!(name));
    }
    if rt.namespaced {
        metadata.insert("namespace".into(), json!(namespace));
    } else {
        metadata.remove("namespace");
    }
    metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    metadata.insert("creationTimestamp".into(), json!(now));
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        metadata.remove(field);
    }
    if rt.generation {
        metadata.insert("generation".into(), json!(1));
    } else {
        metadata.remove("generation");
    }
    if !managed {
        metadata.remove("managedFields");
    }
}

async fn create_object(
    shared: &Arc<Shared>,
    req: &Req,
    target: &Target,
    mut object: Value,
    managed: bool,
) -> ApiResult<Arc<Stored>> {
    let rt = &target.rt;
    let namespace = target.namespace.clone().unwrap_or_default();
    let now = now();
    fill_create_metadata(rt, &mut object, &namespace, &now, managed);
    let name = meta_str(&object, "name").to_owned();
    if name.is_empty() {
        return Err(ApiError::invalid(
            rt,
            "",
            &[(
                "metadata.name".into(),
                "Required value: name or generateName is required".into(),
            )],
        ));
    }
    if let Some(problem) = name_problem(rt, &name) {
        return Err(ApiError::invalid(
            rt,
            &name,
            &[("metadata.name".into(), problem)],
        ));
    }
    if rt.namespaced {
        check_namespace(shared, &namespace)?;
    }
    prepare_create(rt, &mut object)?;
    if !managed {
        patch::record_update(
            &Value::Null,
            &mut object,
            &req.manager(),
            &rt.api_version(),
            &now,
            None,
        );
    }
    admission::validate(
        shared,
        req,
        rt,
        "CREATE",
        &namespace,
        &name,
        Some(&object),
        None,
    )
    .await?;
    let gr = rt.group_resource();
    let key = (namespace, name.clone());
    let mut state = lock(&shared.state);
    // The namespace or the kind may have gone while admission ran.
    if state.registry_type(&gr).is_none() {
        return Err(ApiError::no_such_resource());
    }
    if rt.namespaced
        && let Some(problem) = namespace_problem(&state, &key.0)
    {
        return Err(problem);
    }
    if state.get(&gr, &key).is_some() {
        return Err(ApiError::already_exists(rt, &name));
    }
    if req.param("dryRun").is_some() {
        return Ok(Arc::new(Stored::new(&object, 0)));
    }
    let rv = state.next_rv();
    metadata_mut(&mut object).insert("resourceVersion".into(), json!(rv.to_string()));
    if rt.kind == "CustomResourceDefinition" && rt.group == "apiextensions.k8s.io" {
        let types = crd_resource_types(&object).map_err(|m| invalid_from(rt, &name, &m))?;
        state.registry.add_crd(&name, types);
    }
    Ok(state.put(&gr, key, &object, rv))
}

fn invalid_from(rt: &ResourceType, name: &str, message: &str) -> ApiError {
    let (field, detail) = message.split_once(": ").unwrap_or(("", message));
    ApiError::invalid(rt, name, &[(field.to_owned(), detail.to_owned())])
}

/// Kind-specific defaults on create.
fn prepare_create(rt: &ResourceType, object: &mut Value) -> ApiResult<()> {
    if rt.status {
        object.as_object_mut().map(|o| o.remove("status"));
    }
    if !rt.builtin || !rt.group.is_empty() && rt.group != "apiextensions.k8s.io" {
        return Ok(());
    }
    match rt.kind.as_str() {
        "Namespace" => {
            object["spec"] = json!({"finalizers": ["kubernetes"]});
            object["status"] = json!({"phase": "Active"});
        }
        "Pod" => {
            object["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        "CustomResourceDefinition" => {
            let name = meta_str(object, "name").to_owned();
            let types = crd_resource_types(object).map_err(|m| invalid_from(rt, &name, &m))?;
            let names = object
                .pointer("/spec/names")
                .cloned()
                .unwrap_or(Value::Null);
            let now = now();
            let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
            object["status"] = json!({
                "acceptedNames": names,
                "conditions": [
                    condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                    condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                ],
                "storedVersions": types.iter().map(|t| t.version.clone()).take(1).collect::<Vec<_>>(),
            });
        }
        _ => {}
    }
    Ok(())
}

/// The parts of an object that make up its spec: everything but metadata and status.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

/// Whether two objects differ in anything but resourceVersion and managed fields.
fn same_content(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(old) == strip(new)
}

/// How a write came about, for managed fields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Managed {
    /// Record an Update by the request's manager.
    Record,
    /// Already computed (server-side apply).
    Done,
}

/// The object an update of `old` to `desired` stores: system metadata kept, status or spec
/// ignored per subresource, generation bumped on spec changes.
fn prepare_update(
    rt: &ResourceType,
    old: &Value,
    desired: Value,
    subresource: Option<&str>,
) -> Value {
    let mut new = if subresource == Some("status") {
        let mut out = old.clone();
        match desired.get("status") {
            Some(status) => out["status"] = status.clone(),
            None => {
                out.as_object_mut().map(|o| o.remove("status"));
            }
        }
        if let Some(managed) = desired.pointer("/metadata/managedFields") {
            metadata_mut(&mut out).insert("managedFields".into(), managed.clone());
        }
        out
    } else {
        let mut out = desired;
        if rt.status {
            match old.get("status") {
                Some(status) => out["status"] = status.clone(),
                None => {
                    out.as_object_mut().map(|o| o.remove("status"));
                }
            }
        }
        out
    };
    new["apiVersion"] = json!(rt.api_version());
    new["kind"] = json!(rt.kind);
    let old_meta = old.get("metadata").cloned().unwrap_or_default();
    let metadata = metadata_mut(&mut new);
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(field) {
            Some(value) => {
                metadata.insert(field.into(), value.clone());
            }
            None => {
                metadata.remove(field);
            }
        }
    }
    // A deleting object may lose finalizers but not gain new ones.
    if rt.generation && subresource.is_none() && spec_changed(old, &new) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        metadata_mut(&mut new).insert("generation".into(), json!(generation));
    }
    new
}

/// Outcome of an update attempt.
enum Step {
    /// Stored (or unchanged) object.
    Done(Arc<Stored>),
    /// Removed (its last finalizer went away while it was being deleted).
    Deleted(Arc<Stored>),
}

/// Refuses a desired object that is not an object or names another object than the URL.
fn check_desired(
    rt: &ResourceType,
    desired: &Value,
    key: &Key,
    sub: Option<&str>,
) -> ApiResult<()> {
    let name = &key.1;
    if !desired.is_object() {
        let mut error = ApiError::new(
            422,
            "Invalid",
            format!(
                "{} {name:?} is invalid: the patched object is not a JSON object",
                rt.kind
            ),
        );
        error.details = Some(json!({"name": name, "kind": rt.kind}));
        return Err(error);
    }
    if sub.is_some() {
        return Ok(());
    }
    let desired_name = meta_str(desired, "name");
    if !desired_name.is_empty() && desired_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({desired_name}) does not match the name on the URL ({name})"
        )));
    }
    let desired_ns = meta_str(desired, "namespace");
    if rt.namespaced && !desired_ns.is_empty() && desired_ns != key.0 {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

/// Stores an updated object under the state lock; removes it instead when it was being
/// deleted and lost its last finalizer.
fn commit_update(
    state: &mut crate::store::State,
    rt: &ResourceType,
    key: &Key,
    mut new: Value,
    current: Arc<Stored>,
) -> Step {
    let gr = rt.group_resource();
    let rv = state.next_rv();
    metadata_mut(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
    // A namespace goes away when it is empty (`finish_namespace`), not on its own writes.
    let is_namespace = rt.kind == "Namespace" && rt.group.is_empty();
    let finalized = !is_namespace
        && new.pointer("/metadata/deletionTimestamp").is_some()
        && new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    if finalized {
        return state
            .remove(&gr, key, &new, rv)
            .map_or(Step::Done(current), Step::Deleted);
    }
    if rt.kind == "CustomResourceDefinition"
        && rt.group == "apiextensions.k8s.io"
        && let Ok(types) = crd_resource_types(&new)
    {
        state.registry.add_crd(&key.1, types);
    }
    Step::Done(state.put(&gr, key.clone(), &new, rv))
}

/// Updates an object: `mutate(old)` computes the desired object from the current one.
/// `create` makes the object when it does not exist (server-side apply).
async fn update_object(
    shared: &Arc<Shared>,
    req: &Req,
    target: &Target,
    managed: Managed,
    mutate: &(dyn Fn(&Value) -> ApiResult<Value> + Send + Sync),
    create: Option<&(dyn Fn() -> ApiResult<Value> + Send + Sync)>,
) -> ApiResult<Response<Body>> {
    let rt = &target.rt;
    let name = target.name.clone().unwrap_or_default();
    let key = key_of(target, &name);
    let gr = rt.group_resource();
    let sub = target.subresource.as_deref();
    let now = now();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let current = lock(&shared.state).get(&gr, &key);
        let Some(current) = current else {
            return match create {
                Some(create) if sub.is_none() => {
                    let object = create()?;
                    match create_object(shared, req, target, object, managed == Managed::Done).await
                    {
                        Ok(stored) => Ok(respond_object(201, rt, &stored, req)),
                        // Created meanwhile by someone else: apply to it instead.
                        Err(error) if error.reason == "AlreadyExists" => continue,
                        Err(error) => Err(error),
                    }
                }
                _ => Err(ApiError::not_found(rt, &name)),
            };
        };
        let old = current.value();
        let desired = mutate(&old)?;
        check_desired(rt, &desired, &key, sub)?;
        let precondition = meta_str(&desired, "resourceVersion").to_owned();
        if !precondition.is_empty() && precondition != current.rv.to_string() {
            return Err(ApiError::stale(rt, &name));
        }
        let mut new = prepare_update(rt, &old, desired, sub);
        if managed == Managed::Record {
            if let Some(m) = old.pointer("/metadata/managedFields") {
                metadata_mut(&mut new).insert("managedFields".into(), m.clone());
            }
            patch::record_update(&old, &mut new, &req.manager(), &rt.api_version(), &now, sub);
        }
        if same_content(&old, &new) {
            return Ok(respond_object(200, rt, &current, req));
        }
        if rt.kind == "CustomResourceDefinition" && rt.group == "apiextensions.k8s.io" {
            crd_resource_types(&new).map_err(|m| invalid_from(rt, &name, &m))?;
        }
        admission::validate(
            shared,
            req,
            rt,
            "UPDATE",
            &key.0,
            &name,
            Some(&new),
            Some(&old),
        )
        .await?;
        let step = {
            let mut state = lock(&shared.state);
            let latest = state.get(&gr, &key);
            if latest.is_none_or(|l| l.rv != current.rv) {
                if precondition.is_empty() {
                    continue;
                }
                return Err(ApiError::stale(rt, &name));
            }
            if req.param("dryRun").is_some() {
                return Ok(json_response(
                    200,
                    serde_json::to_vec(&new).unwrap_or_default(),
                ));
            }
            commit_update(&mut state, rt, &key, new, current)
        };
        return Ok(match step {
            Step::Done(stored) => respond_object(200, rt, &stored, req),
            Step::Deleted(stored) => {
                after_removal(shared, rt, &key, &stored);
                respond_object(200, rt, &stored, req)
            }
        });
    }
    Err(ApiError::internal(format!(
        "gave up updating {} {name:?} after {MAX_WRITE_ATTEMPTS} conflicting writes",
        rt.qualified()
    )))
}

async fn update(shared: &Arc<Shared>, req: &Req, target: &Target) -> ApiResult<Response<Body>> {
    if target.name.is_none() {
        return Err(ApiError::method_not_allowed());
    }
    let body = parse_object(req)?;
    check_type(&target.rt, &body)?;
    let mutate = move |_old: &Value| Ok(body.clone());
    update_object(shared, req, target, Managed::Record, &mutate, None).await
}

fn patch_error(rt: &ResourceType, name: &str, error: PatchError) -> ApiError {
    match error {
        PatchError::Malformed(message) => ApiError::bad_request(message),
        PatchError::Invalid(message) | PatchError::TestFailed(message) => {
            let mut error = ApiError::new(422, "Invalid", message);
            error.details = Some(json!({"name": name, "kind": rt.kind}));
            error
        }
        PatchError::Conflict(fields) => {
            let mut error = ApiError::new(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} conflict{}: {}",
                    fields.len(),
                    if fields.len() == 1 { "" } else { "s" },
                    fields.join("\n")
                ),
            );
            error.details = Some(json!({
                "name": name,
                "kind": rt.resource,
                "causes": fields.iter().map(|f| json!({"reason": "FieldManagerConflict", "message": f})).collect::<Vec<_>>(),
            }));
            error
        }
    }
}

async fn patch(shared: &Arc<Shared>, req: &Req, target: &Target) -> ApiResult<Response<Body>> {
    let rt = &target.rt;
    let name = target
        .name
        .clone()
        .ok_or_else(ApiError::method_not_allowed)?;
    let content_type = req.content_type.split(';').next().unwrap_or("").trim();
    let json_body = || {
        serde_json::from_slice::<Value>(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
    };
    // The resourceVersion of the current object is not a precondition unless the patch sets it.
    let without_rv = |old: &Value| {
        let mut out = old.clone();
        out.get_mut("metadata")
            .and_then(Value::as_object_mut)
            .map(|m| m.remove("resourceVersion"));
        out
    };
    match content_type {
        "application/merge-patch+json" => {
            let patch = json_body()?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a merge patch must be a JSON object",
                ));
            }
            let mutate = |old: &Value| {
                let mut out = without_rv(old);
                patch::merge_patch(&mut out, &patch);
                Ok(out)
            };
            update_object(shared, req, target, Managed::Record, &mutate, None).await
        }
        "application/json-patch+json" => {
            let ops = json_body()?;
            let mutate = |old: &Value| {
                let mut out = old.clone();
                patch::json_patch(&mut out, &ops).map_err(|e| patch_error(rt, &name, e))?;
                if meta_str(&out, "resourceVersion") == meta_str(old, "resourceVersion") {
                    out = without_rv(&out);
                }
                Ok(out)
            };
            update_object(shared, req, target, Managed::Record, &mutate, None).await
        }
        // Custom resources have no strategic merge patch: the apiserver answers 415.
        "application/strategic-merge-patch+json" if !rt.builtin => Err(
            ApiError::unsupported_media_type(content_type, CUSTOM_PATCH_MEDIA_TYPES),
        ),
        "application/strategic-merge-patch+json" => {
            let patch = json_body()?;
            let mutate = |old: &Value| {
                let mut out = without_rv(old);
                patch::strategic_merge_patch(&mut out, &patch)
                    .map_err(|e| patch_error(rt, &name, e))?;
                Ok(out)
            };
            update_object(shared, req, target, Managed::Record, &mutate, None).await
        }
        "application/apply-patch+yaml" => apply(shared, req, target, &name).await,
        other if rt.builtin => Err(ApiError::unsupported_media_type(other, PATCH_MEDIA_TYPES)),
        other => Err(ApiError::unsupported_media_type(
            other,
            CUSTOM_PATCH_MEDIA_TYPES,
        )),
    }
}

/// Server-side apply: creates the object when missing.
async fn apply(
    shared: &Arc<Shared>,
    req: &Req,
    target: &Target,
    name: &str,
) -> ApiResult<Response<Body>> {
    let rt = &target.rt;
    let manager = req.param("fieldManager").unwrap_or("");
    if manager.is_empty() {
        return Err(ApiError::invalid(
            rt,
            "",
            &[(
                "fieldManager".into(),
                "Required value: is required for apply patch".into(),
            )],
        ));
    }
    let mut applied = parse_yaml(&req.body)?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the applied configuration must be an object",
        ));
    }
    check_type(rt, &applied)?;
    let applied_name = meta_str(&applied, "name");
    if !applied_name.is_empty() && applied_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({applied_name}) does not match the name on the URL ({name})"
        )));
    }
    metadata_mut(&mut applied).insert("name".into(), json!(name));
    if target.subresource.is_none() && rt.status {
        applied.as_object_mut().map(|o| o.remove("status"));
    }
    let force = req.flag("force");
    let api_version = rt.api_version();
    let sub = target.subresource.as_deref();
    let now = now();
    let ssa = |live: &Value, sub: Option<&str>| {
        patch::server_side_apply(live, &applied, manager, force, &api_version, &now, sub)
            .map_err(|e| patch_error(rt, name, e))
    };
    let mutate = |old: &Value| ssa(old, sub);
    let create = || ssa(&Value::Null, None);
    update_object(shared, req, target, Managed::Done, &mutate, Some(&create)).await
}

/// `DeleteOptions` preconditions.
fn preconditions(req: &Req) -> ApiResult<(Option<String>, Option<String>)> {
    if req.body.is_empty() {
        return Ok((None, None));
    }
    let options: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("couldn't decode DeleteOptions: {e}")))?;
    if let Some(dry_run) = options.get("dryRun").and_then(Value::as_array)
        && dry_run.iter().any(|d| d != "All")
    {
        return Err(ApiError::bad_request(
            "dryRun: Unsupported value: supported values: \"All\"",
        ));
    }
    let text = |pointer: &str| {
        options
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok((
        text("/preconditions/uid"),
        text("/preconditions/resourceVersion"),
    ))
}

fn body_dry_run(req: &Req) -> bool {
    req.param("dryRun").is_some()
        || serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|o| o.get("dryRun").cloned())
            .and_then(|d| d.as_array().map(|a| !a.is_empty()))
            .unwrap_or(false)
}

async fn delete(shared: &Arc<Shared>, req: &Req, target: &Target) -> ApiResult<Response<Body>> {
    if target.subresource.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    let name = target.name.clone().unwrap_or_default();
    let key = key_of(target, &name);
    let (uid, rv) = preconditions(req)?;
    let dry_run = body_dry_run(req);
    let (code, stored) = delete_object(
        shared,
        Some(req),
        &target.rt,
        &key,
        uid.as_deref(),
        rv.as_deref(),
        dry_run,
    )
    .await?;
    Ok(respond_object(code, &target.rt, &stored, req))
}

/// Deletes one object: marked for deletion while finalizers remain, removed otherwise.
/// Returns the HTTP status (200 removed or marked) and the object.
pub(crate) async fn delete_object(
    shared: &Arc<Shared>,
    req: Option<&Req>,
    rt: &Arc<ResourceType>,
    key: &Key,
    uid: Option<&str>,
    rv_precondition: Option<&str>,
    dry_run: bool,
) -> ApiResult<(u16, Arc<Stored>)> {
    let gr = rt.group_resource();
    let name = key.1.clone();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let current = lock(&shared.state)
            .get(&gr, key)
            .ok_or_else(|| ApiError::not_found(rt, &name))?;
        let old = current.value();
        if let Some(uid) = uid
            && uid != meta_str(&old, "uid")
        {
            return Err(ApiError::conflict(
                rt,
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&old, "uid")
                ),
            ));
        }
        if let Some(rv) = rv_precondition
            && rv != current.rv.to_string()
        {
            return Err(ApiError::conflict(
                rt,
                &name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    current.rv
                ),
            ));
        }
        if let Some(req) = req {
            admission::validate(shared, req, rt, "DELETE", &key.0, &name, None, Some(&old)).await?;
        }
        if dry_run {
            return Ok((200, current));
        }
        let finalizers = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        let is_namespace = rt.kind == "Namespace" && rt.group.is_empty();
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok((200, current));
        }
        let result = {
            let mut state = lock(&shared.state);
            if state.get(&gr, key).is_none_or(|l| l.rv != current.rv) {
                continue;
            }
            let rv = state.next_rv();
            let mut last = old.clone();
            metadata_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
            if finalizers || is_namespace {
                let metadata = metadata_mut(&mut last);
                metadata.insert("deletionTimestamp".into(), json!(now()));
                metadata.insert("deletionGracePeriodSeconds".into(), json!(0));
                if is_namespace {
                    last["status"] = json!({"phase": "Terminating"});
                }
                (false, state.put(&gr, key.clone(), &last, rv))
            } else {
                let Some(stored) = state.remove(&gr, key, &last, rv) else {
                    continue;
                };
                (true, stored)
            }
        };
        let (removed, stored) = result;
        if removed {
            after_removal(shared, rt, key, &stored);
        } else if is_namespace {
            Box::pin(empty_namespace(shared, &name)).await;
        }
        return Ok((200, stored));
    }
    Err(ApiError::internal(format!(
        "gave up deleting {} {name:?}",
        rt.qualified()
    )))
}

/// Follow-ups of an object leaving the store: a CRD takes its kind and objects with it, and a
/// terminating namespace that became empty goes away.
fn after_removal(shared: &Arc<Shared>, rt: &ResourceType, key: &Key, stored: &Stored) {
    if rt.kind == "CustomResourceDefinition" && rt.group == "apiextensions.k8s.io" {
        let crd = stored.value();
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let gr = crate::resources::GroupResource {
            group,
            resource: plural,
        };
        let mut emptied = std::collections::BTreeSet::new();
        {
            let mut state = lock(&shared.state);
            for (object_key, object) in state.objects_in(&gr, None) {
                let rv = state.next_rv();
                let mut last = object.value();
                metadata_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
                state.remove(&gr, &object_key, &last, rv);
                emptied.insert(object_key.0);
            }
            state.drop_collection(&gr);
            state.registry.remove_crd(&key.1);
        }
        // Terminating namespaces that only waited for these objects can go now.
        for namespace in emptied.into_iter().filter(|ns| !ns.is_empty()) {
            finish_namespace(shared, &namespace);
        }
        return;
    }
    if rt.namespaced && !key.0.is_empty() {
        let terminating = lock(&shared.state)
            .get(&namespaces(), &(String::new(), key.0.clone()))
            .is_some_and(|ns| ns.value().pointer("/metadata/deletionTimestamp").is_some());
        if terminating {
            finish_namespace(shared, &key.0);
        }
    }
}

/// Deletes everything in a terminating namespace, then the namespace once nothing is left.
async fn empty_namespace(shared: &Arc<Shared>, namespace: &str) {
    let resources = lock(&shared.state).namespaced_resources();
    for gr in resources {
        let Some(rt) = lock(&shared.state).registry_type(&gr) else {
            continue;
        };
        if !rt.namespaced {
            continue;
        }
        let objects = lock(&shared.state).objects_in(&gr, Some(namespace));
        for (key, _) in objects {
            // Objects with finalizers stay until their finalizers are removed.
            let _ = delete_object(shared, None, &rt, &key, None, None, false).await;
        }
    }
    finish_namespace(shared, namespace);
}

/// Removes a terminating namespace when it holds no objects any more.
fn finish_namespace(shared: &Shared, namespace: &str) {
    let mut state = lock(&shared.state);
    let busy = state.namespaced_resources().iter().any(|gr| {
        state.registry_type(gr).is_some_and(|rt| rt.namespaced)
            && state.has_objects_in(gr, namespace)
    });
    if busy {
        return;
    }
    let key = (String::new(), namespace.to_owned());
    let Some(ns) = state.get(&namespaces(), &key) else {
        return;
    };
    if ns.value().pointer("/metadata/deletionTimestamp").is_none() {
        return;
    }
    let rv = state.next_rv();
    let mut last = ns.value();
    metadata_mut(&mut last).insert("resourceVersion".into(), json!(rv.to_string()));
    if let Some(spec) = last.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("finalizers".into(), json!([]));
    }
    state.remove(&namespaces(), &key, &last, rv);
}

async fn delete_collection(
    shared: &Arc<Shared>,
    req: &Req,
    target: &Target,
) -> ApiResult<Response<Body>> {
    let filter = Filter::from_request(req, target)?;
    let rt = &target.rt;
    let objects = lock(&shared.state).objects_in(&rt.group_resource(), target.namespace.as_deref());
    let dry_run = body_dry_run(req);
    let mut items = Vec::new();
    for (key, stored) in objects {
        if !filter.matches(&key, &stored) {
            continue;
        }
        match delete_object(shared, Some(req), rt, &key, None, None, dry_run).await {
            Ok((_, stored)) => items.push(stored.value()),
            Err(error) if error.code == 404 => {}
            Err(error) => return Ok(error_response(&error)),
        }
    }
    let rv = lock(&shared.state).rv;
    Ok(value_response(
        200,
        &json!({
            "kind": format!("{}List", rt.kind),
            "apiVersion": rt.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": items,
        }),
    ))
}

/// Loads objects straight into the store (preload and the library's `apply` helpers): creates
/// missing objects, replaces existing ones. Namespaces named by objects are created first.
pub(crate) async fn load_object(
    shared: &Arc<Shared>,
    object: Value,
) -> Result<Arc<Stored>, ApiError> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let rt = lock(&shared.state)
        .registry
        .by_kind(&api_version, &kind)
        .ok_or_else(|| ApiError::bad_request(format!("no kind {kind:?} is served in {api_version:?}: create its CustomResourceDefinition first")))?;
    let namespace = if rt.namespaced {
        let ns = meta_str(&object, "namespace");
        if ns.is_empty() {
            "default".to_owned()
        } else {
            ns.to_owned()
        }
    } else {
        String::new()
    };
    if rt.namespaced {
        ensure_namespace(shared, &namespace).await?;
    }
    let name = meta_str(&object, "name").to_owned();
    let target = Target {
        rt: Arc::clone(&rt),
        namespace: rt.namespaced.then_some(namespace),
        name: None,
        subresource: None,
        watch_path: false,
    };
    let req = internal_request();
    let exists = lock(&shared.state)
        .get(&rt.group_resource(), &key_of(&target, &name))
        .is_some();
    if !exists {
        let status = object.get("status").cloned();
        let stored = create_object(shared, &req, &target, object, false).await?;
        // Preloaded objects keep the status they were dumped with.
        if let Some(status) = status
            && rt.status
        {
            let target = Target {
                name: Some(name),
                subresource: Some("status".into()),
                ..target
            };
            let mutate = move |old: &Value| {
                let mut out = old.clone();
                out["status"] = status.clone();
                Ok(out)
            };
            update_object(shared, &req, &target, Managed::Record, &mutate, None).await?;
            return lock(&shared.state)
                .get(
                    &rt.group_resource(),
                    &key_of(&target, target.name.as_deref().unwrap_or("")),
                )
                .ok_or_else(|| ApiError::internal("object vanished after preload"));
        }
        return Ok(stored);
    }
    let target = Target {
        name: Some(name.clone()),
        ..target
    };
    let mutate = move |_old: &Value| {
        let mut out = object.clone();
        out.get_mut("metadata")
            .and_then(Value::as_object_mut)
            .map(|m| m.remove("resourceVersion"));
        Ok(out)
    };
    update_object(shared, &req, &target, Managed::Record, &mutate, None).await?;
    lock(&shared.state)
        .get(&rt.group_resource(), &key_of(&target, &name))
        .ok_or_else(|| ApiError::internal("object vanished after preload"))
}

/// Creates a namespace if it does not exist.
pub(crate) async fn ensure_namespace(shared: &Arc<Shared>, namespace: &str) -> ApiResult<()> {
    if lock(&shared.state)
        .get(&namespaces(), &(String::new(), namespace.to_owned()))
        .is_some()
    {
        return Ok(());
    }
    let rt = lock(&shared.state)
        .registry
        .get("", "v1", "namespaces")
        .ok_or_else(|| ApiError::internal("namespaces are not served"))?;
    let target = Target {
        rt,
        namespace: None,
        name: None,
        subresource: None,
        watch_path: false,
    };
    let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    match create_object(shared, &internal_request(), &target, object, false).await {
        Ok(_) => Ok(()),
        Err(error) if error.code == 409 => Ok(()),
        Err(error) => Err(error),
    }
}

/// The request internal writes are made as (the server itself, as a superuser).
pub(crate) fn internal_request() -> Req {
    Req {
        method: Method::POST,
        path: String::new(),
        query: vec![("fieldManager".into(), "kollect-testkit".into())],
        accept: "application/json".into(),
        content_type: "application/json".into(),
        user_agent: "kollect-testkit".into(),
        user: auth::UserInfo {
            username: "system:apiserver".into(),
            uid: String::new(),
            groups: vec!["system:masters".into()],
        },
        body: Bytes::new(),
    }
}
