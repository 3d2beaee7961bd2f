//! Kollect's extraction engine: turns one Kubernetes object into one row of attributes, as a
//! `KollectProfile` declares them.
//!
//! * [`Extractor::compile`] compiles a profile once per generation; compile errors name the
//!   attribute (`spec.attributes[2].path: unterminated '{' at column 18`).
//! * [`Extractor::extract`] turns a parsed object into a [`kollect_api::row::Row`];
//!   [`Extractor::extract_from_slice`] does the same straight from JSON bytes in one pass,
//!   skipping (never allocating) every member the profile does not read.
//! * [`Extractor::watch_shape`] tells the collector whether metadata-only watches suffice and
//!   which members to keep.
//!
//! Paths are kubectl JSONPath ([`jsonpath`]), CEL with the variable `object` ([`cel`]), or Helm
//! release fields ([`helm`]). Values are redacted ([`scrub`]) and written as canonical JSON.
//!
//! ```
//! use kollect_api::v1alpha1::{AttributeSpec, GroupVersionKind, ProfileSpec};
//! use kollect_extract::{ExtractOptions, Extractor, WatchShape};
//! use serde_json::json;
//!
//! let spec = ProfileSpec {
//!     target_gvk: GroupVersionKind::new("", "v1", "ConfigMap"),
//!     attributes: Some(vec![
//!         AttributeSpec { name: "app".into(), path: "$.metadata.labels.app".into(), type_hint: None, optional: None },
//!         AttributeSpec { name: "keys".into(), path: "cel:size(object.data)".into(), type_hint: None, optional: None },
//!     ]),
//!     export: None,
//!     metrics: None,
//! };
//! let extractor = Extractor::compile_spec(&spec, false, &ExtractOptions::default()).expect("compiles");
//! let object = json!({
//!     "metadata": {"name": "demo", "namespace": "default", "uid": "u-1", "labels": {"app": "kollect"}},
//!     "data": {"a": "1", "b": "2"},
//! });
//! let row = extractor.extract(&object).expect("extracts").row;
//! assert_eq!(row.attributes.as_json(), r#"{"app":"kollect","keys":2}"#);
//! let bytes = serde_json::to_vec(&object).expect("encodes");
//! assert_eq!(extractor.extract_from_slice(&bytes).expect("extracts").row, row);
//! assert!(matches!(extractor.watch_shape(), WatchShape::Trimmed(_)));
//! ```
#![deny(missing_docs)]

pub mod admission;
pub mod cel;
mod extractor;
pub mod helm;
pub mod jsonpath;
mod node;
mod onepass;
pub mod plan;
pub mod prune;
pub mod scrub;

pub use self::{
    admission::check_expressions,
    extractor::{
        AttributeError, CompileError, DEFAULT_MAX_ROW_BYTES, ExtractError, ExtractOptions,
        ExtractWarning, Extracted, Extractor, compile_match_policy,
    },
    onepass::WatchEvent,
    plan::{Plan, WatchShape},
};
