-- Tokens: signing keys (JWKS), sessions with rotating refresh tokens, the revocation feed, project API keys
-- and worker tokens, the one-time setup link.

-- ES256 signing keys. A key signs from `not_before` until a newer key takes over; it stays in the JWKS until
-- `expires_at` (the last token it signed has expired). The private JWK is sealed with the master key.
CREATE TABLE signing_keys (
  kid          text PRIMARY KEY,
  alg          text NOT NULL,
  public_jwk   jsonb NOT NULL,
  private_enc  text NOT NULL,
  not_before   timestamptz NOT NULL,
  expires_at   timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- A session is one login; its refresh tokens form a family. Reusing a spent refresh token revokes the session.
-- A login through a tenant's IdP is trusted for that tenant only: `tenant_id` then confines every token.
CREATE TABLE sessions (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  tenant_id      uuid REFERENCES tenants(id) ON DELETE CASCADE,
  auth_method    text NOT NULL,
  created_at     timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL,
  revoked_at     timestamptz,
  revoke_reason  text
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE refresh_tokens (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id  uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  token_hash  bytea NOT NULL UNIQUE,
  parent_id   uuid REFERENCES refresh_tokens(id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- What runtimes poll (GET /v1/service/revocations?since=seq). kind: 'session' (sid), 'user' (sub; tokens issued
-- at or before `issued_before` are dead), 'token' (jti), 'credential' (API key or worker token id).
CREATE TABLE revocations (
  seq            bigserial PRIMARY KEY,
  kind           text NOT NULL CHECK (kind IN ('session', 'user', 'token', 'credential')),
  subject        text NOT NULL,
  issued_before  timestamptz,
  reason         text NOT NULL DEFAULT '',
  created_at     timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL
);
CREATE INDEX revocations_subject ON revocations (kind, subject);
CREATE INDEX revocations_expires ON revocations (expires_at);

-- Project API keys (`cfp_live_<prefix>_<secret>`) and worker tokens (`cfp_wkr_<prefix>_<secret>`):
-- the secret is stored only as sha256(whole token).
CREATE TABLE credentials (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind         text NOT NULL CHECK (kind IN ('api_key', 'worker')),
  prefix       text NOT NULL UNIQUE,
  secret_hash  bytea NOT NULL,
  tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  team_id      uuid NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  project_id   uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  name         text NOT NULL,
  role         text,
  actions      text[],
  created_by   uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  CHECK ((kind = 'api_key') = (role IS NOT NULL))
);
CREATE INDEX credentials_project ON credentials (project_id);

-- At most one live setup link: a new start replaces it, using it deletes it.
CREATE TABLE setup_tokens (
  id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  token_hash  bytea NOT NULL,
  expires_at  timestamptz NOT NULL
);
