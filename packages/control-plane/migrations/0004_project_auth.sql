-- End-user authentication of a project's API steps: `{"oidc": {"issuer", "audience", "jwksUrl"}}` names the
-- project's own OIDC provider whose JWTs the runtime accepts; `{"oidc": null}` (the default) accepts none.

ALTER TABLE project_settings ADD COLUMN auth jsonb NOT NULL DEFAULT '{"oidc": null}';
