//! Web console sessions, by the hash of their cookie, and why one ended.

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Records a console session (by the hash of its cookie value).
    pub async fn create_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, api_token_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.id_hash)
        .bind(&session.api_token_id)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live session: unexpired, and its admin API token not revoked.
    pub async fn find_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id_hash, s.api_token_id, s.csrf_token, s.created_at, s.expires_at FROM console_sessions s \
             JOIN api_tokens t ON t.id = s.api_token_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND t.scope = 'admin' AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ConsoleSession {
                id_hash: row.try_get("id_hash")?,
                api_token_id: row.try_get("api_token_id")?,
                csrf_token: row.try_get("csrf_token")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Why a session that [`Store::find_session`] no longer finds has ended; `None` for a
    /// session this database never had or that was signed out.
    pub async fn session_end(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<SessionEnd>, StoreError> {
        let row = sqlx::query(
            "SELECT s.expires_at, t.id AS token_id, t.expires_at AS token_expires_at FROM console_sessions s \
             LEFT JOIN api_tokens t ON t.id = s.api_token_id WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token: Option<String> = row.try_get("token_id")?;
        let token_expires: Option<i64> = row.try_get("token_expires_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        Ok(Some(if token.is_none() {
            SessionEnd::TokenRevoked
        } else if token_expires.is_some_and(|at| at <= now) {
            SessionEnd::TokenExpired
        } else if expires <= now {
            SessionEnd::Expired
        } else {
            return Ok(None);
        }))
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the sessions that expired by `at`; returns how many.
    pub async fn prune_sessions(&self, at: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// Why a console session ended without its operator signing out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// It outlived its twelve hours.
    Expired,
    /// The admin API token it was signed in with was revoked.
    TokenRevoked,
    /// The admin API token it was signed in with expired.
    TokenExpired,
}

impl SessionEnd {
    /// Its name in the sign-in page's `ended` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::TokenRevoked => "revoked",
            Self::TokenExpired => "token-expired",
        }
    }

    /// Parses [`SessionEnd::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Expired, Self::TokenRevoked, Self::TokenExpired]
            .into_iter()
            .find(|end| end.as_str() == text)
    }

    /// What the sign-in page says.
    pub fn message(self) -> &'static str {
        match self {
            Self::Expired => "Your session expired after twelve hours. Sign in again.",
            Self::TokenRevoked => {
                "Your session ended: the admin API token it was signed in with has been revoked. Sign in with a live one."
            }
            Self::TokenExpired => {
                "Your session ended: the admin API token it was signed in with has expired. Sign in with a live one."
            }
        }
    }
}

/// A signed-in web console session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// Hash of the cookie's opaque id.
    pub id_hash: String,
    /// The admin API token it was signed in with.
    pub api_token_id: String,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}
