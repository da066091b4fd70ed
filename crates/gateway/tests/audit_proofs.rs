//! Attack: a holder of `audit.runtime.read` fires many concurrent proof requests at a large chain. Proofs are read
//! from stored tree nodes (O(log n) rows each), so the runtime's memory stays flat however large the chain, and
//! every answer verifies against the root computed here from all the chain's leaves.

mod common;

use std::time::Instant;

use cfp_audit::tree::{leaf_hash, root, verify_consistency, verify_inclusion, Frontier, Hash};
use common::*;
use serde_json::Value;

/// Entries in the chain: above 2^17, so that the tree is not perfect.
const N: u64 = (1 << 17) + 5;
const CHAIN: &str = "runtime:big";

fn h(s: &Value) -> Hash {
    hex::decode(s.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn path(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(h).collect()
}

/// Peak resident memory of this process (nextest runs each test in its own), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A chain of `N` entries written straight into the tables (as a long-running runtime would have appended them),
/// its tree nodes filled in by the migration's `audit_fill_nodes()`.
async fn seed(rt: &Runtime) -> Vec<Hash> {
    sqlx::query(
        "INSERT INTO audit_entries (chain, seq, leaf, leaf_hash, time, kind, actor_type, status)
         SELECT $1, i, l, sha256('\\x00'::bytea || convert_to(l, 'UTF8')), now(), 'test.seed', 'system', 'ok'
           FROM generate_series(0, $2 - 1) AS i, LATERAL (SELECT '{\"n\":' || i || '}' AS l) AS x",
    )
    .bind(CHAIN)
    .bind(N as i64)
    .execute(rt.store.pool())
    .await
    .unwrap();
    sqlx::query("SELECT audit_fill_nodes()")
        .execute(rt.store.pool())
        .await
        .unwrap();
    let leaves: Vec<Hash> = (0..N).map(|i| leaf_hash(format!("{{\"n\":{i}}}").as_bytes())).collect();
    let mut f = Frontier::new();
    leaves.iter().for_each(|l| f.append(*l));
    sqlx::query("INSERT INTO audit_heads (chain, size, prev, frontier, checkpoint_size) VALUES ($1, $2, $3, $4, $2)")
        .bind(CHAIN)
        .bind(N as i64)
        .bind(leaves.last().unwrap().as_slice())
        .bind(f.hashes().concat())
        .execute(rt.store.pool())
        .await
        .unwrap();
    leaves
}

#[tokio::test]
async fn concurrent_proofs_on_a_large_chain_keep_memory_flat_and_verify() {
    let rt = start(RuntimeOptions::default()).await;
    let leaves = seed(&rt).await;
    let full_root = root(&leaves);
    let before = peak_rss_kib();

    // 96 concurrent requests: inclusion proofs of leaves spread over the chain in the whole tree, and consistency
    // proofs from sizes spread over it to the whole tree. Those the gate turns away (429) are asked again one at a
    // time afterwards: every proof must be answered and verify.
    let ask = |i: u64| {
        let addr = rt.addr;
        async move {
            let x = (i * 7919 * 1361) % N;
            let (q, x) = if i.is_multiple_of(2) {
                (format!("/__cfp/api/audit/entries/{CHAIN}/{x}?tree_size={N}"), x)
            } else {
                let x = x.max(1);
                (
                    format!("/__cfp/api/audit/consistency?chain={CHAIN}&first={x}&second={N}"),
                    x,
                )
            };
            let r = http(addr, "GET", &q, &[("authorization", &format!("Bearer {ADMIN}"))], b"").await;
            (i, x, r)
        }
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..96u64).map(|i| tokio::spawn(ask(i))).collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let grown_kib = peak_rss_kib().saturating_sub(before);
    let mut refused = 0;
    for (i, x, r) in answers {
        let r = if r.status == 429 {
            assert_eq!(r.json()["error"]["code"], "limit_exceeded");
            refused += 1;
            ask(i).await.2
        } else {
            r
        };
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let body = r.json();
        if i.is_multiple_of(2) {
            assert_eq!(h(&body["root"]), full_root);
            assert_eq!(h(&body["leafHash"]), leaves[x as usize]);
            let p = path(&body["proof"]["path"]);
            assert!(p.len() <= 18, "an audit path of {} hashes", p.len());
            assert!(
                verify_inclusion(&leaves[x as usize], x, N, &p, &full_root),
                "inclusion of {x}"
            );
        } else {
            let first_root = root(&leaves[..x as usize]);
            assert_eq!(h(&body["firstRoot"]), first_root);
            assert_eq!(h(&body["secondRoot"]), full_root);
            assert!(
                verify_consistency(x, N, &first_root, &full_root, &path(&body["path"])),
                "consistency from {x}"
            );
        }
    }
    eprintln!(
        "96 concurrent proofs on {N} entries: {} answered, {refused} refused (429) in {elapsed:?}; peak RSS grew {grown_kib} KiB",
        96 - refused
    );
    // Reading the leaf hashes per request (the old way) costs ≥ 4 MiB of hashes alone per request at this size.
    assert!(grown_kib < 24 * 1024, "peak RSS grew {grown_kib} KiB");
    rt.stop().await;
}
