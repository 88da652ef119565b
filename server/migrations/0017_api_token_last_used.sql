-- When an API token last opened the admin API, the console or a consent page (Unix seconds;
-- server/src/store.rs). A table of its own, because every write to `api_tokens` moves the
-- change counter that empties every instance's caches. Tool calls made with a token are in
-- the audit log instead.
CREATE TABLE api_token_uses (
    api_token_id TEXT PRIMARY KEY REFERENCES api_tokens (id) ON DELETE CASCADE,
    last_used_at BIGINT NOT NULL
);
