//! The core's shared state: deployment settings, the database, keys, the compiled catalog,
//! the vendor caller, metrics, the audit log and the token caches. Faces (MCP, admin API,
//! console, CLI) hold an [`AppState`] and keep their own transport state beside it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::cache::ChangeCache;
use crate::call::Caller;
use crate::catalog::Catalog;
use crate::crypto::Keys;
use crate::metrics::Metrics;
use crate::resolution::Resolved;
use crate::store::{self, AccessGrant, ApiToken, Store};

/// Deployment settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL that MCP server URLs are built on, e.g. `https://mcp.example.com`. `None`
    /// where it is not known (a CLI run on a database no server has recorded it in).
    pub public_url: Option<String>,
    /// Host names (or `host:port`) accepted in `Host`; loopback is always accepted.
    pub allowed_hosts: Vec<String>,
    /// Origins accepted in `Origin` (browser clients); empty rejects any Origin but loopback.
    pub allowed_origins: Vec<String>,
    /// Accept `http://` loopback base URLs for accounts (tests and the demo only).
    pub allow_insecure_upstreams: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Tools per tools/list page.
    pub tools_page_size: usize,
    /// How long a vendor request may take before it becomes a timeout error.
    pub upstream_timeout: Duration,
    /// Most concurrent legacy SSE sessions.
    pub sse_max_sessions: usize,
    /// Most concurrent legacy SSE sessions of one MCP server, so one tenant cannot hold them all.
    pub sse_max_sessions_per_server: usize,
    /// Legacy SSE sessions close after this long without a message.
    pub sse_idle: Duration,
    /// How long the audit log keeps a tool call.
    pub audit_retention: Duration,
    /// Threads that each serve their own connections (see [`crate::call::serving_thread`]); the vendor
    /// client keeps one connection pool per thread.
    pub serving_threads: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see [`crate::peer`]); empty
    /// trusts none, and every limit is keyed by the connection's peer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Config {
    /// `serve`'s defaults, with no public URL, on one serving thread: what a command, a test
    /// or an embedding changes only where it differs (`Config { public_url, ..Config::default() }`).
    fn default() -> Self {
        Self {
            public_url: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            allow_insecure_upstreams: false,
            max_body_bytes: 1024 * 1024,
            tools_page_size: 100,
            upstream_timeout: Duration::from_secs(30),
            sse_max_sessions: 1024,
            sse_max_sessions_per_server: 16,
            sse_idle: Duration::from_secs(300),
            audit_retention: Duration::from_secs(30 * 86_400),
            serving_threads: 1,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Token resolutions (and API tokens) kept in memory at most; past it the cache starts over.
const CACHED_TOKENS: usize = 10_000;

/// Everything the core shares, behind one `Arc`: handlers and middleware clone it per request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    /// Settings.
    pub config: Arc<Config>,
    /// Database.
    pub store: Store,
    /// Secret key material.
    pub keys: Keys,
    /// Compiled tools.
    pub catalog: Catalog,
    /// Vendor client.
    pub caller: Caller,
    /// Prometheus counters.
    pub metrics: Metrics,
    /// The per-call audit log.
    pub audit: AuditLog,
    /// MCP token resolutions, kept until the database changes.
    pub resolutions: ChangeCache<Arc<Resolved>>,
    /// API tokens (the second factor and the admin API), kept until the database changes.
    pub api_tokens: ChangeCache<ApiToken>,
    /// OAuth access tokens and what they open, kept until the database changes.
    pub access_tokens: ChangeCache<AccessGrant>,
    /// Fetches OAuth clients' metadata documents, through the egress guard.
    pub oauth_documents: reqwest::Client,
    /// Fires when the process begins to shut down: readiness turns false and streams close.
    pub shutdown: CancellationToken,
    /// Set from the shutdown signal or a handover on: every response then carries
    /// `Connection: close`, so a kept-alive client moves to another instance or process on
    /// its next request instead of meeting a closed connection.
    pub draining: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// Every metric family in Prometheus text format: the call counters, the token caches and
    /// the audit log's committed and dropped records.
    pub fn metrics_text(&self) -> String {
        use std::fmt::Write as _;
        let state = self;
        let mut text = state.metrics.to_prometheus();
        text.push_str("# HELP specgate_token_lookups_total Token lookups, answered from memory (hit) or by the database (load).\n# TYPE specgate_token_lookups_total counter\n");
        for (token, (hits, loads)) in [
            ("mcp", state.resolutions.counts()),
            ("api", state.api_tokens.counts()),
            ("oauth_access", state.access_tokens.counts()),
        ] {
            let _ = writeln!(
                text,
                "specgate_token_lookups_total{{token=\"{token}\",answer=\"hit\"}} {hits}\nspecgate_token_lookups_total{{token=\"{token}\",answer=\"load\"}} {loads}"
            );
        }
        let _ = writeln!(
            text,
            "# HELP specgate_audit_written_total Audit records committed to the database.\n# TYPE specgate_audit_written_total counter\nspecgate_audit_written_total {}",
            state.audit.written()
        );
        let _ = writeln!(
            text,
            "# HELP specgate_audit_dropped_total Audit records dropped because the writer fell behind.\n# TYPE specgate_audit_dropped_total counter\nspecgate_audit_dropped_total {}",
            state.audit.dropped()
        );
        text
    }

    /// State over `registry`, the compiled integrations sorted by name (`specgate_api`'s,
    /// which the `specgate` binary hands over: the server itself knows no generated code).
    pub fn new(
        config: Config,
        store: Store,
        keys: Keys,
        registry: &'static [&'static specgate_runtime::Integration],
    ) -> Self {
        let clients = (0..config.serving_threads.max(1))
            .map(|_| {
                crate::egress::client(config.upstream_timeout, config.allow_insecure_upstreams)
            })
            .collect();
        // A client's document is small and public: five seconds, the vendor egress rules.
        let oauth_documents =
            crate::egress::client(Duration::from_secs(5), config.allow_insecure_upstreams);
        Self(Arc::new(Shared {
            caller: Caller::new(
                store.clone(),
                keys.clone(),
                clients,
                config.allow_insecure_upstreams,
                config.public_url.clone(),
            ),
            shutdown: CancellationToken::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
            config: Arc::new(config),
            audit: AuditLog::new(store.clone()),
            resolutions: ChangeCache::new(store.changes().clone(), CACHED_TOKENS),
            api_tokens: ChangeCache::new(store.changes().clone(), CACHED_TOKENS),
            access_tokens: ChangeCache::new(store.changes().clone(), CACHED_TOKENS),
            oauth_documents,
            store,
            keys,
            catalog: Catalog::from_registry(registry),
            metrics: Metrics::default(),
        }))
    }
}

/// Every `interval` until the process ends, deletes expired MCP servers and audit rows older
/// than `retention`. Expired servers are refused from their `expires_at` on regardless; the
/// sweep only purges. Both are single idempotent `DELETE`s, so any number of instances may
/// sweep one database at once.
pub fn spawn_sweeper(
    store: Store,
    interval: Duration,
    retention: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        loop {
            tick.tick().await;
            match store.sweep_expired(store::now()).await {
                Ok(swept) => {
                    for server in swept {
                        tracing::info!(
                            server_id = %server.id,
                            name = %server.name,
                            account_id = %server.account_id,
                            "removed an expired MCP server"
                        );
                    }
                }
                Err(error) => tracing::warn!(%error, "expiry sweep failed"),
            }
            match store
                .prune_calls(store::now_ms().saturating_sub(retention_ms))
                .await
            {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "pruned the audit log"),
                Err(error) => tracing::warn!(%error, "audit log pruning failed"),
            }
            if let Err(error) = store.prune_sessions(store::now()).await {
                tracing::warn!(%error, "console session pruning failed");
            }
            if let Err(error) = store.prune_oauth(store::now()).await {
                tracing::warn!(%error, "OAuth code and token pruning failed");
            }
            if let Err(error) = store.sweep_connections(store::now()).await {
                tracing::warn!(%error, "vendor OAuth connection pruning failed");
            }
            if let Err(error) = store.prune_confirmations(store::now()).await {
                tracing::warn!(%error, "used confirmation pruning failed");
            }
        }
    })
}
