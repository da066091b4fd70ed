-- The runtime's audit tree, stored (docs/audit.md "Proofs", crates/audit/src/stored.rs): every completed perfect
-- subtree of a chain's Merkle tree, written by the sequencer in the transaction that appends its last leaf.
-- Node (level, idx) is MTH(D[idx * 2^level .. (idx + 1) * 2^level]); level 0 is the leaf hash kept in
-- audit_entries. Inclusion and consistency proofs read O(log n) of these rows instead of the chain's leaf hashes.
CREATE TABLE audit_nodes (
  chain text     NOT NULL,
  level smallint NOT NULL CHECK (level BETWEEN 1 AND 62),
  idx   bigint   NOT NULL,
  hash  bytea    NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (chain, level, idx)
);

-- Fills in the nodes that entries already stored complete and that are not stored yet, level by level
-- (NH(l, r) = SHA-256(0x01 || l || r)): here for the entries appended before this migration; a repair tool after.
CREATE FUNCTION audit_fill_nodes() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  l int := 1;
BEGIN
  INSERT INTO audit_nodes (chain, level, idx, hash)
  SELECT a.chain, 1, a.seq / 2, sha256('\x01'::bytea || a.leaf_hash || b.leaf_hash)
    FROM audit_entries a JOIN audit_entries b ON b.chain = a.chain AND b.seq = a.seq + 1
   WHERE a.seq % 2 = 0
  ON CONFLICT DO NOTHING;
  WHILE l < 62 AND EXISTS (SELECT 1 FROM audit_nodes WHERE level = l) LOOP
    INSERT INTO audit_nodes (chain, level, idx, hash)
    SELECT a.chain, l + 1, a.idx / 2, sha256('\x01'::bytea || a.hash || b.hash)
      FROM audit_nodes a JOIN audit_nodes b ON b.chain = a.chain AND b.level = l AND b.idx = a.idx + 1
     WHERE a.level = l AND a.idx % 2 = 0
    ON CONFLICT DO NOTHING;
    l := l + 1;
  END LOOP;
END $$;

SELECT audit_fill_nodes();

CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
