//! The `specgate` binary as an operator runs it: from any directory, with the key beside the
//! database, URLs that match the running server, a clean shutdown on SIGTERM, and the CLI's
//! edges (closed pipes, busy ports, mistyped paths).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use specgate_server::sandbox;

mod common;

fn specgate(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_specgate"));
    command
        .current_dir(cwd)
        .args(args)
        .env_remove("SPECGATE_SECRET_KEY")
        .env_remove("SPECGATE_KEY_FILE")
        .env_remove("SPECGATE_DATABASE")
        .env_remove("SPECGATE_PUBLIC_URL");
    command
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    specgate(cwd, args).output().unwrap()
}

fn ok_json(cwd: &Path, args: &[&str]) -> Value {
    let output = run(cwd, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn fails(cwd: &Path, args: &[&str]) -> String {
    let output = run(cwd, args);
    assert!(!output.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Starts `serve` with its public URL and waits until `/healthz` answers.
async fn serve(cwd: &Path, args: &[&str], port: u16) -> Child {
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://{listen}");
    let mut all = args.to_vec();
    all.extend(["serve", "--listen", &listen, "--public-url", &public]);
    let child = specgate(cwd, &all)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::until_ready(child, port, "healthz").await
}

/// POSTs a JSON body to the admin API and returns the JSON answer.
async fn post_admin(http: &reqwest::Client, url: &str, token: &str, body: Value) -> Value {
    http.post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a child to exit, with a generous deadline.
async fn wait_exit(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not exit within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_database_one_key_from_any_directory() {
    let data = tempfile::tempdir().unwrap();
    let (elsewhere, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let database = format!("sqlite://{}", data.path().join("specgate.db").display());
    let db = ["--database", database.as_str()];

    // Read-only commands never create a database or a key.
    let missing = fails(elsewhere.path(), &[db[0], db[1], "account", "list"]);
    assert!(missing.contains("no database"), "{missing}");
    assert!(!data.path().join("specgate.db").exists());
    assert!(!data.path().join("secret.key").exists());

    let init = ok_json(other.path(), &[db[0], db[1], "--json", "init"]);
    assert_eq!(mode(&data.path().join("secret.key")), 0o600, "{init}");
    assert_eq!(mode(&data.path().join("specgate.db")), 0o600);

    // Another working directory finds the same key next to the database.
    let token = ok_json(
        elsewhere.path(),
        &[
            db[0],
            db[1],
            "--json",
            "api-token",
            "create",
            "--name",
            "ops",
        ],
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!elsewhere.path().join(".specgate").exists());
    let port = common::free_port();
    let mut server = serve(other.path(), &db, port).await;
    let listed = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/integrated-account"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200, "the server accepts the CLI's token");

    // The server recorded the URL it was given, so a URL the CLI prints points at it.
    let account = ok_json(
        elsewhere.path(),
        &[
            db[0],
            db[1],
            "--json",
            "account",
            "create",
            "--integration",
            "e_desk",
            "--name",
            "acme",
            "--credentials",
            r#"{"api_key":"k"}"#,
        ],
    );
    let created = ok_json(
        elsewhere.path(),
        &[
            db[0],
            db[1],
            "--json",
            "mcp",
            "create",
            "--account",
            account["id"].as_str().unwrap(),
            "--name",
            "support",
        ],
    );
    let url = created["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/mcp/mcp_")),
        "{url}"
    );
    let listed = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    terminate(&server);
    assert!(
        wait_exit(&mut server, Duration::from_secs(20))
            .await
            .success()
    );
    if data.path().join("specgate.db-wal").exists() {
        assert_eq!(mode(&data.path().join("specgate.db-wal")), 0o600);
    }

    // Another key is refused, and the error names the expected fingerprint.
    let wrong = specgate(elsewhere.path(), &[db[0], db[1], "account", "list"])
        .env(
            "SPECGATE_SECRET_KEY",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let message = String::from_utf8_lossy(&wrong.stderr);
    let fingerprint = init["key_fingerprint"].as_str().unwrap();
    assert!(
        message.contains(&format!("expects the key with fingerprint {fingerprint}")),
        "{message}"
    );

    // A mistyped database path creates nothing.
    let typo = format!(
        "sqlite://{}",
        data.path().join("typo/specgate.db").display()
    );
    let refused = fails(
        other.path(),
        &["--database", &typo, "serve", "--listen", "127.0.0.1:0"],
    );
    assert!(refused.contains("no directory"), "{refused}");
    assert!(!data.path().join("typo").exists());
}

#[test]
fn the_default_data_directory_is_private() {
    let cwd = tempfile::tempdir().unwrap();
    ok_json(cwd.path(), &["--json", "init"]);
    let dir = cwd.path().join(".specgate");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("specgate.db")), 0o600);
    assert_eq!(mode(&dir.join("secret.key")), 0o600);
}

#[tokio::test]
async fn sigterm_finishes_in_flight_calls_turns_unready_and_closes_sse() {
    let cwd = tempfile::tempdir().unwrap();
    let (sandbox_address, sandbox) = sandbox::spawn().await.unwrap();
    let token = init_for_the_sandbox(cwd.path());
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let server = specgate(
        cwd.path(),
        &[
            "serve",
            "--listen",
            &listen,
            "--allow-insecure-upstreams",
            "--shutdown-drain-secs",
            "5",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut server = common::until_ready(server, port, "readyz").await;
    let http = reqwest::Client::new();
    let (account, created) = malomo_server(&http, &base, &token, sandbox_address).await;
    let url = created["url"].as_str().unwrap().to_owned();

    let mut stream = http.get(format!("{url}/sse")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    sandbox.script(sandbox::Scripted {
        status: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: json!([{"id": "wh_slow"}]),
        // Past the drain window: the call is still in flight when the listener closes.
        delay_ms: 6000,
    });
    let in_flight = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            call_webhooks(&http, &url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    // Signalled once the call is in flight at the vendor, whatever the machine's speed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !sandbox
        .requests()
        .iter()
        .any(|r| r.uri.contains("webhooks"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the call never reached the vendor"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    terminate(&server);
    // Not ready from the first signal on: the probe turns to 503 while the call drains.
    loop {
        let status = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "still ready after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The SSE stream ends instead of holding the shutdown open.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.chunk().await.transpose() {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the SSE stream closed");
    let answer = in_flight.await.unwrap();
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["result"][0]["id"],
        "wh_slow"
    );
    assert!(
        wait_exit(&mut server, Duration::from_secs(20))
            .await
            .success()
    );
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "nothing listens any more"
    );
    // The call that finished during the shutdown was logged before the process exited.
    let database = format!(
        "sqlite://{}",
        cwd.path().join(".specgate/specgate.db").display()
    );
    let store = specgate_server::store::Store::open(&database, false)
        .await
        .unwrap();
    let calls = store
        .list_calls(
            account["id"].as_str().unwrap(),
            created["id"].as_str().unwrap(),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(calls.len(), 1, "the in-flight call's audit row was written");
    assert_eq!(calls[0].tool, "list_all_malomo_webhooks");
    assert_eq!(calls[0].outcome, "ok");
}

#[test]
fn cli_edges_fail_cleanly() {
    let cwd = tempfile::tempdir().unwrap();
    // A closed pipe (`specgate tools | head -1`) is not a panic.
    let mut tools = specgate(cwd.path(), &["tools"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(tools.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    let status = tools.wait().unwrap();
    let mut stderr = String::new();
    tools
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A port in use fails before claiming to listen.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = busy.local_addr().unwrap().to_string();
    let output = run(cwd.path(), &["serve", "--listen", &listen]);
    assert!(!output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen"));
}

#[tokio::test]
async fn serving_on_every_interface_warns_and_the_demo_cleans_up() {
    let cwd = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let listen = format!("0.0.0.0:{port}");
    let mut child = specgate(cwd.path(), &["demo", "--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("/mcp/mcp_") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "demo ended: {seen}"
        );
        seen.push_str(&line);
    }
    let scratch = std::env::temp_dir().join(format!("specgate-demo-{pid}"));
    assert!(scratch.exists());
    terminate(&child);
    assert!(
        wait_exit(&mut child, Duration::from_secs(20))
            .await
            .success()
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("plain HTTP on a non-loopback address"),
        "{stderr}"
    );
    assert!(!scratch.exists(), "the demo removed its scratch directory");
}

/// At `SPECGATE_LOG=debug`, every path and exchange that carries a secret is logged without
/// it: MCP URLs on every transport and on their protected resource metadata, the console's
/// sign-in, the admin API's bearer token, an OAuth sign-in's code, verifier and tokens, and
/// the vendor credentials sent on a tool call.
#[tokio::test]
async fn no_secret_reaches_the_debug_log() {
    use specgate_server::grants::pkce_challenge;
    let cwd = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = cwd.path().join("demo.log");
    let mut child = specgate(
        cwd.path(),
        &["demo", "--listen", &format!("127.0.0.1:{port}")],
    )
    .env("SPECGATE_LOG", "debug")
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(&log_path).unwrap())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    while !printed.contains("sign in with ") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "demo ended: {printed}"
        );
        printed.push_str(&line);
    }
    let urls: Vec<String> = printed
        .split_whitespace()
        .filter(|word| word.starts_with("http://") && word.contains("/mcp/mcp_"))
        .map(|word| word.trim_matches(|c| c == '"' || c == ',').to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(urls.len(), 3, "{printed}");
    let admin_token = printed
        .split("sign in with ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let rpc = |url: String, body: Value| {
        let http = http.clone();
        async move {
            http.post(url)
                .header("accept", "application/json, text/event-stream")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let mut secrets: Vec<String> = vec![
        admin_token.clone(),
        "sk_sandbox_malomo".into(),
        "edesk_sandbox_token".into(),
        "rr_secret".into(),
        "rr_refresh_".into(),
        "rr_access_".into(),
    ];
    for url in &urls {
        let token = url.rsplit('/').next().unwrap().to_owned();
        let path = url.strip_prefix(&base).unwrap();
        for variant in [path.to_owned(), format!("{path}/portable")] {
            let listed = rpc(
                format!("{base}{variant}"),
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            )
            .await;
            assert_eq!(listed.status(), 200);
            let listed: Value = listed.json().await.unwrap();
            let tool = listed["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"].as_str().unwrap().starts_with("list_all_"))
                .unwrap()["name"]
                .clone();
            let called = rpc(
                format!("{base}{variant}"),
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": {}}}),
            )
            .await;
            assert_eq!(called.status(), 200);
            let metadata = http
                .get(format!(
                    "{base}/.well-known/oauth-protected-resource{variant}"
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(metadata.status(), 404, "not an oauth server");
            let stream = http
                .get(format!("{base}{variant}/sse"))
                .send()
                .await
                .unwrap();
            assert_eq!(stream.status(), 200);
        }
        secrets.push(token);
    }

    // The console's sign-in and the admin API.
    let signed_in = http
        .post(format!("{base}/console/login"))
        .form(&[("token", admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let accounts: Value = http
        .get(format!("{base}/integrated-account"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = accounts[0]["id"].as_str().unwrap();

    // An OAuth sign-in to a new `oauth` server: registration, consent, code, refresh.
    let created = post_admin(
        &http,
        &format!("{base}/integrated-account/{account}/mcp"),
        &admin_token,
        json!({"name": "signed in", "config": {"oauth": true}}),
    )
    .await;
    let oauth_url = created["url"].as_str().unwrap().to_owned();
    secrets.push(oauth_url.rsplit('/').next().unwrap().to_owned());
    let oauth_path = oauth_url.strip_prefix(&base).unwrap();
    let metadata = http
        .get(format!(
            "{base}/.well-known/oauth-protected-resource{oauth_path}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    let redirect = "https://chatgpt.com/connector_platform_oauth_redirect";
    let registered: Value = http
        .post(format!("{base}/oauth/register"))
        .json(&json!({"redirect_uris": [redirect]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let verifier = "a-verifier-that-is-secret-and-forty-three-characters-long";
    let challenge = pkce_challenge(verifier);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", oauth_url.as_str()),
        ])
        .finish();
    let page = http
        .get(format!("{base}/oauth/authorize?{query}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (status, location, _) = common::oauth::decide_at(
        &http,
        &base,
        common::oauth::hidden_fields(&page),
        &admin_token,
        "allow",
    )
    .await;
    assert_eq!(status, 303);
    let location = reqwest::Url::parse(&location.unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let called = http
        .post(&oauth_url)
        .bearer_auth(&access)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(called.status(), 200);
    let refreshed = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    secrets.extend([code, verifier.to_owned(), access, refresh]);

    terminate(&child);
    assert!(
        wait_exit(&mut child, Duration::from_secs(20))
            .await
            .success()
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("/.well-known/oauth-protected-resource/mcp/[redacted]"),
        "the log is verbose: {log}"
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "`{secret}` is in the debug log"
        );
    }
}

/// `init`, Malomo's sandbox allowed as its upstream host, and an admin API token.
fn init_for_the_sandbox(cwd: &Path) -> String {
    ok_json(cwd, &["--json", "init"]);
    ok_json(
        cwd,
        &[
            "--json",
            "upstream-host",
            "allow",
            "--integration",
            "malomo",
            "127.0.0.1",
        ],
    );
    ok_json(cwd, &["--json", "api-token", "create", "--name", "ops"])["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A Malomo account on the sandbox and an MCP server of it, through the admin API.
async fn malomo_server(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    sandbox_address: std::net::SocketAddr,
) -> (Value, Value) {
    let account = post_admin(
        http,
        &format!("{base}/integrated-account"),
        token,
        json!({"integration": "malomo", "name": "acme", "credentials": {"api_key": "sk_sandbox_malomo"}, "base_url": format!("http://{sandbox_address}/malomo")}),
    )
    .await;
    let created = post_admin(
        http,
        &format!(
            "{base}/integrated-account/{}/mcp",
            account["id"].as_str().unwrap()
        ),
        token,
        json!({"name": "agent"}),
    )
    .await;
    (account, created)
}

/// `tools/call` of Malomo's webhook list at an MCP URL.
async fn call_webhooks(http: &reqwest::Client, url: &str) -> reqwest::Result<reqwest::Response> {
    http.post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_all_malomo_webhooks", "arguments": {}}}))
        .send()
        .await
}

/// Starts `serve --pid-file` from a copy of the binary in `cwd`, so a test can replace the
/// file a reload starts. Returns the copy's path, the pid file and the process.
fn serve_a_copy(
    cwd: &Path,
    port: u16,
    extra: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf, Child) {
    let binary = cwd.join("specgate");
    std::fs::copy(env!("CARGO_BIN_EXE_specgate"), &binary).unwrap();
    let pid_file = cwd.join("specgate.pid");
    let server = Command::new(&binary)
        .current_dir(cwd)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .arg("--pid-file")
        .arg(&pid_file)
        .env_remove("SPECGATE_DATABASE")
        .env_remove("SPECGATE_KEY_FILE")
        .env_remove("SPECGATE_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (binary, pid_file, server)
}

/// Stops whichever process a pid file names when dropped, so a failed test leaves no server
/// behind (the process a reload started is no child of the test's).
struct StopsServing(std::path::PathBuf);

impl Drop for StopsServing {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

/// Calls a tool until `stop`, counting answers and failures of any kind (a refused or reset
/// connection, a status other than 200, a JSON-RPC or tool error).
async fn call_until(
    http: reqwest::Client,
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (usize, Vec<String>) {
    let (mut answered, mut failures) = (0, Vec::new());
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let sent = call_webhooks(&http, &url).await;
        match sent {
            Err(error) => failures.push(format!("{error:?}")),
            Ok(response) if response.status() != 200 => {
                failures.push(format!("status {}", response.status()));
            }
            Ok(response) => match response.json::<Value>().await {
                Ok(answer) if answer["result"]["isError"] == false => answered += 1,
                Ok(answer) => failures.push(answer.to_string()),
                Err(error) => failures.push(format!("{error:?}")),
            },
        }
    }
    (answered, failures)
}

#[tokio::test]
async fn a_reload_swaps_in_the_binary_without_refusing_a_connection_or_dropping_a_call() {
    let cwd = tempfile::tempdir().unwrap();
    let (sandbox_address, sandbox) = sandbox::spawn().await.unwrap();
    let token = init_for_the_sandbox(cwd.path());
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    // Served from a path of its own, which the "rebuild" below replaces with a new file.
    let (binary, pid_file, server) =
        serve_a_copy(cwd.path(), port, &["--allow-insecure-upstreams"]);
    let _stops = StopsServing(pid_file.clone());
    let mut old = common::until_ready(server, port, "readyz").await;
    let old_pid = old.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&pid_file)
        .map(|t| t.trim().to_owned())
        .ok()
        != Some(old_pid.to_string())
    {
        assert!(Instant::now() < deadline, "serve never wrote its pid file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let http = reqwest::Client::new();
    let (_, created) = malomo_server(&http, &base, &token, sandbox_address).await;
    let url = created["url"].as_str().unwrap().to_owned();

    // A slow call that is in flight at the vendor when the swap happens. (Scripted before
    // the loops start: the sandbox answers the next request with it.)
    sandbox.script(sandbox::Scripted {
        status: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: json!([{"id": "wh_slow"}]),
        delay_ms: 3000,
    });
    let slow = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move {
            call_webhooks(&http, &url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    while !sandbox
        .requests()
        .iter()
        .any(|r| r.uri.contains("webhooks"))
    {
        assert!(
            Instant::now() < deadline,
            "the slow call never reached the vendor"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Clients calling in a loop: two that keep their connections alive, and one that opens
    // a new connection for every call.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let loops: Vec<_> = [http.clone(), reqwest::Client::new(), fresh]
        .into_iter()
        .map(|client| tokio::spawn(call_until(client, url.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The rebuild: a new file at the served path (the old one is unlinked, as cargo does).
    let rebuilt = cwd.path().join("specgate.new");
    std::fs::copy(env!("CARGO_BIN_EXE_specgate"), &rebuilt).unwrap();
    std::fs::rename(&rebuilt, &binary).unwrap();
    let reload = tokio::task::spawn_blocking({
        let cwd = cwd.path().to_owned();
        let pid_file = pid_file.clone();
        move || {
            specgate(&cwd, &["reload", "--pid-file"])
                .arg(&pid_file)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&reload.stdout).into_owned();
    assert!(
        reload.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&reload.stderr)
    );
    let new_pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, old_pid);
    assert_eq!(
        said.trim(),
        format!("reloaded: process {old_pid} handed over to {new_pid}")
    );
    // The old process finishes its in-flight call, then exits on its own.
    let answer = slow.await.unwrap();
    assert_eq!(
        answer["result"]["structuredContent"]["result"][0]["id"], "wh_slow",
        "{answer}"
    );
    assert!(wait_exit(&mut old, Duration::from_secs(20)).await.success());
    // The loops go on against the new process alone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = 0;
    for handle in loops {
        let (count, failures) = handle.await.unwrap();
        assert!(
            failures.is_empty(),
            "calls failed across the swap: {failures:?}"
        );
        answered += count;
    }
    assert!(answered > 0);
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200, "the new process serves");

    let status = Command::new("kill")
        .args(["-TERM", &new_pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&pid_file).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the new process did not stop and remove its pid file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reload_whose_binary_cannot_start_keeps_the_old_process_serving() {
    let cwd = tempfile::tempdir().unwrap();
    ok_json(cwd.path(), &["--json", "init"]);
    let port = common::free_port();
    let (binary, pid_file, server) =
        serve_a_copy(cwd.path(), port, &["--reload-timeout-secs", "5"]);
    let _stops = StopsServing(pid_file.clone());
    let mut server = common::until_ready(server, port, "readyz").await;
    // A build that left something that is not a server at the path.
    std::fs::remove_file(&binary).unwrap();
    std::fs::write(&binary, "#!/bin/sh\nexit 3\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&pid_file).is_err() {
        assert!(Instant::now() < deadline, "serve never wrote its pid file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reload = tokio::task::spawn_blocking({
        let cwd = cwd.path().to_owned();
        let pid_file = pid_file.clone();
        move || {
            specgate(&cwd, &["reload", "--timeout-secs", "3", "--pid-file"])
                .arg(&pid_file)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!reload.status.success());
    assert!(
        String::from_utf8_lossy(&reload.stderr).contains("keeps serving"),
        "{}",
        String::from_utf8_lossy(&reload.stderr)
    );
    let healthz = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200, "the old process still serves");
    assert!(server.try_wait().unwrap().is_none());
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        server.id().to_string()
    );
    terminate(&server);
    assert!(
        wait_exit(&mut server, Duration::from_secs(20))
            .await
            .success()
    );
}

/// The demo says how to use it: a curl line with the right `Accept`, Cursor's and Claude
/// Desktop's configs (the latter through mcp-remote), the CLI on its database, how to stop;
/// under `--json` the same as one document.
#[tokio::test]
async fn the_demo_says_how_to_try_it_stop_it_and_reach_its_data() {
    let read_until = |child: &mut Child, done: &dyn Fn(&str) -> bool| {
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        while !done(&printed) {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "demo ended: {printed}"
            );
            printed.push_str(&line);
        }
        printed
    };
    let cwd = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut child = specgate(
        cwd.path(),
        &["demo", "--listen", &format!("127.0.0.1:{port}")],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let text = read_until(&mut child, &|printed| printed.contains("Ctrl-C"));
    terminate(&child);
    wait_exit(&mut child, Duration::from_secs(20)).await;
    for expected in [
        "accept: application/json, text/event-stream",
        "\"command\": \"npx\"",
        "mcp-remote",
        "specgate --database sqlite://",
        "--key-file",
        "Ctrl-C stops the demo",
        "/oauth/connect/",
    ] {
        assert!(text.contains(expected), "`{expected}` missing: {text}");
    }

    let port = common::free_port();
    let mut child = specgate(
        cwd.path(),
        &["--json", "demo", "--listen", &format!("127.0.0.1:{port}")],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let printed = read_until(&mut child, &|printed| {
        serde_json::from_str::<Value>(printed).is_ok()
    });
    terminate(&child);
    wait_exit(&mut child, Duration::from_secs(20)).await;
    let document: Value = serde_json::from_str(&printed).unwrap();
    assert!(
        document["mcp_urls"]["malomo"]
            .as_str()
            .unwrap()
            .contains("/mcp/mcp_"),
        "{document}"
    );
    for key in [
        "connect_url",
        "console",
        "console_token",
        "database",
        "key_file",
    ] {
        assert!(document[key].is_string(), "{key}: {document}");
    }
}

/// The shipped systemd unit runs commands and sets variables this binary has: every
/// `Environment=` name is one `serve` reads, and `ExecStart`/`ExecReload` name real commands.
#[test]
fn the_shipped_systemd_unit_matches_the_binary() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/specgate.service"),
    )
    .unwrap();
    let help = |command: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_specgate"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{command} --help");
        String::from_utf8(output.stdout).unwrap()
    };
    let serve = help("serve");
    let mut checked = 0;
    for line in unit.lines() {
        if let Some(assignment) = line.strip_prefix("Environment=") {
            let name = assignment.split('=').next().unwrap();
            assert!(
                serve.contains(&format!("[env: {name}=")),
                "{name} is not a variable `serve` reads"
            );
            checked += 1;
        }
        for key in ["ExecStart=", "ExecReload="] {
            if let Some(command) = line.strip_prefix(key) {
                let subcommand = command.split_whitespace().nth(1).unwrap();
                help(subcommand);
            }
        }
    }
    assert!(checked >= 5, "{unit}");
    assert!(unit.contains("PIDFile=/run/specgate/specgate.pid"));
    assert!(unit.contains("SPECGATE_PID_FILE=/run/specgate/specgate.pid"));
}
