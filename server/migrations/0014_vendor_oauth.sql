-- Connecting an account through the vendor's own OAuth consent (server/src/connect.rs).
-- The OAuth client an operator registered at a vendor, one per integration; its secret is
-- sealed like vendor credentials. Connected accounts refresh with it, so a rotated secret
-- takes effect for all of them.
CREATE TABLE oauth_apps (
    integration TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_secret_sealed TEXT NOT NULL,
    authorize_url TEXT,
    token_url TEXT,
    -- A JSON array.
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A connection sent to the vendor's consent page: keyed by the peppered hash of its `state`,
-- used once (`finished_at`), and refused after `expires_at`. The PKCE verifier is sealed.
-- What the callback did is kept for whoever started it (`account_id` or `error`) until the
-- sweeper removes the row.
CREATE TABLE oauth_connections (
    state_hash TEXT PRIMARY KEY,
    integration TEXT NOT NULL,
    name TEXT NOT NULL,
    base_url TEXT,
    -- The account being reconnected; NULL for a new one.
    reconnect_account_id TEXT,
    return_to TEXT,
    redirect_uri TEXT NOT NULL,
    verifier_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    finished_at BIGINT,
    account_id TEXT,
    error TEXT
);

CREATE INDEX oauth_connections_expiry ON oauth_connections (expires_at);

-- Origins an operator allows a connection's `return_to` on.
CREATE TABLE return_origins (
    origin TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- 1 once the vendor refused the account's refresh token: its owner must connect it again.
ALTER TABLE accounts ADD COLUMN needs_reconnect BIGINT NOT NULL DEFAULT 0;
