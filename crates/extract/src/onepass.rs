//! One pass from bytes to row: the input is parsed once, guided by the extractor's [`Plan`];
//! planned members are kept as raw text borrowed from the input, every other member is only
//! skipped over (never allocated). Evaluation then reads the raw members lazily.

use std::{borrow::Cow, fmt, sync::OnceLock};

use serde::{
    Deserialize as _,
    de::{Deserializer as _, IgnoredAny, MapAccess, Visitor},
};
use serde_json::{Map, Value, value::RawValue};

use crate::{
    extractor::{ExtractError, Extracted, Extractor, SECRET_DATA_MARKER, View, is_secret_payload},
    node::{JsonNode, NodeKind, Raw, Scalar},
    plan::{Plan, PlanNode},
};

/// The plan as a flat table, node 0 being the object itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct FlatPlan {
    nodes: Vec<FlatNode>,
}

#[derive(Clone, Debug, Default)]
struct FlatNode {
    whole: bool,
    /// Members read below this one, sorted by key.
    children: Vec<(String, usize)>,
}

impl FlatPlan {
    pub(crate) fn new(plan: &Plan) -> Self {
        fn flatten(node: &PlanNode, nodes: &mut Vec<FlatNode>) -> usize {
            let id = nodes.len();
            nodes.push(FlatNode {
                whole: node.whole,
                children: Vec::new(),
            });
            let children: Vec<(String, usize)> = node
                .children
                .iter()
                .map(|(key, child)| (key.clone(), flatten(child, nodes)))
                .collect();
            nodes[id].children = children;
            id
        }
        let mut nodes = Vec::new();
        flatten(&plan.root, &mut nodes);
        Self { nodes }
    }

    /// Forgets the captures below `node`.
    fn clear_below<T>(&self, node: usize, slots: &mut [Option<T>]) {
        for &(_, child) in &self.nodes[node].children {
            slots[child] = None;
            self.clear_below(child, slots);
        }
    }

    fn child(&self, node: usize, key: &str) -> Option<usize> {
        let children = &self.nodes[node].children;
        children
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| children[i].1)
    }
}

/// The redaction marker as raw JSON.
fn marker() -> &'static RawValue {
    static MARKER: OnceLock<Box<RawValue>> = OnceLock::new();
    MARKER.get_or_init(|| {
        RawValue::from_string(SECRET_DATA_MARKER.to_owned()).expect("the marker is valid JSON")
    })
}

/// What a watch event carried.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent {
    /// `ADDED` or `MODIFIED`: the object's row, or why it has none.
    Applied(Result<Extracted, ExtractError>),
    /// `DELETED`: the row of the deleted object (identity; attributes as extracted, `{}` when
    /// extraction failed).
    Deleted(kollect_api::row::Row),
    /// `BOOKMARK`: the resource version to resume from.
    Bookmark(String),
    /// `ERROR`: the API server's status message (for example a 410 Gone).
    Error {
        /// The HTTP code of the status, when given.
        code: Option<i64>,
        /// The message.
        message: String,
    },
}

impl Extractor {
    /// Extracts the row of an object given as JSON bytes, in one pass.
    pub fn extract_from_slice(&self, bytes: &[u8]) -> Result<Extracted, ExtractError> {
        let slots = capture_object(&self.flat, bytes)?;
        self.extract_with(&CaptureView {
            plan: &self.flat,
            slots,
        })
    }

    /// Decodes one watch event (`{"type": ..., "object": ...}`) in one pass.
    pub fn extract_event_from_slice(&self, bytes: &[u8]) -> Result<WatchEvent, ExtractError> {
        let (kind, object) = split_event(bytes)?;
        let object =
            object.ok_or_else(|| ExtractError::Decode("the event has no object".to_owned()))?;
        match kind.as_deref() {
            Some("ADDED" | "MODIFIED") => Ok(WatchEvent::Applied(
                self.extract_from_slice(object.get().as_bytes()),
            )),
            Some("DELETED") => {
                let slots = capture_object(&self.flat, object.get().as_bytes())?;
                let view = CaptureView {
                    plan: &self.flat,
                    slots,
                };
                let row = match self.extract_with(&view) {
                    Ok(extracted) => extracted.row,
                    Err(_) => {
                        crate::extractor::identity(&view, kollect_api::row::Attributes::empty())
                    }
                };
                Ok(WatchEvent::Deleted(row))
            }
            Some("BOOKMARK") => {
                let version = Raw(object)
                    .member("metadata")
                    .and_then(|m| m.member("resourceVersion"));
                match version.map(JsonNode::scalar) {
                    Some(Scalar::Str(text)) => Ok(WatchEvent::Bookmark(text.into_owned())),
                    _ => Err(ExtractError::Decode(
                        "a bookmark without metadata.resourceVersion".to_owned(),
                    )),
                }
            }
            Some("ERROR") => {
                let status = Raw(object);
                let message = match status.member("message").map(JsonNode::scalar) {
                    Some(Scalar::Str(text)) => text.into_owned(),
                    _ => status.0.get().to_owned(),
                };
                let code = match status.member("code").map(JsonNode::scalar) {
                    Some(Scalar::Int(code)) => Some(code),
                    _ => None,
                };
                Ok(WatchEvent::Error { code, message })
            }
            other => Err(ExtractError::Decode(format!(
                "unknown watch event type {other:?}"
            ))),
        }
    }
}

/// Parses a watch event into its type and the raw object.
fn split_event(bytes: &[u8]) -> Result<(Option<String>, Option<&RawValue>), ExtractError> {
    #[derive(serde::Deserialize)]
    struct Event<'a> {
        #[serde(rename = "type")]
        kind: Option<String>,
        #[serde(borrow)]
        object: Option<&'a RawValue>,
    }
    let event: Event<'_> =
        serde_json::from_slice(bytes).map_err(|e| ExtractError::Decode(e.to_string()))?;
    Ok((event.kind, event.object))
}

/// Captures the planned members of an object.
fn capture_object<'de>(
    plan: &FlatPlan,
    bytes: &'de [u8],
) -> Result<Vec<Option<Raw<'de>>>, ExtractError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            if first.is_some()
                && std::str::from_utf8(bytes).is_ok()
                && serde_json::from_slice::<IgnoredAny>(bytes).is_ok()
            {
                ExtractError::NotAnObject
            } else {
                ExtractError::Decode(match serde_json::from_slice::<IgnoredAny>(bytes) {
                    Err(error) => error.to_string(),
                    Ok(_) => "empty input".to_owned(),
                })
            },
        );
    }
    let mut slots = vec![None; plan.nodes.len()];
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let decode = |e: serde_json::Error| ExtractError::Decode(e.to_string());
    if plan.nodes[0].whole {
        let raw = <&RawValue>::deserialize(&mut deserializer).map_err(decode)?;
        check_nesting(raw.get()).map_err(ExtractError::Decode)?;
        slots[0] = Some(Raw(raw));
    } else {
        deserializer
            .deserialize_map(CaptureMap {
                plan,
                node: 0,
                slots: &mut slots,
            })
            .map_err(decode)?;
    }
    deserializer.end().map_err(decode)?;
    Ok(slots)
}

/// How deep a captured subtree may nest: `serde_json`'s own limit, so the one-pass path refuses
/// exactly what parsing into a `Value` refuses, and nothing that reads a capture can exhaust the
/// stack.
const MAX_NESTING: usize = 128;

/// Refuses raw JSON nested deeper than [`MAX_NESTING`]. Serde skips a captured subtree without
/// recursing, so its depth is only known from the text.
fn check_nesting(raw: &str) -> Result<(), String> {
    let bytes = raw.as_bytes();
    // Deeper than the limit takes more than twice as many bytes.
    if bytes.len() <= 2 * MAX_NESTING {
        return Ok(());
    }
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(offset) = memchr::memchr3(b'"', b'[', b'{', &bytes[at..]) {
        let position = at + offset;
        // Closers between the previous token and this one lower the depth.
        depth = depth.saturating_sub(count_closers(&bytes[at..position]));
        if bytes[position] == b'"' {
            // Skip the string: the next quote not escaped by a backslash.
            let mut end = position + 1;
            loop {
                match memchr::memchr2(b'"', b'\\', &bytes[end..]) {
                    Some(i) if bytes[end + i] == b'\\' => end += i + 2,
                    Some(i) => {
                        end += i + 1;
                        break;
                    }
                    None => return Ok(()),
                }
            }
            at = end;
            continue;
        }
        depth += 1;
        if depth > MAX_NESTING {
            return Err(format!(
                "recursion limit exceeded: the object nests deeper than {MAX_NESTING} levels"
            ));
        }
        at = position + 1;
    }
    Ok(())
}

/// Closing brackets outside strings in a stretch without quotes.
fn count_closers(stretch: &[u8]) -> usize {
    stretch.iter().filter(|b| matches!(b, b']' | b'}')).count()
}

/// Walks one planned map, keeping planned members as raw text.
struct CaptureMap<'p, 's, 'de> {
    plan: &'p FlatPlan,
    node: usize,
    slots: &'s mut Vec<Option<Raw<'de>>>,
}

impl<'de> Visitor<'de> for CaptureMap<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(crate::node::StrVisitor)? {
            let Some(child) = self.plan.child(self.node, &key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let raw: &'de RawValue = map.next_value()?;
            if self.slots[child].is_some() {
                // A duplicate key: the last one wins, as when parsing into a `Value`, so
                // nothing captured under the earlier one may survive.
                self.plan.clear_below(child, self.slots);
            }
            if self.plan.nodes[child].whole {
                check_nesting(raw.get()).map_err(serde::de::Error::custom)?;
            }
            self.slots[child] = Some(Raw(raw));
            if !self.plan.nodes[child].whole && raw.get().starts_with('{') {
                serde_json::Deserializer::from_str(raw.get())
                    .deserialize_map(CaptureMap {
                        plan: self.plan,
                        node: child,
                        slots: self.slots,
                    })
                    .map_err(serde::de::Error::custom)?;
            }
        }
        Ok(())
    }
}

/// The captures of one object.
struct CaptureView<'p, 'de> {
    plan: &'p FlatPlan,
    slots: Vec<Option<Raw<'de>>>,
}

impl<'de> CaptureView<'_, 'de> {
    /// The captured node at a planned path, or the node below a whole one.
    fn lookup(&self, path: &[String], guard: bool) -> Option<Raw<'de>> {
        let mut node = 0;
        for (index, key) in path.iter().enumerate() {
            if self.plan.nodes[node].whole {
                let start = self.slots[node]?;
                return path[index..]
                    .iter()
                    .try_fold(start, |raw, key| raw.member(key));
            }
            node = self.plan.child(node, key)?;
            if index == 0 && guard && is_secret_payload(key) && self.slots[node].is_some() {
                return path[1..]
                    .iter()
                    .try_fold(Raw(marker()), |raw, key| raw.member(key));
            }
            self.slots[node]?;
        }
        self.slots[node]
    }

    /// The whole object parsed (root planned whole), with Secret payloads masked when guarded.
    fn parse_root(&self, guard: bool) -> Value {
        let mut value = self.slots[0].map_or(Value::Null, JsonNode::to_value);
        if guard && let Some(map) = value.as_object_mut() {
            for key in ["data", "stringData"] {
                if let Some(slot) = map.get_mut(key) {
                    *slot = Raw(marker()).to_value();
                }
            }
        }
        value
    }

    /// Copies the captured member at `path` into `out`, creating maps on the way.
    fn insert(&self, out: &mut Map<String, Value>, path: &[String], guard: bool) {
        let mut target = out;
        for (depth, key) in path.iter().enumerate() {
            let Some(raw) = self.lookup(&path[..=depth], guard) else {
                return;
            };
            let masked = depth == 0 && guard && is_secret_payload(key);
            if depth + 1 == path.len() || masked || raw.kind() != NodeKind::Object {
                target.insert(key.clone(), raw.to_value());
                return;
            }
            let entry = target
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            match entry {
                Value::Object(inner) => target = inner,
                // Already copied whole by another path.
                _ => return,
            }
        }
    }
}

impl<'de> View<'de> for CaptureView<'_, 'de> {
    type Node = Raw<'de>;

    fn at(&self, path: &[String], guard: bool) -> Option<Raw<'de>> {
        self.lookup(path, guard)
    }

    fn materialize(&self, sections: Option<&[&str]>, guard: bool) -> Cow<'_, Value> {
        let Some(sections) = sections.filter(|_| !self.plan.nodes[0].whole) else {
            return Cow::Owned(self.parse_root(guard));
        };
        let mut out = Map::new();
        for section in sections {
            if let Some(raw) = self.lookup(&[(*section).to_owned()], guard) {
                out.insert((*section).to_owned(), raw.to_value());
            }
        }
        Cow::Owned(Value::Object(out))
    }

    fn materialize_cel(&self, paths: Option<&[Vec<String>]>, guard: bool) -> Cow<'_, Value> {
        let Some(paths) = paths.filter(|_| !self.plan.nodes[0].whole) else {
            return Cow::Owned(self.parse_root(guard));
        };
        let mut out = Map::new();
        for path in paths {
            self.insert(&mut out, path, guard);
        }
        Cow::Owned(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_NESTING, check_nesting};

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn nesting_is_measured_outside_strings() {
        assert!(check_nesting(&nested(MAX_NESTING)).is_ok());
        assert!(check_nesting(&nested(MAX_NESTING + 1)).is_err());
        // Brackets inside strings, escaped quotes and closers before strings do not count.
        let padded = format!(
            r#"["{}", "\"[[[", {}]"#,
            "[".repeat(500),
            nested(MAX_NESTING - 1)
        );
        assert!(check_nesting(&padded).is_ok(), "{padded}");
        let siblings = (0..10)
            .map(|_| nested(100))
            .collect::<Vec<_>>()
            .join(r#","x","#);
        assert!(check_nesting(&format!("[{siblings}]")).is_ok());
        let mixed = format!("{}{}", r#"{"a":"#.repeat(MAX_NESTING / 2), r#"[{"b":[]}]"#);
        assert!(check_nesting(&format!("{mixed}{}", "}".repeat(MAX_NESTING / 2))).is_ok());
        let deeper = format!("{}{}", r#"{"a":"#.repeat(MAX_NESTING), "[1]");
        assert!(check_nesting(&format!("{deeper}{}", "}".repeat(MAX_NESTING))).is_err());
        // An unterminated string ends the scan (the parser has already vouched for the text).
        assert!(check_nesting(&format!("[\"{}", "[".repeat(600))).is_ok());
    }
}
