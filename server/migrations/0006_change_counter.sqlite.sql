-- The change watcher polls this counter rather than `PRAGMA data_version`, which also moves
-- on every audit-log write; only the tables a token resolves through count (see
-- server/src/changes.rs).
CREATE TABLE change_counter (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
INSERT INTO change_counter (id, n) VALUES (1, 0);
CREATE TRIGGER accounts_inserted AFTER INSERT ON accounts BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER accounts_updated AFTER UPDATE ON accounts BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER accounts_deleted AFTER DELETE ON accounts BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER mcp_servers_inserted AFTER INSERT ON mcp_servers BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER mcp_servers_updated AFTER UPDATE ON mcp_servers BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER mcp_servers_deleted AFTER DELETE ON mcp_servers BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER api_tokens_inserted AFTER INSERT ON api_tokens BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER api_tokens_updated AFTER UPDATE ON api_tokens BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER api_tokens_deleted AFTER DELETE ON api_tokens BEGIN UPDATE change_counter SET n = n + 1; END;
