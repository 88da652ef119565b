-- Which calls of a server wait for a person's confirmation, and what happens where the client
-- cannot ask (server/src/confirm.rs). `confirm` is `never`, `destructive`, `writes` or a JSON
-- array of tool names.
ALTER TABLE mcp_servers ADD COLUMN confirm TEXT NOT NULL DEFAULT 'never';
ALTER TABLE mcp_servers ADD COLUMN confirm_fallback TEXT NOT NULL DEFAULT 'refuse';
-- Each confirmation's nonce once it has been used, so a confirmation works once across every
-- instance; rows go when the confirmation would have expired anyway.
CREATE TABLE used_confirmations (
    nonce_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_confirmations_by_expiry ON used_confirmations (expires_at);
