//! Who may use what: an MCP token resolved to its server and account (cached until the
//! database changes), the second factor those servers may require (an API token, or for
//! `oauth` servers an access token issued for that server), and who made each call.

use std::sync::Arc;

use crate::call::Upstream;
use crate::resolution::{Principal, Resolved};
use crate::state::AppState;
use crate::store::{ApiToken, StoreError, now};

/// Why an MCP token does not open its server.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No live server has this token (unknown, expired, rotated or deleted): one answer for
    /// all, so a token cannot be probed.
    #[error("unknown or expired MCP token")]
    UnknownToken,
    /// The server requires an API token as a second factor, and none valid for it was sent.
    #[error(
        "This MCP server requires an API token: send `Authorization: Bearer <api token>` or `X-Api-Key: <api token>` (an admin token, or one created with `specgate api-token create --scope mcp`)."
    )]
    ApiTokenRequired,
    /// The server signs in with OAuth, and no valid credential for it was sent (`presented`:
    /// one was sent, and it is not valid here).
    #[error(
        "This MCP server requires signing in: connect with OAuth (the client discovers it from this answer), or send an API token."
    )]
    SignInRequired {
        /// Whether a credential was presented.
        presented: bool,
    },
    /// The database failed.
    #[error("token lookup failed: {0}")]
    Store(#[from] StoreError),
}

/// The credentials a request to an MCP URL presents.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// `Authorization: Bearer <token>`: an API token, or an OAuth access token.
    pub bearer: Option<&'a str>,
    /// `X-Api-Key: <token>`: an API token, for clients that may send only some headers.
    pub api_key: Option<&'a str>,
}

impl Presented<'_> {
    fn any(&self) -> bool {
        self.bearer.is_some() || self.api_key.is_some()
    }
}

impl AppState {
    /// The server and account of an MCP token, with what its calls reuse, and who presents
    /// it. A server with a second factor needs a valid credential among `presented`.
    pub async fn resolve_mcp_token(
        &self,
        token: &str,
        presented: Presented<'_>,
    ) -> Result<(Arc<Resolved>, Principal), AccessError> {
        let hash = self.keys.hash_token(token);
        let at = now();
        let load = async {
            let Some((server, account, sealed)) = self.store.resolve_token(&hash, at).await? else {
                return Ok(None);
            };
            // Only an account with a base URL of its own needs the operator-allowed hosts.
            let operator_hosts = match account.base_url {
                Some(_) => {
                    self.store
                        .upstream_hosts(Some(&account.integration))
                        .await?
                }
                None => Vec::new(),
            };
            let operator_hosts = operator_hosts.into_iter().map(|h| h.host).collect();
            Ok::<_, StoreError>(Some(Arc::new(Resolved::new(
                server,
                account,
                Upstream::new(Some(sealed), Some(operator_hosts)),
            ))))
        };
        let resolved = match self.resolutions.get_or_load(&hash, load).await? {
            // A cached server may have expired since it was read.
            Some(resolved) if resolved.server.expires_at.is_none_or(|expiry| expiry > at) => {
                resolved
            }
            _ => return Err(AccessError::UnknownToken),
        };
        let config = &resolved.server.config;
        if !config.oauth && !config.require_api_token_auth {
            return Ok((resolved, Principal::default()));
        }
        match self.second_factor(&resolved, presented).await? {
            Some(principal) => Ok((resolved, principal)),
            None if config.oauth => Err(AccessError::SignInRequired {
                presented: presented.any(),
            }),
            None => Err(AccessError::ApiTokenRequired),
        }
    }

    /// The principal a valid second factor among `presented` names: an access token issued
    /// for this server (on `oauth` servers), or an admin API token, or an `mcp` one unbound or
    /// bound to this server's account.
    async fn second_factor(
        &self,
        resolved: &Resolved,
        presented: Presented<'_>,
    ) -> Result<Option<Principal>, StoreError> {
        if resolved.server.config.oauth
            && let Some(bearer) = presented.bearer
            && let Some(grant) = self.access_grant(bearer).await?
        {
            return Ok(
                (grant.server_id == resolved.server.id).then_some(Principal {
                    grant_id: Some(grant.grant_id),
                    api_token_id: Some(grant.api_token_id),
                }),
            );
        }
        for raw in [presented.bearer, presented.api_key].into_iter().flatten() {
            if let Some(token) = self.api_token(raw).await?
                && token
                    .account_id
                    .as_ref()
                    .is_none_or(|bound| *bound == resolved.account.id)
            {
                return Ok(Some(Principal {
                    grant_id: None,
                    api_token_id: Some(token.id),
                }));
            }
        }
        Ok(None)
    }

    /// The server and account of an MCP token for a process that outlives any one read
    /// (stdio): not cached, and its calls read credentials and allowed hosts each time.
    pub async fn resolve_mcp_token_uncached(&self, token: &str) -> Result<Resolved, AccessError> {
        let (server, account, _) = self
            .store
            .resolve_token(&self.keys.hash_token(token), now())
            .await?
            .ok_or(AccessError::UnknownToken)?;
        Ok(Resolved::new(server, account, Upstream::default()))
    }

    /// The live API token `raw` is, if any.
    pub async fn api_token(&self, raw: &str) -> Result<Option<ApiToken>, StoreError> {
        let hash = self.keys.hash_token(raw.trim());
        let token = self
            .api_tokens
            .get_or_load(&hash, self.store.find_api_token(&hash))
            .await?;
        // Cached until the database changes, so expiry is checked at every use.
        Ok(token.filter(ApiToken::live))
    }
}
