//! Streaming verification of one chain (docs/audit.md "Verification"): entries in order, each checked against its
//! stored leaf hash, its chain, its sequence number and its `prev` link, while a [`Frontier`] (O(log n) hashes)
//! gives the root at every checkpointed size. The first problem is reported with the chain, the sequence number
//! and the finding's name. Memory stays bounded whatever the chain's length: the verifier holds one entry back
//! (to tell a gap from a swap) and the frontier.
//!
//! ```ignore
//! let mut v = ChainVerifier::new("runtime:t1", &notes, &keys, Options::default())?;
//! for e in entries { v.push(e)?; }
//! let ok = v.finish()?;
//! ```

use std::collections::HashMap;

use serde_json::Value;

use crate::entry::ZERO_HASH;
use crate::jcs::canonicalize;
use crate::note::{claimed_size, origin, verify_note, PublicKey};
use crate::tree::{leaf_hash, verify_consistency, Frontier, Hash};

/// Leaves larger than this are refused as edited (a writer's entry is at most ~16 KiB of details plus bounded
/// strings).
pub const MAX_LEAF: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    Edited,
    Missing,
    Reordered,
    Inserted,
    Moved,
    Truncated,
    BadCheckpoint,
    Inconsistent,
    BadAnchor,
    BadPrune,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Edited => "edited",
            Finding::Missing => "missing",
            Finding::Reordered => "reordered",
            Finding::Inserted => "inserted",
            Finding::Moved => "moved",
            Finding::Truncated => "truncated",
            Finding::BadCheckpoint => "bad_checkpoint",
            Finding::Inconsistent => "inconsistent",
            Finding::BadAnchor => "bad_anchor",
            Finding::BadPrune => "bad_prune",
        }
    }
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub chain: String,
    pub seq: u64,
    pub finding: Finding,
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} seq {}: {} ({})",
            self.chain,
            self.seq,
            self.finding.as_str(),
            self.detail
        )
    }
}

/// A chain that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub chain: String,
    /// The chain's size after the last entry.
    pub size: u64,
    pub root: Hash,
    /// The first sequence number verified.
    pub from: u64,
    /// The largest checkpointed size (0 if none).
    pub checkpointed: u64,
    pub checkpoints: usize,
}

/// A stored entry: its leaf text and, where the store keeps one, its leaf hash (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub leaf: String,
    pub leaf_hash: Option<String>,
}

/// Where the given entries begin when they do not start at seq 0.
#[derive(Debug, Clone)]
pub struct ChainStart {
    pub size: u64,
    /// The perfect subtree roots of the tree of that size, largest first, lowercase hex.
    pub frontier: Vec<String>,
    /// The leaf hash of entry `size - 1` (64 zeros when `size` is 0).
    pub prev: String,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub start: Option<ChainStart>,
    /// The entries run to the chain's end: a checkpoint beyond them means the chain was truncated. Otherwise (a
    /// range, an export) such a checkpoint needs a consistency proof from the last entry.
    pub complete: bool,
    /// Consistency proofs `(first, second, path hex)` for checkpoints outside the entries given.
    pub proofs: Vec<(u64, u64, Vec<String>)>,
    /// Every leaf must be exactly the RFC 8785 form of its parse.
    pub canonical: bool,
    /// `start` is a pruning record (the chain's head was pruned): a signed checkpoint must sign exactly
    /// `start.size` with the root of the starting frontier, else `bad_prune`.
    pub pruned: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            start: None,
            complete: true,
            proofs: Vec::new(),
            canonical: true,
            pruned: false,
        }
    }
}

struct Parsed {
    chain: Value,
    seq: Value,
    prev: Value,
}

struct Item {
    leaf: String,
    /// The leaf's hash, lowercase hex (computed with the rest of the inspection, which may run in parallel).
    hash: String,
    stored: Option<String>,
    parsed: Option<Parsed>,
    problem: Option<&'static str>,
}

struct Pending {
    size: u64,
    root: Option<Hash>,
    problem: Option<String>,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn safe_seq(v: &Value) -> Option<u64> {
    let f = v.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_991.0).then_some(f as u64)
}

/// [`inspect`] of each entry, in order, split over the machine's cores (one thread below 512 entries).
fn inspect_all(entries: Vec<Stored>, canonical: bool) -> Vec<Item> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || entries.len() < 512 {
        return entries.into_iter().map(|e| inspect(e, canonical)).collect();
    }
    let per = entries.len().div_ceil(threads);
    let mut parts: Vec<Vec<Stored>> = Vec::with_capacity(threads);
    let mut rest = entries.into_iter();
    loop {
        let part: Vec<Stored> = rest.by_ref().take(per).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| s.spawn(move || part.into_iter().map(|e| inspect(e, canonical)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("an inspection thread panicked"))
            .collect()
    })
}

fn inspect(e: Stored, canonical: bool) -> Item {
    let hash = hex::encode(leaf_hash(e.leaf.as_bytes()));
    let mut item = Item {
        leaf: e.leaf,
        hash,
        stored: e.leaf_hash,
        parsed: None,
        problem: None,
    };
    if item.leaf.len() > MAX_LEAF {
        item.problem = Some("the leaf is larger than 256 KiB");
        return item;
    }
    let Ok(v) = crate::jcs::parse(&item.leaf) else {
        item.problem = Some("the leaf is not JSON");
        return item;
    };
    let Value::Object(o) = &v else {
        item.problem = Some("the leaf is not a JSON object");
        return item;
    };
    let get = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
    item.parsed = Some(Parsed {
        chain: get("chain"),
        seq: get("seq"),
        prev: get("prev"),
    });
    item.problem = if o.get("v").and_then(Value::as_f64) != Some(1.0) {
        Some("the leaf has no v: 1")
    } else if !o.get("chain").is_some_and(Value::is_string) {
        Some("the leaf has no chain")
    } else if o.get("seq").and_then(safe_seq).is_none() {
        Some("the leaf has no seq")
    } else if !o.get("prev").and_then(Value::as_str).is_some_and(is_hex64) {
        Some("the leaf has no prev")
    } else if canonical && canonicalize(&v).ok().as_deref() != Some(item.leaf.as_str()) {
        Some("the leaf is not in RFC 8785 canonical form")
    } else {
        None
    };
    item
}

fn hex_hashes(list: &[String]) -> Option<Vec<Hash>> {
    if list.len() > 128 {
        return None;
    }
    list.iter()
        .map(|h| is_hex64(h).then(|| hex::decode(h).ok()?.try_into().ok()).flatten())
        .collect()
}

/// Verifies one chain as its entries stream by.
pub struct ChainVerifier {
    chain: String,
    canonical: bool,
    complete: bool,
    frontier: Frontier,
    prev_hash: String,
    from: u64,
    pending: Vec<Pending>,
    cp: usize,
    checkpointed: u64,
    proofs: HashMap<(u64, u64), Option<Vec<Hash>>>,
    prev_prev_hash: Option<String>,
    prev_linked_prev: Option<String>,
    current: Option<Item>,
    n: u64,
}

impl ChainVerifier {
    /// Starts verifying `chain` against signed `checkpoints` and the audit public `keys` (current and retired).
    pub fn new(chain: &str, checkpoints: &[String], keys: &[PublicKey], opts: Options) -> Result<Self, Failure> {
        let fail = |seq: u64, finding, detail: &str| Failure {
            chain: chain.to_string(),
            seq,
            finding,
            detail: detail.to_string(),
        };
        let mut frontier = Frontier::new();
        let mut prev_hash = ZERO_HASH.to_string();
        if let Some(start) = &opts.start {
            let ok = hex_hashes(&start.frontier)
                .filter(|_| is_hex64(&start.prev) && (start.size == 0) == (start.prev == ZERO_HASH))
                .and_then(|h| Frontier::from_hashes(start.size, &h).ok());
            let Some(f) = ok else {
                if opts.pruned {
                    let at = start.size.saturating_sub(1);
                    return Err(fail(
                        at,
                        Finding::BadPrune,
                        "the pruning record's frontier is malformed",
                    ));
                }
                return Err(fail(start.size, Finding::Edited, "the starting frontier is malformed"));
            };
            frontier = f;
            prev_hash = start.prev.clone();
        }
        let from = frontier.size();
        let want = origin(chain);
        let mut pending: Vec<(usize, Pending)> = checkpoints
            .iter()
            .enumerate()
            .map(|(i, note)| {
                let p = match verify_note(note, keys) {
                    Err(problem) => {
                        let size = claimed_size(note).unwrap_or(from);
                        Pending {
                            size,
                            root: None,
                            problem: Some(format!("checkpoint {i} (size {size}): {problem}")),
                        }
                    }
                    Ok(c) if c.origin != want => Pending {
                        size: c.size,
                        root: None,
                        problem: Some(format!("checkpoint {i} is for origin {:?}, not {want}", c.origin)),
                    },
                    Ok(c) => Pending {
                        size: c.size,
                        root: Some(c.root),
                        problem: None,
                    },
                };
                (i, p)
            })
            .collect();
        pending.sort_by_key(|(i, p)| (p.size, *i));
        let proofs = opts
            .proofs
            .iter()
            .map(|(a, b, path)| ((*a, *b), hex_hashes(path)))
            .collect();
        let mut v = Self {
            chain: chain.to_string(),
            canonical: opts.canonical,
            complete: opts.complete,
            frontier,
            prev_hash,
            from,
            pending: pending.into_iter().map(|(_, p)| p).collect(),
            cp: 0,
            checkpointed: 0,
            proofs,
            prev_prev_hash: None,
            prev_linked_prev: None,
            current: None,
            n: from,
        };
        // Checkpoints below the first entry given: checked by a consistency proof to the starting root, where given.
        let start_root = v.frontier.root();
        while v.cp < v.pending.len() && v.pending[v.cp].size < from {
            let (size, root) = v.group()?;
            if let Some(path) = v.proofs.get(&(size, from)) {
                if !path
                    .as_ref()
                    .is_some_and(|p| verify_consistency(size, from, &root, &start_root, p))
                {
                    return Err(v.fail(
                        size as i64 - 1,
                        Finding::Inconsistent,
                        format!("the checkpoint of size {size} does not extend to the tree of size {from}"),
                    ));
                }
            }
        }
        if opts.pruned && from > 0 {
            let signed = v.cp < v.pending.len() && v.pending[v.cp].size == from;
            if !signed {
                return Err(v.fail(
                    from as i64 - 1,
                    Finding::BadPrune,
                    format!("the chain is pruned below seq {from} but no checkpoint signs size {from}"),
                ));
            }
            let (_, root) = v.group()?;
            if root != start_root {
                return Err(v.fail(
                    from as i64 - 1,
                    Finding::BadPrune,
                    format!("the pruning record's frontier does not give the root the checkpoint of size {from} signs"),
                ));
            }
            v.checkpointed = from;
        }
        v.reach(from)?;
        Ok(v)
    }

    fn fail(&self, seq: i64, finding: Finding, detail: impl Into<String>) -> Failure {
        Failure {
            chain: self.chain.clone(),
            seq: seq.max(0) as u64,
            finding,
            detail: detail.into(),
        }
    }

    /// The checkpoints of the next size: each must be signed and for this chain, and all must sign one root.
    fn group(&mut self) -> Result<(u64, Hash), Failure> {
        let size = self.pending[self.cp].size;
        let at = size as i64 - 1;
        let (mut root, mut conflict) = (None::<Hash>, false);
        while self.cp < self.pending.len() && self.pending[self.cp].size == size {
            let c = &self.pending[self.cp];
            self.cp += 1;
            if let Some(p) = &c.problem {
                return Err(self.fail(at, Finding::BadCheckpoint, p.clone()));
            }
            let r = c.root.expect("a checkpoint without a problem has a root");
            conflict |= root.is_some_and(|x| x != r);
            root.get_or_insert(r);
        }
        if conflict {
            return Err(self.fail(
                at,
                Finding::Inconsistent,
                format!("signed checkpoints of size {size} have different roots"),
            ));
        }
        Ok((size, root.expect("at least one checkpoint")))
    }

    /// Checkpoints at the size reached so far.
    fn reach(&mut self, size: u64) -> Result<(), Failure> {
        if self.cp >= self.pending.len() || self.pending[self.cp].size != size {
            return Ok(());
        }
        let (_, signed) = self.group()?;
        if self.frontier.root() != signed {
            return Err(self.fail(
                size as i64 - 1,
                Finding::BadCheckpoint,
                format!("the checkpoint of size {size} signs a root that differs from the recomputed one"),
            ));
        }
        self.checkpointed = size;
        Ok(())
    }

    /// The next stored entry, in the order the store holds them.
    pub fn push(&mut self, entry: Stored) -> Result<(), Failure> {
        let item = inspect(entry, self.canonical);
        self.push_item(item)
    }

    /// Adds the next entries in order, the same as [`ChainVerifier::push`] for each; the per-entry work that does
    /// not depend on the entries before (parsing, the RFC 8785 re-check, the leaf hash) runs on up to as many
    /// threads as the machine has cores. Blocking: call it off an async executor's threads.
    pub fn push_all(&mut self, entries: Vec<Stored>) -> Result<(), Failure> {
        for item in inspect_all(entries, self.canonical) {
            self.push_item(item)?;
        }
        Ok(())
    }

    fn push_item(&mut self, item: Item) -> Result<(), Failure> {
        if let Some(current) = self.current.take() {
            self.step(current, Some(&item))?;
        }
        self.current = Some(item);
        Ok(())
    }

    /// Entries verified so far (the chain's size up to the entry held back).
    pub fn size(&self) -> u64 {
        self.n
    }

    fn step(&mut self, mut item: Item, next: Option<&Item>) -> Result<(), Failure> {
        let i = self.n as i64;
        let Some(p) = &item.parsed else {
            return Err(self.fail(i, Finding::Edited, item.problem.unwrap_or("the leaf is unreadable")));
        };
        let h = std::mem::take(&mut item.hash);
        if item.stored.as_ref().is_some_and(|s| s != &h) {
            return Err(self.fail(i, Finding::Edited, "the leaf does not hash to its stored leaf hash"));
        }
        if let Some(problem) = item.problem {
            return Err(self.fail(i, Finding::Edited, problem));
        }
        if p.chain.as_str() != Some(self.chain.as_str()) {
            return Err(self.fail(i, Finding::Moved, format!("the entry belongs to chain {}", p.chain)));
        }
        let seq = safe_seq(&p.seq).expect("checked by inspect") as i64;
        let prev = p.prev.as_str().expect("checked by inspect");
        if seq > i {
            let next_seq = next.and_then(|n| n.parsed.as_ref()).map(|n| n.seq.clone());
            if next.is_some() && next_seq.as_ref().and_then(Value::as_f64) != Some((seq + 1) as f64) {
                let shown = next_seq.map_or("undefined".to_string(), |v| v.to_string());
                return Err(self.fail(
                    i,
                    Finding::Reordered,
                    format!("position {i} holds seq {seq}, followed by seq {shown}"),
                ));
            }
            let detail = if seq == i + 1 {
                format!("seq {i} is absent")
            } else {
                format!("seqs {i}..{} are absent", seq - 1)
            };
            return Err(self.fail(i, Finding::Missing, detail));
        }
        if seq < i {
            if seq == i - 1 && self.prev_linked_prev.as_deref() == Some(prev) {
                return Err(self.fail(seq, Finding::Inserted, format!("two entries claim seq {seq}")));
            }
            return Err(self.fail(i, Finding::Reordered, format!("position {i} holds seq {seq}")));
        }
        if prev != self.prev_hash {
            if i - 1 > self.from as i64 && self.prev_prev_hash.as_deref() == Some(prev) {
                return Err(self.fail(
                    i - 1,
                    Finding::Inserted,
                    format!("the entry at seq {i} links to seq {}, skipping seq {}", i - 2, i - 1),
                ));
            }
            if i == self.from as i64 {
                let d = if i == 0 {
                    "the first entry does not link to 64 zeros"
                } else {
                    "the entry does not link to the chain before it"
                };
                return Err(self.fail(i, Finding::Edited, d));
            }
            return Err(self.fail(
                i - 1,
                Finding::Edited,
                "the entry's hash differs from the next entry's prev",
            ));
        }
        self.prev_linked_prev = Some(prev.to_string());
        self.prev_prev_hash = Some(std::mem::replace(&mut self.prev_hash, h.clone()));
        let hash: Hash = hex::decode(&h).expect("hex").try_into().expect("32 bytes");
        self.frontier.append(hash);
        self.n += 1;
        self.reach(self.n)
    }

    /// Ends the stream: checks the entry held back and the checkpoints beyond the last entry.
    pub fn finish(mut self) -> Result<Verified, Failure> {
        if let Some(current) = self.current.take() {
            self.step(current, None)?;
        }
        let root = self.frontier.root();
        let n = self.n;
        while self.cp < self.pending.len() {
            let (size, signed) = self.group()?;
            if self.complete {
                return Err(self.fail(
                    n as i64,
                    Finding::Truncated,
                    format!("a checkpoint signs size {size} but the chain ends at {n}"),
                ));
            }
            let ok = self
                .proofs
                .get(&(n, size))
                .and_then(|p| p.as_ref())
                .is_some_and(|p| verify_consistency(n, size, &root, &signed, p));
            if !ok {
                return Err(self.fail(
                    n as i64 - 1,
                    Finding::Inconsistent,
                    format!("no valid consistency proof from size {n} to the checkpoint of size {size}"),
                ));
            }
            self.checkpointed = size;
        }
        Ok(Verified {
            chain: self.chain,
            size: n,
            root,
            from: self.from,
            checkpointed: self.checkpointed,
            checkpoints: self.pending.len(),
        })
    }
}

/// Entries inspected at once by [`verify_chain`].
const BATCH: usize = 8192;

/// Verifies a whole chain held in memory.
pub fn verify_chain(
    chain: &str,
    entries: impl IntoIterator<Item = Stored>,
    checkpoints: &[String],
    keys: &[PublicKey],
    opts: Options,
) -> Result<Verified, Failure> {
    let mut v = ChainVerifier::new(chain, checkpoints, keys, opts)?;
    let mut batch = Vec::with_capacity(BATCH);
    for e in entries {
        batch.push(e);
        if batch.len() == BATCH {
            v.push_all(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
        }
    }
    v.push_all(batch)?;
    v.finish()
}
