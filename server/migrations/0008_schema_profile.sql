-- Which tool schemas an MCP server lists by default: `full` (JSON Schema 2020-12) or
-- `portable` (the subset every major MCP client accepts).
ALTER TABLE mcp_servers ADD COLUMN schema_profile TEXT NOT NULL DEFAULT 'full';
