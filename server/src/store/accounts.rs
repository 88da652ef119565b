//! Integrated accounts, their sealed credentials and the lock an OAuth refresh holds.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::changes::ChangeSignal;

use super::{Account, Store, StoreError, now};

impl Store {
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
        let rows = sqlx::query("SELECT id, integration, name, base_url, created_at, updated_at, needs_reconnect FROM accounts ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// One account.
    pub async fn get_account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT id, integration, name, base_url, created_at, updated_at, needs_reconnect FROM accounts WHERE id = $1")
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
        // A write first: SQLite then takes the write lock now, waiting out other writers for
        // its busy timeout. A read first would make this a read transaction that fails at
        // once (SQLITE_BUSY) when another connection, such as the audit log's, commits before
        // its first write.
        let exists = sqlx::query("UPDATE accounts SET updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
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
        tx.commit().await?;
        self.changes.bump();
        Ok(true)
    }

    /// Deletes an account and, in the same transaction, its MCP servers and the API tokens
    /// bound to it.
    pub async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM api_tokens WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM mcp_servers WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changes.bump();
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

    /// Takes an account's credentials for replacement, with what they are now (`None`: the
    /// account is gone). Until the lock is dropped or [`CredentialsLock::replace`]d, other
    /// takers wait, in every process on this database: PostgreSQL locks the account's row,
    /// SQLite the database for writes (other writers wait up to its 5 s busy timeout).
    pub async fn lock_credentials(
        &self,
        account_id: &str,
    ) -> Result<(CredentialsLock, Option<String>), StoreError> {
        let mut transaction = self.pool.begin().await?;
        // A write that changes nothing takes the lock on both engines.
        sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
            .bind(account_id)
            .execute(&mut *transaction)
            .await?;
        let sealed = sqlx::query("SELECT credentials_sealed FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&mut *transaction)
            .await?
            .map(|row| row.try_get("credentials_sealed"))
            .transpose()?;
        let lock = CredentialsLock {
            transaction,
            account_id: account_id.to_owned(),
            changes: self.changes.clone(),
        };
        Ok((lock, sealed))
    }
}

/// An account's credentials, held for replacement (see [`Store::lock_credentials`]).
pub struct CredentialsLock {
    transaction: sqlx::Transaction<'static, sqlx::Any>,
    account_id: String,
    changes: ChangeSignal,
}

impl CredentialsLock {
    /// Writes the new sealed credentials and commits, which releases the lock.
    pub async fn replace(mut self, sealed: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET credentials_sealed = $1, updated_at = $2 WHERE id = $3")
            .bind(sealed)
            .bind(now())
            .bind(&self.account_id)
            .execute(&mut *self.transaction)
            .await?;
        self.transaction.commit().await?;
        self.changes.bump();
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
        needs_reconnect: row.try_get::<i64, _>("needs_reconnect")? != 0,
    })
}
