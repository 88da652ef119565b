//! The home page (integrations and accounts) and an integration's page: its tools and its
//! OAuth app.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use specgate_runtime::AuthKind;

use crate::provision::{ProvisionError, Provisioner};
use crate::state::AppState;
use crate::store::ConsoleSession;

use super::{
    ConsoleError, FieldErrors, Signed, SignedPost, csrf, filled, not_found, page, tool_name,
};

pub(super) async fn home(State(state): State<AppState>, Signed(session): Signed) -> Response {
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

pub(super) async fn integration_page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Signed(session): Signed,
) -> Response {
    integration_screen(
        &state,
        &session,
        &name,
        &OAuthAppForm::default(),
        &FieldErrors::default(),
    )
    .await
}

/// The OAuth app form. The secret is never filled back in, so the type has no `Debug` that
/// could print it.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OAuthAppForm {
    client_id: String,
    client_secret: String,
    authorize_url: String,
    token_url: String,
    scopes: String,
}

/// An integration's page: its OAuth app (where it has one) and its tools. A refused OAuth app
/// form comes back with what was typed, the secret aside.
pub(super) async fn integration_screen(
    state: &AppState,
    session: &ConsoleSession,
    name: &str,
    form: &OAuthAppForm,
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
                    @for (field, label, kept) in [("client_id", "Client id", Some(&form.client_id)), ("client_secret", "Client secret (stored encrypted, never shown again)", None), ("authorize_url", "Consent page URL (optional; the spec's by default)", Some(&form.authorize_url)), ("token_url", "Token URL (optional; the spec's by default)", Some(&form.token_url)), ("scopes", "Scopes (optional, space-separated)", Some(&form.scopes))] {
                        label for=(field) { (label) }
                        input id=(field) name=(field) type=(if kept.is_none() { "password" } else { "text" }) autocomplete="off"
                            value=[kept]
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

pub(super) async fn set_oauth_app(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedPost { session, form }: SignedPost<OAuthAppForm>,
) -> Response {
    let request = crate::connect::SetOAuthApp {
        client_id: form.client_id.trim().to_owned(),
        client_secret: form.client_secret.clone(),
        authorize_url: filled(&form.authorize_url),
        token_url: filled(&form.token_url),
        scopes: form.scopes.split_whitespace().map(str::to_owned).collect(),
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

pub(super) async fn remove_oauth_app(
    State(state): State<AppState>,
    Path(name): Path<String>,
    SignedPost { .. }: SignedPost,
) -> Response {
    match Provisioner::new(state).remove_oauth_app(&name).await {
        Ok(()) => Redirect::to(&format!("/console/integrations/{name}")).into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}
