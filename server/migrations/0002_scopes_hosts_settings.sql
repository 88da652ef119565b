-- Settings shared by every process on this database: the key fingerprint and public URL.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- API tokens are `admin` (the admin API and the second factor) or `mcp` (only the second
-- factor, optionally for one account).
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_tokens ADD COLUMN account_id TEXT;

-- Upstream hosts an operator allows for an integration beyond the ones its spec declares.
CREATE TABLE upstream_hosts (
    integration TEXT NOT NULL,
    host TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (integration, host)
);

-- An empty filter used to mean "all"; "all" is now a value of its own.
UPDATE mcp_servers SET methods = '["all"]' WHERE methods = '[]';
UPDATE mcp_servers SET tags = '["all"]' WHERE tags = '[]';
