//! The vendor's OAuth callback face (`GET /oauth/callback`): where the vendor sends an
//! account's owner back after consent. It hands the redirect to [`connect::complete`] and
//! shows what happened, or redirects to the connection's `return_to` (an origin the operator
//! allowed), with `account_id` or `error` (the message) added to its query.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode};
use maud::html;

use crate::connect::{self, CALLBACK_PATH, CallbackError, CallbackFailure, CallbackParams};
use crate::provision::ProvisionError;
use crate::state::AppState;
use crate::web;

/// The callback route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(CALLBACK_PATH, get(callback))
        .with_state(state)
}

fn page(status: StatusCode, title: &str, body: maud::Markup) -> Response {
    let mut response = (
        status,
        web::document(title, html! { span.brand { "specgate" } }, body, None),
    )
        .into_response();
    web::set_page_headers(
        response.headers_mut(),
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

fn with_query(return_to: &str, key: &str, value: &str) -> String {
    match reqwest::Url::parse(return_to) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair(key, value);
            url.into()
        }
        Err(_) => return_to.to_owned(),
    }
}

async fn callback(State(state): State<AppState>, Query(params): Query<CallbackParams>) -> Response {
    match connect::complete(&state, params).await {
        Ok(connected) => {
            if let Some(return_to) = &connected.return_to {
                return Redirect::to(&with_query(return_to, "account_id", &connected.account.id))
                    .into_response();
            }
            let verb = if connected.reconnected {
                "connected again"
            } else {
                "connected"
            };
            page(
                StatusCode::OK,
                &format!("{} account {verb}", connected.vendor),
                html! {
                    p { "The " (connected.vendor) " account " strong { (connected.account.name) } " is " (verb) "." }
                    p { "Account id: " code { (connected.account.id) } }
                    p { a href=(format!("/console/accounts/{}", connected.account.id)) { "Open it in the console" } " or close this page." }
                },
            )
        }
        Err(CallbackFailure { error, return_to }) => {
            let status = match &error {
                CallbackError::Provision(
                    ProvisionError::Store(_) | ProvisionError::Internal(_),
                ) => {
                    tracing::error!(%error, "vendor OAuth callback failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                CallbackError::Exchange { .. } => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
                "internal error; see the server log".to_owned()
            } else {
                error.to_string()
            };
            if let Some(return_to) = return_to {
                return Redirect::to(&with_query(&return_to, "error", &message)).into_response();
            }
            page(
                status,
                "The account was not connected",
                html! {
                    p.error { (message) }
                    p { "Nothing was created." }
                },
            )
        }
    }
}
