//! The extraction layer of admission: compiling every expression a Kollect object carries.
//!
//! Single-object validation in `kollect-api` checks the shape of attribute paths and match
//! policies; only this crate can compile them. [`check_expressions`] adds a field error for each
//! one that does not compile, so `kollect validate`, admission and profile status report
//! `spec.attributes[2].path: unterminated '{' at column 18` before anything is collected.

use kollect_api::{
    v1alpha1::{CollectionFilterSpec, KollectObject},
    validation::{ErrorType, FieldError, FieldPath, Report},
};

use crate::extractor::{ExtractOptions, Extractor, compile_match_policy};

/// Compiles the attribute paths of a profile and the match policies of a target, adding one
/// `Invalid` error per expression that does not compile. Other kinds carry no expressions.
pub fn check_expressions(object: &KollectObject, report: &mut Report) {
    match object {
        KollectObject::Profile(profile) => {
            if let Err(errors) = Extractor::compile(profile, &ExtractOptions::default()) {
                for error in errors {
                    report.error(
                        FieldError::new(
                            ErrorType::Invalid,
                            &FieldPath::parse(&error.field()),
                            error.message,
                        )
                        .with_value(&error.expression),
                    );
                }
            }
        }
        KollectObject::Target(target) => check_filter(&target.spec.filter, report),
        KollectObject::ClusterTarget(target) => check_filter(&target.spec.filter, report),
        _ => {}
    }
}

fn check_filter(filter: &CollectionFilterSpec, report: &mut Report) {
    let rules = FieldPath::root("spec").child("resourceRules");
    for (index, rule) in filter.resource_rules().iter().enumerate() {
        let Some(policy) = &rule.match_policy else {
            continue;
        };
        if let Err(error) = compile_match_policy(policy) {
            report.error(
                FieldError::new(
                    ErrorType::Invalid,
                    &rules.index(index).child("matchPolicy"),
                    error.to_string(),
                )
                .with_value(policy),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use kollect_api::validation::{Report, Settings, check};
    use serde_json::json;

    use super::check_expressions;

    fn errors(value: &serde_json::Value) -> Vec<String> {
        let checked = check(value, &Settings::default());
        assert!(checked.report.is_valid(), "{:?}", checked.report);
        let mut report = Report::default();
        check_expressions(checked.object().expect("decodes"), &mut report);
        report.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_broken_attribute_is_reported_with_its_field_path() {
        let profile = json!({
            "apiVersion": "kollect.dev/v1alpha1", "kind": "KollectProfile",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"targetGVK": {"version": "v1", "kind": "ConfigMap"}, "attributes": [
                {"name": "ok", "path": "{.metadata.name}"},
                {"name": "open", "path": "{.metadata.labels['app'}"},
                {"name": "cel", "path": "cel:object.metadata.name +"},
            ]}
        });
        let errors = errors(&profile);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].starts_with("spec.attributes[1].path: Invalid value:"),
            "{}",
            errors[0]
        );
        assert!(errors[0].contains("column"), "{}", errors[0]);
        assert!(
            errors[1].starts_with("spec.attributes[2].path"),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn match_policies_must_compile() {
        for kind in ["KollectTarget", "KollectClusterTarget"] {
            let mut target = json!({
                "apiVersion": "kollect.dev/v1alpha1", "kind": kind,
                "metadata": {"name": "t"},
                "spec": {"profileRef": "p", "resourceRules": [
                    {"gvk": {"version": "v1", "kind": "ConfigMap"}, "matchPolicy": "object.metadata.name == 'a'"},
                    {"gvk": {"version": "v1", "kind": "ConfigMap"}, "matchPolicy": "metadata.labels["},
                ]}
            });
            if kind == "KollectTarget" {
                target["metadata"]["namespace"] = json!("default");
            } else {
                target["spec"]["profileRef"] = json!({"name": "p", "namespace": "default"});
                target["spec"]["namespaceSelector"] = json!({"matchLabels": {"team": "a"}});
            }
            let errors = errors(&target);
            assert_eq!(errors.len(), 1, "{kind}: {errors:#?}");
            assert!(
                errors[0].starts_with("spec.resourceRules[1].matchPolicy: Invalid value:"),
                "{}",
                errors[0]
            );
        }
    }
}
