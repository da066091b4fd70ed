-- The audit chain (issue 10, docs/audit.md). A change and its record commit together: routes insert into
-- `audit_queue` inside the change's own transaction; the sequencer (src/audit/sequencer.ts, one leader per
-- schema) moves queued rows, in id order, into `audit_entries` with gap-free `seq` and the `prev` link per chain,
-- maintains the Merkle tree's stored nodes and signs checkpoints with a dedicated Ed25519 audit key.
--
-- Roles: the application role may only INSERT and SELECT `audit_entries`, `audit_nodes`, `audit_checkpoints` and
-- `audit_keys` (plus what the sequencer needs on the queue and heads: SELECT, INSERT, DELETE on `audit_queue`,
-- SELECT, INSERT, UPDATE on `audit_heads`, UPDATE (retired_at) on `audit_keys`); `audit_grant_app(role)` grants
-- exactly that and is applied here to `cfp_control_app` when that role exists. Triggers refuse UPDATE, DELETE and
-- TRUNCATE on entries, nodes and checkpoints for every role, the owner included. Pruning (retention, later) runs
-- under the separate `cfp_audit_pruner` role as documented in docs/control-plane.md; tampering by a superuser
-- behind the triggers is caught by verification, not prevented.

CREATE TABLE audit_queue (
  id          bigserial PRIMARY KEY,
  chain       text NOT NULL CHECK (chain ~ '^[A-Za-z0-9._:-]{1,200}$'),
  -- the entry (docs/audit.md) without `chain`, `seq` and `prev`, as JSON text
  entry       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- per chain: the next sequence number, the last leaf hash and the compact Merkle frontier (derived state; the
-- verifier never trusts it)
CREATE TABLE audit_heads (
  chain            text PRIMARY KEY,
  size             bigint NOT NULL DEFAULT 0,
  last_hash        bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
  -- JSON array: frontier[l] = hex hash of the pending perfect subtree of 2^l leaves, or null
  frontier         text NOT NULL DEFAULT '[]',
  checkpoint_size  bigint NOT NULL DEFAULT 0,
  checkpoint_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_entries (
  chain         text NOT NULL,
  seq           bigint NOT NULL CHECK (seq >= 0),
  leaf          text NOT NULL,
  leaf_hash     bytea NOT NULL CHECK (length(leaf_hash) = 32),
  prev          bytea NOT NULL CHECK (length(prev) = 32),
  -- search columns, copied from the leaf
  time          timestamptz NOT NULL,
  kind          text NOT NULL,
  actor_type    text NOT NULL,
  actor_id      text,
  sid           text,
  tenant_id     text,
  team_id       text,
  project_id    text,
  target_type   text,
  target_id     text,
  outcome       text NOT NULL,
  outcome_code  text,
  request_id    text,
  PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_entries_time ON audit_entries (time DESC, chain, seq);
CREATE INDEX audit_entries_tenant ON audit_entries (tenant_id, time DESC);
CREATE INDEX audit_entries_project ON audit_entries (project_id, time DESC) WHERE project_id IS NOT NULL;
CREATE INDEX audit_entries_actor ON audit_entries (actor_id, time DESC) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_entries_kind ON audit_entries (kind, time DESC);
CREATE INDEX audit_entries_sid ON audit_entries (sid) WHERE sid IS NOT NULL;

-- hashes of the tree's perfect subtrees of 2^level leaves (level >= 1; level 0 is audit_entries.leaf_hash), so an
-- inclusion or consistency proof reads O(log n) rows
CREATE TABLE audit_nodes (
  chain  text NOT NULL,
  level  smallint NOT NULL CHECK (level BETWEEN 1 AND 62),
  idx    bigint NOT NULL,
  hash   bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (chain, level, idx)
);

CREATE TABLE audit_keys (
  name        text PRIMARY KEY CHECK (name ~ '^cfp-audit-control-[0-9]+$'),
  key_id      bytea NOT NULL CHECK (length(key_id) = 4),
  public_key  bytea NOT NULL CHECK (length(public_key) = 32),
  -- the PKCS#8 private key sealed with the master key (like signing_keys.private_enc)
  private_enc text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  retired_at  timestamptz
);

CREATE TABLE audit_checkpoints (
  chain       text NOT NULL,
  size        bigint NOT NULL CHECK (size > 0),
  root        bytea NOT NULL CHECK (length(root) = 32),
  -- the signed note (docs/audit.md, Checkpoints)
  note        text NOT NULL,
  key_name    text NOT NULL REFERENCES audit_keys(name),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain, size)
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_nodes_append_only BEFORE UPDATE OR DELETE ON audit_nodes
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_nodes_no_truncate BEFORE TRUNCATE ON audit_nodes
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- audit keys: only `retired_at` may change, once, and no key is ever deleted
CREATE FUNCTION audit_keys_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.retired_at IS NULL AND NEW.name = OLD.name AND NEW.key_id = OLD.key_id
     AND NEW.public_key = OLD.public_key AND NEW.private_enc = OLD.private_enc AND NEW.created_at = OLD.created_at THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit keys are append-only (only retired_at may be set, once): % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_keys_guard BEFORE UPDATE OR DELETE ON audit_keys
  FOR EACH ROW EXECUTE FUNCTION audit_keys_guard();
CREATE TRIGGER audit_keys_no_truncate BEFORE TRUNCATE ON audit_keys
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- wakes the sequencer early (channel named after this schema, like migration 0009's) for every 32nd queued entry
-- only: a NOTIFY takes a database-wide lock at commit, which serialised concurrent writers (bench/audit-control.mjs
-- --no-notify: appends at 0.37 of plain INSERTs with one per write, 0.7 without); the sequencer's 100 ms timer
-- picks up the rest
CREATE FUNCTION notify_audit_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cfp_audit_' || substr(md5(current_schema()), 1, 16), '');
  RETURN NULL;
END $$;
CREATE TRIGGER audit_queued AFTER INSERT ON audit_queue
  FOR EACH ROW WHEN (NEW.id % 32 = 0) EXECUTE FUNCTION notify_audit_queued();

-- The application role's privileges on the audit tables, and nothing more.
CREATE FUNCTION audit_grant_app(app name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), app);
  EXECUTE format('REVOKE ALL ON audit_entries, audit_nodes, audit_checkpoints, audit_keys, audit_queue, audit_heads FROM %I', app);
  EXECUTE format('GRANT SELECT, INSERT ON audit_entries, audit_nodes, audit_checkpoints, audit_keys TO %I', app);
  EXECUTE format('GRANT UPDATE (retired_at) ON audit_keys TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, DELETE ON audit_queue TO %I', app);
  EXECUTE format('GRANT USAGE ON SEQUENCE audit_queue_id_seq TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON audit_heads TO %I', app);
END $$;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cfp_control_app') THEN
    PERFORM audit_grant_app('cfp_control_app');
  END IF;
END $$;
