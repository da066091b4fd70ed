-- Usage metering (docs/usage.md): per-tenant and per-project counters, hourly and daily.

-- Events published and their payload bytes, one row per publishing statement and project, written by that
-- statement (the completion of an invocation, or an API publish) so it exists exactly when the events do. The
-- rollup job (rollups::roll_up) deletes these rows and adds them to `usage_counters` in one transaction, together
-- with the `step_outcomes` rows it folds: nothing is counted twice or lost across a crash.
CREATE TABLE usage_deltas (
    id            bigserial PRIMARY KEY,
    tenant_id     text NOT NULL,
    project_id    text NOT NULL,
    events        bigint NOT NULL,
    payload_bytes bigint NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);

-- Counters per project per hour (res = 3600) and per UTC day (res = 86400); tenant totals are sums over its
-- projects. invocations: deliveries that finished (ok or dead-lettered, once each however many attempts);
-- attempts and exec_ms: every attempt that ended and its measured run time. stream_messages and refused_*
-- come from the runtime's in-memory meter, flushed every few seconds (at most that interval is lost on SIGKILL).
CREATE TABLE usage_counters (
    tenant_id       text NOT NULL,
    project_id      text NOT NULL,
    res             int NOT NULL,
    bucket_start    timestamptz NOT NULL,
    invocations     bigint NOT NULL DEFAULT 0,
    attempts        bigint NOT NULL DEFAULT 0,
    exec_ms         float8 NOT NULL DEFAULT 0,
    events          bigint NOT NULL DEFAULT 0,
    payload_bytes   bigint NOT NULL DEFAULT 0,
    stream_messages bigint NOT NULL DEFAULT 0,
    refused_413     bigint NOT NULL DEFAULT 0,
    refused_429     bigint NOT NULL DEFAULT 0,
    refused_504     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, project_id, res, bucket_start)
);
CREATE INDEX usage_counters_tenant ON usage_counters (tenant_id, res, bucket_start);
CREATE INDEX usage_counters_time ON usage_counters (res, bucket_start);
