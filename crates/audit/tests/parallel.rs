//! The parallel inspection of `ChainVerifier::push_all` (and so `verify_chain`) finds exactly what pushing one
//! entry at a time finds, on a chain long enough to be split across threads: the same finding at the same seq for
//! an edited leaf, a leaf with a stale hash, a swap, a deletion and a non-canonical leaf, and the same result for
//! the intact chain.

use cfp_audit::note::{checkpoint_body, origin};
use cfp_audit::verify::{verify_chain, ChainVerifier, Options, Stored};
use cfp_audit::{seal, AuditKey, Frontier, ZERO_HASH};
use serde_json::json;

const CHAIN: &str = "runtime:t1";

fn chain(n: u64) -> (Vec<Stored>, Vec<String>, AuditKey) {
    let key = AuditKey::from_seed("cfp-audit-test", &[3; 32]).unwrap();
    let (mut out, mut notes, mut prev, mut f) = (Vec::new(), Vec::new(), ZERO_HASH.to_string(), Frontier::new());
    for i in 0..n {
        let event = json!({"time": "2026-12-08T00:00:00.000Z", "kind": "state.write", "details": {"i": i}});
        let s = seal(&event, CHAIN, i, &prev).unwrap();
        prev = hex::encode(s.hash);
        f.append(s.hash);
        out.push(Stored {
            leaf: s.leaf,
            leaf_hash: Some(prev.clone()),
        });
        if (i + 1) % 500 == 0 {
            notes.push(key.sign(&checkpoint_body(&origin(CHAIN), i + 1, &f.root())));
        }
    }
    (out, notes, key)
}

fn one_by_one(entries: &[Stored], notes: &[String], key: &AuditKey) -> String {
    let mut v = ChainVerifier::new(CHAIN, notes, &[key.public()], Options::default()).unwrap();
    for e in entries {
        if let Err(f) = v.push(e.clone()) {
            return format!("{} {}", f.finding.as_str(), f.seq);
        }
    }
    v.finish().map_or_else(
        |f| format!("{} {}", f.finding.as_str(), f.seq),
        |ok| format!("ok {}", ok.size),
    )
}

fn at_once(entries: &[Stored], notes: &[String], key: &AuditKey) -> String {
    verify_chain(CHAIN, entries.to_vec(), notes, &[key.public()], Options::default()).map_or_else(
        |f| format!("{} {}", f.finding.as_str(), f.seq),
        |ok| format!("ok {}", ok.size),
    )
}

#[test]
fn parallel_inspection_finds_what_sequential_inspection_finds() {
    let (intact, notes, key) = chain(3000);
    let edit = |i: usize, f: &dyn Fn(&mut Stored)| {
        let mut c = intact.clone();
        f(&mut c[i]);
        c
    };
    let mut swapped = intact.clone();
    swapped.swap(2100, 2101);
    let mut deleted = intact.clone();
    deleted.remove(1700);
    let cases = vec![
        ("intact", intact.clone()),
        (
            "edited",
            edit(2500, &|e| e.leaf = e.leaf.replace("\"i\":2500", "\"i\":2501")),
        ),
        ("stale hash", edit(1200, &|e| e.leaf_hash = Some("00".repeat(32)))),
        ("not canonical", edit(2999, &|e| e.leaf = e.leaf.replacen('{', "{ ", 1))),
        ("swapped", swapped),
        ("deleted", deleted),
    ];
    for (name, entries) in cases {
        let (a, b) = (one_by_one(&entries, &notes, &key), at_once(&entries, &notes, &key));
        assert_eq!(a, b, "{name}");
        if name == "intact" {
            assert_eq!(a, "ok 3000");
        } else {
            assert!(!a.starts_with("ok"), "{name}: {a}");
        }
    }
}
