-- A vendor call checks the account's base URL against the allowed upstream hosts, so removing
-- one must end what each instance cached with a token (see server/src/changes.rs).
CREATE TRIGGER upstream_hosts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON upstream_hosts
    FOR EACH STATEMENT EXECUTE FUNCTION specgate_notify_change();
