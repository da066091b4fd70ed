-- CFP runtime schema. Every table is keyed by tenant and project from day one.

CREATE TABLE runtimes (
    id           text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The steps a project's workers registered last. Subscriptions are read from here inside the
-- transaction that publishes an event, so every runtime replica fans out the same way.
CREATE TABLE steps (
    tenant_id     text NOT NULL,
    project_id    text NOT NULL,
    name          text NOT NULL,
    kind          text NOT NULL,
    file          text NOT NULL DEFAULT '',
    subscribes    jsonb NOT NULL DEFAULT '[]',
    max_retries   int NOT NULL DEFAULT 3,
    delay_s       int NOT NULL DEFAULT 0,
    manifest      jsonb NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, project_id, name)
);

-- One row per (event, subscriber step): the durable topic queue.
-- status: 0 ready, 1 leased, 2 done (kept for the retention window: dedup and recent runs).
CREATE TABLE queue (
    seq          bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    project_id   text NOT NULL,
    step         text NOT NULL,
    event_id     uuid NOT NULL,
    topic        text NOT NULL,
    data         jsonb,
    payload_ref  text,
    trace_id     text NOT NULL,
    group_id     text,
    attempt      int NOT NULL DEFAULT 0,
    max_retries  int NOT NULL,
    status       smallint NOT NULL DEFAULT 0,
    visible_at   timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz,
    lease_owner  text,
    last_error   jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    UNIQUE (tenant_id, project_id, step, event_id)
);
CREATE INDEX queue_ready ON queue (tenant_id, project_id, step, visible_at, seq) WHERE status = 0;
CREATE INDEX queue_open_groups ON queue (tenant_id, project_id, step, group_id, seq)
    WHERE status < 2 AND group_id IS NOT NULL;
CREATE INDEX queue_leased ON queue (lease_until) WHERE status = 1;
CREATE INDEX queue_done ON queue (finished_at) WHERE status = 2;

CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    tenant_id    text NOT NULL,
    project_id   text NOT NULL,
    step         text NOT NULL,
    event_id     uuid NOT NULL,
    topic        text NOT NULL,
    data         jsonb,
    payload_ref  text,
    trace_id     text NOT NULL,
    group_id     text,
    attempts     int NOT NULL,
    error        jsonb,
    failed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_scope ON dead_letters (tenant_id, project_id, step, failed_at);

CREATE TABLE state (
    tenant_id  text NOT NULL,
    project_id text NOT NULL,
    group_id   text NOT NULL,
    key        text NOT NULL,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, project_id, group_id, key)
);

CREATE TABLE logs (
    id            bigserial PRIMARY KEY,
    tenant_id     text NOT NULL,
    project_id    text NOT NULL,
    ts            timestamptz NOT NULL,
    level         text NOT NULL,
    msg           text NOT NULL,
    trace_id      text,
    step          text,
    invocation_id text,
    data          jsonb
);
CREATE INDEX logs_trace ON logs (tenant_id, project_id, trace_id, id);
CREATE INDEX logs_step ON logs (tenant_id, project_id, step, id);
