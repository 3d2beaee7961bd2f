//! `cargo xtask quickstart`: writes the offline cluster of `examples/quickstart/cluster/`, a
//! deterministic dump in the shape `kubectl get -o yaml` gives: namespaces of several teams with
//! Deployments, their replica sets and pods, services, ingresses, config maps, secrets, nodes, the
//! cert-manager `Certificate` CRD and Certificates. Same input, same bytes, every run.

use std::{fmt::Write as _, path::Path};

use anyhow::{Context, Result};
use kollect_api::manifest::to_yaml;
use serde_json::{Value, json};

/// When everything in the dump was created.
const CREATED: &str = "2026-11-01T09:00:00Z";

/// One application: a Deployment with its Service, config and credentials.
struct App {
    name: &'static str,
    image: &'static str,
    replicas: u64,
    port: u64,
    /// Hostname of its Ingress, if it has one.
    host: Option<&'static str>,
}

const fn app(name: &'static str, image: &'static str, replicas: u64, port: u64) -> App {
    App {
        name,
        image,
        replicas,
        port,
        host: None,
    }
}

const fn public(mut app: App, host: &'static str) -> App {
    app.host = Some(host);
    app
}

/// Namespaces, the team owning each, and their applications.
fn teams() -> Vec<(&'static str, &'static str, Vec<App>)> {
    vec![
        (
            "shop",
            "storefront",
            vec![
                public(
                    app("web", "docker.io/library/nginx:1.27.2", 4, 8080),
                    "shop.example.com",
                ),
                app("cart", "ghcr.io/acme/cart:2.4.1", 3, 8080),
                app("catalog", "ghcr.io/acme/catalog:1.9.0", 3, 8080),
                app("search", "ghcr.io/acme/search:0.12.3", 2, 9200),
                app(
                    "recommendations",
                    "ghcr.io/acme/recommendations:1.2.0",
                    1,
                    8080,
                ),
                app("redis", "docker.io/library/redis:7.4.1", 1, 6379),
                app("checkout", "ghcr.io/acme/checkout:1.4.2", 3, 8080),
                app("image-resizer", "ghcr.io/acme/image-resizer:0.8.0", 2, 8080),
            ],
        ),
        (
            "payments",
            "payments",
            vec![
                public(
                    app("api", "ghcr.io/acme/payments-api:3.1.0", 4, 8443),
                    "pay.example.com",
                ),
                app("worker", "ghcr.io/acme/payments-worker:3.1.0", 4, 8080),
                app("ledger", "ghcr.io/acme/ledger:1.0.7", 2, 5432),
                app("fraud-check", "ghcr.io/acme/fraud-check:0.9.1", 1, 8080),
                app("webhooks", "ghcr.io/acme/payment-webhooks:2.0.1", 2, 8080),
            ],
        ),
        (
            "platform",
            "platform",
            vec![
                app(
                    "ingress-nginx-controller",
                    "registry.k8s.io/ingress-nginx/controller:v1.11.3",
                    2,
                    443,
                ),
                app(
                    "cert-manager",
                    "quay.io/jetstack/cert-manager-controller:v1.16.1",
                    1,
                    9402,
                ),
                app(
                    "external-dns",
                    "registry.k8s.io/external-dns/external-dns:v0.15.0",
                    1,
                    7979,
                ),
            ],
        ),
        (
            "monitoring",
            "observability",
            vec![
                app(
                    "prometheus",
                    "quay.io/prometheus/prometheus:v2.54.1",
                    1,
                    9090,
                ),
                public(
                    app("grafana", "docker.io/grafana/grafana:11.3.0", 1, 3000),
                    "grafana.example.com",
                ),
                app(
                    "alertmanager",
                    "quay.io/prometheus/alertmanager:v0.27.0",
                    1,
                    9093,
                ),
                app(
                    "kube-state-metrics",
                    "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0",
                    1,
                    8080,
                ),
            ],
        ),
        (
            "kube-system",
            "system",
            vec![app(
                "coredns",
                "registry.k8s.io/coredns/coredns:v1.11.3",
                2,
                53,
            )],
        ),
    ]
}

const NODES: [&str; 3] = ["node-a", "node-b", "node-c"];

pub(crate) fn run(root: &Path, check: bool) -> Result<()> {
    let dir = root.join("examples/quickstart/cluster");
    let mut files = vec![("cluster-scoped.yaml".to_owned(), cluster_scoped())];
    for (namespace, team, apps) in teams() {
        files.push((
            format!("{namespace}.yaml"),
            namespace_objects(namespace, team, &apps),
        ));
    }
    let total: usize = files.iter().map(|(_, objects)| objects.len()).sum();
    if check {
        for (name, objects) in &files {
            let path = dir.join(name);
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::ensure!(
                current == render(objects),
                "{} is out of date: run `cargo xtask quickstart`",
                path.display()
            );
        }
        crate::print_line(&format!(
            "{} is up to date ({total} objects)",
            dir.display()
        ));
        return Ok(());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, objects) in &files {
        let path = dir.join(name);
        std::fs::write(&path, render(objects))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    crate::print_line(&format!("wrote {total} objects to {}", dir.display()));
    Ok(())
}

fn render(objects: &[Value]) -> String {
    let mut text = String::from(
        "# Generated by `cargo xtask quickstart`; edit xtask/src/quickstart.rs instead.\n",
    );
    for object in objects {
        text.push_str("---\n");
        text.push_str(&to_yaml(object));
    }
    text
}

/// A stable uid for an object (UUID-shaped hex of an FNV-1a hash of its identity).
fn uid(kind: &str, namespace: &str, name: &str) -> String {
    let hash = |seed: u64| {
        format!("{kind}/{namespace}/{name}")
            .bytes()
            .fold(seed, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    };
    let hex = format!(
        "{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x8422_2325_cbf2_9ce4)
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A short lowercase suffix derived from a name, like the ones controllers append.
fn suffix(name: &str, length: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = name.bytes().fold(0x811c_9dc5_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0193)
    });
    let mut out = String::new();
    for _ in 0..length {
        let index = usize::try_from(h % 27).unwrap_or(0);
        out.push(char::from(ALPHABET[index]));
        h /= 27;
        h = h.wrapping_mul(31).wrapping_add(7);
    }
    out
}

fn meta(kind: &str, namespace: Option<&str>, name: &str, labels: &Value) -> Value {
    let mut meta = json!({
        "name": name,
        "uid": uid(kind, namespace.unwrap_or_default(), name),
        "resourceVersion": "1",
        "creationTimestamp": CREATED,
        "labels": labels,
    });
    if let Some(namespace) = namespace {
        meta["namespace"] = json!(namespace);
    }
    if labels.as_object().is_some_and(serde_json::Map::is_empty) {
        meta.as_object_mut().map(|m| m.remove("labels"));
    }
    meta
}

fn cluster_scoped() -> Vec<Value> {
    let mut objects = Vec::new();
    for (index, node) in NODES.iter().enumerate() {
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": meta("Node", None, node, &json!({
                "kubernetes.io/hostname": node,
                "topology.kubernetes.io/zone": format!("eu-west-1{}", ['a', 'b', 'c'][index]),
                "node.kubernetes.io/instance-type": "m6i.xlarge",
            })),
            "status": {
                "nodeInfo": {"kubeletVersion": "v1.31.2", "osImage": "Ubuntu 24.04.1 LTS", "architecture": "amd64"},
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            },
        }));
    }
    objects.push(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": meta("CustomResourceDefinition", None, "certificates.cert-manager.io", &json!({"app.kubernetes.io/name": "cert-manager"})),
        "spec": {
            "group": "cert-manager.io",
            "names": {"kind": "Certificate", "listKind": "CertificateList", "plural": "certificates", "singular": "certificate", "shortNames": ["cert", "certs"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    }));
    objects
}

fn namespace_objects(namespace: &str, team: &str, apps: &[App]) -> Vec<Value> {
    let mut objects = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta("Namespace", None, namespace, &json!({"kubernetes.io/metadata.name": namespace, "team": team})),
        "status": {"phase": "Active"},
    })];
    objects.push(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta("ConfigMap", Some(namespace), "kube-root-ca.crt", &json!({})),
        "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB (example)\n-----END CERTIFICATE-----\n"},
    }));
    let mut node = namespace.len();
    for app in apps {
        let labels = json!({"app.kubernetes.io/name": app.name, "app.kubernetes.io/part-of": namespace, "team": team});
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta("ServiceAccount", Some(namespace), app.name, &labels),
        }));
        objects.extend(workload(namespace, app, &labels, &mut node));
        objects.extend(config_and_secrets(namespace, app, &labels));
        if let Some(host) = app.host {
            objects.extend(ingress(namespace, app, host, &labels));
        }
    }
    objects
}

/// The Deployment, its current and previous replica sets, its pods and its Service.
fn workload(namespace: &str, app: &App, labels: &Value, node: &mut usize) -> Vec<Value> {
    let container = json!({
        "name": app.name,
        "image": app.image,
        "ports": [{"containerPort": app.port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "envFrom": [{"configMapRef": {"name": format!("{}-config", app.name)}}],
    });
    let template = json!({
        "metadata": {"labels": {"app.kubernetes.io/name": app.name}},
        "spec": {"containers": [container], "serviceAccountName": app.name},
    });
    let deployment_uid = uid("Deployment", namespace, app.name);
    let mut objects = vec![json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("Deployment", Some(namespace), app.name, labels),
        "spec": {
            "replicas": app.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": app.name}},
            "template": template,
        },
        "status": {"replicas": app.replicas, "readyReplicas": app.replicas, "availableReplicas": app.replicas, "observedGeneration": 1},
    })];
    for (revision, replicas) in [(1_u64, 0), (2, app.replicas)] {
        let rs_name = format!(
            "{}-{}",
            app.name,
            suffix(&format!("{}{revision}", app.name), 10)
        );
        let mut rs_meta = meta("ReplicaSet", Some(namespace), &rs_name, labels);
        rs_meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name, "uid": deployment_uid, "controller": true}]);
        rs_meta["annotations"] = json!({"deployment.kubernetes.io/revision": revision.to_string()});
        let rs_uid = rs_meta["uid"].clone();
        objects.push(json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": rs_meta,
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": app.name}}, "template": template},
            "status": {"replicas": replicas, "readyReplicas": replicas},
        }));
        for index in 0..replicas {
            let pod_name = format!("{rs_name}-{}", suffix(&format!("{rs_name}{index}"), 5));
            let mut pod_meta = meta("Pod", Some(namespace), &pod_name, labels);
            pod_meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": rs_uid, "controller": true}]);
            *node += 1;
            let mut ip = String::new();
            let _ = write!(ip, "10.244.{}.{}", *node % NODES.len(), 10 + *node % 240);
            objects.push(json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": pod_meta,
                "spec": {"nodeName": NODES[*node % NODES.len()], "containers": template["spec"]["containers"], "serviceAccountName": app.name},
                "status": {
                    "phase": "Running",
                    "podIP": ip,
                    "startTime": CREATED,
                    "containerStatuses": [{"name": app.name, "image": app.image, "ready": true, "restartCount": *node % 3}],
                },
            }));
        }
    }
    objects.push(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("Service", Some(namespace), app.name, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": app.name},
            "ports": [{"name": "main", "port": app.port, "targetPort": app.port, "protocol": "TCP"}],
        },
    }));
    objects
}

fn config_and_secrets(namespace: &str, app: &App, labels: &Value) -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("ConfigMap", Some(namespace), &format!("{}-config", app.name), labels),
            "data": {"LOG_LEVEL": "info", "PORT": app.port.to_string(), "FEATURE_FLAGS": "checkout-v2,fast-search"},
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("Secret", Some(namespace), &format!("{}-credentials", app.name), labels),
            "type": "Opaque",
            // Fake values: the quickstart profiles never read Secret data.
            "data": {"username": "ZXhhbXBsZQ==", "password": "bm90LWEtcmVhbC1wYXNzd29yZA=="},
        }),
    ]
}

/// An Ingress with TLS, its Certificate and the certificate's Secret.
fn ingress(namespace: &str, app: &App, host: &str, labels: &Value) -> Vec<Value> {
    let secret = format!("{}-tls", app.name);
    vec![
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta("Ingress", Some(namespace), app.name, labels),
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": [host], "secretName": secret}],
                "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": app.name, "port": {"number": app.port}}}}]}}],
            },
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": meta("Certificate", Some(namespace), &secret, labels),
            "spec": {"secretName": secret, "dnsNames": [host], "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt"}},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}],
                "notAfter": "2027-01-30T09:00:00Z",
            },
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("Secret", Some(namespace), &secret, labels),
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "LS0tLS1CRUdJTi0tLS0t", "tls.key": "LS0tLS1CRUdJTi0tLS0t"},
        }),
    ]
}
