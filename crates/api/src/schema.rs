//! Structural-schema validation and defaulting, as the API server applies a CRD's
//! `openAPIV3Schema` to an object before any webhook sees it.
//!
//! Offline validation (`kollect validate`, the pipeline CLI) runs this first, so files get the
//! same unknown-field, type, enum, pattern and default treatment as `kubectl apply` against a real
//! cluster. The in-repo test API server uses it too. CEL rules (`x-kubernetes-validations`) are
//! not evaluated here; [`crate::validation`] implements each of them in Rust.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::OnceLock,
};

use base64::Engine as _;
use regex::Regex;
use serde_json::{Map, Value};

use crate::{
    manifest::parse::json_type,
    names::KnownFormat,
    v1alpha1::Kind,
    validation::{ErrorType, FieldError, FieldPath},
};

/// Why a schema could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schema at {pointer}: {message}")]
pub struct SchemaError {
    /// JSON pointer of the offending node in the schema.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// JSON types of a structural schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl JsonType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "object" => Self::Object,
            "array" => Self::Array,
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Array => "list",
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }

    fn admits(self, value: &Value) -> bool {
        match (self, value) {
            (Self::Object, Value::Object(_))
            | (Self::Array, Value::Array(_))
            | (Self::String, Value::String(_))
            | (Self::Boolean, Value::Bool(_))
            | (Self::Number, Value::Number(_)) => true,
            (Self::Integer, Value::Number(number)) => number.is_i64() || number.is_u64(),
            _ => false,
        }
    }
}

/// `x-kubernetes-list-type`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ListType {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// A compiled schema node.
#[derive(Clone, Debug, Default)]
struct Node {
    json_type: Option<JsonType>,
    int_or_string: bool,
    preserve_unknown: bool,
    nullable: bool,
    properties: BTreeMap<String, Node>,
    additional: Option<Box<Node>>,
    required: Vec<String>,
    items: Option<Box<Node>>,
    enum_values: Option<Vec<Value>>,
    pattern: Option<(String, Regex)>,
    format: Option<String>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    list_type: Option<ListType>,
    default: Option<Value>,
}

/// A compiled `openAPIV3Schema`: validates objects and applies defaults.
#[derive(Clone, Debug)]
pub struct Schema {
    root: Node,
}

impl Schema {
    /// Compiles a schema given as JSON.
    pub fn new(schema: &Value) -> Result<Self, SchemaError> {
        Ok(Self {
            root: compile(schema, "")?,
        })
    }

    /// The compiled schema of one Kollect kind (compiled once, then shared).
    pub fn for_kind(kind: Kind) -> &'static Self {
        static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
        let schemas = SCHEMAS.get_or_init(|| {
            Kind::ALL
                .into_iter()
                .map(|kind| {
                    Self::new(&crate::crd::schema(kind))
                        .expect("Kollect's generated schemas compile (checked by tests)")
                })
                .collect()
        });
        let index = Kind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default();
        &schemas[index]
    }

    /// Removes `null` values of non-nullable fields and fills in schema defaults, as the API
    /// server does before validation.
    pub fn apply_defaults(&self, value: &mut Value) {
        default_node(&self.root, value);
    }

    /// Checks an object against the schema. `metadata` is only checked to be an object; see
    /// [`crate::validation::check_metadata`] for its contents.
    pub fn validate(&self, value: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate_node(&self.root, value, &Path::Root, &mut errors);
        errors
    }
}

/// A field path built lazily, so valid objects allocate no paths.
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl Path<'_> {
    fn to_field_path(&self) -> FieldPath {
        match self {
            Path::Root => FieldPath::default(),
            Path::Field(Path::Root, name) => FieldPath::root(name),
            Path::Field(parent, name) => parent.to_field_path().child(name),
            Path::Index(parent, index) => parent.to_field_path().index(*index),
            Path::Key(parent, key) => parent.to_field_path().key(key),
        }
    }

    fn is_root(&self) -> bool {
        matches!(self, Path::Root)
    }
}

fn compile(schema: &Value, pointer: &str) -> Result<Node, SchemaError> {
    let error = |message: &str| SchemaError {
        pointer: pointer.to_owned(),
        message: message.to_owned(),
    };
    let Some(map) = schema.as_object() else {
        return Err(error("a schema node must be an object"));
    };
    let mut node = Node {
        json_type: match map.get("type").and_then(Value::as_str) {
            Some(name) => Some(JsonType::parse(name).ok_or_else(|| error("unknown type"))?),
            None => None,
        },
        int_or_string: map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)),
        preserve_unknown: map.get("x-kubernetes-preserve-unknown-fields")
            == Some(&Value::Bool(true)),
        nullable: map.get("nullable") == Some(&Value::Bool(true)),
        required: strings(map.get("required")),
        enum_values: map.get("enum").and_then(Value::as_array).cloned(),
        format: map.get("format").and_then(Value::as_str).map(str::to_owned),
        min_length: map.get("minLength").and_then(Value::as_u64),
        max_length: map.get("maxLength").and_then(Value::as_u64),
        minimum: map.get("minimum").and_then(Value::as_f64),
        maximum: map.get("maximum").and_then(Value::as_f64),
        min_items: map.get("minItems").and_then(Value::as_u64),
        max_items: map.get("maxItems").and_then(Value::as_u64),
        default: map.get("default").cloned(),
        ..Node::default()
    };
    if let Some(pattern) = map.get("pattern").and_then(Value::as_str) {
        let regex = Regex::new(pattern).map_err(|e| error(&format!("bad pattern: {e}")))?;
        node.pattern = Some((pattern.to_owned(), regex));
    }
    node.list_type = match map.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => Some(ListType::Set),
        Some("map") => Some(ListType::Map(strings(
            map.get("x-kubernetes-list-map-keys"),
        ))),
        Some("atomic") => Some(ListType::Atomic),
        Some(_) => return Err(error("unknown x-kubernetes-list-type")),
        None => None,
    };
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            let child_pointer = format!("{pointer}/properties/{name}");
            node.properties
                .insert(name.clone(), compile(child, &child_pointer)?);
        }
    }
    if let Some(additional) = map.get("additionalProperties").filter(|a| a.is_object()) {
        node.additional = Some(Box::new(compile(
            additional,
            &format!("{pointer}/additionalProperties"),
        )?));
    }
    if let Some(items) = map.get("items") {
        node.items = Some(Box::new(compile(items, &format!("{pointer}/items"))?));
    }
    Ok(node)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn default_node(node: &Node, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if !node.properties.is_empty() {
                map.retain(|key, child| {
                    !child.is_null() || node.properties.get(key).is_some_and(|n| n.nullable)
                });
                for (name, child_node) in &node.properties {
                    if !map.contains_key(name)
                        && let Some(default) = &child_node.default
                    {
                        map.insert(name.clone(), default.clone());
                    }
                }
                for (name, child) in map.iter_mut() {
                    if let Some(child_node) = node.properties.get(name) {
                        default_node(child_node, child);
                    }
                }
            } else if let Some(additional) = &node.additional {
                map.values_mut()
                    .for_each(|child| default_node(additional, child));
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = &node.items {
                for item in items.iter_mut() {
                    default_node(item_node, item);
                }
            }
        }
        _ => {}
    }
}

fn error(kind: ErrorType, path: &Path<'_>, detail: impl Into<String>) -> FieldError {
    FieldError::new(kind, &path.to_field_path(), detail)
}

fn validate_node(node: &Node, value: &Value, path: &Path<'_>, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if !node.nullable {
            errors.push(error(
                ErrorType::TypeInvalid,
                path,
                "must not be null; remove the field",
            ));
        }
        return;
    }
    if node.int_or_string && matches!(value, Value::String(_) | Value::Number(_)) {
        return;
    }
    if let Some(json_type) = node.json_type
        && !json_type.admits(value)
    {
        errors.push(type_error(node, json_type, value, path));
        return;
    }
    if let Some(allowed) = &node.enum_values
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        errors.push(
            error(
                ErrorType::NotSupported,
                path,
                format!("supported values: {}", list.join(", ")),
            )
            .with_value(value),
        );
        return;
    }
    match value {
        Value::Object(map) => validate_object(node, map, path, errors),
        Value::Array(items) => validate_array(node, items, path, errors),
        Value::String(text) => validate_string(node, text, path, errors),
        Value::Number(number) => validate_number(node, number, path, errors),
        _ => {}
    }
}

fn type_error(node: &Node, expected: JsonType, value: &Value, path: &Path<'_>) -> FieldError {
    let mut detail = format!(
        "must be {} {}, not {}",
        article(expected),
        expected.name(),
        json_type(value)
    );
    match (expected, value) {
        (JsonType::Object, Value::String(text)) if node.required.iter().any(|r| r == "name") => {
            detail = format!("{detail}; write it as an object: {{name: {text}}}");
        }
        (JsonType::String, Value::Bool(_) | Value::Number(_)) => {
            detail = format!("{detail}; quote it: \"{value}\"");
        }
        (JsonType::Integer, Value::Number(_)) => detail.push_str("; use a whole number"),
        _ => {}
    }
    error(ErrorType::TypeInvalid, path, detail).with_value(value)
}

fn article(json_type: JsonType) -> &'static str {
    if json_type == JsonType::Integer || json_type == JsonType::Object {
        "an"
    } else {
        "a"
    }
}

fn validate_object(
    node: &Node,
    map: &Map<String, Value>,
    path: &Path<'_>,
    errors: &mut Vec<FieldError>,
) {
    for required in &node.required {
        if map.get(required).is_none_or(Value::is_null) {
            let child = Path::Field(path, required);
            errors.push(error(ErrorType::Required, &child, "is required"));
        }
    }
    for (key, child) in map {
        if let Some(child_node) = node.properties.get(key) {
            let child_path = Path::Field(path, key);
            if path.is_root() && key == "metadata" {
                if !child.is_object() {
                    errors.push(type_error(child_node, JsonType::Object, child, &child_path));
                }
                continue;
            }
            validate_node(child_node, child, &child_path, errors);
        } else if let Some(additional) = &node.additional {
            validate_node(additional, child, &Path::Key(path, key), errors);
        } else if !(node.preserve_unknown || node.properties.is_empty() && node.json_type.is_none())
        {
            errors.push(unknown_field(node, key, path));
        }
    }
}

fn unknown_field(node: &Node, key: &str, path: &Path<'_>) -> FieldError {
    let known: Vec<&str> = node.properties.keys().map(String::as_str).collect();
    let suggestion = known
        .iter()
        .map(|candidate| {
            (
                edit_distance(&key.to_ascii_lowercase(), &candidate.to_ascii_lowercase()),
                *candidate,
            )
        })
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, candidate)| format!("did you mean {candidate:?}? "))
        .unwrap_or_default();
    let detail = format!("{suggestion}known fields here: {}", known.join(", "));
    error(ErrorType::UnknownField, &Path::Field(path, key), detail)
}

fn validate_array(node: &Node, items: &[Value], path: &Path<'_>, errors: &mut Vec<FieldError>) {
    if let Some(max) = node.max_items
        && items.len() as u64 > max
    {
        errors.push(
            error(
                ErrorType::TooMany,
                path,
                format!("must have at most {max} items"),
            )
            .with_value(items.len()),
        );
    }
    if let Some(min) = node.min_items
        && (items.len() as u64) < min
    {
        errors.push(error(
            ErrorType::Required,
            path,
            format!("must have at least {min} items"),
        ));
    }
    if let Some(item_node) = &node.items {
        for (index, item) in items.iter().enumerate() {
            validate_node(item_node, item, &Path::Index(path, index), errors);
        }
    }
    match &node.list_type {
        Some(ListType::Set) => {
            let mut seen = BTreeSet::new();
            for (index, item) in items.iter().enumerate() {
                if !seen.insert(item.to_string()) {
                    errors.push(
                        error(
                            ErrorType::Duplicate,
                            &Path::Index(path, index),
                            "entries must be unique",
                        )
                        .with_value(item),
                    );
                }
            }
        }
        Some(ListType::Map(keys)) => {
            let mut seen = BTreeSet::new();
            for (index, item) in items.iter().enumerate() {
                let identity: Vec<String> = keys
                    .iter()
                    .map(|k| item.get(k).map(ToString::to_string).unwrap_or_default())
                    .collect();
                if !seen.insert(identity.clone()) {
                    let detail = format!("another entry has the same {}", keys.join(", "));
                    let first_key = keys.first().map_or("", String::as_str);
                    let index_path = Path::Index(path, index);
                    errors.push(
                        error(
                            ErrorType::Duplicate,
                            &Path::Field(&index_path, first_key),
                            detail,
                        )
                        .with_value(item.get(first_key).unwrap_or(&Value::Null)),
                    );
                }
            }
        }
        Some(ListType::Atomic) | None => {}
    }
}

fn validate_string(node: &Node, text: &str, path: &Path<'_>, errors: &mut Vec<FieldError>) {
    let length = text.chars().count() as u64;
    if let Some(min) = node.min_length
        && length < min
    {
        let kind = if text.is_empty() {
            ErrorType::Required
        } else {
            ErrorType::Invalid
        };
        let detail = if text.is_empty() {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        };
        errors.push(error(kind, path, detail).with_value(text));
        return;
    }
    if let Some(max) = node.max_length
        && length > max
    {
        errors.push(
            error(
                ErrorType::TooLong,
                path,
                format!("must be at most {max} characters"),
            )
            .with_value(text),
        );
        return;
    }
    if let Some((pattern, regex)) = &node.pattern
        && !regex.is_match(text)
    {
        let (kind, detail) = match KnownFormat::from_pattern(pattern).map(|f| f.check(text)) {
            Some(Err(problem)) if problem.empty => (ErrorType::Required, problem.message),
            Some(Err(problem)) => (ErrorType::Invalid, problem.message),
            _ => (
                ErrorType::Invalid,
                format!("must match the pattern {pattern}"),
            ),
        };
        errors.push(error(kind, path, detail).with_value(text));
        return;
    }
    match node.format.as_deref() {
        Some("byte")
            if base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .is_err() =>
        {
            errors.push(
                error(ErrorType::Invalid, path, "must be base64-encoded data").with_value(text),
            );
        }
        Some("date-time") if !is_rfc3339(text) => {
            errors.push(
                error(
                    ErrorType::Invalid,
                    path,
                    "must be an RFC 3339 time such as 2024-01-31T12:00:00Z",
                )
                .with_value(text),
            );
        }
        _ => {}
    }
}

fn validate_number(
    node: &Node,
    number: &serde_json::Number,
    path: &Path<'_>,
    errors: &mut Vec<FieldError>,
) {
    let Some(value) = number.as_f64() else { return };
    if let Some(minimum) = node.minimum
        && value < minimum
    {
        errors.push(
            error(
                ErrorType::Invalid,
                path,
                format!("must be at least {minimum}"),
            )
            .with_value(number),
        );
    }
    if let Some(maximum) = node.maximum
        && value > maximum
    {
        errors.push(
            error(
                ErrorType::Invalid,
                path,
                format!("must be at most {maximum}"),
            )
            .with_value(number),
        );
    }
    let range = match node.format.as_deref() {
        Some("int32") => Some((f64::from(i32::MIN), f64::from(i32::MAX))),
        _ => None,
    };
    if let Some((low, high)) = range
        && !(low..=high).contains(&value)
    {
        errors.push(error(ErrorType::Invalid, path, "does not fit in 32 bits").with_value(number));
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn is_rfc3339(text: &str) -> bool {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN
        .get_or_init(|| {
            Regex::new(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
                .expect("the RFC 3339 pattern compiles")
        })
        .is_match(text)
}

/// Levenshtein distance, for "did you mean" suggestions on short field names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests;
