// The defects of tamper.json, one per case, built from the vector chain by generate.mjs.
export function tamperCases({ a, chain, entries, makeEntries, keys }) {
  const hex = (b) => Buffer.from(b).toString('hex')
  const hashes = entries.map((x) => Buffer.from(x.leaf_hash, 'hex'))
  const origin = `cfp-audit/${chain}`
  const sign = (size, root = a.merkleRoot(hashes.slice(0, size)), key = keys.KEY, priv = keys.priv, o = origin) =>
    a.signCheckpoint(a.checkpointBody(o, size, root), key, priv)
  const stored = (list, withHash = true) => list.map((x) => (withHash ? { leaf: x.leaf, leaf_hash: x.leaf_hash } : { leaf: x.leaf }))
  const relink = (list) => {
    // Recompute leaves, hashes and prev links after a change, as a forger with database access would.
    let prev = a.ZERO_HASH
    return list.map((x) => {
      const entry = { ...x.entry, prev }
      const leaf = a.entryLeaf(entry)
      const leaf_hash = hex(a.leafHash(leaf))
      prev = leaf_hash
      return { entry, leaf, leaf_hash }
    })
  }
  const rewrite = (x, change) => {
    const entry = change(structuredClone(x.entry))
    const leaf = a.entryLeaf(entry)
    return { entry, leaf, leaf_hash: hex(a.leafHash(leaf)) }
  }
  const cps = [sign(8), sign(12)]
  const cases = []
  const add = (name, list, expect, extra = {}) => cases.push({ name, entries: list, checkpoints: extra.checkpoints ?? cps, ...extra.options, expect })

  add('intact, with stored leaf hashes', stored(entries), { ok: true, size: 12 })
  add('intact, without stored leaf hashes', stored(entries, false), { ok: true, size: 12 })
  add('intact, no checkpoints', stored(entries), { ok: true, size: 12 }, { checkpoints: [] })
  add('empty chain, no checkpoints', [], { ok: true, size: 0 }, { checkpoints: [] })

  const edited5 = entries.map((x, i) => (i === 5 ? { ...rewrite(x, (e) => ((e.details.i = 500), e)), leaf_hash: x.leaf_hash } : x))
  add('edited: a field of seq 5 changed, stored hash kept', stored(edited5), { ok: false, finding: 'edited', seq: 5 })
  add('edited: a field of seq 5 changed, no stored hashes (the next prev breaks)', stored(edited5, false), { ok: false, finding: 'edited', seq: 5 })
  const editedLast = entries.map((x, i) => (i === 11 ? rewrite(x, (e) => ((e.outcome = { status: 'ok', code: null }), (e.kind = 'auth.logout'), e)) : x))
  add('edited: the last entry rewritten with its hash (only the checkpoint catches it)', stored(editedLast), { ok: false, finding: 'bad_checkpoint', seq: 11 })
  const forged = relink(entries.map((x, i) => (i === 5 ? rewrite(x, (e) => ((e.actor.id = 'u_evil'), e)) : x)))
  add('edited and every later hash and link recomputed (the checkpoint at 8 catches it)', stored(forged), { ok: false, finding: 'bad_checkpoint', seq: 7 })
  const zeroPrev = [rewrite(entries[0], (e) => ((e.prev = '1'.repeat(64)), e)), ...entries.slice(1)]
  add('edited: seq 0 does not link to 64 zeros', stored(zeroPrev, false), { ok: false, finding: 'edited', seq: 0 })
  add('edited: a leaf that is not JSON', stored(entries.map((x, i) => (i === 3 ? { leaf: x.leaf.slice(0, -1), leaf_hash: x.leaf_hash } : x)), false), {
    ok: false,
    finding: 'edited',
    seq: 3,
  })
  const spaced = entries[3].leaf.replace('{"actor"', '{ "actor"')
  add('edited: a leaf not in canonical form (hash stored for it)', stored(entries.map((x, i) => (i === 3 ? { leaf: spaced, leaf_hash: hex(a.leafHash(spaced)) } : x))), {
    ok: false,
    finding: 'edited',
    seq: 3,
  })

  add('missing: seq 5 deleted', stored(entries.filter((_, i) => i !== 5)), { ok: false, finding: 'missing', seq: 5 })
  add('missing: seqs 5 and 6 deleted', stored(entries.filter((_, i) => i !== 5 && i !== 6)), { ok: false, finding: 'missing', seq: 5 })
  const swap = (i, j) => {
    const l = [...entries]
    ;[l[i], l[j]] = [l[j], l[i]]
    return l
  }
  add('reordered: seqs 3 and 4 swapped', stored(swap(3, 4)), { ok: false, finding: 'reordered', seq: 3 })
  add('reordered: seqs 2 and 9 swapped', stored(swap(2, 9)), { ok: false, finding: 'reordered', seq: 2 })

  const fake6 = rewrite(entries[6], (e) => ((e.kind = 'api_key.create'), (e.details = { forged: true }), e))
  add('inserted: a forged entry claims seq 6 next to the real one', stored([...entries.slice(0, 6), fake6, ...entries.slice(6)]), { ok: false, finding: 'inserted', seq: 6 })
  const renumbered = entries.slice(6).map((x) => rewrite(x, (e) => ((e.seq += 1), e)))
  add('inserted: a forged entry at seq 6, later entries renumbered, no stored hashes', stored([...entries.slice(0, 6), fake6, ...renumbered], false), {
    ok: false,
    finding: 'inserted',
    seq: 6,
  })

  const other = makeEntries('control:t_other', 12)
  add('moved: seq 4 of another chain stored in this one', stored(entries.map((x, i) => (i === 4 ? other[4] : x))), { ok: false, finding: 'moved', seq: 4 })

  add('truncated: the last two entries deleted', stored(entries.slice(0, 10)), { ok: false, finding: 'truncated', seq: 10 })
  add('truncated: every entry deleted', [], { ok: false, finding: 'truncated', seq: 0 })

  const sigOf = (note) => note.trimEnd().split(' ').pop()
  const badSig = cps[1].replace(sigOf(cps[1]), Buffer.concat([a.keyId(keys.KEY, a.rawPublicKey(keys.priv)), Buffer.alloc(64, 9)]).toString('base64'))
  add('bad_checkpoint: the signature of the checkpoint at 12 replaced', stored(entries), { ok: false, finding: 'bad_checkpoint', seq: 11 }, { checkpoints: [cps[0], badSig] })
  add('bad_checkpoint: signed by a key the verifier does not hold', stored(entries), { ok: false, finding: 'bad_checkpoint', seq: 7 }, {
    checkpoints: [sign(8, undefined, 'cfp-audit-control-9', keys.priv2), cps[1]],
  })
  add('bad_checkpoint: a checkpoint of another chain', stored(entries), { ok: false, finding: 'bad_checkpoint', seq: 7 }, {
    checkpoints: [sign(8, undefined, undefined, undefined, 'cfp-audit/control:t_other'), cps[1]],
  })
  add('bad_checkpoint: a checkpoint that is not a signed note', stored(entries), { ok: false, finding: 'bad_checkpoint', seq: 0 }, { checkpoints: ['not a note'] })
  const wrongRoot = sign(8, a.merkleRoot(hashes.slice(0, 7)))
  add('inconsistent: two signed checkpoints of size 8 with different roots', stored(entries), { ok: false, finding: 'inconsistent', seq: 7 }, {
    checkpoints: [cps[0], wrongRoot, cps[1]],
  })
  add('inconsistent: the same, listed in the other order', stored(entries), { ok: false, finding: 'inconsistent', seq: 7 }, { checkpoints: [wrongRoot, cps[0], cps[1]] })

  // Ranges (exports, pruned chains): a start frontier, and a checkpoint beyond the end with a consistency proof.
  const longer = makeEntries(chain, 14)
  const longHashes = longer.map((x) => Buffer.from(x.leaf_hash, 'hex'))
  const front = (n) => frontierOf(a, hashes.slice(0, n))
  const start4 = { size: 4, frontier: front(4).map(hex), prev: entries[3].leaf_hash }
  const cp14 = a.signCheckpoint(a.checkpointBody(origin, 14, a.merkleRoot(longHashes)), keys.KEY, keys.priv)
  const proof12to14 = { first: 12, second: 14, path: a.consistencyProof(longHashes, 12, 14).map(hex) }
  add('range: seqs 4..11 from a frontier at 4, checkpoints at 8 and 12', stored(entries.slice(4)), { ok: true, size: 12 }, { options: { start: start4, complete: false } })
  add('range: a checkpoint at 14 beyond the range, with a consistency proof from 12', stored(entries.slice(4)), { ok: true, size: 12 }, {
    checkpoints: [cps[0], cp14],
    options: { start: start4, complete: false, proofs: [proof12to14] },
  })
  add('range: a checkpoint beyond the range without a proof', stored(entries.slice(4)), { ok: false, finding: 'inconsistent', seq: 11 }, {
    checkpoints: [cps[0], cp14],
    options: { start: start4, complete: false },
  })
  const badProof = { ...proof12to14, path: [...proof12to14.path].reverse() }
  add('range: a forged consistency proof', stored(entries.slice(4)), { ok: false, finding: 'inconsistent', seq: 11 }, {
    checkpoints: [cps[0], cp14],
    options: { start: start4, complete: false, proofs: [badProof] },
  })
  const badStart = { ...start4 }
  badStart.frontier = front(4).map((h, i) => (i === 0 ? hex(a.nodeHash(h, h)) : hex(h)))
  add('range: a forged starting frontier (the checkpoint at 8 catches it)', stored(entries.slice(4)), { ok: false, finding: 'bad_checkpoint', seq: 7 }, {
    options: { start: badStart, complete: false },
  })

  // Pruned chains (docs/audit.md "Retention"): the entries below a pruning record's size are gone; the record's
  // frontier must give the root a signed checkpoint of exactly that size signs.
  const start8 = { size: 8, frontier: front(8).map(hex), prev: entries[7].leaf_hash }
  add('pruned: seqs 0..7 pruned at the checkpoint of size 8', stored(entries.slice(8)), { ok: true, size: 12 }, { options: { start: start8, pruned: true } })
  add('pruned: a pruning record at 4, where no checkpoint signs', stored(entries.slice(4)), { ok: false, finding: 'bad_prune', seq: 3 }, {
    options: { start: start4, pruned: true },
  })
  const badStart8 = { ...start8, frontier: [hex(a.merkleRoot(hashes.slice(1, 9)))] }
  add('pruned: a pruning record whose frontier differs from the checkpoint it names', stored(entries.slice(8)), { ok: false, finding: 'bad_prune', seq: 7 }, {
    options: { start: badStart8, pruned: true },
  })
  add('pruned: a pruning record whose frontier is malformed (one hash for size 8 + 4)', stored(entries.slice(12)), { ok: false, finding: 'bad_prune', seq: 11 }, {
    checkpoints: [cps[0], cps[1]],
    options: { start: { size: 12, frontier: [front(12).map(hex)[0]], prev: entries[11].leaf_hash }, pruned: true },
  })
  add('pruned: a row after the pruned range deleted is still missing', stored(entries.slice(8).filter((_, i) => i !== 1)), { ok: false, finding: 'missing', seq: 9 }, {
    options: { start: start8, pruned: true },
  })
  add('pruned: the chain pruned further than its record says (rows deleted)', stored(entries.slice(10)), { ok: false, finding: 'missing', seq: 8 }, {
    options: { start: start8, pruned: true },
  })
  return cases
}

function frontierOf(a, hashes) {
  const f = new a.Frontier()
  for (const h of hashes) f.append(h)
  return f.hashes()
}
