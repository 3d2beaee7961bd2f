//! Reading and writing Kubernetes manifests: multi-document YAML or JSON, with line numbers.
//!
//! `serde_yaml` is archived, so Kollect parses YAML with the maintained event parser
//! `saphyr-parser` and builds JSON values itself (ADR 0002). Doing it here gives what a manifest
//! tool needs and serde-based loaders do not:
//!
//! * every field's line, so errors read `file:line: Kind/name: field.path: message`;
//! * duplicate keys are errors, not silently last-wins;
//! * hostile input is bounded: per-document size, nesting depth and alias expansion are capped
//!   and every cap produces a clear error instead of a hang or a crash;
//! * plain scalars resolve as `kubectl` resolves them (YAML 1.1 booleans such as `yes`/`on`),
//!   so a value that `kubectl apply` would see as a boolean is reported as one.
//!
//! [`to_yaml`] writes the deterministic block style Kollect uses for CRDs and Git exports.

mod emit;
pub(crate) mod parse;
mod scalar;

use std::{collections::BTreeMap, fmt};

use serde_json::Value;

pub use self::emit::to_yaml;

/// Largest document accepted: the Kubernetes API server refuses requests above 3 MiB.
pub const MAX_DOCUMENT_BYTES: usize = 3 * 1024 * 1024;
/// Largest file read. Files may hold many documents (a `kubectl get -o yaml` dump).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 128;
/// Most nodes YAML aliases may add to one document; bounds "billion laughs" alias bombs.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// A position in a source file (1-based line, 1-based column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One object read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Where the object starts.
    pub start: Location,
    /// The object as JSON.
    pub value: Value,
    /// Line of each field, keyed by JSON pointer (`/spec/attributes/0/path`).
    pub locations: BTreeMap<String, Location>,
}

impl Document {
    /// The location of the field at `pointer`, or of its closest ancestor that has one.
    pub fn locate(&self, pointer: &str) -> Location {
        let mut current = pointer;
        loop {
            if let Some(location) = self.locations.get(current) {
                return *location;
            }
            match current.rfind('/') {
                Some(cut) => current = &current[..cut],
                None => return self.start,
            }
        }
    }
}

/// Why a document could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ParseError {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
        }
    }
}

/// Reads every document of a file. Each entry is one object or the error that stopped it; an
/// error in one document does not hide the others. Comment-only documents are skipped, and
/// `kind: List` documents (as `kubectl get -o yaml` writes them) are expanded into their items.
pub fn parse(bytes: &[u8]) -> Vec<Result<Document, ParseError>> {
    let start = Location { line: 1, column: 1 };
    if bytes.len() > MAX_FILE_BYTES {
        return vec![Err(ParseError::new(
            start,
            format!(
                "file is {}, larger than the {} Kollect reads; split it into several files",
                human_bytes(bytes.len()),
                human_bytes(MAX_FILE_BYTES)
            ),
        ))];
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            return vec![Err(ParseError::new(
                Location { line, column: 1 },
                "not a text manifest: the file is not valid UTF-8 (binary data?)",
            ))];
        }
    };
    if let Some(offset) = text.find('\0') {
        let line = text[..offset].matches('\n').count() + 1;
        return vec![Err(ParseError::new(
            Location { line, column: 1 },
            "not a text manifest: the file contains NUL bytes (binary data?)",
        ))];
    }
    let mut documents = Vec::new();
    for chunk in split_documents(text) {
        if chunk.text.len() > MAX_DOCUMENT_BYTES {
            documents.push(Err(ParseError::new(
                Location {
                    line: chunk.first_line,
                    column: 1,
                },
                format!(
                    "document is {}; a Kubernetes object must be smaller than {} (the API \
                     server's request limit)",
                    human_bytes(chunk.text.len()),
                    human_bytes(MAX_DOCUMENT_BYTES)
                ),
            )));
            continue;
        }
        match parse::parse_chunk(chunk.text, chunk.first_line) {
            Ok(parsed) => {
                for document in parsed {
                    expand_lists(document, &mut documents);
                }
            }
            Err(error) => documents.push(Err(error)),
        }
    }
    documents
}

/// A run of lines holding (at most) one YAML document.
struct Chunk<'a> {
    text: &'a str,
    first_line: usize,
}

/// Splits a stream at `---` document markers. A marker line at column 0 always starts a new
/// document in YAML (it cannot occur inside a scalar), so splitting on lines is exact. Directive
/// lines (`%YAML`) right before a marker belong to the next document.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut chunk_start = 0;
    let mut chunk_line = 1;
    let mut directives_start: Option<(usize, usize)> = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_number = index + 1;
        let content = line.trim_end_matches(['\n', '\r']);
        let is_marker =
            content == "---" || content.starts_with("--- ") || content.starts_with("---\t");
        if content.starts_with('%') {
            directives_start.get_or_insert((offset, line_number));
        } else if is_marker {
            let (cut, cut_line) = directives_start.unwrap_or((offset, line_number));
            if cut > chunk_start {
                chunks.push(Chunk {
                    text: &text[chunk_start..cut],
                    first_line: chunk_line,
                });
            }
            chunk_start = cut;
            chunk_line = cut_line;
            directives_start = None;
        } else if !content.trim().is_empty() && !content.trim_start().starts_with('#') {
            directives_start = None;
        }
        offset += line.len();
    }
    if chunk_start < text.len() {
        chunks.push(Chunk {
            text: &text[chunk_start..],
            first_line: chunk_line,
        });
    }
    chunks
}

/// Pushes a document, or each item of a `kind: List` document.
fn expand_lists(document: Document, out: &mut Vec<Result<Document, ParseError>>) {
    let is_list = document
        .value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| {
            kind == "List" || (kind.ends_with("List") && document.value.get("items").is_some())
        });
    let Some(items) = document
        .value
        .get("items")
        .and_then(Value::as_array)
        .filter(|_| is_list)
    else {
        out.push(Ok(document));
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let prefix = format!("/items/{index}");
        let locations = document
            .locations
            .range(prefix.clone()..)
            .take_while(|(pointer, _)| pointer.starts_with(&prefix))
            .filter_map(|(pointer, location)| {
                let rest = &pointer[prefix.len()..];
                (rest.is_empty() || rest.starts_with('/')).then(|| (rest.to_owned(), *location))
            })
            .collect::<BTreeMap<_, _>>();
        let start = locations.get("").copied().unwrap_or(document.start);
        out.push(Ok(Document {
            start,
            value: item.clone(),
            locations,
        }));
    }
}

/// `1.5 MiB`, `512 KiB`, `12 bytes`.
pub(crate) fn human_bytes(bytes: usize) -> String {
    #[allow(clippy::cast_precision_loss)] // display only
    let value = bytes as f64;
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", value / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.1} KiB", value / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests;
