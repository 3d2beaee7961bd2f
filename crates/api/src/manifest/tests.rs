use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn ok(text: &str) -> Vec<Document> {
    parse(text.as_bytes())
        .into_iter()
        .map(|document| document.expect("parses"))
        .collect()
}

fn err(text: &str) -> ParseError {
    let results = parse(text.as_bytes());
    results.into_iter().find_map(Result::err).expect("an error")
}

#[test]
fn reads_documents_with_locations() {
    let text = "# leading comment\napiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\nspec:\n  list:\n    - a\n    - name: x\n";
    let documents = ok(text);
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[0].value, json!({"apiVersion": "v1", "kind": "A"}));
    assert_eq!(documents[0].start.line, 2);
    let second = &documents[1];
    assert_eq!(second.locations["/spec/list/0"].line, 9);
    assert_eq!(second.locations["/spec/list/1/name"].line, 10);
    assert_eq!(second.locate("/spec/list/1/name/missing").line, 10);
    assert_eq!(second.locate("/nothing").line, second.start.line);
}

#[test]
fn comment_only_and_empty_documents_are_skipped() {
    assert!(ok("---\n# nothing\n---\n---\n").is_empty());
    assert_eq!(ok("a: 1\n---\n").len(), 1);
}

#[test]
fn one_bad_document_does_not_hide_the_others() {
    let results = parse(b"a: 1\n---\nb: [\n---\nc: 3\n");
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    assert!(results[1].as_ref().expect_err("bad").location.line >= 3);
}

#[test]
fn json_input_parses() {
    let documents =
        ok("{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"A\", \"n\": [1, 2.5, true, null]\n}\n");
    assert_eq!(
        documents[0].value,
        json!({"apiVersion": "v1", "kind": "A", "n": [1, 2.5, true, null]})
    );
}

#[test]
fn duplicate_keys_are_errors() {
    let error = err("a: 1\nb: 2\na: 3\n");
    assert_eq!(error.location.line, 3);
    assert!(
        error.message.contains("duplicate key \"a\""),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("first at line 1"),
        "{}",
        error.message
    );
}

#[test]
fn alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let previous = level - 1;
        let refs = vec![format!("*a{previous}"); 10].join(", ");
        text = format!("{text}a{level}: &a{level} [{refs}]\n");
    }
    let error = err(&text);
    assert!(error.message.contains("alias"), "{}", error.message);
}

#[test]
fn small_aliases_work() {
    let documents = ok("base: &b {x: 1}\ncopy: *b\n");
    assert_eq!(documents[0].value["copy"], json!({"x": 1}));
}

#[test]
fn deep_nesting_is_refused() {
    let text = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let error = err(&text);
    assert!(
        error.message.contains("nesting") || error.message.contains("recursion limit"),
        "{}",
        error.message
    );
}

#[test]
fn oversized_document_is_refused_without_parsing() {
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n  big: \"");
    text.push_str(&"x".repeat(MAX_DOCUMENT_BYTES));
    text.push_str("\"\n---\na: 1\n");
    let results = parse(text.as_bytes());
    assert_eq!(results.len(), 2);
    let error = results[0].as_ref().expect_err("too large");
    assert!(
        error.message.contains("smaller than 3.0 MiB"),
        "{}",
        error.message
    );
    assert!(results[1].is_ok());
}

#[test]
fn oversized_file_is_refused() {
    let bytes = vec![b'a'; MAX_FILE_BYTES + 1];
    let error = err(std::str::from_utf8(&bytes).expect("ascii"));
    assert!(error.message.contains("larger than"), "{}", error.message);
}

#[test]
fn binary_garbage_is_refused() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    let results = parse(&garbage);
    assert!(matches!(results.as_slice(), [Err(_)]), "{results:?}");
    let results = parse(b"a: 1\n\0\0\0");
    assert!(
        results[0]
            .as_ref()
            .expect_err("nul")
            .message
            .contains("NUL")
    );
}

#[test]
fn non_mapping_documents_are_errors() {
    assert!(err("- a\n- b\n").message.contains("must be a mapping"));
    assert!(err("just text\n").message.contains("must be a mapping"));
}

#[test]
fn unsupported_yaml_features_are_errors() {
    assert!(err("a: !custom x\n").message.contains("tag"));
    assert!(
        err("base: &b {x: 1}\nc:\n  <<: *b\n")
            .message
            .contains("merge keys")
    );
    assert!(err("a: .inf\n").message.contains("JSON"));
    assert!(err("? [a]\n: b\n").message.contains("keys"));
}

#[test]
fn a_quoted_double_angle_key_is_an_ordinary_key() {
    assert!(
        err("\"<<\": 1\n'<<': 2\n")
            .message
            .contains("duplicate key")
    );
    assert_eq!(
        ok("a:\n  \"<<\": null\n")[0].value,
        json!({"a": {"<<": null}})
    );
}

#[test]
fn lists_are_expanded() {
    let text = "apiVersion: v1\nkind: List\nitems:\n  - kind: A\n    metadata:\n      name: a\n  - kind: B\n";
    let documents = ok(text);
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[0].value["kind"], "A");
    assert_eq!(documents[0].locations["/metadata/name"].line, 6);
    assert_eq!(documents[1].start.line, 7);
}

#[test]
fn directives_stay_with_their_document() {
    let documents = ok("a: 1\n%YAML 1.2\n---\nb: 2\n");
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[1].value, json!({"b": 2}));
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("yes"),
            Just("0755"),
            Just("- x"),
            Just("a: b"),
            Just("# c"),
            Just("~"),
            Just("line\nbreak\n"),
            Just("two\n\n"),
            Just("x\ny"),
            Just("  lead"),
            Just("tab\there"),
            Just("\u{1}ctl"),
            Just("trail: "),
            Just("{x}"),
            Just("'q'"),
            Just("1e3"),
            Just("@"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn emitted_yaml_reads_back_unchanged(body in prop::collection::btree_map("\\PC{1,8}", arbitrary_json(), 1..6)) {
        let value = Value::Object(body.into_iter().collect());
        let yaml = to_yaml(&value);
        let parsed = parse(yaml.as_bytes());
        prop_assert_eq!(parsed.len(), 1, "{}", yaml);
        let document = parsed.into_iter().next().expect("one").map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        prop_assert_eq!(&document.value, &value, "{}", yaml);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&bytes);
    }
}
