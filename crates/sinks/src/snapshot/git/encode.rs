//! Byte encodings of the files the Git sink writes: YAML through Kollect's deterministic emitter
//! (`kollect_api::manifest::to_yaml`, DECISIONS D20), Go-compatible pretty JSON re-indented from
//! canonical JSON (so escaping and key order stay those of the export contract), compact NDJSON
//! lines, and deterministic gzip/zstd compression. Pure functions.

use std::io::{self, Write as _};

use kollect_api::row::TargetRow;
use serde_json::Value;

use super::config::{Format, Packing};

/// zstd level: the library default, a good ratio at several hundred MB/s.
const ZSTD_LEVEL: i32 = 3;

/// A value in canonical JSON (compact, Go `encoding/json` escaping and key order) written in
/// `format`: pretty JSON with a trailing newline, one NDJSON line, or a YAML document.
pub(super) fn document(canonical: &str, format: Format) -> Result<String, serde_json::Error> {
    Ok(match format {
        Format::Json => pretty_json(canonical),
        Format::Ndjson => format!("{canonical}\n"),
        Format::Yaml => yaml(canonical)?,
    })
}

/// Canonical JSON as a YAML document (keys sorted, block style).
pub(super) fn yaml(canonical: &str) -> Result<String, serde_json::Error> {
    let value: Value = serde_json::from_str(canonical)?;
    Ok(kollect_api::manifest::to_yaml(&value))
}

/// The document-mode file of `items` in YAML (a sequence of items; `[]` when empty) or NDJSON
/// (one item per line; empty when there is none). JSON document files are the envelope itself.
pub(super) fn item_list(items: &[TargetRow], format: Format) -> Result<String, serde_json::Error> {
    match format {
        Format::Ndjson => {
            let mut out = String::with_capacity(items.len() * 256);
            for item in items {
                item.write(&mut out);
                out.push('\n');
            }
            Ok(out)
        }
        Format::Yaml | Format::Json => {
            let values = items
                .iter()
                .map(|item| serde_json::from_str::<Value>(&item.encode()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(kollect_api::manifest::to_yaml(&Value::Array(values)))
        }
    }
}

/// Re-indents compact JSON the way Go's `json.MarshalIndent(v, "", "  ")` does, with a trailing
/// newline: strings are copied byte for byte, empty objects and arrays stay `{}` and `[]`.
pub(super) fn pretty_json(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() + compact.len() / 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// Compresses a data file. gzip carries no name and a zero mtime, so equal input gives equal
/// bytes (and an unchanged Git blob).
pub(super) fn pack(bytes: Vec<u8>, packing: Packing) -> io::Result<Vec<u8>> {
    match packing {
        Packing::None => Ok(bytes),
        Packing::Gzip => {
            let mut encoder = flate2::GzBuilder::new().mtime(0).write(
                Vec::with_capacity(bytes.len() / 4),
                flate2::Compression::default(),
            );
            encoder.write_all(&bytes)?;
            encoder.finish()
        }
        Packing::Zstd => zstd::bulk::compress(&bytes, ZSTD_LEVEL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_matches_go_marshal_indent() {
        let compact = r#"{"a":1,"b":[],"c":{},"d":[1,{"e":"x,y:{z}\"q"}],"f":"\u003c"}"#;
        assert_eq!(
            pretty_json(compact),
            "{\n  \"a\": 1,\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    1,\n    {\n      \"e\": \
             \"x,y:{z}\\\"q\"\n    }\n  ],\n  \"f\": \"\\u003c\"\n}\n"
        );
        assert_eq!(pretty_json("[]"), "[]\n");
    }

    #[test]
    fn compression_is_deterministic_and_round_trips() {
        let text = b"- name: api\n  kind: Deployment\n".repeat(50);
        for packing in [Packing::Gzip, Packing::Zstd] {
            let first = pack(text.clone(), packing).unwrap();
            assert_eq!(first, pack(text.clone(), packing).unwrap(), "{packing:?}");
            assert!(first.len() < text.len());
        }
        let gz = pack(text.clone(), Packing::Gzip).unwrap();
        let mut decoded = Vec::new();
        io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(gz.as_slice()),
            &mut decoded,
        )
        .unwrap();
        assert_eq!(decoded, text);
        let zst = pack(text.clone(), Packing::Zstd).unwrap();
        assert_eq!(zstd::bulk::decompress(&zst, text.len()).unwrap(), text);
    }
}
