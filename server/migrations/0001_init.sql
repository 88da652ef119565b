-- Portable between SQLite and PostgreSQL: TEXT ids, BIGINT unix seconds, BIGINT 0/1 flags.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    integration TEXT NOT NULL,
    name TEXT NOT NULL,
    base_url TEXT,
    credentials_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE mcp_servers (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    methods TEXT NOT NULL,
    tags TEXT NOT NULL,
    require_api_token_auth BIGINT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE INDEX mcp_servers_account ON mcp_servers (account_id);
CREATE INDEX mcp_servers_expiry ON mcp_servers (expires_at);
