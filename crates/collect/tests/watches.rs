//! Shared lean watches against kollect-testkit (a real HTTP API server, not a mock): one watch per
//! resource for any number of subscribers, metadata-only watches, recovery from every fault the
//! testkit injects, and kinds installed after start.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::too_many_lines,
    missing_docs
)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::api::core::v1::ConfigMap;
use kollect_api::row::{Attributes, Gvk, Row};
use kollect_collect::{
    Consumer, RawObject, Shape, Store, TargetKey, TargetRows, WatchScope, Watches,
};
use kollect_testkit::{Fault, Options, TestApiServer};
use kube::{
    Api,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    core::GroupVersionKind,
};
use serde_json::{Value, json};

/// Feeds a store like a target would: one row per object, attribute `v` from `data.v`.
fn target_consumer(store: &Arc<Store>, target: &TargetKey) -> Arc<dyn Consumer> {
    TargetRows::new(
        Arc::clone(store),
        target.clone(),
        gvk(),
        |object: &RawObject<'_>| Some(row(object)),
    )
}

fn row(object: &RawObject<'_>) -> Row {
    let value: Value = serde_json::from_str(object.json).unwrap();
    let v = value.pointer("/data/v").cloned().unwrap_or(Value::Null);
    Row {
        namespace: object.namespace.as_ref().into(),
        name: object.name.as_ref().into(),
        uid: object.uid.as_ref().into(),
        resource_version: object.resource_version.as_ref().into(),
        attributes: Attributes::from_map(json!({"v": v}).as_object().unwrap()),
    }
}

fn gvk() -> Gvk {
    Gvk::new("", "v1", "ConfigMap")
}

fn configmaps() -> GroupVersionKind {
    GroupVersionKind::gvk("", "v1", "ConfigMap")
}

async fn server() -> TestApiServer {
    TestApiServer::start(Options {
        bookmark_interval: Duration::from_millis(200),
        kollect_crds: false,
        ..Options::default()
    })
    .await
    .unwrap()
}

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": value}})).unwrap()
}

/// The store's rows of a target as name → v.
fn rows(store: &Store, target: &TargetKey) -> BTreeMap<String, String> {
    store
        .target_rows(target)
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r.row.attributes.as_json()).unwrap();
            (
                r.row.name.to_string(),
                v["v"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The server's state as name → v.
async fn truth(api: &Api<ConfigMap>) -> BTreeMap<String, String> {
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| {
            let v = c.data.and_then(|d| d.get("v").cloned()).unwrap_or_default();
            (c.metadata.name.unwrap(), v)
        })
        .collect()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_targets_share_one_watch_and_see_every_change() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    server.clear_requests();

    let store = Arc::new(Store::new());
    let watches = Watches::new(client.clone());
    let first = TargetKey::namespaced("default", "first");
    let second = TargetKey::namespaced("default", "second");
    let mut one = watches
        .subscribe(
            &configmaps(),
            WatchScope::Cluster,
            Shape::Full,
            target_consumer(&store, &first),
        )
        .await
        .unwrap();
    let _two = watches
        .subscribe(
            &configmaps(),
            WatchScope::Cluster,
            Shape::Full,
            target_consumer(&store, &second),
        )
        .await
        .unwrap();
    one.synced().await;
    assert_eq!(watches.running(), 1);

    api.create(&PostParams::default(), &cm("b", "2"))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "changed"}})),
    )
    .await
    .unwrap();
    api.delete("b", &DeleteParams::default()).await.unwrap();
    api.create(&PostParams::default(), &cm("c", "3"))
        .await
        .unwrap();
    let expected = truth(&api).await;
    eventually("both targets converge", || {
        rows(&store, &first) == expected && rows(&store, &second) == expected
    })
    .await;

    let requests = server.requests();
    let on_configmaps = |verb: &str| {
        requests
            .iter()
            .filter(|r| r.resource == "configmaps" && r.verb == verb && !r.user.is_empty())
            .count()
    };
    assert_eq!(
        on_configmaps("watch"),
        1,
        "exactly one watch for two targets"
    );
    assert_eq!(
        on_configmaps("list"),
        2,
        "the watch's list, plus the test's own list"
    );
    assert!(one.status().synced);
}

/// Records the JSON of every object it gets.
struct Names(Arc<Mutex<Vec<String>>>);
impl Consumer for Names {
    fn relist_begin(&self) {
        self.0.lock().unwrap().clear();
    }
    fn listed(&self, object: &RawObject<'_>) {
        self.0.lock().unwrap().push(object.json.to_owned());
    }
    fn relist_end(&self, _: bool) {}
    fn upsert(&self, object: &RawObject<'_>) {
        self.0.lock().unwrap().push(object.json.to_owned());
    }
    fn delete(&self, _: &RawObject<'_>) {}
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_only_subscriptions_use_partial_object_metadata() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    server.clear_requests();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let watches = Watches::new(client.clone());
    let mut subscription = watches
        .subscribe(
            &configmaps(),
            WatchScope::Namespace("default".into()),
            Shape::Metadata,
            Arc::new(Names(Arc::clone(&seen))),
        )
        .await
        .unwrap();
    subscription.synced().await;
    api.create(&PostParams::default(), &cm("b", "2"))
        .await
        .unwrap();
    eventually("the new object arrives", || seen.lock().unwrap().len() == 2).await;
    for json in seen.lock().unwrap().iter() {
        assert!(
            json.contains("\"kind\":\"PartialObjectMetadata\""),
            "{json}"
        );
        assert!(
            !json.contains("\"data\""),
            "no data in metadata-only objects: {json}"
        );
    }
    let requests = server.requests();
    let reads: Vec<_> = requests
        .iter()
        .filter(|r| {
            r.resource == "configmaps"
                && !r.user.is_empty()
                && r.method == "GET"
                && !r.query.is_empty()
                && r.namespace == "default"
        })
        .collect();
    assert!(reads.iter().any(|r| r.verb == "watch"));
    assert!(
        reads
            .iter()
            .filter(|r| r.query.contains("limit=") || r.verb == "watch")
            .all(|r| r.is_metadata_only()),
        "{reads:#?}"
    );
    assert!(
        reads
            .iter()
            .all(|r| r.path.contains("/namespaces/default/")),
        "bounded to the namespace"
    );
}

/// Subscribes a target, injects `faults` once synced, changes objects, then checks the store
/// ends in exactly the server's state.
async fn recovers(faults: Vec<Fault>, met: fn(&[kollect_testkit::RequestRecord]) -> bool) {
    let server = server().await;
    let client = server.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..12 {
        api.create(&PostParams::default(), &cm(&format!("o{i:02}"), "0"))
            .await
            .unwrap();
    }
    let store = Arc::new(Store::new());
    let target = TargetKey::namespaced("default", "t");
    let watches = Watches::new(client.clone());
    let mut subscription = watches
        .subscribe(
            &configmaps(),
            WatchScope::Cluster,
            Shape::Full,
            target_consumer(&store, &target),
        )
        .await
        .unwrap();
    subscription.synced().await;
    for fault in faults {
        server.inject(fault);
    }
    for i in 0..12 {
        let name = format!("o{i:02}");
        match i % 3 {
            0 => {
                api.delete(&name, &DeleteParams::default()).await.unwrap();
            }
            1 => {
                api.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"v": format!("{i}")}})),
                )
                .await
                .unwrap();
            }
            _ => {
                api.create(&PostParams::default(), &cm(&format!("n{i:02}"), "new"))
                    .await
                    .unwrap();
            }
        }
    }
    server.inject(Fault::CloseWatches);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !met(&server.requests()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fault was never met"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.clear_faults();
    let expected = truth(&api).await;
    assert_eq!(expected.len(), 12);
    eventually("the store converges on the server's state", || {
        rows(&store, &target) == expected
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recovers_from_410_with_a_relist() {
    recovers(vec![Fault::ExpireWatches { count: 1 }], |requests| {
        requests
            .iter()
            .filter(|r| {
                r.verb == "list" && r.resource == "configmaps" && r.query.contains("limit=500")
            })
            .count()
            >= 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recovers_from_dropped_watches() {
    recovers(vec![Fault::CloseWatches], |requests| {
        requests.iter().filter(|r| r.verb == "watch").count() >= 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recovers_from_500_and_429_bursts() {
    recovers(
        vec![
            Fault::FailRequests {
                status: 500,
                count: 2,
                verb: Some("watch".into()),
                path_prefix: None,
                retry_after_seconds: 1,
            },
            Fault::ExpireWatches { count: 1 },
            Fault::FailRequests {
                status: 429,
                count: 2,
                verb: Some("list".into()),
                path_prefix: None,
                retry_after_seconds: 1,
            },
        ],
        |requests| {
            requests.iter().filter(|r| r.status == 500).count() == 2
                && requests.iter().filter(|r| r.status == 429).count() == 2
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recovers_from_a_paused_stream() {
    recovers(vec![Fault::PauseWatches], |_| true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_subscriber_gets_the_whole_state_and_the_last_one_out_stops_the_watch() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    let store = Arc::new(Store::new());
    let watches = Watches::new(client.clone());
    let early = TargetKey::namespaced("default", "early");
    let late = TargetKey::namespaced("default", "late");
    let mut first = watches
        .subscribe(
            &configmaps(),
            WatchScope::Cluster,
            Shape::Full,
            target_consumer(&store, &early),
        )
        .await
        .unwrap();
    first.synced().await;
    let second = watches
        .subscribe(
            &configmaps(),
            WatchScope::Cluster,
            Shape::Full,
            target_consumer(&store, &late),
        )
        .await
        .unwrap();
    let mut second = second;
    second.synced().await;
    // Synced only through a relist of its own (checking `status().synced` right after
    // subscribing would race with that relist).
    let lists = server
        .requests()
        .iter()
        .filter(|r| r.verb == "list" && r.resource == "configmaps" && !r.user.is_empty())
        .count();
    assert!(
        lists >= 2,
        "the late subscriber caused a relist ({lists} list request(s))"
    );
    assert_eq!(
        rows(&store, &late).len(),
        1,
        "synced means the state is there"
    );
    api.create(&PostParams::default(), &cm("b", "2"))
        .await
        .unwrap();
    eventually("both see the new object", || {
        rows(&store, &early).len() == 2 && rows(&store, &late).len() == 2
    })
    .await;
    drop(first);
    assert_eq!(watches.running(), 1);
    drop(second);
    assert_eq!(
        watches.running(),
        0,
        "the last subscriber out stops the watch"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kind_installed_after_start_is_collected() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let watches = Watches::new(client.clone());
    let widgets = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let store = Arc::new(Store::new());
    let target = TargetKey::namespaced("default", "widgets");
    let consumer = || target_consumer(&store, &target);
    let error = watches
        .subscribe(&widgets, WatchScope::Cluster, Shape::Full, consumer())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("is its CustomResourceDefinition installed?"),
        "{error}"
    );
    server
        .apply(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}}))
        .await
        .unwrap();
    server
        .apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "default"}, "data": {"v": "x"}}))
        .await
        .unwrap();
    let mut subscription = watches
        .subscribe(&widgets, WatchScope::Cluster, Shape::Full, consumer())
        .await
        .unwrap();
    subscription.synced().await;
    assert_eq!(
        subscription.resource.plural, "widgets",
        "resolved through discovery"
    );
    assert_eq!(
        rows(&store, &target),
        BTreeMap::from([("w1".to_owned(), "x".to_owned())])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selector_every_subscriber_shares_is_sent_to_the_server() {
    let server = server().await;
    let client = server.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let labelled = |name: &str, app: &str| -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"app": app}}, "data": {"v": app}}),
        )
        .unwrap()
    };
    api.create(&PostParams::default(), &labelled("a", "demo"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &labelled("b", "other"))
        .await
        .unwrap();
    server.clear_requests();
    let store = Arc::new(Store::new());
    let watches = Watches::new(client.clone());
    let (one, two) = (
        TargetKey::namespaced("default", "one"),
        TargetKey::namespaced("default", "two"),
    );
    let mut first = watches
        .subscribe_selected(
            &configmaps(),
            WatchScope::Cluster,
            Shape::Full,
            Some("app=demo".into()),
            target_consumer(&store, &one),
        )
        .await
        .unwrap();
    let _second = watches
        .subscribe_selected(
            &configmaps(),
            WatchScope::Cluster,
            Shape::Full,
            Some("app=demo".into()),
            target_consumer(&store, &two),
        )
        .await
        .unwrap();
    first.synced().await;
    // The consumers here do not filter: only the server's selector keeps `b` out.
    assert_eq!(
        rows(&store, &one),
        BTreeMap::from([("a".to_owned(), "demo".to_owned())])
    );
    api.create(&PostParams::default(), &labelled("c", "other"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &labelled("d", "demo"))
        .await
        .unwrap();
    eventually("the matching object arrives", || {
        rows(&store, &two).len() == 2
    })
    .await;
    assert!(!rows(&store, &two).contains_key("c"));
    let requests = server.requests();
    let reads: Vec<_> = requests
        .iter()
        .filter(|r| {
            r.resource == "configmaps" && r.method == "GET" && r.query.contains("limit=")
                || r.verb == "watch"
        })
        .collect();
    assert!(
        !reads.is_empty()
            && reads
                .iter()
                .all(|r| r.query.contains("labelSelector=app%3Ddemo")),
        "{reads:#?}"
    );

    // A subscriber without that selector widens the watch (one relist for everyone).
    let everything = TargetKey::namespaced("default", "everything");
    let _third = watches
        .subscribe(
            &configmaps(),
            WatchScope::Cluster,
            Shape::Full,
            target_consumer(&store, &everything),
        )
        .await
        .unwrap();
    eventually("the wide subscriber sees every object", || {
        rows(&store, &everything).len() == 4
    })
    .await;
    let last_list = server
        .requests()
        .into_iter()
        .rfind(|r| r.verb == "list" && r.resource == "configmaps" && r.query.contains("limit=500"))
        .unwrap();
    assert!(!last_list.query.contains("labelSelector"), "{last_list:?}");
    assert_eq!(watches.running(), 1);
}
