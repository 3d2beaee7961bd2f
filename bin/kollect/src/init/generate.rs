//! What the wizard writes: the safe attributes it offers per kind, the `KollectProfile` and
//! `KollectTarget` built from the answers (deterministic YAML: same answers, same bytes), and
//! the write itself, which never replaces a different file without a confirmation.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use kollect_api::v1alpha1::ANNOTATION_ALLOW_SECRET_EXTRACTION;
use serde_json::{Map, Value, json};

use super::{prompt::Prompter, wizard::Stop};

/// Longest list of changed lines shown before an overwrite question.
const MAX_SHOWN_CHANGES: usize = 12;

/// An attribute the wizard offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attribute {
    pub(crate) name: &'static str,
    pub(crate) path: &'static str,
    pub(crate) optional: bool,
    /// What it holds, for the list.
    pub(crate) about: &'static str,
    /// Ticked at first.
    pub(crate) ticked: bool,
}

/// Attributes the wizard may offer: for kinds of a group (`None`: every kind), in list order.
struct Offer {
    group: &'static str,
    kinds: Option<&'static [&'static str]>,
    attribute: Attribute,
}

/// Shorthand for the table below: `(name, path, optional, about, ticked)`.
const fn offer(
    group: &'static str,
    kinds: Option<&'static [&'static str]>,
    (name, path, optional, about, ticked): (&'static str, &'static str, bool, &'static str, bool),
) -> Offer {
    Offer {
        group,
        kinds,
        attribute: Attribute {
            name,
            path,
            optional,
            about,
            ticked,
        },
    }
}

const TEMPLATE_IMAGES: &str = "cel:object.spec.template.spec.containers.map(c, c.image)";
const DATA_KEYS: &str = "cel:has(object.data) ? object.data.map(k, k) : []";
const ANY: Option<&[&str]> = None;

/// What describes each kind first, then metadata for every kind. Nothing here reads a value of
/// a Secret (`keys` lists key names).
#[rustfmt::skip]
const OFFERS: &[Offer] = &[
    offer("apps", Some(&["Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"]), ("images", TEMPLATE_IMAGES, false, "container images", true)),
    offer("apps", Some(&["Deployment", "StatefulSet", "ReplicaSet"]), ("replicas", "cel:object.spec.replicas", true, "desired replicas", true)),
    offer("batch", Some(&["Job"]), ("images", TEMPLATE_IMAGES, false, "container images", true)),
    offer("batch", Some(&["CronJob"]), ("images", "cel:object.spec.jobTemplate.spec.template.spec.containers.map(c, c.image)", false, "container images", true)),
    offer("batch", Some(&["CronJob"]), ("schedule", "$.spec.schedule", false, "cron schedule", true)),
    offer("", Some(&["Pod"]), ("images", "cel:object.spec.containers.map(c, c.image)", false, "container images", true)),
    offer("", Some(&["Pod"]), ("node", "$.spec.nodeName", true, "node it runs on", true)),
    offer("", Some(&["Pod"]), ("phase", "$.status.phase", true, "Pending, Running, Succeeded, …", true)),
    offer("", Some(&["Service"]), ("type", "$.spec.type", true, "ClusterIP, NodePort, LoadBalancer, …", true)),
    offer("", Some(&["Service"]), ("ports", "cel:has(object.spec.ports) ? object.spec.ports.map(p, p.port) : []", false, "service ports", true)),
    offer("networking.k8s.io", Some(&["Ingress"]), ("hosts", "cel:has(object.spec.rules) ? object.spec.rules.map(r, has(r.host) ? r.host : '') : []", false, "host names", true)),
    offer("networking.k8s.io", Some(&["Ingress"]), ("class", "$.spec.ingressClassName", true, "ingress class", true)),
    offer("", Some(&["ConfigMap"]), ("keys", DATA_KEYS, false, "key names (not values)", true)),
    offer("", Some(&["Secret"]), ("type", "$.type", true, "Opaque, kubernetes.io/tls, …", true)),
    offer("", Some(&["Secret"]), ("keys", DATA_KEYS, false, "key names only, never values", false)),
    offer("", Some(&["Node"]), ("kubeletVersion", "$.status.nodeInfo.kubeletVersion", true, "kubelet version", true)),
    offer("*", ANY, ("labels", "$.metadata.labels", true, "all labels", true)),
    offer("*", ANY, ("creationTimestamp", "$.metadata.creationTimestamp", false, "when it was created", true)),
    offer("*", ANY, ("owners", "cel:has(object.metadata.ownerReferences) ? object.metadata.ownerReferences.map(o, o.kind + '/' + o.name) : []", false, "owner kind/name", false)),
];

/// Offered for every kind that is not [`sensitive`]: annotations may carry a
/// `last-applied-configuration` with the whole object.
const ANNOTATIONS: Attribute = Attribute {
    name: "annotations",
    path: "$.metadata.annotations",
    optional: true,
    about: "all annotations (may be large)",
    ticked: false,
};

/// Whether a kind holds credentials: it needs a second confirmation, and its annotations (which
/// may carry `last-applied-configuration`) are not offered.
pub(crate) fn sensitive(kind: &str) -> bool {
    kind.contains("Secret") || kind == "ServiceAccountToken"
}

/// The attributes offered for a kind: what describes it (images of workloads, keys of
/// `ConfigMaps`, …) first, then metadata. Nothing offered reads a Secret's values.
pub(crate) fn catalog(group: &str, kind: &str) -> Vec<Attribute> {
    let mut offered: Vec<Attribute> = OFFERS
        .iter()
        .filter(|offer| match offer.kinds {
            None => true,
            Some(kinds) => offer.group == group && kinds.contains(&kind),
        })
        .map(|offer| offer.attribute.clone())
        .collect();
    if !sensitive(kind) {
        offered.push(ANNOTATIONS);
    }
    offered
}

/// Which namespaces a target collects from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Namespaces {
    /// Every namespace (and cluster-scoped kinds).
    All,
    /// A fixed list (picked, typed, or a pattern expanded once).
    List(Vec<String>),
    /// Namespaces whose labels match a `LabelSelector`.
    Selector(Value),
}

/// Everything the files are made of.
#[derive(Debug, Clone)]
pub(crate) struct Answers {
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) kind: String,
    pub(crate) namespaces: Namespaces,
    /// The objects' `LabelSelector`, if any.
    pub(crate) label_selector: Option<Value>,
    pub(crate) attributes: Vec<Attribute>,
    /// Namespace and name of the generated profile and target.
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl Answers {
    fn metadata(&self, annotations: Option<Value>) -> Value {
        let mut metadata = json!({"name": self.name, "namespace": self.namespace});
        if let Some(annotations) = annotations {
            metadata["annotations"] = annotations;
        }
        metadata
    }

    /// The `KollectProfile`.
    pub(crate) fn profile(&self) -> Value {
        let mut gvk = Map::new();
        if !self.group.is_empty() {
            gvk.insert("group".into(), json!(self.group));
        }
        gvk.insert("version".into(), json!(self.version));
        gvk.insert("kind".into(), json!(self.kind));
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|a| {
                let mut attribute = json!({"name": a.name, "path": a.path});
                if a.optional {
                    attribute["optional"] = json!(true);
                }
                attribute
            })
            .collect();
        // The validation refuses profiles that read a Secret's `data` without the opt-in; the
        // wizard adds it once the user confirmed Secrets twice.
        let secrets = self.group.is_empty() && self.kind == "Secret";
        json!({
            "apiVersion": "kollect.dev/v1alpha1",
            "kind": "KollectProfile",
            "metadata": self.metadata(
                secrets.then(|| json!({ANNOTATION_ALLOW_SECRET_EXTRACTION: "true"}))
            ),
            "spec": {"targetGVK": gvk, "attributes": attributes},
        })
    }

    /// The `KollectTarget`.
    pub(crate) fn target(&self) -> Value {
        let mut spec = json!({"profileRef": self.name});
        match &self.namespaces {
            Namespaces::All => {}
            Namespaces::List(names) => spec["includedNamespaces"] = json!(names),
            Namespaces::Selector(selector) => spec["namespaceSelector"] = selector.clone(),
        }
        if let Some(selector) = &self.label_selector {
            spec["labelSelector"] = selector.clone();
        }
        json!({
            "apiVersion": "kollect.dev/v1alpha1",
            "kind": "KollectTarget",
            "metadata": self.metadata(None),
            "spec": spec,
        })
    }

    /// `profile.yaml` and `target.yaml`, with a comment saying where they came from.
    pub(crate) fn files(&self, context: &str) -> [(&'static str, String); 2] {
        let header = |what: &str| {
            format!(
                "# {what} written by `kollect init` (context {context}).\n\
                 # Check: kollect validate --config <this folder>; try: kollect preview --config <this folder>\n"
            )
        };
        [
            (
                "profile.yaml",
                format!(
                    "{}{}",
                    header("What to collect from each object:"),
                    kollect_api::manifest::to_yaml(&self.profile())
                ),
            ),
            (
                "target.yaml",
                format!(
                    "{}{}",
                    header("Which objects to collect:"),
                    kollect_api::manifest::to_yaml(&self.target())
                ),
            ),
        ]
    }
}

/// Writes `files` into `dir` (created if missing). A file that exists with other content is
/// replaced only after showing what changes and a confirmation; nothing is written before every
/// question is answered. Returns the paths written (unchanged files are not rewritten).
pub(crate) fn write(
    dir: &Path,
    files: &[(&'static str, String)],
    prompt: &mut dyn Prompter,
) -> Result<Vec<PathBuf>, Stop> {
    let mut pending = Vec::new();
    for (name, content) in files {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == *content => {
                prompt.say(&format!("{} is already up to date", path.display()));
            }
            Ok(existing) => {
                prompt.say(&change_summary(&path, &existing, content));
                if !prompt.confirm(&format!("Overwrite {}?", path.display()), false)? {
                    return Err(Stop::Cancelled);
                }
                pending.push((path, content));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                pending.push((path, content));
            }
            Err(error) => {
                return Err(Stop::failed(format!(
                    "cannot read {}: {error}",
                    path.display()
                )));
            }
        }
    }
    if let Err(error) = std::fs::create_dir_all(dir) {
        return Err(Stop::failed(format!(
            "cannot create {}: {error}",
            dir.display()
        )));
    }
    let mut written = Vec::new();
    for (path, content) in pending {
        if let Err(error) = std::fs::write(&path, content) {
            return Err(Stop::failed(format!(
                "cannot write {}: {error}",
                path.display()
            )));
        }
        written.push(path);
    }
    Ok(written)
}

/// `path exists: 2 line(s) removed, 3 added:` and the lines, `-`/`+` prefixed.
fn change_summary(path: &Path, old: &str, new: &str) -> String {
    let removed: Vec<&str> = old
        .lines()
        .filter(|l| !new.lines().any(|n| n == *l))
        .collect();
    let added: Vec<&str> = new
        .lines()
        .filter(|l| !old.lines().any(|o| o == *l))
        .collect();
    let mut summary = format!(
        "{} exists with other content: {} line(s) removed, {} added",
        path.display(),
        removed.len(),
        added.len()
    );
    let shown = removed
        .iter()
        .map(|l| format!("  - {l}"))
        .chain(added.iter().map(|l| format!("  + {l}")));
    let total = removed.len() + added.len();
    for line in shown.take(MAX_SHOWN_CHANGES) {
        summary.push('\n');
        summary.push_str(&line);
    }
    if total > MAX_SHOWN_CHANGES {
        let _ = write!(summary, "\n  … {} more", total - MAX_SHOWN_CHANGES);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(kind: &str, group: &str) -> Answers {
        Answers {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespaces: Namespaces::List(vec!["shop".into()]),
            label_selector: Some(json!({"matchLabels": {"tier": "web"}})),
            attributes: catalog(group, kind)
                .into_iter()
                .filter(|a| a.ticked)
                .collect(),
            namespace: "inventory".into(),
            name: "deployments".into(),
        }
    }

    #[test]
    fn files_are_deterministic_yaml() {
        let [(profile_name, profile), (target_name, target)] =
            answers("Deployment", "apps").files("dev");
        assert_eq!((profile_name, target_name), ("profile.yaml", "target.yaml"));
        assert_eq!(
            profile,
            "# What to collect from each object: written by `kollect init` (context dev).\n\
             # Check: kollect validate --config <this folder>; try: kollect preview --config <this folder>\n\
             apiVersion: kollect.dev/v1alpha1\n\
             kind: KollectProfile\n\
             metadata:\n  name: deployments\n  namespace: inventory\n\
             spec:\n  attributes:\n\
             \x20   - name: images\n      path: cel:object.spec.template.spec.containers.map(c, c.image)\n\
             \x20   - name: replicas\n      optional: true\n      path: cel:object.spec.replicas\n\
             \x20   - name: labels\n      optional: true\n      path: $.metadata.labels\n\
             \x20   - name: creationTimestamp\n      path: $.metadata.creationTimestamp\n\
             \x20 targetGVK:\n    group: apps\n    kind: Deployment\n    version: v1\n"
        );
        assert!(
            target.ends_with(
                "spec:\n  includedNamespaces:\n    - shop\n  labelSelector:\n    matchLabels:\n      tier: web\n  profileRef: deployments\n"
            ),
            "{target}"
        );
        assert_eq!(answers("Deployment", "apps").files("dev")[0].1, profile);
    }

    #[test]
    fn secret_profiles_opt_in_and_offer_no_values() {
        let profile = answers("Secret", "").profile();
        assert_eq!(
            profile["metadata"]["annotations"][ANNOTATION_ALLOW_SECRET_EXTRACTION],
            "true"
        );
        assert!(profile["spec"]["targetGVK"].get("group").is_none());
        let offered = catalog("", "Secret");
        assert!(offered.iter().all(|a| a.name != "annotations"));
        assert!(
            offered
                .iter()
                .all(|a| !a.path.contains("object.data[") && !a.path.starts_with("$.data"))
        );
        assert!(
            answers("ConfigMap", "").profile()["metadata"]
                .get("annotations")
                .is_none()
        );
    }

    #[test]
    fn every_offered_attribute_passes_the_collect_loader() {
        let mut kinds: Vec<(&str, &str)> = OFFERS
            .iter()
            .flat_map(|o| o.kinds.into_iter().flatten().map(|k| (o.group, *k)))
            .collect();
        kinds.push(("example.com", "Widget"));
        kinds.dedup();
        for (group, kind) in kinds {
            let dir = tempfile::tempdir().unwrap();
            let mut all = answers(kind, group);
            all.attributes = catalog(group, kind);
            for (name, content) in all.files("dev") {
                std::fs::write(dir.path().join(name), content).unwrap();
            }
            let loaded = crate::collect::load_folder(dir.path());
            assert_eq!(loaded, Ok((1, 1, 0)), "{group}/{kind}");
        }
    }

    #[test]
    fn change_summaries_list_the_lines() {
        let summary = change_summary(Path::new("d/profile.yaml"), "a\nb\nc\n", "a\nc\nd\ne\n");
        assert_eq!(
            summary,
            "d/profile.yaml exists with other content: 1 line(s) removed, 2 added\n  - b\n  + d\n  + e"
        );
    }
}
