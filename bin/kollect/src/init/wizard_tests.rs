//! The whole wizard against kollect-testkit, answered by a script: the files it writes load
//! through `collect`'s loader, Secrets need two yeses and never show a value, RBAC limits the
//! kinds offered, nothing is overwritten without a yes.
#![allow(clippy::unwrap_used)]

use kollect_testkit::{Options as ServerOptions, TestApiServer, TokenUser};
use serde_json::{Value, json};

use super::*;
use crate::init::prompt::script::{Answer::*, Script};

/// A testkit server with namespaces `shop` (team=web), `payments` and `payments-eu`
/// (team=payments), a Deployment in two of them and a Secret in `shop`.
async fn server(tokens: Vec<TokenUser>) -> TestApiServer {
    let server = TestApiServer::start(ServerOptions {
        tokens,
        ..ServerOptions::default()
    })
    .await
    .unwrap();
    for (name, team) in [
        ("shop", "web"),
        ("payments", "payments"),
        ("payments-eu", "payments"),
    ] {
        server
            .apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"team": team}}}))
            .await
            .unwrap();
    }
    for (namespace, name, image) in [("payments", "api", "api:2"), ("shop", "web", "nginx:1.27")] {
        server
            .apply(deployment(namespace, name, image))
            .await
            .unwrap();
    }
    server
        .apply(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop"},
            "type": "Opaque",
            "data": {"password": "czNjcjN0LXZhbHVl"},
        }))
        .await
        .unwrap();
    server
}

fn deployment(namespace: &str, name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"tier": "api"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": image}]}},
        },
    })
}

/// A kubeconfig for `yaml` in a temporary folder, and the options of a run writing to
/// `<folder>/config`.
fn options(yaml: &str) -> (tempfile::TempDir, Options) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, yaml).unwrap();
    let options = Options {
        kubeconfig: Some(kubeconfig),
        context: None,
        output: dir.path().join("config"),
    };
    (dir, options)
}

fn read(options: &Options, file: &str) -> String {
    std::fs::read_to_string(options.output.join(file)).unwrap()
}

/// Deployments of the namespaces matching `payments*`, labelled tier in (api, web).
fn deployment_script() -> Vec<crate::init::prompt::script::Answer> {
    vec![
        Yes, // this cluster
        Pick("Deployment (apps/v1)"),
        Pick("matching a pattern"),
        Type("payments*"),
        Yes,                       // use these 2 namespaces
        Type("tier in (api, web"), // refused: asked again
        Type("tier in (api, web)"),
        Defaults, // attributes
        Type(""), // namespace: inventory
        Type(""), // name: deployments
        Yes,      // show a sample
        Yes,      // extract it
        Yes,      // write
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_run_writes_files_that_collect_loads() {
    let server = server(Vec::new()).await;
    let (_dir, options) = options(&server.kubeconfig());
    let mut script = Script::new(deployment_script());
    let done = run(&mut script, &options).await.unwrap();
    assert!(script.finished());
    let transcript = script.transcript.join("\n");
    assert!(
        transcript.contains("Context kollect-testkit, API server https://127.0.0.1:"),
        "{transcript}"
    );
    assert!(
        transcript.contains("payments* matches 2 namespace(s): payments, payments-eu."),
        "{transcript}"
    );
    assert!(
        transcript.contains("`(` without `)`; try again"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Sample: Deployment payments/api (uid "),
        "{transcript}"
    );
    assert!(
        transcript.contains("  images: [\"api:2\"]\n  labels: {\"tier\":\"api\"}"),
        "{transcript}"
    );
    assert_eq!(done.written.len(), 2);
    assert_eq!(
        done.summary,
        format!(
            "{}: valid (1 profile(s), 1 target(s), 0 sink(s))",
            options.output.display()
        )
    );
    let kubeconfig = options.kubeconfig.as_ref().unwrap().display();
    assert_eq!(
        done.trial[1],
        format!(
            "kollect preview --config {} --kubeconfig {kubeconfig} --context kollect-testkit",
            options.output.display()
        )
    );
    let target = read(&options, "target.yaml");
    assert!(
        target.ends_with(
            "spec:\n  includedNamespaces:\n    - payments\n    - payments-eu\n  labelSelector:\n    matchExpressions:\n      - key: tier\n        operator: In\n        values:\n          - api\n          - web\n  profileRef: deployments\n"
        ),
        "{target}"
    );
    let profile = read(&options, "profile.yaml");
    assert!(
        profile.contains("  name: deployments\n  namespace: inventory\n"),
        "{profile}"
    );

    // The same answers again: nothing to confirm, nothing rewritten.
    let mut again = Script::new(deployment_script());
    let done = run(&mut again, &options).await.unwrap();
    assert!(done.written.is_empty());
    assert!(
        again
            .transcript
            .iter()
            .any(|line| line.ends_with("profile.yaml is already up to date")),
        "{:?}",
        again.transcript
    );

    // Other answers: the change is shown, and "no" keeps the files.
    let mut other = Script::new(vec![
        Yes,
        Pick("Deployment (apps/v1)"),
        Pick("All namespaces"),
        Type(""),
        Defaults,
        Type(""),
        Type(""),
        No, // no sample
        Yes,
        No, // do not overwrite target.yaml
    ]);
    assert_eq!(
        run(&mut other, &options).await.unwrap_err(),
        Stop::Cancelled
    );
    assert!(
        other.transcript.iter().any(|line| line.contains(
            "target.yaml exists with other content: 10 line(s) removed, 0 added\n  -   includedNamespaces:"
        )),
        "{:?}",
        other.transcript
    );
    assert_eq!(read(&options, "target.yaml"), target, "kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_need_two_yeses_and_never_show_a_value() {
    let server = server(Vec::new()).await;
    let (_dir, options) = options(&server.kubeconfig());
    let mut script = Script::new(vec![
        Yes,
        Pick("Secret (v1)"),
        No, // not Secrets after all: choose again
        Pick("Secret (v1)"),
        Yes,
        Pick("Namespaces with matching labels"),
        Type("team=web"),
        Type(""),
        Tick(vec!["type", "keys"]),
        Type(""),
        Type(""),
        Yes,
        Yes,
        Yes,
    ]);
    run(&mut script, &options).await.unwrap();
    let transcript = script.transcript.join("\n");
    assert_eq!(
        transcript.matches("? Collect Secret anyway?").count(),
        2,
        "{transcript}"
    );
    assert!(
        transcript.contains("Today 1 namespace(s) match: shop"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Sample: Secret shop/db (uid "),
        "{transcript}"
    );
    assert!(
        transcript.contains("  keys: [\"password\"]"),
        "{transcript}"
    );
    assert!(
        !transcript.contains("czNjcjN0") && !transcript.contains("s3cr3t"),
        "a value was printed: {transcript}"
    );
    let profile = read(&options, "profile.yaml");
    assert!(
        profile.contains("  annotations:\n    kollect.dev/allow-secret-extraction: \"true\"\n"),
        "{profile}"
    );
    assert!(
        read(&options, "target.yaml")
            .contains("  namespaceSelector:\n    matchLabels:\n      team: web\n"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_limits_the_kinds_and_escape_writes_nothing() {
    let alice = TokenUser::new("alice", &["inventory-readers"]);
    let server = server(vec![alice.clone()]).await;
    for object in [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "list-deployments"},
               "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "alice-deployments"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "list-deployments"},
               "subjects": [{"kind": "Group", "name": "inventory-readers", "apiGroup": "rbac.authorization.k8s.io"}]}),
    ] {
        server.apply(object).await.unwrap();
    }
    let (_dir, options) = options(&server.kubeconfig_for(&alice.token));
    let mut script = Script::new(vec![
        Yes,
        Pick("Deployment (apps/v1)"),
        Pick("Type namespace names"),
        Type("shop, Not_A_Namespace"),
        Pick("Type namespace names"),
        Type("shop"),
        Type(""),
        Escape,
    ]);
    assert_eq!(
        run(&mut script, &options).await.unwrap_err(),
        Stop::Cancelled
    );
    let transcript = script.transcript.join("\n");
    assert!(
        transcript.contains("\n1 kind(s) can be listed ("),
        "{transcript}"
    );
    assert!(
        transcript.contains("This identity may not list namespaces"),
        "{transcript}"
    );
    assert!(transcript.contains("\"Not_A_Namespace\": "), "{transcript}");
    assert!(!options.output.exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_and_an_unknown_context_stop_with_a_reason() {
    let server = server(Vec::new()).await;
    let (_dir, mut options) = options(&server.kubeconfig());
    drop(server);
    let mut script = Script::new(vec![Yes]);
    let Stop::Failed(message) = run(&mut script, &options).await.unwrap_err() else {
        panic!("not a failure")
    };
    assert!(
        message.starts_with("context kollect-testkit: API discovery failed")
            && message.ends_with("is the cluster reachable?"),
        "{message}"
    );
    options.context = Some("prod".into());
    let Stop::Failed(message) = run(&mut Script::new(vec![]), &options).await.unwrap_err() else {
        panic!("not a failure")
    };
    assert_eq!(
        message,
        "--context prod: no such context (the kubeconfig has: kollect-testkit)"
    );
}

#[test]
fn trial_commands_quote_what_the_shell_would_split() {
    assert_eq!(
        trial_commands(Path::new("my config"), None, "kind-dev")[2],
        "kollect collect --config 'my config' --context kind-dev --output -"
    );
}
