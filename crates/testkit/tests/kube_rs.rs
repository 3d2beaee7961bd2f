//! The testkit judged by a client we did not write: kube-rs's `Api`, `watcher` and `reflector`.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::too_many_lines,
    missing_docs
)]

mod support;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        },
        coordination::v1::{Lease, LeaseSpec},
        core::v1::{ConfigMap, Namespace, Pod},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kollect_testkit::{Fault, Options, TokenUser};
use kube::{
    Api, Client, ResourceExt,
    api::{
        ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta,
        PartialObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
    },
    runtime::{WatchStreamExt as _, reflector, watcher},
};
use serde_json::json;
use support::{eventually, server, server_with};

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([("app".to_owned(), "demo".to_owned())].into()),
            ..ObjectMeta::default()
        },
        data: Some([("v".to_owned(), value.to_owned())].into()),
        ..ConfigMap::default()
    }
}

fn status_of(error: kube::Error) -> Box<kube::core::Status> {
    match error {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    api.create(&PostParams::default(), &ns).await.unwrap();
}

#[tokio::test]
async fn crud_generation_and_optimistic_concurrency() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1: u64 = created.resource_version().unwrap().parse().unwrap();

    let again = status_of(
        cms.create(&PostParams::default(), &cm("a", "1"))
            .await
            .unwrap_err(),
    );
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(again.message, r#"configmaps "a" already exists"#);

    let mut changed = created.clone();
    changed.data = Some([("v".to_owned(), "2".to_owned())].into());
    let replaced = cms
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced.resource_version().unwrap().parse().unwrap();
    assert!(rv2 > rv1, "resourceVersion grows");
    // `changed` still carries the old resourceVersion: a stale write.
    let stale = status_of(
        cms.replace("a", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));

    // Generation counts spec changes only.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
    }))
    .unwrap();
    let d = deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "a label change is not a spec change"
    );
    let d = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));

    // JSON patch with a failing test leaves the object alone.
    let failed = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 9}, {"op": "replace", "path": "/spec/replicas", "value": 5}])).unwrap()),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(failed).code, 422);
    assert_eq!(deployments.get("web").await.unwrap().spec.replicas, Some(3));

    // An unchanged write does not bump the resourceVersion.
    let before = cms.get("a").await.unwrap();
    let same = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(same.resource_version(), before.resource_version());

    // dryRun stores nothing.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    cms.create(&dry, &cm("ghost", "1")).await.unwrap();
    assert!(cms.get_opt("ghost").await.unwrap().is_none());

    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let gone = status_of(cms.get("a").await.unwrap_err());
    assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn list_pagination_is_a_consistent_snapshot() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..10 {
        cms.create(&PostParams::default(), &cm(&format!("cm-{i:02}"), "1"))
            .await
            .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(4)).await.unwrap();
    assert_eq!(first.items.len(), 4);
    assert_eq!(first.metadata.remaining_item_count, Some(6));
    let token = first.metadata.continue_.clone().unwrap();
    // Changes after the first page do not show in later pages of the same list.
    cms.delete("cm-06", &DeleteParams::default()).await.unwrap();
    cms.create(&PostParams::default(), &cm("cm-99", "1"))
        .await
        .unwrap();
    cms.patch(
        "cm-05",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "changed"}})),
    )
    .await
    .unwrap();
    let mut names: Vec<String> = first.items.iter().map(ResourceExt::name_any).collect();
    let mut token = Some(token);
    while let Some(next) = token {
        let page = cms
            .list(&ListParams::default().limit(4).continue_token(&next))
            .await
            .unwrap();
        assert_eq!(
            page.metadata.resource_version,
            first.metadata.resource_version
        );
        for item in &page.items {
            if item.name_any() == "cm-05" {
                assert_eq!(
                    item.data.as_ref().unwrap()["v"],
                    "1",
                    "the snapshot shows the old value"
                );
            }
        }
        names.extend(page.items.iter().map(ResourceExt::name_any));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
    }
    let expected: Vec<String> = (0..10).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists_and_watches() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, tier, node) in [("a", "web", "n1"), ("b", "db", "n2"), ("c", "web", "n2")] {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"tier": tier}},
            "spec": {"nodeName": node, "containers": [{"name": "x", "image": "x"}]},
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let names = |list: kube::core::ObjectList<Pod>| {
        list.items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("tier=web"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("tier notin (web)"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("!tier"))
                .await
                .unwrap()
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("spec.nodeName=n2"))
                .await
                .unwrap()
        ),
        ["b", "c"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("spec.nodeName=n2,metadata.name!=b"))
                .await
                .unwrap()
        ),
        ["c"]
    );
    let bad = status_of(
        pods.list(&ListParams::default().labels("tier in (web"))
            .await
            .unwrap_err(),
    );
    assert_eq!((bad.code, bad.reason.as_str()), (400, "BadRequest"));
    let bad = status_of(
        pods.list(&ListParams::default().fields("spec.foo=x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (bad.code, bad.message.as_str()),
        (400, "field label not supported: spec.foo")
    );

    // A watch with a selector sees an object leave the selection as a deletion.
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = pods
        .watch(&WatchParams::default().labels("tier=web"), &rv)
        .await
        .unwrap()
        .boxed();
    pods.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "db"}}})),
    )
    .await
    .unwrap();
    pods.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "web"}}})),
    )
    .await
    .unwrap();
    match events.try_next().await.unwrap().unwrap() {
        WatchEvent::Deleted(pod) => assert_eq!(pod.name_any(), "a"),
        other => panic!("expected a deletion, got {other:?}"),
    }
    match events.try_next().await.unwrap().unwrap() {
        WatchEvent::Added(pod) => assert_eq!(pod.name_any(), "b"),
        other => panic!("expected an addition, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_replays_history_sends_bookmarks_and_expires_old_versions() {
    let server = server_with(Options {
        history_limit: 5,
        ..Options::default()
    })
    .await;
    let client = server.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let start = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    cms.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    let mut events = cms
        .watch(&WatchParams::default().timeout(10), &start)
        .await
        .unwrap()
        .boxed();
    assert!(matches!(
        events.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));
    assert!(matches!(
        events.try_next().await.unwrap(),
        Some(WatchEvent::Modified(_))
    ));
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Bookmark(bookmark)) => {
            let rv: u64 = bookmark.metadata.resource_version.parse().unwrap();
            assert!(rv >= start.parse::<u64>().unwrap() + 2);
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
    // Push the start out of the 5-event history: watch and exact list answer 410 Expired.
    for i in 0..6 {
        cms.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": format!("x{i}")}})),
        )
        .await
        .unwrap();
    }
    let mut expired = cms
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    match expired.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected 410 Expired, got {other:?}"),
    }
    let exact = status_of(
        cms.list(
            &ListParams::default()
                .at(&start)
                .matching(kube::api::VersionMatch::Exact),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((exact.code, exact.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn server_side_apply_records_managers_and_conflicts() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}});
    let object = cms
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .unwrap();
    let managers: Vec<_> = object
        .managed_fields()
        .iter()
        .map(|m| m.manager.clone().unwrap())
        .collect();
    assert_eq!(managers, ["alice"]);
    // Re-applying the same configuration changes nothing.
    let again = cms
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .unwrap();
    assert_eq!(again.resource_version(), object.resource_version());
    // Another manager changing alice's field conflicts, unless forced.
    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "9"}});
    let conflict = status_of(
        cms.patch("ssa", &PatchParams::apply("bob"), &Patch::Apply(&bob))
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(conflict.message.contains("alice"), "{}", conflict.message);
    let forced = cms
        .patch(
            "ssa",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(&bob),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "9");
    // alice stops applying `b`: it goes away; `a` now belongs to bob and stays.
    let alice =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {}});
    let pruned = cms
        .patch("ssa", &PatchParams::apply("alice"), &Patch::Apply(&alice))
        .await
        .unwrap();
    assert_eq!(
        pruned.data.unwrap(),
        BTreeMap::from([("a".to_owned(), "9".to_owned())])
    );
    // Apply creates missing objects.
    let fresh = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fresh"}, "data": {"x": "1"}});
    cms.patch("fresh", &PatchParams::apply("alice"), &Patch::Apply(&fresh))
        .await
        .unwrap();
    assert!(cms.get_opt("fresh").await.unwrap().is_some());
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
        "status": {"replicas": 42}
    }))
    .unwrap();
    let created = deployments
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    assert!(created.status.is_none(), "status is dropped on create");
    let patched = deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"replicas": 7}, "status": {"replicas": 1, "readyReplicas": 1}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(patched.status.as_ref().unwrap().ready_replicas, Some(1));
    assert_eq!(
        patched.spec.replicas,
        Some(1),
        "spec is ignored on the status subresource"
    );
    assert_eq!(patched.metadata.generation, Some(1));
    let main = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 0}})),
        )
        .await
        .unwrap();
    assert_eq!(
        main.status.unwrap().ready_replicas,
        Some(1),
        "status is ignored on the main resource"
    );
    let status = deployments.get_status("web").await.unwrap();
    assert_eq!(status.status.unwrap().replicas, Some(1));
}

#[tokio::test]
async fn finalizers_delay_deletion_and_namespaces_take_their_contents() {
    let server = server().await;
    let client = server.client().await.unwrap();
    namespace(&client, "team").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let mut held = cm("held", "1");
    held.metadata.finalizers = Some(vec!["kollect.dev/test".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.create(&PostParams::default(), &cm("free", "1"))
        .await
        .unwrap();

    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(
        marked.metadata.deletion_timestamp.is_some(),
        "deletion waits for the finalizer"
    );

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        cms.get_opt("free").await.unwrap().is_none(),
        "namespace deletion removes its contents"
    );
    let ns = namespaces.get("team").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let refused = status_of(
        cms.create(&PostParams::default(), &cm("late", "1"))
            .await
            .unwrap_err(),
    );
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));

    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        cms.get_opt("held").await.unwrap().is_none(),
        "gone once the finalizer is removed"
    );
    assert!(
        namespaces.get_opt("team").await.unwrap().is_none(),
        "the emptied namespace goes away"
    );
}

#[tokio::test]
async fn crd_created_at_runtime_is_served_and_removed_with_its_objects() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    let created = crds.create(&PostParams::default(), &crd).await.unwrap();
    let conditions = created.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (resource, caps) = discovery
        .groups()
        .flat_map(kube::discovery::ApiGroup::recommended_resources)
        .find(|(r, _)| r.kind == "Widget")
        .expect("discovery lists the new kind");
    assert_eq!(resource.plural, "widgets");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "widgets/status" || s.plural == "status")
    );

    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let mut widget = DynamicObject::new("w1", &resource);
    widget.data = json!({"spec": {"size": 3}});
    widgets
        .create(&PostParams::default(), &widget)
        .await
        .unwrap();
    assert_eq!(
        widgets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let gone = status_of(widgets.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(gone.code, 404);
    // Recreated, the kind starts empty.
    crds.create(&PostParams::default(), &crd).await.unwrap();
    assert!(
        widgets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn metadata_only_watch_uses_partial_object_metadata() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    server.clear_requests();
    let (reader, writer) = reflector::store();
    let metadata: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(client.clone(), "default");
    let stream = reflector(
        writer,
        watcher(metadata, watcher::Config::default()).default_backoff(),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| futures::future::ready(())));
    cms.create(&PostParams::default(), &cm("b", "2"))
        .await
        .unwrap();
    eventually("both objects in the metadata store", || {
        let reader = reader.clone();
        async move { reader.state().len() == 2 }
    })
    .await;
    task.abort();
    let requests = server.requests();
    let reads: Vec<_> = requests
        .iter()
        .filter(|r| r.resource == "configmaps" && r.method == "GET")
        .collect();
    assert!(!reads.is_empty());
    assert!(reads.iter().all(|r| r.is_metadata_only()), "{reads:#?}");
    assert!(reads.iter().any(|r| r.verb == "watch"));
}

#[tokio::test]
async fn streaming_list_watcher_receives_initial_events() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..3 {
        cms.create(&PostParams::default(), &cm(&format!("s{i}"), "1"))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(cms.clone(), watcher::Config::default().streaming_lists()).default_backoff(),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| futures::future::ready(())));
    reader.wait_until_ready().await.unwrap();
    assert_eq!(reader.state().len(), 3);
    cms.delete("s0", &DeleteParams::default()).await.unwrap();
    eventually("the deletion reaches the store", || {
        let reader = reader.clone();
        async move { reader.state().len() == 2 }
    })
    .await;
    task.abort();
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.query.contains("sendInitialEvents=true"))
    );
}

/// One lease-based leader election round: acquire when free or expired, renew while holding.
async fn try_lead(leases: &Api<Lease>, me: &str, duration: i32) -> bool {
    let now = k8s_openapi::jiff::Timestamp::now();
    let spec = LeaseSpec {
        holder_identity: Some(me.into()),
        lease_duration_seconds: Some(duration),
        renew_time: Some(MicroTime(now)),
        ..LeaseSpec::default()
    };
    match leases.get_opt("leader").await.unwrap() {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some("leader".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            leases.create(&PostParams::default(), &lease).await.is_ok()
        }
        Some(mut lease) => {
            let current = lease.spec.clone().unwrap_or_default();
            let expired = current.renew_time.is_none_or(|t| {
                t.0.as_second() + i64::from(current.lease_duration_seconds.unwrap_or(0))
                    < now.as_second()
            });
            if current.holder_identity.as_deref() != Some(me) && !expired {
                return false;
            }
            lease.spec = Some(spec);
            // The resourceVersion from the read makes a concurrent takeover lose with 409.
            leases
                .replace("leader", &PostParams::default(), &lease)
                .await
                .is_ok()
        }
    }
}

#[tokio::test]
async fn lease_leader_election_hands_over() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client, "kube-system");
    // Both race for a free lease: exactly one wins.
    let (a, b) = tokio::join!(try_lead(&leases, "a", 1), try_lead(&leases, "b", 1));
    assert!(a ^ b, "exactly one leader (a={a}, b={b})");
    let (leader, other) = if a { ("a", "b") } else { ("b", "a") };
    assert!(try_lead(&leases, leader, 1).await, "the leader renews");
    assert!(
        !try_lead(&leases, other, 1).await,
        "the other waits while the lease is fresh"
    );
    // The leader stops renewing: after the lease duration the other takes over.
    eventually("the other contender takes over", || {
        try_lead(&leases, other, 1)
    })
    .await;
    let holder = leases
        .get("leader")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    assert_eq!(holder, other);
}

#[tokio::test]
async fn rbac_denies_and_grants_per_namespace() {
    let alice = TokenUser::new("alice", &["dev"]);
    let server = server_with(Options {
        tokens: vec![alice.clone()],
        ..Options::default()
    })
    .await;
    let admin = server.client().await.unwrap();
    let client = server.client_for(&alice.token).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let denied = status_of(cms.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((denied.code, denied.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        denied.message,
        r#"configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default""#
    );
    let ssar = |verb: &str, namespace: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                resource: Some("configmaps".into()),
                namespace: Some(namespace.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = reviews
        .create(&PostParams::default(), &ssar("list", "default"))
        .await
        .unwrap();
    assert!(!answer.status.unwrap().allowed);

    let role = DynamicObject::new("cm-reader", &ApiResource::from_gvk(&GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", "Role")))
        .within("default")
        .data(json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]}));
    let binding = DynamicObject::new("cm-reader", &ApiResource::from_gvk(&GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", "RoleBinding")))
        .within("default")
        .data(json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
            "subjects": [{"kind": "Group", "name": "dev", "apiGroup": "rbac.authorization.k8s.io"}]}));
    for (object, kind, plural) in [
        (role, "Role", "roles"),
        (binding, "RoleBinding", "rolebindings"),
    ] {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind),
            plural,
        );
        Api::<DynamicObject>::namespaced_with(admin.clone(), "default", &resource)
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }
    cms.list(&ListParams::default()).await.unwrap();
    let answer = reviews
        .create(&PostParams::default(), &ssar("list", "default"))
        .await
        .unwrap();
    assert!(answer.status.unwrap().allowed);
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    assert_eq!(
        status_of(elsewhere.list(&ListParams::default()).await.unwrap_err()).code,
        403
    );
    let write = status_of(
        cms.create(&PostParams::default(), &cm("x", "1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(write.code, 403);
    // Discovery is open to every authenticated user (bootstrap policy).
    client.apiserver_version().await.unwrap();
    // A wrong token is 401.
    let stranger = server.client_for("not-a-token").await.unwrap();
    let unauthorized = status_of(stranger.apiserver_version().await.unwrap_err());
    assert_eq!(unauthorized.code, 401);
}

/// Sends a raw request and returns (HTTP status, Status reason).
async fn raw(
    client: &Client,
    method: &str,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(body)
        .unwrap();
    match client.request::<serde_json::Value>(request).await {
        Ok(_) => (200, String::new()),
        Err(error) => {
            let status = status_of(error);
            (status.code, status.reason)
        }
    }
}

#[tokio::test]
async fn bad_requests_get_the_apiserver_status_and_reason() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let path = "/api/v1/namespaces/default/configmaps";
    assert_eq!(
        raw(
            &client,
            "POST",
            path,
            "application/json",
            b"{not json".to_vec()
        )
        .await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        raw(
            &client,
            "GET",
            "/apis/example.com/v1/widgets",
            "application/json",
            Vec::new()
        )
        .await,
        (404, "NotFound".into())
    );
    assert_eq!(
        raw(
            &client,
            "GET",
            "/api/v1/nothings",
            "application/json",
            Vec::new()
        )
        .await,
        (404, "NotFound".into())
    );
    assert_eq!(
        raw(
            &client,
            "GET",
            &format!("{path}?labelSelector=a%20in%20(b"),
            "application/json",
            Vec::new()
        )
        .await,
        (400, "BadRequest".into())
    );
    let huge = serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"x": "y".repeat(3 * 1024 * 1024 + 1)}}),
    )
    .unwrap();
    assert_eq!(
        raw(&client, "POST", path, "application/json", huge).await,
        (413, "RequestEntityTooLarge".into())
    );
    let object = serde_json::to_vec(&cm("a", "1")).unwrap();
    assert_eq!(
        raw(&client, "POST", path, "text/plain", object.clone()).await,
        (415, "UnsupportedMediaType".into())
    );
    raw(
        &client,
        "POST",
        path,
        "application/json",
        serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
        )
        .unwrap(),
    )
    .await;
    assert_eq!(
        raw(
            &client,
            "PATCH",
            &format!("{path}/a"),
            "text/plain",
            b"{}".to_vec()
        )
        .await,
        (415, "UnsupportedMediaType".into())
    );
    assert_eq!(
        raw(
            &client,
            "POST",
            path,
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#.to_vec()
        )
        .await,
        (422, "Invalid".into())
    );
    assert_eq!(
        raw(
            &client,
            "POST",
            path,
            "application/json",
            br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}"#.to_vec()
        )
        .await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        raw(
            &client,
            "POST",
            "/api/v1/namespaces/missing/configmaps",
            "application/json",
            object
        )
        .await,
        (404, "NotFound".into())
    );
}

// ---- Faults: a kube-rs reflector ends in exactly the server's final state. ----

type Snapshot = BTreeMap<String, String>;

fn snapshot_of(items: &[Arc<ConfigMap>]) -> Snapshot {
    items
        .iter()
        .map(|cm| {
            (
                cm.name_any(),
                cm.data
                    .as_ref()
                    .and_then(|d| d.get("v").cloned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Runs a reflector over the `faults` namespace, injects `fault` once it has synced, changes
/// objects, clears faults, and checks the store converges on the server's state.
async fn recovers_from(
    fault: Fault,
    also: Option<Fault>,
    met: fn(&[kollect_testkit::RequestRecord]) -> bool,
) -> kollect_testkit::TestApiServer {
    let server = server().await;
    let client = server.client().await.unwrap();
    namespace(&client, "faults").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "faults");
    for i in 0..20 {
        cms.create(&PostParams::default(), &cm(&format!("o{i:02}"), "0"))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(cms.clone(), watcher::Config::default().page_size(7)).default_backoff(),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| futures::future::ready(())));
    reader.wait_until_ready().await.unwrap();

    server.inject(fault);
    if let Some(also) = also {
        server.inject(also);
    }
    for i in 0..20 {
        let name = format!("o{i:02}");
        match i % 4 {
            0 => {
                cms.delete(&name, &DeleteParams::default()).await.unwrap();
            }
            1 | 2 => {
                cms.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"v": format!("{i}")}})),
                )
                .await
                .unwrap();
            }
            _ => {
                cms.create(&PostParams::default(), &cm(&format!("n{i:02}"), "new"))
                    .await
                    .unwrap();
            }
        }
    }
    // Kick idle watches so every fault is met, then let the client recover.
    server.inject(Fault::CloseWatches);
    eventually("the client meets the fault", || {
        let met = met(&server.requests());
        async move { met }
    })
    .await;
    server.clear_faults();
    let truth = |cms: Api<ConfigMap>| async move {
        let list = cms.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .map(|cm| {
                (
                    cm.name_any(),
                    cm.data
                        .and_then(|d| d.get("v").cloned())
                        .unwrap_or_default(),
                )
            })
            .collect::<Snapshot>()
    };
    let expected = truth(cms.clone()).await;
    assert_eq!(expected.len(), 20, "15 survivors and 5 new objects");
    eventually("the reflector converges on the server's state", || {
        let reader = reader.clone();
        let expected = expected.clone();
        async move { snapshot_of(&reader.state()) == expected }
    })
    .await;
    task.abort();
    server
}

#[tokio::test]
async fn watcher_recovers_from_closed_watches() {
    recovers_from(Fault::CloseWatches, None, |requests| {
        requests.iter().filter(|r| r.verb == "watch").count() >= 2
    })
    .await;
}

#[tokio::test]
async fn watcher_recovers_from_410_expired() {
    // The first list takes 3 pages of 7; a fourth page request means 410 made the watcher relist.
    recovers_from(
        Fault::ExpireWatches { count: 2 },
        Some(Fault::CloseWatches),
        |requests| {
            requests
                .iter()
                .filter(|r| {
                    r.verb == "list" && r.resource == "configmaps" && r.query.contains("limit=7")
                })
                .count()
                > 3
        },
    )
    .await;
}

#[tokio::test]
async fn watcher_recovers_from_429_bursts() {
    recovers_from(
        Fault::FailRequests {
            status: 429,
            count: 3,
            verb: Some("list".into()),
            path_prefix: Some("/api/v1/namespaces/faults/configmaps".into()),
            retry_after_seconds: 1,
        },
        Some(Fault::ExpireWatches { count: 1 }),
        |requests| {
            requests
                .iter()
                .filter(|r| r.status == 429 && r.verb == "list")
                .count()
                == 3
        },
    )
    .await;
}

#[tokio::test]
async fn watcher_recovers_from_500_bursts() {
    recovers_from(
        Fault::FailRequests {
            status: 500,
            count: 3,
            verb: Some("watch".into()),
            path_prefix: None,
            retry_after_seconds: 1,
        },
        None,
        |requests| {
            requests
                .iter()
                .filter(|r| r.status == 500 && r.verb == "watch")
                .count()
                == 3
        },
    )
    .await;
}

#[tokio::test]
async fn watcher_recovers_from_failing_lists() {
    recovers_from(
        Fault::FailList {
            group: String::new(),
            resource: "configmaps".into(),
            count: 3,
        },
        Some(Fault::ExpireWatches { count: 1 }),
        |requests| {
            requests
                .iter()
                .filter(|r| r.status == 500 && r.verb == "list")
                .count()
                == 3
        },
    )
    .await;
}

#[tokio::test]
async fn watcher_recovers_from_latency() {
    recovers_from(
        Fault::Latency {
            millis: 150,
            path_prefix: Some("/api/v1/namespaces/faults".into()),
        },
        None,
        |requests| requests.iter().filter(|r| r.verb == "watch").count() >= 2,
    )
    .await;
}

#[tokio::test]
async fn watcher_recovers_from_a_paused_stream() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("p", "0"))
        .await
        .unwrap();
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(cms.clone(), watcher::Config::default()).default_backoff(),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| futures::future::ready(())));
    reader.wait_until_ready().await.unwrap();
    server.inject(Fault::PauseWatches);
    for i in 1..=5 {
        cms.patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": i.to_string()}})),
        )
        .await
        .unwrap();
    }
    cms.create(&PostParams::default(), &cm("q", "0"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        snapshot_of(&reader.state()),
        Snapshot::from([("p".into(), "0".into())]),
        "held back while paused"
    );
    server.inject(Fault::ResumeWatches);
    let expected = Snapshot::from([("p".into(), "5".into()), ("q".into(), "0".into())]);
    eventually("the held events arrive", || {
        let reader = reader.clone();
        let expected = expected.clone();
        async move { snapshot_of(&reader.state()) == expected }
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn reviews_deletecollection_and_watch_timeouts() {
    let bob = TokenUser::new("bob", &["ops"]);
    let server = server_with(Options {
        tokens: vec![bob.clone()],
        ..Options::default()
    })
    .await;
    let client = server.client().await.unwrap();
    let review = |kind: &str, plural: &str| {
        let group = if kind == "TokenReview" || kind == "SelfSubjectReview" {
            "authentication.k8s.io"
        } else {
            "authorization.k8s.io"
        };
        Api::<DynamicObject>::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural),
        )
    };
    let token_review = |token: &str| {
        DynamicObject::new(
            "",
            &ApiResource::from_gvk(&GroupVersionKind::gvk(
                "authentication.k8s.io",
                "v1",
                "TokenReview",
            )),
        )
        .data(json!({"spec": {"token": token}}))
    };
    let answer = review("TokenReview", "tokenreviews")
        .create(&PostParams::default(), &token_review(&bob.token))
        .await
        .unwrap();
    assert_eq!(answer.data["status"]["authenticated"], true);
    assert_eq!(answer.data["status"]["user"]["username"], "bob");
    assert_eq!(
        answer.data["status"]["user"]["groups"],
        json!(["ops", "system:authenticated"])
    );
    let answer = review("TokenReview", "tokenreviews")
        .create(&PostParams::default(), &token_review("nope"))
        .await
        .unwrap();
    assert_eq!(answer.data["status"]["authenticated"], false);

    let sar = DynamicObject::new("", &ApiResource::from_gvk(&GroupVersionKind::gvk("authorization.k8s.io", "v1", "SubjectAccessReview")))
        .data(json!({"spec": {"user": "bob", "groups": ["ops"], "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "default"}}}));
    let answer = review("SubjectAccessReview", "subjectaccessreviews")
        .create(&PostParams::default(), &sar)
        .await
        .unwrap();
    assert_eq!(answer.data["status"]["allowed"], false);
    let whoami = DynamicObject::new(
        "",
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "authentication.k8s.io",
            "v1",
            "SelfSubjectReview",
        )),
    );
    let bob_client = server.client_for(&bob.token).await.unwrap();
    let answer = Api::<DynamicObject>::all_with(
        bob_client,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("authentication.k8s.io", "v1", "SelfSubjectReview"),
            "selfsubjectreviews",
        ),
    )
    .create(&PostParams::default(), &whoami)
    .await
    .unwrap();
    assert_eq!(answer.data["status"]["userInfo"]["username"], "bob");

    // deletecollection honours selectors.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for (name, app) in [("a", "demo"), ("b", "demo"), ("c", "other")] {
        let mut object = cm(name, "1");
        object.metadata.labels = Some([("app".to_owned(), app.to_owned())].into());
        cms.create(&PostParams::default(), &object).await.unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=demo"),
    )
    .await
    .unwrap();
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(left, ["c"]);

    // events.k8s.io Events are served beside core Events.
    let events: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk(&GroupVersionKind::gvk("events.k8s.io", "v1", "Event")),
    );
    let event = DynamicObject::new("e1", &ApiResource::from_gvk(&GroupVersionKind::gvk("events.k8s.io", "v1", "Event")))
        .data(json!({"reason": "Tested", "note": "hello", "action": "Test", "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "t", "reportingInstance": "t"}));
    events.create(&PostParams::default(), &event).await.unwrap();
    assert_eq!(
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // A watch with timeoutSeconds ends by itself.
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = cms
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap();
    let ended = tokio::time::timeout(support::CONVERGE, stream.collect::<Vec<_>>()).await;
    assert!(ended.is_ok(), "the watch ended after timeoutSeconds");
}

#[tokio::test]
async fn review_findings_stay_fixed() {
    let server = server().await;
    let client = server.client().await.unwrap();
    // A write to a terminating namespace does not finalize it while content remains.
    namespace(&client, "x").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "x");
    let mut held = cm("held", "1");
    held.metadata.finalizers = Some(vec!["kollect.dev/test".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete("x", &DeleteParams::default())
        .await
        .unwrap();
    namespaces
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"k": "v"}}})),
        )
        .await
        .unwrap();
    assert!(
        namespaces.get_opt("x").await.unwrap().is_some(),
        "still terminating: it has content"
    );
    assert!(cms.get_opt("held").await.unwrap().is_some());

    // Deleting a CRD whose objects held a terminating namespace lets the namespace go.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "gadgets", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    namespace(&client, "y").await;
    let gadgets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "y",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
            "gadgets",
        ),
    );
    let mut gadget = DynamicObject::new(
        "g",
        &ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Gadget")),
    );
    gadget.metadata.finalizers = Some(vec!["kollect.dev/test".into()]);
    gadgets
        .create(&PostParams::default(), &gadget)
        .await
        .unwrap();
    namespaces
        .delete("y", &DeleteParams::default())
        .await
        .unwrap();
    assert!(namespaces.get_opt("y").await.unwrap().is_some());
    crds.delete("gadgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        namespaces.get_opt("y").await.unwrap().is_none(),
        "emptied by the CRD deletion"
    );

    // A patch that turns the object into something else is 422, not a dropped connection.
    let plain: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    plain
        .create(&PostParams::default(), &cm("p", "1"))
        .await
        .unwrap();
    let replaced = plain
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(json!([{"op": "replace", "path": "", "value": []}]))
                    .unwrap(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(replaced).code, 422);

    // A CRD may not take over a built-in group, and its group needs a dot.
    for group in ["apps", "widgets"] {
        let mut bad = crd.clone();
        bad.metadata.name = Some(format!("things.{group}"));
        bad.spec.group = group.into();
        bad.spec.names.plural = "things".into();
        bad.spec.names.kind = "Thing".into();
        let refused = status_of(crds.create(&PostParams::default(), &bad).await.unwrap_err());
        assert_eq!(
            (refused.code, refused.reason.as_str()),
            (422, "Invalid"),
            "group {group}"
        );
    }

    // An absurd watch timeout is no timeout, not a crash.
    let rv = plain
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let request = http::Request::get(format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=18446744073709551615"))
        .body(Vec::new())
        .unwrap();
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
