//! Connecting accounts through the vendor's consent (migration 14): each integration's OAuth
//! app, connections waiting for their callback, the origins `return_to` may name, and the
//! accounts that need to be connected again. Secrets arrive sealed and `state` hashed.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};

/// The OAuth client an operator registered at a vendor for one integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthApp {
    /// The integration.
    pub integration: String,
    /// The vendor's client id.
    pub client_id: String,
    /// The client secret, sealed.
    pub client_secret_sealed: String,
    /// Consent page override (per-tenant vendor hosts).
    pub authorize_url: Option<String>,
    /// Token endpoint override.
    pub token_url: Option<String>,
    /// Scopes asked for when a connection names none.
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A connection sent to the vendor's consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Peppered hash of its `state`.
    pub state_hash: String,
    /// The integration.
    pub integration: String,
    /// The new account's name.
    pub name: String,
    /// The new account's base URL.
    pub base_url: Option<String>,
    /// The account being reconnected.
    pub reconnect_account_id: Option<String>,
    /// Where the browser goes afterwards.
    pub return_to: Option<String>,
    /// The callback URL sent to the vendor, sent again with the code.
    pub redirect_uri: String,
    /// The PKCE verifier, sealed.
    pub verifier_sealed: String,
    /// Peppered hash of the specgate start URL's token.
    pub start_hash: Option<String>,
    /// The vendor's consent URL (it carries `state`), sealed, where the start URL sends the
    /// browser.
    pub authorize_sealed: Option<String>,
    /// Peppered hash of the cookie nonce of the browser that opened the start URL first.
    pub browser_hash: Option<String>,
    /// A reconnect an operator allowed to come back as another vendor identity.
    pub accept_other_identity: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// What taking a connection for its callback found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The connection, now used.
    Connection(Box<Connection>),
    /// A waiting connection, but the callback came to another browser than the one that
    /// opened its start URL (or none opened it); it stays usable.
    OtherBrowser,
    /// No such connection, or it was used already.
    Nothing,
}

macro_rules! select_connections {
    ($rest:literal) => {
        concat!(
            "SELECT state_hash, integration, name, base_url, reconnect_account_id, return_to, redirect_uri, verifier_sealed, start_hash, authorize_sealed, browser_hash, accept_other_identity, created_at, expires_at, finished_at FROM oauth_connections ",
            $rest
        )
    };
}

fn connection_from_row(row: &AnyRow) -> Result<Connection, StoreError> {
    Ok(Connection {
        state_hash: row.try_get("state_hash")?,
        integration: row.try_get("integration")?,
        name: row.try_get("name")?,
        base_url: row.try_get("base_url")?,
        reconnect_account_id: row.try_get("reconnect_account_id")?,
        return_to: row.try_get("return_to")?,
        redirect_uri: row.try_get("redirect_uri")?,
        verifier_sealed: row.try_get("verifier_sealed")?,
        start_hash: row.try_get("start_hash")?,
        authorize_sealed: row.try_get("authorize_sealed")?,
        browser_hash: row.try_get("browser_hash")?,
        accept_other_identity: row.try_get::<i64, _>("accept_other_identity")? != 0,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// What became of a connection, for whoever started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionOutcome {
    /// The callback has not come yet.
    Waiting,
    /// The account it created or reconnected.
    Connected(String),
    /// Why it failed.
    Failed(String),
    /// No such connection (never started, or swept).
    Unknown,
}

fn app_from_row(row: &AnyRow) -> Result<OAuthApp, StoreError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(OAuthApp {
        integration: row.try_get("integration")?,
        client_id: row.try_get("client_id")?,
        client_secret_sealed: row.try_get("client_secret_sealed")?,
        authorize_url: row.try_get("authorize_url")?,
        token_url: row.try_get("token_url")?,
        scopes: serde_json::from_str(&scopes)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// Creates or replaces an integration's OAuth app.
    pub async fn put_oauth_app(&self, app: &OAuthApp) -> Result<(), StoreError> {
        let scopes = serde_json::to_string(&app.scopes)?;
        sqlx::query(
            "INSERT INTO oauth_apps (integration, client_id, client_secret_sealed, authorize_url, token_url, scopes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (integration) DO UPDATE SET client_id = $2, client_secret_sealed = $3, authorize_url = $4, token_url = $5, scopes = $6, updated_at = $8",
        )
        .bind(&app.integration)
        .bind(&app.client_id)
        .bind(&app.client_secret_sealed)
        .bind(&app.authorize_url)
        .bind(&app.token_url)
        .bind(scopes)
        .bind(app.created_at)
        .bind(app.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An integration's OAuth app.
    pub async fn oauth_app(&self, integration: &str) -> Result<Option<OAuthApp>, StoreError> {
        let row = sqlx::query("SELECT integration, client_id, client_secret_sealed, authorize_url, token_url, scopes, created_at, updated_at FROM oauth_apps WHERE integration = $1")
            .bind(integration)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    /// Removes an integration's OAuth app; returns whether it had one.
    pub async fn remove_oauth_app(&self, integration: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM oauth_apps WHERE integration = $1")
            .bind(integration)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a connection sent to the consent page.
    pub async fn insert_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_connections (state_hash, integration, name, base_url, reconnect_account_id, return_to, redirect_uri, verifier_sealed, start_hash, authorize_sealed, accept_other_identity, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&connection.state_hash)
        .bind(&connection.integration)
        .bind(&connection.name)
        .bind(&connection.base_url)
        .bind(&connection.reconnect_account_id)
        .bind(&connection.return_to)
        .bind(&connection.redirect_uri)
        .bind(&connection.verifier_sealed)
        .bind(&connection.start_hash)
        .bind(&connection.authorize_sealed)
        .bind(i64::from(connection.accept_other_identity))
        .bind(connection.created_at)
        .bind(connection.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A connection not used yet, by the hash of its start token.
    pub async fn waiting_connection(
        &self,
        start_hash: &str,
    ) -> Result<Option<Connection>, StoreError> {
        let row = sqlx::query(select_connections!(
            "WHERE start_hash = $1 AND finished_at IS NULL"
        ))
        .bind(start_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connection_from_row).transpose()
    }

    /// Binds a connection to the first browser that opens its start URL; `false` when another
    /// browser did first.
    pub async fn bind_browser(
        &self,
        start_hash: &str,
        browser_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE oauth_connections SET browser_hash = $1 WHERE start_hash = $2 AND browser_hash IS NULL AND finished_at IS NULL",
        )
        .bind(browser_hash)
        .bind(start_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes a connection for its callback, in the browser that opened its start URL
    /// (`browser_hash` of the cookie it sent, if any): at most once, so a replayed `state`
    /// finds nothing. An expired one is returned, and the caller refuses it.
    pub async fn take_connection(
        &self,
        state_hash: &str,
        browser_hash: Option<&str>,
    ) -> Result<Taken, StoreError> {
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query("UPDATE oauth_connections SET finished_at = $1 WHERE state_hash = $2 AND finished_at IS NULL AND browser_hash = $3")
            .bind(now())
            .bind(state_hash)
            .bind(browser_hash.unwrap_or_default())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        let row = sqlx::query(select_connections!("WHERE state_hash = $1"))
            .bind(state_hash)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        let Some(row) = row else {
            return Ok(Taken::Nothing);
        };
        if taken {
            return Ok(Taken::Connection(Box::new(connection_from_row(&row)?)));
        }
        let finished: Option<i64> = row.try_get("finished_at")?;
        Ok(if finished.is_none() {
            Taken::OtherBrowser
        } else {
            Taken::Nothing
        })
    }

    /// The vendor identity an account was connected as, if known.
    pub async fn vendor_identity(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT vendor_identity FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| row.try_get("vendor_identity"))
            .transpose()?
            .flatten())
    }

    /// Connects an account again: its new sealed credentials and vendor identity, and no
    /// longer `needs_reconnect`, in one transaction. `false` when the account is gone.
    pub async fn reconnect_account(
        &self,
        account_id: &str,
        sealed: &str,
        identity: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE accounts SET credentials_sealed = $1, vendor_identity = $2, needs_reconnect = 0, updated_at = $3 WHERE id = $4",
        )
        .bind(sealed)
        .bind(identity)
        .bind(now())
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Records the vendor identity a new account was connected as.
    pub async fn set_vendor_identity(
        &self,
        account_id: &str,
        identity: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET vendor_identity = $1 WHERE id = $2")
            .bind(identity)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records what a taken connection came to (`Connected` or `Failed`).
    pub async fn finish_connection(
        &self,
        state_hash: &str,
        outcome: &ConnectionOutcome,
    ) -> Result<(), StoreError> {
        let (account_id, error) = match outcome {
            ConnectionOutcome::Connected(account_id) => (Some(account_id.as_str()), None),
            ConnectionOutcome::Failed(error) => (None, Some(error.as_str())),
            ConnectionOutcome::Waiting | ConnectionOutcome::Unknown => (None, None),
        };
        sqlx::query(
            "UPDATE oauth_connections SET account_id = $1, error = $2 WHERE state_hash = $3",
        )
        .bind(account_id)
        .bind(error)
        .bind(state_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What became of a connection.
    pub async fn connection_outcome(
        &self,
        state_hash: &str,
    ) -> Result<ConnectionOutcome, StoreError> {
        let row = sqlx::query(
            "SELECT finished_at, account_id, error FROM oauth_connections WHERE state_hash = $1",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(ConnectionOutcome::Unknown);
        };
        let finished: Option<i64> = row.try_get("finished_at")?;
        let account_id: Option<String> = row.try_get("account_id")?;
        let error: Option<String> = row.try_get("error")?;
        Ok(match (finished, account_id, error) {
            (_, Some(account_id), _) => ConnectionOutcome::Connected(account_id),
            (_, None, Some(error)) => ConnectionOutcome::Failed(error),
            _ => ConnectionOutcome::Waiting,
        })
    }

    /// Deletes connections that expired a day ago or more (their outcome was readable until
    /// then).
    pub async fn sweep_connections(&self, at: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM oauth_connections WHERE expires_at <= $1")
            .bind(at - 86_400)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Allows an origin for `return_to`; returns false if it already was.
    pub async fn allow_return_origin(&self, origin: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO return_origins (origin, created_at) VALUES ($1, $2) ON CONFLICT (origin) DO NOTHING")
            .bind(origin)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes an allowed origin; returns whether it was allowed.
    pub async fn remove_return_origin(&self, origin: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM return_origins WHERE origin = $1")
            .bind(origin)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The allowed origins, sorted.
    pub async fn return_origins(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT origin FROM return_origins ORDER BY origin")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| row.try_get("origin").map_err(Into::into))
            .collect()
    }

    /// Marks an account as needing to be connected again (its refresh token was refused);
    /// connecting it again clears the mark ([`Store::reconnect_account`]).
    pub async fn mark_needs_reconnect(&self, account_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET needs_reconnect = 1 WHERE id = $1")
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        // This instance's next call sees the mark at once; others when their watcher does.
        self.changes.bump();
        Ok(())
    }
}
