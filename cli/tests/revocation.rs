//! Token lookups are served from memory, and a change committed anywhere ends that: by this
//! instance, by another instance on the same database, or by the CLI; and a removed upstream
//! host refuses the calls of accounts on it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Harness, start, start_with};
use serde_json::{Value, json};
use specgate_server::store::TokenScope;

const MCP_HITS: &str = r#"specgate_token_lookups_total{token="mcp",answer="hit"}"#;
const API_HITS: &str = r#"specgate_token_lookups_total{token="api",answer="hit"}"#;

/// Lists tools until the token cache has answered twice, proving `url` is served from memory.
async fn served_from_memory(h: &Harness, url: &str, bearer: Option<&str>, hits: &str) {
    let before = h.metric(hits).await;
    for _ in 0..200 {
        let response = h.rpc_raw(url, "tools/list", json!({}), bearer).await;
        assert_eq!(response.status(), 200);
        if h.metric(hits).await >= before + 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{url} was never answered from the token cache");
}

/// Polls until `url` answers `status`, with a generous deadline; returns how long it took.
async fn answers_within(h: &Harness, url: &str, bearer: Option<&str>, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let got = h
            .rpc_raw(url, "tools/list", json!({}), bearer)
            .await
            .status()
            .as_u16();
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url} still answers {got}, not {status}, 10 s after the change"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

async fn admin_post(h: &Harness, path: &str) -> Value {
    let (status, body) = h.admin(reqwest::Method::POST, path, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn another_instance_ends_what_this_one_cached(first: &Harness, second: &Harness) {
    let account = first.account("malomo").await;
    let (id, url) = first.server(&account, json!({})).await;
    served_from_memory(first, &url, None, MCP_HITS).await;

    // Rotated through the other instance: the old URL is refused here, the new one served.
    let rotated = admin_post(
        second,
        &format!("/integrated-account/{account}/mcp/{id}/rotate"),
    )
    .await;
    let new_url = format!(
        "{}{}",
        first.base,
        path_of(rotated["url"].as_str().unwrap())
    );
    let rotation = answers_within(first, &url, None, 404).await;
    served_from_memory(first, &new_url, None, MCP_HITS).await;

    // Narrowed through the other instance: the cached listing changes with it.
    let writes_on_first_page = |listed: Value| {
        listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|tool| tool["annotations"]["readOnlyHint"] == false)
            .count()
    };
    let first_page = first.rpc(&new_url, "tools/list", json!({})).await;
    assert!(
        writes_on_first_page(first_page) > 0,
        "the first page lists write tools"
    );
    let (status, body) = second
        .admin(
            reqwest::Method::PATCH,
            &format!("/integrated-account/{account}/mcp/{id}"),
            Some(json!({"config": {"methods": ["read"]}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    while writes_on_first_page(first.rpc(&new_url, "tools/list", json!({})).await) > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the narrowed filter never reached the first instance"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    // Deleted through the other instance.
    let status = second.delete_server(&account, &id).await;
    assert_eq!(status, 204);
    let deletion = answers_within(first, &new_url, None, 404).await;
    eprintln!("refused on the other instance after: rotation {rotation:?}, deletion {deletion:?}");
}

#[tokio::test]
async fn another_instance_on_sqlite_ends_what_this_one_cached() {
    let first = start().await;
    let second = start_with(Some(format!("sqlite://{}", first.db_path.display()))).await;
    another_instance_ends_what_this_one_cached(&first, &second).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn another_instance_on_postgres_ends_what_this_one_cached() {
    let Some(url) = common::postgres() else {
        return;
    };
    let first = start_with(Some(url.clone())).await;
    let second = start_with(Some(url)).await;
    another_instance_ends_what_this_one_cached(&first, &second).await;
}

#[tokio::test]
async fn this_instance_ends_its_own_cache_at_once() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (id, url) = h.server(&account, json!({})).await;
    served_from_memory(&h, &url, None, MCP_HITS).await;
    let status = h.delete_server(&account, &id).await;
    assert_eq!(status, 204);
    // No polling: the store ends its own cache before the delete returns.
    let response = h.rpc_raw(&url, "tools/list", json!({}), None).await;
    assert_eq!(response.status(), 404);
}

/// Runs the CLI on the harness's database with the harness's key, off the test's runtime: the
/// server under test shares that runtime and must keep serving (and committing) meanwhile.
async fn cli(h: &Harness, args: &[&str]) {
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let database = format!("sqlite://{}", h.db_path.display());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_specgate"))
            .args(["--database", &database, "--json"])
            .args(&args)
            .env("SPECGATE_SECRET_KEY", key)
            .output()
            .map(|output| (args, output))
    })
    .await
    .unwrap()
    .unwrap();
    let (args, output) = output;
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_cli_ends_what_a_running_server_cached() {
    let h = start().await;
    let account = h.account("malomo").await;

    // An MCP server deleted by the CLI.
    let (id, url) = h.server(&account, json!({})).await;
    served_from_memory(&h, &url, None, MCP_HITS).await;
    cli(&h, &["mcp", "delete", "--account", &account, &id]).await;
    let deletion = answers_within(&h, &url, None, 404).await;

    // A second-factor API token revoked by the CLI.
    let (token, secret) = h
        .provisioner
        .create_api_token("agent", TokenScope::Mcp, None)
        .await
        .unwrap();
    let (_, guarded) = h
        .server(&account, json!({"require_api_token_auth": true}))
        .await;
    served_from_memory(&h, &guarded, Some(&secret), API_HITS).await;
    cli(&h, &["api-token", "revoke", &token.id]).await;
    let revocation = answers_within(&h, &guarded, Some(&secret), 401).await;
    eprintln!("refused after a CLI change: deletion {deletion:?}, token revocation {revocation:?}");
}

/// Calls `list_all_malomo_orders` until it is refused (`refused`) or answered, with a generous
/// deadline; returns the last answer's text.
async fn calls_until(h: &Harness, url: &str, refused: bool) -> String {
    let started = Instant::now();
    loop {
        let answer = h.call(url, "list_all_malomo_orders", json!({})).await;
        if answer["result"]["isError"] == refused {
            return answer["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{url}: still {answer} 10 s after the change"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn removing_an_upstream_host_ends_the_calls_of_accounts_on_it() {
    let h = start().await;
    // The harness's accounts point at the sandbox on 127.0.0.1, which an operator allowed.
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    served_from_memory(&h, &url, None, MCP_HITS).await;
    calls_until(&h, &url, false).await;

    // Removed through this instance: refused at once, and nothing reaches the old host.
    let (status, body) = h
        .admin(
            reqwest::Method::DELETE,
            "/integrations/malomo/upstream-hosts/127.0.0.1",
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let before = h.sandbox.requests().len();
    let answer = h.call(&url, "list_all_malomo_orders", json!({})).await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("host `127.0.0.1` is no longer allowed for integration `malomo`")
            && text.contains("specgate upstream-host allow --integration malomo 127.0.0.1")
            && text.contains(&format!("PATCH /integrated-account/{account}")),
        "{text}"
    );
    assert_eq!(
        h.sandbox.requests().len(),
        before,
        "no request after removal"
    );

    // Allowed again, then removed, by the CLI (another process): the running server follows.
    cli(
        &h,
        &[
            "upstream-host",
            "allow",
            "--integration",
            "malomo",
            "127.0.0.1",
        ],
    )
    .await;
    calls_until(&h, &url, false).await;
    served_from_memory(&h, &url, None, MCP_HITS).await;
    cli(
        &h,
        &[
            "upstream-host",
            "remove",
            "--integration",
            "malomo",
            "127.0.0.1",
        ],
    )
    .await;
    let text = calls_until(&h, &url, true).await;
    assert!(text.contains("is no longer allowed"), "{text}");
}

const ACCESS_HITS: &str = r#"specgate_token_lookups_total{token="oauth_access",answer="hit"}"#;

/// An OAuth access token this instance serves from memory stops working when its grant is
/// revoked through another instance, and (on SQLite, the CLI's database here) when the CLI
/// revokes the next one.
async fn revoked_grants_end_what_this_instance_cached(
    first: &Harness,
    second: &Harness,
    through_cli: bool,
) {
    let (account, server, url) = common::oauth::oauth_server(first).await;
    let grants = format!("/integrated-account/{account}/mcp/{server}/grants");

    let (_, tokens) = common::oauth::sign_in(first, &url, &first.admin_token).await;
    let access = tokens["access_token"].as_str().unwrap();
    served_from_memory(first, &url, Some(access), ACCESS_HITS).await;
    let grant = second.admin(reqwest::Method::GET, &grants, None).await.1[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = second
        .admin(reqwest::Method::DELETE, &format!("{grants}/{grant}"), None)
        .await;
    assert_eq!(status, 204);
    let by_instance = answers_within(first, &url, Some(access), 401).await;
    eprintln!("access token refused after its revocation on another instance: {by_instance:?}");
    if !through_cli {
        return;
    }

    let (_, tokens) = common::oauth::sign_in(first, &url, &first.admin_token).await;
    let access = tokens["access_token"].as_str().unwrap();
    served_from_memory(first, &url, Some(access), ACCESS_HITS).await;
    let grant = first.admin(reqwest::Method::GET, &grants, None).await.1[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    cli(
        first,
        &[
            "mcp",
            "revoke-grant",
            "--account",
            &account,
            &server,
            &grant,
        ],
    )
    .await;
    let by_cli = answers_within(first, &url, Some(access), 401).await;
    eprintln!("access token refused after its revocation by the CLI: {by_cli:?}");
}

#[tokio::test]
async fn revoked_grants_end_what_this_instance_cached_on_sqlite() {
    let first = start().await;
    let second = start_with(Some(format!("sqlite://{}", first.db_path.display()))).await;
    revoked_grants_end_what_this_instance_cached(&first, &second, true).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn revoked_grants_end_what_this_instance_cached_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    let first = start_with(Some(url.clone())).await;
    let second = start_with(Some(url)).await;
    revoked_grants_end_what_this_instance_cached(&first, &second, false).await;
}

/// An account's token URL on a removed host: the refresh its call needs sends nothing there,
/// neither the client secret nor the refresh token, and the call says what to do.
#[tokio::test]
async fn a_removed_token_url_host_gets_no_refresh() {
    let h = start().await;
    h.provisioner
        .allow_upstream_host("roserocket", "localhost")
        .await
        .unwrap();
    let token_url = h.sandbox_url.replace("127.0.0.1", "localhost") + "/roserocket/oauth/token";
    let (status, body) = h
        .admin(
            reqwest::Method::POST,
            "/integrated-account",
            Some(json!({
                "integration": "roserocket",
                "name": "tokens elsewhere",
                "base_url": format!("{}/roserocket/api/v2/platformModel", h.sandbox_url),
                "credentials": {"client_id": "rr_client", "client_secret": "rr_secret", "refresh_token": "rr_refresh_0", "token_url": token_url},
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, url) = h.server(body["id"].as_str().unwrap(), json!({})).await;
    let (status, _) = h
        .admin(
            reqwest::Method::DELETE,
            "/integrations/roserocket/upstream-hosts/localhost",
            None,
        )
        .await;
    assert_eq!(status, 204);

    let answer = h
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("token URL host `localhost` is no longer allowed"),
        "{text}"
    );
    assert!(
        h.sandbox.rose_token_forms().is_empty(),
        "nothing was sent to the token endpoint"
    );
    assert!(h.sandbox.requests().is_empty(), "nor to the vendor");

    // Allowed again, the same call refreshes and reaches the vendor.
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            "/integrations/roserocket/upstream-hosts",
            Some(json!({"host": "localhost"})),
        )
        .await;
    assert_eq!(status, 201);
    let answer = h
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_eq!(h.sandbox.rose_token_forms().len(), 1);
}

/// One tool call through `specgate stdio` on the harness's database: the call's answer.
async fn stdio_call(h: &Harness, mcp_token: &str, tool: &'static str) -> Value {
    use std::io::{BufRead, BufReader, Write};
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let database = format!("sqlite://{}", h.db_path.display());
    let token = mcp_token.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_specgate"))
            .args(["--database", &database, "stdio", "--allow-insecure-upstreams"])
            .args(["--mcp-token", &token])
            .env("SPECGATE_SECRET_KEY", key)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for message in [
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": {}}}),
        ] {
            writeln!(stdin, "{message}").unwrap();
        }
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let answer = loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "stdio closed early");
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == 2 {
                break message;
            }
        };
        drop(stdin);
        child.wait().unwrap();
        answer
    })
    .await
    .unwrap()
}

/// `specgate stdio` follows the same rule: a call on a removed host is refused before
/// anything is sent.
#[tokio::test]
async fn stdio_refuses_an_account_on_a_removed_host() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    let token = url.rsplit('/').next().unwrap();
    let answer = stdio_call(&h, token, "list_all_malomo_orders").await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let sent = h.sandbox.requests().len();
    assert_eq!(sent, 1);

    cli(
        &h,
        &[
            "upstream-host",
            "remove",
            "--integration",
            "malomo",
            "127.0.0.1",
        ],
    )
    .await;
    let answer = stdio_call(&h, token, "list_all_malomo_orders").await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("host `127.0.0.1` is no longer allowed"),
        "{text}"
    );
    assert_eq!(
        h.sandbox.requests().len(),
        sent,
        "nothing reached the vendor"
    );
}
