//! The CEL rules emitted into the CRDs agree with Kollect's own validation:
//!
//! * every rule compiles;
//! * no object that `validation::check` accepts trips a rule (the CRD never refuses what the
//!   webhook admits), checked over every fixture object and every shipped example;
//! * every object a rule refuses is also refused by `validation::check`;
//! * fixtures marked `cel: reject` are refused by the rules alone, as on a cluster without the
//!   webhook.
//!
//! Rules are evaluated the way the API server does: on defaulted objects, only where the node
//! exists, with `self` bound to the node and property names escaped (`as` → `__as__`).

#![allow(clippy::panic)] // helpers fail the test with a message

mod support;

use cel::{Context, Program};
use kollect_api::{
    crd::{CelRule, cel_rules},
    manifest,
    schema::Schema,
    v1alpha1::Kind,
    validation::{self, Settings},
};
use serde_json::{Map, Value};
use support::{load_cases, repo_root};

/// CEL reserved words: Kubernetes escapes property names equal to one as `__word__`.
const RESERVED: [&str; 21] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

fn escape_key(key: &str) -> String {
    if RESERVED.contains(&key) {
        return format!("__{key}__");
    }
    key.replace("__", "__underscores__")
        .replace('.', "__dot__")
        .replace('-', "__dash__")
        .replace('/', "__slash__")
}

fn escape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (escape_key(k), escape(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(escape).collect()),
        other => other.clone(),
    }
}

/// The values a rule's schema node matches in an object (several under `items`).
fn nodes<'a>(object: &'a Value, pointer: &str) -> Vec<&'a Value> {
    let mut current = vec![object];
    let mut segments = pointer.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        current = match segment {
            "properties" => {
                let name = segments
                    .next()
                    .expect("a property name follows /properties");
                current.into_iter().filter_map(|v| v.get(name)).collect()
            }
            "items" => current
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .collect(),
            other => panic!("unexpected schema pointer segment {other}"),
        };
    }
    current.into_iter().filter(|v| !v.is_null()).collect()
}

struct Compiled {
    kind: Kind,
    rule: CelRule,
    program: Program,
}

fn compiled_rules() -> Vec<Compiled> {
    Kind::ALL
        .into_iter()
        .flat_map(|kind| {
            cel_rules(kind).into_iter().map(move |rule| {
                let program = Program::compile(&rule.rule)
                    .unwrap_or_else(|e| panic!("{kind}: rule {} does not compile: {e}", rule.rule));
                Compiled {
                    kind,
                    rule,
                    program,
                }
            })
        })
        .collect()
}

/// The messages of the rules the object fails.
fn failures(rules: &[Compiled], object: &Value) -> Vec<String> {
    let Some(kind) = object
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|k| k.parse::<Kind>().ok())
    else {
        return Vec::new();
    };
    let mut defaulted = object.clone();
    Schema::for_kind(kind).apply_defaults(&mut defaulted);
    let mut failed = Vec::new();
    for compiled in rules.iter().filter(|c| c.kind == kind) {
        for node in nodes(&defaulted, &compiled.rule.node) {
            let mut context = Context::default();
            context
                .add_variable("self", escape(node))
                .expect("JSON converts to CEL");
            match compiled.program.execute(&context) {
                Ok(cel::Value::Bool(true)) => {}
                outcome => failed.push(format!("{} ({:?})", compiled.rule.message, outcome)),
            }
        }
    }
    failed
}

fn example_objects() -> Vec<(String, Value)> {
    let mut objects = Vec::new();
    let root = repo_root().join("deploy/examples");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("examples directory exists") {
            let path = entry.expect("readable").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                for document in manifest::parse(&std::fs::read(&path).expect("readable")) {
                    let document = document.expect("examples parse");
                    objects.push((path.display().to_string(), document.value));
                }
            }
        }
    }
    objects
}

#[test]
fn every_rule_compiles_and_names_an_existing_node() {
    let rules = compiled_rules();
    assert!(
        rules.len() > 40,
        "expected the rules of all kinds, found {}",
        rules.len()
    );
    for kind in Kind::ALL {
        let crd = serde_json::to_value(kind.crd()).expect("encodes");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        for rule in cel_rules(kind) {
            assert!(
                schema.pointer(&rule.node).is_some(),
                "{kind}: no node {}",
                rule.node
            );
        }
    }
}

#[test]
fn rules_agree_with_the_webhook_on_every_fixture() {
    let rules = compiled_rules();
    let mut evaluated = 0;
    for case in load_cases() {
        for object in case.objects.iter().chain(&case.setup) {
            let failed = failures(&rules, object);
            let report = validation::check(object, &case.settings).report;
            let in_scope = case.single_object_layer() || case.setup.iter().any(|s| s == object);
            if in_scope && report.is_valid() {
                assert!(
                    failed.is_empty(),
                    "{}: the CRD would refuse an object the webhook admits: {failed:#?}",
                    case.label()
                );
            }
            if !failed.is_empty() {
                assert!(
                    !report.is_valid(),
                    "{}: a CEL rule refuses it but validation admits it: {failed:#?}",
                    case.label()
                );
            }
            evaluated += 1;
        }
        if case.expect.get("cel").and_then(Value::as_str) == Some("reject") {
            for object in &case.objects {
                assert!(
                    !failures(&rules, object).is_empty(),
                    "{}: expected the CEL rules alone to refuse it",
                    case.label()
                );
            }
        }
    }
    assert!(evaluated > 200, "only {evaluated} objects evaluated");
}

#[test]
fn rules_admit_every_shipped_example() {
    let rules = compiled_rules();
    let examples = example_objects();
    assert!(
        examples.len() >= 11,
        "expected at least one example per kind"
    );
    for (file, object) in examples {
        let failed = failures(&rules, &object);
        assert!(failed.is_empty(), "{file}: {failed:#?}");
        assert!(
            validation::check(&object, &Settings::default())
                .report
                .is_valid(),
            "{file}"
        );
    }
}
