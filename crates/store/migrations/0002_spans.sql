-- One row per finished invocation attempt: the trace timeline of the workbench.
CREATE TABLE spans (
    id            bigserial PRIMARY KEY,
    tenant_id     text NOT NULL,
    project_id    text NOT NULL,
    trace_id      text NOT NULL,
    step          text NOT NULL,
    trigger       text NOT NULL,
    attempt       int NOT NULL,
    invocation_id text,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL,
    ok            boolean NOT NULL,
    error         jsonb
);
CREATE INDEX spans_trace ON spans (tenant_id, project_id, trace_id, started_at);
CREATE INDEX spans_recent ON spans (tenant_id, project_id, id);
CREATE INDEX logs_ts ON logs (ts);
CREATE INDEX spans_ts ON spans (ended_at);
