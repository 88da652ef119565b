//! Provisioning: integrated accounts, MCP servers and API tokens. [`Provisioner`] holds the
//! rules and is shared by the admin REST API (this module's router) and the CLI.

use std::collections::BTreeSet;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::AppState;
use crate::catalog::{allowed, method_values, tag_values, tool_json};
use crate::crypto::{new_id, new_token};
use crate::proxy::Credentials;
use crate::store::{
    Account, ApiToken, McpServer, SchemaProfile, ServerConfig, TokenScope, UpstreamHost, now,
};

/// A clear, specific admin API error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Stable error code.
    pub code: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            404,
            "not_found",
            format!("no {what} with id `{}`", printable(id)),
        )
    }
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "admin operation failed");
        Self::new(500, "internal", "internal error; see the server log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

/// JSON body extractor whose rejections are [`ApiError`]s naming the problem.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::new(422, "invalid_body", e.body_text()))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                415,
                "unsupported_media_type",
                "send `Content-Type: application/json`",
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                413,
                "body_too_large",
                "the request body is larger than the server accepts (--max-body-bytes)",
            )),
            Err(e) => Err(ApiError::new(400, "invalid_json", e.body_text())),
        }
    }
}

/// Query of `GET .../mcp/{mcp_id}/tools`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileQuery {
    /// `full` or `portable`; the server's own by default.
    #[serde(default)]
    pub profile: Option<SchemaProfile>,
}

/// `POST /integrated-account`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Integration slug.
    pub integration: String,
    /// Display name.
    pub name: String,
    /// Vendor credentials (write-only).
    pub credentials: Credentials,
    /// Base URL override (https, or loopback with `--allow-insecure-upstreams`).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// `PATCH /integrated-account/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Replacement credentials.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// New base URL override (`null` returns to the spec's). Changing it requires
    /// `credentials` in the same request, so stored secrets never follow a new host.
    #[serde(default, deserialize_with = "present")]
    pub base_url: Option<Option<String>>,
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `POST /integrated-account/{id}/mcp`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    /// Display name.
    pub name: String,
    /// Filters and second factor.
    #[serde(default)]
    pub config: ServerConfig,
    /// RFC 3339 expiry.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `PATCH /integrated-account/{id}/mcp/{mcp_id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateServer {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// A JSON merge patch of the config: fields not sent keep their values.
    #[serde(default)]
    pub config: Option<serde_json::Map<String, Value>>,
    /// New RFC 3339 expiry; `null` removes the expiry.
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<String>>,
}

/// `POST /integrations/{name}/upstream-hosts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowHost {
    /// Host name, or `*.suffix` for its subdomains.
    pub host: String,
}

/// An MCP server as the API shows it; `url` only right after creation or rotation.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Filters.
    pub config: ServerConfig,
    /// RFC 3339 expiry.
    pub expires_at: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// The MCP URL with its secret token; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL's path, with the secret token; shown once, also when the public URL is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_path: Option<String>,
    /// What the operator should know about the configuration just written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Query of `GET .../mcp/{mcp_id}/calls`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsPage {
    /// Rows per page (1–500, default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An account as the API shows it (never with credentials).
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    /// Id.
    pub id: String,
    /// Integration slug.
    pub integration: String,
    /// Name.
    pub name: String,
    /// Base URL override.
    pub base_url: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn account_view(account: Account) -> AccountView {
    AccountView {
        created_at: rfc3339(account.created_at),
        updated_at: rfc3339(account.updated_at),
        id: account.id,
        integration: account.integration,
        name: account.name,
        base_url: account.base_url,
    }
}

fn server_view(server: McpServer, link: Option<(Option<String>, String)>) -> ServerView {
    let (url, mcp_path) = link.map_or((None, None), |(url, path)| (url, Some(path)));
    ServerView {
        expires_at: server.expires_at.map(rfc3339),
        created_at: rfc3339(server.created_at),
        id: server.id,
        name: server.name,
        config: server.config,
        url,
        mcp_path,
        warnings: Vec::new(),
    }
}

/// Some clients accept at most this many tools from one server.
const CLIENT_TOOL_CAP: usize = 128;

fn tool_count_warnings(count: usize) -> Vec<String> {
    if count > CLIENT_TOOL_CAP {
        vec![format!(
            "this server exposes {count} tools; some clients accept at most {CLIENT_TOOL_CAP} from one server, so narrow it with `methods`, `tags` or `tools`"
        )]
    } else {
        Vec::new()
    }
}

/// Whether the spec gives the integration a usable base URL; without one every account sets
/// its own `base_url`.
fn has_fixed_base_url(integration: &specgate_runtime::Integration) -> bool {
    integration.base_url.contains("://") && !integration.base_url.contains('{')
}

/// Text safe to print on a terminal: control characters (NUL, escape sequences) are escaped.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Longest accepted display name.
const MAX_NAME_CHARS: usize = 200;

fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::new(
            400,
            "invalid_name",
            format!("`{field}` must not be empty"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::new(
            400,
            "invalid_name",
            format!("`{field}` must not contain control characters (NUL, escape codes, newlines)"),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::new(
            400,
            "invalid_name",
            format!("`{field}` must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The provisioning rules, shared by the REST API and the CLI.
#[derive(Clone)]
pub struct Provisioner {
    state: AppState,
}

impl Provisioner {
    /// Provisioning over the app state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    fn integration(&self, name: &str) -> Result<&'static specgate_runtime::Integration, ApiError> {
        specgate_api::find_integration(name).ok_or_else(|| {
            let known: Vec<&str> = specgate_api::INTEGRATIONS.iter().map(|i| i.name).collect();
            ApiError::new(
                400,
                "unknown_integration",
                format!(
                    "unknown integration `{name}`; compiled integrations: {}",
                    known.join(", ")
                ),
            )
        })
    }

    /// Checks a URL that the account's credentials will be sent to: https (or loopback http
    /// with `--allow-insecure-upstreams`), a public address, and a host that the spec
    /// declares or an operator allowed for this integration.
    async fn check_upstream_url(
        &self,
        integration: &specgate_runtime::Integration,
        field: &str,
        url: &str,
    ) -> Result<(), ApiError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            ApiError::new(
                400,
                "invalid_base_url",
                format!("`{field}` is not a URL: {e}"),
            )
        })?;
        let insecure = self.state.config.allow_insecure_upstreams;
        crate::egress::check_url(&parsed, insecure)
            .map_err(|why| ApiError::new(400, "insecure_base_url", format!("`{field}` {why}")))?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let mut patterns = crate::egress::declared_hosts(integration);
        patterns.extend(
            self.state
                .store
                .upstream_hosts(Some(integration.name))
                .await
                .map_err(ApiError::internal)?
                .into_iter()
                .map(|h| h.host),
        );
        if patterns
            .iter()
            .any(|p| crate::egress::host_matches(p, &host))
        {
            return Ok(());
        }
        let declared = if patterns.is_empty() {
            "it allows no host yet".to_owned()
        } else {
            format!("it allows {}", patterns.join(", "))
        };
        Err(ApiError::new(
            400,
            "upstream_host_not_allowed",
            format!(
                "`{field}` host `{host}` is not allowed for integration `{}`: {declared}. An operator can allow it with `specgate upstream-host allow --integration {} {host}` or POST /integrations/{}/upstream-hosts",
                integration.name, integration.name, integration.name
            ),
        ))
    }

    fn seal(&self, credentials: &Credentials) -> Result<String, ApiError> {
        let bytes = serde_json::to_vec(credentials).map_err(ApiError::internal)?;
        self.state.keys.seal(&bytes).map_err(ApiError::internal)
    }

    async fn check_credentials(
        &self,
        integration: &specgate_runtime::Integration,
        credentials: &Credentials,
    ) -> Result<(), ApiError> {
        credentials.validate(&integration.auth).map_err(|m| {
            ApiError::new(
                400,
                "invalid_credentials",
                format!(
                    "credentials do not match integration `{}`: {m}",
                    integration.name
                ),
            )
        })?;
        if let Some(url) = &credentials.token_url {
            self.check_upstream_url(integration, "credentials.token_url", url)
                .await?;
        }
        Ok(())
    }

    /// Registers an account.
    pub async fn create_account(&self, request: CreateAccount) -> Result<AccountView, ApiError> {
        let integration = self.integration(&request.integration)?;
        check_name("name", &request.name)?;
        self.check_credentials(integration, &request.credentials)
            .await?;
        match &request.base_url {
            Some(url) => {
                self.check_upstream_url(integration, "base_url", url)
                    .await?
            }
            None if !has_fixed_base_url(integration) => {
                return Err(ApiError::new(
                    400,
                    "base_url_required",
                    format!(
                        "integration `{}` has no fixed base URL in its spec (`{}`); send `base_url`",
                        integration.name, integration.base_url
                    ),
                ));
            }
            None => {}
        }
        let at = now();
        let account = Account {
            id: new_id().map_err(ApiError::internal)?,
            integration: integration.name.to_owned(),
            name: request.name,
            base_url: request.base_url,
            created_at: at,
            updated_at: at,
        };
        self.state
            .store
            .create_account(&account, &self.seal(&request.credentials)?)
            .await
            .map_err(ApiError::internal)?;
        Ok(account_view(account))
    }

    /// All accounts.
    pub async fn list_accounts(&self) -> Result<Vec<AccountView>, ApiError> {
        Ok(self
            .state
            .store
            .list_accounts()
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(account_view)
            .collect())
    }

    async fn account(&self, id: &str) -> Result<Account, ApiError> {
        self.state
            .store
            .get_account(id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("integrated account", id))
    }

    /// One account.
    pub async fn get_account(&self, id: &str) -> Result<AccountView, ApiError> {
        self.account(id).await.map(account_view)
    }

    /// Renames, re-points or rotates credentials.
    pub async fn update_account(
        &self,
        id: &str,
        request: UpdateAccount,
    ) -> Result<AccountView, ApiError> {
        let account = self.account(id).await?;
        let integration = self.integration(&account.integration)?;
        if let Some(name) = &request.name {
            check_name("name", name)?;
        }
        let new_base_url = request
            .base_url
            .clone()
            .filter(|url| *url != account.base_url);
        if new_base_url.is_some() && request.credentials.is_none() {
            return Err(ApiError::new(
                400,
                "credentials_required",
                "changing `base_url` requires `credentials` in the same request: stored credentials are never sent to a new host",
            ));
        }
        match new_base_url.as_ref() {
            Some(Some(url)) => {
                self.check_upstream_url(integration, "base_url", url)
                    .await?
            }
            Some(None) if !has_fixed_base_url(integration) => {
                return Err(ApiError::new(
                    400,
                    "base_url_required",
                    format!(
                        "integration `{}` has no fixed base URL, so `base_url` cannot be removed",
                        integration.name
                    ),
                ));
            }
            _ => {}
        }
        let sealed = match &request.credentials {
            Some(credentials) => {
                self.check_credentials(integration, credentials).await?;
                Some(self.seal(credentials)?)
            }
            None => None,
        };
        self.state
            .store
            .update_account(
                id,
                request.name.as_deref(),
                new_base_url.as_ref().map(Option::as_deref),
                sealed.as_deref(),
            )
            .await
            .map_err(ApiError::internal)?;
        self.get_account(id).await
    }

    /// Deletes an account and its MCP servers.
    pub async fn delete_account(&self, id: &str) -> Result<(), ApiError> {
        if self
            .state
            .store
            .delete_account(id)
            .await
            .map_err(ApiError::internal)?
        {
            Ok(())
        } else {
            Err(ApiError::not_found("integrated account", id))
        }
    }

    fn check_config(
        &self,
        integration: &specgate_runtime::Integration,
        config: &ServerConfig,
    ) -> Result<usize, ApiError> {
        let methods = method_values(integration);
        if let Some(bad) = config
            .methods
            .values()
            .iter()
            .find(|m| !methods.contains(m.as_str()))
        {
            return Err(ApiError::new(
                400,
                "invalid_methods",
                format!(
                    "unknown method filter `{}`; valid values: all, {}",
                    printable(bad),
                    methods.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let tags = tag_values(integration);
        if let Some(bad) = config
            .tags
            .values()
            .iter()
            .find(|t| !tags.contains(t.as_str()))
        {
            return Err(ApiError::new(
                400,
                "invalid_tags",
                format!(
                    "unknown tag `{}`; valid tags: all, {}",
                    printable(bad),
                    tags.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let names: BTreeSet<&str> = integration.tools.iter().map(|t| t.name).collect();
        for (field, code, listed) in [
            ("tools", "invalid_tools", config.tools.values()),
            (
                "exclude_tools",
                "invalid_exclude_tools",
                config.exclude_tools.as_slice(),
            ),
        ] {
            if let Some(bad) = listed.iter().find(|t| !names.contains(t.as_str())) {
                return Err(ApiError::new(
                    400,
                    code,
                    format!(
                        "unknown tool `{}` in `{field}`; valid tools: {}",
                        printable(bad),
                        names.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let count = integration
            .tools
            .iter()
            .filter(|t| allowed(t, config))
            .count();
        if count == 0 {
            return Err(ApiError::new(
                422,
                "no_tools",
                "this account has no tools for that filter (methods ∩ tags ∩ tools − exclude_tools is empty)",
            ));
        }
        Ok(count)
    }

    fn parse_expiry(text: &str) -> Result<i64, ApiError> {
        let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| ApiError::new(400, "invalid_expires_at", format!("`expires_at` must be an RFC 3339 timestamp such as 2027-01-31T12:00:00Z, got `{text}`")))?;
        let unix = at.unix_timestamp();
        if unix <= now() {
            return Err(ApiError::new(
                400,
                "invalid_expires_at",
                "`expires_at` is in the past",
            ));
        }
        Ok(unix)
    }

    /// The URL (when the public URL is known) and path of a fresh token.
    fn link(&self, token: &str) -> (Option<String>, String) {
        let path = format!("/mcp/{token}");
        let url = self
            .state
            .config
            .public_url
            .as_deref()
            .map(|base| format!("{}{path}", base.trim_end_matches('/')));
        (url, path)
    }

    /// Provisions an MCP server; the response carries the only copy of its URL.
    pub async fn create_server(
        &self,
        account_id: &str,
        request: CreateServer,
    ) -> Result<ServerView, ApiError> {
        let account = self.account(account_id).await?;
        let integration = self.integration(&account.integration)?;
        check_name("name", &request.name)?;
        let tool_count = self.check_config(integration, &request.config)?;
        let expires_at = request
            .expires_at
            .as_deref()
            .map(Self::parse_expiry)
            .transpose()?;
        let token = new_token("mcp_").map_err(ApiError::internal)?;
        let server = McpServer {
            id: new_id().map_err(ApiError::internal)?,
            account_id: account.id,
            name: request.name,
            config: request.config,
            expires_at,
            created_at: now(),
        };
        self.state
            .store
            .create_server(&server, &self.state.keys.hash_token(&token))
            .await
            .map_err(ApiError::internal)?;
        let mut view = server_view(server, Some(self.link(&token)));
        view.warnings = tool_count_warnings(tool_count);
        Ok(view)
    }

    /// Servers of an account.
    pub async fn list_servers(&self, account_id: &str) -> Result<Vec<ServerView>, ApiError> {
        self.account(account_id).await?;
        Ok(self
            .state
            .store
            .list_servers(account_id)
            .await
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|s| server_view(s, None))
            .collect())
    }

    async fn server(&self, account_id: &str, id: &str) -> Result<McpServer, ApiError> {
        self.state
            .store
            .get_server(account_id, id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("MCP server", id))
    }

    /// One server (without its URL).
    pub async fn get_server(&self, account_id: &str, id: &str) -> Result<ServerView, ApiError> {
        self.server(account_id, id)
            .await
            .map(|s| server_view(s, None))
    }

    /// Changes name, filters or expiry.
    pub async fn update_server(
        &self,
        account_id: &str,
        id: &str,
        request: UpdateServer,
    ) -> Result<ServerView, ApiError> {
        let account = self.account(account_id).await?;
        let integration = self.integration(&account.integration)?;
        let mut server = self.server(account_id, id).await?;
        if let Some(name) = request.name {
            check_name("name", &name)?;
            server.name = name;
        }
        let mut warnings = Vec::new();
        if let Some(patch) = request.config {
            let config = merge_config(&server.config, patch)?;
            warnings = tool_count_warnings(self.check_config(integration, &config)?);
            server.config = config;
        }
        if let Some(expiry) = request.expires_at {
            server.expires_at = expiry.as_deref().map(Self::parse_expiry).transpose()?;
        }
        self.state
            .store
            .update_server(&server)
            .await
            .map_err(ApiError::internal)?;
        let mut view = server_view(server, None);
        view.warnings = warnings;
        Ok(view)
    }

    /// Issues a new URL; the old one stops working with this commit.
    pub async fn rotate_server(&self, account_id: &str, id: &str) -> Result<ServerView, ApiError> {
        let server = self.server(account_id, id).await?;
        let token = new_token("mcp_").map_err(ApiError::internal)?;
        self.state
            .store
            .rotate_server(account_id, id, &self.state.keys.hash_token(&token))
            .await
            .map_err(ApiError::internal)?;
        Ok(server_view(server, Some(self.link(&token))))
    }

    /// Deletes a server.
    pub async fn delete_server(&self, account_id: &str, id: &str) -> Result<(), ApiError> {
        if self
            .state
            .store
            .delete_server(account_id, id)
            .await
            .map_err(ApiError::internal)?
        {
            Ok(())
        } else {
            Err(ApiError::not_found("MCP server", id))
        }
    }

    /// Exactly the tools a server exposes.
    /// The tools a server exposes, with their schemas in `profile` (default: the server's).
    pub async fn server_tools(
        &self,
        account_id: &str,
        id: &str,
        profile: Option<SchemaProfile>,
    ) -> Result<Vec<Value>, ApiError> {
        let account = self.account(account_id).await?;
        let server = self.server(account_id, id).await?;
        let profile = profile.unwrap_or(server.config.schema_profile);
        Ok(self
            .state
            .catalog
            .visible(&account.integration, &server.config)
            .map(|tool| tool_json(tool, profile))
            .collect())
    }

    /// One page of a server's audit log, newest first. The rows outlive the server, so this
    /// answers for deleted servers too.
    pub async fn list_calls(
        &self,
        account_id: &str,
        id: &str,
        page: CallsPage,
    ) -> Result<Value, ApiError> {
        let limit = page.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::new(
                400,
                "invalid_limit",
                "`limit` must be between 1 and 500",
            ));
        }
        let before = match page.cursor.as_deref() {
            None => None,
            Some(cursor) => Some(
                cursor
                    .split_once('.')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)))
                    .ok_or_else(|| {
                        ApiError::new(
                            400,
                            "invalid_cursor",
                            "`cursor` must be a `next_cursor` from an earlier page",
                        )
                    })?,
            ),
        };
        let calls = self
            .state
            .store
            .list_calls(account_id, id, before, limit + 1)
            .await
            .map_err(ApiError::internal)?;
        let more = calls.len() > limit as usize;
        let calls: Vec<_> = calls.into_iter().take(limit as usize).collect();
        let next_cursor = more
            .then(|| calls.last().map(|c| format!("{}.{}", c.at_ms, c.id)))
            .flatten();
        Ok(json!({"calls": calls, "next_cursor": next_cursor}))
    }

    /// Creates an API token; the raw token is returned once. An `mcp` token may be bound to
    /// one account; an `admin` token never is.
    pub async fn create_api_token(
        &self,
        name: &str,
        scope: TokenScope,
        account_id: Option<&str>,
    ) -> Result<(ApiToken, String), ApiError> {
        check_name("name", name)?;
        if let Some(account_id) = account_id {
            if scope == TokenScope::Admin {
                return Err(ApiError::new(
                    400,
                    "invalid_scope",
                    "only `mcp` tokens can be bound to an account",
                ));
            }
            self.account(account_id).await?;
        }
        let token = new_token("sgk_").map_err(ApiError::internal)?;
        let record = ApiToken {
            id: new_id().map_err(ApiError::internal)?,
            name: name.to_owned(),
            scope,
            account_id: account_id.map(str::to_owned),
            created_at: now(),
        };
        self.state
            .store
            .create_api_token(&record, &self.state.keys.hash_token(&token))
            .await
            .map_err(ApiError::internal)?;
        Ok((record, token))
    }

    /// Allows an upstream host (or `*.suffix`) for an integration's accounts.
    pub async fn allow_upstream_host(
        &self,
        integration: &str,
        host: &str,
    ) -> Result<UpstreamHost, ApiError> {
        let integration = self.integration(integration)?;
        let host = normalize_host_pattern(host)?;
        self.state
            .store
            .allow_upstream_host(integration.name, &host)
            .await
            .map_err(ApiError::internal)?;
        Ok(UpstreamHost {
            integration: integration.name.to_owned(),
            host,
            created_at: now(),
        })
    }

    /// Removes an allowed upstream host. Calls of accounts whose base URL is on it are refused
    /// from then on (the host is checked at every call), until an operator allows it again or
    /// moves the account.
    pub async fn remove_upstream_host(
        &self,
        integration: &str,
        host: &str,
    ) -> Result<(), ApiError> {
        let integration = self.integration(integration)?;
        let host = normalize_host_pattern(host)?;
        if self
            .state
            .store
            .remove_upstream_host(integration.name, &host)
            .await
            .map_err(ApiError::internal)?
        {
            Ok(())
        } else {
            Err(ApiError::new(
                404,
                "not_found",
                format!("host `{host}` is not allowed for `{}`", integration.name),
            ))
        }
    }

    /// The hosts an integration's accounts may use: declared by its spec, and allowed.
    pub async fn upstream_hosts(&self, integration: &str) -> Result<Value, ApiError> {
        let integration = self.integration(integration)?;
        let allowed = self
            .state
            .store
            .upstream_hosts(Some(integration.name))
            .await
            .map_err(ApiError::internal)?;
        Ok(json!({
            "integration": integration.name,
            "declared": crate::egress::declared_hosts(integration),
            "allowed": allowed.iter().map(|h| &h.host).collect::<Vec<_>>(),
        }))
    }
}

/// Compiled integrations with tool counts, tags and auth kinds.
pub fn integrations_json() -> Value {
    Value::Array(
        specgate_api::INTEGRATIONS
            .iter()
            .map(|i| {
                json!({
                    "name": i.name,
                    "title": i.title,
                    "auth": i.auth.as_str(),
                    "tool_count": i.tools.len(),
                    "tags": tag_values(i),
                    "methods": method_values(i),
                })
            })
            .collect(),
    )
}

/// The live API token a request carries as `Authorization: Bearer <token>`.
pub async fn bearer_api_token(state: &AppState, headers: &http::HeaderMap) -> Option<ApiToken> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    let hash = state.keys.hash_token(token.trim());
    match state
        .api_tokens
        .get_or_load(&hash, state.store.find_api_token(&hash))
        .await
    {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "API token lookup failed");
            None
        }
    }
}

/// A 401 with the `WWW-Authenticate` challenge that names the scheme.
pub fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(401, "unauthorized", message).into_response();
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer realm=\"specgate\""),
    );
    response
}

async fn require_admin_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match bearer_api_token(&state, request.headers()).await {
        Some(token) if token.scope == TokenScope::Admin => next.run(request).await,
        Some(_) => ApiError::new(
            403,
            "forbidden",
            "this API token has the `mcp` scope: it is only a second factor for MCP servers; the admin API needs an `admin` token",
        )
        .into_response(),
        None => unauthorized(
            "send `Authorization: Bearer <api token>` (create one with `specgate api-token create`)",
        ),
    }
}

/// Applies a JSON merge patch (RFC 7396) to a server config: fields not in the patch keep
/// their values. `null` is refused rather than taken as "remove", since a removed filter
/// would mean "all tools".
fn merge_config(
    current: &ServerConfig,
    patch: serde_json::Map<String, Value>,
) -> Result<ServerConfig, ApiError> {
    let invalid =
        |message: String| ApiError::new(422, "invalid_config", format!("config: {message}"));
    let mut merged = match serde_json::to_value(current) {
        Ok(Value::Object(object)) => object,
        _ => return Err(ApiError::internal("config does not serialize to an object")),
    };
    for (field, value) in patch {
        if value.is_null() {
            return Err(invalid(format!(
                "`{field}` cannot be null; send [\"all\"] to allow every value, or the value to set"
            )));
        }
        merged.insert(field, value);
    }
    serde_json::from_value(Value::Object(merged)).map_err(|e| invalid(e.to_string()))
}

/// A host name or `*.suffix` pattern, lower-cased, or a clear error.
fn normalize_host_pattern(host: &str) -> Result<String, ApiError> {
    let host = host.trim().to_ascii_lowercase();
    let bare = host.strip_prefix("*.").unwrap_or(&host);
    let valid = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        || bare.parse::<std::net::IpAddr>().is_ok();
    if valid {
        Ok(host)
    } else {
        Err(ApiError::new(
            400,
            "invalid_host",
            format!(
                "`{}` is not a host name (example: api.example.com or *.example.com)",
                printable(&host)
            ),
        ))
    }
}

/// The admin API routes, behind API-token auth (except `/openapi.json`).
pub fn router(state: AppState) -> Router<AppState> {
    let p = Provisioner::new(state.clone());
    let protected = Router::new()
        .route("/integrations", get(|| async { Json(integrations_json()) }))
        .route(
            "/integrated-account",
            post({
                let p = p.clone();
                move |ApiJson(body): ApiJson<CreateAccount>| async move {
                    p.create_account(body)
                        .await
                        .map(|a| (StatusCode::CREATED, Json(a)))
                }
            })
            .get({
                let p = p.clone();
                move || async move { p.list_accounts().await.map(Json) }
            }),
        )
        .route(
            "/integrated-account/{id}",
            get({
                let p = p.clone();
                move |Path(id): Path<String>| async move { p.get_account(&id).await.map(Json) }
            })
            .patch({
                let p = p.clone();
                move |Path(id): Path<String>, ApiJson(body): ApiJson<UpdateAccount>| async move {
                    p.update_account(&id, body).await.map(Json)
                }
            })
            .delete({
                let p = p.clone();
                move |Path(id): Path<String>| async move {
                    p.delete_account(&id).await.map(|()| StatusCode::NO_CONTENT)
                }
            }),
        )
        .route(
            "/integrated-account/{id}/mcp",
            post({
                let p = p.clone();
                move |Path(id): Path<String>, ApiJson(body): ApiJson<CreateServer>| async move {
                    p.create_server(&id, body)
                        .await
                        .map(|s| (StatusCode::CREATED, Json(s)))
                }
            })
            .get({
                let p = p.clone();
                move |Path(id): Path<String>| async move { p.list_servers(&id).await.map(Json) }
            }),
        )
        .route(
            "/integrated-account/{id}/mcp/{mcp_id}",
            get({
                let p = p.clone();
                move |Path((id, mcp_id)): Path<(String, String)>| async move {
                    p.get_server(&id, &mcp_id).await.map(Json)
                }
            })
            .patch({
                let p = p.clone();
                move |Path((id, mcp_id)): Path<(String, String)>,
                      ApiJson(body): ApiJson<UpdateServer>| async move {
                    p.update_server(&id, &mcp_id, body).await.map(Json)
                }
            })
            .delete({
                let p = p.clone();
                move |Path((id, mcp_id)): Path<(String, String)>| async move {
                    p.delete_server(&id, &mcp_id)
                        .await
                        .map(|()| StatusCode::NO_CONTENT)
                }
            }),
        )
        .route(
            "/integrated-account/{id}/mcp/{mcp_id}/rotate",
            post({
                let p = p.clone();
                move |Path((id, mcp_id)): Path<(String, String)>| async move {
                    p.rotate_server(&id, &mcp_id).await.map(Json)
                }
            }),
        )
        .route(
            "/integrated-account/{id}/mcp/{mcp_id}/tools",
            get({
                let p = p.clone();
                move |Path((id, mcp_id)): Path<(String, String)>,
                      Query(query): Query<ProfileQuery>| async move {
                    p.server_tools(&id, &mcp_id, query.profile).await.map(Json)
                }
            }),
        )
        .route(
            "/integrated-account/{id}/mcp/{mcp_id}/calls",
            get({
                let p = p.clone();
                move |Path((id, mcp_id)): Path<(String, String)>,
                      Query(page): Query<CallsPage>| async move {
                    p.list_calls(&id, &mcp_id, page).await.map(Json)
                }
            }),
        )
        .route(
            "/integrations/{name}/upstream-hosts",
            get({
                let p = p.clone();
                move |Path(name): Path<String>| async move { p.upstream_hosts(&name).await.map(Json) }
            })
            .post({
                let p = p.clone();
                move |Path(name): Path<String>, ApiJson(body): ApiJson<AllowHost>| async move {
                    p.allow_upstream_host(&name, &body.host)
                        .await
                        .map(|h| (StatusCode::CREATED, Json(h)))
                }
            }),
        )
        .route(
            "/integrations/{name}/upstream-hosts/{host}",
            axum::routing::delete({
                let p = p.clone();
                move |Path((name, host)): Path<(String, String)>| async move {
                    p.remove_upstream_host(&name, &host)
                        .await
                        .map(|()| StatusCode::NO_CONTENT)
                }
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            require_admin_token,
        ));
    Router::new()
        .merge(protected)
        .route("/openapi.json", get(|| async { Json(openapi()) }))
}

/// The admin API's OpenAPI 3.1 document, built from the same request and response types'
/// field lists as the handlers above.
pub fn openapi() -> Value {
    let credentials = json!({"type": "object", "additionalProperties": false, "description": "Write-only vendor credentials; which fields apply depends on the integration's auth kind.", "properties": {
        "api_key": {"type": "string"}, "username": {"type": "string"}, "password": {"type": "string"},
        "client_id": {"type": "string"}, "client_secret": {"type": "string"}, "access_token": {"type": "string"},
        "refresh_token": {"type": "string"}, "expires_at": {"type": "integer"}, "token_url": {"type": "string"},
        "token_params": {"type": "object"}}});
    let filter = |what: &str| json!({"type": "array", "minItems": 1, "items": {"type": "string"}, "default": ["all"], "description": format!("{what}; [\"all\"] for every value. Never null or empty.")});
    let config = json!({"type": "object", "additionalProperties": false, "properties": {
        "methods": filter("read, write, custom, or method names"),
        "tags": filter("tags"),
        "tools": filter("tool names"),
        "exclude_tools": {"type": "array", "items": {"type": "string"}, "default": [], "description": "Tool names never exposed. All filters combine: methods ∩ tags ∩ tools − exclude_tools."},
        "require_api_token_auth": {"type": "boolean", "description": "Clients must also send an admin or `mcp`-scoped API token."}}});
    let error = json!({"type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}});
    let account = json!({"type": "object", "properties": {"id": {"type": "string"}, "integration": {"type": "string"}, "name": {"type": "string"}, "base_url": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}});
    let server = json!({"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig"}, "expires_at": {"type": ["string", "null"], "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"}, "url": {"type": "string", "description": "Only in create and rotate responses, when the public URL is known."}, "mcp_path": {"type": "string", "description": "Only in create and rotate responses."}, "warnings": {"type": "array", "items": {"type": "string"}, "description": "Only when there is something to know, such as more tools than some clients accept (128)."}}});
    // `status` is what the handler answers on success; `response` names its body schema.
    let op = |summary: &str, body: Option<&str>, status: u16, response: Option<&str>| {
        let success = match response {
            Some(schema) => {
                json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
            }
            None => json!({"description": "No content"}),
        };
        let failure = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        let mut responses = serde_json::Map::new();
        responses.insert(status.to_string(), success);
        for code in ["400", "401", "403", "404", "413", "415", "422"] {
            responses.insert(code.to_owned(), failure.clone());
        }
        let mut o = json!({"summary": summary, "responses": responses});
        if let Some(body) = body {
            o["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        o
    };
    json!({
        "openapi": "3.1.0",
        "info": {"title": "specgate admin API", "version": env!("CARGO_PKG_VERSION")},
        "security": [{"apiToken": []}],
        "paths": {
            "/integrations": {"get": op("List compiled integrations", None, 200, Some("Any"))},
            "/integrations/{name}/upstream-hosts": {
                "get": op("Hosts an integration's accounts may use: declared by the spec, and allowed", None, 200, Some("Any")),
                "post": op("Allow a host (or *.suffix) for an integration", Some("AllowHost"), 201, Some("Any"))},
            "/integrations/{name}/upstream-hosts/{host}": {"delete": op("Remove an allowed host", None, 204, None)},
            "/integrated-account": {"post": op("Create an integrated account", Some("CreateAccount"), 201, Some("Account")), "get": op("List integrated accounts", None, 200, Some("Any"))},
            "/integrated-account/{id}": {"get": op("Get an integrated account", None, 200, Some("Account")), "patch": op("Rename an account, rotate its credentials, or move it (with new credentials)", Some("UpdateAccount"), 200, Some("Account")), "delete": op("Delete an account, its MCP servers and its bound API tokens", None, 204, None)},
            "/integrated-account/{id}/mcp": {"post": op("Create an MCP server", Some("CreateServer"), 201, Some("Server")), "get": op("List MCP servers", None, 200, Some("Any"))},
            "/integrated-account/{id}/mcp/{mcp_id}": {"get": op("Get an MCP server", None, 200, Some("Server")), "patch": op("Update an MCP server (config is a JSON merge patch)", Some("UpdateServer"), 200, Some("Server")), "delete": op("Delete an MCP server", None, 204, None)},
            "/integrated-account/{id}/mcp/{mcp_id}/rotate": {"post": op("Issue a new URL and revoke the old one", None, 200, Some("Server"))},
            "/integrated-account/{id}/mcp/{mcp_id}/tools": {"get": op("Preview the tools this server exposes", None, 200, Some("Any"))},
            "/integrated-account/{id}/mcp/{mcp_id}/calls": {"get": op("The server's tool calls, newest first; `limit` (1–500, default 100) and `cursor` (the previous page's `next_cursor`) page them. Rows outlive the server.", None, 200, Some("Any"))}
        },
        "components": {
            "securitySchemes": {"apiToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Any": {},
                "Error": error,
                "Credentials": credentials,
                "ServerConfig": config,
                "Account": account,
                "Server": server,
                "CreateAccount": {"type": "object", "additionalProperties": false, "required": ["integration", "name", "credentials"], "properties": {"integration": {"type": "string"}, "name": {"type": "string"}, "credentials": {"$ref": "#/components/schemas/Credentials"}, "base_url": {"type": "string"}}},
                "UpdateAccount": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "credentials": {"$ref": "#/components/schemas/Credentials"}, "base_url": {"type": ["string", "null"], "description": "Changing it requires `credentials` in the same request."}}},
                "AllowHost": {"type": "object", "additionalProperties": false, "required": ["host"], "properties": {"host": {"type": "string", "description": "api.example.com, or *.example.com for its subdomains"}}},
                "CreateServer": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {"name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig"}, "expires_at": {"type": "string", "format": "date-time"}}},
                "UpdateServer": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig", "description": "A JSON merge patch: fields not sent keep their values."}, "expires_at": {"type": ["string", "null"], "format": "date-time", "description": "null removes the expiry."}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn more_tools_than_clients_accept_is_a_warning() {
        assert!(super::tool_count_warnings(128).is_empty());
        let warnings = super::tool_count_warnings(129);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("129 tools"), "{warnings:?}");
    }
}
