//! One tool call out to the vendor and back, knowing no transport: typed arguments become a
//! vendor request ([`dispatch`]) with the account's credentials ([`credentials`]) and uniform
//! pagination ([`paging`]), and the response becomes a [`CallOutcome`] ([`shape`]) or a
//! [`CallError`] whose [`CallClass`] the audit log and metrics record. No retries and no
//! backoff: a 429 goes back to the caller with the time to wait.

pub mod budget;
mod credentials;
mod dispatch;
mod fields;
mod paging;
mod shape;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use specgate_runtime::{Args, Integration, ToolDef};

pub use credentials::{
    Credentials, CredentialsMismatch, TokenAnswer, Upstream, client_authenticated,
};
pub(crate) use dispatch::transport_error;

use crate::crypto::Keys;
use crate::ratelimit::RateLimit;
use crate::store::{Account, McpServer, Store};

/// What a successful call produced.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    /// The tool's result.
    pub result: CallResult,
    /// Normalized rate-limit information, if the vendor sent any.
    pub rate_limit: Option<RateLimit>,
    /// The vendor's HTTP status.
    pub upstream_status: u16,
}

/// A successful call's result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallResult {
    /// A JSON object as text: the vendor's object or a `{result, next_cursor}` page, with
    /// `rate_limit` and `truncated` added when there is something to say.
    Structured(String),
    /// A response that is not JSON, as text.
    Text(String),
}

/// Why a call produced no result. Each variant is one [`CallClass`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The arguments do not fit the tool; nothing was sent.
    #[error("Invalid arguments: {0}. Check the tool's input schema and try again.")]
    InvalidArguments(String),
    /// The `next_cursor` argument is not one this tool and server issued; nothing was sent.
    #[error(
        "Invalid `next_cursor`: it was changed, or it comes from another tool or MCP server. Pass the `next_cursor` value from the previous result exactly as received, or omit it to start from the first page."
    )]
    InvalidCursor,
    /// The vendor URL or address is not one credentials may go to; nothing was sent.
    #[error("{0}")]
    EgressRefused(String),
    /// The account's credentials cannot be read (gone, unreadable, or the database failed).
    #[error("{0}")]
    CredentialsUnavailable(String),
    /// The OAuth token endpoint refused, failed, or its answer could not be stored.
    #[error("{0}")]
    RefreshRefused(String),
    /// The vendor refused the account's refresh token: its owner must connect it again.
    #[error("{0}")]
    NeedsReconnect(String),
    /// The vendor did not answer within the upstream timeout.
    #[error("The vendor did not answer in time (timeout). Try again later.")]
    Timeout,
    /// The vendor answered 429.
    #[error("{vendor} rate limit reached (HTTP 429). {}", retry_hint(rate_limit.as_ref()))]
    RateLimited {
        /// The integration's title.
        vendor: &'static str,
        /// Normalized rate-limit information, if the vendor sent any.
        rate_limit: Option<RateLimit>,
    },
    /// The vendor answered another error status.
    #[error("{} returned HTTP {}: {}", .0.vendor, .0.status, .0.message)]
    VendorStatus(Box<VendorRefusal>),
    /// The connection failed, or broke while the response was read.
    #[error("{0}")]
    Transport(String),
    /// specgate itself failed (sealing a cursor or credentials, reading the allowed hosts).
    #[error("Internal error: {0}")]
    Internal(String),
}

/// A vendor's error answer, as [`CallError::VendorStatus`] carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorRefusal {
    /// The integration's title.
    pub vendor: &'static str,
    /// The vendor's HTTP status.
    pub status: u16,
    /// The vendor's message, or the start of its body.
    pub message: String,
    /// The vendor's body: its JSON, or the start of its text.
    pub body: Value,
    /// Normalized rate-limit information, if the vendor sent any.
    pub rate_limit: Option<RateLimit>,
}

impl CallError {
    /// The error with every text that can carry the vendor's words (its message, a token
    /// endpoint's or a connection's error) cut to a share of a result `budget`. A refusal's
    /// message goes out twice (the text block and `message`) beside its body, which was
    /// shaped to a third of the budget already.
    pub fn within(self, budget: usize) -> Self {
        let cut = |text: String, share: usize| budget::shorten(&text, budget / share);
        match self {
            Self::VendorStatus(mut refusal) => {
                refusal.message = cut(std::mem::take(&mut refusal.message), 5);
                Self::VendorStatus(refusal)
            }
            Self::RefreshRefused(text) => Self::RefreshRefused(cut(text, 2)),
            Self::NeedsReconnect(text) => Self::NeedsReconnect(cut(text, 2)),
            Self::Transport(text) => Self::Transport(cut(text, 2)),
            Self::InvalidArguments(text) => Self::InvalidArguments(cut(text, 2)),
            other => other,
        }
    }
}

fn retry_hint(rate_limit: Option<&RateLimit>) -> String {
    rate_limit.and_then(|r| r.reset).map_or_else(
        || "The vendor did not say when to retry; wait before calling again.".to_owned(),
        |s| format!("Retry after {s} seconds."),
    )
}

/// How a tool call ended: the `outcome` column of the audit log and the `outcome` label of
/// `specgate_tool_call_outcomes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallClass {
    /// The vendor answered with success.
    Ok,
    /// The arguments (or the cursor) did not fit the tool; nothing was sent.
    InvalidArguments,
    /// The vendor URL or address was refused; nothing was sent.
    EgressRefused,
    /// The account's credentials could not be read; nothing was sent.
    CredentialsUnavailable,
    /// An OAuth refresh failed or was refused; nothing was sent.
    RefreshRefused,
    /// The vendor refused the refresh token; the account must be connected again.
    NeedsReconnect,
    /// The vendor did not answer in time.
    Timeout,
    /// The vendor answered 429.
    RateLimited,
    /// The vendor answered another error status.
    UpstreamError,
    /// The connection to the vendor failed.
    TransportError,
    /// specgate failed.
    Internal,
    /// The server's policy holds the call for a person, who was asked; nothing was sent.
    ConfirmationAsked,
    /// The person confirmed the call; the call's own row follows.
    Confirmed,
    /// The person declined or cancelled; nothing was sent.
    ConfirmationDeclined,
    /// The confirmation came back after its five minutes; nothing was sent.
    ConfirmationExpired,
    /// The confirmation was not valid, was for another call or was used already, or the
    /// client could not ask and the policy refuses; nothing was sent.
    ConfirmationRefused,
}

impl CallClass {
    /// Every class, in the order documented.
    pub const ALL: [Self; 16] = [
        Self::Ok,
        Self::InvalidArguments,
        Self::EgressRefused,
        Self::CredentialsUnavailable,
        Self::RefreshRefused,
        Self::NeedsReconnect,
        Self::Timeout,
        Self::RateLimited,
        Self::UpstreamError,
        Self::TransportError,
        Self::Internal,
        Self::ConfirmationAsked,
        Self::Confirmed,
        Self::ConfirmationDeclined,
        Self::ConfirmationExpired,
        Self::ConfirmationRefused,
    ];

    /// The label used in the audit log and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InvalidArguments => "invalid_arguments",
            Self::EgressRefused => "egress_refused",
            Self::CredentialsUnavailable => "credentials_unavailable",
            Self::RefreshRefused => "refresh_refused",
            Self::NeedsReconnect => "needs_reconnect",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::UpstreamError => "upstream_error",
            Self::TransportError => "transport_error",
            Self::Internal => "internal",
            Self::ConfirmationAsked => "confirmation_asked",
            Self::Confirmed => "confirmed",
            Self::ConfirmationDeclined => "confirmation_declined",
            Self::ConfirmationExpired => "confirmation_expired",
            Self::ConfirmationRefused => "confirmation_refused",
        }
    }
}

impl CallError {
    /// The class operators see for this error.
    pub fn class(&self) -> CallClass {
        match self {
            Self::InvalidArguments(_) | Self::InvalidCursor => CallClass::InvalidArguments,
            Self::EgressRefused(_) => CallClass::EgressRefused,
            Self::CredentialsUnavailable(_) => CallClass::CredentialsUnavailable,
            Self::RefreshRefused(_) => CallClass::RefreshRefused,
            Self::NeedsReconnect(_) => CallClass::NeedsReconnect,
            Self::Timeout => CallClass::Timeout,
            Self::RateLimited { .. } => CallClass::RateLimited,
            Self::VendorStatus(_) => CallClass::UpstreamError,
            Self::Transport(_) => CallClass::TransportError,
            Self::Internal(_) => CallClass::Internal,
        }
    }

    /// The vendor's rate-limit information, when it answered with some.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        match self {
            Self::RateLimited { rate_limit, .. } => *rate_limit,
            Self::VendorStatus(refusal) => refusal.rate_limit,
            _ => None,
        }
    }

    /// The vendor's HTTP status, 0 when no response arrived.
    pub fn upstream_status(&self) -> u16 {
        match self {
            Self::RateLimited { .. } => 429,
            Self::VendorStatus(refusal) => refusal.status,
            _ => 0,
        }
    }

    /// The error for arguments the tool's parser refused.
    pub fn invalid_arguments(error: &specgate_runtime::ArgError) -> Self {
        Self::InvalidArguments(error.to_string())
    }
}

/// Sends tool calls to vendors; shared by all requests.
#[derive(Clone)]
pub struct Caller {
    /// One client, with its own connection pool, per serving thread.
    http: Arc<[reqwest::Client]>,
    store: Store,
    keys: Keys,
    /// Loopback and private upstreams allowed (tests and demos).
    allow_insecure: bool,
    /// Where operators find the console, for the message of an account to reconnect.
    public_url: Option<String>,
    refresh_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Caller {
    /// A caller over one HTTP client per serving thread (see [`crate::egress::client`]).
    pub fn new(
        store: Store,
        keys: Keys,
        http: Arc<[reqwest::Client]>,
        allow_insecure: bool,
        public_url: Option<String>,
    ) -> Self {
        Self {
            http,
            public_url,
            store,
            keys,
            allow_insecure,
            refresh_locks: Arc::default(),
        }
    }

    /// This serving thread's client.
    fn http(&self) -> &reqwest::Client {
        &self.http[serving_thread() % self.http.len()]
    }

    /// Calls one tool for `account` through the MCP `server` (which its cursors are bound to),
    /// with what its resolution parsed (`upstream`), the result within the server's budget.
    pub async fn call(
        &self,
        (account, server, upstream): (&Account, &McpServer, &Upstream),
        integration: &Integration,
        tool: &ToolDef,
        args: &Args,
    ) -> Result<CallOutcome, CallError> {
        let server_id = server.id.as_str();
        let budget = server.config.max_result_bytes as usize;
        let called = async {
            let mut request = (tool.build)(args).map_err(|e| CallError::invalid_arguments(&e))?;
            let page = paging::apply(&self.keys, tool, server_id, &mut request)?;
            let url = self
                .vendor_url(account, integration, upstream, &request)
                .await?;
            let response = self
                .exchange(account, integration, upstream, &request, url)
                .await?;
            let list = shape::ListContext {
                budget,
                selection: fields::Selection::new(request.response_fields.as_deref()),
                keys: &self.keys,
                tool,
                server_id,
                page: &page,
            };
            shape::outcome(integration, &request, &response, &list)
        };
        called.await.map_err(|error| error.within(budget))
    }

    /// The hosts an operator allows for `integration`, read now.
    async fn operator_hosts(&self, integration: &Integration) -> Result<Arc<[String]>, CallError> {
        let hosts = self
            .store
            .upstream_hosts(Some(integration.name))
            .await
            .map_err(|e| {
                CallError::Internal(format!("could not read the allowed upstream hosts: {e}"))
            })?;
        Ok(hosts.into_iter().map(|h| h.host).collect())
    }
}

thread_local! {
    static SERVING_THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks the current OS thread as serving thread `index`, whose requests use that thread's
/// own vendor connection pool. Each serving thread runs a single-threaded runtime, so a
/// request and its vendor connection never wake another thread.
pub fn set_serving_thread(index: usize) {
    SERVING_THREAD.set(index);
}

/// The serving thread this code runs on (0 off the serving threads): which of the caller's
/// per-thread clients it uses.
pub fn serving_thread() -> usize {
    SERVING_THREAD.get()
}
