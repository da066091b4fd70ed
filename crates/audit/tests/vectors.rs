//! The shared known-answer vectors of `audit/vectors/` (docs/audit.md), which the TypeScript writer and every
//! verifier pass too.

use cfp_audit::entry::bound_entry;
use cfp_audit::note::{checkpoint_body, key_id, verify_note, AuditKey, PublicKey};
use cfp_audit::tree::{
    consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion, Hash,
};
use cfp_audit::verify::{verify_chain, ChainStart, Options, Stored};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../../audit/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn h(v: &Value) -> Hash {
    hex::decode(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(h).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().map_or(Vec::new(), |a| {
        a.iter().map(|s| s.as_str().unwrap().to_string()).collect()
    })
}

#[test]
fn canonical_json() {
    let v = load("canonical.json");
    for c in v["cases"].as_array().unwrap() {
        let input: Value = cfp_audit::jcs::parse(c["input"].as_str().unwrap()).unwrap();
        assert_eq!(
            cfp_audit::canonicalize(&input).unwrap(),
            c["output"].as_str().unwrap(),
            "{}",
            c["name"]
        );
    }
    for c in v["invalid"].as_array().unwrap() {
        let refused = cfp_audit::jcs::parse(c["input"].as_str().unwrap())
            .map_err(|_| ())
            .and_then(|v| cfp_audit::canonicalize(&v).map_err(|_| ()));
        assert!(refused.is_err(), "{}", c["name"]);
    }
}

#[test]
fn tree_hashes_roots_and_proofs() {
    let v = load("tree.json");
    let leaves: Vec<Hash> = v["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let lh = leaf_hash(&hex::decode(l["input"].as_str().unwrap()).unwrap());
            assert_eq!(lh, h(&l["leaf_hash"]));
            lh
        })
        .collect();
    for (n, r) in v["roots"].as_array().unwrap().iter().enumerate() {
        assert_eq!(root(&leaves[..n]), h(r), "root at {n}");
    }
    for p in v["inclusion"].as_array().unwrap() {
        let (m, n) = (p["leaf_index"].as_u64().unwrap(), p["tree_size"].as_u64().unwrap());
        let path = hashes(&p["path"]);
        assert_eq!(inclusion_proof(&leaves, m, n).unwrap(), path, "inclusion {m} {n}");
        assert!(verify_inclusion(
            &leaves[m as usize],
            m,
            n,
            &path,
            &root(&leaves[..n as usize])
        ));
    }
    for p in v["consistency"].as_array().unwrap() {
        let (m, n) = (p["first"].as_u64().unwrap(), p["second"].as_u64().unwrap());
        let path = hashes(&p["path"]);
        assert_eq!(consistency_proof(&leaves, m, n).unwrap(), path, "consistency {m} {n}");
        assert!(verify_consistency(
            m,
            n,
            &root(&leaves[..m as usize]),
            &root(&leaves[..n as usize]),
            &path
        ));
    }
}

#[test]
fn chain_entries_leaves_links_roots_and_bounds() {
    let v = load("chain.json");
    let mut prev = cfp_audit::ZERO_HASH.to_string();
    let mut frontier = cfp_audit::Frontier::new();
    for e in v["entries"].as_array().unwrap() {
        let entry = &e["entry"];
        assert_eq!(entry["prev"].as_str().unwrap(), prev);
        let mut members = entry.clone();
        let o = members.as_object_mut().unwrap();
        let (chain, seq) = (o["chain"].as_str().unwrap().to_string(), o["seq"].as_u64().unwrap());
        for k in ["v", "chain", "seq", "prev"] {
            o.remove(k);
        }
        let sealed = cfp_audit::seal(&members, &chain, seq, &prev).unwrap();
        assert_eq!(sealed.leaf, e["leaf"].as_str().unwrap(), "leaf of seq {seq}");
        assert_eq!(sealed.hash, h(&e["leaf_hash"]));
        frontier.append(sealed.hash);
        assert_eq!(frontier.root(), h(&e["root"]));
        prev = hex::encode(sealed.hash);
    }
    for b in v["bounds"].as_array().unwrap() {
        assert_eq!(bound_entry(&b["input"]), b["output"], "{}", b["name"]);
    }
}

fn key_of(v: &Value) -> (AuditKey, PublicKey) {
    let seed: [u8; 32] = h(&v["seed"]);
    let key = AuditKey::from_seed(v["name"].as_str().unwrap(), &seed).unwrap();
    let public = key.public();
    assert_eq!(hex::encode(public.key), v["public_key"].as_str().unwrap());
    assert_eq!(
        hex::encode(key_id(&public.name, &public.key)),
        v["key_id"].as_str().unwrap()
    );
    assert_eq!(public.verifier_key(), v["verifier_key"].as_str().unwrap());
    (key, public)
}

#[test]
fn checkpoints_signed_notes_and_verifier_keys() {
    let v = load("checkpoint.json");
    let (key, public) = key_of(&v["key"]);
    let (_, public2) = key_of(&v["key2"]);
    let by_name = |n: &str| {
        if n == public.name {
            public.clone()
        } else {
            public2.clone()
        }
    };
    for c in v["checkpoints"].as_array().unwrap() {
        let body = checkpoint_body(
            c["origin"].as_str().unwrap(),
            c["size"].as_u64().unwrap(),
            &h(&c["root"]),
        );
        assert_eq!(body, c["body"].as_str().unwrap());
        assert_eq!(key.sign(&body), c["note"].as_str().unwrap(), "Ed25519 is deterministic");
    }
    for c in v["verify"].as_array().unwrap() {
        let keys: Vec<PublicKey> = strs(&c["keys"]).iter().map(|n| by_name(n)).collect();
        let got = verify_note(c["note"].as_str().unwrap(), &keys);
        assert_eq!(got.is_ok(), c["valid"].as_bool().unwrap(), "{}: {got:?}", c["name"]);
        if let (Ok(cp), Some(size)) = (&got, c["size"].as_u64()) {
            assert_eq!(cp.size, size, "{}", c["name"]);
        }
    }
    // an independent implementation's key and note (Go's sumdb/note documentation)
    let ext = &v["external"];
    let public = PublicKey::parse(ext["verifier_key"].as_str().unwrap()).expect("Go's verifier key parses");
    let note = ext["note"].as_str().unwrap();
    let cut = note.rfind("\n\n").unwrap();
    assert_eq!(&note[..cut + 1], ext["text"].as_str().unwrap());
    // the signer reproduces it byte for byte from its seed
    let signer = ext["signer_key"]
        .as_str()
        .unwrap()
        .strip_prefix("PRIVATE+KEY+")
        .unwrap();
    let mut parts = signer.splitn(3, '+');
    let (name, _, data) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
    let go = AuditKey::from_seed(name, &raw[1..].try_into().unwrap()).unwrap();
    assert_eq!(go.public(), public);
    assert_eq!(go.sign(ext["text"].as_str().unwrap()), note);
    // its body is free text, not a checkpoint: the signature verifies, the body is then refused as one
    let err = verify_note(note, &[public]).unwrap_err();
    assert!(err.contains("body"), "{err}");
}

#[test]
fn tampered_chains_are_named() {
    let v = load("tamper.json");
    let cp = load("checkpoint.json");
    let keys: Vec<PublicKey> = strs(&v["keys"]).iter().map(|k| PublicKey::parse(k).unwrap()).collect();
    assert!(!keys.is_empty() && cp["key"].is_object());
    let chain = v["chain"].as_str().unwrap();
    for c in v["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let entries: Vec<Stored> = c["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| Stored {
                leaf: e["leaf"].as_str().unwrap_or_default().to_string(),
                leaf_hash: e["leaf_hash"].as_str().map(str::to_string),
            })
            .collect();
        let start = c.get("start").map(|s| ChainStart {
            size: s["size"].as_u64().unwrap(),
            frontier: strs(&s["frontier"]),
            prev: s["prev"].as_str().unwrap().to_string(),
        });
        let proofs = c["proofs"].as_array().map_or(Vec::new(), |list| {
            list.iter()
                .map(|p| {
                    (
                        p["first"].as_u64().unwrap(),
                        p["second"].as_u64().unwrap(),
                        strs(&p["path"]),
                    )
                })
                .collect()
        });
        let opts = Options {
            start,
            complete: c["complete"].as_bool().unwrap_or(true),
            proofs,
            canonical: true,
            pruned: c["pruned"].as_bool().unwrap_or(false),
        };
        let got = verify_chain(chain, entries, &strs(&c["checkpoints"]), &keys, opts);
        let want = &c["expect"];
        match got {
            Ok(ok) => {
                assert!(want["ok"].as_bool().unwrap(), "{name}: verified, expected {want}");
                assert_eq!(ok.size, want["size"].as_u64().unwrap(), "{name}");
            }
            Err(f) => {
                assert!(!want["ok"].as_bool().unwrap(), "{name}: {f}");
                assert_eq!(f.finding.as_str(), want["finding"].as_str().unwrap(), "{name}: {f}");
                assert_eq!(f.seq, want["seq"].as_u64().unwrap(), "{name}: {f}");
            }
        }
    }
}

/// Garbage never crashes the verifier: every prefix and byte flip of a valid chain's leaves and notes is either
/// verified or reported.
#[test]
fn mutated_leaves_and_notes_are_reported_never_a_panic() {
    let v = load("tamper.json");
    let keys: Vec<PublicKey> = strs(&v["keys"]).iter().map(|k| PublicKey::parse(k).unwrap()).collect();
    let chain = v["chain"].as_str().unwrap();
    let case = &v["cases"][0];
    let leaves: Vec<String> = case["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["leaf"].as_str().unwrap().to_string())
        .collect();
    let notes = strs(&case["checkpoints"]);
    let run = |leaves: &[String], notes: &[String]| {
        let entries = leaves.iter().map(|l| Stored {
            leaf: l.clone(),
            leaf_hash: None,
        });
        verify_chain(chain, entries, notes, &keys, Options::default())
    };
    assert!(run(&leaves, &notes).is_ok());
    let target = &leaves[5];
    for cut in (0..target.len()).step_by(7) {
        let mut bad = leaves.clone();
        bad[5] = target.get(..cut).unwrap_or_default().to_string();
        assert!(run(&bad, &notes).is_err(), "a leaf cut at {cut}");
    }
    for (i, note) in notes.iter().enumerate() {
        for cut in 0..note.len() {
            let Some(prefix) = note.get(..cut) else { continue };
            let mut bad = notes.clone();
            bad[i] = prefix.to_string();
            assert!(run(&leaves, &bad).is_err(), "note {i} cut at {cut}");
        }
        for pos in 0..note.len() {
            let mut bytes = note.clone().into_bytes();
            bytes[pos] ^= 0x01;
            let Ok(flipped) = String::from_utf8(bytes) else {
                continue;
            };
            let mut bad = notes.clone();
            bad[i] = flipped;
            let _ = run(&leaves, &bad); // reported or (for a flip the note format tolerates) verified: never a panic
        }
    }
}
