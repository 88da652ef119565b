//! API tokens (stored as peppered hashes) and their last use.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ApiToken, Store, StoreError, TokenScope};

impl Store {
    /// Stores a new API token hash.
    pub async fn create_api_token(&self, token: &ApiToken, hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, scope, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(hash)
        .bind(token.scope.as_str())
        .bind(&token.account_id)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// All API tokens, oldest first, each with the time of its last use (Unix milliseconds):
    /// its last tool call (from the audit log) or its last admin, console or consent sign-in,
    /// whichever is later.
    pub async fn list_api_tokens(&self) -> Result<Vec<(ApiToken, Option<i64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.scope, t.account_id, t.created_at, t.expires_at, u.last_used_at, \
                    (SELECT MAX(at_ms) FROM tool_calls k WHERE k.api_token_id = t.id) AS last_call_ms \
             FROM api_tokens t LEFT JOIN api_token_uses u ON u.api_token_id = t.id ORDER BY t.created_at, t.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let opened: Option<i64> = row.try_get("last_used_at")?;
                let called: Option<i64> = row.try_get("last_call_ms")?;
                Ok((
                    api_token_from_row(row)?,
                    opened.map(|s| s * 1000).max(called),
                ))
            })
            .collect()
    }

    /// Records that a token opened the admin API, the console or a consent page at `at`; a
    /// use within a minute of the recorded one writes nothing, so a busy script costs one
    /// write a minute. It moves no change counter: caches stay.
    pub async fn touch_api_token(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_token_uses (api_token_id, last_used_at) VALUES ($1, $2) \
             ON CONFLICT (api_token_id) DO UPDATE SET last_used_at = excluded.last_used_at \
             WHERE api_token_uses.last_used_at < $3",
        )
        .bind(id)
        .bind(at)
        .bind(at - 60)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes an API token; returns whether it existed.
    pub async fn revoke_api_token(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// The live API token a hash belongs to.
    pub async fn find_api_token(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, scope, account_id, created_at, expires_at FROM api_tokens WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_token_from_row).transpose()
    }

    /// A live API token by id.
    pub async fn api_token_by_id(&self, id: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, scope, account_id, created_at, expires_at FROM api_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_token_from_row).transpose()
    }
}

fn api_token_from_row(row: &AnyRow) -> Result<ApiToken, StoreError> {
    let scope: String = row.try_get("scope")?;
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scope: TokenScope::parse(&scope),
        account_id: row.try_get("account_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}
