-- Streams (Motia `*.stream.ts`): items clients subscribe to over the stream websocket.

-- Orders changes of one item across replicas: every write takes the next value, so a replica that receives
-- an older change of an item after a newer one can drop it.
CREATE SEQUENCE stream_seq;

-- One row per item; `data` is the item as clients see it (the object written, with `id` set).
CREATE TABLE stream_items (
    tenant_id  text NOT NULL,
    project_id text NOT NULL,
    stream     text NOT NULL,
    group_id   text NOT NULL,
    id         text NOT NULL,
    data       jsonb NOT NULL,
    seq        bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, project_id, stream, group_id, id)
);
CREATE INDEX stream_items_group ON stream_items (tenant_id, project_id, stream, group_id, created_at, id);

-- The streams a project's workers registered (name, file, schema, canAccess flag), so every replica knows
-- which stream names clients may join even when no worker of the project is connected to it.
CREATE TABLE stream_defs (
    tenant_id  text NOT NULL,
    project_id text NOT NULL,
    name       text NOT NULL,
    manifest   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, project_id, name)
);

-- Changes too large for one NOTIFY payload (8000 bytes): the notification carries `seq` and receivers read
-- the change here. Rows are swept after a few minutes.
CREATE TABLE stream_changes (
    seq        bigserial PRIMARY KEY,
    change     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stream_changes_created ON stream_changes (created_at);
