//! The OAuth face: the authorization server's HTTP endpoints over `grants`. Discovery
//! (RFC 8414 authorization server metadata, RFC 9728 protected resource metadata at each MCP
//! URL's inserted path), registration (RFC 7591), the consent page, the token endpoint and
//! revocation (RFC 7009). Error answers follow RFC 6749.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Path, RawForm, RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{Markup, html};
use serde_json::{Value, json};

use crate::grants::{
    AuthorizationRequest, AuthorizeError, Consent, ConsentError, OAuthError, RegistrationRequest,
    TokenRequest,
};
use crate::limiter::{AddressLimiter, SignInLimits};
use crate::peer::ClientAddress;
use crate::state::AppState;
use crate::store::now;
use crate::web;

/// Failed consent sign-ins one address may make per minute.
const SIGN_IN_FAILURES: u32 = 5;
/// Failed sign-ins at one MCP server's consent from all addresses together per minute before
/// every sign-in there waits its turn (see [`SignInLimits`]).
const SIGN_IN_TARGET_FAILURES: u32 = 20;
/// Registrations one address may make per minute.
const REGISTRATIONS: u32 = 10;
/// How long a consent page may be answered.
const CONSENT_SECS: i64 = 600;

/// The OAuth endpoints' state: the core's, and this process's per-address limits.
#[derive(Clone)]
struct OAuth {
    state: AppState,
    sign_ins: Arc<SignInLimits>,
    registrations: Arc<AddressLimiter>,
}

impl FromRef<OAuth> for AppState {
    fn from_ref(oauth: &OAuth) -> Self {
        oauth.state.clone()
    }
}

/// The MCP transport paths whose protected resource metadata is served.
const RESOURCE_PATHS: [&str; 6] = [
    "/.well-known/oauth-protected-resource/mcp/{token}",
    "/.well-known/oauth-protected-resource/mcp/{token}/portable",
    "/.well-known/oauth-protected-resource/mcp/{token}/sse",
    "/.well-known/oauth-protected-resource/mcp/{token}/portable/sse",
    "/.well-known/oauth-protected-resource/mcp/{token}/messages",
    "/.well-known/oauth-protected-resource/mcp/{token}/portable/messages",
];

/// The discovery documents and the authorization server's endpoints.
pub fn router(state: AppState) -> Router {
    let router = RESOURCE_PATHS
        .iter()
        .fold(Router::new(), |router, path| {
            router.route(path, get(protected_resource))
        })
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route(
            "/.well-known/openid-configuration",
            get(authorization_server),
        )
        .route("/oauth/register", post(register))
        .route(
            "/oauth/authorize",
            get(authorize_page).post(authorize_decision),
        )
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke));
    router.with_state(OAuth {
        state,
        sign_ins: Arc::new(SignInLimits::new(
            SIGN_IN_FAILURES,
            SIGN_IN_TARGET_FAILURES,
            Duration::from_secs(60),
        )),
        registrations: Arc::new(AddressLimiter::new(REGISTRATIONS, Duration::from_secs(60))),
    })
}

/// RFC 9728 metadata of an `oauth` MCP server; 404 for any other URL, so a header-only or
/// unknown server publishes nothing.
async fn protected_resource(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(resource) = state.resource_of(&token) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state.resource_server(&resource).await {
        Ok(_) => json_response(
            StatusCode::OK,
            json!({
                "resource": resource,
                "authorization_servers": [state.issuer()],
                "bearer_methods_supported": ["header"],
                "resource_name": "specgate MCP server",
            }),
        ),
        Err(OAuthError::Store(error)) => {
            tracing::error!(%error, "protected resource metadata failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// RFC 8414 authorization server metadata.
async fn authorization_server(State(state): State<AppState>) -> Response {
    let issuer = state.issuer().unwrap_or_default();
    json_response(
        StatusCode::OK,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "registration_endpoint": format!("{issuer}/oauth/register"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "client_id_metadata_document_supported": true,
        }),
    )
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An OAuth error as JSON: `invalid_client` is 401, a server failure 500, the rest 400.
fn error_response(error: &OAuthError) -> Response {
    let status = match error {
        OAuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
        OAuthError::Store(_) | OAuthError::Internal(_) => {
            tracing::error!(%error, "OAuth request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let description = match error {
        OAuthError::Store(_) | OAuthError::Internal(_) => {
            "internal error; see the server log".to_owned()
        }
        other => other.to_string(),
    };
    let mut response = json_response(
        status,
        json!({"error": error.code(), "error_description": description}),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"specgate\""),
        );
    }
    response
}

/// `POST /oauth/register`: a public client (RFC 7591).
async fn register(
    State(oauth): State<OAuth>,
    ClientAddress(address): ClientAddress,
    body: axum::body::Bytes,
) -> Response {
    if oauth.registrations.blocked(address).is_some() {
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "slow_down", "error_description": "too many registrations from this address; try again in a minute"}),
        );
    }
    oauth.registrations.record(address);
    let request: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error_response(&OAuthError::InvalidClientMetadata(format!(
                "the body is not client metadata JSON: {e}"
            )));
        }
    };
    match oauth.state.register_client(request).await {
        Ok(registration) => json_response(StatusCode::CREATED, json!(registration)),
        Err(error) => error_response(&error),
    }
}

/// A form or query string as a JSON object, refusing repeated parameters (RFC 6749 3.1).
fn parameters(raw: &[u8]) -> Result<serde_json::Map<String, Value>, OAuthError> {
    specgate_wire::oauth::parameters(raw).map_err(|repeated| {
        OAuthError::InvalidRequest(format!(
            "`{}` is repeated",
            crate::provision::printable(&repeated.0)
        ))
    })
}

fn parse<T: serde::de::DeserializeOwned>(
    raw: &[u8],
) -> Result<(T, serde_json::Map<String, Value>), OAuthError> {
    let object = parameters(raw)?;
    let parsed = serde_json::from_value(Value::Object(object.clone()))
        .map_err(|e| OAuthError::InvalidRequest(format!("malformed parameters: {e}")))?;
    Ok((parsed, object))
}

/// `POST /oauth/token`.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Response {
    let (mut request, _) = match parse::<TokenRequest>(&raw) {
        Ok(parsed) => parsed,
        Err(error) => return error_response(&error),
    };
    // A client that authenticates with HTTP Basic anyway names itself there.
    if request.client_id.is_none()
        && let Some(id) = basic_client_id(&headers)
    {
        request.client_id = Some(id);
    }
    if let Some(client_id) = request.client_id.as_deref()
        && let Err(error) = known_client(&state, client_id).await
    {
        return error_response(&error);
    }
    match state.token(request).await {
        Ok(tokens) => json_response(StatusCode::OK, json!(tokens)),
        Err(error) => error_response(&error),
    }
}

async fn known_client(state: &AppState, client_id: &str) -> Result<(), OAuthError> {
    match state.store.find_client(client_id).await? {
        Some(_) => Ok(()),
        None => Err(OAuthError::InvalidClient(format!(
            "unknown client `{}`",
            crate::provision::printable(client_id)
        ))),
    }
}

fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let id = text.split_once(':').map_or(text.as_str(), |(id, _)| id);
    form_urlencoded::parse(format!("id={id}").as_bytes())
        .next()
        .map(|(_, id)| id.into_owned())
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was live.
async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Response {
    let object = match parameters(&raw) {
        Ok(object) => object,
        Err(error) => return error_response(&error),
    };
    let Some(token) = object.get("token").and_then(Value::as_str) else {
        return error_response(&OAuthError::InvalidRequest("token is required".to_owned()));
    };
    let client_id = object
        .get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| basic_client_id(&headers));
    match state.revoke_token(token, client_id.as_deref()).await {
        Ok(()) => json_response(StatusCode::OK, json!({})),
        Err(error) => error_response(&error),
    }
}

/// `GET /oauth/authorize`: the consent page, an error page, or (for a request whose client
/// and redirect URI check out but whose rest does not) the error at the redirect URI.
async fn authorize_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let request = match parse::<AuthorizationRequest>(query.unwrap_or_default().as_bytes()) {
        Ok((request, _)) => request,
        Err(error) => return error_page(&error),
    };
    match state.check_authorization(request).await {
        Ok(consent) => consent_page(&state, &consent, None, StatusCode::OK),
        Err(error) => authorize_error(error),
    }
}

/// `POST /oauth/authorize`: the person's decision.
async fn authorize_decision(
    State(oauth): State<OAuth>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Response {
    let (request, fields) = match parse::<AuthorizationRequest>(&raw) {
        Ok(parsed) => parsed,
        Err(error) => return error_page(&error),
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or_default();
    if let Some(refusal) = web::foreign_origin(&headers) {
        return error_page(&OAuthError::InvalidRequest(refusal));
    }
    if !csrf_valid(&oauth.state, &request, text("csrf")) {
        return error_page(&OAuthError::InvalidRequest(
            "this consent page expired or was changed; start connecting again from the client"
                .to_owned(),
        ));
    }
    if text("decision") != "allow" {
        return match oauth.state.check_authorization(request).await {
            Ok(consent) => redirect_with(
                &consent.request.redirect_uri,
                &[("error", "access_denied")],
                consent.request.state.as_deref(),
            ),
            Err(error) => authorize_error(error),
        };
    }
    // Failed sign-ins are counted at the MCP server being consented to.
    let target = request.resource.clone().unwrap_or_default();
    if let Err(refusal) = oauth.sign_ins.admit(address, &target).await {
        return match oauth.state.check_authorization(request).await {
            Ok(consent) => consent_page(
                &oauth.state,
                &consent,
                Some(&refusal.to_string()),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            Err(error) => authorize_error(error),
        };
    }
    match oauth
        .state
        .consent(request.clone(), text("api_token").trim())
        .await
    {
        Ok((consent, code)) => redirect_with(
            &consent.request.redirect_uri,
            &[("code", code.as_str())],
            consent.request.state.as_deref(),
        ),
        Err(ConsentError::SignIn(message)) => {
            oauth.sign_ins.failed(address, &target);
            match oauth.state.check_authorization(request).await {
                Ok(consent) => consent_page(
                    &oauth.state,
                    &consent,
                    Some(message),
                    StatusCode::UNAUTHORIZED,
                ),
                Err(error) => authorize_error(error),
            }
        }
        Err(ConsentError::Authorize(error)) => authorize_error(error),
    }
}

/// What the consent form's CSRF token is bound to: the request it answers.
fn csrf_binding(request: &AuthorizationRequest) -> Vec<u8> {
    serde_json::to_vec(&json!([
        request.client_id,
        request.redirect_uri,
        request.resource,
        request.code_challenge,
        request.state,
    ]))
    .unwrap_or_default()
}

fn csrf_token(state: &AppState, request: &AuthorizationRequest) -> String {
    let expires = (now() + CONSENT_SECS).to_string();
    state
        .keys
        .seal_bound(expires.as_bytes(), &csrf_binding(request))
        .unwrap_or_default()
}

fn csrf_valid(state: &AppState, request: &AuthorizationRequest, token: &str) -> bool {
    state
        .keys
        .open_bound(token, &csrf_binding(request))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<i64>().ok())
        .is_some_and(|expires| expires > now())
}

fn authorize_error(error: AuthorizeError) -> Response {
    match error {
        AuthorizeError::Page(error) => error_page(&error),
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
        } => {
            let description = error.to_string();
            redirect_with(
                &redirect_uri,
                &[("error", error.code()), ("error_description", &description)],
                state.as_deref(),
            )
        }
    }
}

/// A 303 to `redirect_uri` with `pairs` and `state` added to its query.
fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let Ok(mut url) = reqwest::Url::parse(redirect_uri) else {
        return error_page(&OAuthError::InvalidRequest(
            "the redirect URI is not a URL".to_owned(),
        ));
    };
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in pairs {
            query.append_pair(key, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    with_security_headers(response, None)
}

/// The security headers of every page here; `form_target` is the origin (or scheme) the
/// consent form's answer redirects to, which `form-action` must allow.
fn with_security_headers(mut response: Response, form_target: Option<&str>) -> Response {
    let form_action = match form_target {
        Some(target) => format!("'self' {target}"),
        None => "'self'".to_owned(),
    };
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    // Origins and schemes are ASCII, so the policy is always a header value; were it not,
    // no form could post.
    let policy = HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'; form-action 'none'"));
    web::set_page_headers(response.headers_mut(), policy);
    response
}

/// Where a redirect URI's answer goes, as a CSP source: its origin, or its scheme.
fn csp_source(redirect_uri: &str) -> Option<String> {
    let url = reqwest::Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "https" | "http" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

fn layout(title: &str, body: Markup) -> Html<String> {
    web::document(title, html! { span.brand { "specgate" } }, body, None)
}

fn error_page(error: &OAuthError) -> Response {
    let status = match error {
        OAuthError::Store(_) | OAuthError::Internal(_) => {
            tracing::error!(%error, "OAuth authorization failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    let message = match error {
        OAuthError::Store(_) | OAuthError::Internal(_) => {
            "internal error; see the server log".to_owned()
        }
        other => other.to_string(),
    };
    let body = html! {
        p.error role="alert" { (message) }
        p.hint { "Nothing was shared. Start connecting again from the client." }
    };
    with_security_headers(
        (status, layout("Cannot connect", body)).into_response(),
        None,
    )
}

/// The consent page: who asks, for what, and the sign-in that allows it. The sign-in is one
/// fieldset, so another method (an outside identity provider) can sit beside it.
fn consent_page(
    state: &AppState,
    consent: &Consent,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let request = &consent.request;
    let redirect_host = reqwest::Url::parse(&request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| request.redirect_uri.clone());
    let client_host = reqwest::Url::parse(&consent.client.client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let access = if consent.read_only {
        "read-only"
    } else {
        "read and write"
    };
    let hidden = [
        ("response_type", Some(request.response_type.as_str())),
        ("client_id", Some(request.client_id.as_str())),
        ("redirect_uri", Some(request.redirect_uri.as_str())),
        ("state", request.state.as_deref()),
        ("code_challenge", Some(request.code_challenge.as_str())),
        (
            "code_challenge_method",
            request.code_challenge_method.as_deref(),
        ),
        ("resource", request.resource.as_deref()),
        ("scope", request.scope.as_deref()),
    ];
    let body = html! {
        p {
            strong { (consent.client.name) }
            @if let Some(host) = &client_host { " (" (host) ")" }
            " asks to use the MCP server " strong { (consent.server.name) }
            " of " (consent.account.name) ": " (consent.tool_count) " tools, " (access) "."
        }
        p.hint { "If you allow it, you are sent back to " strong { (redirect_host) } "." }
        form.card method="post" action="/oauth/authorize" {
            @for (name, value) in hidden {
                @if let Some(value) = value {
                    input type="hidden" name=(name) value=(value);
                }
            }
            input type="hidden" name="csrf" value=(csrf_token(state, request));
            fieldset {
                legend { "Sign in with an API token" }
                label for="api_token" { "API token (admin, or mcp scope for this account)" }
                input #api_token name="api_token" type="password" autocomplete="off"
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[error.map(|_| "api_token-error")];
                @if let Some(error) = error {
                    p.error #api_token-error role="alert" { (error) }
                }
            }
            button type="submit" name="decision" value="allow" { "Allow" }
            " "
            button.secondary type="submit" name="decision" value="deny" { "Deny" }
        }
    };
    with_security_headers(
        (status, layout("Connect a client", body)).into_response(),
        csp_source(&request.redirect_uri).as_deref(),
    )
}
