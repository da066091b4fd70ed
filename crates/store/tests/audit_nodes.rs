//! The runtime's stored audit tree: the sequencer stores every tree node its leaves complete, proofs read from
//! those nodes equal proofs computed from all the leaves and read O(log n) rows, a chain written before the nodes
//! existed gets them from `audit_fill_nodes()`, and the nodes are append-only.

use cfp_audit::tree::{consistency_proof, inclusion_proof, leaf_hash, root, Hash};
use cfp_audit::{Actor, Event};
use cfp_store::Store;
use cfp_testkit::{drop_schema, fresh_store};

async fn leaves(store: &Store, chain: &str) -> Vec<Hash> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT leaf_hash FROM audit_entries WHERE chain = $1 ORDER BY seq")
        .bind(chain)
        .fetch_all(store.pool())
        .await
        .unwrap();
    rows.into_iter().map(|h| h.try_into().unwrap()).collect()
}

async fn nodes(store: &Store) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_nodes")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Every proof of sizes `sizes` read from stored nodes equals the one computed from all leaves `d`.
async fn check_proofs(store: &Store, chain: &str, d: &[Hash], sizes: &[u64]) {
    for &n in sizes {
        for m in (0..n).step_by(((n / 40) as usize).max(1)).chain([n - 1]) {
            let p = store.audit_inclusion(chain, m, n).await.unwrap();
            assert_eq!(p.path, inclusion_proof(d, m, n).unwrap(), "{chain} inclusion {m} {n}");
            assert_eq!(p.roots, vec![root(&d[..n as usize])]);
            let bound = 2 * (64 - n.leading_zeros() as usize) + 1;
            assert!(p.rows_read <= bound, "inclusion {m} {n} read {} rows", p.rows_read);
        }
        for m in (0..=n).step_by(((n / 40) as usize).max(1)).chain([n]) {
            let p = store.audit_consistency(chain, m, n).await.unwrap();
            assert_eq!(
                p.path,
                consistency_proof(d, m, n).unwrap(),
                "{chain} consistency {m} {n}"
            );
            assert_eq!(p.roots, vec![root(&d[..m as usize]), root(&d[..n as usize])]);
            let bound = 3 * (64 - n.leading_zeros() as usize) + 1;
            assert!(p.rows_read <= bound, "consistency {m} {n} read {} rows", p.rows_read);
        }
    }
}

#[tokio::test]
async fn the_sequencer_stores_every_completed_node_and_proofs_read_few_of_them() {
    let (store, schema) = fresh_store(4).await;
    // Batches of odd sizes, so that nodes complete across batch (transaction) boundaries.
    let mut i = 0;
    for batch in [1, 2, 7, 64, 3, 200] {
        for _ in 0..batch {
            let mut e = Event::new("state.write", Actor::system());
            e.tenant = Some("t1".into());
            e.details.insert("i".into(), i.into());
            store.audit(&e).await.unwrap();
            i += 1;
        }
        store.audit_sequence(10_000).await.unwrap();
    }
    let d = leaves(&store, "runtime:t1").await;
    assert_eq!(d.len(), 277);
    // a node per completed perfect subtree: sum over levels ≥ 1 of floor(277 / 2^level)
    let expected: i64 = (1..10).map(|l| 277 >> l).sum();
    assert_eq!(nodes(&store).await, expected);
    // the migration's fill finds nothing missing
    sqlx::query("SELECT audit_fill_nodes()")
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(nodes(&store).await, expected);
    check_proofs(&store, "runtime:t1", &d, &[1, 2, 3, 8, 64, 100, 128, 277]).await;

    // a proof needing a node nobody stored is an error, not a wrong answer
    assert!(store.audit_inclusion("runtime:nope", 0, 4).await.is_err());

    // nodes are append-only
    for sql in [
        "UPDATE audit_nodes SET hash = hash",
        "DELETE FROM audit_nodes",
        "TRUNCATE audit_nodes",
    ] {
        let err = sqlx::query(sql).execute(store.pool()).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    drop_schema(store, &schema).await;
}

#[tokio::test]
async fn a_chain_appended_before_the_nodes_existed_gets_them_filled_in() {
    let (store, schema) = fresh_store(4).await;
    let n = 1000u64;
    sqlx::query(
        "INSERT INTO audit_entries (chain, seq, leaf, leaf_hash, time, kind, actor_type, status)
         SELECT 'runtime:old', i, l, sha256('\\x00'::bytea || convert_to(l, 'UTF8')), now(), 'test.seed', 'system', 'ok'
           FROM generate_series(0, $1 - 1) AS i, LATERAL (SELECT 'leaf ' || i AS l) AS x",
    )
    .bind(n as i64)
    .execute(store.pool())
    .await
    .unwrap();
    assert!(
        store.audit_inclusion("runtime:old", 3, n).await.is_err(),
        "no nodes yet"
    );
    sqlx::query("SELECT audit_fill_nodes()")
        .execute(store.pool())
        .await
        .unwrap();
    let d: Vec<Hash> = (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect();
    assert_eq!(leaves(&store, "runtime:old").await, d);
    check_proofs(&store, "runtime:old", &d, &[1, 5, 512, 999, 1000]).await;
    drop_schema(store, &schema).await;
}
