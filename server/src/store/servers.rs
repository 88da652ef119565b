//! MCP servers, the resolution of their tokens, and the sweep of expired ones.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use super::{
    Account, Confirm, DEFAULT_MAX_RESULT_BYTES, McpServer, ServerConfig, Store, StoreError,
};

impl Store {
    /// Inserts a server with its token hash.
    pub async fn create_server(
        &self,
        server: &McpServer,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        let insert = sqlx::query("INSERT INTO mcp_servers (id, account_id, name, token_hash, expires_at, created_at, methods, tags, tools, exclude_tools, require_api_token_auth, schema_profile, oauth, max_result_bytes, tool_exposure, confirm, confirm_fallback) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)")
            .bind(&server.id)
            .bind(&server.account_id)
            .bind(&server.name)
            .bind(token_hash)
            .bind(server.expires_at)
            .bind(server.created_at);
        bind_config(insert, &server.config)?
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Servers of one account, oldest first.
    pub async fn list_servers(&self, account_id: &str) -> Result<Vec<McpServer>, StoreError> {
        let rows = sqlx::query(concat!(
            server_columns!(),
            " WHERE account_id = $1 ORDER BY created_at, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(server_from_row).collect()
    }

    /// One server of one account.
    pub async fn get_server(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<McpServer>, StoreError> {
        let row = sqlx::query(concat!(
            server_columns!(),
            " WHERE account_id = $1 AND id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(server_from_row).transpose()
    }

    /// Replaces a server's name, config and expiry; with `oauth` off, its grants and codes end in
    /// the same transaction.
    pub async fn update_server(&self, server: &McpServer) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let update = sqlx::query("UPDATE mcp_servers SET name = $3, expires_at = $4, methods = $5, tags = $6, tools = $7, exclude_tools = $8, require_api_token_auth = $9, schema_profile = $10, oauth = $11, max_result_bytes = $12, tool_exposure = $13, confirm = $14, confirm_fallback = $15 WHERE id = $1 AND account_id = $2")
            .bind(&server.id)
            .bind(&server.account_id)
            .bind(&server.name)
            .bind(server.expires_at);
        let done = bind_config(update, &server.config)?
            .execute(&mut *transaction)
            .await?;
        if !server.config.oauth {
            // Signing in with OAuth turned off ends what it granted, so turning it on again
            // revives nothing.
            for statement in [
                "DELETE FROM oauth_grants WHERE server_id = $1",
                "DELETE FROM oauth_codes WHERE server_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(&server.id)
                    .execute(&mut *transaction)
                    .await?;
            }
        }
        transaction.commit().await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a server's token hash; the old token, and every OAuth grant to the old URL,
    /// stop working with this commit.
    pub async fn rotate_server(
        &self,
        account_id: &str,
        id: &str,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE mcp_servers SET token_hash = $1 WHERE id = $2 AND account_id = $3")
                .bind(token_hash)
                .bind(id)
                .bind(account_id)
                .execute(&mut *transaction)
                .await?;
        sqlx::query("DELETE FROM oauth_grants WHERE server_id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a server.
    pub async fn delete_server(&self, account_id: &str, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM mcp_servers WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// The server and account a token hash belongs to, if the server has not expired, with
    /// the account's sealed credentials.
    pub async fn resolve_token(
        &self,
        token_hash: &str,
        at: i64,
    ) -> Result<Option<(McpServer, Account, String)>, StoreError> {
        // One round trip on the hot path: the server, its account and the account's sealed
        // credentials together, so a tool call needs no second read.
        let row = sqlx::query(
            "SELECT s.id, s.account_id, s.name, s.methods, s.tags, s.tools, s.exclude_tools, s.require_api_token_auth, s.oauth, s.max_result_bytes, s.tool_exposure, s.schema_profile, s.confirm, s.confirm_fallback, s.expires_at, s.created_at, \
                    a.integration, a.name AS account_name, a.base_url, a.created_at AS account_created_at, a.updated_at, a.needs_reconnect, a.credentials_sealed \
             FROM mcp_servers s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND (s.expires_at IS NULL OR s.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let server = server_from_row(&row)?;
        let account = Account {
            id: server.account_id.clone(),
            integration: row.try_get("integration")?,
            name: row.try_get("account_name")?,
            base_url: row.try_get("base_url")?,
            created_at: row.try_get("account_created_at")?,
            updated_at: row.try_get("updated_at")?,
            needs_reconnect: row.try_get::<i64, _>("needs_reconnect")? != 0,
        };
        Ok(Some((server, account, row.try_get("credentials_sealed")?)))
    }

    /// Deletes every server expired at `at`; returns how many.
    pub async fn sweep_expired(&self, at: i64) -> Result<Vec<SweptServer>, StoreError> {
        let rows = sqlx::query(
            "DELETE FROM mcp_servers WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING id, name, account_id",
        )
        .bind(at)
        .fetch_all(&self.pool)
        .await?;
        // Nothing removed, nothing changed: cached token lookups stay valid.
        if !rows.is_empty() {
            self.changes.bump();
        }
        rows.iter()
            .map(|row| {
                Ok(SweptServer {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    account_id: row.try_get("account_id")?,
                })
            })
            .collect()
    }
}

/// An expired MCP server the sweeper removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptServer {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its account.
    pub account_id: String,
}

/// Binds a server's config as the next eleven parameters, in this order: `methods, tags, tools,
/// exclude_tools, require_api_token_auth, schema_profile, oauth, max_result_bytes,
/// tool_exposure, confirm, confirm_fallback`. The `INSERT` and the `UPDATE` both end with it, so
/// a new config field is bound in one place.
fn bind_config<'q>(
    query: Query<'q, Any, AnyArguments>,
    config: &ServerConfig,
) -> Result<Query<'q, Any, AnyArguments>, StoreError> {
    Ok(query
        .bind(serde_json::to_string(&config.methods)?)
        .bind(serde_json::to_string(&config.tags)?)
        .bind(serde_json::to_string(&config.tools)?)
        .bind(serde_json::to_string(&config.exclude_tools)?)
        .bind(i64::from(config.require_api_token_auth))
        .bind(config.schema_profile.as_str())
        .bind(i64::from(config.oauth))
        .bind(i64::from(config.max_result_bytes))
        .bind(config.tool_exposure.as_str())
        .bind(config.confirm.stored())
        .bind(config.confirm_fallback.as_str()))
}

fn server_from_row(row: &AnyRow) -> Result<McpServer, StoreError> {
    let methods: String = row.try_get("methods")?;
    let tags: String = row.try_get("tags")?;
    let tools: String = row.try_get("tools")?;
    let exclude_tools: String = row.try_get("exclude_tools")?;
    let require: i64 = row.try_get("require_api_token_auth")?;
    let oauth: i64 = row.try_get("oauth")?;
    let max_result_bytes: i64 = row.try_get("max_result_bytes")?;
    let exposure: String = row.try_get("tool_exposure")?;
    let profile: String = row.try_get("schema_profile")?;
    let confirm: String = row.try_get("confirm")?;
    let confirm_fallback: String = row.try_get("confirm_fallback")?;
    Ok(McpServer {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        config: ServerConfig {
            methods: serde_json::from_str(&methods)?,
            tags: serde_json::from_str(&tags)?,
            tools: serde_json::from_str(&tools)?,
            exclude_tools: serde_json::from_str(&exclude_tools)?,
            require_api_token_auth: require != 0,
            oauth: oauth != 0,
            max_result_bytes: u32::try_from(max_result_bytes).unwrap_or(DEFAULT_MAX_RESULT_BYTES),
            tool_exposure: serde_json::from_value(serde_json::Value::String(exposure))?,
            schema_profile: serde_json::from_value(serde_json::Value::String(profile))?,
            confirm: Confirm::from_stored(&confirm)?,
            confirm_fallback: serde_json::from_value(serde_json::Value::String(confirm_fallback))?,
        },
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}
