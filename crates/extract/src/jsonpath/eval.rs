//! Evaluation of a parsed JSONPath with client-go's semantics (pipeline spec §2.3).

use std::borrow::Cow;

use serde_json::Value;

use super::parse::{CompareOp, Filter, JsonPath, Literal, Operand, Slice, Step};

/// Why evaluation stopped without a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A real error: the attribute fails (when it is required).
    #[error("{0}")]
    Failed(String),
}

/// The outcome of a step sequence: nodes, or "not found" (the attribute becomes `null`).
enum Flow<'a> {
    Nodes(Vec<Cow<'a, Value>>),
    NotFound,
}

impl JsonPath {
    /// Evaluates the path and shapes the result: `None` when nothing matched (or a field was
    /// not found), the value for one match, an array for several.
    pub fn evaluate(&self, object: &Value) -> Result<Option<Value>, EvalError> {
        match self.nodes(object)? {
            None => Ok(None),
            Some(mut nodes) => Ok(match nodes.len() {
                0 => None,
                1 => nodes.pop().map(Cow::into_owned),
                _ => Some(Value::Array(
                    nodes.into_iter().map(Cow::into_owned).collect(),
                )),
            }),
        }
    }

    /// The matched nodes, or `None` for the not-found condition.
    pub(crate) fn nodes<'a>(
        &self,
        object: &'a Value,
    ) -> Result<Option<Vec<Cow<'a, Value>>>, EvalError> {
        match run(&self.steps, vec![Cow::Borrowed(object)])? {
            Flow::Nodes(nodes) => Ok(Some(nodes)),
            Flow::NotFound => Ok(None),
        }
    }
}

fn run<'a>(steps: &[Step], mut nodes: Vec<Cow<'a, Value>>) -> Result<Flow<'a>, EvalError> {
    for step in steps {
        nodes = match apply(step, nodes)? {
            Flow::Nodes(next) => next,
            Flow::NotFound => return Ok(Flow::NotFound),
        };
    }
    Ok(Flow::Nodes(nodes))
}

fn apply<'a>(step: &Step, input: Vec<Cow<'a, Value>>) -> Result<Flow<'a>, EvalError> {
    match step {
        Step::Field(name) => Ok(field(name, input)),
        Step::Wildcard => Ok(Flow::Nodes(wildcard(input))),
        Step::Recursive => Ok(Flow::Nodes(descendants(input))),
        Step::Slice(slice) => slice_step(slice, input).map(Flow::Nodes),
        Step::Union(parts) => {
            let mut out = Vec::new();
            for part in parts {
                match run(part, input.clone())? {
                    Flow::Nodes(nodes) => out.extend(nodes),
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
fn field<'a>(name: &str, input: Vec<Cow<'a, Value>>) -> Flow<'a> {
    if input.is_empty() {
        return Flow::Nodes(input);
    }
    let mut out = Vec::with_capacity(input.len());
    for node in input {
        match node {
            Cow::Borrowed(Value::Object(map)) => {
                if let Some(value) = map.get(name) {
                    out.push(Cow::Borrowed(value));
                }
            }
            Cow::Owned(Value::Object(mut map)) => {
                if let Some(value) = map.remove(name) {
                    out.push(Cow::Owned(value));
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        Flow::NotFound
    } else {
        Flow::Nodes(out)
    }
}

/// Map values in key order, list elements in order, the bytes of a string.
fn wildcard(input: Vec<Cow<'_, Value>>) -> Vec<Cow<'_, Value>> {
    let mut out = Vec::new();
    for node in input {
        match node {
            Cow::Borrowed(Value::Object(map)) => out.extend(sorted_values(map).map(Cow::Borrowed)),
            Cow::Borrowed(Value::Array(items)) => out.extend(items.iter().map(Cow::Borrowed)),
            Cow::Borrowed(Value::String(text)) => {
                out.extend(text.bytes().map(|b| Cow::Owned(Value::from(b))));
            }
            Cow::Owned(Value::Object(map)) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.extend(entries.into_iter().map(|(_, v)| Cow::Owned(v)));
            }
            Cow::Owned(Value::Array(items)) => out.extend(items.into_iter().map(Cow::Owned)),
            Cow::Owned(Value::String(text)) => {
                out.extend(text.bytes().map(|b| Cow::Owned(Value::from(b))));
            }
            _ => {}
        }
    }
    out
}

/// Map values sorted by key (DECISIONS Q5: deterministic order).
fn sorted_values(map: &serde_json::Map<String, Value>) -> impl Iterator<Item = &Value> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    if !entries
        .windows(2)
        .all(|w| w[0].0.as_bytes() <= w[1].0.as_bytes())
    {
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    entries.into_iter().map(|(_, v)| v)
}

/// Every node and its descendants, pre-order, maps in key order.
fn descendants(input: Vec<Cow<'_, Value>>) -> Vec<Cow<'_, Value>> {
    fn visit<'a>(value: &'a Value, out: &mut Vec<Cow<'a, Value>>) {
        out.push(Cow::Borrowed(value));
        match value {
            Value::Object(map) => sorted_values(map).for_each(|child| visit(child, out)),
            Value::Array(items) => items.iter().for_each(|child| visit(child, out)),
            _ => {}
        }
    }
    fn visit_owned(value: Value, out: &mut Vec<Cow<'_, Value>>) {
        out.push(Cow::Owned(value.clone()));
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                entries
                    .into_iter()
                    .for_each(|(_, child)| visit_owned(child, out));
            }
            Value::Array(items) => items.into_iter().for_each(|child| visit_owned(child, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for node in input {
        match node {
            Cow::Borrowed(value) => visit(value, &mut out),
            Cow::Owned(value) => visit_owned(value, &mut out),
        }
    }
    out
}

/// client-go's array semantics: null inputs are skipped, other non-lists are errors, and
/// out-of-range bounds are errors unless the requested range is empty.
fn slice_step<'a>(
    slice: &Slice,
    input: Vec<Cow<'a, Value>>,
) -> Result<Vec<Cow<'a, Value>>, EvalError> {
    let mut out = Vec::new();
    for node in input {
        let length = match node.as_ref() {
            Value::Null => continue,
            Value::Array(items) => i64::try_from(items.len()).unwrap_or(i64::MAX),
            other => {
                return Err(EvalError::Failed(format!(
                    "{} is not array or slice",
                    describe(other)
                )));
            }
        };
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
        match node {
            Cow::Borrowed(Value::Array(items)) => {
                out.extend(items[start..end].iter().step_by(step).map(Cow::Borrowed));
            }
            Cow::Owned(Value::Array(items)) => {
                out.extend(
                    items
                        .into_iter()
                        .skip(start)
                        .take(end - start)
                        .step_by(step)
                        .map(Cow::Owned),
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

fn filter_step<'a>(filter: &Filter, input: Vec<Cow<'a, Value>>) -> Result<Flow<'a>, EvalError> {
    let mut out = Vec::new();
    for node in input {
        let elements: Vec<Cow<'a, Value>> = match node {
            Cow::Borrowed(Value::Array(items)) => items.iter().map(Cow::Borrowed).collect(),
            Cow::Owned(Value::Array(items)) => items.into_iter().map(Cow::Owned).collect(),
            other => {
                return Err(EvalError::Failed(format!(
                    "{} is not array or slice and cannot be filtered",
                    describe(other.as_ref())
                )));
            }
        };
        for element in elements {
            let keep = match filter {
                Filter::Exists(operand) => match operand_values(operand, element.as_ref())? {
                    Some(values) => !values.is_empty(),
                    None => false,
                },
                Filter::Compare { left, op, right } => {
                    let Some(left) = single(operand_values(left, element.as_ref())?)? else {
                        return Ok(Flow::NotFound);
                    };
                    let Some(right) = single(operand_values(right, element.as_ref())?)? else {
                        return Ok(Flow::NotFound);
                    };
                    compare(&left, *op, &right)?
                }
            };
            if keep {
                out.push(element);
            }
        }
    }
    Ok(Flow::Nodes(out))
}

/// The values of an operand for one element; `None` for the not-found condition.
fn operand_values(operand: &Operand, element: &Value) -> Result<Option<Vec<Value>>, EvalError> {
    match operand {
        Operand::Literal(literal) => Ok(Some(vec![match literal {
            Literal::String(s) => Value::String(s.clone()),
            Literal::Int(i) => Value::from(*i),
            Literal::Float(f) => Value::from(*f),
            Literal::Bool(b) => Value::Bool(*b),
        }])),
        Operand::Path(steps) => match run(steps, vec![Cow::Borrowed(element)])? {
            Flow::Nodes(nodes) => Ok(Some(nodes.into_iter().map(Cow::into_owned).collect())),
            Flow::NotFound => Ok(None),
        },
    }
}

/// Exactly one value per side; zero is not-found (`None`), more is an error.
fn single(values: Option<Vec<Value>>) -> Result<Option<Value>, EvalError> {
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
fn compare(left: &Value, op: CompareOp, right: &Value) -> Result<bool, EvalError> {
    use std::cmp::Ordering;
    let ordering = match (left, right) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ if a.is_f64() && b.is_f64() => {
                let (a, b) = (
                    a.as_f64().unwrap_or(f64::NAN),
                    b.as_f64().unwrap_or(f64::NAN),
                );
                a.partial_cmp(&b)
                    .ok_or_else(|| EvalError::Failed("cannot compare NaN".to_owned()))?
            }
            _ => return Err(incompatible(left, right)),
        },
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) => {
            return match op {
                CompareOp::Eq => Ok(a == b),
                CompareOp::Ne => Ok(a != b),
                _ => Err(EvalError::Failed(format!(
                    "invalid comparison {op} on booleans"
                ))),
            };
        }
        _ => return Err(incompatible(left, right)),
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

fn incompatible(left: &Value, right: &Value) -> EvalError {
    EvalError::Failed(format!(
        "incompatible types for comparison: {} and {}",
        describe(left),
        describe(right)
    ))
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
