-- A project purged soon after its deletion is swept once more when writes already under way for it have ended
-- (purge.rs, SETTLE): swept_at records that second pass.
ALTER TABLE deleted_projects ADD COLUMN swept_at timestamptz;
