-- Every committed change to the tables a token resolves through notifies `specgate_changes`,
-- so each instance drops what it cached from them (see server/src/changes.rs).
CREATE FUNCTION specgate_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('specgate_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER accounts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION specgate_notify_change();
CREATE TRIGGER mcp_servers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mcp_servers
    FOR EACH STATEMENT EXECUTE FUNCTION specgate_notify_change();
CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION specgate_notify_change();
