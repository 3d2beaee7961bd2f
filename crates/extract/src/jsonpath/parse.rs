//! Parser of the kubectl JSONPath template dialect (client-go `util/jsonpath`), as profiles use
//! it: `{.metadata.name}`, `$.spec.containers[*].image`, filters, slices, unions, recursive
//! descent. Only the first element of a template is evaluated; `range`/`end` are refused.

use std::fmt;

/// A compiled JSONPath: the steps of the template's first action.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    pub(crate) steps: Vec<Step>,
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    /// `.name`: a map member.
    Field(String),
    /// `.*` or `[*]` on a map: all values (sorted by key), all list elements.
    Wildcard,
    /// `..`: the node and all its descendants in pre-order, for the next step to select from.
    Recursive,
    /// `[start:end:step]` and `[index]` (an index is the one-element slice `[i:i+1]`).
    Slice(Slice),
    /// `[a,b]`: the union of bracket expressions.
    Union(Vec<Vec<Step>>),
    /// `[?(...)]`: keep list elements matching the predicate.
    Filter(Box<Filter>),
}

/// Slice bounds as written; `end_derived` marks the end of a single index (`[i]` → `[i:i+1]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slice {
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) step: Option<i64>,
    pub(crate) end_derived: bool,
}

/// A filter predicate.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    /// `[?(@.path)]`: the element has the path.
    Exists(Operand),
    /// `[?(@.path OP value)]`.
    Compare {
        left: Operand,
        op: CompareOp,
        right: Operand,
    },
}

/// One side of a filter comparison.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    /// A path relative to the element (`@.a.b`).
    Path(Vec<Step>),
    /// A string, number or boolean literal.
    Literal(Literal),
}

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// A comparison operator of a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A syntax error with its 1-based column in the expression as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} at column {column}")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// 1-based column (in characters) of the problem.
    pub column: usize,
}

impl JsonPath {
    /// Parses a path as written in a profile (`$.a.b` is taken as `{.a.b}`).
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let leading = raw.len() - raw.trim_start().len();
        let text = raw.trim();
        if let Some(rest) = text.strip_prefix("$.") {
            // `$.a` is `{.a}`: column offsets shift by the removed `$` and the added `{`.
            let template = format!("{{.{rest}}}");
            return parse_template(&template, leading);
        }
        parse_template(text, leading)
    }
}

fn parse_template(template: &str, offset: usize) -> Result<JsonPath, ParseError> {
    let chars: Vec<char> = template.chars().collect();
    let mut parser = Parser {
        chars: &chars,
        pos: 0,
        offset,
    };
    if chars.first() != Some(&'{') {
        return Err(parser.error_at(
            0,
            "a path must start with '$.' or '{'; plain text is not a path",
        ));
    }
    let mut first = None;
    while parser.pos < chars.len() {
        if chars[parser.pos] == '{' {
            let action = parser.action()?;
            first.get_or_insert(action);
        } else {
            // Literal text between actions: allowed, never evaluated.
            parser.pos += 1;
        }
    }
    let steps = first.ok_or_else(|| parser.error_at(0, "empty path"))?;
    Ok(JsonPath { steps })
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    /// Characters before `chars[0]` in the expression as written (for column numbers).
    offset: usize,
}

/// Characters that end a field name unless escaped with a backslash.
fn is_terminator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}'
    )
}

impl Parser<'_> {
    fn error_at(&self, index: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            column: index + self.offset + 1,
        }
    }

    /// Parses `{...}` starting at the `{`.
    fn action(&mut self) -> Result<Vec<Step>, ParseError> {
        let open = self.pos;
        let close = self
            .find_action_end(open)
            .ok_or_else(|| self.error_at(open, "unterminated '{'"))?;
        let inner: String = self.chars[open + 1..close].iter().collect();
        let trimmed = inner.trim();
        if trimmed.is_empty() {
            return Err(self.error_at(open, "empty action '{}'"));
        }
        if trimmed == "end" || trimmed.starts_with("range ") || trimmed == "range" {
            return Err(self.error_at(
                open,
                "range/end templates are not supported in attribute paths",
            ));
        }
        let mut inside = Parser {
            chars: &self.chars[..close],
            pos: open + 1,
            offset: self.offset,
        };
        let steps = inside.steps(close)?;
        self.pos = close + 1;
        Ok(steps)
    }

    /// The index of the `}` closing the action opened at `open`, skipping quoted text.
    fn find_action_end(&self, open: usize) -> Option<usize> {
        let mut quote: Option<char> = None;
        let mut index = open + 1;
        while index < self.chars.len() {
            let c = self.chars[index];
            match (quote, c) {
                (Some(_), '\\') => index += 1,
                (Some(q), c) if c == q => quote = None,
                (None, '\'' | '"') => quote = Some(c),
                (None, '}') => return Some(index),
                (None, '{') => return None,
                _ => {}
            }
            index += 1;
        }
        None
    }

    /// Steps until `end` (exclusive).
    fn steps(&mut self, end: usize) -> Result<Vec<Step>, ParseError> {
        let mut steps = Vec::new();
        while self.pos < end {
            match self.chars[self.pos] {
                ' ' | '\t' | '\r' | '\n' | '$' | '@' => self.pos += 1,
                '.' => self.dot(&mut steps, end)?,
                '[' => steps.push(self.bracket(end)?),
                c => {
                    return Err(self.error_at(
                        self.pos,
                        format!("unexpected {c:?}; expected '.', '[' or the end of the path"),
                    ));
                }
            }
        }
        Ok(steps)
    }

    /// `.name`, `.*`, `..`.
    fn dot(&mut self, steps: &mut Vec<Step>, end: usize) -> Result<(), ParseError> {
        self.pos += 1;
        match self.chars.get(self.pos) {
            Some('.') if self.pos < end => {
                steps.push(Step::Recursive);
                // The `.` that starts the next step is the second dot: `..name` = recursive + `.name`.
                Ok(())
            }
            Some('*') if self.pos < end => {
                self.pos += 1;
                steps.push(Step::Wildcard);
                Ok(())
            }
            Some('[') if self.pos < end => Ok(()),
            _ => {
                let name = self.field_name(end);
                if name.is_empty() {
                    if self.pos >= end {
                        // A trailing dot (`{.a.}`) or the root (`{.}`): nothing to select.
                        return Ok(());
                    }
                    return Err(self.error_at(self.pos, "expected a field name after '.'"));
                }
                steps.push(Step::Field(name));
                Ok(())
            }
        }
    }

    fn field_name(&mut self, end: usize) -> String {
        let mut name = String::new();
        while self.pos < end {
            let c = self.chars[self.pos];
            if c == '\\' && self.pos + 1 < end {
                name.push(self.chars[self.pos + 1]);
                self.pos += 2;
                continue;
            }
            if is_terminator(c) {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// `[...]` starting at the `[`.
    fn bracket(&mut self, end: usize) -> Result<Step, ParseError> {
        let open = self.pos;
        if self.chars.get(open + 1) == Some(&'?') {
            return self.filter(end);
        }
        let close = self
            .bracket_end(open, end)
            .ok_or_else(|| self.error_at(open, "unterminated '['"))?;
        let inner: String = self.chars[open + 1..close].iter().collect();
        self.pos = close + 1;
        let parts = split_top_level(&inner, ',');
        if parts.len() > 1 {
            let mut union = Vec::new();
            for part in parts {
                union.push(self.bracket_part(part.trim(), open)?);
            }
            return Ok(Step::Union(union));
        }
        let mut steps = self.bracket_part(inner.trim(), open)?;
        if steps.len() == 1 {
            return Ok(steps.remove(0));
        }
        Ok(Step::Union(vec![steps]))
    }

    /// One bracket expression: `*`, a quoted key, an index or a slice.
    fn bracket_part(&self, part: &str, open: usize) -> Result<Vec<Step>, ParseError> {
        if part == "*" {
            return Ok(vec![Step::Wildcard]);
        }
        if let Some(key) = unquote(part) {
            // client-go re-parses a quoted key as a dotted field path: ['a.b'] is .a.b.
            return Ok(key
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Step::Field(s.to_owned()))
                .collect());
        }
        parse_slice(part)
            .map(|slice| vec![Step::Slice(slice)])
            .map_err(|message| self.error_at(open, message))
    }

    /// The index of the `]` closing the bracket at `open`, skipping quoted text.
    fn bracket_end(&self, open: usize, end: usize) -> Option<usize> {
        let mut quote: Option<char> = None;
        let mut index = open + 1;
        while index < end {
            let c = self.chars[index];
            match (quote, c) {
                (Some(_), '\\') => index += 1,
                (Some(q), c) if c == q => quote = None,
                (None, '\'' | '"') => quote = Some(c),
                (None, ']') => return Some(index),
                _ => {}
            }
            index += 1;
        }
        None
    }

    /// `[?(...)]` starting at the `[`.
    fn filter(&mut self, end: usize) -> Result<Step, ParseError> {
        let open = self.pos;
        if self.chars.get(open + 2) != Some(&'(') {
            return Err(self.error_at(open, "a filter is written [?(...)]"));
        }
        let mut quote: Option<char> = None;
        let mut index = open + 3;
        let close = loop {
            let Some(&c) = self.chars.get(index).filter(|_| index < end) else {
                return Err(self.error_at(open, "unterminated filter"));
            };
            match (quote, c) {
                (Some(_), '\\') => index += 1,
                (Some(q), c) if c == q => quote = None,
                (None, '\'' | '"') => quote = Some(c),
                (None, ')') => break index,
                _ => {}
            }
            index += 1;
        };
        if self.chars.get(close + 1) != Some(&']') {
            return Err(self.error_at(close, "unclosed filter: expected ')]'"));
        }
        let text: String = self.chars[open + 3..close].iter().collect();
        self.pos = close + 2;
        let filter = parse_filter(&text).map_err(|message| self.error_at(open, message))?;
        Ok(Step::Filter(Box::new(filter)))
    }
}

/// Splits on `separator` outside quotes.
fn split_top_level(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        match (quote, c) {
            (Some(_), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c == separator => {
                parts.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
        escaped = false;
    }
    parts.push(&text[start..]);
    parts
}

/// The content of a single- or double-quoted string, with backslash escapes resolved.
fn unquote(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = text.strip_prefix(quote)?.strip_suffix(quote)?;
    if text.len() < 2 {
        return None;
    }
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else if c == quote {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// `i`, `a:b`, `a:b:c` with optional, possibly negative integers.
fn parse_slice(text: &str) -> Result<Slice, String> {
    let parts: Vec<&str> = text.split(':').map(str::trim).collect();
    let number = |part: &str| -> Result<Option<i64>, String> {
        if part.is_empty() {
            return Ok(None);
        }
        part.parse::<i64>().map(Some).map_err(|_| {
            format!("invalid array index {part:?}: use a number, a slice a:b, '*' or a quoted key")
        })
    };
    match parts.as_slice() {
        [single] => {
            let index = number(single)?.ok_or("empty array index '[]'")?;
            Ok(Slice {
                start: Some(index),
                end: Some(index.saturating_add(1)),
                step: None,
                end_derived: true,
            })
        }
        [start, end] => Ok(Slice {
            start: number(start)?,
            end: number(end)?,
            step: None,
            end_derived: false,
        }),
        [start, end, step] => Ok(Slice {
            start: number(start)?,
            end: number(end)?,
            step: number(step)?,
            end_derived: false,
        }),
        _ => Err(format!("invalid slice {text:?}: at most start:end:step")),
    }
}

/// `@.a OP literal` or `@.a`.
fn parse_filter(text: &str) -> Result<Filter, String> {
    let operator_start = find_operator(text);
    let Some((start, end)) = operator_start else {
        return Ok(Filter::Exists(parse_operand(text.trim())?));
    };
    let op = match &text[start..end] {
        "==" => CompareOp::Eq,
        "!=" => CompareOp::Ne,
        "<" => CompareOp::Lt,
        "<=" => CompareOp::Le,
        ">" => CompareOp::Gt,
        ">=" => CompareOp::Ge,
        other => {
            return Err(format!(
                "unknown filter operator {other:?}; use ==, !=, <, <=, > or >="
            ));
        }
    };
    let left = parse_operand(text[..start].trim())?;
    let right = parse_operand(text[end..].trim())?;
    Ok(Filter::Compare { left, op, right })
}

/// The byte range of the first run of `!<>=` outside quotes.
fn find_operator(text: &str) -> Option<(usize, usize)> {
    let mut quote: Option<char> = None;
    let mut start = None;
    for (index, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => {
                if let Some(start) = start {
                    return Some((start, index));
                }
                quote = Some(c);
            }
            (None, '!' | '<' | '>' | '=') => {
                start.get_or_insert(index);
            }
            (None, _) => {
                if let Some(start) = start {
                    return Some((start, index));
                }
            }
        }
    }
    start.map(|start| (start, text.len()))
}

fn parse_operand(text: &str) -> Result<Operand, String> {
    if text.is_empty() {
        return Err("a filter side is empty".to_owned());
    }
    if text.starts_with('@') || text.starts_with('$') || text.starts_with('.') {
        let chars: Vec<char> = text.chars().collect();
        let mut parser = Parser {
            chars: &chars,
            pos: 0,
            offset: 0,
        };
        let steps = parser.steps(chars.len()).map_err(|e| e.message)?;
        return Ok(Operand::Path(steps));
    }
    if let Some(string) = unquote(text) {
        return Ok(Operand::Literal(Literal::String(string)));
    }
    match text {
        "true" => return Ok(Operand::Literal(Literal::Bool(true))),
        "false" => return Ok(Operand::Literal(Literal::Bool(false))),
        _ => {}
    }
    if let Ok(integer) = text.parse::<i64>() {
        return Ok(Operand::Literal(Literal::Int(integer)));
    }
    if let Ok(float) = text.parse::<f64>()
        && float.is_finite()
    {
        return Ok(Operand::Literal(Literal::Float(float)));
    }
    Err(format!(
        "{text:?} is neither a path (@.field) nor a literal (\"text\", 3, 1.5, true)"
    ))
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        })
    }
}
