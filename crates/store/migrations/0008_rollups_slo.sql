-- Durable per-step history (rollups) and SLO evaluation state (docs/slo.md).

-- One row per finished attempt, written in the transaction that records the attempt's end in `queue` (complete,
-- fail, lease reaping), so it exists exactly when the attempt's outcome is committed. The rollup job consumes
-- the rows: it deletes them and adds them to `step_rollups` in one transaction (a crash rolls both back).
-- outcome: 0 ok, 1 handler_error, 2 timeout, 3 lost_worker, 4 dead_lettered.
CREATE TABLE step_outcomes (
    id           bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    project_id   text NOT NULL,
    step         text NOT NULL,
    outcome      smallint NOT NULL,
    duration_ms  float8,
    finished_at  timestamptz NOT NULL DEFAULT now()
);

-- Per-step counts per minute (res = 60, kept days) and per hour (res = 3600, kept months).
-- latency_le[i]: attempts with a measured duration <= the i-th bound of rollups::LATENCY_BOUNDS_MS (cumulative,
-- as Prometheus `le` buckets); latency_count: attempts with a measured duration (the last, +Inf, bucket).
CREATE TABLE step_rollups (
    tenant_id      text NOT NULL,
    project_id     text NOT NULL,
    step           text NOT NULL,
    res            int NOT NULL,
    bucket_start   timestamptz NOT NULL,
    total          bigint NOT NULL,
    ok             bigint NOT NULL,
    handler_error  bigint NOT NULL,
    timeout        bigint NOT NULL,
    lost_worker    bigint NOT NULL,
    dead_lettered  bigint NOT NULL,
    latency_count  bigint NOT NULL,
    latency_sum_ms float8 NOT NULL,
    latency_le     bigint[] NOT NULL,
    PRIMARY KEY (tenant_id, project_id, step, res, bucket_start)
);
CREATE INDEX step_rollups_time ON step_rollups (res, bucket_start);

CREATE FUNCTION cfp_add_counts(a bigint[], b bigint[]) RETURNS bigint[] LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(COALESCE(x, 0) + COALESCE(y, 0) ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;

-- SLOs set per project through the API, adding to or overriding a step file's `config.slo` (spec NULL: the
-- step's SLO is switched off).
CREATE TABLE slo_overrides (
    tenant_id  text NOT NULL,
    project_id text NOT NULL,
    step       text NOT NULL,
    spec       jsonb,
    updated_by text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, project_id, step)
);

-- Burn-rate alerts: at most one open (pending or firing) alert per (step, sli, rule).
CREATE TABLE slo_alerts (
    id           bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    project_id   text NOT NULL,
    step         text NOT NULL,
    sli          text NOT NULL,
    rule         text NOT NULL,
    severity     text NOT NULL,
    state        text NOT NULL,
    burn_long    float8 NOT NULL,
    burn_short   float8 NOT NULL,
    started_at   timestamptz NOT NULL,
    fired_at     timestamptz,
    resolved_at  timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX slo_alerts_open ON slo_alerts (tenant_id, project_id, step, sli, rule) WHERE resolved_at IS NULL;
CREATE INDEX slo_alerts_scope ON slo_alerts (tenant_id, project_id, id);

-- Every transition of an alert (pending, firing, resolved), in order.
CREATE TABLE slo_alert_events (
    id         bigserial PRIMARY KEY,
    alert_id   bigint NOT NULL REFERENCES slo_alerts (id) ON DELETE CASCADE,
    tenant_id  text NOT NULL,
    project_id text NOT NULL,
    state      text NOT NULL,
    at         timestamptz NOT NULL,
    burn_long  float8 NOT NULL,
    burn_short float8 NOT NULL
);
CREATE INDEX slo_alert_events_scope ON slo_alert_events (tenant_id, project_id, id);
