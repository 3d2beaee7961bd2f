//! The row schema of Parquet and CSV objects: one row per item, identity columns, promoted
//! ("hot") attributes as their own columns, and the whole attribute map as JSON.
//!
//! Columns are in ascending name order (the Go original's writer sorts them), so the schema
//! depends only on the sink's `hotAttributes` and their types, never on the data:
//!
//! ```text
//! api_version, attr_<hot>…, attributes, cluster, exported_at, group, inventory_name,
//! inventory_namespace, kind, name, namespace, target_name, target_namespace, uid
//! ```
//!
//! A hot attribute's column is text unless its [`AttributeType`] (from the profiles' `type`
//! hints, through [`TypeHints`]) says integer, float or boolean. The reference is
//! `docs/reference/parquet.md`.

use std::{collections::BTreeMap, fmt, fmt::Write as _};

use chrono::{DateTime, Utc};
use kollect_api::{canonical, v1alpha1::ProfileSpec};
use kollect_export::InventoryKey;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::config::HotAttribute;

/// The type of a promoted attribute's column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AttributeType {
    /// Text: strings as they are, numbers as Go's `%v` prints them, booleans as `true`/`false`,
    /// lists and maps as compact JSON. The Go original's only type.
    #[default]
    Text,
    /// 64-bit signed integer: integral numbers, and strings holding one.
    Integer,
    /// 64-bit float: numbers, and strings holding one.
    Float,
    /// Boolean: booleans, and the strings `true` and `false`.
    Boolean,
}

impl AttributeType {
    /// The type a profile attribute's `type` hint asks for: `int`, `integer`, `int32`, `int64`,
    /// `long` → integer; `float`, `float64`, `double`, `number` → float; `bool`, `boolean` →
    /// boolean; anything else (`string`, `list`, `map`, …) → text.
    pub fn from_hint(hint: &str) -> Self {
        match hint.trim().to_ascii_lowercase().as_str() {
            "int" | "integer" | "int32" | "int64" | "long" => Self::Integer,
            "float" | "float64" | "double" | "number" => Self::Float,
            "bool" | "boolean" => Self::Boolean,
            _ => Self::Text,
        }
    }

    /// The name used in docs and the export marker: `string`, `int64`, `double`, `boolean`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "string",
            Self::Integer => "int64",
            Self::Float => "double",
            Self::Boolean => "boolean",
        }
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the types of promoted attributes come from: the profiles of an inventory's targets,
/// which the sink does not see. The binary supplies an implementation; without one every
/// promoted column is text.
pub trait TypeHints: Send + Sync + 'static {
    /// The type of `attribute` in exports of `inventory`, when a profile declares one.
    fn attribute_type(&self, inventory: &InventoryKey, attribute: &str) -> Option<AttributeType>;
}

/// The same types for every inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticTypeHints(BTreeMap<String, AttributeType>);

impl StaticTypeHints {
    /// No types: every promoted column is text.
    pub fn new() -> Self {
        Self::default()
    }

    /// `attribute` has type `ty`.
    #[must_use]
    pub fn with(mut self, attribute: impl Into<String>, ty: AttributeType) -> Self {
        self.0.insert(attribute.into(), ty);
        self
    }

    /// The `type` hints of the profiles' attributes. An attribute that profiles type
    /// differently becomes text, which holds every value.
    pub fn from_profiles<'a>(profiles: impl IntoIterator<Item = &'a ProfileSpec>) -> Self {
        let mut types: BTreeMap<String, AttributeType> = BTreeMap::new();
        for attribute in profiles.into_iter().flat_map(ProfileSpec::attributes) {
            let Some(hint) = attribute.type_hint.as_deref() else {
                continue;
            };
            let ty = AttributeType::from_hint(hint);
            types
                .entry(attribute.name.clone())
                .and_modify(|known| {
                    if *known != ty {
                        *known = AttributeType::Text;
                    }
                })
                .or_insert(ty);
        }
        Self(types)
    }
}

impl TypeHints for StaticTypeHints {
    fn attribute_type(&self, _inventory: &InventoryKey, attribute: &str) -> Option<AttributeType> {
        self.0.get(attribute).copied()
    }
}

/// One column of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    ApiVersion,
    /// The promoted attribute at this index of [`Columns::hot`].
    Hot(usize),
    Attributes,
    Cluster,
    ExportedAt,
    Group,
    InventoryName,
    InventoryNamespace,
    Kind,
    Name,
    Namespace,
    TargetName,
    TargetNamespace,
    Uid,
}

/// The identity columns, each with its name, in name order (the hot columns go after
/// `api_version`).
const FIXED: [(Column, &str); 13] = [
    (Column::ApiVersion, "api_version"),
    (Column::Attributes, "attributes"),
    (Column::Cluster, "cluster"),
    (Column::ExportedAt, "exported_at"),
    (Column::Group, "group"),
    (Column::InventoryName, "inventory_name"),
    (Column::InventoryNamespace, "inventory_namespace"),
    (Column::Kind, "kind"),
    (Column::Name, "name"),
    (Column::Namespace, "namespace"),
    (Column::TargetName, "target_name"),
    (Column::TargetNamespace, "target_namespace"),
    (Column::Uid, "uid"),
];

/// A promoted attribute with its column type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HotColumn {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) ty: AttributeType,
}

/// The columns of one export's objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Columns {
    hot: Vec<HotColumn>,
    order: Vec<(Column, String)>,
}

impl Columns {
    /// The columns for `inventory`: the sink's hot attributes, typed by `hints`.
    pub(crate) fn new(
        hot: &[HotAttribute],
        hints: Option<&dyn TypeHints>,
        inventory: &InventoryKey,
    ) -> Self {
        let mut hot: Vec<HotColumn> = hot
            .iter()
            .map(|attribute| HotColumn {
                key: attribute.key().to_owned(),
                name: attribute.column().to_owned(),
                ty: hints
                    .and_then(|hints| hints.attribute_type(inventory, attribute.key()))
                    .unwrap_or_default(),
            })
            .collect();
        hot.sort_by(|a, b| a.name.cmp(&b.name));
        let mut order: Vec<(Column, String)> = FIXED
            .iter()
            .map(|(column, name)| (*column, (*name).to_owned()))
            .chain(
                hot.iter()
                    .enumerate()
                    .map(|(index, column)| (Column::Hot(index), column.name.clone())),
            )
            .collect();
        order.sort_by(|a, b| a.1.cmp(&b.1));
        Self { hot, order }
    }

    /// The promoted attributes, in column order.
    pub(crate) fn hot(&self) -> &[HotColumn] {
        &self.hot
    }

    /// Every column with its name, in name order.
    pub(crate) fn order(&self) -> &[(Column, String)] {
        &self.order
    }

    /// The promoted columns and their types, for the export marker: `attr_image:string,…`.
    pub(crate) fn describe(&self) -> String {
        let mut text = String::new();
        for (index, column) in self.hot.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            let _ = write!(text, "{}={}:{}", column.name, column.key, column.ty);
        }
        text
    }
}

/// What every row of one object shares.
#[derive(Clone, Debug)]
pub(crate) struct RowContext {
    /// `cluster`: the envelope's cluster, else `spec.cluster`, else `default`.
    pub(crate) cluster: String,
    /// `inventory_namespace`: the namespace, `cluster` for a cluster inventory.
    pub(crate) inventory_namespace: String,
    /// `inventory_name`: with `.part-NNNN-of-MMMM` for a part of several (sinks spec §1.8).
    pub(crate) inventory_name: String,
    /// `exported_at`: the export's instant, shared by every part.
    pub(crate) exported_at: DateTime<Utc>,
}

/// One promoted value, converted to its column's type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
}

impl Cell {
    /// The value of attribute `value` in a column of type `ty`. A value that does not fit the
    /// type is null; it stays in `attributes`.
    pub(crate) fn new(ty: AttributeType, value: Option<&Value>) -> Self {
        let Some(value) = value else {
            return Self::Null;
        };
        match ty {
            AttributeType::Text => text_cell(value),
            AttributeType::Integer => integer(value).map_or(Self::Null, Self::Integer),
            AttributeType::Float => float(value).map_or(Self::Null, Self::Float),
            AttributeType::Boolean => boolean(value).map_or(Self::Null, Self::Boolean),
        }
    }

    /// The cell as CSV text (`""` for null).
    pub(crate) fn to_text(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Text(text) => text.clone(),
            Self::Integer(value) => value.to_string(),
            Self::Float(value) => value.to_string(),
            Self::Boolean(value) => value.to_string(),
        }
    }
}

/// Sinks spec §9.4: missing, null or empty string → null; strings as they are; booleans as
/// `true`/`false`; numbers as Go's `%v`; lists and maps as compact JSON (§1.3).
fn text_cell(value: &Value) -> Cell {
    match value {
        Value::Null => Cell::Null,
        Value::String(text) if text.is_empty() => Cell::Null,
        Value::String(text) => Cell::Text(text.clone()),
        Value::Bool(flag) => Cell::Text(flag.to_string()),
        Value::Number(number) => number
            .as_f64()
            .map_or(Cell::Null, |float| Cell::Text(go_float(float))),
        Value::Array(_) | Value::Object(_) => Cell::Text(canonical::to_string(value)),
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            let float = number.as_f64()?;
            // Integral floats inside i64's range (2^63 is exactly representable).
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let in_range = float.fract() == 0.0 && float.abs() < 9_223_372_036_854_775_808.0;
            #[allow(clippy::cast_possible_truncation)]
            in_range.then_some(float as i64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => match text.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A float as Go's `%v` prints it (`strconv.FormatFloat(f, 'g', -1, 64)`): the shortest digits
/// that round-trip; plain notation for decimal exponents −4 to 5, else `d[.ddd]e±XX` with at
/// least two exponent digits (`2`, `0.5`, `100000`, `1e+06`, `1.234567e+06`, `1e-05`).
pub(crate) fn go_float(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.234567e6`, `1e-5`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::from(sign);
    if !(-4..6).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
    } else if exponent >= 0 {
        let whole = usize::try_from(exponent).unwrap_or(0) + 1;
        if digits.len() <= whole {
            out.push_str(&digits);
            out.push_str(&"0".repeat(whole - digits.len()));
        } else {
            out.push_str(&digits[..whole]);
            out.push('.');
            out.push_str(&digits[whole..]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0".repeat(usize::try_from(-exponent - 1).unwrap_or(0)));
        out.push_str(&digits);
    }
    out
}

/// Reads only the promoted keys of a row's canonical attribute JSON; every other value is
/// skipped without being built.
pub(crate) fn hot_values(attributes_json: &str, hot: &[HotColumn]) -> Vec<Option<Value>> {
    if hot.is_empty() {
        return Vec::new();
    }
    let mut deserializer = serde_json::Deserializer::from_str(attributes_json);
    HotSeed { hot }
        .deserialize(&mut deserializer)
        .unwrap_or_else(|_| vec![None; hot.len()])
}

struct HotSeed<'a> {
    hot: &'a [HotColumn],
}

impl<'de> DeserializeSeed<'de> for HotSeed<'_> {
    type Value = Vec<Option<Value>>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HotSeed<'_> {
    type Value = Vec<Option<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute map or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(vec![None; self.hot.len()])
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.hot.len()];
        while let Some(key) = map.next_key::<String>()? {
            match self.hot.iter().position(|column| column.key == key) {
                Some(index) => values[index] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}
