//! What the HTTP faces share: the HTML page around the console's and the consent page's
//! content, their security headers, the same-origin check of their forms, and the internal
//! failure a handler leaves in its response for the face's middleware to log (never in the
//! error's conversion).

use std::sync::Arc;

use axum::response::{Html, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{DOCTYPE, Markup, html};

/// An internal failure behind a 500, left in the response's extensions.
#[derive(Clone)]
pub struct InternalFailure(pub Arc<str>);

/// The HTTP status of a refused provisioning request, the same in the admin API and the
/// console: 404 for what names nothing, 409 for state the server lacks, 422 for values that
/// together leave nothing, 500 for failures inside, 400 for the rest.
pub fn provision_status(error: &crate::provision::ProvisionError) -> StatusCode {
    use crate::provision::ProvisionError as E;
    match error {
        E::NotFound { .. } | E::HostNotListed { .. } => StatusCode::NOT_FOUND,
        E::OAuthAppMissing { .. } | E::AuthorizeUrlMissing { .. } | E::PublicUrlUnknown => {
            StatusCode::CONFLICT
        }
        E::NoTools | E::InvalidConfig(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::Store(_) | E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Logs the internal failure a response carries, if any, as `what` failing.
pub fn log_internal_failure(response: &Response, what: &str) {
    if let Some(InternalFailure(error)) = response.extensions().get::<InternalFailure>() {
        tracing::error!(%error, "{what} failed");
    }
}

/// A whole HTML page: `header` after the brand, `title` as its heading, and `script` (a path)
/// when the page has one.
pub fn document(title: &str, header: Markup, body: Markup, script: Option<&str>) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · specgate" }
                link rel="stylesheet" href="/console/assets/console.css";
                @if let Some(script) = script {
                    script src=(script) defer {}
                }
            }
            body {
                header { (header) }
                main { h1 { (title) } (body) }
            }
        }
    };
    Html(markup.into_string())
}

/// The credentials of an `Authorization` header value in `scheme` (`Bearer`, `Basic`), whose
/// name is matched without regard to case (RFC 9110 section 11.1).
pub fn credentials_of<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, credentials) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| credentials.trim_start())
        .filter(|c| !c.is_empty())
}

/// The value of the request cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(given, _)| *given == name)
        .map(|(_, value)| value)
}

/// The headers every HTML page carries, with its Content-Security-Policy.
pub fn set_page_headers(headers: &mut HeaderMap, content_security_policy: HeaderValue) {
    headers.insert(header::CONTENT_SECURITY_POLICY, content_security_policy);
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it browsers send `Origin: null` on this site's own forms.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// Why a form POST is refused as another site's: its `Origin` is not this host. `None` when
/// it is this host's, or the browser sent no `Origin`.
pub fn foreign_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())?;
    let same = origin
        .split_once("://")
        .is_some_and(|(_, authority)| Some(authority) == host);
    (!same).then(|| {
        format!(
            "this form was sent from another site (`Origin: {}`, this host is `{}`)",
            crate::provision::printable(origin),
            host.unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authorization_scheme_matches_in_any_case() {
        assert_eq!(credentials_of("Bearer sgk_x", "Bearer"), Some("sgk_x"));
        assert_eq!(credentials_of("bearer sgk_x", "Bearer"), Some("sgk_x"));
        assert_eq!(credentials_of("BEARER  sgk_x", "Bearer"), Some("sgk_x"));
        assert_eq!(credentials_of("Basic abc", "Bearer"), None);
        assert_eq!(credentials_of("Bearer ", "Bearer"), None);
        assert_eq!(credentials_of("Bearersgk_x", "Bearer"), None);
    }
}
