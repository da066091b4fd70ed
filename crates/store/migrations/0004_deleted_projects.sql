-- Projects deleted in the control plane. Their data (steps, queue, dead letters, state, logs, spans, streams,
-- payloads) is purged once the retention has passed; the row stays as the record that it was.
CREATE TABLE deleted_projects (
    tenant_id      text NOT NULL,
    project_id     text NOT NULL,
    deleted_at     timestamptz NOT NULL DEFAULT now(),
    -- A replica purging it holds it until then (a replica that dies mid-purge leaves it to the next).
    purging_by     text,
    purging_until  timestamptz,
    purged_at      timestamptz,
    purged_rows    bigint,
    PRIMARY KEY (tenant_id, project_id)
);
