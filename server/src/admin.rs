//! Provisioning: integrated accounts, MCP servers and API tokens. [`Provisioner`] holds the
//! rules and is shared by the admin REST API (this module's router) and the CLI.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
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
use crate::store::{Account, McpServer, ServerConfig, now};

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
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    fn not_found(what: &str, id: &str) -> Self {
        Self::new(404, "not_found", format!("no {what} with id `{id}`"))
    }
    fn internal(error: impl std::fmt::Display) -> Self {
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
            Err(e) => Err(ApiError::new(400, "invalid_json", e.body_text())),
        }
    }
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
    /// New base URL override.
    #[serde(default)]
    pub base_url: Option<String>,
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
    /// New filters.
    #[serde(default)]
    pub config: Option<ServerConfig>,
    /// New RFC 3339 expiry.
    #[serde(default)]
    pub expires_at: Option<String>,
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

fn server_view(server: McpServer, url: Option<String>) -> ServerView {
    ServerView {
        expires_at: server.expires_at.map(rfc3339),
        created_at: rfc3339(server.created_at),
        id: server.id,
        name: server.name,
        config: server.config,
        url,
    }
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

    fn check_base_url(&self, url: &str) -> Result<(), ApiError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            ApiError::new(
                400,
                "invalid_base_url",
                format!("`base_url` is not a URL: {e}"),
            )
        })?;
        let loopback = matches!(
            parsed.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
        );
        match parsed.scheme() {
            "https" => Ok(()),
            "http" if loopback && self.state.config.allow_insecure_upstreams => Ok(()),
            "http" if loopback => Err(ApiError::new(
                400,
                "insecure_base_url",
                "`base_url` must be https; loopback http needs the server flag --allow-insecure-upstreams",
            )),
            _ => Err(ApiError::new(
                400,
                "insecure_base_url",
                "`base_url` must be an https URL",
            )),
        }
    }

    fn seal(&self, credentials: &Credentials) -> Result<String, ApiError> {
        let bytes = serde_json::to_vec(credentials).map_err(ApiError::internal)?;
        self.state.keys.seal(&bytes).map_err(ApiError::internal)
    }

    fn check_credentials(
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
            self.check_base_url(url)?;
        }
        Ok(())
    }

    /// Registers an account.
    pub async fn create_account(&self, request: CreateAccount) -> Result<AccountView, ApiError> {
        let integration = self.integration(&request.integration)?;
        if request.name.trim().is_empty() {
            return Err(ApiError::new(
                400,
                "invalid_name",
                "`name` must not be empty",
            ));
        }
        self.check_credentials(integration, &request.credentials)?;
        if let Some(url) = &request.base_url {
            self.check_base_url(url)?;
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
        let sealed = match &request.credentials {
            Some(credentials) => {
                self.check_credentials(integration, credentials)?;
                Some(self.seal(credentials)?)
            }
            None => None,
        };
        if let Some(url) = &request.base_url {
            self.check_base_url(url)?;
        }
        if request.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(ApiError::new(
                400,
                "invalid_name",
                "`name` must not be empty",
            ));
        }
        self.state
            .store
            .update_account(
                id,
                request.name.as_deref(),
                request.base_url.as_deref().map(Some),
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
    ) -> Result<(), ApiError> {
        let methods = method_values(integration);
        if let Some(bad) = config
            .methods
            .iter()
            .find(|m| !methods.contains(m.as_str()))
        {
            return Err(ApiError::new(
                400,
                "invalid_methods",
                format!(
                    "unknown method filter `{bad}`; valid values: {}",
                    methods.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let tags = tag_values(integration);
        if let Some(bad) = config.tags.iter().find(|t| !tags.contains(t.as_str())) {
            return Err(ApiError::new(
                400,
                "invalid_tags",
                format!(
                    "unknown tag `{bad}`; valid tags: {}",
                    tags.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if !integration.tools.iter().any(|t| allowed(t, config)) {
            return Err(ApiError::new(
                422,
                "no_tools",
                "this account has no tools for that filter",
            ));
        }
        Ok(())
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

    fn url(&self, token: &str) -> String {
        format!(
            "{}/mcp/{token}",
            self.state.config.public_url.trim_end_matches('/')
        )
    }

    /// Provisions an MCP server; the response carries the only copy of its URL.
    pub async fn create_server(
        &self,
        account_id: &str,
        request: CreateServer,
    ) -> Result<ServerView, ApiError> {
        let account = self.account(account_id).await?;
        let integration = self.integration(&account.integration)?;
        if request.name.trim().is_empty() {
            return Err(ApiError::new(
                400,
                "invalid_name",
                "`name` must not be empty",
            ));
        }
        self.check_config(integration, &request.config)?;
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
        let url = self.url(&token);
        Ok(server_view(server, Some(url)))
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
            if name.trim().is_empty() {
                return Err(ApiError::new(
                    400,
                    "invalid_name",
                    "`name` must not be empty",
                ));
            }
            server.name = name;
        }
        if let Some(config) = request.config {
            self.check_config(integration, &config)?;
            server.config = config;
        }
        if let Some(expiry) = request.expires_at.as_deref() {
            server.expires_at = Some(Self::parse_expiry(expiry)?);
        }
        self.state
            .store
            .update_server(&server)
            .await
            .map_err(ApiError::internal)?;
        Ok(server_view(server, None))
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
        let url = self.url(&token);
        Ok(server_view(server, Some(url)))
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
    pub async fn server_tools(&self, account_id: &str, id: &str) -> Result<Vec<Value>, ApiError> {
        let account = self.account(account_id).await?;
        let server = self.server(account_id, id).await?;
        Ok(self
            .state
            .catalog
            .visible(&account.integration, &server.config)
            .map(tool_json)
            .collect())
    }

    /// Creates an API token; the raw token is returned once.
    pub async fn create_api_token(&self, name: &str) -> Result<(String, String), ApiError> {
        let token = new_token("sgk_").map_err(ApiError::internal)?;
        let id = new_id().map_err(ApiError::internal)?;
        self.state
            .store
            .create_api_token(&id, name, &self.state.keys.hash_token(&token))
            .await
            .map_err(ApiError::internal)?;
        Ok((id, token))
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

/// Whether the request carries `Authorization: Bearer <live API token>`.
pub async fn has_valid_api_token(state: &AppState, headers: &http::HeaderMap) -> bool {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match bearer {
        Some(token) => state
            .store
            .api_token_exists(&state.keys.hash_token(token.trim()))
            .await
            .unwrap_or(false),
        None => false,
    }
}

async fn require_api_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if has_valid_api_token(&state, request.headers()).await {
        next.run(request).await
    } else {
        ApiError::new(401, "unauthorized", "send `Authorization: Bearer <api token>` (create one with `specgate api-token create`)").into_response()
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
                move |Path((id, mcp_id)): Path<(String, String)>| async move {
                    p.server_tools(&id, &mcp_id).await.map(Json)
                }
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            require_api_token,
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
    let config = json!({"type": "object", "additionalProperties": false, "properties": {
        "methods": {"type": "array", "items": {"type": "string"}, "description": "read, write, custom, or method names"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "require_api_token_auth": {"type": "boolean"}}});
    let error = json!({"type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}});
    let account = json!({"type": "object", "properties": {"id": {"type": "string"}, "integration": {"type": "string"}, "name": {"type": "string"}, "base_url": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}});
    let server = json!({"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig"}, "expires_at": {"type": ["string", "null"], "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"}, "url": {"type": "string", "description": "Only in create and rotate responses."}}});
    let op = |summary: &str, body: Option<&str>, response: &str| {
        let mut o = json!({"summary": summary, "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{response}")}}}},
            "4XX": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}});
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
            "/integrations": {"get": op("List compiled integrations", None, "Any")},
            "/integrated-account": {"post": op("Create an integrated account", Some("CreateAccount"), "Account"), "get": op("List integrated accounts", None, "Any")},
            "/integrated-account/{id}": {"get": op("Get an integrated account", None, "Account"), "patch": op("Rename an account or rotate its credentials", Some("UpdateAccount"), "Account"), "delete": op("Delete an account and its MCP servers", None, "Any")},
            "/integrated-account/{id}/mcp": {"post": op("Create an MCP server", Some("CreateServer"), "Server"), "get": op("List MCP servers", None, "Any")},
            "/integrated-account/{id}/mcp/{mcp_id}": {"get": op("Get an MCP server", None, "Server"), "patch": op("Update an MCP server", Some("UpdateServer"), "Server"), "delete": op("Delete an MCP server", None, "Any")},
            "/integrated-account/{id}/mcp/{mcp_id}/rotate": {"post": op("Issue a new URL and revoke the old one", None, "Server")},
            "/integrated-account/{id}/mcp/{mcp_id}/tools": {"get": op("Preview the tools this server exposes", None, "Any")}
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
                "UpdateAccount": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "credentials": {"$ref": "#/components/schemas/Credentials"}, "base_url": {"type": "string"}}},
                "CreateServer": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {"name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig"}, "expires_at": {"type": "string", "format": "date-time"}}},
                "UpdateServer": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig"}, "expires_at": {"type": "string", "format": "date-time"}}}
            }
        }
    })
}
