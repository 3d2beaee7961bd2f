//! Go-compatible duration strings (`500ms`, `1h30m`, `-1s`, `0`).
//!
//! Kollect's CRDs carry durations as strings in Go's `time.ParseDuration` syntax so that manifests
//! written for the Go original keep working. [`Duration`] keeps the text exactly as written (so an
//! object round-trips byte for byte) next to its value in nanoseconds.

use std::{borrow::Cow, fmt, str::FromStr};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Regular expression accepted by the CRD schema for duration fields. It mirrors the grammar of
/// [`Duration::from_str`] so that the API server rejects what Kollect would fail to parse.
pub const DURATION_PATTERN: &str =
    r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

/// Longest string accepted as a duration; keeps regular-expression cost in CRD validation bounded.
pub const DURATION_MAX_LENGTH: u64 = 64;

const NANOS_PER_UNIT: [(&str, u128); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
    // Kept last so that "ms" and "ns" are matched before "m" and "s"; see `split_unit`.
    ("", 0),
];

/// A signed duration written in Go syntax.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Duration {
    text: String,
    nanos: i64,
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty.
    #[error("must not be empty; write a duration such as \"30s\", \"5m\" or \"1h30m\"")]
    Empty,
    /// The string does not follow the grammar.
    #[error(
        "{0:?} is not a duration; write a number followed by a unit (ns, us, ms, s, m, h), \
         such as \"30s\", \"1m30s\" or \"1.5h\""
    )]
    Syntax(String),
    /// A unit is missing or unknown.
    #[error(
        "{text:?} has an unknown or missing unit {unit:?}; valid units are ns, us, ms, s, m, h"
    )]
    Unit {
        /// The whole input.
        text: String,
        /// The unit that was found.
        unit: String,
    },
    /// The value does not fit in 64-bit nanoseconds (about 292 years).
    #[error("{0:?} is too large; durations must be shorter than 292 years")]
    Overflow(String),
}

impl Duration {
    /// The zero duration, written `0s`.
    pub fn zero() -> Self {
        Self {
            text: "0s".to_owned(),
            nanos: 0,
        }
    }

    /// A duration of whole seconds, written in Go's canonical form.
    pub fn from_secs(secs: i64) -> Self {
        let nanos = secs.saturating_mul(1_000_000_000);
        Self {
            text: format_go(nanos),
            nanos,
        }
    }

    /// The value in nanoseconds (negative for negative durations).
    pub fn as_nanos(&self) -> i64 {
        self.nanos
    }

    /// The value as a [`std::time::Duration`], or `None` when it is negative.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos)
            .ok()
            .map(std::time::Duration::from_nanos)
    }

    /// The text exactly as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value in Go's canonical `time.Duration.String()` form (`1h0m0s`, `1.5s`, `0s`).
    pub fn canonical(&self) -> String {
        format_go(self.nanos)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_go(text).map(|nanos| Self {
            text: text.to_owned(),
            nanos,
        })
    }
}

impl TryFrom<String> for Duration {
    type Error = DurationError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        parse_go(&text).map(|nanos| Self { text, nanos })
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::try_from(text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": DURATION_MAX_LENGTH,
        })
    }
}

/// Parses Go duration syntax into signed nanoseconds.
fn parse_go(text: &str) -> Result<i64, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let (negative, mut rest) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(DurationError::Syntax(text.to_owned()));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (number, after_number) = split_number(rest).ok_or_else(|| syntax(text))?;
        let (unit, after_unit) = split_unit(after_number);
        let scale = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| !name.is_empty() && *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(|| DurationError::Unit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            })?;
        total = total
            .checked_add(number.scaled(scale).ok_or_else(|| overflow(text))?)
            .ok_or_else(|| overflow(text))?;
        rest = after_unit;
    }
    let limit = if negative {
        1u128 << 63
    } else {
        (1u128 << 63) - 1
    };
    if total > limit {
        return Err(overflow(text));
    }
    let magnitude = i128::try_from(total).map_err(|_| overflow(text))?;
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| overflow(text))
}

fn syntax(text: &str) -> DurationError {
    DurationError::Syntax(text.to_owned())
}

fn overflow(text: &str) -> DurationError {
    DurationError::Overflow(text.to_owned())
}

/// A decimal number split into its integer digits and fraction digits.
struct Number<'a> {
    whole: &'a str,
    fraction: &'a str,
}

impl Number<'_> {
    /// `whole.fraction × scale`, truncated towards zero as Go does.
    fn scaled(&self, scale: u128) -> Option<u128> {
        let whole: u128 = if self.whole.is_empty() {
            0
        } else {
            self.whole.parse().ok()?
        };
        let mut value = whole.checked_mul(scale)?;
        let mut divisor: u128 = 1;
        let mut fraction: u128 = 0;
        for digit in self.fraction.bytes().take(30) {
            fraction = fraction * 10 + u128::from(digit - b'0');
            divisor *= 10;
        }
        value = value.checked_add(fraction.checked_mul(scale)? / divisor)?;
        Some(value)
    }
}

fn split_number(input: &str) -> Option<(Number<'_>, &str)> {
    let bytes = input.as_bytes();
    let whole_end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    let whole = &input[..whole_end];
    let mut rest = &input[whole_end..];
    let mut fraction = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let end = after_dot
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(after_dot.len());
        fraction = &after_dot[..end];
        rest = &after_dot[end..];
    }
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    Some((Number { whole, fraction }, rest))
}

fn split_unit(input: &str) -> (&str, &str) {
    let end = input
        .char_indices()
        .find(|(_, c)| c.is_ascii_digit() || *c == '.')
        .map_or(input.len(), |(index, _)| index);
    input.split_at(end)
}

/// Formats nanoseconds like Go's `time.Duration.String()`.
fn format_go(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let negative = nanos < 0;
    let magnitude = nanos.unsigned_abs();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if magnitude < 1_000_000_000 {
        let (value, unit, digits) = if magnitude < 1_000 {
            (magnitude, "ns", 0)
        } else if magnitude < 1_000_000 {
            (magnitude, "µs", 3)
        } else {
            (magnitude, "ms", 6)
        };
        out.push_str(&fraction_text(value, digits));
        out.push_str(unit);
        return out;
    }
    let hours = magnitude / 3_600_000_000_000;
    let minutes = (magnitude / 60_000_000_000) % 60;
    let seconds_nanos = magnitude % 60_000_000_000;
    if hours > 0 {
        out.push_str(&hours.to_string());
        out.push('h');
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&minutes.to_string());
        out.push('m');
    }
    out.push_str(&fraction_text(seconds_nanos, 9));
    out.push('s');
    out
}

/// `value / 10^digits` with trailing zeros of the fraction removed.
fn fraction_text(value: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let whole = value / scale;
    let fraction = value % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = usize::try_from(digits).unwrap_or(9);
    let fraction = format!("{fraction:0width$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("0", 0)]
    #[case("0s", 0)]
    #[case("-0", 0)]
    #[case("500ms", 500_000_000)]
    #[case("30s", 30_000_000_000)]
    #[case("1m", 60_000_000_000)]
    #[case("1h30m", 5_400_000_000_000)]
    #[case("1.5h", 5_400_000_000_000)]
    #[case(".5s", 500_000_000)]
    #[case("1.s", 1_000_000_000)]
    #[case("-1s", -1_000_000_000)]
    #[case("+2m", 120_000_000_000)]
    #[case("1us", 1_000)]
    #[case("1µs", 1_000)]
    #[case("1μs", 1_000)]
    #[case("-1ns", -1)]
    #[case("24h", 86_400_000_000_000)]
    #[case("2h45m30.5s", 9_930_500_000_000)]
    #[case("9223372036854775807ns", i64::MAX)]
    #[case("-9223372036854775808ns", i64::MIN)]
    fn parses_go_durations(#[case] text: &str, #[case] nanos: i64) {
        let parsed: Duration = text.parse().expect("valid duration");
        assert_eq!(parsed.as_nanos(), nanos);
        assert_eq!(parsed.as_str(), text);
    }

    #[rstest]
    #[case("")]
    #[case("1")]
    #[case("s")]
    #[case("1x")]
    #[case("1 s")]
    #[case("-")]
    #[case(".s")]
    #[case("1d")]
    #[case("5 minutes")]
    #[case("9223372036854775808ns")]
    #[case("300000000h")]
    #[case("1e3s")]
    fn rejects_invalid_durations(#[case] text: &str) {
        assert!(
            text.parse::<Duration>().is_err(),
            "{text:?} should be rejected"
        );
    }

    #[test]
    fn pattern_agrees_with_parser() {
        let pattern = regex::Regex::new(DURATION_PATTERN).expect("pattern compiles");
        for text in [
            "0", "-0", "0s", "1h30m", ".5s", "1.s", "-1ns", "+2m", "1µs", "1μs", "1", "s", "1 s",
            "1x", "", ".s", "1d", "5m3", "1e3s",
        ] {
            // The pattern does not check overflow, so only compare on non-overflowing inputs.
            assert_eq!(
                pattern.is_match(text),
                text.parse::<Duration>().is_ok(),
                "pattern and parser disagree on {text:?}"
            );
        }
    }

    #[rstest]
    #[case(0, "0s")]
    #[case(1, "1ns")]
    #[case(1_500, "1.5µs")]
    #[case(1_500_000, "1.5ms")]
    #[case(1_000_000_000, "1s")]
    #[case(1_500_000_000, "1.5s")]
    #[case(60_000_000_000, "1m0s")]
    #[case(3_600_000_000_000, "1h0m0s")]
    #[case(5_430_000_000_000, "1h30m30s")]
    #[case(-60_000_000_000, "-1m0s")]
    fn formats_like_go(#[case] nanos: i64, #[case] text: &str) {
        assert_eq!(format_go(nanos), text);
    }

    #[test]
    fn serde_round_trip_keeps_the_text() {
        let parsed: Duration = serde_json::from_str("\"1h0m\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&parsed).expect("serialises"),
            "\"1h0m\""
        );
        assert_eq!(parsed.canonical(), "1h0m0s");
        let error = serde_json::from_str::<Duration>("\"soon\"").expect_err("invalid");
        assert!(error.to_string().contains("is not a duration"), "{error}");
    }
}
