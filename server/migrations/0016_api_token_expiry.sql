-- An API token may expire (server/src/provision.rs): NULL for one that lasts until revoked.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
