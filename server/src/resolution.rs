//! A request's resolution: the MCP server and account its token opens, what its vendor calls
//! reuse, and who made the call. Below the services, so `AppState` can cache resolutions
//! without knowing how they are made (`access.rs`).

use std::sync::{Arc, OnceLock};

use crate::call::Upstream;
use crate::catalog::{Catalog, ToolListing};
use crate::store::{Account, McpServer, SchemaProfile};

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

    /// The server's tool listing in `profile`, in pages of `page_size` tools.
    pub fn listing(
        &self,
        catalog: &Catalog,
        page_size: usize,
        profile: SchemaProfile,
    ) -> &ToolListing {
        self.listings[profile as usize].get_or_init(|| {
            catalog.listing(
                &self.account.integration,
                &self.server.config,
                profile,
                page_size,
            )
        })
    }
}

/// Who made a call, for the audit log: the OAuth grant and the API token behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The grant whose access token was presented.
    pub grant_id: Option<String>,
    /// The API token presented, or the one that consented to the grant.
    pub api_token_id: Option<String>,
}
