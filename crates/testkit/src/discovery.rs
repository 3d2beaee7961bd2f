//! Non-resource paths: discovery (legacy and aggregated), version, health and OpenAPI.

use http::{HeaderValue, Method, Response, header};
use serde_json::{Value, json};

use crate::{
    body::Body,
    resources::version_priority,
    server::{Req, Shared, lock, value_response},
    status::{ApiError, ApiResult},
};

/// The Kubernetes version the server claims to be.
pub(crate) const GIT_VERSION: &str = "v1.32.0-kollect-testkit";

/// Media type of aggregated discovery (`kubectl` 1.30+ asks for it first).
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Answers a non-resource request.
pub(crate) fn handle(shared: &Shared, req: &Req, segments: &[&str]) -> ApiResult<Response<Body>> {
    if req.method != Method::GET && req.method != Method::HEAD {
        return Err(ApiError::method_not_allowed());
    }
    let aggregated = wants_aggregated(&req.accept);
    match segments {
        ["healthz" | "readyz" | "livez", ..] => {
            let mut response = Response::new(Body::full("ok"));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(response)
        }
        ["version"] => Ok(value_response(
            200,
            &json!({
                "major": "1",
                "minor": "32",
                "gitVersion": GIT_VERSION,
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.23.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }),
        )),
        ["api"] if aggregated => Ok(aggregated_response(&aggregated_list(shared, true))),
        ["apis"] if aggregated => Ok(aggregated_response(&aggregated_list(shared, false))),
        ["api"] => Ok(value_response(
            200,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": *lock(&shared.address)}],
            }),
        )),
        ["apis"] => Ok(value_response(
            200,
            &json!({
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": groups(shared),
            }),
        )),
        ["apis", group] => groups(shared)
            .into_iter()
            .find(|g| g["name"] == *group)
            .map(|mut g| {
                g["kind"] = json!("APIGroup");
                g["apiVersion"] = json!("v1");
                value_response(200, &g)
            })
            .ok_or_else(ApiError::no_such_resource),
        ["api", version] => resource_list(shared, "", version),
        ["apis", group, version] => resource_list(shared, group, version),
        ["openapi", "v3"] => Ok(value_response(200, &openapi_root(shared))),
        ["openapi", "v3", "api", version] => openapi_group_version(shared, "", version),
        ["openapi", "v3", "apis", group, version] => openapi_group_version(shared, group, version),
        ["openapi", ..] => Err(ApiError::new(
            404,
            "NotFound",
            "the server publishes OpenAPI v3 only (see docs/testkit.md)",
        )),
        _ => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| {
        first.contains("as=APIGroupDiscoveryList") && first.contains("g=apidiscovery.k8s.io")
    })
}

fn aggregated_response(list: &Value) -> Response<Body> {
    let mut response = value_response(200, list);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(AGGREGATED));
    response
}

/// Every group with its versions, preferred first.
fn groups(shared: &Shared) -> Vec<Value> {
    let state = lock(&shared.state);
    let mut by_group: Vec<(String, Vec<String>)> = Vec::new();
    for ((group, version), _) in state.registry.group_versions() {
        if group.is_empty() {
            continue;
        }
        match by_group.iter_mut().find(|(g, _)| g == group) {
            Some((_, versions)) => versions.push(version.clone()),
            None => by_group.push((group.clone(), vec![version.clone()])),
        }
    }
    by_group
        .into_iter()
        .map(|(group, mut versions)| {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
            let entries: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            json!({"name": group, "versions": entries, "preferredVersion": entries[0]})
        })
        .collect()
}

fn resource_list(shared: &Shared, group: &str, version: &str) -> ApiResult<Response<Body>> {
    let state = lock(&shared.state);
    let resources = state
        .registry
        .resources(group, version)
        .ok_or_else(ApiError::no_such_resource)?;
    let entries: Vec<Value> = resources
        .values()
        .flat_map(|r| r.discovery_entries())
        .collect();
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Ok(value_response(
        200,
        &json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": entries,
        }),
    ))
}

/// The versions of one group with their resource entries.
type VersionEntries = Vec<(String, Vec<Value>)>;

fn aggregated_list(shared: &Shared, core: bool) -> Value {
    let state = lock(&shared.state);
    let mut items: Vec<(String, VersionEntries)> = Vec::new();
    for ((group, version), resources) in state.registry.group_versions() {
        if group.is_empty() != core {
            continue;
        }
        let entries: Vec<Value> = resources.values().map(|r| r.aggregated_entry()).collect();
        match items.iter_mut().find(|(g, _)| g == group) {
            Some((_, versions)) => versions.push((version.clone(), entries)),
            None => items.push((group.clone(), vec![(version.clone(), entries)])),
        }
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|(group, mut versions)| {
            versions.sort_by_key(|(v, _)| std::cmp::Reverse(version_priority(v)));
            json!({
                "metadata": {"name": group},
                "versions": versions.into_iter().map(|(version, resources)| json!({
                    "version": version,
                    "resources": resources,
                    "freshness": "Current",
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// `/openapi/v3`: one document per group version.
fn openapi_root(shared: &Shared) -> Value {
    let state = lock(&shared.state);
    let mut paths = serde_json::Map::new();
    for ((group, version), resources) in state.registry.group_versions() {
        let path = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        // The hash only has to change when the document does: the served resources decide it.
        let hash = resources.keys().fold(0xcbf2_9ce4_8422_2325_u64, |h, k| {
            k.bytes()
                .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        });
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash:016X}")}),
        );
    }
    json!({"paths": paths})
}

/// An OpenAPI v3 document for one group version: every resource's PATCH operation carries the
/// `fieldValidation` parameter (kubectl checks it to use server-side validation), and CRD kinds
/// carry their schema so `kubectl explain` works for them. Built-in kinds have no schema.
fn openapi_group_version(shared: &Shared, group: &str, version: &str) -> ApiResult<Response<Body>> {
    let state = lock(&shared.state);
    let resources = state
        .registry
        .resources(group, version)
        .ok_or_else(ApiError::no_such_resource)?;
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let crds = crate::resources::GroupResource {
        group: "apiextensions.k8s.io".into(),
        resource: "customresourcedefinitions".into(),
    };
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for rt in resources.values() {
        let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        let parameter =
            |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
        let operation = json!({
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [parameter("dryRun"), parameter("fieldManager"), parameter("fieldValidation"), parameter("force")],
            "responses": {"200": {"description": "OK"}},
        });
        let item = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.resource)
        } else {
            format!("{prefix}/{}/{{name}}", rt.resource)
        };
        paths.insert(item, json!({"patch": operation, "put": operation}));
        if !rt.builtin {
            let name = format!("{}.{}", rt.resource, rt.group);
            let schema = state
                .get(&crds, &(String::new(), name))
                .map(|crd| crd.value())
                .and_then(|crd| {
                    crd.pointer("/spec/versions")?
                        .as_array()?
                        .iter()
                        .find(|v| {
                            v.get("name").and_then(Value::as_str) == Some(rt.version.as_str())
                        })?
                        .pointer("/schema/openAPIV3Schema")
                        .cloned()
                });
            if let Some(mut schema) = schema {
                schema["x-kubernetes-group-version-kind"] = json!([gvk]);
                let reversed: Vec<&str> = rt.group.split('.').rev().collect();
                schemas.insert(
                    format!("{}.{}.{}", reversed.join("."), rt.version, rt.kind),
                    schema,
                );
            }
        }
    }
    Ok(value_response(
        200,
        &json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": paths,
            "components": {"schemas": schemas},
        }),
    ))
}
