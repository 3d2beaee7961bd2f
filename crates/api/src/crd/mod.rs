//! CustomResourceDefinitions generated from the Rust types.
//!
//! kube-derive produces a structural schema from the types; this module finishes it the way a
//! hand-written CRD would look:
//!
//! * field descriptions come from the field docs (kube's schema rewriter replaces the
//!   description of an optional enum or struct field with the type's doc; we put the field's back),
//!   and wrapped doc lines are joined so `kubectl explain` prints flowing text;
//! * `nullable` is dropped (absent and `null` mean the same here, and the API server prunes
//!   `null` from non-nullable fields);
//! * `apiVersion`, `kind` and `metadata` are declared at the root as every CRD does;
//! * the CEL rules of [`rules`] are attached as `x-kubernetes-validations`, so a cluster without
//!   Kollect's webhook still refuses most invalid objects.

mod rules;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

pub use self::rules::{CelRule, cel_rules};
use crate::{
    k8s::CustomResourceDefinition,
    v1alpha1::{
        ClusterInventorySpec, ClusterInventoryStatus, ClusterScopeSpec, ClusterTargetSpec,
        ClusterTargetStatus, ConnectionTestSpec, ConnectionTestStatus, DatabaseSinkSpec,
        EventSinkSpec, FamilySinkStatus, InventorySpec, InventoryStatus, Kind, ProfileSpec,
        ProfileStatus, ScopeSpec, SnapshotSinkSpec, TargetSpec, TargetStatus,
    },
};

/// All eleven CRDs, in [`Kind::ALL`] order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    Kind::ALL.into_iter().map(crd).collect()
}

/// The finished CRD of one kind.
pub fn crd(kind: Kind) -> CustomResourceDefinition {
    let generated = kind.derived_crd();
    let mut value = serde_json::to_value(&generated)
        .expect("a CustomResourceDefinition always encodes to JSON");
    let schema = value
        .pointer_mut("/spec/versions/0/schema/openAPIV3Schema")
        .expect("kube-derive always emits an openAPIV3Schema for the single version");
    finish_schema(kind, schema);
    for rule in cel_rules(kind) {
        rule.attach(schema);
    }
    serde_json::from_value(value).expect("the finished CRD decodes as it was encoded")
}

/// The finished schema of a kind before its CEL rules are attached (used to find the nodes that
/// the generic rules apply to).
fn schema_without_rules(kind: Kind) -> Value {
    let generated = kind.derived_crd();
    let mut value = serde_json::to_value(&generated)
        .expect("a CustomResourceDefinition always encodes to JSON");
    let mut schema = value
        .pointer_mut("/spec/versions/0/schema/openAPIV3Schema")
        .map(Value::take)
        .unwrap_or(Value::Null);
    finish_schema(kind, &mut schema);
    schema
}

/// The `openAPIV3Schema` of one kind's finished CRD, as JSON.
pub fn schema(kind: Kind) -> Value {
    let crd = serde_json::to_value(crd(kind)).expect("a CRD always encodes to JSON");
    crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().unwrap_or(Value::Null)
}

fn finish_schema(kind: Kind, schema: &mut Value) {
    let (spec, status) = raw_schemas(kind);
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, raw) in [("spec", Some(spec)), ("status", status)] {
            if let (Some(node), Some(raw)) = (properties.get_mut(name), raw) {
                let definitions = raw
                    .pointer("/components/schemas")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                restore_descriptions(node, &raw, &definitions);
            }
        }
        properties.insert(
            "apiVersion".to_owned(),
            json!({
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of \
                    an object. Servers should convert recognized schemas to the latest internal \
                    value, and may reject unrecognized values.",
            }),
        );
        properties.insert(
            "kind".to_owned(),
            json!({
                "type": "string",
                "description": "Kind is a string value representing the REST resource this object \
                    represents. Servers may infer this from the endpoint the client submits \
                    requests to. In CamelCase.",
            }),
        );
        properties.insert("metadata".to_owned(), json!({ "type": "object" }));
    }
    normalize(schema);
}

/// Raw schemars schemas of the spec and status types, with field descriptions intact.
fn raw_schemas(kind: Kind) -> (Value, Option<Value>) {
    fn root<T: schemars::JsonSchema>() -> Value {
        let generator = SchemaSettings::openapi3().into_generator();
        serde_json::to_value(generator.into_root_schema_for::<T>())
            .expect("a JSON schema always encodes to JSON")
    }
    match kind {
        Kind::Profile => (root::<ProfileSpec>(), Some(root::<ProfileStatus>())),
        Kind::Target => (root::<TargetSpec>(), Some(root::<TargetStatus>())),
        Kind::ClusterTarget => (root::<ClusterTargetSpec>(), Some(root::<ClusterTargetStatus>())),
        Kind::Inventory => (root::<InventorySpec>(), Some(root::<InventoryStatus>())),
        Kind::ClusterInventory => {
            (root::<ClusterInventorySpec>(), Some(root::<ClusterInventoryStatus>()))
        }
        Kind::SnapshotSink => (root::<SnapshotSinkSpec>(), Some(root::<FamilySinkStatus>())),
        Kind::DatabaseSink => (root::<DatabaseSinkSpec>(), Some(root::<FamilySinkStatus>())),
        Kind::EventSink => (root::<EventSinkSpec>(), Some(root::<FamilySinkStatus>())),
        Kind::Scope => (root::<ScopeSpec>(), None),
        Kind::ClusterScope => (root::<ClusterScopeSpec>(), None),
        Kind::ConnectionTest => (root::<ConnectionTestSpec>(), Some(root::<ConnectionTestStatus>())),
    }
}

/// Follows `$ref`s and unwraps `Option`'s `anyOf: [T, null]` to the schema of `T`.
fn resolve<'a>(mut raw: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    for _ in 0..32 {
        if let Some(name) = raw.get("$ref").and_then(Value::as_str) {
            match name.rsplit('/').next().and_then(|name| definitions.get(name)) {
                Some(target) => raw = target,
                None => return raw,
            }
        } else if let Some(variants) = raw.get("anyOf").and_then(Value::as_array) {
            let mut non_null = variants.iter().filter(|v| !is_null_schema(v));
            match (non_null.next(), non_null.next()) {
                (Some(only), None) => raw = only,
                _ => return raw,
            }
        } else {
            return raw;
        }
    }
    raw
}

/// Whether a schema only admits `null` (the second arm of an `Option`'s `anyOf`).
fn is_null_schema(schema: &Value) -> bool {
    schema.get("nullable").is_some()
        || schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("enum") == Some(&json!([null]))
}

/// Copies each field's own description from the raw schema onto the generated one.
fn restore_descriptions(target: &mut Value, raw: &Value, definitions: &Map<String, Value>) {
    let raw = resolve(raw, definitions);
    if let (Some(properties), Some(raw_properties)) = (
        target.get_mut("properties").and_then(Value::as_object_mut),
        raw.get("properties").and_then(Value::as_object),
    ) {
        for (name, property) in properties.iter_mut() {
            let Some(raw_property) = raw_properties.get(name) else { continue };
            if let Some(description) = raw_property.get("description")
                && let Some(property) = property.as_object_mut()
            {
                property.insert("description".to_owned(), description.clone());
            }
            restore_descriptions(property, raw_property, definitions);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let (Some(child), Some(raw_child)) = (target.get_mut(key), raw.get(key))
            && child.is_object()
        {
            restore_descriptions(child, raw_child, definitions);
        }
    }
}

/// Drops `nullable`, `null` enum entries and float bounds; reflows descriptions.
fn normalize(node: &mut Value) {
    match node {
        Value::Object(map) => {
            map.remove("nullable");
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|value| !value.is_null());
            }
            for key in ["minimum", "maximum"] {
                if let Some(bound) = map.get_mut(key)
                    && let Some(float) = bound.as_f64()
                    && float.fract() == 0.0
                    && float.abs() < 9.0e15
                {
                    #[allow(clippy::cast_possible_truncation)] // integral and in range, see above
                    let integer = float as i64;
                    *bound = Value::from(integer);
                }
            }
            if let Some(Value::String(description)) = map.get_mut("description") {
                *description = reflow(description);
            }
            for (key, child) in map.iter_mut() {
                // `default` and `enum` hold data, not schemas.
                if key != "default" && key != "enum" {
                    normalize(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// Joins wrapped doc-comment lines into paragraphs separated by blank lines.
fn reflow(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|paragraph| !paragraph.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflow_joins_lines_and_keeps_paragraphs() {
        assert_eq!(reflow("a\nb  c\n\nd\ne"), "a b c\n\nd e");
    }

    #[test]
    fn optional_enum_fields_keep_their_own_description() {
        let schema = schema(Kind::SnapshotSink);
        let description = schema
            .pointer("/properties/spec/properties/git/properties/auth/properties/type/description")
            .and_then(Value::as_str)
            .expect("described");
        assert!(description.starts_with("`token`"), "{description}");
    }

    #[test]
    fn no_nullable_remains() {
        for kind in Kind::ALL {
            let text = serde_json::to_string(&schema(kind)).expect("encodes");
            assert!(!text.contains("\"nullable\""), "{kind} still has nullable");
        }
    }
}
