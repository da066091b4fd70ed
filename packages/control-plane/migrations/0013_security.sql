-- Security alerts with automatic responses (issue 10 item 9, docs/control-plane.md "Security alerts"). The rule
-- evaluator (src/security/rules.ts) reads new `audit_entries` after a per-chain cursor (`security_cursors`) and,
-- in one transaction with the cursor's advance, writes an alert (`security_alerts`, append-only like the chain),
-- queues one delivery per webhook (`security_deliveries`, the durable outbox the deliverer works off), and carries
-- out the responses (revoked sessions or API key, `login_locks`).

CREATE TABLE security_alerts (
  id            bigserial PRIMARY KEY,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  rule          text NOT NULL,
  severity      text NOT NULL CHECK (severity IN ('warning', 'high', 'critical')),
  tenant_id     uuid,
  -- what the rule is about: a user id, an API key id, a chain
  subject       text,
  details       jsonb NOT NULL DEFAULT '{}',
  -- the audit entry that crossed the threshold, and its time (windows and de-duplication use it)
  source_chain  text NOT NULL,
  source_seq    bigint NOT NULL,
  source_time   timestamptz NOT NULL,
  UNIQUE (rule, source_chain, source_seq)
);
CREATE INDEX security_alerts_tenant ON security_alerts (tenant_id, id DESC);
CREATE INDEX security_alerts_subject ON security_alerts (rule, subject, source_time DESC);

CREATE TRIGGER security_alerts_append_only BEFORE UPDATE OR DELETE ON security_alerts
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER security_alerts_no_truncate BEFORE TRUNCATE ON security_alerts
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE TABLE security_deliveries (
  id               bigserial PRIMARY KEY,
  alert_id         bigint NOT NULL REFERENCES security_alerts(id),
  url              text NOT NULL,
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  delivered_at     timestamptz,
  -- set when the last allowed attempt failed; the row is kept
  failed_at        timestamptz,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX security_deliveries_due ON security_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX security_deliveries_alert ON security_deliveries (alert_id);

-- password sign-in refused for the account until `until`
CREATE TABLE login_locks (
  user_id     uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  until       timestamptz NOT NULL,
  reason      text NOT NULL,
  alert_id    bigint REFERENCES security_alerts(id),
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- per chain: the last seq the evaluator has read
CREATE TABLE security_cursors (
  chain  text PRIMARY KEY,
  seq    bigint NOT NULL
);
-- an existing installation starts at its current heads: history is not re-evaluated into alerts
INSERT INTO security_cursors (chain, seq) SELECT chain, size - 1 FROM audit_heads;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cfp_control_app') THEN
    EXECUTE 'GRANT SELECT, INSERT ON security_alerts TO cfp_control_app';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE ON security_deliveries, security_cursors TO cfp_control_app';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON login_locks TO cfp_control_app';
    EXECUTE 'GRANT USAGE ON SEQUENCE security_alerts_id_seq, security_deliveries_id_seq TO cfp_control_app';
  END IF;
END $$;
