//! CEL rules (`x-kubernetes-validations`) emitted into the CRDs.
//!
//! Every single-object admission rule that CEL can express cheaply is repeated here, so a cluster
//! without Kollect's webhook still refuses most invalid objects (DECISIONS API 11). The webhook
//! stays authoritative: it runs [`crate::validation`], which implements every rule below and
//! more. Tests check that no valid sample trips a rule and that every object a rule refuses is
//! also refused by [`crate::validation`].
//!
//! Rules only use constant-cost operations, or iterate lists whose `maxItems` is set, so that the
//! API server's cost estimate stays far below its per-rule budget. String-format rules are schema
//! `pattern`s on the types instead (see [`crate::names`]).

use serde_json::{Value, json};

use crate::{
    duration::DURATION_PATTERN,
    v1alpha1::{Kind, MAX_SINK_REFS},
};

/// One validation rule attached to a schema node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CelRule {
    /// JSON pointer of the schema node inside `openAPIV3Schema`, e.g. `/properties/spec`.
    pub node: String,
    /// The CEL expression; `self` is the node's value.
    pub rule: String,
    /// Message shown when the rule fails.
    pub message: String,
    /// Field the failure is reported at, relative to the node (e.g. `.namespaceSelector`).
    pub field_path: Option<String>,
    /// Kubernetes error reason (`FieldValueRequired`, `FieldValueForbidden`, ...); default
    /// `FieldValueInvalid`.
    pub reason: Option<String>,
}

impl CelRule {
    fn new(node: &str, rule: &str, message: &str) -> Self {
        Self {
            node: node.to_owned(),
            rule: rule.to_owned(),
            message: message.to_owned(),
            field_path: None,
            reason: None,
        }
    }

    fn at(mut self, field_path: &str) -> Self {
        self.field_path = Some(field_path.to_owned());
        self
    }

    fn required(mut self) -> Self {
        self.reason = Some("FieldValueRequired".to_owned());
        self
    }

    fn forbidden(mut self) -> Self {
        self.reason = Some("FieldValueForbidden".to_owned());
        self
    }

    /// Adds the rule to its node in `schema`.
    pub(crate) fn attach(&self, schema: &mut Value) {
        let node = schema
            .pointer_mut(&self.node)
            .and_then(Value::as_object_mut)
            .expect("every CEL rule names a node of the generated schema (checked by tests)");
        let mut entry = json!({ "rule": self.rule, "message": self.message });
        if let Some(field_path) = &self.field_path {
            entry["fieldPath"] = json!(field_path);
        }
        if let Some(reason) = &self.reason {
            entry["reason"] = json!(reason);
        }
        let list = node
            .entry("x-kubernetes-validations")
            .or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            list.push(entry);
        }
    }
}

const SPEC: &str = "/properties/spec";

/// Every rule of one kind, including a range rule on each duration field.
pub fn cel_rules(kind: Kind) -> Vec<CelRule> {
    let mut rules = match kind {
        Kind::Profile => profile_rules(),
        Kind::Target | Kind::Scope | Kind::ClusterScope => Vec::new(),
        Kind::ClusterTarget => vec![namespace_selector_required(
            "an empty selector would collect from every namespace",
        )],
        Kind::Inventory => inventory_rules(),
        Kind::ClusterInventory => cluster_inventory_rules(),
        Kind::SnapshotSink => snapshot_sink_rules(),
        Kind::DatabaseSink => database_sink_rules(),
        Kind::EventSink => event_sink_rules(),
        Kind::ConnectionTest => connection_test_rules(),
    };
    rules.extend(duration_rules(kind));
    rules
}

fn profile_rules() -> Vec<CelRule> {
    vec![
        CelRule::new(
            SPEC,
            "(has(self.attributes) && size(self.attributes) > 0) || \
             (has(self.export) && has(self.export.mode) && self.export.mode == 'Resource')",
            "list at least one attribute in spec.attributes, or set spec.export.mode to Resource",
        )
        .at(".attributes")
        .required(),
        CelRule::new(
            SPEC,
            "!has(self.export) || !has(self.export.mode) || self.export.mode != 'Resource' || \
             !has(self.attributes) || !has(self.export.__as__) || \
             self.attributes.all(a, a.name != self.export.__as__)",
            "spec.export.as must differ from every attribute name: the embedded object is stored \
             under that key",
        )
        .at(".export.as"),
        CelRule::new(
            SPEC,
            "!has(self.metrics) || self.metrics.all(m, has(self.attributes) && \
             self.attributes.exists(a, a.name == m.path))",
            "every spec.metrics[].path must name an attribute of spec.attributes",
        )
        .at(".metrics"),
        CelRule::new(
            SPEC,
            "!has(self.metrics) || self.metrics.all(m, !has(m.labels) || m.labels.all(l, \
             has(self.attributes) && self.attributes.exists(a, a.name == l)))",
            "every spec.metrics[].labels entry must name an attribute of spec.attributes",
        )
        .at(".metrics"),
    ]
}

fn namespace_selector_required(why: &str) -> CelRule {
    CelRule::new(
        SPEC,
        "has(self.namespaceSelector) && \
         ((has(self.namespaceSelector.matchLabels) && size(self.namespaceSelector.matchLabels) > 0) \
         || (has(self.namespaceSelector.matchExpressions) && \
         size(self.namespaceSelector.matchExpressions) > 0))",
        &format!(
            "spec.namespaceSelector is required and needs at least one matchLabels entry or \
             matchExpressions item: {why}"
        ),
    )
    .at(".namespaceSelector")
    .required()
}

fn combined_refs_rule() -> CelRule {
    CelRule::new(
        SPEC,
        &format!(
            "(has(self.snapshotSinkRefs) ? size(self.snapshotSinkRefs) : 0) + \
             (has(self.databaseSinkRefs) ? size(self.databaseSinkRefs) : 0) + \
             (has(self.eventSinkRefs) ? size(self.eventSinkRefs) : 0) <= {MAX_SINK_REFS}"
        ),
        &format!(
            "an inventory binds at most {MAX_SINK_REFS} sinks across snapshotSinkRefs, \
             databaseSinkRefs and eventSinkRefs"
        ),
    )
}

fn inventory_rules() -> Vec<CelRule> {
    let mut rules = vec![
        combined_refs_rule(),
        CelRule::new(
            SPEC,
            "!has(self.httpEndpoint)",
            "spec.httpEndpoint is not supported: the read-only HTTP API is configured with \
             operator flags; remove the field",
        )
        .at(".httpEndpoint")
        .forbidden(),
    ];
    for list in ["snapshotSinkRefs", "databaseSinkRefs", "eventSinkRefs"] {
        rules.push(
            CelRule::new(
                &format!("{SPEC}/properties/{list}"),
                "self.all(r, !has(r.__namespace__))",
                "a KollectInventory binds sinks of its own namespace only: remove namespace",
            )
            .forbidden(),
        );
    }
    rules
}

fn cluster_inventory_rules() -> Vec<CelRule> {
    vec![
        namespace_selector_required("an empty selector would roll up every namespace"),
        combined_refs_rule(),
        CelRule::new(
            SPEC,
            "!has(self.profileRef)",
            "spec.profileRef is not supported yet: cluster inventories export the rows their \
             cluster targets extract; remove the field",
        )
        .at(".profileRef")
        .forbidden(),
    ]
}

/// Rules every family sink shares.
fn common_sink_rules() -> Vec<CelRule> {
    vec![
        CelRule::new(
            SPEC,
            "!has(self.options) || size(self.options) == 0",
            "spec.options is not supported; put credentials in the Secret named by spec.secretRef",
        )
        .at(".options")
        .forbidden(),
        CelRule::new(
            &format!("{SPEC}/properties/provisioning"),
            "!has(self.naming)",
            "spec.provisioning.naming is not supported; remove it",
        )
        .at(".naming")
        .forbidden(),
        CelRule::new(
            &format!("{SPEC}/properties/tls"),
            "!(has(self.caBundle) && has(self.caSecretRef))",
            "set either caBundle or caSecretRef, not both",
        ),
    ]
}

/// Rules of the database and event families, which write JSON messages or rows only.
fn non_snapshot_sink_rules(family: &str) -> Vec<CelRule> {
    vec![
        CelRule::new(
            SPEC,
            "!has(self.layout)",
            &format!("spec.layout applies to Git sinks only, not to {family} sinks"),
        )
        .at(".layout")
        .forbidden(),
        CelRule::new(
            SPEC,
            "!has(self.pathTemplate)",
            &format!("spec.pathTemplate applies to snapshot sinks only, not to {family} sinks"),
        )
        .at(".pathTemplate")
        .forbidden(),
        CelRule::new(
            SPEC,
            "!has(self.serialization) || ((!has(self.serialization.format) || \
             self.serialization.format == 'json') && (!has(self.serialization.compression) || \
             self.serialization.compression == 'none'))",
            &format!("{family} sinks write uncompressed JSON only"),
        )
        .at(".serialization"),
    ]
}

/// `self.type == type ? has(self.block) : !has(self.block)`.
fn block_matches_type(block: &str, types: &[&str]) -> CelRule {
    let list = types
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    CelRule::new(
        SPEC,
        &format!("self.type in [{list}] || !has(self.{block})"),
        &format!("spec.{block} belongs to type {} only", types.join(" or ")),
    )
    .at(&format!(".{block}"))
    .forbidden()
}

/// For families whose types each have a settings block of the same name: the block of the chosen
/// type is required, every other type's block forbidden.
fn type_block_rules(blocks: &[&str]) -> Vec<CelRule> {
    blocks
        .iter()
        .flat_map(|block| {
            [
                CelRule::new(
                    SPEC,
                    &format!("self.type != '{block}' || has(self.{block})"),
                    &format!("spec.{block} is required when spec.type is {block}"),
                )
                .at(&format!(".{block}"))
                .required(),
                block_matches_type(block, &[block]),
            ]
        })
        .collect()
}

fn snapshot_sink_rules() -> Vec<CelRule> {
    let mut rules = common_sink_rules();
    rules.extend([
        CelRule::new(
            SPEC,
            "has(self.endpoint) && size(self.endpoint) > 0",
            "spec.endpoint is required: the Git remote URL or the bucket (s3://bucket/prefix, \
             gs://bucket/prefix)",
        )
        .at(".endpoint")
        .required(),
        block_matches_type("git", &["git"]),
        block_matches_type("gitlab", &["gitlab"]),
        block_matches_type("objectStore", &["s3", "gcs"]),
        block_matches_type("layout", &["git", "gitlab"]),
        CelRule::new(
            SPEC,
            "!has(self.http)",
            "spec.http is not supported; remove it",
        )
        .at(".http")
        .forbidden(),
        CelRule::new(
            SPEC,
            "!has(self.serialization) || !has(self.serialization.format) || \
             (self.type in ['git', 'gitlab'] ? self.serialization.format in ['json', 'yaml', \
             'ndjson'] : self.serialization.format in ['json', 'ndjson', 'csv', 'parquet'])",
            "git and gitlab sinks write json, yaml or ndjson; s3 and gcs sinks write json, ndjson, \
             csv or parquet",
        )
        .at(".serialization.format"),
        CelRule::new(
            SPEC,
            "!has(self.serialization) || !has(self.serialization.compression) || \
             self.serialization.compression != 'snappy' || (has(self.serialization.format) ? \
             self.serialization.format == 'parquet' : (has(self.objectStore) && \
             has(self.objectStore.format) && self.objectStore.format == 'parquet'))",
            "snappy compression is only available for parquet; use gzip or zstd",
        )
        .at(".serialization.compression"),
        CelRule::new(
            &format!("{SPEC}/properties/git"),
            "!has(self.engine) || self.engine == 'go-git'",
            "engine cli is not supported: Kollect runs Git in-process; remove spec.git.engine",
        )
        .at(".engine"),
        CelRule::new(
            &format!("{SPEC}/properties/git/properties/branch"),
            "!self.contains('..') && !self.endsWith('.') && !self.endsWith('.lock') && \
             !self.startsWith('refs/') && !self.contains('@{')",
            "must be a short branch name such as main: no '..', '@{', 'refs/' prefix, or '.' / \
             '.lock' suffix",
        ),
        CelRule::new(
            &format!("{SPEC}/properties/pathTemplate"),
            "size(self) == 0 || (!self.startsWith('/') && !self.contains('..') && \
             self.contains('{namespace}') && self.contains('{name}'))",
            "must be a relative path without '..' that contains {namespace} and {name}",
        ),
        CelRule::new(
            &format!("{SPEC}/properties/layout/properties/pathTemplate"),
            "size(self) == 0 || (!self.contains('..') && (self.contains('{sourceName}') || \
             self.contains('{name}') || self.contains('{uid}')))",
            "must not contain '..' and must contain {sourceName}, {name} or {uid}",
        ),
    ]);
    rules
}

fn database_sink_rules() -> Vec<CelRule> {
    let mut rules = common_sink_rules();
    rules.extend(non_snapshot_sink_rules("database"));
    rules.extend(type_block_rules(&["postgres", "bigquery", "mongodb"]));
    rules.push(
        CelRule::new(
            SPEC,
            "!has(self.endpoint)",
            "database sinks do not use spec.endpoint: the connection string comes from the \
             Secret in databaseRef",
        )
        .at(".endpoint")
        .forbidden(),
    );
    rules.push(
        CelRule::new(
            "/properties/spec/properties/postgres",
            "!has(self.history) || !self.history || size(self.table) <= 55",
            "with history: true the history table <table>_history must fit the 63 bytes \
             Postgres keeps: shorten the table name to 55 bytes",
        )
        .at(".table"),
    );
    rules
}

fn event_sink_rules() -> Vec<CelRule> {
    let mut rules = common_sink_rules();
    rules.extend(non_snapshot_sink_rules("event"));
    rules.extend(type_block_rules(&["nats", "kafka"]));
    rules.extend([
        CelRule::new(
            SPEC,
            "self.type != 'nats' || !has(self.nats) || (has(self.nats.url) && \
             size(self.nats.url) > 0) || (has(self.endpoint) && size(self.endpoint) > 0)",
            "set spec.nats.url (or spec.endpoint) to the NATS server URL",
        )
        .at(".nats.url")
        .required(),
        CelRule::new(
            SPEC,
            "self.type != 'kafka' || !has(self.kafka) || size(self.kafka.brokers) > 0 || \
             (has(self.endpoint) && size(self.endpoint) > 0)",
            "list at least one broker in spec.kafka.brokers (or set spec.endpoint)",
        )
        .at(".kafka.brokers")
        .required(),
    ]);
    rules
}

fn connection_test_rules() -> Vec<CelRule> {
    vec![
        CelRule::new(
            &format!("{SPEC}/properties/sinkRef"),
            "(has(self.snapshotSinkRef) ? 1 : 0) + (has(self.databaseSinkRef) ? 1 : 0) + \
             (has(self.eventSinkRef) ? 1 : 0) == 1",
            "set exactly one of snapshotSinkRef, databaseSinkRef and eventSinkRef",
        ),
        CelRule::new(
            SPEC,
            "!has(self.profileRef)",
            "spec.profileRef is not supported yet; remove it",
        )
        .at(".profileRef")
        .forbidden(),
    ]
}

/// A `0 ≤ d ≤ 24h` rule on every duration field of the kind's schema.
fn duration_rules(kind: Kind) -> Vec<CelRule> {
    let schema = super::schema_without_rules(kind);
    let mut pointers = Vec::new();
    collect_duration_nodes(&schema, "", &mut pointers);
    pointers
        .into_iter()
        .map(|node| {
            CelRule::new(
                &node,
                "duration(self) >= duration('0s') && duration(self) <= duration('24h')",
                "must be between 0s and 24h",
            )
        })
        .collect()
}

fn collect_duration_nodes(node: &Value, pointer: &str, out: &mut Vec<String>) {
    if node.get("pattern").and_then(Value::as_str) == Some(DURATION_PATTERN) {
        out.push(pointer.to_owned());
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            collect_duration_nodes(child, &format!("{pointer}/properties/{name}"), out);
        }
    }
    if let Some(items) = node.get("items") {
        collect_duration_nodes(items, &format!("{pointer}/items"), out);
    }
}
