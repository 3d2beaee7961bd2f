//! Path-template grammars of snapshot sinks (API spec §10.4).

use super::super::{FieldPath, Report};

/// Placeholders of grammar A (`spec.pathTemplate`, `layout.index.pathTemplate`).
const DOCUMENT_PLACEHOLDERS: [&str; 5] =
    ["cluster", "namespace", "name", "generation", "extension"];

/// Placeholders of grammar B (`layout.pathTemplate`).
const ROW_PLACEHOLDERS: [&str; 12] = [
    "cluster",
    "namespace",
    "name",
    "targetNamespace",
    "targetName",
    "sourceNamespace",
    "sourceName",
    "group",
    "kind",
    "uid",
    "generation",
    "extension",
];

/// Grammar A: relative, no `..`, contains `{namespace}` and `{name}`, known lower-case
/// placeholders only. Blank means "use the default".
pub(in crate::validation) fn check_path_template(
    report: &mut Report,
    field: &FieldPath,
    raw: &str,
) {
    let template = raw.trim();
    if template.is_empty() {
        return;
    }
    if template.starts_with('/') {
        report.invalid(field, raw, "must be a relative path (no leading '/')");
    } else if template.contains("..") {
        report.invalid(field, raw, "must not contain '..'");
    } else if !template.contains("{namespace}") || !template.contains("{name}") {
        report.invalid(
            field,
            raw,
            "must contain {namespace} and {name}, e.g. inventory/{namespace}/{name}{extension}",
        );
    } else {
        known_placeholders(
            report,
            field,
            raw,
            placeholders(template, false),
            &DOCUMENT_PLACEHOLDERS,
        );
    }
}

/// Grammar B: no `..`, known placeholders, and at least one of `{sourceName}`, `{name}`,
/// `{uid}` so that rows get distinct paths.
pub(in crate::validation) fn check_layout_template(
    report: &mut Report,
    field: &FieldPath,
    raw: &str,
) {
    let template = raw.trim();
    if template.is_empty() {
        return;
    }
    if template.contains("..") {
        report.invalid(field, raw, "must not contain '..'");
    } else if !known_placeholders(
        report,
        field,
        raw,
        placeholders(template, true),
        &ROW_PLACEHOLDERS,
    ) {
        // Reported by known_placeholders.
    } else if !["{sourceName}", "{name}", "{uid}"]
        .iter()
        .any(|p| template.contains(p))
    {
        report.invalid(
            field,
            raw,
            "must contain {sourceName}, {name} or {uid} so that every row gets its own file",
        );
    }
}

/// Reports the first placeholder not in `known`; returns whether all were known.
fn known_placeholders<'a>(
    report: &mut Report,
    field: &FieldPath,
    raw: &str,
    mut found: impl Iterator<Item = &'a str>,
    known: &[&str],
) -> bool {
    let Some(unknown) = found.find(|p| !known.contains(p)) else {
        return true;
    };
    let list: Vec<String> = known.iter().map(|p| format!("{{{p}}}")).collect();
    report.invalid(
        field,
        raw,
        format!("unknown placeholder {{{unknown}}}; use {}", list.join(", ")),
    );
    false
}

/// The names of `{word}` placeholders; `mixed_case` also matches upper-case letters.
fn placeholders(template: &str, mixed_case: bool) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(move |after| {
        let end = after.find('}')?;
        let word = &after[..end];
        let letters = if mixed_case {
            word.chars().all(|c| c.is_ascii_alphabetic())
        } else {
            word.chars().all(|c| c.is_ascii_lowercase())
        };
        (!word.is_empty() && letters).then_some(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_a(template: &str) -> usize {
        let mut report = Report::default();
        check_path_template(&mut report, &FieldPath::root("t"), template);
        report.errors.len()
    }

    fn errors_b(template: &str) -> usize {
        let mut report = Report::default();
        check_layout_template(&mut report, &FieldPath::root("t"), template);
        report.errors.len()
    }

    #[test]
    fn grammar_a() {
        assert_eq!(errors_a("inventory/{namespace}/{name}{extension}"), 0);
        assert_eq!(errors_a("  "), 0);
        assert_eq!(errors_a("{cluster}/{name}.json"), 1);
        assert_eq!(errors_a("/abs/{namespace}/{name}"), 1);
        assert_eq!(errors_a("a/../{namespace}/{name}"), 1);
        assert_eq!(errors_a("{cluster}/{unsupported}/{namespace}/{name}"), 1);
        // Upper-case braces are literal text in grammar A.
        assert_eq!(errors_a("{Literal}/{namespace}/{name}"), 0);
    }

    #[test]
    fn grammar_b() {
        assert_eq!(
            errors_b("{cluster}/{sourceNamespace}/{kind}/{sourceName}{extension}"),
            0
        );
        assert_eq!(errors_b("{cluster}/{kind}"), 1);
        assert_eq!(errors_b("{cluster}/{bogus}/{sourceName}"), 1);
        assert_eq!(errors_b("../{uid}"), 1);
        assert_eq!(errors_b("/{uid}"), 0);
    }
}
