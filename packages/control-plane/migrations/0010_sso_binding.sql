-- A one-time SSO login code is redeemable only by the browser that started the login: the hash of a cookie set
-- at the callback (binding_hash), or, when the login started with a PKCE-style code_challenge (S256), by the
-- holder of its verifier. Codes are bound from here on; a code issued before this migration cannot be redeemed
-- (they live 60 s).
ALTER TABLE login_states ADD COLUMN code_challenge text;
ALTER TABLE login_codes ADD COLUMN binding_hash bytea, ADD COLUMN code_challenge text;

-- A `user` revocation may be confined to one tenant: removing a member from a tenant ends the tokens issued for
-- that tenant (`tid`) only, not those of the user's other tenants. NULL: every token of the user.
ALTER TABLE revocations ADD COLUMN tenant_id uuid;
