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
//! The HTML is written with maud's `html!`, which escapes every interpolated value and
//! checks the markup's shape when the server compiles: no string a vendor, a spec or an
//! operator wrote can open a tag. maud rather than askama: the templates are Rust
//! expressions next to the handlers that fill them (no template files to keep in step), and
//! its macro crate is small and builds on the syn 2 the server already compiles.

mod activity;
mod hosts;
mod tokens;

use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::extract::{
    FromRequest, FromRequestParts, Path, Query, RawForm, RawQuery, Request, State,
};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{Markup, html};
use serde_json::{Value, json};
use specgate_runtime::{AuthKind, Integration};

use crate::call::Credentials;
use crate::catalog::{Catalog, tag_values};
use crate::limiter::SignInLimits;
use crate::peer::ClientAddress;
use crate::provision::{
    AccountView, CreateAccount, CreateServer, Field, ProvisionError, Provisioner, ServerView,
    UpdateAccount, UpdateServer,
};
use crate::state::AppState;
use crate::store::{
    ApiToken, Confirm, ConfirmFallback, ConsoleSession, DEFAULT_MAX_RESULT_BYTES, Filter,
    SchemaProfile, ServerConfig, SessionEnd, ToolExposure, now,
};
use crate::web::{self, InternalFailure};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "specgate_console";
/// How long a session lasts.
const SESSION_SECS: i64 = 12 * 3600;
/// Failed sign-ins one address may make per [`SIGN_IN_WINDOW`].
const SIGN_IN_FAILURES: u32 = 5;
/// Failed sign-ins from all addresses together per [`SIGN_IN_WINDOW`] before every sign-in
/// waits its turn (see [`SignInLimits`]).
const SIGN_IN_TARGET_FAILURES: u32 = 20;
/// What the console's sign-in limits count failures at: the console is one target.
const CONSOLE_TARGET: &str = "console";
const SIGN_IN_WINDOW: Duration = Duration::from_secs(60);

/// Sent on every console response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../console/console.css");
const JS: &str = include_str!("../console/console.js");

/// The console's state: the core's, and the sign-in limits of this process.
#[derive(Clone)]
struct Console {
    state: AppState,
    sign_ins: std::sync::Arc<SignInLimits>,
}

impl axum::extract::FromRef<Console> for AppState {
    fn from_ref(console: &Console) -> Self {
        console.state.clone()
    }
}

impl axum::extract::FromRef<Console> for std::sync::Arc<SignInLimits> {
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
        .route("/integrations/{name}/oauth-app", post(set_oauth_app))
        .route(
            "/integrations/{name}/oauth-app/delete",
            post(remove_oauth_app),
        )
        .route("/accounts/connect", post(connect_account))
        .route("/accounts/{id}/reconnect", post(reconnect_account))
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
        .route(
            "/accounts/{id}/servers/{sid}/grants/{gid}/revoke",
            post(revoke_grant),
        )
        .route(
            "/accounts/{id}/servers/{sid}/activity",
            get(activity::activity_page),
        )
        .route(
            "/api-tokens",
            get(tokens::tokens_page).post(tokens::create_token),
        )
        .route("/api-tokens/{id}/revoke", post(tokens::revoke_token))
        .route("/hosts", get(hosts::hosts_page).post(hosts::allow_host))
        .route("/hosts/remove", post(hosts::remove_host))
        .route("/return-origins", post(hosts::allow_origin))
        .route("/return-origins/remove", post(hosts::remove_origin))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(Console {
            state,
            sign_ins: std::sync::Arc::new(SignInLimits::new(
                SIGN_IN_FAILURES,
                SIGN_IN_TARGET_FAILURES,
                SIGN_IN_WINDOW,
            )),
        })
}

/// The security headers every console response carries; also logs the internal failure
/// behind a 500.
async fn security_headers(mut response: Response) -> Response {
    web::log_internal_failure(&response, "console operation");
    web::set_page_headers(
        response.headers_mut(),
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
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
        let hash = state.keys.hash_token(id);
        match state.store.find_session(&hash, now()).await {
            Ok(Some(session)) => Ok(Self(session)),
            Ok(None) => match state.store.session_end(&hash, now()).await {
                Ok(ended) => Err(session_ended(ended)),
                Err(error) => Err(ConsoleError::internal(error).into_response()),
            },
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
    web::cookie(headers, SESSION_COOKIE)
}

/// The way to the sign-in page from a session that is no longer live: it clears the cookie,
/// and says why the session ended where the database knows.
fn session_ended(ended: Option<SessionEnd>) -> Response {
    let to = match ended {
        Some(end) => format!("/console/login?ended={}", end.as_str()),
        None => "/console/login".to_owned(),
    };
    let mut response = Redirect::to(&to).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEARED_COOKIE));
    response
}

/// The `Set-Cookie` that removes the session cookie.
const CLEARED_COOKIE: &str =
    "specgate_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0";

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
    if let Some(refusal) = web::foreign_origin(headers) {
        return Some(forbidden(&refusal));
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
    let body = html! { p.error role="alert" { (message) } };
    (StatusCode::FORBIDDEN, page("Refused", None, body)).into_response()
}

/// A whole page. `session` adds the navigation and sign-out.
fn page(title: &str, session: Option<&ConsoleSession>, body: Markup) -> Html<String> {
    let header = html! {
        a.brand href="/console" { "specgate" }
        @if let Some(session) = session {
            nav aria-label="Main" {
                a href="/console" { "Integrations and accounts" }
                a href="/console/accounts/new" { "New account" }
                a href="/console/api-tokens" { "API tokens" }
                a href="/console/hosts" { "Hosts and origins" }
                form method="post" action="/console/logout" {
                    (csrf(session))
                    button type="submit" { "Sign out" }
                }
            }
        }
    };
    web::document(title, header, body, Some("/console/assets/console.js"))
}

/// The hidden input that carries a session's CSRF token.
fn csrf(session: &ConsoleSession) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf_token); }
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
            Self::Provision(error) => web::provision_status(error),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Form { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The form field the error concerns (`form` for the whole form).
    fn field(&self) -> &'static str {
        match self {
            Self::Form { field, .. } => field,
            Self::Provision(error) => match error.field() {
                Some(Field::TokenUrl) => "token_url",
                Some(Field::Config) | Some(Field::Limit) | Some(Field::Cursor) | None => "form",
                Some(Field::Confirm) => "confirm_tools",
                Some(field) => field.as_str(),
            },
            Self::Internal(_) => "form",
        }
    }

    /// What the operator reads: the error, with the way to allow a host where one is refused.
    fn message(&self) -> String {
        match self {
            Self::Provision(error) => error.explained(crate::provision::AllowVia::Command),
            _ => self.to_string(),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = html! { p.error role="alert" { (self.message()) } };
        let mut response = (status, page("Something went wrong", None, body)).into_response();
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

/// Every error of one submitted form, by the field it concerns (`form` for the whole form):
/// a form shows them all at once, each under its field.
#[derive(Default)]
struct FieldErrors {
    errors: Vec<(&'static str, String)>,
    status: Option<StatusCode>,
}

impl FieldErrors {
    fn of(error: &ConsoleError) -> Self {
        let mut errors = Self::default();
        errors.push(error);
        errors
    }

    /// Adds an error; the first one added sets the response's status.
    fn push(&mut self, error: &ConsoleError) {
        self.status.get_or_insert(error.status());
        self.errors.push((error.field(), error.message()));
    }

    /// The value of a check, or `None` with its error added.
    fn check<T, E: Into<ConsoleError>>(&mut self, result: Result<T, E>) -> Option<T> {
        result.map_err(|error| self.push(&error.into())).ok()
    }

    fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The status of a page that shows these errors.
    fn status(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::OK)
    }

    fn get(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .errors
            .iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join(" "))
    }

    /// The message under a field, if it has one.
    fn message(&self, field: &str) -> Markup {
        html! {
            @if let Some(message) = self.get(field) {
                p.error id=(format!("{field}-error")) role="alert" { (message) }
            }
        }
    }

    /// `aria-invalid` of a field's input.
    fn invalid(&self, field: &str) -> Option<&'static str> {
        self.get(field).map(|_| "true")
    }

    /// `aria-describedby` of a field's input: its message.
    fn described(&self, field: &str) -> Option<String> {
        self.get(field).map(|_| format!("{field}-error"))
    }
}

/// A tool name that wraps only after its underscores, never inside a word.
fn tool_name(name: &str) -> Markup {
    html! {
        code.tool {
            @for (i, part) in name.split('_').enumerate() {
                @if i > 0 { "_" wbr; }
                (part)
            }
        }
    }
}

// ---- sign-in ----

#[derive(serde::Deserialize)]
struct LoginQuery {
    ended: Option<String>,
}

async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    let ended = query.ended.as_deref().and_then(SessionEnd::parse);
    let body = login_form(None);
    match ended {
        None => body.into_response(),
        Some(end) => page(
            "Sign in",
            None,
            html! {
                p.warning #session-ended role="alert" { (end.message()) }
                (login_card(None))
            },
        )
        .into_response(),
    }
}

fn login_form(error: Option<&str>) -> Html<String> {
    page("Sign in", None, login_card(error))
}

fn login_card(error: Option<&str>) -> Markup {
    html! {
        form.card method="post" action="/console/login" {
            label for="token" { "Admin API token" }
            input #token name="token" type="password" autocomplete="off" required
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| "token-error")];
            @if let Some(error) = error {
                p.error #token-error role="alert" { (error) }
            }
            p.hint { "Create one with " code { "specgate api-token create --name console" } "." }
            button type="submit" { "Sign in" }
        }
    }
}

async fn login(
    State(state): State<AppState>,
    State(sign_ins): State<std::sync::Arc<SignInLimits>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Response {
    let form = Form::parse(&raw);
    if let Some(refused) = check_post(&headers, None, &form) {
        return refused;
    }
    if let Err(refusal) = sign_ins.admit(address, CONSOLE_TARGET).await {
        let body = login_form(Some(&refusal.to_string()));
        return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    }
    // The admin API's rule: a live `admin` token.
    let token = match state.api_token(form.get("token")).await {
        Ok(token) => token,
        Err(error) => return ConsoleError::internal(error).into_response(),
    };
    let Some(token) = token.filter(ApiToken::opens_admin) else {
        sign_ins.failed(address, CONSOLE_TARGET);
        return (
            StatusCode::UNAUTHORIZED,
            login_form(Some("That is not a live admin API token.")),
        )
            .into_response();
    };
    if let Err(error) = state.store.touch_api_token(&token.id, now()).await {
        return ConsoleError::internal(error).into_response();
    }
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
    session_ended(None)
}

// ---- integrations and accounts ----

async fn home(State(state): State<AppState>, Signed(session): Signed) -> Response {
    let accounts = match Provisioner::new(state.clone()).list_accounts().await {
        Ok(accounts) => accounts,
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    let body = html! {
        h2 { "Integrations" }
        table {
            thead { tr { th scope="col" { "Integration" } th scope="col" { "Auth" } th scope="col" { "Tools" } } }
            tbody {
                @for integration in state.catalog.integrations() {
                    tr {
                        td data-label="Integration" { a href=(format!("/console/integrations/{}", integration.name)) { (integration.title) } }
                        td data-label="Auth" { (integration.auth.as_str()) }
                        td data-label="Tools" { (integration.tools.len()) }
                    }
                }
            }
        }
        h2 { "Accounts" }
        @if accounts.is_empty() {
            p { "No accounts yet." }
        } @else {
            table {
                thead { tr { th scope="col" { "Account" } th scope="col" { "Integration" } th scope="col" { "Created" } } }
                tbody {
                    @for account in &accounts {
                        tr {
                            td data-label="Account" { a href=(format!("/console/accounts/{}", account.id)) { (account.name) } }
                            td data-label="Integration" { (account.integration) }
                            td data-label="Created" { (account.created_at) }
                        }
                    }
                }
            }
        }
        p { a.button href="/console/accounts/new" { "New account" } }
    };
    page("Console", Some(&session), body).into_response()
}

async fn integration_page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Signed(session): Signed,
) -> Response {
    integration_screen(
        &state,
        &session,
        &name,
        &Form(Vec::new()),
        &FieldErrors::default(),
    )
    .await
}

/// An integration's page: its OAuth app (where it has one) and its tools. A refused OAuth app
/// form comes back with what was typed, the secret aside.
async fn integration_screen(
    state: &AppState,
    session: &ConsoleSession,
    name: &str,
    form: &Form,
    errors: &FieldErrors,
) -> Response {
    let Some(integration) = state.catalog.integration(name) else {
        return not_found(session, "integration", name);
    };
    let oauth_app = match integration.auth {
        AuthKind::OAuth2 { .. } => {
            match Provisioner::new(state.clone())
                .oauth_app(integration.name)
                .await
            {
                Ok(app) => Some(Some(app)),
                Err(ProvisionError::NotFound { .. }) => Some(None),
                Err(error) => return ConsoleError::from(error).into_response(),
            }
        }
        _ => None,
    };
    let redirect_uri = state
        .config
        .public_url
        .as_deref()
        .map(crate::connect::redirect_uri);
    let body = html! {
        p { (integration.tools.len()) " tools · auth " code { (integration.auth.as_str()) } }
        @if let Some(app) = &oauth_app {
            section.card #oauth-app {
                h2 { "OAuth app" }
                p.hint {
                    "Accounts connect through " (integration.title) "'s consent page with this app, and refresh with it. Register this callback URL at the vendor: "
                    code { (redirect_uri.as_deref().unwrap_or("(the public URL is not known yet)")) }
                }
                @if let Some(app) = app {
                    p { "Client id " code { (app.client_id) } " · consent page " code { (app.authorize_url) } " · token endpoint " code { (app.token_url) } " (" (app.token_endpoint_auth) ")" }
                    form method="post" action=(format!("/console/integrations/{}/oauth-app/delete", integration.name)) {
                        (csrf(session))
                        button.danger type="submit" { "Remove OAuth app" }
                    }
                }
                form method="post" action=(format!("/console/integrations/{}/oauth-app", integration.name)) {
                    (errors.message("form"))
                    (csrf(session))
                    @for (field, label, secret) in [("client_id", "Client id", false), ("client_secret", "Client secret (stored encrypted, never shown again)", true), ("authorize_url", "Consent page URL (optional; the spec's by default)", false), ("token_url", "Token URL (optional; the spec's by default)", false), ("scopes", "Scopes (optional, space-separated)", false)] {
                        label for=(field) { (label) }
                        input id=(field) name=(field) type=(if secret { "password" } else { "text" }) autocomplete="off"
                            value=[(!secret).then(|| form.get(field))]
                            required[matches!(field, "client_id" | "client_secret")]
                            aria-invalid=[errors.invalid(field)] aria-describedby=[errors.described(field)];
                        (errors.message(field))
                    }
                    button type="submit" { @if app.is_some() { "Replace OAuth app" } @else { "Save OAuth app" } }
                }
            }
        }
        table {
            thead {
                tr {
                    th scope="col" { "Tool" } th scope="col" { "Title" } th scope="col" { "Method" }
                    th scope="col" { "Tags" } th scope="col" { "Description" }
                }
            }
            tbody {
                @for tool in integration.tools {
                    tr {
                        td data-label="Tool" { (tool_name(tool.name)) }
                        td data-label="Title" { (tool.title) }
                        td data-label="Method" { (tool.class.as_str()) }
                        td data-label="Tags" { (tool.tags.join(", ")) }
                        td.description data-label="Description" { (tool.description) }
                    }
                }
            }
        }
    };
    page(integration.title, Some(session), body).into_response()
}

async fn set_oauth_app(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let request = crate::connect::SetOAuthApp {
        client_id: form.get("client_id").trim().to_owned(),
        client_secret: form.get("client_secret").to_owned(),
        authorize_url: form.some("authorize_url"),
        token_url: form.some("token_url"),
        scopes: form
            .get("scopes")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    };
    match Provisioner::new(state.clone())
        .set_oauth_app(&name, request)
        .await
    {
        Ok(_) => Redirect::to(&format!("/console/integrations/{name}")).into_response(),
        Err(error) => {
            let errors = FieldErrors::of(&error.into());
            let mut response = integration_screen(&state, &session, &name, &form, &errors).await;
            *response.status_mut() = errors.status();
            response
        }
    }
}

async fn remove_oauth_app(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedPost { .. }: SignedPost,
) -> Response {
    match Provisioner::new(state).remove_oauth_app(&name).await {
        Ok(()) => Redirect::to(&format!("/console/integrations/{name}")).into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}

/// The page between the console and the vendor: the console's forms may only post to the
/// console itself, so the owner follows a link to the vendor's consent page.
fn continue_to_vendor(
    session: &ConsoleSession,
    vendor: &str,
    started: &crate::connect::ConnectStarted,
) -> Response {
    let body = html! {
        p { "Continue to " (vendor) " to sign in and allow access. You come back to specgate afterwards." }
        p { a.button #continue href=(started.authorize_url) { "Continue to " (vendor) } }
        p.hint { "The link works once, until " (started.expires_at) "." }
    };
    page(&format!("Connect with {vendor}"), Some(session), body).into_response()
}

async fn connect_account(
    State(state): State<AppState>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let chosen = form.get("integration").to_owned();
    let request = crate::connect::Connect {
        integration: chosen.clone(),
        name: form.get("name").trim().to_owned(),
        base_url: form.some("base_url"),
        scopes: None,
        return_to: None,
    };
    match Provisioner::new(state.clone()).connect(request).await {
        Ok(started) => continue_to_vendor(
            &session,
            state
                .catalog
                .integration(&chosen)
                .map_or("the vendor", |i| i.title),
            &started,
        ),
        Err(error) => {
            let errors = FieldErrors::of(&error.into());
            (
                errors.status(),
                account_form(
                    &state.catalog,
                    &session,
                    Some(&chosen),
                    &form,
                    &errors,
                    NewAccountForm::Connect,
                ),
            )
                .into_response()
        }
    }
}

async fn reconnect_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedPost { session, .. }: SignedPost,
) -> Response {
    let p = Provisioner::new(state.clone());
    let vendor = match p.get_account(&id).await {
        Ok(account) => state
            .catalog
            .integration(&account.integration)
            .map_or("the vendor", |i| i.title),
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    match p.reconnect(&id, crate::connect::Reconnect::default()).await {
        Ok(started) => continue_to_vendor(&session, vendor, &started),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}

fn not_found(session: &ConsoleSession, what: &str, id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            "Not found",
            Some(session),
            html! { p { "There is no " (what) " " code { (id) } "." } },
        ),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct IntegrationChoice {
    integration: Option<String>,
}

async fn new_account_page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(choice): Query<IntegrationChoice>,
) -> Response {
    account_form(
        &state.catalog,
        &session,
        choice.integration.as_deref(),
        &Form(Vec::new()),
        &FieldErrors::default(),
        NewAccountForm::Credentials,
    )
    .into_response()
}

/// Which of the new-account page's two forms was sent: connecting through the vendor's
/// consent page, or credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NewAccountForm {
    Connect,
    Credentials,
}

/// The new-account form. Credential inputs follow the integration's auth kind and are never
/// filled back in; the other inputs keep what was typed.
fn account_form(
    catalog: &Catalog,
    session: &ConsoleSession,
    chosen: Option<&str>,
    form: &Form,
    errors: &FieldErrors,
    sent: NewAccountForm,
) -> Html<String> {
    let none = FieldErrors::default();
    let empty = Form(Vec::new());
    let (connect_errors, connect_form, errors, form) = match sent {
        NewAccountForm::Connect => (errors, form, &none, &empty),
        NewAccountForm::Credentials => (&none, &empty, errors, form),
    };
    let chosen = chosen.and_then(|name| catalog.integration(name));
    let Some(chosen) = chosen else {
        let body = html! {
            form.card method="get" action="/console/accounts/new" {
                label for="integration" { "Integration" }
                select #integration name="integration"
                    aria-invalid=[errors.invalid("integration")]
                    aria-describedby=[errors.described("integration")] {
                    @for integration in catalog.integrations() {
                        option value=(integration.name) {
                            (integration.title) " (" (integration.auth.as_str()) ")"
                        }
                    }
                }
                (errors.message("integration"))
                button type="submit" { "Continue" }
            }
        };
        return page("New account", Some(session), body);
    };
    let body = html! {
        @if let AuthKind::OAuth2 { .. } = chosen.auth {
            form.card #connect method="post" action="/console/accounts/connect" {
                p { "Connect through " (chosen.title) "'s own consent page: its owner signs in there, and no secret passes through you." }
                (connect_errors.message("integration"))
                (connect_errors.message("form"))
                (csrf(session))
                input type="hidden" name="integration" value=(chosen.name);
                label for="connect_name" { "Name" }
                input #connect_name name="name" required value=(connect_form.get("name"))
                    aria-invalid=[connect_errors.invalid("name")] aria-describedby=[connect_errors.described("name")];
                (connect_errors.message("name"))
                label for="connect_base_url" { "Base URL (optional; the spec's by default)" }
                input #connect_base_url name="base_url" type="url" value=(connect_form.get("base_url"))
                    aria-invalid=[connect_errors.invalid("base_url")] aria-describedby=[connect_errors.described("base_url")];
                (connect_errors.message("base_url"))
                button type="submit" { "Connect with " (chosen.title) }
            }
            p { "Or enter credentials obtained elsewhere:" }
        }
        form.card method="post" action="/console/accounts" {
            (errors.message("form"))
            (csrf(session))
            input type="hidden" name="integration" value=(chosen.name);
            p {
                "Integration: " strong { (chosen.title) }
                " (" a href="/console/accounts/new" { "change" } ")"
            }
            label for="name" { "Name" }
            input #name name="name" required value=(form.get("name"))
                aria-invalid=[errors.invalid("name")] aria-describedby=[errors.described("name")];
            (errors.message("name"))
            label for="base_url" { "Base URL (optional; the spec's by default)" }
            input #base_url name="base_url" type="url" value=(form.get("base_url"))
                aria-invalid=[errors.invalid("base_url")] aria-describedby=[errors.described("base_url")];
            (errors.message("base_url"))
            (credential_fields(&chosen.auth, errors, true))
            button type="submit" { "Create account" }
        }
    };
    page("New account", Some(session), body)
}

/// Inputs for the credentials `auth` takes. None is ever pre-filled.
fn credential_fields(auth: &AuthKind, errors: &FieldErrors, required: bool) -> Markup {
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
        return html! { p { "This integration takes no credentials." } };
    }
    let needed = |name: &str| {
        required
            && matches!(
                name,
                "api_key" | "username" | "password" | "client_id" | "client_secret"
            )
    };
    html! {
        fieldset aria-invalid=[errors.invalid("credentials")] aria-describedby=[errors.described("credentials")] {
            legend {
                "Credentials"
                @if !required { " (leave empty to keep the current ones)" }
            }
            p.hint { "Stored encrypted and never shown again." }
            @for (name, label, secret) in fields {
                label for=(name) { (label) }
                input id=(name) name=(name) type=(if *secret { "password" } else { "text" })
                    autocomplete="off" required[needed(name)]
                    aria-invalid=[errors.invalid(name)] aria-describedby=[errors.described(name)];
                (errors.message(name))
            }
            (errors.message("credentials"))
        }
    }
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
    let name = form.get("name").trim().to_owned();
    let mut errors = FieldErrors::default();
    errors.check(crate::provision::check_name(&name));
    let credentials = errors.check(credentials_of(&form));
    let created = match credentials {
        Some(credentials) if errors.is_empty() => Provisioner::new(state.clone())
            .create_account(CreateAccount {
                integration: chosen.clone(),
                name,
                credentials: credentials.unwrap_or_default(),
                base_url: form.some("base_url"),
            })
            .await
            .map_err(|error| FieldErrors::of(&error.into())),
        _ => Err(errors),
    };
    match created {
        Ok(account) => Redirect::to(&format!("/console/accounts/{}", account.id)).into_response(),
        Err(errors) => (
            errors.status(),
            account_form(
                &state.catalog,
                &session,
                Some(&chosen),
                &form,
                &errors,
                NewAccountForm::Credentials,
            ),
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
    let Some(integration) = state.catalog.integration(&account.integration) else {
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
    let status = errors.status();
    let now = time::OffsetDateTime::now_utc();
    let expired = |when: &str| {
        time::OffsetDateTime::parse(when, &time::format_description::well_known::Rfc3339)
            .is_ok_and(|t| t <= now)
    };
    let body = html! {
        p {
            "Integration " a href=(format!("/console/integrations/{}", integration.name)) { (integration.title) }
            " · created " (account.created_at)
        }
        @if account.needs_reconnect {
            div.card #needs-reconnect role="alert" {
                p.error { (integration.title) " refused this account's refresh token: its owner must connect it again. Its MCP servers keep their URLs." }
                form method="post" action=(format!("/console/accounts/{}/reconnect", account.id)) {
                    (csrf(session))
                    button type="submit" { "Reconnect with " (integration.title) }
                }
            }
        }
        h2 { "MCP servers" }
        @if servers.is_empty() {
            p { "No MCP servers yet." }
        } @else {
            table {
                thead {
                    tr {
                        th scope="col" { "Server" } th scope="col" { "Methods" }
                        th scope="col" { "Tools" } th scope="col" { "Expires" }
                    }
                }
                tbody {
                    @for server in &servers {
                        tr {
                            td data-label="Server" { a href=(format!("/console/accounts/{}/servers/{}", account.id, server.id)) { (server.name) } }
                            td data-label="Methods" { (filter_text(&server.config.methods)) }
                            td data-label="Tools" { (state.catalog.visible(integration.name, &server.config).count()) }
                            td data-label="Expires" {
                                @match server.expires_at.as_deref() {
                                    None => "never",
                                    Some(when) => {
                                        @if expired(when) { strong.expired { "expired" } " " }
                                        (when)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (server_config_form(session, &account, integration, None, server_form, server_errors, state))
        (account_edit_form(session, &account, integration, edit_form, edit_errors))
    };
    (status, page(&account.name, Some(session), body)).into_response()
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
) -> Markup {
    let name = if form.0.is_empty() {
        account.name.as_str()
    } else {
        form.get("name")
    };
    let base_url = if form.0.is_empty() {
        account.base_url.as_deref().unwrap_or_default()
    } else {
        form.get("base_url")
    };
    html! {
        h2 { "Edit account" }
        form.card method="post" action=(format!("/console/accounts/{}", account.id)) {
            (errors.message("form"))
            (csrf(session))
            label for="account-name" { "Name" }
            input #account-name name="name" required value=(name)
                aria-invalid=[errors.invalid("name")] aria-describedby=[errors.described("name")];
            (errors.message("name"))
            label for="base_url" { "Base URL (empty: the spec's)" }
            input #base_url name="base_url" type="url" value=(base_url)
                aria-invalid=[errors.invalid("base_url")] aria-describedby=[errors.described("base_url")];
            (errors.message("base_url"))
            (credential_fields(&integration.auth, errors, false))
            button type="submit" { "Save account" }
        }
        form.danger method="post" action=(format!("/console/accounts/{}/delete", account.id))
            data-confirm="Delete this account and all its MCP servers?" {
            (csrf(session))
            button type="submit" { "Delete account" }
        }
    }
}

async fn update_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let name = form.get("name").trim().to_owned();
    let mut errors = FieldErrors::default();
    errors.check(crate::provision::check_name(&name));
    let credentials = errors.check(credentials_of(&form));
    let result = match credentials {
        Some(credentials) if errors.is_empty() => async {
            let current = provisioner.get_account(&id).await?;
            let base_url = form.some("base_url");
            let request = UpdateAccount {
                name: Some(name),
                credentials,
                // Sent only when it changes, so saving the name alone needs no credentials.
                base_url: (base_url != current.base_url).then_some(base_url),
            };
            provisioner.update_account(&id, request).await
        }
        .await
        .map_err(|error| FieldErrors::of(&error.into())),
        _ => Err(errors),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/console/accounts/{id}")).into_response(),
        Err(errors) => {
            account_screen(
                &state,
                &session,
                &id,
                &form,
                &errors,
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

/// The config a server form describes, or every error in it. Unticked groups mean: every
/// method is one choice to make explicitly (an empty list is refused by the API), every tag
/// and tool otherwise.
fn config_of(form: &Form) -> Result<ServerConfig, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut list = |field: &'static str, all_when_empty: bool| {
        let values = form.all(field);
        if values.is_empty() {
            if all_when_empty {
                return Some(Filter::All);
            }
            errors.push(&ConsoleError::Form {
                field,
                message: "tick at least one method class".to_owned(),
            });
            return None;
        }
        errors.check(
            Filter::from_list(values).map_err(|problem| ConsoleError::Form {
                field,
                message: format!("`{field}`: {problem}"),
            }),
        )
    };
    let (methods, tags, tools) = (
        list("methods", false),
        list("tags", true),
        list("tools", true),
    );
    let max_result_bytes = match form.some("max_result_bytes") {
        None => Some(DEFAULT_MAX_RESULT_BYTES),
        Some(text) => errors.check(
            text.parse()
                .map_err(|_| ConsoleError::Form {
                    field: "max_result_bytes",
                    message: format!("`{text}` is not a number of bytes"),
                })
                .and_then(|bytes| {
                    crate::provision::check_result_budget(bytes)
                        .map(|()| bytes)
                        .map_err(ConsoleError::from)
                }),
        ),
    };
    let confirm = match form.get("confirm") {
        "destructive" => Some(Confirm::Destructive),
        "writes" => Some(Confirm::Writes),
        "tools" => {
            let names = form.all("confirm_tools");
            if names.is_empty() {
                errors.push(&ConsoleError::Form {
                    field: "confirm_tools",
                    message: "pick the tools whose calls wait for a person".to_owned(),
                });
                None
            } else {
                Some(Confirm::Tools(names))
            }
        }
        _ => Some(Confirm::Never),
    };
    let (Some(methods), Some(tags), Some(tools), Some(max_result_bytes), Some(confirm)) =
        (methods, tags, tools, max_result_bytes, confirm)
    else {
        return Err(errors);
    };
    Ok(ServerConfig {
        methods,
        tags,
        tools,
        exclude_tools: form.all("exclude_tools"),
        require_api_token_auth: form.get("require_api_token_auth") == "on",
        oauth: form.get("oauth") == "on",
        max_result_bytes,
        tool_exposure: match form.get("tool_exposure") {
            "discovery" => ToolExposure::Discovery,
            _ => ToolExposure::All,
        },
        schema_profile: match form.get("schema_profile") {
            "portable" => SchemaProfile::Portable,
            _ => SchemaProfile::Full,
        },
        confirm,
        confirm_fallback: match form.get("confirm_fallback") {
            "allow" => ConfirmFallback::Allow,
            _ => ConfirmFallback::Refuse,
        },
    })
}

/// A server form's name, config and expiry, or every error in them at once.
fn server_form_of(form: &Form) -> Result<(String, ServerConfig, Option<String>), FieldErrors> {
    let name = form.get("name").trim().to_owned();
    let expires_at = expires_of(form);
    let (config, mut errors) = match config_of(form) {
        Ok(config) => (Some(config), FieldErrors::default()),
        Err(errors) => (None, errors),
    };
    errors.check(crate::provision::check_name(&name));
    if let Some(at) = &expires_at {
        errors.check(Provisioner::parse_expiry(at));
    }
    match config {
        Some(config) if errors.is_empty() => Ok((name, config, expires_at)),
        _ => Err(errors),
    }
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
) -> Markup {
    let submitted = !form.0.is_empty();
    let config = if submitted {
        config_of(form).unwrap_or_else(|_| server.map(|s| s.config.clone()).unwrap_or_default())
    } else {
        server.map(|s| s.config.clone()).unwrap_or_default()
    };
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
    let method_checked = |value: &str| {
        if submitted {
            form.all("methods").iter().any(|m| m == value)
        } else {
            config.methods.admits(|m| m == value)
        }
    };
    let only = |filter: &Filter, value: &str| matches!(filter, Filter::Only(values) if values.iter().any(|v| v == value));
    let tool_names = || integration.tools.iter().map(|t| t.name);
    let (action, heading, submit) = match server {
        None => (
            format!("/console/accounts/{}/servers", account.id),
            "New MCP server",
            "Create MCP server",
        ),
        Some(s) => (
            format!("/console/accounts/{}/servers/{}", account.id, s.id),
            "Settings",
            "Save settings",
        ),
    };
    html! {
        h2 { (heading) }
        form.card method="post" action=(action) data-preview=(format!("/console/accounts/{}/preview", account.id)) {
            (errors.message("form"))
            (csrf(session))
            label for="server-name" { "Name" }
            input #server-name name="name" required value=(name)
                aria-invalid=[errors.invalid("name")] aria-describedby=[errors.described("name")];
            (errors.message("name"))
            fieldset aria-invalid=[errors.invalid("methods")] aria-describedby=[errors.described("methods")] {
                legend { "Methods" }
                @for (value, label) in [("read", "read (get, list)"), ("write", "write (create, update, delete)"), ("custom", "custom")] {
                    label.check {
                        input type="checkbox" name="methods" value=(value) checked[method_checked(value)];
                        " " (label)
                    }
                }
                (errors.message("methods"))
            }
            label for="tags" { "Tags (none selected: all)" }
            select #tags name="tags" multiple
                aria-invalid=[errors.invalid("tags")] aria-describedby=[errors.described("tags")] {
                @for tag in tag_values(integration) {
                    option value=(tag) selected[only(&config.tags, tag)] { (tag) }
                }
            }
            (errors.message("tags"))
            label for="tools" { "Only these tools (none selected: all)" }
            select #tools name="tools" multiple
                aria-invalid=[errors.invalid("tools")] aria-describedby=[errors.described("tools")] {
                @for tool in tool_names() {
                    option value=(tool) selected[only(&config.tools, tool)] { (tool) }
                }
            }
            (errors.message("tools"))
            label for="exclude_tools" { "Never these tools" }
            select #exclude_tools name="exclude_tools" multiple
                aria-invalid=[errors.invalid("exclude_tools")] aria-describedby=[errors.described("exclude_tools")] {
                @for tool in tool_names() {
                    option value=(tool) selected[config.exclude_tools.iter().any(|v| v == tool)] { (tool) }
                }
            }
            (errors.message("exclude_tools"))
            label.check {
                input type="checkbox" name="require_api_token_auth" checked[config.require_api_token_auth];
                " Clients must also send an API token (second factor)"
            }
            label.check {
                input type="checkbox" name="oauth" checked[config.oauth];
                " Clients sign in with OAuth (ChatGPT, Claude); a person allows each with an API token"
            }
            label for="max_result_bytes" { "Result budget, bytes (2,000 to 2,000,000)" }
            input #max_result_bytes name="max_result_bytes" type="number" min="2000" max="2000000"
                value=(if submitted { form.get("max_result_bytes").to_owned() } else { config.max_result_bytes.to_string() })
                aria-invalid=[errors.invalid("max_result_bytes")] aria-describedby=[errors.described("max_result_bytes")];
            (errors.message("max_result_bytes"))
            label for="tool_exposure" { "Tools listed" }
            select #tool_exposure name="tool_exposure" {
                option value="all" selected[config.tool_exposure == ToolExposure::All] { "all of them" }
                option value="discovery" selected[config.tool_exposure == ToolExposure::Discovery] {
                    "discovery: search_tools, get_tool_schema and call_tool (for integrations too big to list)"
                }
            }
            label for="schema_profile" { "Tool schemas" }
            select #schema_profile name="schema_profile" {
                option value="full" selected[config.schema_profile == SchemaProfile::Full] { "full: JSON Schema 2020-12" }
                option value="portable" selected[config.schema_profile == SchemaProfile::Portable] {
                    "portable: accepted by every major client (Gemini, OpenAI, Cursor)"
                }
            }
            p.hint { "Either way, " code { "/portable" } " after the MCP URL serves the portable schemas." }
            label for="confirm" { "Calls that wait for a person's confirmation" }
            select #confirm name="confirm" {
                option value="never" selected[config.confirm == Confirm::Never] { "none" }
                option value="destructive" selected[config.confirm == Confirm::Destructive] { "destructive: deletes and overwrites" }
                option value="writes" selected[config.confirm == Confirm::Writes] { "writes: every tool that is not read-only" }
                option value="tools" selected[matches!(config.confirm, Confirm::Tools(_))] { "the tools chosen below" }
            }
            label for="confirm_tools" { "Tools whose calls wait for confirmation (with “the tools chosen below”)" }
            select #confirm_tools name="confirm_tools" multiple
                aria-invalid=[errors.invalid("confirm_tools")] aria-describedby=[errors.described("confirm_tools")] {
                @for tool in tool_names() {
                    option value=(tool) selected[matches!(&config.confirm, Confirm::Tools(names) if names.iter().any(|n| n == tool))] { (tool) }
                }
            }
            (errors.message("confirm_tools"))
            label for="confirm_fallback" { "Where the client cannot ask the person" }
            select #confirm_fallback name="confirm_fallback" {
                option value="refuse" selected[config.confirm_fallback == ConfirmFallback::Refuse] { "refuse the call, and say which clients can confirm it" }
                option value="allow" selected[config.confirm_fallback == ConfirmFallback::Allow] { "run it unconfirmed" }
            }
            p.hint { "MCP 2026-07-28 clients that declare elicitation, and stdio clients that do, show the person what the call will do and run it only once they accept." }
            label for="expires_at" { "Expires at, UTC (optional)" }
            input #expires_at name="expires_at" type="datetime-local" value=(expires)
                aria-invalid=[errors.invalid("expires_at")] aria-describedby=[errors.described("expires_at")];
            (errors.message("expires_at"))
            section.preview #preview aria-live="polite" { (preview_html(state, integration, &config)) }
            button type="submit" { (submit) }
        }
    }
}

/// The tools a config yields, from the same filter the MCP endpoint applies.
fn preview_html(state: &AppState, integration: &Integration, config: &ServerConfig) -> Markup {
    let tools: Vec<&str> = state
        .catalog
        .visible(integration.name, config)
        .map(|t| t.def.name)
        .collect();
    let exposure = crate::provision::Exposure::of(
        state
            .catalog
            .visible(integration.name, config)
            .map(|t| t.def),
    );
    html! {
        h3 {
            "Tools this server exposes: " span #preview-count { (tools.len()) }
            " of " (integration.tools.len())
        }
        p #preview-exposure {
            (exposure.read_only) " only read, " (exposure.writes) " write"
            @if exposure.destructive > 0 {
                ", " strong { (exposure.destructive) " of them destructive" } " (deletes and overwrites)"
            }
            "."
        }
        ul #preview-tools {
            @for name in &tools { li { (tool_name(name)) } }
        }
    }
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
    let Some(integration) = state.catalog.integration(&account.integration) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match config_of(&form) {
        Ok(config) => {
            Html(preview_html(&state, integration, &config).into_string()).into_response()
        }
        Err(errors) => Html(
            html! {
                @for (_, message) in &errors.errors { p.error role="alert" { (message) } }
            }
            .into_string(),
        )
        .into_response(),
    }
}

async fn create_server(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let created = match server_form_of(&form) {
        Ok((name, config, expires_at)) => Provisioner::new(state.clone())
            .create_server(
                &id,
                CreateServer {
                    name,
                    config,
                    expires_at,
                },
            )
            .await
            .map_err(|error| FieldErrors::of(&error.into())),
        Err(errors) => Err(errors),
    };
    match created {
        Ok(server) => shown_once(&state, &session, &id, &server, "MCP server created"),
        Err(errors) => {
            account_screen(
                &state,
                &session,
                &id,
                &form,
                &errors,
                Some(AccountForm::NewServer),
            )
            .await
        }
    }
}

/// The notice above a secret shown once: `what` is the sentence's subject.
fn shown_once_warning(what: &str) -> Markup {
    html! {
        p.warning role="alert" {
            (what) " is shown only now and will not be shown again; copy it before you leave this page."
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
    // Claude Desktop's config file takes local commands; mcp-remote bridges to the URL.
    let claude_desktop = serde_json::to_string_pretty(
        &json!({"mcpServers": {server.name.clone(): {"command": "npx", "args": ["mcp-remote", url]}}}),
    )
    .unwrap_or_default();
    let copyable = |id: &str, value: &str| {
        html! {
            div.copy {
                input id=(id) readonly value=(value);
                button type="button" data-copy=(id) { "Copy" }
            }
        }
    };
    let body = html! {
        (shown_once_warning("This URL contains a secret. It"))
        @if let Some(exposes) = &server.exposes {
            p #exposes {
                "Clients can call " (exposes.tools) " tools: " (exposes.read_only) " that only read, "
                (exposes.writes) " that write, " (exposes.destructive) " of those destructive (deletes and overwrites)."
            }
        }
        @for warning in &server.warnings { p.hint { (warning) } }
        label for="mcp-url" { "MCP URL (streamable HTTP)" }
        (copyable("mcp-url", &url))
        @if server.config.oauth {
            p.hint {
                "ChatGPT and Claude sign in with OAuth at this URL: the person connecting allows it with an API token (admin, or "
                code { "mcp" } " scope for this account). Headless agents may send an API token instead."
            }
        } @else if server.config.require_api_token_auth {
            p.hint {
                "This server also needs " code { "Authorization: Bearer <API token>" }
                " on every request; add it to the client's headers."
            }
        }
        h2 { "Cursor (" code { "mcpServers" } ")" }
        div.copy {
            textarea #snippet-desktop readonly rows="7" { (desktop) }
            button type="button" data-copy="snippet-desktop" { "Copy" }
        }
        h2 { "Claude Desktop config file (" code { "mcpServers" } ")" }
        div.copy {
            textarea #snippet-claude-desktop readonly rows="9" { (claude_desktop) }
            button type="button" data-copy="snippet-claude-desktop" { "Copy" }
        }
        h2 { "ChatGPT and Claude connectors" }
        p {
            "Paste the MCP URL as the connector's server URL."
            @if server.config.oauth { " They sign in with OAuth when they connect." }
        }
        h2 { "Legacy SSE clients" }
        (copyable("snippet-sse", &format!("{url}/sse")))
        h2 { "Clients that take only simple schemas (Gemini)" }
        (copyable("snippet-portable", &format!("{url}/portable")))
        h2 { "stdio (on the specgate host)" }
        (copyable("snippet-stdio", &format!("specgate stdio --mcp-token {token}")))
        p { a.button href=(format!("/console/accounts/{account_id}")) { "Done" } }
    };
    page(title, Some(session), body).into_response()
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
    let Some(integration) = state.catalog.integration(&account.integration) else {
        return not_found(session, "integration", &account.integration);
    };
    let status = errors.status();
    let grants = match provisioner.list_grants(id, sid).await {
        Ok(grants) => grants,
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    let body = html! {
        p {
            "Account " a href=(format!("/console/accounts/{}", account.id)) { (account.name) }
            " · created " (server.created_at)
            " · expires " (server.expires_at.as_deref().unwrap_or("never"))
            " · " a #activity href=(format!("/console/accounts/{}/servers/{}/activity", account.id, server.id)) { "Activity" }
        }
        (server_config_form(session, &account, integration, Some(&server), form, errors, state))
        @if server.config.oauth || !grants.is_empty() {
            h2 { "Connected clients" }
            @if grants.is_empty() {
                p { "No client has signed in yet." }
            } @else {
                table {
                    thead {
                        tr {
                            th scope="col" { "Client" } th scope="col" { "Client id" }
                            th scope="col" { "Connected" } th scope="col" { "Last used" } th scope="col" { "" }
                        }
                    }
                    tbody {
                        @for grant in &grants {
                            tr {
                                td data-label="Client" { (grant.client_name.as_deref().unwrap_or("(unknown client)")) }
                                td data-label="Client id" { code { (grant.client_id) } }
                                td data-label="Connected" { (grant.created_at) }
                                td data-label="Last used" { (grant.last_used_at.as_deref().unwrap_or("never")) }
                                td {
                                    form method="post"
                                        action=(format!("/console/accounts/{}/servers/{}/grants/{}/revoke", account.id, server.id, grant.id))
                                        data-confirm="Revoke? This client must sign in again." {
                                        (csrf(session))
                                        button type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Rotate or delete" }
        p.hint { "Rotating makes a new URL; the old one stops working at once." }
        form method="post" action=(format!("/console/accounts/{}/servers/{}/rotate", account.id, server.id))
            data-confirm="Rotate? The current URL stops working." {
            (csrf(session))
            button type="submit" { "Rotate URL" }
        }
        form.danger method="post" action=(format!("/console/accounts/{}/servers/{}/delete", account.id, server.id))
            data-confirm="Delete this MCP server?" {
            (csrf(session))
            button type="submit" { "Delete MCP server" }
        }
    };
    (status, page(&server.name, Some(session), body)).into_response()
}

async fn update_server(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
    SignedPost { session, form }: SignedPost,
) -> Response {
    let result = match server_form_of(&form) {
        Ok((name, config, expires_at)) => match serde_json::to_value(config) {
            Ok(Value::Object(config)) => Provisioner::new(state.clone())
                .update_server(
                    &id,
                    &sid,
                    UpdateServer {
                        name: Some(name),
                        config: Some(config),
                        expires_at: Some(expires_at),
                    },
                )
                .await
                .map_err(|error| FieldErrors::of(&error.into())),
            _ => Err(FieldErrors::of(&ConsoleError::internal(
                "a server config is a JSON object",
            ))),
        },
        Err(errors) => Err(errors),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/console/accounts/{id}/servers/{sid}")).into_response(),
        Err(errors) => server_screen(&state, &session, &id, &sid, &form, &errors).await,
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

async fn revoke_grant(
    State(state): State<AppState>,
    Path((id, sid, gid)): Path<(String, String, String)>,
    _: SignedPost,
) -> Response {
    match Provisioner::new(state).revoke_grant(&id, &sid, &gid).await {
        Ok(()) => Redirect::to(&format!("/console/accounts/{id}/servers/{sid}")).into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_an_operator_or_a_spec_wrote_never_opens_a_tag() {
        let hostile = "<script>alert('x')</script>\"&";
        let errors = FieldErrors {
            errors: vec![("name", hostile.to_owned())],
            status: None,
        };
        let html = page(hostile, None, errors.message("name")).0;
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert('x')&lt;/script&gt;&quot;&amp;"),
            "{html}"
        );
        let attribute = csrf(&ConsoleSession {
            id_hash: String::new(),
            api_token_id: String::new(),
            csrf_token: hostile.to_owned(),
            created_at: 0,
            expires_at: 0,
        })
        .into_string();
        assert!(attribute.contains("value=\"&lt;script&gt;"), "{attribute}");
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
}
