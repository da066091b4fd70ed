-- Single sign-on: identity providers per tenant (OIDC, SAML), IdP-group -> role mappings, linked external
-- identities, pending logins (state, nonce, PKCE verifier, SAML request id), one-time login codes, and
-- consumed SAML assertion ids (replay protection).

CREATE TABLE identity_providers (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('oidc', 'saml')),
  name        text NOT NULL,
  config      jsonb NOT NULL,
  secret_enc  text,
  enabled     boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

CREATE TABLE group_mappings (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider_id  uuid NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
  idp_group    text NOT NULL,
  role         text NOT NULL,
  team_id      uuid REFERENCES teams(id) ON DELETE CASCADE,
  project_id   uuid REFERENCES projects(id) ON DELETE CASCADE
);
CREATE INDEX group_mappings_provider ON group_mappings (provider_id);

CREATE TABLE external_identities (
  provider_id    uuid NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
  subject        text NOT NULL,
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  last_login_at  timestamptz NOT NULL,
  PRIMARY KEY (provider_id, subject)
);

CREATE TABLE login_states (
  state_hash     bytea PRIMARY KEY,
  provider_id    uuid NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
  binding_hash   bytea NOT NULL,
  code_verifier  text,
  nonce          text,
  request_id     text,
  return_to      text,
  expires_at     timestamptz NOT NULL
);

CREATE TABLE login_codes (
  code_hash    bytea PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  tenant_id    uuid REFERENCES tenants(id) ON DELETE CASCADE,
  auth_method  text NOT NULL,
  expires_at   timestamptz NOT NULL
);

CREATE TABLE saml_assertions_seen (
  provider_id   uuid NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
  assertion_id  text NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (provider_id, assertion_id)
);
