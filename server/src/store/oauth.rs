//! OAuth state in the database (migration 11): clients, single-use codes, grants and their
//! tokens. Codes and tokens arrive here already hashed.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// A client: registered here, or known from its metadata document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// `sgc_...` for a registered client; the document's URL for a metadata-document client.
    pub client_id: String,
    /// Registered here (RFC 7591) rather than described by a document.
    pub registered: bool,
    /// What the consent page calls it.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds: a registered client that has no grant by then is removed; a document is
    /// fetched again after it.
    pub expires_at: i64,
}

/// An authorization code as the consent page issues it.
#[derive(Debug, Clone)]
pub struct NewCode {
    /// Hash of the code.
    pub code_hash: String,
    /// The MCP server it is for.
    pub server_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The API token that consented.
    pub api_token_id: String,
    /// The transport below the MCP URL it is bound to (`""`, `/portable`, `/sse`, ...); the
    /// URL itself is never stored, since it holds the server's token.
    pub resource_suffix: String,
    /// The redirect URI it was sent to.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A stored code, for checking an exchange.
#[derive(Debug, Clone)]
pub struct StoredCode {
    /// What was issued.
    pub code: NewCode,
    /// The grant an earlier exchange made, if the code was exchanged already.
    pub grant_id: Option<String>,
}

/// What an access token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// The grant.
    pub grant_id: String,
    /// The only MCP server it opens.
    pub server_id: String,
    /// The API token that consented.
    pub api_token_id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A grant as operators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GrantRecord {
    /// Id.
    pub id: String,
    /// The client's id.
    pub client_id: String,
    /// The client's name, while the client is known.
    pub client_name: Option<String>,
    /// The API token that consented.
    pub api_token_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix milliseconds of its last tool call, if any (from the audit log).
    pub last_used_ms: Option<i64>,
}

/// A token a new grant or a refresh issues, hashed.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Hash of the token.
    pub hash: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct StoredRefresh {
    /// Its grant.
    pub grant_id: String,
    /// The grant's client.
    pub client_id: String,
    /// The grant's MCP server.
    pub server_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds when it was exchanged, if it was.
    pub used_at: Option<i64>,
    /// The pair its exchange issued, sealed for the token itself (see
    /// `Keys::seal_for`), kept for a retry within the grace.
    pub successor_sealed: Option<String>,
}

fn client_from_row(row: &AnyRow) -> Result<OAuthClient, StoreError> {
    let registered: i64 = row.try_get("registered")?;
    let uris: String = row.try_get("redirect_uris")?;
    Ok(OAuthClient {
        client_id: row.try_get("client_id")?,
        registered: registered != 0,
        name: row.try_get("name")?,
        redirect_uris: serde_json::from_str(&uris)?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    /// Records a client, replacing what was known of it.
    pub async fn put_client(&self, client: &OAuthClient) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
            .bind(&client.client_id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query("INSERT INTO oauth_clients (client_id, registered, name, redirect_uris, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&client.client_id)
            .bind(i64::from(client.registered))
            .bind(&client.name)
            .bind(serde_json::to_string(&client.redirect_uris)?)
            .bind(client.created_at)
            .bind(client.expires_at)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// A client by id.
    pub async fn find_client(&self, client_id: &str) -> Result<Option<OAuthClient>, StoreError> {
        let row = sqlx::query("SELECT client_id, registered, name, redirect_uris, created_at, expires_at FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Stores an authorization code.
    pub async fn create_code(&self, code: &NewCode) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO oauth_codes (code_hash, server_id, client_id, api_token_id, resource_suffix, redirect_uri, code_challenge, expires_at, grant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)")
            .bind(&code.code_hash)
            .bind(&code.server_id)
            .bind(&code.client_id)
            .bind(&code.api_token_id)
            .bind(&code.resource_suffix)
            .bind(&code.redirect_uri)
            .bind(&code.code_challenge)
            .bind(code.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A code by hash, exchanged or not.
    pub async fn find_code(&self, code_hash: &str) -> Result<Option<StoredCode>, StoreError> {
        let row = sqlx::query("SELECT code_hash, server_id, client_id, api_token_id, resource_suffix, redirect_uri, code_challenge, expires_at, grant_id FROM oauth_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredCode {
            code: NewCode {
                code_hash: row.try_get("code_hash")?,
                server_id: row.try_get("server_id")?,
                client_id: row.try_get("client_id")?,
                api_token_id: row.try_get("api_token_id")?,
                resource_suffix: row.try_get("resource_suffix")?,
                redirect_uri: row.try_get("redirect_uri")?,
                code_challenge: row.try_get("code_challenge")?,
                expires_at: row.try_get("expires_at")?,
            },
            grant_id: row.try_get("grant_id")?,
        }))
    }

    /// Exchanges a code: makes grant `grant_id` with an access and a refresh token, and marks
    /// the code with it, in one transaction. `false` when another exchange took the code
    /// first (nothing is written then).
    pub async fn redeem_code(
        &self,
        code: &NewCode,
        grant_id: &str,
        created_at: i64,
        access: &IssuedToken,
        refresh: &IssuedToken,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("INSERT INTO oauth_grants (id, server_id, client_id, api_token_id, resource_suffix, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(grant_id)
            .bind(&code.server_id)
            .bind(&code.client_id)
            .bind(&code.api_token_id)
            .bind(&code.resource_suffix)
            .bind(created_at)
            .execute(&mut *transaction)
            .await?;
        let taken = sqlx::query(
            "UPDATE oauth_codes SET grant_id = $1 WHERE code_hash = $2 AND grant_id IS NULL",
        )
        .bind(grant_id)
        .bind(&code.code_hash)
        .execute(&mut *transaction)
        .await?;
        if taken.rows_affected() == 0 {
            transaction.rollback().await?;
            return Ok(false);
        }
        insert_tokens(&mut transaction, grant_id, access, refresh).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// What an access token opens, if it is one (expired ones included: the caller checks).
    pub async fn access_grant(&self, token_hash: &str) -> Result<Option<AccessGrant>, StoreError> {
        let row = sqlx::query(
            "SELECT t.grant_id, t.expires_at, g.server_id, g.api_token_id FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
             WHERE t.token_hash = $1 AND t.kind = 'access'",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AccessGrant {
            grant_id: row.try_get("grant_id")?,
            server_id: row.try_get("server_id")?,
            api_token_id: row.try_get("api_token_id")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    /// A refresh token, if it is one.
    pub async fn find_refresh(
        &self,
        token_hash: &str,
    ) -> Result<Option<StoredRefresh>, StoreError> {
        let row = sqlx::query(
            "SELECT t.grant_id, t.expires_at, t.used_at, t.successor_sealed, g.client_id, g.server_id FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
             WHERE t.token_hash = $1 AND t.kind = 'refresh'",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredRefresh {
            grant_id: row.try_get("grant_id")?,
            client_id: row.try_get("client_id")?,
            server_id: row.try_get("server_id")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
            successor_sealed: row.try_get("successor_sealed")?,
        }))
    }

    /// Rotates a refresh token: marks it used at `at`, keeping `successor_sealed`, and issues
    /// the next pair for its grant, in one transaction. `false` when it was used already
    /// (nothing is written then).
    pub async fn rotate_refresh(
        &self,
        token_hash: &str,
        grant_id: &str,
        (access, refresh): (&IssuedToken, &IssuedToken),
        successor_sealed: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let taken = sqlx::query(
            "UPDATE oauth_tokens SET used = 1, used_at = $2, successor_sealed = $3 WHERE token_hash = $1 AND used = 0",
        )
        .bind(token_hash)
        .bind(at)
        .bind(successor_sealed)
        .execute(&mut *transaction)
        .await?;
        if taken.rows_affected() == 0 {
            transaction.rollback().await?;
            return Ok(false);
        }
        insert_tokens(&mut transaction, grant_id, access, refresh).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// The grant a token (access or refresh) belongs to, with its client.
    pub async fn grant_of_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT g.id, g.client_id FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((row.try_get("id")?, row.try_get("client_id")?)))
            .transpose()
    }

    /// Ends a grant and its tokens, on every instance.
    pub async fn delete_grant(&self, grant_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM oauth_grants WHERE id = $1")
            .bind(grant_id)
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Ends one grant of one server.
    pub async fn delete_server_grant(
        &self,
        server_id: &str,
        grant_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM oauth_grants WHERE id = $1 AND server_id = $2")
            .bind(grant_id)
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// A server's grants, newest first, with each one's last call from the audit log.
    pub async fn list_grants(&self, server_id: &str) -> Result<Vec<GrantRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id, g.client_id, c.name AS client_name, g.api_token_id, g.created_at, \
                    (SELECT MAX(at_ms) FROM tool_calls k WHERE k.server_id = g.server_id AND k.grant_id = g.id) AS last_used_ms \
             FROM oauth_grants g LEFT JOIN oauth_clients c ON c.client_id = g.client_id \
             WHERE g.server_id = $1 ORDER BY g.created_at DESC, g.id",
        )
        .bind(server_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GrantRecord {
                    id: row.try_get("id")?,
                    client_id: row.try_get("client_id")?,
                    client_name: row.try_get("client_name")?,
                    api_token_id: row.try_get("api_token_id")?,
                    created_at: row.try_get("created_at")?,
                    last_used_ms: row.try_get("last_used_ms")?,
                })
            })
            .collect()
    }

    /// Registered clients that have no grant: what registration's global cap counts.
    pub async fn unused_registrations(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM oauth_clients WHERE registered = 1 AND client_id NOT IN (SELECT client_id FROM oauth_grants)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Removes expired codes and tokens, grants whose tokens are all gone (a client that
    /// never refreshed again), and clients past their expiry that hold no grant: a
    /// metadata-document client with a live grant stays known, so its refreshes keep
    /// working. Expiry is checked at every use, so this only purges: no change signal.
    pub async fn prune_oauth(&self, at: i64) -> Result<(), StoreError> {
        for statement in [
            "DELETE FROM oauth_codes WHERE expires_at <= $1",
            "DELETE FROM oauth_tokens WHERE expires_at <= $1",
            "DELETE FROM oauth_grants WHERE created_at <= $1 AND id NOT IN (SELECT grant_id FROM oauth_tokens)",
            "DELETE FROM oauth_clients WHERE expires_at <= $1 AND client_id NOT IN (SELECT client_id FROM oauth_grants)",
        ] {
            sqlx::query(statement).bind(at).execute(&self.pool).await?;
        }
        Ok(())
    }
}

async fn insert_tokens(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    grant_id: &str,
    access: &IssuedToken,
    refresh: &IssuedToken,
) -> Result<(), StoreError> {
    for (kind, token) in [("access", access), ("refresh", refresh)] {
        sqlx::query("INSERT INTO oauth_tokens (token_hash, grant_id, kind, expires_at, used) VALUES ($1, $2, $3, $4, 0)")
            .bind(&token.hash)
            .bind(grant_id)
            .bind(kind)
            .bind(token.expires_at)
            .execute(&mut **transaction)
            .await?;
    }
    Ok(())
}
