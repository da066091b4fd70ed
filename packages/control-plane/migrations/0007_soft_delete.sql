-- Deleting tenants, teams and projects is a soft delete: the row stays (with `deleted_at`) so that what was
-- deleted, and the runtime data it still owns, can be traced; every read of the hierarchy skips deleted rows.
-- A deleted object's slug may be used again: slugs are unique among live rows only.

ALTER TABLE tenants ADD COLUMN deleted_at timestamptz;
ALTER TABLE teams ADD COLUMN deleted_at timestamptz;
ALTER TABLE projects ADD COLUMN deleted_at timestamptz;

ALTER TABLE tenants DROP CONSTRAINT tenants_slug_key;
CREATE UNIQUE INDEX tenants_slug_live ON tenants (slug) WHERE deleted_at IS NULL;
ALTER TABLE teams DROP CONSTRAINT teams_tenant_id_slug_key;
CREATE UNIQUE INDEX teams_slug_live ON teams (tenant_id, slug) WHERE deleted_at IS NULL;
ALTER TABLE projects DROP CONSTRAINT projects_tenant_id_slug_key;
CREATE UNIQUE INDEX projects_slug_live ON projects (tenant_id, slug) WHERE deleted_at IS NULL;
CREATE INDEX projects_team_live ON projects (team_id) WHERE deleted_at IS NULL;
CREATE INDEX teams_tenant_live ON teams (tenant_id) WHERE deleted_at IS NULL;
