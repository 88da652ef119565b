//! The whole application driven as a `tower::Service` with `oneshot`, without a socket on
//! specgate's side: the admin API, the MCP endpoint, the admin OpenAPI document checked both
//! ways against the router, and every call error class as the audit log and `/metrics` see it.

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use specgate_server::crypto::Keys;
use specgate_server::provision::{CallsPage, Provisioner};
use specgate_server::sandbox::{self, Scripted};
use specgate_server::store::{Store, TokenScope};
use specgate_server::{AppState, Config, app};
use tower::ServiceExt;

const MAX_BODY_BYTES: usize = 64 * 1024;

struct App {
    router: Router,
    provisioner: Provisioner,
    admin: String,
    sandbox_url: String,
    sandbox: std::sync::Arc<sandbox::Sandbox>,
    _dir: tempfile::TempDir,
}

async fn start() -> App {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("specgate.db").display());
    let store = Store::open(&database, true).await.unwrap();
    let config = Config {
        public_url: Some("http://specgate.test".to_owned()),
        allow_insecure_upstreams: true,
        max_body_bytes: MAX_BODY_BYTES,
        // Generous: every vendor call but the stalled one answers well within it, however
        // loaded the machine, and the stalled one takes a minute.
        upstream_timeout: std::time::Duration::from_secs(5),
        sse_max_sessions: 2,
        sse_max_sessions_per_server: 1,
        sse_idle: std::time::Duration::from_secs(5),
        ..Config::default()
    };
    let state = AppState::new(
        config,
        store,
        Keys::from_bytes([7; 32]),
        specgate_api::integrations(),
    );
    let provisioner = Provisioner::new(state.clone());
    let (_, admin) = provisioner
        .create_api_token("router tests", TokenScope::Admin, None)
        .await
        .unwrap();
    for integration in specgate_api::integrations() {
        provisioner
            .allow_upstream_host(integration.name, "127.0.0.1")
            .await
            .unwrap();
    }
    let (address, sandbox) = sandbox::spawn().await.unwrap();
    App {
        router: app(state),
        provisioner,
        admin,
        sandbox_url: format!("http://{address}"),
        sandbox,
        _dir: dir,
    }
}

/// What a request sends: a JSON body, raw bytes with a content type, or nothing.
enum Payload {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

impl App {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        payload: Payload,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match payload {
            Payload::None => request.body(Body::empty()),
            Payload::Json(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            Payload::Raw(content_type, bytes) => request
                .header("content-type", content_type)
                .body(Body::from(bytes)),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let payload = body.map_or(Payload::None, Payload::Json);
        self.send(method, path, Some(&self.admin), payload).await
    }

    /// An account of `integration` on the sandbox (`base_url` overrides where it points).
    async fn account(&self, integration: &str, base_url: Option<String>) -> String {
        let (path, credentials) = match integration {
            "malomo" => ("/malomo", json!({"api_key": "sk_sandbox_malomo"})),
            "e_desk" => ("/edesk/v1", json!({"api_key": "edesk_sandbox_token"})),
            _ => (
                "/roserocket/api/v2/platformModel",
                json!({"client_id": "rr_client", "client_secret": "rr_secret", "refresh_token": "rr_refresh_0", "token_url": format!("{}/roserocket/oauth/token", self.sandbox_url)}),
            ),
        };
        let base_url = base_url.unwrap_or_else(|| format!("{}{path}", self.sandbox_url));
        let (status, body) = self
            .admin(
                Method::POST,
                "/integrated-account",
                Some(json!({"integration": integration, "name": "acme", "credentials": credentials, "base_url": base_url})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A server of `account`: its id and its MCP path.
    async fn server(&self, account: &str) -> (String, String) {
        let (status, body) = self
            .admin(
                Method::POST,
                &format!("/integrated-account/{account}/mcp"),
                Some(json!({"name": "agent"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["mcp_path"].as_str().unwrap().to_owned(),
        )
    }

    async fn rpc(&self, mcp_path: &str, method: &str, params: Value) -> Value {
        let request = Request::builder()
            .method(Method::POST)
            .uri(mcp_path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Body::from(
                json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
            ))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

#[tokio::test]
async fn the_admin_api_and_the_mcp_endpoint_answer_without_a_socket() {
    let app = start().await;
    let (status, body) = app
        .send(Method::GET, "/integrated-account", None, Payload::None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let account = app.account("malomo", None).await;
    let (status, accounts) = app.admin(Method::GET, "/integrated-account", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(accounts[0]["id"], account.as_str());

    let (_, mcp) = app.server(&account).await;
    let listed = app.rpc(&mcp, "tools/list", json!({})).await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"list_all_malomo_orders"), "{names:?}");
    let called = app
        .rpc(
            &mcp,
            "tools/call",
            json!({"name": "list_all_malomo_orders", "arguments": {"limit": 1}}),
        )
        .await;
    assert_eq!(called["result"]["isError"], false, "{called}");
    assert_eq!(
        called["result"]["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, _) = app
        .send(Method::POST, "/mcp/mcp_not_a_token", None, Payload::None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// One request that should answer `status` on `operation`'s concrete `path`.
fn provoke(
    app: &App,
    method: &str,
    template: &str,
    path: &str,
    status: u16,
    mcp_token: &str,
    rose_account: &str,
) -> Option<(Method, String, Option<String>, Payload)> {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let admin = Some(app.admin.clone());
    let has_body = matches!(method, Method::POST | Method::PATCH | Method::PUT)
        && !template.ends_with("/rotate");
    let valid_body = match template {
        "/integrated-account" => {
            json!({"integration": "malomo", "name": "n", "credentials": {"api_key": "k"}})
        }
        "/integrations/{name}/upstream-hosts" => json!({"host": "api3.example.com"}),
        // Rose Rocket has no OAuth app here, so a connection is refused with 409.
        "/integrated-account/connect" => json!({"integration": "roserocket", "name": "n"}),
        "/integrated-account/{id}/reconnect" => json!({}),
        "/integrations/{name}/oauth-app" => json!({"client_id": "c", "client_secret": "s"}),
        "/return-origins" => json!({"origin": "https://app.example.com"}),
        _ => json!({"name": "renamed"}),
    };
    let unknown = |path: &str| {
        let segments: Vec<&str> = template.split('/').collect();
        path.split('/')
            .zip(&segments)
            .map(|(segment, template)| {
                if template.starts_with('{') && *template != "{name}" {
                    "no-such-id"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    Some(match status {
        401 => (method, path.to_owned(), None, Payload::None),
        403 => (
            method,
            path.to_owned(),
            Some(mcp_token.to_owned()),
            Payload::None,
        ),
        404 => {
            let body = if has_body {
                Payload::Json(valid_body)
            } else {
                Payload::None
            };
            (method, unknown(path), admin, body)
        }
        413 => (
            method,
            path.to_owned(),
            admin,
            Payload::Raw("application/json", vec![b' '; MAX_BODY_BYTES + 1]),
        ),
        415 => (
            method,
            path.to_owned(),
            admin,
            Payload::Raw("text/plain", valid_body.to_string().into_bytes()),
        ),
        422 => (
            method,
            path.to_owned(),
            admin,
            Payload::Json(json!({"no_such_field": true})),
        ),
        400 if has_body => (
            method,
            path.to_owned(),
            admin,
            Payload::Raw("application/json", b"{".to_vec()),
        ),
        409 => {
            let path = match template {
                "/integrated-account/{id}/reconnect" => {
                    format!("/integrated-account/{rose_account}/reconnect")
                }
                _ => path.to_owned(),
            };
            (method, path, admin, Payload::Json(valid_body))
        }
        400 => {
            let path = match template {
                "/integrations/{name}/upstream-hosts" => {
                    "/integrations/no_such_integration/upstream-hosts".to_owned()
                }
                "/integrations/{name}/oauth-app" => {
                    "/integrations/no_such_integration/oauth-app".to_owned()
                }
                "/integrations/{name}/upstream-hosts/{host}" => {
                    "/integrations/malomo/upstream-hosts/not%20a%20host".to_owned()
                }
                t if t.ends_with("/tools") => format!("{path}?profile=neither"),
                t if t.ends_with("/calls") => format!("{path}?limit=0"),
                _ => return None,
            };
            (method, path, admin, Payload::None)
        }
        _ => return None,
    })
}

/// Every status the document lists for an operation is one the operation answers, every
/// operation is routed, and no route on a documented path answers a method the document
/// does not list.
#[tokio::test]
async fn the_admin_openapi_document_and_the_router_agree_both_ways() {
    let app = start().await;
    let account = app.account("malomo", None).await;
    let rose_account = app.account("roserocket", None).await;
    let (server, _) = app.server(&account).await;
    let (_, mcp_token) = app
        .provisioner
        .create_api_token("second factor", TokenScope::Mcp, None)
        .await
        .unwrap();
    let document = specgate_server::admin::openapi();
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(
        paths
            .values()
            .map(|m| m.as_object().unwrap().len())
            .sum::<usize>(),
        specgate_server::admin::operations().len(),
        "one document entry per operation"
    );
    let concrete = |template: &str| {
        template
            .replace("{id}", &account)
            .replace("{mcp_id}", &server)
            .replace("{name}", "malomo")
            .replace("{host}", "listed.example.com")
            .replace("{origin}", "https%3A%2F%2Fapp.example.com")
    };
    let mut checked = 0;
    for (template, methods) in paths {
        for (method, operation) in methods.as_object().unwrap() {
            for status in operation["responses"].as_object().unwrap().keys() {
                let status: u16 = status.parse().unwrap();
                if (200..300).contains(&status) {
                    continue;
                }
                let Some((verb, path, token, payload)) = provoke(
                    &app,
                    method,
                    template,
                    &concrete(template),
                    status,
                    &mcp_token,
                    &rose_account,
                ) else {
                    panic!(
                        "{method} {template} documents {status}, and no request here answers it"
                    );
                };
                let (answered, body) = app.send(verb, &path, token.as_deref(), payload).await;
                assert_eq!(
                    answered.as_u16(),
                    status,
                    "{method} {template} documents {status}; {path} answered {answered}: {body}"
                );
                assert!(body["error"]["code"].is_string(), "{method} {path}: {body}");
                checked += 1;
            }
        }
        // Methods the document does not list on this path are not routed.
        for verb in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if methods.get(verb.as_str().to_lowercase()).is_some() {
                continue;
            }
            let (answered, _) = app.admin(verb.clone(), &concrete(template), None).await;
            assert_eq!(
                answered,
                StatusCode::METHOD_NOT_ALLOWED,
                "{verb} {template} is routed but not documented"
            );
        }
    }
    assert!(checked > 60, "{checked} error statuses checked");
}

/// Calls that end each way land in the audit log and `/metrics` under their own class.
#[tokio::test]
async fn each_call_error_class_reaches_the_audit_log_and_the_metrics() {
    let app = start().await;
    let malomo = app.account("malomo", None).await;
    let (malomo_server, malomo_mcp) = app.server(&malomo).await;
    let call = |arguments: Value| json!({"name": "get_single_malomo_orders_by_tracking_code_by_id", "arguments": arguments});
    let valid = json!({"id": "1Z999"});
    let mut expected = Vec::new();

    let answer = app
        .rpc(&malomo_mcp, "tools/call", call(valid.clone()))
        .await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    expected.push("ok");

    let answer = app.rpc(&malomo_mcp, "tools/call", call(json!({}))).await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    expected.push("invalid_arguments");

    for (status, class) in [(429, "rate_limited"), (500, "upstream_error")] {
        app.sandbox.script(Scripted {
            status,
            headers: vec![],
            body: json!({"message": "no"}),
            delay_ms: 0,
        });
        let answer = app
            .rpc(&malomo_mcp, "tools/call", call(valid.clone()))
            .await;
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        expected.push(class);
    }

    app.sandbox.script(Scripted {
        status: 200,
        headers: vec![],
        body: json!({}),
        delay_ms: 60_000,
    });
    let answer = app
        .rpc(&malomo_mcp, "tools/call", call(valid.clone()))
        .await;
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("timeout"),
        "{answer}"
    );
    expected.push("timeout");

    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/malomo", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = app.account("malomo", Some(closed_url)).await;
    let (unreachable_server, unreachable_mcp) = app.server(&unreachable).await;
    let answer = app
        .rpc(&unreachable_mcp, "tools/call", call(valid.clone()))
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");

    // Rose Rocket with a refresh token its token endpoint refuses.
    let rose = app.account("roserocket", None).await;
    let (status, body) = app
        .admin(
            Method::PATCH,
            &format!("/integrated-account/{rose}"),
            Some(json!({"credentials": {"client_id": "rr_client", "client_secret": "wrong", "refresh_token": "rr_refresh_0", "token_url": format!("{}/roserocket/oauth/token", app.sandbox_url)}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (rose_server, rose_mcp) = app.server(&rose).await;
    let answer = app
        .rpc(
            &rose_mcp,
            "tools/call",
            json!({"name": "list_all_roserocket_user_groups", "arguments": {}}),
        )
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");

    // The base URL's host is no longer allowed.
    let (status, _) = app
        .admin(
            Method::DELETE,
            "/integrations/malomo/upstream-hosts/127.0.0.1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let answer = app
        .rpc(&malomo_mcp, "tools/call", call(valid.clone()))
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    expected.push("egress_refused");

    let outcomes = |server: String, account: String| {
        let provisioner = app.provisioner.clone();
        async move {
            let page = provisioner
                .list_calls(&account, &server, CallsPage::default())
                .await
                .unwrap();
            let mut outcomes: Vec<String> = page.calls.into_iter().map(|c| c.outcome).collect();
            outcomes.reverse();
            outcomes
        }
    };
    // The audit log is written off the call path; wait for it with a generous deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let recorded = outcomes(malomo_server.clone(), malomo.clone()).await;
        if recorded.len() >= expected.len() || std::time::Instant::now() > deadline {
            assert_eq!(recorded, expected);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for (server, account, class) in [
        (unreachable_server, unreachable, "transport_error"),
        (rose_server, rose, "refresh_refused"),
    ] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let recorded = outcomes(server.clone(), account.clone()).await;
            if !recorded.is_empty() || std::time::Instant::now() > deadline {
                assert_eq!(recorded, [class]);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for class in [
        "ok",
        "invalid_arguments",
        "rate_limited",
        "upstream_error",
        "timeout",
        "egress_refused",
        "transport_error",
        "refresh_refused",
    ] {
        assert!(
            text.contains(&format!("outcome=\"{class}\"")),
            "{class} missing from /metrics:\n{text}"
        );
    }
}

/// rmcp's path (taken here for a request with an `Origin`) returns the vendor's rate limit
/// with the result, in `_meta`, and the HTTP side turns it into the same headers as the
/// direct path.
#[tokio::test]
async fn the_rate_limit_comes_back_with_the_result_on_both_paths() {
    let app = start().await;
    let account = app.account("e_desk", None).await;
    let (_, mcp) = app.server(&account).await;
    for origin in [None, Some("http://localhost:5173")] {
        app.sandbox.script(Scripted {
            status: 429,
            headers: vec![("retry-after".to_owned(), "17".to_owned())],
            body: json!({"message": "slow down"}),
            delay_ms: 0,
        });
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&mcp)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_single_e_desk_ticket_by_id", "arguments": {"ticketId": 1}}});
        let response = app
            .router
            .clone()
            .oneshot(request.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        assert_eq!(
            response
                .headers()
                .get("ratelimit-reset")
                .map(|v| v.to_str().unwrap()),
            Some("17"),
            "origin {origin:?}"
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let reply: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            reply["result"]["_meta"]["io.specgate/rate_limit"]["reset_seconds"], 17,
            "origin {origin:?}: {reply}"
        );
        assert_eq!(reply["result"]["isError"], true);
    }
}

/// The size of a JSON-RPC reply's `result` object, compact, as the budget measures it.
fn result_bytes(reply: &Value) -> usize {
    serde_json::to_string(&reply["result"]).unwrap().len()
}

/// A large vendor page read through a small budget: every page fits, and the cursor walk
/// returns every item exactly once, in order. One huge object is shortened where it is
/// largest and says so.
#[tokio::test]
async fn results_stay_within_the_servers_budget() {
    let app = start().await;
    let account = app.account("malomo", None).await;
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "small", "config": {"max_result_bytes": 20000}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mcp = body["mcp_path"].as_str().unwrap().to_owned();

    let items: Vec<Value> = (0..120)
        .map(|i| json!({"id": format!("ord_{i:04}"), "note": "n".repeat(700 + i % 50), "lines": [{"sku": "A", "qty": i}]}))
        .collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        // The vendor's one page of 120 items, served again for each call of the walk.
        app.sandbox.script(Scripted {
            status: 200,
            headers: vec![],
            body: Value::Array(items.clone()),
            delay_ms: 0,
        });
        let mut arguments = json!({"limit": 100});
        if let Some(cursor) = &cursor {
            arguments["next_cursor"] = json!(cursor);
        }
        let reply = app
            .rpc(
                &mcp,
                "tools/call",
                json!({"name": "list_all_malomo_orders", "arguments": arguments}),
            )
            .await;
        assert!(
            result_bytes(&reply) <= 20_000,
            "page {pages}: {} bytes",
            result_bytes(&reply)
        );
        let structured = &reply["result"]["structuredContent"];
        let page: Vec<String> = structured["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(!page.is_empty(), "never fewer than one item");
        seen.extend(page);
        pages += 1;
        match structured["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 100, "the walk never ends");
    }
    let expected: Vec<String> = (0..120).map(|i| format!("ord_{i:04}")).collect();
    assert_eq!(seen, expected, "every item, once, in order");
    assert!(pages > 5, "the budget made the pages finer: {pages}");

    // One object larger than the budget on its own.
    app.sandbox.script(Scripted {
        status: 200,
        headers: vec![],
        body: json!({"id": "ord_1", "note": "x".repeat(50_000), "events": (0..400).map(|i| json!({"at": i, "what": "scanned at the depot"})).collect::<Vec<_>>()}),
        delay_ms: 0,
    });
    let reply = app
        .rpc(
            &mcp,
            "tools/call",
            json!({"name": "get_single_malomo_orders_by_tracking_code_by_id", "arguments": {"id": "1Z"}}),
        )
        .await;
    assert!(
        result_bytes(&reply) <= 20_000,
        "{} bytes",
        result_bytes(&reply)
    );
    let structured = &reply["result"]["structuredContent"];
    assert_eq!(structured["id"], "ord_1");
    let paths = structured["truncated"]["paths"].as_array().unwrap();
    assert!(
        paths.contains(&json!("note")) && paths.contains(&json!("events")),
        "{structured}"
    );
    // The text block carries the same JSON.
    let text: Value =
        serde_json::from_str(reply["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, structured);
}

#[tokio::test]
async fn a_result_budget_out_of_range_is_refused_by_name() {
    let app = start().await;
    let account = app.account("malomo", None).await;
    for bytes in [1999, 2_000_001] {
        let (status, body) = app
            .admin(
                Method::POST,
                &format!("/integrated-account/{account}/mcp"),
                Some(json!({"name": "x", "config": {"max_result_bytes": bytes}})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], "invalid_max_result_bytes");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("max_result_bytes")
        );
    }
}

/// A discovery server lists three tools that search, describe and call exactly the tools its
/// filters admit, in both schema profiles; a call through `call_tool` is the tool's own call.
#[tokio::test]
async fn discovery_exposure_searches_describes_and_calls_the_servers_tools() {
    let app = start().await;
    let account = app.account("malomo", None).await;
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "discovery", "config": {"methods": ["read"], "tool_exposure": "discovery"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (server, mcp) = (
        body["id"].as_str().unwrap().to_owned(),
        body["mcp_path"].as_str().unwrap().to_owned(),
    );
    for (path, portable) in [(mcp.clone(), false), (format!("{mcp}/portable"), true)] {
        let listed = app.rpc(&path, "tools/list", json!({})).await;
        let names: Vec<&str> = listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["search_tools", "get_tool_schema", "call_tool"]);
        let arguments_type =
            &listed["result"]["tools"][2]["inputSchema"]["properties"]["arguments"]["type"];
        assert_eq!(arguments_type, if portable { "string" } else { "object" });

        let found = app
            .rpc(
                &path,
                "tools/call",
                json!({"name": "search_tools", "arguments": {"query": "orders"}}),
            )
            .await;
        let found: Vec<&str> = found["result"]["structuredContent"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(found.contains(&"list_all_malomo_orders"), "{found:?}");
        assert!(
            found
                .iter()
                .all(|n| n.starts_with("list_all_") || n.starts_with("get_single_")),
            "a read-only server finds no write tool: {found:?}"
        );
        let writes = app
            .rpc(
                &path,
                "tools/call",
                json!({"name": "search_tools", "arguments": {"query": "create delete"}}),
            )
            .await;
        assert_eq!(
            writes["result"]["structuredContent"]["tools"],
            json!([]),
            "{writes}"
        );

        let described = app
            .rpc(
                &path,
                "tools/call",
                json!({"name": "get_tool_schema", "arguments": {"name": "list_all_malomo_orders"}}),
            )
            .await;
        assert_eq!(
            described["result"]["structuredContent"]["inputSchema"]["type"], "object",
            "{described}"
        );
        let hidden = app
            .rpc(&path, "tools/call", json!({"name": "get_tool_schema", "arguments": {"name": "delete_a_malomo_order_by_id"}}))
            .await;
        assert_eq!(
            hidden["error"]["code"], -32602,
            "a filtered-out tool is never described"
        );

        let arguments = if portable {
            json!("{\"limit\": 2}")
        } else {
            json!({"limit": 2})
        };
        let called = app
            .rpc(&path, "tools/call", json!({"name": "call_tool", "arguments": {"name": "list_all_malomo_orders", "arguments": arguments}}))
            .await;
        assert_eq!(called["result"]["isError"], false, "{called}");
        assert_eq!(
            called["result"]["structuredContent"]["result"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let refused = app
            .rpc(&path, "tools/call", json!({"name": "call_tool", "arguments": {"name": "delete_a_malomo_order_by_id", "arguments": if portable { json!("{\"id\": \"ord_0001\"}") } else { json!({"id": "ord_0001"}) }}}))
            .await;
        assert_eq!(
            refused["error"]["code"], -32602,
            "a write tool is not callable: {refused}"
        );
    }
    // The audit rows are the real tool's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let calls = app
            .provisioner
            .list_calls(&account, &server, CallsPage::default())
            .await
            .unwrap();
        let tools: Vec<&str> = calls.calls.iter().map(|c| c.tool.as_str()).collect();
        if tools.len() >= 2 || std::time::Instant::now() > deadline {
            assert_eq!(tools, ["list_all_malomo_orders", "list_all_malomo_orders"]);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `response_fields` keeps only the named fields: of the object on a get, of each item on a
/// list (with `next_cursor` kept), in both profiles; unknown paths are named.
#[tokio::test]
async fn response_fields_keep_only_the_named_fields() {
    let app = start().await;
    let account = app.account("malomo", None).await;
    let (_, mcp) = app.server(&account).await;
    let order = json!({"id": "ord_1", "customer": {"email": "ada@example.com", "name": "Ada"}, "shipments": [{"tracking_code": "1Z", "carrier": "UPS"}], "total": 12});
    for path in [mcp.clone(), format!("{mcp}/portable")] {
        app.sandbox.script(Scripted {
            status: 200,
            headers: vec![],
            body: order.clone(),
            delay_ms: 0,
        });
        let got = app
            .rpc(
                &path,
                "tools/call",
                json!({"name": "get_single_malomo_orders_by_tracking_code_by_id", "arguments": {"id": "1Z", "response_fields": ["customer.email", "shipments.tracking_code", "nope"]}}),
            )
            .await;
        assert_eq!(
            got["result"]["structuredContent"],
            json!({"customer": {"email": "ada@example.com"}, "shipments": [{"tracking_code": "1Z"}], "ignored_fields": ["nope"]}),
            "{path}: {got}"
        );

        app.sandbox.script(Scripted {
            status: 200,
            headers: vec![],
            body: json!([order.clone(), {"id": "ord_2", "total": 3}, {"id": "ord_3", "total": 4}]),
            delay_ms: 0,
        });
        let listed = app
            .rpc(
                &path,
                "tools/call",
                json!({"name": "list_all_malomo_orders", "arguments": {"limit": 2, "response_fields": ["id"]}}),
            )
            .await;
        let structured = &listed["result"]["structuredContent"];
        assert_eq!(
            structured["result"],
            json!([{"id": "ord_1"}, {"id": "ord_2"}]),
            "{path}: {listed}"
        );
        assert!(
            structured["next_cursor"].is_string(),
            "paging is kept: {listed}"
        );
    }
}

/// Every paging style walked through a small budget returns exactly the items a walk through
/// the largest budget returns, in order, across the vendor's own pages: the budget only makes
/// the pages finer.
#[tokio::test]
async fn a_small_budget_makes_pages_finer_and_loses_nothing_in_any_paging_style() {
    let app = start().await;
    let mut finer = 0;
    async fn walk(app: &App, mcp: &str, tool: &str, base: &Value) -> (Vec<Value>, usize, usize) {
        let (mut items, mut pages, mut largest) = (Vec::new(), 0, 0);
        let mut cursor: Option<String> = None;
        loop {
            let mut arguments = base.clone();
            if let Some(cursor) = &cursor {
                arguments["next_cursor"] = json!(cursor);
            }
            let reply = app
                .rpc(
                    mcp,
                    "tools/call",
                    json!({"name": tool, "arguments": arguments}),
                )
                .await;
            assert_eq!(reply["result"]["isError"], false, "{tool}: {reply}");
            largest = largest.max(result_bytes(&reply));
            let structured = &reply["result"]["structuredContent"];
            items.extend(structured["result"].as_array().unwrap().iter().cloned());
            pages += 1;
            match structured["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (items, pages, largest),
            }
            assert!(pages < 500, "{tool}: the walk never ends");
        }
    }
    for (integration, tool, base) in [
        ("malomo", "list_all_malomo_orders", json!({"limit": 5})),
        ("e_desk", "list_all_e_desk_tickets", json!({"limit": 5})),
        (
            "roserocket",
            "list_all_roserocket_objects",
            json!({"limit": 2, "objectKey": "order", "boardId": "b1"}),
        ),
        ("malomo", "list_all_malomo_returns", json!({"limit": 5})),
    ] {
        let account = app.account(integration, None).await;
        let mut servers = Vec::new();
        for budget in [2_000_000, 2_000] {
            let (status, body) = app
                .admin(
                    Method::POST,
                    &format!("/integrated-account/{account}/mcp"),
                    Some(json!({"name": format!("budget {budget}"), "config": {"max_result_bytes": budget}})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            servers.push(body["mcp_path"].as_str().unwrap().to_owned());
        }
        let (whole, whole_pages, _) = walk(&app, &servers[0], tool, &base).await;
        let (fine, fine_pages, largest) = walk(&app, &servers[1], tool, &base).await;
        assert!(largest <= 2_000, "{tool}: a page of {largest} bytes");
        assert!(whole.len() > 1, "{tool}: the sandbox lists several items");
        let ids = |items: &[Value]| -> Vec<Value> {
            items
                .iter()
                .map(|item| item.get("id").cloned().unwrap_or_else(|| item.clone()))
                .collect()
        };
        assert_eq!(ids(&fine), ids(&whole), "{tool}: every item once, in order");
        assert!(
            fine_pages >= whole_pages,
            "{tool}: {fine_pages} pages against {whole_pages}"
        );
        finer += usize::from(fine_pages > whole_pages);
    }
    assert!(
        finer >= 2,
        "the small budget split the pages of {finer} styles"
    );
}
