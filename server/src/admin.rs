//! The admin API face: provisioning over REST, behind admin API tokens. Small named handlers
//! call the [`Provisioner`]; one [`ApiError`] maps its errors to a status and a JSON body.
//! Routes and their OpenAPI document come from one table ([`operations`]), so no route goes
//! undocumented.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::connect::{Connect, ConnectStarted, OAuthAppView, Reconnect, SetOAuthApp};
use crate::provision::{
    AccountView, AllowHost, AllowedHost, CallLog, CallsPage, CreateAccount, CreateServer, Field,
    GrantView, ProvisionError, Provisioner, ServerView, UpdateAccount, UpdateServer,
    integrations_json,
};
use crate::state::AppState;
use crate::store::{SchemaProfile, now};
use crate::web::{self, InternalFailure};

/// An admin API error: a status, a stable code, the request field at fault (as a JSON path,
/// `config.max_result_bytes`) and a message that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: Option<String>,
    message: String,
    /// What failed inside, for the log; never sent.
    internal: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            field: None,
            message: message.into(),
            internal: None,
        }
    }

    fn with_field(self, field: Option<String>) -> Self {
        Self { field, ..self }
    }

    /// The error as the API answers it, and the CLI prints it under `--json`:
    /// `{"error": {"code", "message", "field"?}}`.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = &self.field {
            error["field"] = json!(field);
        }
        json!({ "error": error })
    }
}

/// A provisioning field as a request names it: a server's filters and budget sit in `config`.
fn field_path(field: Field) -> String {
    match field {
        Field::Methods
        | Field::Tags
        | Field::Tools
        | Field::ExcludeTools
        | Field::MaxResultBytes => format!("config.{field}"),
        other => other.as_str().to_owned(),
    }
}

/// What serde said of a body that does not fit, as the API says it: the field's JSON path and
/// words without Rust's types. `path` is serde_path_to_error's (`.` for the body itself).
fn body_error(path: &str, said: &str) -> (Option<String>, String) {
    let said = said.split(" at line ").next().unwrap_or(said);
    // serde_path_to_error's path ends at an unknown field already, and at a missing field's
    // parent.
    let within = |name: &str| match path {
        "." | "" => name.to_owned(),
        full if full == name || full.ends_with(&format!(".{name}")) => full.to_owned(),
        parent => format!("{parent}.{name}"),
    };
    let ticked = |text: &str| text.split('`').nth(1).map(str::to_owned);
    if let Some(rest) = said.strip_prefix("missing field ") {
        let name = ticked(rest).unwrap_or_default();
        return (Some(within(&name)), "is required".to_owned());
    }
    if let Some(rest) = said.strip_prefix("unknown field ") {
        let name = ticked(rest).unwrap_or_default();
        let valid = rest.split_once("expected ").map_or_else(
            || "this object takes no fields".to_owned(),
            |(_, list)| {
                format!(
                    "valid fields: {}",
                    list.replace("one of ", "").replace('`', "")
                )
            },
        );
        return (Some(within(&name)), format!("is not a field here; {valid}"));
    }
    let field = (!matches!(path, "." | "")).then(|| path.to_owned());
    if let Some(rest) = said.strip_prefix("unknown variant ") {
        let value = ticked(rest).unwrap_or_default();
        let valid = rest
            .split_once("expected ")
            .map_or("", |(_, list)| list)
            .replace("one of ", "")
            .replace('`', "");
        return (field, format!("`{value}` is not one of: {valid}"));
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = said.strip_prefix(prefix)
            && let Some((got, want)) = rest.split_once(", expected ")
        {
            return (
                field,
                format!("must be {}, not {}", expected(want), found(got)),
            );
        }
    }
    (field, said.to_owned())
}

/// A JSON data rejection's field path (serde_path_to_error's, `.` for the body itself) and
/// serde's message, from axum's text (`Failed to ...: <path>: <message>`).
fn data_error_parts(error: &axum::extract::rejection::JsonDataError) -> (String, String) {
    let text = error.body_text();
    let text = text
        .split_once("target type: ")
        .map_or(text.as_str(), |(_, rest)| rest);
    const MESSAGES: [&str; 8] = [
        "invalid type",
        "invalid value",
        "invalid length",
        "missing field",
        "unknown field",
        "unknown variant",
        "duplicate field",
        "expected",
    ];
    match text.split_once(": ") {
        Some((path, message)) if !MESSAGES.iter().any(|m| text.starts_with(m)) => {
            (path.to_owned(), message.to_owned())
        }
        _ => (".".to_owned(), text.to_owned()),
    }
}

/// serde's `expected` in words: no Rust type names.
fn expected(want: &str) -> String {
    match want {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "an object".to_owned(),
        other if other.starts_with("struct ") => "an object".to_owned(),
        other => other.to_owned(),
    }
}

/// serde's account of a value it found, in JSON's words.
fn found(got: &str) -> String {
    match got {
        "sequence" => "an array".to_owned(),
        "map" => "an object".to_owned(),
        "null" | "unit value" => "null".to_owned(),
        other => other
            .replace("floating point", "the number")
            .replace("integer", "the number")
            .replace("boolean", "the boolean")
            .replace('`', ""),
    }
}

impl From<ProvisionError> for ApiError {
    fn from(error: ProvisionError) -> Self {
        use ProvisionError as E;
        let status = crate::web::provision_status(&error);
        let code = match &error {
            E::UnknownIntegration { .. } => "unknown_integration",
            E::NotAUrl { .. } => "invalid_base_url",
            E::InsecureUrl { .. } => "insecure_base_url",
            E::HostNotAllowed { .. } => "upstream_host_not_allowed",
            E::CredentialsMismatch { .. } => "invalid_credentials",
            E::BaseUrlRequired { .. } => "base_url_required",
            E::CredentialsRequired => "credentials_required",
            E::InvalidName(_) => "invalid_name",
            E::UnknownFilterValue { field, .. } => match field {
                Field::Methods => "invalid_methods",
                Field::Tags => "invalid_tags",
                Field::Tools => "invalid_tools",
                Field::Confirm => "invalid_confirm",
                _ => "invalid_exclude_tools",
            },
            E::NoTools => "no_tools",
            E::ResultBudgetOutOfRange(_) => "invalid_max_result_bytes",
            E::ExpiryNotATimestamp(_) | E::ExpiryInThePast => "invalid_expires_at",
            E::InvalidLimit => "invalid_limit",
            E::InvalidCursor => "invalid_cursor",
            E::AdminTokenBound => "invalid_scope",
            E::InvalidHost(_) | E::PublicSuffixWildcard(_) => "invalid_host",
            E::InvalidConfig(_) => "invalid_config",
            E::OAuthAppMissing { .. } => "oauth_app_missing",
            E::AuthorizeUrlMissing { .. } => "authorize_url_missing",
            E::PublicUrlUnknown => "public_url_unknown",
            E::NotOAuth2 { .. } => "not_oauth2",
            E::ReturnToNotAllowed { .. } => "return_to_not_allowed",
            E::InvalidOAuthValue { field, .. } => match field {
                Field::ClientId => "invalid_client_id",
                Field::ClientSecret => "invalid_client_secret",
                Field::Scopes => "invalid_scopes",
                Field::ReturnTo => "invalid_return_to",
                _ => "invalid_origin",
            },
            E::NotFound { .. } | E::HostNotListed { .. } => "not_found",
            E::Store(_) | E::Internal(_) => {
                return Self {
                    internal: Some(error.to_string()),
                    ..Self::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "internal error; see the server log",
                    )
                };
            }
        };
        let message = error.explained(crate::provision::AllowVia::Api);
        Self::new(status, code, message).with_field(error.field().map(field_path))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(self.body());
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"specgate\""),
            );
        }
        if let Some(internal) = self.internal {
            response
                .extensions_mut()
                .insert(InternalFailure(internal.into()));
        }
        response
    }
}

/// Any request no route serves answers the admin API's error envelope (404).
pub async fn no_route(method: http::Method, uri: http::Uri) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "nothing answers {method} {}; the admin API's routes are in /openapi.json",
            crate::provision::printable(&crate::redact_path(uri.path()))
        ),
    )
    .into_response()
}

/// An admin API path with a method it does not take (405, with the `Allow` axum adds).
pub async fn method_not_allowed(method: http::Method, uri: http::Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not take {method}; its methods are in the Allow header and /openapi.json",
            crate::provision::printable(&crate::redact_path(uri.path()))
        ),
    )
    .into_response()
}

/// Logs the internal failure behind each 500, once, outside the error's conversion.
async fn log_internal_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    web::log_internal_failure(&response, "admin operation");
    response
}

/// JSON body extractor whose rejections are [`ApiError`]s naming the problem.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Every body is an object: serde reads a struct from an array too, field by field in
        // order, so `["x"]` would rename an account.
        let parsed =
            match Json::<Box<serde_json::value::RawValue>>::from_request(request, state).await {
                Ok(Json(raw)) if !raw.get().trim_start().starts_with('{') => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_json",
                        "the body must be a JSON object",
                    ));
                }
                Ok(Json(raw)) => Json::<T>::from_bytes(raw.get().as_bytes()),
                Err(rejection) => Err(rejection),
            };
        match parsed {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                let (path, said) = data_error_parts(&e);
                let (field, message) = body_error(&path, &said);
                Err(
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
                        .with_field(field),
                )
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send `Content-Type: application/json`",
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than the server accepts (--max-body-bytes)",
            )),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                e.body_text(),
            )),
        }
    }
}

/// Query extractor whose rejections are [`ApiError`]s.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e: QueryRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text())
            })
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

type Answer<T> = Result<T, ApiError>;
type Created<T> = Answer<(StatusCode, Json<T>)>;

fn created<T>(value: T) -> (StatusCode, Json<T>) {
    (StatusCode::CREATED, Json(value))
}

async fn list_integrations(State(p): State<Provisioner>) -> Json<Value> {
    Json(integrations_json(&p.state.catalog))
}

async fn create_account(
    State(p): State<Provisioner>,
    ApiJson(body): ApiJson<CreateAccount>,
) -> Created<AccountView> {
    Ok(created(p.create_account(body).await?))
}

async fn list_accounts(State(p): State<Provisioner>) -> Answer<Json<Vec<AccountView>>> {
    Ok(Json(p.list_accounts().await?))
}

async fn get_account(
    State(p): State<Provisioner>,
    Path(id): Path<String>,
) -> Answer<Json<AccountView>> {
    Ok(Json(p.get_account(&id).await?))
}

async fn update_account(
    State(p): State<Provisioner>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateAccount>,
) -> Answer<Json<AccountView>> {
    Ok(Json(p.update_account(&id, body).await?))
}

async fn delete_account(
    State(p): State<Provisioner>,
    Path(id): Path<String>,
) -> Answer<StatusCode> {
    p.delete_account(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_server(
    State(p): State<Provisioner>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateServer>,
) -> Created<ServerView> {
    Ok(created(p.create_server(&id, body).await?))
}

async fn list_servers(
    State(p): State<Provisioner>,
    Path(id): Path<String>,
) -> Answer<Json<Vec<ServerView>>> {
    Ok(Json(p.list_servers(&id).await?))
}

async fn get_server(
    State(p): State<Provisioner>,
    Path((id, mcp_id)): Path<(String, String)>,
) -> Answer<Json<ServerView>> {
    Ok(Json(p.get_server(&id, &mcp_id).await?))
}

async fn update_server(
    State(p): State<Provisioner>,
    Path((id, mcp_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateServer>,
) -> Answer<Json<ServerView>> {
    Ok(Json(p.update_server(&id, &mcp_id, body).await?))
}

async fn delete_server(
    State(p): State<Provisioner>,
    Path((id, mcp_id)): Path<(String, String)>,
) -> Answer<StatusCode> {
    p.delete_server(&id, &mcp_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_server(
    State(p): State<Provisioner>,
    Path((id, mcp_id)): Path<(String, String)>,
) -> Answer<Json<ServerView>> {
    Ok(Json(p.rotate_server(&id, &mcp_id).await?))
}

async fn server_tools(
    State(p): State<Provisioner>,
    Path((id, mcp_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ProfileQuery>,
) -> Answer<Json<Vec<Value>>> {
    Ok(Json(p.server_tools(&id, &mcp_id, query.profile).await?))
}

async fn server_calls(
    State(p): State<Provisioner>,
    Path((id, mcp_id)): Path<(String, String)>,
    ApiQuery(page): ApiQuery<CallsPage>,
) -> Answer<Json<CallLog>> {
    Ok(Json(p.list_calls(&id, &mcp_id, page).await?))
}

async fn list_grants(
    State(p): State<Provisioner>,
    Path((id, mcp_id)): Path<(String, String)>,
) -> Answer<Json<Vec<GrantView>>> {
    Ok(Json(p.list_grants(&id, &mcp_id).await?))
}

async fn revoke_grant(
    State(p): State<Provisioner>,
    Path((id, mcp_id, grant_id)): Path<(String, String, String)>,
) -> Answer<StatusCode> {
    p.revoke_grant(&id, &mcp_id, &grant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn upstream_hosts(
    State(p): State<Provisioner>,
    Path(name): Path<String>,
) -> Answer<Json<Value>> {
    Ok(Json(p.upstream_hosts(&name).await?))
}

async fn allow_upstream_host(
    State(p): State<Provisioner>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<AllowHost>,
) -> Created<AllowedHost> {
    Ok(created(p.allow_upstream_host(&name, &body.host).await?))
}

async fn put_oauth_app(
    State(p): State<Provisioner>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<SetOAuthApp>,
) -> Answer<Json<OAuthAppView>> {
    Ok(Json(p.set_oauth_app(&name, body).await?))
}

async fn get_oauth_app(
    State(p): State<Provisioner>,
    Path(name): Path<String>,
) -> Answer<Json<OAuthAppView>> {
    Ok(Json(p.oauth_app(&name).await?))
}

async fn delete_oauth_app(
    State(p): State<Provisioner>,
    Path(name): Path<String>,
) -> Answer<StatusCode> {
    p.remove_oauth_app(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn connect_account(
    State(p): State<Provisioner>,
    ApiJson(body): ApiJson<Connect>,
) -> Created<ConnectStarted> {
    Ok(created(p.connect(body).await?))
}

async fn reconnect_account(
    State(p): State<Provisioner>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reconnect>,
) -> Created<ConnectStarted> {
    Ok(created(p.reconnect(&id, body).await?))
}

/// `POST /return-origins`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowOrigin {
    /// `https://app.example.com`: scheme, host and port.
    pub origin: String,
}

async fn return_origins(State(p): State<Provisioner>) -> Answer<Json<Vec<String>>> {
    Ok(Json(p.return_origins().await?))
}

async fn allow_return_origin(
    State(p): State<Provisioner>,
    ApiJson(body): ApiJson<AllowOrigin>,
) -> Created<Value> {
    let origin = p.allow_return_origin(&body.origin).await?;
    Ok(created(json!({"origin": origin})))
}

async fn remove_return_origin(
    State(p): State<Provisioner>,
    Path(origin): Path<String>,
) -> Answer<StatusCode> {
    p.remove_return_origin(&origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_upstream_host(
    State(p): State<Provisioner>,
    Path((name, host)): Path<(String, String)>,
) -> Answer<StatusCode> {
    p.remove_upstream_host(&name, &host).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lets a request through with an admin API token: 401 without a live one, 403 for an
/// `mcp`-scoped one.
async fn require_admin_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let bearer = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::web::credentials_of(v, "Bearer"));
    let token = match bearer {
        Some(raw) => state.api_token(raw).await,
        None => Ok(None),
    };
    match token {
        Ok(Some(token)) if token.opens_admin() => {
            if let Err(error) = state.store.touch_api_token(&token.id, now()).await {
                return ApiError::from(ProvisionError::Store(error)).into_response();
            }
            next.run(request).await
        }
        Ok(Some(_)) => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this API token has the `mcp` scope: it is only a second factor for MCP servers; the admin API needs an `admin` token",
        )
        .into_response(),
        Ok(None) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <api token>` (an admin-scoped API token)",
        )
        .into_response(),
        Err(error) => ApiError::from(ProvisionError::Store(error)).into_response(),
    }
}

/// One admin operation: its route, its handler and what the OpenAPI document says of it.
pub struct Operation {
    /// HTTP method, lower-case as OpenAPI writes it.
    pub method: &'static str,
    /// Path template.
    pub path: &'static str,
    handler: MethodRouter<Provisioner>,
    summary: &'static str,
    /// The OpenAPI tag: the group it is listed under.
    tag: &'static str,
    /// Request body schema.
    body: Option<&'static str>,
    /// Success status and response schema (`None`: no content).
    success: (u16, Option<&'static str>),
    /// Every error status the operation can answer.
    pub errors: &'static [u16],
}

/// Error statuses: the admin token check answers 401 and 403 everywhere; a JSON body adds
/// 400 (malformed), 413, 415 and 422 (wrong shape); an id adds 404.
const AUTH: &[u16] = &[401, 403];
const BY_ID: &[u16] = &[401, 403, 404];
const VALIDATED: &[u16] = &[400, 401, 403];
const BODY: &[u16] = &[400, 401, 403, 413, 415, 422];
const BODY_BY_ID: &[u16] = &[400, 401, 403, 404, 413, 415, 422];

fn op(
    method: &'static str,
    path: &'static str,
    handler: MethodRouter<Provisioner>,
    summary: &'static str,
    body: Option<&'static str>,
    success: (u16, Option<&'static str>),
    errors: &'static [u16],
) -> Operation {
    Operation {
        method,
        path,
        handler,
        summary,
        tag: "",
        body,
        success,
        errors,
    }
}

/// Every admin operation behind the token check, in the document's order.
pub fn operations() -> Vec<Operation> {
    let tagged = |tag: &'static str, group: Vec<Operation>| {
        group
            .into_iter()
            .map(move |operation| Operation { tag, ..operation })
    };
    tagged("integrations", integration_operations().into())
        .chain(tagged("accounts", account_operations().into()))
        .chain(tagged("connect", connect_operations().into()))
        .chain(tagged("mcp servers", server_operations().into()))
        .collect()
}

/// An operation's `operationId`: its method and path in camel case, each `{param}` as
/// `ByParam` (`get /integrated-account/{id}` is `getIntegratedAccountById`).
fn operation_id(method: &str, path: &str) -> String {
    let capitalized = |word: &str| {
        let mut chars = word.chars();
        chars
            .next()
            .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    };
    let mut id = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let (prefix, name) = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => ("By", param),
            None => ("", segment),
        };
        id.push_str(prefix);
        for word in name.split(['-', '_']) {
            id.push_str(&capitalized(word));
        }
    }
    id
}

/// Connecting accounts through the vendor's consent: OAuth apps, connections, return origins.
fn connect_operations() -> [Operation; 8] {
    const APP: &str = "/integrations/{name}/oauth-app";
    const ORIGINS: &str = "/return-origins";
    [
        op(
            "put",
            APP,
            put(put_oauth_app),
            "Register (or replace) the OAuth app an integration's accounts connect and refresh with; the secret is sealed and never shown again",
            Some("SetOAuthApp"),
            (200, Some("OAuthApp")),
            BODY,
        ),
        op(
            "get",
            APP,
            get(get_oauth_app),
            "An integration's OAuth app, without its secret, and the redirect URI to register at the vendor",
            None,
            (200, Some("OAuthApp")),
            &[400, 401, 403, 404],
        ),
        op(
            "delete",
            APP,
            delete(delete_oauth_app),
            "Remove an integration's OAuth app",
            None,
            (204, None),
            &[400, 401, 403, 404],
        ),
        op(
            "post",
            "/integrated-account/connect",
            post(connect_account),
            "Start connecting an account through the vendor's consent: send its owner to `authorize_url` (valid for 10 minutes, in the first browser that opens it, once)",
            Some("Connect"),
            (201, Some("ConnectStarted")),
            &[400, 401, 403, 409, 413, 415, 422],
        ),
        op(
            "post",
            "/integrated-account/{id}/reconnect",
            post(reconnect_account),
            "Connect an account again through the vendor's consent, keeping its id and MCP servers",
            Some("Reconnect"),
            (201, Some("ConnectStarted")),
            &[400, 401, 403, 404, 409, 413, 415, 422],
        ),
        op(
            "get",
            ORIGINS,
            get(return_origins),
            "Origins a connection's `return_to` may name",
            None,
            (200, Some("Any")),
            AUTH,
        ),
        op(
            "post",
            ORIGINS,
            post(allow_return_origin),
            "Allow an origin for `return_to`",
            Some("AllowOrigin"),
            (201, Some("Any")),
            BODY,
        ),
        op(
            "delete",
            "/return-origins/{origin}",
            delete(remove_return_origin),
            "Remove an allowed origin (percent-encoded in the path)",
            None,
            (204, None),
            BY_ID,
        ),
    ]
}

/// Integrations and the upstream hosts their accounts may use.
fn integration_operations() -> [Operation; 4] {
    const HOSTS: &str = "/integrations/{name}/upstream-hosts";
    [
        op(
            "get",
            "/integrations",
            get(list_integrations),
            "List compiled integrations",
            None,
            (200, Some("Any")),
            AUTH,
        ),
        op(
            "get",
            HOSTS,
            get(upstream_hosts),
            "Hosts an integration's accounts may use: declared by the spec, and allowed",
            None,
            (200, Some("Any")),
            VALIDATED,
        ),
        op(
            "post",
            HOSTS,
            post(allow_upstream_host),
            "Allow a host (or *.suffix) for an integration",
            Some("AllowHost"),
            (201, Some("Any")),
            BODY,
        ),
        op(
            "delete",
            "/integrations/{name}/upstream-hosts/{host}",
            delete(remove_upstream_host),
            "Remove an allowed host",
            None,
            (204, None),
            &[400, 401, 403, 404],
        ),
    ]
}

/// Integrated accounts.
fn account_operations() -> [Operation; 5] {
    const ACCOUNT: &str = "/integrated-account/{id}";
    [
        op(
            "post",
            "/integrated-account",
            post(create_account),
            "Create an integrated account",
            Some("CreateAccount"),
            (201, Some("Account")),
            BODY,
        ),
        op(
            "get",
            "/integrated-account",
            get(list_accounts),
            "List integrated accounts",
            None,
            (200, Some("Any")),
            AUTH,
        ),
        op(
            "get",
            ACCOUNT,
            get(get_account),
            "Get an integrated account",
            None,
            (200, Some("Account")),
            BY_ID,
        ),
        op(
            "patch",
            ACCOUNT,
            patch(update_account),
            "Rename an account, rotate its credentials, or move it (with new credentials)",
            Some("UpdateAccount"),
            (200, Some("Account")),
            BODY_BY_ID,
        ),
        op(
            "delete",
            ACCOUNT,
            delete(delete_account),
            "Delete an account, its MCP servers and its bound API tokens",
            None,
            (204, None),
            BY_ID,
        ),
    ]
}

/// MCP servers of an account.
fn server_operations() -> [Operation; 10] {
    const SERVERS: &str = "/integrated-account/{id}/mcp";
    const SERVER: &str = "/integrated-account/{id}/mcp/{mcp_id}";
    [
        op(
            "post",
            SERVERS,
            post(create_server),
            "Create an MCP server",
            Some("CreateServer"),
            (201, Some("Server")),
            BODY_BY_ID,
        ),
        op(
            "get",
            SERVERS,
            get(list_servers),
            "List MCP servers",
            None,
            (200, Some("Any")),
            BY_ID,
        ),
        op(
            "get",
            SERVER,
            get(get_server),
            "Get an MCP server",
            None,
            (200, Some("Server")),
            BY_ID,
        ),
        op(
            "patch",
            SERVER,
            patch(update_server),
            "Update an MCP server (config is a JSON merge patch)",
            Some("UpdateServer"),
            (200, Some("Server")),
            BODY_BY_ID,
        ),
        op(
            "delete",
            SERVER,
            delete(delete_server),
            "Delete an MCP server",
            None,
            (204, None),
            BY_ID,
        ),
        op(
            "post",
            "/integrated-account/{id}/mcp/{mcp_id}/rotate",
            post(rotate_server),
            "Issue a new URL and revoke the old one",
            None,
            (200, Some("Server")),
            BY_ID,
        ),
        op(
            "get",
            "/integrated-account/{id}/mcp/{mcp_id}/tools",
            get(server_tools),
            "Preview the tools this server exposes; `profile` (full or portable) picks the schemas",
            None,
            (200, Some("Any")),
            &[400, 401, 403, 404],
        ),
        op(
            "get",
            "/integrated-account/{id}/mcp/{mcp_id}/calls",
            get(server_calls),
            "The server's tool calls, newest first; `limit` (1–500, default 100) and `cursor` (the previous page's `next_cursor`) page them. Rows outlive the server.",
            None,
            (200, Some("Any")),
            VALIDATED,
        ),
        op(
            "get",
            "/integrated-account/{id}/mcp/{mcp_id}/grants",
            get(list_grants),
            "The clients signed in to this server with OAuth (its grants), newest first",
            None,
            (200, Some("Any")),
            BY_ID,
        ),
        op(
            "delete",
            "/integrated-account/{id}/mcp/{mcp_id}/grants/{grant_id}",
            delete(revoke_grant),
            "Revoke a grant: its tokens stop working at once on every instance",
            None,
            (204, None),
            BY_ID,
        ),
    ]
}

/// The admin API: every [`operations`] route behind the admin token, and `/openapi.json`.
pub fn router(state: AppState) -> Router {
    let protected = operations()
        .into_iter()
        .fold(Router::new(), |router, operation| {
            router.route(operation.path, operation.handler)
        })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_admin_token,
        ))
        .layer(axum::middleware::from_fn(log_internal_errors))
        .with_state(Provisioner::new(state));
    Router::new()
        .merge(protected)
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .method_not_allowed_fallback(method_not_allowed)
}

/// The admin API's OpenAPI 3.1 document, built from [`operations`].
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
        "require_api_token_auth": {"type": "boolean", "description": "Clients must also send an admin or `mcp`-scoped API token (`Authorization: Bearer` or `X-Api-Key`)."},
        "oauth": {"type": "boolean", "description": "Clients sign in with OAuth 2.1 (ChatGPT, Claude), or send an API token as with require_api_token_auth."},
        "schema_profile": {"type": "string", "enum": ["full", "portable"]},
        "max_result_bytes": {"type": "integer", "minimum": 2000, "maximum": 2000000, "default": 100000, "description": "The most bytes a tools/call result takes: list pages shrink to fit (next_cursor continues after the last item), a larger object is shortened with a note of what was cut."},
        "tool_exposure": {"type": "string", "enum": ["all", "discovery"], "default": "all", "description": "`discovery` lists only search_tools, get_tool_schema and call_tool, over the same tools: for integrations too big to list."},
        "confirm": {"oneOf": [{"type": "string", "enum": ["never", "destructive", "writes"]}, {"type": "array", "minItems": 1, "items": {"type": "string"}}], "default": "never", "description": "Calls that wait for a person's confirmation before anything is sent to the vendor: `destructive` (deletes and overwrites), `writes` (every tool that is not read-only) or the tools named."},
        "confirm_fallback": {"type": "string", "enum": ["refuse", "allow"], "default": "refuse", "description": "Where the client cannot ask the person (no elicitation, or a transport without a stream to ask on): `refuse` the call, saying which clients can confirm it, or `allow` it unconfirmed."}}});
    let error = json!({"type": "object", "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string", "description": "The request field at fault, as a JSON path (`config.max_result_bytes`), when one is."}}}}});
    let account = json!({"type": "object", "properties": {"id": {"type": "string"}, "integration": {"type": "string"}, "name": {"type": "string"}, "base_url": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}, "needs_reconnect": {"type": "boolean", "description": "The vendor refused its refresh token: connect it again (POST /integrated-account/{id}/reconnect)."}}});
    let server = json!({"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig"}, "expires_at": {"type": ["string", "null"], "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"}, "url": {"type": "string", "description": "Only in create and rotate responses, when the public URL is known."}, "mcp_path": {"type": "string", "description": "Only in create and rotate responses."}, "exposes": {"type": "object", "description": "Only in create and update responses: the tools its filters let clients call.", "properties": {"tools": {"type": "integer"}, "read_only": {"type": "integer"}, "writes": {"type": "integer"}, "destructive": {"type": "integer"}}}, "warnings": {"type": "array", "items": {"type": "string"}, "description": "Only when there is something to know, such as more tools than some clients accept (128)."}}});
    let mut paths = serde_json::Map::new();
    for operation in operations() {
        let mut responses = serde_json::Map::new();
        let (status, schema) = operation.success;
        responses.insert(
            status.to_string(),
            match schema {
                Some(schema) => json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}}),
                None => json!({"description": "No content"}),
            },
        );
        for code in operation.errors {
            responses.insert(
                code.to_string(),
                json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        let mut entry = json!({
            "operationId": operation_id(operation.method, operation.path),
            "tags": [operation.tag],
            "summary": operation.summary,
            "responses": responses,
        });
        if let Some(body) = operation.body {
            entry["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        paths.entry(operation.path).or_insert_with(|| json!({}))[operation.method] = entry;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "specgate admin API", "version": env!("CARGO_PKG_VERSION")},
        "security": [{"apiToken": []}],
        "paths": paths,
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
                "SetOAuthApp": {"type": "object", "additionalProperties": false, "required": ["client_id", "client_secret"], "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string", "writeOnly": true}, "authorize_url": {"type": "string", "description": "The spec's by default; for vendors with per-tenant hosts."}, "token_url": {"type": "string", "description": "The spec's by default."}, "scopes": {"type": "array", "items": {"type": "string"}}}},
                "OAuthApp": {"type": "object", "properties": {"integration": {"type": "string"}, "client_id": {"type": "string"}, "authorize_url": {"type": "string"}, "token_url": {"type": "string"}, "token_endpoint_auth": {"type": "string", "enum": ["client_secret_basic", "client_secret_post"]}, "scopes": {"type": "array", "items": {"type": "string"}}, "redirect_uri": {"type": ["string", "null"], "description": "Register this callback URL at the vendor."}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
                "Connect": {"type": "object", "additionalProperties": false, "required": ["integration", "name"], "properties": {"integration": {"type": "string"}, "name": {"type": "string"}, "base_url": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}}, "return_to": {"type": "string", "description": "Where the browser goes afterwards, with `account_id` or `error` added; its origin must be allowed (POST /return-origins)."}}},
                "Reconnect": {"type": "object", "additionalProperties": false, "properties": {"scopes": {"type": "array", "items": {"type": "string"}}, "return_to": {"type": "string"}, "accept_other_identity": {"type": "boolean", "description": "Accept a vendor user or tenant other than the one the account was first connected as; without it such a reconnect changes nothing."}}},
                "ConnectStarted": {"type": "object", "properties": {"authorize_url": {"type": "string", "description": "specgate's start URL: the first browser that opens it is the only one that can finish the connection; it goes on to the vendor's consent."}, "expires_at": {"type": "string", "format": "date-time"}}},
                "AllowOrigin": {"type": "object", "additionalProperties": false, "required": ["origin"], "properties": {"origin": {"type": "string", "description": "https://app.example.com"}}},
                "AllowHost": {"type": "object", "additionalProperties": false, "required": ["host"], "properties": {"host": {"type": "string", "description": "api.example.com, or *.example.com for its subdomains"}}},
                "CreateServer": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {"name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig"}, "expires_at": {"type": "string", "format": "date-time"}}},
                "UpdateServer": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "config": {"$ref": "#/components/schemas/ServerConfig", "description": "A JSON merge patch: fields not sent keep their values."}, "expires_at": {"type": ["string", "null"], "format": "date-time", "description": "null removes the expiry."}}}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_camel_case() {
        assert_eq!(
            operation_id("get", "/integrated-account/{id}/mcp/{mcp_id}/grants"),
            "getIntegratedAccountByIdMcpByMcpIdGrants"
        );
        let ids: std::collections::BTreeSet<String> = operations()
            .iter()
            .map(|o| operation_id(o.method, o.path))
            .collect();
        assert_eq!(ids.len(), operations().len());
        assert!(operations().iter().all(|o| !o.tag.is_empty()));
    }

    #[test]
    fn body_errors_name_the_field_in_json_words() {
        assert_eq!(
            body_error(
                "config.max_result_bytes",
                "invalid type: string \"big\", expected u32 at line 1 column 40"
            ),
            (
                Some("config.max_result_bytes".to_owned()),
                "must be a whole number, 0 or more, not string \"big\"".to_owned()
            )
        );
        assert_eq!(
            body_error(".", "invalid type: sequence, expected struct UpdateAccount"),
            (None, "must be an object, not an array".to_owned())
        );
        assert_eq!(
            body_error("config", "missing field `name`"),
            (Some("config.name".to_owned()), "is required".to_owned())
        );
        assert_eq!(
            body_error(
                "nme",
                "unknown field `nme`, expected one of `name`, `base_url`"
            ),
            (
                Some("nme".to_owned()),
                "is not a field here; valid fields: name, base_url".to_owned()
            )
        );
        assert_eq!(
            body_error(
                "config.tool_exposure",
                "unknown variant `some`, expected `all` or `discovery`"
            ),
            (
                Some("config.tool_exposure".to_owned()),
                "`some` is not one of: all or discovery".to_owned()
            )
        );
    }

    #[test]
    fn every_provisioning_error_has_a_status_and_code() {
        let not_found = ApiError::from(ProvisionError::NotFound {
            resource: crate::provision::Resource::Account,
            id: "x".into(),
        });
        assert_eq!(
            (not_found.status.as_u16(), not_found.code),
            (404, "not_found")
        );
        let internal = ApiError::from(ProvisionError::Internal("disk on fire".into()));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !internal.message.contains("disk"),
            "internals never reach the client"
        );
        assert_eq!(
            internal.internal.as_deref(),
            Some("internal error: disk on fire")
        );
    }
}
