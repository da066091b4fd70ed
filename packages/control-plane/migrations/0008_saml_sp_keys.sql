-- SAML SP signing keys with rotation: a provider has one `current` key (signs AuthnRequests and logout
-- messages), at most one `next` key (published in the SP metadata, not signing yet) and at most one `previous`
-- key (stopped signing at the last activation, still published until `published_until`). Private keys stay
-- sealed with the master key, bound to the provider's id (purpose `cfp-control/saml-sp-key:<provider id>`,
-- as in 0006); certificates are base64 DER.
CREATE TABLE saml_sp_keys (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider_id      uuid NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
  state            text NOT NULL CHECK (state IN ('current', 'next', 'previous')),
  private_enc      text NOT NULL,
  certificate      text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- when it became `current` (null for a `next` key)
  activated_at     timestamptz,
  -- a `previous` key is dropped from the metadata (and deleted) from then on
  published_until  timestamptz,
  UNIQUE (provider_id, state),
  CHECK ((state = 'next') = (activated_at IS NULL)),
  CHECK ((state = 'previous') = (published_until IS NOT NULL))
);
CREATE INDEX saml_sp_keys_previous ON saml_sp_keys (published_until) WHERE state = 'previous';

-- The key each provider has today becomes its `current` one. When it was made was not recorded: created_at and
-- activated_at are the time of this migration (the certificate's notBefore says when the key was made).
INSERT INTO saml_sp_keys (provider_id, state, private_enc, certificate, activated_at)
SELECT id, 'current', sp_key_enc, sp_certificate, now() FROM identity_providers
 WHERE sp_key_enc IS NOT NULL AND sp_certificate IS NOT NULL;

ALTER TABLE identity_providers DROP COLUMN sp_key_enc, DROP COLUMN sp_certificate;
