//! The operators' web console at `/console`: server-rendered HTML over the same
//! [`Provisioner`] as the admin API, with a little progressive JavaScript (copy buttons and
//! the live tool preview). Its assets are compiled in.
//!
//! Sign-in takes an admin API token. The cookie holds an opaque session id whose hash is
//! stored with the token's id, so revoking the token ends the session. Every form carries
//! the session's CSRF token, every POST with an `Origin` must come from this host, and every
//! response carries a strict Content-Security-Policy. Secrets are write-only: credential
//! inputs are never filled back in, and an MCP URL is shown once, right after it is made.
//!
//! The HTML is written with `format!` and [`esc`]: the template crates this field uses are
//! proc macros on syn 2, and the workspace keeps one syn major version (syn 3, for codegen).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::FromRef;
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, Path, Query, RawForm, RawQuery, Request, State,
};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use specgate_runtime::{AuthKind, Integration};

use crate::call::Credentials;
use crate::catalog::tag_values;
use crate::provision::{
    AccountView, CreateAccount, CreateServer, Field, ProvisionError, Provisioner, ServerView,
    UpdateAccount, UpdateServer,
};
use crate::state::AppState;
use crate::store::{ConsoleSession, Filter, SchemaProfile, ServerConfig, TokenScope, now};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "specgate_console";
/// How long a session lasts.
const SESSION_SECS: i64 = 12 * 3600;
/// Failed sign-ins one address may make per [`SIGN_IN_WINDOW`].
const SIGN_IN_FAILURES: u32 = 5;
const SIGN_IN_WINDOW: Duration = Duration::from_secs(60);
/// Addresses whose failures are remembered at most; past it the oldest window is forgotten.
const SIGN_IN_ADDRESSES: usize = 10_000;

/// Sent on every console response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../console/console.css");
const JS: &str = include_str!("../console/console.js");

/// Failed sign-ins by client address.
#[derive(Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl SignInLimiter {
    /// How long `address` must still wait, if it has used up its failures.
    fn blocked(&self, address: IpAddr) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (count, since) = failures.get(&address)?;
        let left = SIGN_IN_WINDOW.checked_sub(since.elapsed())?;
        (*count >= SIGN_IN_FAILURES).then_some(left)
    }

    fn fail(&self, address: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= SIGN_IN_ADDRESSES {
            failures.retain(|_, (_, since)| since.elapsed() < SIGN_IN_WINDOW);
        }
        let entry = failures.entry(address).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= SIGN_IN_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

/// The console's routes, under `/console`.
/// The console's state: the core's, and the sign-in limits of this process.
#[derive(Clone)]
struct Console {
    state: AppState,
    sign_ins: std::sync::Arc<SignInLimiter>,
}

impl axum::extract::FromRef<Console> for AppState {
    fn from_ref(console: &Console) -> Self {
        console.state.clone()
    }
}

impl axum::extract::FromRef<Console> for std::sync::Arc<SignInLimiter> {
    fn from_ref(console: &Console) -> Self {
        console.sign_ins.clone()
    }
}

/// The console's routes, to be nested at `/console`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/assets/console.css", get(|| asset("text/css", CSS)))
        .route("/assets/console.js", get(|| asset("text/javascript", JS)))
        .route("/integrations/{name}", get(integration_page))
        .route("/accounts/new", get(new_account_page))
        .route("/accounts", post(create_account))
        .route("/accounts/{id}", get(account_page).post(update_account))
        .route("/accounts/{id}/delete", post(delete_account))
        .route("/accounts/{id}/preview", get(preview))
        .route("/accounts/{id}/servers", post(create_server))
        .route(
            "/accounts/{id}/servers/{sid}",
            get(server_page).post(update_server),
        )
        .route("/accounts/{id}/servers/{sid}/rotate", post(rotate_server))
        .route("/accounts/{id}/servers/{sid}/delete", post(delete_server))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(Console {
            state,
            sign_ins: std::sync::Arc::default(),
        })
}

/// The security headers every console response carries; also logs the internal failure
/// behind a 500.
async fn security_headers(mut response: Response) -> Response {
    if let Some(InternalFailure(error)) = response.extensions().get::<InternalFailure>() {
        tracing::error!(%error, "console operation failed");
    }
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        // Not `no-referrer`: under it browsers send `Origin: null` on this site's own forms.
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ] {
        headers.insert(name, value);
    }
    response
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Escapes text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A signed-in request; anything else is sent to the sign-in page.
struct Signed(ConsoleSession);

impl<S: Send + Sync> FromRequestParts<S> for Signed
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        let state = AppState::from_ref(state);
        let Some(id) = session_cookie(&parts.headers) else {
            return Err(Redirect::to("/console/login").into_response());
        };
        match state
            .store
            .find_session(&state.keys.hash_token(id), now())
            .await
        {
            Ok(Some(session)) => Ok(Self(session)),
            Ok(None) => Err(Redirect::to("/console/login").into_response()),
            Err(error) => Err(ConsoleError::internal(error).into_response()),
        }
    }
}

/// A form posted by a signed-in operator, from this site and with the session's CSRF token
/// (see [`check_post`]); anything else is refused before the handler runs. It reads the body,
/// so it comes last among a handler's arguments.
struct SignedPost {
    session: ConsoleSession,
    form: Form,
}

impl<S: Send + Sync> FromRequest<S> for SignedPost
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Signed(session) = Signed::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let RawForm(raw) = RawForm::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Form::parse(&raw);
        match check_post(&headers, Some(&session), &form) {
            Some(refused) => Err(refused),
            None => Ok(Self { session, form }),
        }
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// A submitted form, with repeated keys kept (checkbox groups and multi-selects).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(raw: &[u8]) -> Self {
        Self(form_urlencoded::parse(raw).into_owned().collect())
    }

    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A non-empty trimmed value.
    fn some(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim().to_owned()).filter(|v| !v.is_empty())
    }
}

/// The refusal of a POST that a different site made: a foreign `Origin`, or a missing or wrong
/// CSRF token.
fn check_post(
    headers: &HeaderMap,
    session: Option<&ConsoleSession>,
    form: &Form,
) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let same = origin
            .split_once("://")
            .is_some_and(|(_, authority)| Some(authority) == host);
        if !same {
            return Some(forbidden(&format!(
                "this form was sent from another site (`Origin: {origin}`, this host is `{}`)",
                host.unwrap_or_default()
            )));
        }
    }
    if let Some(session) = session
        && !constant_time_eq(form.get("csrf").as_bytes(), session.csrf_token.as_bytes())
    {
        return Some(forbidden(
            "the form's CSRF token is missing or stale; reload the page",
        ));
    }
    None
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            "Refused",
            None,
            &format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message)),
        ),
    )
        .into_response()
}

/// A whole page. `session` adds the navigation and sign-out.
fn page(title: &str, session: Option<&ConsoleSession>, body: &str) -> Html<String> {
    let nav = session.map_or_else(String::new, |s| {
        format!(
            "<nav aria-label=\"Main\"><a href=\"/console\">Integrations and accounts</a><a href=\"/console/accounts/new\">New account</a>\
             <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form></nav>",
            esc(&s.csrf_token)
        )
    });
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · specgate</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\"><script src=\"/console/assets/console.js\" defer></script></head>\
         <body><header><a class=\"brand\" href=\"/console\">specgate</a>{nav}</header><main><h1>{title}</h1>{body}</main></body></html>",
        title = esc(title),
    ))
}

/// Why a console action failed: a provisioning rule, a form field the console reads itself,
/// or a failure inside (logged by [`security_headers`], never shown).
#[derive(Debug, thiserror::Error)]
enum ConsoleError {
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("{message}")]
    Form {
        field: &'static str,
        message: String,
    },
    #[error("internal error; see the server log")]
    Internal(String),
}

impl ConsoleError {
    fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Provision(
                ProvisionError::NotFound { .. } | ProvisionError::HostNotListed { .. },
            ) => StatusCode::NOT_FOUND,
            Self::Provision(ProvisionError::Store(_) | ProvisionError::Internal(_))
            | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Provision(ProvisionError::NoTools | ProvisionError::InvalidConfig(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Provision(_) | Self::Form { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The form field the error concerns (`form` for the whole form).
    fn field(&self) -> &'static str {
        match self {
            Self::Form { field, .. } => field,
            Self::Provision(error) => match error.field() {
                Some(Field::TokenUrl) => "token_url",
                Some(Field::Config) | Some(Field::Limit) | Some(Field::Cursor)
                | Some(Field::Scope) | Some(Field::Host) | None => "form",
                Some(field) => field.as_str(),
            },
            Self::Internal(_) => "form",
        }
    }

    /// What the operator reads: the error, with the way to allow a host where one is refused.
    fn message(&self) -> String {
        match self {
            Self::Provision(
                error @ ProvisionError::HostNotAllowed {
                    integration, host, ..
                },
            ) => format!(
                "{error}. An operator can allow it with `specgate upstream-host allow --integration {integration} {host}`"
            ),
            _ => self.to_string(),
        }
    }
}

/// An internal failure behind a 500, left in the response for [`security_headers`] to log.
#[derive(Clone)]
struct InternalFailure(std::sync::Arc<str>);

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(&self.message())
        );
        let mut response = (status, page("Something went wrong", None, &body)).into_response();
        if let Self::Internal(error) | Self::Provision(ProvisionError::Internal(error)) = &self {
            response
                .extensions_mut()
                .insert(InternalFailure(error.as_str().into()));
        }
        if let Self::Provision(ProvisionError::Store(error)) = &self {
            response
                .extensions_mut()
                .insert(InternalFailure(error.to_string().into()));
        }
        response
    }
}

/// Errors by the form field they concern (`form` for the whole form).
#[derive(Default)]
struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    fn of(error: &ConsoleError) -> Self {
        Self(vec![(error.field(), error.message())])
    }

    fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// The message under a field, and the attributes that tie its input to it.
    fn at(&self, field: &str) -> (String, String) {
        match self.get(field) {
            Some(message) => (
                format!(
                    "<p class=\"error\" id=\"{field}-error\" role=\"alert\">{}</p>",
                    esc(message)
                ),
                format!(" aria-invalid=\"true\" aria-describedby=\"{field}-error\""),
            ),
            None => (String::new(), String::new()),
        }
    }
}

fn integration(name: &str) -> Option<&'static Integration> {
    specgate_api::find_integration(name)
}

// ---- sign-in ----

async fn login_page() -> Response {
    login_form(None).into_response()
}

fn login_form(error: Option<&str>) -> Html<String> {
    let (message, attributes) = match error {
        Some(m) => (
            format!(
                "<p class=\"error\" id=\"token-error\" role=\"alert\">{}</p>",
                esc(m)
            ),
            " aria-invalid=\"true\" aria-describedby=\"token-error\"",
        ),
        None => (String::new(), ""),
    };
    page(
        "Sign in",
        None,
        &format!(
            "<form method=\"post\" action=\"/console/login\" class=\"card\">\
             <label for=\"token\">Admin API token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required{attributes}>{message}\
             <p class=\"hint\">Create one with <code>specgate api-token create --name console</code>.</p>\
             <button type=\"submit\">Sign in</button></form>"
        ),
    )
}

async fn login(
    State(state): State<AppState>,
    State(sign_ins): State<std::sync::Arc<SignInLimiter>>,
    extensions: http::Extensions,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Response {
    let form = Form::parse(&raw);
    if let Some(refused) = check_post(&headers, None, &form) {
        return refused;
    }
    // Served without connection info (in-process tests), every client shares one window.
    let address = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    if let Some(wait) = sign_ins.blocked(address) {
        let body = login_form(Some(&format!(
            "Too many failed sign-ins from this address; try again in {} s.",
            wait.as_secs().max(1)
        )));
        return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    }
    let hash = state.keys.hash_token(form.get("token").trim());
    let token = match state.store.find_api_token(&hash).await {
        Ok(token) => token,
        Err(error) => return ConsoleError::internal(error).into_response(),
    };
    let Some(token) = token.filter(|t| t.scope == TokenScope::Admin) else {
        sign_ins.fail(address);
        return (
            StatusCode::UNAUTHORIZED,
            login_form(Some("That is not a live admin API token.")),
        )
            .into_response();
    };
    let (Ok(id), Ok(csrf)) = (
        crate::crypto::new_token("cs_"),
        crate::crypto::new_token(""),
    ) else {
        return ConsoleError::internal("no randomness").into_response();
    };
    let at = now();
    let session = ConsoleSession {
        id_hash: state.keys.hash_token(&id),
        api_token_id: token.id,
        csrf_token: csrf,
        created_at: at,
        expires_at: at + SESSION_SECS,
    };
    if let Err(error) = state.store.create_session(&session).await {
        return ConsoleError::internal(error).into_response();
    }
    let secure = if state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
    {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}{secure}"
    );
    let mut response = Redirect::to("/console").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(State(state): State<AppState>, SignedPost { session, .. }: SignedPost) -> Response {
    if let Err(error) = state.store.delete_session(&session.id_hash).await {
        return ConsoleError::internal(error).into_response();
    }
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "specgate_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

// ---- integrations and accounts ----

async fn home(State(state): State<AppState>, Signed(session): Signed) -> Response {
    let accounts = match Provisioner::new(state.clone()).list_accounts().await {
        Ok(accounts) => accounts,
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    let mut body = String::from(
        "<h2>Integrations</h2><table><thead><tr><th scope=\"col\">Integration</th><th scope=\"col\">Auth</th><th scope=\"col\">Tools</th></tr></thead><tbody>",
    );
    for integration in specgate_api::INTEGRATIONS {
        let _ = write!(
            body,
            "<tr><td><a href=\"/console/integrations/{name}\">{title}</a></td><td>{auth}</td><td>{count}</td></tr>",
            name = esc(integration.name),
            title = esc(integration.title),
            auth = integration.auth.as_str(),
            count = integration.tools.len()
        );
    }
    body.push_str("</tbody></table><h2>Accounts</h2>");
    if accounts.is_empty() {
        body.push_str("<p>No accounts yet.</p>");
    } else {
        body.push_str("<table><thead><tr><th scope=\"col\">Account</th><th scope=\"col\">Integration</th><th scope=\"col\">Created</th></tr></thead><tbody>");
        for account in &accounts {
            let _ = write!(
                body,
                "<tr><td><a href=\"/console/accounts/{id}\">{name}</a></td><td>{integration}</td><td>{created}</td></tr>",
                id = esc(&account.id),
                name = esc(&account.name),
                integration = esc(&account.integration),
                created = esc(&account.created_at)
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("<p><a class=\"button\" href=\"/console/accounts/new\">New account</a></p>");
    page("Console", Some(&session), &body).into_response()
}

async fn integration_page(Path(name): Path<String>, Signed(session): Signed) -> Response {
    let Some(integration) = integration(&name) else {
        return not_found(&session, "integration", &name);
    };
    let mut body = format!(
        "<p>{count} tools · auth <code>{auth}</code></p><table><thead><tr><th scope=\"col\">Tool</th><th scope=\"col\">Title</th><th scope=\"col\">Method</th><th scope=\"col\">Tags</th><th scope=\"col\">Description</th></tr></thead><tbody>",
        count = integration.tools.len(),
        auth = integration.auth.as_str()
    );
    for tool in integration.tools {
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"description\">{}</td></tr>",
            esc(tool.name),
            esc(tool.title),
            tool.class.as_str(),
            esc(&tool.tags.join(", ")),
            esc(tool.description)
        );
    }
    body.push_str("</tbody></table>");
    page(integration.title, Some(&session), &body).into_response()
}

fn not_found(session: &ConsoleSession, what: &str, id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            Some(session),
            &format!("<p>There is no {what} <code>{}</code>.</p>", esc(id)),
        ),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct IntegrationChoice {
    integration: Option<String>,
}

async fn new_account_page(
    Signed(session): Signed,
    Query(choice): Query<IntegrationChoice>,
) -> Response {
    account_form(
        &session,
        choice.integration.as_deref(),
        &Form(Vec::new()),
        &FieldErrors::default(),
    )
    .into_response()
}

/// The new-account form. Credential inputs follow the integration's auth kind and are never
/// filled back in.
fn account_form(
    session: &ConsoleSession,
    chosen: Option<&str>,
    form: &Form,
    errors: &FieldErrors,
) -> Html<String> {
    let chosen = chosen.and_then(integration);
    let mut options = String::new();
    for integration in specgate_api::INTEGRATIONS {
        let selected = if chosen.is_some_and(|c| c.name == integration.name) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            options,
            "<option value=\"{}\"{selected}>{} ({})</option>",
            esc(integration.name),
            esc(integration.title),
            integration.auth.as_str()
        );
    }
    let (form_error, _) = errors.at("form");
    let (integration_error, integration_attributes) = errors.at("integration");
    let Some(chosen) = chosen else {
        return page(
            "New account",
            Some(session),
            &format!(
                "<form method=\"get\" action=\"/console/accounts/new\" class=\"card\">\
                 <label for=\"integration\">Integration</label><select id=\"integration\" name=\"integration\"{integration_attributes}>{options}</select>{integration_error}\
                 <button type=\"submit\">Continue</button></form>"
            ),
        );
    };
    let (name_error, name_attributes) = errors.at("name");
    let (base_error, base_attributes) = errors.at("base_url");
    page(
        "New account",
        Some(session),
        &format!(
            "<form method=\"post\" action=\"/console/accounts\" class=\"card\">{form_error}\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"integration\" value=\"{integration}\">\
             <p>Integration: <strong>{title}</strong> (<a href=\"/console/accounts/new\">change</a>)</p>\
             <label for=\"name\">Name</label><input id=\"name\" name=\"name\" required value=\"{name}\"{name_attributes}>{name_error}\
             <label for=\"base_url\">Base URL (optional; the spec's by default)</label><input id=\"base_url\" name=\"base_url\" type=\"url\" value=\"{base_url}\"{base_attributes}>{base_error}\
             {credentials}<button type=\"submit\">Create account</button></form>",
            csrf = esc(&session.csrf_token),
            integration = esc(chosen.name),
            title = esc(chosen.title),
            name = esc(form.get("name")),
            base_url = esc(form.get("base_url")),
            credentials = credential_fields(&chosen.auth, errors, true),
        ),
    )
}

/// Inputs for the credentials `auth` takes. None is ever pre-filled.
fn credential_fields(auth: &AuthKind, errors: &FieldErrors, required: bool) -> String {
    let fields: &[(&str, &str, bool)] = match auth {
        AuthKind::None => &[],
        AuthKind::Bearer | AuthKind::Header { .. } | AuthKind::Query { .. } => {
            &[("api_key", "API key", true)]
        }
        AuthKind::Basic => &[
            ("username", "Username", false),
            ("password", "Password", true),
        ],
        AuthKind::OAuth2 { .. } => &[
            ("client_id", "Client id", false),
            ("client_secret", "Client secret", true),
            ("refresh_token", "Refresh token", true),
            ("access_token", "Access token (optional)", true),
            (
                "token_url",
                "Token URL (optional; the spec's by default)",
                false,
            ),
            (
                "token_params",
                "Extra token request fields (optional JSON object)",
                false,
            ),
        ],
    };
    if fields.is_empty() {
        return "<p>This integration takes no credentials.</p>".to_owned();
    }
    let (error, attributes) = errors.at("credentials");
    let mut out = format!(
        "<fieldset{attributes}><legend>Credentials{}</legend><p class=\"hint\">Stored encrypted and never shown again.</p>",
        if required {
            ""
        } else {
            " (leave empty to keep the current ones)"
        }
    );
    for (name, label, secret) in fields {
        let (field_error, field_attributes) = errors.at(name);
        let kind = if *secret { "password" } else { "text" };
        let needed = if required
            && matches!(
                *name,
                "api_key" | "username" | "password" | "client_id" | "client_secret"
            ) {
            " required"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" type=\"{kind}\" autocomplete=\"off\"{needed}{field_attributes}>{field_error}"
        );
    }
    out.push_str(&error);
    out.push_str("</fieldset>");
    out
}

/// The credentials a form carries, if any field was filled in.
fn credentials_of(form: &Form) -> Result<Option<Credentials>, ConsoleError> {
    let mut credentials = Credentials {
        api_key: form.some("api_key"),
        username: form.some("username"),
        password: form.some("password"),
        client_id: form.some("client_id"),
        client_secret: form.some("client_secret"),
        access_token: form.some("access_token"),
        refresh_token: form.some("refresh_token"),
        token_url: form.some("token_url"),
        ..Credentials::default()
    };
    if let Some(params) = form.some("token_params") {
        match serde_json::from_str::<Value>(&params) {
            Ok(Value::Object(map)) => credentials.token_params = map,
            _ => {
                return Err(ConsoleError::Form {
                    field: "credentials",
                    message: "extra token request fields must be a JSON object, e.g. {\"org_id\": \"...\"}".to_owned(),
                });
            }
        }
    }
    Ok((!credentials.present_fields().is_empty()).then_some(credentials))
}

async fn create_account(
    State(state): State<AppState>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let chosen = form.get("integration").to_owned();
    let created = match credentials_of(&form) {
        Ok(credentials) => Provisioner::new(state)
            .create_account(CreateAccount {
                integration: chosen.clone(),
                name: form.get("name").trim().to_owned(),
                credentials: credentials.unwrap_or_default(),
                base_url: form.some("base_url"),
            })
            .await
            .map_err(ConsoleError::from),
        Err(error) => Err(error),
    };
    match created {
        Ok(account) => Redirect::to(&format!("/console/accounts/{}", account.id)).into_response(),
        Err(error) => (
            error.status(),
            account_form(&session, Some(&chosen), &form, &FieldErrors::of(&error)),
        )
            .into_response(),
    }
}

async fn account_page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Response {
    account_screen(
        &state,
        &session,
        &id,
        &Form(Vec::new()),
        &FieldErrors::default(),
        None,
    )
    .await
}

/// Which of the account screen's two forms an error belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AccountForm {
    Edit,
    NewServer,
}

async fn account_screen(
    state: &AppState,
    session: &ConsoleSession,
    id: &str,
    form: &Form,
    errors: &FieldErrors,
    failed: Option<AccountForm>,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let account = match provisioner.get_account(id).await {
        Ok(account) => account,
        Err(ProvisionError::NotFound { .. }) => return not_found(session, "account", id),
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    let servers = match provisioner.list_servers(id).await {
        Ok(servers) => servers,
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    let Some(integration) = integration(&account.integration) else {
        return not_found(session, "integration", &account.integration);
    };
    let none = FieldErrors::default();
    let (edit_errors, server_errors) = match failed {
        Some(AccountForm::Edit) => (errors, &none),
        Some(AccountForm::NewServer) => (&none, errors),
        None => (&none, &none),
    };
    let empty = Form(Vec::new());
    let (edit_form, server_form) = match failed {
        Some(AccountForm::Edit) => (form, &empty),
        Some(AccountForm::NewServer) => (&empty, form),
        None => (&empty, &empty),
    };
    let status = if failed.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut body = format!(
        "<p>Integration <a href=\"/console/integrations/{integration}\">{title}</a> · created {created}</p><h2>MCP servers</h2>",
        integration = esc(integration.name),
        title = esc(integration.title),
        created = esc(&account.created_at),
    );
    if servers.is_empty() {
        body.push_str("<p>No MCP servers yet.</p>");
    } else {
        body.push_str("<table><thead><tr><th scope=\"col\">Server</th><th scope=\"col\">Methods</th><th scope=\"col\">Tools</th><th scope=\"col\">Expires</th></tr></thead><tbody>");
        let at = time::OffsetDateTime::now_utc();
        for server in &servers {
            let expiry = match server.expires_at.as_deref() {
                None => "never".to_owned(),
                Some(when) => {
                    let expired = time::OffsetDateTime::parse(
                        when,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .is_ok_and(|t| t <= at);
                    if expired {
                        format!("<strong class=\"expired\">expired</strong> {}", esc(when))
                    } else {
                        esc(when)
                    }
                }
            };
            let _ = write!(
                body,
                "<tr><td><a href=\"/console/accounts/{account}/servers/{id}\">{name}</a></td><td>{methods}</td><td>{tools}</td><td>{expiry}</td></tr>",
                account = esc(&account.id),
                id = esc(&server.id),
                name = esc(&server.name),
                methods = esc(&filter_text(&server.config.methods)),
                tools = state
                    .catalog
                    .visible(integration.name, &server.config)
                    .count(),
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str(&server_config_form(
        session,
        &account,
        integration,
        None,
        server_form,
        server_errors,
        state,
    ));
    body.push_str(&account_edit_form(
        session,
        &account,
        integration,
        edit_form,
        edit_errors,
    ));
    (status, page(&account.name, Some(session), &body)).into_response()
}

fn filter_text(filter: &Filter) -> String {
    match filter {
        Filter::All => "all".to_owned(),
        Filter::Only(values) => values.join(", "),
    }
}

fn account_edit_form(
    session: &ConsoleSession,
    account: &AccountView,
    integration: &Integration,
    form: &Form,
    errors: &FieldErrors,
) -> String {
    let (form_error, _) = errors.at("form");
    let (name_error, name_attributes) = errors.at("name");
    let (base_error, base_attributes) = errors.at("base_url");
    let name = if form.0.is_empty() {
        account.name.clone()
    } else {
        form.get("name").to_owned()
    };
    let base_url = if form.0.is_empty() {
        account.base_url.clone().unwrap_or_default()
    } else {
        form.get("base_url").to_owned()
    };
    format!(
        "<h2>Edit account</h2><form method=\"post\" action=\"/console/accounts/{id}\" class=\"card\">{form_error}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"account-name\">Name</label><input id=\"account-name\" name=\"name\" required value=\"{name}\"{name_attributes}>{name_error}\
         <label for=\"base_url\">Base URL (empty: the spec's)</label><input id=\"base_url\" name=\"base_url\" type=\"url\" value=\"{base_url}\"{base_attributes}>{base_error}\
         {credentials}<button type=\"submit\">Save account</button></form>\
         <form method=\"post\" action=\"/console/accounts/{id}/delete\" class=\"danger\" data-confirm=\"Delete this account and all its MCP servers?\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Delete account</button></form>",
        id = esc(&account.id),
        csrf = esc(&session.csrf_token),
        name = esc(&name),
        base_url = esc(&base_url),
        credentials = credential_fields(&integration.auth, errors, false),
    )
}

async fn update_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let result = async {
        let current = provisioner.get_account(&id).await?;
        let base_url = form.some("base_url");
        let request = UpdateAccount {
            name: Some(form.get("name").trim().to_owned()),
            credentials: credentials_of(&form)?,
            // Sent only when it changes, so saving the name alone needs no credentials.
            base_url: (base_url != current.base_url).then_some(base_url),
        };
        Ok::<_, ConsoleError>(provisioner.update_account(&id, request).await?)
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&format!("/console/accounts/{id}")).into_response(),
        Err(error) => {
            account_screen(
                &state,
                &session,
                &id,
                &form,
                &FieldErrors::of(&error),
                Some(AccountForm::Edit),
            )
            .await
        }
    }
}

async fn delete_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: SignedPost,
) -> Response {
    match Provisioner::new(state).delete_account(&id).await {
        Ok(()) => Redirect::to("/console").into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}

// ---- MCP servers ----

/// The config a server form describes. Unticked groups mean: every method is one choice to
/// make explicitly (an empty list is refused by the API), every tag and tool otherwise.
fn config_of(form: &Form) -> Result<ServerConfig, ConsoleError> {
    let list = |field: &'static str, all_when_empty: bool| {
        let values = form.all(field);
        if values.is_empty() {
            if all_when_empty {
                return Ok(Filter::All);
            }
            return Err(ConsoleError::Form {
                field,
                message: "tick at least one method class".to_owned(),
            });
        }
        Filter::from_list(values).map_err(|problem| ConsoleError::Form {
            field,
            message: format!("`{field}`: {problem}"),
        })
    };
    Ok(ServerConfig {
        methods: list("methods", false)?,
        tags: list("tags", true)?,
        tools: list("tools", true)?,
        exclude_tools: form.all("exclude_tools"),
        require_api_token_auth: form.get("require_api_token_auth") == "on",
        schema_profile: match form.get("schema_profile") {
            "portable" => SchemaProfile::Portable,
            _ => SchemaProfile::Full,
        },
    })
}

/// `2026-12-31T18:00` (a `datetime-local` input, read as UTC) as RFC 3339.
fn expires_of(form: &Form) -> Option<String> {
    form.some("expires_at").map(|local| {
        if local.len() == 16 {
            format!("{local}:00Z")
        } else {
            local
        }
    })
}

fn server_config_form(
    session: &ConsoleSession,
    account: &AccountView,
    integration: &'static Integration,
    server: Option<&ServerView>,
    form: &Form,
    errors: &FieldErrors,
    state: &AppState,
) -> String {
    let submitted = !form.0.is_empty();
    let config = if submitted {
        config_of(form).unwrap_or_else(|_| server.map(|s| s.config.clone()).unwrap_or_default())
    } else {
        server.map(|s| s.config.clone()).unwrap_or_default()
    };
    let (form_error, _) = errors.at("form");
    let (name_error, name_attributes) = errors.at("name");
    let (methods_error, methods_attributes) = errors.at("methods");
    let (tags_error, tags_attributes) = errors.at("tags");
    let (tools_error, tools_attributes) = errors.at("tools");
    let (exclude_error, exclude_attributes) = errors.at("exclude_tools");
    let (expires_error, expires_attributes) = errors.at("expires_at");
    let name = if submitted {
        form.get("name").to_owned()
    } else {
        server.map(|s| s.name.clone()).unwrap_or_default()
    };
    let expires = if submitted {
        form.get("expires_at").to_owned()
    } else {
        server
            .and_then(|s| s.expires_at.as_deref())
            .map(|e| e.chars().take(16).collect())
            .unwrap_or_default()
    };
    let checked = |value: &str| {
        let on = if submitted {
            form.all("methods").iter().any(|m| m == value)
        } else {
            config.methods.admits(|m| m == value)
        };
        if on { " checked" } else { "" }
    };
    let mut methods = String::new();
    for (value, label) in [
        ("read", "read (get, list)"),
        ("write", "write (create, update, delete)"),
        ("custom", "custom"),
    ] {
        let _ = write!(
            methods,
            "<label class=\"check\"><input type=\"checkbox\" name=\"methods\" value=\"{value}\"{}> {label}</label>",
            checked(value)
        );
    }
    let options = |values: &mut dyn Iterator<Item = &str>, chosen: &dyn Fn(&str) -> bool| {
        let mut out = String::new();
        for value in values {
            let selected = if chosen(value) { " selected" } else { "" };
            let _ = write!(
                out,
                "<option value=\"{v}\"{selected}>{v}</option>",
                v = esc(value)
            );
        }
        out
    };
    let tags = options(
        &mut tag_values(integration).into_iter(),
        &|t| matches!(&config.tags, Filter::Only(values) if values.iter().any(|v| v == t)),
    );
    let tools = options(
        &mut integration.tools.iter().map(|t| t.name),
        &|t| matches!(&config.tools, Filter::Only(values) if values.iter().any(|v| v == t)),
    );
    let excluded = options(&mut integration.tools.iter().map(|t| t.name), &|t| {
        config.exclude_tools.iter().any(|v| v == t)
    });
    let (action, heading, submit) = match server {
        None => (
            format!("/console/accounts/{}/servers", esc(&account.id)),
            "New MCP server",
            "Create MCP server",
        ),
        Some(s) => (
            format!(
                "/console/accounts/{}/servers/{}",
                esc(&account.id),
                esc(&s.id)
            ),
            "Settings",
            "Save settings",
        ),
    };
    format!(
        "<h2>{heading}</h2><form method=\"post\" action=\"{action}\" class=\"card\" data-preview=\"/console/accounts/{account}/preview\">{form_error}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"server-name\">Name</label><input id=\"server-name\" name=\"name\" required value=\"{name}\"{name_attributes}>{name_error}\
         <fieldset{methods_attributes}><legend>Methods</legend>{methods}{methods_error}</fieldset>\
         <label for=\"tags\">Tags (none selected: all)</label><select id=\"tags\" name=\"tags\" multiple{tags_attributes}>{tags}</select>{tags_error}\
         <label for=\"tools\">Only these tools (none selected: all)</label><select id=\"tools\" name=\"tools\" multiple{tools_attributes}>{tools}</select>{tools_error}\
         <label for=\"exclude_tools\">Never these tools</label><select id=\"exclude_tools\" name=\"exclude_tools\" multiple{exclude_attributes}>{excluded}</select>{exclude_error}\
         <label class=\"check\"><input type=\"checkbox\" name=\"require_api_token_auth\"{second}> Clients must also send an API token (second factor)</label>\
         <label for=\"schema_profile\">Tool schemas</label><select id=\"schema_profile\" name=\"schema_profile\"><option value=\"full\"{full}>full: JSON Schema 2020-12</option><option value=\"portable\"{portable}>portable: accepted by every major client (Gemini, OpenAI, Cursor)</option></select>\
         <p class=\"hint\">Either way, <code>/portable</code> after the MCP URL serves the portable schemas.</p>\
         <label for=\"expires_at\">Expires at, UTC (optional)</label><input id=\"expires_at\" name=\"expires_at\" type=\"datetime-local\" value=\"{expires}\"{expires_attributes}>{expires_error}\
         <section aria-live=\"polite\" class=\"preview\" id=\"preview\">{preview}</section>\
         <button type=\"submit\">{submit}</button></form>",
        account = esc(&account.id),
        csrf = esc(&session.csrf_token),
        name = esc(&name),
        expires = esc(&expires),
        second = if config.require_api_token_auth {
            " checked"
        } else {
            ""
        },
        full = if config.schema_profile == SchemaProfile::Full {
            " selected"
        } else {
            ""
        },
        portable = if config.schema_profile == SchemaProfile::Portable {
            " selected"
        } else {
            ""
        },
        preview = preview_html(state, integration, &config),
    )
}

/// The tools a config yields, from the same filter the MCP endpoint applies.
fn preview_html(state: &AppState, integration: &Integration, config: &ServerConfig) -> String {
    let tools: Vec<&str> = state
        .catalog
        .visible(integration.name, config)
        .map(|t| t.def.name)
        .collect();
    let mut out = format!(
        "<h3>Tools this server exposes: <span id=\"preview-count\">{}</span> of {}</h3><ul id=\"preview-tools\">",
        tools.len(),
        integration.tools.len()
    );
    for name in &tools {
        let _ = write!(out, "<li><code>{}</code></li>", esc(name));
    }
    out.push_str("</ul>");
    out
}

async fn preview(
    State(state): State<AppState>,
    Signed(_): Signed,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let form = Form::parse(query.as_deref().unwrap_or_default().as_bytes());
    let account = match Provisioner::new(state.clone()).get_account(&id).await {
        Ok(account) => account,
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    let Some(integration) = integration(&account.integration) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match config_of(&form) {
        Ok(config) => Html(preview_html(&state, integration, &config)).into_response(),
        Err(error) => Html(format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(&error.message())
        ))
        .into_response(),
    }
}

async fn create_server(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let created = match config_of(&form) {
        Ok(config) => provisioner
            .create_server(
                &id,
                CreateServer {
                    name: form.get("name").trim().to_owned(),
                    config,
                    expires_at: expires_of(&form),
                },
            )
            .await
            .map_err(ConsoleError::from),
        Err(error) => Err(error),
    };
    match created {
        Ok(server) => shown_once(&state, &session, &id, &server, "MCP server created"),
        Err(error) => {
            account_screen(
                &state,
                &session,
                &id,
                &form,
                &FieldErrors::of(&error),
                Some(AccountForm::NewServer),
            )
            .await
        }
    }
}

/// The page that shows a server's URL, the one time it can be shown.
fn shown_once(
    state: &AppState,
    session: &ConsoleSession,
    account_id: &str,
    server: &ServerView,
    title: &str,
) -> Response {
    let path = server.mcp_path.clone().unwrap_or_default();
    let url = server.url.clone().unwrap_or_else(|| {
        let base = state.config.public_url.clone().unwrap_or_default();
        format!("{}{path}", base.trim_end_matches('/'))
    });
    let token = path.rsplit('/').next().unwrap_or_default();
    let desktop =
        serde_json::to_string_pretty(&json!({"mcpServers": {server.name.clone(): {"url": url}}}))
            .unwrap_or_default();
    let second_factor = if server.config.require_api_token_auth {
        "<p class=\"hint\">This server also needs <code>Authorization: Bearer &lt;API token&gt;</code> on every request; add it to the client's headers.</p>"
    } else {
        ""
    };
    let mut warnings = String::new();
    for warning in &server.warnings {
        let _ = write!(warnings, "<p class=\"hint\">{}</p>", esc(warning));
    }
    let body = format!(
        "<p class=\"warning\" role=\"alert\">This URL contains a secret. It is shown only now and will not be shown again; copy it before you leave this page.</p>{warnings}\
         <label for=\"mcp-url\">MCP URL (streamable HTTP)</label><div class=\"copy\"><input id=\"mcp-url\" readonly value=\"{url}\"><button type=\"button\" data-copy=\"mcp-url\">Copy</button></div>{second_factor}\
         <h2>Claude Desktop and Cursor (<code>mcpServers</code>)</h2><div class=\"copy\"><textarea id=\"snippet-desktop\" readonly rows=\"7\">{desktop}</textarea><button type=\"button\" data-copy=\"snippet-desktop\">Copy</button></div>\
         <h2>ChatGPT and Claude connectors</h2><p>Paste the MCP URL as the connector's server URL.</p>\
         <h2>Legacy SSE clients</h2><div class=\"copy\"><input id=\"snippet-sse\" readonly value=\"{url}/sse\"><button type=\"button\" data-copy=\"snippet-sse\">Copy</button></div>\
         <h2>Clients that take only simple schemas (Gemini)</h2><div class=\"copy\"><input id=\"snippet-portable\" readonly value=\"{url}/portable\"><button type=\"button\" data-copy=\"snippet-portable\">Copy</button></div>\
         <h2>stdio (on the specgate host)</h2><div class=\"copy\"><input id=\"snippet-stdio\" readonly value=\"specgate stdio --mcp-token {token}\"><button type=\"button\" data-copy=\"snippet-stdio\">Copy</button></div>\
         <p><a class=\"button\" href=\"/console/accounts/{account}\">Done</a></p>",
        url = esc(&url),
        desktop = esc(&desktop),
        token = esc(token),
        account = esc(account_id),
    );
    page(title, Some(session), &body).into_response()
}

async fn server_page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((id, sid)): Path<(String, String)>,
) -> Response {
    server_screen(
        &state,
        &session,
        &id,
        &sid,
        &Form(Vec::new()),
        &FieldErrors::default(),
    )
    .await
}

async fn server_screen(
    state: &AppState,
    session: &ConsoleSession,
    id: &str,
    sid: &str,
    form: &Form,
    errors: &FieldErrors,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let (account, server) = match (
        provisioner.get_account(id).await,
        provisioner.get_server(id, sid).await,
    ) {
        (Ok(account), Ok(server)) => (account, server),
        (Err(ProvisionError::NotFound { .. }), _) | (_, Err(ProvisionError::NotFound { .. })) => {
            return not_found(session, "MCP server", sid);
        }
        (Err(error), _) | (_, Err(error)) => return ConsoleError::from(error).into_response(),
    };
    let Some(integration) = integration(&account.integration) else {
        return not_found(session, "integration", &account.integration);
    };
    let status = if errors.0.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = format!(
        "<p>Account <a href=\"/console/accounts/{account}\">{account_name}</a> · created {created} · expires {expires}</p>{settings}\
         <h2>Rotate or delete</h2><p class=\"hint\">Rotating makes a new URL; the old one stops working at once.</p>\
         <form method=\"post\" action=\"/console/accounts/{account}/servers/{sid}/rotate\" data-confirm=\"Rotate? The current URL stops working.\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Rotate URL</button></form>\
         <form method=\"post\" action=\"/console/accounts/{account}/servers/{sid}/delete\" class=\"danger\" data-confirm=\"Delete this MCP server?\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Delete MCP server</button></form>",
        account = esc(&account.id),
        account_name = esc(&account.name),
        created = esc(&server.created_at),
        expires = esc(server.expires_at.as_deref().unwrap_or("never")),
        sid = esc(&server.id),
        csrf = esc(&session.csrf_token),
        settings = server_config_form(
            session,
            &account,
            integration,
            Some(&server),
            form,
            errors,
            state
        ),
    );
    (status, page(&server.name, Some(session), &body)).into_response()
}

async fn update_server(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let result = match config_of(&form).and_then(|config| {
        serde_json::to_value(config)
            .map_err(ConsoleError::internal)
            .map(|v| v.as_object().cloned().unwrap_or_default())
    }) {
        Ok(config) => provisioner
            .update_server(
                &id,
                &sid,
                UpdateServer {
                    name: Some(form.get("name").trim().to_owned()),
                    config: Some(config),
                    expires_at: Some(expires_of(&form)),
                },
            )
            .await
            .map_err(ConsoleError::from),
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/console/accounts/{id}/servers/{sid}")).into_response(),
        Err(error) => {
            server_screen(&state, &session, &id, &sid, &form, &FieldErrors::of(&error)).await
        }
    }
}

async fn rotate_server(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
    SignedPost { session, .. }: SignedPost,
) -> Response {
    match Provisioner::new(state.clone())
        .rotate_server(&id, &sid)
        .await
    {
        Ok(server) => shown_once(&state, &session, &id, &server, "New MCP URL"),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}

async fn delete_server(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
    _: SignedPost,
) -> Response {
    match Provisioner::new(state).delete_server(&id, &sid).await {
        Ok(()) => Redirect::to(&format!("/console/accounts/{id}")).into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_content_and_attributes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn errors_land_on_their_fields_by_variant() {
        let at = |error: ProvisionError| ConsoleError::from(error).field();
        assert_eq!(
            at(ProvisionError::InvalidName(
                crate::provision::NameProblem::Empty
            )),
            "name"
        );
        let host = |field| ProvisionError::HostNotAllowed {
            field,
            host: "evil.example".into(),
            integration: "malomo",
            allowed: vec![],
        };
        assert_eq!(at(host(Field::BaseUrl)), "base_url");
        assert_eq!(at(host(Field::TokenUrl)), "token_url");
        assert_eq!(at(ProvisionError::NoTools), "methods");
        assert_eq!(at(ProvisionError::InvalidConfig("?".into())), "form");
        let form = ConsoleError::Form {
            field: "tags",
            message: "x".into(),
        };
        assert_eq!(form.field(), "tags");
    }

    #[test]
    fn repeated_form_keys_are_kept() {
        let form = Form::parse(b"methods=read&methods=write&tags=&name=a+b");
        assert_eq!(form.all("methods"), ["read", "write"]);
        assert!(form.all("tags").is_empty());
        assert_eq!(form.get("name"), "a b");
    }

    #[test]
    fn sign_ins_are_limited_per_address() {
        let limiter = SignInLimiter::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..SIGN_IN_FAILURES {
            assert!(limiter.blocked(a).is_none());
            limiter.fail(a);
        }
        assert!(limiter.blocked(a).is_some());
        assert!(limiter.blocked(b).is_none());
    }
}
