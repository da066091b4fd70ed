-- The runtime's audit chain (docs/audit.md, docs/architecture.md "Audit"). Writers insert events into the
-- audit_queue outbox (in the transaction of the change they record, where there is one); one sequencer at a time
-- (a transaction-level advisory lock) moves them into their chains, gap-free, and signs checkpoints.
CREATE TABLE audit_queue (
  id         bigserial   PRIMARY KEY,
  chain      text        NOT NULL,
  -- the entry's members other than v, chain, seq and prev (JSON text: jsonb would reorder nothing we need and
  -- refuses \u0000)
  event      text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_entries (
  chain      text        NOT NULL,
  seq        bigint      NOT NULL,
  -- the RFC 8785 text of the entry, and SHA-256(0x00 || leaf)
  leaf       text        NOT NULL,
  leaf_hash  bytea       NOT NULL,
  -- search columns, copied from the leaf
  time       timestamptz NOT NULL,
  kind       text        NOT NULL,
  actor_type text        NOT NULL,
  actor_id   text,
  sid        text,
  tenant_id  text,
  project_id text,
  status     text        NOT NULL,
  request_id text,
  trace_id   text,
  PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_entries_time ON audit_entries (time);
CREATE INDEX audit_entries_project ON audit_entries (tenant_id, project_id, time);
CREATE INDEX audit_entries_actor ON audit_entries (actor_id, time) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_entries_sid ON audit_entries (sid) WHERE sid IS NOT NULL;

-- Each chain's head: size, the last leaf hash and the tree's frontier (concatenated 32-byte hashes, largest
-- subtree first). Written only by the sequencer; verification recomputes everything from audit_entries.
CREATE TABLE audit_heads (
  chain           text        PRIMARY KEY,
  size            bigint      NOT NULL,
  prev            bytea       NOT NULL,
  frontier        bytea       NOT NULL,
  checkpoint_size bigint      NOT NULL DEFAULT 0,
  checkpoint_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_checkpoints (
  chain      text        NOT NULL,
  size       bigint      NOT NULL,
  root       bytea       NOT NULL,
  -- the frontier at this size: the next checkpoint's consistency proof is computed from it and the new leaves
  frontier   bytea       NOT NULL,
  note       text        NOT NULL,
  key_name   text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain, size)
);

-- Public audit keys, current and retired (old checkpoints keep verifying). The private key is not here: it is a
-- file of the runtime (`<data dir>/audit-key.json`).
CREATE TABLE audit_keys (
  id         bigserial   PRIMARY KEY,
  name       text        NOT NULL UNIQUE,
  public_key bytea       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

-- Append-only, enforced by the database: entries and checkpoints refuse UPDATE, DELETE and TRUNCATE; keys refuse
-- DELETE and TRUNCATE (retiring one is an UPDATE of retired_at).
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit table % is append-only (% refused)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_keys_no_delete BEFORE DELETE ON audit_keys
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_keys_no_truncate BEFORE TRUNCATE ON audit_keys
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
