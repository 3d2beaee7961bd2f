//! Lean-watch planning: which parts of an object an extractor reads.
//!
//! A [`Plan`] is a tree of member names; a node marked *whole* is read entirely. The collector
//! uses the [`WatchShape`] to watch `PartialObjectMetadata` when a profile reads only metadata,
//! and to keep only the planned members of other objects ([`Plan::trim`]); the one-pass
//! extractor uses the same tree to skip every other member while parsing.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// How the collector should watch objects for an extractor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchShape {
    /// Only `metadata` is read: watch `PartialObjectMetadata`.
    MetadataOnly,
    /// Only the members of the plan are read: trim objects to it.
    Trimmed(Plan),
    /// Expressions read the whole object (e.g. `cel:size(object)`): keep it all.
    Full,
}

/// A tree of the object members an extractor reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub(crate) root: PlanNode,
}

/// One node of a [`Plan`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PlanNode {
    /// The member is read entirely.
    pub(crate) whole: bool,
    /// Members read below this one (empty when `whole`).
    pub(crate) children: BTreeMap<String, PlanNode>,
}

impl PlanNode {
    fn add(&mut self, path: &[String]) {
        if self.whole {
            return;
        }
        match path.split_first() {
            None => {
                self.whole = true;
                self.children.clear();
            }
            Some((first, rest)) => self.children.entry(first.clone()).or_default().add(rest),
        }
    }

    fn trim(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) if !self.whole => {
                let trimmed: Map<String, Value> = self
                    .children
                    .iter()
                    .filter_map(|(key, child)| map.get(key).map(|v| (key.clone(), child.trim(v))))
                    .collect();
                Value::Object(trimmed)
            }
            other => other.clone(),
        }
    }
}

impl Plan {
    /// Adds a member path read entirely (`[]` is the whole object).
    pub(crate) fn add(&mut self, path: &[String]) {
        self.root.add(path);
    }

    /// Whether the whole object is read.
    pub fn is_whole(&self) -> bool {
        self.root.whole
    }

    /// The shape the collector should watch with.
    pub fn shape(&self) -> WatchShape {
        if self.root.whole {
            WatchShape::Full
        } else if self.root.children.keys().all(|key| key == "metadata") {
            WatchShape::MetadataOnly
        } else {
            WatchShape::Trimmed(self.clone())
        }
    }

    /// A copy of `object` with only the planned members. Extraction gives the same row for
    /// the copy as for the original.
    pub fn trim(&self, object: &Value) -> Value {
        self.root.trim(object)
    }

    /// The planned paths, each ending at a member read entirely (for diagnostics and docs).
    pub fn paths(&self) -> Vec<String> {
        fn walk(node: &PlanNode, prefix: &str, out: &mut Vec<String>) {
            if node.whole {
                out.push(if prefix.is_empty() {
                    ".".to_owned()
                } else {
                    prefix.to_owned()
                });
            }
            for (key, child) in &node.children {
                walk(child, &format!("{prefix}.{key}"), out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, "", &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn whole_members_absorb_deeper_paths() {
        let mut plan = Plan::default();
        plan.add(&path(&["metadata", "name"]));
        plan.add(&path(&["metadata"]));
        plan.add(&path(&["metadata", "labels", "app"]));
        assert_eq!(plan.paths(), [".metadata"]);
        assert_eq!(plan.shape(), WatchShape::MetadataOnly);
        plan.add(&path(&["spec", "replicas"]));
        assert!(matches!(plan.shape(), WatchShape::Trimmed(_)));
        plan.add(&[]);
        assert_eq!(plan.shape(), WatchShape::Full);
    }

    #[test]
    fn trimming_keeps_planned_members_and_non_maps() {
        let mut plan = Plan::default();
        plan.add(&path(&["metadata", "name"]));
        plan.add(&path(&["spec", "template", "x"]));
        let object = json!({"metadata": {"name": "a", "uid": "u"}, "spec": {"template": "not a map", "other": 1}, "status": {}});
        assert_eq!(
            plan.trim(&object),
            json!({"metadata": {"name": "a"}, "spec": {"template": "not a map"}})
        );
    }
}
