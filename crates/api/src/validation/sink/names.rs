//! Name rules of sink destinations: Git branches, SQL identifiers, MongoDB, NATS and Kafka names.

use super::super::{FieldPath, Report};

/// Git-ref rules for a branch name (API spec §10.6). Returns the first problem found.
pub(super) fn check_branch(raw: &str) -> Result<(), &'static str> {
    let branch = raw.trim();
    if branch.is_empty() {
        return Err("must not be empty");
    }
    if branch.starts_with('-') || branch.starts_with('.') {
        return Err("must not start with '-' or '.'");
    }
    if branch.contains("..") {
        return Err("must not contain '..'");
    }
    if branch.ends_with('.') || branch.ends_with(".lock") {
        return Err("must not end with '.' or '.lock'");
    }
    if branch == "@" || branch.contains("@{") {
        return Err("must not be '@' or contain '@{'");
    }
    if branch.starts_with("refs/") {
        return Err("must be a short branch name such as 'main', not a full ref");
    }
    let mut chars = branch.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
    {
        return Err(
            "may only contain letters, digits, '.', '_', '/' and '-', starting with a \
                    letter or digit",
        );
    }
    Ok(())
}

/// Postgres identifiers are quoted by the sink, so any text works except blanks, NUL and names
/// longer than the 63 bytes Postgres keeps (it would silently truncate them).
pub(super) fn check_sql_identifier(report: &mut Report, field: &FieldPath, value: &str) {
    if value.trim().is_empty() {
        report.required(field, "a table or schema name");
    } else if value.len() > 63 {
        report.invalid(field, value, "Postgres identifiers are at most 63 bytes");
    } else if value.contains('\0') {
        report.invalid(field, value, "must not contain NUL characters");
    }
}

/// MongoDB database names: at most 63 bytes, none of `/\. "$*<>:|?` or NUL.
pub(super) fn check_mongo_database(report: &mut Report, field: &FieldPath, value: &str) {
    if value.trim().is_empty() {
        report.required(field, "the MongoDB database");
    } else if value.len() > 63 {
        report.invalid(field, value, "MongoDB database names are at most 63 bytes");
    } else if value.contains([
        '/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?', '\0',
    ]) {
        report.invalid(
            field,
            value,
            "must not contain any of / \\ . space \" $ * < > : | ? or NUL",
        );
    }
}

/// MongoDB collection names: no `$`, no NUL, not in the `system.` namespace.
pub(super) fn check_mongo_collection(report: &mut Report, field: &FieldPath, value: &str) {
    if value.trim().is_empty() {
        report.required(field, "the MongoDB collection");
    } else if value.contains(['$', '\0']) {
        report.invalid(field, value, "must not contain '$' or NUL");
    } else if value.starts_with("system.") {
        report.invalid(field, value, "the system. prefix is reserved by MongoDB");
    }
}

/// NATS subjects: dot-separated tokens without whitespace or empty tokens.
pub(super) fn check_nats_subject(report: &mut Report, field: &FieldPath, value: &str) {
    if value.trim().is_empty() {
        report.required(field, "the JetStream subject, e.g. kollect.inventory");
    } else if value.chars().any(char::is_whitespace) {
        report.invalid(field, value, "subjects must not contain whitespace");
    } else if value.split('.').any(str::is_empty) {
        report.invalid(
            field,
            value,
            "subjects are dot-separated tokens; no token may be empty",
        );
    }
}

/// JetStream stream names: no whitespace, `.`, `*`, `>`, `/` or `\`.
pub(super) fn check_nats_stream(report: &mut Report, field: &FieldPath, value: &str) {
    if value.trim().is_empty() {
        report.required(field, "the JetStream stream, or omit for kollect_events");
    } else if value
        .contains(|c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
    {
        report.invalid(
            field,
            value,
            "stream names must not contain whitespace, '.', '*', '>', '/' or '\\'",
        );
    }
}

/// Kafka topics: at most 249 characters of letters, digits, `.`, `_` and `-`; not `.` or `..`.
pub(super) fn check_kafka_topic(report: &mut Report, field: &FieldPath, value: &str) {
    if value.trim().is_empty() {
        report.required(field, "the Kafka topic");
    } else if value == "." || value == ".." {
        report.invalid(field, value, "'.' and '..' are not valid topic names");
    } else if value.len() > 249
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        report.invalid(
            field,
            value,
            "topics are at most 249 characters of letters, digits, '.', '_' and '-'",
        );
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::check_branch;

    #[rstest]
    #[case("-evil")]
    #[case("branch.lock")]
    #[case("branch.")]
    #[case("branch@{foo}")]
    #[case("@")]
    #[case("refs/heads/main")]
    #[case("a..b")]
    #[case(".hidden")]
    #[case("has space")]
    #[case("")]
    fn bad_branches(#[case] branch: &str) {
        assert!(check_branch(branch).is_err(), "{branch}");
    }

    #[rstest]
    #[case("main")]
    #[case("release/v1.2")]
    #[case("feature_x-1")]
    fn good_branches(#[case] branch: &str) {
        assert!(check_branch(branch).is_ok(), "{branch}");
    }
}
