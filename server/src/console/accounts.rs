//! Accounts: creating one with credentials or through the vendor's consent, its page,
//! editing, reconnecting and deleting it.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use specgate_runtime::{AuthKind, Integration};

use crate::call::Credentials;
use crate::catalog::Catalog;
use crate::provision::{AccountView, CreateAccount, ProvisionError, Provisioner, UpdateAccount};
use crate::state::AppState;
use crate::store::{ConsoleSession, Filter};

use super::servers::{ServerForm, server_config_form};
use super::{ConsoleError, FieldErrors, Signed, SignedPost, csrf, filled, not_found, page};

/// The fields of the account forms: connecting through the vendor, entering credentials,
/// and editing. The credential fields are read once and never filled back in, so the type
/// has no `Debug` that could print them.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct AccountFields {
    integration: String,
    name: String,
    base_url: String,
    api_key: String,
    username: String,
    password: String,
    client_id: String,
    client_secret: String,
    access_token: String,
    refresh_token: String,
    token_url: String,
    /// A JSON object, as text, so that a wrong one is an error under its field.
    token_params: String,
}

impl AccountFields {
    /// The credentials the form carries, if any field was filled in.
    fn credentials(&self) -> Result<Option<Credentials>, ConsoleError> {
        let mut credentials = Credentials {
            api_key: filled(&self.api_key),
            username: filled(&self.username),
            password: filled(&self.password),
            client_id: filled(&self.client_id),
            client_secret: filled(&self.client_secret),
            access_token: filled(&self.access_token),
            refresh_token: filled(&self.refresh_token),
            token_url: filled(&self.token_url),
            ..Credentials::default()
        };
        if let Some(params) = filled(&self.token_params) {
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
}

/// The page between the console and the vendor: the console's forms may only post to the
/// console itself, so the owner follows a link to the vendor's consent page.
pub(super) fn continue_to_vendor(
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

pub(super) async fn connect_account(
    State(state): State<AppState>,
    SignedPost { session, form }: SignedPost<AccountFields>,
) -> Response {
    let chosen = form.integration.clone();
    let request = crate::connect::Connect {
        integration: chosen.clone(),
        name: form.name.trim().to_owned(),
        base_url: filled(&form.base_url),
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
                    Some(NewAccountSent::Connect(&form)),
                    &errors,
                ),
            )
                .into_response()
        }
    }
}

pub(super) async fn reconnect_account(
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

#[derive(serde::Deserialize)]
pub(super) struct IntegrationChoice {
    integration: Option<String>,
}

pub(super) async fn new_account_page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(choice): Query<IntegrationChoice>,
) -> Response {
    account_form(
        &state.catalog,
        &session,
        choice.integration.as_deref(),
        None,
        &FieldErrors::default(),
    )
    .into_response()
}

/// Which of the new-account page's two forms was sent, with what it held: connecting
/// through the vendor's consent page, or credentials.
pub(super) enum NewAccountSent<'f> {
    Connect(&'f AccountFields),
    Credentials(&'f AccountFields),
}

/// The new-account page, with the form that was sent (if any) and its errors. Credential
/// inputs follow the integration's auth kind and are never filled back in; the other inputs
/// keep what was typed.
pub(super) fn account_form(
    catalog: &Catalog,
    session: &ConsoleSession,
    chosen: Option<&str>,
    sent: Option<NewAccountSent<'_>>,
    errors: &FieldErrors,
) -> Html<String> {
    let none = FieldErrors::default();
    let empty = AccountFields::default();
    let (connect_errors, connect_form, errors, form) = match sent {
        Some(NewAccountSent::Connect(form)) => (errors, form, &none, &empty),
        Some(NewAccountSent::Credentials(form)) => (&none, &empty, errors, form),
        None => (&none, &empty, &none, &empty),
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
                input #connect_name name="name" required value=(connect_form.name)
                    aria-invalid=[connect_errors.invalid("name")] aria-describedby=[connect_errors.described("name")];
                (connect_errors.message("name"))
                label for="connect_base_url" { "Base URL (optional; the spec's by default)" }
                input #connect_base_url name="base_url" type="url" value=(connect_form.base_url)
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
            input #name name="name" required value=(form.name)
                aria-invalid=[errors.invalid("name")] aria-describedby=[errors.described("name")];
            (errors.message("name"))
            label for="base_url" { "Base URL (optional; the spec's by default)" }
            input #base_url name="base_url" type="url" value=(form.base_url)
                aria-invalid=[errors.invalid("base_url")] aria-describedby=[errors.described("base_url")];
            (errors.message("base_url"))
            (credential_fields(&chosen.auth, errors, true))
            button type="submit" { "Create account" }
        }
    };
    page("New account", Some(session), body)
}

/// Inputs for the credentials `auth` takes. None is ever pre-filled.
pub(super) fn credential_fields(auth: &AuthKind, errors: &FieldErrors, required: bool) -> Markup {
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

pub(super) async fn create_account(
    State(state): State<AppState>,
    SignedPost { session, form }: SignedPost<AccountFields>,
) -> Response {
    let chosen = form.integration.clone();
    let name = form.name.trim().to_owned();
    let mut errors = FieldErrors::default();
    errors.check(crate::provision::check_name(&name));
    let credentials = errors.check(form.credentials());
    let created = match credentials {
        Some(credentials) if errors.is_empty() => Provisioner::new(state.clone())
            .create_account(CreateAccount {
                integration: chosen.clone(),
                name,
                credentials: credentials.unwrap_or_default(),
                base_url: filled(&form.base_url),
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
                Some(NewAccountSent::Credentials(&form)),
                &errors,
            ),
        )
            .into_response(),
    }
}

pub(super) async fn account_page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Response {
    account_screen(&state, &session, &id, None, &FieldErrors::default()).await
}

/// Which of the account screen's two forms was sent, with what it held.
pub(super) enum AccountSent<'f> {
    Edit(&'f AccountFields),
    NewServer(&'f ServerForm),
}

/// The account's page, with the form that was sent (if any) and its errors.
pub(super) async fn account_screen(
    state: &AppState,
    session: &ConsoleSession,
    id: &str,
    sent: Option<AccountSent<'_>>,
    errors: &FieldErrors,
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
    let (edit_form, edit_errors, server_form, server_errors) = match sent {
        Some(AccountSent::Edit(form)) => (Some(form), errors, None, &none),
        Some(AccountSent::NewServer(form)) => (None, &none, Some(form), errors),
        None => (None, &none, None, &none),
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

pub(super) fn filter_text(filter: &Filter) -> String {
    match filter {
        Filter::All => "all".to_owned(),
        Filter::Only(values) => values.join(", "),
    }
}

pub(super) fn account_edit_form(
    session: &ConsoleSession,
    account: &AccountView,
    integration: &Integration,
    sent: Option<&AccountFields>,
    errors: &FieldErrors,
) -> Markup {
    let (name, base_url) = match sent {
        Some(form) => (form.name.as_str(), form.base_url.as_str()),
        None => (
            account.name.as_str(),
            account.base_url.as_deref().unwrap_or_default(),
        ),
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

pub(super) async fn update_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedPost { session, form }: SignedPost<AccountFields>,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let name = form.name.trim().to_owned();
    let mut errors = FieldErrors::default();
    errors.check(crate::provision::check_name(&name));
    let credentials = errors.check(form.credentials());
    let result = match credentials {
        Some(credentials) if errors.is_empty() => async {
            let current = provisioner.get_account(&id).await?;
            let base_url = filled(&form.base_url);
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
                Some(AccountSent::Edit(&form)),
                &errors,
            )
            .await
        }
    }
}

pub(super) async fn delete_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: SignedPost,
) -> Response {
    match Provisioner::new(state).delete_account(&id).await {
        Ok(()) => Redirect::to("/console").into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}
