//! The legacy HTTP+SSE transport: `GET .../sse` opens a stream whose first event names the
//! POST endpoint, and each POSTed message is answered through the same stateless service,
//! its reply delivered on the stream.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::http::{McpHttp, json_rpc_problem, resolve_token};
use crate::resolution::Resolved;
use crate::store::SchemaProfile;

/// One open legacy SSE session.
struct SseSession {
    /// The stream's queue.
    sender: mpsc::Sender<String>,
    /// The MCP server whose token opened it; messages must come through the same server.
    server_id: String,
    /// The protocol version the client's `initialize` negotiated, sent on its later messages
    /// as the `MCP-Protocol-Version` header that legacy clients do not send themselves.
    protocol_version: Option<String>,
}

/// Open legacy SSE sessions. Memory is bounded by the session limits times the per-session
/// queue; idle sessions close, and all of them close on shutdown.
#[derive(Clone)]
pub struct SseSessions {
    inner: Arc<Mutex<HashMap<String, SseSession>>>,
    max_sessions: usize,
    max_per_server: usize,
    idle: Duration,
    shutdown: CancellationToken,
}

impl SseSessions {
    /// At most `max_sessions` open at once, and `max_per_server` for one MCP server (more get
    /// 503); each closes after `idle` without a message, and every one when `shutdown` fires.
    pub fn new(
        max_sessions: usize,
        max_per_server: usize,
        idle: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::default(),
            max_sessions,
            max_per_server,
            idle,
            shutdown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SseSession>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Messages buffered per session before POSTs get 429.
const SSE_QUEUE: usize = 32;

/// `GET /mcp/{token}/sse`: the legacy HTTP+SSE transport. The first event announces the POST
/// endpoint, which keeps the token in its path so a load balancer can route both to one
/// instance; responses to POSTed messages arrive as `message` events.
pub(super) async fn connect(
    State(mcp): State<McpHttp>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    open(&mcp, &token, request, "").await
}

/// `GET /mcp/{token}/portable/sse`: legacy SSE in the portable schema profile.
pub(super) async fn connect_portable(
    State(mcp): State<McpHttp>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    open(&mcp, &token, request, "/portable").await
}

/// Opens a legacy SSE session whose messages go to `/mcp/{token}{variant}/messages`.
async fn open(mcp: &McpHttp, token: &str, request: Request, variant: &str) -> Response {
    let (mut parts, _) = request.into_parts();
    let resolved = match resolve_token(&mcp.state, token, &mut parts).await {
        Ok(resolved) => resolved,
        Err(refused) => return refused,
    };
    let session_id = match crate::crypto::new_id() {
        Ok(id) => id,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let (sender, receiver) = mpsc::channel::<String>(SSE_QUEUE);
    {
        let mut sessions = mcp.sse.lock();
        if sessions.len() >= mcp.sse.max_sessions {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open SSE sessions on this instance",
            )
                .into_response();
        }
        let server_id = &resolved.server.id;
        if sessions
            .values()
            .filter(|s| &s.server_id == server_id)
            .count()
            >= mcp.sse.max_per_server
        {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open SSE sessions for this MCP server; close one first",
            )
                .into_response();
        }
        sessions.insert(
            session_id.clone(),
            SseSession {
                sender,
                server_id: server_id.clone(),
                protocol_version: None,
            },
        );
    }
    let endpoint = format!("/mcp/{token}{variant}/messages?session_id={session_id}");
    let stream = sse_stream(mcp.sse.clone(), session_id, endpoint, receiver);
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
        let shutdown = guard.sessions.shutdown.clone();
        tokio::select! {
            () = shutdown.cancelled() => None,
            next = tokio::time::timeout(guard.sessions.idle, receiver.recv()) => match next {
                Ok(Some(message)) => Some((
                    Ok(Event::default().event("message").data(message)),
                    (receiver, guard),
                )),
                Ok(None) | Err(_) => None,
            },
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
        self.sessions.lock().remove(&self.session_id);
    }
}

/// Query of the legacy message endpoint.
#[derive(serde::Deserialize)]
pub struct SessionQuery {
    session_id: String,
}

/// The `protocolVersion` of an `initialize` result, if `body` is one.
fn negotiated_version(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Reply {
        result: InitResult,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct InitResult {
        protocol_version: String,
    }
    serde_json::from_slice::<Reply>(body)
        .ok()
        .map(|reply| reply.result.protocol_version)
}

/// `POST /mcp/{token}/messages?session_id=...`: runs the message through the same stateless
/// MCP service and delivers the answer, success or JSON-RPC error, on the session's stream.
pub(super) async fn message(
    State(mcp): State<McpHttp>,
    Path(token): Path<String>,
    Query(query): Query<SessionQuery>,
    request: Request,
) -> Response {
    post_sse_message(&mcp, &token, &query, request, None).await
}

/// `POST /mcp/{token}/portable/messages?session_id=...`, in the portable schema profile.
pub(super) async fn message_portable(
    State(mcp): State<McpHttp>,
    Path(token): Path<String>,
    Query(query): Query<SessionQuery>,
    request: Request,
) -> Response {
    post_sse_message(&mcp, &token, &query, request, Some(SchemaProfile::Portable)).await
}

async fn post_sse_message(
    mcp: &McpHttp,
    token: &str,
    query: &SessionQuery,
    request: Request,
    profile: Option<SchemaProfile>,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(profile) = profile {
        parts.extensions.insert(profile);
    }
    let resolved = match resolve_token(&mcp.state, token, &mut parts).await {
        Ok(resolved) => resolved,
        Err(refused) => return refused,
    };
    deliver_sse_message(mcp, query, &resolved, parts, body).await
}

async fn deliver_sse_message(
    mcp: &McpHttp,
    query: &SessionQuery,
    resolved: &Resolved,
    mut parts: http::request::Parts,
    body: Body,
) -> Response {
    let session = mcp.sse.lock().get(&query.session_id).and_then(|session| {
        (session.server_id == resolved.server.id)
            .then(|| (session.sender.clone(), session.protocol_version.clone()))
    });
    let Some((sender, protocol_version)) = session else {
        return (
            StatusCode::NOT_FOUND,
            "unknown SSE session: open a new one with GET .../sse (sessions live on the instance that opened them)",
        )
            .into_response();
    };
    let body = match axum::body::to_bytes(body, mcp.state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body is too large").into_response();
        }
    };
    // The vendor's rate-limit headers of the answer, repeated on the POST's response.
    let mut rate_headers = http::HeaderMap::new();
    let reply = match json_rpc_problem(&body) {
        Some(problem) => Some(problem.to_string().into_bytes()),
        None => {
            parts.headers.insert(
                http::header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Some(version) = protocol_version
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                parts
                    .headers
                    .entry("mcp-protocol-version")
                    .or_insert(version);
            }
            let response = mcp.answer(parts, body).await;
            let is_json = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/json"));
            if response.status() == StatusCode::ACCEPTED {
                None
            } else if !is_json {
                return response;
            } else {
                let (head, body) = response.into_parts();
                rate_headers.extend(
                    head.headers
                        .into_iter()
                        .filter_map(|(name, value)| Some((name?, value)))
                        .filter(|(name, _)| name.as_str().starts_with("ratelimit")),
                );
                match axum::body::to_bytes(body, usize::MAX).await {
                    Ok(bytes) => Some(bytes.to_vec()),
                    Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
                }
            }
        }
    };
    let Some(reply) = reply else {
        return StatusCode::ACCEPTED.into_response();
    };
    // A session negotiates its version once: only replies before that are read for it.
    if protocol_version.is_none()
        && let Some(version) = negotiated_version(&reply)
        && let Some(session) = mcp.sse.lock().get_mut(&query.session_id)
    {
        session.protocol_version = Some(version);
    }
    match sender.try_send(String::from_utf8_lossy(&reply).into_owned()) {
        Ok(()) => (StatusCode::ACCEPTED, rate_headers).into_response(),
        Err(mpsc::error::TrySendError::Full(_)) => {
            (StatusCode::TOO_MANY_REQUESTS, "SSE session queue is full").into_response()
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            (StatusCode::NOT_FOUND, "SSE session closed").into_response()
        }
    }
}
