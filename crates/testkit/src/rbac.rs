//! Role-based access control over the stored RBAC objects, as the apiserver's RBAC authorizer
//! decides, plus the 403 message format and the bootstrap policy of a fresh cluster.
//!
//! The decision follows the apiserver: members of `system:masters` may do anything; otherwise
//! `ClusterRoleBindings` are tried first (cluster-wide, `ClusterRoles` only), then the `RoleBindings` of
//! the request's namespace (a Role of that namespace or a `ClusterRole`, granting in that namespace
//! only). The first binding whose subject is the user and whose role has a rule allowing the
//! request allows it; nothing matching denies it. There is no explicit deny in RBAC.
//!
//! Aggregated `ClusterRoles` (`aggregationRule.clusterRoleSelectors`) are resolved when authorizing,
//! transitively, instead of by a controller rewriting the stored `rules`: a role's effective rules
//! are its own stored rules plus those of every `ClusterRole` its selectors match. (A real cluster's
//! controller would overwrite a hand-written `rules` of an aggregated role; here they are kept.)

use serde_json::{Value, json};

use crate::selector::LabelSelector;

/// The group whose members are allowed everything, as by the apiserver's superuser path.
const SUPERUSER_GROUP: &str = "system:masters";
/// The API group of RBAC objects, and of the `User` and `Group` subjects.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The `apiVersion` of the bootstrap objects.
const RBAC_API_VERSION: &str = "rbac.authorization.k8s.io/v1";
/// The prefix of a service account's username, before `<namespace>:<name>`.
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserInfo {
    /// The username, e.g. `alice` or `system:serviceaccount:default:builder`.
    pub(crate) username: String,
    /// The user's unique id (not used by RBAC).
    pub(crate) uid: String,
    /// The groups, e.g. `system:authenticated`; service accounts' groups
    /// (`system:serviceaccounts`, `system:serviceaccounts:<ns>`) must be listed by the caller.
    pub(crate) groups: Vec<String>,
}

/// What is asked, as the apiserver's authorizer sees a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Attributes {
    /// `get list watch create update patch delete deletecollection` (resource) or the lowercase
    /// HTTP method `get post put ...` (non-resource).
    pub(crate) verb: String,
    /// Whether the request is for an API resource (otherwise for a path such as `/version`).
    pub(crate) resource_request: bool,
    /// The API group, `""` for core.
    pub(crate) api_group: String,
    /// The plural resource, e.g. `deployments`.
    pub(crate) resource: String,
    /// `""` or the subresource, e.g. `status`.
    pub(crate) subresource: String,
    /// `""` for cluster-scoped resources or all namespaces.
    pub(crate) namespace: String,
    /// The object's name, `""` when none (list, create, deletecollection).
    pub(crate) name: String,
    /// The URL path of a non-resource request, e.g. `/version` or `/apis`.
    pub(crate) path: String,
}

/// The RBAC objects (as stored JSON, each a full object with
/// metadata/rules/subjects/roleRef/aggregationRule).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy<'a> {
    /// The Roles of all namespaces.
    pub(crate) roles: &'a [Value],
    /// The `ClusterRoles`.
    pub(crate) cluster_roles: &'a [Value],
    /// The `RoleBindings` of all namespaces.
    pub(crate) role_bindings: &'a [Value],
    /// The `ClusterRoleBindings`.
    pub(crate) cluster_role_bindings: &'a [Value],
}

/// The outcome of authorizing a request, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Allowed, e.g. `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "alice"`.
    Allow(String),
    /// Denied, e.g. `RBAC: no rule allows User "alice" to list resource "secrets" ...`.
    Deny(String),
}

/// Decides whether `user` may do what `attrs` describes under `policy`.
pub(crate) fn authorize(user: &UserInfo, attrs: &Attributes, policy: &Policy<'_>) -> Decision {
    if user.groups.iter().any(|g| g == SUPERUSER_GROUP) {
        return Decision::Allow(format!(
            "allowed: User {} is a member of the superuser group {}",
            crate::status::go_quote(&user.username),
            crate::status::go_quote(SUPERUSER_GROUP)
        ));
    }
    for binding in policy.cluster_role_bindings {
        let Some(subject) = matching_subject(binding, user, "") else {
            continue;
        };
        let Some((kind, role_name)) = role_ref(binding) else {
            continue;
        };
        if kind != "ClusterRole" {
            continue;
        }
        let Some(role) = find_cluster_role(policy, role_name) else {
            continue;
        };
        if effective_rules(role, policy)
            .into_iter()
            .any(|rule| rule_allows(rule, attrs))
        {
            return Decision::Allow(format!(
                "RBAC: allowed by ClusterRoleBinding {} of ClusterRole {} to {subject}",
                crate::status::go_quote(meta_str(binding, "name")),
                crate::status::go_quote(role_name)
            ));
        }
    }
    if attrs.resource_request && !attrs.namespace.is_empty() {
        let namespace = attrs.namespace.as_str();
        for binding in policy
            .role_bindings
            .iter()
            .filter(|b| meta_str(b, "namespace") == namespace)
        {
            let Some(subject) = matching_subject(binding, user, namespace) else {
                continue;
            };
            let Some((kind, role_name)) = role_ref(binding) else {
                continue;
            };
            let role = match kind {
                "Role" => policy.roles.iter().find(|r| {
                    meta_str(r, "namespace") == namespace && meta_str(r, "name") == role_name
                }),
                "ClusterRole" => find_cluster_role(policy, role_name),
                _ => None,
            };
            let Some(role) = role else {
                continue;
            };
            let rules = if kind == "Role" {
                own_rules(role).collect()
            } else {
                effective_rules(role, policy)
            };
            if rules.into_iter().any(|rule| rule_allows(rule, attrs)) {
                return Decision::Allow(format!(
                    "RBAC: allowed by RoleBinding {} of {kind} {} to {subject}",
                    crate::status::go_quote(&format!("{}/{namespace}", meta_str(binding, "name"))),
                    crate::status::go_quote(role_name)
                ));
            }
        }
    }
    Decision::Deny(format!(
        "RBAC: no rule allows User {} to {}",
        crate::status::go_quote(&user.username),
        describe_request(attrs)
    ))
}

/// The message of the 403 Status for a denied request, in the apiserver's exact format, e.g.
/// `configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default"`
/// `configmaps "x" is forbidden: User "alice" cannot get resource "configmaps" in API group "" in the namespace "default"`
/// `deployments.apps is forbidden: User "bob" cannot list resource "deployments" in API group "apps" at the cluster scope`
/// `pods "p" is forbidden: User "bob" cannot get resource "pods/status" in API group "" ...` (subresource form)
/// `forbidden: User "bob" cannot get path "/version"` (non-resource)
pub(crate) fn forbidden_message(user: &UserInfo, attrs: &Attributes) -> String {
    let reason = format!(
        "User {} cannot {}",
        crate::status::go_quote(&user.username),
        describe_request(attrs)
    );
    if !attrs.resource_request || attrs.resource.is_empty() {
        return format!("forbidden: {reason}");
    }
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    if attrs.name.is_empty() {
        format!("{qualified} is forbidden: {reason}")
    } else {
        format!(
            "{qualified} {} is forbidden: {reason}",
            crate::status::go_quote(&attrs.name)
        )
    }
}

/// The request as the forbidden message words it after the username and "cannot", e.g.
/// `list resource "pods" in API group "" in the namespace "default"` or `get path "/version"`.
fn describe_request(attrs: &Attributes) -> String {
    if !attrs.resource_request {
        return format!(
            "{} path {}",
            attrs.verb,
            crate::status::go_quote(&attrs.path)
        );
    }
    let resource = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let scope = if attrs.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!(
            "in the namespace {}",
            crate::status::go_quote(&attrs.namespace)
        )
    };
    format!(
        "{} resource {} in API group {} {scope}",
        attrs.verb,
        crate::status::go_quote(&resource),
        crate::status::go_quote(&attrs.api_group)
    )
}

/// A string field of an object's `metadata`, `""` when absent.
fn meta_str<'v>(obj: &'v Value, field: &str) -> &'v str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A string field of a JSON object, `""` when absent.
fn str_field<'v>(obj: &'v Value, field: &str) -> &'v str {
    obj.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The strings of an array field of a rule (non-strings and an absent field give nothing).
fn str_list<'v>(obj: &'v Value, field: &str) -> impl Iterator<Item = &'v str> {
    obj.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// A binding's `roleRef` kind and name.
fn role_ref(binding: &Value) -> Option<(&str, &str)> {
    let role_ref = binding.get("roleRef")?;
    Some((str_field(role_ref, "kind"), str_field(role_ref, "name")))
}

/// The `ClusterRole` named `name`.
fn find_cluster_role<'p>(policy: &Policy<'p>, name: &str) -> Option<&'p Value> {
    policy
        .cluster_roles
        .iter()
        .find(|r| meta_str(r, "name") == name)
}

/// The first subject of `binding` that is `user`, described as in an allow reason (e.g.
/// `User "alice"`, `ServiceAccount "ns/name"`). A `ServiceAccount` subject without a namespace is
/// in `binding_namespace` (the binding's own, `""` for a `ClusterRoleBinding`).
fn matching_subject(binding: &Value, user: &UserInfo, binding_namespace: &str) -> Option<String> {
    let subjects = binding.get("subjects")?.as_array()?;
    subjects.iter().find_map(|subject| {
        let name = str_field(subject, "name");
        if name.is_empty() {
            return None;
        }
        match str_field(subject, "kind") {
            "User" if user.username == name => {
                Some(format!("User {}", crate::status::go_quote(name)))
            }
            "Group" if user.groups.iter().any(|g| g == name) => {
                Some(format!("Group {}", crate::status::go_quote(name)))
            }
            "ServiceAccount" => {
                let namespace = match str_field(subject, "namespace") {
                    "" => binding_namespace,
                    ns => ns,
                };
                let expected = format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}");
                (!namespace.is_empty() && user.username == expected).then(|| {
                    format!(
                        "ServiceAccount {}",
                        crate::status::go_quote(&format!("{namespace}/{name}"))
                    )
                })
            }
            _ => None,
        }
    })
}

/// The stored `rules` of a Role or `ClusterRole`.
fn own_rules(role: &Value) -> impl Iterator<Item = &Value> {
    role.get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The rules of a `ClusterRole` with its aggregation resolved: its own rules, then those of every
/// `ClusterRole` its `aggregationRule.clusterRoleSelectors` match, transitively.
fn effective_rules<'p>(role: &'p Value, policy: &Policy<'p>) -> Vec<&'p Value> {
    let mut rules = Vec::new();
    let mut visited = vec![meta_str(role, "name")];
    collect_rules(role, policy, &mut rules, &mut visited);
    rules
}

/// Adds the rules of `role` and of the `ClusterRoles` it aggregates that are not in `visited`.
fn collect_rules<'p>(
    role: &'p Value,
    policy: &Policy<'p>,
    rules: &mut Vec<&'p Value>,
    visited: &mut Vec<&'p str>,
) {
    rules.extend(own_rules(role));
    let selectors = role
        .get("aggregationRule")
        .and_then(|a| a.get("clusterRoleSelectors"))
        .and_then(Value::as_array);
    let Some(selectors) = selectors else {
        return;
    };
    // An invalid selector selects nothing (the apiserver would have refused the object).
    let selectors: Vec<LabelSelector> = selectors
        .iter()
        .filter_map(|s| LabelSelector::from_json(s).ok())
        .collect();
    for candidate in policy.cluster_roles {
        let name = meta_str(candidate, "name");
        if visited.contains(&name) {
            continue;
        }
        let labels = candidate
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        if selectors.iter().any(|s| s.matches(labels)) {
            visited.push(name);
            collect_rules(candidate, policy, rules, visited);
        }
    }
}

/// Whether one policy rule allows the request.
fn rule_allows(rule: &Value, attrs: &Attributes) -> bool {
    if !str_list(rule, "verbs").any(|v| v == "*" || v == attrs.verb) {
        return false;
    }
    if !attrs.resource_request {
        return str_list(rule, "nonResourceURLs").any(|url| url_matches(url, &attrs.path));
    }
    str_list(rule, "apiGroups").any(|g| g == "*" || g == attrs.api_group)
        && str_list(rule, "resources").any(|r| resource_matches(r, attrs))
        && resource_name_matches(rule, &attrs.name)
}

/// Whether a rule's resource entry covers the requested resource and subresource: `*`, the exact
/// `resource` or `resource/subresource`, `*/subresource`, or `resource/*` (any subresource).
fn resource_matches(entry: &str, attrs: &Attributes) -> bool {
    if entry == "*" {
        return true;
    }
    let Some((resource, subresource)) = entry.split_once('/') else {
        return attrs.subresource.is_empty() && entry == attrs.resource;
    };
    if attrs.subresource.is_empty() {
        return false;
    }
    (resource == "*" || resource == attrs.resource)
        && (subresource == attrs.subresource || (subresource == "*" && resource != "*"))
}

/// Whether a rule's `resourceNames` (if any) allow the requested name; a request without a name
/// never matches a rule with resource names.
fn resource_name_matches(rule: &Value, name: &str) -> bool {
    let mut names = str_list(rule, "resourceNames").peekable();
    if names.peek().is_none() {
        return true;
    }
    !name.is_empty() && names.any(|n| n == name)
}

/// Whether a `nonResourceURLs` entry covers `path`: equal, `*`, or a prefix ending in `*`.
fn url_matches(entry: &str, path: &str) -> bool {
    match entry.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => entry == path,
    }
}

/// Read verbs.
const READ: &[&str] = &["get", "list", "watch"];
/// Write verbs, as `edit` has them.
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
/// Every resource verb.
const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// The label aggregating a role into `view`.
const TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";
/// The label aggregating a role into `edit`.
const TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
/// The label aggregating a role into `admin`.
const TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";

/// The metadata of a bootstrap object, with its extra labels set to `"true"`.
fn bootstrap_metadata(name: &str, true_labels: &[&str]) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/bootstrapping".into(), json!("rbac-defaults"));
    for label in true_labels {
        labels.insert((*label).to_owned(), json!("true"));
    }
    json!({
        "name": name,
        "labels": labels,
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

/// A resource rule.
fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

/// A non-resource rule.
fn url_rule(urls: &[&str], verbs: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}

/// A bootstrap `ClusterRole` with plain rules.
fn cluster_role(name: &str, true_labels: &[&str], rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": bootstrap_metadata(name, true_labels),
        "rules": Value::Array(rules),
    })
}

/// A bootstrap `ClusterRole` aggregating the `ClusterRoles` labelled `aggregate_label: "true"`.
fn aggregated_cluster_role(name: &str, true_labels: &[&str], aggregate_label: &str) -> Value {
    json!({
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": bootstrap_metadata(name, true_labels),
        "aggregationRule": {
            "clusterRoleSelectors": [{"matchLabels": {aggregate_label: "true"}}],
        },
        "rules": [],
    })
}

/// A bootstrap `ClusterRoleBinding` of the `ClusterRole` of the same name to groups.
fn group_binding(name: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": RBAC_GROUP, "kind": "Group", "name": g}))
        .collect();
    json!({
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": bootstrap_metadata(name, &[]),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
        "subjects": subjects,
    })
}

/// The bootstrap `ClusterRoles` and `ClusterRoleBindings` a fresh cluster has, as JSON objects
/// (apiVersion rbac.authorization.k8s.io/v1): cluster-admin (bound to group system:masters),
/// system:discovery and system:public-info-viewer (bound to system:authenticated, and for
/// public-info-viewer also system:unauthenticated), system:basic-user (bound to
/// system:authenticated: create selfsubjectaccessreviews, selfsubjectrulesreviews,
/// selfsubjectreviews), plus aggregated `view`, `edit`, `admin` `ClusterRoles`.
///
/// As in a real cluster, `view`, `edit` and `admin` hold no rules of their own: they aggregate
/// `system:aggregate-to-view`, `-edit` and `-admin` (and `view` is aggregated into `edit`, `edit`
/// into `admin`). Those rules are an approximation of the real ones, covering the core, apps,
/// autoscaling, batch, policy, discovery and networking kinds: `view` reads them all but secrets,
/// `edit` also writes them and reads secrets, `admin` also manages Roles and `RoleBindings`.
/// Each object has labels `kubernetes.io/bootstrapping: rbac-defaults` and annotation
/// `rbac.authorization.kubernetes.io/autoupdate: "true"`.
pub(crate) fn bootstrap_policy() -> Vec<Value> {
    let discovery_urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    let public_info_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    vec![
        cluster_role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        group_binding("cluster-admin", &[SUPERUSER_GROUP]),
        cluster_role(
            "system:discovery",
            &[],
            vec![url_rule(&discovery_urls, &["get"])],
        ),
        group_binding("system:discovery", &["system:authenticated"]),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![url_rule(&public_info_urls, &["get"])],
        ),
        group_binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ],
        ),
        group_binding("system:basic-user", &["system:authenticated"]),
        aggregated_cluster_role("admin", &[], TO_ADMIN),
        aggregated_cluster_role("edit", &[TO_ADMIN], TO_EDIT),
        aggregated_cluster_role("view", &[TO_EDIT], TO_VIEW),
        cluster_role("system:aggregate-to-admin", &[TO_ADMIN], admin_rules()),
        cluster_role("system:aggregate-to-edit", &[TO_EDIT], edit_rules()),
        cluster_role("system:aggregate-to-view", &[TO_VIEW], view_rules()),
    ]
}

/// The rules `admin` adds to `edit` (an approximation).
fn admin_rules() -> Vec<Value> {
    vec![
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
        rule(&[RBAC_GROUP], &["rolebindings", "roles"], ALL_VERBS),
    ]
}

/// The rules `edit` adds to `view` (an approximation).
fn edit_rules() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
            WRITE,
        ),
        rule(
            &[""],
            &["pods/eviction", "serviceaccounts/token"],
            &["create"],
        ),
        rule(
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(&["discovery.k8s.io"], &["endpointslices"], WRITE),
    ]
}

/// The rules of `view` (an approximation): reading the namespaced kinds, secrets excepted.
fn view_rules() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "bindings",
                "configmaps",
                "endpoints",
                "events",
                "limitranges",
                "namespaces",
                "namespaces/status",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "pods/log",
                "pods/status",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
                "serviceaccounts",
                "services",
                "services/status",
            ],
            READ,
        ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.to_owned(),
            uid: format!("uid-{name}"),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    fn res(verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.to_owned(),
            resource_request: true,
            api_group: group.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            ..Attributes::default()
        }
    }

    fn sub(mut attrs: Attributes, subresource: &str) -> Attributes {
        attrs.subresource = subresource.to_owned();
        attrs
    }

    fn path(verb: &str, path: &str) -> Attributes {
        Attributes {
            verb: verb.to_owned(),
            path: path.to_owned(),
            ..Attributes::default()
        }
    }

    fn role(namespace: &str, name: &str, rules: Value) -> Value {
        let mut role = json!({"kind": "Role", "metadata": {"namespace": namespace, "name": name}});
        role["rules"] = rules;
        role
    }

    fn cluster_role(name: &str, labels: Value, rules: Value) -> Value {
        let mut role = json!({"kind": "ClusterRole", "metadata": {"name": name}});
        role["metadata"]["labels"] = labels;
        role["rules"] = rules;
        role
    }

    fn role_binding(namespace: &str, name: &str, kind: &str, role: &str, subjects: Value) -> Value {
        let mut binding = json!({
            "kind": "RoleBinding",
            "metadata": {"namespace": namespace, "name": name},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": kind, "name": role},
        });
        binding["subjects"] = subjects;
        binding
    }

    fn cluster_binding(name: &str, kind: &str, role: &str, subjects: Value) -> Value {
        let mut binding = json!({
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": kind, "name": role},
        });
        binding["subjects"] = subjects;
        binding
    }

    fn user_subject(name: &str) -> Value {
        json!([{"apiGroup": RBAC_GROUP, "kind": "User", "name": name}])
    }

    #[derive(Default)]
    struct Objects {
        roles: Vec<Value>,
        cluster_roles: Vec<Value>,
        role_bindings: Vec<Value>,
        cluster_role_bindings: Vec<Value>,
    }

    impl Objects {
        fn policy(&self) -> Policy<'_> {
            Policy {
                roles: &self.roles,
                cluster_roles: &self.cluster_roles,
                role_bindings: &self.role_bindings,
                cluster_role_bindings: &self.cluster_role_bindings,
            }
        }

        fn allows(&self, user: &UserInfo, attrs: &Attributes) -> bool {
            matches!(authorize(user, attrs, &self.policy()), Decision::Allow(_))
        }

        fn reason(&self, user: &UserInfo, attrs: &Attributes) -> String {
            match authorize(user, attrs, &self.policy()) {
                Decision::Allow(r) | Decision::Deny(r) => r,
            }
        }
    }

    fn bootstrap() -> Objects {
        let mut objects = Objects::default();
        for obj in bootstrap_policy() {
            match obj["kind"].as_str().unwrap() {
                "ClusterRole" => objects.cluster_roles.push(obj),
                "ClusterRoleBinding" => objects.cluster_role_bindings.push(obj),
                other => panic!("unexpected bootstrap kind {other}"),
            }
        }
        objects
    }

    #[test]
    fn nothing_allows_by_default() {
        let objects = Objects::default();
        let alice = user("alice", &["system:authenticated"]);
        let attrs = res("list", "", "configmaps", "default", "");
        assert_eq!(
            authorize(&alice, &attrs, &objects.policy()),
            Decision::Deny(
                "RBAC: no rule allows User \"alice\" to list resource \"configmaps\" in API group \
                 \"\" in the namespace \"default\""
                    .to_owned()
            )
        );
    }

    #[test]
    fn superuser_group_is_allowed_everything() {
        let objects = Objects::default();
        let admin = user("admin", &["system:masters", "system:authenticated"]);
        assert!(objects.allows(&admin, &res("delete", "apps", "deployments", "x", "y")));
        assert!(objects.allows(&admin, &path("post", "/anything")));
        assert!(
            objects
                .reason(&admin, &path("get", "/version"))
                .contains("system:masters")
        );
    }

    #[test]
    fn role_binding_of_role_is_namespace_limited() {
        let objects = Objects {
            roles: vec![
                role(
                    "dev",
                    "reader",
                    json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
                ),
                // A Role of the same name elsewhere is not the one referenced.
                role(
                    "other",
                    "writer",
                    json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
                ),
            ],
            role_bindings: vec![
                role_binding(
                    "dev",
                    "alice-reads",
                    "Role",
                    "reader",
                    user_subject("alice"),
                ),
                role_binding(
                    "dev",
                    "alice-writes",
                    "Role",
                    "writer",
                    user_subject("alice"),
                ),
            ],
            ..Objects::default()
        };
        let alice = user("alice", &[]);
        assert!(objects.allows(&alice, &res("list", "", "configmaps", "dev", "")));
        assert!(objects.allows(&alice, &res("get", "", "configmaps", "dev", "x")));
        assert_eq!(
            objects.reason(&alice, &res("get", "", "configmaps", "dev", "x")),
            "RBAC: allowed by RoleBinding \"alice-reads/dev\" of Role \"reader\" to User \"alice\""
        );
        assert!(!objects.allows(&alice, &res("delete", "", "configmaps", "dev", "x")));
        assert!(!objects.allows(&alice, &res("list", "", "configmaps", "prod", "")));
        assert!(!objects.allows(&alice, &res("list", "", "configmaps", "", "")));
        assert!(!objects.allows(&alice, &res("list", "", "secrets", "dev", "")));
        assert!(!objects.allows(&user("bob", &[]), &res("list", "", "configmaps", "dev", "")));
    }

    #[test]
    fn role_binding_of_cluster_role_is_namespace_limited() {
        let objects = Objects {
            cluster_roles: vec![cluster_role(
                "pod-reader",
                json!({}),
                json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]),
            )],
            role_bindings: vec![role_binding(
                "dev",
                "read-pods",
                "ClusterRole",
                "pod-reader",
                user_subject("alice"),
            )],
            ..Objects::default()
        };
        let alice = user("alice", &[]);
        assert!(objects.allows(&alice, &res("watch", "", "pods", "dev", "")));
        assert_eq!(
            objects.reason(&alice, &res("watch", "", "pods", "dev", "")),
            "RBAC: allowed by RoleBinding \"read-pods/dev\" of ClusterRole \"pod-reader\" to User \
             \"alice\""
        );
        assert!(!objects.allows(&alice, &res("watch", "", "pods", "prod", "")));
        assert!(!objects.allows(&alice, &res("watch", "", "pods", "", "")));
    }

    #[test]
    fn cluster_role_binding_grants_everywhere_and_only_cluster_roles() {
        let objects = Objects {
            roles: vec![role(
                "",
                "sneaky",
                json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
            )],
            cluster_roles: vec![cluster_role(
                "deploy-reader",
                json!({}),
                json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]),
            )],
            cluster_role_bindings: vec![
                cluster_binding(
                    "bob-reads",
                    "ClusterRole",
                    "deploy-reader",
                    user_subject("bob"),
                ),
                cluster_binding("bob-sneaks", "Role", "sneaky", user_subject("bob")),
            ],
            ..Objects::default()
        };
        let bob = user("bob", &[]);
        assert!(objects.allows(&bob, &res("list", "apps", "deployments", "", "")));
        assert!(objects.allows(&bob, &res("list", "apps", "deployments", "any", "")));
        assert_eq!(
            objects.reason(&bob, &res("list", "apps", "deployments", "", "")),
            "RBAC: allowed by ClusterRoleBinding \"bob-reads\" of ClusterRole \"deploy-reader\" \
             to User \"bob\""
        );
        // Wrong group, wrong verb, and the Role referenced by a ClusterRoleBinding grants nothing.
        assert!(!objects.allows(&bob, &res("list", "", "deployments", "", "")));
        assert!(!objects.allows(&bob, &res("get", "apps", "deployments", "", "d")));
        assert!(!objects.allows(&bob, &res("list", "", "pods", "", "")));
    }

    #[test]
    fn group_subjects() {
        let objects = Objects {
            cluster_roles: vec![cluster_role(
                "ns-reader",
                json!({}),
                json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]),
            )],
            cluster_role_bindings: vec![cluster_binding(
                "readers",
                "ClusterRole",
                "ns-reader",
                json!([{"apiGroup": RBAC_GROUP, "kind": "Group", "name": "team-a"}]),
            )],
            ..Objects::default()
        };
        let attrs = res("list", "", "namespaces", "", "");
        assert!(objects.allows(&user("carol", &["team-b", "team-a"]), &attrs));
        assert!(
            objects
                .reason(&user("carol", &["team-a"]), &attrs)
                .ends_with("to Group \"team-a\"")
        );
        assert!(!objects.allows(&user("dave", &["team-b"]), &attrs));
        // A user named like the group is not in it.
        assert!(!objects.allows(&user("team-a", &[]), &attrs));
    }

    #[test]
    fn service_account_subjects() {
        let objects = Objects {
            roles: vec![role(
                "ci",
                "deployer",
                json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create"]}]),
            )],
            cluster_roles: vec![cluster_role(
                "node-reader",
                json!({}),
                json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]),
            )],
            role_bindings: vec![
                // Namespace given, and defaulted to the binding's.
                role_binding(
                    "ci",
                    "builder-deploys",
                    "Role",
                    "deployer",
                    json!([{"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}]),
                ),
                role_binding(
                    "ci",
                    "runner-deploys",
                    "Role",
                    "deployer",
                    json!([{"kind": "ServiceAccount", "name": "runner"}]),
                ),
            ],
            cluster_role_bindings: vec![cluster_binding(
                "builder-nodes",
                "ClusterRole",
                "node-reader",
                json!([{"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}]),
            )],
        };
        let builder = user(
            "system:serviceaccount:ci:builder",
            &["system:serviceaccounts", "system:serviceaccounts:ci"],
        );
        let create = res("create", "apps", "deployments", "ci", "");
        assert!(objects.allows(&builder, &create));
        assert_eq!(
            objects.reason(&builder, &create),
            "RBAC: allowed by RoleBinding \"builder-deploys/ci\" of Role \"deployer\" to \
             ServiceAccount \"ci/builder\""
        );
        assert!(objects.allows(&user("system:serviceaccount:ci:runner", &[]), &create));
        assert!(objects.allows(&builder, &res("get", "", "nodes", "", "n1")));
        // The same name in another namespace, or a plain user of that name, is someone else.
        assert!(!objects.allows(&user("system:serviceaccount:prod:builder", &[]), &create));
        assert!(!objects.allows(&user("builder", &[]), &create));
        assert!(!objects.allows(
            &user("system:serviceaccount:ci:builder", &[]),
            &res("create", "apps", "deployments", "prod", "")
        ));
    }

    #[test]
    fn resource_names() {
        let objects = Objects {
            roles: vec![role(
                "dev",
                "one-config",
                json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app-config"], "verbs": ["get", "list", "update"]}]),
            )],
            role_bindings: vec![role_binding(
                "dev",
                "b",
                "Role",
                "one-config",
                user_subject("alice"),
            )],
            ..Objects::default()
        };
        let alice = user("alice", &[]);
        assert!(objects.allows(&alice, &res("get", "", "configmaps", "dev", "app-config")));
        assert!(objects.allows(
            &alice,
            &res("update", "", "configmaps", "dev", "app-config")
        ));
        assert!(!objects.allows(&alice, &res("get", "", "configmaps", "dev", "other")));
        // A request without a name never matches a rule with resource names.
        assert!(!objects.allows(&alice, &res("list", "", "configmaps", "dev", "")));
    }

    #[test]
    fn subresources_and_wildcards() {
        let rules = json!([
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["update"]},
            {"apiGroups": ["apps"], "resources": ["deployments/*"], "verbs": ["patch"]},
            {"apiGroups": ["batch"], "resources": ["*"], "verbs": ["*"]},
        ]);
        let objects = Objects {
            cluster_roles: vec![cluster_role("mixed", json!({}), rules)],
            cluster_role_bindings: vec![cluster_binding(
                "b",
                "ClusterRole",
                "mixed",
                user_subject("eve"),
            )],
            ..Objects::default()
        };
        let eve = user("eve", &[]);
        let pod = || res("get", "", "pods", "ns", "p");
        assert!(objects.allows(&eve, &pod()));
        assert!(objects.allows(&eve, &sub(pod(), "log")));
        // `pods` does not cover its subresources.
        assert!(!objects.allows(&eve, &sub(pod(), "exec")));
        // `*/status` covers the status of anything, but not the resource itself.
        let update = |g: &str, r: &str| res("update", g, r, "ns", "x");
        assert!(objects.allows(&eve, &sub(update("", "pods"), "status")));
        assert!(objects.allows(&eve, &sub(update("apps", "deployments"), "status")));
        assert!(!objects.allows(&eve, &update("", "pods")));
        assert!(!objects.allows(&eve, &sub(update("", "pods"), "scale")));
        // `deployments/*` covers any subresource of deployments, not deployments itself.
        let patch = |r: &str| res("patch", "apps", r, "ns", "x");
        assert!(objects.allows(&eve, &sub(patch("deployments"), "scale")));
        assert!(objects.allows(&eve, &sub(patch("deployments"), "status")));
        assert!(!objects.allows(&eve, &patch("deployments")));
        assert!(!objects.allows(&eve, &sub(patch("statefulsets"), "scale")));
        // `*` covers resources and subresources, and the `*` verb every verb.
        assert!(objects.allows(&eve, &res("deletecollection", "batch", "jobs", "ns", "")));
        assert!(objects.allows(
            &eve,
            &sub(res("update", "batch", "jobs", "ns", "j"), "status")
        ));
        assert!(!objects.allows(&eve, &res("delete", "apps", "jobs", "ns", "j")));
    }

    #[test]
    fn non_resource_urls() {
        let objects = Objects {
            roles: vec![role(
                "dev",
                "urls",
                json!([{"nonResourceURLs": ["*"], "verbs": ["*"]}]),
            )],
            cluster_roles: vec![cluster_role(
                "urls",
                json!({}),
                json!([
                    {"nonResourceURLs": ["/version", "/apis/*"], "verbs": ["get"]},
                    {"nonResourceURLs": ["/logs*"], "verbs": ["get", "post"]},
                ]),
            )],
            role_bindings: vec![
                role_binding("dev", "rb-role", "Role", "urls", user_subject("dan")),
                role_binding("dev", "rb-cr", "ClusterRole", "urls", user_subject("dan")),
            ],
            cluster_role_bindings: vec![cluster_binding(
                "crb",
                "ClusterRole",
                "urls",
                user_subject("frank"),
            )],
        };
        let frank = user("frank", &[]);
        assert!(objects.allows(&frank, &path("get", "/version")));
        assert!(!objects.allows(&frank, &path("get", "/version/extra")));
        assert!(objects.allows(&frank, &path("get", "/apis/apps/v1")));
        assert!(!objects.allows(&frank, &path("get", "/apis")));
        assert!(objects.allows(&frank, &path("post", "/logs/kubelet.log")));
        assert!(objects.allows(&frank, &path("get", "/logs")));
        assert!(!objects.allows(&frank, &path("post", "/version")));
        // Non-resource URLs are not granted through RoleBindings.
        let dan = user("dan", &[]);
        assert!(!objects.allows(&dan, &path("get", "/version")));
        let mut namespaced = path("get", "/version");
        namespaced.namespace = "dev".to_owned();
        assert!(!objects.allows(&dan, &namespaced));
        // A non-resource rule does not cover resources, nor a resource rule paths.
        assert!(!objects.allows(&frank, &res("get", "", "version", "", "")));
    }

    #[test]
    fn aggregation() {
        let objects = Objects {
            cluster_roles: vec![
                json!({
                    "kind": "ClusterRole",
                    "metadata": {"name": "monitoring"},
                    "aggregationRule": {"clusterRoleSelectors": [
                        {"matchLabels": {"example.com/aggregate-to-monitoring": "true"}},
                        {"matchExpressions": [{"key": "extra", "operator": "Exists"}]},
                    ]},
                }),
                cluster_role(
                    "metrics",
                    json!({"example.com/aggregate-to-monitoring": "true"}),
                    json!([{"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["list"]}]),
                ),
                cluster_role(
                    "extra",
                    json!({"extra": ""}),
                    json!([{"apiGroups": [""], "resources": ["events"], "verbs": ["watch"]}]),
                ),
                cluster_role(
                    "unrelated",
                    json!({"example.com/aggregate-to-monitoring": "false"}),
                    json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
                ),
            ],
            cluster_role_bindings: vec![cluster_binding(
                "mon",
                "ClusterRole",
                "monitoring",
                user_subject("grace"),
            )],
            ..Objects::default()
        };
        let grace = user("grace", &[]);
        assert!(objects.allows(&grace, &res("list", "metrics.k8s.io", "pods", "", "")));
        assert!(objects.allows(&grace, &res("watch", "", "events", "ns", "")));
        assert!(!objects.allows(&grace, &res("get", "", "secrets", "ns", "s")));
    }

    #[test]
    fn aggregation_cycles_terminate() {
        let a = json!({
            "kind": "ClusterRole",
            "metadata": {"name": "a", "labels": {"to-b": "true"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-a": "true"}}]},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        });
        let b = json!({
            "kind": "ClusterRole",
            "metadata": {"name": "b", "labels": {"to-a": "true"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-b": "true"}}]},
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
        });
        let objects = Objects {
            cluster_roles: vec![a, b],
            cluster_role_bindings: vec![cluster_binding(
                "x",
                "ClusterRole",
                "a",
                user_subject("h"),
            )],
            ..Objects::default()
        };
        let h = user("h", &[]);
        assert!(objects.allows(&h, &res("get", "", "nodes", "", "n")));
        assert!(objects.allows(&h, &res("get", "", "pods", "ns", "p")));
    }

    #[test]
    fn bootstrap_policy_discovery_but_no_secrets() {
        let objects = bootstrap();
        let alice = user("alice", &["system:authenticated"]);
        for p in [
            "/api",
            "/apis",
            "/apis/apps/v1",
            "/version",
            "/healthz",
            "/openapi/v2",
        ] {
            assert!(objects.allows(&alice, &path("get", p)), "{p}");
        }
        assert!(!objects.allows(&alice, &path("post", "/apis")));
        assert!(!objects.allows(&alice, &path("get", "/metrics")));
        assert!(!objects.allows(&alice, &res("list", "", "secrets", "default", "")));
        assert!(!objects.allows(&alice, &res("list", "", "secrets", "", "")));
        assert!(!objects.allows(&alice, &res("get", "", "configmaps", "default", "c")));
        assert!(objects.allows(
            &alice,
            &res(
                "create",
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                "",
                ""
            )
        ));
        assert!(objects.allows(
            &alice,
            &res(
                "create",
                "authentication.k8s.io",
                "selfsubjectreviews",
                "",
                ""
            )
        ));
        let anonymous = user("system:anonymous", &["system:unauthenticated"]);
        assert!(objects.allows(&anonymous, &path("get", "/version")));
        assert!(!objects.allows(&anonymous, &path("get", "/apis")));
        // cluster-admin is bound to system:masters (which is also the superuser path).
        let root = user("root", &["system:masters"]);
        assert!(objects.allows(&root, &res("list", "", "secrets", "", "")));
    }

    #[test]
    fn bootstrap_policy_aggregated_roles() {
        let mut objects = bootstrap();
        for (who, role) in [("viewer", "view"), ("editor", "edit"), ("owner", "admin")] {
            objects.role_bindings.push(role_binding(
                "team",
                who,
                "ClusterRole",
                role,
                user_subject(who),
            ));
        }
        let can = |who: &str, attrs: Attributes| objects.allows(&user(who, &[]), &attrs);
        let list_pods = || res("list", "", "pods", "team", "");
        let secrets = || res("get", "", "secrets", "team", "s");
        let create_deploy = || res("create", "apps", "deployments", "team", "");
        let roles = || res("create", RBAC_GROUP, "roles", "team", "");
        assert!(can("viewer", list_pods()));
        assert!(can("viewer", res("watch", "batch", "jobs", "team", "")));
        assert!(can(
            "viewer",
            sub(res("get", "", "pods", "team", "p"), "log")
        ));
        assert!(!can("viewer", secrets()));
        assert!(!can("viewer", create_deploy()));
        assert!(!can("viewer", list_pods().tap_namespace("other")));
        assert!(can("editor", list_pods()));
        assert!(can("editor", secrets()));
        assert!(can("editor", create_deploy()));
        assert!(!can("editor", roles()));
        assert!(can("owner", list_pods()));
        assert!(can("owner", secrets()));
        assert!(can("owner", create_deploy()));
        assert!(can("owner", roles()));
        for obj in bootstrap_policy() {
            assert_eq!(obj["apiVersion"], RBAC_API_VERSION);
            assert_eq!(
                obj["metadata"]["labels"]["kubernetes.io/bootstrapping"],
                "rbac-defaults"
            );
            assert_eq!(
                obj["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
                "true"
            );
        }
    }

    trait TapNamespace {
        fn tap_namespace(self, ns: &str) -> Self;
    }

    impl TapNamespace for Attributes {
        fn tap_namespace(mut self, ns: &str) -> Self {
            self.namespace = ns.to_owned();
            self
        }
    }

    #[test]
    fn forbidden_messages() {
        let alice = user("alice", &[]);
        let bob = user("bob", &[]);
        assert_eq!(
            forbidden_message(&alice, &res("list", "", "configmaps", "default", "")),
            "configmaps is forbidden: User \"alice\" cannot list resource \"configmaps\" in API \
             group \"\" in the namespace \"default\""
        );
        assert_eq!(
            forbidden_message(&alice, &res("get", "", "configmaps", "default", "x")),
            "configmaps \"x\" is forbidden: User \"alice\" cannot get resource \"configmaps\" in \
             API group \"\" in the namespace \"default\""
        );
        assert_eq!(
            forbidden_message(&bob, &res("list", "apps", "deployments", "", "")),
            "deployments.apps is forbidden: User \"bob\" cannot list resource \"deployments\" in \
             API group \"apps\" at the cluster scope"
        );
        assert_eq!(
            forbidden_message(&bob, &sub(res("get", "", "pods", "ns", "p"), "status")),
            "pods \"p\" is forbidden: User \"bob\" cannot get resource \"pods/status\" in API \
             group \"\" in the namespace \"ns\""
        );
        assert_eq!(
            forbidden_message(&bob, &res("get", "", "nodes", "", "n1")),
            "nodes \"n1\" is forbidden: User \"bob\" cannot get resource \"nodes\" in API group \
             \"\" at the cluster scope"
        );
        assert_eq!(
            forbidden_message(&bob, &path("get", "/version")),
            "forbidden: User \"bob\" cannot get path \"/version\""
        );
        assert_eq!(
            forbidden_message(
                &user("system:serviceaccount:ns:sa", &[]),
                &path("get", "/x\"y")
            ),
            "forbidden: User \"system:serviceaccount:ns:sa\" cannot get path \"/x\\\"y\""
        );
    }
}
