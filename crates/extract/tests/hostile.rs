//! Hostile input ends with an error, never a crash or a hang: deeply nested JSON, huge strings,
//! expressions whose cost explodes.

use kollect_api::v1alpha1::{AttributeSpec, GroupVersionKind, ProfileSpec};
use kollect_extract::{
    AttributeError, ExtractError, ExtractOptions, Extractor, WatchEvent,
    cel::EvalError as CelEvalError,
};
use serde_json::json;

fn profile(paths: &[&str]) -> Extractor {
    let attributes = paths
        .iter()
        .enumerate()
        .map(|(i, path)| AttributeSpec {
            name: format!("a{i}"),
            path: (*path).into(),
            type_hint: None,
            optional: Some(false),
        })
        .collect();
    let spec = ProfileSpec {
        target_gvk: GroupVersionKind::new("", "v1", "ConfigMap"),
        attributes: Some(attributes),
        export: None,
        metrics: None,
    };
    Extractor::compile_spec(&spec, false, &ExtractOptions::default()).expect("compiles")
}

/// A `ConfigMap` whose `data.deep` is nested `levels` arrays deep.
fn deeply_nested(levels: usize) -> Vec<u8> {
    let mut text =
        String::from(r#"{"metadata":{"name":"deep","namespace":"ns","uid":"u"},"data":{"deep":"#);
    text.push_str(&"[".repeat(levels));
    text.push_str(&"]".repeat(levels));
    text.push_str("}}");
    text.into_bytes()
}

#[test]
fn ten_thousand_levels_of_nesting_are_refused_where_they_are_read() {
    let bytes = deeply_nested(10_000);
    // Profiles that read `data` (by path, recursive descent or CEL) end with a decode error.
    for paths in [
        &["{.data.deep}"][..],
        &["{..name}"],
        &["cel:object.data.deep.size()"],
        &["cel:size(object)"],
    ] {
        let extractor = profile(paths);
        let error = extractor
            .extract_from_slice(&bytes)
            .expect_err("too deep to read");
        assert!(
            matches!(&error, ExtractError::Decode(message) if message.contains("recursion")),
            "{paths:?}: {error}"
        );
        let mut event = br#"{"type":"ADDED","object":"#.to_vec();
        event.extend_from_slice(&bytes);
        event.push(b'}');
        let outcome = extractor.extract_event_from_slice(&event);
        assert!(
            matches!(
                outcome,
                Ok(WatchEvent::Applied(Err(ExtractError::Decode(_))))
            ),
            "{paths:?}: the object of the event must be refused: {outcome:?}"
        );
    }
    // A profile that never reads `data` skips it without recursing (no stack at risk), so the
    // row is still produced.
    let lean = profile(&["{.metadata.name}"]);
    let extracted = lean.extract_from_slice(&bytes).expect("skipped");
    assert_eq!(extracted.row.attributes.as_json(), r#"{"a0":"deep"}"#);
    // The caller's own parse refuses it, so the two-step path never sees it.
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
}

#[test]
fn moderate_nesting_still_extracts() {
    let bytes = deeply_nested(100);
    let extracted = profile(&["{.metadata.name}", "cel:object.data.deep.size()"])
        .extract_from_slice(&bytes)
        .expect("100 levels are fine");
    assert_eq!(
        extracted.row.attributes.as_json(),
        r#"{"a0":"deep","a1":1}"#
    );
}

fn with_big_string(bytes: usize) -> serde_json::Value {
    json!({
        "metadata": {"name": "big", "namespace": "ns", "uid": "u",
                     "annotations": {"blob": "x".repeat(bytes)}},
        "data": {"small": "v"}
    })
}

#[test]
fn a_ten_mebibyte_string_is_skipped_when_unreferenced_and_refused_when_exported() {
    let object = with_big_string(10 << 20);
    let bytes = serde_json::to_vec(&object).expect("encodes");
    let lean = profile(&["{.data.small}"]);
    let row = lean
        .extract_from_slice(&bytes)
        .expect("the blob is skipped");
    assert_eq!(row.row.attributes.as_json(), r#"{"a0":"v"}"#);
    assert_eq!(lean.extract(&object).expect("two-step").row, row.row);

    let greedy = profile(&["{.metadata.annotations.blob}"]);
    for result in [greedy.extract_from_slice(&bytes), greedy.extract(&object)] {
        assert!(
            matches!(result, Err(ExtractError::RowTooLarge { bytes, .. }) if bytes > 10 << 20),
            "{result:?}"
        );
    }
    // Scanning it with CEL is linear and allowed; repeating the scan per list element is not.
    let scan = profile(&["cel:object.metadata.annotations.blob.contains('y')"]);
    assert_eq!(
        scan.extract_from_slice(&bytes)
            .expect("one scan")
            .row
            .attributes
            .as_json(),
        r#"{"a0":false}"#
    );
}

#[test]
fn exponential_cel_is_refused_before_it_runs() {
    let list = format!(
        "[{}]",
        (0..20).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
    );
    let nested = (0..12).fold("true".to_owned(), |body, level| {
        format!("{list}.all(x{level}, {body})")
    });
    let extractor = profile(&[&format!("cel:{nested}")]);
    let object = with_big_string(10);
    for result in [
        extractor.extract(&object),
        extractor.extract_from_slice(&serde_json::to_vec(&object).expect("encodes")),
    ] {
        assert!(
            matches!(
                &result,
                Err(ExtractError::Attribute {
                    source: AttributeError::Cel(CelEvalError::TooCostly { .. }),
                    ..
                })
            ),
            "{result:?}"
        );
    }
}

#[test]
fn hostile_watch_events_are_errors() {
    let extractor = profile(&["{.metadata.name}"]);
    for event in [
        &b"{}"[..],
        b"{\"type\":\"ADDED\"}",
        b"{\"type\":\"TELEPORTED\",\"object\":{}}",
        b"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
        b"{\"type\":\"ADDED\",\"object\":[]}",
        b"{\"type\":7,\"object\":{}}",
        b"not json",
    ] {
        let result = extractor.extract_event_from_slice(event);
        assert!(
            result.is_err() || matches!(result, Ok(WatchEvent::Applied(Err(_)))),
            "{}: {result:?}",
            String::from_utf8_lossy(event)
        );
    }
}

#[test]
fn duplicate_keys_resolve_as_in_a_parsed_value_last_one_wins() {
    for (paths, text) in [
        (
            &["{.spec.*}"][..],
            r#"{"metadata":{"name":"n","uid":"u"},"spec":{"a":1,"a":2}}"#,
        ),
        (
            &["{..name}"],
            r#"{"metadata":{"name":"n","uid":"u"},"spec":{"name":"a"},"spec":{"name":"b"}}"#,
        ),
        (
            &["{.metadata.labels.app}", "{.metadata.name}"],
            r#"{"metadata":{"name":"n","labels":{"app":"x"}},"metadata":{"uid":"u"}}"#,
        ),
    ] {
        let extractor = profile(paths);
        let value: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(
            extractor.extract_from_slice(text.as_bytes()).map(|e| e.row),
            extractor.extract(&value).map(|e| e.row),
            "{paths:?} on {text}"
        );
    }
}
