//! Load generation for benchmarks and demos: objects of realistic shape and size spread over
//! namespaces, created through any Kubernetes API (this server or another), then churned at a
//! given rate.

use std::{
    fmt,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt as _, stream};
use kube::{
    Api, Client,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
    },
};
use serde_json::{Value, json};

/// Kinds the generator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadKind {
    /// `ConfigMap`s with `data` of the requested size.
    ConfigMap,
    /// `Secret`s with `data` of the requested size.
    Secret,
    /// `Pod`s with two containers, labels, resources and a status.
    Pod,
    /// `Deployment`s with a pod template.
    Deployment,
}

impl FromStr for LoadKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "configmap" | "configmaps" | "cm" => Ok(Self::ConfigMap),
            "secret" | "secrets" => Ok(Self::Secret),
            "pod" | "pods" | "po" => Ok(Self::Pod),
            "deployment" | "deployments" | "deploy" => Ok(Self::Deployment),
            other => Err(format!(
                "unknown kind {other:?}: choose configmap, secret, pod or deployment"
            )),
        }
    }
}

impl fmt::Display for LoadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ConfigMap => "configmap",
            Self::Secret => "secret",
            Self::Pod => "pod",
            Self::Deployment => "deployment",
        })
    }
}

impl LoadKind {
    fn api_resource(self) -> ApiResource {
        let (group, kind, plural) = match self {
            Self::ConfigMap => ("", "ConfigMap", "configmaps"),
            Self::Secret => ("", "Secret", "secrets"),
            Self::Pod => ("", "Pod", "pods"),
            Self::Deployment => ("apps", "Deployment", "deployments"),
        };
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
    }
}

/// What to create.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Kind of object.
    pub kind: LoadKind,
    /// How many objects in all.
    pub count: usize,
    /// Spread over this many namespaces (`load-0`, `load-1`...), created when missing.
    pub namespaces: usize,
    /// Approximate serialized size of each object in bytes (payload in `data` or annotations).
    pub size: usize,
    /// Object name prefix.
    pub prefix: String,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for LoadSpec {
    fn default() -> Self {
        Self {
            kind: LoadKind::ConfigMap,
            count: 1000,
            namespaces: 10,
            size: 1024,
            prefix: "load".into(),
            concurrency: 16,
        }
    }
}

/// The namespace of object `index`.
fn namespace_of(spec: &LoadSpec, index: usize) -> String {
    format!("{}-{}", spec.prefix, index % spec.namespaces.max(1))
}

fn payload(index: usize, generation: u64, size: usize) -> String {
    // Varied but deterministic text, so compression and interning do not flatter the numbers.
    let seed = format!("{index:08x}{generation:08x}");
    seed.chars().cycle().take(size).collect()
}

/// The object number `index` of a spec, at change `generation` (0 on create), serialized to
/// about `spec.size` bytes (never less than the object without payload).
pub fn object(spec: &LoadSpec, index: usize, generation: u64) -> Value {
    let unfilled = shape(spec, index, generation, 0);
    let base = serde_json::to_vec(&unfilled).map_or(0, |b| b.len());
    // The payload's share of the size; base64 (secrets) grows it by a third.
    let room = spec.size.saturating_sub(base);
    let room = if spec.kind == LoadKind::Secret {
        room * 3 / 4
    } else {
        room
    };
    shape(spec, index, generation, room)
}

fn shape(spec: &LoadSpec, index: usize, generation: u64, room: usize) -> Value {
    let name = format!("{}-{index:06}", spec.prefix);
    let namespace = namespace_of(spec, index);
    let tier = ["web", "api", "worker", "batch"][index % 4];
    let labels = json!({
        "app.kubernetes.io/name": format!("app-{}", index % 50),
        "app.kubernetes.io/part-of": "kollect-load",
        "tier": tier,
    });
    let annotations = json!({"kollect.dev/load-generation": generation.to_string()});
    let metadata =
        json!({"name": name, "namespace": namespace, "labels": labels, "annotations": annotations});
    match spec.kind {
        LoadKind::ConfigMap => json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
            "data": {"config.yaml": payload(index, generation, room), "mode": "standard"},
        }),
        LoadKind::Secret => {
            use base64::Engine as _;
            let data =
                base64::engine::general_purpose::STANDARD.encode(payload(index, generation, room));
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata, "data": {"token": data}})
        }
        LoadKind::Pod => json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {
                "nodeName": format!("node-{}", index % 20),
                "serviceAccountName": "default",
                "containers": [
                    {"name": "app", "image": format!("registry.example.com/app-{}:1.{generation}", index % 50),
                     "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                     "env": [{"name": "PAYLOAD", "value": payload(index, generation, room)}],
                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}},
                    {"name": "sidecar", "image": "registry.example.com/proxy:2.4.1",
                     "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}}
                ]
            }
        }),
        LoadKind::Deployment => json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {
                "replicas": 1 + index % 3,
                "selector": {"matchLabels": {"app.kubernetes.io/name": format!("app-{}", index % 50)}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": format!("app-{}", index % 50)}},
                    "spec": {"containers": [{"name": "app",
                        "image": format!("registry.example.com/app-{}:1.{generation}", index % 50),
                        "env": [{"name": "PAYLOAD", "value": payload(index, generation, room)}]}]}
                }
            }
        }),
    }
}

/// Errors of load generation.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A generated object could not be encoded (a bug in the generator).
    #[error("failed to encode a generated {kind}")]
    Encode {
        /// Kind.
        kind: LoadKind,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A request failed.
    #[error("failed to {action} {kind} {name}")]
    Request {
        /// What was being done.
        action: &'static str,
        /// Kind.
        kind: LoadKind,
        /// Object name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Objects created.
    pub created: usize,
    /// Objects updated.
    pub updated: usize,
    /// Objects deleted.
    pub deleted: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Requests per second over the run.
    pub fn rate(&self) -> f64 {
        let total = self.created + self.updated + self.deleted;
        #[allow(clippy::cast_precision_loss)]
        let total = total as f64;
        total / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

fn api(client: &Client, spec: &LoadSpec, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &spec.kind.api_resource())
}

fn to_dynamic(value: Value, kind: LoadKind) -> Result<DynamicObject, LoadError> {
    serde_json::from_value(value).map_err(|source| LoadError::Encode { kind, source })
}

/// Creates the namespaces of a spec when missing.
pub async fn ensure_namespaces(client: &Client, spec: &LoadSpec) -> Result<(), LoadError> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("", "v1", "Namespace"),
        "namespaces",
    );
    let namespaces: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    for index in 0..spec.namespaces.max(1) {
        let name = format!("{}-{index}", spec.prefix);
        let namespace = DynamicObject::new(&name, &resource);
        match namespaces.create(&PostParams::default(), &namespace).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(source) => {
                return Err(LoadError::Request {
                    action: "create namespace for",
                    kind: spec.kind,
                    name,
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Creates `spec.count` objects, `spec.concurrency` at a time. `progress` is called with the
/// number done so far every 1000 objects.
pub async fn populate(
    client: &Client,
    spec: &LoadSpec,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<LoadReport, LoadError> {
    ensure_namespaces(client, spec).await?;
    let start = Instant::now();
    let mut results = stream::iter(0..spec.count)
        .map(|index| async move {
            let object = object(spec, index, 0);
            let namespace = namespace_of(spec, index);
            let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
            match api(client, spec, &namespace)
                .create(&PostParams::default(), &to_dynamic(object, spec.kind)?)
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
                Err(source) => Err(LoadError::Request {
                    action: "create",
                    kind: spec.kind,
                    name,
                    source,
                }),
            }
        })
        .buffer_unordered(spec.concurrency.max(1));
    let mut done = 0;
    while let Some(result) = results.next().await {
        result?;
        done += 1;
        if done % 1000 == 0 {
            progress(done);
        }
    }
    Ok(LoadReport {
        created: done,
        elapsed: start.elapsed(),
        ..LoadReport::default()
    })
}

/// How to churn.
#[derive(Clone, Debug)]
pub struct ChurnSpec {
    /// Changes per second.
    pub rate: f64,
    /// How long.
    pub duration: Duration,
    /// Share of updates, creates and deletes (weights, e.g. 8, 1, 1).
    pub mix: (u32, u32, u32),
}

impl Default for ChurnSpec {
    fn default() -> Self {
        Self {
            rate: 100.0,
            duration: Duration::from_secs(10),
            mix: (8, 1, 1),
        }
    }
}

/// Changes objects of a populated spec at `churn.rate` per second for `churn.duration`:
/// updates change the payload and an annotation, creates add objects after the last index,
/// deletes remove the lowest remaining index.
pub async fn churn(
    client: &Client,
    spec: &LoadSpec,
    churn: &ChurnSpec,
) -> Result<LoadReport, LoadError> {
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / churn.rate.max(0.001));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (updates, creates, deletes) = churn.mix;
    let total = (updates + creates + deletes).max(1);
    let mut report = LoadReport::default();
    let mut next_create = spec.count;
    let mut next_delete = 0usize;
    let mut step: u64 = 0;
    let params = Arc::new(PatchParams::default());
    while start.elapsed() < churn.duration {
        ticker.tick().await;
        step += 1;
        let pick = u32::try_from(step % u64::from(total)).unwrap_or(0);
        let live = next_create.saturating_sub(next_delete).max(1);
        if pick < updates {
            let index = next_delete + usize::try_from(step).unwrap_or(0).wrapping_mul(7919) % live;
            let object = object(spec, index, step);
            let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let patch = json!({"metadata": {"annotations": object["metadata"]["annotations"]}, "data": object.get("data"), "spec": object.get("spec")});
            let patch = strip_nulls(patch);
            match api(client, spec, &namespace_of(spec, index))
                .patch(&name, &params, &Patch::Merge(&patch))
                .await
            {
                Ok(_) => report.updated += 1,
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => {
                    return Err(LoadError::Request {
                        action: "update",
                        kind: spec.kind,
                        name,
                        source,
                    });
                }
            }
        } else if pick < updates + creates {
            let index = next_create;
            next_create += 1;
            let object = object(spec, index, 0);
            let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
            match api(client, spec, &namespace_of(spec, index))
                .create(&PostParams::default(), &to_dynamic(object, spec.kind)?)
                .await
            {
                Ok(_) => report.created += 1,
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(source) => {
                    return Err(LoadError::Request {
                        action: "create",
                        kind: spec.kind,
                        name,
                        source,
                    });
                }
            }
        } else if next_delete < next_create {
            let index = next_delete;
            next_delete += 1;
            let name = format!("{}-{index:06}", spec.prefix);
            match api(client, spec, &namespace_of(spec, index))
                .delete(&name, &DeleteParams::default())
                .await
            {
                Ok(_) => report.deleted += 1,
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(source) => {
                    return Err(LoadError::Request {
                        action: "delete",
                        kind: spec.kind,
                        name,
                        source,
                    });
                }
            }
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_have_the_requested_size_and_spread() {
        let spec = LoadSpec {
            count: 10,
            namespaces: 3,
            size: 1024,
            ..LoadSpec::default()
        };
        let object = object(&spec, 4, 0);
        let size = serde_json::to_vec(&object).unwrap().len();
        assert!((1000..1050).contains(&size), "size {size}");
        assert_eq!(object["metadata"]["namespace"], "load-1");
        assert_ne!(super::object(&spec, 4, 1), object);
    }

    #[test]
    fn kinds_parse_from_their_common_names() {
        assert_eq!("cm".parse::<LoadKind>(), Ok(LoadKind::ConfigMap));
        assert_eq!("Deployments".parse::<LoadKind>(), Ok(LoadKind::Deployment));
        assert!(
            "widgets"
                .parse::<LoadKind>()
                .unwrap_err()
                .contains("unknown kind")
        );
    }
}
