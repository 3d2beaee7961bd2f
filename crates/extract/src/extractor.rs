//! Profile → [`Extractor`] (once per profile generation) and object → [`Row`] (per event).

use std::{borrow::Cow, cell::RefCell, fmt, ops::Range};

use kollect_api::{
    canonical,
    row::{Attributes, Row},
    v1alpha1::{ANNOTATION_ALLOW_SECRET_EXTRACTION, ExportMode, KollectProfile, ProfileSpec},
    validation::{AttributePath, PathError},
};
use serde_json::Value;

use crate::{
    cel::{self, CelExpr, References},
    helm::{self, HelmError},
    jsonpath::{self, Item, JsonPath, Step},
    node::{JsonNode, Scalar, write_node},
    onepass::FlatPlan,
    plan::{Plan, WatchShape},
    prune::ResourceExport,
    scrub::Scrubber,
};

/// Largest encoded attribute map a row may have by default: the export cap of the operator
/// (`--max-export-bytes`), since a larger row could never be exported by any sink.
pub const DEFAULT_MAX_ROW_BYTES: usize = 1_572_864;

/// What replaces a Secret's `data`/`stringData` unless the profile opts in.
pub(crate) const SECRET_DATA_MARKER: &str = r#"{"reason":"secret-data","redacted":true}"#;

/// Operator settings that affect extraction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Extra keys to redact (`--scrub-keys`), added to the built-in ones.
    pub scrub_keys: Vec<String>,
    /// Largest encoded attribute map accepted; larger rows fail extraction.
    pub max_row_bytes: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            scrub_keys: Vec::new(),
            max_row_bytes: DEFAULT_MAX_ROW_BYTES,
        }
    }
}

/// Why an attribute path does not compile; carries the attribute index, its expression and a
/// position, for profile status, admission and `kollect validate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    /// Index of the attribute in `spec.attributes`.
    pub index: usize,
    /// Name of the attribute.
    pub name: String,
    /// The path as written.
    pub expression: String,
    /// What is wrong, with a column where the compiler gives one.
    pub message: String,
}

impl CompileError {
    /// The field path of the problem, e.g. `spec.attributes[2].path`.
    pub fn field(&self) -> String {
        format!("spec.attributes[{}].path", self.index)
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.message)
    }
}

impl std::error::Error for CompileError {}

/// Why one attribute could not be evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AttributeError {
    /// A JSONPath evaluation error.
    #[error("eval JSONPath: {0}")]
    JsonPath(#[from] jsonpath::EvalError),
    /// A CEL evaluation error.
    #[error(transparent)]
    Cel(#[from] cel::EvalError),
    /// A Helm release decoding error.
    #[error(transparent)]
    Helm(#[from] HelmError),
}

/// Why an object produced no row. Counted per object; never fails a whole target.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExtractError {
    /// A required attribute failed (only the first failing one is reported).
    #[error("attribute {name:?}: {source}")]
    Attribute {
        /// The attribute's name.
        name: String,
        /// What failed.
        #[source]
        source: AttributeError,
    },
    /// The input is not a JSON object.
    #[error("the object is not a JSON object")]
    NotAnObject,
    /// The input bytes are not valid JSON.
    #[error("invalid JSON: {0}")]
    Decode(String),
    /// The encoded attributes exceed the row limit.
    #[error("the row's attributes take {bytes} bytes, more than the {limit} bytes a row may take")]
    RowTooLarge {
        /// Encoded size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// A note about an extracted row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtractWarning {
    /// A CEL result held NaN or an infinite number, written as `null` (DECISIONS Q4).
    NonFiniteNumber {
        /// The attribute.
        attribute: String,
    },
}

impl fmt::Display for ExtractWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFiniteNumber { attribute } => write!(
                f,
                "attribute {attribute:?}: NaN or infinite numbers were replaced by null"
            ),
        }
    }
}

/// A row and the warnings its extraction raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// The row.
    pub row: Row,
    /// Warnings (the row is still valid).
    pub warnings: Vec<ExtractWarning>,
}

/// How one attribute reads its value.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A JSONPath; `prefix` is its leading run of member steps.
    JsonPath { path: JsonPath, prefix: Vec<String> },
    /// A CEL expression.
    Cel(CelExpr),
    /// A field of a Helm release (resolved dotted path).
    Helm(String),
}

#[derive(Clone, Debug)]
pub(crate) struct Attribute {
    pub(crate) name: String,
    pub(crate) optional: bool,
    pub(crate) source: Source,
}

/// One member of the output map, in key order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Attribute(usize),
    Resource,
}

/// A compiled profile: turns objects into rows.
#[derive(Clone, Debug)]
pub struct Extractor {
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) resource: Option<ResourceExport>,
    pub(crate) scrubber: Scrubber,
    /// Secret targets without the opt-in see `data`/`stringData` as a redaction marker.
    pub(crate) secret_guard: bool,
    order: Vec<Slot>,
    /// Union of the CEL references (`None`: the whole object).
    pub(crate) cel_paths: Option<Vec<Vec<String>>>,
    pub(crate) plan: Plan,
    pub(crate) flat: FlatPlan,
    max_row_bytes: usize,
}

/// Paths of the identity members every row needs.
pub(crate) const IDENTITY: [[&str; 2]; 4] = [
    ["metadata", "namespace"],
    ["metadata", "name"],
    ["metadata", "uid"],
    ["metadata", "resourceVersion"],
];

impl Extractor {
    /// Compiles a profile. Every attribute is compiled; all failures are returned together.
    pub fn compile(
        profile: &KollectProfile,
        options: &ExtractOptions,
    ) -> Result<Self, Vec<CompileError>> {
        let allow_secret_data = profile
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_ALLOW_SECRET_EXTRACTION))
            .is_some_and(|v| v == "true");
        Self::compile_spec(&profile.spec, allow_secret_data, options)
    }

    /// Compiles a profile spec; `allow_secret_data` is the profile's
    /// `kollect.dev/allow-secret-extraction: "true"` opt-in.
    pub fn compile_spec(
        spec: &ProfileSpec,
        allow_secret_data: bool,
        options: &ExtractOptions,
    ) -> Result<Self, Vec<CompileError>> {
        let mut errors = Vec::new();
        let mut attributes = Vec::new();
        for (index, attribute) in spec.attributes().iter().enumerate() {
            match compile_path(&attribute.path) {
                Ok(source) => attributes.push(Attribute {
                    name: attribute.name.clone(),
                    optional: attribute.is_optional(),
                    source,
                }),
                Err(message) => errors.push(CompileError {
                    index,
                    name: attribute.name.clone(),
                    expression: attribute.path.clone(),
                    message,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let resource = spec
            .export
            .as_ref()
            .filter(|export| export.mode == ExportMode::Resource)
            .map(ResourceExport::new);
        let prune_keys: Vec<&str> = spec
            .export
            .as_ref()
            .and_then(|e| e.prune.as_ref())
            .and_then(|p| p.scrub_keys.as_ref())
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let scrubber = Scrubber::new(
            options
                .scrub_keys
                .iter()
                .map(String::as_str)
                .chain(prune_keys),
        );
        let order = output_order(&attributes, resource.as_ref());
        let cel_paths = cel_paths(&attributes);
        let plan = build_plan(&attributes, resource.as_ref(), cel_paths.as_deref());
        Ok(Self {
            attributes,
            resource,
            scrubber,
            secret_guard: spec.targets_secrets() && !allow_secret_data,
            order,
            cel_paths,
            flat: FlatPlan::new(&plan),
            plan,
            max_row_bytes: options.max_row_bytes,
        })
    }

    /// The members of an object this extractor reads.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// How the collector should watch objects for this extractor.
    pub fn watch_shape(&self) -> WatchShape {
        self.plan.shape()
    }

    /// Extracts the row of a parsed object.
    pub fn extract(&self, object: &Value) -> Result<Extracted, ExtractError> {
        if !object.is_object() {
            return Err(ExtractError::NotAnObject);
        }
        let guarded = self.guard(object);
        let view = ValueView {
            object,
            guarded: guarded.as_ref(),
        };
        self.extract_with(&view)
    }

    /// A copy of a Secret with `data`/`stringData` replaced by the marker, when the guard applies.
    fn guard(&self, object: &Value) -> Option<Value> {
        if !self.secret_guard {
            return None;
        }
        let map = object.as_object()?;
        if !map.contains_key("data") && !map.contains_key("stringData") {
            return None;
        }
        let marker: Value = serde_json::from_str(SECRET_DATA_MARKER).unwrap_or(Value::Null);
        let mut copy = map.clone();
        for key in ["data", "stringData"] {
            if let Some(slot) = copy.get_mut(key) {
                *slot = marker.clone();
            }
        }
        Some(Value::Object(copy))
    }

    /// The extraction shared by both paths, over any view of the object.
    pub(crate) fn extract_with<'a, V: View<'a>>(
        &self,
        view: &V,
    ) -> Result<Extracted, ExtractError> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            self.extract_into(view, &mut scratch)
        })
    }

    fn extract_into<'a, V: View<'a>>(
        &self,
        view: &V,
        scratch: &mut String,
    ) -> Result<Extracted, ExtractError> {
        let mut warnings = Vec::new();
        let mut ranges: Vec<Option<Range<usize>>> = Vec::with_capacity(self.attributes.len() + 1);
        let mut cel_object: Option<cel::Input> = None;
        for attribute in &self.attributes {
            let start = scratch.len();
            let result = self.evaluate(attribute, view, &mut cel_object, scratch, &mut warnings);
            match result {
                Err(source) if attribute.optional => {
                    let _ = source;
                    scratch.truncate(start);
                    ranges.push(None);
                }
                Err(source) => {
                    return Err(ExtractError::Attribute {
                        name: attribute.name.clone(),
                        source,
                    });
                }
                Ok(()) => {
                    let is_null = &scratch[start..] == "null";
                    if is_null && attribute.optional {
                        scratch.truncate(start);
                        ranges.push(None);
                    } else {
                        ranges.push(Some(start..scratch.len()));
                    }
                }
            }
        }
        if let Some(resource) = &self.resource {
            let start = scratch.len();
            let object = view.materialize(resource.sections(), self.secret_guard);
            write_node(scratch, &resource.prune(&object), &self.scrubber);
            ranges.push(Some(start..scratch.len()));
        }
        let attributes = self.assemble(scratch, &ranges)?;
        Ok(Extracted {
            row: identity(view, attributes),
            warnings,
        })
    }

    fn evaluate<'a, 'v, V: View<'a>>(
        &self,
        attribute: &Attribute,
        view: &'v V,
        cel_object: &mut Option<cel::Input>,
        out: &mut String,
        warnings: &mut Vec<ExtractWarning>,
    ) -> Result<(), AttributeError> {
        match &attribute.source {
            Source::JsonPath { path, prefix } => {
                let Some(start) = view.at(prefix, self.secret_guard) else {
                    out.push_str("null");
                    return Ok(());
                };
                if prefix.len() == path_len(path) {
                    write_node(out, start, &self.scrubber);
                    return Ok(());
                }
                let items = path.items_from(prefix.len(), start)?;
                write_items(out, items.unwrap_or_default(), &self.scrubber);
                Ok(())
            }
            Source::Cel(expr) => {
                let input = cel_object.get_or_insert_with(|| {
                    cel::Input::new(
                        &view.materialize_cel(self.cel_paths.as_deref(), self.secret_guard),
                    )
                });
                let output = expr.evaluate_input(input)?;
                if output.non_finite {
                    warnings.push(ExtractWarning::NonFiniteNumber {
                        attribute: attribute.name.clone(),
                    });
                }
                match output.value {
                    Some(value) => write_node(out, &value, &self.scrubber),
                    None => out.push_str("null"),
                }
                Ok(())
            }
            Source::Helm(field) => {
                let release = helm::decode_data(view.at(&["data".to_owned()], false))?;
                match helm::field(&release, field)? {
                    Some(value) => write_node(out, &value, &self.scrubber),
                    None => out.push_str("null"),
                }
                Ok(())
            }
        }
    }

    /// The attribute map in key order.
    fn assemble(
        &self,
        scratch: &str,
        ranges: &[Option<Range<usize>>],
    ) -> Result<Attributes, ExtractError> {
        let mut out = String::with_capacity(scratch.len() + 16 * self.order.len() + 2);
        out.push('{');
        let mut first = true;
        for slot in &self.order {
            let (name, range) = match slot {
                Slot::Attribute(index) => (self.attributes[*index].name.as_str(), &ranges[*index]),
                Slot::Resource => match &self.resource {
                    Some(resource) => (resource.key.as_str(), &ranges[self.attributes.len()]),
                    None => continue,
                },
            };
            let Some(range) = range else { continue };
            if !first {
                out.push(',');
            }
            first = false;
            canonical::write_str(&mut out, name);
            out.push(':');
            out.push_str(&scratch[range.clone()]);
        }
        out.push('}');
        if out.len() > self.max_row_bytes {
            return Err(ExtractError::RowTooLarge {
                bytes: out.len(),
                limit: self.max_row_bytes,
            });
        }
        Ok(Attributes::from_canonical(out))
    }
}

thread_local! {
    /// Encoding scratch space, reused across extractions on a thread.
    static SCRATCH: RefCell<String> = RefCell::new(String::with_capacity(4096));
}

fn path_len(path: &JsonPath) -> usize {
    path.steps.len()
}

/// Writes JSONPath results: `null` for none, the node for one, an array for several.
fn write_items<'a, N: JsonNode<'a>>(out: &mut String, items: Vec<Item<N>>, scrubber: &Scrubber) {
    let write_item = |out: &mut String, item: Item<N>| match item {
        Item::Node(node) => write_node(out, node, scrubber),
        Item::Byte(byte) => out.push_str(&byte.to_string()),
    };
    match items.len() {
        0 => out.push_str("null"),
        1 => {
            if let Some(item) = items.into_iter().next() {
                write_item(out, item);
            }
        }
        _ => {
            out.push('[');
            for (index, item) in items.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_item(out, item);
            }
            out.push(']');
        }
    }
}

/// The row identity read from `metadata`.
pub(crate) fn identity<'a, V: View<'a>>(view: &V, attributes: Attributes) -> Row {
    let text = |path: &[&str; 2]| -> Box<str> {
        let path = [path[0].to_owned(), path[1].to_owned()];
        match view.at(&path, false).map(JsonNode::scalar) {
            Some(Scalar::Str(text)) => text.into(),
            _ => "".into(),
        }
    };
    Row {
        namespace: text(&IDENTITY[0]),
        name: text(&IDENTITY[1]),
        uid: text(&IDENTITY[2]),
        resource_version: text(&IDENTITY[3]),
        attributes,
    }
}

/// Classifies and compiles one attribute path.
pub(crate) fn compile_path(raw: &str) -> Result<Source, String> {
    let offset = raw.len() - raw.trim_start().len();
    match AttributePath::parse(raw) {
        Err(PathError::EmptyCel) => Err(cel::CompileError::Empty.to_string()),
        Err(error) => Err(error.to_string()),
        Ok(AttributePath::Cel(expression)) => {
            let expression_offset = offset + raw.trim_start().find(&expression).unwrap_or(4);
            CelExpr::compile(&expression)
                .map(Source::Cel)
                .map_err(|error| match error {
                    cel::CompileError::Syntax { message, column } => format!(
                        "compile CEL: {message} at column {}",
                        column + expression_offset
                    ),
                    other => other.to_string(),
                })
        }
        Ok(AttributePath::Helm(field)) => Ok(Source::Helm(field.resolved)),
        Ok(AttributePath::JsonPath(_)) => {
            let path = JsonPath::parse(raw).map_err(|e| format!("parse JSONPath: {e}"))?;
            let prefix = path
                .steps
                .iter()
                .map_while(|step| match step {
                    Step::Field(name) => Some(name.clone()),
                    _ => None,
                })
                .collect();
            Ok(Source::JsonPath { path, prefix })
        }
    }
}

/// Compiles a `resourceRules[].matchPolicy` (a CEL predicate, without the `cel:` prefix).
pub fn compile_match_policy(source: &str) -> Result<CelExpr, cel::CompileError> {
    CelExpr::compile(source)
}

fn output_order(attributes: &[Attribute], resource: Option<&ResourceExport>) -> Vec<Slot> {
    let mut order: Vec<(&str, Slot)> = attributes
        .iter()
        .enumerate()
        .filter(|(_, a)| resource.is_none_or(|r| r.key != a.name))
        .map(|(i, a)| (a.name.as_str(), Slot::Attribute(i)))
        .collect();
    if let Some(resource) = resource {
        order.push((resource.key.as_str(), Slot::Resource));
    }
    order.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    // Later duplicates of a name win, as in a map; admission forbids duplicates anyway.
    order.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            *earlier = *later;
            true
        } else {
            false
        }
    });
    order.into_iter().map(|(_, slot)| slot).collect()
}

fn cel_paths(attributes: &[Attribute]) -> Option<Vec<Vec<String>>> {
    let mut paths = Vec::new();
    for attribute in attributes {
        if let Source::Cel(expr) = &attribute.source {
            match expr.references() {
                References::Whole => return None,
                References::Paths(more) => paths.extend(more.iter().cloned()),
            }
        }
    }
    Some(paths)
}

fn build_plan(
    attributes: &[Attribute],
    resource: Option<&ResourceExport>,
    cel: Option<&[Vec<String>]>,
) -> Plan {
    let mut plan = Plan::default();
    for path in IDENTITY {
        plan.add(&[path[0].to_owned(), path[1].to_owned()]);
    }
    for attribute in attributes {
        match &attribute.source {
            Source::JsonPath { prefix, .. } => plan.add(prefix),
            Source::Cel(_) => {}
            Source::Helm(_) => plan.add(&["data".to_owned()]),
        }
    }
    match cel {
        None => plan.add(&[]),
        Some(paths) => paths.iter().for_each(|path| plan.add(path)),
    }
    if let Some(resource) = resource {
        match resource.sections() {
            None => plan.add(&[]),
            Some(sections) => sections
                .iter()
                .for_each(|section| plan.add(&[(*section).to_owned()])),
        }
    }
    plan
}

/// A view of one object for extraction: a parsed value, or the captures of a one-pass parse.
pub(crate) trait View<'a> {
    type Node: JsonNode<'a>;

    /// The member at `path` from the root; `None` when a step is missing or not a map. With
    /// `guard`, a Secret's `data`/`stringData` read as the redaction marker.
    fn at(&self, path: &[String], guard: bool) -> Option<Self::Node>;

    /// A parsed object holding at least the top-level `sections` (`None`: everything); with
    /// `guard`, a Secret's payload is masked.
    fn materialize(&self, sections: Option<&[&str]>, guard: bool) -> Cow<'_, Value>;

    /// A parsed object holding at least `paths` (`None`: everything), for CEL.
    fn materialize_cel(&self, paths: Option<&[Vec<String>]>, guard: bool) -> Cow<'_, Value>;
}

/// A parsed object (the two-step path).
pub(crate) struct ValueView<'a> {
    pub(crate) object: &'a Value,
    /// The object with Secret data masked, when the guard applies.
    pub(crate) guarded: Option<&'a Value>,
}

impl<'a> View<'a> for ValueView<'a> {
    type Node = &'a Value;

    fn at(&self, path: &[String], guard: bool) -> Option<&'a Value> {
        let root = if guard {
            self.guarded.unwrap_or(self.object)
        } else {
            self.object
        };
        path.iter()
            .try_fold(root, |node, key| node.as_object()?.get(key))
    }

    fn materialize(&self, _sections: Option<&[&str]>, guard: bool) -> Cow<'_, Value> {
        Cow::Borrowed(if guard {
            self.guarded.unwrap_or(self.object)
        } else {
            self.object
        })
    }

    fn materialize_cel(&self, _paths: Option<&[Vec<String>]>, guard: bool) -> Cow<'_, Value> {
        Cow::Borrowed(if guard {
            self.guarded.unwrap_or(self.object)
        } else {
            self.object
        })
    }
}

/// Whether a member of the root is a Secret's payload.
pub(crate) fn is_secret_payload(key: &str) -> bool {
    key == "data" || key == "stringData"
}
