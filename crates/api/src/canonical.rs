//! Canonical JSON: the exact bytes Go's `encoding/json` writes for Kollect's export payloads
//! (pipeline spec §5.2). Checksums are computed over these bytes, so a team switching from the
//! Go original keeps its checksums, and the same content always hashes the same.
//!
//! * compact, object members sorted byte-wise by key;
//! * strings: `"` `\` escaped, `\b \f \n \r \t` short forms, other controls as `\u00xx`,
//!   HTML-safe `<` `>` `&` as `\u003c` `\u003e` `\u0026`, U+2028/U+2029 escaped, everything else
//!   (including U+007F and non-ASCII) as is;
//! * numbers from Kubernetes objects: integers that fit `i64` as they are, every other number
//!   as a 64-bit float in ECMAScript notation (`4.0` → `4`, `1e21` → `1e+21`, `1e-7`);
//! * non-finite floats cannot be written: [`NonFinite`].

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// A NaN or infinite float, which JSON cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("NaN or infinite numbers cannot be encoded as JSON")]
pub struct NonFinite;

/// Decides whether a map entry is replaced by the redaction marker while encoding.
pub trait Redact {
    /// True when the entry `key: value` must not leave in clear.
    fn redact(&self, key: &str, value: &Value) -> bool;
}

/// Redacts nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRedaction;

impl Redact for NoRedaction {
    fn redact(&self, _key: &str, _value: &Value) -> bool {
        false
    }
}

/// The value written in place of a redacted entry.
pub const REDACTED: &str = r#"{"redacted":true,"reason":"sensitive-key"}"#;

/// Appends the canonical encoding of `value`.
pub fn write_value(out: &mut String, value: &Value) {
    write_value_redacted(out, value, &NoRedaction);
}

/// Appends the canonical encoding of `value`, replacing map entries `redact` selects (at any
/// depth) by [`REDACTED`] without descending into them.
pub fn write_value_redacted(out: &mut String, value: &Value, redact: &dyn Redact) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value_redacted(out, item, redact);
            }
            out.push(']');
        }
        Value::Object(map) => write_map(out, map, redact),
    }
}

fn write_map(out: &mut String, map: &Map<String, Value>, redact: &dyn Redact) {
    out.push('{');
    let sorted = map
        .keys()
        .zip(map.keys().skip(1))
        .all(|(a, b)| a.as_bytes() < b.as_bytes());
    let mut write_entry = |index: usize, key: &str, value: &Value| {
        if index > 0 {
            out.push(',');
        }
        write_str(out, key);
        out.push(':');
        if redact.redact(key, value) {
            out.push_str(REDACTED);
        } else {
            write_value_redacted(out, value, redact);
        }
    };
    if sorted {
        for (index, (key, value)) in map.iter().enumerate() {
            write_entry(index, key, value);
        }
    } else {
        // Only reached when serde_json keeps insertion order (its `preserve_order` feature).
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (index, (key, value)) in entries.into_iter().enumerate() {
            write_entry(index, key, value);
        }
    }
    out.push('}');
}

/// Appends a number decoded from a Kubernetes object: integers that fit `i64` exactly, every
/// other number as a float (the Go original decodes such numbers as `float64`).
pub fn write_number(out: &mut String, number: &serde_json::Number) {
    if let Some(integer) = number.as_i64() {
        let _ = write!(out, "{integer}");
    } else if let Some(float) = number.as_f64() {
        // serde_json numbers are always finite.
        let _ = write_f64(out, float);
    }
}

/// Appends an unsigned integer exactly (for values that are `uint64` in Go, such as CEL `uint`).
pub fn write_u64(out: &mut String, value: u64) {
    let _ = write!(out, "{value}");
}

/// Appends a float in ECMAScript notation, as Go's `encoding/json` writes `float64`.
pub fn write_f64(out: &mut String, value: f64) -> Result<(), NonFinite> {
    if !value.is_finite() {
        return Err(NonFinite);
    }
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() { "-0" } else { "0" });
        return Ok(());
    }
    // `{:e}` gives the shortest round-trip digits: `d[.ddd]e<exp>`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    let magnitude = value.abs();
    if (1e-6..1e21).contains(&magnitude) {
        write_positional(out, &digits, exponent);
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    }
    Ok(())
}

/// `digits` × 10^(exponent − len + 1) written without an exponent.
fn write_positional(out: &mut String, digits: &str, exponent: i32) {
    let point = exponent + 1; // digits before the decimal point
    let length = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(digits);
    } else if point >= length {
        out.push_str(digits);
        for _ in 0..point - length {
            out.push('0');
        }
    } else {
        let split = usize::try_from(point).unwrap_or(digits.len());
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    }
}

/// Appends a JSON string with Go's escaping rules.
pub fn write_str(out: &mut String, text: &str) {
    out.push('"');
    // Nearly every name, uid and label needs no escape: copy those whole. Everything escaped
    // is ASCII except U+2028/U+2029, whose UTF-8 encodings start with 0xE2.
    let plain = |b: &u8| *b >= 0x20 && !matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xE2);
    if text.as_bytes().iter().all(plain) {
        out.push_str(text);
    } else {
        write_escaped(out, text);
    }
    out.push('"');
}

/// The body of a string with escapes, without quotes.
fn write_escaped(out: &mut String, text: &str) {
    let mut start = 0;
    for (index, c) in text.char_indices() {
        let escape: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '<' => Some("\\u003c"),
            '>' => Some("\\u003e"),
            '&' => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if u32::from(c) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&text[start..index]);
        match escape {
            Some(escape) => out.push_str(escape),
            None => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
        }
        start = index + c.len_utf8();
    }
    out.push_str(&text[start..]);
}

/// The canonical encoding of `value` as a new string.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn float(value: f64) -> String {
        let mut out = String::new();
        write_f64(&mut out, value).expect("finite");
        out
    }

    #[rstest]
    #[case(4.0, "4")]
    #[case(0.25, "0.25")]
    #[case(1e20, "100000000000000000000")]
    #[case(1e21, "1e+21")]
    #[case(0.000_001, "0.000001")]
    #[case(1e-7, "1e-7")]
    #[case(1.5e-10, "1.5e-10")]
    #[case(1.2345e300, "1.2345e+300")]
    #[case(1.234_567_890_123_456_8e17, "123456789012345680")]
    #[case(-0.0, "-0")]
    #[case(0.0, "0")]
    #[case(-2.5, "-2.5")]
    #[case(123.456, "123.456")]
    #[case(18_446_744_073_709_551_615.0, "18446744073709552000")]
    fn floats_like_go(#[case] value: f64, #[case] expected: &str) {
        assert_eq!(float(value), expected);
    }

    #[test]
    fn non_finite_floats_are_refused() {
        let mut out = String::new();
        assert_eq!(write_f64(&mut out, f64::NAN), Err(NonFinite));
        assert_eq!(write_f64(&mut out, f64::INFINITY), Err(NonFinite));
    }

    #[test]
    fn strings_like_go() {
        let mut out = String::new();
        write_str(
            &mut out,
            "a\"b\\c\n\r\t\u{8}\u{c}\u{1}<>&\u{2028}\u{2029}\u{7f}é😀",
        );
        let expected = concat!(
            r#""a\"b\\c\n\r\t\b\f\u0001\u003c\u003e\u0026\u2028\u2029"#,
            "\u{7f}é😀\""
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn plain_strings_take_the_short_path_and_nothing_else_does() {
        let samples: Vec<String> = (0..=0x7f_u32)
            .chain([0xe9, 0x2027, 0x2028, 0x2029, 0x202a, 0x1f600])
            .filter_map(char::from_u32)
            .map(|c| format!("ab{c}cd"))
            .collect();
        for text in &samples {
            let mut fast = String::new();
            write_str(&mut fast, text);
            let mut slow = String::from('"');
            write_escaped(&mut slow, text);
            slow.push('"');
            assert_eq!(fast, slow, "{text:?}");
        }
    }

    #[test]
    fn numbers_from_objects() {
        assert_eq!(
            to_string(&json!([
                3,
                -7,
                1.0,
                1e3,
                0.5,
                18_446_744_073_709_551_615_u64
            ])),
            "[3,-7,1,1000,0.5,18446744073709552000]"
        );
    }

    #[test]
    fn maps_are_sorted_and_compact() {
        let value = json!({"b": {"z": 1, "a": [true, null]}, "a": "x", "B": 2});
        assert_eq!(
            to_string(&value),
            r#"{"B":2,"a":"x","b":{"a":[true,null],"z":1}}"#
        );
    }

    #[test]
    fn redaction_replaces_entries_without_descending() {
        struct Secrets;
        impl Redact for Secrets {
            fn redact(&self, key: &str, _value: &Value) -> bool {
                key == "password"
            }
        }
        let value = json!({"db": {"host": "h", "password": {"nested": 1}}, "password": "top"});
        let mut out = String::new();
        write_value_redacted(&mut out, &value, &Secrets);
        assert_eq!(
            out,
            r#"{"db":{"host":"h","password":{"redacted":true,"reason":"sensitive-key"}},"password":{"redacted":true,"reason":"sensitive-key"}}"#
        );
    }
}
