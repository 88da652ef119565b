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

mod accounts;
mod activity;
mod hosts;
mod integrations;
mod servers;
mod sign_in;
mod tokens;

use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::extract::{FromRequest, FromRequestParts, RawForm, Request};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{Markup, html};
use serde::de::DeserializeOwned;

use crate::limiter::SignInLimits;
use crate::provision::{Field, ProvisionError};
use crate::state::AppState;
use crate::store::{ConsoleSession, SessionEnd, now};
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
        .route("/", get(integrations::home))
        .route("/login", get(sign_in::login_page).post(sign_in::login))
        .route("/logout", post(sign_in::logout))
        .route("/assets/console.css", get(|| asset("text/css", CSS)))
        .route("/assets/console.js", get(|| asset("text/javascript", JS)))
        .route("/integrations/{name}", get(integrations::integration_page))
        .route(
            "/integrations/{name}/oauth-app",
            post(integrations::set_oauth_app),
        )
        .route(
            "/integrations/{name}/oauth-app/delete",
            post(integrations::remove_oauth_app),
        )
        .route("/accounts/connect", post(accounts::connect_account))
        .route(
            "/accounts/{id}/reconnect",
            post(accounts::reconnect_account),
        )
        .route("/accounts/new", get(accounts::new_account_page))
        .route("/accounts", post(accounts::create_account))
        .route(
            "/accounts/{id}",
            get(accounts::account_page).post(accounts::update_account),
        )
        .route("/accounts/{id}/delete", post(accounts::delete_account))
        .route("/accounts/{id}/preview", get(servers::preview))
        .route("/accounts/{id}/servers", post(servers::create_server))
        .route(
            "/accounts/{id}/servers/{sid}",
            get(servers::server_page).post(servers::update_server),
        )
        .route(
            "/accounts/{id}/servers/{sid}/rotate",
            post(servers::rotate_server),
        )
        .route(
            "/accounts/{id}/servers/{sid}/delete",
            post(servers::delete_server),
        )
        .route(
            "/accounts/{id}/servers/{sid}/grants/{gid}/revoke",
            post(servers::revoke_grant),
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
/// (see [`check_post`]), read into its type `F`; anything else is refused before the handler
/// runs. It reads the body, so it comes last among a handler's arguments.
struct SignedPost<F = Buttons> {
    session: ConsoleSession,
    form: F,
}

/// The form of a button alone (delete, revoke, rotate): it carries only the CSRF token.
#[derive(serde::Deserialize)]
struct Buttons {}

impl<S: Send + Sync, F: DeserializeOwned> FromRequest<S> for SignedPost<F>
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
        if let Some(refused) = check_post(&headers, Some(&session), &raw) {
            return Err(refused);
        }
        Ok(Self {
            form: read_form(&raw).map_err(IntoResponse::into_response)?,
            session,
        })
    }
}

/// A form's fields as its type, or the error that names the field that could not be read.
/// Repeated keys (checkbox groups, multi-selects) fill a `Vec`, as browsers send them;
/// `serde_html_form` rather than axum's own `Form` (serde_urlencoded), which keeps only one.
fn read_form<F: DeserializeOwned>(body: &[u8]) -> Result<F, ConsoleError> {
    serde_path_to_error::deserialize(serde_html_form::Deserializer::from_bytes(body)).map_err(
        |error| ConsoleError::Form {
            field: "form",
            message: format!(
                "the form's `{}` could not be read: {}",
                error.path(),
                error.inner()
            ),
        },
    )
}

/// Deserializes a ticked checkbox (sent as `on`, or as its `value`) as `true`; an unticked one
/// is not sent, so its field takes its default, `false`.
fn checkbox<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    <String as serde::Deserialize>::deserialize(deserializer).map(|_| true)
}

/// A text input's value, trimmed; `None` when it is empty.
fn filled(value: &str) -> Option<String> {
    Some(value.trim().to_owned()).filter(|v| !v.is_empty())
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

/// The refusal of a POST that a different site made: a foreign `Origin`, or a missing or wrong
/// CSRF token.
fn check_post(
    headers: &HeaderMap,
    session: Option<&ConsoleSession>,
    body: &[u8],
) -> Option<Response> {
    if let Some(refusal) = web::foreign_origin(headers) {
        return Some(forbidden(&refusal));
    }
    let csrf = || {
        form_urlencoded::parse(body)
            .find(|(key, _)| key == "csrf")
            .map(|(_, value)| value)
            .unwrap_or_default()
    };
    if let Some(session) = session
        && !constant_time_eq(csrf().as_bytes(), session.csrf_token.as_bytes())
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
    fn forms_keep_repeated_keys_and_read_checkboxes() {
        let form: servers::ServerForm = read_form(
            b"csrf=x&methods=read&methods=write&tags=&name=a+b&oauth=on&max_result_bytes=9000",
        )
        .unwrap_or_else(|_| panic!("a server form"));
        assert_eq!(form.methods, ["read", "write"]);
        assert_eq!(form.tags, [""]);
        assert_eq!(form.name, "a b");
        assert!(form.oauth);
        assert!(!form.require_api_token_auth);
        let config = form.config().unwrap_or_else(|_| panic!("a config"));
        assert_eq!(config.tags, crate::store::Filter::All);
        assert_eq!(config.max_result_bytes, 9000);
        let refused = read_form::<servers::ServerForm>(b"name=a&tool_exposure=sideways")
            .err()
            .expect("an unknown choice is refused");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let message = refused.message();
        assert!(
            message.starts_with("the form's `tool_exposure` could not be read")
                && message.contains("`sideways`"),
            "{message}"
        );
    }
}
