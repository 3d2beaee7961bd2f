//! Fault injection and the request log: what tests use to break the server on purpose and to
//! check what a client asked for.

use std::{collections::VecDeque, time::Duration};

use serde::{Deserialize, Serialize};

/// A fault to inject. Also the JSON body of `POST /testkit/faults` (`{"type": "expireWatches", "count": 2}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Fault {
    /// End every open watch now (clients re-watch from their last resourceVersion).
    CloseWatches,
    /// Answer the next `count` watch requests that carry a resourceVersion with `410 Expired`,
    /// as an apiserver does after etcd compaction.
    ExpireWatches {
        /// How many watches.
        count: u32,
    },
    /// Answer the next `count` requests matching `verb` and `path_prefix` with `status`
    /// (429 carries `Retry-After: retry_after_seconds`).
    FailRequests {
        /// HTTP status: 429, 500, 503...
        status: u16,
        /// How many requests.
        count: u32,
        /// Kubernetes verb to match (`list`, `watch`, `get`, `create`...); all when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verb: Option<String>,
        /// Path prefix to match (`/api/v1/configmaps`); all when absent.
        #[serde(
            default,
            rename = "pathPrefix",
            skip_serializing_if = "Option::is_none"
        )]
        path_prefix: Option<String>,
        /// `Retry-After` for 429, in seconds.
        #[serde(default = "one", rename = "retryAfterSeconds")]
        retry_after_seconds: u64,
    },
    /// Delay every request matching `path_prefix` (all when absent) by `millis` before answering.
    Latency {
        /// Delay.
        millis: u64,
        /// Path prefix to match.
        #[serde(
            default,
            rename = "pathPrefix",
            skip_serializing_if = "Option::is_none"
        )]
        path_prefix: Option<String>,
    },
    /// Hold watch events back (they queue) until `ResumeWatches`.
    PauseWatches,
    /// Deliver held watch events.
    ResumeWatches,
    /// Make lists of one resource fail with 500 for the next `count` list requests (0: until cleared).
    FailList {
        /// API group (`""` for core).
        #[serde(default)]
        group: String,
        /// Plural resource.
        resource: String,
        /// How many lists; 0 means every list until the faults are cleared.
        #[serde(default)]
        count: u32,
    },
}

fn one() -> u64 {
    1
}

/// Requests to answer with an error.
#[derive(Debug)]
pub(crate) struct FailRule {
    /// HTTP status.
    pub(crate) status: u16,
    /// Requests still to fail.
    pub(crate) remaining: u32,
    /// Verb to match; all when absent.
    pub(crate) verb: Option<String>,
    /// Path prefix to match; all when absent.
    pub(crate) path_prefix: Option<String>,
    /// `Retry-After` seconds.
    pub(crate) retry_after: u64,
}

/// Faults in force.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Watches still to answer with 410.
    pub(crate) expire_watches: u32,
    /// Failing request rules.
    pub(crate) fail: Vec<FailRule>,
    /// Latency rules.
    pub(crate) latency: Vec<(Duration, Option<String>)>,
    /// Failing lists: (group, resource, remaining; 0 = forever).
    pub(crate) fail_list: Vec<(String, String, u32)>,
}

impl Faults {
    /// The failure (status, retry-after) a request gets, consuming one use of the rule.
    pub(crate) fn take_failure(&mut self, verb: &str, path: &str) -> Option<(u16, u64)> {
        let rule = self.fail.iter_mut().find(|rule| {
            rule.remaining > 0
                && rule.verb.as_deref().is_none_or(|v| v == verb)
                && rule
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| path.starts_with(p))
        })?;
        rule.remaining -= 1;
        let out = (rule.status, rule.retry_after);
        self.fail.retain(|rule| rule.remaining > 0);
        Some(out)
    }

    /// The delay a request gets.
    pub(crate) fn latency(&self, path: &str) -> Duration {
        self.latency
            .iter()
            .filter(|(_, prefix)| prefix.as_deref().is_none_or(|p| path.starts_with(p)))
            .map(|(d, _)| *d)
            .max()
            .unwrap_or_default()
    }

    /// Whether a list of this resource must fail, consuming one use.
    pub(crate) fn take_list_failure(&mut self, group: &str, resource: &str) -> bool {
        let Some(rule) = self
            .fail_list
            .iter_mut()
            .find(|(g, r, _)| g == group && r == resource)
        else {
            return false;
        };
        if rule.2 == 0 {
            return true;
        }
        rule.2 -= 1;
        if rule.2 == 0 {
            self.fail_list
                .retain(|(g, r, _)| !(g == group && r == resource));
        }
        true
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Sequence number, from 1.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`) for resource requests; the lowercase method otherwise.
    pub verb: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// `Accept` header.
    pub accept: String,
    /// `Content-Type` header.
    pub content_type: String,
    /// Authenticated user name (empty when authentication failed).
    pub user: String,
    /// API group of a resource request.
    pub group: String,
    /// Plural resource of a resource request.
    pub resource: String,
    /// Namespace of a resource request.
    pub namespace: String,
    /// HTTP status of the answer (for watches: of the response head).
    pub status: u16,
}

impl RequestRecord {
    /// Whether this was a metadata-only (`PartialObjectMetadata`) request.
    pub fn is_metadata_only(&self) -> bool {
        self.accept.contains("as=PartialObjectMetadata")
    }
}

/// The last requests, bounded.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    pub(crate) records: VecDeque<RequestRecord>,
    pub(crate) next: u64,
}

/// Requests kept in the log; older ones are dropped.
pub(crate) const REQUEST_LOG_LIMIT: usize = 100_000;

impl RequestLog {
    /// Appends a record, numbering it.
    pub(crate) fn push(&mut self, mut record: RequestRecord) {
        self.next += 1;
        record.seq = self.next;
        self.records.push_back(record);
        while self.records.len() > REQUEST_LOG_LIMIT {
            self.records.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json_round_trips() {
        let fault: Fault = serde_json::from_str(
            r#"{"type":"failRequests","status":429,"count":2,"verb":"list","pathPrefix":"/api/v1/configmaps"}"#,
        )
        .unwrap();
        assert_eq!(
            fault,
            Fault::FailRequests {
                status: 429,
                count: 2,
                verb: Some("list".into()),
                path_prefix: Some("/api/v1/configmaps".into()),
                retry_after_seconds: 1,
            }
        );
        assert!(serde_json::from_str::<Fault>(r#"{"type":"explode"}"#).is_err());
    }

    #[test]
    fn failure_rules_are_used_up() {
        let mut faults = Faults::default();
        faults.fail.push(FailRule {
            status: 500,
            remaining: 2,
            verb: Some("list".into()),
            path_prefix: None,
            retry_after: 1,
        });
        assert_eq!(faults.take_failure("get", "/api/v1/pods"), None);
        assert_eq!(faults.take_failure("list", "/api/v1/pods"), Some((500, 1)));
        assert_eq!(faults.take_failure("list", "/api/v1/pods"), Some((500, 1)));
        assert_eq!(faults.take_failure("list", "/api/v1/pods"), None);
    }
}
