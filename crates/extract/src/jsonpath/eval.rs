//! Evaluation of a parsed JSONPath with client-go's semantics (pipeline spec §2.3), over any
//! [`JsonNode`] view (parsed values or raw input text).

use serde_json::Value;

use super::parse::{CompareOp, Filter, JsonPath, Literal, Operand, Slice, Step};
use crate::node::{JsonNode, NodeKind, Scalar};

/// Why evaluation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A real error: the attribute fails (when it is required).
    #[error("{0}")]
    Failed(String),
}

/// A matched node, or one byte of a string (what `.*` yields on a string).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Item<N> {
    Node(N),
    Byte(u8),
}

impl<'a, N: JsonNode<'a>> Item<N> {
    fn kind(self) -> NodeKind {
        match self {
            Self::Node(node) => node.kind(),
            Self::Byte(_) => NodeKind::Number,
        }
    }

    fn scalar(self) -> Scalar<'a> {
        match self {
            Self::Node(node) => node.scalar(),
            Self::Byte(byte) => Scalar::Int(i64::from(byte)),
        }
    }

    /// The item as a parsed value.
    pub(crate) fn to_value(self) -> Value {
        match self {
            Self::Node(node) => node.to_value(),
            Self::Byte(byte) => Value::from(byte),
        }
    }
}

/// The outcome of a step sequence: nodes, or "not found" (the attribute becomes `null`).
enum Flow<N> {
    Nodes(Vec<Item<N>>),
    NotFound,
}

impl JsonPath {
    /// Evaluates the path and shapes the result: `None` when nothing matched (or a field was
    /// not found), the value for one match, an array for several.
    pub fn evaluate(&self, object: &Value) -> Result<Option<Value>, EvalError> {
        let Some(mut items) = self.items(object)? else {
            return Ok(None);
        };
        Ok(match items.len() {
            0 => None,
            1 => items.pop().map(Item::to_value),
            _ => Some(Value::Array(
                items.into_iter().map(Item::to_value).collect(),
            )),
        })
    }

    /// The matched items, or `None` for the not-found condition.
    pub(crate) fn items<'a, N: JsonNode<'a>>(
        &self,
        root: N,
    ) -> Result<Option<Vec<Item<N>>>, EvalError> {
        self.items_from(0, root)
    }

    /// Like [`Self::items`], starting at step `skip` with `root` as the node the first `skip`
    /// steps led to.
    pub(crate) fn items_from<'a, N: JsonNode<'a>>(
        &self,
        skip: usize,
        root: N,
    ) -> Result<Option<Vec<Item<N>>>, EvalError> {
        match run(
            &self.steps[skip.min(self.steps.len())..],
            vec![Item::Node(root)],
        )? {
            Flow::Nodes(items) => Ok(Some(items)),
            Flow::NotFound => Ok(None),
        }
    }
}

fn run<'a, N: JsonNode<'a>>(steps: &[Step], mut items: Vec<Item<N>>) -> Result<Flow<N>, EvalError> {
    for step in steps {
        items = match apply(step, items)? {
            Flow::Nodes(next) => next,
            Flow::NotFound => return Ok(Flow::NotFound),
        };
    }
    Ok(Flow::Nodes(items))
}

fn apply<'a, N: JsonNode<'a>>(step: &Step, input: Vec<Item<N>>) -> Result<Flow<N>, EvalError> {
    match step {
        Step::Field(name) => Ok(field(name, input)),
        Step::Wildcard => Ok(Flow::Nodes(wildcard(input))),
        Step::Recursive => Ok(Flow::Nodes(descendants(input))),
        Step::Slice(slice) => slice_step(slice, input).map(Flow::Nodes),
        Step::Union(parts) => {
            let mut out = Vec::new();
            for part in parts {
                match run(part, input.clone())? {
                    Flow::Nodes(items) => out.extend(items),
                    Flow::NotFound => return Ok(Flow::NotFound),
                }
            }
            Ok(Flow::Nodes(out))
        }
        Step::Filter(filter) => filter_step(filter, input),
    }
}

/// Maps yield the member (a JSON `null` member counts); other nodes yield nothing. A non-empty
/// input with no match at all is the not-found condition.
fn field<'a, N: JsonNode<'a>>(name: &str, input: Vec<Item<N>>) -> Flow<N> {
    if input.is_empty() {
        return Flow::Nodes(input);
    }
    let out: Vec<Item<N>> = input
        .into_iter()
        .filter_map(|item| match item {
            Item::Node(node) => node.member(name).map(Item::Node),
            Item::Byte(_) => None,
        })
        .collect();
    if out.is_empty() {
        Flow::NotFound
    } else {
        Flow::Nodes(out)
    }
}

/// Map values in key order, list elements in order, the bytes of a string.
fn wildcard<'a, N: JsonNode<'a>>(input: Vec<Item<N>>) -> Vec<Item<N>> {
    let mut out = Vec::new();
    for item in input {
        let Item::Node(node) = item else { continue };
        match node.kind() {
            NodeKind::Object => out.extend(
                node.members_sorted()
                    .into_iter()
                    .map(|(_, v)| Item::Node(v)),
            ),
            NodeKind::Array => out.extend(node.elements().into_iter().map(Item::Node)),
            NodeKind::String => {
                if let Scalar::Str(text) = node.scalar() {
                    out.extend(text.bytes().map(Item::Byte));
                }
            }
            _ => {}
        }
    }
    out
}

/// Every node and its descendants, pre-order, maps in key order.
fn descendants<'a, N: JsonNode<'a>>(input: Vec<Item<N>>) -> Vec<Item<N>> {
    fn visit<'a, N: JsonNode<'a>>(node: N, out: &mut Vec<Item<N>>) {
        out.push(Item::Node(node));
        match node.kind() {
            NodeKind::Object => node
                .members_sorted()
                .into_iter()
                .for_each(|(_, child)| visit(child, out)),
            NodeKind::Array => node
                .elements()
                .into_iter()
                .for_each(|child| visit(child, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in input {
        match item {
            Item::Node(node) => visit(node, &mut out),
            byte @ Item::Byte(_) => out.push(byte),
        }
    }
    out
}

/// client-go's array semantics: null inputs are skipped, other non-lists are errors, and
/// out-of-range bounds are errors unless the requested range is empty.
fn slice_step<'a, N: JsonNode<'a>>(
    slice: &Slice,
    input: Vec<Item<N>>,
) -> Result<Vec<Item<N>>, EvalError> {
    let mut out = Vec::new();
    for item in input {
        let elements = match (item.kind(), item) {
            (NodeKind::Null, _) => continue,
            (NodeKind::Array, Item::Node(node)) => node.elements(),
            (kind, _) => {
                return Err(EvalError::Failed(format!(
                    "{} is not array or slice",
                    describe(kind)
                )));
            }
        };
        let length = i64::try_from(elements.len()).unwrap_or(i64::MAX);
        let mut start = slice.start.unwrap_or(0);
        if start < 0 {
            start += length;
        }
        let mut end = slice.end.unwrap_or(length);
        if end < 0 || (end == 0 && slice.end_derived) {
            end += length;
        }
        if start == end {
            continue;
        }
        if start >= length || start < 0 {
            return Err(EvalError::Failed(format!(
                "array index out of bounds: index {start}, length {length}"
            )));
        }
        if end > length || end < 0 {
            return Err(EvalError::Failed(format!(
                "array index out of bounds: index {}, length {length}",
                end - 1
            )));
        }
        if start > end {
            return Err(EvalError::Failed(format!(
                "starting index {start} is greater than ending index {end}"
            )));
        }
        let step = match slice.step {
            Some(step) if step <= 0 => {
                return Err(EvalError::Failed("step must be > 0".to_owned()));
            }
            Some(step) => usize::try_from(step).unwrap_or(usize::MAX),
            None => 1,
        };
        let (start, end) = (
            usize::try_from(start).unwrap_or(0),
            usize::try_from(end).unwrap_or(0),
        );
        out.extend(
            elements[start..end]
                .iter()
                .step_by(step)
                .copied()
                .map(Item::Node),
        );
    }
    Ok(out)
}

fn filter_step<'a, N: JsonNode<'a>>(
    filter: &Filter,
    input: Vec<Item<N>>,
) -> Result<Flow<N>, EvalError> {
    let mut out = Vec::new();
    for item in input {
        let elements = match (item.kind(), item) {
            (NodeKind::Array, Item::Node(node)) => node.elements(),
            (kind, _) => {
                return Err(EvalError::Failed(format!(
                    "{} is not array or slice and cannot be filtered",
                    describe(kind)
                )));
            }
        };
        for element in elements {
            let keep = match filter {
                Filter::Exists(operand) => {
                    operand_values(operand, element)?.is_some_and(|values| !values.is_empty())
                }
                Filter::Compare { left, op, right } => {
                    let Some(left) = single(operand_values(left, element)?)? else {
                        return Ok(Flow::NotFound);
                    };
                    let Some(right) = single(operand_values(right, element)?)? else {
                        return Ok(Flow::NotFound);
                    };
                    compare(&left, *op, &right)?
                }
            };
            if keep {
                out.push(Item::Node(element));
            }
        }
    }
    Ok(Flow::Nodes(out))
}

/// The values of an operand for one element; `None` for the not-found condition.
fn operand_values<'a, N: JsonNode<'a>>(
    operand: &Operand,
    element: N,
) -> Result<Option<Vec<Scalar<'a>>>, EvalError> {
    match operand {
        Operand::Literal(literal) => Ok(Some(vec![match literal {
            Literal::String(s) => Scalar::Str(s.clone().into()),
            Literal::Int(i) => Scalar::Int(*i),
            Literal::Float(f) => Scalar::Float(*f),
            Literal::Bool(b) => Scalar::Bool(*b),
        }])),
        Operand::Path(steps) => match run(steps, vec![Item::Node(element)])? {
            Flow::Nodes(items) => Ok(Some(items.into_iter().map(Item::scalar).collect())),
            Flow::NotFound => Ok(None),
        },
    }
}

/// Exactly one value per side; zero is not-found (`None`), more is an error.
fn single(values: Option<Vec<Scalar<'_>>>) -> Result<Option<Scalar<'_>>, EvalError> {
    match values {
        None => Ok(None),
        Some(mut values) if values.len() <= 1 => Ok(values.pop()),
        Some(values) => Err(EvalError::Failed(format!(
            "a filter side matched {} values; it must match one",
            values.len()
        ))),
    }
}

/// Go template comparison: both sides of the same basic kind, else an error.
fn compare(left: &Scalar<'_>, op: CompareOp, right: &Scalar<'_>) -> Result<bool, EvalError> {
    use std::cmp::Ordering;
    let ordering = match (left, right) {
        (Scalar::Int(a), Scalar::Int(b)) => a.cmp(b),
        (Scalar::Float(a), Scalar::Float(b)) => a
            .partial_cmp(b)
            .ok_or_else(|| EvalError::Failed("cannot compare NaN".to_owned()))?,
        (Scalar::Str(a), Scalar::Str(b)) => a.cmp(b),
        (Scalar::Bool(a), Scalar::Bool(b)) => {
            return match op {
                CompareOp::Eq => Ok(a == b),
                CompareOp::Ne => Ok(a != b),
                _ => Err(EvalError::Failed(format!(
                    "invalid comparison {op} on booleans"
                ))),
            };
        }
        _ => {
            return Err(EvalError::Failed(format!(
                "incompatible types for comparison: {} and {}",
                scalar_kind(left),
                scalar_kind(right)
            )));
        }
    };
    Ok(match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    })
}

fn scalar_kind(scalar: &Scalar<'_>) -> &'static str {
    match scalar {
        Scalar::Null => "null",
        Scalar::Bool(_) => "a boolean",
        Scalar::Int(_) => "an integer",
        Scalar::Float(_) => "a float",
        Scalar::Str(_) => "a string",
        Scalar::Composite => "a list or map",
    }
}

fn describe(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Null => "null",
        NodeKind::Bool => "a boolean",
        NodeKind::Number => "a number",
        NodeKind::String => "a string",
        NodeKind::Array => "a list",
        NodeKind::Object => "a map",
    }
}
