//! Token lookups are served from memory, and a change committed anywhere ends that: by this
//! instance, by another instance on the same database, or by the CLI.

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

/// Runs the CLI on the harness's database with the harness's key.
fn cli(h: &Harness, args: &[&str]) {
    let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let output = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args([
            "--database",
            &format!("sqlite://{}", h.db_path.display()),
            "--json",
        ])
        .args(args)
        .env("SPECGATE_SECRET_KEY", key)
        .output()
        .unwrap();
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
    cli(&h, &["mcp", "delete", "--account", &account, &id]);
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
    cli(&h, &["api-token", "revoke", &token.id]);
    let revocation = answers_within(&h, &guarded, Some(&secret), 401).await;
    eprintln!("refused after a CLI change: deletion {deletion:?}, token revocation {revocation:?}");
}
