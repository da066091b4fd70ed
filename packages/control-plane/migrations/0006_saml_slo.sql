-- SAML signed requests and single logout.
-- Each SAML provider gets its own SP signing key when first needed: the private key sealed with the master key
-- (bound to the provider id), the self-signed certificate (base64 DER) published in its SP metadata.
ALTER TABLE identity_providers ADD COLUMN sp_key_enc text, ADD COLUMN sp_certificate text;

-- Providers that existed before keep sending unsigned AuthnRequests until an admin switches signing on (their
-- IdP may not know the SP certificate yet); new providers sign by default. The flag is always stored.
UPDATE identity_providers SET config = config || '{"signRequests": false}'::jsonb
 WHERE kind = 'saml' AND NOT (config ? 'signRequests');

-- A SAML login handed over by a one-time login code keeps what single logout needs until its session exists.
ALTER TABLE login_codes ADD COLUMN saml jsonb;

-- The SAML login behind a session: the NameID as the IdP sent it and its SessionIndex. IdP-initiated logout
-- finds sessions by (provider, NameID[, SessionIndex]); SP-initiated logout names them to the IdP.
CREATE TABLE saml_sessions (
  session_id         uuid PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
  provider_id        uuid NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
  name_id            text NOT NULL,
  name_id_format     text,
  name_qualifier     text,
  sp_name_qualifier  text,
  session_index      text
);
CREATE INDEX saml_sessions_subject ON saml_sessions (provider_id, name_id);

-- SP-initiated logouts waiting for the IdP's LogoutResponse (InResponseTo), consumed once, 10 minutes.
-- (Replayed logout message ids are caught in saml_assertions_seen, like assertion ids.)
CREATE TABLE saml_logout_requests (
  request_id   text PRIMARY KEY,
  provider_id  uuid NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
  return_to    text,
  expires_at   timestamptz NOT NULL
);
