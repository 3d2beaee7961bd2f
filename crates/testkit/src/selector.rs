//! Label and field selectors, as the `labelSelector` and `fieldSelector` query parameters and the
//! structured `metav1.LabelSelector` JSON form express them.
//!
//! The label selector grammar is the Kubernetes one: comma-separated requirements, each one of
//! `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`,
//! `key > 5` or `key < 5`, with whitespace allowed around tokens. Keys must be qualified names
//! and values label values, both checked as the apiserver checks them. The field selector form is
//! comma-separated `field=value`, `field==value` or `field!=value`, where `\,`, `\=` and `\\`
//! escape those characters in values.

use serde_json::{Map, Value};

/// A parse error; the server answers 400 `BadRequest` with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SelectorError(pub(crate) String);

/// The longest label value, and the longest name part of a qualified name.
const MAX_LABEL_LEN: usize = 63;
/// The longest DNS subdomain, the prefix of a qualified name.
const MAX_SUBDOMAIN_LEN: usize = 253;

/// How a label requirement compares an object's label with its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key=value` or `key==value`: the label is present with that value.
    Equals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (..)`: the label is present with one of the values.
    In,
    /// `key notin (..)`: the label is absent or has none of the values.
    NotIn,
    /// `key > n`: the label is present, an integer, and greater than `n`.
    GreaterThan,
    /// `key < n`: the label is present, an integer, and less than `n`.
    LessThan,
}

/// One requirement of a label selector; all of a selector's requirements must hold.
#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    /// The label key, a qualified name.
    key: String,
    /// How the label is compared.
    op: Operator,
    /// The values, sorted and without duplicates (empty for `Exists` and `DoesNotExist`).
    values: Vec<String>,
}

impl Requirement {
    /// Checks and builds a requirement, as the apiserver's requirement constructor does.
    fn new(key: &str, op: Operator, mut values: Vec<String>) -> Result<Self, SelectorError> {
        validate_qualified_name(key)?;
        match op {
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err(SelectorError(format!(
                        "values: Invalid value: {values:?}: values set must be empty for exists \
                         and does not exist"
                    )));
                }
            }
            Operator::Equals | Operator::NotEquals => {
                if values.len() != 1 {
                    return Err(SelectorError(format!(
                        "values: Invalid value: {values:?}: exact-match compatibility requires \
                         one single value"
                    )));
                }
            }
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    return Err(SelectorError(
                        "values: Invalid value: []: for 'in', 'notin' operators, values set \
                         can't be empty"
                            .to_owned(),
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(SelectorError(format!(
                        "values: Invalid value: {values:?}: for 'Gt', 'Lt' operators, exactly \
                         one value is required"
                    )));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        return Err(SelectorError(format!(
                            "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value \
                             must be an integer",
                            crate::status::go_quote(v)
                        )));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            validate_label_value(key, i, v)?;
        }
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_owned(),
            op,
            values,
        })
    }

    /// Whether an object with these labels satisfies the requirement.
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        // A label that is present but not a string (never the case for stored objects) counts as
        // present with a value that equals nothing.
        let label = labels.and_then(|l| l.get(&self.key));
        let value = label.and_then(Value::as_str);
        let has_value = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Operator::Exists => label.is_some(),
            Operator::DoesNotExist => label.is_none(),
            Operator::Equals | Operator::In => value.is_some_and(has_value),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(has_value),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let Some(bound) = self.values.first().and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                if self.op == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

/// A parsed label selector (the `labelSelector` query parameter string form).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector {
    /// The requirements, in the order written; all must hold.
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the string form; the empty (or all-blank) string selects everything.
    pub(crate) fn parse(s: &str) -> Result<Self, SelectorError> {
        let tokens = lex(s);
        let mut parser = Parser {
            tokens: &tokens,
            pos: 0,
        };
        let requirements = parser.parse()?;
        Ok(Self { requirements })
    }

    /// Whether an object matches. `labels` is the object's `metadata.labels` (absent = no labels).
    pub(crate) fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no requirement, and so selects everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Builds a selector from the structured `metav1.LabelSelector` JSON form
    /// (`{"matchLabels": {...}, "matchExpressions": [{"key","operator":"In|NotIn|Exists|DoesNotExist","values":[..]}]}`),
    /// as found in RoleBinding-free places like webhook `namespaceSelector`/`objectSelector`.
    /// Null/absent/{} = match everything.
    pub(crate) fn from_json(v: &Value) -> Result<Self, SelectorError> {
        let obj = match v {
            Value::Null => return Ok(Self::default()),
            Value::Object(obj) => obj,
            other => {
                return Err(SelectorError(format!(
                    "Invalid value: {other}: a label selector must be an object"
                )));
            }
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let Some(value) = value.as_str() else {
                        return Err(SelectorError(format!(
                            "matchLabels[{key}]: Invalid value: {value}: must be a string"
                        )));
                    };
                    let req = Requirement::new(key, Operator::Equals, vec![value.to_owned()])
                        .map_err(|e| SelectorError(format!("matchLabels: {e}")))?;
                    requirements.push(req);
                }
            }
            Some(other) => {
                return Err(SelectorError(format!(
                    "matchLabels: Invalid value: {other}: must be an object of strings"
                )));
            }
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for (i, expr) in exprs.iter().enumerate() {
                    requirements.push(expression_from_json(i, expr)?);
                }
            }
            Some(other) => {
                return Err(SelectorError(format!(
                    "matchExpressions: Invalid value: {other}: must be an array"
                )));
            }
        }
        Ok(Self { requirements })
    }
}

/// Builds the requirement of `matchExpressions[i]`.
fn expression_from_json(i: usize, expr: &Value) -> Result<Requirement, SelectorError> {
    let path = format!("matchExpressions[{i}]");
    let Some(expr) = expr.as_object() else {
        return Err(SelectorError(format!(
            "{path}: Invalid value: {expr}: must be an object"
        )));
    };
    let key = match expr.get("key") {
        Some(Value::String(k)) => k.as_str(),
        None | Some(Value::Null) => {
            return Err(SelectorError(format!("{path}.key: Required value")));
        }
        Some(other) => {
            return Err(SelectorError(format!(
                "{path}.key: Invalid value: {other}: must be a string"
            )));
        }
    };
    let op = match expr.get("operator") {
        Some(Value::String(op)) => match op.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            _ => {
                return Err(SelectorError(format!(
                    "{path}.operator: Unsupported value: {}: supported values: \"DoesNotExist\", \
                     \"Exists\", \"In\", \"NotIn\"",
                    crate::status::go_quote(op)
                )));
            }
        },
        None | Some(Value::Null) => {
            return Err(SelectorError(format!("{path}.operator: Required value")));
        }
        Some(other) => {
            return Err(SelectorError(format!(
                "{path}.operator: Invalid value: {other}: must be a string"
            )));
        }
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(vals)) => {
            let mut out = Vec::with_capacity(vals.len());
            for (j, v) in vals.iter().enumerate() {
                let Some(s) = v.as_str() else {
                    return Err(SelectorError(format!(
                        "{path}.values[{j}]: Invalid value: {v}: must be a string"
                    )));
                };
                out.push(s.to_owned());
            }
            out
        }
        Some(other) => {
            return Err(SelectorError(format!(
                "{path}.values: Invalid value: {other}: must be an array of strings"
            )));
        }
    };
    match op {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return Err(SelectorError(format!(
                "{path}.values: Required value: must be specified when `operator` is 'In' or \
                 'NotIn'"
            )));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return Err(SelectorError(format!(
                "{path}.values: Forbidden: may not be specified when `operator` is 'Exists' or \
                 'DoesNotExist'"
            )));
        }
        _ => {}
    }
    Requirement::new(key, op, values).map_err(|e| SelectorError(format!("{path}: {e}")))
}

/// A token of the label selector string form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of characters that are neither whitespace nor one of `!=<>(),`.
    Ident(String),
    /// `!`
    Bang,
    /// `=`
    Eq,
    /// `==`
    DoubleEq,
    /// `!=`
    NotEq,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `(`
    OpenParen,
    /// `)`
    CloseParen,
    /// `,`
    Comma,
    /// The end of the string.
    End,
}

impl Token {
    /// The text the token was read from, as error messages show it (`''` for the end).
    fn text(&self) -> &str {
        match self {
            Self::Ident(s) => s,
            Self::Bang => "!",
            Self::Eq => "=",
            Self::DoubleEq => "==",
            Self::NotEq => "!=",
            Self::Gt => ">",
            Self::Lt => "<",
            Self::OpenParen => "(",
            Self::CloseParen => ")",
            Self::Comma => ",",
            Self::End => "",
        }
    }
}

/// Whether `c` ends an identifier of the label selector string form.
fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '<' | '>' | '(' | ')' | ',')
}

/// Splits the label selector string form into tokens, ending with [`Token::End`].
fn lex(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '!' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::NotEq
            }
            '!' => Token::Bang,
            '=' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::DoubleEq
            }
            '=' => Token::Eq,
            '>' => Token::Gt,
            '<' => Token::Lt,
            '(' => Token::OpenParen,
            ')' => Token::CloseParen,
            ',' => Token::Comma,
            c => {
                let mut ident = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || is_special(n) {
                        break;
                    }
                    ident.push(n);
                    chars.next();
                }
                Token::Ident(ident)
            }
        };
        tokens.push(token);
    }
    tokens.push(Token::End);
    tokens
}

/// A recursive-descent parser over the tokens of a label selector.
struct Parser<'t> {
    /// The tokens, ending with [`Token::End`].
    tokens: &'t [Token],
    /// The index of the next token.
    pos: usize,
}

/// The syntax error for finding `found` where `expected` should be.
fn syntax_error(found: &Token, expected: &str) -> SelectorError {
    SelectorError(format!(
        "unable to parse requirement: found '{}', expected: {expected}",
        found.text()
    ))
}

impl Parser<'_> {
    /// The next token, without consuming it.
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    /// Consumes and returns the next token.
    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    /// Parses the whole selector.
    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        match self.peek() {
            Token::End => return Ok(requirements),
            Token::Ident(_) | Token::Bang => {}
            other => return Err(syntax_error(other, "!, identifier, or 'end of string'")),
        }
        loop {
            requirements.push(self.requirement()?);
            match self.next() {
                Token::End => return Ok(requirements),
                Token::Comma => match self.peek() {
                    Token::Ident(_) | Token::Bang => {}
                    other => return Err(syntax_error(other, "identifier after ','")),
                },
                other => return Err(syntax_error(&other, "',' or 'end of string'")),
            }
        }
    }

    /// Parses one requirement.
    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        if self.peek() == &Token::Bang {
            self.next();
            return match self.next() {
                Token::Ident(key) => Requirement::new(&key, Operator::DoesNotExist, Vec::new()),
                other => Err(syntax_error(&other, "identifier after '!'")),
            };
        }
        let key = match self.next() {
            Token::Ident(key) => key,
            other => return Err(syntax_error(&other, "identifier")),
        };
        if matches!(self.peek(), Token::End | Token::Comma) {
            // The separator is left for the caller.
            return Requirement::new(&key, Operator::Exists, Vec::new());
        }
        let op = match self.next() {
            Token::Eq | Token::DoubleEq => Operator::Equals,
            Token::NotEq => Operator::NotEquals,
            Token::Gt => Operator::GreaterThan,
            Token::Lt => Operator::LessThan,
            Token::Ident(word) if word == "in" => Operator::In,
            Token::Ident(word) if word == "notin" => Operator::NotIn,
            other => {
                return Err(syntax_error(
                    &other,
                    &format!("operator (=, ==, !=, in, notin, >, <) after '{key}'"),
                ));
            }
        };
        let values = if matches!(op, Operator::In | Operator::NotIn) {
            self.value_set()?
        } else {
            vec![self.exact_value()?]
        };
        Requirement::new(&key, op, values)
    }

    /// Parses the value after `=`, `==`, `!=`, `>` or `<`; none (end or `,`) is the empty value.
    fn exact_value(&mut self) -> Result<String, SelectorError> {
        match self.peek() {
            Token::End | Token::Comma => Ok(String::new()),
            Token::Ident(v) => {
                let v = v.clone();
                self.next();
                Ok(v)
            }
            other => Err(syntax_error(other, "identifier for value")),
        }
    }

    /// Parses `( v1, v2, ... )`; an empty item (as in `(a,)` or `(,a)`) is the empty value.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Token::OpenParen => {}
            other => return Err(syntax_error(&other, "'(' after 'in' or 'notin'")),
        }
        let mut values = Vec::new();
        let mut expect_item = true;
        let mut seen_comma = false;
        loop {
            match self.next() {
                Token::Ident(v) if expect_item => {
                    values.push(v);
                    expect_item = false;
                }
                Token::Comma => {
                    if expect_item {
                        values.push(String::new());
                    }
                    expect_item = true;
                    seen_comma = true;
                }
                Token::CloseParen => {
                    if expect_item && seen_comma {
                        values.push(String::new());
                    }
                    return Ok(values);
                }
                other if expect_item => {
                    return Err(syntax_error(&other, "',', ')' or identifier"));
                }
                other => return Err(syntax_error(&other, "',' or ')'")),
            }
        }
    }
}

/// Whether `s` is a valid label value's characters: alphanumerics, `-`, `_` and `.`, starting and
/// ending with an alphanumeric (the empty string does not qualify here).
fn is_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Whether `s` is a DNS subdomain (RFC 1123): lowercase alphanumerics, `-` and `.`, starting and
/// ending with an alphanumeric, at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() > MAX_SUBDOMAIN_LEN {
        return false;
    }
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    s.split('.').all(|label| {
        let b = label.as_bytes();
        match (b.first(), b.last()) {
            (Some(first), Some(last)) => {
                alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-')
            }
            _ => false,
        }
    })
}

/// Checks a label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
/// characters.
fn validate_qualified_name(key: &str) -> Result<(), SelectorError> {
    let invalid = |why: &str| {
        SelectorError(format!(
            "key: Invalid value: {}: {why}",
            crate::status::go_quote(key)
        ))
    };
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() {
                return Err(invalid("prefix part must be non-empty"));
            }
            if !is_dns_subdomain(prefix) {
                return Err(invalid(
                    "prefix part must be a lowercase RFC 1123 subdomain of at most 253 \
                     characters: lowercase alphanumeric characters, '-' or '.', starting and \
                     ending with an alphanumeric character (e.g. 'example.com')",
                ));
            }
            (Some(prefix), name)
        }
        None => (None, key),
    };
    if name.is_empty() {
        return Err(invalid(if prefix.is_some() {
            "name part must be non-empty"
        } else {
            "name part must be non-empty; a qualified name is an optional DNS subdomain prefix \
             and '/', then a name (e.g. 'MyName' or 'example.com/MyName')"
        }));
    }
    if name.len() > MAX_LABEL_LEN {
        return Err(invalid("name part must be no more than 63 characters"));
    }
    if !is_label_name(name) {
        return Err(invalid(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
             and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc'), \
             with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ));
    }
    Ok(())
}

/// Checks the `index`th value of the requirement on `key`: empty, or at most 63 label characters.
fn validate_label_value(key: &str, index: usize, value: &str) -> Result<(), SelectorError> {
    let invalid = |why: &str| {
        SelectorError(format!(
            "values[{index}][{key}]: Invalid value: {}: {why}",
            crate::status::go_quote(value)
        ))
    };
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > MAX_LABEL_LEN {
        return Err(invalid("must be no more than 63 characters"));
    }
    if !is_label_name(value) {
        return Err(invalid(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', \
             'my_value' or '12345')",
        ));
    }
    Ok(())
}

/// One requirement of a field selector: `field` equals (or, if not `equals`, differs from) `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldRequirement {
    /// The field name, e.g. `metadata.name`.
    pub(crate) field: String,
    /// `true` for `=` and `==`, `false` for `!=`.
    pub(crate) equals: bool,
    /// The value, with its escapes resolved.
    pub(crate) value: String,
}

/// A parsed field selector (`fieldSelector`): comma-separated `field=value`, `field==value`,
/// `field!=value`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector {
    /// The requirements, in the order written; all must hold.
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the string form; the empty string selects everything. In values, `\,`, `\=` and
    /// `\\` stand for `,`, `=` and `\`; any other escape, and an unescaped `=`, is an error.
    pub(crate) fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_unescaped_commas(s) {
            if term.is_empty() {
                continue;
            }
            let cant_understand = |why: &str| {
                SelectorError(format!(
                    "invalid selector: '{s}'; can't understand '{term}'{why}"
                ))
            };
            let Some((field, equals, raw_value)) = split_term(term) else {
                return Err(cant_understand(""));
            };
            if field.is_empty() {
                return Err(cant_understand(": the field name is empty"));
            }
            let value = unescape_field_value(raw_value)
                .map_err(|why| SelectorError(format!("invalid field selector: {why}")))?;
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                equals,
                value,
            });
        }
        Ok(Self { requirements })
    }

    /// The requirements, in the order written.
    pub(crate) fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether an object matches. `lookup(field)` returns the object's value for a field name
    /// ("" when the field is absent, as the apiserver treats it).
    pub(crate) fn matches(&self, lookup: impl Fn(&str) -> String) -> bool {
        self.requirements
            .iter()
            .all(|r| (lookup(&r.field) == r.value) == r.equals)
    }

    /// Whether the selector has no requirement, and so selects everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Splits a field selector at the commas that are not escaped, keeping escapes in the parts.
fn split_unescaped_commas(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Splits a field selector term at its first unescaped operator into field, whether the operator
/// is an equality, and the still-escaped value; `None` when the term has no operator.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((&term[..i], false, &term[i + 2..]));
            }
            b'=' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((&term[..i], true, &term[i + 2..]));
            }
            b'=' => return Some((&term[..i], true, &term[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// Resolves the escapes of a field selector value.
fn unescape_field_value(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(format!(
                        "invalid escape sequence '\\{e}' in value {}: only '\\\\', '\\,' and \
                         '\\=' are allowed",
                        crate::status::go_quote(raw)
                    ));
                }
                None => {
                    return Err(format!(
                        "unterminated escape sequence at the end of value {}",
                        crate::status::go_quote(raw)
                    ));
                }
            },
            '=' => {
                return Err(format!(
                    "unescaped '=' in value {}: write '\\=' for a literal '='",
                    crate::status::go_quote(raw)
                ));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: &Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap()
    }

    fn err(s: &str) -> String {
        LabelSelector::parse(s).unwrap_err().0
    }

    #[test]
    fn empty_selects_everything() {
        for s in ["", "   ", "\t"] {
            let sel = sel(s);
            assert!(sel.is_empty());
            assert!(sel.matches(None));
            assert!(sel.matches(Some(&labels(&json!({"a": "b"})))));
        }
        assert_eq!(sel(""), LabelSelector::default());
    }

    #[test]
    fn exists_and_does_not_exist() {
        let l = labels(&json!({"app": "web", "tier": ""}));
        assert!(sel("app").matches(Some(&l)));
        assert!(sel("tier").matches(Some(&l)));
        assert!(!sel("env").matches(Some(&l)));
        assert!(!sel("app").matches(None));
        assert!(sel("!env").matches(Some(&l)));
        assert!(sel("!env").matches(None));
        assert!(!sel("!app").matches(Some(&l)));
        assert!(sel(" ! env ").matches(Some(&l)));
        assert!(!sel("app").is_empty());
    }

    #[test]
    fn equality_operators() {
        let l = labels(&json!({"app": "web", "tier": ""}));
        assert!(sel("app=web").matches(Some(&l)));
        assert!(sel("app==web").matches(Some(&l)));
        assert!(!sel("app=db").matches(Some(&l)));
        assert!(!sel("app==db").matches(Some(&l)));
        assert!(!sel("app=web").matches(None));
        assert!(sel("app!=db").matches(Some(&l)));
        assert!(!sel("app!=web").matches(Some(&l)));
        // `!=` matches objects without the key.
        assert!(sel("env!=prod").matches(Some(&l)));
        assert!(sel("env!=prod").matches(None));
        // The empty value.
        assert!(sel("tier=").matches(Some(&l)));
        assert!(sel("tier=,app=web").matches(Some(&l)));
        assert!(!sel("app=").matches(Some(&l)));
        assert!(!sel("env=").matches(Some(&l)));
        assert!(sel("app!=").matches(Some(&l)));
    }

    #[test]
    fn set_operators() {
        let l = labels(&json!({"app": "web"}));
        assert!(sel("app in (web,db)").matches(Some(&l)));
        assert!(sel("app in (db, web)").matches(Some(&l)));
        assert!(!sel("app in (db)").matches(Some(&l)));
        assert!(!sel("env in (prod)").matches(Some(&l)));
        assert!(sel("app notin (db, cache)").matches(Some(&l)));
        assert!(!sel("app notin (web)").matches(Some(&l)));
        // `notin` matches objects without the key.
        assert!(sel("env notin (prod)").matches(Some(&l)));
        assert!(sel("env notin (prod)").matches(None));
        // No space needed before the parenthesis; empty items are the empty value.
        assert!(sel("app in(web)").matches(Some(&l)));
        let empty = labels(&json!({"tier": ""}));
        assert!(sel("tier in (a,)").matches(Some(&empty)));
        assert!(sel("tier in (,a)").matches(Some(&empty)));
        assert!(sel("tier in (a,,b)").matches(Some(&empty)));
        assert!(!sel("tier in (a,b)").matches(Some(&empty)));
        // Duplicates collapse.
        assert_eq!(sel("app in (a,a,b)"), sel("app in (b,a)"));
    }

    #[test]
    fn numeric_operators() {
        let l = labels(&json!({"replicas": "5", "name": "x"}));
        assert!(sel("replicas>4").matches(Some(&l)));
        assert!(!sel("replicas > 5").matches(Some(&l)));
        assert!(sel("replicas < 6").matches(Some(&l)));
        assert!(!sel("replicas<5").matches(Some(&l)));
        // A label that is not an integer, or absent, never matches.
        assert!(!sel("name > 1").matches(Some(&l)));
        assert!(!sel("name < 1").matches(Some(&l)));
        assert!(!sel("missing < 1").matches(Some(&l)));
        assert!(!sel("missing < 1").matches(None));
        assert!(
            err("replicas > abc").contains("must be an integer"),
            "{}",
            err("replicas > abc")
        );
        assert!(err("replicas > ").contains("must be an integer"));
    }

    #[test]
    fn several_requirements_and_whitespace() {
        let l = labels(&json!({"app": "web", "env": "prod", "example.com/team": "a"}));
        let s = sel("  app = web ,env  in ( prod , dev ),  !debug,example.com/team==a ");
        assert!(s.matches(Some(&l)));
        assert_eq!(s.requirements.len(), 4);
        assert!(!sel("app=web,env=dev").matches(Some(&l)));
        assert!(sel("\tapp\n").matches(Some(&l)));
    }

    #[test]
    fn non_string_label_is_present_but_equals_nothing() {
        let l = labels(&json!({"n": 5}));
        assert!(sel("n").matches(Some(&l)));
        assert!(!sel("n=5").matches(Some(&l)));
        assert!(sel("n!=5").matches(Some(&l)));
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            err("!"),
            "unable to parse requirement: found '', expected: identifier after '!'"
        );
        assert_eq!(
            err("app=web,"),
            "unable to parse requirement: found '', expected: identifier after ','"
        );
        assert_eq!(
            err(",app"),
            "unable to parse requirement: found ',', expected: !, identifier, or 'end of string'"
        );
        assert!(err("app web").contains("found 'web', expected: operator"));
        assert!(err("app=web db").contains("found 'db', expected: ',' or 'end of string'"));
        assert!(err("app in web").contains("found 'web', expected: '('"));
        assert!(err("app in (web").contains("found '', expected: ',' or ')'"));
        assert!(err("app in (a b)").contains("found 'b', expected: ',' or ')'"));
        assert!(err("app in (a,=)").contains("found '='"));
        assert!(err("app = = b").contains("found '=', expected: identifier for value"));
        assert!(err("!app=b").contains("found '=', expected: ',' or 'end of string'"));
        assert!(err("app >= 1").contains("found '='"));
        assert!(err("=b").contains("found '='"));
        assert!(err("app,,b").contains("identifier after ','"));
    }

    #[test]
    fn empty_parentheses() {
        for s in ["app in ()", "app notin ( )"] {
            assert!(
                err(s).contains("values set can't be empty"),
                "{s}: {}",
                err(s)
            );
        }
    }

    #[test]
    fn invalid_keys() {
        let long = "a".repeat(64);
        for key in [
            "-app",
            "app-",
            "a$b",
            "/app",
            "example.com/",
            "Example.com/app",
            "a/b/c",
            "exa_mple.com/app",
            long.as_str(),
        ] {
            let e = err(key);
            assert!(e.starts_with("key: Invalid value: "), "{key}: {e}");
            assert!(e.contains(key), "{key}: {e}");
        }
        assert!(err(&long).contains("no more than 63"));
        let fine = "a".repeat(63);
        assert!(LabelSelector::parse(&fine).is_ok());
        assert!(LabelSelector::parse("app.kubernetes.io/name=x").is_ok());
        assert!(LabelSelector::parse("A_b.c-9").is_ok());
        let long_prefix = format!("{}/a", "a".repeat(254));
        assert!(err(&long_prefix).contains("prefix part"));
    }

    #[test]
    fn invalid_values() {
        assert_eq!(
            err("app=-web"),
            "values[0][app]: Invalid value: \"-web\": a valid label must be an empty string or \
             consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')"
        );
        assert!(err("app in (ok, bad!)").contains("found '!'"));
        assert!(err("app in (ok, b/ad)").starts_with("values[1][app]: Invalid value: \"b/ad\""));
        assert!(err(&format!("app={}", "v".repeat(64))).contains("no more than 63"));
        assert!(LabelSelector::parse(&format!("app={}", "v".repeat(63))).is_ok());
        assert!(err("n > -1").contains("a valid label"));
    }

    #[test]
    fn from_json_forms() {
        let l = labels(&json!({"app": "web", "env": "prod"}));
        for everything in [json!(null), json!({}), json!({"matchLabels": null})] {
            let s = LabelSelector::from_json(&everything).unwrap();
            assert!(s.is_empty());
            assert!(s.matches(None));
        }
        let s = LabelSelector::from_json(&json!({"matchLabels": {"app": "web"}})).unwrap();
        assert!(s.matches(Some(&l)));
        assert!(!s.matches(None));
        let s = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "app", "operator": "Exists"},
                {"key": "debug", "operator": "DoesNotExist", "values": []},
            ]
        }))
        .unwrap();
        assert!(s.matches(Some(&l)));
        let mut with_debug = l.clone();
        with_debug.insert("debug".into(), json!("1"));
        assert!(!s.matches(Some(&with_debug)));
        let mut db = l.clone();
        db.insert("tier".into(), json!("db"));
        assert!(!s.matches(Some(&db)));
        let s = LabelSelector::from_json(
            &json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]}),
        )
        .unwrap();
        assert!(!s.matches(Some(&l)));
        // The structured and string forms agree.
        assert_eq!(
            LabelSelector::from_json(&json!({"matchLabels": {"app": "web"}})).unwrap(),
            sel("app=web")
        );
    }

    #[test]
    fn from_json_errors() {
        let e = |v: Value| LabelSelector::from_json(&v).unwrap_err().0;
        assert!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}))
                .contains("matchExpressions[0].operator: Unsupported value: \"Gt\"")
        );
        assert!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["1"]}]}))
                .contains("Unsupported value")
        );
        assert!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "In"}]}))
                .contains("values: Required value")
        );
        assert!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]}))
                .contains("values: Required value")
        );
        assert!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}))
                .contains("values: Forbidden")
        );
        assert!(
            e(json!({"matchExpressions": [{"operator": "Exists"}]}))
                .contains("matchExpressions[0].key: Required value")
        );
        assert!(
            e(json!({"matchExpressions": [{"key": "a"}]})).contains("operator: Required value")
        );
        assert!(
            e(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}))
                .contains("values[0]")
        );
        assert!(
            e(json!({"matchExpressions": [{"key": "a b", "operator": "Exists"}]}))
                .contains("key: Invalid value: \"a b\"")
        );
        assert!(
            e(json!({"matchLabels": {"app": "a b"}}))
                .contains("values[0][app]: Invalid value: \"a b\"")
        );
        assert!(e(json!({"matchLabels": {"app": 1}})).contains("must be a string"));
        assert!(e(json!({"matchLabels": ["app"]})).contains("matchLabels"));
        assert!(e(json!({"matchExpressions": {}})).contains("matchExpressions"));
        assert!(e(json!("app=web")).contains("must be an object"));
    }

    fn fields(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap()
    }

    fn lookup(field: &str) -> String {
        match field {
            "metadata.name" => "web".to_owned(),
            "metadata.namespace" => "default".to_owned(),
            "spec.weird" => "a,b=c\\d".to_owned(),
            _ => String::new(),
        }
    }

    #[test]
    fn field_selector_parse_and_match() {
        assert!(fields("").is_empty());
        assert!(fields("").matches(lookup));
        let s = fields("metadata.name=web,metadata.namespace==default");
        assert!(!s.is_empty());
        assert_eq!(
            s.requirements(),
            &[
                FieldRequirement {
                    field: "metadata.name".into(),
                    equals: true,
                    value: "web".into()
                },
                FieldRequirement {
                    field: "metadata.namespace".into(),
                    equals: true,
                    value: "default".into()
                },
            ]
        );
        assert!(s.matches(lookup));
        assert!(!fields("metadata.name=db").matches(lookup));
        assert!(fields("metadata.name!=db").matches(lookup));
        assert!(!fields("metadata.name!=web").matches(lookup));
        // Absent fields read as "".
        assert!(fields("spec.nodeName=").matches(lookup));
        assert!(fields("spec.nodeName!=node1").matches(lookup));
        assert!(!fields("spec.nodeName=node1").matches(lookup));
        assert!(!fields("metadata.name=web,metadata.namespace=other").matches(lookup));
        // Empty terms are skipped.
        assert_eq!(fields("metadata.name=web,").requirements().len(), 1);
        // `!` inside a value is literal.
        assert_eq!(fields("a=b!c").requirements()[0].value, "b!c");
    }

    #[test]
    fn field_selector_escapes() {
        let s = fields(r"spec.weird=a\,b\=c\\d");
        assert_eq!(s.requirements().len(), 1);
        assert_eq!(s.requirements()[0].value, "a,b=c\\d");
        assert!(s.matches(lookup));
        let s = fields(r"spec.weird!=a\,b,metadata.name=web");
        assert_eq!(s.requirements().len(), 2);
        assert_eq!(s.requirements()[0].value, "a,b");
        assert!(!s.requirements()[0].equals);
        assert!(s.matches(lookup));
    }

    #[test]
    fn field_selector_errors() {
        let e = |s: &str| FieldSelector::parse(s).unwrap_err().0;
        assert_eq!(
            e("metadata.name"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert!(e("a=b,c").contains("can't understand 'c'"));
        assert!(e("=b").contains("field name is empty"));
        assert!(e(r"a=b\n").contains("invalid escape sequence"));
        assert!(e(r"a=b\").contains("unterminated escape"));
        assert!(e("a=b=c").contains("unescaped '='"));
    }
}
