//! Signing in to an `oauth` MCP server as a client and a person do: registration, the
//! consent page posted with an API token, and the code exchange.

use serde_json::{Value, json};
use specgate_server::grants::pkce_challenge;

use super::Harness;

pub const REDIRECT: &str = "https://chatgpt.com/connector_platform_oauth_redirect";
pub const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

/// A client that does not follow redirects, so each 303 can be read.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An `oauth` server of a Malomo account: its id and MCP URL.
pub async fn oauth_server(h: &Harness) -> (String, String, String) {
    let account = h.account("malomo").await;
    let (id, url) = h.server(&account, json!({"oauth": true})).await;
    (account, id, url)
}

pub async fn register(h: &Harness, redirect: &str) -> String {
    let response = h
        .http
        .post(format!("{}/oauth/register", h.base))
        .json(&json!({"redirect_uris": [redirect], "client_name": "Test client", "token_endpoint_auth_method": "client_secret_basic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    registered["client_id"].as_str().unwrap().to_owned()
}

pub fn authorize_query(
    client_id: &str,
    redirect: &str,
    resource: &str,
    method: &str,
) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("state", "state-123"),
        ("code_challenge", &pkce_challenge(VERIFIER)),
        ("code_challenge_method", method),
        ("resource", resource),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The authorization endpoint with `query`.
pub fn authorize_url(h: &Harness, query: &[(String, String)]) -> String {
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{}/oauth/authorize?{encoded}", h.base)
}

/// The hidden inputs of the consent form, as maud wrote them.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .split_once("value=\"")
                .unwrap()
                .1
                .split_once('"')
                .unwrap()
                .0;
            (name.to_owned(), unescape(value))
        })
        .collect()
}

/// GETs the consent page; its status, headers and body.
pub async fn consent_page(
    h: &Harness,
    query: &[(String, String)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = browser().get(authorize_url(h, query)).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// Posts a consent form with `extra` fields added to its hidden ones: the status, `Location`
/// and body.
pub async fn post_consent(
    h: &Harness,
    page: &str,
    extra: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    post_consent_at(&browser(), &h.base, hidden_fields(page), extra).await
}

/// Posts `form` plus `extra` to the consent endpoint at `base` with `client`.
pub async fn post_consent_at(
    client: &reqwest::Client,
    base: &str,
    mut form: Vec<(String, String)>,
    extra: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    form.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let response = client
        .post(format!("{base}/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location, response.text().await.unwrap())
}

/// Signs in on the consent page with `api_token`, then answers the review page with
/// `decision`: the status, `Location` and body of the last answer (the sign-in's, when it
/// fails).
pub async fn decide(
    h: &Harness,
    page: &str,
    api_token: &str,
    decision: &str,
) -> (u16, Option<String>, String) {
    decide_at(
        &browser(),
        &h.base,
        hidden_fields(page),
        api_token,
        decision,
    )
    .await
}

/// [`decide`] with `client`, on the server at `base`, from the sign-in form's hidden fields.
pub async fn decide_at(
    client: &reqwest::Client,
    base: &str,
    form: Vec<(String, String)>,
    api_token: &str,
    decision: &str,
) -> (u16, Option<String>, String) {
    let signing_in = [("api_token", api_token), ("decision", "sign_in")];
    let (status, location, review) = post_consent_at(client, base, form, &signing_in).await;
    if status != 200 {
        return (status, location, review);
    }
    post_consent_at(
        client,
        base,
        hidden_fields(&review),
        &[("decision", decision)],
    )
    .await
}

pub fn query_param(location: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub async fn token(h: &Harness, form: &[(&str, &str)]) -> (u16, Value) {
    let response = h
        .http
        .post(format!("{}/oauth/token", h.base))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Registers a client and consents with `api_token`: the client id and the code.
pub async fn authorize(h: &Harness, url: &str, api_token: &str) -> (String, String) {
    let client_id = register(h, REDIRECT).await;
    let (status, _, page) =
        consent_page(h, &authorize_query(&client_id, REDIRECT, url, "S256")).await;
    assert_eq!(status, 200, "{page}");
    let (status, location, body) = decide(h, &page, api_token, "allow").await;
    assert_eq!(status, 303, "{body}");
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some("state-123")
    );
    (client_id, query_param(&location, "code").unwrap())
}

/// The token request that exchanges `code` as `client_id` did, for `resource`.
pub async fn exchange(h: &Harness, client_id: &str, code: &str, resource: &str) -> (u16, Value) {
    token(
        h,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
            ("resource", resource),
        ],
    )
    .await
}

/// The token request that refreshes with `refresh_token` as `client_id`.
pub async fn refresh(h: &Harness, client_id: &str, refresh_token: &str) -> (u16, Value) {
    token(
        h,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
    )
    .await
}

/// Registers a client, consents with `api_token` and exchanges the code: the token response.
pub async fn sign_in(h: &Harness, url: &str, api_token: &str) -> (String, Value) {
    let (client_id, code) = authorize(h, url, api_token).await;
    let (status, tokens) = exchange(h, &client_id, &code, url).await;
    assert_eq!(status, 200, "{tokens}");
    (client_id, tokens)
}
