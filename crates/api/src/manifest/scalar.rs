//! Resolution of plain (unquoted) YAML scalars to JSON values, as `kubectl` resolves them.
//!
//! `kubectl` reads YAML with go-yaml v2 (YAML 1.1 rules), so `yes`, `on` and `off` are
//! booleans and `0755` is an octal number. Kollect resolves the same way, so a value that would
//! reach the API server as a boolean is also validated as one.

use serde_json::{Number, Value};

/// YAML 1.1 spellings of true.
const TRUE: [&str; 11] = [
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
];
/// YAML 1.1 spellings of false.
const FALSE: [&str; 11] = [
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
];
/// Spellings of null.
const NULL: [&str; 5] = ["", "~", "null", "Null", "NULL"];

/// Resolves a plain scalar. `Err` holds a message for values JSON cannot represent.
pub(crate) fn resolve_plain(text: &str) -> Result<Value, String> {
    if NULL.contains(&text) {
        return Ok(Value::Null);
    }
    if TRUE.contains(&text) {
        return Ok(Value::Bool(true));
    }
    if FALSE.contains(&text) {
        return Ok(Value::Bool(false));
    }
    if let Some(number) = resolve_number(text)? {
        return Ok(Value::Number(number));
    }
    Ok(Value::String(text.to_owned()))
}

/// Resolves a scalar that carries an explicit core tag (`!!str`, `!!int`, ...).
pub(crate) fn resolve_tagged(text: &str, suffix: &str) -> Result<Value, String> {
    match suffix {
        "str" | "binary" | "timestamp" => Ok(Value::String(text.to_owned())),
        "null" => Ok(Value::Null),
        "bool" => match resolve_plain(text)? {
            value @ Value::Bool(_) => Ok(value),
            _ => Err(format!("{text:?} is tagged !!bool but is not a boolean")),
        },
        "int" | "float" => match resolve_number(text)? {
            Some(number) => Ok(Value::Number(number)),
            None => Err(format!("{text:?} is tagged !!{suffix} but is not a number")),
        },
        other => Err(format!(
            "the YAML tag !!{other} is not supported in manifests"
        )),
    }
}

fn resolve_number(text: &str) -> Result<Option<Number>, String> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Ok(None);
    }
    let special = digits.to_ascii_lowercase();
    if special == ".inf" || special == ".nan" {
        return Err(format!(
            "{text:?} is an infinite or NaN number, which JSON cannot hold; quote it if you mean \
             the text"
        ));
    }
    let radix_digits = if let Some(hex) = digits.strip_prefix("0x") {
        Some((hex, 16))
    } else if let Some(octal) = digits.strip_prefix("0o") {
        Some((octal, 8))
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        Some((&digits[1..], 8))
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        Some((digits, 10))
    } else {
        None
    };
    if let Some((body, radix)) = radix_digits {
        if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
            return Ok(None);
        }
        if let Ok(magnitude) = i128::from_str_radix(body, radix) {
            let value = if negative { -magnitude } else { magnitude };
            if let Ok(small) = i64::try_from(value) {
                return Ok(Some(Number::from(small)));
            }
            if let Ok(large) = u64::try_from(value) {
                return Ok(Some(Number::from(large)));
            }
        }
        // Too large for 64 bits: go-yaml falls back to a float, and so do we.
    }
    if is_float_syntax(digits) {
        let value: f64 = text
            .parse()
            .map_err(|_| format!("{text:?} is not a valid number"))?;
        return Number::from_f64(value)
            .map(Some)
            .ok_or_else(|| format!("{text:?} is too large to represent"));
    }
    Ok(None)
}

/// `[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?` or `\.[0-9]+([eE][-+]?[0-9]+)?`.
fn is_float_syntax(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(cut) => (&text[..cut], Some(&text[cut + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match fraction {
        Some(fraction) => {
            digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty())
        }
        None => !whole.is_empty() && digits(whole),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (fraction.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    #[rstest]
    #[case("", json!(null))]
    #[case("~", json!(null))]
    #[case("yes", json!(true))]
    #[case("On", json!(true))]
    #[case("n", json!(false))]
    #[case("off", json!(false))]
    #[case("42", json!(42))]
    #[case("-7", json!(-7))]
    #[case("+3", json!(3))]
    #[case("0755", json!(493))]
    #[case("0x1F", json!(31))]
    #[case("0o17", json!(15))]
    #[case("08", json!(8))]
    #[case("1.5", json!(1.5))]
    #[case(".5", json!(0.5))]
    #[case("1e3", json!(1000.0))]
    #[case("18446744073709551615", json!(18_446_744_073_709_551_615_u64))]
    #[case("1.2.3", json!("1.2.3"))]
    #[case("v1", json!("v1"))]
    #[case("30s", json!("30s"))]
    #[case("2024-01-01", json!("2024-01-01"))]
    #[case("0x", json!("0x"))]
    #[case("-", json!("-"))]
    #[case(".", json!("."))]
    #[case("e3", json!("e3"))]
    fn resolves_like_kubectl(#[case] text: &str, #[case] expected: Value) {
        assert_eq!(resolve_plain(text), Ok(expected));
    }

    #[test]
    fn special_floats_are_errors() {
        assert!(resolve_plain(".inf").is_err());
        assert!(resolve_plain("-.Inf").is_err());
        assert!(resolve_plain(".NaN").is_err());
    }

    #[test]
    fn tags() {
        assert_eq!(resolve_tagged("yes", "str"), Ok(json!("yes")));
        assert_eq!(resolve_tagged("12", "int"), Ok(json!(12)));
        assert!(resolve_tagged("x", "int").is_err());
        assert!(resolve_tagged("x", "set").is_err());
    }
}
