-- Delivery of SLO alert transitions to the runtime's alert targets (webhook, e-mail, Alertmanager; docs/slo.md
-- "Delivery"). One row per (transition, target), written in the transaction that writes the transition
-- (`slo_alert_events`), so a transition is delivered exactly when it is committed, and at least once.
-- A delivery round claims due rows (`FOR UPDATE SKIP LOCKED`, then a lease: attempts + 1, next_attempt_at pushed
-- past the request's timeout, lease_owner set, committed before anything is sent); the outcome is recorded only by
-- the lease holder. A crash between claim and outcome leaves the row due again when the lease ends.
-- The rows of one alert and target go out in order: a row is claimed only when no earlier one is still open.
CREATE TABLE alert_outbox (
    id              bigserial PRIMARY KEY,
    event_id        bigint NOT NULL REFERENCES slo_alert_events (id) ON DELETE CASCADE,
    alert_id        bigint NOT NULL,
    tenant_id       text NOT NULL,
    project_id      text NOT NULL,
    target          text NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     text,
    delivered_at    timestamptz,
    -- given up after the attempt limit (or skipped: a target that takes no such transition, see `skipped`)
    failed_at       timestamptz,
    skipped         boolean NOT NULL DEFAULT false,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, target)
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX alert_outbox_alert ON alert_outbox (alert_id, target, id) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX alert_outbox_scope ON alert_outbox (tenant_id, project_id, id);
