//! Test support shared by the crates' tests (a dev-dependency only, never of a runtime crate).
//!
//! Every test that touches PostgreSQL works in a schema of its own, so tests run in parallel against one
//! database (`CFP_TEST_DATABASE_URL`, by default the local `test` database) without seeing each other:
//!
//! ```no_run
//! # async fn demo() {
//! let (store, schema) = cfp_testkit::fresh_store(8).await;
//! // … the test …
//! cfp_testkit::drop_schema(store, &schema).await;
//! # }
//! ```

use std::time::Duration;

use cfp_store::{Payloads, Store, StoreOptions};

/// The test database: `CFP_TEST_DATABASE_URL`, or the local `test` database.
pub fn database_url() -> String {
    std::env::var("CFP_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The options of a store on `schema` of the test database, with payloads up to 1 MiB inline.
pub fn store_options(schema: &str, max_connections: u32) -> StoreOptions {
    StoreOptions {
        database_url: database_url(),
        schema: schema.to_string(),
        max_connections,
        payload_threshold: 1 << 20,
        acquire_timeout: Duration::from_secs(5),
    }
}

/// A store (payloads in memory) on a new schema of the test database, migrated, and the schema's name; the
/// test ends with [`drop_schema`]. Panics when PostgreSQL cannot be reached.
pub async fn fresh_store(max_connections: u32) -> (Store, String) {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let store = Store::connect(&store_options(&schema, max_connections), Payloads::memory())
        .await
        .expect("PostgreSQL at CFP_TEST_DATABASE_URL");
    (store, schema)
}

/// Drops the test's schema (with everything in it) and closes the store.
pub async fn drop_schema(store: Store, schema: &str) {
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(store.pool())
        .await
        .ok();
    store.close().await;
}
