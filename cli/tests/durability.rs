//! A `specgate serve` process killed with SIGKILL right after answering loses nothing it had
//! committed: accounts, MCP servers, a rotated OAuth refresh token, and audit rows older than
//! the audit log's flush window.

mod common;

use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use specgate_server::call::Credentials;
use specgate_server::crypto::Keys;
use specgate_server::sandbox;
use specgate_server::store::Store;

struct Paths {
    database: String,
    key_file: String,
}

fn specgate(paths: &Paths, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_specgate"));
    command
        .args(["--database", &paths.database, "--key-file", &paths.key_file])
        .args(args)
        .env_remove("SPECGATE_SECRET_KEY");
    command
}

async fn serve(paths: &Paths, port: u16) -> Child {
    let child = specgate(
        paths,
        &[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--allow-insecure-upstreams",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    common::until_ready(child, port, "healthz").await
}

async fn call(url: &str, tool: &str) -> Value {
    let response = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `specgate_audit_written_total` from the server's `/metrics`.
async fn audit_written(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("specgate_audit_written_total "))
        .and_then(|count| count.trim().parse().ok())
        .expect("the audit counter is exposed")
}

#[tokio::test]
async fn a_killed_server_loses_no_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        database: format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        key_file: dir.path().join("secret.key").display().to_string(),
    };
    for setup in [
        &["init"][..],
        &[
            "upstream-host",
            "allow",
            "--integration",
            "roserocket",
            "127.0.0.1",
        ],
    ] {
        let done = specgate(&paths, setup).output().unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
    let created = specgate(&paths, &["--json", "api-token", "create", "--name", "ops"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = serde_json::from_slice::<Value>(&created.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (sandbox_address, sandbox) = sandbox::spawn().await.unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = serve(&paths, port).await;
    let post = |path: String, body: Value| {
        let token = token.clone();
        async move {
            let response = reqwest::Client::new()
                .post(path)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    };
    let account = post(
        format!("{base}/integrated-account"),
        json!({
            "integration": "roserocket", "name": "acme",
            "base_url": format!("http://{sandbox_address}/roserocket/api/v2/platformModel"),
            "credentials": {"client_id": "rr_client", "client_secret": "rr_secret", "refresh_token": "rr_refresh_0", "token_url": format!("http://{sandbox_address}/roserocket/oauth/token")}
        }),
    )
    .await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let server = post(
        format!("{base}/integrated-account/{account_id}/mcp"),
        json!({"name": "agent"}),
    )
    .await;
    let url = server["url"].as_str().unwrap().to_owned();
    // This call refreshes the OAuth token (rotating the refresh token); then the process dies.
    assert_eq!(
        call(&url, "list_all_roserocket_user_groups").await["result"]["isError"],
        false
    );
    for _ in 0..4 {
        call(&url, "list_all_roserocket_boards").await;
    }
    // Killed once the server reports the five calls' audit rows committed (its own metric,
    // read over HTTP, not the rows): what it reported committed must outlive a SIGKILL.
    let server_id = server["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while audit_written(&base).await < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never reported the calls logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(sandbox.rose_refresh_token(), "rr_refresh_1");

    let keys = Keys::load(None, std::path::Path::new(&paths.key_file), false).unwrap();
    let store = Store::open(&paths.database, false).await.unwrap();
    let sealed = store
        .sealed_credentials(&account_id)
        .await
        .unwrap()
        .expect("the account survived");
    let credentials: Credentials = serde_json::from_slice(&keys.open(&sealed).unwrap()).unwrap();
    assert_eq!(
        credentials.refresh_token.as_deref(),
        Some("rr_refresh_1"),
        "the rotated refresh token was committed before use"
    );
    let calls = store
        .list_calls(&account_id, server_id, None, 100)
        .await
        .unwrap();
    assert_eq!(
        calls.len(),
        5,
        "every audit row the server reported committed survived"
    );

    let mut second = serve(&paths, port).await;
    let again = call(&url, "list_all_roserocket_boards").await;
    assert_eq!(again["result"]["isError"], false, "{again}");
    assert_eq!(
        sandbox
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the stored access token is reused"
    );
    second.kill().unwrap();
    second.wait().unwrap();
}
