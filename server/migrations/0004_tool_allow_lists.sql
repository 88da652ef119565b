-- An MCP server may name the tools it exposes, and the tools it never exposes.
ALTER TABLE mcp_servers ADD COLUMN tools TEXT NOT NULL DEFAULT '["all"]';
ALTER TABLE mcp_servers ADD COLUMN exclude_tools TEXT NOT NULL DEFAULT '[]';
