//! Shared lean watches: one list+watch per (resource, shape, namespace scope), whatever the number
//! of subscribers, reference-counted and stopped when the last subscriber leaves.
//!
//! Objects reach subscribers as raw JSON bytes plus their identity ([`RawObject`]): the watch
//! never builds a typed or `Value` object, so a subscriber can turn the bytes straight into a row
//! (the extractor's one-pass path) and nothing of the object stays in memory (ADR 0007).
//!
//! Resilience: `410 Expired` (on list, watch or as an ERROR event) relists and streams
//! subscribers the complete new state (see [`Consumer`]), so rows are neither lost nor
//! duplicated; other failures (500, 429, dropped connections) back off exponentially and resume
//! from the last resourceVersion seen; bookmarks keep that resourceVersion fresh. Each watch reports its state
//! ([`WatchStatus`]): synced once, relists, last error.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{AsyncBufReadExt as _, io::AsyncBufRead};
use kube::{
    Client,
    core::{GroupVersionKind, Status},
    discovery::{ApiCapabilities, ApiResource, Scope},
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
};

/// Page size of lists, as client-go's pager.
const PAGE_SIZE: u32 = 500;
/// Server-side watch timeout; the watch is then resumed from its resourceVersion.
const WATCH_TIMEOUT_SECONDS: u32 = 290;
/// Longest silence accepted on a watch: the server timeout plus a margin (bookmarks and the
/// server's own timeout normally end silences well before).
const IDLE_LIMIT: Duration = Duration::from_secs(WATCH_TIMEOUT_SECONDS as u64 + 30);
/// First and longest back-off after a failure.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Errors of resolving what to watch.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Discovery did not find the kind.
    #[error(
        "the API server does not serve {group}/{version} {kind}; is its CustomResourceDefinition installed?"
    )]
    UnknownKind {
        /// API group.
        group: String,
        /// API version.
        version: String,
        /// Kind.
        kind: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

/// What subscribers need of objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Whole objects.
    Full,
    /// `PartialObjectMetadata` only (labels, annotations, owner references...): far smaller
    /// responses when a profile reads nothing else.
    Metadata,
}

/// Where a watch looks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WatchScope {
    /// Every namespace (and cluster-scoped kinds).
    Cluster,
    /// One namespace (tenant mode).
    Namespace(String),
}

/// One object as it arrived, borrowed from the response: valid only during the call it is
/// passed to (copy what you keep — normally just the row you extract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawObject<'a> {
    /// The object's JSON (or its `PartialObjectMetadata` JSON).
    pub json: &'a str,
    /// `metadata.namespace` (`""` for cluster-scoped objects).
    pub namespace: Cow<'a, str>,
    /// `metadata.name`.
    pub name: Cow<'a, str>,
    /// `metadata.uid`.
    pub uid: Cow<'a, str>,
    /// `metadata.resourceVersion`.
    pub resource_version: Cow<'a, str>,
}

/// What a subscriber does with a watch's objects. Called from the watch task; must not block
/// for long.
///
/// A (re)list streams the complete state page by page: [`relist_begin`](Self::relist_begin),
/// [`listed`](Self::listed) for every object, then [`relist_end`](Self::relist_end) — with
/// `complete: false` when the list failed half-way, in which case what was listed must be
/// dropped and the previous state kept (the list is retried). Objects not listed in a complete
/// relist are gone.
pub trait Consumer: Send + Sync + 'static {
    /// A (re)list starts.
    fn relist_begin(&self);
    /// One object of the (re)list.
    fn listed(&self, object: &RawObject<'_>);
    /// The (re)list ended; `complete` says whether every page arrived.
    fn relist_end(&self, complete: bool);
    /// An object was added or changed.
    fn upsert(&self, object: &RawObject<'_>);
    /// An object was deleted (its last state).
    fn delete(&self, object: &RawObject<'_>);
}

/// The state of one watch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchStatus {
    /// The first list completed: subscribers have seen the whole state once (DECISIONS Q7).
    pub synced: bool,
    /// Lists done (1 after the first sync; more after `410 Expired`).
    pub lists: u64,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    group: String,
    version: String,
    plural: String,
    shape: Shape,
    scope: WatchScope,
}

struct Shared {
    key: Key,
    consumers: Mutex<Vec<Subscriber>>,
    /// The label selector the list and watch send: the one every subscriber declared, if they
    /// all declared the same; none otherwise. Fixed at each (re)list.
    selector: Mutex<Option<String>>,
    status: watch::Sender<WatchStatus>,
    /// A subscriber joined after the first list started: relist so it gets the whole state.
    relist: Notify,
    /// The first list has started (joiners must ask for a relist).
    listing: AtomicBool,
}

struct Subscriber {
    id: u64,
    selector: Option<String>,
    member: Arc<Member>,
}

/// A subscriber as the watch task calls it.
struct Member {
    consumer: Arc<dyn Consumer>,
    /// Cleared on unsubscribe, under the same lock callbacks hold: once unsubscribed, the
    /// consumer is never called again, even by a relist or event already under way.
    active: Mutex<bool>,
    /// Whether a complete (re)list has included this subscriber (its own sync gate).
    synced: watch::Sender<bool>,
}

impl Member {
    fn call(&self, f: impl FnOnce(&dyn Consumer)) {
        let active = lock(&self.active);
        if *active {
            f(self.consumer.as_ref());
        }
    }
}

struct Entry {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Every watch of one cluster. Cheap to share.
pub struct Watches {
    client: Client,
    entries: Mutex<HashMap<Key, Entry>>,
    next_id: AtomicU64,
    me: Weak<Watches>,
}

impl Drop for Watches {
    fn drop(&mut self) {
        // Watch tasks must not outlive their owner.
        for entry in lock(&self.entries).values() {
            entry.task.abort();
        }
    }
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watches").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A subscriber's hold on a watch; dropping it unsubscribes (and stops the watch when it was
/// the last).
pub struct Subscription {
    watches: Weak<Watches>,
    key: Key,
    id: u64,
    status: watch::Receiver<WatchStatus>,
    synced: watch::Receiver<bool>,
    /// The resolved resource.
    pub resource: ApiResource,
    /// Whether the kind is namespaced.
    pub namespaced: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("resource", &self.resource.plural)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The watch's current state; `synced` is this subscriber's own: a complete list has
    /// included it.
    pub fn status(&self) -> WatchStatus {
        let mut status = self.status.borrow().clone();
        status.synced = *self.synced.borrow();
        status
    }

    /// Waits until a complete list has included this subscriber (DECISIONS Q7: a subscriber
    /// that joins a running watch is not synced until the relist it causes has completed).
    pub async fn synced(&mut self) {
        let _ = self.synced.wait_for(|synced| *synced).await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(watches) = self.watches.upgrade() {
            watches.unsubscribe(&self.key, self.id);
        }
    }
}

impl Watches {
    /// Watches through `client`. Spawns one task per watch on the current tokio runtime.
    pub fn new(client: Client) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            client,
            entries: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            me: me.clone(),
        })
    }

    /// Resolves a kind through discovery (never by pluralising it: DECISIONS Q14). Kinds of
    /// CRDs installed after start are found, since every call asks the server.
    pub async fn resolve(
        &self,
        gvk: &GroupVersionKind,
    ) -> Result<(ApiResource, ApiCapabilities), WatchError> {
        kube::discovery::pinned_kind(&self.client, gvk)
            .await
            .map_err(|source| WatchError::UnknownKind {
                group: gvk.group.clone(),
                version: gvk.version.clone(),
                kind: gvk.kind.clone(),
                source,
            })
    }

    /// Subscribes `consumer` to the objects of `gvk` in `scope` with `shape`. Joins the running
    /// watch for the same resource, shape and scope, or starts one. Every subscriber gets the
    /// whole state through a relist: subscribers that arrive together share the first list; one
    /// that joins later makes the watch relist once for everyone.
    pub async fn subscribe(
        &self,
        gvk: &GroupVersionKind,
        scope: WatchScope,
        shape: Shape,
        consumer: Arc<dyn Consumer>,
    ) -> Result<Subscription, WatchError> {
        self.subscribe_selected(gvk, scope, shape, None, consumer)
            .await
    }

    /// Like [`subscribe`](Self::subscribe) for a subscriber that only wants objects matching
    /// `label_selector` (a `labelSelector` query string) and filters them itself too. When every
    /// subscriber of the watch declares the same selector, it is sent to the server so
    /// non-matching objects never cross the wire; otherwise the watch asks for everything.
    pub async fn subscribe_selected(
        &self,
        gvk: &GroupVersionKind,
        scope: WatchScope,
        shape: Shape,
        label_selector: Option<String>,
        consumer: Arc<dyn Consumer>,
    ) -> Result<Subscription, WatchError> {
        let (resource, capabilities) = self.resolve(gvk).await?;
        let namespaced = capabilities.scope == Scope::Namespaced;
        // A cluster-scoped kind has no namespaces to bound the watch to.
        let scope = if namespaced {
            scope
        } else {
            WatchScope::Cluster
        };
        let key = Key {
            group: resource.group.clone(),
            version: resource.version.clone(),
            plural: resource.plural.clone(),
            shape,
            scope,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let member = Arc::new(Member {
            consumer,
            active: Mutex::new(true),
            synced: watch::channel(false).0,
        });
        let synced = member.synced.subscribe();
        let status = {
            let mut entries = lock(&self.entries);
            // A watch whose task died (a consumer panicked) is replaced.
            if entries
                .get(&key)
                .is_some_and(|entry| entry.task.is_finished())
            {
                entries.remove(&key);
            }
            if let Some(entry) = entries.get_mut(&key) {
                lock(&entry.shared.consumers).push(Subscriber {
                    id,
                    selector: label_selector,
                    member: Arc::clone(&member),
                });
                // The newcomer needs the full state. Before the first list starts it comes with
                // it; afterwards the watch relists once and hands it to everyone.
                if entry.shared.listing.load(Ordering::SeqCst) {
                    entry.shared.relist.notify_one();
                }
                entry.shared.status.subscribe()
            } else {
                let shared = Arc::new(Shared {
                    key: key.clone(),
                    consumers: Mutex::new(vec![Subscriber {
                        id,
                        selector: label_selector,
                        member: Arc::clone(&member),
                    }]),
                    selector: Mutex::new(None),
                    status: watch::channel(WatchStatus::default()).0,
                    relist: Notify::new(),
                    listing: AtomicBool::new(false),
                });
                let status = shared.status.subscribe();
                let task = tokio::spawn(run(self.client.clone(), Arc::clone(&shared)));
                entries.insert(key.clone(), Entry { shared, task });
                status
            }
        };
        Ok(Subscription {
            watches: self.me.clone(),
            key,
            id,
            status,
            synced,
            resource,
            namespaced,
        })
    }

    fn unsubscribe(&self, key: &Key, id: u64) {
        let mut entries = lock(&self.entries);
        let Some(entry) = entries.get_mut(key) else {
            return;
        };
        let last = {
            let mut subscribers = lock(&entry.shared.consumers);
            subscribers.retain(|subscriber| {
                if subscriber.id == id {
                    *lock(&subscriber.member.active) = false;
                }
                subscriber.id != id
            });
            subscribers.is_empty()
        };
        if last && let Some(entry) = entries.remove(key) {
            entry.task.abort();
        }
    }

    /// Watches running now.
    pub fn running(&self) -> usize {
        lock(&self.entries).len()
    }
}

/// Why a list or watch stopped.
enum Stop {
    /// The resourceVersion is gone: list again.
    Expired,
    /// Anything else: back off and resume.
    Failed(String),
    /// Something unreadable arrived: back off and list again (resuming would meet it again).
    Corrupt(String),
    /// The server ended the watch normally (timeout) after delivering events: resume at once.
    Ended,
}

fn classify(error: &kube::Error) -> Stop {
    match error {
        kube::Error::Api(status) if status.code == 410 => Stop::Expired,
        other => Stop::Failed(other.to_string()),
    }
}

fn consumers(shared: &Shared) -> Vec<Arc<Member>> {
    lock(&shared.consumers)
        .iter()
        .map(|s| Arc::clone(&s.member))
        .collect()
}

/// The selector every subscriber declared, if they all declared the same one.
fn common_selector(shared: &Shared) -> Option<String> {
    let subscribers = lock(&shared.consumers);
    let first = subscribers.first()?.selector.clone()?;
    subscribers
        .iter()
        .all(|s| s.selector.as_deref() == Some(first.as_str()))
        .then_some(first)
}

fn selector_query(selector: Option<&str>) -> String {
    selector.map_or_else(String::new, |s| {
        format!("&labelSelector={}", form_encode(s))
    })
}

/// How long a new watch waits for more subscribers before its first list, so targets registered
/// together share one list and one watch.
const GATHER: Duration = Duration::from_millis(50);

/// The watch task: list, watch, and recover, until aborted.
async fn run(client: Client, shared: Arc<Shared>) {
    tokio::time::sleep(GATHER).await;
    let mut backoff = BACKOFF_START;
    let mut resource_version: Option<String> = None;
    loop {
        let stop = match resource_version.clone() {
            None => match relist(&client, &shared).await {
                // A continue token that expired mid-list: list again, but not in a hot loop.
                Err(kube::Error::Api(status)) if status.code == 410 => Stop::Failed(format!(
                    "the list expired before all pages were read ({}); listing again",
                    status.message
                )),
                Ok(rv) => {
                    shared.status.send_modify(|s| {
                        s.synced = true;
                        s.lists += 1;
                        s.last_error = None;
                    });
                    backoff = BACKOFF_START;
                    resource_version = Some(rv);
                    continue;
                }
                Err(error) => classify(&error),
            },
            Some(rv) => {
                watch_from(&client, &shared, &rv, &mut resource_version, &mut backoff).await
            }
        };
        let failure = match stop {
            Stop::Expired => {
                tracing::debug!(resource = %shared.key.plural, "resourceVersion expired; relisting");
                resource_version = None;
                None
            }
            Stop::Ended => None,
            Stop::Corrupt(message) => {
                resource_version = None;
                Some(("unreadable watch data; relisting", message))
            }
            Stop::Failed(message) => Some(("watch failed; backing off", message)),
        };
        if let Some((what, message)) = failure {
            tracing::warn!(resource = %shared.key.plural, error = %message, "{what}");
            shared.status.send_modify(|s| s.last_error = Some(message));
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

fn path(key: &Key) -> String {
    let base = if key.group.is_empty() {
        format!("/api/{}", key.version)
    } else {
        format!("/apis/{}/{}", key.group, key.version)
    };
    match &key.scope {
        WatchScope::Cluster => format!("{base}/{}", key.plural),
        WatchScope::Namespace(ns) => format!("{base}/namespaces/{ns}/{}", key.plural),
    }
}

fn accept(shape: Shape, list: bool) -> &'static str {
    match (shape, list) {
        (Shape::Full, _) => "application/json",
        (Shape::Metadata, true) => {
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        }
        (Shape::Metadata, false) => "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
    }
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow)]
    metadata: MetaFields<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MetaFields<'a> {
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    uid: Cow<'a, str>,
    #[serde(borrow, default)]
    resource_version: Cow<'a, str>,
}

fn raw_object(json: &RawValue) -> Result<RawObject<'_>, String> {
    let meta: Meta<'_> =
        serde_json::from_str(json.get()).map_err(|e| format!("an object without metadata: {e}"))?;
    Ok(RawObject {
        json: json.get(),
        namespace: meta.metadata.namespace.unwrap_or_default(),
        name: meta.metadata.name,
        uid: meta.metadata.uid,
        resource_version: meta.metadata.resource_version,
    })
}

#[derive(Deserialize)]
struct ListPage<'a> {
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
    metadata: ListMeta,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    #[serde(default)]
    resource_version: String,
    #[serde(default, rename = "continue")]
    continue_token: String,
}

/// Lists every object, page by page, streaming each page to the consumers; the resourceVersion
/// to watch from. Only one page of objects is in memory at a time.
async fn relist(client: &Client, shared: &Shared) -> Result<String, kube::Error> {
    shared.listing.store(true, Ordering::SeqCst);
    let consumers = consumers(shared);
    let selector = common_selector(shared);
    lock(&shared.selector).clone_from(&selector);
    for member in &consumers {
        member.call(Consumer::relist_begin);
    }
    let result = list_pages(client, &shared.key, selector.as_deref(), &consumers).await;
    for member in &consumers {
        member.call(|c| c.relist_end(result.is_ok()));
        if result.is_ok() {
            member.synced.send_replace(true);
        }
    }
    result
}

async fn list_pages(
    client: &Client,
    key: &Key,
    selector: Option<&str>,
    consumers: &[Arc<Member>],
) -> Result<String, kube::Error> {
    let mut token = String::new();
    loop {
        let mut uri = format!(
            "{}?limit={PAGE_SIZE}{}",
            path(key),
            selector_query(selector)
        );
        if !token.is_empty() {
            uri.push_str("&continue=");
            uri.push_str(&form_encode(&token));
        }
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, accept(key.shape, true))
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        let text = client.request_text(request).await?;
        let page: ListPage<'_> = serde_json::from_str(&text).map_err(kube::Error::SerdeError)?;
        for item in page.items {
            let object = raw_object(item)
                .map_err(|m| kube::Error::Api(Box::new(Status::failure(&m, "BadResponse"))))?;
            for member in consumers {
                member.call(|c| c.listed(&object));
            }
        }
        if page.metadata.continue_token.is_empty() {
            return Ok(page.metadata.resource_version);
        }
        token = page.metadata.continue_token;
    }
}

/// Percent-encodes a query parameter value.
fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    object: &'a RawValue,
}

/// Watches from `rv` until the stream stops; keeps `resource_version` at the last one seen.
async fn watch_from(
    client: &Client,
    shared: &Shared,
    rv: &str,
    resource_version: &mut Option<String>,
    backoff: &mut Duration,
) -> Stop {
    let selector = lock(&shared.selector).clone();
    let uri = format!(
        "{}?watch=true&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={WATCH_TIMEOUT_SECONDS}{}",
        path(&shared.key),
        form_encode(rv),
        selector_query(selector.as_deref())
    );
    let request = match http::Request::get(uri)
        .header(http::header::ACCEPT, accept(shared.key.shape, false))
        .body(Vec::new())
    {
        Ok(request) => request,
        Err(error) => return Stop::Failed(error.to_string()),
    };
    let mut stream = match client.request_stream(request).await {
        Ok(stream) => Box::pin(stream),
        Err(error) => return classify(&error),
    };
    let mut line = Vec::new();
    let mut events = 0usize;
    loop {
        line.clear();
        let read = tokio::select! {
            read = tokio::time::timeout(IDLE_LIMIT, read_line(&mut stream, &mut line)) => read,
            () = shared.relist.notified() => return Stop::Expired,
        };
        match read {
            // A connection dropped without a close (a load balancer, a NAT) would wait for ever.
            Err(_elapsed) => {
                return Stop::Failed(format!(
                    "no data on the watch for {}s; reconnecting",
                    IDLE_LIMIT.as_secs()
                ));
            }
            // A stream that ends before any event is a failure to pace, not a normal end.
            Ok(Ok(0)) if events == 0 => {
                return Stop::Failed("the watch ended without sending anything".into());
            }
            Ok(Ok(0)) => return Stop::Ended,
            Ok(Ok(_)) => events += 1,
            Ok(Err(error)) => return Stop::Failed(format!("watch stream broke: {error}")),
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let event: Line<'_> = match serde_json::from_str(text) {
            Ok(event) => event,
            Err(error) => return Stop::Corrupt(format!("unreadable watch event: {error}")),
        };
        if event.kind == "ERROR" {
            let status: Status = serde_json::from_str(event.object.get()).unwrap_or_default();
            return if status.code == 410 {
                Stop::Expired
            } else {
                Stop::Failed(status.message)
            };
        }
        let object = match raw_object(event.object) {
            Ok(object) => object,
            Err(message) => return Stop::Corrupt(message),
        };
        if !object.resource_version.is_empty() {
            *resource_version = Some(object.resource_version.to_string());
        }
        match &*event.kind {
            "ADDED" | "MODIFIED" => consumers(shared)
                .iter()
                .for_each(|m| m.call(|c| c.upsert(&object))),
            "DELETED" => consumers(shared)
                .iter()
                .for_each(|m| m.call(|c| c.delete(&object))),
            _ => {} // BOOKMARK: only the resourceVersion matters.
        }
        *backoff = BACKOFF_START;
        if shared.status.borrow().last_error.is_some() {
            shared.status.send_modify(|s| s.last_error = None);
        }
    }
}

async fn read_line(
    stream: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    stream.read_until(b'\n', line).await
}
