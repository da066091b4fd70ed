//! Verification throughput of the Rust chain verifier (issue 10: ≥ 200,000 entries/s), the one the runtime's
//! scheduled self-verification uses (crates/store/src/audit_verify.rs). Builds a realistic chain in memory (the
//! entries of bench/audit-verify.mjs: ~600-byte leaves, every member set, a signed checkpoint per 1,000 entries),
//! then times `verify_chain` on one thread, with and without the RFC 8785 re-check of every leaf, best of
//! `--rounds`. Prints one JSON line.
//!   cargo run --release -p cfp-audit --example verify_bench -- [entries, default 300000] [rounds, default 3]

use std::time::Instant;

use cfp_audit::note::{checkpoint_body, origin};
use cfp_audit::verify::{verify_chain, Options, Stored};
use cfp_audit::{seal, AuditKey, Frontier, ZERO_HASH};
use serde_json::json;

const KINDS: [&str; 4] = ["project.update", "auth.login", "state.write", "api_key.create"];

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(300_000);
    let rounds = args.get(1).copied().unwrap_or(3).max(1);
    let chain = "control:t_bench";
    let key = AuditKey::from_seed("cfp-audit-bench", &[7; 32]).expect("key");
    let (mut entries, mut notes, mut bytes) = (Vec::with_capacity(n as usize), Vec::new(), 0usize);
    let (mut prev, mut frontier) = (ZERO_HASH.to_string(), Frontier::new());
    let built = Instant::now();
    for i in 0..n {
        let event = json!({
            "time": format!("2026-12-07T{:02}:{:02}:{:02}.{:03}Z", (i / 3_600_000) % 24, (i / 60_000) % 60, (i / 1000) % 60, i % 1000),
            "kind": KINDS[(i % 4) as usize],
            "actor": {"type": "user", "id": format!("u_{}", i % 977), "name": format!("User {}", i % 977), "auth": "session"},
            "sid": format!("s_{}", (i * 7) % 1013),
            "scope": {"tenant": "t_bench", "team": format!("team_{}", i % 7), "project": format!("p_{}", i % 31)},
            "target": {"type": "project", "id": format!("p_{}", i % 31)},
            "outcome": if i % 50 == 0 { json!({"status": "denied", "code": "FORBIDDEN"}) } else { json!({"status": "ok", "code": null}) },
            "request": {
                "id": format!("req_{i:x}"),
                "trace": format!("00-{i:032x}-{}-01", "b".repeat(16)),
                "addr": "203.0.113.9",
                "ua": "Mozilla/5.0 (X11; Linux x86_64)",
            },
            "details": {"changed": ["name", "description"], "name": format!("Project {}", i % 31), "bytes": i * 13},
        });
        let s = seal(&event, chain, i, &prev).expect("seal");
        prev = hex::encode(s.hash);
        frontier.append(s.hash);
        bytes += s.leaf.len();
        entries.push(Stored {
            leaf: s.leaf,
            leaf_hash: Some(prev.clone()),
        });
        if (i + 1) % 1000 == 0 {
            notes.push(key.sign(&checkpoint_body(&origin(chain), i + 1, &frontier.root())));
        }
    }
    let build_s = built.elapsed().as_secs_f64();
    let keys = [key.public()];
    let mut results = Vec::new();
    for canonical in [true, false] {
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let input = entries.clone();
            let t = Instant::now();
            let v = verify_chain(
                chain,
                input,
                &notes,
                &keys,
                Options {
                    canonical,
                    ..Options::default()
                },
            )
            .expect("verifies");
            best = best.min(t.elapsed().as_secs_f64());
            assert_eq!(v.size, n);
        }
        results.push(json!({
            "canonical": canonical,
            "entries_per_s": (n as f64 / best).round(),
            "seconds": (best * 1000.0).round() / 1000.0,
        }));
    }
    println!(
        "{}",
        json!({
            "entries": n,
            "mean_leaf_bytes": bytes / n.max(1) as usize,
            "checkpoints": notes.len(),
            "build_s": (build_s * 100.0).round() / 100.0,
            "rounds": rounds,
            "verify": results,
            "target_entries_per_s": 200_000,
        })
    );
}
