//! Where `kollect collect` reads cluster state: a live API server (kubeconfig context) or
//! folders of manifests and `kubectl get` dumps (`--from-dir`).

use std::collections::BTreeMap;

use kollect_api::{k8s::Namespace, v1alpha1::GroupVersionKind};
use kollect_collect::{StaticSource, filter::NamespaceInfo};
use kube::{
    Api, Client,
    api::{DynamicObject, ListParams},
    discovery::{self, Scope},
};
use serde_json::Value;

/// Objects per list request: the API server's recommended page size.
const PAGE_SIZE: u32 = 500;

/// Why a kind could not be listed, and what it means for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListFailure {
    /// The kind is not served (CRD not installed): the target is skipped.
    KindNotFound(String),
    /// The identity may not list it: the target is skipped.
    Forbidden(String),
    /// Anything else (server error, timeout): the target is skipped.
    Failed(String),
}

impl std::fmt::Display for ListFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KindNotFound(m) => write!(f, "kind not served: {m}"),
            Self::Forbidden(m) => write!(f, "forbidden: {m}"),
            Self::Failed(m) => write!(f, "list failed: {m}"),
        }
    }
}

/// The objects of one kind.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    /// The objects, each a whole JSON object with `apiVersion` and `kind`.
    pub(crate) objects: Vec<Value>,
    /// Whether the kind is cluster-scoped.
    pub(crate) cluster_scoped: bool,
}

/// A cluster's state, live or from files.
pub(crate) enum Source {
    /// Manifests and dumps read from folders.
    Static(StaticSource),
    /// A live API server.
    Live(Client),
}

impl Source {
    /// Every namespace with its labels and annotations. From files: the `Namespace` manifests,
    /// plus (without labels) every namespace an object lives in.
    pub(crate) async fn namespaces(&self) -> Result<Vec<NamespaceInfo>, ListFailure> {
        match self {
            Self::Static(source) => Ok(static_namespaces(source)),
            Self::Live(client) => {
                let api: Api<Namespace> = Api::all(client.clone());
                let list = api
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| classify(&e))?;
                Ok(list
                    .items
                    .into_iter()
                    .map(|ns| NamespaceInfo {
                        name: ns.metadata.name.unwrap_or_default(),
                        labels: ns.metadata.labels.unwrap_or_default(),
                        annotations: ns.metadata.annotations.unwrap_or_default(),
                    })
                    .collect())
            }
        }
    }

    /// The objects of `gvk`: in `namespaces` (every namespace when `None`), matching
    /// `label_selector` when given (a selector the server can evaluate).
    pub(crate) async fn list(
        &self,
        gvk: &GroupVersionKind,
        namespaces: Option<&[String]>,
        label_selector: Option<&str>,
    ) -> Result<Listed, ListFailure> {
        let group = gvk.group.as_deref().unwrap_or_default();
        match self {
            Self::Static(source) => {
                let objects: Vec<Value> = source
                    .objects(group, &gvk.kind)
                    .filter(|o| api_version_matches(&o.value, &gvk.version))
                    .map(|o| o.value.clone())
                    .collect();
                let cluster_scoped =
                    !objects.is_empty() && objects.iter().all(|o| object_namespace(o).is_empty());
                Ok(Listed {
                    objects,
                    cluster_scoped,
                })
            }
            Self::Live(client) => list_live(client, gvk, namespaces, label_selector).await,
        }
    }
}

/// Whether an object from files has the profile's version (`apps/v1` for `v1`): other versions
/// of a kind have other fields, so they are not extracted with this profile.
fn api_version_matches(object: &Value, version: &str) -> bool {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.rsplit('/').next() == Some(version))
}

fn object_namespace(object: &Value) -> &str {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn static_namespaces(source: &StaticSource) -> Vec<NamespaceInfo> {
    let mut namespaces: BTreeMap<String, NamespaceInfo> = BTreeMap::new();
    let map = |value: Option<&Value>| -> BTreeMap<String, String> {
        value
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    for namespace in source.objects("", "Namespace") {
        let name = namespace
            .value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        namespaces.insert(
            name.clone(),
            NamespaceInfo {
                name,
                labels: map(namespace.value.pointer("/metadata/labels")),
                annotations: map(namespace.value.pointer("/metadata/annotations")),
            },
        );
    }
    for (api_version, kind, _) in source.kinds() {
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        for object in source.objects(group, kind) {
            let namespace = object_namespace(&object.value);
            if !namespace.is_empty() && !namespaces.contains_key(namespace) {
                namespaces.insert(
                    namespace.to_owned(),
                    NamespaceInfo {
                        name: namespace.to_owned(),
                        // `kubernetes.io/metadata.name` is set on every real namespace.
                        labels: BTreeMap::from([(
                            "kubernetes.io/metadata.name".to_owned(),
                            namespace.to_owned(),
                        )]),
                        annotations: BTreeMap::new(),
                    },
                );
            }
        }
    }
    namespaces.into_values().collect()
}

async fn list_live(
    client: &Client,
    gvk: &GroupVersionKind,
    namespaces: Option<&[String]>,
    label_selector: Option<&str>,
) -> Result<Listed, ListFailure> {
    let kind = kube::core::GroupVersionKind::gvk(
        gvk.group.as_deref().unwrap_or_default(),
        &gvk.version,
        &gvk.kind,
    );
    let (resource, capabilities) =
        discovery::pinned_kind(client, &kind)
            .await
            .map_err(|error| match classify(&error) {
                ListFailure::Failed(message) | ListFailure::KindNotFound(message) => {
                    ListFailure::KindNotFound(format!("{}: {message}", gvk_label(gvk)))
                }
                other @ ListFailure::Forbidden(_) => other,
            })?;
    let cluster_scoped = capabilities.scope == Scope::Cluster;
    let apis: Vec<Api<DynamicObject>> = match (cluster_scoped, namespaces) {
        (false, Some(namespaces)) => namespaces
            .iter()
            .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
            .collect(),
        _ => vec![Api::all_with(client.clone(), &resource)],
    };
    let mut objects = Vec::new();
    for api in apis {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if let Some(selector) = label_selector {
            params = params.labels(selector);
        }
        loop {
            let page = api.list(&params).await.map_err(|e| classify(&e))?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            for mut item in page.items {
                if item.types.is_none() {
                    item.types = Some(kube::core::TypeMeta {
                        api_version: resource.api_version.clone(),
                        kind: resource.kind.clone(),
                    });
                }
                objects.push(serde_json::to_value(item).map_err(|e| {
                    ListFailure::Failed(format!("cannot re-encode an object: {e}"))
                })?);
            }
            match next {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
    }
    Ok(Listed {
        objects,
        cluster_scoped,
    })
}

fn gvk_label(gvk: &GroupVersionKind) -> String {
    match gvk.group.as_deref() {
        Some(group) if !group.is_empty() => format!("{group}/{}/{}", gvk.version, gvk.kind),
        _ => format!("{}/{}", gvk.version, gvk.kind),
    }
}

fn classify(error: &kube::Error) -> ListFailure {
    match error {
        kube::Error::Api(status) if status.code == 403 => {
            ListFailure::Forbidden(status.message.clone())
        }
        kube::Error::Api(status) if status.code == 404 => {
            ListFailure::KindNotFound(status.message.clone())
        }
        kube::Error::Discovery(_) => ListFailure::KindNotFound(error.to_string()),
        _ => ListFailure::Failed(error.to_string()),
    }
}
