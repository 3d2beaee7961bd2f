//! The `layer: extract` cases of the API fixtures (`tests/fixtures/api`): objects that pass
//! single-object validation but carry an expression that does not compile.

#[path = "../../api/tests/support/mod.rs"]
mod support;

use kollect_api::validation::{self, Settings, Subject};
use kollect_extract::check_expressions;
use serde_json::Value;

#[test]
fn extract_layer_fixtures_are_rejected_with_their_field_path() {
    let cases: Vec<_> = support::load_cases()
        .into_iter()
        .filter(|case| case.layer == "extract")
        .collect();
    assert!(cases.len() >= 2, "the extract-layer fixtures went missing");
    for case in cases {
        for object in &case.objects {
            let mut checked = validation::check(object, &Settings::default());
            assert!(
                checked.report.is_valid(),
                "{}: {:?}",
                case.label(),
                checked.report
            );
            let Subject::Kollect(_, Some(decoded)) = &checked.subject else {
                panic!("{}: the object does not decode", case.label());
            };
            check_expressions(decoded, &mut checked.report);
            assert_eq!(
                checked.report.is_valid(),
                case.expect_accept(),
                "{}: {:?}",
                case.label(),
                checked.report
            );
            for expected in case.expect["errors"].as_array().into_iter().flatten() {
                let field = expected["field"].as_str().expect("a field");
                let kind = expected.get("type").and_then(Value::as_str);
                assert!(
                    checked
                        .report
                        .errors
                        .iter()
                        .any(|error| error.field == field
                            && kind.is_none_or(|k| error.error_type.code() == k)),
                    "{}: no {kind:?} error at {field}: {:?}",
                    case.label(),
                    checked.report.errors
                );
            }
        }
    }
}
