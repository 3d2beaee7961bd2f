//! One context's collection: for every target, list its kind, keep the objects it selects,
//! extract their rows and build its snapshot (pipeline spec §5.10, with the operator's filters).

use std::{collections::HashMap, sync::Arc};

use kollect_aggregate::Snapshot;
use kollect_api::{
    names::NamespaceName,
    row::{Gvk, TargetRow},
    selector,
    v1alpha1::{KollectProfile, KollectTarget},
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
        let span = tracing::info_span!(
            "target",
            target = %format!("{}/{}", namespace_of(&target.metadata), target.metadata.name.as_deref().unwrap_or_default())
        );
        let outcome = collect_target(target, profile, source, &namespaces, &by_name, options)
            .instrument(span)
            .await;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

async fn collect_target(
    target: &KollectTarget,
    profile: &KollectProfile,
    source: &Source,
    namespaces: &[NamespaceInfo],
    by_name: &HashMap<String, NamespaceInfo>,
    options: &Options,
) -> TargetOutcome {
    let namespace = namespace_of(&target.metadata);
    let name = target.metadata.name.clone().unwrap_or_default();
    let mut outcome = TargetOutcome {
        namespace: namespace.clone(),
        name: name.clone(),
        snapshot: None,
        skipped: None,
        failures: Vec::new(),
        listed: 0,
    };
    let extractor = match Extractor::compile(profile, &options.extract) {
        Ok(extractor) => extractor,
        Err(errors) => {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            outcome.skipped = Some(format!("profile does not compile: {first}"));
            return outcome;
        }
    };
    let gvk = &profile.spec.target_gvk;
    let row_kind = Gvk::new(
        gvk.group.as_deref().unwrap_or_default(),
        &gvk.version,
        &gvk.kind,
    );
    let mut filter = target.spec.filter.clone();
    if let Some(forced) = &options.namespace {
        match NamespaceName::try_from(forced.clone()) {
            Ok(forced) => filter.included_namespaces = Some(vec![forced]),
            Err(error) => {
                outcome.skipped = Some(format!("--namespace {forced:?}: {error}"));
                return outcome;
            }
        }
    }
    let intent = NamespaceIntent {
        filter: &filter,
        namespace_selector: target.spec.namespace_selector.as_ref(),
        default_included: &[],
        default_excluded: &[],
    };
    let mut effective = namespace_sets(&intent, namespaces, &Ceiling::default()).effective;
    let rules = filter.resource_rules();
    let names = target.spec.names.clone().unwrap_or_default();
    // The server evaluates a legacy selector; resource rules and names are checked here.
    let pushed = match (&target.spec.label_selector, rules.is_empty()) {
        (Some(s), true) => selector::to_query(s),
        _ => None,
    };
    let scope = (effective.len() <= MAX_NAMESPACED_WATCHES).then_some(effective.as_slice());
    let listed = match source.list(gvk, scope, pushed.as_deref()).await {
        Ok(listed) => listed,
        Err(failure) => {
            outcome.skipped = Some(failure.to_string());
            return outcome;
        }
    };
    if listed.cluster_scoped {
        // Cluster-scoped kinds are listed once, whatever the namespace filters (§3.3).
        effective.push(kollect_collect::matcher::CLUSTER_SCOPED_NAMESPACE.to_owned());
    }
    let spec = MatcherSpec {
        gvk: Some(&row_kind),
        effective_namespaces: &effective,
        resource_rules: rules,
        names: &names,
        label_selector: target.spec.label_selector.as_ref(),
        watch_mode: target.spec.watch_mode,
    };
    let matcher = match Matcher::compile(&spec, policy) {
        Ok(matcher) => matcher,
        Err(error) => {
            outcome.skipped = Some(error.to_string());
            return outcome;
        }
    };
    outcome.listed = listed.objects.len();
    let rows = extract_rows(
        &listed.objects,
        &matcher,
        &extractor,
        &row_kind,
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
fn policy(source: &str) -> Result<Policy, String> {
    let expression = compile_match_policy(source).map_err(|e| e.to_string())?;
    Ok(Arc::new(move |object: &Value| {
        expression.evaluate_bool(object).map_err(|e| e.to_string())
    }))
}

fn uid_of(object: &Value) -> String {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A reason cut to [`MAX_REASON_BYTES`] on a character boundary, with `…` when cut.
fn truncate(reason: &str) -> String {
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
    fn reasons_are_cut_on_character_boundaries() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(200); // 400 bytes
        let cut = truncate(&long);
        assert!(cut.ends_with('…'));
        assert_eq!(cut.len(), 256 + '…'.len_utf8());
    }
}
