//! `KollectConnectionTest` rules (API spec §11.2, DECISIONS API 17).

use super::{FieldPath, Report};
use crate::v1alpha1::KollectConnectionTest;

pub(super) fn validate(test: &KollectConnectionTest, report: &mut Report) {
    let spec = &test.spec;
    let root = FieldPath::root("spec");
    let refs = spec.sink_ref.refs();
    match refs.len() {
        0 => report.required(
            &root.child("sinkRef"),
            "set exactly one of snapshotSinkRef, databaseSinkRef and eventSinkRef",
        ),
        1 => {}
        count => report.invalid(
            &root.child("sinkRef"),
            format!("{count} refs"),
            "set exactly one of snapshotSinkRef, databaseSinkRef and eventSinkRef",
        ),
    }
    if spec.profile_ref.is_some() {
        report.forbidden(
            &root.child("profileRef"),
            "not supported yet: connection tests probe sinks only; remove the field",
        );
    }
    if spec.ttl_seconds_after_finished < 0 {
        report.invalid(
            &root.child("ttlSecondsAfterFinished"),
            spec.ttl_seconds_after_finished,
            "must be 0 or more seconds",
        );
    }
}
