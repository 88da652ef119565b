//! The web console in a real browser (headless Chromium through Debian's chromedriver,
//! installed by `scripts/test.sh`), and its CSRF and CSP protections over plain HTTP.
//! Screenshots of the main screens go to `target/console-screenshots/`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::webdriver::Browser;
use common::{external, node, scripts, start};
use serde_json::{Value, json};

// The key the Malomo sandbox accepts; it must never appear in a page.
const SECRET: &str = "sk_sandbox_malomo";

fn chromedriver() -> Option<String> {
    let path = PathBuf::from("/usr/bin/chromedriver");
    external(
        "chromium and chromium-driver (Debian packages)",
        path.exists().then(|| path.display().to_string()),
    )
}

fn screenshot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/console-screenshots")
        .join(format!("{name}.png"))
}

/// Every labelable control on the page has a label.
const UNLABELLED: &str = "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')].filter(e => e.labels.length === 0).map(e => e.name || e.id)";

#[tokio::test]
#[ignore = "needs Chromium, chromedriver and Node 22; scripts/test.sh installs them"]
async fn an_operator_provisions_a_filtered_server_in_the_browser() {
    let Some(driver) = chromedriver() else { return };
    let Some(node) = node() else { return };
    let h = start().await;
    let browser = Browser::start(&driver, 1280, 800).await;
    let mut sources = Vec::new();

    // Signed out, every page leads to the sign-in form; a wrong token is refused in place.
    browser.goto(&format!("{}/console", h.base)).await;
    assert!(browser.url().await.ends_with("/console/login"));
    browser.screenshot(&screenshot("sign-in")).await;
    browser.fill("#token", "sg_not_a_token").await;
    browser.click("button[type=submit]").await;
    assert!(
        browser
            .text("#token-error")
            .await
            .contains("not a live admin API token")
    );
    browser.fill("#token", &h.admin_token).await;
    browser.click("button[type=submit]").await;
    browser.wait_heading("Console").await;
    sources.push(browser.source().await);

    // The compiled integrations, with their tools.
    browser
        .click("a[href='/console/integrations/malomo']")
        .await;
    let tools_page = browser.source().await;
    assert!(
        tools_page.contains("list_<wbr>all_<wbr>malomo_<wbr>orders"),
        "{tools_page}"
    );
    assert!(tools_page.contains("22 tools"), "{tools_page}");
    browser.screenshot(&screenshot("integration-tools")).await;
    sources.push(tools_page);

    // An account: the credential fields follow the integration's auth; the secret never
    // comes back, not even when the form is shown again with an error.
    browser
        .goto(&format!(
            "{}/console/accounts/new?integration=malomo",
            h.base
        ))
        .await;
    assert_eq!(browser.property("#api_key", "type").await, "password");
    assert_eq!(browser.execute(UNLABELLED).await, json!([]));
    browser.fill("#name", "Acme support").await;
    browser
        .fill("#base_url", "https://evil.example/malomo")
        .await;
    browser.fill("#api_key", SECRET).await;
    browser
        .click("form[action='/console/accounts'] button[type=submit]")
        .await;
    assert!(
        browser
            .text("#base_url-error")
            .await
            .contains("not allowed")
    );
    assert_eq!(browser.property("#api_key", "value").await, "");
    sources.push(browser.source().await);
    browser
        .fill("#base_url", &format!("{}/malomo", h.sandbox_url))
        .await;
    browser.fill("#api_key", SECRET).await;
    browser
        .click("form[action='/console/accounts'] button[type=submit]")
        .await;
    browser.wait_heading("Acme support").await;
    let account_url = browser.url().await;
    let account_id = account_url.rsplit('/').next().unwrap().to_owned();
    sources.push(browser.source().await);

    // Every method starts ticked; a server with none ticked gets the error next to them.
    browser.fill("#server-name", "support").await;
    for class in ["read", "write", "custom"] {
        browser
            .click(&format!("input[name=methods][value={class}]"))
            .await;
    }
    browser
        .click("form[data-preview] button[type=submit]")
        .await;
    assert!(!browser.text("#methods-error").await.is_empty());
    // Read tools tagged `orders`; the live preview follows every change.
    browser.click("input[name=methods][value=read]").await;
    browser.click("#tags option[value=orders]").await;
    browser
        .wait_until(
            "return document.getElementById('preview-count').textContent === '4'",
            "the preview of 4 tools",
        )
        .await;
    let previewed: Vec<String> = browser
        .execute(
            "return [...document.querySelectorAll('#preview-tools code')].map(e => e.textContent)",
        )
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    browser.screenshot(&screenshot("server-form")).await;
    browser
        .click("form[data-preview] button[type=submit]")
        .await;

    // Shown once, with a copy button and the client snippets.
    assert!(
        browser
            .text(".warning")
            .await
            .contains("will not be shown again")
    );
    let url = browser
        .property("#mcp-url", "value")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&format!("{}/mcp/", h.base)), "{url}");
    browser.click("button[data-copy=mcp-url]").await;
    assert_eq!(browser.text("button[data-copy=mcp-url]").await, "Copied");
    let desktop: Value = serde_json::from_str(
        browser
            .property("#snippet-desktop", "value")
            .await
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(desktop["mcpServers"]["support"]["url"], url.as_str());
    assert_eq!(
        browser.property("#snippet-sse", "value").await,
        format!("{url}/sse").as_str()
    );
    browser.screenshot(&screenshot("server-created")).await;
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        browser.property("#snippet-stdio", "value").await,
        format!("specgate stdio --mcp-token {token}").as_str()
    );

    // The URL works with the official MCP client and lists exactly the previewed tools.
    let (script, client_url) = (scripts().join("mcp-client.mjs"), url.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(node).arg(script).arg(client_url).output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut listed: Vec<String> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    let mut expected = previewed.clone();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(seen["refused"], -32602, "write tools are filtered out");

    // Back on the account, the URL is gone for good; the server is listed.
    browser.goto(&account_url).await;
    let account_page = browser.source().await;
    assert!(account_page.contains(">support<"));
    assert!(!account_page.contains(&token));
    browser.screenshot(&screenshot("account")).await;
    sources.push(account_page);

    // Phone width: nothing overflows sideways.
    browser.resize(390, 844).await;
    browser.goto(&account_url).await;
    assert_eq!(
        browser
            .execute("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        true
    );
    browser.screenshot(&screenshot("account-phone")).await;
    browser.resize(1280, 800).await;

    // Rotate: a new URL, and the old one refused.
    browser.click("table a[href*='/servers/']").await;
    assert_eq!(browser.execute(UNLABELLED).await, json!([]));
    sources.push(browser.source().await);
    browser.click("form[action$='/rotate'] button").await;
    browser.accept_dialog().await;
    let rotated = browser
        .property("#mcp-url", "value")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, url);
    let old = h
        .rpc_raw(&url, "tools/list", json!({}), None)
        .await
        .status()
        .as_u16();
    assert_eq!(old, 404, "the old URL is refused after rotation");
    assert_eq!(
        h.rpc_raw(&rotated, "tools/list", json!({}), None)
            .await
            .status()
            .as_u16(),
        200
    );

    // Delete: the server and its URL are gone.
    browser.goto(&account_url).await;
    browser.click("table a[href*='/servers/']").await;
    browser
        .click("form.danger[action*='/servers/'] button")
        .await;
    browser.accept_dialog().await;
    browser.wait_text("No MCP servers yet.").await;
    assert!(browser.source().await.contains("No MCP servers yet."));
    assert_eq!(
        h.rpc_raw(&rotated, "tools/list", json!({}), None)
            .await
            .status()
            .as_u16(),
        404
    );
    sources.push(browser.source().await);

    // No secret in any page: not the vendor key, not the admin token; the MCP token only on
    // the page that showed it once.
    for source in &sources {
        assert!(!source.contains(SECRET));
        assert!(!source.contains(&h.admin_token));
        assert!(!source.contains(&token));
    }

    // Sign out ends the session.
    browser.click("nav button[type=submit]").await;
    browser.wait_for_url("/console/login").await;
    browser
        .goto(&format!("{}/console/accounts/{account_id}", h.base))
        .await;
    assert!(browser.url().await.ends_with("/console/login"));
}

/// Signs in over plain HTTP; returns the cookie and the CSRF token of the home page.
async fn sign_in(h: &common::Harness, http: &reqwest::Client) -> (String, String) {
    let response = http
        .post(format!("{}/console/login", h.base))
        .form(&[("token", h.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let home = http
        .get(format!("{}/console", h.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = home
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_every_page_has_a_strict_csp() {
    let h = start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .get(format!("{}/console/login", h.base))
        .send()
        .await
        .unwrap();
    let csp = login.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(login.headers()["x-frame-options"], "DENY");

    let (cookie, csrf) = sign_in(&h, &http).await;
    let create = |origin: Option<&'static str>, csrf: String| {
        let mut request = http
            .post(format!("{}/console/accounts", h.base))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("integration", "malomo"),
                ("name", "x"),
                ("api_key", "k"),
            ]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    // A form on another site: a foreign Origin, even with a valid token.
    let foreign = create(Some("https://evil.example"), csrf.clone())
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // A stale or missing token from this site.
    assert_eq!(
        create(None, "forged".to_owned()).await.unwrap().status(),
        403
    );
    assert_eq!(create(None, String::new()).await.unwrap().status(), 403);
    let (_, accounts) = h
        .admin(reqwest::Method::GET, "/integrated-account", None)
        .await;
    assert_eq!(accounts.as_array().map(Vec::len), Some(0), "{accounts}");
    // The same form from this site goes through.
    let origin: &'static str = Box::leak(h.base.clone().into_boxed_str());
    let same = create(Some(origin), csrf).await.unwrap();
    assert_eq!(same.status(), 303);
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited() {
    let h = start().await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = http
            .post(format!("{}/console/login", h.base))
            .form(&[("token", "sg_wrong")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // While limited, even the right token waits.
    let right = http
        .post(format!("{}/console/login", h.base))
        .form(&[("token", h.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 429);
}

#[tokio::test]
async fn sessions_end_at_expiry_and_with_their_token_and_are_pruned() {
    use specgate_server::store::{ApiToken, ConsoleSession, Store, TokenScope};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/s.db", dir.path().display()), true)
        .await
        .unwrap();
    let token = ApiToken {
        id: "tok".into(),
        name: "console".into(),
        scope: TokenScope::Admin,
        account_id: None,
        created_at: 0,
        expires_at: None,
    };
    store.create_api_token(&token, "hash").await.unwrap();
    for (id, expires_at) in [("live", 2000), ("old", 1000)] {
        let session = ConsoleSession {
            id_hash: id.into(),
            api_token_id: "tok".into(),
            csrf_token: "csrf".into(),
            created_at: 0,
            expires_at,
        };
        store.create_session(&session).await.unwrap();
    }
    assert!(store.find_session("live", 1500).await.unwrap().is_some());
    assert!(store.find_session("old", 1500).await.unwrap().is_none());
    assert_eq!(store.prune_sessions(1500).await.unwrap(), 1);
    store.revoke_api_token("tok").await.unwrap();
    assert!(
        store.find_session("live", 1500).await.unwrap().is_none(),
        "revoking the token ends the session"
    );
}

/// A person allows a client on the consent page in Chromium: a wrong token is refused in
/// place, and the right one sends the browser on to the client's redirect URI, which the
/// page's Content-Security-Policy `form-action` must allow for Chromium to follow it.
#[tokio::test]
#[ignore = "needs Chromium and chromedriver; scripts/test.sh installs them"]
async fn a_person_allows_an_oauth_client_on_the_consent_page() {
    let Some(driver) = chromedriver() else { return };
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"oauth": true})).await;

    // The client's redirect URI: a page on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!("http://{}/callback", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(|| async { axum::response::Html("<h1>Signed in</h1>") }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let registered: Value = h
        .http
        .post(format!("{}/oauth/register", h.base))
        .json(&json!({"redirect_uris": [redirect], "client_name": "Browser client"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", &redirect),
            ("state", "from-the-browser"),
            (
                "code_challenge",
                &specgate_server::grants::pkce_challenge(
                    "a-verifier-of-at-least-forty-three-characters-0123456789",
                ),
            ),
            ("code_challenge_method", "S256"),
            ("resource", &url),
        ])
        .finish();

    let browser = Browser::start(&driver, 1280, 800).await;
    browser
        .goto(&format!("{}/oauth/authorize?{query}", h.base))
        .await;
    browser.wait_heading("Connect a client").await;
    assert!(browser.source().await.contains("Browser client"));
    let unlabelled = browser.execute(UNLABELLED).await;
    assert_eq!(unlabelled, json!([]), "every control has a label");
    browser.screenshot(&screenshot("consent")).await;

    browser.fill("#api_token", "sgk_not_a_token").await;
    browser.click("button[value=sign_in]").await;
    browser.wait_text("That is not a live API token.").await;
    assert!(browser.url().await.contains("/oauth/authorize"));

    browser.fill("#api_token", &h.admin_token).await;
    browser.click("button[value=sign_in]").await;
    browser.wait_heading("Allow this client?").await;
    browser.screenshot(&screenshot("consent-review")).await;
    browser.click("button[value=allow]").await;
    browser.wait_heading("Signed in").await;
    let landed = reqwest::Url::parse(&browser.url().await).unwrap();
    assert_eq!(landed.path(), "/callback");
    let params: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert!(
        params
            .iter()
            .any(|(k, v)| k == "code" && v.starts_with("sgo_")),
        "{params:?}"
    );
    assert!(params.contains(&("state".to_owned(), "from-the-browser".to_owned())));
}

/// An operator registers the OAuth app, then connects a Rose Rocket account: the button, the
/// vendor's consent page, the result page, and the account in the console.
#[tokio::test]
#[ignore = "needs Chromium and chromedriver; scripts/test.sh installs them"]
async fn an_operator_connects_an_account_through_the_vendors_consent() {
    let Some(driver) = chromedriver() else { return };
    let h = start().await;
    let browser = Browser::start(&driver, 1280, 800).await;
    browser.goto(&format!("{}/console/login", h.base)).await;
    browser.fill("#token", &h.admin_token).await;
    browser.click("button[type=submit]").await;
    browser.wait_heading("Console").await;

    // Without an app, connecting says what to do.
    browser
        .goto(&format!(
            "{}/console/accounts/new?integration=roserocket",
            h.base
        ))
        .await;
    browser.fill("#connect_name", "too early").await;
    browser.click("#connect button[type=submit]").await;
    browser.wait_text("has no OAuth app").await;

    // The OAuth app, on the integration's page, with the callback URL to register.
    browser
        .goto(&format!("{}/console/integrations/roserocket", h.base))
        .await;
    let page = browser.source().await;
    assert!(
        page.contains(&format!("{}/oauth/callback", h.base)),
        "{page}"
    );
    browser.fill("#client_id", "rr_client").await;
    browser.fill("#client_secret", "rr_secret").await;
    browser
        .fill(
            "#authorize_url",
            &format!("{}/roserocket/authorize", h.sandbox_url),
        )
        .await;
    browser
        .fill(
            "#token_url",
            &format!("{}/roserocket/oauth/token", h.sandbox_url),
        )
        .await;
    browser
        .click("#oauth-app form:last-of-type button[type=submit]")
        .await;
    // The saved client id is page text only after the save; the form's labels
    // are there before it.
    browser.wait_text("Client id rr_client").await;
    let page = browser.source().await;
    assert!(
        page.contains("rr_client") && !page.contains("rr_secret"),
        "{page}"
    );
    assert_eq!(
        browser.execute(UNLABELLED).await,
        json!([]),
        "every control has a label"
    );

    // Connect: the button, the vendor's consent, and back.
    browser
        .goto(&format!(
            "{}/console/accounts/new?integration=roserocket",
            h.base
        ))
        .await;
    browser.fill("#connect_name", "Rose Rocket ops").await;
    browser
        .fill(
            "#connect_base_url",
            &format!("{}/roserocket/api/v2/platformModel", h.sandbox_url),
        )
        .await;
    browser.click("#connect button[type=submit]").await;
    browser.wait_heading("Connect with Rose Rocket").await;
    browser.screenshot(&screenshot("connect")).await;
    browser.click("#continue").await;
    browser
        .wait_heading("Allow specgate to use your Rose Rocket account?")
        .await;
    browser.click("#allow").await;
    browser.wait_heading("Rose Rocket account connected").await;
    browser.screenshot(&screenshot("connected")).await;
    browser.click("main a").await;
    browser.wait_heading("Rose Rocket ops").await;
    browser.goto(&format!("{}/console", h.base)).await;
    browser.wait_heading("Console").await;
    assert!(browser.source().await.contains("Rose Rocket ops"));
}

/// A signed-in console client over plain HTTP, for the pages' rules without a browser.
struct Console<'a> {
    h: &'a common::Harness,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> Console<'a> {
    async fn sign_in(h: &'a common::Harness) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (cookie, csrf) = sign_in(h, &http).await;
        Self {
            h,
            http,
            cookie,
            csrf,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let request = self.http.get(format!("{}/console{path}", self.h.base));
        Self::send(request.header("cookie", &self.cookie)).await
    }

    /// The status, and the redirect's target or else the page.
    async fn send(request: reqwest::RequestBuilder) -> (u16, String) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        (status, location.unwrap_or(body))
    }

    /// Posts a form with the session's CSRF token; the page, or the redirect's target.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let request = self.http.post(format!("{}/console{path}", self.h.base));
        Self::send(request.header("cookie", &self.cookie).form(&form)).await
    }
}

/// The error under a field, as the page renders it.
fn field_error<'p>(page: &'p str, field: &str) -> Option<&'p str> {
    let start = page.find(&format!("id=\"{field}-error\""))?;
    let text = &page[start..];
    let open = text.find('>')? + 1;
    let close = text.find("</p>")?;
    Some(&text[open..close])
}

#[tokio::test]
async fn api_tokens_are_made_listed_and_revoked_in_the_console_and_forms_keep_what_was_typed() {
    let h = start().await;
    let account = h.account("malomo").await;
    let console = Console::sign_in(&h).await;

    let (status, listed) = console.get("/api-tokens").await;
    assert_eq!(status, 200);
    assert!(listed.contains("this session"), "{listed}");

    // Every error at once, each under its field, with what was typed kept.
    let (status, refused) = console
        .post(
            "/api-tokens",
            &[
                ("name", ""),
                ("scope", "admin"),
                ("account_id", &account),
                ("expires_at", "2001-01-01T00:00"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(field_error(&refused, "name").is_some(), "{refused}");
    assert!(
        field_error(&refused, "account_id")
            .unwrap()
            .contains("only mcp tokens")
    );
    assert!(
        field_error(&refused, "expires_at")
            .unwrap()
            .contains("past")
    );
    assert!(refused.contains("value=\"2001-01-01T00:00\""));
    assert!(refused.contains("<option value=\"admin\" selected>"));

    // An mcp token for one account, shown once.
    let (status, created) = console
        .post(
            "/api-tokens",
            &[
                ("name", "consent"),
                ("scope", "mcp"),
                ("account_id", &account),
                ("expires_at", "2099-01-01T00:00"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let token = created
        .split("id=\"api-token\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(token.starts_with("sgk_"), "{token}");
    let (_, listed) = console.get("/api-tokens").await;
    assert!(!listed.contains(&token), "a token is shown only once");
    assert!(listed.contains("consent") && listed.contains("2099-01-01T00:00:00Z"));
    assert!(listed.contains(&format!("/console/accounts/{account}\">acme<")));

    // An admin token's use of the admin API is its last use.
    let (_, created) = console
        .post("/api-tokens", &[("name", "script"), ("scope", "admin")])
        .await;
    let script = created
        .split("id=\"api-token\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let row = |page: &str, name: &str| -> String {
        let start = page.find(&format!(">{name}")).unwrap();
        page[start..page[start..].find("</tr>").unwrap() + start].to_owned()
    };
    let (_, listed) = console.get("/api-tokens").await;
    let never_used = "data-label=\"Last used\">never<";
    assert!(row(&listed, "script").contains(never_used), "{listed}");
    let used = h
        .http
        .get(format!("{}/integrated-account", h.base))
        .bearer_auth(&script)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 200);
    let (_, listed) = console.get("/api-tokens").await;
    assert!(!row(&listed, "script").contains(never_used), "{listed}");

    // Revoked: gone from the list, and refused.
    let id = row(&listed, "script")
        .split("/console/api-tokens/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let (status, to) = console.post(&format!("/api-tokens/{id}/revoke"), &[]).await;
    assert_eq!((status, to.as_str()), (303, "/console/api-tokens"));
    let (_, listed) = console.get("/api-tokens").await;
    assert!(!listed.contains(">script"));
    let refused = h
        .http
        .get(format!("{}/integrated-account", h.base))
        .bearer_auth(&script)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // A server form shows every error at once and keeps its values.
    let (status, refused) = console
        .post(
            &format!("/accounts/{account}/servers"),
            &[
                ("name", " "),
                ("max_result_bytes", "5"),
                ("expires_at", "2001-01-01T00:00"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    for field in ["name", "methods", "max_result_bytes", "expires_at"] {
        assert!(field_error(&refused, field).is_some(), "{field}: {refused}");
    }
    assert!(refused.contains(
        "name=\"max_result_bytes\" type=\"number\" min=\"2000\" max=\"2000000\" value=\"5\""
    ));
    // A choice no select offers is refused by name, and makes nothing.
    let (status, refused) = console
        .post(
            &format!("/accounts/{account}/servers"),
            &[
                ("name", "sideways"),
                ("methods", "read"),
                ("tool_exposure", "sideways"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.contains("the form's `tool_exposure` could not be read"),
        "{refused}"
    );
    let (_, servers) = h
        .admin(
            reqwest::Method::GET,
            &format!("/accounts/{account}/servers"),
            None,
        )
        .await;
    assert!(!servers.to_string().contains("sideways"), "{servers}");

    // The live preview says how many of the tools write, and how many destroy.
    let (_, all) = console
        .get(&format!(
            "/accounts/{account}/preview?methods=read&methods=write&methods=custom"
        ))
        .await;
    assert!(
        all.contains("only read, ") && all.contains(" of them destructive</strong>"),
        "{all}"
    );
    let (_, read) = console
        .get(&format!("/accounts/{account}/preview?methods=read"))
        .await;
    assert!(read.contains(" only read, 0 write."), "{read}");

    // The OAuth app form keeps what was typed, the secret aside.
    let (status, refused) = console
        .post(
            "/integrations/roserocket/oauth-app",
            &[
                ("client_id", "typed-client"),
                ("client_secret", "typed-secret"),
                ("token_url", "ftp://token.example"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("value=\"typed-client\""));
    assert!(refused.contains("value=\"ftp://token.example\""));
    assert!(!refused.contains("typed-secret"));

    // Tool names wrap at their underscores.
    let (_, tools) = console.get("/integrations/malomo").await;
    assert!(
        tools.contains("<code class=\"tool\">list_<wbr>all_<wbr>malomo_<wbr>orders</code>"),
        "{tools}"
    );
}

#[tokio::test]
async fn hosts_and_return_origins_are_allowed_and_removed_in_the_console() {
    let h = start().await;
    let console = Console::sign_in(&h).await;
    let (status, page) = console.get("/hosts").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<code>api.edesk.com</code>"),
        "declared: {page}"
    );
    assert!(!page.contains("api.example.org"));

    let (status, refused) = console
        .post("/hosts", &[("integration", "e_desk"), ("host", "*.com")])
        .await;
    assert_eq!(status, 400);
    assert!(
        field_error(&refused, "host")
            .unwrap()
            .contains("public suffix"),
        "{refused}"
    );
    assert!(refused.contains("value=\"*.com\""));
    assert!(refused.contains("<option value=\"e_desk\" selected>"));

    let (status, allowed) = console
        .post(
            "/hosts",
            &[("integration", "e_desk"), ("host", "API.Example.org")],
        )
        .await;
    assert_eq!(status, 200, "{allowed}");
    assert!(allowed.contains("api.example.org may now be used by eDesk accounts."));
    assert!(allowed.contains("<code>api.example.org</code>"));
    let (_, listed) = h
        .admin(
            reqwest::Method::GET,
            "/integrations/e_desk/upstream-hosts",
            None,
        )
        .await;
    assert_eq!(
        listed["allowed"],
        json!(["127.0.0.1", "api.example.org"]),
        "{listed}"
    );
    let (status, to) = console
        .post(
            "/hosts/remove",
            &[("integration", "e_desk"), ("host", "api.example.org")],
        )
        .await;
    assert_eq!((status, to.as_str()), (303, "/console/hosts"));
    let (_, page) = console.get("/hosts").await;
    assert!(!page.contains("api.example.org"));

    let (status, refused) = console
        .post(
            "/return-origins",
            &[("origin", "https://app.example.com/path")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        field_error(&refused, "origin")
            .unwrap()
            .contains("not an origin")
    );
    assert!(refused.contains("value=\"https://app.example.com/path\""));
    let (status, _) = console
        .post("/return-origins", &[("origin", "https://app.example.com")])
        .await;
    assert_eq!(status, 303);
    let (_, page) = console.get("/hosts").await;
    assert!(page.contains("<code>https://app.example.com</code>"));
    let (status, _) = console
        .post(
            "/return-origins/remove",
            &[("origin", "https://app.example.com")],
        )
        .await;
    assert_eq!(status, 303);
    let (_, page) = console.get("/hosts").await;
    assert!(page.contains("No return origin allowed."));
}

#[tokio::test]
async fn a_servers_activity_shows_its_calls_outcomes_and_last_use() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (server, url) = h.server(&account, json!({})).await;
    let console = Console::sign_in(&h).await;
    let activity = format!("/accounts/{account}/servers/{server}/activity");
    let (status, page) = console.get(&activity).await;
    assert_eq!(status, 200);
    assert!(page.contains("No calls recorded.") && page.contains("id=\"last-used\">never<"));

    let ok = h
        .call(&url, "list_all_malomo_orders", json!({"limit": 1}))
        .await;
    assert_eq!(ok["result"]["isError"], false, "{ok}");
    let refused = h
        .call(&url, "get_single_malomo_order_by_id", json!({}))
        .await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    // The audit log is written in batches: wait for both rows, with a generous deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let (_, page) = console.get(&activity).await;
        if page.matches("data-label=\"Tool\"").count() == 2 {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(!page.contains("id=\"last-used\">never<"), "{page}");
    assert!(page.contains("list_<wbr>all_<wbr>malomo_<wbr>orders"));
    for outcome in ["ok", "invalid_arguments"] {
        assert!(page.contains(&format!("<code>{outcome}</code>")), "{page}");
    }
    assert!(page.contains("the MCP URL"));
    let (_, server_page) = console
        .get(&format!("/accounts/{account}/servers/{server}"))
        .await;
    assert!(server_page.contains(&format!("href=\"/console{activity}\"")));
    // Another account's path does not show this server.
    let (status, _) = console
        .get(&format!("/accounts/nobody/servers/{server}/activity"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_session_whose_token_was_revoked_says_so() {
    let h = start().await;
    let (record, token) = h
        .provisioner
        .create_api_token("console", specgate_server::store::TokenScope::Admin, None)
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = http
        .post(format!("{}/console/login", h.base))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    h.provisioner.revoke_api_token(&record.id).await.unwrap();
    let ended = http
        .get(format!("{}/console", h.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 303);
    assert_eq!(ended.headers()["location"], "/console/login?ended=revoked");
    assert!(
        ended.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let login = http
        .get(format!("{}/console/login?ended=revoked", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("has been revoked"), "{login}");
    // A made-up reason says nothing.
    let login = http
        .get(format!("{}/console/login?ended=%3Cscript%3E", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!login.contains("session-ended") && !login.contains("&lt;script"));
}

/// The pages an operator needs besides accounts and servers, in Chromium: an API token made
/// in the browser and shown once, hosts and origins, a server's activity, and every page at
/// phone width without sideways scrolling and with every control labelled.
#[tokio::test]
#[ignore = "needs Chromium and chromedriver; scripts/test.sh installs them"]
async fn the_operator_pages_work_in_the_browser_at_desktop_and_phone_width() {
    let Some(driver) = chromedriver() else { return };
    let h = start().await;
    let account = h.account("malomo").await;
    let (server, url) = h.server(&account, json!({"methods": ["read"]})).await;
    let called = h
        .call(&url, "list_all_malomo_orders", json!({"limit": 1}))
        .await;
    assert_eq!(called["result"]["isError"], false, "{called}");
    let browser = Browser::start(&driver, 1280, 800).await;
    browser.goto(&format!("{}/console/login", h.base)).await;
    browser.fill("#token", &h.admin_token).await;
    browser.click("button[type=submit]").await;
    browser.wait_heading("Console").await;

    // An API token for the consent page, made in the browser: two errors shown together,
    // then the token, once.
    browser.click("nav a[href='/console/api-tokens']").await;
    browser.wait_heading("API tokens").await;
    browser
        .execute("document.querySelector('#scope').value = 'admin'; document.querySelector('#account_id').selectedIndex = 1; document.querySelector('#token-name').removeAttribute('required');")
        .await;
    browser
        .click("form[action='/console/api-tokens'] button")
        .await;
    browser.wait_text("only mcp tokens can be bound").await;
    assert!(!browser.text("#name-error").await.is_empty());
    assert_eq!(browser.property("#scope", "value").await, "admin");
    browser.screenshot(&screenshot("api-tokens-errors")).await;
    browser.fill("#token-name", "chatgpt consent").await;
    browser
        .execute("document.querySelector('#scope').value = 'mcp';")
        .await;
    browser
        .click("form[action='/console/api-tokens'] button")
        .await;
    browser.wait_heading("API token created").await;
    let token = browser.property("#api-token", "value").await;
    assert!(token.as_str().unwrap().starts_with("sgk_"), "{token}");
    browser.screenshot(&screenshot("api-token-created")).await;
    browser.click("a.button").await;
    browser.wait_heading("API tokens").await;
    assert!(browser.source().await.contains("chatgpt consent"));
    assert!(!browser.source().await.contains(token.as_str().unwrap()));
    browser.screenshot(&screenshot("api-tokens")).await;

    // Hosts and origins.
    browser.click("nav a[href='/console/hosts']").await;
    browser.wait_heading("Hosts and origins").await;
    browser.fill("#host", "*.co.uk").await;
    browser.click("form[action='/console/hosts'] button").await;
    browser.wait_text("public suffix").await;
    assert_eq!(browser.property("#host", "value").await, "*.co.uk");
    browser.fill("#host", "eu.api.gomalomo.com").await;
    browser.click("form[action='/console/hosts'] button").await;
    browser
        .wait_text("eu.api.gomalomo.com may now be used")
        .await;
    browser.fill("#origin", "https://app.example.com").await;
    browser
        .click("form[action='/console/return-origins'] button")
        .await;
    browser
        .wait_until(
            "return document.querySelector('#return-origins') !== null",
            "the allowed origin",
        )
        .await;
    assert_eq!(
        browser.text("#return-origins td code").await,
        "https://app.example.com"
    );
    browser.screenshot(&screenshot("hosts")).await;

    // The server's activity, reached from its page.
    browser
        .goto(&format!(
            "{}/console/accounts/{account}/servers/{server}",
            h.base
        ))
        .await;
    browser.click("#activity").await;
    browser.wait_heading("Activity of agent").await;
    browser
        .wait_until(
            "return document.querySelectorAll('#calls tbody tr').length === 1",
            "the call's audit row",
        )
        .await;
    assert_eq!(browser.text("#outcomes tbody td code").await, "ok");
    browser.screenshot(&screenshot("activity")).await;

    // Every page at phone width: nothing scrolls sideways, every control has a label, and
    // tool names wrap at their underscores.
    browser.resize(390, 844).await;
    let pages = [
        ("/console", "home"),
        ("/console/integrations/malomo", "integration-phone"),
        ("/console/api-tokens", "api-tokens-phone"),
        ("/console/hosts", "hosts-phone"),
        (
            &*format!("/console/accounts/{account}/servers/{server}/activity"),
            "activity-phone",
        ),
        (&*format!("/console/accounts/{account}"), "account-phone"),
    ];
    for (path, name) in pages {
        browser.goto(&format!("{}{path}", h.base)).await;
        assert_eq!(
            browser
                .execute("return document.documentElement.scrollWidth <= window.innerWidth")
                .await,
            true,
            "{path} scrolls sideways"
        );
        assert_eq!(browser.execute(UNLABELLED).await, json!([]), "{path}");
        browser.screenshot(&screenshot(name)).await;
    }
    // A tool name's lines each end at an underscore or the name's end.
    browser
        .goto(&format!("{}/console/integrations/malomo", h.base))
        .await;
    let broken_mid_word = browser
        .execute(
            "return [...document.querySelectorAll('code.tool')].filter(code => {
                const range = document.createRange();
                const text = [...code.childNodes].filter(n => n.nodeType === 3);
                let last = null, broken = false;
                for (const node of text) {
                    for (let i = 0; i < node.length; i++) {
                        range.setStart(node, i); range.setEnd(node, i + 1);
                        const top = range.getBoundingClientRect().top;
                        if (last !== null && top > last.top + 2 && last.char !== '_') broken = true;
                        last = { top, char: node.data[i] };
                    }
                }
                return broken;
            }).map(code => code.textContent)",
        )
        .await;
    assert_eq!(broken_mid_word, json!([]));
}
