//! Several instances on one database, as behind a load balancer.

mod common;

use std::sync::atomic::Ordering;

use common::{Harness, start_with};
use serde_json::json;

/// Three instances on `database` (the first one's own SQLite file when `None`).
async fn three_instances(database: Option<String>) -> Vec<Harness> {
    let first = start_with(database.clone()).await;
    let shared = database.unwrap_or_else(|| format!("sqlite://{}", first.db_path.display()));
    let second = start_with(Some(shared.clone())).await;
    let third = start_with(Some(shared)).await;
    vec![first, second, third]
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    &rest[rest.find('/').unwrap()..]
}

/// 21 concurrent calls spread over three instances all find the OAuth token due: the token
/// endpoint is called once, and every call uses the winner's token.
async fn one_refresh_for_the_whole_cluster(instances: &[Harness]) {
    let first = &instances[0];
    let account = first.account("roserocket").await;
    let (_, url) = first.server(&account, json!({})).await;
    let urls: Vec<String> = instances
        .iter()
        .map(|h| format!("{}{}", h.base, path_of(&url)))
        .collect();
    let calls = (0..21).map(|i| {
        let instance = &instances[i % 3];
        instance.call(&urls[i % 3], "list_all_roserocket_user_groups", json!({}))
    });
    for response in futures::future::join_all(calls).await {
        assert_eq!(response["result"]["isError"], false, "{response}");
    }
    // The account's token endpoint is the first harness's sandbox.
    assert_eq!(first.sandbox.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(first.sandbox.rose_refresh_token(), "rr_refresh_1");
    for (instance, url) in instances.iter().zip(&urls) {
        let again = instance
            .call(url, "list_all_roserocket_boards", json!({}))
            .await;
        assert_eq!(again["result"]["isError"], false, "{again}");
    }
    assert_eq!(first.sandbox.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_oauth_refresh_for_three_instances_on_sqlite() {
    one_refresh_for_the_whole_cluster(&three_instances(None).await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn one_oauth_refresh_for_three_instances_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    one_refresh_for_the_whole_cluster(&three_instances(Some(url)).await).await;
}

/// The expiry sweep is one idempotent `DELETE`: three instances sweeping at once remove each
/// expired server once between them, fail nothing, and leave live servers alone.
async fn concurrent_sweeps_remove_each_expired_server_once(database: Option<String>) {
    use specgate_server::store::{McpServer, Store, now};
    let h = start_with(database.clone()).await;
    let shared = database.unwrap_or_else(|| format!("sqlite://{}", h.db_path.display()));
    let account = h.account("malomo").await;
    let (_, live) = h.server(&account, json!({})).await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Store::open(&shared, false).await.unwrap());
    }
    let before = now();
    for i in 0..30 {
        let server = McpServer {
            id: format!("expired-{i}-{account}"),
            account_id: account.clone(),
            name: "expired".to_owned(),
            config: Default::default(),
            expires_at: Some(before - 10),
            created_at: before - 20,
        };
        stores[0]
            .create_server(&server, &format!("hash-{i}-{account}"))
            .await
            .unwrap();
    }
    let sweeps = stores.iter().map(|store| store.sweep_expired(now()));
    let removed: u64 = futures::future::join_all(sweeps)
        .await
        .into_iter()
        .map(|swept| swept.unwrap().len() as u64)
        .sum();
    // Other tests on a shared PostgreSQL may have expired servers of their own.
    assert!(removed >= 30, "removed {removed}");
    for store in &stores {
        assert_eq!(store.sweep_expired(now()).await.unwrap().len(), 0);
    }
    let listed = h.rpc(&live, "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
}

#[tokio::test]
async fn concurrent_sweeps_on_sqlite() {
    concurrent_sweeps_remove_each_expired_server_once(None).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn concurrent_sweeps_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    concurrent_sweeps_remove_each_expired_server_once(Some(url)).await;
}

#[tokio::test]
async fn readiness_needs_every_migration() {
    use sqlx::Connection;
    let h = start_with(None).await;
    let ready = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let url = format!("sqlite://{}", h.db_path.display());
    let mut connection = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let unready = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unready.status(), 503);
    let text = unready.text().await.unwrap();
    assert!(text.contains("this build needs"), "{text}");
}

/// `specgate` on the shared PostgreSQL with the harness's key.
fn specgate(database: &str) -> std::process::Command {
    use base64::Engine;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_specgate"));
    command
        .args(["--database", database])
        .env(
            "SPECGATE_SECRET_KEY",
            base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Three `specgate serve` processes on one PostgreSQL behind a round-robin load balancer:
/// provisioned through the balancer, called through all of them, revoked through one and
/// refused by every one, one OAuth refresh for concurrent calls, and one instance killed
/// without failing calls to the others.
#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn three_processes_behind_a_load_balancer() {
    use sqlx::Connection;
    let Some(server_url) = common::postgres() else {
        return;
    };
    // A database of its own, so the three instances migrate an empty one at the same time.
    let name = format!("specgate_cluster_{}", std::process::id());
    let mut admin_connection = sqlx::postgres::PgConnection::connect(&server_url)
        .await
        .unwrap();
    // The name is made of a fixed prefix and the process id: nothing to inject.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut admin_connection)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin_connection)
        .await
        .unwrap();
    let database = format!("{}/{name}", server_url.rsplit_once('/').unwrap().0);
    let ports: Vec<u16> = (0..3).map(|_| common::free_port()).collect();
    let started: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let mut command = specgate(&database);
            command.arg("serve");
            if i == 0 {
                // Configured from the environment alone.
                command
                    .env("SPECGATE_LISTEN", format!("127.0.0.1:{port}"))
                    .env("SPECGATE_ALLOW_INSECURE_UPSTREAMS", "true");
            } else {
                command.args([
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--allow-insecure-upstreams",
                ]);
            }
            command.spawn().unwrap()
        })
        .collect();
    let mut children = Vec::new();
    for (child, port) in started.into_iter().zip(&ports) {
        children.push(common::until_ready(child, *port, "readyz").await);
    }
    // A harness on the same database provides the sandboxes and an admin token.
    let h = start_with(Some(database.clone())).await;
    let balancer = common::round_robin_proxy(ports.clone()).await;
    let base = format!("http://127.0.0.1:{balancer}");
    // One connection per request, so the balancer spreads them.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let admin = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&h.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        }
    };
    let call = |path: String, tool: &'static str, arguments: serde_json::Value| {
        let request = http
            .post(format!("{base}{path}"))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}));
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            Ok::<_, reqwest::Error>((
                status,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            ))
        }
    };

    // Provisioned through the balancer.
    let (status, account) = admin(
        reqwest::Method::POST,
        "/integrated-account".to_owned(),
        Some(json!({"integration": "roserocket", "name": "acme",
            "base_url": format!("{}/roserocket/api/v2/platformModel", h.sandbox_url),
            "credentials": {"client_id": "rr_client", "client_secret": "rr_secret", "refresh_token": "rr_refresh_0", "token_url": format!("{}/roserocket/oauth/token", h.sandbox_url)}})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    let account = account["id"].as_str().unwrap().to_owned();
    let (status, server) = admin(
        reqwest::Method::POST,
        format!("/integrated-account/{account}/mcp"),
        Some(json!({"name": "agent"})),
    )
    .await;
    assert_eq!(status, 201, "{server}");
    let path = server["mcp_path"].as_str().unwrap().to_owned();
    let id = server["id"].as_str().unwrap().to_owned();

    // 21 concurrent calls over the three instances: one refresh, and every call succeeds.
    let calls = (0..21).map(|_| call(path.clone(), "list_all_roserocket_user_groups", json!({})));
    for answer in futures::future::join_all(calls).await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["result"]["isError"], false, "{body}");
    }
    assert_eq!(h.sandbox.token_requests.load(Ordering::SeqCst), 1);
    for port in &ports {
        let metrics = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("specgate_tool_calls_total{tool=\"list_all_roserocket_user_groups\""),
            "instance {port} served no call"
        );
    }

    // Rotated through one instance: every instance refuses the old URL.
    let rotated = http
        .post(format!(
            "http://127.0.0.1:{}/integrated-account/{account}/mcp/{id}/rotate",
            ports[0]
        ))
        .bearer_auth(&h.admin_token)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let new_path = rotated["mcp_path"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    for port in &ports {
        loop {
            let status = http
                .post(format!("http://127.0.0.1:{port}{path}"))
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
                .send()
                .await
                .unwrap()
                .status();
            if status == 404 {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "instance {port} still serves the rotated URL"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    eprintln!(
        "every instance refused the old URL {:?} after the rotation",
        started.elapsed()
    );

    // One instance killed during the load: after it, no call fails.
    let load = (0..30).map(|_| call(new_path.clone(), "list_all_roserocket_boards", json!({})));
    let during = futures::future::join_all(load);
    let kill = async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        children[2].kill().unwrap();
    };
    let (during, ()) = tokio::join!(during, kill);
    children[2].wait().unwrap();
    // A call in flight on the killed instance loses its connection; every answer that comes
    // back, from any instance, is a success.
    let mut answered = 0;
    for (status, body) in during.iter().flatten() {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["result"]["isError"], false, "{body}");
        answered += 1;
    }
    assert!(
        answered > 0,
        "no call in flight around the kill was answered"
    );
    // The instances left serve every call, each asked directly: the test's balancer retries
    // the next backend, so calls through it would prove the balancer, not specgate.
    for port in &ports[..2] {
        for _ in 0..10 {
            let response = http
                .post(format!("http://127.0.0.1:{port}{new_path}"))
                .header("accept", "application/json, text/event-stream")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_all_roserocket_boards", "arguments": {}}}))
                .send()
                .await
                .expect("a surviving instance answers");
            assert_eq!(response.status(), 200);
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["result"]["isError"], false, "{body}");
        }
    }
    for child in &mut children[..2] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// A legacy SSE message that reaches an instance other than the one holding its stream gets a
/// 404 that says so; the load balancer must route `/mcp/<token>/...` to one instance.
#[tokio::test]
async fn an_sse_message_on_the_wrong_instance_says_where_it_belongs() {
    let instances = three_instances(None).await;
    let (first, second) = (&instances[0], &instances[1]);
    let account = first.account("malomo").await;
    let (_, url) = first.server(&account, json!({})).await;
    let (_stream, endpoint) = first.open_sse(&url, None).await;
    let elsewhere = endpoint.replace(&first.base, &second.base);
    let answer = second
        .http
        .post(&elsewhere)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let text = answer.text().await.unwrap();
    assert!(text.contains("instance that opened them"), "{text}");
    let here = first
        .http
        .post(&endpoint)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(here.status(), 202);
}
