//! A read-only view of JSON for the evaluators: a parsed [`serde_json::Value`], or raw JSON text
//! borrowed from the input ([`Raw`]) that is lexed only where a path goes and never copied.
//!
//! Both views share one JSONPath evaluator and one canonical writer, so the two extraction paths
//! (parse then extract, and bytes to row in one pass) agree by construction.

use std::{borrow::Cow, fmt};

use kollect_api::canonical;
use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Number, Value, value::RawValue};

use crate::scrub::Scrubber;

/// The JSON type of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// A scalar, for filter comparisons.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// An array or object.
    Composite,
}

/// What the evaluators need from a JSON node.
pub(crate) trait JsonNode<'a>: Copy + fmt::Debug {
    fn kind(self) -> NodeKind;
    /// A member of an object (`None` for other kinds or a missing key).
    fn member(self, key: &str) -> Option<Self>;
    /// The members of an object, sorted by key bytes (DECISIONS Q5).
    fn members_sorted(self) -> Vec<(Cow<'a, str>, Self)>;
    /// The elements of an array (empty for other kinds).
    fn elements(self) -> Vec<Self>;
    fn scalar(self) -> Scalar<'a>;
    /// The node as a parsed value.
    fn to_value(self) -> Value;
}

impl<'a> JsonNode<'a> for &'a Value {
    fn kind(self) -> NodeKind {
        match self {
            Value::Null => NodeKind::Null,
            Value::Bool(_) => NodeKind::Bool,
            Value::Number(_) => NodeKind::Number,
            Value::String(_) => NodeKind::String,
            Value::Array(_) => NodeKind::Array,
            Value::Object(_) => NodeKind::Object,
        }
    }

    fn member(self, key: &str) -> Option<Self> {
        self.as_object()?.get(key)
    }

    fn members_sorted(self) -> Vec<(Cow<'a, str>, Self)> {
        let Some(map) = self.as_object() else {
            return Vec::new();
        };
        let mut members: Vec<(Cow<'a, str>, Self)> = map
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), v))
            .collect();
        if !members
            .windows(2)
            .all(|w| w[0].0.as_bytes() <= w[1].0.as_bytes())
        {
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        members
    }

    fn elements(self) -> Vec<Self> {
        self.as_array()
            .map(|items| items.iter().collect())
            .unwrap_or_default()
    }

    fn scalar(self) -> Scalar<'a> {
        match self {
            Value::Null => Scalar::Null,
            Value::Bool(flag) => Scalar::Bool(*flag),
            Value::Number(number) => number_scalar(number),
            Value::String(text) => Scalar::Str(Cow::Borrowed(text)),
            Value::Array(_) | Value::Object(_) => Scalar::Composite,
        }
    }

    fn to_value(self) -> Value {
        self.clone()
    }
}

fn number_scalar<'a>(number: &Number) -> Scalar<'a> {
    match number.as_i64() {
        Some(integer) => Scalar::Int(integer),
        None => Scalar::Float(number.as_f64().unwrap_or(f64::NAN)),
    }
}

/// Raw JSON text borrowed from the input.
#[derive(Clone, Copy)]
pub(crate) struct Raw<'a>(pub(crate) &'a RawValue);

impl fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

impl<'a> Raw<'a> {
    fn text(self) -> &'a str {
        self.0.get()
    }

    fn deserializer(self) -> serde_json::Deserializer<serde_json::de::StrRead<'a>> {
        serde_json::Deserializer::from_str(self.text())
    }
}

impl<'a> JsonNode<'a> for Raw<'a> {
    fn kind(self) -> NodeKind {
        match self.text().as_bytes().first() {
            Some(b'{') => NodeKind::Object,
            Some(b'[') => NodeKind::Array,
            Some(b'"') => NodeKind::String,
            Some(b't' | b'f') => NodeKind::Bool,
            Some(b'n') | None => NodeKind::Null,
            Some(_) => NodeKind::Number,
        }
    }

    fn member(self, key: &str) -> Option<Self> {
        if self.kind() != NodeKind::Object {
            return None;
        }
        self.deserializer()
            .deserialize_map(FindMember { key })
            .ok()
            .flatten()
            .map(Raw)
    }

    fn members_sorted(self) -> Vec<(Cow<'a, str>, Self)> {
        if self.kind() != NodeKind::Object {
            return Vec::new();
        }
        let mut members: Vec<(Cow<'a, str>, Self)> = self
            .deserializer()
            .deserialize_map(AllMembers)
            .unwrap_or_default();
        if !members
            .windows(2)
            .all(|w| w[0].0.as_bytes() < w[1].0.as_bytes())
        {
            // Stable: of duplicate keys the last one wins, as when parsing into a `Value`.
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            members.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    std::mem::swap(later, earlier);
                    true
                } else {
                    false
                }
            });
        }
        members
    }

    fn elements(self) -> Vec<Self> {
        if self.kind() != NodeKind::Array {
            return Vec::new();
        }
        self.deserializer()
            .deserialize_seq(AllElements)
            .unwrap_or_default()
    }

    fn scalar(self) -> Scalar<'a> {
        match self.kind() {
            NodeKind::Null => Scalar::Null,
            NodeKind::Bool => Scalar::Bool(self.text().starts_with('t')),
            NodeKind::Number => match serde_json::from_str::<Number>(self.text()) {
                Ok(number) => number_scalar(&number),
                Err(_) => Scalar::Null,
            },
            NodeKind::String => self
                .deserializer()
                .deserialize_str(StrVisitor)
                .map_or(Scalar::Null, Scalar::Str),
            NodeKind::Array | NodeKind::Object => Scalar::Composite,
        }
    }

    fn to_value(self) -> Value {
        serde_json::from_str(self.text()).unwrap_or(Value::Null)
    }
}

/// A string, borrowed when it has no escapes.
pub(crate) struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_owned()))
    }
}

impl<'de> DeserializeSeed<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

/// Whether a map key equals `key`, without allocating even for escaped keys.
struct KeyIs<'k>(&'k str);

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
        Ok(value == self.0)
    }
}

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

struct FindMember<'k> {
    key: &'k str,
}

impl<'de> Visitor<'de> for FindMember<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        // The last of duplicate keys wins, as when parsing into a `serde_json::Value`.
        while let Some(matches) = map.next_key_seed(KeyIs(self.key))? {
            if matches {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct AllMembers;

impl<'de> Visitor<'de> for AllMembers {
    type Value = Vec<(Cow<'de, str>, Raw<'de>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key_seed(StrVisitor)? {
            members.push((key, Raw(map.next_value::<&'de RawValue>()?)));
        }
        Ok(members)
    }
}

struct AllElements;

impl<'de> Visitor<'de> for AllElements {
    type Value = Vec<Raw<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(8));
        while let Some(element) = seq.next_element::<&'de RawValue>()? {
            elements.push(Raw(element));
        }
        Ok(elements)
    }
}

/// Writes a node canonically (pipeline spec §5.2), redacting sensitive map entries.
pub(crate) fn write_node<'a, N: JsonNode<'a>>(out: &mut String, node: N, scrubber: &Scrubber) {
    match node.kind() {
        NodeKind::Null => out.push_str("null"),
        NodeKind::Bool | NodeKind::Number | NodeKind::String => write_scalar(out, &node.scalar()),
        NodeKind::Array => {
            out.push('[');
            for (index, element) in node.elements().into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_node(out, element, scrubber);
            }
            out.push(']');
        }
        NodeKind::Object => {
            out.push('{');
            for (index, (key, value)) in node.members_sorted().into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical::write_str(out, &key);
                out.push(':');
                if scrubber.is_sensitive_node(&key, value) {
                    out.push_str(canonical::REDACTED);
                } else {
                    write_node(out, value, scrubber);
                }
            }
            out.push('}');
        }
    }
}

/// Writes a scalar canonically; floats are always finite here (JSON has no NaN).
pub(crate) fn write_scalar(out: &mut String, scalar: &Scalar<'_>) {
    match scalar {
        Scalar::Null | Scalar::Composite => out.push_str("null"),
        Scalar::Bool(true) => out.push_str("true"),
        Scalar::Bool(false) => out.push_str("false"),
        Scalar::Int(integer) => out.push_str(&integer.to_string()),
        Scalar::Float(float) => {
            if canonical::write_f64(out, *float).is_err() {
                out.push_str("null");
            }
        }
        Scalar::Str(text) => canonical::write_str(out, text),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    #[test]
    fn raw_nodes_behave_like_values() {
        let text = r#"{"b":{"x":[1,2.5,"s\u0041",null,true]},"a":"q","e\u0073c":1}"#;
        let owned = raw(text);
        let node = Raw(&owned);
        let value: Value = serde_json::from_str(text).expect("valid");
        assert_eq!(node.kind(), NodeKind::Object);
        assert_eq!(node.member("a").map(JsonNode::to_value), Some(json!("q")));
        assert_eq!(
            node.member("esc").map(JsonNode::to_value),
            Some(json!(1)),
            "escaped keys match"
        );
        assert!(node.member("zzz").is_none());
        let keys: Vec<String> = node
            .members_sorted()
            .into_iter()
            .map(|(k, _)| k.into_owned())
            .collect();
        assert_eq!(keys, ["a", "b", "esc"]);
        let elements = node
            .member("b")
            .and_then(|b| b.member("x"))
            .expect("x")
            .elements();
        let scalars: Vec<Scalar<'_>> = elements.iter().map(|e| e.scalar()).collect();
        assert_eq!(
            scalars,
            [
                Scalar::Int(1),
                Scalar::Float(2.5),
                Scalar::Str("sA".into()),
                Scalar::Null,
                Scalar::Bool(true)
            ]
        );
        let scrubber = Scrubber::new([]);
        let (mut from_raw, mut from_value) = (String::new(), String::new());
        write_node(&mut from_raw, node, &scrubber);
        write_node(&mut from_value, &value, &scrubber);
        assert_eq!(from_raw, from_value);
        assert_eq!(from_raw, kollect_api::canonical::to_string(&value));
    }
}
