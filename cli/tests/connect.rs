//! Connecting an account through the vendor's own OAuth consent, against the Rose Rocket
//! sandbox's consent page and token endpoint: the whole flow over real HTTP, every refusal
//! (forged, replayed and expired `state`, `access_denied`, a `return_to` on an origin nobody
//! allowed), reconnecting after the vendor refused the refresh token, the CLI, and the
//! tokens' absence in plaintext from the database.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Harness, free_port, start, until_ready};
use reqwest::Method;
use serde_json::{Value, json};

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query_of(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The `href` of the link with this id on the sandbox's consent page.
fn link(page: &str, id: &str) -> String {
    let at = page.find(&format!("id=\"{id}\"")).unwrap();
    let href = &page[at..];
    let start = href.find("href=\"").unwrap() + 6;
    let end = href[start..].find('"').unwrap();
    href[start..start + end].replace("&amp;", "&")
}

async fn set_rose_app(app: &Harness) {
    let (status, body) = app
        .admin(
            Method::PUT,
            "/integrations/roserocket/oauth-app",
            Some(json!({
                "client_id": "rr_client",
                "client_secret": "rr_secret",
                "authorize_url": format!("{}/roserocket/authorize", app.sandbox_url),
                "token_url": format!("{}/roserocket/oauth/token", app.sandbox_url),
                "scopes": ["offline_access"],
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("client_secret").is_none(), "{body}");
}

async fn start_connection(app: &Harness, name: &str, extra: Value) -> String {
    let mut request = json!({
        "integration": "roserocket",
        "name": name,
        "base_url": format!("{}/roserocket/api/v2/platformModel", app.sandbox_url),
    });
    for (key, value) in extra.as_object().unwrap() {
        request[key] = value.clone();
    }
    let (status, body) = app
        .admin(Method::POST, "/integrated-account/connect", Some(request))
        .await;
    assert_eq!(status, 201, "{body}");
    body["authorize_url"].as_str().unwrap().to_owned()
}

/// A connection's start URL opened in a browser: where it sent the browser, and the cookie
/// it set there.
struct Opened {
    vendor_url: String,
    cookie: String,
}

async fn open(start_url: &str) -> Opened {
    let response = browser().get(start_url).send().await.unwrap();
    assert_eq!(response.status(), 303, "{start_url}");
    let header = |name| response.headers()[name].to_str().unwrap().to_owned();
    let cookie = header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    Opened {
        vendor_url: header("location"),
        cookie: cookie.split(';').next().unwrap().to_owned(),
    }
}

/// A link on the vendor's page, followed in the browser that opened the start URL.
#[derive(Clone)]
struct Link {
    url: String,
    cookie: String,
}

/// Opens a connection's start URL and the sandbox's consent page it leads to: its Allow and
/// Deny links.
async fn consent(start_url: &str) -> (Link, Link) {
    let (allow, deny, _) = consent_as(start_url).await;
    (allow, deny)
}

/// Like [`consent`], with the link that allows as another tenant (Globex).
async fn consent_as(start_url: &str) -> (Link, Link, Link) {
    links(&open(start_url).await).await
}

/// The Allow, Deny and Allow-as-Globex links of the consent page a start URL led to.
async fn links(opened: &Opened) -> (Link, Link, Link) {
    let page = browser()
        .get(&opened.vendor_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = |id| Link {
        url: link(&page, id),
        cookie: opened.cookie.clone(),
    };
    (at("allow"), at("deny"), at("allow_other"))
}

async fn follow(link: &Link) -> (u16, String, Option<String>) {
    visit_with(&link.url, Some(&link.cookie)).await
}

async fn visit(url: &str) -> (u16, String, Option<String>) {
    visit_with(url, None).await
}

async fn visit_with(url: &str, cookie: Option<&str>) -> (u16, String, Option<String>) {
    let mut request = browser().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), location)
}

async fn accounts(app: &Harness) -> Vec<Value> {
    let (_, body) = app.admin(Method::GET, "/integrated-account", None).await;
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn an_account_connects_through_consent_and_its_tools_reach_the_vendor() {
    let app = start().await;
    set_rose_app(&app).await;
    let (_, shown) = app
        .admin(Method::GET, "/integrations/roserocket/oauth-app", None)
        .await;
    assert_eq!(
        shown["redirect_uri"],
        format!("{}/oauth/callback", app.base)
    );
    assert_eq!(shown["token_endpoint_auth"], "client_secret_post");
    assert!(!shown.to_string().contains("rr_secret"), "{shown}");

    let start_url = start_connection(&app, "connected", json!({})).await;
    assert!(
        start_url.starts_with(&format!("{}/oauth/connect/", app.base)),
        "{start_url}"
    );
    let opened = open(&start_url).await;
    let sent = query_of(&opened.vendor_url);
    assert!(
        opened
            .vendor_url
            .starts_with(&format!("{}/roserocket/authorize?", app.sandbox_url))
    );
    assert_eq!(sent["response_type"], "code");
    assert_eq!(sent["client_id"], "rr_client");
    assert_eq!(sent["redirect_uri"], format!("{}/oauth/callback", app.base));
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(sent["scope"], "offline_access");
    assert!(sent["state"].len() >= 43, "a 256-bit state");

    // The same browser may open the start URL again; it goes to the same consent.
    let again = visit_with(&start_url, Some(&opened.cookie)).await;
    assert_eq!(again.2.as_deref(), Some(opened.vendor_url.as_str()));
    let (allow, _, _) = links(&opened).await;
    let (status, page, _) = follow(&allow).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Rose Rocket account connected"), "{page}");

    // The code went back with the verifier of the challenge, the client in the form body as
    // Rose Rocket's token endpoint expects, and the same redirect URI.
    let exchanges: Vec<_> = app
        .sandbox
        .rose_token_forms()
        .into_iter()
        .filter(|form| form["grant_type"] == "authorization_code")
        .collect();
    assert_eq!(exchanges.len(), 1);
    let exchange = &exchanges[0];
    let verifier = &exchange["code_verifier"];
    assert_eq!(
        specgate_server::grants::pkce_challenge(verifier),
        sent["code_challenge"]
    );
    assert_eq!(exchange["redirect_uri"], sent["redirect_uri"]);
    assert_eq!(exchange["client_secret"], "rr_secret");

    let listed = accounts(&app).await;
    let account = listed.iter().find(|a| a["name"] == "connected").unwrap();
    assert_eq!(account["integration"], "roserocket");
    assert_eq!(account["needs_reconnect"], false);
    let id = account["id"].as_str().unwrap();

    // Its tools call the vendor with the access token the exchange issued.
    let (_, url) = app.server(id, json!({})).await;
    let answer = app
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let last = app.sandbox.requests().pop().unwrap();
    assert_eq!(last.authorization.as_deref(), Some("Bearer rr_access_1"));

    // No token and no client secret is stored in plaintext.
    let database = std::fs::read(&app.db_path).unwrap();
    let wal = std::fs::read(app.db_path.with_extension("db-wal")).unwrap_or_default();
    for secret in [
        "rr_access_1",
        "rr_refresh_1",
        "rr_secret",
        verifier.as_str(),
        sent["state"].as_str(),
    ] {
        let found = |bytes: &[u8]| bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(
            !found(&database) && !found(&wal),
            "`{secret}` is in the database"
        );
    }
}

#[tokio::test]
async fn a_forged_replayed_or_expired_state_and_a_refusal_create_nothing() {
    let app = start().await;
    set_rose_app(&app).await;
    let before = accounts(&app).await.len();

    // Forged: a state this server never issued.
    let (status, page, _) =
        visit(&format!("{}/oauth/callback?state=forged&code=x", app.base)).await;
    assert_eq!(status, 400);
    assert!(page.contains("not valid"), "{page}");

    // Replayed: the same redirect twice.
    let (allow, _) = consent(&start_connection(&app, "once", json!({})).await).await;
    assert_eq!(follow(&allow).await.0, 200);
    let (status, page, _) = follow(&allow).await;
    assert_eq!(status, 400);
    assert!(page.contains("used already"), "{page}");
    assert_eq!(accounts(&app).await.len(), before + 1);

    // The vendor's user said no.
    let (_, deny) = consent(&start_connection(&app, "declined", json!({})).await).await;
    let (status, page, _) = follow(&deny).await;
    assert_eq!(status, 400);
    assert!(page.contains("access_denied"), "{page}");
    assert!(page.contains("The user declined."), "{page}");

    // Expired: the connection waited past its ten minutes.
    let (allow, _) = consent(&start_connection(&app, "late", json!({})).await).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE oauth_connections SET expires_at = 1 WHERE finished_at IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    let (status, page, _) = follow(&allow).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");

    let names: Vec<Value> = accounts(&app)
        .await
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names.len(), before + 1, "{names:?}");
    assert!(!names.contains(&json!("declined")) && !names.contains(&json!("late")));
}

#[tokio::test]
async fn connections_are_refused_before_anyone_is_sent_to_the_vendor() {
    let app = start().await;
    let connect = |body: Value| app.admin(Method::POST, "/integrated-account/connect", Some(body));
    let (status, body) = connect(json!({"integration": "roserocket", "name": "n"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("oauth_app_missing")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/oauth/callback"),
        "{body}"
    );
    let (status, body) = connect(json!({"integration": "malomo", "name": "n"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("not_oauth2")),
        "{body}"
    );

    set_rose_app(&app).await;
    // A return_to on an origin nobody allowed.
    let (status, body) = connect(json!({"integration": "roserocket", "name": "n", "base_url": format!("{}/roserocket/api/v2/platformModel", app.sandbox_url), "return_to": "https://evil.example/steal"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("return_to_not_allowed")),
        "{body}"
    );
    // An app's URL override on a host nobody allowed.
    let (status, body) = app
        .admin(Method::PUT, "/integrations/roserocket/oauth-app", Some(json!({"client_id": "c", "client_secret": "s", "token_url": "https://tokens.evil.example/token"})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("upstream_host_not_allowed")),
        "{body}"
    );

    // An allowed origin gets the browser back, with the new account's id.
    let (status, _) = app
        .admin(
            Method::POST,
            "/return-origins",
            Some(json!({"origin": "https://app.example.com"})),
        )
        .await;
    assert_eq!(status, 201);
    let start_url = start_connection(
        &app,
        "returned",
        json!({"return_to": "https://app.example.com/done?tab=vendors"}),
    )
    .await;
    let (allow, _) = consent(&start_url).await;
    let (status, _, location) = follow(&allow).await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(
        location.starts_with("https://app.example.com/done?tab=vendors&account_id="),
        "{location}"
    );
    let id = query_of(&location)["account_id"].clone();
    assert_eq!(
        app.admin(Method::GET, &format!("/integrated-account/{id}"), None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_refused_refresh_marks_the_account_and_reconnecting_keeps_its_id_and_servers() {
    let app = start().await;
    set_rose_app(&app).await;
    let (allow, _) = consent(&start_connection(&app, "first", json!({})).await).await;
    follow(&allow).await;
    let id = accounts(&app).await[0]["id"].as_str().unwrap().to_owned();
    let (_, url) = app.server(&id, json!({})).await;

    // Another connection rotates the sandbox's refresh token, so this account's is stale;
    // then the vendor refuses its access token, and the refresh is refused too.
    let (allow, _) = consent(&start_connection(&app, "second", json!({})).await).await;
    follow(&allow).await;
    app.script(401, &[]).await;
    let answer = app
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("connected again"), "{text}");
    let (_, account) = app
        .admin(Method::GET, &format!("/integrated-account/{id}"), None)
        .await;
    assert_eq!(account["needs_reconnect"], true, "{account}");
    assert_eq!(
        app.metric("specgate_tool_call_outcomes_total{integration=\"roserocket\",tool=\"list_all_roserocket_user_groups\",outcome=\"needs_reconnect\"}")
            .await,
        1
    );

    // Reconnecting goes through consent again and keeps the id and the MCP server's URL.
    let (status, started) = app
        .admin(
            Method::POST,
            &format!("/integrated-account/{id}/reconnect"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let (allow, _) = consent(started["authorize_url"].as_str().unwrap()).await;
    let (status, page, _) = follow(&allow).await;
    assert_eq!(status, 200);
    assert!(page.contains("connected again"), "{page}");
    let (_, account) = app
        .admin(Method::GET, &format!("/integrated-account/{id}"), None)
        .await;
    assert_eq!(account["needs_reconnect"], false, "{account}");
    assert_eq!(accounts(&app).await.len(), 2);
    let answer = app
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");

    // Rotating the app's secret reaches the connected accounts: their refresh now fails.
    let (status, _) = app
        .admin(Method::PUT, "/integrations/roserocket/oauth-app", Some(json!({"client_id": "rr_client", "client_secret": "rotated", "authorize_url": format!("{}/roserocket/authorize", app.sandbox_url), "token_url": format!("{}/roserocket/oauth/token", app.sandbox_url)})))
        .await;
    assert_eq!(status, 200);
    let before = app
        .sandbox
        .token_requests
        .load(std::sync::atomic::Ordering::SeqCst);
    app.script(401, &[]).await;
    let answer = app
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(
        app.sandbox
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        before + 1
    );
    let refresh = app.sandbox.rose_token_forms().pop().unwrap();
    assert_eq!(refresh["grant_type"], "refresh_token");
    assert_eq!(
        refresh["client_secret"], "rotated",
        "the app's current secret, not a copy"
    );
}

/// `specgate account connect` prints the URL, waits for the callback that a `serve` on the
/// same database receives, and prints the account.
#[tokio::test]
async fn the_cli_connects_and_waits_for_the_callback() {
    let (sandbox_address, _sandbox) = specgate_server::sandbox::spawn().await.unwrap();
    let sandbox_url = format!("http://{sandbox_address}");
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let key_file = dir.path().join("key").display().to_string();
    let cli = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_specgate"));
        command
            .args(["--database", &database, "--key-file", &key_file, "--json"])
            .args(args)
            .env_remove("SPECGATE_SECRET_KEY")
            .env_remove("SPECGATE_PUBLIC_URL");
        command
    };
    let run = |args: &[&str]| {
        let output = cli(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    run(&["init"]);
    run(&[
        "upstream-host",
        "allow",
        "--integration",
        "roserocket",
        "127.0.0.1",
    ]);
    let authorize = format!("{sandbox_url}/roserocket/authorize");
    let token = format!("{sandbox_url}/roserocket/oauth/token");
    let mut set = cli(&[
        "oauth-app",
        "set",
        "--integration",
        "roserocket",
        "--client-id",
        "rr_client",
        "--authorize-url",
        &authorize,
        "--token-url",
        &token,
        "--allow-insecure-upstreams",
    ]);
    let set = set
        .env("SPECGATE_OAUTH_CLIENT_SECRET", "rr_secret")
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(!String::from_utf8_lossy(&set.stdout).contains("rr_secret"));

    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    // Everything the server logs, at its most verbose, must hold no token or secret.
    let log_path = dir.path().join("serve.log");
    let server = cli(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--public-url",
        &public,
        "--allow-insecure-upstreams",
    ])
    .env("SPECGATE_LOG", "debug")
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log_path).unwrap())
    .spawn()
    .unwrap();
    let mut server = until_ready(server, port, "healthz").await;

    let base_url = format!("{sandbox_url}/roserocket/api/v2/platformModel");
    let mut connect = cli(&[
        "account",
        "connect",
        "--integration",
        "roserocket",
        "--name",
        "from the cli",
        "--base-url",
        &base_url,
        "--allow-insecure-upstreams",
        "--wait",
        "60",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(connect.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let started: Value = serde_json::from_str(&first).unwrap();
    let start_url = started["authorize_url"].as_str().unwrap();
    let opened = open(start_url).await;
    let vendor_url = opened.vendor_url.clone();
    assert_eq!(
        query_of(&vendor_url)["redirect_uri"],
        format!("{public}/oauth/callback")
    );
    // A browser without the cookie is another browser: refused.
    let (status, page, _) = visit(start_url).await;
    assert_eq!(status, 409, "{page}");
    let (allow, _, _) = links(&opened).await;
    assert_eq!(follow(&allow).await.0, 200);
    let output = tokio::task::spawn_blocking(move || connect.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success());
    let account: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(account["name"], "from the cli");
    assert_eq!(account["integration"], "roserocket");
    let listed = run(&["account", "list"]);
    assert_eq!(listed[0]["id"], account["id"]);
    server.kill().unwrap();
    server.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("/oauth/callback"), "the log is verbose: {log}");
    let state = query_of(&vendor_url)["state"].clone();
    let start_token = start_url.rsplit('/').next().unwrap();
    for secret in [
        start_token,
        "rr_secret",
        "rr_access_",
        "rr_refresh_",
        "rr_code_",
        state.as_str(),
    ] {
        assert!(!log.contains(secret), "`{secret}` is in the server's log");
    }
}

/// The vendor's redirect delivered to two instances at once, in several rounds: one takes the
/// `state`, so the code is exchanged at the vendor once and one account is made; the other
/// says the connection was used already.
async fn one_callback_wins(a: &Harness, b: &Harness) {
    set_rose_app(a).await;
    let exchanges = || {
        a.sandbox
            .rose_token_forms()
            .into_iter()
            .filter(|form| form["grant_type"] == "authorization_code")
            .count()
    };
    for round in 0..4 {
        // Unique on a PostgreSQL that other runs share.
        let name = format!("raced-{round}-{}", a.base);
        let (allow, _) = consent(&start_connection(a, &name, json!({})).await).await;
        let at_b = Link {
            url: allow.url.replacen(&a.base, &b.base, 1),
            cookie: allow.cookie.clone(),
        };
        assert_ne!(allow.url, at_b.url);
        let before = exchanges();
        let (first, second) = tokio::join!(follow(&allow), follow(&at_b));
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "round {round}: {first:?} {second:?}");
        let refused = if first.0 == 400 { &first.1 } else { &second.1 };
        assert!(refused.contains("used already"), "{refused}");
        assert_eq!(
            exchanges(),
            before + 1,
            "round {round}: one exchange at the vendor"
        );
        let made = accounts(a)
            .await
            .iter()
            .filter(|x| x["name"] == name.as_str())
            .count();
        assert_eq!(made, 1, "round {round}");
    }
}

#[tokio::test]
async fn a_state_delivered_twice_at_once_connects_once_on_sqlite() {
    let a = start().await;
    let b = common::start_with(Some(format!("sqlite://{}", a.db_path.display()))).await;
    one_callback_wins(&a, &b).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn a_state_delivered_twice_at_once_connects_once_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    let a = common::start_with(Some(url.clone())).await;
    let b = common::start_with(Some(url)).await;
    one_callback_wins(&a, &b).await;
}

/// A connection link binds to the first browser that opens it: another browser is refused at
/// the link, and the vendor's redirect is taken only with that browser's cookie; a redirect
/// that comes to another browser leaves the connection usable for the right one.
#[tokio::test]
async fn a_connection_finishes_only_in_the_browser_that_opened_its_link() {
    let app = start().await;
    set_rose_app(&app).await;
    let start_url = start_connection(&app, "bound", json!({})).await;
    let (allow, _) = consent(&start_url).await;
    let (status, page, _) = visit(&start_url).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("opened in another browser first"), "{page}");

    let name = allow.cookie.split('=').next().unwrap().to_owned();
    for cookie in [None, Some(format!("{name}=guessed"))] {
        let (status, page, _) = visit_with(&allow.url, cookie.as_deref()).await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("another browser"), "{page}");
    }
    assert!(accounts(&app).await.is_empty(), "nothing was connected");
    let (status, page, _) = follow(&allow).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(accounts(&app).await.len(), 1);
}

/// Eight browsers open one connection link at the same moment: exactly one is bound and sent
/// to the vendor; the others are refused.
#[tokio::test]
async fn a_link_opened_by_several_browsers_at_once_binds_one() {
    let app = start().await;
    set_rose_app(&app).await;
    for round in 0..3 {
        let start_url = start_connection(&app, &format!("raced-{round}"), json!({})).await;
        let opened = futures::future::join_all((0..8).map(|_| async {
            let response = browser().get(&start_url).send().await.unwrap();
            (
                response.status().as_u16(),
                response.headers().contains_key("set-cookie"),
            )
        }))
        .await;
        let bound = opened.iter().filter(|o| **o == (303, true)).count();
        let refused = opened.iter().filter(|o| **o == (409, false)).count();
        assert_eq!((bound, refused), (1, 7), "round {round}: {opened:?}");
    }
}

/// A reconnect that comes back as another tenant (Globex instead of Acme) changes nothing;
/// one an operator started with `accept_other_identity` may.
#[tokio::test]
async fn a_reconnect_that_comes_back_as_another_tenant_changes_nothing() {
    let app = start().await;
    set_rose_app(&app).await;
    let (allow, _) = consent(&start_connection(&app, "acme ops", json!({})).await).await;
    assert_eq!(follow(&allow).await.0, 200);
    let id = accounts(&app).await[0]["id"].as_str().unwrap().to_owned();
    let (_, url) = app.server(&id, json!({})).await;
    let reconnect = |body: Value| {
        let path = format!("/integrated-account/{id}/reconnect");
        let app = &app;
        async move {
            let (status, started) = app.admin(Method::POST, &path, Some(body)).await;
            assert_eq!(status, 201, "{started}");
            started["authorize_url"].as_str().unwrap().to_owned()
        }
    };

    let (_, _, as_globex) = consent_as(&reconnect(json!({})).await).await;
    let (status, page, _) = follow(&as_globex).await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("signed in as org_id globex") && page.contains("connected as org_id acme"),
        "{page}"
    );
    // The account still holds the tokens it was first connected with.
    app.call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    let first_call = app
        .sandbox
        .requests()
        .into_iter()
        .find(|r| r.uri.contains("/userGroups"))
        .unwrap();
    assert_eq!(
        first_call.authorization.as_deref(),
        Some("Bearer rr_access_1")
    );

    let (_, _, as_globex) =
        consent_as(&reconnect(json!({"accept_other_identity": true})).await).await;
    let (status, page, _) = follow(&as_globex).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("connected again"), "{page}");
}

/// A redirect to the callback with a `state` nobody issued shows a fixed message: whatever
/// its `error_description` says never appears on specgate's page.
#[tokio::test]
async fn an_unknown_state_shows_none_of_the_redirects_words() {
    let app = start().await;
    let (status, page, _) = visit(&format!(
        "{}/oauth/callback?state=forged&error=access_denied&error_description=Your+session+expired.+Sign+in+at+evil.example",
        app.base
    ))
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("not valid"), "{page}");
    assert!(
        !page.contains("evil.example") && !page.contains("access_denied"),
        "{page}"
    );
}

/// A Rose Rocket account whose refresh token the vendor refused, with an MCP server: the
/// account's id and the server's URL.
async fn account_to_reconnect(app: &Harness) -> (String, String) {
    set_rose_app(app).await;
    let (allow, _) = consent(&start_connection(app, "first", json!({})).await).await;
    follow(&allow).await;
    let id = accounts(app).await[0]["id"].as_str().unwrap().to_owned();
    let (_, url) = app.server(&id, json!({})).await;
    // Another connection rotates the refresh token; the vendor then refuses this account.
    let (allow, _) = consent(&start_connection(app, "second", json!({})).await).await;
    follow(&allow).await;
    app.script(401, &[]).await;
    let refused = app
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    (id, url)
}

/// A 2026-07-28 call with URL elicitation on an account to reconnect: where it sends the
/// person, and the state its retry carries.
async fn sent_to_connect(app: &Harness, url: &str) -> (String, Value) {
    let call = common::call_2026(
        "list_all_roserocket_user_groups",
        json!({}),
        Some(json!({"url": {}})),
        None,
    );
    let asked = common::post_2026(app, url, &call, None).await;
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let connect = &result["inputRequests"]["connect"]["params"];
    assert_eq!(connect["mode"], "url", "{connect}");
    (
        connect["url"].as_str().unwrap().to_owned(),
        result["requestState"].clone(),
    )
}

/// A call on an account the vendor stopped accepting: a 2026-07-28 client that declared URL
/// elicitation is sent to the vendor's consent (specgate's start URL) and its retry runs once
/// the person has connected the account; a client that cannot be sent gets the error, naming
/// where an operator reconnects it. Nothing reaches the vendor's API before the account is
/// connected again.
#[tokio::test]
async fn a_call_sends_the_person_to_reconnect_the_account_and_its_retry_runs() {
    use common::{call_2026, post_2026};
    let app = start().await;
    let (id, url) = account_to_reconnect(&app).await;
    let refused = app
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("{}/console/accounts/{id}", app.base)),
        "the operator's way to reconnect: {text}"
    );
    let vendor_calls = || {
        app.sandbox
            .requests()
            .iter()
            .filter(|r| r.uri.contains("/userGroups"))
            .count()
    };
    let before = vendor_calls();

    let (start_url, state) = sent_to_connect(&app, &url).await;
    assert!(
        start_url.starts_with(&format!("{}/oauth/connect/", app.base)),
        "{start_url}"
    );
    let tool = "list_all_roserocket_user_groups";
    let urls = Some(json!({"url": {}}));
    let retry = |action: &str| {
        Some(json!({"requestState": state, "inputResponses": {"connect": {"action": action}}}))
    };

    // Back before the person finished: asked again, to the same place.
    let early = post_2026(
        &app,
        &url,
        &call_2026(tool, json!({}), urls.clone(), retry("accept")),
        None,
    )
    .await;
    let again = &early["result"]["inputRequests"]["connect"]["params"];
    assert_eq!(again["url"], start_url.as_str(), "{early}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("connect it again at Rose Rocket")
    );
    let declined = post_2026(
        &app,
        &url,
        &call_2026(tool, json!({}), urls.clone(), retry("decline")),
        None,
    )
    .await;
    assert!(
        declined["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("was not connected"),
        "{declined}"
    );
    // A client that cannot open URLs gets the error, not a question.
    let forms_only = post_2026(
        &app,
        &url,
        &call_2026(tool, json!({}), Some(json!({"form": {}})), None),
        None,
    )
    .await;
    assert_eq!(forms_only["result"]["isError"], true, "{forms_only}");
    let before = before + 1;
    assert_eq!(
        vendor_calls(),
        before,
        "only the call that could not ask tried the vendor"
    );

    // The person connects the account at the vendor; the retry runs the call.
    let (allow, _) = consent(&start_url).await;
    let (status, page, _) = follow(&allow).await;
    assert_eq!(status, 200);
    assert!(page.contains("connected again"), "{page}");
    let done = post_2026(
        &app,
        &url,
        &call_2026(tool, json!({}), urls, retry("accept")),
        None,
    )
    .await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(vendor_calls(), before + 1);
    let (_, account) = app
        .admin(Method::GET, &format!("/integrated-account/{id}"), None)
        .await;
    assert_eq!(account["needs_reconnect"], false, "{account}");
}

/// The same in Chromium: the person opens the URL the call sent, allows access on the
/// vendor's page, lands on specgate's page, and the client's retry runs.
#[tokio::test]
#[ignore = "needs Chromium and chromedriver; scripts/test.sh installs them"]
async fn a_call_sends_the_person_to_reconnect_in_the_browser() {
    let Some(driver) = common::external(
        "chromium and chromium-driver (Debian packages)",
        std::path::Path::new("/usr/bin/chromedriver")
            .exists()
            .then(|| "/usr/bin/chromedriver".to_owned()),
    ) else {
        return;
    };
    let app = start().await;
    let (id, url) = account_to_reconnect(&app).await;
    let (start_url, state) = sent_to_connect(&app, &url).await;
    let browser = common::webdriver::Browser::start(&driver, 1280, 800).await;
    browser.goto(&start_url).await;
    browser
        .wait_heading("Allow specgate to use your Rose Rocket account?")
        .await;
    browser.click("#allow").await;
    browser.wait_text("connected again").await;
    let retry = common::call_2026(
        "list_all_roserocket_user_groups",
        json!({}),
        Some(json!({"url": {}})),
        Some(json!({"requestState": state, "inputResponses": {"connect": {"action": "accept"}}})),
    );
    let done = common::post_2026(&app, &url, &retry, None).await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    let (_, account) = app
        .admin(Method::GET, &format!("/integrated-account/{id}"), None)
        .await;
    assert_eq!(account["needs_reconnect"], false, "{account}");
}
