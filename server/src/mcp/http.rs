//! MCP over streamable HTTP at `/mcp/{token}`: the token resolved before anything reads the
//! body, rmcp's stateless service, and a direct path in front of it for `tools/list` and
//! `tools/call`. The vendor's rate limit becomes response headers on both paths.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use rmcp::model::{
    CallToolRequestParams, PaginatedRequestParams, ProtocolVersion, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use super::listing::McpForms;
use super::sse::{self, SseSessions};
use super::{Handler, call_tool, invalid_list_cursor};
use crate::access::{AccessError, Presented};
use crate::ratelimit::RateLimit;
use crate::resolution::{Principal, Resolved};
use crate::state::AppState;
use crate::store::SchemaProfile;

/// The MCP endpoints, streamable HTTP and legacy SSE, each also in the portable profile, in
/// the order of `grants::RESOURCE_SUFFIXES`, the transport paths an OAuth resource may name.
fn endpoints() -> [(&'static str, axum::routing::MethodRouter<McpHttp>); 6] {
    [
        ("", any(endpoint)),
        ("/portable", any(endpoint_portable)),
        ("/sse", get(sse::connect)),
        ("/portable/sse", get(sse::connect_portable)),
        ("/messages", post(sse::message)),
        ("/portable/messages", post(sse::message_portable)),
    ]
}

/// The MCP endpoints below `/mcp/{token}`.
pub fn router(mcp: McpHttp) -> Router {
    endpoints()
        .into_iter()
        .fold(Router::new(), |router, (suffix, handler)| {
            router.route(&format!("/mcp/{{token}}{suffix}"), handler)
        })
        .with_state(mcp)
}

/// The profile a request is served: the one its URL chose, else the server's.
pub(super) fn profile(resolved: &Resolved, parts: &http::request::Parts) -> SchemaProfile {
    parts
        .extensions
        .get::<SchemaProfile>()
        .copied()
        .unwrap_or(resolved.server.config.schema_profile)
}

/// `X-Api-Key`: an API token from clients that may send only some headers.
const API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// Resolves the token of `/mcp/{token}/...` before anything reads the body: 404 for any
/// unknown, expired or deleted token; 401 when the server requires a second factor and none
/// valid is sent, pointing an `oauth` server's clients at its protected resource metadata.
/// The client's credentials are removed so nothing can forward them, and the resolution and
/// who presented it go into the request's extensions.
pub(super) async fn resolve_token(
    state: &AppState,
    token: &str,
    parts: &mut http::request::Parts,
) -> Result<Arc<Resolved>, Response> {
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let presented = Presented {
        bearer: header(http::header::AUTHORIZATION)
            .and_then(|v| crate::web::credentials_of(v, "Bearer")),
        api_key: header(API_KEY),
    };
    match state.resolve_mcp_token(token, presented).await {
        Ok((resolved, principal)) => {
            parts.headers.remove(http::header::AUTHORIZATION);
            parts.headers.remove(API_KEY);
            parts.extensions.insert(resolved.clone());
            // A URL alone names nobody: readers take the default, and the hot path saves
            // the allocation.
            if principal != Principal::default() {
                parts.extensions.insert(principal);
            }
            Ok(resolved)
        }
        Err(AccessError::UnknownToken) => Err((StatusCode::NOT_FOUND, "Not Found").into_response()),
        Err(error @ AccessError::ApiTokenRequired) => {
            Err(unauthorized(&error, "Bearer realm=\"specgate\"".to_owned()))
        }
        Err(error @ AccessError::SignInRequired { presented }) => {
            // RFC 9728 section 5: the metadata of the resource at this very path.
            let suffix = parts
                .uri
                .path()
                .split_once(&format!("/mcp/{token}"))
                .map_or("", |(_, rest)| rest);
            let metadata = format!(
                "{}/.well-known/oauth-protected-resource/mcp/{token}{suffix}",
                state.issuer().unwrap_or_default()
            );
            let invalid = if presented {
                ", error=\"invalid_token\""
            } else {
                ""
            };
            Err(unauthorized(
                &error,
                format!("Bearer resource_metadata=\"{metadata}\"{invalid}"),
            ))
        }
        Err(error @ AccessError::Store(_)) => {
            tracing::error!(%error, "token lookup failed");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

/// A 401 with its challenge and a JSON body that says what to send.
fn unauthorized(error: &AccessError, challenge: String) -> Response {
    let body = serde_json::json!({"error": {"code": "unauthorized", "message": error.to_string()}});
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    if let Ok(challenge) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// Puts the vendor's rate limit, if a call reported one, on the HTTP response.
fn with_rate_limit(mut response: Response, rate_limit: Option<RateLimit>) -> Response {
    if let Some(rate_limit) = rate_limit {
        for (name, value) in rate_limit.response_headers() {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

/// Where rmcp's handler leaves a call's rate limit for the HTTP response that carries it: a
/// slot in the request's extensions, which rmcp hands the handler.
#[derive(Clone, Default)]
pub(super) struct RateLimitSlot(Arc<std::sync::Mutex<Option<RateLimit>>>);

impl RateLimitSlot {
    /// Leaves a call's rate limit.
    pub(super) fn put(&self, rate_limit: Option<RateLimit>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = rate_limit;
        }
    }

    fn take(&self) -> Option<RateLimit> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
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
    params: Option<Shape<CallParams>>,
}

/// The part of `tools/call` params whose shape rmcp would misreport (-32601).
#[derive(serde::Deserialize)]
struct CallParams {
    arguments: Option<Shape<serde::de::IgnoredAny>>,
}

/// Whether a JSON value is an object (read as `T`) or something else, without building it.
enum Shape<T> {
    Object(T),
    Other,
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Shape<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShapeVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for ShapeVisitor<T> {
            type Value = Shape<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Shape::Object)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Shape::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Shape::Other)
            }
        }
        deserializer.deserialize_any(ShapeVisitor(std::marker::PhantomData))
    }
}

/// The standard JSON-RPC error object for a body rmcp would answer badly, if it is one:
/// invalid JSON gets -32700 (parse error), JSON that is not a JSON-RPC 2.0 message gets
/// -32600 (invalid request), and `tools/call` arguments that are not an object get -32602.
pub(super) fn json_rpc_problem(bytes: &[u8]) -> Option<serde_json::Value> {
    let (code, message) = match serde_json::from_slice::<Envelope<'_>>(bytes) {
        Err(error) if error.is_syntax() || error.is_eof() => {
            (-32700, format!("Parse error: {error}"))
        }
        Err(_) => (
            -32600,
            "Invalid Request: expected a single JSON-RPC 2.0 object".to_owned(),
        ),
        Ok(envelope) => {
            let is_call = envelope.method.is_some();
            let is_reply =
                envelope.id.is_some() && (envelope.result.is_some() || envelope.error.is_some());
            if envelope.jsonrpc.as_deref() != Some("2.0") || !(is_call || is_reply) {
                (
                    -32600,
                    "Invalid Request: expected a JSON-RPC 2.0 request, notification or response object".to_owned(),
                )
            } else if envelope.method.as_deref() == Some("tools/call")
                && !matches!(
                    envelope.params,
                    Some(Shape::Object(CallParams {
                        arguments: None | Some(Shape::Object(_))
                    }))
                )
            {
                (
                    -32602,
                    "Invalid params: tools/call takes an object with `name` and an `arguments` object".to_owned(),
                )
            } else {
                return None;
            }
        }
    };
    Some(
        serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}),
    )
}

/// The MCP endpoint's HTTP side: rmcp's stateless streamable HTTP service, and a direct path
/// in front of it for the two requests that carry an agent's traffic. One `Arc`, since the
/// router clones its state per request.
#[derive(Clone)]
pub struct McpHttp(Arc<McpEndpoint>);

/// What [`McpHttp`] shares.
pub struct McpEndpoint {
    /// Application state.
    pub state: AppState,
    /// The tools' MCP forms.
    forms: McpForms,
    rmcp: StreamableHttpService<Handler, NeverSessionManager>,
    /// The authorities rmcp accepts in `Host` (no port: any port).
    hosts: Vec<(String, Option<u16>)>,
    /// Open legacy SSE sessions.
    pub(super) sse: SseSessions,
}

impl std::ops::Deref for McpHttp {
    type Target = McpEndpoint;
    fn deref(&self) -> &McpEndpoint {
        &self.0
    }
}

impl McpHttp {
    /// The endpoint over `state`, accepting `hosts` (and `origins`) as rmcp does.
    pub fn new(state: AppState, hosts: Vec<String>, origins: Vec<String>) -> Self {
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_allowed_hosts(hosts.clone())
            .with_allowed_origins(origins)
            .with_max_request_body_bytes(state.config.max_body_bytes);
        let forms = McpForms::new(&state.catalog);
        let handler = Handler::per_request(state.clone(), forms.clone());
        let rmcp = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(NeverSessionManager::default()),
            config,
        );
        let hosts = hosts.iter().map(|host| authority(host)).collect();
        let sse = SseSessions::new(
            state.config.sse_max_sessions,
            state.config.sse_max_sessions_per_server,
            state.config.sse_idle,
            state.shutdown.clone(),
        );
        Self(Arc::new(McpEndpoint {
            state,
            forms,
            rmcp,
            hosts,
            sse,
        }))
    }
}

impl McpEndpoint {
    /// Answers one request to `/mcp/{token}` whose token `resolve_token` resolved.
    pub(super) async fn answer(&self, parts: http::request::Parts, body: Bytes) -> Response {
        if parts.method != http::Method::POST {
            return self.answer_by_rmcp(parts, body).await;
        }
        let direct = self.answer_directly(&parts, &body).await;
        self.state.metrics.record_answer(direct.is_some());
        if let Some(response) = direct {
            return response;
        }
        if let Some(problem) = json_rpc_problem(&body) {
            return (StatusCode::BAD_REQUEST, axum::Json(problem)).into_response();
        }
        // The handler leaves the call's rate limit here, so the reply need not be read again.
        let mut parts = parts;
        let reported = RateLimitSlot::default();
        parts.extensions.insert(reported.clone());
        let response = self.answer_by_rmcp(parts, body).await;
        with_rate_limit(response, reported.take())
    }

    async fn answer_by_rmcp(&self, parts: http::request::Parts, body: Bytes) -> Response {
        self.rmcp
            .handle(Request::from_parts(parts, Body::from(body)))
            .await
            .into_response()
    }

    /// `tools/list` and `tools/call` without rmcp's per-request service: one parse of the
    /// body, a prebuilt listing page, and the same handler code, shaped as rmcp shapes results
    /// for the versions this path serves (before 2026-07-28). `None` for anything else,
    /// and for any request whose headers ask for what only rmcp checks (an `Origin`, an
    /// unlisted `Host`, weighted `Accept`, the 2026-07-28 standard headers or a per-request
    /// protocol version), which then goes to rmcp unchanged.
    async fn answer_directly(&self, parts: &http::request::Parts, body: &[u8]) -> Option<Response> {
        if !direct_headers(&parts.headers, &self.hosts) {
            return None;
        }
        let request: DirectRequest<'_> = serde_json::from_slice(body).ok()?;
        if request.jsonrpc != "2.0" || request.result.is_some() || request.error.is_some() {
            return None;
        }
        let resolved = parts.extensions.get::<Arc<Resolved>>()?;
        let profile = profile(resolved, parts);
        let params = request.params.map_or("null", |raw| raw.get());
        let state = &self.state;
        let reply = match request.method.as_ref() {
            "tools/list" => {
                let params: Option<PaginatedRequestParams> = serde_json::from_str(params).ok()?;
                if params
                    .as_ref()
                    .is_some_and(|p| per_request_version(p.meta.as_ref()))
                {
                    return None;
                }
                let cursor = params.and_then(|p| p.cursor);
                let page = if super::discovery::enabled(resolved) {
                    cursor
                        .is_none()
                        .then(|| self.forms.discovery_page_json(profile))
                } else {
                    self.forms.legacy_list_page_json(
                        resolved.listing(&state.catalog, state.config.tools_page_size, profile),
                        cursor.as_deref(),
                    )
                };
                match page {
                    Some(page) => spliced_result(&request.id, |body| {
                        body.extend_from_slice(&page);
                    }),
                    None => json_rpc_reply(ServerJsonRpcMessage::error(
                        invalid_list_cursor(),
                        Some(request.id),
                    )),
                }
            }
            "tools/call" => {
                let params: CallToolRequestParams = serde_json::from_str(params).ok()?;
                if per_request_version(params.meta.as_ref())
                    || params.input_responses.is_some()
                    || params.request_state.is_some()
                {
                    return None;
                }
                let principal = parts
                    .extensions
                    .get::<Principal>()
                    .cloned()
                    .unwrap_or_default();
                let answer = call_tool(
                    state,
                    resolved,
                    &principal,
                    profile,
                    params,
                    super::Reach::Unreachable,
                )
                .await;
                match answer {
                    Ok(super::CallAnswer::InputRequired(_)) => {
                        return Some(json_rpc_reply(ServerJsonRpcMessage::error(
                            rmcp::model::ErrorData::internal_error(
                                "a question for a client that cannot ask",
                                None,
                            ),
                            Some(request.id),
                        )));
                    }
                    Ok(super::CallAnswer::Done(result)) => {
                        let rate_limit = result.rate_limit();
                        let reply = spliced_result(&request.id, |body| result.write_json(body));
                        with_rate_limit(reply, rate_limit)
                    }
                    Err(error) => {
                        json_rpc_reply(ServerJsonRpcMessage::error(error, Some(request.id)))
                    }
                }
            }
            _ => return None,
        };
        Some(reply)
    }
}

/// The parts of a JSON-RPC request the direct path reads; `params` stays unparsed until the
/// method says what it is.
#[derive(serde::Deserialize)]
struct DirectRequest<'a> {
    #[serde(borrow)]
    jsonrpc: std::borrow::Cow<'a, str>,
    id: RequestId,
    #[serde(borrow)]
    method: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    params: Option<&'a serde_json::value::RawValue>,
    result: Option<serde::de::IgnoredAny>,
    error: Option<serde::de::IgnoredAny>,
}

/// Whether request metadata negotiates a protocol version per request (rmcp's path).
fn per_request_version(meta: Option<&rmcp::model::RequestMetaObject>) -> bool {
    meta.is_some_and(|meta| meta.protocol_version().is_some())
}

/// Whether the headers are ones the direct path answers exactly as rmcp would: JSON in, both
/// response types accepted, no `Origin`, a `Host` rmcp accepts, and a protocol version
/// header that is absent or a known version older than the 2026-07-28 standard headers.
fn direct_headers(headers: &http::HeaderMap, hosts: &[(String, Option<u16>)]) -> bool {
    let text = |name: http::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if headers.contains_key(http::header::ORIGIN) {
        return false;
    }
    let host_allowed = text(http::header::HOST).is_some_and(|host| {
        let (name, port) = authority(host);
        hosts.iter().any(|(allowed, allowed_port)| {
            *allowed == name && allowed_port.is_none_or(|p| Some(p) == port)
        })
    });
    let accept = text(http::header::ACCEPT).unwrap_or_default();
    let media: Vec<&str> = accept
        .split(',')
        .map(|range| range.split(';').next().unwrap_or_default().trim())
        .collect();
    let accepts = !accept.contains(';')
        && media
            .iter()
            .any(|m| m.eq_ignore_ascii_case("application/json"))
        && media
            .iter()
            .any(|m| m.eq_ignore_ascii_case("text/event-stream"));
    let json_body = text(http::header::CONTENT_TYPE).is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    });
    // A `HeaderName` rather than a `&str`, which every lookup would parse again.
    const PROTOCOL_VERSION: http::HeaderName =
        http::HeaderName::from_static("mcp-protocol-version");
    let version_ok = match headers.get(PROTOCOL_VERSION) {
        None => true,
        Some(value) => value.to_str().is_ok_and(|version| {
            version < ProtocolVersion::STANDARD_HEADERS.as_str()
                && ProtocolVersion::KNOWN_VERSIONS
                    .iter()
                    .any(|known| known.as_str() == version)
        }),
    };
    host_allowed && accepts && json_body && version_ok
}

/// A host and port as rmcp compares them: brackets trimmed, lower-case.
fn authority(value: &str) -> (String, Option<u16>) {
    let value = value.trim();
    let (host, port) = match http::uri::Authority::try_from(value) {
        Ok(authority) => (authority.host().to_owned(), authority.port_u16()),
        Err(_) => (value.to_owned(), None),
    };
    (host.trim_matches(['[', ']']).to_ascii_lowercase(), port)
}

/// A JSON-RPC success whose result `write_result` writes, already serialized, into the reply.
fn spliced_result(id: &RequestId, write_result: impl FnOnce(&mut Vec<u8>)) -> Response {
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    if serde_json::to_writer(&mut body, id).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    body.extend_from_slice(br#","result":"#);
    write_result(&mut body);
    body.push(b'}');
    json_body_response(body)
}

fn json_rpc_reply(message: ServerJsonRpcMessage) -> Response {
    match serde_json::to_vec(&message) {
        Ok(body) => json_body_response(body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn json_body_response(body: Vec<u8>) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `/mcp/{token}`: resolves the token, reads the body (413 past the limit) and answers it,
/// answering malformed JSON-RPC with the standard error objects (see [`json_rpc_problem`]).
async fn endpoint(
    State(mcp): State<McpHttp>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    serve_endpoint(&mcp, &token, request, None).await
}

/// `/mcp/{token}/portable`: the same endpoint, serving the portable schema profile whatever
/// the server's configuration says, so one server can serve both kinds of client.
async fn endpoint_portable(
    State(mcp): State<McpHttp>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    serve_endpoint(&mcp, &token, request, Some(SchemaProfile::Portable)).await
}

async fn serve_endpoint(
    mcp: &McpHttp,
    token: &str,
    request: Request,
    profile: Option<SchemaProfile>,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(profile) = profile {
        parts.extensions.insert(profile);
    }
    if let Err(refused) = resolve_token(&mcp.state, token, &mut parts).await {
        return refused;
    }
    let Ok(body) = axum::body::to_bytes(body, mcp.state.config.max_body_bytes).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body is too large").into_response();
    };
    mcp.answer(parts, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_path_is_a_resource_an_oauth_client_may_name() {
        let served: Vec<&str> = endpoints().iter().map(|(suffix, _)| *suffix).collect();
        assert_eq!(served, crate::grants::RESOURCE_SUFFIXES);
    }
}
