-- W3C trace context of the attempt that published an event (docs/tracing.md): the span that consumes the
-- event is its child. NULL for rows without one (cron ticks, rows written before this migration).
ALTER TABLE queue ADD COLUMN traceparent text, ADD COLUMN tracestate text;
ALTER TABLE dead_letters ADD COLUMN traceparent text, ADD COLUMN tracestate text;

-- A cheaper built-in trace store (docs/tracing.md): spans are written with COPY; of their indexes, the one by
-- end time (used only by the retention sweep) becomes a BRIN (rows arrive in end-time order: a few pages of
-- summary instead of a B-tree entry per row), and the (tenant, project, id) one goes: the recent-traces query
-- groups by trace id, which the (tenant, project, trace_id, started_at) index serves.
DROP INDEX IF EXISTS spans_ts;
CREATE INDEX spans_ts ON spans USING brin (ended_at);
DROP INDEX IF EXISTS spans_recent;
