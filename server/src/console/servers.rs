//! MCP servers: the settings form with its live preview, the URL shown once, the server's
//! page, rotation, deletion and signed-in clients.

use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use specgate_runtime::Integration;

use crate::catalog::tag_values;
use crate::provision::{
    AccountView, CreateServer, ProvisionError, Provisioner, ServerView, UpdateServer,
};
use crate::state::AppState;
use crate::store::{
    Confirm, ConfirmFallback, ConsoleSession, DEFAULT_MAX_RESULT_BYTES, Filter, SchemaProfile,
    ServerConfig, ToolExposure,
};

use super::accounts::{AccountSent, account_screen};
use super::{
    ConsoleError, FieldErrors, Signed, SignedPost, checkbox, csrf, filled, not_found, page,
    read_form, tool_name,
};

/// The server settings form, as the browser sends it (and the live preview's query).
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct ServerForm {
    pub(super) name: String,
    pub(super) methods: Vec<String>,
    pub(super) tags: Vec<String>,
    tools: Vec<String>,
    exclude_tools: Vec<String>,
    #[serde(deserialize_with = "checkbox")]
    pub(super) require_api_token_auth: bool,
    #[serde(deserialize_with = "checkbox")]
    pub(super) oauth: bool,
    /// Text, so that a wrong number is an error under its field, not an unreadable form.
    max_result_bytes: String,
    tool_exposure: ToolExposure,
    schema_profile: SchemaProfile,
    confirm: ConfirmChoice,
    confirm_tools: Vec<String>,
    confirm_fallback: ConfirmFallback,
    expires_at: String,
}

/// The confirmation select: a policy, or "the tools chosen below".
#[derive(Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ConfirmChoice {
    #[default]
    Never,
    Destructive,
    Writes,
    Tools,
}

/// The values of a checkbox group or multi-select that were chosen (an empty option is none).
fn chosen(values: &[String]) -> Vec<String> {
    values.iter().filter(|v| !v.is_empty()).cloned().collect()
}

impl ServerForm {
    /// The config the form describes, or every error in it. Unticked groups mean: every
    /// method is one choice to make explicitly (an empty list is refused by the API), every
    /// tag and tool otherwise.
    pub(super) fn config(&self) -> Result<ServerConfig, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut list = |field: &'static str, values: &[String], all_when_empty: bool| {
            let values = chosen(values);
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
            list("methods", &self.methods, false),
            list("tags", &self.tags, true),
            list("tools", &self.tools, true),
        );
        let max_result_bytes = match filled(&self.max_result_bytes) {
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
        let confirm = match self.confirm {
            ConfirmChoice::Never => Some(Confirm::Never),
            ConfirmChoice::Destructive => Some(Confirm::Destructive),
            ConfirmChoice::Writes => Some(Confirm::Writes),
            ConfirmChoice::Tools => {
                let names = chosen(&self.confirm_tools);
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
            exclude_tools: chosen(&self.exclude_tools),
            require_api_token_auth: self.require_api_token_auth,
            oauth: self.oauth,
            max_result_bytes,
            tool_exposure: self.tool_exposure,
            schema_profile: self.schema_profile,
            confirm,
            confirm_fallback: self.confirm_fallback,
        })
    }

    /// The form's name, config and expiry, or every error in them at once.
    pub(super) fn server(&self) -> Result<(String, ServerConfig, Option<String>), FieldErrors> {
        let name = self.name.trim().to_owned();
        let expires_at = expiry(&self.expires_at);
        let (config, mut errors) = match self.config() {
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
}

/// A `datetime-local` input's `2026-12-31T18:00`, read as UTC, as RFC 3339; `None` when empty.
pub(super) fn expiry(local: &str) -> Option<String> {
    filled(local).map(|local| {
        if local.len() == 16 {
            format!("{local}:00Z")
        } else {
            local
        }
    })
}

pub(super) fn server_config_form(
    session: &ConsoleSession,
    account: &AccountView,
    integration: &'static Integration,
    server: Option<&ServerView>,
    sent: Option<&ServerForm>,
    errors: &FieldErrors,
    state: &AppState,
) -> Markup {
    let current = || server.map(|s| s.config.clone()).unwrap_or_default();
    let config = match sent {
        Some(form) => form.config().unwrap_or_else(|_| current()),
        None => current(),
    };
    let name = match sent {
        Some(form) => form.name.clone(),
        None => server.map(|s| s.name.clone()).unwrap_or_default(),
    };
    let expires = match sent {
        Some(form) => form.expires_at.clone(),
        None => server
            .and_then(|s| s.expires_at.as_deref())
            .map(|e| e.chars().take(16).collect())
            .unwrap_or_default(),
    };
    let max_result_bytes = match sent {
        Some(form) => form.max_result_bytes.clone(),
        None => config.max_result_bytes.to_string(),
    };
    let method_checked = |value: &str| match sent {
        Some(form) => form.methods.iter().any(|m| m == value),
        None => config.methods.admits(|m| m == value),
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
                value=(max_result_bytes)
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
pub(super) fn preview_html(
    state: &AppState,
    integration: &Integration,
    config: &ServerConfig,
) -> Markup {
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

pub(super) async fn preview(
    State(state): State<AppState>,
    Signed(_): Signed,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let form = match read_form::<ServerForm>(query.as_deref().unwrap_or_default().as_bytes()) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let account = match Provisioner::new(state.clone()).get_account(&id).await {
        Ok(account) => account,
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    let Some(integration) = state.catalog.integration(&account.integration) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match form.config() {
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

pub(super) async fn create_server(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedPost { session, form }: SignedPost<ServerForm>,
) -> Response {
    let created = match form.server() {
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
                Some(AccountSent::NewServer(&form)),
                &errors,
            )
            .await
        }
    }
}

/// The notice above a secret shown once: `what` is the sentence's subject.
pub(super) fn shown_once_warning(what: &str) -> Markup {
    html! {
        p.warning role="alert" {
            (what) " is shown only now and will not be shown again; copy it before you leave this page."
        }
    }
}

/// The page that shows a server's URL, the one time it can be shown.
pub(super) fn shown_once(
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

pub(super) async fn server_page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((id, sid)): Path<(String, String)>,
) -> Response {
    server_screen(&state, &session, &id, &sid, None, &FieldErrors::default()).await
}

pub(super) async fn server_screen(
    state: &AppState,
    session: &ConsoleSession,
    id: &str,
    sid: &str,
    sent: Option<&ServerForm>,
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
        (server_config_form(session, &account, integration, Some(&server), sent, errors, state))
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

pub(super) async fn update_server(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
    SignedPost { session, form }: SignedPost<ServerForm>,
) -> Response {
    let result = match form.server() {
        Ok((name, config, expires_at)) => Provisioner::new(state.clone())
            .update_server(
                &id,
                &sid,
                UpdateServer {
                    name: Some(name),
                    config: Some(config.into()),
                    expires_at: Some(expires_at),
                },
            )
            .await
            .map_err(|error| FieldErrors::of(&error.into())),
        Err(errors) => Err(errors),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/console/accounts/{id}/servers/{sid}")).into_response(),
        Err(errors) => server_screen(&state, &session, &id, &sid, Some(&form), &errors).await,
    }
}

pub(super) async fn rotate_server(
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

pub(super) async fn delete_server(
    State(state): State<AppState>,
    Path((id, sid)): Path<(String, String)>,
    _: SignedPost,
) -> Response {
    match Provisioner::new(state).delete_server(&id, &sid).await {
        Ok(()) => Redirect::to(&format!("/console/accounts/{id}")).into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}

pub(super) async fn revoke_grant(
    State(state): State<AppState>,
    Path((id, sid, gid)): Path<(String, String, String)>,
    _: SignedPost,
) -> Response {
    match Provisioner::new(state).revoke_grant(&id, &sid, &gid).await {
        Ok(()) => Redirect::to(&format!("/console/accounts/{id}/servers/{sid}")).into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}
