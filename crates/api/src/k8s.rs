//! Curated re-exports of the Kubernetes API types Kollect uses.
//!
//! Other crates import these from here (`kollect_api::k8s::Pod`), never straight from
//! `k8s-openapi`, so that the Kubernetes version is chosen in one place.

pub use k8s_openapi::{
    ByteString, ClusterResourceScope, NamespaceResourceScope, Resource,
    api::{
        apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
        batch::v1::{CronJob, Job},
        coordination::v1::Lease,
        core::v1::{ConfigMap, Namespace, Node, Pod, Secret, Service, ServiceAccount},
        networking::v1::{Ingress, NetworkPolicy},
        rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinition, JSONSchemaProps,
    },
    apimachinery::pkg::apis::meta::v1::{
        Condition, LabelSelector, LabelSelectorRequirement, ObjectMeta, Time,
    },
    jiff,
};
pub use kube::core::{CustomResourceExt, ResourceExt};
