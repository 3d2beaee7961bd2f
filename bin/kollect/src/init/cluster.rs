//! What the wizard reads from the cluster: the kubeconfig's contexts, the kinds the caller may
//! list (discovery, then one `limit=1` list per kind, which also yields a sample object), and
//! the namespaces. Nothing is ever written to the cluster.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use futures::StreamExt as _;
use kollect_api::k8s::Namespace;
use kube::{
    Api, Client,
    api::{DynamicObject, ListParams},
    config::{KubeConfigOptions, Kubeconfig},
    discovery::{ApiResource, Discovery, Scope, verbs},
};
use serde_json::Value;

/// Kinds probed at once: enough to discover a cluster with a hundred kinds in a few round
/// trips, few enough not to look like a flood to the API server's priority and fairness.
const PARALLEL_PROBES: usize = 8;
/// Namespaces tried for a sample object: a sample is a convenience, not worth many requests.
const SAMPLED_NAMESPACES: usize = 5;

/// The kubeconfig the wizard works with.
pub(crate) struct Kubeconfigs {
    /// Where it was read (for the trial commands); `None` for `$KUBECONFIG`/`~/.kube/config`.
    pub(crate) path: Option<PathBuf>,
    config: Kubeconfig,
}

impl Kubeconfigs {
    /// Reads `path`, else `$KUBECONFIG`, else `~/.kube/config`.
    pub(crate) fn read(path: Option<&Path>) -> Result<Self> {
        let config = match path {
            Some(path) => Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?,
            None => Kubeconfig::read().context(
                "cannot read a kubeconfig ($KUBECONFIG or ~/.kube/config); give --kubeconfig PATH",
            )?,
        };
        Ok(Self {
            path: path.map(Path::to_path_buf),
            config,
        })
    }

    /// Every context name, in kubeconfig order.
    pub(crate) fn contexts(&self) -> Vec<String> {
        self.config
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// The current context, if any.
    pub(crate) fn current(&self) -> Option<String> {
        self.config
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
    }

    /// A client for `context` and the API server it talks to.
    pub(crate) async fn connect(&self, context: &str) -> Result<(Client, String)> {
        let options = KubeConfigOptions {
            context: Some(context.to_owned()),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(self.config.clone(), &options)
            .await
            .with_context(|| format!("context {context}: invalid kubeconfig entry"))?;
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config)
            .with_context(|| format!("context {context}: cannot build a client"))?;
        Ok((client, server))
    }
}

/// A kind the caller may list.
#[derive(Debug, Clone)]
pub(crate) struct Kind {
    pub(crate) resource: ApiResource,
    pub(crate) namespaced: bool,
    /// One object of the kind, if there is any (the first of a `limit=1` list).
    pub(crate) sample: Option<Value>,
}

impl Kind {
    /// `Deployment (apps/v1)`, as the kind list shows it.
    pub(crate) fn label(&self) -> String {
        format!("{} ({})", self.resource.kind, self.resource.api_version)
    }
}

/// The kinds of the preferred version of every group that the caller may list cluster-wide,
/// sorted by kind; and how many listable kinds were refused (forbidden or failing).
pub(crate) async fn listable_kinds(client: &Client) -> Result<(Vec<Kind>, usize)> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .context("API discovery failed")?;
    let candidates: Vec<(ApiResource, bool)> = discovery
        .groups()
        .flat_map(kube::discovery::ApiGroup::recommended_resources)
        .filter(|(_, capabilities)| capabilities.supports_operation(verbs::LIST))
        .map(|(resource, capabilities)| (resource, capabilities.scope == Scope::Namespaced))
        .collect();
    let probes = futures::stream::iter(candidates)
        .map(|(resource, namespaced)| async move {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            match api.list(&ListParams::default().limit(1)).await {
                Ok(list) => Some(Kind {
                    sample: list
                        .items
                        .into_iter()
                        .next()
                        .and_then(|object| serde_json::to_value(object).ok()),
                    resource,
                    namespaced,
                }),
                Err(error) => {
                    tracing::debug!(kind = %resource.kind, error = %error, "Kind not listable.");
                    None
                }
            }
        })
        .buffer_unordered(PARALLEL_PROBES)
        .collect::<Vec<_>>()
        .await;
    let refused = probes.iter().filter(|p| p.is_none()).count();
    let mut kinds: Vec<Kind> = probes.into_iter().flatten().collect();
    kinds.sort_by(|a, b| {
        (&a.resource.kind, &a.resource.group).cmp(&(&b.resource.kind, &b.resource.group))
    });
    Ok((kinds, refused))
}

/// Every namespace with its labels, or `None` when the caller may not list them.
pub(crate) async fn namespaces(
    client: &Client,
) -> Option<Vec<(String, std::collections::BTreeMap<String, String>)>> {
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api.list(&ListParams::default()).await.ok()?;
    let mut names: Vec<_> = list
        .items
        .into_iter()
        .map(|ns| {
            (
                ns.metadata.name.unwrap_or_default(),
                ns.metadata.labels.unwrap_or_default(),
            )
        })
        .collect();
    names.sort();
    Some(names)
}

/// One object of `resource` in the first of `namespaces` that has one (the first few only).
pub(crate) async fn sample_in(
    client: &Client,
    resource: &ApiResource,
    namespaces: &[String],
) -> Option<Value> {
    for namespace in namespaces.iter().take(SAMPLED_NAMESPACES) {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
        if let Ok(list) = api.list(&ListParams::default().limit(1)).await
            && let Some(object) = list.items.into_iter().next()
        {
            return serde_json::to_value(object).ok();
        }
    }
    None
}
