//! The RFC 9162 Merkle tree (docs/audit.md "Hashes", "Proofs"): leaf and node hashes, the tree hash of a list of
//! leaf hashes, inclusion and consistency proofs and their verification (§2.1.3.2, §2.1.4.2), and a [`Frontier`]
//! — the O(log n) perfect subtree roots — that gives the root of a growing tree without keeping its leaves.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || l || r)`.
pub fn node_hash(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[0..n])` of leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Why a proof cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofError(pub String);

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProofError {}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1).
pub fn inclusion_proof(leaves: &[Hash], index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
    if size > leaves.len() as u64 || index >= size {
        return Err(ProofError(format!(
            "no leaf {index} in a tree of size {size} (of {} leaves)",
            leaves.len()
        )));
    }
    let mut path = Vec::new();
    path_of(index as usize, &leaves[..size as usize], &mut path);
    Ok(path)
}

fn path_of(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n as u64) as usize;
    if m < k {
        path_of(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path_of(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// The consistency proof from the tree of the first `first` leaves to that of the first `second` (§2.1.4.1).
pub fn consistency_proof(leaves: &[Hash], first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
    if second > leaves.len() as u64 || first > second {
        return Err(ProofError(format!(
            "no consistency proof from size {first} to {second} (of {} leaves)",
            leaves.len()
        )));
    }
    let mut path = Vec::new();
    if first > 0 && first < second {
        subproof(first as usize, &leaves[..second as usize], true, &mut path);
    }
    Ok(path)
}

fn subproof(m: usize, d: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !whole {
            out.push(root(d));
        }
        return;
    }
    let k = split(n as u64) as usize;
    if m <= k {
        subproof(m, &d[..k], whole, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Whether `path` proves leaf hash `leaf` at `index` in the tree of `size` with root `root` (§2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && &r == root
}

/// Whether `path` proves the tree of size `second` with root `second_root` extends the tree of size `first` with
/// root `first_root` (§2.1.4.2; equal sizes need an empty path and equal roots; size 0 is extended by anything).
pub fn verify_consistency(first: u64, second: u64, first_root: &Hash, second_root: &Hash, path: &[Hash]) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return path.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return path.is_empty();
    }
    if path.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = path.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let (mut f_n, mut s_n) = (first - 1, second - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    &fr == first_root && &sr == second_root && s_n == 0
}

/// The perfect subtree roots of a tree (largest first): appending is amortised O(1), the root is O(log n), and
/// memory is O(log n) however long the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    stack: Vec<(u64, Hash)>,
    size: u64,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of a tree of `size` leaves given its perfect subtree roots, largest first.
    pub fn from_hashes(size: u64, hashes: &[Hash]) -> Result<Self, ProofError> {
        let sizes: Vec<u64> = (0..64).rev().map(|b| 1u64 << b).filter(|b| size & b != 0).collect();
        if sizes.len() != hashes.len() {
            return Err(ProofError(format!(
                "a frontier of size {size} has {} hashes, not {}",
                sizes.len(),
                hashes.len()
            )));
        }
        Ok(Self {
            stack: sizes.into_iter().zip(hashes.iter().copied()).collect(),
            size,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtree roots, largest first.
    pub fn hashes(&self) -> Vec<Hash> {
        self.stack.iter().map(|(_, h)| *h).collect()
    }

    pub fn append(&mut self, leaf: Hash) {
        let mut e = (1u64, leaf);
        while let Some(last) = self.stack.last().filter(|l| l.0 == e.0) {
            e = (e.0 * 2, node_hash(&last.1, &e.1));
            self.stack.pop();
        }
        self.stack.push(e);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some(&(_, mut h)) = it.next() else {
            return empty_root();
        };
        for (_, l) in it {
            h = node_hash(l, &h);
        }
        h
    }
}

/// The consistency proof from the tree `old` (its frontier) to that tree extended by `new_leaves`, and the new
/// root: what a writer that keeps only frontiers needs to check a new checkpoint against the previous one.
pub fn consistency_from_frontier(old: &Frontier, new_leaves: &[Hash]) -> Result<(Vec<Hash>, Hash), ProofError> {
    let m = old.size;
    let n = m + new_leaves.len() as u64;
    // The perfect subtrees of the old tree: (start, size, hash).
    let mut at = 0;
    let tiles: Vec<(u64, u64, Hash)> = old
        .stack
        .iter()
        .map(|(s, h)| {
            at += s;
            (at - s, *s, *h)
        })
        .collect();
    let mth = |a: u64, b: u64| -> Result<Hash, ProofError> { range_hash(a, b, m, &tiles, new_leaves) };
    let mut path = Vec::new();
    if m > 0 && m < n {
        frontier_subproof(m, 0, n, true, &mth, &mut path)?;
    }
    Ok((path, mth(0, n)?))
}

fn range_hash(a: u64, b: u64, m: u64, tiles: &[(u64, u64, Hash)], new: &[Hash]) -> Result<Hash, ProofError> {
    if a >= m {
        return Ok(root(&new[(a - m) as usize..(b - m) as usize]));
    }
    if b <= m {
        let parts: Vec<&(u64, u64, Hash)> = tiles.iter().filter(|t| t.0 >= a && t.0 + t.1 <= b).collect();
        let covered: u64 = parts.iter().map(|t| t.1).sum();
        if parts.first().is_some_and(|t| t.0 == a) && covered == b - a {
            let mut it = parts.iter().rev();
            let mut h = it.next().expect("non-empty").2;
            for t in it {
                h = node_hash(&t.2, &h);
            }
            return Ok(h);
        }
    }
    if b - a == 1 {
        return Err(ProofError(format!("leaf {a} of the old tree is not in its frontier")));
    }
    let k = split(b - a);
    Ok(node_hash(
        &range_hash(a, a + k, m, tiles, new)?,
        &range_hash(a + k, b, m, tiles, new)?,
    ))
}

fn frontier_subproof(
    m: u64,
    a: u64,
    b: u64,
    whole: bool,
    mth: &dyn Fn(u64, u64) -> Result<Hash, ProofError>,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = b - a;
    if m == n {
        if !whole {
            out.push(mth(a, b)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        frontier_subproof(m, a, a + k, whole, mth, out)?;
        out.push(mth(a + k, b)?);
    } else {
        frontier_subproof(m - k, a + k, b, false, mth, out)?;
        out.push(mth(a, a + k)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies_and_a_changed_one_does_not() {
        let d = leaves(33);
        let mut f = Frontier::new();
        for n in 0..=d.len() as u64 {
            let r = root(&d[..n as usize]);
            assert_eq!(f.root(), r, "frontier root at {n}");
            assert_eq!(Frontier::from_hashes(n, &f.hashes()).unwrap(), f);
            for m in 0..n {
                let p = inclusion_proof(&d, m, n).unwrap();
                assert!(verify_inclusion(&d[m as usize], m, n, &p, &r), "inclusion {m} {n}");
                assert!(!verify_inclusion(&d[(m as usize + 1) % d.len()], m, n, &p, &r));
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = node_hash(first, first);
                    assert!(!verify_inclusion(&d[m as usize], m, n, &bad, &r));
                }
            }
            for m in 0..=n {
                let p = consistency_proof(&d, m, n).unwrap();
                let rm = root(&d[..m as usize]);
                assert!(verify_consistency(m, n, &rm, &r, &p), "consistency {m} {n}");
                if m > 0 && m < n {
                    let mut bad = p.clone();
                    bad.pop();
                    assert!(!verify_consistency(m, n, &rm, &r, &bad));
                    assert!(!verify_consistency(m, n, &r, &r, &p));
                }
            }
            for m in 0..=n {
                let old = Frontier::from_hashes(m, &{
                    let mut g = Frontier::new();
                    d[..m as usize].iter().for_each(|h| g.append(*h));
                    g.hashes()
                })
                .unwrap();
                let (p, r2) = consistency_from_frontier(&old, &d[m as usize..n as usize]).unwrap();
                assert_eq!(r2, r, "root from frontier {m} {n}");
                assert_eq!(p, consistency_proof(&d, m, n).unwrap(), "proof from frontier {m} {n}");
            }
            if (n as usize) < d.len() {
                f.append(d[n as usize]);
            }
        }
    }
}
