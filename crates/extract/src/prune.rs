//! Full-resource export: the pruned copy of an object embedded in its row (pipeline spec §2.8).

use kollect_api::v1alpha1::{ExportInclude, ExportSpec};
use serde_json::{Map, Value};

/// Noise removed unless `prune.defaults: false`, in this order.
pub const BUILT_IN_POINTERS: [&str; 5] = [
    "/metadata/managedFields",
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    "/metadata/annotations/argocd.argoproj.io~1tracking-id",
];

/// What to keep of an object, compiled from a profile's `spec.export`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceExport {
    /// The attribute key of the embedded object.
    pub key: String,
    include: ExportInclude,
    dedupe_identity: bool,
    defaults: bool,
    pointers: Vec<Vec<String>>,
    json_paths: Vec<Vec<String>>,
}

impl ResourceExport {
    /// Compiles the export settings; unusable pointers and paths are dropped here (they are
    /// no-ops, and admission warned about or refused them).
    pub fn new(export: &ExportSpec) -> Self {
        let prune = export.prune.clone().unwrap_or_default();
        Self {
            key: export.as_key.clone(),
            include: export.include,
            dedupe_identity: export.dedupe_identity(),
            defaults: prune.defaults(),
            pointers: prune
                .json_pointers
                .iter()
                .flatten()
                .filter_map(|p| pointer_tokens(p))
                .collect(),
            json_paths: prune
                .json_paths
                .iter()
                .flatten()
                .filter_map(|p| json_path_tokens(p))
                .collect(),
        }
    }

    /// The top-level members kept, `None` for all.
    pub fn sections(&self) -> Option<&'static [&'static str]> {
        match self.include {
            ExportInclude::All => None,
            ExportInclude::MetadataOnly => Some(&["apiVersion", "kind", "metadata"]),
            ExportInclude::SpecOnly => Some(&["apiVersion", "kind", "spec"]),
            ExportInclude::StatusOnly => Some(&["apiVersion", "kind", "status"]),
            ExportInclude::SpecAndStatus => Some(&["apiVersion", "kind", "spec", "status"]),
        }
    }

    /// The pruned copy of `object` (the input is never modified).
    pub fn prune(&self, object: &Value) -> Value {
        let Value::Object(source) = object else {
            return object.clone();
        };
        let mut copy: Map<String, Value> = match self.sections() {
            None => source.clone(),
            Some(keep) => source
                .iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        if self.dedupe_identity
            && let Some(Value::Object(metadata)) = copy.get_mut("metadata")
        {
            for key in ["name", "namespace", "uid"] {
                metadata.remove(key);
            }
        }
        let mut copy = Value::Object(copy);
        if self.defaults {
            for pointer in BUILT_IN_POINTERS {
                if let Some(tokens) = pointer_tokens(pointer) {
                    delete(&mut copy, &tokens);
                }
            }
        }
        for tokens in self.pointers.iter().chain(&self.json_paths) {
            delete(&mut copy, tokens);
        }
        copy
    }
}

/// RFC 6901 tokens; `None` (a no-op) for empty, `/` alone or relative pointers.
fn pointer_tokens(pointer: &str) -> Option<Vec<String>> {
    let pointer = pointer.trim();
    if pointer.is_empty() || pointer == "/" || !pointer.starts_with('/') {
        return None;
    }
    Some(
        pointer[1..]
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// The minimal JSONPath tokenizer of prune paths; `None` (a no-op) for wildcards, filters and
/// unterminated brackets.
fn json_path_tokens(path: &str) -> Option<Vec<String>> {
    let path = path.trim();
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    let mut tokens = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = after[..end].trim();
            if inner == "*" || inner.starts_with('?') {
                return None;
            }
            tokens.push(inner.trim_matches(['\'', '"']).to_owned());
            rest = &after[end + 1..];
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let token = &rest[..end];
        if token == "*" {
            return None;
        }
        tokens.push(token.to_owned());
        rest = &rest[end..];
    }
    (!tokens.is_empty()).then_some(tokens)
}

/// Deletes the member at `tokens`: a map key is removed, a list element becomes `null`.
/// Missing members and bad indexes are no-ops.
fn delete(value: &mut Value, tokens: &[String]) {
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut current = value;
    for token in parents {
        current = match current {
            Value::Object(map) => match map.get_mut(token) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get_mut(i))
            {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    match current {
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(items) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
