//! Postgres sink against the real server at 127.0.0.1:5432 (database `test`, started by
//! `.ci/run`), each test in its own schema: the conformance suite, the §17.7 checks, history,
//! concurrency and failures.
#![cfg(feature = "postgres")]
#![allow(missing_docs, unreachable_pub, clippy::unwrap_used, clippy::panic)]

#[path = "postgres/support.rs"]
mod support;

mod conformance {
    use std::sync::Arc;

    use kollect_export::{BoxError, InventoryKey, Sink, TargetRow, conformance::Harness};
    use serde_json::json;

    use super::support;

    struct Postgres;

    #[async_trait::async_trait]
    impl Harness for Postgres {
        async fn sink(&self, prefix: &str) -> Result<Arc<dyn Sink>, BoxError> {
            let client = support::admin().await;
            support::schema(&client, prefix).await;
            support::table_with_write_counter(&client, prefix, "inventory").await;
            Ok(support::sink(prefix, "inventory", &json!({})))
        }

        async fn read_back(
            &self,
            prefix: &str,
            inventory: &InventoryKey,
        ) -> Result<Vec<TargetRow>, BoxError> {
            let client = support::admin().await;
            Ok(support::read_back(&client, prefix, "inventory", inventory).await)
        }

        async fn writes(&self, prefix: &str) -> Result<u64, BoxError> {
            Ok(support::writes(&support::admin().await, prefix).await)
        }
    }

    kollect_export::conformance_tests!(Postgres);
}
