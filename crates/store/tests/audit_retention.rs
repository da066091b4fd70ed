//! Retention and legal hold of the runtime's audit chain (migration 0015, docs/audit.md): pruning only below a
//! signed checkpoint, never under a hold, audited; the pruned chain verifies from its pruning record and still
//! serves proofs; rows deleted without a record are `missing`, a forged record and a pruning made behind the plane
//! (no `audit.pruned` entry) are `bad_prune` (checked by the runtime's own verifier, `cfp_store::audit_verify`); the runtime's role
//! cannot call the pruning function.

use std::time::{Duration, SystemTime};

use cfp_audit::tree::{consistency_proof, Hash};
use cfp_audit::verify::Finding;
use cfp_audit::{Actor, Event};
use cfp_store::audit::{AuditOptions, KeySource};
use cfp_store::Store;
use cfp_testkit::{drop_schema, fresh_store};
use sqlx::Connection;

const CHAIN: &str = "runtime:t1";

/// `n` events of tenant t1, sequenced, and (when `sign`) a checkpoint at the new size.
async fn append(store: &Store, n: usize, sign: bool) {
    for i in 0..n {
        let mut e = Event::new("state.write", Actor::system());
        e.tenant = Some("t1".into());
        e.details.insert("i".into(), i.into());
        store.audit(&e).await.unwrap();
    }
    store.audit_sequence(10_000).await.unwrap();
    if sign {
        let key = store.audit_key(&KeySource::Ephemeral).await.unwrap();
        let opts = AuditOptions {
            checkpoint_every: 1,
            ..Default::default()
        };
        store.audit_checkpoint_due(&key, &opts).await.unwrap();
    }
}

async fn size(store: &Store) -> u64 {
    store.audit_head(CHAIN).await.unwrap().unwrap().size
}

/// Verifies the chain as `conn` sees it, from its latest pruning record: what the runtime's scheduled verification
/// runs (`cfp_store::audit_verify`).
async fn verify(store: &Store, conn: &mut sqlx::PgConnection) -> Result<cfp_audit::Verified, cfp_audit::Failure> {
    let keys: Vec<_> = store
        .audit_public_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.0)
        .collect();
    cfp_store::audit_verify::verify_chain_in(conn, CHAIN, &keys)
        .await
        .unwrap()
}

#[tokio::test]
async fn pruning_is_checkpointed_held_audited_verifiable_and_not_forgeable() {
    let (store, schema) = fresh_store(4).await;
    append(&store, 10, true).await; // checkpoint at 10
    append(&store, 5, false).await;
    let all: Vec<Hash> =
        sqlx::query_scalar::<_, Vec<u8>>("SELECT leaf_hash FROM audit_entries WHERE chain = $1 ORDER BY seq")
            .bind(CHAIN)
            .fetch_all(store.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.try_into().unwrap())
            .collect();

    // only a size a signed checkpoint has: not above the last checkpoint, not between
    for bad in [12, 15, 4] {
        let e = store.audit_prune(None, CHAIN, bad, "test").await.unwrap_err();
        assert!(e.to_string().contains("no signed checkpoint"), "{bad}: {e}");
    }

    // a legal hold blocks pruning; placing and releasing it are audited
    let hold = store
        .audit_place_hold("t1", "litigation 7", Actor::system())
        .await
        .unwrap();
    let e = store.audit_prune(None, CHAIN, 10, "test").await.unwrap_err();
    assert!(e.to_string().contains("legal hold"), "{e}");
    assert!(store
        .audit_prune_due(1, SystemTime::now() + Duration::from_secs(3 * 86_400))
        .await
        .unwrap()
        .is_empty());
    assert!(store.audit_release_hold("t1", hold, Actor::system()).await.unwrap());
    assert!(!store.audit_release_hold("t1", hold, Actor::system()).await.unwrap());

    let p = store.audit_prune(None, CHAIN, 10, "test").await.unwrap();
    assert_eq!((p.from, p.size, p.entries), (0, 10, 10));
    append(&store, 2, true).await;
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_entries WHERE chain = $1 AND kind LIKE 'audit.%' ORDER BY seq")
            .bind(CHAIN)
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(kinds, ["audit.hold.placed", "audit.hold.released", "audit.pruned"]);

    // the pruned chain verifies from its record, and proofs reaching into the pruned range still read stored hashes
    let mut conn = store.pool().acquire().await.unwrap();
    let ok = verify(&store, &mut conn).await.unwrap();
    assert_eq!((ok.from, ok.size), (10, size(&store).await));
    let proof = store.audit_consistency(CHAIN, 5, 15).await.unwrap();
    assert_eq!(proof.path, consistency_proof(&all, 5, 15).unwrap());

    // behind the triggers, as a superuser: rows deleted without a record are missing; a forged record is bad_prune
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_entries WHERE chain = $1 AND seq = 11")
        .bind(CHAIN)
        .execute(&mut *tx)
        .await
        .unwrap();
    let f = verify(&store, &mut tx).await.unwrap_err();
    assert_eq!((f.finding, f.seq), (Finding::Missing, 11), "{f}");
    sqlx::query(
        "INSERT INTO audit_prunes (chain, size, from_seq, frontier, prev, note, pruned_by)
         SELECT chain, 12, 10, frontier || $2, $2, note, 'forger' FROM audit_prunes WHERE chain = $1",
    )
    .bind(CHAIN)
    .bind(all[11].to_vec())
    .execute(&mut *tx)
    .await
    .unwrap();
    let f = verify(&store, &mut tx).await.unwrap_err();
    assert_eq!((f.finding, f.seq), (Finding::BadPrune, 11), "{f}");
    tx.rollback().await.unwrap();

    // behind the plane: a superuser calls the pruning function itself, which writes a correct record but no
    // audit.pruned entry: the record the verification starts from is bad_prune
    append(&store, 3, true).await;
    let mut tx = conn.begin().await.unwrap();
    let to: i64 = sqlx::query_scalar("SELECT max(size) FROM audit_checkpoints WHERE chain = $1")
        .bind(CHAIN)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SELECT * FROM audit_prune($1, $2, 'rogue superuser')")
        .bind(CHAIN)
        .bind(to)
        .execute(&mut *tx)
        .await
        .unwrap();
    let f = verify(&store, &mut tx).await.unwrap_err();
    assert_eq!(f.finding, Finding::BadPrune, "{f}");
    assert!(f.detail.contains("no audit.pruned entry"), "{f}");
    tx.rollback().await.unwrap();
    let ok = verify(&store, &mut conn).await.unwrap();
    assert_eq!(ok.from, 10, "the honest pruning still verifies");

    // the runtime's role (granted what it uses of the audit tables) cannot call audit_prune nor delete entries
    let role = format!("cfp_rt_app_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut tx = conn.begin().await.unwrap();
    for sql in [
        format!("CREATE ROLE {role} NOLOGIN"),
        format!("GRANT USAGE ON SCHEMA \"{schema}\" TO {role}"),
        format!("GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA \"{schema}\" TO {role}"),
        format!("SET LOCAL ROLE {role}"),
        "SAVEPOINT a".into(),
    ] {
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    let e = sqlx::query("SELECT * FROM audit_prune($1, 10, 'app')")
        .bind(CHAIN)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("permission denied for function audit_prune"),
        "{e}"
    );
    sqlx::query("ROLLBACK TO SAVEPOINT a").execute(&mut *tx).await.unwrap();
    let e = sqlx::query("DELETE FROM audit_entries WHERE chain = $1")
        .bind(CHAIN)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("permission denied"), "{e}");
    tx.rollback().await.unwrap();

    // retention: a tenant's row (audited) makes its checkpointed ranges due once their last entry is that old
    store.audit_set_retention("t1", Some(1), Actor::system()).await.unwrap();
    let last: i64 = sqlx::query_scalar("SELECT max(size) FROM audit_checkpoints WHERE chain = $1")
        .bind(CHAIN)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(store.audit_prune_due(0, SystemTime::now()).await.unwrap().is_empty());
    let later = SystemTime::now() + Duration::from_secs(2 * 86_400);
    assert_eq!(
        store.audit_prune_due(0, later).await.unwrap(),
        vec![(CHAIN.to_string(), last as u64)]
    );
    drop(conn);
    drop_schema(store, &schema).await;
}
