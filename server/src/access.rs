//! Who may use what: an MCP token resolved to its server and account (cached until the
//! database changes), the second factor those servers may require, and API tokens.

use std::sync::{Arc, OnceLock};

use crate::call::Upstream;
use crate::catalog::ToolListing;
use crate::state::AppState;
use crate::store::{Account, ApiToken, McpServer, SchemaProfile, StoreError, now};

/// The server and account a request's token resolved to.
#[derive(Debug)]
pub struct Resolved {
    /// The MCP server.
    pub server: McpServer,
    /// Its account.
    pub account: Account,
    /// What its vendor calls reuse: credentials read with the token, the parsed base URL.
    pub upstream: Upstream,
    /// The server's tool listing in each schema profile, built on first use.
    listings: [OnceLock<Arc<ToolListing>>; 2],
}

impl Resolved {
    /// A resolution of `server` of `account`.
    pub fn new(server: McpServer, account: Account, upstream: Upstream) -> Self {
        Self {
            server,
            account,
            upstream,
            listings: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The server's tool listing in `profile`.
    pub fn listing(&self, state: &AppState, profile: SchemaProfile) -> &ToolListing {
        self.listings[profile as usize].get_or_init(|| {
            state.catalog.listing(
                &self.account.integration,
                &self.server.config,
                profile,
                state.config.tools_page_size,
            )
        })
    }
}

/// Why an MCP token does not open its server.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No live server has this token (unknown, expired, rotated or deleted): one answer for
    /// all, so a token cannot be probed.
    #[error("unknown or expired MCP token")]
    UnknownToken,
    /// The server requires an API token as a second factor, and none valid for it was sent.
    #[error(
        "This MCP server requires an API token: send `Authorization: Bearer <api token>` (an admin token, or one created with `specgate api-token create --scope mcp`)."
    )]
    ApiTokenRequired,
    /// The database failed.
    #[error("token lookup failed: {0}")]
    Store(#[from] StoreError),
}

impl AppState {
    /// The server and account of an MCP token, with what its calls reuse; `api_token` is the
    /// bearer token the request carries, checked when the server requires one.
    pub async fn resolve_mcp_token(
        &self,
        token: &str,
        api_token: Option<&str>,
    ) -> Result<Arc<Resolved>, AccessError> {
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
        if resolved.server.config.require_api_token_auth {
            // Admin tokens, and `mcp` tokens that are unbound or bound to this account.
            let token = match api_token {
                Some(raw) => self.api_token(raw).await?,
                None => None,
            };
            let valid = token.is_some_and(|token| {
                token
                    .account_id
                    .as_ref()
                    .is_none_or(|bound| *bound == resolved.account.id)
            });
            if !valid {
                return Err(AccessError::ApiTokenRequired);
            }
        }
        Ok(resolved)
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
        self.api_tokens
            .get_or_load(&hash, self.store.find_api_token(&hash))
            .await
    }
}
