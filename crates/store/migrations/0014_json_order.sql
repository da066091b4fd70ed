-- Key order kept end to end (docs/semantics.md "Key order"): `jsonb` stores objects with their keys reordered
-- (shorter first, then bytewise) and rewrites numbers and whitespace; `json` keeps the text it was given. The
-- columns that hold what a handler wrote and a reader gets back become `json`: event data (queue and dead
-- letters, replayed as stored), state values, stream items and the stored stream changes that carry them.
-- None of them is indexed, compared or queried with a jsonb-only operator (the store builds what it needs
-- with `json` functions). Rows written before this migration keep the order jsonb gave them.
-- Platform-written JSON (errors, manifests, SLO specs, log fields) stays `jsonb`.
ALTER TABLE queue ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE dead_letters ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE state ALTER COLUMN value TYPE json USING value::json;
ALTER TABLE stream_items ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE stream_changes ALTER COLUMN change TYPE json USING change::json;
