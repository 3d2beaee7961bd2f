//! The kinds the server serves: a fixed table of built-in kinds plus the kinds of the
//! CustomResourceDefinitions created at run time.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::{Value, json};

/// A group and a plural resource name: the key objects are stored under (all versions of a
/// kind share one store, as in a real cluster).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct GroupResource {
    /// API group, `""` for the core group.
    pub(crate) group: String,
    /// Plural resource name.
    pub(crate) resource: String,
}

/// How a kind behaves on writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Objects stored as sent.
    Plain,
    /// Review kinds (`SelfSubjectAccessReview`, `TokenReview`...): create only, answered, never stored.
    Review,
}

/// One served resource of one group version.
#[derive(Clone, Debug)]
#[allow(clippy::struct_excessive_bools)] // independent flags, each shown in discovery as is
pub(crate) struct ResourceType {
    /// API group, `""` for core.
    pub(crate) group: String,
    /// API version, e.g. `v1`.
    pub(crate) version: String,
    /// Plural name, e.g. `deployments`.
    pub(crate) resource: String,
    /// Singular name, e.g. `deployment`.
    pub(crate) singular: String,
    /// Kind, e.g. `Deployment`.
    pub(crate) kind: String,
    /// Whether objects live in namespaces.
    pub(crate) namespaced: bool,
    /// Short names for kubectl.
    pub(crate) short_names: Vec<String>,
    /// Categories (`all`).
    pub(crate) categories: Vec<String>,
    /// Whether a `status` subresource exists.
    pub(crate) status: bool,
    /// Whether `metadata.generation` is kept (bumped on spec changes).
    pub(crate) generation: bool,
    /// Whether this is a built-in kind (strategic merge patch works on built-ins only).
    pub(crate) builtin: bool,
    /// Write behaviour.
    pub(crate) behaviour: Behaviour,
}

impl ResourceType {
    /// `apiVersion` of this group version.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The store key.
    pub(crate) fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.resource.clone(),
        }
    }

    /// `resource.group` as the apiserver writes it in messages (`deployments.apps`).
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// Verbs for discovery.
    pub(crate) fn verbs(&self) -> Vec<&'static str> {
        match self.behaviour {
            Behaviour::Review => vec!["create"],
            Behaviour::Plain => vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
        }
    }

    /// The discovery entry (`APIResource`) of the resource and its subresources.
    pub(crate) fn discovery_entries(&self) -> Vec<Value> {
        let mut entries = vec![json!({
            "name": self.resource,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs(),
        })];
        if !self.short_names.is_empty() {
            entries[0]["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            entries[0]["categories"] = json!(self.categories);
        }
        if self.status {
            entries.push(json!({
                "name": format!("{}/status", self.resource),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        entries
    }

    /// The aggregated discovery entry (`APIResourceDiscovery`, apidiscovery.k8s.io/v2).
    pub(crate) fn aggregated_entry(&self) -> Value {
        let response_kind =
            json!({"group": self.group, "version": self.version, "kind": self.kind});
        let mut entry = json!({
            "resource": self.resource,
            "responseKind": response_kind,
            "scope": if self.namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": self.singular,
            "verbs": self.verbs(),
        });
        if !self.short_names.is_empty() {
            entry["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            entry["categories"] = json!(self.categories);
        }
        if self.status {
            entry["subresources"] = json!([{
                "subresource": "status",
                "responseKind": response_kind,
                "verbs": ["get", "patch", "update"],
            }]);
        }
        entry
    }
}

/// Flags of one built-in table row.
const NS: u8 = 1;
const STATUS: u8 = 2;
const GENERATION: u8 = 4;
const REVIEW: u8 = 8;
const ALL: u8 = 16;

/// The built-in kinds: group, version, kind, plural, short names, flags.
/// One row of the built-in table.
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    u8,
);

const BUILTINS: &[Builtin] = &[
    ("", "v1", "Namespace", "namespaces", &["ns"], STATUS),
    ("", "v1", "Node", "nodes", &["no"], STATUS),
    ("", "v1", "ConfigMap", "configmaps", &["cm"], NS),
    ("", "v1", "Secret", "secrets", &[], NS),
    ("", "v1", "Pod", "pods", &["po"], NS | STATUS | ALL),
    ("", "v1", "Service", "services", &["svc"], NS | STATUS | ALL),
    ("", "v1", "ServiceAccount", "serviceaccounts", &["sa"], NS),
    ("", "v1", "Endpoints", "endpoints", &["ep"], NS),
    ("", "v1", "Event", "events", &["ev"], NS),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &["pvc"],
        NS | STATUS,
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        &["deploy"],
        NS | STATUS | GENERATION | ALL,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        &["sts"],
        NS | STATUS | GENERATION | ALL,
    ),
    (
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        &["ds"],
        NS | STATUS | GENERATION | ALL,
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        &["rs"],
        NS | STATUS | GENERATION | ALL,
    ),
    (
        "batch",
        "v1",
        "Job",
        "jobs",
        &[],
        NS | STATUS | GENERATION | ALL,
    ),
    (
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        &["cj"],
        NS | STATUS | GENERATION | ALL,
    ),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        &["ing"],
        NS | STATUS | GENERATION,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        &["netpol"],
        NS | GENERATION,
    ),
    ("events.k8s.io", "v1", "Event", "events", &["ev"], NS),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", &[], NS),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        &[],
        NS,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        &[],
        0,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        0,
    ),
    ("coordination.k8s.io", "v1", "Lease", "leases", &[], NS),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        STATUS | GENERATION,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        &[],
        GENERATION,
    ),
    (
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        &[],
        REVIEW,
    ),
    (
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        &[],
        REVIEW,
    ),
    (
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        &[],
        REVIEW,
    ),
    (
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        &[],
        REVIEW,
    ),
];

/// The built-in resource types.
pub(crate) fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(
            |(group, version, kind, plural, short, flags)| ResourceType {
                group: (*group).to_owned(),
                version: (*version).to_owned(),
                resource: (*plural).to_owned(),
                singular: kind.to_ascii_lowercase(),
                kind: (*kind).to_owned(),
                namespaced: flags & NS != 0,
                short_names: short.iter().map(|s| (*s).to_owned()).collect(),
                categories: if flags & ALL != 0 {
                    vec!["all".to_owned()]
                } else {
                    Vec::new()
                },
                status: flags & STATUS != 0,
                generation: flags & GENERATION != 0,
                builtin: true,
                behaviour: if flags & REVIEW != 0 {
                    Behaviour::Review
                } else {
                    Behaviour::Plain
                },
            },
        )
        .collect()
}

/// Why a CustomResourceDefinition cannot be served.
pub(crate) fn crd_resource_types(crd: &Value) -> Result<Vec<ResourceType>, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let text = |pointer: &str| -> Result<String, String> {
        spec.pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("spec{}: Required value", pointer.replace('/', ".")))
    };
    let group = text("/group")?;
    if !group.contains('.') {
        return Err(format!(
            "spec.group: Invalid value: {group:?}: should be a domain with at least one dot"
        ));
    }
    if builtins().iter().any(|b| b.group == group) {
        return Err(format!(
            "spec.group: Invalid value: {group:?}: the group is served by a built-in API"
        ));
    }
    let plural = text("/names/plural")?;
    let kind = text("/names/kind")?;
    let singular = spec
        .pointer("/names/singular")
        .and_then(Value::as_str)
        .map_or_else(|| kind.to_ascii_lowercase(), str::to_owned);
    let namespaced = match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => {
            return Err(format!(
                "spec.scope: Unsupported value: {}: supported values: \"Cluster\", \"Namespaced\"",
                other.map_or_else(|| "\"\"".to_owned(), |s| format!("{s:?}"))
            ));
        }
    };
    let expected_name = format!("{plural}.{group}");
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name != expected_name {
        return Err(format!(
            "metadata.name: Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"
        ));
    }
    let strings = |pointer: &str| -> Vec<String> {
        spec.pointer(pointer)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or(
            "spec.versions: Invalid value: must have exactly one version marked as storage version",
        )?;
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if storage != 1 {
        return Err(
            "spec.versions: Invalid value: must have exactly one version marked as storage version"
                .into(),
        );
    }
    let mut out = Vec::new();
    for (index, version) in versions.iter().enumerate() {
        let name = version
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("spec.versions[{index}].name: Required value"))?;
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        out.push(ResourceType {
            group: group.clone(),
            version: name.to_owned(),
            resource: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: strings("/names/shortNames"),
            categories: strings("/names/categories"),
            status: version.pointer("/subresources/status").is_some(),
            generation: true,
            builtin: false,
            behaviour: Behaviour::Plain,
        });
    }
    Ok(out)
}

/// Served resources by group, version and plural, with lookups for routing and discovery.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registry {
    /// (group, version) → plural → type.
    by_version: BTreeMap<(String, String), BTreeMap<String, Arc<ResourceType>>>,
    /// Which CRD (by name) serves which group versions.
    crds: BTreeMap<String, Vec<(String, String, String)>>,
}

impl Registry {
    /// The registry of built-in kinds.
    pub(crate) fn new() -> Self {
        let mut registry = Self::default();
        for resource in builtins() {
            registry.insert(resource);
        }
        registry
    }

    fn insert(&mut self, resource: ResourceType) {
        self.by_version
            .entry((resource.group.clone(), resource.version.clone()))
            .or_default()
            .insert(resource.resource.clone(), Arc::new(resource));
    }

    /// The resource served at a group version and plural.
    pub(crate) fn get(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Option<Arc<ResourceType>> {
        self.by_version
            .get(&(group.to_owned(), version.to_owned()))
            .and_then(|resources| resources.get(resource))
            .cloned()
    }

    /// The resource type of a stored group and resource (its preferred version).
    pub(crate) fn by_group_resource(
        &self,
        group: &str,
        resource: &str,
    ) -> Option<Arc<ResourceType>> {
        let version = self
            .by_version
            .iter()
            .filter(|((g, _), resources)| g == group && resources.contains_key(resource))
            .map(|((_, v), _)| v.clone())
            .max_by_key(|v| version_priority(v))?;
        self.get(group, &version, resource)
    }

    /// The resources of a group version, by plural.
    pub(crate) fn resources(
        &self,
        group: &str,
        version: &str,
    ) -> Option<&BTreeMap<String, Arc<ResourceType>>> {
        self.by_version.get(&(group.to_owned(), version.to_owned()))
    }

    /// Whether a group version is served at all.
    pub(crate) fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.by_version
            .contains_key(&(group.to_owned(), version.to_owned()))
    }

    /// The resource of a kind in an `apiVersion`.
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.by_version
            .get(&(group.to_owned(), version.to_owned()))?
            .values()
            .find(|r| r.kind == kind && r.behaviour == Behaviour::Plain)
            .cloned()
    }

    /// Every group version with its resources, core first, then groups by name.
    pub(crate) fn group_versions(
        &self,
    ) -> impl Iterator<Item = (&(String, String), &BTreeMap<String, Arc<ResourceType>>)> {
        self.by_version.iter()
    }

    /// Serves the kinds of a CRD; replaces what an earlier version of the CRD served.
    pub(crate) fn add_crd(&mut self, name: &str, types: Vec<ResourceType>) {
        self.remove_crd(name);
        let keys = types
            .iter()
            .map(|t| (t.group.clone(), t.version.clone(), t.resource.clone()))
            .collect();
        for resource in types {
            self.insert(resource);
        }
        self.crds.insert(name.to_owned(), keys);
    }

    /// Stops serving the kinds of a CRD.
    pub(crate) fn remove_crd(&mut self, name: &str) {
        for (group, version, resource) in self.crds.remove(name).unwrap_or_default() {
            let key = (group, version);
            if let Some(resources) = self.by_version.get_mut(&key) {
                resources.remove(&resource);
                if resources.is_empty() {
                    self.by_version.remove(&key);
                }
            }
        }
    }
}

/// Kubernetes version ordering: GA above beta above alpha, higher numbers first.
pub(crate) fn version_priority(version: &str) -> (u8, u32, u32) {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_like_kubernetes() {
        let mut versions = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2"];
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(versions, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1"]);
    }

    #[test]
    fn crd_without_storage_version_is_refused() {
        let crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": false}]}});
        assert!(
            crd_resource_types(&crd)
                .unwrap_err()
                .contains("storage version")
        );
    }

    #[test]
    fn crd_name_must_match_plural_and_group() {
        let crd = json!({"metadata": {"name": "widget.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true}]}});
        assert!(
            crd_resource_types(&crd)
                .unwrap_err()
                .contains("metadata.name")
        );
    }
}
