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

use specgate_wire::oauth::{RedirectTarget, redirect_target};

use crate::grants::{
    AuthorizationRequest, Consent, ConsentError, OAuthError, RESOURCE_SUFFIXES,
    RegistrationRequest, TokenRequest,
};
use crate::limiter::{AddressLimiter, SignInLimits};
use crate::peer::ClientAddress;
use crate::state::AppState;
use crate::store::{Confirm, ConfirmFallback, now};
use crate::web;

/// Failed consent sign-ins one address may make per minute.
const SIGN_IN_FAILURES: u32 = 5;
/// Failed sign-ins at one MCP server's consent from all addresses together per minute before
/// every sign-in there waits its turn (see [`SignInLimits`]).
const SIGN_IN_TARGET_FAILURES: u32 = 20;
/// Registrations one address may make per minute.
const REGISTRATIONS: u32 = 10;
/// How long a consent page may be answered, and a sign-in on it lasts.
const CONSENT_SECS: i64 = 600;
/// The largest registration body read.
const MAX_REGISTRATION_BYTES: usize = 16 * 1024;

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

/// The discovery documents and the authorization server's endpoints. The documents, the
/// registration, token and revocation endpoints answer browser-based clients too (CORS, any
/// origin, no cookies); the consent page is a page, and same-origin.
pub fn router(state: AppState) -> Router {
    let oauth = OAuth {
        state,
        sign_ins: Arc::new(SignInLimits::new(
            SIGN_IN_FAILURES,
            SIGN_IN_TARGET_FAILURES,
            Duration::from_secs(60),
        )),
        registrations: Arc::new(AddressLimiter::new(REGISTRATIONS, Duration::from_secs(60))),
    };
    let cross_origin = RESOURCE_SUFFIXES
        .iter()
        .fold(Router::new(), |router, suffix| {
            router.route(
                &format!("/.well-known/oauth-protected-resource/mcp/{{token}}{suffix}"),
                get(protected_resource),
            )
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
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        // MCP 2025-03-26's default endpoints, relative to the issuer: clients that lose the
        // metadata (fastmcp after a restart) refresh at `<issuer>/token` rather than send the
        // person through consent again and leave the old grant behind.
        .route("/register", post(register))
        .route("/token", post(token))
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([http::Method::GET, http::Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    http::HeaderName::from_static("mcp-protocol-version"),
                ])
                .max_age(Duration::from_secs(86_400)),
        );
    cross_origin
        .route(
            "/oauth/authorize",
            get(authorize_page).post(authorize_decision),
        )
        .route("/authorize", get(authorize_page).post(authorize_decision))
        .with_state(oauth)
}

/// RFC 9728 metadata of an `oauth` MCP server, whose `resource` is the URL it was asked for
/// (with its transport suffix); 404 for any other URL, so a header-only or unknown server
/// publishes nothing.
async fn protected_resource(
    State(state): State<AppState>,
    Path(token): Path<String>,
    uri: http::Uri,
) -> Response {
    let suffix = uri
        .path()
        .split_once(&format!("/mcp/{token}"))
        .map_or("", |(_, suffix)| suffix);
    let Some(resource) = state.resource_of(&token, suffix) else {
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
            "authorization_response_iss_parameter_supported": true,
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
        OAuthError::TemporarilyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
    if body.len() > MAX_REGISTRATION_BYTES {
        return error_response(&OAuthError::InvalidClientMetadata(format!(
            "the registration is larger than {MAX_REGISTRATION_BYTES} bytes"
        )));
    }
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
    match state.token(request).await {
        Ok(tokens) => json_response(StatusCode::OK, json!(tokens)),
        Err(error) => error_response(&error),
    }
}

fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(|value| web::credentials_of(value, "Basic"))?;
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

/// `GET /oauth/authorize`: the sign-in page of a checked request, or an error page. Nothing
/// here redirects: the request's client may be anyone's registration.
async fn authorize_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let request = match parse::<AuthorizationRequest>(query.unwrap_or_default().as_bytes()) {
        Ok((request, _)) => request,
        Err(error) => return error_page(&error),
    };
    match state.check_authorization(request).await {
        Ok(consent) => sign_in_page(&state, &consent, None, StatusCode::OK),
        Err(error) => error_page(&error),
    }
}

/// `POST /oauth/authorize`: the person's sign-in (`decision=sign_in`, with an API token),
/// then their decision (`allow` or `deny`, with the sealed sign-in the review page holds).
/// Only a signed-in decision goes back to the client's redirect URI.
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
    let expired = || {
        error_page(&OAuthError::InvalidRequest(
            "this consent page expired or was changed; start connecting again from the client"
                .to_owned(),
        ))
    };
    let state = &oauth.state;
    if text("decision") == "sign_in" {
        if sealed_valid(state, &request, CSRF, text("csrf")).is_none() {
            return expired();
        }
        return sign_in(&oauth, address, request, text("api_token").trim()).await;
    }
    let Some(api_token_id) = sealed_valid(state, &request, SIGNED_IN, text("signed_in")) else {
        return expired();
    };
    if text("decision") != "allow" {
        return match state.check_authorization(request).await {
            Ok(consent) => redirect_with(
                &consent.request.redirect_uri,
                &[("error", "access_denied")],
                consent.request.state.as_deref(),
                state.issuer().as_deref(),
            ),
            Err(error) => error_page(&error),
        };
    }
    match state.consent(request.clone(), &api_token_id).await {
        Ok((consent, code)) => redirect_with(
            &consent.request.redirect_uri,
            &[("code", code.as_str())],
            consent.request.state.as_deref(),
            state.issuer().as_deref(),
        ),
        Err(ConsentError::SignIn(message)) => match state.check_authorization(request).await {
            Ok(consent) => sign_in_page(state, &consent, Some(message), StatusCode::UNAUTHORIZED),
            Err(error) => error_page(&error),
        },
        Err(ConsentError::Request(error)) => error_page(&error),
    }
}

/// A sign-in on the consent page: limited per address and per server; on success, the page
/// that names the server and asks for the decision.
async fn sign_in(
    oauth: &OAuth,
    address: std::net::IpAddr,
    request: AuthorizationRequest,
    api_token: &str,
) -> Response {
    let state = &oauth.state;
    // Failed sign-ins are counted at the MCP server being consented to.
    let target = request.resource.clone().unwrap_or_default();
    if let Err(refusal) = oauth.sign_ins.admit(address, &target).await {
        return match state.check_authorization(request).await {
            Ok(consent) => sign_in_page(
                state,
                &consent,
                Some(&refusal.to_string()),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            Err(error) => error_page(&error),
        };
    }
    match state.sign_in_to_consent(request.clone(), api_token).await {
        Ok((consent, token)) => review_page(state, &consent, &token.id),
        Err(ConsentError::SignIn(message)) => {
            oauth.sign_ins.failed(address, &target);
            match state.check_authorization(request).await {
                Ok(consent) => {
                    sign_in_page(state, &consent, Some(message), StatusCode::UNAUTHORIZED)
                }
                Err(error) => error_page(&error),
            }
        }
        Err(ConsentError::Request(error)) => error_page(&error),
    }
}

/// What a sealed form value proves: the sign-in form was served here (`CSRF`), or a person
/// signed in with an API token (`SIGNED_IN`, holding its id).
const CSRF: &str = "csrf";
const SIGNED_IN: &str = "signed-in";

/// What a consent form's sealed values are bound to: their purpose and the request they
/// answer.
fn binding(request: &AuthorizationRequest, purpose: &str) -> Vec<u8> {
    serde_json::to_vec(&json!([
        purpose,
        request.client_id,
        request.redirect_uri,
        request.resource,
        request.code_challenge,
        request.state,
    ]))
    .unwrap_or_default()
}

/// `value` sealed for ten minutes, for `purpose`, bound to `request`.
fn sealed(state: &AppState, request: &AuthorizationRequest, purpose: &str, value: &str) -> String {
    let expires = now() + CONSENT_SECS;
    state
        .keys
        .seal_bound(
            json!([expires, value]).to_string().as_bytes(),
            &binding(request, purpose),
        )
        .unwrap_or_default()
}

/// The value a live [`sealed`] token for `purpose` and `request` holds.
fn sealed_valid(
    state: &AppState,
    request: &AuthorizationRequest,
    purpose: &str,
    token: &str,
) -> Option<String> {
    let bytes = state
        .keys
        .open_bound(token, &binding(request, purpose))
        .ok()?;
    let (expires, value): (i64, String) = serde_json::from_slice(&bytes).ok()?;
    (expires > now()).then_some(value)
}

/// A 303 to `redirect_uri` with `pairs` and `state` added to its query.
/// The redirect back to the client with `pairs`, its `state` and, per RFC 9207, the `iss`
/// that lets it tell this authorization server's answer from a mix-up.
fn redirect_with(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
    issuer: Option<&str>,
) -> Response {
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
        if let Some(issuer) = issuer {
            query.append_pair("iss", issuer);
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
    match redirect_target(redirect_uri)? {
        RedirectTarget::Web(origin) | RedirectTarget::Loopback(origin) => Some(origin),
        RedirectTarget::App(scheme) => Some(scheme),
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

/// Who asks: a registered client's name is its own claim, so it is marked unverified; a
/// metadata-document client is known by the host that serves its document. Then where an
/// answer goes: a web origin in full, a program on this computer, or the app that opens a
/// scheme's links.
fn who_asks(consent: &Consent) -> Markup {
    let client = &consent.client;
    let document_host = (!client.registered)
        .then(|| reqwest::Url::parse(&client.client_id).ok())
        .flatten()
        .and_then(|u| u.host_str().map(str::to_owned));
    let target = redirect_target(&consent.request.redirect_uri);
    html! {
        p {
            strong { (client.name) }
            @match &document_host {
                Some(host) => { " (verified: " strong { (host) } " serves its description)" }
                None => { " " span.badge { "unverified" } " (a name the client gave itself)" }
            }
            " asks to use an MCP server of this specgate."
        }
        p.hint {
            "If you allow it, you are sent to "
            @match target {
                Some(RedirectTarget::Web(origin)) => { strong { (origin) } }
                Some(RedirectTarget::Loopback(origin)) => { "a program on this computer (" strong { (origin) } ")" }
                Some(RedirectTarget::App(scheme)) => { "the app that opens " strong { (scheme) } " links" }
                None => { strong { (consent.request.redirect_uri) } }
            }
            "."
        }
    }
}

/// The form's hidden copy of the request.
fn hidden_request(request: &AuthorizationRequest) -> Markup {
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
    html! {
        @for (name, value) in hidden {
            @if let Some(value) = value {
                input type="hidden" name=(name) value=(value);
            }
        }
    }
}

/// The first page: who asks, and the sign-in. The server and its account are named only
/// after sign-in, so a leaked authorization link tells nothing about them. The sign-in is
/// one fieldset, so another method (an outside identity provider) can sit beside it.
fn sign_in_page(
    state: &AppState,
    consent: &Consent,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let request = &consent.request;
    let body = html! {
        (who_asks(consent))
        form.card method="post" action="/oauth/authorize" {
            (hidden_request(request))
            input type="hidden" name="csrf" value=(sealed(state, request, CSRF, ""));
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
            button type="submit" name="decision" value="sign_in" { "Sign in" }
        }
        p.hint { "To refuse, close this page: nothing is shared until you sign in and allow it." }
    };
    with_security_headers(
        (status, layout("Connect a client", body)).into_response(),
        None,
    )
}

/// The second page, after sign-in: which server of which account, what it can do, how long
/// access lasts and where to end it; then Allow or Deny.
/// A confirmation policy in words.
fn confirm_policy(confirm: &Confirm) -> &'static str {
    match confirm {
        Confirm::Never => "none",
        Confirm::Destructive => "those that delete or overwrite",
        Confirm::Writes => "those that change data",
        Confirm::Tools(_) => "chosen by the operator",
    }
}

fn review_page(state: &AppState, consent: &Consent, api_token_id: &str) -> Response {
    let request = &consent.request;
    let access = if consent.read_only {
        "read-only"
    } else {
        "read and write"
    };
    let body = html! {
        (who_asks(consent))
        p {
            "It asks for the MCP server " strong { (consent.server.name) }
            " of " strong { (consent.account.name) } ": " (consent.tool_count) " tools, " (access) "."
        }
        p #confirmations {
            @if consent.confirmed_tools == 0 {
                "The client may call them without asking you again."
            } @else {
                "Calls of " strong { (consent.confirmed_tools) } " of them (" (confirm_policy(&consent.server.config.confirm)) ") wait for your confirmation in the client each time, where the client can ask; "
                @match consent.server.config.confirm_fallback {
                    ConfirmFallback::Refuse => "where it cannot, they are refused.",
                    ConfirmFallback::Allow => "where it cannot, they run unconfirmed.",
                }
            }
        }
        p.hint {
            "Access lasts until it is revoked: each access token lasts an hour, and the client renews it for as long as it keeps using the server (30 days unused ends it). "
            "Revoke it on this server's page in the specgate console (Signed-in clients), or by revoking the API token you signed in with."
        }
        form.card method="post" action="/oauth/authorize" {
            (hidden_request(request))
            input type="hidden" name="signed_in" value=(sealed(state, request, SIGNED_IN, api_token_id));
            button type="submit" name="decision" value="allow" { "Allow" }
            " "
            button.secondary type="submit" name="decision" value="deny" { "Deny" }
        }
    };
    with_security_headers(
        (StatusCode::OK, layout("Allow this client?", body)).into_response(),
        csp_source(&request.redirect_uri).as_deref(),
    )
}
