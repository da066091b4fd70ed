-- Retention and legal hold of the audit chain (issue 10 item 8, docs/audit.md "Retention and legal hold").
--
-- Pruning removes the bodies (audit_entries rows) of a chain's oldest entries, and only a whole prefix that a signed
-- checkpoint covers: `audit_prune(chain, size, by)` removes the entries with seq < size when a checkpoint of exactly
-- that size is stored (every checkpoint was signed after its consistency proof checked out), no legal hold of the
-- chain's tenant is in force, and the entries to go are all present, hash to their stored leaf hashes and give the
-- root the checkpoint signs (recomputed from the previous pruning's frontier). It keeps
-- every leaf hash as a level-0 node of `audit_nodes` (proofs of later entries still read O(log n) stored hashes),
-- keeps the checkpoints, and records the pruning in `audit_prunes` with the frontier of the tree at that size and the
-- last pruned leaf hash: a verifier starts the chain from there and requires the checkpoint to sign the frontier's
-- root (`bad_prune` otherwise), while a row deleted without such a record is still `missing`.
--
-- Roles: `audit_prune` is SECURITY DEFINER, owned by the NOLOGIN role `cfp_audit_pruner` (created here when the
-- migrating role may), and EXECUTE is revoked from PUBLIC: the application role cannot call it. Operators grant
-- `cfp_audit_pruner` to a login role and give the control plane that connection (`--audit-prune-database-url`).
-- The append-only trigger on audit_entries now lets a DELETE through only inside `audit_prune` (a transaction-local
-- marker naming the chain) and only of rows a pruning record covers; UPDATE and TRUNCATE stay refused for all.

-- level 0 of audit_nodes: the leaf hashes of pruned entries
ALTER TABLE audit_nodes DROP CONSTRAINT audit_nodes_level_check;
ALTER TABLE audit_nodes ADD CONSTRAINT audit_nodes_level_check CHECK (level BETWEEN 0 AND 62);

-- per tenant ('system' for the system chain): entries older than `days` are pruned by the scheduled job
CREATE TABLE audit_retention (
  tenant  text PRIMARY KEY,
  days    integer NOT NULL CHECK (days BETWEEN 1 AND 36500),
  set_by  text,
  set_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- legal holds: while one is in force (released_at null) no chain of its tenant is pruned
CREATE TABLE audit_holds (
  id           bigserial PRIMARY KEY,
  tenant       text NOT NULL,
  reason       text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
  placed_by    text,
  placed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  released_by  text,
  released_at  timestamptz
);
CREATE INDEX audit_holds_active ON audit_holds (tenant) WHERE released_at IS NULL;

-- a hold is released once; nothing else about it changes and it is never deleted
CREATE FUNCTION audit_holds_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.released_at IS NULL AND NEW.released_at IS NOT NULL AND NEW.id = OLD.id
     AND NEW.tenant = OLD.tenant AND NEW.reason = OLD.reason AND NEW.placed_by IS NOT DISTINCT FROM OLD.placed_by
     AND NEW.placed_at = OLD.placed_at THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'legal holds are only released, once: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_holds_guard BEFORE UPDATE OR DELETE ON audit_holds FOR EACH ROW EXECUTE FUNCTION audit_holds_guard();
CREATE TRIGGER audit_holds_no_truncate BEFORE TRUNCATE ON audit_holds FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- one row per pruning: entries [from_seq, size) of `chain` were removed, relying on the checkpoint `note` of size `size`
CREATE TABLE audit_prunes (
  chain      text NOT NULL,
  size       bigint NOT NULL CHECK (size > 0),
  from_seq   bigint NOT NULL CHECK (from_seq >= 0 AND from_seq < size),
  -- the tree's frontier at `size`: its perfect subtree roots, largest first, 32 bytes each
  frontier   bytea NOT NULL CHECK (length(frontier) > 0 AND length(frontier) % 32 = 0),
  -- the leaf hash of entry size - 1 (the next entry's prev)
  prev       bytea NOT NULL CHECK (length(prev) = 32),
  note       text NOT NULL,
  pruned_by  text NOT NULL,
  pruned_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (chain, size)
);
CREATE TRIGGER audit_prunes_append_only BEFORE UPDATE OR DELETE ON audit_prunes FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_prunes_no_truncate BEFORE TRUNCATE ON audit_prunes FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- entries: DELETE only inside audit_prune, of rows a pruning record covers
CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('cfp.audit_pruning', true) = OLD.chain
     AND OLD.seq < (SELECT max(size) FROM audit_prunes WHERE chain = OLD.chain) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER audit_entries_append_only ON audit_entries;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION audit_entries_guard();

-- the tenant whose holds and retention govern a chain: '<plane>:<tenant>' -> tenant ('system' for the system chain)
CREATE FUNCTION audit_chain_tenant(chain text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT substr(chain, strpos(chain, ':') + 1)
$$;

CREATE FUNCTION audit_prune(p_chain text, p_size bigint, p_by text)
RETURNS TABLE (from_seq bigint, size bigint, entries bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  cp_root bytea;
  cp_note text;
  done bigint;
  f bytea := ''::bytea;
  h bytea;
  r bytea;
  off bigint := 0;
  fr bytea[];
  prior bytea;
  k int;
  m int;
  n bigint;
  good bigint;
  last_hash bytea;
BEGIN
  IF p_chain IS NULL OR p_size IS NULL OR p_size <= 0 OR p_by IS NULL THEN
    RAISE EXCEPTION 'audit_prune(chain, size, by): all three are required, size > 0' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- one pruning of a chain at a time; the sequencer's appends go on (they only add rows above the head)
  PERFORM pg_advisory_xact_lock(hashtext('cfp_audit_prune:' || p_chain));
  SELECT c.root, c.note INTO cp_root, cp_note FROM audit_checkpoints c WHERE c.chain = p_chain AND c.size = p_size;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no signed checkpoint of chain % has size %: only a prefix a checkpoint covers is pruned', p_chain, p_size
      USING ERRCODE = 'check_violation';
  END IF;
  IF EXISTS (SELECT 1 FROM audit_holds WHERE tenant = audit_chain_tenant(p_chain) AND released_at IS NULL) THEN
    RAISE EXCEPTION 'chain % is under a legal hold: not pruned', p_chain USING ERRCODE = 'object_in_use';
  END IF;
  SELECT coalesce(max(p.size), 0) INTO done FROM audit_prunes p WHERE p.chain = p_chain;
  IF p_size <= done THEN
    RAISE EXCEPTION 'chain % is already pruned below seq %', p_chain, done USING ERRCODE = 'check_violation';
  END IF;
  -- the entries to go must all be there and hash to their stored leaf hashes (pruning must not hide tampering)
  SELECT count(*), count(*) FILTER (WHERE e.leaf_hash = sha256('\x00'::bytea || convert_to(e.leaf, 'UTF8')))
    INTO n, good FROM audit_entries e WHERE e.chain = p_chain AND e.seq >= done AND e.seq < p_size;
  IF n <> p_size - done OR good <> n THEN
    RAISE EXCEPTION 'chain % has missing or edited entries in [%, %): run cfp audit verify', p_chain, done, p_size
      USING ERRCODE = 'data_corrupted';
  END IF;
  -- the frontier at p_size recomputed from the leaves themselves, from the previous pruning's frontier (itself
  -- checked against a checkpoint then): its root must be the checkpoint's, so nothing edited is pruned unnoticed
  fr := array_fill(NULL::bytea, ARRAY[63]);
  SELECT p.frontier INTO prior FROM audit_prunes p WHERE p.chain = p_chain AND p.size = done;
  off := 0;
  FOR k IN REVERSE 62..0 LOOP
    IF (done >> k) & 1 = 1 THEN
      fr[k + 1] := substring(prior FROM (off * 32 + 1)::int FOR 32);
      off := off + 1;
    END IF;
  END LOOP;
  n := done;
  FOR h IN SELECT e.leaf_hash FROM audit_entries e WHERE e.chain = p_chain AND e.seq >= done AND e.seq < p_size ORDER BY e.seq LOOP
    k := 0;
    WHILE (n >> k) & 1 = 1 LOOP
      h := sha256('\x01'::bytea || fr[k + 1] || h);
      fr[k + 1] := NULL;
      k := k + 1;
    END LOOP;
    fr[k + 1] := h;
    n := n + 1;
  END LOOP;
  FOR k IN REVERSE 62..0 LOOP
    IF (p_size >> k) & 1 = 1 THEN
      f := f || fr[k + 1];
    END IF;
  END LOOP;
  m := length(f) / 32;
  r := substring(f FROM (m - 1) * 32 + 1 FOR 32);
  FOR k IN REVERSE m - 1..1 LOOP
    r := sha256('\x01'::bytea || substring(f FROM (k - 1) * 32 + 1 FOR 32) || r);
  END LOOP;
  IF r <> cp_root THEN
    RAISE EXCEPTION 'chain %: the entries below % do not give the root its checkpoint signs: run cfp audit verify', p_chain, p_size
      USING ERRCODE = 'data_corrupted';
  END IF;
  -- keep every leaf hash of the range as a level-0 node (proofs of later entries still read stored hashes)
  INSERT INTO audit_nodes (chain, level, idx, hash)
  SELECT e.chain, 0, e.seq, e.leaf_hash FROM audit_entries e WHERE e.chain = p_chain AND e.seq >= done AND e.seq < p_size
  ON CONFLICT DO NOTHING;
  SELECT x.hash INTO last_hash FROM audit_nodes x WHERE x.chain = p_chain AND x.level = 0 AND x.idx = p_size - 1;
  INSERT INTO audit_prunes (chain, size, from_seq, frontier, prev, note, pruned_by)
  VALUES (p_chain, p_size, done, f, last_hash, cp_note, p_by);
  PERFORM set_config('cfp.audit_pruning', p_chain, true);
  DELETE FROM audit_entries e WHERE e.chain = p_chain AND e.seq >= done AND e.seq < p_size;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('cfp.audit_pruning', '', true);
  RETURN QUERY SELECT done, p_size, n;
END $$;

REVOKE ALL ON FUNCTION audit_prune(text, bigint, text) FROM PUBLIC;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cfp_audit_pruner') THEN
    BEGIN
      CREATE ROLE cfp_audit_pruner NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- created concurrently by another schema's migration
      WHEN insufficient_privilege THEN RAISE NOTICE 'cannot create role cfp_audit_pruner: audit_prune stays owned by %', current_user;
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cfp_audit_pruner') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO cfp_audit_pruner', current_schema());
    GRANT SELECT, DELETE ON audit_entries TO cfp_audit_pruner;
    GRANT SELECT, INSERT ON audit_nodes, audit_prunes TO cfp_audit_pruner;
    GRANT SELECT ON audit_checkpoints, audit_holds TO cfp_audit_pruner;
    GRANT SELECT, INSERT ON audit_queue TO cfp_audit_pruner;
    GRANT USAGE ON SEQUENCE audit_queue_id_seq TO cfp_audit_pruner;
    ALTER FUNCTION audit_prune(text, bigint, text) OWNER TO cfp_audit_pruner;
    GRANT EXECUTE ON FUNCTION audit_prune(text, bigint, text) TO cfp_audit_pruner;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cfp_control_app') THEN
    GRANT SELECT ON audit_prunes TO cfp_control_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON audit_retention TO cfp_control_app;
    GRANT SELECT, INSERT, UPDATE (released_at, released_by) ON audit_holds TO cfp_control_app;
    GRANT USAGE ON SEQUENCE audit_holds_id_seq TO cfp_control_app;
  END IF;
END $$;

-- what audit_grant_app grants now also covers retention, holds and the pruning records (read only)
CREATE OR REPLACE FUNCTION audit_grant_app(app name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), app);
  EXECUTE format('REVOKE ALL ON audit_entries, audit_nodes, audit_checkpoints, audit_keys, audit_queue, audit_heads FROM %I', app);
  EXECUTE format('GRANT SELECT, INSERT ON audit_entries, audit_nodes, audit_checkpoints, audit_keys TO %I', app);
  EXECUTE format('GRANT UPDATE (retired_at) ON audit_keys TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, DELETE ON audit_queue TO %I', app);
  EXECUTE format('GRANT USAGE ON SEQUENCE audit_queue_id_seq TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON audit_heads TO %I', app);
  EXECUTE format('REVOKE ALL ON audit_prunes, audit_retention, audit_holds FROM %I', app);
  EXECUTE format('GRANT SELECT ON audit_prunes TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON audit_retention TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE (released_at, released_by) ON audit_holds TO %I', app);
  EXECUTE format('GRANT USAGE ON SEQUENCE audit_holds_id_seq TO %I', app);
END $$;
