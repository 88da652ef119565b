//! The vendor connect faces: the start URL a connection hands out (`GET
//! /oauth/connect/{token}`), which binds the connection to the browser that opens it with a
//! cookie and sends it to the vendor's consent, and the vendor's OAuth callback (`GET
//! /oauth/callback`), where the vendor sends the account's owner back. The callback hands the
//! redirect and the browser's cookies to [`connect::complete`] and shows what happened, or
//! redirects to the connection's `return_to` (an origin the operator allowed), with
//! `account_id` or `error` (the message) added to its query.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::html;

use crate::connect::{
    self, CALLBACK_PATH, CallbackError, CallbackFailure, CallbackParams, START_PATH, StartError,
};
use crate::provision::ProvisionError;
use crate::state::AppState;
use crate::web;

/// The start and callback routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(&format!("{START_PATH}{{token}}"), get(start))
        .route(CALLBACK_PATH, get(callback))
        .with_state(state)
}

/// `GET /oauth/connect/{token}`: the first browser gets the binding cookie and goes on to the
/// vendor; the same browser may come again; any other gets a page saying why not.
async fn start(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let opened = connect::open_start(&state, &token, |name| {
        web::cookie(&headers, name).map(str::to_owned)
    })
    .await;
    match opened {
        Ok(opened) => {
            let mut response = Redirect::to(&opened.vendor_url).into_response();
            if let Some((name, nonce)) = opened.cookie {
                // `__Host-` cookies must be `Secure` with `Path=/`; over loopback http the
                // cookie is kept to the start and callback paths instead.
                let (path, secure) = if connect::browser_cookie_secure(&state) {
                    ("/", "; Secure")
                } else {
                    ("/oauth/", "")
                };
                // `Lax`: the vendor's redirect back is a top-level navigation from its site.
                let cookie = format!(
                    "{name}={nonce}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                    opened.max_age
                );
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().insert(header::SET_COOKIE, value);
                }
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            let status = match &error {
                StartError::Provision(_) => {
                    tracing::error!(%error, "opening a connection link failed");
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                StartError::Unknown => StatusCode::NOT_FOUND,
                StartError::Expired => StatusCode::GONE,
                StartError::OtherBrowser => StatusCode::CONFLICT,
            };
            let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
                "internal error; see the server log".to_owned()
            } else {
                error.to_string()
            };
            page(
                status,
                "This link cannot connect an account",
                html! {
                    p.error { (message) }
                    p { "Nothing was connected." }
                },
            )
        }
    }
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

async fn callback(
    State(state): State<AppState>,
    Query(params): Query<CallbackParams>,
    headers: HeaderMap,
) -> Response {
    let cookie = |name: &str| web::cookie(&headers, name).map(str::to_owned);
    match connect::complete(&state, params, cookie).await {
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
