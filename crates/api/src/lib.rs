//! The `kollect.dev/v1alpha1` API of Kollect: the eleven custom resource kinds, their validation,
//! their generated CustomResourceDefinitions, and a manifest reader that knows line numbers.
//!
//! * [`v1alpha1`] — the kinds (`KollectProfile`, `KollectTarget`, ...) as kube-derive types.
//! * [`validation`] — every single-object admission rule, with exact field paths; the webhook,
//!   the CLI and the controllers share it.
//! * [`crd`] — the finished CRDs (descriptions, CEL rules) and their Markdown reference.
//! * [`schema`] — structural-schema validation and defaulting, as the API server applies them.
//! * [`manifest`] — multi-document YAML/JSON reading with field locations and hostile-input
//!   limits, and a deterministic YAML writer.
//! * [`row`], [`canonical`] — rows, export items and the Go-compatible canonical JSON that
//!   checksums are computed over.
//! * [`names`], [`duration`] — identifier newtypes validated on deserialisation.
//! * [`k8s`] — the Kubernetes types other Kollect crates use; [`selector`] — label selectors
//!   matched as the API server does.
//!
//! This crate depends on no other Kollect crate and does no I/O.
//!
//! ```
//! use kollect_api::{manifest, validation::{self, Settings}};
//!
//! let text = b"apiVersion: kollect.dev/v1alpha1
//! kind: KollectTarget
//! metadata: {name: web, namespace: shop}
//! spec: {profileRef: other-namespace/profile}
//! ";
//! let document = manifest::parse(text).remove(0).expect("valid YAML");
//! let checked = validation::check(&document.value, &Settings::default());
//! let error = &checked.report.errors[0];
//! assert_eq!(error.field, "spec.profileRef");
//! assert_eq!(document.locate("/spec/profileRef").line, 4);
//! assert!(error.to_string().contains("namespace/name"));
//! ```
#![deny(missing_docs)]

pub mod canonical;
pub mod crd;
pub mod duration;
pub mod k8s;
pub mod manifest;
pub mod names;
pub mod row;
pub mod schema;
pub mod selector;
pub mod v1alpha1;
pub mod validation;
