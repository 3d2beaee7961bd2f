//! The queries of `docs/sinks/mongodb.md` marked `<!-- checked by crates/sinks/tests/mongodb.rs
//! -->`: each `db.inventory.…` command (written with quoted keys, so its arguments are JSON)
//! and the output shown after it, one JSON value per line.

use mongodb::bson::{Bson, Document};
use serde_json::Value;

/// The marker above a checked command.
const MARKER: &str = "<!-- checked by crates/sinks/tests/mongodb.rs -->";

/// A documented command.
#[derive(Debug)]
pub enum Command {
    /// `db.inventory.aggregate([…])`.
    Aggregate(Vec<Document>),
    /// `db.inventory.find(filter, projection).sort(sort)`.
    Find {
        filter: Document,
        projection: Option<Document>,
        sort: Option<Document>,
    },
    /// `db.inventory.countDocuments(filter)`.
    Count(Document),
}

/// A documented command and the output the document shows for it.
#[derive(Debug)]
pub struct Example {
    pub text: String,
    pub command: Command,
    pub expected: Vec<Value>,
}

/// Every checked example of `markdown`.
pub fn examples(markdown: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if line.trim() != MARKER {
            continue;
        }
        let text = fenced(&mut lines, "```js");
        let output = fenced(&mut lines, "```json");
        let expected = output
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect();
        examples.push(Example {
            command: parse(&text),
            text,
            expected,
        });
    }
    examples
}

/// The body of the next fenced block, which must open with `opening`.
fn fenced<'a>(lines: &mut impl Iterator<Item = &'a str>, opening: &str) -> String {
    let start = lines
        .by_ref()
        .find(|line| !line.trim().is_empty())
        .expect("a fenced block");
    assert_eq!(start.trim(), opening, "a checked example's block");
    let mut body = String::new();
    for line in lines.by_ref() {
        if line.trim() == "```" {
            return body;
        }
        body.push_str(line);
        body.push('\n');
    }
    panic!("an unterminated {opening} block");
}

fn parse(text: &str) -> Command {
    let text = text.trim().trim_end_matches(';');
    let (method, rest) = text
        .strip_prefix("db.inventory.")
        .and_then(|rest| rest.split_once('('))
        .unwrap_or_else(|| panic!("not a db.inventory command: {text}"));
    let (arguments, rest) = split_arguments(rest);
    match method {
        "aggregate" => {
            let Some(Bson::Array(stages)) = arguments.into_iter().next() else {
                panic!("aggregate takes a pipeline: {text}");
            };
            Command::Aggregate(stages.iter().map(document).collect())
        }
        "countDocuments" => Command::Count(document(&arguments[0])),
        "find" => {
            let sort = rest.trim().strip_prefix(".sort(").map(|rest| {
                let (sort, _) = split_arguments(rest);
                document(&sort[0])
            });
            Command::Find {
                filter: document(&arguments[0]),
                projection: arguments.get(1).map(document),
                sort,
            }
        }
        other => panic!("unsupported method {other}"),
    }
}

/// The JSON arguments up to the closing parenthesis, and what follows it. Read straight into
/// BSON, which keeps the members' order (a `$sort` depends on it).
fn split_arguments(mut rest: &str) -> (Vec<Bson>, &str) {
    let mut values = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(')') {
            return (values, after);
        }
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Bson>();
        let value = stream
            .next()
            .unwrap_or_else(|| panic!("an argument in {rest}"))
            .unwrap_or_else(|e| panic!("an argument in {rest}: {e}"));
        rest = rest[stream.byte_offset()..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
        values.push(value);
    }
}

fn document(value: &Bson) -> Document {
    value
        .as_document()
        .cloned()
        .unwrap_or_else(|| panic!("not a document: {value}"))
}
