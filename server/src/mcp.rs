//! The MCP endpoint: token resolution in front of rmcp's streamable HTTP service, a
//! hand-written `ServerHandler` over the compiled catalog, and the legacy HTTP+SSE transport.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::Stream;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, ErrorData as McpError, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use tokio::sync::mpsc;

use crate::AppState;
use crate::catalog::allowed;
use crate::ratelimit::RateLimit;
use crate::store::{Account, McpServer, now};

/// The server and account a request's token resolved to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The MCP server.
    pub server: McpServer,
    /// Its account.
    pub account: Account,
}

/// Where the handler leaves the vendor's rate-limit state for the HTTP layer to expose.
#[derive(Debug, Clone, Default)]
pub struct RateSlot(Arc<Mutex<Option<RateLimit>>>);

/// The rmcp handler. Over HTTP it reads the resolved server from the request; over stdio it is
/// fixed at start.
#[derive(Clone)]
pub struct Handler {
    state: AppState,
    fixed: Option<Arc<Resolved>>,
}

impl Handler {
    /// A handler for HTTP, resolving per request.
    pub fn per_request(state: AppState) -> Self {
        Self { state, fixed: None }
    }

    /// A handler bound to one server (stdio).
    pub fn fixed(state: AppState, resolved: Resolved) -> Self {
        Self {
            state,
            fixed: Some(Arc::new(resolved)),
        }
    }

    fn resolved(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<(Arc<Resolved>, Option<RateSlot>), McpError> {
        if let Some(fixed) = &self.fixed {
            return Ok((fixed.clone(), None));
        }
        let parts = context
            .extensions
            .get::<http::request::Parts>()
            .ok_or_else(|| McpError::internal_error("request context is missing", None))?;
        let resolved = parts
            .extensions
            .get::<Arc<Resolved>>()
            .cloned()
            .ok_or_else(|| McpError::internal_error("unresolved MCP token", None))?;
        Ok((resolved, parts.extensions.get::<RateSlot>().cloned()))
    }
}

fn unknown_tool(name: &str) -> McpError {
    // The same answer for a tool that does not exist and one this server filters out.
    McpError::invalid_params(format!("Unknown tool: {name}"), None)
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info.server_info = Implementation::new("specgate", env!("CARGO_PKG_VERSION"));
        info.instructions = Some("Typed tools for a vendor API. List tools return {result, next_cursor}; pass next_cursor back unchanged to page.".to_owned());
        info
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (resolved, _) = self.resolved(&context)?;
        let visible: Vec<&Tool> = self
            .state
            .catalog
            .visible(&resolved.account.integration, &resolved.server.config)
            .map(|t| &t.mcp)
            .collect();
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(cursor) => cursor
                .parse::<usize>()
                .ok()
                .filter(|start| *start < visible.len())
                .ok_or_else(|| McpError::invalid_params("Invalid tools/list cursor", None))?,
        };
        let end = (start + self.state.config.tools_page_size.max(1)).min(visible.len());
        let mut result = ListToolsResult::with_all_items(
            visible[start..end].iter().map(|t| (*t).clone()).collect(),
        );
        result.next_cursor = (end < visible.len()).then(|| end.to_string());
        result.ttl_ms = Some(60_000);
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.state.catalog.get(name).map(|t| t.mcp.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let (resolved, slot) = self.resolved(&context)?;
        let tool = self
            .state
            .catalog
            .get(&request.name)
            .filter(|t| {
                t.def.integration == resolved.account.integration
                    && allowed(t.def, &resolved.server.config)
            })
            .ok_or_else(|| unknown_tool(&request.name))?;
        let args = request.arguments.unwrap_or_default();
        let started = Instant::now();
        let span =
            tracing::info_span!("tool_call", tool = tool.def.name, account = %resolved.account.id);
        let outcome = tracing::Instrument::instrument(
            self.state
                .proxy
                .call(&resolved.account, tool.integration, tool.def, &args),
            span,
        )
        .await;
        self.state
            .metrics
            .record(tool.def.name, outcome.upstream_status, started.elapsed());
        if let (Some(slot), Some(rate_limit)) = (slot, outcome.rate_limit) {
            *slot
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rate_limit);
        }
        Ok(outcome.result.into())
    }
}

/// Resolves `/mcp/{token}` before rmcp sees the request: 404 for any unknown, expired or
/// deleted token; 401 when the server requires an API token and none valid is sent. The
/// client's `Authorization` header is removed so nothing can forward it.
pub async fn resolve_token(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = params.get("token") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let hash = state.keys.hash_token(token);
    let resolved = match state.store.resolve_token(&hash, now()).await {
        Ok(Some((server, account))) => Resolved { server, account },
        Ok(None) => return (StatusCode::NOT_FOUND, "Not Found").into_response(),
        Err(error) => {
            tracing::error!(%error, "token lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    if resolved.server.config.require_api_token_auth {
        let valid = crate::admin::has_valid_api_token(&state, request.headers()).await;
        if !valid {
            return (
                StatusCode::UNAUTHORIZED,
                "This MCP server requires an API token: send `Authorization: Bearer <api token>`.",
            )
                .into_response();
        }
    }
    request.headers_mut().remove(http::header::AUTHORIZATION);
    let slot = RateSlot::default();
    request.extensions_mut().insert(Arc::new(resolved));
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let rate_limit = *slot
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(rate_limit) = rate_limit {
        for (name, value) in rate_limit.response_headers() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

/// The fields that make a JSON-RPC 2.0 message; everything else is skipped without being
/// built, since rmcp parses the body again.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    id: Option<serde::de::IgnoredAny>,
    result: Option<serde::de::IgnoredAny>,
    error: Option<serde::de::IgnoredAny>,
}

/// Answers malformed JSON-RPC with the standard error objects before rmcp sees it: invalid
/// JSON gets -32700 (parse error) and JSON that is not a JSON-RPC 2.0 message gets -32600
/// (invalid request), both with HTTP 400. Oversized bodies get 413.
pub async fn validate_json_rpc(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, state.config.max_body_bytes).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body is too large").into_response();
    };
    let problem = match serde_json::from_slice::<Envelope<'_>>(&bytes) {
        Err(error) if error.is_syntax() || error.is_eof() => {
            Some((-32700, format!("Parse error: {error}")))
        }
        Err(_) => Some((
            -32600,
            "Invalid Request: expected a single JSON-RPC 2.0 object".to_owned(),
        )),
        Ok(envelope) => {
            let is_call = envelope.method.is_some();
            let is_reply =
                envelope.id.is_some() && (envelope.result.is_some() || envelope.error.is_some());
            (envelope.jsonrpc.as_deref() != Some("2.0") || !(is_call || is_reply))
                .then(|| (-32600, "Invalid Request: expected a JSON-RPC 2.0 request, notification or response object".to_owned()))
        }
    };
    if let Some((code, message)) = problem {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Open legacy SSE sessions: each holds a bounded channel to its stream. Memory is bounded by
/// the session limit times the per-session queue, and idle sessions are closed.
#[derive(Clone)]
pub struct SseSessions {
    inner: Arc<Mutex<HashMap<String, mpsc::Sender<String>>>>,
    max_sessions: usize,
    idle: Duration,
}

impl SseSessions {
    /// At most `max_sessions` open at once (more get 503); each closes after `idle` without a
    /// message.
    pub fn new(max_sessions: usize, idle: Duration) -> Self {
        Self {
            inner: Arc::default(),
            max_sessions,
            idle,
        }
    }
}

/// Messages buffered per session before POSTs get 429.
const SSE_QUEUE: usize = 32;

/// `GET /mcp/{token}/sse`: the legacy HTTP+SSE transport. The first event announces the POST
/// endpoint; responses to POSTed messages arrive as `message` events.
pub async fn sse_connect(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let session_id = match crate::crypto::new_id() {
        Ok(id) => id,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let (sender, receiver) = mpsc::channel::<String>(SSE_QUEUE);
    {
        let mut sessions = state
            .sse
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sessions.len() >= state.sse.max_sessions {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open SSE sessions",
            )
                .into_response();
        }
        sessions.insert(session_id.clone(), sender);
    }
    let endpoint = format!("/mcp/{token}/messages?session_id={session_id}");
    let stream = sse_stream(state.sse.clone(), session_id, endpoint, receiver);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn sse_stream(
    sessions: SseSessions,
    session_id: String,
    endpoint: String,
    receiver: mpsc::Receiver<String>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let first =
        futures::stream::once(async move { Ok(Event::default().event("endpoint").data(endpoint)) });
    let guard = SessionGuard {
        sessions,
        session_id,
    };
    let rest = futures::stream::unfold((receiver, guard), |(mut receiver, guard)| async move {
        match tokio::time::timeout(guard.sessions.idle, receiver.recv()).await {
            Ok(Some(message)) => Some((
                Ok(Event::default().event("message").data(message)),
                (receiver, guard),
            )),
            Ok(None) | Err(_) => None,
        }
    });
    futures::StreamExt::chain(first, rest)
}

/// Removes a session from the table when its stream ends or the client goes away.
struct SessionGuard {
    sessions: SseSessions,
    session_id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.session_id);
    }
}

/// Query of the legacy message endpoint.
#[derive(serde::Deserialize)]
pub struct SessionQuery {
    session_id: String,
}

/// `POST /mcp/{token}/messages?session_id=...`: runs the message through the same stateless
/// MCP service and delivers the answer on the session's SSE stream.
pub async fn sse_message(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<SessionQuery>,
    request: Request,
) -> Response {
    let sender = state
        .sse
        .inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&query.session_id)
        .cloned();
    let Some(sender) = sender else {
        return (StatusCode::NOT_FOUND, "unknown SSE session").into_response();
    };
    let (mut parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    parts.uri = match format!("/mcp/{token}").parse() {
        Ok(uri) => uri,
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    parts.headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .entry("mcp-protocol-version")
        .or_insert(HeaderValue::from_static("2024-11-05"));
    let inner = Request::from_parts(parts, Body::from(body));
    let response = match tower::ServiceExt::oneshot(crate::mcp_router(state.clone()), inner).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    if status == StatusCode::ACCEPTED {
        return StatusCode::ACCEPTED.into_response();
    }
    if !status.is_success() {
        return response;
    }
    let bytes = match axum::body::to_bytes(response.into_body(), usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    match sender.try_send(text) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(mpsc::error::TrySendError::Full(_)) => {
            (StatusCode::TOO_MANY_REQUESTS, "SSE session queue is full").into_response()
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            (StatusCode::NOT_FOUND, "SSE session closed").into_response()
        }
    }
}
