//! The nonces of used confirmations, so each runs one call on any instance.

use super::{Store, StoreError};

impl Store {
    /// Records a confirmation's nonce as used; `false` if it was used before (on any
    /// instance).
    pub async fn use_confirmation(
        &self,
        nonce_hash: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO used_confirmations (nonce_hash, expires_at) VALUES ($1, $2) ON CONFLICT (nonce_hash) DO NOTHING",
        )
        .bind(nonce_hash)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets the used confirmations that expired by `at`: past their expiry they are
    /// refused anyway.
    pub async fn prune_confirmations(&self, at: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM used_confirmations WHERE expires_at <= $1")
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
