//! The specgate server: serves the compiled tools over MCP at `/mcp/{token}`, proxies each call
//! to the vendor, and provisions accounts and MCP servers through an admin API and a CLI.
//!
//! `app` builds the whole router so tests drive it without a socket; `main.rs` only binds it.

pub mod admin;
pub mod audit;
pub mod cache;
pub mod catalog;
pub mod changes;
pub mod console;
pub mod crypto;
pub mod egress;
pub mod mcp;
pub mod metrics;
pub mod proxy;
pub mod sandbox;
pub mod serving;
pub mod store;
pub use specgate_wire::{ratelimit, vendor_json};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

use crate::cache::ChangeCache;
use crate::catalog::Catalog;
use crate::crypto::Keys;
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use crate::store::Store;
use tokio_util::sync::CancellationToken;

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
    /// Threads that each serve their own connections (see [`serving_thread`]); the vendor
    /// client keeps one connection pool per thread.
    pub serving_threads: usize,
}

/// Token resolutions (and API tokens) kept in memory at most; past it the cache starts over.
const CACHED_TOKENS: usize = 10_000;

/// Everything a request handler needs, behind one `Arc`: handlers and middleware clone it
/// per request.
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
    pub proxy: Proxy,
    /// Prometheus counters.
    pub metrics: Metrics,
    /// The per-call audit log.
    pub audit: audit::AuditLog,
    /// MCP token resolutions, kept until the database changes.
    pub resolutions: ChangeCache<Arc<mcp::Resolved>>,
    /// API tokens (the second factor and the admin API), kept until the database changes.
    pub api_tokens: ChangeCache<store::ApiToken>,
    /// Legacy SSE sessions.
    pub sse: mcp::SseSessions,
    /// Failed console sign-ins by address.
    pub sign_ins: console::SignInLimiter,
    /// Fires when the process begins to shut down: readiness turns false and SSE streams close.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// State over the compiled registry.
    pub fn new(config: Config, store: Store, keys: Keys) -> Self {
        let shutdown = CancellationToken::new();
        Self(Arc::new(Shared {
            proxy: Proxy::new(
                store.clone(),
                keys.clone(),
                (0..config.serving_threads.max(1))
                    .map(|_| {
                        egress::client(config.upstream_timeout, config.allow_insecure_upstreams)
                    })
                    .collect(),
                config.allow_insecure_upstreams,
            ),
            sse: mcp::SseSessions::new(
                config.sse_max_sessions,
                config.sse_max_sessions_per_server,
                config.sse_idle,
                shutdown.clone(),
            ),
            shutdown,
            sign_ins: console::SignInLimiter::default(),
            config: Arc::new(config),
            audit: audit::AuditLog::new(store.clone()),
            resolutions: ChangeCache::new(store.changes().clone(), CACHED_TOKENS),
            api_tokens: ChangeCache::new(store.changes().clone(), CACHED_TOKENS),
            store,
            keys,
            catalog: Catalog::from_registry(specgate_api::INTEGRATIONS),
            metrics: Metrics::default(),
        }))
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

/// The serving thread this code runs on (0 off the serving threads).
pub fn serving_thread() -> usize {
    SERVING_THREAD.get()
}

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/')
        .next()
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
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
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "swept expired MCP servers"),
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
        }
    })
}

/// The MCP endpoint over the compiled catalog (see [`mcp::McpHttp`]), accepting loopback, the
/// configured hosts and the public URL's host in `Host`.
pub fn mcp_http(state: AppState) -> mcp::McpHttp {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    hosts.extend(state.config.allowed_hosts.iter().cloned());
    if let Some(public) = state.config.public_url.as_deref().and_then(host_of) {
        hosts.push(public);
    }
    let mut origins: Vec<String> = vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()];
    origins.extend(state.config.allowed_origins.iter().cloned());
    mcp::McpHttp::new(state, hosts, origins)
}

/// The MCP endpoints, streamable HTTP and legacy SSE, behind token resolution.
pub fn mcp_router(state: AppState) -> Router {
    Router::new()
        .route("/mcp/{token}", axum::routing::any(mcp::endpoint))
        .route("/mcp/{token}/sse", get(mcp::sse_connect))
        .route("/mcp/{token}/messages", post(mcp::sse_message))
        .route(
            "/mcp/{token}/portable",
            axum::routing::any(mcp::endpoint_portable),
        )
        .route("/mcp/{token}/portable/sse", get(mcp::sse_connect_portable))
        .route(
            "/mcp/{token}/portable/messages",
            post(mcp::sse_message_portable),
        )
        .with_state(mcp_http(state))
}

/// The whole HTTP application: MCP, legacy SSE, admin API, health and metrics.
pub fn app(state: AppState) -> Router {
    let admin_and_ops = admin::router(state.clone())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics::render))
        .with_state(state.clone());
    let app = Router::new()
        .merge(mcp_router(state.clone()))
        .merge(admin_and_ops)
        .nest("/console", console::router().with_state(state.clone()))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_body_bytes,
        ));
    // The log level is fixed at start; below `debug` the per-request layer is left out, since
    // a middleware costs a clone of the service stack on every request.
    if tracing::enabled!(tracing::Level::DEBUG) {
        app.layer(axum::middleware::from_fn(trace_request))
    } else {
        app
    }
}

/// `/readyz`: 200 while the database answers with a current schema and the process is not
/// shutting down, else 503, so a load balancer stops sending traffic from the first signal on.
async fn readiness(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.shutdown.is_cancelled() {
        return (http::StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    match state.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness: database not ready");
            (
                http::StatusCode::SERVICE_UNAVAILABLE,
                format!("database not ready: {error}"),
            )
                .into_response()
        }
    }
}

/// One span and one line per request at `debug` (`SPECGATE_LOG=debug`), with any
/// `/mcp/<token>` path redacted.
async fn trace_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = redact_path(request.uri().path());
    let span = tracing::debug_span!("http", method = %request.method(), path = %path);
    let started = std::time::Instant::now();
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    response
}

/// `/mcp/<token>/...` with the token replaced, for logs.
pub fn redact_path(path: &str) -> String {
    match path.strip_prefix("/mcp/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, tail)) => format!("/mcp/[redacted]/{tail}"),
            None => "/mcp/[redacted]".to_owned(),
        },
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_never_reach_logs() {
        assert_eq!(super::redact_path("/mcp/mcp_secret"), "/mcp/[redacted]");
        assert_eq!(
            super::redact_path("/mcp/mcp_secret/sse"),
            "/mcp/[redacted]/sse"
        );
        assert_eq!(
            super::redact_path("/integrated-account"),
            "/integrated-account"
        );
    }
}
