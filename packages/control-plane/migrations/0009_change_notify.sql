-- Runtimes long-poll the settings and the revocation feed; a change wakes the waiting requests at once through
-- NOTIFY on channels of this schema only (named after a hash of it: control planes of other schemas sharing the
-- database never wake each other).
CREATE FUNCTION notify_settings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cfp_settings_' || substr(md5(current_schema()), 1, 16), '');
  RETURN NULL;
END $$;

CREATE FUNCTION notify_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cfp_revocations_' || substr(md5(current_schema()), 1, 16), '');
  RETURN NULL;
END $$;

CREATE TRIGGER project_settings_changed AFTER INSERT OR UPDATE ON project_settings
  FOR EACH STATEMENT EXECUTE FUNCTION notify_settings_changed();
CREATE TRIGGER tenant_settings_changed AFTER INSERT OR UPDATE ON tenant_settings
  FOR EACH STATEMENT EXECUTE FUNCTION notify_settings_changed();
CREATE TRIGGER revocations_added AFTER INSERT ON revocations
  FOR EACH STATEMENT EXECUTE FUNCTION notify_revoked();
