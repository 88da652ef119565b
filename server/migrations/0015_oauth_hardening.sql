-- The OAuth server and vendor connect, hardened (server/src/grants.rs, server/src/connect.rs).

-- A grant or code names its resource by MCP server (`server_id`) and transport suffix, never
-- by the MCP URL, whose token `mcp_servers` keeps only as a peppered hash.
ALTER TABLE oauth_grants ADD COLUMN resource_suffix TEXT NOT NULL DEFAULT '';
UPDATE oauth_grants SET resource_suffix = CASE
    WHEN resource LIKE '%/portable/messages' THEN '/portable/messages'
    WHEN resource LIKE '%/portable/sse' THEN '/portable/sse'
    WHEN resource LIKE '%/messages' THEN '/messages'
    WHEN resource LIKE '%/sse' THEN '/sse'
    WHEN resource LIKE '%/portable' THEN '/portable'
    ELSE '' END;
ALTER TABLE oauth_grants DROP COLUMN resource;
ALTER TABLE oauth_codes ADD COLUMN resource_suffix TEXT NOT NULL DEFAULT '';
UPDATE oauth_codes SET resource_suffix = CASE
    WHEN resource LIKE '%/portable/messages' THEN '/portable/messages'
    WHEN resource LIKE '%/portable/sse' THEN '/portable/sse'
    WHEN resource LIKE '%/messages' THEN '/messages'
    WHEN resource LIKE '%/sse' THEN '/sse'
    WHEN resource LIKE '%/portable' THEN '/portable'
    ELSE '' END;
ALTER TABLE oauth_codes DROP COLUMN resource;

-- A rotated refresh token presented again within a short grace (a client retrying a refresh
-- whose answer it lost) gets the same next pair, sealed under a key derived from the rotated
-- token itself, so the database and the server key alone cannot open it.
ALTER TABLE oauth_tokens ADD COLUMN used_at BIGINT;
ALTER TABLE oauth_tokens ADD COLUMN successor_sealed TEXT;

-- A vendor connection is bound to the browser that opened its specgate start URL: the start
-- token and the browser's cookie nonce are kept as peppered hashes, the vendor's consent URL
-- (which carries `state`) sealed.
ALTER TABLE oauth_connections ADD COLUMN start_hash TEXT;
ALTER TABLE oauth_connections ADD COLUMN browser_hash TEXT;
ALTER TABLE oauth_connections ADD COLUMN authorize_sealed TEXT;
-- An operator's consent, given when the reconnect started, to a different vendor identity.
ALTER TABLE oauth_connections ADD COLUMN accept_other_identity BIGINT NOT NULL DEFAULT 0;
CREATE INDEX oauth_connections_by_start ON oauth_connections (start_hash);

-- The vendor identity (subject or tenant) an account was first connected as; a reconnect
-- that comes back as another one is refused.
ALTER TABLE accounts ADD COLUMN vendor_identity TEXT;
