//! The `kollect.dev/v1alpha1` API of Kollect.
#![deny(missing_docs)]

pub mod duration;
pub mod k8s;
pub mod names;
pub mod schema;
pub mod v1alpha1;
pub mod crd;
pub mod validation;
pub mod manifest;
