use rstest::rstest;
use serde_json::{Value, json};

use super::*;

/// Object J of pipeline spec §8.2.
fn object_j() -> Value {
    json!({
        "metadata": {"name": "demo", "labels": {"app": "kollect", "app.kubernetes.io/name": "web"}},
        "spec": {
            "replicas": 3,
            "ratio": 0.5,
            "containers": [{"name": "app", "image": "app:1.0"}, {"name": "sidecar", "image": "sidecar:2.0"}],
            "empty": [],
            "one": [{"image": "solo:1"}],
            "nothing": null,
            "mixed": [{"image": "a"}, {"name": "no-image"}],
        },
    })
}

fn eval(path: &str, object: &Value) -> Result<Option<Value>, EvalError> {
    JsonPath::parse(path).expect("parses").evaluate(object)
}

#[rstest]
#[case::jp01("$.spec.one[*].image", Some(json!("solo:1")))]
#[case::jp02("$.spec.empty[*].image", None)]
#[case::jp04("$.spec.containers[-1].image", Some(json!("sidecar:2.0")))]
#[case::jp05("$.spec.containers[0:1].image", Some(json!("app:1.0")))]
#[case::jp06("$.spec.nothing[0]", None)]
#[case::jp07("$.spec.nothing.x", None)]
#[case::jp08("$.spec.mixed[*].image", Some(json!("a")))]
#[case::jp09a("$.spec.replicas", Some(json!(3)))]
#[case::jp09b("$.spec.ratio", Some(json!(0.5)))]
#[case::jp10("$.metadata.labels", Some(json!({"app": "kollect", "app.kubernetes.io/name": "web"})))]
#[case::jp11(r"{.metadata.labels.app\.kubernetes\.io/name}", Some(json!("web")))]
#[case::jp12("{.metadata.labels['app.kubernetes.io/name']}", None)]
#[case::jp14("$.spec.containers.image", None)]
#[case::jp15(r#"$.spec.containers[?(@.name=="sidecar")].image"#, Some(json!("sidecar:2.0")))]
#[case::jp16(r#"$.spec.mixed[?(@.name=="no-image")].name"#, None)]
#[case::jp17("{.spec.containers[0].image} {.metadata.name}", Some(json!("app:1.0")))]
#[case::jp18(
    "$.spec.containers[*]",
    Some(json!([{"name": "app", "image": "app:1.0"}, {"name": "sidecar", "image": "sidecar:2.0"}]))
)]
#[case::ext11("$.spec.containers[*].image", Some(json!(["app:1.0", "sidecar:2.0"])))]
#[case::union("$.spec.containers[0,1].name", Some(json!(["app", "sidecar"])))]
#[case::quoted_key("{.metadata['name']}", Some(json!("demo")))]
#[case::wildcard_map_sorted("$.metadata.labels.*", Some(json!(["kollect", "web"])))]
#[case::recursive("$..image", Some(json!(["app:1.0", "sidecar:2.0", "a", "solo:1"])))]
#[case::filter_exists("$.spec.mixed[?(@.image)].image", Some(json!("a")))]
#[case::filter_single_quotes("$.spec.containers[?(@.name=='app')].image", Some(json!("app:1.0")))]
#[case::filter_numbers("$.spec[?(@.x>1)]", None)]
#[case::step("$.spec.containers[::2].name", Some(json!("app")))]
#[case::root("{.}", Some(object_j()))]
#[case::whitespace("  $.metadata.name  ", Some(json!("demo")))]
fn dialect_vectors(#[case] path: &str, #[case] expected: Option<Value>) {
    let result = eval(path, &object_j());
    match (&result, path) {
        // `$.spec[?(...)]` filters a map: an error, as in client-go.
        (Err(_), "$.spec[?(@.x>1)]") => {}
        _ => assert_eq!(result, Ok(expected), "{path}"),
    }
}

#[rstest]
#[case::jp03("$.spec.containers[5].image", "out of bounds")]
#[case::ext14("{.metadata.name[0]}", "not array")]
#[case::zero_step("$.spec.containers[0:2:0]", "step must be > 0")]
#[case::reversed("$.spec.containers[1:0]", "greater than ending")]
#[case::incompatible("$.spec.containers[?(@.name==3)]", "incompatible types")]
#[case::bool_order("$.spec.containers[?(@.name<true)]", "incompatible types")]
fn evaluation_errors(#[case] path: &str, #[case] needle: &str) {
    let error = eval(path, &object_j()).expect_err("fails");
    assert!(error.to_string().contains(needle), "{path}: {error}");
}

#[test]
fn empty_list_with_wildcard_is_null() {
    // EXT-15: `$.items[*]` on `items: []`.
    assert_eq!(eval("$.items[*]", &json!({"items": []})), Ok(None));
}

#[rstest]
#[case::ext07("{.metadata.name", "unterminated '{' at column 1")]
#[case::unterminated_bracket("$.spec.containers[0.image", "unterminated '[' at column 18")]
#[case::bad_index("$.spec.containers[x]", "invalid array index")]
#[case::range("{range .items[*]}{.name}{end}", "range/end")]
#[case::plain_text("metadata.name", "plain text is not a path")]
#[case::empty_action("{}", "empty action")]
#[case::bad_operator("$.a[?(@.b=~'x')]", "unknown filter operator")]
#[case::unterminated_filter("$.a[?(@.b=='x'", "unterminated filter")]
#[case::bad_literal("$.a[?(@.b==x)]", "neither a path")]
#[case::second_action_broken("{.a}{.b", "unterminated '{' at column 5")]
fn parse_errors(#[case] path: &str, #[case] needle: &str) {
    let error = JsonPath::parse(path).expect_err("refused");
    assert!(error.to_string().contains(needle), "{path}: {error}");
}

#[test]
fn columns_count_from_the_expression_as_written() {
    let error = JsonPath::parse("$.spec.template.containers[0.image").expect_err("refused");
    assert_eq!(error.column, 27, "{error}");
}

#[test]
fn escaped_quotes_in_filters() {
    let object = json!({"a": [{"b": "it's"}, {"b": "no"}]});
    assert_eq!(
        eval(r"$.a[?(@.b=='it\'s')].b", &object),
        Ok(Some(json!("it's")))
    );
}

#[test]
fn float_and_integer_comparisons_follow_go_kinds() {
    let object = json!({"a": [{"v": 1}, {"v": 2.5}]});
    assert_eq!(
        eval("$.a[?(@.v>0)].v", &json!({"a": [{"v": 1}, {"v": 2}]})),
        Ok(Some(json!([1, 2])))
    );
    assert!(
        eval("$.a[?(@.v>0)].v", &object).is_err(),
        "2.5 is a float, 0 an integer"
    );
    assert_eq!(
        eval("$.a[?(@.v>=2.5)].v", &json!({"a": [{"v": 2.5}]})),
        Ok(Some(json!(2.5)))
    );
}

proptest::proptest! {
    #[test]
    fn arbitrary_paths_never_panic(path in "\\PC{0,40}") {
        if let Ok(parsed) = JsonPath::parse(&path) {
            let _ = parsed.evaluate(&object_j());
        }
    }

    #[test]
    fn arbitrary_path_characters_never_panic(path in "[\\[\\]{}().@$*?'\"=!<>:,a-c0-2\\\\ -]{0,30}") {
        if let Ok(parsed) = JsonPath::parse(&path) {
            let _ = parsed.evaluate(&object_j());
        }
    }
}
