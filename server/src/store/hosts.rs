//! Upstream hosts an operator allowed, per integration.

use sqlx::Row;

use super::{Store, StoreError, UpstreamHost, now};

impl Store {
    /// Allows a host for an integration; returns false if it already was.
    pub async fn allow_upstream_host(
        &self,
        integration: &str,
        host: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO upstream_hosts (integration, host, created_at) VALUES ($1, $2, $3) ON CONFLICT (integration, host) DO NOTHING")
            .bind(integration)
            .bind(host)
            .bind(now())
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Removes an allowed host; returns whether it was allowed. Cached token resolutions end
    /// with it, so the next call checks its base URL again.
    pub async fn remove_upstream_host(
        &self,
        integration: &str,
        host: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM upstream_hosts WHERE integration = $1 AND host = $2")
            .bind(integration)
            .bind(host)
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Hosts allowed for an integration (all integrations when `None`), in order.
    pub async fn upstream_hosts(
        &self,
        integration: Option<&str>,
    ) -> Result<Vec<UpstreamHost>, StoreError> {
        let rows = match integration {
            Some(integration) => sqlx::query("SELECT integration, host, created_at FROM upstream_hosts WHERE integration = $1 ORDER BY host")
                .bind(integration)
                .fetch_all(&self.pool)
                .await?,
            None => sqlx::query("SELECT integration, host, created_at FROM upstream_hosts ORDER BY integration, host")
                .fetch_all(&self.pool)
                .await?,
        };
        rows.iter()
            .map(|r| {
                Ok(UpstreamHost {
                    integration: r.try_get("integration")?,
                    host: r.try_get("host")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
