//! One context's collection: for every target, list its kind, keep the objects it selects,
//! extract their rows and build its snapshot (pipeline spec §5.10, with the operator's filters).

use std::{collections::HashMap, sync::Arc};

use kollect_aggregate::Snapshot;
use kollect_api::{
    names::NamespaceName,
    row::{Gvk, TargetRow},
    selector,
    v1alpha1::{CollectionFilterSpec, KollectProfile, KollectTarget},
};
use kollect_collect::{
    filter::{Ceiling, MAX_NAMESPACED_WATCHES, NamespaceInfo, NamespaceIntent, namespace_sets},
    matcher::{Matcher, MatcherSpec, ObjectView, Policy, Verdict},
};
use kollect_extract::{ExtractOptions, Extractor, compile_match_policy};
use serde_json::Value;
use tracing::Instrument as _;

use super::{
    config::{Config, namespace_of},
    progress::ContextProgress,
    source::{ListFailure, Source},
};

/// Longest extraction failure reason reported (pipeline spec §5.10).
const MAX_REASON_BYTES: usize = 256;

/// What the run needs besides the config.
#[derive(Debug, Default, Clone)]
pub(crate) struct Options {
    /// `--namespace`: every target collects from this namespace only.
    pub(crate) namespace: Option<String>,
    /// Extraction options (built-in scrub keys and more).
    pub(crate) extract: ExtractOptions,
}

/// One object whose rows could not be extracted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Failure {
    pub(crate) target: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) reason: String,
}

/// The outcome for one target.
#[derive(Debug)]
pub(crate) struct TargetOutcome {
    pub(crate) namespace: String,
    pub(crate) name: String,
    /// The snapshot, unless the target was skipped.
    pub(crate) snapshot: Option<Snapshot>,
    /// Why it was skipped.
    pub(crate) skipped: Option<String>,
    /// Objects that failed extraction (their rows are missing).
    pub(crate) failures: Vec<Failure>,
    /// Objects listed and objects kept.
    pub(crate) listed: usize,
}

/// Collects every target of `config` from `source`. Fails only when the namespaces cannot be
/// read (the cluster is unreachable); per-target problems are in the outcomes.
pub(crate) async fn collect(
    config: &Config,
    source: &Source,
    options: &Options,
    progress: &ContextProgress,
) -> Result<Vec<TargetOutcome>, ListFailure> {
    let namespaces = source.namespaces().await?;
    let by_name: HashMap<String, NamespaceInfo> = namespaces
        .iter()
        .map(|ns| (ns.name.clone(), ns.clone()))
        .collect();
    let mut outcomes = Vec::with_capacity(config.targets.len());
    for target in &config.targets {
        let target = &target.object;
        let Some(profile) = config.profile_of(target) else {
            continue; // refused when the config was loaded
        };
        progress.kind(&profile.spec.target_gvk.kind);
        let span = tracing::info_span!(
            "target",
            target = %format!("{}/{}", namespace_of(&target.metadata), target.metadata.name.as_deref().unwrap_or_default())
        );
        let outcome = collect_target(target, profile, source, &namespaces, &by_name, options)
            .instrument(span)
            .await;
        progress.target_done();
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// What a target needs before objects arrive: its compiled extractor, its namespaces, and what
/// to ask the server for. Shared by the one-shot run and `--watch`.
pub(crate) struct Plan {
    pub(crate) extractor: Extractor,
    /// The target's collection filter, `--namespace` applied.
    filter: CollectionFilterSpec,
    pub(crate) kind: Gvk,
    /// Effective namespaces (DECISIONS Q2: empty collects nothing).
    pub(crate) effective: Vec<String>,
    /// A legacy label selector the server can evaluate.
    pub(crate) pushed_selector: Option<String>,
}

impl Plan {
    /// Compiles a target's profile and computes its namespaces over `namespaces`.
    pub(crate) fn new(
        target: &KollectTarget,
        profile: &KollectProfile,
        namespaces: &[NamespaceInfo],
        options: &Options,
    ) -> Result<Self, String> {
        let extractor = Extractor::compile(profile, &options.extract).map_err(|errors| {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            format!("profile does not compile: {first}")
        })?;
        let gvk = &profile.spec.target_gvk;
        let kind = Gvk::new(
            gvk.group.as_deref().unwrap_or_default(),
            &gvk.version,
            &gvk.kind,
        );
        let filter = filter_of(target, options)?;
        let intent = NamespaceIntent {
            filter: &filter,
            namespace_selector: target.spec.namespace_selector.as_ref(),
            default_included: &[],
            default_excluded: &[],
        };
        let effective = namespace_sets(&intent, namespaces, &Ceiling::default()).effective;
        // The server evaluates a legacy selector; resource rules and names are checked here.
        let pushed_selector = match (
            &target.spec.label_selector,
            filter.resource_rules().is_empty(),
        ) {
            (Some(s), true) => selector::to_query(s),
            _ => None,
        };
        Ok(Self {
            extractor,
            filter,
            kind,
            effective,
            pushed_selector,
        })
    }

    /// The target's object filter; cluster-scoped kinds are collected whatever the namespace
    /// filters (operations spec §3.3).
    pub(crate) fn matcher(
        &self,
        target: &KollectTarget,
        cluster_scoped: bool,
    ) -> Result<Matcher, String> {
        let mut effective = self.effective.clone();
        if cluster_scoped {
            effective.push(kollect_collect::matcher::CLUSTER_SCOPED_NAMESPACE.to_owned());
        }
        let names = target.spec.names.clone().unwrap_or_default();
        let spec = MatcherSpec {
            gvk: Some(&self.kind),
            effective_namespaces: &effective,
            resource_rules: self.filter.resource_rules(),
            names: &names,
            label_selector: target.spec.label_selector.as_ref(),
            watch_mode: target.spec.watch_mode,
        };
        Matcher::compile(&spec, policy).map_err(|e| e.to_string())
    }
}

/// The target's collection filter, with `--namespace` applied.
fn filter_of(target: &KollectTarget, options: &Options) -> Result<CollectionFilterSpec, String> {
    let mut filter = target.spec.filter.clone();
    if let Some(forced) = &options.namespace {
        let forced = NamespaceName::try_from(forced.clone())
            .map_err(|error| format!("--namespace {forced:?}: {error}"))?;
        filter.included_namespaces = Some(vec![forced]);
    }
    Ok(filter)
}

async fn collect_target(
    target: &KollectTarget,
    profile: &KollectProfile,
    source: &Source,
    namespaces: &[NamespaceInfo],
    by_name: &HashMap<String, NamespaceInfo>,
    options: &Options,
) -> TargetOutcome {
    let mut outcome = TargetOutcome {
        namespace: namespace_of(&target.metadata),
        name: target.metadata.name.clone().unwrap_or_default(),
        snapshot: None,
        skipped: None,
        failures: Vec::new(),
        listed: 0,
    };
    let plan = match Plan::new(target, profile, namespaces, options) {
        Ok(plan) => plan,
        Err(reason) => {
            outcome.skipped = Some(reason);
            return outcome;
        }
    };
    let scope =
        (plan.effective.len() <= MAX_NAMESPACED_WATCHES).then_some(plan.effective.as_slice());
    let listed = match source
        .list(
            &profile.spec.target_gvk,
            scope,
            plan.pushed_selector.as_deref(),
        )
        .await
    {
        Ok(listed) => listed,
        Err(failure) => {
            outcome.skipped = Some(failure.to_string());
            return outcome;
        }
    };
    let matcher = match plan.matcher(target, listed.cluster_scoped) {
        Ok(matcher) => matcher,
        Err(reason) => {
            outcome.skipped = Some(reason);
            return outcome;
        }
    };
    outcome.listed = listed.objects.len();
    let rows = extract_rows(
        &listed.objects,
        &matcher,
        &plan.extractor,
        &plan.kind,
        by_name,
        &mut outcome,
    );
    outcome.failures.sort();
    tracing::debug!(
        listed = outcome.listed,
        rows = rows.len(),
        failures = outcome.failures.len(),
        "Target collected."
    );
    outcome.snapshot = Some(Snapshot::new(rows));
    outcome
}

/// The rows of the objects the target selects; extraction failures go to `outcome`.
fn extract_rows(
    objects: &[Value],
    matcher: &Matcher,
    extractor: &Extractor,
    kind: &Gvk,
    namespaces: &HashMap<String, NamespaceInfo>,
    outcome: &mut TargetOutcome,
) -> Vec<TargetRow> {
    let target_namespace: Arc<str> = outcome.namespace.as_str().into();
    let target_name: Arc<str> = outcome.name.as_str().into();
    let mut rows = Vec::new();
    for object in objects {
        let view = ObjectView::from_value(object);
        if matcher.check(&view, Some(object), namespaces) != Verdict::Collect {
            continue;
        }
        match extractor.extract(object) {
            Ok(extracted) => rows.push(TargetRow {
                target_namespace: Arc::clone(&target_namespace),
                target_name: Arc::clone(&target_name),
                kind: kind.clone(),
                row: Arc::new(extracted.row),
            }),
            Err(error) => outcome.failures.push(Failure {
                target: format!("{target_namespace}/{target_name}"),
                namespace: view.namespace,
                name: view.name,
                uid: uid_of(object),
                reason: truncate(&error.to_string()),
            }),
        }
    }
    rows
}

/// Compiles a `matchPolicy` with the CEL engine of the extractor.
pub(crate) fn policy(source: &str) -> Result<Policy, String> {
    let expression = compile_match_policy(source).map_err(|e| e.to_string())?;
    Ok(Arc::new(move |object: &Value| {
        expression.evaluate_bool(object).map_err(|e| e.to_string())
    }))
}

pub(crate) fn uid_of(object: &Value) -> String {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A reason cut to [`MAX_REASON_BYTES`] on a character boundary, with `…` when cut.
pub(crate) fn truncate(reason: &str) -> String {
    if reason.len() <= MAX_REASON_BYTES {
        return reason.to_owned();
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &reason[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_06_reasons_are_cut_on_character_boundaries() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(200); // 400 bytes
        let cut = truncate(&long);
        assert!(cut.ends_with('…'));
        assert_eq!(cut.len(), 256 + '…'.len_utf8());
    }
}
