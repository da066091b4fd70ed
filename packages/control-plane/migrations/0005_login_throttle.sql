-- Failed password logins per key (`email:<lower-case address>`, `ip:<address>`), shared by every replica: after
-- too many failures within the window the key is locked until `locked_until` (429 with Retry-After).

CREATE TABLE login_failures (
  key          text PRIMARY KEY,
  failures     integer NOT NULL,
  first_at     timestamptz NOT NULL,
  locked_until timestamptz
);
