-- The runtime's scheduled verification of its own audit chains (docs/audit.md "The control plane anchors and verifies by itself"): one row
-- per run, append-only like the chain, the same shape as the control plane's `audit_verifications` (migration 0012
-- there). Each run also records an `audit.verify` entry in `runtime:system`, in the same transaction as its row.

CREATE TABLE audit_verifications (
  id          bigserial PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  ok          boolean NOT NULL,
  chains      integer NOT NULL CHECK (chains >= 0),
  entries     bigint NOT NULL CHECK (entries >= 0),
  -- the first problem, when not ok
  chain       text,
  seq         bigint,
  finding     text,
  detail      text,
  duration_ms integer NOT NULL CHECK (duration_ms >= 0),
  CHECK (ok = (finding IS NULL))
);

CREATE FUNCTION audit_verifications_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_verifications is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_verifications_append_only BEFORE UPDATE OR DELETE ON audit_verifications
  FOR EACH ROW EXECUTE FUNCTION audit_verifications_refuse();
CREATE TRIGGER audit_verifications_no_truncate BEFORE TRUNCATE ON audit_verifications
  FOR EACH STATEMENT EXECUTE FUNCTION audit_verifications_refuse();
