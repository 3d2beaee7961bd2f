//! Family sink rules (API spec §10, DECISIONS API 2, 12, 17; sinks D6, D8, D16, D19).

use super::{
    FieldPath, Report, Settings, check_interval,
    endpoint::{EndpointPolicy, check_broker, check_host, check_url, split_url},
};
use crate::v1alpha1::{
    Compression, DatabaseSinkSpec, EventSinkSpec, EventSinkType, GitEngine, GitSpec,
    KollectDatabaseSink, KollectEventSink, KollectSnapshotSink, LayoutContent, LayoutMode,
    LayoutSpec, MAX_CA_BUNDLE_BYTES, MergeRequestMode, PostgresSpec, ProvisioningMode, PushPolicy,
    SerializationFormat, SinkCommonSpec, SnapshotSinkSpec, SnapshotSinkType,
};

mod names;
mod template;

use template::{check_layout_template, check_path_template};

/// Substrings that make an `options` key look like a credential.
const SECRET_LIKE_KEYS: [&str; 14] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "accesskey",
    "access_key",
    "secretkey",
    "secret_key",
    "privatekey",
    "private_key",
    "credential",
    "credentials",
];

/// Git URL schemes the in-process Git client speaks (`file` only in local mode).
const GIT_SCHEMES: [&str; 4] = ["https", "http", "ssh", "git"];

pub(super) fn validate_snapshot(
    sink: &KollectSnapshotSink,
    settings: &Settings,
    report: &mut Report,
) {
    let spec = &sink.spec;
    let root = FieldPath::root("spec");
    let policy = EndpointPolicy::from(settings);
    validate_common(&spec.common, &root, report);
    validate_snapshot_format(spec, &root, report);
    validate_snapshot_endpoint(spec, &root, policy, report);
    validate_snapshot_blocks(spec, &root, report);
    if let Some(template) = &spec.common.path_template {
        check_path_template(report, &root.child("pathTemplate"), template);
    }
    snapshot_warnings(spec, &root, report);
}

pub(super) fn validate_database(sink: &KollectDatabaseSink, report: &mut Report) {
    let spec = &sink.spec;
    let root = FieldPath::root("spec");
    validate_common(&spec.common, &root, report);
    validate_non_snapshot_common(&spec.common, &root, "database", report);
    if spec.common.endpoint.is_some() {
        report.forbidden(
            &root.child("endpoint"),
            "database sinks do not use spec.endpoint: the connection string comes from the \
             Secret named by the databaseRef of the type's block; remove the field",
        );
    }
    validate_database_blocks(spec, &root, report);
}

pub(super) fn validate_event(sink: &KollectEventSink, settings: &Settings, report: &mut Report) {
    let spec = &sink.spec;
    let root = FieldPath::root("spec");
    let policy = EndpointPolicy::from(settings);
    validate_common(&spec.common, &root, report);
    validate_non_snapshot_common(&spec.common, &root, "event", report);
    validate_event_blocks(spec, &root, policy, report);
}

/// Rules on the fields every family shares.
fn validate_common(common: &SinkCommonSpec, root: &FieldPath, report: &mut Report) {
    if let Some(interval) = &common.export_min_interval {
        check_interval(report, &root.child("exportMinInterval"), interval);
    }
    for key in common.options.iter().flat_map(|options| options.keys()) {
        let field = root.child("options").key(key);
        let lowered = key.trim().to_ascii_lowercase();
        if SECRET_LIKE_KEYS
            .iter()
            .any(|secret| lowered.contains(secret))
        {
            report.forbidden(
                &field,
                "looks like a credential: put it in the Secret named by spec.secretRef instead",
            );
        } else {
            report.forbidden(
                &field,
                "backend options are not supported; remove spec.options",
            );
        }
    }
    if let Some(provisioning) = &common.provisioning
        && provisioning.naming.is_some()
    {
        report.forbidden(
            &root.child("provisioning").child("naming"),
            "templated destination names are not supported; remove the field",
        );
    }
    if let Some(tls) = &common.tls {
        let field = root.child("tls");
        if tls.ca_bundle.is_some() && tls.ca_secret_ref.is_some() {
            report.forbidden(
                &field.child("caSecretRef"),
                "set either caBundle or caSecretRef, not both",
            );
        }
        if let Some(bundle) = &tls.ca_bundle {
            if bundle.0.len() > MAX_CA_BUNDLE_BYTES {
                report.error(
                    super::FieldError::new(
                        super::ErrorType::TooLong,
                        &field.child("caBundle"),
                        format!("must be at most {MAX_CA_BUNDLE_BYTES} bytes of PEM"),
                    )
                    .with_value(bundle.0.len()),
                );
            } else if !String::from_utf8_lossy(&bundle.0).contains("-----BEGIN CERTIFICATE-----") {
                report.invalid(
                    &field.child("caBundle"),
                    format!("{} bytes", bundle.0.len()),
                    "holds no PEM certificate (-----BEGIN CERTIFICATE-----); base64-encode the \
                     PEM file, e.g. `base64 -w0 ca.pem`",
                );
            }
        }
    }
}

/// Rules of database and event sinks: no layout, no path template, uncompressed JSON only.
fn validate_non_snapshot_common(
    common: &SinkCommonSpec,
    root: &FieldPath,
    family: &str,
    report: &mut Report,
) {
    if common.layout.is_some() {
        report.forbidden(
            &root.child("layout"),
            format!("layouts exist only for git and gitlab sinks, not for {family} sinks"),
        );
    }
    if common.path_template.is_some() {
        report.forbidden(
            &root.child("pathTemplate"),
            format!("path templates apply to snapshot sinks only; {family} sinks derive their keys from the inventory"),
        );
    }
    if let Some(format) = common.serialization_format()
        && format != SerializationFormat::Json
    {
        report.not_supported(
            &root.child("serialization").child("format"),
            format.as_str(),
            &["json"],
        );
    }
    if common.compression() != Compression::None {
        report.not_supported(
            &root.child("serialization").child("compression"),
            common.compression().as_str(),
            &["none"],
        );
    }
}

fn validate_snapshot_format(spec: &SnapshotSinkSpec, root: &FieldPath, report: &mut Report) {
    let serialization = root.child("serialization");
    if let Some(format) = spec.common.serialization_format() {
        let accepted = spec.sink_type.accepted_formats();
        if !accepted.contains(&format) {
            let names: Vec<&str> = accepted.iter().map(|f| f.as_str()).collect();
            report.not_supported(&serialization.child("format"), format.as_str(), &names);
        }
    }
    if spec.common.compression() == Compression::Snappy
        && spec.effective_format() != SerializationFormat::Parquet
    {
        report.not_supported(
            &serialization.child("compression"),
            "snappy",
            &["none", "gzip", "zstd"],
        );
    }
}

fn validate_snapshot_endpoint(
    spec: &SnapshotSinkSpec,
    root: &FieldPath,
    policy: EndpointPolicy,
    report: &mut Report,
) {
    let field = root.child("endpoint");
    let Some(endpoint) = spec
        .common
        .endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    else {
        let example = match spec.sink_type {
            SnapshotSinkType::Git => "a Git remote such as https://git.example.org/org/repo.git",
            SnapshotSinkType::Gitlab => {
                "the project URL such as https://gitlab.example.org/group/project.git"
            }
            SnapshotSinkType::S3 => "a bucket such as s3://bucket/prefix",
            SnapshotSinkType::Gcs => "a bucket such as gs://bucket/prefix",
        };
        report.required(&field, example);
        return;
    };
    let result = match spec.sink_type {
        SnapshotSinkType::Git => check_git_endpoint(endpoint, policy),
        SnapshotSinkType::Gitlab => check_gitlab_endpoint(endpoint, policy),
        SnapshotSinkType::S3 | SnapshotSinkType::Gcs => {
            check_object_store_endpoint(endpoint, spec.sink_type, policy)
        }
    };
    if let Err(problem) = result {
        let forbidden = problem.contains("not allowed") || problem.contains("refused");
        if forbidden {
            report.forbidden(&field, problem);
        } else {
            report.invalid(&field, endpoint, problem);
        }
    }
}

fn check_git_endpoint(endpoint: &str, policy: EndpointPolicy) -> Result<(), String> {
    if let Some(parts) = split_url(endpoint) {
        if parts.scheme == "file" || GIT_SCHEMES.contains(&parts.scheme.as_str()) {
            return check_url(endpoint, policy);
        }
        return Err(format!(
            "unsupported Git URL scheme {:?}: use https://, http://, ssh:// or git@host:path",
            parts.scheme
        ));
    }
    // SCP-style `user@host:path`: a ':' before any '/' separates the host.
    if let Some(colon) = endpoint.find(':')
        && endpoint.find('/').is_none_or(|slash| colon < slash)
    {
        let before = &endpoint[..colon];
        let host = before.rsplit_once('@').map_or(before, |(_, host)| host);
        return check_host(host, policy);
    }
    if policy.allow_local {
        return Ok(());
    }
    Err(
        "is not a Git remote: use https://host/org/repo.git, ssh://git@host/org/repo.git or \
         git@host:org/repo.git"
            .to_owned(),
    )
}

fn check_gitlab_endpoint(endpoint: &str, policy: EndpointPolicy) -> Result<(), String> {
    match split_url(endpoint) {
        Some(parts) if parts.scheme == "https" || parts.scheme == "http" => {
            check_url(endpoint, policy)
        }
        _ => Err("must be the http(s) URL of the GitLab project, e.g. \
                  https://gitlab.example.org/group/project.git"
            .to_owned()),
    }
}

fn check_object_store_endpoint(
    endpoint: &str,
    sink_type: SnapshotSinkType,
    policy: EndpointPolicy,
) -> Result<(), String> {
    let native = if sink_type == SnapshotSinkType::S3 {
        "s3"
    } else {
        "gs"
    };
    let Some(parts) = split_url(endpoint) else {
        return if endpoint.starts_with('/') && !policy.allow_local {
            Err(format!(
                "a local path is not a bucket: use {native}://bucket/prefix"
            ))
        } else {
            Ok(())
        };
    };
    match parts.scheme.as_str() {
        scheme if scheme == native => {
            if parts.host.is_empty() {
                Err(format!("names no bucket: use {native}://bucket/prefix"))
            } else {
                Ok(())
            }
        }
        "http" | "https" => {
            check_url(endpoint, policy)?;
            if parts.path.trim_matches('/').is_empty() {
                return Err(format!(
                    "names no bucket: use {}://host[:port]/bucket/prefix or {native}://bucket/prefix",
                    parts.scheme
                ));
            }
            Ok(())
        }
        "file" => check_url(endpoint, policy),
        other => Err(format!(
            "unsupported scheme {other:?} for a {sink_type} sink: use {native}://bucket/prefix or \
             https://host[:port]/bucket/prefix"
        )),
    }
}

fn validate_snapshot_blocks(spec: &SnapshotSinkSpec, root: &FieldPath, report: &mut Report) {
    let sink_type = spec.sink_type;
    let mut forbid = |present: bool, block: &str, belongs: &str| {
        if present {
            report.forbidden(
                &root.child(block),
                format!("belongs to type {belongs}, not to type {sink_type}; remove it"),
            );
        }
    };
    forbid(
        spec.git.is_some() && sink_type != SnapshotSinkType::Git,
        "git",
        "git",
    );
    forbid(
        spec.gitlab.is_some() && sink_type != SnapshotSinkType::Gitlab,
        "gitlab",
        "gitlab",
    );
    forbid(
        spec.object_store.is_some() && sink_type.is_git(),
        "objectStore",
        "s3 or gcs",
    );
    forbid(
        spec.common.layout.is_some() && !sink_type.is_git(),
        "layout",
        "git or gitlab",
    );
    if spec.http.is_some() {
        report.forbidden(
            &root.child("http"),
            "HTTP sinks are not supported; remove the block",
        );
    }
    if let Some(git) = &spec.git
        && sink_type == SnapshotSinkType::Git
    {
        validate_git(git, &root.child("git"), report);
    }
    if sink_type == SnapshotSinkType::Gitlab
        && let Some(request) = spec.gitlab.as_ref().and_then(|g| g.merge_request.as_ref())
        && request.mode == Some(MergeRequestMode::MergeRequest)
        && request
            .target_branch
            .as_deref()
            .is_none_or(|b| b.trim().is_empty())
    {
        report.required(
            &root
                .child("gitlab")
                .child("mergeRequest")
                .child("targetBranch"),
            "the branch merge requests target, e.g. main",
        );
    }
    if let Some(layout) = &spec.common.layout
        && sink_type.is_git()
    {
        validate_layout(layout, &root.child("layout"), report);
    }
}

fn validate_git(git: &GitSpec, field: &FieldPath, report: &mut Report) {
    if let Some(branch) = &git.branch
        && let Err(problem) = names::check_branch(branch)
    {
        report.invalid(&field.child("branch"), branch, problem);
    }
    if git.engine == Some(GitEngine::Cli) {
        report.not_supported(&field.child("engine"), "cli", &["go-git"]);
    }
    if git.clone_depth.is_some_and(|depth| depth < 1) {
        report.invalid(
            &field.child("cloneDepth"),
            git.clone_depth,
            "must be at least 1",
        );
    }
}

fn validate_layout(layout: &LayoutSpec, field: &FieldPath, report: &mut Report) {
    if let Some(template) = &layout.path_template {
        check_layout_template(report, &field.child("pathTemplate"), template);
    }
    if let Some(template) = layout.index.as_ref().and_then(|i| i.path_template.as_ref()) {
        check_path_template(
            report,
            &field.child("index").child("pathTemplate"),
            template,
        );
    }
    if let Some(length) = layout.filename.as_ref().and_then(|f| f.max_segment_length)
        && length < 1
    {
        report.invalid(
            &field.child("filename").child("maxSegmentLength"),
            length,
            "must be at least 1",
        );
    }
}

fn snapshot_warnings(spec: &SnapshotSinkSpec, root: &FieldPath, report: &mut Report) {
    if spec.git.as_ref().and_then(|g| g.push_policy) == Some(PushPolicy::ForcePush) {
        report.warn(
            Some(&root.child("git").child("pushPolicy")),
            "ForcePush replaces the branch with one snapshot commit: its history is lost",
        );
    }
    provisioning_warning(&spec.common, root, report);
    let format = spec.effective_format();
    if spec.common.serialization_format().is_some()
        && spec.object_store.as_ref().and_then(|o| o.format).is_some()
    {
        report.warn(
            Some(&root.child("objectStore").child("format")),
            "both serialization.format and objectStore.format are set; serialization.format wins",
        );
    }
    if spec.sink_type.is_git() {
        git_warnings(spec, format, root, report);
    }
}

fn git_warnings(
    spec: &SnapshotSinkSpec,
    format: SerializationFormat,
    root: &FieldPath,
    report: &mut Report,
) {
    if spec.common.serialization_format().is_none() {
        report.warn(
            Some(&root.child("serialization").child("format")),
            "no serialization.format set: files are written as yaml; set format: json to keep \
             the JSON files of earlier releases",
        );
    }
    if format != SerializationFormat::Json
        && spec
            .common
            .path_template
            .as_deref()
            .is_some_and(|t| t.trim_end().ends_with(".json"))
    {
        report.warn(
            Some(&root.child("pathTemplate")),
            format!(
                "the path ends in .json but files are written as {format}; end the template with \
                 {{extension}} instead"
            ),
        );
    }
    if let Some(layout) = &spec.common.layout {
        if layout.content == LayoutContent::Manifest {
            report.warn(
                Some(&root.child("layout").child("content")),
                "content manifest writes native objects and needs a profile with export.mode \
                 Resource; rows without an embedded object are written as items",
            );
        }
        if matches!(layout.mode, LayoutMode::PerResource | LayoutMode::Split) {
            report.warn(
                Some(&root.child("layout").child("mode")),
                format!(
                    "{} layouts prune the files of rows that left the inventory (prune is on)",
                    layout.mode.as_str()
                ),
            );
        }
    }
}

fn provisioning_warning(common: &SinkCommonSpec, root: &FieldPath, report: &mut Report) {
    if common.provisioning_mode() == ProvisioningMode::Existing {
        report.warn(
            Some(&root.child("provisioning").child("mode")),
            "provisioning mode existing: nothing will be created; exports fail until the \
             destination exists",
        );
    }
}

/// The settings block named like the type is required; the other types' blocks are forbidden.
fn check_type_blocks(
    root: &FieldPath,
    sink_type: &str,
    blocks: &[(&str, bool)],
    report: &mut Report,
) {
    for (block, present) in blocks {
        if *block == sink_type && !present {
            report.required(
                &root.child(block),
                format!("required when spec.type is {block}"),
            );
        } else if *block != sink_type && *present {
            report.forbidden(
                &root.child(block),
                format!("belongs to type {block}, not to type {sink_type}; remove it"),
            );
        }
    }
}

fn validate_database_blocks(spec: &DatabaseSinkSpec, root: &FieldPath, report: &mut Report) {
    check_type_blocks(
        root,
        spec.sink_type.as_str(),
        &[
            ("postgres", spec.postgres.is_some()),
            ("bigquery", spec.bigquery.is_some()),
            ("mongodb", spec.mongodb.is_some()),
        ],
        report,
    );
    if let Some(postgres) = &spec.postgres {
        let field = root.child("postgres");
        names::check_sql_identifier(report, &field.child("table"), &postgres.table);
        if let Some(schema) = &postgres.schema {
            names::check_sql_identifier(report, &field.child("schema"), schema);
        }
        let history = postgres.table.trim().len() + PostgresSpec::HISTORY_SUFFIX.len();
        if postgres.history() && history > 63 {
            report.invalid(
                &field.child("table"),
                &postgres.table,
                format!(
                    "with history: true the history table {}{} needs {history} bytes, more than \
                     the 63 Postgres keeps; shorten the table name",
                    postgres.table.trim(),
                    PostgresSpec::HISTORY_SUFFIX
                ),
            );
        }
    }
    if let Some(bigquery) = &spec.bigquery {
        let field = root.child("bigquery");
        for (name, value) in [
            ("project", &bigquery.project),
            ("dataset", &bigquery.dataset),
            ("table", &bigquery.table),
        ] {
            if value.trim().is_empty() {
                report.required(&field.child(name), format!("the BigQuery {name}"));
            }
        }
    }
    if let Some(mongodb) = &spec.mongodb {
        let field = root.child("mongodb");
        names::check_mongo_database(report, &field.child("database"), &mongodb.database);
        names::check_mongo_collection(report, &field.child("collection"), &mongodb.collection);
    }
    provisioning_warning(&spec.common, root, report);
}

fn validate_event_blocks(
    spec: &EventSinkSpec,
    root: &FieldPath,
    policy: EndpointPolicy,
    report: &mut Report,
) {
    check_type_blocks(
        root,
        spec.sink_type.as_str(),
        &[
            ("nats", spec.nats.is_some()),
            ("kafka", spec.kafka.is_some()),
        ],
        report,
    );
    let endpoint = spec
        .common
        .endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    match spec.sink_type {
        EventSinkType::Nats => validate_nats(spec, endpoint, root, policy, report),
        EventSinkType::Kafka => validate_kafka(spec, endpoint, root, policy, report),
    }
    provisioning_warning(&spec.common, root, report);
}

fn validate_nats(
    spec: &EventSinkSpec,
    endpoint: Option<&str>,
    root: &FieldPath,
    policy: EndpointPolicy,
    report: &mut Report,
) {
    let Some(nats) = &spec.nats else { return };
    let field = root.child("nats");
    let url = nats.url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    if url.is_some() && endpoint.is_some() {
        report.warn(
            Some(&root.child("endpoint")),
            "ignored: spec.nats.url is set",
        );
    }
    let (checked, checked_field) = match (url, endpoint) {
        (Some(url), _) => (url, field.child("url")),
        (None, Some(endpoint)) => (endpoint, root.child("endpoint")),
        (None, None) => {
            report.required(
                &field.child("url"),
                "the NATS server URL, e.g. nats://nats.example.org:4222 (or set spec.endpoint)",
            );
            return;
        }
    };
    if let Err(problem) = check_url(checked, policy) {
        report.forbidden(&checked_field, problem);
    }
    names::check_nats_subject(report, &field.child("subject"), &nats.subject);
    if let Some(stream) = &nats.stream {
        names::check_nats_stream(report, &field.child("stream"), stream);
    }
}

fn validate_kafka(
    spec: &EventSinkSpec,
    endpoint: Option<&str>,
    root: &FieldPath,
    policy: EndpointPolicy,
    report: &mut Report,
) {
    let Some(kafka) = &spec.kafka else { return };
    let field = root.child("kafka");
    if !kafka.brokers.is_empty() && endpoint.is_some() {
        report.warn(
            Some(&root.child("endpoint")),
            "ignored: spec.kafka.brokers is set",
        );
    }
    if kafka.brokers.is_empty() {
        match endpoint {
            Some(endpoint) => {
                if let Err(problem) = check_broker(endpoint, policy) {
                    report.forbidden(&root.child("endpoint"), problem);
                }
            }
            None => report.required(
                &field.child("brokers"),
                "at least one bootstrap broker as host:port (or set spec.endpoint)",
            ),
        }
    }
    for (index, broker) in kafka.brokers.iter().enumerate() {
        let broker_field = field.child("brokers").index(index);
        if broker.trim().is_empty() {
            report.required(&broker_field, "a broker as host:port");
        } else if let Err(problem) = check_broker(broker, policy) {
            report.forbidden(&broker_field, problem);
        }
    }
    names::check_kafka_topic(report, &field.child("topic"), &kafka.topic);
}
