//! A server's activity, from the audit log: when it was last used, how its calls ended over
//! the last day and week, and its calls page by page, newest first.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{ConsoleError, Signed, not_found, page, tool_name};
use crate::provision::{CallsPage, ProvisionError, Provisioner, rfc3339};
use crate::state::AppState;

/// Calls per page.
const PAGE: i64 = 50;
const DAY_MS: i64 = 24 * 3600 * 1000;

#[derive(serde::Deserialize)]
pub(super) struct ActivityQuery {
    cursor: Option<String>,
}

pub(super) async fn activity_page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((id, sid)): Path<(String, String)>,
    Query(query): Query<ActivityQuery>,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let server = match provisioner.get_server(&id, &sid).await {
        Ok(server) => server,
        Err(ProvisionError::NotFound { .. }) => return not_found(&session, "MCP server", &sid),
        Err(error) => return ConsoleError::from(error).into_response(),
    };
    let first_page = query.cursor.is_none();
    let page_of_calls = CallsPage {
        limit: Some(PAGE),
        cursor: query.cursor,
    };
    let now_ms = crate::store::now_ms();
    let (log, day, week) = match (
        provisioner.list_calls(&id, &sid, page_of_calls).await,
        provisioner.call_outcomes(&id, &sid, now_ms - DAY_MS).await,
        provisioner
            .call_outcomes(&id, &sid, now_ms - 7 * DAY_MS)
            .await,
    ) {
        (Ok(log), Ok(day), Ok(week)) => (log, day, week),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
            return ConsoleError::from(error).into_response();
        }
    };
    let server_url = format!("/console/accounts/{id}/servers/{sid}");
    let body = html! {
        p {
            a href=(server_url) { "Back to " (server.name) }
            @if first_page {
                " · last used "
                strong #last-used { (log.calls.first().map_or_else(|| "never".to_owned(), |c| rfc3339(c.at_ms / 1000))) }
            }
        }
        @if first_page {
            h2 { "Outcomes" }
            @if week.is_empty() {
                p { "No calls in the last seven days." }
            } @else {
                table #outcomes {
                    thead { tr { th scope="col" { "Outcome" } th scope="col" { "Last 24 hours" } th scope="col" { "Last 7 days" } } }
                    tbody {
                        @for (outcome, calls) in &week {
                            tr {
                                td data-label="Outcome" { code { (outcome) } }
                                td data-label="24 hours" { (day.iter().find(|(o, _)| o == outcome).map_or(0, |(_, n)| *n)) }
                                td data-label="7 days" { (calls) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Calls" }
        @if log.calls.is_empty() {
            p { "No calls recorded." }
        } @else {
            table #calls {
                thead {
                    tr {
                        th scope="col" { "Time (UTC)" } th scope="col" { "Tool" } th scope="col" { "Outcome" }
                        th scope="col" { "Vendor status" } th scope="col" { "Latency" } th scope="col" { "Made with" }
                    }
                }
                tbody {
                    @for call in &log.calls {
                        tr {
                            td data-label="Time" { (rfc3339(call.at_ms / 1000)) }
                            td data-label="Tool" { (tool_name(&call.tool)) }
                            td data-label="Outcome" { code { (call.outcome) } }
                            td data-label="Vendor status" {
                                @if call.upstream_status == 0 { "none" } @else { (call.upstream_status) }
                            }
                            td data-label="Latency" { (call.latency_ms) " ms" }
                            td data-label="Made with" {
                                @if let Some(grant) = &call.grant_id { "OAuth grant " code { (grant) } }
                                @else if let Some(token) = &call.api_token_id { "API token " code { (token) } }
                                @else { "the MCP URL" }
                            }
                        }
                    }
                }
            }
            @if let Some(cursor) = &log.next_cursor {
                p { a.button #older href=(format!("{server_url}/activity?cursor={cursor}")) { "Older calls" } }
            }
        }
        p.hint { "Arguments are kept only as an HMAC. Rows older than " (state.config.audit_retention.as_secs() / 86_400) " days are deleted." }
    };
    page(
        &format!("Activity of {}", server.name),
        Some(&session),
        body,
    )
    .into_response()
}
