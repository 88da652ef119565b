-- What a model can read: each MCP server's result budget (bytes of a tools/call result) and
-- how its tools are exposed (`all`, or `discovery`: search, describe and call).
ALTER TABLE mcp_servers ADD COLUMN max_result_bytes BIGINT NOT NULL DEFAULT 100000;
ALTER TABLE mcp_servers ADD COLUMN tool_exposure TEXT NOT NULL DEFAULT 'all';
