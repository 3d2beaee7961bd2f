//! Watches: history replay from a resourceVersion, live events, bookmarks, `sendInitialEvents`,
//! selectors applied to both sides of a change (an object leaving a selector is DELETED for the
//! watcher), and the faults that end or hold back streams.

use std::{sync::Arc, time::Duration};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, header};
use serde_json::json;
use tokio::sync::{
    broadcast::{self, error::RecvError},
    mpsc,
};

use crate::{
    body::Body,
    objects::{Filter, parse_rv, render},
    resources::ResourceType,
    server::{Req, Shared, Target, lock},
    status::{ApiError, ApiResult},
    store::{Event, EventKind, Key, Stored},
};

/// Chunks buffered between the event loop and the connection.
const STREAM_BUFFER: usize = 256;

fn event_bytes(kind: &str, object: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(object.len() + 32);
    out.put_slice(b"{\"type\":\"");
    out.put_slice(kind.as_bytes());
    out.put_slice(b"\",\"object\":");
    out.put_slice(object);
    out.put_slice(b"}\n");
    out.freeze()
}

fn error_event(error: &ApiError) -> Bytes {
    event_bytes("ERROR", error.to_status().to_string().as_bytes())
}

fn bookmark(rt: &ResourceType, metadata_only: bool, rv: u64, initial_end: bool) -> Bytes {
    let (kind, api_version) = if metadata_only {
        (
            "PartialObjectMetadata".to_owned(),
            "meta.k8s.io/v1".to_owned(),
        )
    } else {
        (rt.kind.clone(), rt.api_version())
    };
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata});
    event_bytes("BOOKMARK", object.to_string().as_bytes())
}

/// What a watcher with `filter` sees of an event: the type and the object, or nothing.
fn visible<'a>(
    event: &'a Event,
    accept: &dyn Fn(&Key, &Stored) -> bool,
) -> Option<(EventKind, &'a Arc<Stored>)> {
    let now = accept(&event.key, &event.object);
    let before = event
        .prev
        .as_ref()
        .is_some_and(|prev| accept(&event.key, prev));
    match event.kind {
        EventKind::Added => now.then_some((EventKind::Added, &event.object)),
        EventKind::Deleted => (now || before).then_some((EventKind::Deleted, &event.object)),
        EventKind::Modified => match (before, now) {
            (true, true) => Some((EventKind::Modified, &event.object)),
            (false, true) => Some((EventKind::Added, &event.object)),
            (true, false) => Some((EventKind::Deleted, &event.object)),
            (false, false) => None,
        },
    }
}

/// The parameters of one watch request.
struct Params {
    bookmarks: bool,
    send_initial: Option<bool>,
    /// A specific resourceVersion to start after (not empty, not "0").
    requested: Option<u64>,
    metadata_only: bool,
    timeout: Option<Duration>,
}

impl Params {
    fn from_request(req: &Req) -> ApiResult<Self> {
        let bookmarks = req.flag("allowWatchBookmarks");
        let send_initial = req.param("sendInitialEvents").map(|v| v == "true");
        let rv_param = req.param("resourceVersion").unwrap_or("");
        let rv_match = req.param("resourceVersionMatch").unwrap_or("");
        let timeout = match req.param("timeoutSeconds") {
            None | Some("") => None,
            Some(text) => Some(Duration::from_secs(text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("timeoutSeconds: Invalid value: {text:?}"))
            })?)),
        };
        let forbidden = match send_initial {
            Some(true) if rv_match != "NotOlderThan" => Some(
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ),
            Some(true) if !bookmarks => Some(
                "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true",
            ),
            None if !rv_match.is_empty() => Some(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ),
            _ => None,
        };
        if let Some(message) = forbidden {
            return Err(ApiError::bad_request(message));
        }
        let requested = match rv_param {
            "" | "0" => None,
            text => Some(parse_rv(text)?),
        };
        Ok(Self {
            bookmarks,
            send_initial,
            requested,
            metadata_only: req.wants_metadata(),
            timeout,
        })
    }
}

/// Answers a watch request with a stream of events.
pub(crate) fn watch(shared: &Arc<Shared>, req: &Req, target: &Target) -> ApiResult<Response<Body>> {
    let rt = Arc::clone(&target.rt);
    let params = Params::from_request(req)?;
    let filter = Filter::from_request(req, target)?;
    let name = target.name.clone();
    let accept = move |key: &Key, stored: &Stored| {
        name.as_ref().is_none_or(|n| &key.1 == n) && filter.matches(key, stored)
    };
    let expire = params.requested.is_some() && {
        let mut faults = lock(&shared.faults);
        let expire = faults.expire_watches > 0;
        faults.expire_watches = faults.expire_watches.saturating_sub(1);
        expire
    };
    let metadata_only = params.metadata_only;
    let render_event = {
        let rt = Arc::clone(&rt);
        move |kind: EventKind, stored: &Stored| {
            event_bytes(kind.as_str(), &render(&rt, stored, metadata_only))
        }
    };
    let mut initial = Vec::new();
    let mut finished = false;
    let rx = {
        let mut state = lock(&shared.state);
        let current = state.rv;
        let collection = state.collection(&rt.group_resource());
        match params.requested {
            Some(rv) if expire => {
                initial.push(error_event(&ApiError::too_old(rv, current)));
                finished = true;
            }
            Some(rv) if params.send_initial != Some(true) => {
                if rv > current {
                    return Err(ApiError::too_large_rv(rv, current));
                }
                if let Some(events) = collection.events_after(rv) {
                    for event in &events {
                        if let Some((kind, stored)) = visible(event, &accept) {
                            initial.push(render_event(kind, stored));
                        }
                    }
                } else {
                    initial.push(error_event(&ApiError::too_old(rv, collection.compacted())));
                    finished = true;
                }
            }
            _ => {
                for (key, stored) in &collection.objects {
                    if accept(key, stored) {
                        initial.push(render_event(EventKind::Added, stored));
                    }
                }
                if params.send_initial == Some(true) {
                    initial.push(bookmark(&rt, metadata_only, current, true));
                }
            }
        }
        collection.tx.subscribe()
    };

    let (tx, body_rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    let stream = Stream {
        shared: Arc::clone(shared),
        rt,
        params,
        tx,
        rx,
    };
    tokio::spawn(async move {
        for chunk in initial {
            if stream.tx.send(chunk).await.is_err() {
                return;
            }
        }
        if !finished {
            stream.run(&accept, &render_event).await;
        }
    });
    let mut response = Response::new(Body::Stream(body_rx));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// A watch's live phase: events as they happen, bookmarks, and the faults that end or hold
/// back the stream.
struct Stream {
    shared: Arc<Shared>,
    rt: Arc<ResourceType>,
    params: Params,
    tx: mpsc::Sender<Bytes>,
    rx: broadcast::Receiver<Arc<Event>>,
}

impl Stream {
    async fn run(
        mut self,
        accept: &(dyn Fn(&Key, &Stored) -> bool + Send + Sync),
        render_event: &(dyn Fn(EventKind, &Stored) -> Bytes + Send + Sync),
    ) {
        // An absurd timeoutSeconds means no deadline rather than an overflow.
        let deadline = self
            .params
            .timeout
            .and_then(|t| tokio::time::Instant::now().checked_add(t));
        let mut close = self.shared.close_watches.subscribe();
        close.borrow_and_update();
        let mut paused = self.shared.paused.subscribe();
        let mut tick = tokio::time::interval(self.shared.options.bookmark_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let until_deadline = async {
            if let Some(deadline) = deadline {
                tokio::time::sleep_until(deadline).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(until_deadline);
        loop {
            let is_paused = *paused.borrow_and_update();
            tokio::select! {
                () = &mut until_deadline => break,
                _ = close.changed() => break,
                changed = paused.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = self.tx.closed() => break,
                received = self.rx.recv(), if !is_paused => match received {
                    Ok(event) => {
                        if let Some((kind, stored)) = visible(&event, accept)
                            && self.tx.send(render_event(kind, stored)).await.is_err()
                        {
                            break;
                        }
                    }
                    // A watcher that fell too far behind is closed; it re-watches from its last
                    // resourceVersion and the history fills the gap.
                    Err(RecvError::Lagged(_) | RecvError::Closed) => break,
                },
                _ = tick.tick(), if self.params.bookmarks && !is_paused => {
                    if !self.bookmark().await {
                        break;
                    }
                }
            }
        }
    }

    /// Sends a bookmark if every event up to the current resourceVersion was delivered (events
    /// are sent under the state lock, so an empty queue under the lock proves it). Returns
    /// false when the client is gone.
    async fn bookmark(&self) -> bool {
        let rv = {
            let state = lock(&self.shared.state);
            self.rx.is_empty().then_some(state.rv)
        };
        match rv {
            Some(rv) => self
                .tx
                .send(bookmark(&self.rt, self.params.metadata_only, rv, false))
                .await
                .is_ok(),
            None => true,
        }
    }
}
