//! One tool call out to the vendor and back: typed arguments, credentials, uniform pagination,
//! rate-limit normalization and error mapping. No retries and no backoff: a 429 goes back to
//! the caller with the time to wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rmcp::model::{CallToolResult, ContentBlock, ServerResult};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use specgate_runtime::{
    Args, AuthKind, BodyKind, CursorSource, HttpMethod, HttpRequest, Integration, MAX_PAGE_LIMIT,
    Pagination, ParamLocation, ToolDef, form_pairs,
};

use crate::crypto::Keys;
use crate::ratelimit::RateLimit;
use crate::store::{Account, Store, now};
use crate::vendor_json::{self, Json, Key};

/// Largest upstream body kept; longer text is truncated with a note.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What one resolution of an MCP token keeps for the vendor calls it serves, so calls served
/// from a cached resolution do the work once: the account's sealed credentials and the
/// operator-allowed hosts of its integration as read with the token (`None` where the
/// resolution outlives changes, as in stdio, so each call reads them), the credentials opened
/// on first use, the parsed base URL and whether its host is allowed. Never printed.
#[derive(Clone, Default)]
pub struct Upstream {
    sealed: Option<String>,
    operator_hosts: Option<Arc<[String]>>,
    opened: OnceLock<Arc<Credentials>>,
    base_url: OnceLock<reqwest::Url>,
    base_url_allowed: OnceLock<Result<(), String>>,
}

impl Upstream {
    pub fn new(sealed: Option<String>, operator_hosts: Option<Vec<String>>) -> Self {
        Self {
            sealed,
            operator_hosts: operator_hosts.map(Arc::from),
            ..Self::default()
        }
    }

    /// The credentials read with the token, opened with `open` on first use; `None` when
    /// none were read with it.
    fn opened(
        &self,
        open: impl FnOnce(&str) -> Result<Credentials, String>,
    ) -> Option<Result<Arc<Credentials>, String>> {
        let sealed = self.sealed.as_deref()?;
        if let Some(opened) = self.opened.get() {
            return Some(Ok(opened.clone()));
        }
        Some(open(sealed).map(|opened| self.opened.get_or_init(|| Arc::new(opened)).clone()))
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstream(..)")
    }
}

/// Vendor credentials, sealed at rest. Which fields apply depends on the integration's auth.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Bearer, header or query key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Basic auth user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic auth password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// OAuth client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// OAuth access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// OAuth refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Unix seconds when the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Token endpoint override (e.g. a sandbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Extra token-request fields (Rose Rocket's `org_id`, `user_id`, `audience`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub token_params: Map<String, Value>,
}

impl Credentials {
    /// The fields that are set, by name.
    pub fn present_fields(&self) -> Vec<&'static str> {
        let strings = [
            ("api_key", &self.api_key),
            ("username", &self.username),
            ("password", &self.password),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("access_token", &self.access_token),
            ("refresh_token", &self.refresh_token),
            ("token_url", &self.token_url),
        ];
        let mut present: Vec<&'static str> = strings
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(name, _)| *name)
            .collect();
        if self.expires_at.is_some() {
            present.push("expires_at");
        }
        if !self.token_params.is_empty() {
            present.push("token_params");
        }
        present
    }

    /// Checks that the credentials fit the auth kind: the message lists what is missing, or
    /// which fields do not apply (a stray field is refused, never silently stored).
    pub fn validate(&self, auth: &AuthKind) -> Result<(), String> {
        let applicable: &[&str] = match auth {
            AuthKind::None => &[],
            AuthKind::Bearer | AuthKind::Header { .. } | AuthKind::Query { .. } => &["api_key"],
            AuthKind::Basic => &["username", "password"],
            AuthKind::OAuth2 { .. } => &[
                "client_id",
                "client_secret",
                "access_token",
                "refresh_token",
                "expires_at",
                "token_url",
                "token_params",
            ],
        };
        let stray: Vec<&str> = self
            .present_fields()
            .into_iter()
            .filter(|f| !applicable.contains(f))
            .collect();
        if !stray.is_empty() {
            return Err(format!(
                "`{}` auth does not use {}; it takes {}",
                auth.as_str(),
                stray
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if applicable.is_empty() {
                    "no credentials".to_owned()
                } else {
                    applicable
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
        let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        match auth {
            AuthKind::None => Ok(()),
            AuthKind::Bearer | AuthKind::Header { .. } | AuthKind::Query { .. }
                if has(&self.api_key) =>
            {
                Ok(())
            }
            AuthKind::Bearer | AuthKind::Header { .. } | AuthKind::Query { .. } => {
                Err(format!("`{}` auth needs `api_key`", auth.as_str()))
            }
            AuthKind::Basic if has(&self.username) && self.password.is_some() => Ok(()),
            AuthKind::Basic => Err("`basic` auth needs `username` and `password`".to_owned()),
            AuthKind::OAuth2 { .. } => {
                let can_refresh = has(&self.client_id) && has(&self.client_secret);
                if has(&self.access_token) || can_refresh {
                    Ok(())
                } else {
                    Err("`oauth2` auth needs `access_token`, or `client_id` and `client_secret` (with `refresh_token` for the refresh grant)".to_owned())
                }
            }
        }
    }
}

/// State the proxy needs, shared by all requests.
#[derive(Clone)]
pub struct Proxy {
    /// One client, with its own connection pool, per serving thread.
    http: Arc<[reqwest::Client]>,
    store: Store,
    keys: Keys,
    /// Loopback and private upstreams allowed (tests and demos).
    allow_insecure: bool,
    refresh_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// A tool call's MCP result. A success with structured content keeps that content as the
/// JSON text it is sent as (its text block carries the same JSON), so the direct path writes
/// the result without building and serializing a `CallToolResult` ([`ToolResult::write_json`]);
/// rmcp's path gets the equivalent `CallToolResult` ([`ToolResult::into_call_tool_result`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ToolResult {
    /// `structuredContent`, serialized: a JSON object.
    Structured(String),
    /// Any other result.
    Other(CallToolResult),
}

impl ToolResult {
    /// The result as rmcp's type.
    pub fn into_call_tool_result(self) -> CallToolResult {
        match self {
            Self::Structured(json) => {
                let value = serde_json::from_str(&json).unwrap_or(Value::Null);
                let mut result = CallToolResult::success(vec![ContentBlock::text(json)]);
                result.structured_content = Some(value);
                result
            }
            Self::Other(result) => result,
        }
    }

    /// Appends the result object as protocol versions before 2026-07-28 receive it (no
    /// `resultType`), as rmcp would serialize it for them.
    pub fn write_json(self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        match self {
            Self::Structured(json) => {
                out.reserve(2 * json.len() + 96);
                out.extend_from_slice(br#"{"content":[{"type":"text","text":"#);
                let _ = serde_json::to_writer(&mut *out, &json);
                out.extend_from_slice(br#"}],"structuredContent":"#);
                out.extend_from_slice(json.as_bytes());
                out.extend_from_slice(br#","isError":false}"#);
            }
            Self::Other(result) => {
                let mut result = ServerResult::CallToolResult(result);
                crate::catalog::legacy_shape(&mut result);
                let _ = serde_json::to_writer(&mut *out, &result);
            }
        }
    }
}

/// What a tool call produced, plus the rate-limit state to put on the HTTP response.
pub struct Outcome {
    /// The MCP result.
    pub result: ToolResult,
    /// Normalized rate-limit information, if the vendor sent any.
    pub rate_limit: Option<RateLimit>,
    /// Vendor HTTP status, for metrics (0 when no response arrived).
    pub upstream_status: u16,
    /// How the call ended, for the audit log and metrics.
    pub class: CallClass,
}

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallClass {
    /// The vendor answered with success.
    Ok,
    /// The arguments did not fit the tool; nothing was sent.
    InvalidArguments,
    /// The vendor answered 429.
    RateLimited,
    /// The vendor answered with another error status.
    UpstreamError,
    /// No answer: refused egress, transport error, timeout, credentials or refresh failure.
    Failed,
}

impl CallClass {
    /// The label used in the audit log and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InvalidArguments => "invalid_arguments",
            Self::RateLimited => "rate_limited",
            Self::UpstreamError => "upstream_error",
            Self::Failed => "failed",
        }
    }
}

/// What a `next_cursor` holds, sealed and bound to its MCP server.
#[derive(Serialize, Deserialize)]
struct CursorPayload {
    /// Tool the cursor belongs to.
    t: String,
    /// Vendor cursor, page number or offset of the page to fetch (null: the first page).
    v: Value,
    /// Items of that page already returned, when a page held more than `limit`.
    #[serde(default, skip_serializing_if = "is_zero")]
    k: usize,
    /// Page size the sequence started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<i64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Proxy {
    /// A proxy over one HTTP client per serving thread (see [`crate::egress::client`]).
    pub fn new(
        store: Store,
        keys: Keys,
        http: Arc<[reqwest::Client]>,
        allow_insecure: bool,
    ) -> Self {
        Self {
            http,
            store,
            keys,
            allow_insecure,
            refresh_locks: Arc::default(),
        }
    }

    /// This serving thread's client.
    fn http(&self) -> &reqwest::Client {
        &self.http[crate::serving_thread() % self.http.len()]
    }

    /// Calls one tool for one account through one MCP server (which its cursors are bound to).
    pub async fn call(
        &self,
        account: &Account,
        server_id: &str,
        upstream: &Upstream,
        integration: &Integration,
        tool: &ToolDef,
        args: &Args,
    ) -> Outcome {
        let request = match (tool.build)(args) {
            Ok(request) => request,
            Err(error) => return invalid_arguments(&error),
        };
        match self
            .send(account, server_id, upstream, integration, tool, request)
            .await
        {
            Ok(outcome) => outcome,
            Err(message) => tool_error(message, CallClass::Failed),
        }
    }

    async fn send(
        &self,
        account: &Account,
        server_id: &str,
        upstream: &Upstream,
        integration: &Integration,
        tool: &ToolDef,
        mut request: HttpRequest,
    ) -> Result<Outcome, String> {
        let page = self.apply_pagination(tool, server_id, &mut request)?;
        let mut url = self.upstream_url(account, integration, upstream, &request.path)?;
        crate::egress::check_url(&url, self.allow_insecure)
            .map_err(|why| format!("Refusing to call the vendor: the account's base URL {why}."))?;
        // The spec's own base URL is declared; an account's override must still be on a host
        // an operator allows now, not only when it was set.
        if account.base_url.is_some() {
            match &upstream.operator_hosts {
                // Decided once per resolution, which ends with any change to the hosts.
                Some(hosts) => upstream
                    .base_url_allowed
                    .get_or_init(|| still_allowed(integration, hosts, &url, account, "base URL"))
                    .clone()?,
                None => {
                    let hosts = self.operator_hosts(integration).await?;
                    still_allowed(integration, &hosts, &url, account, "base URL")?;
                }
            }
        }
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in &request.query {
                pairs.append_pair(key, value);
            }
        }
        let body = wire_body(&request)?;
        // An OAuth vendor that rejects a token it issued (401) gets one forced refresh and one
        // retry; nothing else is ever retried.
        let mut rejected: Option<String> = None;
        let response = loop {
            // The credentials read with the token serve the first attempt; a retry after a
            // rejected token reads them again.
            let prefetched = if rejected.is_none() {
                Some(upstream)
            } else {
                None
            };
            let credentials = self
                .credentials(account, integration, rejected.as_deref(), prefetched)
                .await?;
            let response = self
                .dispatch(
                    integration,
                    &request,
                    body.as_ref(),
                    url.clone(),
                    &credentials,
                )
                .await?;
            let refreshable =
                credentials.client_id.is_some() || credentials.refresh_token.is_some();
            if response.status() != reqwest::StatusCode::UNAUTHORIZED
                || !matches!(integration.auth, AuthKind::OAuth2 { .. })
                || rejected.is_some()
                || !refreshable
            {
                break response;
            }
            rejected = Some(credentials.access_token.clone().unwrap_or_default());
        };
        let status = response.status();
        let rate_limit = RateLimit::from_headers(response.headers(), now());
        let link = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let cursor_header = match tool.pagination {
            Pagination::Cursor {
                next_from: CursorSource::Header(name),
                ..
            } => response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            _ => None,
        };
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let (bytes, truncated) = read_capped(response).await?;
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned());
        let raw = if is_json || text.trim_start().starts_with(['{', '[']) {
            vendor_json::parse(&text)
        } else {
            None
        };

        if status.as_u16() == 429 {
            let wait = rate_limit.as_ref().and_then(|r| r.reset).map_or_else(
                || "The vendor did not say when to retry; wait before calling again.".to_owned(),
                |s| format!("Retry after {s} seconds."),
            );
            let mut structured = json!({"error": "rate_limited", "status": 429, "retry_after_seconds": rate_limit.as_ref().and_then(|r| r.reset)});
            attach_rate_limit(&mut structured, rate_limit.as_ref());
            return Ok(Outcome {
                result: error_with_structure(
                    format!(
                        "{} rate limit reached (HTTP 429). {wait}",
                        integration.title
                    ),
                    structured,
                ),
                rate_limit,
                upstream_status: 429,
                class: CallClass::RateLimited,
            });
        }
        if !status.is_success() {
            let parsed: Option<Value> = raw.and_then(Json::value);
            let message = parsed
                .as_ref()
                .and_then(|body| vendor_message(body, integration.error_message_pointers))
                .unwrap_or_else(|| text.trim().chars().take(500).collect());
            let message = if message.is_empty() {
                format!(
                    "{} (empty response body) for {} {}",
                    status.canonical_reason().unwrap_or("no reason given"),
                    request.method.as_str(),
                    request.path
                )
            } else {
                message
            };
            let mut structured = json!({"error": "upstream_error", "status": status.as_u16(), "message": message, "body": parsed.unwrap_or_else(|| Value::String(text.chars().take(2000).collect()))});
            attach_rate_limit(&mut structured, rate_limit.as_ref());
            return Ok(Outcome {
                result: error_with_structure(
                    format!(
                        "{} returned HTTP {}: {message}",
                        integration.title,
                        status.as_u16()
                    ),
                    structured,
                ),
                rate_limit,
                upstream_status: status.as_u16(),
                class: CallClass::UpstreamError,
            });
        }
        // Set after the vendor's members, replacing a member of the same name.
        let mut ours = Vec::new();
        if truncated {
            ours.push((TRUNCATED, Value::Bool(true)));
        }
        if let Some(rate_limit) = &rate_limit {
            ours.push((RATE_LIMIT, rate_limit.to_json()));
        }
        let structured = match (&tool.pagination, raw) {
            (Pagination::None, Some(raw)) => match raw.members() {
                Some(members) => structured_object(
                    members
                        .into_iter()
                        .map(|(key, value)| (key, Member::Raw(value))),
                    ours,
                ),
                None => structured_object([(RESULT, Member::Raw(raw))], ours),
            },
            (Pagination::None, None) if text.is_empty() => {
                structured_object([(RESULT, Member::Value(Value::Null))], ours)
            }
            (Pagination::None, None) => {
                let note = if truncated {
                    format!("\n\n[truncated: the vendor response exceeded {MAX_BODY_BYTES} bytes]")
                } else {
                    String::new()
                };
                let mut result =
                    CallToolResult::success(vec![ContentBlock::text(format!("{text}{note}"))]);
                result.structured_content = None;
                return Ok(Outcome {
                    result: ToolResult::Other(result),
                    rate_limit,
                    upstream_status: status.as_u16(),
                    class: CallClass::Ok,
                });
            }
            (pagination, raw) => {
                let body = raw.unwrap_or(Json::NULL);
                let items = list_items(body, pagination);
                let vendor_next = self.vendor_next(
                    tool,
                    &page,
                    body,
                    items.len(),
                    link.as_deref(),
                    cursor_header.as_deref(),
                );
                let (items, next) = self.page_of(tool, server_id, &page, items, vendor_next)?;
                structured_object(
                    [
                        (RESULT, Member::Items(&items)),
                        (NEXT_CURSOR, Member::Value(next)),
                    ],
                    ours,
                )
            }
        };
        Ok(Outcome {
            result: ToolResult::Structured(structured),
            rate_limit,
            upstream_status: status.as_u16(),
            class: CallClass::Ok,
        })
    }

    /// Sends one vendor request with the account's credentials applied.
    async fn dispatch(
        &self,
        integration: &Integration,
        request: &HttpRequest,
        body: Option<&WireBody>,
        mut url: reqwest::Url,
        credentials: &Credentials,
    ) -> Result<reqwest::Response, String> {
        if let AuthKind::Query { name } = integration.auth {
            url.query_pairs_mut()
                .append_pair(name, credentials.api_key.as_deref().unwrap_or_default());
        }
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.http().request(method, url);
        for (name, value) in integration.default_headers {
            builder = builder.header(*name, *value);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        builder = match integration.auth {
            AuthKind::None | AuthKind::Query { .. } => builder,
            AuthKind::Bearer => {
                builder.bearer_auth(credentials.api_key.as_deref().unwrap_or_default())
            }
            AuthKind::Header { name } => {
                builder.header(name, credentials.api_key.as_deref().unwrap_or_default())
            }
            AuthKind::Basic => builder.basic_auth(
                credentials.username.as_deref().unwrap_or_default(),
                credentials.password.as_deref(),
            ),
            AuthKind::OAuth2 { .. } => {
                builder.bearer_auth(credentials.access_token.as_deref().unwrap_or_default())
            }
        };
        builder = match body {
            None => builder,
            Some(WireBody::Form(pairs)) => builder.form(pairs),
            Some(WireBody::Bytes(bytes)) => builder
                .header(reqwest::header::CONTENT_TYPE, request.content_type)
                .body(bytes.clone()),
        };
        builder
            .send()
            .await
            .map_err(|e| describe_transport_error(&e))
    }

    /// Decodes `next_cursor` and writes the vendor's pagination parameters into the request.
    fn apply_pagination(
        &self,
        tool: &ToolDef,
        server_id: &str,
        request: &mut HttpRequest,
    ) -> Result<PageState, String> {
        let limit = request.page_limit;
        let decoded = match request.page_cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => Some(self.open_cursor(tool, server_id, cursor)?),
        };
        let size = decoded.as_ref().and_then(|c| c.s).or(limit);
        let mut state = PageState {
            size,
            position: Value::Null,
            skip: decoded.as_ref().map_or(0, |c| c.k),
        };
        let position = decoded.map(|c| c.v).filter(|v| !v.is_null());
        let mut set = |location: ParamLocation, name: &'static str, value: Value| match location {
            ParamLocation::Query => request.query.push((
                name,
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned),
            )),
            ParamLocation::Body => {
                let body = request.body.get_or_insert_with(|| json!({}));
                if let Value::Object(object) = body {
                    object.insert(name.to_owned(), value);
                }
            }
        };
        match tool.pagination {
            Pagination::None | Pagination::Local => {}
            Pagination::Cursor {
                cursor_param,
                limit_param,
                ..
            } => {
                if let Some(cursor) = &position {
                    set(ParamLocation::Query, cursor_param, cursor.clone());
                }
                if let (Some(param), Some(size)) = (limit_param, size) {
                    set(ParamLocation::Query, param, json!(size));
                }
                state.position = position.unwrap_or(Value::Null);
            }
            Pagination::Page {
                page_param,
                size_param,
                ..
            } => {
                let page_number = position.as_ref().and_then(Value::as_i64).unwrap_or(1);
                state.position = json!(page_number);
                set(ParamLocation::Query, page_param, json!(page_number));
                if let Some(size) = size {
                    set(ParamLocation::Query, size_param, json!(size));
                }
            }
            Pagination::Offset {
                offset_param,
                limit_param,
                location,
                ..
            } => {
                // Offsets address items exactly, so a partly returned page resumes at its item.
                let offset =
                    position.as_ref().and_then(Value::as_i64).unwrap_or(0) + state.skip as i64;
                state.skip = 0;
                state.position = json!(offset);
                if offset > 0 {
                    set(location, offset_param, json!(offset));
                }
                if let Some(size) = size {
                    set(location, limit_param, json!(size));
                }
            }
        }
        Ok(state)
    }

    /// Where the vendor says the page after this one starts, if there is one.
    fn vendor_next(
        &self,
        tool: &ToolDef,
        page: &PageState,
        body: Json<'_>,
        count: usize,
        link: Option<&str>,
        header: Option<&str>,
    ) -> Option<Value> {
        let count = count as i64;
        let position = page.position.as_i64().unwrap_or(0);
        match tool.pagination {
            Pagination::None | Pagination::Local => None,
            Pagination::Cursor {
                cursor_param,
                next_from,
                ..
            } => match next_from {
                CursorSource::BodyPointer(pointer) => body
                    .pointer(pointer)
                    .and_then(Json::value)
                    .filter(|v| !v.is_null() && v.as_str() != Some("")),
                CursorSource::Header(_) => header.filter(|h| !h.is_empty()).map(|h| json!(h)),
                CursorSource::LinkHeader => link
                    .and_then(|l| specgate_wire::link::next_param(l, cursor_param))
                    .map(Value::String),
            },
            Pagination::Page { total_pointer, .. } => {
                let total = total_pointer
                    .and_then(|p| body.pointer(p))
                    .and_then(Json::value)
                    .and_then(|total| total.as_i64());
                let size = page.size.unwrap_or(count);
                let more = match total {
                    Some(total) => position * size < total,
                    None => count > 0 && page.size.is_none_or(|s| count >= s),
                };
                (more && count > 0).then(|| json!(position + 1))
            }
            Pagination::Offset { total_pointer, .. } => {
                let total = total_pointer
                    .and_then(|p| body.pointer(p))
                    .and_then(Json::value)
                    .and_then(|total| total.as_i64());
                let next = position + count;
                let more = match total {
                    Some(total) => next < total,
                    None => page.size.is_some_and(|s| count >= s),
                };
                (more && count > 0).then(|| json!(next))
            }
        }
    }

    /// At most `limit` items of the vendor page, after those already returned, and the cursor
    /// that continues right after the last one: within this page while it has more, else at
    /// the vendor's next page.
    fn page_of<Item>(
        &self,
        tool: &ToolDef,
        server_id: &str,
        page: &PageState,
        items: Vec<Item>,
        vendor_next: Option<Value>,
    ) -> Result<(Vec<Item>, Value), String> {
        let local = tool.pagination == Pagination::Local;
        let limit = page.size.map_or(
            if local {
                MAX_PAGE_LIMIT as usize
            } else {
                usize::MAX
            },
            |s| s as usize,
        );
        let available = items.len().saturating_sub(page.skip);
        let taken: Vec<Item> = items.into_iter().skip(page.skip).take(limit).collect();
        let next = if available > taken.len() {
            Some((page.position.clone(), page.skip + taken.len()))
        } else {
            vendor_next.map(|v| (v, 0))
        };
        let Some((v, k)) = next else {
            return Ok((taken, Value::Null));
        };
        let payload = CursorPayload {
            t: tool.name.to_owned(),
            v,
            k,
            s: page.size,
        };
        let bytes = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
        let sealed = self
            .keys
            .seal_bound(&bytes, server_id.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok((taken, Value::String(sealed)))
    }

    fn open_cursor(
        &self,
        tool: &ToolDef,
        server_id: &str,
        cursor: &str,
    ) -> Result<CursorPayload, String> {
        let invalid = || {
            "Invalid `next_cursor`: it was changed, or it comes from another tool or MCP server. Pass the `next_cursor` value from the previous result exactly as received, or omit it to start from the first page.".to_owned()
        };
        let bytes = self
            .keys
            .open_bound(cursor, server_id.as_bytes())
            .map_err(|_| invalid())?;
        let payload: CursorPayload = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if payload.t != tool.name {
            return Err(invalid());
        }
        Ok(payload)
    }

    /// Opens the account's credentials, refreshing OAuth tokens first when they are due.
    /// `rejected` is an access token the vendor just refused; it forces a refresh unless
    /// another call already replaced it.
    async fn credentials(
        &self,
        account: &Account,
        integration: &Integration,
        rejected: Option<&str>,
        prefetched: Option<&Upstream>,
    ) -> Result<Arc<Credentials>, String> {
        let opened = prefetched.and_then(|upstream| upstream.opened(|s| self.open_credentials(s)));
        let current = match opened {
            Some(opened) => opened?,
            None => Arc::new(self.load_credentials(&account.id).await?),
        };
        let AuthKind::OAuth2 { token_url, .. } = integration.auth else {
            return Ok(current);
        };
        let due = |c: &Credentials| {
            needs_refresh(c)
                || rejected.is_some_and(|r| c.access_token.as_deref().unwrap_or_default() == r)
        };
        if !due(&current) {
            return Ok(current);
        }
        // Single flight per account: one refresh at a time in this process, and through the
        // database's lock in the whole cluster. The others wait, then re-read what the winner
        // stored.
        let lock = {
            let mut locks = self
                .refresh_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(account.id.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        let (held, sealed) = self
            .store
            .lock_credentials(&account.id)
            .await
            .map_err(|e| format!("Could not load credentials: {e}"))?;
        let sealed = sealed.ok_or_else(|| "The integrated account no longer exists.".to_owned())?;
        let current = self.open_credentials(&sealed)?;
        if !due(&current) {
            return Ok(Arc::new(current));
        }
        if let Some(own_token_url) = &current.token_url {
            let parsed = reqwest::Url::parse(own_token_url)
                .map_err(|e| format!("Invalid token URL: {e}"))?;
            let operator_hosts = self.operator_hosts(integration).await?;
            still_allowed(integration, &operator_hosts, &parsed, account, "token URL")?;
        }
        let refreshed = self
            .refresh(&current, current.token_url.as_deref().unwrap_or(token_url))
            .await?;
        let sealed = self
            .keys
            .seal(&serde_json::to_vec(&refreshed).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        // Durable before use: a rotated refresh token must never be lost.
        held.replace(&sealed)
            .await
            .map_err(|e| format!("Could not store refreshed credentials: {e}"))?;
        Ok(Arc::new(refreshed))
    }

    /// The hosts an operator allows for `integration`, read now.
    async fn operator_hosts(&self, integration: &Integration) -> Result<Arc<[String]>, String> {
        let hosts = self
            .store
            .upstream_hosts(Some(integration.name))
            .await
            .map_err(|e| format!("Could not read the allowed upstream hosts: {e}"))?;
        Ok(hosts.into_iter().map(|h| h.host).collect())
    }

    async fn load_credentials(&self, account_id: &str) -> Result<Credentials, String> {
        let sealed = self
            .store
            .sealed_credentials(account_id)
            .await
            .map_err(|e| format!("Could not load credentials: {e}"))?
            .ok_or_else(|| "The integrated account no longer exists.".to_owned())?;
        self.open_credentials(&sealed)
    }

    /// The vendor URL of `path` (already percent-encoded) under the account's base URL,
    /// whose parse is kept in `upstream`: a path is set on a copy without parsing the host
    /// again. A path with a query or fragment delimiter is parsed whole, as before.
    fn upstream_url(
        &self,
        account: &Account,
        integration: &Integration,
        upstream: &Upstream,
        path: &str,
    ) -> Result<reqwest::Url, String> {
        let base = account
            .base_url
            .as_deref()
            .unwrap_or(integration.base_url)
            .trim_end_matches('/');
        if path.contains(['?', '#']) {
            return reqwest::Url::parse(&format!("{base}{path}"))
                .map_err(|e| format!("Invalid upstream URL: {e}"));
        }
        let parsed = match upstream.base_url.get() {
            Some(parsed) => parsed,
            None => {
                let parsed =
                    reqwest::Url::parse(base).map_err(|e| format!("Invalid upstream URL: {e}"))?;
                upstream.base_url.get_or_init(|| parsed)
            }
        };
        let mut url = parsed.clone();
        url.set_path(&format!("{}{path}", parsed.path().trim_end_matches('/')));
        Ok(url)
    }

    fn open_credentials(&self, sealed: &str) -> Result<Credentials, String> {
        let bytes = self.keys.open(sealed).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("Stored credentials are unreadable: {e}"))
    }

    async fn refresh(&self, current: &Credentials, token_url: &str) -> Result<Credentials, String> {
        let mut form: Vec<(String, String)> = Vec::new();
        match &current.refresh_token {
            Some(refresh) => {
                form.push(("grant_type".into(), "refresh_token".into()));
                form.push(("refresh_token".into(), refresh.clone()));
            }
            None => form.push(("grant_type".into(), "client_credentials".into())),
        }
        for (key, value) in [
            ("client_id", &current.client_id),
            ("client_secret", &current.client_secret),
        ] {
            if let Some(value) = value {
                form.push((key.into(), value.clone()));
            }
        }
        for (key, value) in &current.token_params {
            form.push((
                key.clone(),
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned),
            ));
        }
        let response = self
            .http()
            .post(token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "OAuth token refresh failed: {}",
                    describe_transport_error(&e)
                )
            })?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("OAuth token endpoint returned an unreadable body: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "OAuth token refresh was refused (HTTP {}): {}",
                status.as_u16(),
                body.get("error_description")
                    .or_else(|| body.get("error"))
                    .map_or_else(String::new, Value::to_string)
            ));
        }
        let access = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or("OAuth token endpoint returned no access_token")?;
        let mut next = current.clone();
        next.access_token = Some(access.to_owned());
        if let Some(rotated) = body.get("refresh_token").and_then(Value::as_str) {
            next.refresh_token = Some(rotated.to_owned());
        }
        next.expires_at = body
            .get("expires_in")
            .and_then(Value::as_i64)
            .map(|s| now() + s);
        Ok(next)
    }
}

/// A request body as it goes on the wire.
enum WireBody {
    /// Form pairs (reqwest sets the form content type).
    Form(Vec<(String, String)>),
    /// Bytes sent with the operation's content type; shared, so a retry does not copy them.
    Bytes(bytes::Bytes),
}

/// Encodes the body the way its media type needs: JSON text, bracket-notation form pairs, a
/// text argument as is, or a base64 argument decoded.
fn wire_body(request: &HttpRequest) -> Result<Option<WireBody>, String> {
    let Some(body) = &request.body else {
        return Ok(None);
    };
    let text = |value: &Value| {
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    };
    Ok(Some(match request.body_kind {
        BodyKind::Json => WireBody::Bytes(body.to_string().into()),
        BodyKind::Form { deep_object } => {
            WireBody::Form(form_pairs(body, deep_object).map_err(|e| {
                format!("Invalid arguments: {e}. Check the tool's input schema and try again.")
            })?)
        }
        BodyKind::Text => WireBody::Bytes(text(body).into()),
        BodyKind::Binary => {
            use base64::Engine;
            let encoded = text(body);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded.trim()))
                .map_err(|e| format!("Invalid arguments: argument `body`: not valid base64 ({e}). Send the bytes base64-encoded."))?;
            WireBody::Bytes(bytes.into())
        }
    }))
}

/// The page a list call fetches.
struct PageState {
    /// Items per page the caller asked for.
    size: Option<i64>,
    /// The vendor position of this page (cursor, page number or offset; null for the first).
    position: Value,
    /// Items at the start of this page that earlier calls already returned.
    skip: usize,
}

/// Refresh when there is no access token, or it expires within a minute.
fn needs_refresh(credentials: &Credentials) -> bool {
    let can_refresh = credentials.client_id.is_some() || credentials.refresh_token.is_some();
    can_refresh
        && (credentials.access_token.is_none()
            || credentials.expires_at.is_some_and(|at| at - 60 <= now()))
}

/// A list response's items: for local pagination the body if it is an array, else its only
/// array-valued member (else the body); otherwise what the integration's items pointer names.
/// An array gives its elements, null or nothing gives none, and any other value is one item.
fn list_items<'b>(body: Json<'b>, pagination: &Pagination) -> Vec<Json<'b>> {
    let found = match pagination {
        Pagination::Cursor { items_pointer, .. }
        | Pagination::Page { items_pointer, .. }
        | Pagination::Offset { items_pointer, .. } => body.pointer(items_pointer),
        Pagination::Local | Pagination::None => {
            let mut arrays = body
                .members()
                .into_iter()
                .flatten()
                .filter(|(_, value)| value.is_array());
            match (arrays.next(), arrays.next()) {
                (Some((_, items)), None) => Some(items),
                _ => Some(body),
            }
        }
    };
    match found {
        Some(found) if found.is_null() => Vec::new(),
        Some(found) => found.elements().unwrap_or_else(|| vec![found]),
        None => Vec::new(),
    }
}

/// The member names specgate writes into results.
const RESULT: Key<'static> = Key::quoted(r#""result""#);
const NEXT_CURSOR: Key<'static> = Key::quoted(r#""next_cursor""#);
const TRUNCATED: Key<'static> = Key::quoted(r#""truncated""#);
const RATE_LIMIT: Key<'static> = Key::quoted(r#""rate_limit""#);

/// A member of a structured result.
enum Member<'a> {
    /// Vendor JSON, copied compactly.
    Raw(Json<'a>),
    /// Vendor items, as one array.
    Items(&'a [Json<'a>]),
    /// A value of specgate's own.
    Value(Value),
}

/// Writes a structured result object: `members` in order, then `ours`, each of which replaces
/// the member of its name where there is one (as `Map::insert` would) and is appended where not.
fn structured_object<'a>(
    members: impl IntoIterator<Item = (Key<'a>, Member<'a>)>,
    mut ours: Vec<(Key<'static>, Value)>,
) -> String {
    fn write_member(out: &mut Vec<u8>, key: &str, member: Member<'_>) {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        out.push(b':');
        match member {
            Member::Raw(raw) => raw.write_compact(out),
            Member::Items(items) => {
                out.push(b'[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    item.write_compact(out);
                }
                out.push(b']');
            }
            Member::Value(value) => {
                // Writing into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, &value);
            }
        }
    }
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    // Names ours replaced: a later duplicate of one is dropped, since readers take the last.
    let mut replaced_names: Vec<Key<'static>> = Vec::new();
    for (key, member) in members {
        let name = (!ours.is_empty() || !replaced_names.is_empty()).then(|| key.name());
        if let Some(name) = &name
            && replaced_names.iter().any(|ours| ours.name() == *name)
        {
            continue;
        }
        let replaced = name.and_then(|name| ours.iter().position(|(ours, _)| ours.name() == name));
        match replaced {
            Some(index) => {
                let (ours_key, value) = ours.remove(index);
                replaced_names.push(ours_key);
                write_member(&mut out, key.text(), Member::Value(value));
            }
            None => write_member(&mut out, key.text(), member),
        }
    }
    for (key, value) in ours {
        write_member(&mut out, key.text(), Member::Value(value));
    }
    out.push(b'}');
    // Built from valid UTF-8 pieces only.
    String::from_utf8(out).unwrap_or_default()
}

fn vendor_message(body: &Value, pointers: &[&str]) -> Option<String> {
    pointers
        .iter()
        .find_map(|pointer| match body.pointer(pointer)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Array(items) if !items.is_empty() => Some(
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Value::Object(_) | Value::Array(_) | Value::String(_) | Value::Null => None,
            other => Some(other.to_string()),
        })
}

async fn read_capped(mut response: reqwest::Response) -> Result<(Vec<u8>, bool), String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        format!(
            "The vendor connection failed while reading the response: {}",
            describe_transport_error(&e)
        )
    })? {
        let room = MAX_BODY_BYTES.saturating_sub(bytes.len());
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok((bytes, true));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, false))
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "The vendor did not answer in time (timeout). Try again later.".to_owned()
    } else if error.is_connect() {
        // The innermost cause says why (refused, unreachable, or a refused address); unlike
        // the error's own Display it never includes the URL, which may carry a key.
        let mut cause: &dyn std::error::Error = error;
        while let Some(source) = cause.source() {
            cause = source;
        }
        format!("Could not connect to the vendor: {cause}.")
    } else {
        // Display of the error itself may include the URL, which can carry a query-string key.
        let cause = std::error::Error::source(error)
            .map_or_else(|| "unknown cause".to_owned(), ToString::to_string);
        format!("The request to the vendor failed: {cause}")
    }
}

fn attach_rate_limit(structured: &mut Value, rate_limit: Option<&RateLimit>) {
    if let (Value::Object(object), Some(rate_limit)) = (structured, rate_limit) {
        object.insert("rate_limit".to_owned(), rate_limit.to_json());
    }
}

fn error_with_structure(message: String, structured: Value) -> ToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(message)]);
    result.structured_content = Some(structured);
    ToolResult::Other(result)
}

/// Refuses a URL of an account's own (its base URL or token URL) whose host neither the spec
/// declares nor an operator allows any longer, saying what the operator can do.
fn still_allowed(
    integration: &Integration,
    operator_hosts: &[String],
    url: &reqwest::Url,
    account: &Account,
    what: &str,
) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let allowed = crate::egress::declared_hosts(integration)
        .iter()
        .chain(operator_hosts)
        .any(|pattern| crate::egress::host_matches(pattern, host));
    if allowed {
        return Ok(());
    }
    let name = integration.name;
    Err(format!(
        "Refusing to call the vendor: the account's {what} host `{host}` is no longer allowed for integration `{name}`. An operator must allow it again (`specgate upstream-host allow --integration {name} {host}` or POST /integrations/{name}/upstream-hosts) or move account `{}` to an allowed host (PATCH /integrated-account/{}).",
        account.id, account.id
    ))
}

/// The outcome of a call whose arguments do not fit the tool; nothing reached the vendor.
pub fn invalid_arguments(error: &specgate_runtime::ArgError) -> Outcome {
    tool_error(
        format!("Invalid arguments: {error}. Check the tool's input schema and try again."),
        CallClass::InvalidArguments,
    )
}

fn tool_error(message: String, class: CallClass) -> Outcome {
    Outcome {
        result: ToolResult::Other(CallToolResult::error(vec![ContentBlock::text(message)])),
        rate_limit: None,
        upstream_status: 0,
        class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_structured_result_is_written_as_rmcp_writes_it() {
        let value = json!({"result": [{"id": "ord_1", "note": "say \"hi\"\n", "n": 1.5}], "next_cursor": null});
        let written = ToolResult::Structured(value.to_string());
        let mut expected = ServerResult::CallToolResult(CallToolResult::structured(value.clone()));
        crate::catalog::legacy_shape(&mut expected);
        let expected = serde_json::to_value(&expected).unwrap();
        let json = |result: ToolResult| {
            let mut out = Vec::new();
            result.write_json(&mut out);
            out
        };
        assert_eq!(
            serde_json::from_slice::<Value>(&json(written.clone())).unwrap(),
            expected
        );
        assert_eq!(
            written.clone().into_call_tool_result(),
            CallToolResult::structured(value)
        );
        // Any other result goes through rmcp's own serialization, legacy-shaped.
        let error = ToolResult::Other(CallToolResult::error(vec![ContentBlock::text("no")]));
        let mut shaped = ServerResult::CallToolResult(error.clone().into_call_tool_result());
        crate::catalog::legacy_shape(&mut shaped);
        assert_eq!(json(error.clone()), serde_json::to_vec(&shaped).unwrap());
    }

    #[test]
    fn vendor_members_pass_through_and_ours_replace_as_insert_would() {
        let body = "{\n  \"id\": \"ord 1\",\n  \"rate_limit\": \"vendor's\",\n  \"n\": 1.50\n}";
        let members = vendor_json::parse(body).unwrap().members().unwrap();
        let written = structured_object(
            members.into_iter().map(|(k, v)| (k, Member::Raw(v))),
            vec![(TRUNCATED, json!(true)), (RATE_LIMIT, json!({"limit": 5}))],
        );
        assert_eq!(
            written,
            r#"{"id":"ord 1","rate_limit":{"limit":5},"n":1.50,"truncated":true}"#
        );
        let mut expected: Value = serde_json::from_str(body).unwrap();
        expected["truncated"] = json!(true);
        expected["rate_limit"] = json!({"limit": 5});
        assert_eq!(serde_json::from_str::<Value>(&written).unwrap(), expected);
    }

    #[test]
    fn a_duplicate_vendor_member_never_outlasts_ours() {
        let body = r#"{"rate_limit":"first","id":1,"rate_limit":"last","truncated":false}"#;
        let members = vendor_json::parse(body).unwrap().members().unwrap();
        let written = structured_object(
            members.into_iter().map(|(k, v)| (k, Member::Raw(v))),
            vec![(TRUNCATED, json!(true)), (RATE_LIMIT, json!({"limit": 5}))],
        );
        let read: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            read,
            json!({"rate_limit": {"limit": 5}, "id": 1, "truncated": true})
        );
        assert_eq!(written.matches("rate_limit").count(), 1, "{written}");
    }

    #[test]
    fn list_items_are_found_as_before() {
        let local = Pagination::Local;
        let cursor = Pagination::Cursor {
            cursor_param: "cursor",
            limit_param: None,
            next_from: CursorSource::BodyPointer("/meta/next"),
            items_pointer: "/page/data",
        };
        let cases: [(&Pagination, &str, Value); 7] = [
            (&local, r#"[1, 2, 3]"#, json!([1, 2, 3])),
            (&local, r#"{"data": [1, 2], "n": 2}"#, json!([1, 2])),
            (
                &local,
                r#"{"a": [1], "b": [2]}"#,
                json!([{"a": [1], "b": [2]}]),
            ),
            (&local, r#"null"#, json!([])),
            (
                &cursor,
                r#"{"page": {"data": [{"id": 1}]}}"#,
                json!([{"id": 1}]),
            ),
            (
                &cursor,
                r#"{"page": {"data": {"id": 1}}}"#,
                json!([{"id": 1}]),
            ),
            (&cursor, r#"{"page": {}}"#, json!([])),
        ];
        for (pagination, body, expected) in cases {
            let items = list_items(vendor_json::parse(body).unwrap(), pagination);
            let written = structured_object([(RESULT, Member::Items(&items))], vec![]);
            assert_eq!(
                serde_json::from_str::<Value>(&written).unwrap(),
                json!({"result": expected}),
                "{body}"
            );
        }
    }

    fn post(body: Value, content_type: &'static str, body_kind: BodyKind) -> HttpRequest {
        HttpRequest {
            method: HttpMethod::Post,
            path: "/".to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Some(body),
            content_type,
            body_kind,
            page_limit: None,
            page_cursor: None,
        }
    }

    /// A nested form body reaches a server that parses bracket notation as Stripe documents
    /// it, and means the same JSON there.
    #[tokio::test]
    async fn form_bodies_arrive_as_the_json_they_encode() {
        let (address, _sandbox) = crate::sandbox::spawn().await.unwrap();
        let body = json!({
            "amount": 2000,
            "metadata": {"order_id": "6735", "note": "gift"},
            "items": [{"price": "price_1", "quantity": 2}, {"price": "price_2", "quantity": 1}],
            "expand": ["customer"],
            "tag": ["a", "b"]
        });
        let request = post(
            body,
            "application/x-www-form-urlencoded",
            BodyKind::Form {
                deep_object: &["expand", "metadata"],
            },
        );
        let Some(WireBody::Form(pairs)) = wire_body(&request).unwrap() else {
            panic!("a form body");
        };
        let echoed: Value = reqwest::Client::new()
            .post(format!("http://{address}/__sandbox/form-echo"))
            .form(&pairs)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            echoed,
            json!({
                "amount": "2000",
                "metadata": {"order_id": "6735", "note": "gift"},
                "items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2", "quantity": "1"}],
                "expand": ["customer"],
                "tag": ["a", "b"]
            })
        );
    }

    #[test]
    fn binary_bodies_are_decoded_and_bad_base64_is_an_argument_error() {
        let mut request = post(
            json!("aGVsbG8="),
            "application/octet-stream",
            BodyKind::Binary,
        );
        let Some(WireBody::Bytes(bytes)) = wire_body(&request).unwrap() else {
            panic!("bytes");
        };
        assert_eq!(&bytes[..], b"hello");
        request.body = Some(json!("not base64!"));
        let Err(error) = wire_body(&request) else {
            panic!("refused");
        };
        assert!(
            error.contains("argument `body`: not valid base64"),
            "{error}"
        );
        request.body = Some(json!("<a>text</a>"));
        request.body_kind = BodyKind::Text;
        let Some(WireBody::Bytes(bytes)) = wire_body(&request).unwrap() else {
            panic!("bytes");
        };
        assert_eq!(&bytes[..], b"<a>text</a>");
    }

    #[test]
    fn link_header_next_cursor() {
        let link = r#"<https://api.gomalomo.com/orders?prev=abc>; rel="prev", <https://api.gomalomo.com/orders?next=c%2Fd&x=1>; rel="next""#;
        assert_eq!(
            specgate_wire::link::next_param(link, "next").as_deref(),
            Some("c/d")
        );
        assert_eq!(
            specgate_wire::link::next_param(r#"<https://x/orders?prev=a>; rel="prev""#, "next"),
            None
        );
    }

    #[test]
    fn vendor_messages_follow_pointers() {
        let rose = json!({"statusCode": 400, "message": ["name must be a string", "id is required"], "error": "Bad Request"});
        assert_eq!(
            vendor_message(&rose, &["/message"]).as_deref(),
            Some("name must be a string; id is required")
        );
        let edesk = json!({"error": {"httpCode": 404, "message": "Ticket not found"}});
        assert_eq!(
            vendor_message(&edesk, &["/message", "/error/message"]).as_deref(),
            Some("Ticket not found")
        );
    }

    #[test]
    fn credentials_must_fit_auth_kind() {
        let key = Credentials {
            api_key: Some("k".into()),
            ..Credentials::default()
        };
        assert!(key.validate(&AuthKind::Bearer).is_ok());
        assert_eq!(
            Credentials::default()
                .validate(&AuthKind::Bearer)
                .unwrap_err(),
            "`bearer` auth needs `api_key`"
        );
        assert!(
            key.validate(&AuthKind::OAuth2 {
                token_url: "x",
                grants: &[]
            })
            .is_err()
        );
        let stray = Credentials {
            api_key: Some("k".into()),
            password: Some("p".into()),
            ..Credentials::default()
        };
        assert_eq!(
            stray.validate(&AuthKind::Bearer).unwrap_err(),
            "`bearer` auth does not use `password`; it takes `api_key`"
        );
    }
}
