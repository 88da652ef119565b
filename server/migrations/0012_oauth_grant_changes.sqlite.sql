-- An access token is cached with what it opens; an ended grant must end that on every
-- instance (see server/src/changes.rs). Expired tokens are pruned without a signal: their
-- expiry is checked at every use.
CREATE TRIGGER oauth_grants_deleted AFTER DELETE ON oauth_grants BEGIN UPDATE change_counter SET n = n + 1; END;
