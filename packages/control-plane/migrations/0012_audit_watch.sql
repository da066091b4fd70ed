-- Anchors and self-verification of the audit chain (issue 10, docs/audit.md "Anchors", docs/control-plane.md
-- Audit). `audit_anchors` records each anchor written to write-once storage (the object is the evidence; the row
-- says where and when, for the Audit page); `audit_verifications` records each periodic verification of every chain
-- by the control plane itself. Both are append-only like the chain.

CREATE TABLE audit_anchors (
  id          bigserial PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  digest      bytea NOT NULL CHECK (length(digest) = 32),
  location    text NOT NULL,
  checkpoints integer NOT NULL CHECK (checkpoints > 0),
  tsa         text NOT NULL,
  gen_time    timestamptz NOT NULL
);

CREATE TABLE audit_verifications (
  id          bigserial PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  ok          boolean NOT NULL,
  chains      integer NOT NULL,
  entries     bigint NOT NULL,
  -- the first problem, when not ok
  chain       text,
  seq         bigint,
  finding     text,
  detail      text,
  duration_ms integer NOT NULL
);

CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE ON audit_anchors
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_anchors_no_truncate BEFORE TRUNCATE ON audit_anchors
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_verifications_append_only BEFORE UPDATE OR DELETE ON audit_verifications
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_verifications_no_truncate BEFORE TRUNCATE ON audit_verifications
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cfp_control_app') THEN
    EXECUTE format('GRANT SELECT, INSERT ON audit_anchors, audit_verifications TO cfp_control_app');
    EXECUTE format('GRANT USAGE ON SEQUENCE audit_anchors_id_seq, audit_verifications_id_seq TO cfp_control_app');
  END IF;
END $$;
