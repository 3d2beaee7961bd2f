//! Deterministic YAML output: block style, keys sorted, two-space indentation, strings quoted only
//! when a plain scalar would read back as something else (DECISIONS D20).

use std::fmt::Write as _;

use serde_json::Value;

use super::scalar::resolve_plain;

/// Writes a JSON value as a YAML document (without a leading `---`), ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, value, 0),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, value, 0),
        scalar => {
            out.push_str(&inline(scalar, 2));
            out.push('\n');
        }
    }
    out
}

fn write_mapping(out: &mut String, value: &Value, indent: usize) {
    let Value::Object(map) = value else { return };
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (index, (key, child)) in entries.into_iter().enumerate() {
        // The first entry of a mapping nested in a sequence item shares the `- ` line.
        if index > 0 || !out.ends_with("- ") {
            pad(out, indent);
        }
        out.push_str(&scalar_string(key));
        out.push(':');
        write_child(out, child, indent);
    }
}

fn write_sequence(out: &mut String, value: &Value, indent: usize) {
    let Value::Array(items) = value else { return };
    for (index, item) in items.iter().enumerate() {
        if index > 0 || !out.ends_with("- ") {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_mapping(out, item, indent + 2),
            Value::Array(inner) if !inner.is_empty() => write_sequence(out, item, indent + 2),
            scalar => {
                out.push_str(&inline(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// Writes the value of a `key:` entry.
fn write_child(out: &mut String, child: &Value, indent: usize) {
    match child {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_mapping(out, child, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_sequence(out, child, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar, indent + 2));
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar or empty collection on one line (block scalars continue on following lines).
fn inline(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => match literal_block(text, indent) {
            Some(block) => block,
            None => scalar_string(text),
        },
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A string as a plain scalar when that reads back unchanged, else double-quoted.
fn scalar_string(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_owned()
    } else {
        double_quoted(text)
    }
}

fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let last = text.chars().last().unwrap_or(first);
    if first.is_whitespace() || last.is_whitespace() || last == ':' {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`=<".contains(first) {
        return false;
    }
    if text.contains(": ") || text.contains(" #") || text.contains(['\t', '\n', '\r']) {
        return false;
    }
    if text
        .chars()
        .any(|c| c.is_control() || c == '\u{feff}' || c == '\u{85}')
    {
        return false;
    }
    // `yes`, `1.0`, `null`, `0x1f` ... would read back as another type.
    matches!(resolve_plain(text), Ok(Value::String(ref same)) if same == text)
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal block (`|`, `|-`, `|+`) for readable multi-line strings, when it round-trips.
fn literal_block(text: &str, indent: usize) -> Option<String> {
    if !text.contains('\n') || text.starts_with([' ', '\t', '\n']) {
        return None;
    }
    if text
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{feff}')
    {
        return None;
    }
    let body = text.trim_end_matches('\n');
    let trailing = text.len() - body.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    // Lines that are only spaces would be read as part of the indentation: quote instead.
    if body
        .split('\n')
        .any(|line| !line.is_empty() && line.trim_matches(' ').is_empty())
    {
        return None;
    }
    let mut out = format!("|{chomp}");
    for line in text
        .split('\n')
        .take(body.split('\n').count() + trailing.saturating_sub(1))
    {
        out.push('\n');
        if !line.is_empty() {
            pad(&mut out, indent);
            out.push_str(line);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn writes_block_style_with_sorted_keys() {
        let value = json!({
            "b": [1, "two", {"z": null, "a": true}, [], {}],
            "a": {"nested": {"x": "why"}},
            "c": "",
        });
        let expected = "\
a:
  nested:
    x: why
b:
  - 1
  - two
  - a: true
    z: null
  - []
  - {}
c: \"\"
";
        assert_eq!(to_yaml(&value), expected);
    }

    #[test]
    fn quotes_ambiguous_strings() {
        for text in [
            "yes", "on", "1", "0755", "1.5", "null", "~", "- x", "a: b", "x #c", "", " x", "@a",
            "*a",
        ] {
            assert!(
                scalar_string(text).starts_with('"'),
                "{text:?} must be quoted"
            );
        }
        for text in [
            "v1",
            "kollect.dev/v1alpha1",
            "30s",
            "a-b_c",
            "héllo",
            "1.2.3",
            "http://x:80/y",
        ] {
            assert_eq!(scalar_string(text), text, "{text:?} can stay plain");
        }
    }

    #[test]
    fn multi_line_strings_use_literal_blocks() {
        let yaml = to_yaml(&json!({"a": "line one\nline two\n"}));
        assert_eq!(yaml, "a: |\n  line one\n  line two\n");
        let yaml = to_yaml(&json!({"a": "x\ny"}));
        assert_eq!(yaml, "a: |-\n  x\n  y\n");
    }
}
