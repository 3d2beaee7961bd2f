//! Validating admission webhooks called over HTTPS, end to end: a real TLS webhook server in the
//! test, registered through a `ValidatingWebhookConfiguration`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::too_many_lines,
    missing_docs
)]

mod support;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kollect_testkit::tls::Pki;
use kube::{
    Api,
    api::{
        ApiResource, DynamicObject, GroupVersionKind, ObjectMeta, Patch, PatchParams, PostParams,
    },
};
use serde_json::{Value, json};
use support::server;

/// A webhook that denies objects labelled `deny: "true"` and counts its calls.
async fn webhook_server(pki: &Pki, calls: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request: Request<Incoming>| {
                    let calls = Arc::clone(&calls);
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let review: Value = serde_json::from_slice(&body).unwrap();
                        let request = &review["request"];
                        let denied =
                            request.pointer("/object/metadata/labels/deny") == Some(&json!("true"));
                        let mut response = json!({"uid": request["uid"], "allowed": !denied});
                        if denied {
                            response["status"] = json!({"code": 403, "message": format!("denied by test ({})", request["operation"].as_str().unwrap())});
                        }
                        let answer = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response});
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                            answer.to_string(),
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

fn webhook_configuration(url: &str, ca_pem: &str, failure_policy: &str) -> DynamicObject {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
    ));
    DynamicObject::new("deny-labelled", &resource).data(json!({
        "webhooks": [{
            "name": "deny.kollect.dev",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": failure_policy,
            "timeoutSeconds": 5,
            "clientConfig": {
                "url": url,
                "caBundle": base64::engine::general_purpose::STANDARD.encode(ca_pem),
            },
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}],
            "namespaceSelector": {"matchExpressions": [{"key": "skip-webhooks", "operator": "DoesNotExist"}]},
        }]
    }))
}

fn labelled(name: &str, deny: bool) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([("deny".to_owned(), deny.to_string())].into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn validating_webhooks_deny_and_honour_the_failure_policy() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let pki = Pki::generate(&["127.0.0.1".to_owned()]).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let address = webhook_server(&pki, Arc::clone(&calls)).await;
    let configurations: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
        )),
    );
    let url = format!("https://{address}/validate");
    configurations
        .create(
            &PostParams::default(),
            &webhook_configuration(&url, &pki.ca_cert_pem, "Fail"),
        )
        .await
        .unwrap();

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &labelled("ok", false))
        .await
        .unwrap();
    let denied = match cms
        .create(&PostParams::default(), &labelled("bad", true))
        .await
    {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected a denial, got {other:?}"),
    };
    assert_eq!(denied.code, 403);
    assert_eq!(
        denied.message,
        r#"admission webhook "deny.kollect.dev" denied the request: denied by test (CREATE)"#
    );
    assert!(
        cms.get_opt("bad").await.unwrap().is_none(),
        "a denied object is not stored"
    );
    let update = cms
        .patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"deny": "true"}}})),
        )
        .await
        .unwrap_err();
    assert!(
        update.to_string().contains("denied by test (UPDATE)"),
        "{update}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Kinds the rules do not name are not sent.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s", "labels": {"deny": "true"}}}))
            .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // An unreachable webhook fails closed under Fail and open under Ignore.
    let unreachable = "https://127.0.0.1:1/validate";
    configurations
        .patch(
            "deny-labelled",
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(json!([{"op": "replace", "path": "/webhooks/0/clientConfig/url", "value": unreachable}])).unwrap()),
        )
        .await
        .unwrap();
    let failed = match cms
        .create(&PostParams::default(), &labelled("x", false))
        .await
    {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected a webhook failure, got {other:?}"),
    };
    assert_eq!(
        (failed.code, failed.reason.as_str()),
        (500, "InternalError")
    );
    assert!(
        failed
            .message
            .contains(r#"failed calling webhook "deny.kollect.dev""#),
        "{}",
        failed.message
    );
    configurations
        .patch(
            "deny-labelled",
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(json!([{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}])).unwrap()),
        )
        .await
        .unwrap();
    cms.create(&PostParams::default(), &labelled("x", false))
        .await
        .unwrap();

    // A CA bundle that does not sign the webhook's certificate is a failed call.
    let other = Pki::generate(&["127.0.0.1".to_owned()]).unwrap();
    configurations
        .replace("deny-labelled", &PostParams::default(), &{
            let mut replacement = webhook_configuration(&url, &other.ca_cert_pem, "Fail");
            replacement.metadata.resource_version = None;
            replacement
        })
        .await
        .unwrap();
    let untrusted = cms
        .create(&PostParams::default(), &labelled("y", false))
        .await
        .unwrap_err();
    assert!(
        untrusted.to_string().contains("failed calling webhook"),
        "{untrusted}"
    );

    // Namespaces labelled to skip webhooks are not sent.
    let namespaces: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")),
    );
    let namespace = DynamicObject::new(
        "quiet",
        &ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")),
    );
    let mut namespace = namespace;
    namespace.metadata.labels = Some([("skip-webhooks".to_owned(), "yes".to_owned())].into());
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let quiet: Api<ConfigMap> = Api::namespaced(client, "quiet");
    quiet
        .create(&PostParams::default(), &labelled("z", true))
        .await
        .unwrap();
}
