//! Builds JSON values with field locations from `saphyr-parser` events.

use std::collections::{BTreeMap, HashMap};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Value};

use super::{
    Document, Location, MAX_ALIAS_NODES, MAX_DEPTH, ParseError,
    scalar::{resolve_plain, resolve_tagged},
};

/// A collection being built.
enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
        pointer: String,
        nodes: usize,
    },
    Mapping {
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
        pointer: String,
        nodes: usize,
    },
}

/// Parses one chunk of text (at most a few documents) starting at `first_line` of the file.
pub(super) fn parse_chunk(text: &str, first_line: usize) -> Result<Vec<Document>, ParseError> {
    let mut builder = Builder::new(first_line);
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|error| {
            let marker = error.marker();
            ParseError::new(
                Location {
                    line: marker.line() + first_line - 1,
                    column: marker.col() + 1,
                },
                format!("invalid YAML: {}", error.info()),
            )
        })?;
        builder.on_event(event, span)?;
    }
    Ok(std::mem::take(&mut builder.documents))
}

struct Builder {
    first_line: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    alias_nodes: usize,
    document_start: Option<Location>,
    locations: BTreeMap<String, Location>,
    root: Option<Value>,
    documents: Vec<Document>,
}

impl Builder {
    fn new(first_line: usize) -> Self {
        Self {
            first_line,
            stack: Vec::new(),
            anchors: HashMap::new(),
            alias_nodes: 0,
            document_start: None,
            locations: BTreeMap::new(),
            root: None,
            documents: Vec::new(),
        }
    }

    fn location(&self, span: Span) -> Location {
        Location {
            line: span.start.line() + self.first_line - 1,
            column: span.start.col() + 1,
        }
    }

    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), ParseError> {
        let location = self.location(span);
        match event {
            Event::DocumentStart(_) => {
                self.document_start = None;
                self.locations.clear();
                self.anchors.clear();
                self.alias_nodes = 0;
                self.root = None;
                Ok(())
            }
            Event::DocumentEnd => self.finish_document(location),
            Event::Scalar(text, style, anchor, tag) => {
                if self.expecting_key() {
                    // Only a plain `<<` is a merge key; a quoted one is an ordinary key.
                    let merge = style == ScalarStyle::Plain && text == "<<";
                    return self.set_key(text.into_owned(), merge, location);
                }
                let value = scalar_value(&text, style, tag.as_deref())
                    .map_err(|message| ParseError::new(location, message))?;
                if anchor != 0 {
                    self.anchors.insert(anchor, (value.clone(), 1));
                }
                self.push_value(value, 1, location)
            }
            Event::SequenceStart(anchor, tag) => {
                self.start_collection(true, anchor, tag.as_deref(), location)
            }
            Event::MappingStart(anchor, tag) => {
                self.start_collection(false, anchor, tag.as_deref(), location)
            }
            Event::SequenceEnd | Event::MappingEnd => self.end_collection(location),
            Event::Alias(anchor) => self.alias(anchor, location),
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Ok(()),
        }
    }

    fn start_collection(
        &mut self,
        sequence: bool,
        anchor: usize,
        tag: Option<&Tag>,
        location: Location,
    ) -> Result<(), ParseError> {
        if self.expecting_key() {
            return Err(ParseError::new(
                location,
                "mapping keys must be plain strings, not collections",
            ));
        }
        check_collection_tag(tag, location)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(ParseError::new(
                location,
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            ));
        }
        let pointer = self.child_pointer();
        self.locations.insert(pointer.clone(), location);
        self.document_start.get_or_insert(location);
        self.stack.push(if sequence {
            Frame::Sequence {
                items: Vec::new(),
                anchor,
                pointer,
                nodes: 1,
            }
        } else {
            Frame::Mapping {
                map: Map::new(),
                key: None,
                anchor,
                pointer,
                nodes: 1,
            }
        });
        Ok(())
    }

    fn end_collection(&mut self, location: Location) -> Result<(), ParseError> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let (value, anchor, nodes) = match frame {
            Frame::Sequence {
                items,
                anchor,
                nodes,
                ..
            } => (Value::Array(items), anchor, nodes),
            Frame::Mapping {
                map, anchor, nodes, ..
            } => (Value::Object(map), anchor, nodes),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), nodes));
        }
        self.attach(value, nodes, location)
    }

    fn alias(&mut self, anchor: usize, location: Location) -> Result<(), ParseError> {
        let Some((value, nodes)) = self.anchors.get(&anchor).cloned() else {
            return Err(ParseError::new(
                location,
                "alias refers to an unknown anchor",
            ));
        };
        if self.expecting_key() {
            return Err(ParseError::new(
                location,
                "aliases cannot be used as mapping keys",
            ));
        }
        self.alias_nodes += nodes;
        if self.alias_nodes > MAX_ALIAS_NODES {
            return Err(ParseError::new(
                location,
                format!(
                    "YAML aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?); \
                     write the repeated values out instead"
                ),
            ));
        }
        self.push_value(value, nodes, location)
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }))
    }

    fn set_key(&mut self, key: String, merge: bool, location: Location) -> Result<(), ParseError> {
        let Some(Frame::Mapping {
            map,
            key: slot,
            pointer,
            ..
        }) = self.stack.last_mut()
        else {
            return Ok(());
        };
        if merge {
            return Err(ParseError::new(
                location,
                "YAML merge keys (<<) are not supported in manifests; write the fields out",
            ));
        }
        let child = format!("{pointer}/{}", escape_pointer(&key));
        if map.contains_key(&key) {
            let first = self
                .locations
                .get(&child)
                .map_or(String::new(), |l| format!(" (first at line {})", l.line));
            return Err(ParseError::new(
                location,
                format!("duplicate key {key:?}{first}; each key may appear once in a mapping"),
            ));
        }
        self.locations.insert(child, location);
        *slot = Some(key);
        Ok(())
    }

    /// The pointer of the node about to be added to the current collection.
    fn child_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Sequence { items, pointer, .. }) => format!("{pointer}/{}", items.len()),
            Some(Frame::Mapping { key, pointer, .. }) => {
                format!(
                    "{pointer}/{}",
                    escape_pointer(key.as_deref().unwrap_or_default())
                )
            }
        }
    }

    fn push_value(
        &mut self,
        value: Value,
        nodes: usize,
        location: Location,
    ) -> Result<(), ParseError> {
        let pointer = self.child_pointer();
        self.locations.entry(pointer).or_insert(location);
        self.document_start.get_or_insert(location);
        self.attach(value, nodes, location)
    }

    /// Adds a finished node to the current collection, or makes it the document root.
    fn attach(&mut self, value: Value, added: usize, location: Location) -> Result<(), ParseError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
            }
            Some(Frame::Sequence { items, nodes, .. }) => {
                items.push(value);
                *nodes += added;
            }
            Some(Frame::Mapping {
                map, key, nodes, ..
            }) => {
                let Some(key) = key.take() else {
                    return Err(ParseError::new(location, "mapping value without a key"));
                };
                map.insert(key, value);
                *nodes += added;
            }
        }
        Ok(())
    }

    fn finish_document(&mut self, location: Location) -> Result<(), ParseError> {
        let Some(root) = self.root.take() else {
            return Ok(());
        };
        let start = self.document_start.take().unwrap_or(location);
        match root {
            Value::Null => Ok(()),
            Value::Object(_) => {
                self.documents.push(Document {
                    start,
                    value: root,
                    locations: std::mem::take(&mut self.locations),
                });
                Ok(())
            }
            other => Err(ParseError::new(
                start,
                format!(
                    "a manifest document must be a mapping (apiVersion, kind, metadata, ...), \
                     found {}",
                    json_type(&other)
                ),
            )),
        }
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        // Frames can nest MAX_DEPTH deep; dropping them one by one keeps recursion shallow.
        while self.stack.pop().is_some() {}
    }
}

fn scalar_value(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        if tag.is_yaml_core_schema() {
            return resolve_tagged(text, &tag.suffix);
        }
        if tag.handle == "!" && tag.suffix.is_empty() {
            return Ok(Value::String(text.to_owned()));
        }
        return Err(format!("the YAML tag {tag} is not supported in manifests"));
    }
    match style {
        ScalarStyle::Plain => resolve_plain(text),
        _ => Ok(Value::String(text.to_owned())),
    }
}

fn check_collection_tag(tag: Option<&Tag>, location: Location) -> Result<(), ParseError> {
    match tag {
        Some(tag)
            if !(tag.is_yaml_core_schema() && matches!(tag.suffix.as_str(), "map" | "seq")) =>
        {
            Err(ParseError::new(
                location,
                format!("the YAML tag {tag} is not supported in manifests"),
            ))
        }
        _ => Ok(()),
    }
}

/// RFC 6901 escaping of one pointer segment.
pub(crate) fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// `a string`, `a number`, ... for messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
