-- Web console sessions. The cookie holds an opaque id; only its hash is stored, with the
-- admin API token it was signed in with, so revoking that token ends the session.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    api_token_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
