//! The purge of deleted projects against the machine's PostgreSQL: nothing before the retention, only the deleted
//! project's rows, and a second sweep for what landed after a purge that ran soon after the deletion.

use std::time::Duration;

use cfp_store::purge::SETTLE;
use cfp_store::{Scope, Store};
use cfp_testkit::{drop_schema, fresh_store};
use serde_json::json;
use sqlx::Row;

/// Moves a deleted project's deletion (and first purge, if any) `by` into the past.
async fn age(store: &Store, scope: &Scope, by: Duration) {
    sqlx::query(
        "UPDATE deleted_projects SET deleted_at = deleted_at - make_interval(secs => $3),
                purged_at = purged_at - make_interval(secs => $3)
          WHERE tenant_id = $1 AND project_id = $2",
    )
    .bind(&scope.tenant)
    .bind(&scope.project)
    .bind(by.as_secs_f64())
    .execute(store.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn purges_after_the_retention_and_sweeps_once_more_what_landed_after_an_early_purge() {
    let (store, schema) = fresh_store(4).await;
    let gone = Scope::new("t1", "gone");
    let kept = Scope::new("t1", "kept");
    for scope in [&gone, &kept] {
        store.state_set(scope, "orders", "a", &json!({ "n": 1 })).await.unwrap();
    }
    store.mark_project_deleted(&gone).await.unwrap();
    store.mark_project_deleted(&gone).await.unwrap(); // every replica says it again: idempotent

    // within the retention: nothing
    assert!(store
        .purge_due(Duration::from_secs(3600), "r1")
        .await
        .unwrap()
        .is_empty());
    assert!(store.state_get(&gone, "orders", "a").await.unwrap().is_some());

    // retention 0: the deleted project's rows go, the sibling's stay
    assert_eq!(
        store.purge_due(Duration::ZERO, "r1").await.unwrap(),
        vec![(gone.clone(), 1)]
    );
    assert!(store.state_get(&gone, "orders", "a").await.unwrap().is_none());
    assert!(store.state_get(&kept, "orders", "a").await.unwrap().is_some());

    // a write that was under way when the project was deleted lands after the purge…
    store
        .state_set(&gone, "orders", "late", &json!({ "n": 2 }))
        .await
        .unwrap();
    // …and stays until SETTLE has passed since the deletion
    assert!(store.purge_due(Duration::ZERO, "r1").await.unwrap().is_empty());
    assert!(store.state_get(&gone, "orders", "late").await.unwrap().is_some());
    age(&store, &gone, SETTLE + Duration::from_secs(1)).await;
    assert_eq!(
        store.purge_due(Duration::ZERO, "r2").await.unwrap(),
        vec![(gone.clone(), 1)]
    );
    assert!(store.state_get(&gone, "orders", "late").await.unwrap().is_none());
    assert!(store.state_get(&kept, "orders", "a").await.unwrap().is_some());
    // swept once: never again
    assert!(store.purge_due(Duration::ZERO, "r1").await.unwrap().is_empty());
    let row = sqlx::query("SELECT purged_rows, swept_at IS NOT NULL FROM deleted_projects WHERE project_id = 'gone'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!((row.get::<i64, _>(0), row.get::<bool, _>(1)), (2, true));

    // a project first purged when SETTLE had already passed (the default retention of days) is not swept again
    let old = Scope::new("t1", "old");
    store.state_set(&old, "orders", "a", &json!(1)).await.unwrap();
    store.mark_project_deleted(&old).await.unwrap();
    age(&store, &old, 2 * SETTLE).await;
    assert_eq!(store.purge_due(SETTLE, "r1").await.unwrap(), vec![(old.clone(), 1)]);
    store.state_set(&old, "orders", "b", &json!(2)).await.unwrap();
    assert!(store.purge_due(Duration::ZERO, "r1").await.unwrap().is_empty());

    drop_schema(store, &schema).await;
}
