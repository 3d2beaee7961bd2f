use rstest::rstest;
use serde_json::{Value, json};

use super::*;

/// Object C of pipeline spec §8: `ConfigMap` `demo` in `default`, label `app=kollect`.
fn object_c() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "demo", "namespace": "default", "labels": {"app": "kollect"}},
        "data": {"key": "value"},
        "spec": {"replicas": 3, "ratio": 0.5, "containers": [{"name": "a", "ports": [{"p": 1}, {"p": 2}]}, {"name": "b", "ports": []}]},
    })
}

fn eval(source: &str) -> Result<Option<Value>, EvalError> {
    CelExpr::compile(source)
        .expect("compiles")
        .evaluate(&object_c())
        .map(|o| o.value)
}

#[rstest]
#[case::ext03("'app' in object.metadata.labels", json!(true))]
#[case::ext04("object.metadata.namespace + '/' + object.metadata.name", json!("default/demo"))]
#[case::string("'x'", json!("x"))]
#[case::int("object.spec.replicas * 2", json!(6))]
#[case::uint("uint(7)", json!(7))]
#[case::double("object.spec.ratio * 2.0", json!(1.0))]
#[case::bytes("bytes('hi')", json!("aGk="))]
#[case::timestamp("timestamp('2024-01-15T10:30:00.120Z')", json!("2024-01-15T10:30:00.12Z"))]
#[case::timestamp_whole("timestamp('2024-01-15T10:30:00Z')", json!("2024-01-15T10:30:00Z"))]
#[case::duration("duration('1m30s')", json!(90_000_000_000_i64))]
#[case::object_map("object.metadata.labels", json!({"app": "kollect"}))]
#[case::list_of_primitives("object.spec.containers.map(c, c.name)", json!(["a", "b"]))]
#[case::list_of_maps("object.spec.containers.map(c, {'n': c.name})", json!([{"n": "a"}, {"n": "b"}]))]
#[case::map_literal("{'a': 1, 2: 'two', true: false}", json!({"a": 1, "2": "two", "true": false}))]
#[case::macros("object.spec.containers.exists(c, c.name == 'b') && object.spec.containers.all(c, size(c.name) == 1)", json!(true))]
#[case::exists_one("object.spec.containers.exists_one(c, c.name == 'a')", json!(true))]
#[case::filter("size(object.spec.containers.filter(c, size(c.ports) > 0))", json!(1))]
#[case::has("has(object.metadata.labels) && !has(object.metadata.annotations)", json!(true))]
#[case::matches("object.metadata.name.matches('^d.m')", json!(true))]
#[case::string_functions("object.metadata.name.startsWith('de') && object.metadata.name.endsWith('mo') && object.metadata.name.contains('em')", json!(true))]
#[case::ternary("object.spec.replicas > 2 ? 'big' : 'small'", json!("big"))]
#[case::nested_dependent("object.spec.containers.all(c, c.ports.all(p, p.p > 0))", json!(true))]
fn values(#[case] source: &str, #[case] expected: Value) {
    assert_eq!(eval(source), Ok(Some(expected)), "{source}");
}

#[test]
fn null_is_no_value() {
    // EXT-16: CEL null → absent.
    assert_eq!(eval("null"), Ok(None));
}

#[rstest]
#[case::missing_key("object.metadata.annotations.chart", "No such key")]
#[case::int_plus_double("object.spec.replicas + 0.5", "")]
#[case::division_by_zero("object.spec.replicas / 0", "")]
#[case::overflow("9223372036854775807 + 1", "")]
fn evaluation_errors(#[case] source: &str, #[case] needle: &str) {
    let error = eval(source).expect_err("fails");
    assert!(error.to_string().starts_with("eval CEL"), "{error}");
    assert!(error.to_string().contains(needle), "{error}");
}

#[rstest]
#[case::ext08("object..metadata.name", "compile CEL")]
#[case::ext13("   ", "empty CEL expression")]
#[case::dangling("object.metadata ==", "compile CEL")]
#[case::extension_function("'a,b'.split(',')", "not part of the CEL standard library")]
#[case::other_variable("request.name", "unknown variable \"request\"")]
#[case::optional_syntax("object.?metadata", "")]
fn compile_errors(#[case] source: &str, #[case] needle: &str) {
    let error = CelExpr::compile(source).expect_err("refused");
    assert!(error.to_string().contains(needle), "{source}: {error}");
}

#[test]
fn syntax_errors_carry_a_column() {
    let Err(CompileError::Syntax { column, .. }) = CelExpr::compile("object.metadata.name ==")
    else {
        panic!("a syntax error");
    };
    assert!(column >= 20, "column {column}");
}

#[test]
fn non_finite_results_become_null_with_a_flag() {
    let output = CelExpr::compile("double('NaN')")
        .expect("compiles")
        .evaluate(&object_c())
        .expect("evaluates");
    assert_eq!(
        output,
        Output {
            value: None,
            non_finite: true
        }
    );
    let output = CelExpr::compile("[1.0 / 0.0, 2.0]")
        .expect("compiles")
        .evaluate(&object_c())
        .expect("evaluates");
    assert_eq!(output.value, Some(json!([null, 2.0])));
    assert!(output.non_finite);
}

#[test]
fn predicates_must_be_booleans() {
    // VAL-05: `object.metadata.name == 'demo'` is a valid matchPolicy.
    let policy = CelExpr::compile("object.metadata.name == 'demo'").expect("compiles");
    assert_eq!(policy.evaluate_bool(&object_c()), Ok(true));
    let not_bool = CelExpr::compile("object.metadata.name").expect("compiles");
    assert!(matches!(
        not_bool.evaluate_bool(&object_c()),
        Err(EvalError::NotBoolean(_))
    ));
    assert!(CelExpr::compile("object.").is_err());
}

#[test]
fn map_iteration_is_in_key_order_on_every_evaluation() {
    // The interpreter's maps iterate in a random order; extraction must not (digests would
    // change on every export).
    let keys: Vec<String> = (0..40).map(|i| format!("key-{i:02}")).collect();
    let data: serde_json::Map<String, Value> =
        keys.iter().map(|k| (k.clone(), json!("v"))).collect();
    let object = json!({"data": data});
    let keys_of = CelExpr::compile("object.data.map(k, k)").expect("compiles");
    let filtered = CelExpr::compile("object.data.filter(k, k.endsWith('7'))").expect("compiles");
    for _ in 0..20 {
        assert_eq!(
            keys_of.evaluate(&object).expect("evaluates").value,
            Some(json!(keys))
        );
        assert_eq!(
            filtered.evaluate(&object).expect("evaluates").value,
            Some(json!(["key-07", "key-17", "key-27", "key-37"]))
        );
    }
    // Lists keep their own order; predicates over maps still see every key.
    let list = CelExpr::compile("[3, 1, 2].map(x, x * 10)").expect("compiles");
    assert_eq!(
        list.evaluate(&object).expect("evaluates").value,
        Some(json!([30, 10, 20]))
    );
    let any = CelExpr::compile("object.data.exists(k, k == 'key-39')").expect("compiles");
    assert_eq!(
        any.evaluate(&object).expect("evaluates").value,
        Some(json!(true))
    );
    let nested = CelExpr::compile("object.data.map(k, object.data.filter(j, j == k).size())")
        .expect("compiles");
    assert_eq!(
        nested.evaluate(&object).expect("evaluates").value,
        Some(json!(vec![1; 40]))
    );
}

#[test]
fn flt_15_match_policy_results() {
    let object = json!({"metadata": {"name": "keep"}});
    let eval = |source: &str| {
        CelExpr::compile(source)
            .expect("compiles")
            .evaluate_bool(&object)
    };
    assert_eq!(eval("object.metadata.name == 'keep'"), Ok(true));
    assert_eq!(eval("object.metadata.name == 'drop'"), Ok(false));
    assert_eq!(eval("'true'"), Ok(true), "strings convert as bool() does");
    assert_eq!(eval("'False'"), Ok(false));
    for not_bool in ["1 + 1", "'truthy'", "null"] {
        assert!(
            matches!(eval(not_bool), Err(EvalError::NotBoolean(_))),
            "{not_bool}: {:?}",
            eval(not_bool)
        );
    }
}

#[test]
fn references_are_bounded_where_possible() {
    let paths = |source: &str| {
        CelExpr::compile(source)
            .expect("compiles")
            .references()
            .clone()
    };
    assert_eq!(
        paths("object.metadata.name + object.metadata.labels['app']"),
        References::Paths(vec![
            vec!["metadata".into(), "name".into()],
            vec!["metadata".into(), "labels".into(), "app".into()]
        ])
    );
    assert_eq!(
        paths("has(object.spec.x)"),
        References::Paths(vec![vec!["spec".into(), "x".into()]])
    );
    assert_eq!(
        paths("object.spec.containers.all(c, c.image != '')"),
        References::Paths(vec![vec!["spec".into(), "containers".into()]])
    );
    assert_eq!(
        paths("object.spec.containers[0].image"),
        References::Paths(vec![vec!["spec".into(), "containers".into()]])
    );
    assert_eq!(paths("size(object)"), References::Whole);
    assert_eq!(paths("object[object.metadata.name]"), References::Whole);
    assert_eq!(
        paths("[1].all(object, object > 0)"),
        References::Paths(vec![])
    );
}

#[test]
fn exponential_expressions_are_refused_before_they_run() {
    let list = "[1,2,3,4,5,6,7,8,9,10]";
    let nested = (0..8).fold("true".to_owned(), |body, level| {
        format!("{list}.all(x{level}, {body})")
    });
    let error = CelExpr::compile(&nested)
        .expect("compiles")
        .evaluate(&object_c())
        .expect_err("too costly");
    assert!(matches!(error, EvalError::TooCostly { .. }), "{error}");
}

#[test]
fn dependent_nesting_is_not_costly() {
    let object = json!({"spec": {"containers": (0..300).map(|i| json!({"ports": (0..30).map(|p| json!({"p": p + i})).collect::<Vec<_>>()})).collect::<Vec<_>>()}});
    let expr = CelExpr::compile("object.spec.containers.all(c, c.ports.all(p, p.p >= 0))")
        .expect("compiles");
    assert_eq!(
        expr.evaluate(&object).map(|o| o.value),
        Ok(Some(json!(true)))
    );
    let independent =
        CelExpr::compile("object.spec.containers.all(c, object.spec.containers.all(d, true))")
            .expect("compiles");
    assert!(matches!(
        independent.evaluate(&object),
        Err(EvalError::TooCostly { .. })
    ));
}

#[test]
fn computed_ranges_count_as_nesting() {
    // Each element of the computed list is the whole `items` list, so the inner comprehension
    // runs W times per outer element even though its range is "under" the outer variable.
    let object = json!({"items": (0..3000).collect::<Vec<_>>()});
    let expr = CelExpr::compile("object.items.map(x, object.items).all(l, l.all(y, y >= 0))")
        .expect("compiles");
    assert!(
        matches!(expr.evaluate(&object), Err(EvalError::TooCostly { .. })),
        "cost {}",
        expr.cost(&object)
    );
    // A shadowing variable over a computed list is not plain either.
    let shadow = CelExpr::compile(
        "object.items.all(x, object.items.map(z, object.items).all(x, x.all(y, true)))",
    )
    .expect("compiles");
    assert!(matches!(
        shadow.evaluate(&object),
        Err(EvalError::TooCostly { .. })
    ));
}

#[test]
fn long_strings_raise_the_cost() {
    let big = "x".repeat(10 << 20);
    let object = json!({"items": (0..100).collect::<Vec<_>>(), "s": big});
    let plain = CelExpr::compile("object.s.size()").expect("compiles");
    assert_eq!(
        plain.evaluate(&object).map(|o| o.value),
        Ok(Some(json!(10 << 20)))
    );
    let repeated = CelExpr::compile("object.items.all(i, object.s.contains(object.s + 'y'))")
        .expect("compiles");
    assert!(matches!(
        repeated.evaluate(&object),
        Err(EvalError::TooCostly { .. })
    ));
}

#[test]
fn overlong_expressions_are_refused() {
    let long = format!("'{}'", "x".repeat(MAX_EXPRESSION_LENGTH));
    assert!(matches!(
        CelExpr::compile(&long),
        Err(CompileError::TooLong(_))
    ));
}

#[test]
fn deeply_nested_expressions_are_refused_at_compile_time() {
    let parens = |n: usize| format!("{}1{}", "(".repeat(n), ")".repeat(n));
    let lists = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let plus = |n: usize| vec!["1"; n].join("+");
    let members = |n: usize| format!("object{}", ".a".repeat(n));
    let sizes = |n: usize| format!("'x'{}", ".size()".repeat(n));
    // Far beyond the limit, yet within the length limit: refused, not a stack overflow.
    for deep in [
        parens(4_999),
        lists(4_999),
        plus(4_999),
        members(4_996),
        sizes(1_400),
    ] {
        assert!(
            matches!(CelExpr::compile(&deep), Err(CompileError::TooDeep(_))),
            "{}",
            &deep[..40]
        );
    }
    // At the limit, everything compiles and evaluates on this (2 MiB, debug) test thread.
    let object = json!({"a": {"a": {"a": 1}}});
    for shallow in [
        parens(MAX_DEPTH),
        lists(MAX_DEPTH - 1),
        plus(MAX_DEPTH - 1),
        members(MAX_DEPTH - 2),
        sizes(MAX_DEPTH - 2),
    ] {
        let expr = CelExpr::compile(&shallow).expect("within the limit");
        let _ = expr.evaluate(&object);
    }
    assert!(matches!(
        CelExpr::compile(&plus(MAX_DEPTH + 1)),
        Err(CompileError::TooDeep(_))
    ));
}

#[test]
fn brackets_inside_strings_do_not_count_as_nesting() {
    let text = format!("'{}' + \"{}\\\"(\"", "(".repeat(200), "[".repeat(200));
    assert!(CelExpr::compile(&text).is_ok(), "{text}");
}

proptest::proptest! {
    #[test]
    fn arbitrary_expressions_never_panic(source in "\\PC{0,60}") {
        if let Ok(expr) = CelExpr::compile(&source) {
            let _ = expr.evaluate(&object_c());
        }
    }

    #[test]
    fn arbitrary_cel_tokens_never_panic(source in "(object|\\.|metadata|spec|\\[|\\]|\\(|\\)|'a'|1|2\\.5|==|&&|\\|\\||\\+|-|\\*|/|%|!|size|has|all|map|x|,| ){0,25}") {
        if let Ok(expr) = CelExpr::compile(&source) {
            let _ = expr.evaluate(&object_c());
        }
    }
}
