-- When an API token last opened the admin API, the console or a consent page (Unix seconds;
-- server/src/store.rs). Tool calls made with it are in the audit log instead.
ALTER TABLE api_tokens ADD COLUMN last_used_at BIGINT;
