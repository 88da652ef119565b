//! Signing in with an admin API token, and out.

use axum::extract::{Query, RawForm, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{Markup, html};
use serde::Deserialize;

use crate::limiter::SignInLimits;
use crate::peer::ClientAddress;
use crate::state::AppState;
use crate::store::{ApiToken, ConsoleSession, SessionEnd, now};

use super::{
    CONSOLE_TARGET, ConsoleError, SESSION_COOKIE, SESSION_SECS, SignedPost, check_post, page,
    read_form, session_ended,
};

#[derive(serde::Deserialize)]
pub(super) struct LoginQuery {
    ended: Option<String>,
}

pub(super) async fn login_page(Query(query): Query<LoginQuery>) -> Response {
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

pub(super) fn login_form(error: Option<&str>) -> Html<String> {
    page("Sign in", None, login_card(error))
}

pub(super) fn login_card(error: Option<&str>) -> Markup {
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

/// The sign-in form: an admin API token, so the type has no `Debug` that could print it.
#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    token: String,
}

pub(super) async fn login(
    State(state): State<AppState>,
    State(sign_ins): State<std::sync::Arc<SignInLimits>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    RawForm(raw): RawForm,
) -> Response {
    if let Some(refused) = check_post(&headers, None, &raw) {
        return refused;
    }
    let form: SignInForm = match read_form(&raw) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    if let Err(refusal) = sign_ins.admit(address, CONSOLE_TARGET).await {
        let body = login_form(Some(&refusal.to_string()));
        return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    }
    // The admin API's rule: a live `admin` token.
    let token = match state.api_token(&form.token).await {
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

pub(super) async fn logout(
    State(state): State<AppState>,
    SignedPost { session, .. }: SignedPost,
) -> Response {
    if let Err(error) = state.store.delete_session(&session.id_hash).await {
        return ConsoleError::internal(error).into_response();
    }
    session_ended(None)
}
