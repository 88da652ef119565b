-- The audit log's ids are unique by construction (a random per-process prefix and a counter,
-- server/src/audit.rs), so the index that enforced it only cost every insert a seek and a
-- fourth B-tree. SQLite cannot drop a primary key, so the table is rebuilt without it.
CREATE TABLE tool_calls_rebuilt (
    id TEXT NOT NULL,
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
INSERT INTO tool_calls_rebuilt (id, at_ms, account_id, server_id, integration, tool, arguments_hmac, upstream_status, latency_ms, outcome)
    SELECT id, at_ms, account_id, server_id, integration, tool, arguments_hmac, upstream_status, latency_ms, outcome FROM tool_calls;
DROP TABLE tool_calls;
ALTER TABLE tool_calls_rebuilt RENAME TO tool_calls;
CREATE INDEX tool_calls_by_server ON tool_calls (server_id, at_ms, id);
CREATE INDEX tool_calls_by_age ON tool_calls (at_ms);
