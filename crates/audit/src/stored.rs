//! Proofs from stored subtree nodes (docs/audit.md "Proofs"; the control plane's `audit/tree.ts` does the same).
//!
//! A writer stores every completed perfect subtree of its tree as it appends: node `(level, idx)` is
//! `MTH(D[idx·2^level .. (idx+1)·2^level])` (level 0 is the leaf hash itself). An inclusion or consistency proof
//! (RFC 9162 §2.1.3.1, §2.1.4.1) is a list of range hashes `MTH(D[a..b])`; all but one of them are perfect
//! subtrees and that one splits into at most log2(n) of them, so a proof in a tree of any size reads at most
//! about 2·log2(n) stored hashes, never the tree's leaves.

use std::collections::HashMap;

use crate::tree::{empty_root, node_hash, Hash, ProofError};

/// A stored perfect subtree: `level` 0 is a leaf hash (kept with its entry), `level` ≥ 1 an interior node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub idx: u64,
}

/// A range `[a, b)` of leaves whose tree hash is one element of a proof.
pub type Range = (u64, u64);

/// The largest power of two smaller than `n` (n > 1).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The interior nodes completed by appending leaf hash `leaf` as leaf number `size` (0-based) to a tree whose
/// pending perfect subtrees, by level, are `pending` (`pending[l]` is `Some` when bit `l` of `size` is set).
/// `pending` is updated; the nodes returned are what a writer stores.
pub fn append(pending: &mut Vec<Option<Hash>>, size: u64, leaf: Hash) -> Vec<(NodeId, Hash)> {
    let mut out = Vec::new();
    let mut h = leaf;
    let mut l = 0usize;
    while (size >> l) & 1 == 1 {
        let left = pending
            .get_mut(l)
            .and_then(Option::take)
            .expect("a pending subtree per set bit");
        h = node_hash(&left, &h);
        l += 1;
        out.push((
            NodeId {
                level: l as u8,
                idx: size >> l,
            },
            h,
        ));
    }
    if pending.len() <= l {
        pending.resize(l + 1, None);
    }
    pending[l] = Some(h);
    out
}

/// The pending subtrees by level of a tree of `size` leaves given its frontier (largest first), for [`append`].
pub fn pending_of(size: u64, frontier: &[Hash]) -> Vec<Option<Hash>> {
    let mut out = vec![None; 64 - size.leading_zeros() as usize];
    let mut it = frontier.iter();
    for l in (0..out.len()).rev() {
        if (size >> l) & 1 == 1 {
            out[l] = it.next().copied();
        }
    }
    out
}

/// PATH(m, D[0..n]) of RFC 9162 §2.1.3.1 as ranges, leaf side first.
pub fn inclusion_ranges(m: u64, n: u64) -> Result<Vec<Range>, ProofError> {
    if m >= n {
        return Err(ProofError(format!("no leaf {m} in a tree of size {n}")));
    }
    let mut out = Vec::new();
    let (mut a, mut b) = (0, n);
    while b - a > 1 {
        let k = split(b - a);
        if m < a + k {
            out.push((a + k, b));
            b = a + k;
        } else {
            out.push((a, a + k));
            a += k;
        }
    }
    out.reverse();
    Ok(out)
}

/// SUBPROOF(m, D[0..n], true) of RFC 9162 §2.1.4.1 as ranges (empty for m = 0 and m = n).
pub fn consistency_ranges(m: u64, n: u64) -> Result<Vec<Range>, ProofError> {
    if m > n {
        return Err(ProofError(format!("no consistency proof from size {m} to {n}")));
    }
    let mut out = Vec::new();
    if m == 0 || m == n {
        return Ok(out);
    }
    let (mut a, mut b, mut whole) = (0, n, true);
    loop {
        if m == b {
            if !whole {
                out.push((a, b));
            }
            break;
        }
        let k = split(b - a);
        if m <= a + k {
            out.push((a + k, b));
            b = a + k;
        } else {
            out.push((a, a + k));
            a += k;
            whole = false;
        }
    }
    out.reverse();
    Ok(out)
}

/// The stored perfect subtrees whose hashes give `MTH(D[a..b])`, left to right.
pub fn parts(a: u64, b: u64, out: &mut Vec<NodeId>) {
    let n = b - a;
    if n == 0 {
        return;
    }
    if n.is_power_of_two() && a.is_multiple_of(n) {
        out.push(NodeId {
            level: n.trailing_zeros() as u8,
            idx: a / n,
        });
        return;
    }
    let k = split(n);
    parts(a, a + k, out);
    parts(a + k, b, out);
}

/// Every node the hashes of `ranges` need (deduplicated, sorted).
pub fn wanted(ranges: &[Range]) -> Vec<NodeId> {
    let mut out = Vec::new();
    for (a, b) in ranges {
        parts(*a, *b, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// `MTH(D[a..b])` from stored nodes.
pub fn range_hash(a: u64, b: u64, have: &HashMap<NodeId, Hash>) -> Result<Hash, ProofError> {
    let n = b - a;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && a.is_multiple_of(n) {
        let id = NodeId {
            level: n.trailing_zeros() as u8,
            idx: a / n,
        };
        return have
            .get(&id)
            .copied()
            .ok_or_else(|| ProofError(format!("the tree node of leaves [{a}, {b}) is not stored")));
    }
    let k = split(n);
    Ok(node_hash(&range_hash(a, a + k, have)?, &range_hash(a + k, b, have)?))
}

/// The hashes of `ranges` from stored nodes.
pub fn hashes(ranges: &[Range], have: &HashMap<NodeId, Hash>) -> Result<Vec<Hash>, ProofError> {
    ranges.iter().map(|(a, b)| range_hash(*a, *b, have)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{consistency_proof, inclusion_proof, leaf_hash, root, Frontier};

    #[test]
    fn proofs_from_stored_nodes_equal_proofs_from_all_leaves() {
        let d: Vec<Hash> = (0..70).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect();
        let mut have = HashMap::new();
        let mut pending = Vec::new();
        let mut frontier = Frontier::new();
        for (i, h) in d.iter().enumerate() {
            assert_eq!(pending_of(i as u64, &frontier.hashes()), {
                let mut p = pending.clone();
                p.resize(64 - (i as u64).leading_zeros() as usize, None);
                p
            });
            have.insert(
                NodeId {
                    level: 0,
                    idx: i as u64,
                },
                *h,
            );
            for (id, node) in append(&mut pending, i as u64, *h) {
                let span = 1u64 << id.level;
                assert_eq!(node, root(&d[(id.idx * span) as usize..((id.idx + 1) * span) as usize]));
                assert!(have.insert(id, node).is_none(), "{id:?} completed twice");
            }
            frontier.append(*h);
        }
        for n in 1..=d.len() as u64 {
            assert_eq!(range_hash(0, n, &have).unwrap(), root(&d[..n as usize]), "root {n}");
            for m in 0..n {
                let p = hashes(&inclusion_ranges(m, n).unwrap(), &have).unwrap();
                assert_eq!(p, inclusion_proof(&d, m, n).unwrap(), "inclusion {m} {n}");
            }
            for m in 0..=n {
                let p = hashes(&consistency_ranges(m, n).unwrap(), &have).unwrap();
                assert_eq!(p, consistency_proof(&d, m, n).unwrap(), "consistency {m} {n}");
            }
        }
        assert!(inclusion_ranges(5, 5).is_err());
        assert!(consistency_ranges(6, 5).is_err());
    }

    #[test]
    fn a_proof_in_a_huge_tree_needs_few_nodes() {
        let n = (1u64 << 40) + 12_345;
        for m in [0, 1, 77, n / 2, n - 1] {
            let w = wanted(&inclusion_ranges(m, n).unwrap());
            assert!(w.len() <= 2 * 41, "inclusion {m}: {} nodes", w.len());
            let w = wanted(&consistency_ranges(m.max(1), n).unwrap());
            assert!(w.len() <= 2 * 41, "consistency {m}: {} nodes", w.len());
        }
        let w = wanted(&[(0, n)]);
        assert!(w.len() <= 41);
    }

    #[test]
    fn a_missing_node_is_an_error_not_a_wrong_hash() {
        let have = HashMap::new();
        assert!(range_hash(0, 3, &have).is_err());
    }
}
