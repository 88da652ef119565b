-- A vendor call checks the account's base URL against the allowed upstream hosts, so removing
-- one must end what each instance cached with a token (see server/src/changes.rs).
CREATE TRIGGER upstream_hosts_inserted AFTER INSERT ON upstream_hosts BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER upstream_hosts_updated AFTER UPDATE ON upstream_hosts BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER upstream_hosts_deleted AFTER DELETE ON upstream_hosts BEGIN UPDATE change_counter SET n = n + 1; END;
