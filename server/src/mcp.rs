//! The MCP endpoint: token resolution in front of rmcp's streamable HTTP service, a
//! hand-written `ServerHandler` over the compiled catalog, and the legacy HTTP+SSE transport.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::Stream;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorData as McpError, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, RequestId, ServerCapabilities,
    ServerConfig, ServerJsonRpcMessage, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::catalog::{ToolListing, allowed};
use crate::proxy::ToolResult;
use crate::ratelimit::RateLimit;
use crate::store::{Account, CallRecord, McpServer, SchemaProfile, now, now_ms};
use specgate_runtime::decode_portable_arguments;

/// The server and account a request's token resolved to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The MCP server.
    pub server: McpServer,
    /// Its account.
    pub account: Account,
    /// What its vendor calls reuse: credentials read with the token, the parsed base URL.
    pub upstream: crate::proxy::Upstream,
    /// The server's `tools/list` in each schema profile, built on first use.
    listings: [OnceLock<Arc<ToolListing>>; 2],
}

impl Resolved {
    /// A resolution of `server` of `account`.
    pub fn new(server: McpServer, account: Account, upstream: crate::proxy::Upstream) -> Self {
        Self {
            server,
            account,
            upstream,
            listings: [OnceLock::new(), OnceLock::new()],
        }
    }

    fn listing(&self, state: &AppState, profile: SchemaProfile) -> &ToolListing {
        self.listings[profile as usize].get_or_init(|| {
            state.catalog.listing(
                &self.account.integration,
                &self.server.config,
                profile,
                state.config.tools_page_size,
            )
        })
    }

    /// The profile a request is served: the one its URL chose, else the server's.
    fn profile(&self, parts: &http::request::Parts) -> SchemaProfile {
        parts
            .extensions
            .get::<SchemaProfile>()
            .copied()
            .unwrap_or(self.server.config.schema_profile)
    }
}

/// Where the handler leaves the vendor's rate-limit state for the HTTP layer to expose.
#[derive(Debug, Clone, Default)]
pub struct RateSlot(Arc<Mutex<Option<RateLimit>>>);

impl RateSlot {
    fn put(&self, rate_limit: RateLimit) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rate_limit);
    }
}

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
    ) -> Result<(Arc<Resolved>, Option<RateSlot>, SchemaProfile), McpError> {
        if let Some(fixed) = &self.fixed {
            return Ok((fixed.clone(), None, fixed.server.config.schema_profile));
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
        let profile = resolved.profile(parts);
        Ok((
            resolved,
            parts.extensions.get::<RateSlot>().cloned(),
            profile,
        ))
    }
}

fn unknown_tool(name: &str) -> McpError {
    // The same answer for a tool that does not exist and one this server filters out.
    McpError::invalid_params(format!("Unknown tool: {name}"), None)
}

fn invalid_list_cursor() -> McpError {
    McpError::invalid_params("Invalid tools/list cursor", None)
}

/// Runs one `tools/call` for a resolved server: the same code behind rmcp and the direct path.
async fn call_tool(
    state: &AppState,
    resolved: &Resolved,
    profile: SchemaProfile,
    request: CallToolRequestParams,
) -> Result<(ToolResult, Option<RateLimit>), McpError> {
    let (tool, by_alias) = state
        .catalog
        .resolve(&request.name)
        .filter(|(t, _)| {
            t.def.integration == resolved.account.integration
                && allowed(t.def, &resolved.server.config)
        })
        .ok_or_else(|| unknown_tool(&request.name))?;
    let mut args = request.arguments.unwrap_or_default();
    let decoded = match profile {
        SchemaProfile::Portable => decode_portable_arguments(&mut args, tool.def.portable_encoded),
        SchemaProfile::Full => Ok(()),
    };
    let at_ms = now_ms();
    let started = Instant::now();
    let span =
        tracing::debug_span!("tool_call", tool = tool.def.name, account = %resolved.account.id);
    let outcome = match decoded {
        Err(error) => crate::proxy::invalid_arguments(&error),
        Ok(()) => {
            tracing::Instrument::instrument(
                state.proxy.call(
                    &resolved.account,
                    &resolved.server.id,
                    &resolved.upstream,
                    tool.integration,
                    tool.def,
                    &args,
                ),
                span,
            )
            .await
        }
    };
    let elapsed = started.elapsed();
    state.metrics.record(
        tool.integration.name,
        tool.def.name,
        outcome.upstream_status,
        outcome.class.as_str(),
        elapsed,
    );
    let mut canonical = serde_json::Value::Object(args);
    canonical.sort_all_objects();
    state.audit.record(CallRecord {
        id: state.audit.new_id(),
        at_ms,
        account_id: resolved.account.id.clone(),
        server_id: resolved.server.id.clone(),
        integration: tool.integration.name.to_owned(),
        tool: tool.def.name.to_owned(),
        arguments_hmac: state.keys.mac_arguments(&canonical),
        upstream_status: outcome.upstream_status,
        latency_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
        outcome: outcome.class.as_str().to_owned(),
    });
    let result = if by_alias {
        let mut result = outcome.result.into_call_tool_result();
        deprecate(&mut result, &request.name, tool.def.name);
        ToolResult::Other(result)
    } else {
        outcome.result
    };
    Ok((result, outcome.rate_limit))
}

/// Marks a result reached through an earlier tool name: in `_meta` for clients, and as a
/// last text block for the model.
fn deprecate(result: &mut CallToolResult, alias: &str, name: &str) {
    let notice = serde_json::json!({"alias": alias, "use": name});
    result
        .meta
        .get_or_insert_with(Default::default)
        .0
        .insert("io.specgate/deprecated".to_owned(), notice);
    result.content.push(rmcp::model::ContentBlock::text(format!(
        "Note: `{alias}` is a deprecated name of the tool `{name}`; call `{name}` instead."
    )));
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
        let (resolved, _, profile) = self.resolved(&context)?;
        let cursor = request.and_then(|r| r.cursor);
        self.state
            .catalog
            .list_page(resolved.listing(&self.state, profile), cursor.as_deref())
            .ok_or_else(invalid_list_cursor)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.state.catalog.resolve(name).map(|(t, _)| t.mcp.clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let (resolved, slot, profile) = self.resolved(&context)?;
        let (result, rate_limit) = call_tool(&self.state, &resolved, profile, request).await?;
        if let (Some(slot), Some(rate_limit)) = (slot, rate_limit) {
            slot.put(rate_limit);
        }
        Ok(result.into_call_tool_result().into())
    }
}

/// Resolves the token of `/mcp/{token}/...` before anything reads the body: 404 for any
/// unknown, expired or deleted token; 401 when the server requires an API token and none
/// valid is sent. The client's `Authorization` header is removed so nothing can forward it,
/// and the resolution and a [`RateSlot`] go into the request's extensions.
async fn resolve_token(
    state: &AppState,
    token: &str,
    parts: &mut http::request::Parts,
) -> Result<RateSlot, Response> {
    let hash = state.keys.hash_token(token);
    let at = now();
    let load = async {
        let Some((server, account, sealed)) = state.store.resolve_token(&hash, at).await? else {
            return Ok(None);
        };
        // Only an account with a base URL of its own needs the operator-allowed hosts.
        let operator_hosts = match account.base_url {
            Some(_) => {
                state
                    .store
                    .upstream_hosts(Some(&account.integration))
                    .await?
            }
            None => Vec::new(),
        };
        let operator_hosts = operator_hosts.into_iter().map(|h| h.host).collect();
        Ok::<_, crate::store::StoreError>(Some(Arc::new(Resolved::new(
            server,
            account,
            crate::proxy::Upstream::new(Some(sealed), Some(operator_hosts)),
        ))))
    };
    let resolved = match state.resolutions.get_or_load(&hash, load).await {
        // A cached server may have expired since it was read.
        Ok(Some(resolved)) if resolved.server.expires_at.is_none_or(|expiry| expiry > at) => {
            resolved
        }
        Ok(_) => return Err((StatusCode::NOT_FOUND, "Not Found").into_response()),
        Err(error) => {
            tracing::error!(%error, "token lookup failed");
            return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    if resolved.server.config.require_api_token_auth {
        // Admin tokens, and `mcp` tokens that are unbound or bound to this account.
        let valid = crate::admin::bearer_api_token(state, &parts.headers)
            .await
            .is_some_and(|token| {
                token
                    .account_id
                    .as_ref()
                    .is_none_or(|bound| *bound == resolved.account.id)
            });
        if !valid {
            return Err(crate::admin::unauthorized(
                "This MCP server requires an API token: send `Authorization: Bearer <api token>` (an admin token, or one created with `specgate api-token create --scope mcp`).",
            ));
        }
    }
    parts.headers.remove(http::header::AUTHORIZATION);
    let slot = RateSlot::default();
    parts.extensions.insert(resolved);
    parts.extensions.insert(slot.clone());
    Ok(slot)
}

impl RateSlot {
    /// Puts the vendor's rate-limit state, if a call left any, on the HTTP response.
    fn onto(&self, mut response: Response) -> Response {
        let rate_limit = *self
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
fn json_rpc_problem(bytes: &[u8]) -> Option<serde_json::Value> {
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
    rmcp: StreamableHttpService<Handler, NeverSessionManager>,
    /// The authorities rmcp accepts in `Host` (no port: any port).
    hosts: Vec<(String, Option<u16>)>,
}

impl std::ops::Deref for McpHttp {
    type Target = McpEndpoint;
    fn deref(&self) -> &McpEndpoint {
        &self.0
    }
}

impl axum::extract::FromRef<McpHttp> for AppState {
    fn from_ref(mcp: &McpHttp) -> Self {
        mcp.state.clone()
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
        let handler_state = state.clone();
        let rmcp = StreamableHttpService::new(
            move || Ok(Handler::per_request(handler_state.clone())),
            Arc::new(NeverSessionManager::default()),
            config,
        );
        let hosts = hosts.iter().map(|host| authority(host)).collect();
        Self(Arc::new(McpEndpoint { state, rmcp, hosts }))
    }
}

impl McpEndpoint {
    /// Answers one request to `/mcp/{token}` whose token `resolve_token` resolved.
    async fn answer(&self, parts: http::request::Parts, body: Bytes) -> Response {
        if parts.method == http::Method::POST {
            let direct = self.answer_directly(&parts, &body).await;
            self.state.metrics.record_answer(direct.is_some());
            if let Some(response) = direct {
                return response;
            }
            if let Some(problem) = json_rpc_problem(&body) {
                return (StatusCode::BAD_REQUEST, axum::Json(problem)).into_response();
            }
        }
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
        let profile = resolved.profile(parts);
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
                match state
                    .catalog
                    .legacy_list_page_json(resolved.listing(state, profile), cursor.as_deref())
                {
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
                match call_tool(state, resolved, profile, params).await {
                    Ok((result, rate_limit)) => {
                        if let (Some(slot), Some(rate_limit)) =
                            (parts.extensions.get::<RateSlot>(), rate_limit)
                        {
                            slot.put(rate_limit);
                        }
                        spliced_result(&request.id, |body| result.write_json(body))
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
pub async fn endpoint(
    State(mcp): State<McpHttp>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    serve_endpoint(&mcp, &token, request, None).await
}

/// `/mcp/{token}/portable`: the same endpoint, serving the portable schema profile whatever
/// the server's configuration says, so one server can serve both kinds of client.
pub async fn endpoint_portable(
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
    let slot = match resolve_token(&mcp.state, token, &mut parts).await {
        Ok(slot) => slot,
        Err(refused) => return refused,
    };
    let Ok(body) = axum::body::to_bytes(body, mcp.state.config.max_body_bytes).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body is too large").into_response();
    };
    slot.onto(mcp.answer(parts, body).await)
}

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
pub async fn sse_connect(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    open_sse(&state, &token, request, "").await
}

/// `GET /mcp/{token}/portable/sse`: legacy SSE in the portable schema profile.
pub async fn sse_connect_portable(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    open_sse(&state, &token, request, "/portable").await
}

/// Opens a legacy SSE session whose messages go to `/mcp/{token}{variant}/messages`.
async fn open_sse(state: &AppState, token: &str, request: Request, variant: &str) -> Response {
    let (mut parts, _) = request.into_parts();
    if let Err(refused) = resolve_token(state, token, &mut parts).await {
        return refused;
    }
    let Some(resolved) = parts.extensions.remove::<Arc<Resolved>>() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let session_id = match crate::crypto::new_id() {
        Ok(id) => id,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let (sender, receiver) = mpsc::channel::<String>(SSE_QUEUE);
    {
        let mut sessions = state.sse.lock();
        if sessions.len() >= state.sse.max_sessions {
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
            >= state.sse.max_per_server
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
pub async fn sse_message(
    State(mcp): State<McpHttp>,
    Path(token): Path<String>,
    Query(query): Query<SessionQuery>,
    request: Request,
) -> Response {
    post_sse_message(&mcp, &token, &query, request, None).await
}

/// `POST /mcp/{token}/portable/messages?session_id=...`, in the portable schema profile.
pub async fn sse_message_portable(
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
    let slot = match resolve_token(&mcp.state, token, &mut parts).await {
        Ok(slot) => slot,
        Err(refused) => return refused,
    };
    let Some(resolved) = parts.extensions.get::<Arc<Resolved>>().cloned() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    slot.onto(deliver_sse_message(mcp, query, &resolved, parts, body).await)
}

async fn deliver_sse_message(
    mcp: &McpHttp,
    query: &SessionQuery,
    resolved: &Resolved,
    mut parts: http::request::Parts,
    body: Body,
) -> Response {
    let state = &mcp.state;
    let session = state.sse.lock().get(&query.session_id).and_then(|session| {
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
                match axum::body::to_bytes(response.into_body(), usize::MAX).await {
                    Ok(bytes) => Some(bytes.to_vec()),
                    Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
                }
            }
        }
    };
    let Some(reply) = reply else {
        return StatusCode::ACCEPTED.into_response();
    };
    if let Some(version) = negotiated_version(&reply)
        && let Some(session) = state.sse.lock().get_mut(&query.session_id)
    {
        session.protocol_version = Some(version);
    }
    match sender.try_send(String::from_utf8_lossy(&reply).into_owned()) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(mpsc::error::TrySendError::Full(_)) => {
            (StatusCode::TOO_MANY_REQUESTS, "SSE session queue is full").into_response()
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            (StatusCode::NOT_FOUND, "SSE session closed").into_response()
        }
    }
}
