//! The API tokens page: every token with its scope, account, expiry and last use; a form
//! that makes one (shown once, like an MCP URL); and revocation.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use serde::Deserialize;

use super::servers::{expiry, shown_once_warning};
use super::{ConsoleError, FieldErrors, Signed, SignedPost, csrf, filled, page};
use crate::provision::{AccountView, Provisioner, rfc3339};
use crate::state::AppState;
use crate::store::{ConsoleSession, TokenScope};

pub(super) async fn tokens_page(
    State(state): State<AppState>,
    Signed(session): Signed,
) -> Response {
    tokens_screen(
        &state,
        &session,
        &TokenForm::default(),
        &FieldErrors::default(),
    )
    .await
}

/// The new API token form.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct TokenForm {
    name: String,
    scope: TokenScope,
    account_id: String,
    expires_at: String,
}

async fn tokens_screen(
    state: &AppState,
    session: &ConsoleSession,
    form: &TokenForm,
    errors: &FieldErrors,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let (tokens, accounts) = match (
        provisioner.list_api_tokens().await,
        provisioner.list_accounts().await,
    ) {
        (Ok(tokens), Ok(accounts)) => (tokens, accounts),
        (Err(error), _) | (_, Err(error)) => return ConsoleError::from(error).into_response(),
    };
    let account_name = |id: &str| {
        accounts
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| id.to_owned(), |a| a.name.clone())
    };
    let body = html! {
        p.hint {
            "An " code { "admin" } " token opens the admin API and this console. An " code { "mcp" }
            " token is only a second factor: a person signs in with it on an MCP server's consent page, or a headless agent sends it with its calls."
        }
        table #api-tokens {
            thead {
                tr {
                    th scope="col" { "Name" } th scope="col" { "Scope" } th scope="col" { "Account" }
                    th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "Last used" }
                    th scope="col" { "" }
                }
            }
            tbody {
                @for view in &tokens {
                    @let token = &view.token;
                    tr {
                        td data-label="Name" {
                            (token.name)
                            @if token.id == session.api_token_id { " " span.badge { "this session" } }
                        }
                        td data-label="Scope" { code { (token.scope.as_str()) } }
                        td data-label="Account" {
                            @match &token.account_id {
                                Some(id) => a href=(format!("/console/accounts/{id}")) { (account_name(id)) },
                                None => "any",
                            }
                        }
                        td data-label="Created" { (rfc3339(token.created_at)) }
                        td data-label="Expires" {
                            @match token.expires_at {
                                None => "never",
                                Some(at) => {
                                    @if !token.live() { strong.expired { "expired" } " " }
                                    (rfc3339(at))
                                }
                            }
                        }
                        td data-label="Last used" {
                            (view.last_used_ms.map_or_else(|| "never".to_owned(), |ms| rfc3339(ms / 1000)))
                        }
                        td {
                            form method="post" action=(format!("/console/api-tokens/{}/revoke", token.id))
                                data-confirm=(if token.id == session.api_token_id {
                                    "Revoke the token of this session? You are signed out at once."
                                } else {
                                    "Revoke? Everything that uses this token is refused from now on."
                                }) {
                                (csrf(session))
                                button type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
        (token_form(session, &accounts, form, errors))
    };
    (errors.status(), page("API tokens", Some(session), body)).into_response()
}

fn token_form(
    session: &ConsoleSession,
    accounts: &[AccountView],
    form: &TokenForm,
    errors: &FieldErrors,
) -> Markup {
    let admin = form.scope == TokenScope::Admin;
    html! {
        h2 { "New API token" }
        form.card method="post" action="/console/api-tokens" {
            (errors.message("form"))
            (csrf(session))
            label for="token-name" { "Name" }
            input #token-name name="name" required value=(form.name)
                aria-invalid=[errors.invalid("name")] aria-describedby=[errors.described("name")];
            (errors.message("name"))
            label for="scope" { "Scope" }
            select #scope name="scope"
                aria-invalid=[errors.invalid("scope")] aria-describedby=[errors.described("scope")] {
                option value="mcp" selected[!admin] { "mcp: a second factor and consent sign-in only" }
                option value="admin" selected[admin] { "admin: the admin API and this console" }
            }
            (errors.message("scope"))
            label for="account_id" { "Account (mcp tokens only; none: any account)" }
            select #account_id name="account_id"
                aria-invalid=[errors.invalid("account_id")] aria-describedby=[errors.described("account_id")] {
                option value="" { "any account" }
                @for a in accounts {
                    option value=(a.id) selected[a.id == form.account_id] { (a.name) " (" (a.integration) ")" }
                }
            }
            (errors.message("account_id"))
            label for="token-expires" { "Expires at, UTC (optional)" }
            input #token-expires name="expires_at" type="datetime-local" value=(form.expires_at)
                aria-invalid=[errors.invalid("expires_at")] aria-describedby=[errors.described("expires_at")];
            (errors.message("expires_at"))
            button type="submit" { "Create API token" }
        }
    }
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    SignedPost { session, form }: SignedPost<TokenForm>,
) -> Response {
    let name = form.name.trim().to_owned();
    let scope = form.scope;
    let account = filled(&form.account_id);
    let expires_at = expiry(&form.expires_at);
    // Every rule at once, so the form shows every error together.
    let mut errors = FieldErrors::default();
    errors.check(crate::provision::check_name(&name));
    if scope == TokenScope::Admin && account.is_some() {
        errors.push(&ConsoleError::Form {
            field: "account_id",
            message: "only mcp tokens can be bound to an account".to_owned(),
        });
    }
    if let Some(at) = &expires_at {
        errors.check(Provisioner::parse_expiry(at));
    }
    let created = if errors.is_empty() {
        Provisioner::new(state.clone())
            .create_api_token_until(&name, scope, account.as_deref(), expires_at.as_deref())
            .await
            .map_err(|error| FieldErrors::of(&error.into()))
    } else {
        Err(errors)
    };
    let (record, token) = match created {
        Ok(created) => created,
        Err(errors) => return tokens_screen(&state, &session, &form, &errors).await,
    };
    let body = html! {
        (shown_once_warning("This API token"))
        label for="api-token" { "API token (" (record.scope.as_str()) " scope)" }
        div.copy {
            input #api-token readonly value=(token);
            button type="button" data-copy="api-token" { "Copy" }
        }
        @if record.scope == TokenScope::Mcp {
            p.hint { "A person pastes it on an MCP server's consent page to allow a client, or a headless agent sends it as " code { "Authorization: Bearer <API token>" } "." }
        } @else {
            p.hint { "Scripts send it as " code { "Authorization: Bearer <API token>" } " to the admin API; it also signs in to this console." }
        }
        p { a.button href="/console/api-tokens" { "Done" } }
    };
    page("API token created", Some(&session), body).into_response()
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: SignedPost,
) -> Response {
    match Provisioner::new(state).revoke_api_token(&id).await {
        // Revoking the session's own token ends the session: the next page says so.
        Ok(()) => Redirect::to("/console/api-tokens").into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}
