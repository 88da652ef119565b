-- OAuth 2.1 sign-in for MCP servers with `oauth` set (server/src/grants.rs): registered and
-- metadata-document clients, single-use authorization codes, grants and their tokens. Codes
-- and tokens are stored only as peppered hashes, like MCP and API tokens. A grant ends with
-- its MCP server and with the API token that consented to it.
ALTER TABLE mcp_servers ADD COLUMN oauth BIGINT NOT NULL DEFAULT 0;

-- Which grant (and which API token) made each call; NULL for calls by URL alone.
ALTER TABLE tool_calls ADD COLUMN grant_id TEXT;
ALTER TABLE tool_calls ADD COLUMN api_token_id TEXT;

CREATE TABLE oauth_clients (
    client_id TEXT PRIMARY KEY,
    -- 1: registered here (RFC 7591); 0: a Client ID Metadata Document, kept until expires_at.
    registered BIGINT NOT NULL,
    name TEXT NOT NULL,
    -- A JSON array of exact redirect URIs.
    redirect_uris TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Registered clients expire unused; documents are fetched again after it.
    expires_at BIGINT NOT NULL
);

CREATE TABLE oauth_grants (
    id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    api_token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_grants_by_server ON oauth_grants (server_id);
CREATE INDEX oauth_grants_by_api_token ON oauth_grants (api_token_id);

CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    server_id TEXT NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    api_token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- The grant the code was exchanged for: a second exchange revokes it.
    grant_id TEXT
);

CREATE TABLE oauth_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    -- 'access' or 'refresh'.
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- A refresh token already exchanged: presenting it again revokes the grant.
    used BIGINT NOT NULL
);
CREATE INDEX oauth_tokens_by_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_by_expiry ON oauth_tokens (expires_at);
