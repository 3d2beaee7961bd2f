//! Unit tests of the Git sink's pure stages: configuration parsing, path templates, the
//! layout resolution and commit messages. The transports are tested against real servers in
//! `tests/git.rs`.

use std::{collections::BTreeMap, sync::Arc};

use kollect_api::{
    row::{Attributes, Gvk, Row, TargetRow},
    v1alpha1::{
        GitAuthSpec, GitAuthType, GitSpec, LayoutContent, LayoutMode, LayoutSpec, SinkCommonSpec,
        SnapshotSinkSpec, SnapshotSinkType, TlsSpec,
    },
};
use kollect_export::{ResolvedSinkSpec, Secrets, SinkSpec};
use rstest::rstest;

use super::{
    config::{Auth, Branch, Config, Transport},
    layout::{Grammar, Template, clean_path, resolve, sanitize},
    sink::MessageValues,
};

fn spec(endpoint: &str) -> SnapshotSinkSpec {
    SnapshotSinkSpec {
        sink_type: SnapshotSinkType::Git,
        common: SinkCommonSpec {
            endpoint: Some(endpoint.to_owned()),
            ..SinkCommonSpec::default()
        },
        git: Some(GitSpec::default()),
        gitlab: None,
        object_store: None,
        http: None,
    }
}

fn config(spec: SnapshotSinkSpec, secrets: &[(&str, &str)]) -> Result<Config, String> {
    let data: BTreeMap<String, Vec<u8>> = secrets
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
        .collect();
    let resolved = ResolvedSinkSpec::new(
        "team-a".parse().unwrap(),
        "audit".parse().unwrap(),
        SinkSpec::Snapshot(spec),
    )
    .with_secrets(Secrets::new(data));
    Config::from_resolved(&resolved).map_err(|e| e.to_string())
}

#[rstest]
#[case(
    "https://git.example.org/org/repo.git",
    "https://git.example.org/org/repo.git",
    Transport::Https,
    None
)]
#[case(
    "https://bob@git.example.org/org/repo.git#branch=inv",
    "https://git.example.org/org/repo.git",
    Transport::Https,
    Some("inv")
)]
#[case(
    "git@github.com:org/repo.git",
    "ssh://git@github.com/org/repo.git",
    Transport::Ssh,
    None
)]
#[case(
    "ssh://git@host:2222/srv/repo.git",
    "ssh://git@host:2222/srv/repo.git",
    Transport::Ssh,
    None
)]
#[case(
    "file:///srv/git/repo.git",
    "file:///srv/git/repo.git",
    Transport::File,
    None
)]
#[case("git://host/repo.git", "git://host/repo.git", Transport::Git, None)]
fn endpoints_parse_into_wire_urls(
    #[case] endpoint: &str,
    #[case] url: &str,
    #[case] transport: Transport,
    #[case] branch: Option<&str>,
) {
    let mut spec = spec(endpoint);
    spec.common.tls = Some(TlsSpec {
        insecure_skip_verify: Some(true),
        ..TlsSpec::default()
    });
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    let config = config(spec, &[("ssh-privatekey", key)]).unwrap();
    assert_eq!(config.remote.url, url);
    assert_eq!(config.remote.transport, transport);
    assert_eq!(config.branch.as_ref().map(Branch::as_str), branch);
}

#[rstest]
#[case(
    "https://bob:secret@git.example.org/r.git",
    "spec.endpoint: must not carry a password"
)]
#[case(
    "ftp://git.example.org/r.git",
    "spec.endpoint: unsupported scheme \"ftp\""
)]
#[case("not a remote", "spec.endpoint: \"not a remote\" is not a Git remote")]
#[case(
    "https://git.example.org/r.git#ref=x",
    "spec.endpoint: unsupported fragment #ref=x"
)]
#[case(
    "https://git.example.org/r.git#branch=-x",
    "spec.endpoint: the #branch= fragment"
)]
fn bad_endpoints_name_the_field(#[case] endpoint: &str, #[case] expected: &str) {
    let error = config(spec(endpoint), &[]).unwrap_err();
    assert!(error.contains(expected), "{error}");
}

#[rstest]
#[case("main", true)]
#[case("release/v1.2", true)]
#[case("", false)]
#[case("-x", false)]
#[case(".hidden", false)]
#[case("a..b", false)]
#[case("a.lock", false)]
#[case("a.", false)]
#[case("@", false)]
#[case("a@{1}", false)]
#[case("refs/heads/main", false)]
#[case("with space", false)]
#[case("a/.b", false)]
fn branches_follow_the_safe_ref_rules(#[case] name: &str, #[case] valid: bool) {
    assert_eq!(Branch::parse(name).is_ok(), valid, "{name:?}");
}

#[test]
fn credentials_follow_the_secret_keys() {
    let https = || spec("https://git.example.org/r.git");
    let token = config(https(), &[("token", "t0k\n")]).unwrap();
    assert!(
        matches!(&token.auth, Auth::Basic { user, password } if user == "x-access-token" && password == "t0k")
    );
    let basic = config(
        https(),
        &[("username", "bob"), ("password", "pw"), ("token", "")],
    )
    .unwrap();
    assert!(
        matches!(&basic.auth, Auth::Basic { user, password } if user == "bob" && password == "pw")
    );
    assert!(matches!(
        config(https(), &[]).unwrap().auth,
        Auth::Anonymous
    ));
    assert!(
        !format!("{:?}", basic.auth).contains("pw"),
        "Debug hides the password"
    );
    let mut ssh_on_https = https();
    ssh_on_https.git = Some(GitSpec {
        auth: Some(GitAuthSpec {
            auth_type: Some(GitAuthType::Ssh),
            secret_ref: None,
        }),
        ..GitSpec::default()
    });
    let error = config(ssh_on_https, &[]).unwrap_err();
    assert!(
        error.starts_with("sink misconfigured: spec.git.auth.type: ssh needs"),
        "{error}"
    );
    let ssh = || spec("ssh://deploy@git.example.org/r.git");
    let error = config(ssh(), &[]).unwrap_err();
    assert!(error.contains("ssh-privatekey"), "{error}");
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    let error = config(ssh(), &[("ssh-privatekey", key)]).unwrap_err();
    assert!(error.contains("requires known_hosts"), "{error}");
    let mut insecure = ssh();
    insecure.common.tls = Some(TlsSpec {
        insecure_skip_verify: Some(true),
        ..TlsSpec::default()
    });
    // DECISIONS D32: the endpoint's user when the Secret names none.
    let config = config(insecure, &[("identity", key)]).unwrap();
    assert!(matches!(&config.auth, Auth::Ssh { user, .. } if user == "deploy"));
    assert_eq!(
        config.remote.url_for(Some("deploy")),
        "ssh://deploy@git.example.org/r.git"
    );
}

#[test]
fn the_cli_engine_and_parquet_are_refused() {
    let mut cli = spec("https://git.example.org/r.git");
    cli.git = Some(GitSpec {
        engine: Some(kollect_api::v1alpha1::GitEngine::Cli),
        ..GitSpec::default()
    });
    assert!(config(cli, &[]).unwrap_err().contains("spec.git.engine"));
    let mut parquet = spec("https://git.example.org/r.git");
    parquet.common.serialization = Some(kollect_api::v1alpha1::SerializationSpec {
        format: Some(kollect_api::v1alpha1::SerializationFormat::Parquet),
        compression: None,
    });
    assert!(
        config(parquet, &[])
            .unwrap_err()
            .contains("spec.serialization.format")
    );
}

#[rstest]
#[case("inventory/{namespace}/{name}{extension}", Grammar::Inventory, true)]
#[case("inventory/{name}.json", Grammar::Inventory, false)]
#[case("/abs/{namespace}/{name}", Grammar::Inventory, false)]
#[case("a/../{namespace}/{name}", Grammar::Inventory, false)]
#[case("{namespace}/{name}/{kind}", Grammar::Inventory, false)]
#[case("{namespace}/{name}/{Upper}", Grammar::Inventory, true)]
#[case(".kollect/{namespace}/{name}", Grammar::Inventory, false)]
#[case("{cluster}/{kind}/{uid}{extension}", Grammar::Item, true)]
#[case("{cluster}/{kind}", Grammar::Item, false)]
#[case("{cluster}/{bogus}/{sourceName}", Grammar::Item, false)]
fn templates_follow_their_grammar(
    #[case] text: &str,
    #[case] grammar: Grammar,
    #[case] valid: bool,
) {
    assert_eq!(Template::parse(text, grammar).is_ok(), valid, "{text}");
}

#[rstest]
#[case("  api  ", 63, "api")]
#[case("a/b\\c:d", 63, "a-b-c-d")]
#[case("a//b", 63, "a-b")]
#[case("x...y", 63, "x-y")]
#[case(".hidden-", 63, "hidden")]
#[case("abcdef", 3, "abc")]
#[case("ab.def", 3, "ab")]
#[case("ééé", 3, "é")]
fn values_are_sanitised(#[case] value: &str, #[case] max: usize, #[case] expected: &str) {
    assert_eq!(sanitize(value, max), expected);
}

#[rstest]
#[case("a//b/ c /d.yaml", Some("a/b/c/d.yaml"))]
#[case("a\\b", Some("a/b"))]
#[case("a/../b", None)]
#[case("./a", None)]
#[case("a/.git/b", None)]
#[case(".kollect/x", None)]
#[case("//", None)]
fn paths_are_cleaned(#[case] rendered: &str, #[case] expected: Option<&str>) {
    assert_eq!(clean_path(rendered).ok().as_deref(), expected, "{rendered}");
}

fn row(kind: &str, attributes: &str) -> TargetRow {
    TargetRow {
        target_namespace: "team-a".into(),
        target_name: "t".into(),
        kind: Gvk::new("", "v1", kind),
        row: Arc::new(Row {
            namespace: "team-a".into(),
            name: "x".into(),
            uid: "u".into(),
            resource_version: "".into(),
            attributes: Attributes::from_canonical(attributes),
        }),
    }
}

#[test]
fn resource_export_is_inferred_only_without_a_layout_block() {
    let config = config(spec("https://h/r.git"), &[]).unwrap();
    let embedded = [row(
        "ConfigMap",
        r#"{"obj":{"apiVersion":"v1","kind":"ConfigMap"},"n":1}"#,
    )];
    let resolved = resolve(&config.layout, &embedded);
    assert_eq!(
        (resolved.mode, resolved.content),
        (LayoutMode::PerResource, LayoutContent::Manifest)
    );
    assert_eq!(resolved.manifest_key, "obj");
    let plain = [row("ConfigMap", r#"{"n":1}"#)];
    assert_eq!(resolve(&config.layout, &plain).mode, LayoutMode::Document);
    let wrong_kind = [row(
        "Secret",
        r#"{"obj":{"apiVersion":"v1","kind":"ConfigMap"}}"#,
    )];
    assert_eq!(
        resolve(&config.layout, &wrong_kind).mode,
        LayoutMode::Document
    );
    assert_eq!(resolve(&config.layout, &[]).mode, LayoutMode::Document);
    let mut explicit = spec("https://h/r.git");
    explicit.common.layout = Some(LayoutSpec::default());
    let explicit = self::config(explicit, &[]).unwrap();
    assert_eq!(
        resolve(&explicit.layout, &embedded).mode,
        LayoutMode::Document
    );
}

#[test]
fn commit_messages_render_placeholders_and_a_final_trailer_paragraph() {
    let mut spec = spec("https://h/r.git");
    spec.git = Some(GitSpec {
        commit_body: Some("body {unknown} {path}".to_owned()),
        commit_trailers: Some(vec![
            "A: {sink}".to_owned(),
            "  ".to_owned(),
            "B: {exportGeneration}".to_owned(),
        ]),
        ..GitSpec::default()
    });
    let config = config(spec, &[]).unwrap();
    let values = MessageValues {
        cluster: "prod-west",
        namespace: "team-a",
        name: "api",
        generation: 7,
        item_count: 42,
        checksum: "a1b2c3d4e5f6a7b8c9d0",
        exported_at: "2026-01-15T12:00:00Z",
        sink: "audit",
        path: "inventory/team-a/api.yaml",
    };
    assert_eq!(
        config.message.render(&values),
        "chore(prod-west/team-a/api): export 42 items @ a1b2c3d4e5f6\n\nbody {unknown} \
         inventory/team-a/api.yaml\n\nA: audit\nB: 7\n"
    );
}
