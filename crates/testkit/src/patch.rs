//! The patch formats of the Kubernetes API and field ownership (`managedFields`), on
//! `serde_json::Value`s.
//!
//! - [`merge_patch`]: RFC 7386 JSON merge patch (`application/merge-patch+json`).
//! - [`json_patch`]: RFC 6902 JSON patch (`application/json-patch+json`) with RFC 6901 pointers,
//!   atomic.
//! - [`strategic_merge_patch`]: strategic merge patch (`application/strategic-merge-patch+json`),
//!   as `kubectl apply` (client-side) and `kubectl patch` send it.
//! - [`server_side_apply`]: server-side apply (`application/apply-patch+yaml`) with conflict
//!   detection.
//! - [`record_update`]: ownership bookkeeping for every other write.
//!
//! # Limits (what the real apiserver does and this module does not)
//!
//! - There is no per-kind schema. Whether a list merges by key is decided by the *field name*
//!   alone, at any depth, from one fixed table (`containers`, `env`, `volumes`, `ports`,
//!   `conditions`, ...; see `list_merge_key`). A list under such a name whose elements are not
//!   objects carrying the key is treated as atomic instead. `ports` is keyed by `containerPort`
//!   when its elements have one, else by `port` (service ports); the real server-side apply keys
//!   both by port *and* protocol, this module by the port alone, so two ports with the same number
//!   and different protocols share an identity. `finalizers` is the only set of primitives. Every
//!   other list is atomic (replaced whole); custom resources get the same table.
//! - Strategic merge patch: `$patch: replace|merge|delete` on maps and on list elements (a lone
//!   `{"$patch": "replace"}` element replaces the whole list), `$retainKeys`,
//!   `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>` are implemented. Not
//!   implemented: `$patch` directives on lists of primitives other than `$deleteFromPrimitiveList`,
//!   per-field `patchStrategy` overrides from the `OpenAPI` schema (e.g. lists the real server
//!   replaces although their name is in the table), and validation that every `$setElementOrder`
//!   entry names an element.
//! - Server-side apply: the applied configuration is merged with maps merged recursively, keyed
//!   lists merged by element and every other list and scalar replaced. Merged keyed lists keep the
//!   live order and append new elements (the real server orders them by the applied configuration).
//!   `null` in an applied configuration means "not set". A field that becomes empty after its last
//!   owner stopped applying a child is pruned. Conflicts are reported per leaf field; ownership of
//!   a whole keyed-list element (`.`) never conflicts. Apply managers are printed as `"name"`,
//!   update managers as `"name" using <apiVersion>`, as the apiserver does.
//! - `fieldsV1` only records owned leaves: a map owned as a value in its own right is a leaf only
//!   when empty (`"f:labels": {}`), keyed-list elements own `"."`, finalizers own `"v:<json>"`
//!   entries, other lists are leaves. `apiVersion`, `kind` and the server-maintained metadata
//!   fields (`name`, `namespace`, `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
//!   `deletionTimestamp`, `deletionGracePeriodSeconds`, `managedFields`, `selfLink`) are never
//!   owned.
//! - Values nested deeper than [`MAX_DEPTH`] levels are refused with [`PatchError::Malformed`] by
//!   the functions that return a `Result`; [`merge_patch`] copies such subtrees as they are, and
//!   ownership treats them as one leaf.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Number, Value};

/// The deepest nesting of objects and arrays that a patch or applied configuration may have.
pub(crate) const MAX_DEPTH: usize = 128;

/// The strategic-merge-patch directive key that sets the strategy of a map or list element.
const PATCH_DIRECTIVE: &str = "$patch";
/// The strategic-merge-patch directive key listing the keys a map keeps.
const RETAIN_KEYS: &str = "$retainKeys";
/// The prefix of the strategic-merge-patch directive keys that order a list.
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
/// The prefix of the strategic-merge-patch directive keys that delete values from a list of
/// primitives.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// The metadata fields that the server maintains and that no manager ever owns.
const UNTRACKED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Why a patch could not be applied. The server maps: `Malformed` -> 400 `BadRequest`, `Invalid` ->
/// 422 `Invalid`, `TestFailed` -> 422 `Invalid` (the apiserver uses 422 for a failed `test`),
/// `Conflict` -> 409 `Conflict`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PatchError {
    /// The body is not the right shape: not an array of operations, an operation without `path`,
    /// bad pointer syntax, an unknown directive, a keyed-list element without its merge key, too
    /// deep a nesting...
    #[error("malformed patch: {0}")]
    Malformed(String),
    /// The patch is well formed but cannot be applied: a path that does not exist for
    /// `remove`/`replace`, an index out of range, a target that is not an object...
    #[error("patch cannot be applied: {0}")]
    Invalid(String),
    /// A JSON patch `test` operation did not match.
    #[error("test operation failed: {0}")]
    TestFailed(String),
    /// Server-side apply: one string per conflicting field, e.g.
    /// `conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<String>),
}

impl PatchError {
    /// The same error with `context` put in front of its message (conflicts are left as they are).
    fn context(self, context: &str) -> Self {
        match self {
            Self::Malformed(m) => Self::Malformed(format!("{context}: {m}")),
            Self::Invalid(m) => Self::Invalid(format!("{context}: {m}")),
            Self::TestFailed(m) => Self::TestFailed(format!("{context}: {m}")),
            Self::Conflict(c) => Self::Conflict(c),
        }
    }
}

/// The apiserver-like message for a list of conflicts: `Apply failed with 1 conflict: conflict with
/// ...`.
fn conflict_message(conflicts: &[String]) -> String {
    match conflicts {
        [one] => format!("Apply failed with 1 conflict: {one}"),
        many => format!(
            "Apply failed with {} conflicts: {}",
            many.len(),
            many.join("; ")
        ),
    }
}

/// A [`PatchError::Malformed`] with `message`.
fn malformed(message: impl Into<String>) -> PatchError {
    PatchError::Malformed(message.into())
}

/// A [`PatchError::Invalid`] with `message`.
fn invalid(message: impl Into<String>) -> PatchError {
    PatchError::Invalid(message.into())
}

/// The error for a value nested deeper than [`MAX_DEPTH`].
fn too_deep(what: &str) -> PatchError {
    malformed(format!("{what} is nested deeper than {MAX_DEPTH} levels"))
}

/// Refuses `value` when its objects and arrays nest deeper than [`MAX_DEPTH`]. Iterative, so any
/// depth is safe.
fn check_depth(value: &Value, what: &str) -> Result<(), PatchError> {
    let mut stack = vec![(value, 1_usize)];
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Array(items) if !items.is_empty() => {
                if depth > MAX_DEPTH {
                    return Err(too_deep(what));
                }
                stack.extend(items.iter().map(|item| (item, depth + 1)));
            }
            Value::Object(members) if !members.is_empty() => {
                if depth > MAX_DEPTH {
                    return Err(too_deep(what));
                }
                stack.extend(members.values().map(|member| (member, depth + 1)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// JSON equality as RFC 6902 defines it: numbers compare by value (`1 == 1.0`), objects ignore
/// member order.
fn json_eq(a: &Value, b: &Value) -> bool {
    json_eq_at(a, b, 0)
}

/// [`json_eq`] at nesting `depth`; past [`MAX_DEPTH`] it falls back to `serde_json`'s own equality.
fn json_eq_at(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return a == b;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq_at(x, y, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_eq_at(x, y, depth + 1)))
        }
        _ => a == b,
    }
}

/// Numeric equality across the integer and float representations of `serde_json::Number`.
#[allow(clippy::float_cmp)] // JSON numbers are equal when their values are, exactly.
fn number_eq(x: &Number, y: &Number) -> bool {
    if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
        return x == y;
    }
    if (x.is_f64() || y.is_f64())
        && let (Some(x), Some(y)) = (x.as_f64(), y.as_f64())
    {
        return x == y;
    }
    false
}

// -----------------------------------------------------------------------------------------------
// RFC 7386 JSON merge patch
// -----------------------------------------------------------------------------------------------

/// RFC 7386 JSON merge patch, in place: `null` deletes, objects merge recursively, everything else
/// replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    merge_patch_at(target, patch, 0);
}

/// [`merge_patch`] at nesting `depth`; past [`MAX_DEPTH`] a patch member is copied as it is.
fn merge_patch_at(target: &mut Value, patch: &Value, depth: usize) {
    let Value::Object(patch_members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_members) = target else {
        return;
    };
    for (key, value) in patch_members {
        if value.is_null() {
            target_members.remove(key);
        } else if depth >= MAX_DEPTH {
            target_members.insert(key.clone(), value.clone());
        } else {
            let slot = target_members.entry(key.clone()).or_insert(Value::Null);
            merge_patch_at(slot, value, depth + 1);
        }
    }
}

// -----------------------------------------------------------------------------------------------
// RFC 6902 JSON patch
// -----------------------------------------------------------------------------------------------

/// RFC 6902 JSON patch (add, remove, replace, move, copy, test), applied atomically: on error
/// `target` is unchanged. RFC 6901 pointers incl. `~0`/`~1` escapes and `-` for append.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let Value::Array(operations) = ops else {
        return Err(malformed("a JSON patch must be an array of operations"));
    };
    check_depth(ops, "the JSON patch")?;
    let mut document = target.clone();
    for (index, operation) in operations.iter().enumerate() {
        apply_json_operation(&mut document, operation)
            .map_err(|e| e.context(&format!("operation {index}")))?;
    }
    *target = document;
    Ok(())
}

/// Applies one JSON patch operation to `document`.
fn apply_json_operation(document: &mut Value, operation: &Value) -> Result<(), PatchError> {
    let Value::Object(members) = operation else {
        return Err(malformed("an operation must be an object"));
    };
    let name = match members.get("op") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(malformed("`op` must be a string")),
        None => return Err(malformed("missing `op`")),
    };
    let path_text = string_member(members, "path")?;
    let context = format!("{name} {path_text:?}");
    let path = parse_pointer(path_text).map_err(|e| e.context(&context))?;
    run_json_operation(document, name, members, &path).map_err(|e| e.context(&context))
}

/// Executes the operation `name` at `path`, reading its other members (`value`, `from`) from
/// `members`.
fn run_json_operation(
    document: &mut Value,
    name: &str,
    members: &Map<String, Value>,
    path: &[String],
) -> Result<(), PatchError> {
    match name {
        "add" => add_at_pointer(document, path, value_member(members)?.clone()),
        "remove" => remove_at_pointer(document, path).map(drop),
        "replace" => {
            let value = value_member(members)?.clone();
            let slot = pointer_get_mut(document, path)
                .ok_or_else(|| invalid("the path does not exist"))?;
            *slot = value;
            Ok(())
        }
        "move" => {
            let from = parse_pointer(string_member(members, "from")?)?;
            if from.as_slice() == path {
                return pointer_get(document, &from)
                    .map(drop)
                    .ok_or_else(|| invalid("the `from` path does not exist"));
            }
            if path.starts_with(&from) {
                return Err(invalid("cannot move a value into one of its own children"));
            }
            let value = remove_at_pointer(document, &from).map_err(|e| e.context("from"))?;
            add_at_pointer(document, path, value)
        }
        "copy" => {
            let from = parse_pointer(string_member(members, "from")?)?;
            let value = pointer_get(document, &from)
                .ok_or_else(|| invalid("the `from` path does not exist"))?
                .clone();
            add_at_pointer(document, path, value)
        }
        "test" => {
            let expected = value_member(members)?;
            match pointer_get(document, path) {
                Some(actual) if json_eq(actual, expected) => Ok(()),
                Some(_) => Err(PatchError::TestFailed(
                    "the value differs from the expected value".into(),
                )),
                None => Err(PatchError::TestFailed("the path does not exist".into())),
            }
        }
        other => Err(malformed(format!("unknown operation {other:?}"))),
    }
}

/// The string member `key` of an operation.
fn string_member<'a>(members: &'a Map<String, Value>, key: &str) -> Result<&'a str, PatchError> {
    match members.get(key) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(malformed(format!("`{key}` must be a string"))),
        None => Err(malformed(format!("missing `{key}`"))),
    }
}

/// The `value` member of an operation (which may be `null`, but must be present).
fn value_member(members: &Map<String, Value>) -> Result<&Value, PatchError> {
    members
        .get("value")
        .ok_or_else(|| malformed("missing `value`"))
}

/// Parses an RFC 6901 JSON pointer into its unescaped reference tokens.
fn parse_pointer(text: &str) -> Result<Vec<String>, PatchError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(malformed(format!(
            "JSON pointer {text:?} must be empty or start with '/'"
        )));
    };
    rest.split('/').map(unescape_token).collect()
}

/// Unescapes one reference token: `~1` is `/`, `~0` is `~`, any other `~` is an error.
fn unescape_token(raw: &str) -> Result<String, PatchError> {
    let mut token = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => token.push('~'),
                Some('1') => token.push('/'),
                _ => {
                    return Err(malformed(format!(
                        "invalid `~` escape in JSON pointer token {raw:?}"
                    )));
                }
            }
        } else {
            token.push(c);
        }
    }
    Ok(token)
}

/// The array index a reference token names: decimal digits without a leading zero.
fn array_index(token: &str) -> Option<usize> {
    let digits_only = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// The value a pointer refers to, if it exists.
fn pointer_get<'a>(document: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = document;
    for token in path {
        current = match current {
            Value::Object(members) => members.get(token)?,
            Value::Array(items) => items.get(array_index(token)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The value a pointer refers to, mutably, if it exists.
fn pointer_get_mut<'a>(document: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut current = document;
    for token in path {
        current = match current {
            Value::Object(members) => members.get_mut(token)?,
            Value::Array(items) => items.get_mut(array_index(token)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// RFC 6902 `add`: sets an object member, inserts into an array (or appends for `-`), or replaces
/// the root.
fn add_at_pointer(document: &mut Value, path: &[String], value: Value) -> Result<(), PatchError> {
    let Some((last, parent_path)) = path.split_last() else {
        *document = value;
        return Ok(());
    };
    let parent = pointer_get_mut(document, parent_path)
        .ok_or_else(|| invalid("the parent of the path does not exist"))?;
    match parent {
        Value::Object(members) => {
            members.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let index = array_index(last)
                .ok_or_else(|| invalid(format!("{last:?} is not an array index")))?;
            if index > items.len() {
                return Err(invalid(format!(
                    "index {index} is out of range for an array of length {}",
                    items.len()
                )));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(invalid(
            "the parent of the path is neither an object nor an array",
        )),
    }
}

/// RFC 6902 `remove`: takes the value at `path` out of its parent and returns it.
fn remove_at_pointer(document: &mut Value, path: &[String]) -> Result<Value, PatchError> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(invalid("cannot remove the whole document"));
    };
    let parent =
        pointer_get_mut(document, parent_path).ok_or_else(|| invalid("the path does not exist"))?;
    match parent {
        Value::Object(members) => members
            .remove(last)
            .ok_or_else(|| invalid("the path does not exist")),
        Value::Array(items) => {
            let index = array_index(last)
                .ok_or_else(|| invalid(format!("{last:?} is not an array index")))?;
            if index >= items.len() {
                return Err(invalid(format!(
                    "index {index} is out of range for an array of length {}",
                    items.len()
                )));
            }
            Ok(items.remove(index))
        }
        _ => Err(invalid("the path does not exist")),
    }
}

// -----------------------------------------------------------------------------------------------
// Merge keys shared by strategic merge patch and server-side apply
// -----------------------------------------------------------------------------------------------

/// The merge key of a list field of the built-in kinds, by field name; `elements` decides between
/// the container (`containerPort`) and service (`port`) flavours of `ports`.
fn list_merge_key<'a>(
    field: &str,
    elements: impl IntoIterator<Item = &'a Value>,
) -> Option<&'static str> {
    let key = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "hostAliases" => "ip",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if elements
                .into_iter()
                .any(|element| element.get("containerPort").is_some())
            {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    };
    Some(key)
}

/// Whether `field` is a list of primitives merged as a set.
fn is_primitive_set(field: &str) -> bool {
    field == "finalizers"
}

/// Whether `value` is a JSON scalar (not an object, array or null).
fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_) | Value::Null)
}

// -----------------------------------------------------------------------------------------------
// Strategic merge patch
// -----------------------------------------------------------------------------------------------

/// What the parent of a patched map does with it after the merge.
enum MapOutcome {
    /// Keep the merged map.
    Keep,
    /// The patch said `$patch: delete`: drop the map (or list element).
    Delete,
}

/// How a strategic merge patch merges one list.
enum ListStrategy {
    /// Elements are maps merged by the value of this key.
    Keyed(&'static str),
    /// Elements are primitives merged as a set.
    Set,
    /// The patch list replaces the target list.
    Atomic,
}

/// Whether `key` is a strategic-merge-patch directive (never stored).
fn is_directive(key: &str) -> bool {
    key == PATCH_DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// The `$patch` directive of a patch map, if any.
fn patch_directive(members: &Map<String, Value>) -> Result<Option<&str>, PatchError> {
    match members.get(PATCH_DIRECTIVE) {
        None => Ok(None),
        Some(Value::String(directive)) => match directive.as_str() {
            "replace" | "merge" | "delete" => Ok(Some(directive.as_str())),
            other => Err(malformed(format!("unknown $patch directive {other:?}"))),
        },
        Some(_) => Err(malformed("$patch must be a string")),
    }
}

/// Whether a list element of a patch holds nothing but a `$patch` directive (e.g. `{"$patch":
/// "replace"}`).
fn lone_directive(element: &Value) -> Option<&Value> {
    match element {
        Value::Object(members) if members.len() == 1 => members.get(PATCH_DIRECTIVE),
        _ => None,
    }
}

/// Strategic merge patch for built-in kinds, as `kubectl apply` (client-side) and `kubectl patch`
/// send it. Atomic: on error `target` is unchanged.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(patch_members) = patch else {
        return Err(malformed("a strategic merge patch must be a JSON object"));
    };
    check_depth(patch, "the strategic merge patch")?;
    let Value::Object(target_members) = target else {
        return Err(invalid("the patched object is not a JSON object"));
    };
    let mut merged = target_members.clone();
    match smp_map(&mut merged, patch_members, 1)? {
        MapOutcome::Keep => {
            *target_members = merged;
            Ok(())
        }
        MapOutcome::Delete => Err(invalid("$patch: delete cannot delete the whole object")),
    }
}

/// Merges the patch map `patch` into `target`.
fn smp_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    depth: usize,
) -> Result<MapOutcome, PatchError> {
    if depth > MAX_DEPTH {
        return Err(too_deep("the strategic merge patch"));
    }
    match patch_directive(patch)? {
        Some("delete") => return Ok(MapOutcome::Delete),
        Some("replace") => target.clear(),
        _ => {}
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(retained) = retain else {
            return Err(malformed("$retainKeys must be a list of strings"));
        };
        if !retained.iter().all(Value::is_string) {
            return Err(malformed("$retainKeys must be a list of strings"));
        }
        let keeps = |key: &str| retained.iter().any(|r| r.as_str() == Some(key));
        if let Some((key, _)) = patch
            .iter()
            .find(|(key, value)| !is_directive(key) && !value.is_null() && !keeps(key))
        {
            return Err(invalid(format!(
                "{key:?} is set by the patch but missing from $retainKeys"
            )));
        }
        target.retain(|key, _| keeps(key));
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(deleted) = value else {
                return Err(malformed(format!("{key} must be a list")));
            };
            if let Some(Value::Array(items)) = target.get_mut(field) {
                items.retain(|item| !deleted.iter().any(|d| json_eq(item, d)));
            }
        }
    }
    for (key, value) in patch {
        if is_directive(key) {
            continue;
        }
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(sub_patch) => {
                let outcome = if let Some(Value::Object(existing)) = target.get_mut(key) {
                    smp_map(existing, sub_patch, depth + 1)?
                } else {
                    let mut fresh = Map::new();
                    let outcome = smp_map(&mut fresh, sub_patch, depth + 1)?;
                    target.insert(key.clone(), Value::Object(fresh));
                    outcome
                };
                if let MapOutcome::Delete = outcome {
                    target.remove(key);
                }
            }
            Value::Array(sub_patch) => {
                if let Some(Value::Array(existing)) = target.get_mut(key) {
                    smp_list(existing, sub_patch, key, depth + 1)?;
                } else {
                    let mut fresh = Vec::new();
                    smp_list(&mut fresh, sub_patch, key, depth + 1)?;
                    target.insert(key.clone(), Value::Array(fresh));
                }
            }
            scalar => {
                target.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            let Value::Array(order) = value else {
                return Err(malformed(format!("{key} must be a list")));
            };
            if let Some(Value::Array(items)) = target.get_mut(field) {
                apply_element_order(items, order);
            }
        }
    }
    Ok(MapOutcome::Keep)
}

/// Merges the patch list `patch` of field `field` into `target`.
fn smp_list(
    target: &mut Vec<Value>,
    patch: &[Value],
    field: &str,
    depth: usize,
) -> Result<(), PatchError> {
    if depth > MAX_DEPTH {
        return Err(too_deep("the strategic merge patch"));
    }
    let mut elements = Vec::with_capacity(patch.len());
    for element in patch {
        match lone_directive(element) {
            Some(Value::String(directive)) if directive == "replace" => target.clear(),
            Some(Value::String(directive)) if directive == "merge" => {}
            Some(_) => {
                return Err(malformed(format!(
                    "unsupported lone $patch element in list {field:?}"
                )));
            }
            None => elements.push(element),
        }
    }
    let strategy = if elements.iter().all(|e| e.is_object()) {
        list_merge_key(field, elements.iter().copied().chain(target.iter()))
            .map_or(ListStrategy::Atomic, ListStrategy::Keyed)
    } else if is_primitive_set(field) && elements.iter().all(|e| is_scalar(e)) {
        ListStrategy::Set
    } else {
        ListStrategy::Atomic
    };
    match strategy {
        ListStrategy::Keyed(key) => {
            for element in elements {
                let Value::Object(element_patch) = element else {
                    continue;
                };
                smp_keyed_element(target, element_patch, field, key, depth)?;
            }
        }
        ListStrategy::Set => {
            for element in elements {
                if !target.iter().any(|existing| json_eq(existing, element)) {
                    target.push(element.clone());
                }
            }
        }
        ListStrategy::Atomic => {
            let mut replacement = Vec::with_capacity(elements.len());
            for element in elements {
                if let Some(cleaned) = smp_clean(element, depth + 1)? {
                    replacement.push(cleaned);
                }
            }
            *target = replacement;
        }
    }
    Ok(())
}

/// Merges one element of a keyed-list patch into `target`: merged into the element with the same
/// key value, appended when there is none, removed on `$patch: delete`.
fn smp_keyed_element(
    target: &mut Vec<Value>,
    element_patch: &Map<String, Value>,
    field: &str,
    key: &str,
    depth: usize,
) -> Result<(), PatchError> {
    let Some(key_value) = element_patch.get(key).filter(|v| !v.is_null()) else {
        return Err(malformed(format!(
            "an element of list {field:?} lacks its merge key {key:?}"
        )));
    };
    let position = target
        .iter()
        .position(|existing| existing.get(key).is_some_and(|v| json_eq(v, key_value)));
    let Some(index) = position else {
        let mut fresh = Map::new();
        if let MapOutcome::Keep = smp_map(&mut fresh, element_patch, depth + 1)? {
            target.push(Value::Object(fresh));
        }
        return Ok(());
    };
    let outcome = if let Some(Value::Object(existing)) = target.get_mut(index) {
        smp_map(existing, element_patch, depth + 1)?
    } else {
        let mut fresh = Map::new();
        let outcome = smp_map(&mut fresh, element_patch, depth + 1)?;
        target[index] = Value::Object(fresh);
        outcome
    };
    if let MapOutcome::Delete = outcome {
        target.retain(|existing| !existing.get(key).is_some_and(|v| json_eq(v, key_value)));
    }
    Ok(())
}

/// A patch value as stored: directives applied against nothing, `null` members dropped; `None` when
/// the value deletes itself (`$patch: delete`).
fn smp_clean(value: &Value, depth: usize) -> Result<Option<Value>, PatchError> {
    if depth > MAX_DEPTH {
        return Err(too_deep("the strategic merge patch"));
    }
    match value {
        Value::Object(members) => {
            let mut fresh = Map::new();
            Ok(match smp_map(&mut fresh, members, depth + 1)? {
                MapOutcome::Keep => Some(Value::Object(fresh)),
                MapOutcome::Delete => None,
            })
        }
        Value::Array(items) => {
            let mut cleaned = Vec::with_capacity(items.len());
            for item in items {
                if let Some(item) = smp_clean(item, depth + 1)? {
                    cleaned.push(item);
                }
            }
            Ok(Some(Value::Array(cleaned)))
        }
        other => Ok(Some(other.clone())),
    }
}

/// Orders `items` by `order` (`$setElementOrder`): the elements `order` names come first in its
/// order, the others follow in their previous relative order.
fn apply_element_order(items: &mut Vec<Value>, order: &[Value]) {
    let mut ranked: Vec<(Option<usize>, Value)> = items
        .drain(..)
        .map(|item| {
            (
                order
                    .iter()
                    .position(|wanted| order_entry_matches(wanted, &item)),
                item,
            )
        })
        .collect();
    ranked.sort_by_key(|(rank, _)| (rank.is_none(), *rank));
    items.extend(ranked.into_iter().map(|(_, item)| item));
}

/// Whether a `$setElementOrder` entry names `item`: maps name an element by their (merge key)
/// members, primitives by value.
fn order_entry_matches(wanted: &Value, item: &Value) -> bool {
    match (wanted, item) {
        (Value::Object(wanted), Value::Object(item)) => {
            let mut members = wanted
                .iter()
                .filter(|(key, _)| !is_directive(key))
                .peekable();
            members.peek().is_some()
                && members.all(|(key, value)| item.get(key).is_some_and(|v| json_eq(v, value)))
        }
        (Value::Object(_), _) => false,
        _ => json_eq(wanted, item),
    }
}

// -----------------------------------------------------------------------------------------------
// Field sets (managedFields)
// -----------------------------------------------------------------------------------------------

/// One owned leaf: the `fieldsV1` keys from the object root to it (`f:spec`, `k:{"name":"app"}`,
/// `.`, `v:"x"`).
type FieldPath = Vec<String>;
/// The leaves one manager owns.
type FieldSet = BTreeSet<FieldPath>;

/// The `fieldsV1` key of the element of a keyed list whose merge key `key` has `value`.
fn key_segment(key: &str, value: &Value) -> String {
    let mut members = Map::new();
    members.insert(key.to_owned(), value.clone());
    format!("k:{}", Value::Object(members))
}

/// The merge key of a list for ownership purposes: the list's key, only if every element carries
/// it.
fn owned_list_key(field: &str, elements: &[Value]) -> Option<&'static str> {
    list_merge_key(field, elements).filter(|key| {
        elements
            .iter()
            .all(|e| e.get(*key).is_some_and(|v| !v.is_null()))
    })
}

/// The leaves `object` sets, as a manager setting the whole object would own them.
fn object_fields(object: &Value) -> FieldSet {
    let mut fields = FieldSet::new();
    let Value::Object(members) = object else {
        return fields;
    };
    let mut path = FieldPath::new();
    for (key, value) in members {
        if key == "apiVersion" || key == "kind" {
            continue;
        }
        path.push(format!("f:{key}"));
        match value {
            Value::Object(metadata) if key == "metadata" => {
                for (meta_key, meta_value) in metadata {
                    if UNTRACKED_METADATA.contains(&meta_key.as_str()) {
                        continue;
                    }
                    path.push(format!("f:{meta_key}"));
                    collect_fields(meta_value, meta_key, &mut path, 2, &mut fields);
                    path.pop();
                }
            }
            _ => collect_fields(value, key, &mut path, 1, &mut fields),
        }
        path.pop();
    }
    fields
}

/// Adds to `fields` the leaves of `value`, the value of field `field` found at `path`.
fn collect_fields(
    value: &Value,
    field: &str,
    path: &mut FieldPath,
    depth: usize,
    fields: &mut FieldSet,
) {
    match value {
        Value::Null => {}
        Value::Object(members) if !members.is_empty() && depth < MAX_DEPTH => {
            for (key, member) in members {
                path.push(format!("f:{key}"));
                collect_fields(member, key, path, depth + 1, fields);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() && depth < MAX_DEPTH => {
            if let Some(key) = owned_list_key(field, items) {
                for item in items {
                    let (Value::Object(members), Some(key_value)) = (item, item.get(key)) else {
                        continue;
                    };
                    path.push(key_segment(key, key_value));
                    path.push(".".to_owned());
                    fields.insert(path.clone());
                    path.pop();
                    for (member_key, member) in members {
                        path.push(format!("f:{member_key}"));
                        collect_fields(member, member_key, path, depth + 2, fields);
                        path.pop();
                    }
                    path.pop();
                }
            } else if is_primitive_set(field) && items.iter().all(is_scalar) {
                for item in items {
                    path.push(format!("v:{item}"));
                    fields.insert(path.clone());
                    path.pop();
                }
            } else {
                fields.insert(path.clone());
            }
        }
        _ => {
            fields.insert(path.clone());
        }
    }
}

/// Whether `item` is the keyed-list element that the members of `key` identify.
fn key_matches(item: &Value, key: &Map<String, Value>) -> bool {
    !key.is_empty()
        && key
            .iter()
            .all(|(name, value)| item.get(name).is_some_and(|v| json_eq(v, value)))
}

/// The value one `fieldsV1` key selects inside `value` (`.` selects `value` itself).
fn step<'a>(value: &'a Value, segment: &str) -> Option<&'a Value> {
    if segment == "." {
        return Some(value);
    }
    if let Some(field) = segment.strip_prefix("f:") {
        return value.as_object()?.get(field);
    }
    if let Some(key) = segment.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return value
            .as_array()?
            .iter()
            .find(|item| key_matches(item, &key));
    }
    if let Some(wanted) = segment.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(wanted).ok()?;
        return value.as_array()?.iter().find(|item| json_eq(item, &wanted));
    }
    None
}

/// The value a field path selects inside `root`, if present.
fn get_field<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(root, |current, segment| step(current, segment))
}

/// The value a field path selects inside `root`, mutably, if present.
fn get_field_mut<'a>(root: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut current = root;
    for segment in path {
        if segment == "." {
            continue;
        }
        current = if let Some(field) = segment.strip_prefix("f:") {
            current.as_object_mut()?.get_mut(field)?
        } else {
            let index = list_position(current, segment)?;
            current.as_array_mut()?.get_mut(index)?
        };
    }
    Some(current)
}

/// The index of the element a `k:` or `v:` segment selects in the array `list`.
fn list_position(list: &Value, segment: &str) -> Option<usize> {
    let items = list.as_array()?;
    if let Some(key) = segment.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return items.iter().position(|item| key_matches(item, &key));
    }
    let wanted: Value = serde_json::from_str(segment.strip_prefix("v:")?).ok()?;
    items.iter().position(|item| json_eq(item, &wanted))
}

/// Removes the value a field path selects (the element itself for a trailing `.`). Returns whether
/// it was there.
fn remove_field(root: &mut Value, path: &[String]) -> bool {
    let path = path.strip_suffix(&[".".to_owned()]).unwrap_or(path);
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let Some(parent) = get_field_mut(root, parent_path) else {
        return false;
    };
    if let Some(field) = last.strip_prefix("f:") {
        return parent
            .as_object_mut()
            .and_then(|members| members.remove(field))
            .is_some();
    }
    let Some(index) = list_position(parent, last) else {
        return false;
    };
    parent.as_array_mut().is_some_and(|items| {
        items.remove(index);
        true
    })
}

/// How a conflict message names a field path: `.spec.containers[name="app"].image`,
/// `.metadata.finalizers[="x"]`.
fn display_path(path: &[String]) -> String {
    let mut text = String::new();
    for segment in path {
        if let Some(field) = segment.strip_prefix("f:") {
            text.push('.');
            text.push_str(field);
        } else if let Some(key) = segment.strip_prefix("k:") {
            let parsed: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let members: Vec<String> = parsed
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            text.push('[');
            text.push_str(&members.join(","));
            text.push(']');
        } else if let Some(value) = segment.strip_prefix("v:") {
            text.push_str("[=");
            text.push_str(value);
            text.push(']');
        }
    }
    if text.is_empty() {
        ".".to_owned()
    } else {
        text
    }
}

/// A `fieldsV1` tree under construction.
#[derive(Default)]
struct FieldTree(BTreeMap<String, FieldTree>);

impl FieldTree {
    /// The `fieldsV1` JSON of this tree.
    fn into_value(self) -> Value {
        Value::Object(
            self.0
                .into_iter()
                .map(|(key, child)| (key, child.into_value()))
                .collect(),
        )
    }
}

/// The `fieldsV1` JSON of a field set.
fn fields_to_v1(fields: &FieldSet) -> Value {
    let mut root = FieldTree::default();
    for path in fields {
        let mut node = &mut root;
        for segment in path {
            node = node.0.entry(segment.clone()).or_default();
        }
    }
    root.into_value()
}

/// The field set of a `fieldsV1` JSON tree (iterative, so any depth is safe).
fn fields_from_v1(tree: &Value) -> FieldSet {
    let mut fields = FieldSet::new();
    let Value::Object(root) = tree else {
        return fields;
    };
    let mut stack = vec![(FieldPath::new(), root)];
    while let Some((path, members)) = stack.pop() {
        if members.is_empty() {
            if !path.is_empty() {
                fields.insert(path);
            }
            continue;
        }
        for (key, child) in members {
            let mut child_path = path.clone();
            child_path.push(key.clone());
            if key == "." {
                fields.insert(child_path);
            } else if let Value::Object(grandchildren) = child {
                stack.push((child_path, grandchildren));
            }
        }
    }
    fields
}

/// One `metadata.managedFields` entry.
struct ManagedEntry {
    /// The field manager's name.
    manager: String,
    /// `Apply` or `Update`.
    operation: String,
    /// The API version the manager wrote with.
    api_version: String,
    /// The RFC 3339 time of the manager's last write, if recorded.
    time: Option<String>,
    /// The subresource written through, e.g. `status`.
    subresource: Option<String>,
    /// The leaves the manager owns.
    fields: FieldSet,
}

impl ManagedEntry {
    /// Whether this entry belongs to (`manager`, `operation`, `subresource`).
    fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    /// Parses an entry; `None` for anything without a `manager` (so `[{}]` resets the list, as in
    /// Kubernetes).
    fn parse(value: &Value) -> Option<Self> {
        let members = value.as_object()?;
        let text = |key: &str| members.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            manager: text("manager")?,
            operation: text("operation").unwrap_or_else(|| "Update".to_owned()),
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            fields: members
                .get("fieldsV1")
                .map(fields_from_v1)
                .unwrap_or_default(),
        })
    }

    /// The entry as the apiserver writes it.
    fn to_value(&self) -> Value {
        let mut members = Map::new();
        members.insert("manager".into(), Value::String(self.manager.clone()));
        members.insert("operation".into(), Value::String(self.operation.clone()));
        members.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(time) = &self.time {
            members.insert("time".into(), Value::String(time.clone()));
        }
        members.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        members.insert("fieldsV1".into(), fields_to_v1(&self.fields));
        if let Some(subresource) = &self.subresource {
            members.insert("subresource".into(), Value::String(subresource.clone()));
        }
        Value::Object(members)
    }

    /// How conflict messages name this manager, like the apiserver.
    fn describe(&self) -> String {
        let mut text = format!("{:?}", self.manager);
        if let Some(subresource) = &self.subresource {
            text = format!("{text} with subresource {subresource:?}");
        }
        if self.operation != "Apply" {
            text = format!("{text} using {}", self.api_version);
        }
        text
    }
}

/// The managedFields entries of an object, or none.
fn read_entries(object: &Value) -> Option<Vec<ManagedEntry>> {
    let entries = object.get("metadata")?.get("managedFields")?.as_array()?;
    if entries.is_empty() {
        return None;
    }
    Some(entries.iter().filter_map(ManagedEntry::parse).collect())
}

/// Stores `entries` in `object.metadata.managedFields` (removing the member when there are none).
fn write_entries(object: &mut Value, entries: &[ManagedEntry]) {
    let Value::Object(members) = object else {
        return;
    };
    if entries.is_empty() && !members.contains_key("metadata") {
        return;
    }
    let metadata = members
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    let Value::Object(metadata) = metadata else {
        return;
    };
    if entries.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(ManagedEntry::to_value).collect()),
        );
    }
}

// -----------------------------------------------------------------------------------------------
// Server-side apply
// -----------------------------------------------------------------------------------------------

/// A copy of an applied configuration as it is merged: `null` members dropped (unset), no
/// `managedFields`.
fn applied_clean(value: &Value) -> Value {
    let mut cleaned = drop_nulls(value, 0);
    if let Some(Value::Object(metadata)) = cleaned.get_mut("metadata") {
        metadata.remove("managedFields");
    }
    cleaned
}

/// `value` without `null` object members (depth is bounded by the caller's [`check_depth`]).
fn drop_nulls(value: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return value.clone();
    }
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .filter(|(_, member)| !member.is_null())
                .map(|(key, member)| (key.clone(), drop_nulls(member, depth + 1)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| drop_nulls(item, depth + 1))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Merges the applied value `applied` of field `field` into `target`: maps recursively, keyed lists
/// by element, finalizers as a set, everything else replaced.
fn ssa_merge(target: &mut Value, applied: &Value, field: &str, depth: usize) {
    if depth > MAX_DEPTH {
        *target = applied.clone();
        return;
    }
    match (target, applied) {
        (Value::Object(target_members), Value::Object(applied_members)) => {
            for (key, value) in applied_members {
                match target_members.get_mut(key) {
                    Some(existing) => ssa_merge(existing, value, key, depth + 1),
                    None => {
                        target_members.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(target_items), Value::Array(applied_items))
            if owned_list_key(field, applied_items).is_some_and(|key| {
                owned_list_key(field, target_items) == Some(key) || target_items.is_empty()
            }) =>
        {
            let Some(key) = owned_list_key(field, applied_items) else {
                return;
            };
            for item in applied_items {
                let key_value = item.get(key);
                let same_key = |existing: &&mut Value| {
                    existing
                        .get(key)
                        .zip(key_value)
                        .is_some_and(|(a, b)| json_eq(a, b))
                };
                match target_items.iter_mut().find(same_key) {
                    Some(existing) => ssa_merge(existing, item, field, depth + 1),
                    None => target_items.push(item.clone()),
                }
            }
        }
        (Value::Array(target_items), Value::Array(applied_items))
            if is_primitive_set(field)
                && applied_items.iter().all(is_scalar)
                && target_items.iter().all(is_scalar) =>
        {
            for item in applied_items {
                if !target_items.iter().any(|existing| json_eq(existing, item)) {
                    target_items.push(item.clone());
                }
            }
        }
        (target, applied) => *target = applied.clone(),
    }
}

/// Server-side apply: merges the applied configuration `applied` (a full object: apiVersion, kind,
/// metadata.name...) into `live` (the current object, or `Value::Null` when the object does not
/// exist yet) for field manager `manager`.
///
/// Returns the new object with `metadata.managedFields` updated. Conflicts (a field in `applied`
/// whose value differs from live and which another manager owns) give [`PatchError::Conflict`]
/// unless `force`; with `force` the field moves to `manager`. Fields owned only by `manager` before
/// and absent from `applied` now are removed from the object. `api_version` is recorded in the
/// managedFields entry, `now` is an RFC 3339 timestamp string, `subresource` is e.g.
/// `Some("status")`.
pub(crate) fn server_side_apply(
    live: &Value,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
    subresource: Option<&str>,
) -> Result<Value, PatchError> {
    if !applied.is_object() {
        return Err(malformed("an applied configuration must be a JSON object"));
    }
    check_depth(applied, "the applied configuration")?;
    let mut result = match live {
        Value::Null => Value::Object(Map::new()),
        Value::Object(_) => live.clone(),
        _ => return Err(invalid("the live object is not a JSON object")),
    };
    let applied = applied_clean(applied);
    let applied_fields = object_fields(&applied);
    let mut entries = read_entries(live).unwrap_or_default();
    let own = entries
        .iter()
        .position(|e| e.is(manager, "Apply", subresource));

    let mut conflicts = Vec::new();
    let mut taken: Vec<(usize, FieldPath)> = Vec::new();
    for path in &applied_fields {
        if path.last().is_some_and(|segment| segment == ".") {
            continue;
        }
        let same = match (get_field(&applied, path), get_field(live, path)) {
            (Some(a), Some(b)) => json_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            continue;
        }
        for (index, entry) in entries.iter().enumerate() {
            if Some(index) != own && entry.fields.contains(path) {
                conflicts.push(format!(
                    "conflict with {}: {}",
                    entry.describe(),
                    display_path(path)
                ));
                taken.push((index, path.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(PatchError::Conflict(conflicts));
    }
    for (index, path) in taken {
        entries[index].fields.remove(&path);
    }

    ssa_merge(&mut result, &applied, "", 0);

    let previous = own
        .map(|index| entries[index].fields.clone())
        .unwrap_or_default();
    let mut dropped: Vec<&FieldPath> = previous.difference(&applied_fields).collect();
    dropped.sort_by_key(|path| std::cmp::Reverse(path.len()));
    for path in dropped {
        let base = path.strip_suffix(&[".".to_owned()]).unwrap_or(path);
        let still_owned = applied_fields.iter().any(|p| p.starts_with(base))
            || entries.iter().enumerate().any(|(index, entry)| {
                Some(index) != own && entry.fields.iter().any(|p| p.starts_with(base))
            });
        if still_owned {
            continue;
        }
        if remove_field(&mut result, base) {
            prune_empty_parents(&mut result, base, &entries, own, &applied_fields);
        }
    }

    match own {
        Some(index) => {
            let entry = &mut entries[index];
            entry.fields = applied_fields;
            api_version.clone_into(&mut entry.api_version);
            entry.time = Some(now.to_owned());
        }
        None => entries.push(ManagedEntry {
            manager: manager.to_owned(),
            operation: "Apply".to_owned(),
            api_version: api_version.to_owned(),
            time: Some(now.to_owned()),
            subresource: subresource.map(str::to_owned),
            fields: applied_fields,
        }),
    }
    entries.retain(|entry| entry.is(manager, "Apply", subresource) || !entry.fields.is_empty());
    write_entries(&mut result, &entries);
    Ok(result)
}

/// After removing the field at `path`, removes the maps and lists above it that became empty and
/// that nobody owns as a value of their own.
fn prune_empty_parents(
    result: &mut Value,
    path: &[String],
    entries: &[ManagedEntry],
    own: Option<usize>,
    applied_fields: &FieldSet,
) {
    for length in (1..path.len()).rev() {
        let parent = &path[..length];
        let empty = match get_field(result, parent) {
            Some(Value::Object(members)) => members.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            _ => false,
        };
        if !empty {
            return;
        }
        let owns = |fields: &FieldSet| {
            fields.iter().any(|p| {
                p.as_slice() == parent
                    || (p.len() == length + 1 && p.starts_with(parent) && p[length] == ".")
            })
        };
        let owned = owns(applied_fields)
            || entries
                .iter()
                .enumerate()
                .any(|(index, entry)| Some(index) != own && owns(&entry.fields));
        if owned || !remove_field(result, parent) {
            return;
        }
    }
}

/// Records a non-apply write (create, update, any non-apply patch) by `manager`: the fields that
/// differ between `old` (`Value::Null` on create) and `new` become owned by `manager` with
/// operation `Update` and are removed from the other managers' sets; managers left with no fields
/// are dropped. Updates `new.metadata.managedFields` in place.
///
/// The entries start from `new`'s `managedFields` when it carries a non-empty list (a client may
/// rewrite them; entries without a `manager`, such as `[{}]`, are dropped), else from `old`'s.
pub(crate) fn record_update(
    old: &Value,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
    subresource: Option<&str>,
) {
    if !new.is_object() {
        return;
    }
    let mut entries = read_entries(new)
        .or_else(|| read_entries(old))
        .unwrap_or_default();
    let old_fields = object_fields(old);
    let new_fields = object_fields(new);
    let changed: FieldSet = new_fields
        .iter()
        .filter(|path| {
            if path.last().is_some_and(|segment| segment == ".") {
                get_field(old, path).is_none()
            } else {
                match (get_field(old, path), get_field(new, path)) {
                    (Some(a), Some(b)) => !json_eq(a, b),
                    (None, None) => false,
                    _ => true,
                }
            }
        })
        .cloned()
        .collect();
    let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();

    let own = entries
        .iter()
        .position(|e| e.is(manager, "Update", subresource));
    for (index, entry) in entries.iter_mut().enumerate() {
        entry.fields.retain(|path| !removed.contains(path));
        if Some(index) != own {
            entry.fields.retain(|path| !changed.contains(path));
        }
    }
    if !changed.is_empty() {
        match own {
            Some(index) => {
                let entry = &mut entries[index];
                entry.fields.extend(changed);
                api_version.clone_into(&mut entry.api_version);
                entry.time = Some(now.to_owned());
            }
            None => entries.push(ManagedEntry {
                manager: manager.to_owned(),
                operation: "Update".to_owned(),
                api_version: api_version.to_owned(),
                time: Some(now.to_owned()),
                subresource: subresource.map(str::to_owned),
                fields: changed,
            }),
        }
    }
    entries.retain(|entry| !entry.fields.is_empty());
    write_entries(new, &entries);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::needless_pass_by_value)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A value nested `depth` objects deep.
    fn nested(depth: usize) -> Value {
        let mut value = json!(1);
        for _ in 0..depth {
            let mut members = Map::new();
            members.insert("a".into(), value);
            value = Value::Object(members);
        }
        value
    }

    /// Whether any object key anywhere in `value` is a strategic-merge-patch directive.
    fn has_directive(value: &Value) -> bool {
        match value {
            Value::Object(m) => m.iter().any(|(k, v)| is_directive(k) || has_directive(v)),
            Value::Array(a) => a.iter().any(has_directive),
            _ => false,
        }
    }

    // ----- RFC 7386 -----

    #[test]
    fn merge_patch_rfc7386_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }

    #[test]
    fn merge_patch_rfc7386_section_3_example() {
        let mut target = json!({
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged"
        });
        let patch = json!({
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null},
            "tags": ["example"]
        });
        merge_patch(&mut target, &patch);
        assert_eq!(
            target,
            json!({
                "title": "Hello!",
                "author": {"givenName": "John"},
                "tags": ["example"],
                "content": "This will be unchanged",
                "phoneNumber": "+01-123-456-7890"
            })
        );
    }

    #[test]
    fn merge_patch_survives_very_deep_patches() {
        let mut target = json!({});
        let patch = nested(MAX_DEPTH + 50);
        merge_patch(&mut target, &patch);
        assert_eq!(target, patch);
    }

    // ----- RFC 6902 -----

    /// Applies `ops` to `doc` and returns the result.
    fn jp(doc: Value, ops: Value) -> Result<Value, PatchError> {
        let mut doc = doc;
        json_patch(&mut doc, &ops).map(|()| doc)
    }

    #[test]
    fn json_patch_rfc6902_appendix_a_successes() {
        let cases = [
            // A.1 adding an object member
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux"}]),
                json!({"baz":"qux","foo":"bar"}),
            ),
            // A.2 adding an array element
            (
                json!({"foo":["bar","baz"]}),
                json!([{"op":"add","path":"/foo/1","value":"qux"}]),
                json!({"foo":["bar","qux","baz"]}),
            ),
            // A.3 removing an object member
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"remove","path":"/baz"}]),
                json!({"foo":"bar"}),
            ),
            // A.4 removing an array element
            (
                json!({"foo":["bar","qux","baz"]}),
                json!([{"op":"remove","path":"/foo/1"}]),
                json!({"foo":["bar","baz"]}),
            ),
            // A.5 replacing a value
            (
                json!({"baz":"qux","foo":"bar"}),
                json!([{"op":"replace","path":"/baz","value":"boo"}]),
                json!({"baz":"boo","foo":"bar"}),
            ),
            // A.6 moving a value
            (
                json!({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}),
                json!([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]),
                json!({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}),
            ),
            // A.7 moving an array element
            (
                json!({"foo":["all","grass","cows","eat"]}),
                json!([{"op":"move","from":"/foo/1","path":"/foo/3"}]),
                json!({"foo":["all","cows","eat","grass"]}),
            ),
            // A.8 testing a value: success
            (
                json!({"baz":"qux","foo":["a",2,"c"]}),
                json!([
                    {"op":"test","path":"/baz","value":"qux"},
                    {"op":"test","path":"/foo/1","value":2}
                ]),
                json!({"baz":"qux","foo":["a",2,"c"]}),
            ),
            // A.10 adding a nested member object
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/child","value":{"grandchild":{}}}]),
                json!({"foo":"bar","child":{"grandchild":{}}}),
            ),
            // A.11 ignoring unrecognized elements
            (
                json!({"foo":"bar"}),
                json!([{"op":"add","path":"/baz","value":"qux","xyz":123}]),
                json!({"foo":"bar","baz":"qux"}),
            ),
            // A.14 ~ escape ordering
            (
                json!({"/":9,"~1":10}),
                json!([{"op":"test","path":"/~01","value":10}]),
                json!({"/":9,"~1":10}),
            ),
            // A.16 adding an array value
            (
                json!({"foo":["bar"]}),
                json!([{"op":"add","path":"/foo/-","value":["abc","def"]}]),
                json!({"foo":["bar",["abc","def"]]}),
            ),
            // copy, replace of the root, add replacing the root, numeric equality in test
            (
                json!({"a":{"b":1}}),
                json!([{"op":"copy","from":"/a","path":"/c"}]),
                json!({"a":{"b":1},"c":{"b":1}}),
            ),
            (
                json!({"a":1}),
                json!([{"op":"replace","path":"","value":[1]}]),
                json!([1]),
            ),
            (
                json!({"a":1}),
                json!([{"op":"add","path":"","value":{"b":2}}]),
                json!({"b":2}),
            ),
            (
                json!({"n":1}),
                json!([{"op":"test","path":"/n","value":1.0}]),
                json!({"n":1}),
            ),
            (
                json!({"a/b":{"m~n":1}}),
                json!([{"op":"remove","path":"/a~1b/m~0n"}]),
                json!({"a/b":{}}),
            ),
            (
                json!({"a":1}),
                json!([{"op":"move","from":"/a","path":"/a"}]),
                json!({"a":1}),
            ),
            (json!({"a":1}), json!([]), json!({"a":1})),
        ];
        for (doc, ops, expected) in cases {
            assert_eq!(jp(doc, ops.clone()).unwrap(), expected, "ops {ops}");
        }
    }

    #[test]
    fn json_patch_rfc6902_appendix_a_errors() {
        // A.9 testing a value: error
        let err = jp(
            json!({"baz":"qux"}),
            json!([{"op":"test","path":"/baz","value":"bar"}]),
        );
        assert!(matches!(err, Err(PatchError::TestFailed(_))), "{err:?}");
        // A.12 adding to a nonexistent target
        let err = jp(
            json!({"foo":"bar"}),
            json!([{"op":"add","path":"/baz/bat","value":"qux"}]),
        );
        assert!(matches!(err, Err(PatchError::Invalid(_))), "{err:?}");
        // A.15 comparing strings and numbers
        let err = jp(
            json!({"/":9,"~1":10}),
            json!([{"op":"test","path":"/~01","value":"10"}]),
        );
        assert!(matches!(err, Err(PatchError::TestFailed(_))), "{err:?}");
        // testing a missing path
        let err = jp(json!({}), json!([{"op":"test","path":"/x","value":null}]));
        assert!(matches!(err, Err(PatchError::TestFailed(_))), "{err:?}");
    }

    #[test]
    fn json_patch_malformed_bodies() {
        let cases = [
            json!({"op":"add","path":"/a","value":1}),
            json!("add"),
            json!([1]),
            json!([{"path":"/a","value":1}]),
            json!([{"op":7,"path":"/a","value":1}]),
            json!([{"op":"frobnicate","path":"/a"}]),
            json!([{"op":"add","value":1}]),
            json!([{"op":"add","path":3,"value":1}]),
            json!([{"op":"add","path":"a","value":1}]),
            json!([{"op":"add","path":"/a~2","value":1}]),
            json!([{"op":"add","path":"/a~","value":1}]),
            json!([{"op":"add","path":"/a"}]),
            json!([{"op":"move","path":"/a"}]),
            json!([{"op":"copy","path":"/a","from":"x"}]),
        ];
        for ops in cases {
            let err = jp(json!({"a":1}), ops.clone());
            assert!(
                matches!(err, Err(PatchError::Malformed(_))),
                "{ops}: {err:?}"
            );
        }
        let err = jp(
            json!({}),
            json!([{"op":"add","path":"/a","value":nested(MAX_DEPTH + 1)}]),
        );
        assert!(matches!(err, Err(PatchError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn json_patch_invalid_paths_and_indexes() {
        let doc = json!({"foo":["a","b"],"s":"x"});
        let cases = [
            json!([{"op":"remove","path":"/missing"}]),
            json!([{"op":"remove","path":"/foo/2"}]),
            json!([{"op":"remove","path":"/foo/-"}]),
            json!([{"op":"remove","path":""}]),
            json!([{"op":"replace","path":"/missing","value":1}]),
            json!([{"op":"add","path":"/foo/3","value":"c"}]),
            json!([{"op":"add","path":"/foo/01","value":"c"}]),
            json!([{"op":"add","path":"/foo/x","value":"c"}]),
            json!([{"op":"add","path":"/foo/-1","value":"c"}]),
            json!([{"op":"add","path":"/s/x","value":"c"}]),
            json!([{"op":"move","from":"/foo","path":"/foo/0"}]),
            json!([{"op":"move","from":"/missing","path":"/x"}]),
            json!([{"op":"move","from":"/missing","path":"/missing"}]),
            json!([{"op":"copy","from":"/missing","path":"/x"}]),
        ];
        for ops in cases {
            let err = jp(doc.clone(), ops.clone());
            assert!(matches!(err, Err(PatchError::Invalid(_))), "{ops}: {err:?}");
        }
        // Index equal to the length appends.
        assert_eq!(
            jp(doc, json!([{"op":"add","path":"/foo/2","value":"c"}])).unwrap(),
            json!({"foo":["a","b","c"],"s":"x"})
        );
    }

    #[test]
    fn json_patch_is_atomic() {
        let original = json!({"a":1,"list":[1,2]});
        let mut doc = original.clone();
        let ops = json!([
            {"op":"add","path":"/b","value":2},
            {"op":"remove","path":"/list/0"},
            {"op":"remove","path":"/nope"}
        ]);
        let err = json_patch(&mut doc, &ops).unwrap_err();
        assert_eq!(doc, original);
        assert!(err.to_string().contains("operation 2"), "{err}");
        let mut doc = original.clone();
        let ops =
            json!([{"op":"replace","path":"/a","value":5},{"op":"test","path":"/a","value":1}]);
        assert!(matches!(
            json_patch(&mut doc, &ops),
            Err(PatchError::TestFailed(_))
        ));
        assert_eq!(doc, original);
    }

    // ----- strategic merge patch -----

    /// A live Deployment as the server stores it.
    fn live_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"},
                "finalizers": ["a", "b"]
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}
                },
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "app",
                            "image": "nginx:1.25",
                            "args": ["-g", "daemon off;"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}]
                        }]
                    }
                }
            }
        })
    }

    /// Applies a strategic merge patch to a copy of `target`.
    fn smp(target: &Value, patch: Value) -> Result<Value, PatchError> {
        let mut target = target.clone();
        strategic_merge_patch(&mut target, &patch).map(|()| target)
    }

    #[test]
    fn smp_kubectl_apply_image_change_and_env_removal() {
        // What `kubectl apply` sends when the image changes, env B and spec.replicas are dropped
        // from the file.
        let patch = json!({
            "metadata": {
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"}
            },
            "spec": {
                "replicas": null,
                "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{
                        "$setElementOrder/env": [{"name": "A"}],
                        "env": [{"$patch": "delete", "name": "B"}],
                        "image": "nginx:1.26",
                        "name": "app"
                    }]
                }}
            }
        });
        let result = smp(&live_deployment(), patch).unwrap();
        let mut expected = live_deployment();
        expected["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
            json!("new");
        expected["spec"].as_object_mut().unwrap().remove("replicas");
        let container = &mut expected["spec"]["template"]["spec"]["containers"][0];
        container["image"] = json!("nginx:1.26");
        container["env"] = json!([{"name": "A", "value": "1"}]);
        assert_eq!(result, expected);
        assert!(!has_directive(&result));
    }

    #[test]
    fn smp_container_added_and_ordered() {
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
            "containers": [
                {"name": "sidecar", "image": "busybox", "env": [{"name": "X", "value": null}]}
            ]
        }}}});
        let result = smp(&live_deployment(), patch).unwrap();
        let containers = &result["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            containers[0],
            json!({"name": "sidecar", "image": "busybox", "env": [{"name": "X"}]})
        );
        assert_eq!(containers[1]["name"], "app");
        assert_eq!(containers[1]["image"], "nginx:1.25");
        assert_eq!(containers.as_array().unwrap().len(), 2);
    }

    #[test]
    fn smp_container_ports_merge_by_container_port() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "ports": [
                {"containerPort": 80, "name": "http"},
                {"containerPort": 443}
            ]}
        ]}}}});
        let result = smp(&live_deployment(), patch).unwrap();
        assert_eq!(
            result["spec"]["template"]["spec"]["containers"][0]["ports"],
            json!([
                {"containerPort": 80, "protocol": "TCP", "name": "http"},
                {"containerPort": 443}
            ])
        );
    }

    #[test]
    fn smp_patch_delete_in_list_and_map() {
        let patch = json!({
            "metadata": {"annotations": {"$patch": "delete"}},
            "spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "app"}]}}}
        });
        let result = smp(&live_deployment(), patch).unwrap();
        assert_eq!(result["spec"]["template"]["spec"]["containers"], json!([]));
        assert!(result["metadata"].get("annotations").is_none());
        // Deleting an element that is not there changes nothing.
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"$patch": "delete", "name": "zzz"}
        ]}}}});
        assert_eq!(smp(&live_deployment(), patch).unwrap(), live_deployment());
    }

    #[test]
    fn smp_finalizers_set_and_delete_from_primitive_list() {
        let patch = json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": ["a"],
            "finalizers": ["b", "c"]
        }});
        let result = smp(&live_deployment(), patch).unwrap();
        assert_eq!(result["metadata"]["finalizers"], json!(["b", "c"]));
        assert!(!has_directive(&result));
    }

    #[test]
    fn smp_retain_keys() {
        let patch = json!({"spec": {"strategy": {
            "$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null
        }}});
        let result = smp(&live_deployment(), patch).unwrap();
        assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));
        // Keys not in the list go even when the patch does not null them.
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        assert_eq!(
            smp(&live_deployment(), patch).unwrap()["spec"]["strategy"],
            json!({"type": "Recreate"})
        );
        // A patch may not set a key that it does not retain.
        let patch = json!({"spec": {"strategy": {
            "$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}
        }}});
        assert!(matches!(
            smp(&live_deployment(), patch),
            Err(PatchError::Invalid(_))
        ));
        let patch = json!({"spec": {"strategy": {"$retainKeys": "type"}}});
        assert!(matches!(
            smp(&live_deployment(), patch),
            Err(PatchError::Malformed(_))
        ));
    }

    #[test]
    fn smp_patch_replace_on_map_and_list() {
        let patch =
            json!({"spec": {"selector": {"$patch": "replace", "matchLabels": {"tier": "x"}}}});
        let result = smp(&live_deployment(), patch).unwrap();
        assert_eq!(
            result["spec"]["selector"],
            json!({"matchLabels": {"tier": "x"}})
        );
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"$patch": "replace"}, {"name": "only", "image": "x"}
        ]}}}});
        let result = smp(&live_deployment(), patch).unwrap();
        assert_eq!(
            result["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "x"}])
        );
        assert!(!has_directive(&result));
    }

    #[test]
    fn smp_service_ports_merge_by_port() {
        let live = json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443}
            ]}
        });
        let patch = json!({"spec": {
            "$setElementOrder/ports": [{"port": 443}, {"port": 80}, {"port": 9000}],
            "ports": [{"port": 80, "targetPort": 9090}, {"port": 9000, "name": "metrics"}]
        }});
        let result = smp(&live, patch).unwrap();
        assert_eq!(
            result["spec"]["ports"],
            json!([
                {"name": "https", "port": 443, "targetPort": 8443},
                {"name": "http", "port": 80, "targetPort": 9090},
                {"name": "metrics", "port": 9000}
            ])
        );
    }

    #[test]
    fn smp_lists_without_merge_key_are_replaced_and_maps_merge() {
        let patch = json!({
            "metadata": {"labels": {"new": "yes"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["x"]}]}}}
        });
        let result = smp(&live_deployment(), patch).unwrap();
        assert_eq!(result["metadata"]["labels"], json!({"new": "yes"}));
        assert_eq!(
            result["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["x"])
        );
        assert_eq!(
            result["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.25"
        );
    }

    #[test]
    fn smp_set_element_order_keeps_unmentioned_elements_after() {
        let mut target = json!({"metadata": {"finalizers": ["a", "b", "c", "d"]}});
        let patch = json!({"metadata": {"$setElementOrder/finalizers": ["c", "a"]}});
        strategic_merge_patch(&mut target, &patch).unwrap();
        assert_eq!(
            target["metadata"]["finalizers"],
            json!(["c", "a", "b", "d"])
        );
    }

    #[test]
    fn smp_bad_input() {
        let live = live_deployment();
        let bad_shapes = [
            json!([{"op": "add"}]),
            json!("x"),
            json!({"spec": {"$patch": "frobnicate"}}),
            json!({"spec": {"$patch": 1}}),
            json!({"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}),
            json!({"spec": {"$setElementOrder/x": "nope"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            nested(MAX_DEPTH + 1),
        ];
        for patch in bad_shapes {
            let mut target = live.clone();
            let err = strategic_merge_patch(&mut target, &patch);
            assert!(matches!(err, Err(PatchError::Malformed(_))), "{err:?}");
            assert_eq!(target, live, "target changed on error");
        }
        let mut not_object = json!([1]);
        assert!(matches!(
            strategic_merge_patch(&mut not_object, &json!({})),
            Err(PatchError::Invalid(_))
        ));
        let mut target = live.clone();
        assert!(matches!(
            strategic_merge_patch(&mut target, &json!({"$patch": "delete"})),
            Err(PatchError::Invalid(_))
        ));
        assert_eq!(target, live);
    }

    // ----- server-side apply and managedFields -----

    /// The applied configuration of a Deployment.
    fn applied_deployment(replicas: Option<i64>, image: &str) -> Value {
        let mut applied = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [
                        {"name": "app", "image": image, "args": ["-g", "daemon off;"]}
                    ]}
                }
            }
        });
        if let Some(replicas) = replicas {
            applied["spec"]["replicas"] = json!(replicas);
        }
        applied
    }

    /// A minimal applied Deployment that only sets `spec.replicas`.
    fn replicas_only(replicas: i64) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": replicas}
        })
    }

    /// Server-side apply for `apps/v1` with a fixed time.
    fn apply(
        live: &Value,
        applied: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, PatchError> {
        server_side_apply(
            live,
            applied,
            manager,
            force,
            "apps/v1",
            "2024-01-01T00:00:00Z",
            None,
        )
    }

    /// The managedFields entry of (`manager`, `operation`).
    fn entry<'a>(object: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
        object["metadata"]["managedFields"]
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
    }

    /// `object` without `metadata.managedFields`.
    fn without_managed_fields(object: &Value) -> Value {
        let mut object = object.clone();
        object["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        object
    }

    #[test]
    fn ssa_create() {
        let applied = applied_deployment(Some(3), "nginx:1.25");
        let created = apply(&Value::Null, &applied, "kubectl", false).unwrap();
        assert_eq!(without_managed_fields(&created), applied);
        assert_eq!(
            created["metadata"]["managedFields"],
            json!([{
                "manager": "kubectl",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "time": "2024-01-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:replicas": {},
                        "f:selector": {"f:matchLabels": {"f:app": {}}},
                        "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                                ".": {}, "f:args": {}, "f:image": {}, "f:name": {}
                            }}}
                        }
                    }
                }
            }])
        );
    }

    #[test]
    fn ssa_reapply_is_idempotent() {
        let applied = applied_deployment(Some(3), "nginx:1.25");
        let first = apply(&Value::Null, &applied, "kubectl", false).unwrap();
        let second = server_side_apply(
            &first,
            &applied,
            "kubectl",
            false,
            "apps/v1",
            "2024-02-02T00:00:00Z",
            None,
        )
        .unwrap();
        let mut expected = first.clone();
        expected["metadata"]["managedFields"][0]["time"] = json!("2024-02-02T00:00:00Z");
        assert_eq!(second, expected);
        let third = apply(&second, &applied, "kubectl", false).unwrap();
        assert_eq!(third, first);
    }

    #[test]
    fn ssa_removes_fields_the_manager_stopped_applying() {
        let first = apply(
            &Value::Null,
            &applied_deployment(Some(3), "nginx:1.25"),
            "kubectl",
            false,
        )
        .unwrap();
        let mut applied = applied_deployment(None, "nginx:1.25");
        applied["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("labels");
        applied["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("args");
        let second = apply(&first, &applied, "kubectl", false).unwrap();
        assert!(second["spec"].get("replicas").is_none());
        assert!(
            second["metadata"].get("labels").is_none(),
            "emptied map pruned: {second}"
        );
        assert!(
            second["spec"]["template"]["spec"]["containers"][0]
                .get("args")
                .is_none()
        );
        assert_eq!(
            second["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.25"
        );
        let fields = &entry(&second, "kubectl", "Apply").unwrap()["fieldsV1"];
        assert!(fields["f:spec"].get("f:replicas").is_none());
        assert!(fields["f:metadata"].is_null());
    }

    #[test]
    fn ssa_keeps_fields_another_manager_still_owns() {
        let first = apply(
            &Value::Null,
            &applied_deployment(Some(3), "nginx:1.25"),
            "a",
            false,
        )
        .unwrap();
        // b applies the same replicas: shared ownership, no conflict.
        let shared = replicas_only(3);
        let second = apply(&first, &shared, "b", false).unwrap();
        // a stops applying replicas: b still owns it, so it stays.
        let third = apply(&second, &applied_deployment(None, "nginx:1.25"), "a", false).unwrap();
        assert_eq!(third["spec"]["replicas"], 3);
        assert!(
            entry(&third, "b", "Apply").unwrap()["fieldsV1"]["f:spec"]
                .get("f:replicas")
                .is_some()
        );
    }

    #[test]
    fn ssa_conflict_with_another_apply_manager() {
        let first = apply(
            &Value::Null,
            &applied_deployment(Some(3), "nginx:1.25"),
            "a",
            false,
        )
        .unwrap();
        let err = apply(
            &first,
            &applied_deployment(Some(5), "nginx:1.25"),
            "b",
            false,
        )
        .unwrap_err();
        let PatchError::Conflict(conflicts) = &err else {
            unreachable!("expected a conflict, got {err:?}");
        };
        assert_eq!(
            conflicts,
            &vec![r#"conflict with "a": .spec.replicas"#.to_owned()]
        );
        assert_eq!(
            err.to_string(),
            r#"Apply failed with 1 conflict: conflict with "a": .spec.replicas"#
        );
    }

    #[test]
    fn ssa_conflict_with_an_update_manager() {
        let mut created = without_managed_fields(&applied_deployment(Some(3), "nginx:1.25"));
        record_update(
            &Value::Null,
            &mut created,
            "kubectl-client-side-apply",
            "apps/v1",
            "t0",
            None,
        );
        let err = apply(
            &created,
            &applied_deployment(Some(5), "nginx:1.26"),
            "kubectl",
            false,
        )
        .unwrap_err();
        let PatchError::Conflict(conflicts) = &err else {
            unreachable!("expected a conflict, got {err:?}");
        };
        assert_eq!(
            conflicts,
            &vec![
                r#"conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
                    .to_owned(),
                "conflict with \"kubectl-client-side-apply\" using apps/v1: \
                 .spec.template.spec.containers[name=\"app\"].image"
                    .to_owned(),
            ]
        );
        assert!(
            err.to_string()
                .starts_with("Apply failed with 2 conflicts: "),
            "{err}"
        );
        // The same values do not conflict: ownership is shared.
        let shared = apply(
            &created,
            &applied_deployment(Some(3), "nginx:1.25"),
            "kubectl",
            false,
        )
        .unwrap();
        assert!(entry(&shared, "kubectl-client-side-apply", "Update").is_some());
        assert!(entry(&shared, "kubectl", "Apply").is_some());
    }

    #[test]
    fn ssa_force_takes_ownership() {
        let first = apply(
            &Value::Null,
            &applied_deployment(Some(3), "nginx:1.25"),
            "a",
            false,
        )
        .unwrap();
        let forced = apply(
            &first,
            &applied_deployment(Some(5), "nginx:1.25"),
            "b",
            true,
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 5);
        assert!(
            entry(&forced, "a", "Apply").unwrap()["fieldsV1"]["f:spec"]
                .get("f:replicas")
                .is_none()
        );
        assert!(
            entry(&forced, "b", "Apply").unwrap()["fieldsV1"]["f:spec"]
                .get("f:replicas")
                .is_some()
        );
        // a re-applying without replicas no longer removes it: b owns it.
        let after = apply(&forced, &applied_deployment(None, "nginx:1.25"), "a", false).unwrap();
        assert_eq!(after["spec"]["replicas"], 5);
        // A manager left with nothing is dropped.
        let x = apply(&Value::Null, &replicas_only(3), "x", false).unwrap();
        let y = apply(&x, &replicas_only(4), "y", true).unwrap();
        assert!(entry(&y, "x", "Apply").is_none());
        assert_eq!(y["metadata"]["managedFields"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn ssa_two_managers_share_a_keyed_list() {
        let a_config = applied_deployment(Some(2), "nginx:1.25");
        let b_config = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "image": "envoy:1"}
            ]}}}
        });
        let first = apply(&Value::Null, &a_config, "a", false).unwrap();
        let both = apply(&first, &b_config, "b", false).unwrap();
        let containers = &both["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["name"], "app");
        assert_eq!(
            containers[1],
            json!({"name": "sidecar", "image": "envoy:1"})
        );
        let containers_of = |manager: &str| {
            entry(&both, manager, "Apply").unwrap()["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
                ["f:containers"]
                .clone()
        };
        let (a_fields, b_fields) = (containers_of("a"), containers_of("b"));
        assert!(
            a_fields.get("k:{\"name\":\"app\"}").is_some()
                && a_fields.get("k:{\"name\":\"sidecar\"}").is_none()
        );
        assert!(
            b_fields.get("k:{\"name\":\"sidecar\"}").is_some()
                && b_fields.get("k:{\"name\":\"app\"}").is_none()
        );
        // a changes its image: no conflict with b.
        let a_updated = apply(
            &both,
            &applied_deployment(Some(2), "nginx:1.26"),
            "a",
            false,
        )
        .unwrap();
        assert_eq!(
            a_updated["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.26"
        );
        assert_eq!(
            a_updated["spec"]["template"]["spec"]["containers"][1]["image"],
            "envoy:1"
        );
        // b stops applying its container: only the sidecar goes.
        let bare =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let b_gone = apply(&a_updated, &bare, "b", false).unwrap();
        assert_eq!(
            b_gone["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "{b_gone}"
        );
        assert_eq!(
            b_gone["spec"]["template"]["spec"]["containers"][0]["name"],
            "app"
        );
        // b changing a's container conflicts on that field only.
        let b_meddles = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "evil:1"}]}}}
        });
        let err = apply(&a_updated, &b_meddles, "b", false).unwrap_err();
        assert!(
            err.to_string().ends_with(
                r#"conflict with "a": .spec.template.spec.containers[name="app"].image"#
            ),
            "{err}"
        );
    }

    #[test]
    fn ssa_finalizers_and_status_subresource() {
        let applied = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "finalizers": ["x"]},
            "data": {"k": "v"}
        });
        let created = server_side_apply(
            &Value::Null,
            &applied,
            "m",
            false,
            "v1",
            "t",
            Some("status"),
        )
        .unwrap();
        let managed = &created["metadata"]["managedFields"][0];
        assert_eq!(managed["subresource"], "status");
        assert_eq!(managed["apiVersion"], "v1");
        assert_eq!(
            managed["fieldsV1"]["f:metadata"]["f:finalizers"],
            json!({"v:\"x\"": {}})
        );
        assert_eq!(managed["fieldsV1"]["f:data"], json!({"f:k": {}}));
    }

    #[test]
    fn ssa_bad_input() {
        assert!(matches!(
            apply(&Value::Null, &json!([1]), "m", false),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            apply(&Value::Null, &nested(MAX_DEPTH + 1), "m", false),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            apply(&json!("x"), &json!({}), "m", false),
            Err(PatchError::Invalid(_))
        ));
        // null in an applied configuration means "not set"; managedFields in it are ignored.
        let applied = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "c", "creationTimestamp": null, "managedFields": [{"manager": "evil"}]
            },
            "data": {"k": "v"}});
        let created = apply(&Value::Null, &applied, "m", false).unwrap();
        assert!(created["metadata"].get("creationTimestamp").is_none());
        assert_eq!(
            created["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(created["metadata"]["managedFields"][0]["manager"], "m");
    }

    #[test]
    fn record_update_on_create_owns_everything_but_server_fields() {
        let mut object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "c", "namespace": "ns", "uid": "u", "resourceVersion": "1",
                "labels": {"a": "b"}
            },
            "data": {"k": "v"}
        });
        record_update(&Value::Null, &mut object, "kubectl-create", "v1", "t", None);
        assert_eq!(
            object["metadata"]["managedFields"],
            json!([{
                "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": "t",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}
            }])
        );
        // An update that changes nothing adds no entry.
        let old = object.clone();
        record_update(&old, &mut object, "other", "v1", "t2", None);
        assert_eq!(object, old);
    }

    #[test]
    fn record_update_moves_ownership() {
        let created = apply(
            &Value::Null,
            &applied_deployment(Some(3), "nginx:1.25"),
            "kubectl",
            false,
        )
        .unwrap();
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(7);
        record_update(&created, &mut scaled, "hpa", "autoscaling/v2", "t1", None);
        let hpa = entry(&scaled, "hpa", "Update").unwrap();
        assert_eq!(hpa["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
        assert_eq!(hpa["apiVersion"], "autoscaling/v2");
        assert!(
            entry(&scaled, "kubectl", "Apply").unwrap()["fieldsV1"]["f:spec"]
                .get("f:replicas")
                .is_none()
        );
        // kubectl now conflicts with hpa on replicas.
        let err = apply(
            &scaled,
            &applied_deployment(Some(3), "nginx:1.25"),
            "kubectl",
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: \
             conflict with \"hpa\" using autoscaling/v2: .spec.replicas"
        );
        // Another update taking replicas leaves hpa with nothing: its entry is dropped; order is
        // stable.
        let mut rescaled = scaled.clone();
        rescaled["spec"]["replicas"] = json!(1);
        record_update(&scaled, &mut rescaled, "ops", "apps/v1", "t2", None);
        assert!(entry(&rescaled, "hpa", "Update").is_none());
        let managers: Vec<&Value> = rescaled["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["manager"])
            .collect();
        assert_eq!(managers, vec!["kubectl", "ops"]);
    }

    #[test]
    fn record_update_removed_fields_and_status_conditions() {
        let mut object = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}
        });
        record_update(&Value::Null, &mut object, "creator", "v1", "t0", None);
        let old = object.clone();
        object["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("b");
        object["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        record_update(&old, &mut object, "kubelet", "v1", "t1", Some("status"));
        let creator = entry(&object, "creator", "Update").unwrap();
        assert_eq!(
            creator["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:a": {}}}})
        );
        let kubelet = entry(&object, "kubelet", "Update").unwrap();
        assert_eq!(kubelet["subresource"], "status");
        assert_eq!(
            kubelet["fieldsV1"],
            json!({"f:status": {"f:conditions": {
                "k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}
            }}})
        );
        // Client-sent `[{}]` resets the entries before recording.
        let old = object.clone();
        object["metadata"]["managedFields"] = json!([{}]);
        object["metadata"]["labels"]["c"] = json!("3");
        record_update(&old, &mut object, "me", "v1", "t2", None);
        assert_eq!(
            object["metadata"]["managedFields"],
            json!([{"manager": "me", "operation": "Update", "apiVersion": "v1", "time": "t2",
                "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:c": {}}}}}])
        );
    }

    #[test]
    fn fields_v1_round_trip_and_display() {
        let object = json!({
            "spec": {
                "containers": [{"name": "app", "ports": [{"containerPort": 80}]}],
                "args": ["a"]
            },
            "metadata": {"finalizers": ["f"]}});
        let fields = object_fields(&object);
        assert_eq!(fields_from_v1(&fields_to_v1(&fields)), fields);
        let paths: Vec<String> = fields.iter().map(|p| display_path(p)).collect();
        assert!(
            paths.contains(
                &r#".spec.containers[name="app"].ports[containerPort=80].containerPort"#.to_owned()
            ),
            "{paths:?}"
        );
        assert!(
            paths.contains(&r#".metadata.finalizers[="f"]"#.to_owned()),
            "{paths:?}"
        );
        assert!(paths.contains(&".spec.args".to_owned()), "{paths:?}");
    }
}
