//! The specgate server: serves the compiled tools over MCP at `/mcp/{token}`, proxies each call
//! to the vendor, and provisions accounts and MCP servers through an admin API, a web console
//! and a CLI.
//!
//! A core that knows no transport (`state`, `access`, `grants`, `provision`, `tool_call`,
//! `call`, `catalog`, `store`, ...) and thin faces around it (`mcp`, `oauth`, `admin`,
//! `console`, and the command line in `cli`). [`app`] assembles the faces' routes into one
//! router, which tests drive with `tower::ServiceExt::oneshot` as well as over a socket; `cli`
//! only binds it. The server knows no generated code: the `specgate` binary (`cli/`) hands
//! it the compiled registry, so a vendor's change never recompiles this crate.

pub mod access;
pub mod admin;
pub mod audit;
pub mod cache;
pub mod call;
pub mod callback;
pub mod catalog;
pub mod changes;
pub mod cli;
pub mod confirm;
pub mod connect;
pub mod console;
pub mod crypto;
#[cfg(unix)]
pub mod dev;
pub mod domain;
pub mod egress;
pub mod grants;
#[cfg(unix)]
pub mod handover;
pub mod limiter;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod peer;
pub mod provision;
pub mod resolution;
pub mod sandbox;
pub mod serving;
pub mod state;
pub mod store;
pub mod tool_call;
pub mod web;
pub use specgate_wire::{ratelimit, vendor_json};

pub use state::{AppState, Config, spawn_sweeper};

use axum::Router;
use axum::routing::get;

fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/')
        .next()
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

/// The MCP endpoint over the compiled catalog (see [`mcp::McpHttp`]), accepting loopback, the
/// configured hosts and the public URL's host in `Host`.
fn mcp_http(state: AppState) -> mcp::McpHttp {
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

/// The whole HTTP application: MCP, legacy SSE, admin API, console, health and metrics. Build
/// it once per process and clone it for each serving thread: the faces' state (legacy SSE
/// sessions, console sign-in limits) lives in it.
pub fn app(state: AppState) -> Router {
    let ops = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(render_metrics))
        .with_state(state.clone());
    let app = Router::new()
        .merge(mcp::router(mcp_http(state.clone())))
        .merge(admin::router(state.clone()))
        .merge(oauth::router(state.clone()))
        .merge(callback::router(state.clone()))
        .merge(ops)
        .route("/", get(index))
        .fallback(admin::no_route)
        .nest("/console", console::router(state.clone()))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_body_bytes,
        ))
        // One relaxed load per response; no clone of the stack, unlike a `from_fn` middleware.
        .layer(tower::util::MapResponseLayer::new({
            let state = state.clone();
            move |mut response: axum::response::Response| {
                if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                response
            }
        }));
    // The log level is fixed at start; below `debug` the per-request layer is left out, since
    // a middleware costs a clone of the service stack on every request.
    if tracing::enabled!(tracing::Level::DEBUG) {
        app.layer(axum::middleware::from_fn(trace_request))
    } else {
        app
    }
}

/// `/`: where to go from here.
async fn index() -> axum::response::Html<String> {
    let links = [
        ("/console", "The web console"),
        ("/openapi.json", "The admin API's OpenAPI document"),
        ("/healthz", "Health"),
        ("/readyz", "Readiness"),
        ("/metrics", "Prometheus metrics"),
    ];
    web::document(
        "specgate",
        maud::html! { span.brand { "specgate" } },
        maud::html! {
            ul { @for (href, label) in links { li { a href=(href) { (label) } } } }
        },
        None,
    )
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

/// `/metrics`: Prometheus text format.
async fn render_metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics_text(),
    )
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

/// The paths whose next segment is a token: the MCP transports and their protected resource
/// metadata (RFC 9728 inserts the resource's path after the well-known name), and a vendor
/// connection's start URL.
const TOKEN_PREFIXES: [&str; 3] = [
    "/mcp/",
    "/.well-known/oauth-protected-resource/mcp/",
    crate::connect::START_PATH,
];

/// A path with the MCP token in it replaced, for logs.
pub fn redact_path(path: &str) -> String {
    for prefix in TOKEN_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            return match rest.split_once('/') {
                Some((_, tail)) => format!("{prefix}[redacted]/{tail}"),
                None => format!("{prefix}[redacted]"),
            };
        }
    }
    path.to_owned()
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
            super::redact_path("/.well-known/oauth-protected-resource/mcp/mcp_secret/portable"),
            "/.well-known/oauth-protected-resource/mcp/[redacted]/portable"
        );
        assert_eq!(
            super::redact_path("/oauth/connect/start_secret"),
            "/oauth/connect/[redacted]"
        );
        assert_eq!(
            super::redact_path("/integrated-account"),
            "/integrated-account"
        );
    }
}
