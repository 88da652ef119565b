-- The audit log: one row per tool call. No foreign keys, so rows outlive the MCP server and
-- account they describe. Arguments are kept only as a keyed digest, never as values.
CREATE TABLE tool_calls (
    id TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    account_id TEXT NOT NULL,
    server_id TEXT NOT NULL,
    integration TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments_hmac TEXT NOT NULL,
    upstream_status INTEGER NOT NULL,
    latency_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX tool_calls_by_server ON tool_calls (server_id, at_ms, id);
CREATE INDEX tool_calls_by_age ON tool_calls (at_ms);
