-- Tenancy: tenants (pinned to a region), teams, projects, users, tenant memberships, role bindings.
-- Runs with search_path set to the control-plane schema (cfp_control by default).

CREATE TABLE tenants (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name        text NOT NULL,
  region      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, slug),
  UNIQUE (id, tenant_id)
);

CREATE TABLE projects (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id   uuid NOT NULL,
  team_id     uuid NOT NULL,
  slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, slug),
  FOREIGN KEY (team_id, tenant_id) REFERENCES teams (id, tenant_id) ON DELETE CASCADE
);

CREATE TABLE users (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email          text NOT NULL,
  display_name   text NOT NULL DEFAULT '',
  password_hash  text,
  disabled_at    timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE memberships (
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- One role at one scope. The scope is the deepest non-null id; `source` says who manages the binding:
-- 'manual' (API), 'bootstrap' (first-start setup) or 'idp:<provider id>' (replaced at every SSO login).
CREATE TABLE role_bindings (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role        text NOT NULL,
  scope_kind  text NOT NULL CHECK (scope_kind IN ('system', 'tenant', 'team', 'project')),
  tenant_id   uuid REFERENCES tenants(id) ON DELETE CASCADE,
  team_id     uuid REFERENCES teams(id) ON DELETE CASCADE,
  project_id  uuid REFERENCES projects(id) ON DELETE CASCADE,
  source      text NOT NULL DEFAULT 'manual',
  created_by  uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (
    (scope_kind = 'system'  AND tenant_id IS NULL AND team_id IS NULL AND project_id IS NULL) OR
    (scope_kind = 'tenant'  AND tenant_id IS NOT NULL AND team_id IS NULL AND project_id IS NULL) OR
    (scope_kind = 'team'    AND tenant_id IS NOT NULL AND team_id IS NOT NULL AND project_id IS NULL) OR
    (scope_kind = 'project' AND tenant_id IS NOT NULL AND team_id IS NOT NULL AND project_id IS NOT NULL)
  )
);
CREATE UNIQUE INDEX role_bindings_unique ON role_bindings (
  user_id, role, scope_kind,
  coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'),
  coalesce(team_id, '00000000-0000-0000-0000-000000000000'),
  coalesce(project_id, '00000000-0000-0000-0000-000000000000'),
  source
);
CREATE INDEX role_bindings_user ON role_bindings (user_id);
CREATE INDEX role_bindings_tenant ON role_bindings (tenant_id);

-- Settings the runtime of the tenant's region enforces (FR-4, FR-5, FR-6, FR-8); `version` grows on every
-- change so a runtime can sync what changed.
CREATE SEQUENCE settings_version;
CREATE TABLE tenant_settings (
  tenant_id   uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
  limits      jsonb NOT NULL DEFAULT '{}',
  version     bigint NOT NULL DEFAULT nextval('settings_version'),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE project_settings (
  project_id   uuid PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
  limits       jsonb NOT NULL DEFAULT '{}',
  cors         jsonb NOT NULL DEFAULT '{"allowedOrigins": [], "allowCredentials": false}',
  validation   jsonb NOT NULL DEFAULT '{"strict": false}',
  diagnostics  jsonb NOT NULL DEFAULT '{"emit": false, "stateWrite": false, "dlqReplay": false, "stepSource": false}',
  version      bigint NOT NULL DEFAULT nextval('settings_version'),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
