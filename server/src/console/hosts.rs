//! The hosts page: the upstream hosts each integration's accounts may use (declared by its
//! spec, or allowed by an operator) and the origins a vendor connection may return to.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use serde::Deserialize;

use super::{ConsoleError, FieldErrors, Signed, SignedPost, csrf, page};
use crate::provision::{Provisioner, rfc3339};
use crate::state::AppState;
use crate::store::ConsoleSession;

/// The form that allows or removes an upstream host.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct HostForm {
    integration: String,
    host: String,
}

/// The form that allows or removes a return origin.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct OriginForm {
    origin: String,
}

/// Which of the page's two forms was sent, with what it held.
enum Sent<'a> {
    Host(&'a HostForm),
    Origin(&'a OriginForm),
}

/// What the page shows besides its lists: the form that was sent, with its errors, and the
/// warnings of a host just allowed.
struct Outcome<'a> {
    sent: Option<(Sent<'a>, &'a FieldErrors)>,
    notices: &'a [String],
}

pub(super) async fn hosts_page(State(state): State<AppState>, Signed(session): Signed) -> Response {
    let nothing = Outcome {
        sent: None,
        notices: &[],
    };
    hosts_screen(&state, &session, nothing).await
}

async fn hosts_screen(
    state: &AppState,
    session: &ConsoleSession,
    outcome: Outcome<'_>,
) -> Response {
    let provisioner = Provisioner::new(state.clone());
    let (allowed, origins) = match (
        provisioner.allowed_upstream_hosts().await,
        provisioner.return_origins().await,
    ) {
        (Ok(allowed), Ok(origins)) => (allowed, origins),
        (Err(error), _) | (_, Err(error)) => return ConsoleError::from(error).into_response(),
    };
    let (empty_host, empty_origin) = (HostForm::default(), OriginForm::default());
    let no_errors = FieldErrors::default();
    let (host_form, host_errors, origin_form, origin_errors) = match outcome.sent {
        Some((Sent::Host(form), errors)) => (form, errors, &empty_origin, &no_errors),
        Some((Sent::Origin(form), errors)) => (&empty_host, &no_errors, form, errors),
        None => (&empty_host, &no_errors, &empty_origin, &no_errors),
    };
    let status = host_errors.status().max(origin_errors.status());
    let chosen = host_form.integration.as_str();
    let title = |name: &str| {
        state
            .catalog
            .integration(name)
            .map_or_else(|| name.to_owned(), |i| i.title.to_owned())
    };
    let body = html! {
        @for notice in outcome.notices { p.warning role="status" { (notice) } }
        h2 { "Upstream hosts" }
        p.hint {
            "An account's base URL and OAuth token URL must be on a host its integration's spec declares, or on one allowed here. Every call checks it, so removing a host refuses the calls of accounts on it at once."
        }
        table #declared-hosts {
            thead { tr { th scope="col" { "Integration" } th scope="col" { "Declared by its spec" } } }
            tbody {
                @for integration in state.catalog.integrations() {
                    tr {
                        td data-label="Integration" { (integration.title) }
                        td data-label="Declared" { code { (crate::egress::declared_hosts(integration).join(", ")) } }
                    }
                }
            }
        }
        h3 { "Allowed by an operator" }
        @if allowed.is_empty() {
            p { "No host allowed beyond the specs'." }
        } @else {
            table #allowed-hosts {
                thead { tr { th scope="col" { "Integration" } th scope="col" { "Host" } th scope="col" { "Allowed" } th scope="col" { "" } } }
                tbody {
                    @for host in &allowed {
                        tr {
                            td data-label="Integration" { (title(&host.integration)) }
                            td data-label="Host" { code { (host.host) } }
                            td data-label="Allowed" { (rfc3339(host.created_at)) }
                            td {
                                form method="post" action="/console/hosts/remove"
                                    data-confirm="Remove? Calls of accounts on this host are refused from now on." {
                                    (csrf(session))
                                    input type="hidden" name="integration" value=(host.integration);
                                    input type="hidden" name="host" value=(host.host);
                                    button type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.card method="post" action="/console/hosts" {
            (host_errors.message("form"))
            (csrf(session))
            label for="host-integration" { "Integration" }
            select #host-integration name="integration"
                aria-invalid=[host_errors.invalid("integration")] aria-describedby=[host_errors.described("integration")] {
                @for integration in state.catalog.integrations() {
                    option value=(integration.name) selected[integration.name == chosen] { (integration.title) }
                }
            }
            (host_errors.message("integration"))
            label for="host" { "Host (api.example.com, or *.example.com for its subdomains)" }
            input #host name="host" required value=(host_form.host)
                aria-invalid=[host_errors.invalid("host")] aria-describedby=[host_errors.described("host")];
            (host_errors.message("host"))
            button type="submit" { "Allow host" }
        }
        (origins_section(session, &origins, origin_form, origin_errors))
    };
    (status, page("Hosts and origins", Some(session), body)).into_response()
}

fn origins_section(
    session: &ConsoleSession,
    origins: &[String],
    form: &OriginForm,
    errors: &FieldErrors,
) -> Markup {
    html! {
        h2 { "Return origins" }
        p.hint {
            "Where a vendor connection that an app started may send the person back afterwards (its " code { "return_to" } "). Connections started here return to this console."
        }
        @if origins.is_empty() {
            p { "No return origin allowed." }
        } @else {
            table #return-origins {
                thead { tr { th scope="col" { "Origin" } th scope="col" { "" } } }
                tbody {
                    @for origin in origins {
                        tr {
                            td data-label="Origin" { code { (origin) } }
                            td {
                                form method="post" action="/console/return-origins/remove"
                                    data-confirm="Remove? Connections can no longer return there." {
                                    (csrf(session))
                                    input type="hidden" name="origin" value=(origin);
                                    button type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.card method="post" action="/console/return-origins" {
            (csrf(session))
            label for="origin" { "Origin (https://app.example.com)" }
            input #origin name="origin" required value=(form.origin)
                aria-invalid=[errors.invalid("origin")] aria-describedby=[errors.described("origin")];
            (errors.message("origin"))
            (errors.message("form"))
            button type="submit" { "Allow origin" }
        }
    }
}

pub(super) async fn allow_host(
    State(state): State<AppState>,
    SignedPost { session, form }: SignedPost<HostForm>,
) -> Response {
    let allowed = Provisioner::new(state.clone())
        .allow_upstream_host(&form.integration, &form.host)
        .await;
    match allowed {
        Ok(allowed) => {
            let title = state
                .catalog
                .integration(&allowed.host.integration)
                .map_or("its integration's", |i| i.title);
            let mut notices = vec![format!(
                "{} may now be used by {title} accounts.",
                allowed.host.host
            )];
            notices.extend(allowed.warnings);
            let outcome = Outcome {
                sent: None,
                notices: &notices,
            };
            hosts_screen(&state, &session, outcome).await
        }
        Err(error) => {
            let errors = FieldErrors::of(&error.into());
            let outcome = Outcome {
                sent: Some((Sent::Host(&form), &errors)),
                notices: &[],
            };
            hosts_screen(&state, &session, outcome).await
        }
    }
}

pub(super) async fn remove_host(
    State(state): State<AppState>,
    SignedPost { form, .. }: SignedPost<HostForm>,
) -> Response {
    match Provisioner::new(state)
        .remove_upstream_host(&form.integration, &form.host)
        .await
    {
        Ok(()) => Redirect::to("/console/hosts").into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}

pub(super) async fn allow_origin(
    State(state): State<AppState>,
    SignedPost { session, form }: SignedPost<OriginForm>,
) -> Response {
    match Provisioner::new(state.clone())
        .allow_return_origin(&form.origin)
        .await
    {
        Ok(_) => Redirect::to("/console/hosts").into_response(),
        Err(error) => {
            let errors = FieldErrors::of(&error.into());
            let outcome = Outcome {
                sent: Some((Sent::Origin(&form), &errors)),
                notices: &[],
            };
            hosts_screen(&state, &session, outcome).await
        }
    }
}

pub(super) async fn remove_origin(
    State(state): State<AppState>,
    SignedPost { form, .. }: SignedPost<OriginForm>,
) -> Response {
    match Provisioner::new(state)
        .remove_return_origin(&form.origin)
        .await
    {
        Ok(()) => Redirect::to("/console/hosts").into_response(),
        Err(error) => ConsoleError::from(error).into_response(),
    }
}
