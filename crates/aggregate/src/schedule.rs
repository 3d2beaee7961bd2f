//! When to export an inventory to one sink: the per-(inventory, sink) export schedule.
//!
//! Store updates are immediate; exports are not. For each binding the schedule decides, from the
//! clock it is given (no timers here — the caller sleeps until [`Decision::Wait`]'s instant):
//!
//! 1. **Gate** (DECISIONS Q7): nothing is exported until every contributing watch has synced once.
//! 2. **Unchanged** (beyond the Go original, DECISIONS "Beyond Go"): a payload whose digest and
//!    inventory generation equal the last successful export to this sink is never re-sent —
//!    unless explicitly requested.
//! 3. **Request** (`kollect.dev/requestedAt`, DECISIONS API 13): a new request exports at once,
//!    bypassing the debounce window and the binding's interval, but not the scope floor.
//! 4. **Debounce**: after a change, wait for `quiet` without further changes (trailing window),
//!    but never longer than `max_delay` after the first unexported change. A binding's first
//!    export waits for the sync gate only.
//! 5. **Spacing**: at most one export per effective interval (§6.3 formula; the scope floor is a
//!    lower bound on it).
//!
//! [`drive`] runs a schedule: it waits for changes, sync, requests and timers, and calls the
//! binding's export when the schedule says so. It is a future; the caller spawns it.

use std::{future::Future, time::Duration};

use tokio::{sync::watch, time::Instant};

/// The interval used when nothing sets one (the CRD default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The effective export interval of a binding (pipeline spec §6.3): the binding's own
/// `exportMinInterval`, else the sink's, else the inventory's, else 30 s; raised to the scope's
/// `minExportInterval` floor when it is lower (an explicit 0 is honoured unless a floor is set).
pub fn effective_interval(
    binding: Option<Duration>,
    sink: Option<Duration>,
    inventory: Option<Duration>,
    floor: Duration,
) -> Duration {
    let chosen = binding.or(sink).or(inventory).unwrap_or(DEFAULT_INTERVAL);
    if !floor.is_zero() && (chosen.is_zero() || chosen < floor) {
        floor
    } else {
        chosen
    }
}

/// The timing knobs of one binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Trailing debounce window: export once changes have stopped for this long.
    pub quiet: Duration,
    /// Longest an unexported change waits, however busy the store is.
    pub max_delay: Duration,
    /// Least time between two exports to this sink ([`effective_interval`]).
    pub interval: Duration,
    /// The scope's floor, which even a request respects.
    pub floor: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            // 200 ms coalesces a `kubectl apply` of a folder; 5 s bounds the wait under churn.
            quiet: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            interval: DEFAULT_INTERVAL,
            floor: Duration::ZERO,
        }
    }
}

/// Why an export does not happen now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// A contributing watch has not synced yet.
    NotSynced,
    /// Changes are still arriving (debounce window).
    Debounce,
    /// The last export was less than an interval ago.
    Interval,
    /// The scope's floor (a request waits for it too).
    Floor,
}

/// What to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Export the current payload.
    Export,
    /// The payload equals the last successful export: nothing to send.
    Unchanged,
    /// Not now; decide again at the instant given (`None`: when something changes).
    Wait(Waiting, Option<Instant>),
}

/// The last successful export to a sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// When.
    pub at: Instant,
    /// Digest of what was sent (parts digest, items fingerprint or cluster composite).
    pub digest: String,
    /// Inventory generation it was sent for.
    pub generation: i64,
}

/// The export schedule of one (inventory, sink) binding.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    last: Option<Exported>,
    /// First change not exported yet.
    pending_since: Option<Instant>,
    /// Latest change.
    last_change: Option<Instant>,
    /// An export was requested and not done yet.
    requested: bool,
}

impl Schedule {
    /// A schedule that knows the last export (recovered after a restart from the sink or the
    /// inventory status), so an unchanged inventory is not re-exported.
    pub fn recovered(last: Exported) -> Self {
        Self {
            last: Some(last),
            ..Self::default()
        }
    }

    /// The store changed rows of this inventory (or its spec changed).
    pub fn changed(&mut self, now: Instant) {
        self.pending_since.get_or_insert(now);
        self.last_change = Some(now);
    }

    /// `kollect.dev/requestedAt` changed: export at once.
    pub fn request(&mut self) {
        self.requested = true;
    }

    /// The last successful export.
    pub fn last(&self) -> Option<&Exported> {
        self.last.as_ref()
    }

    /// Whether anything may need exporting: never exported yet, a change not exported, or a
    /// request.
    pub fn has_work(&self) -> bool {
        self.last.is_none() || self.pending_since.is_some() || self.requested
    }

    /// What to do at `now` with the current payload's `digest` and the inventory `generation`;
    /// `synced` tells whether every contributing watch has synced once.
    pub fn decide(
        &self,
        now: Instant,
        timing: &Timing,
        synced: bool,
        digest: &str,
        generation: i64,
    ) -> Decision {
        if !synced {
            return Decision::Wait(Waiting::NotSynced, None);
        }
        let unchanged = self
            .last
            .as_ref()
            .is_some_and(|last| last.digest == digest && last.generation == generation);
        if unchanged && !self.requested {
            return Decision::Unchanged;
        }
        let since_last = |spacing: Duration| {
            self.last
                .as_ref()
                .map(|last| last.at + spacing)
                .filter(|due| *due > now)
        };
        if let Some(due) = since_last(timing.floor) {
            return Decision::Wait(Waiting::Floor, Some(due));
        }
        if self.requested {
            return Decision::Export;
        }
        // The first export of a binding waits for the sync gate only: the initial list is
        // complete by then, and there is no earlier export to coalesce with.
        if let (Some(_), Some(first), Some(latest)) =
            (&self.last, self.pending_since, self.last_change)
        {
            let due = (latest + timing.quiet).min(first + timing.max_delay);
            if due > now {
                return Decision::Wait(Waiting::Debounce, Some(due));
            }
        }
        if let Some(due) = since_last(timing.interval) {
            return Decision::Wait(Waiting::Interval, Some(due));
        }
        Decision::Export
    }

    /// Records a successful export: pending changes and requests are settled.
    pub fn exported(&mut self, now: Instant, digest: &str, generation: i64) {
        self.last = Some(Exported {
            at: now,
            digest: digest.to_owned(),
            generation,
        });
        self.pending_since = None;
        self.last_change = None;
        self.requested = false;
    }

    /// Records a decision that nothing needed sending: pending changes are settled (they added
    /// up to the payload already exported).
    pub fn settled(&mut self) {
        self.pending_since = None;
        self.last_change = None;
        self.requested = false;
    }
}

/// What [`drive`] watches.
#[derive(Debug)]
pub struct Signals {
    /// Bumped on every change of the inventory's rows or spec (for example the store's shard
    /// counter).
    pub changes: watch::Receiver<u64>,
    /// Whether every contributing watch has synced once.
    pub synced: watch::Receiver<bool>,
    /// Bumped when `kollect.dev/requestedAt` changes.
    pub requests: watch::Receiver<u64>,
}

/// One (inventory, sink) binding as the driver sees it.
pub trait Binding {
    /// The current payload's digest and the inventory generation. Called only when an export
    /// is due by the clock, so it may build the snapshot.
    fn payload(&mut self) -> (String, i64);
    /// Exports the current payload; on failure, how long to wait before trying again.
    fn export(&mut self, digest: &str) -> impl Future<Output = Result<(), Duration>> + Send;
}

/// Runs `schedule` for `binding` until one of the signals' senders is dropped. Export errors are
/// retried after the delay the binding returns; the schedule only records successes.
pub async fn drive(
    mut schedule: Schedule,
    timing: Timing,
    mut signals: Signals,
    binding: &mut impl Binding,
) -> Schedule {
    // After a failed export nothing is tried before this, whatever changes meanwhile.
    let mut not_before: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let synced = *signals.synced.borrow_and_update();
        // Changes that arrived while exporting count from now.
        if signals.changes.has_changed().unwrap_or(false) {
            signals.changes.borrow_and_update();
            schedule.changed(now);
        }
        if signals.requests.has_changed().unwrap_or(false) {
            signals.requests.borrow_and_update();
            schedule.request();
        }
        // Timing first, with a digest that equals nothing: the payload (a fingerprint of the whole
        // snapshot) is only computed when an export is otherwise due.
        let timing_says = if schedule.has_work() {
            schedule.decide(now, &timing, synced, "", i64::MIN)
        } else {
            Decision::Unchanged
        };
        let decision = if timing_says == Decision::Export {
            let (digest, generation) = binding.payload();
            (
                schedule.decide(now, &timing, synced, &digest, generation),
                digest,
                generation,
            )
        } else {
            (timing_says, String::new(), 0)
        };
        let (decision, digest, generation) = decision;
        let wake = match decision {
            Decision::Export if not_before.is_some_and(|at| at > now) => not_before,
            Decision::Export => match binding.export(&digest).await {
                Ok(()) => {
                    not_before = None;
                    schedule.exported(Instant::now(), &digest, generation);
                    continue;
                }
                Err(retry) => {
                    not_before = Some(Instant::now() + retry);
                    not_before
                }
            },
            Decision::Unchanged => {
                schedule.settled();
                None
            }
            Decision::Wait(_, at) => at,
        };
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = signals.changes.changed() => {
                if changed.is_err() {
                    return schedule;
                }
                schedule.changed(Instant::now());
            }
            changed = signals.synced.changed() => {
                if changed.is_err() {
                    return schedule;
                }
            }
            changed = signals.requests.changed() => {
                if changed.is_err() {
                    return schedule;
                }
                schedule.request();
            }
            () = sleep => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures_util_shim::FutureExt as _;

    use super::*;

    /// `map` on futures without a futures dependency in this crate.
    mod futures_util_shim {
        use std::future::Future;

        pub(super) trait FutureExt: Future + Sized {
            fn map<T>(self, f: impl FnOnce(Self::Output) -> T) -> impl Future<Output = T> {
                async move { f(self.await) }
            }
        }

        impl<F: Future> FutureExt for F {}
    }

    const S: Duration = Duration::from_secs(1);

    fn timing() -> Timing {
        Timing {
            quiet: Duration::from_millis(200),
            max_delay: 5 * S,
            interval: 30 * S,
            floor: Duration::ZERO,
        }
    }

    #[test]
    fn effective_interval_follows_the_precedence_and_the_floor() {
        assert_eq!(effective_interval(None, None, None, Duration::ZERO), 30 * S);
        assert_eq!(
            effective_interval(None, None, Some(5 * S), Duration::ZERO),
            5 * S
        );
        assert_eq!(
            effective_interval(Some(60 * S), Some(10 * S), Some(5 * S), Duration::ZERO),
            60 * S
        );
        assert_eq!(
            effective_interval(None, Some(10 * S), Some(5 * S), Duration::ZERO),
            10 * S
        );
        assert_eq!(
            effective_interval(None, None, Some(Duration::ZERO), Duration::ZERO),
            Duration::ZERO,
            "an explicit 0 is honoured"
        );
        assert_eq!(
            effective_interval(None, None, Some(Duration::ZERO), 20 * S),
            20 * S
        );
        assert_eq!(effective_interval(Some(10 * S), None, None, 20 * S), 20 * S);
        assert_eq!(effective_interval(Some(60 * S), None, None, 20 * S), 60 * S);
    }

    #[test]
    fn deb_01_first_same_different_and_new_generation() {
        // First decision exports; the same checksum is skipped; a new generation exports. A
        // different checksum inside the interval waits for it (the Go original sent it at
        // once; here the interval spaces exports, docs/compatibility.md).
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        assert_eq!(
            schedule.decide(t0, &timing(), true, "c1", 1),
            Decision::Export
        );
        schedule.exported(t0, "c1", 1);
        assert_eq!(
            schedule.decide(t0 + 10 * S, &timing(), true, "c1", 1),
            Decision::Unchanged
        );
        schedule.changed(t0 + 10 * S);
        assert_eq!(
            schedule.decide(t0 + 11 * S, &timing(), true, "c2", 1),
            Decision::Wait(Waiting::Interval, Some(t0 + 30 * S))
        );
        assert_eq!(
            schedule.decide(t0 + 30 * S, &timing(), true, "c2", 1),
            Decision::Export
        );
        assert_eq!(
            schedule.decide(t0 + 30 * S, &timing(), true, "c1", 2),
            Decision::Export
        );
    }

    #[test]
    fn deb_02_04_interval_zero_and_the_next_due_instant() {
        let zero = Timing {
            interval: Duration::ZERO,
            ..timing()
        };
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        schedule.exported(t0, "c1", 1);
        // DEB-02: interval 0, same payload → never re-sent.
        assert_eq!(
            schedule.decide(t0 + 3600 * S, &zero, true, "c1", 1),
            Decision::Unchanged
        );
        // DEB-04: with state, due when the interval has passed (no 1 s floor on wake-ups:
        // the caller sleeps until the instant given, it does not poll).
        schedule.changed(t0 + 5 * S);
        assert_eq!(
            schedule.decide(t0 + 6 * S, &timing(), true, "c2", 1),
            Decision::Wait(Waiting::Interval, Some(t0 + 30 * S))
        );
        // Without state there is nothing to wait for.
        assert_eq!(
            Schedule::default().decide(t0, &timing(), true, "c1", 1),
            Decision::Export
        );
    }

    #[test]
    fn deb_07_inventory_default_interval() {
        assert_eq!(
            effective_interval(None, None, Some(5 * S), Duration::ZERO),
            5 * S
        );
        assert_eq!(effective_interval(None, None, None, Duration::ZERO), 30 * S);
    }

    #[test]
    fn deb_09_two_bindings_with_their_own_intervals_debounce_the_same_payload() {
        // Inventory interval 5 m, one binding overriding it with 1 m: both export once, and an
        // unchanged payload is sent to neither again, whatever their intervals.
        let five = Timing {
            interval: effective_interval(None, None, Some(300 * S), Duration::ZERO),
            ..timing()
        };
        let one = Timing {
            interval: effective_interval(Some(60 * S), None, Some(300 * S), Duration::ZERO),
            ..timing()
        };
        let t0 = Instant::now();
        let mut bindings = [(Schedule::default(), five), (Schedule::default(), one)];
        let mut calls = 0;
        for round in 0..2 {
            let now = t0 + round * 120 * S;
            for (schedule, timing) in &mut bindings {
                match schedule.decide(now, timing, true, "same", 1) {
                    Decision::Export => {
                        calls += 1;
                        schedule.exported(now, "same", 1);
                    }
                    Decision::Unchanged => schedule.settled(),
                    Decision::Wait(..) => panic!("nothing to wait for"),
                }
            }
        }
        assert_eq!(calls, 2, "backend called once per binding");
    }

    #[test]
    fn nothing_is_exported_before_the_watches_synced() {
        let mut schedule = Schedule::default();
        let now = Instant::now();
        schedule.changed(now);
        assert_eq!(
            schedule.decide(now + 10 * S, &timing(), false, "d1", 1),
            Decision::Wait(Waiting::NotSynced, None)
        );
        assert_eq!(
            schedule.decide(now + 10 * S, &timing(), true, "d1", 1),
            Decision::Export
        );
    }

    #[test]
    fn changes_wait_for_quiet_but_not_longer_than_max_delay() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        assert_eq!(
            schedule.decide(t0, &timing(), true, "d0", 1),
            Decision::Export,
            "the first export waits for the sync gate only"
        );
        let zero = Timing {
            interval: Duration::ZERO,
            ..timing()
        };
        let timing = || zero;
        schedule.exported(t0, "d0", 1);
        schedule.changed(t0);
        let quiet = t0 + Duration::from_millis(200);
        assert_eq!(
            schedule.decide(t0, &timing(), true, "d1", 1),
            Decision::Wait(Waiting::Debounce, Some(quiet))
        );
        assert_eq!(
            schedule.decide(quiet, &timing(), true, "d1", 1),
            Decision::Export
        );
        // A change every 100 ms keeps the window open until max_delay.
        let mut t = t0;
        while t < t0 + 6 * S {
            schedule.changed(t);
            t += Duration::from_millis(100);
        }
        assert_eq!(
            schedule.decide(t0 + 5 * S, &timing(), true, "d1", 1),
            Decision::Export
        );
    }

    #[test]
    fn an_unchanged_payload_is_never_resent_but_a_new_generation_is() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        schedule.exported(t0, "d1", 1);
        assert_eq!(
            schedule.decide(t0 + 3600 * S, &timing(), true, "d1", 1),
            Decision::Unchanged
        );
        assert_eq!(
            schedule.decide(t0 + 3600 * S, &timing(), true, "d1", 2),
            Decision::Export
        );
        // After a restart the recovered state keeps it that way.
        let recovered = Schedule::recovered(schedule.last().unwrap().clone());
        assert_eq!(
            recovered.decide(t0 + 3600 * S, &timing(), true, "d1", 1),
            Decision::Unchanged
        );
    }

    #[test]
    fn changed_payloads_respect_the_interval() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        schedule.exported(t0, "d1", 1);
        schedule.changed(t0 + S);
        assert_eq!(
            schedule.decide(t0 + 2 * S, &timing(), true, "d2", 1),
            Decision::Wait(Waiting::Interval, Some(t0 + 30 * S))
        );
        assert_eq!(
            schedule.decide(t0 + 30 * S, &timing(), true, "d2", 1),
            Decision::Export
        );
        let zero = Timing {
            interval: Duration::ZERO,
            ..timing()
        };
        assert_eq!(
            schedule.decide(t0 + 2 * S, &zero, true, "d2", 1),
            Decision::Export,
            "interval 0: changes go out after the quiet window"
        );
    }

    #[test]
    fn a_request_bypasses_debounce_and_interval_but_not_the_floor() {
        let mut schedule = Schedule::default();
        let t0 = Instant::now();
        schedule.exported(t0, "d1", 1);
        schedule.request();
        assert_eq!(
            schedule.decide(t0 + S, &timing(), true, "d1", 1),
            Decision::Export,
            "even unchanged"
        );
        let floored = Timing {
            floor: 10 * S,
            ..timing()
        };
        assert_eq!(
            schedule.decide(t0 + S, &floored, true, "d1", 1),
            Decision::Wait(Waiting::Floor, Some(t0 + 10 * S))
        );
        schedule.exported(t0 + 10 * S, "d1", 1);
        assert_eq!(
            schedule.decide(t0 + 11 * S, &timing(), true, "d1", 1),
            Decision::Unchanged,
            "the request was used up"
        );
    }

    /// A binding whose payload the test sets and whose exports it records (virtual time).
    struct Recorder {
        payload: Arc<Mutex<String>>,
        exports: Arc<Mutex<Vec<(Duration, String)>>>,
        start: Instant,
        failures: usize,
    }

    impl Binding for Recorder {
        fn payload(&mut self) -> (String, i64) {
            (self.payload.lock().unwrap().clone(), 1)
        }
        fn export(&mut self, digest: &str) -> impl Future<Output = Result<(), Duration>> + Send {
            let result = if self.failures > 0 {
                self.failures -= 1;
                Err(2 * S)
            } else {
                self.exports
                    .lock()
                    .unwrap()
                    .push((self.start.elapsed(), digest.to_owned()));
                Ok(())
            };
            std::future::ready(result)
        }
    }

    struct Harness {
        changes: watch::Sender<u64>,
        synced: watch::Sender<bool>,
        requests: watch::Sender<u64>,
        payload: Arc<Mutex<String>>,
        exports: Arc<Mutex<Vec<(Duration, String)>>>,
        task: tokio::task::JoinHandle<Schedule>,
    }

    fn harness(timing: Timing, failures: usize) -> Harness {
        let (changes, changes_rx) = watch::channel(0);
        let (synced, synced_rx) = watch::channel(false);
        let (requests, requests_rx) = watch::channel(0);
        let payload = Arc::new(Mutex::new("d0".to_owned()));
        let exports = Arc::new(Mutex::new(Vec::new()));
        let mut recorder = Recorder {
            payload: Arc::clone(&payload),
            exports: Arc::clone(&exports),
            start: Instant::now(),
            failures,
        };
        let signals = Signals {
            changes: changes_rx,
            synced: synced_rx,
            requests: requests_rx,
        };
        let task = tokio::spawn(async move {
            drive(Schedule::default(), timing, signals, &mut recorder).await
        });
        Harness {
            changes,
            synced,
            requests,
            payload,
            exports,
            task,
        }
    }

    impl Harness {
        fn change(&self, digest: &str) {
            *self.payload.lock().unwrap() = digest.to_owned();
            self.changes.send_modify(|n| *n += 1);
        }
        fn exports(&self) -> Vec<(Duration, String)> {
            self.exports.lock().unwrap().clone()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_driver_waits_for_sync_then_debounces() {
        let h = harness(
            Timing {
                interval: Duration::ZERO,
                ..timing()
            },
            0,
        );
        h.change("d1");
        tokio::time::sleep(10 * S).await;
        assert!(h.exports().is_empty(), "not synced yet");
        h.synced.send_replace(true);
        tokio::time::sleep(S).await;
        assert_eq!(h.exports().len(), 1);
        assert_eq!(h.exports()[0].1, "d1");
        // A burst of changes every 100 ms for 12 s: exported at most every max_delay (5 s).
        for i in 0..120 {
            h.change(&format!("b{i}"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(S).await;
        let burst = h.exports().len() - 1;
        assert!((2..=4).contains(&burst), "{burst} exports for a 12 s burst");
        assert_eq!(
            h.exports().last().unwrap().1,
            "b119",
            "the last state is exported"
        );
        // Nothing changes: nothing more is sent, however long we wait.
        let before = h.exports().len();
        tokio::time::sleep(3600 * S).await;
        assert_eq!(h.exports().len(), before);
        drop(h.changes);
        h.task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn requests_export_at_once_and_failures_are_retried() {
        let h = harness(timing(), 1);
        h.synced.send_replace(true);
        h.change("d1");
        tokio::time::sleep(S).await;
        assert!(h.exports().is_empty(), "the first attempt failed");
        tokio::time::sleep(2 * S).await;
        assert_eq!(
            h.exports().len(),
            1,
            "retried after the delay the binding asked for"
        );
        h.requests.send_modify(|n| *n += 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            h.exports().len(),
            2,
            "a request exports even an unchanged payload"
        );
        // A change inside the 30 s interval waits for it.
        h.change("d2");
        tokio::time::sleep(5 * S).await;
        assert_eq!(h.exports().len(), 2);
        tokio::time::sleep(30 * S).await;
        assert_eq!(h.exports().last().unwrap().1, "d2");
    }

    /// Changes that arrive while an export is under way are debounced like any other.
    #[tokio::test(start_paused = true)]
    async fn changes_during_a_slow_export_are_debounced() {
        struct Slow(Arc<Mutex<usize>>);
        impl Binding for Slow {
            fn payload(&mut self) -> (String, i64) {
                (format!("{:?}", Instant::now()), 1)
            }
            fn export(&mut self, _: &str) -> impl Future<Output = Result<(), Duration>> + Send {
                *self.0.lock().unwrap() += 1;
                tokio::time::sleep(Duration::from_millis(300)).map(Ok)
            }
        }
        let (changes, changes_rx) = watch::channel(0);
        let (_synced, synced_rx) = watch::channel(true);
        let (_requests, requests_rx) = watch::channel(0);
        let exports = Arc::new(Mutex::new(0));
        let mut slow = Slow(Arc::clone(&exports));
        let signals = Signals {
            changes: changes_rx,
            synced: synced_rx,
            requests: requests_rx,
        };
        let timing = Timing {
            interval: Duration::ZERO,
            ..timing()
        };
        let task =
            tokio::spawn(
                async move { drive(Schedule::default(), timing, signals, &mut slow).await },
            );
        for _ in 0..200 {
            changes.send_modify(|n| *n += 1);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Without pacing, a 300 ms export under constant change would run back to back (~60).
        let count = *exports.lock().unwrap();
        assert!(
            (3..=4).contains(&count),
            "{count} exports in 20 s of churn: max_delay (5 s) paces them"
        );
        drop(changes);
        task.await.unwrap();
    }
}
