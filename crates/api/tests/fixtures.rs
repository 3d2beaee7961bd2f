//! The conformance fixtures of `api.md` §16 (amended by DECISIONS.md), table-driven.

mod support;

use kollect_api::validation::{self, Checked, FieldError, Settings};
use serde_json::Value;
use support::{Case, contains, load_cases};

fn check_all(case: &Case) -> Vec<Checked> {
    case.objects
        .iter()
        .map(|object| validation::check(object, &case.settings))
        .collect()
}

fn describe(checked: &Checked) -> String {
    let errors: Vec<String> = checked
        .report
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    let warnings: Vec<String> = checked
        .report
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    format!("errors: {errors:#?}\nwarnings: {warnings:#?}")
}

fn matches(error: &FieldError, expected: &Value) -> bool {
    let field = expected["field"]
        .as_str()
        .expect("expected error names a field");
    let field_ok = error.field == field
        || error
            .field
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(['.', '[']));
    let type_ok = expected
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(|t| error.error_type.code() == t);
    let message_ok = expected
        .get("message")
        .and_then(Value::as_str)
        .is_none_or(|m| error.to_string().contains(m));
    field_ok && type_ok && message_ok
}

/// Single-object cases: the outcome `validation::check` must produce.
fn assert_single_object(case: &Case, checked: &Checked) {
    let label = case.label();
    let expect = &case.expect;
    if case.expect_accept() {
        assert!(
            checked.report.is_valid(),
            "{label}: expected to be accepted\n{}",
            describe(checked)
        );
        if let Some(stored) = expect.get("stored") {
            let object = checked
                .object()
                .expect("accepted objects decode")
                .to_value();
            assert!(
                contains(&object, stored),
                "{label}: stored object {object:#} lacks {stored:#}"
            );
        }
    } else {
        assert!(
            !checked.report.is_valid(),
            "{label}: expected to be rejected\n{}",
            describe(checked)
        );
        for expected in expect["errors"].as_array().into_iter().flatten() {
            assert!(
                checked.report.errors.iter().any(|e| matches(e, expected)),
                "{label}: no error matches {expected}\n{}",
                describe(checked)
            );
        }
        if let Some(exactly) = expect.get("exactly").and_then(Value::as_u64) {
            assert_eq!(
                checked.report.errors.len() as u64,
                exactly,
                "{label}: error count\n{}",
                describe(checked)
            );
        }
    }
    if let Some(count) = expect.get("warnings").and_then(Value::as_u64) {
        assert_eq!(
            checked.report.warnings.len() as u64,
            count,
            "{label}: warning count\n{}",
            describe(checked)
        );
    }
    for needle in expect["warningContains"].as_array().into_iter().flatten() {
        let needle = needle.as_str().expect("string");
        assert!(
            checked
                .report
                .warnings
                .iter()
                .any(|w| w.to_string().contains(needle)),
            "{label}: no warning mentions {needle:?}\n{}",
            describe(checked)
        );
    }
}

#[test]
fn single_object_fixtures_have_their_expected_outcome() {
    let cases = load_cases();
    let mut checked_cases = 0;
    for case in cases.iter().filter(|c| c.single_object_layer()) {
        for checked in check_all(case) {
            assert_single_object(case, &checked);
        }
        checked_cases += 1;
    }
    assert!(
        checked_cases > 150,
        "only {checked_cases} single-object cases ran"
    );
}

/// Cases decided by the admission layer (they read scopes and profiles) or by the extraction
/// crate (they compile expressions): each object on its own passes single-object validation,
/// so their rejection can only come from that layer.
#[test]
fn admission_and_extract_fixtures_pass_single_object_validation() {
    let cases = load_cases();
    let deferred: Vec<&Case> = cases.iter().filter(|c| !c.single_object_layer()).collect();
    assert!(deferred.len() >= 20, "deferred fixtures went missing");
    for case in deferred {
        assert!(
            matches!(case.layer.as_str(), "admission" | "extract"),
            "{}: unknown layer",
            case.label()
        );
        for object in case.objects.iter().chain(&case.setup) {
            let checked = validation::check(object, &Settings::default());
            assert!(
                checked.report.is_valid(),
                "{}: single-object validation refused it\n{}",
                case.label(),
                describe(&checked)
            );
        }
        if case.layer == "admission" {
            assert!(
                !case.setup.is_empty(),
                "{}: admission cases need setup objects",
                case.label()
            );
        }
    }
}

#[test]
fn every_spec_fixture_id_is_covered() {
    let cases = load_cases();
    let ids: std::collections::BTreeSet<String> = cases
        .iter()
        .map(|c| c.id.split('-').next().unwrap_or_default().to_owned())
        .collect();
    let mut missing = Vec::new();
    for (prefix, count) in [
        ("P", 16),
        ("T", 12),
        ("CT", 9),
        ("I", 14),
        ("CI", 13),
        ("F", 31),
        ("C", 5),
        ("SC", 5),
    ] {
        for number in 1..=count {
            let id = format!("{prefix}{number}");
            if !ids.contains(&id) {
                missing.push(id);
            }
        }
    }
    assert!(missing.is_empty(), "fixtures without a case: {missing:?}");
}
