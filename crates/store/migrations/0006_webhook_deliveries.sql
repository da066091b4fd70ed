-- Signed webhook requests already accepted (docs/protocol.md, "Signed webhooks"): the same signature presented
-- again within the step's replay window is refused, so a captured request cannot be replayed. Keyed by a digest
-- of the signature; rows past expires_at are deleted by the runtime's maintenance and when a project is purged.
CREATE TABLE webhook_deliveries (
  tenant_id  text        NOT NULL,
  project_id text        NOT NULL,
  digest     bytea       NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, project_id, digest)
);
CREATE INDEX webhook_deliveries_expiry ON webhook_deliveries (expires_at);
