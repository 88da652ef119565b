//! Durable state through `sqlx`'s `Any` driver: SQLite by default, PostgreSQL with the same
//! queries and migrations. Queries use `$n` placeholders, which both engines accept.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlStr};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored filter list is not valid JSON (only possible if edited by hand).
    #[error("corrupt stored filter list: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// An integrated account: one customer's credentials for one vendor.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Account {
    /// Id.
    pub id: String,
    /// Integration slug.
    pub integration: String,
    /// Display name.
    pub name: String,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// The filters and second factor of an MCP server.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `read`, `write`, `custom` or method names; empty means all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Tags; empty means all.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Clients must also send a valid API token.
    #[serde(default)]
    pub require_api_token_auth: bool,
}

/// A provisioned MCP server (the token itself is never stored).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct McpServer {
    /// Id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Display name.
    pub name: String,
    /// Filters.
    pub config: ServerConfig,
    /// Unix seconds after which the server is refused.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

/// An admin API token (hash only).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiToken {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

macro_rules! server_columns {
    () => {
        "SELECT id, account_id, name, methods, tags, require_api_token_auth, expires_at, created_at FROM mcp_servers"
    };
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

fn migrator() -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("../migrations/0001_init.sql")),
            false,
        )]),
        ..Migrator::DEFAULT
    }
}

/// Current unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    /// Connects (creating a SQLite file if needed) and runs the embedded migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_owned()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL for concurrent readers; FULL sync so a commit survives a kill.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    // ---- API tokens ----

    /// Stores a new API token hash.
    pub async fn create_api_token(
        &self,
        id: &str,
        name: &str,
        hash: &str,
    ) -> Result<ApiToken, StoreError> {
        let created_at = now();
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(name)
        .bind(hash)
        .bind(created_at)
        .execute(&self.pool)
        .await?;
        Ok(ApiToken {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at,
        })
    }

    /// All API tokens, oldest first.
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, created_at FROM api_tokens ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiToken {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Deletes an API token; returns whether it existed.
    pub async fn revoke_api_token(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether a token hash belongs to a live API token.
    pub async fn api_token_exists(&self, hash: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT id FROM api_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    // ---- accounts ----

    /// Inserts an account with sealed credentials.
    pub async fn create_account(&self, account: &Account, sealed: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO accounts (id, integration, name, base_url, credentials_sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&account.id)
            .bind(&account.integration)
            .bind(&account.name)
            .bind(&account.base_url)
            .bind(sealed)
            .bind(account.created_at)
            .bind(account.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// All accounts, oldest first.
    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query("SELECT id, integration, name, base_url, created_at, updated_at FROM accounts ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// One account.
    pub async fn get_account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT id, integration, name, base_url, created_at, updated_at FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Renames an account, replaces its base URL, and/or replaces its sealed credentials.
    pub async fn update_account(
        &self,
        id: &str,
        name: Option<&str>,
        base_url: Option<Option<&str>>,
        sealed: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT id FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(false);
        }
        if let Some(name) = name {
            sqlx::query("UPDATE accounts SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(base_url) = base_url {
            sqlx::query("UPDATE accounts SET base_url = $1 WHERE id = $2")
                .bind(base_url)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(sealed) = sealed {
            sqlx::query("UPDATE accounts SET credentials_sealed = $1 WHERE id = $2")
                .bind(sealed)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE accounts SET updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes an account and, in the same transaction, its MCP servers.
    pub async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM mcp_servers WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// The sealed credentials of an account.
    pub async fn sealed_credentials(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT credentials_sealed FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("credentials_sealed"))
            .transpose()
            .map_err(Into::into)
    }

    // ---- MCP servers ----

    /// Inserts a server with its token hash.
    pub async fn create_server(
        &self,
        server: &McpServer,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO mcp_servers (id, account_id, name, token_hash, methods, tags, require_api_token_auth, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&server.id)
            .bind(&server.account_id)
            .bind(&server.name)
            .bind(token_hash)
            .bind(serde_json::to_string(&server.config.methods)?)
            .bind(serde_json::to_string(&server.config.tags)?)
            .bind(i64::from(server.config.require_api_token_auth))
            .bind(server.expires_at)
            .bind(server.created_at)
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

    /// Replaces a server's name, config and expiry.
    pub async fn update_server(&self, server: &McpServer) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE mcp_servers SET name = $1, methods = $2, tags = $3, require_api_token_auth = $4, expires_at = $5 WHERE id = $6 AND account_id = $7")
            .bind(&server.name)
            .bind(serde_json::to_string(&server.config.methods)?)
            .bind(serde_json::to_string(&server.config.tags)?)
            .bind(i64::from(server.config.require_api_token_auth))
            .bind(server.expires_at)
            .bind(&server.id)
            .bind(&server.account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a server's token hash; the old token stops working with this commit.
    pub async fn rotate_server(
        &self,
        account_id: &str,
        id: &str,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE mcp_servers SET token_hash = $1 WHERE id = $2 AND account_id = $3")
                .bind(token_hash)
                .bind(id)
                .bind(account_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a server.
    pub async fn delete_server(&self, account_id: &str, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM mcp_servers WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The server and account a token hash belongs to, if the server has not expired.
    pub async fn resolve_token(
        &self,
        token_hash: &str,
        at: i64,
    ) -> Result<Option<(McpServer, Account)>, StoreError> {
        // One round trip on the hot path: the server and its account together.
        let row = sqlx::query(
            "SELECT s.id, s.account_id, s.name, s.methods, s.tags, s.require_api_token_auth, s.expires_at, s.created_at, \
                    a.integration, a.name AS account_name, a.base_url, a.created_at AS account_created_at, a.updated_at \
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
        };
        Ok(Some((server, account)))
    }

    /// Deletes every server expired at `at`; returns how many.
    pub async fn sweep_expired(&self, at: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM mcp_servers WHERE expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Replaces an account's sealed credentials and commits before returning, so a rotated
    /// OAuth refresh token is durable before the new access token is used.
    pub async fn store_credentials(
        &self,
        account_id: &str,
        sealed: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET credentials_sealed = $1, updated_at = $2 WHERE id = $3")
            .bind(sealed)
            .bind(now())
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn account_from_row(row: &AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.try_get("id")?,
        integration: row.try_get("integration")?,
        name: row.try_get("name")?,
        base_url: row.try_get("base_url")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn server_from_row(row: &AnyRow) -> Result<McpServer, StoreError> {
    let methods: String = row.try_get("methods")?;
    let tags: String = row.try_get("tags")?;
    let require: i64 = row.try_get("require_api_token_auth")?;
    Ok(McpServer {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        config: ServerConfig {
            methods: serde_json::from_str(&methods)?,
            tags: serde_json::from_str(&tags)?,
            require_api_token_auth: require != 0,
        },
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}
