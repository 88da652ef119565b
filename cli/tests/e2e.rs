//! End to end over real HTTP: admin API -> MCP endpoint -> vendor sandboxes and back.

mod common;

use std::sync::atomic::Ordering;

use common::{Harness, read_sse_until, start, start_with};
use serde_json::{Value, json};

#[tokio::test]
async fn provisioning_on_sqlite() {
    let h = start().await;
    provisioning_filters_expiry_second_factor_rotation_and_deletion(&h, true).await;
    every_config_field_is_stored_and_replaced(&h).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn provisioning_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    let h = start_with(Some(url)).await;
    provisioning_filters_expiry_second_factor_rotation_and_deletion(&h, false).await;
    every_config_field_is_stored_and_replaced(&h).await;
}

/// Every config field away from its default, read back from the database after the create and
/// after an update that changes each of them again; the two flags differ each time, so neither
/// can be bound to the other's column.
async fn every_config_field_is_stored_and_replaced(h: &Harness) {
    let account = h.account("malomo").await;
    let created = json!({
        "methods": ["read", "custom"],
        "tags": ["orders"],
        "tools": ["list_all_malomo_orders", "get_single_malomo_order_by_id"],
        "exclude_tools": ["get_single_malomo_order_by_id"],
        "require_api_token_auth": true,
        "oauth": false,
        "max_result_bytes": 20000,
        "tool_exposure": "discovery",
        "schema_profile": "portable",
        "confirm": ["list_all_malomo_orders"],
        "confirm_fallback": "allow"
    });
    let (id, _) = h.server(&account, created.clone()).await;
    let path = format!("/integrated-account/{account}/mcp/{id}");
    let (status, stored) = h.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!((status, &stored["config"]), (200, &created), "{stored}");

    let updated = json!({
        "methods": ["write"],
        "tags": ["webhooks"],
        "tools": ["create_a_malomo_webhook"],
        "exclude_tools": ["delete_a_malomo_webhook_by_id"],
        "require_api_token_auth": false,
        "oauth": true,
        "max_result_bytes": 30000,
        "tool_exposure": "all",
        "schema_profile": "full",
        "confirm": "writes",
        "confirm_fallback": "refuse"
    });
    let (status, body) = h
        .admin(
            reqwest::Method::PATCH,
            &path,
            Some(
                json!({"name": "renamed", "config": updated, "expires_at": "2099-01-01T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, stored) = h.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(stored["config"], updated, "{stored}");
    assert_eq!(
        (&stored["name"], &stored["expires_at"]),
        (&json!("renamed"), &json!("2099-01-01T00:00:00Z"))
    );
}

async fn provisioning_filters_expiry_second_factor_rotation_and_deletion(
    h: &Harness,
    inspect_sqlite_file: bool,
) {
    let account = h.account("malomo").await;

    let (_, read_url) = h.server(&account, json!({"methods": ["read"]})).await;
    let names = h.tool_names(&read_url).await;
    assert!(names.contains(&"list_all_malomo_orders".to_owned()));
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("list_all_") || n.starts_with("get_single_")),
        "{names:?}"
    );
    let write = h
        .call(
            &read_url,
            "update_a_malomo_order_by_id",
            json!({"id": "ord_0001"}),
        )
        .await;
    let missing = h.call(&read_url, "no_such_tool", json!({})).await;
    assert_eq!(write["error"]["code"], -32602);
    assert_eq!(write["error"]["code"], missing["error"]["code"]);

    let (_, tagged_url) = h.server(&account, json!({"tags": ["webhooks"]})).await;
    let tagged = h.tool_names(&tagged_url).await;
    assert!(
        tagged.iter().all(|n| n.contains("webhook"))
            && tagged.contains(&"create_a_malomo_webhook".to_owned()),
        "{tagged:?}"
    );

    let (status, error) = h
        .admin(
            reqwest::Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "x", "config": {"methods": ["nope"]}})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        error["error"]["message"].as_str().unwrap().contains("read"),
        "{error}"
    );
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "x", "config": {"methods": ["custom"]}})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "x", "surprise": 1})),
        )
        .await;
    assert_eq!(status, 422);

    // Expiry: served before the instant, refused from it on. Each check is tied to the clock
    // reading around its own request, so a slow machine cannot make it lie.
    // Whole seconds: the server keeps expiries in unix seconds.
    let expires_at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .replace_nanosecond(0)
        .unwrap();
    let expires = expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = h
        .admin(
            reqwest::Method::POST,
            &format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "short", "expires_at": expires})),
        )
        .await;
    assert_eq!(status, 201);
    let short_url = body["url"].as_str().unwrap().to_owned();
    loop {
        let status = h
            .rpc_raw(&short_url, "tools/list", json!({}), None)
            .await
            .status();
        let answered_at = time::OffsetDateTime::now_utc();
        if status == 404 {
            assert!(answered_at >= expires_at, "refused before its expiry");
            break;
        }
        assert_eq!(status, 200);
        assert!(
            answered_at < expires_at + time::Duration::seconds(10),
            "still served 10 s after its expiry"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Second factor.
    let (_, guarded_url) = h
        .server(&account, json!({"require_api_token_auth": true}))
        .await;
    assert_eq!(
        h.rpc_raw(&guarded_url, "tools/list", json!({}), None)
            .await
            .status(),
        401
    );
    assert_eq!(
        h.rpc_raw(&guarded_url, "tools/list", json!({}), Some("sgk_wrong"))
            .await
            .status(),
        401
    );
    assert_eq!(
        h.rpc_raw(&guarded_url, "tools/list", json!({}), Some(&h.admin_token))
            .await
            .status(),
        200
    );

    // Rotation kills the old URL at once; deletion too.
    let (server_id, url) = h.server(&account, json!({})).await;
    let (status, rotated) = h
        .admin(
            reqwest::Method::POST,
            &format!("/integrated-account/{account}/mcp/{server_id}/rotate"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let new_url = rotated["url"].as_str().unwrap();
    assert_eq!(
        h.rpc_raw(&url, "tools/list", json!({}), None)
            .await
            .status(),
        404
    );
    assert_eq!(
        h.rpc_raw(new_url, "tools/list", json!({}), None)
            .await
            .status(),
        200
    );
    let (status, _) = h
        .admin(
            reqwest::Method::DELETE,
            &format!("/integrated-account/{account}/mcp/{server_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        h.rpc_raw(new_url, "tools/list", json!({}), None)
            .await
            .status(),
        404
    );
    assert_eq!(
        h.rpc_raw(
            &format!("{}/mcp/mcp_unknown", h.base),
            "ping",
            json!({}),
            None
        )
        .await
        .status(),
        404
    );

    // Deleting the account cascades.
    let (status, _) = h
        .admin(
            reqwest::Method::DELETE,
            &format!("/integrated-account/{account}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        h.rpc_raw(&read_url, "tools/list", json!({}), None)
            .await
            .status(),
        404
    );

    // Admin API requires a token; no secret is stored in the clear.
    assert_eq!(
        h.http
            .get(format!("{}/integrated-account", h.base))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    if inspect_sqlite_file {
        let mut bytes = std::fs::read(&h.db_path).unwrap();
        bytes.extend(std::fs::read(h.db_path.with_extension("db-wal")).unwrap_or_default());
        let text = String::from_utf8_lossy(&bytes);
        for secret in [
            h.admin_token.as_str(),
            "sk_sandbox_malomo",
            new_url.rsplit('/').next().unwrap(),
            url.rsplit('/').next().unwrap(),
        ] {
            assert!(!text.contains(secret), "database contains a raw secret");
        }
    }
}

#[tokio::test]
async fn pagination_is_uniform_across_cursor_page_and_offset_vendors() {
    let h = start().await;
    for (integration, tool, args, total) in [
        ("malomo", "list_all_malomo_orders", json!({}), 5),
        ("e_desk", "list_all_e_desk_tickets", json!({"limit": 2}), 5),
        (
            "roserocket",
            "list_all_roserocket_objects",
            json!({"objectKey": "order", "boardId": "b1", "limit": 2}),
            5,
        ),
    ] {
        let account = h.account(integration).await;
        let (_, url) = h.server(&account, json!({})).await;
        let mut seen = Vec::new();
        let mut args = args.clone();
        for _ in 0..10 {
            let response = h.call(&url, tool, args.clone()).await;
            let result = &response["result"]["structuredContent"];
            assert_eq!(response["result"]["isError"], false, "{response}");
            seen.extend(
                result["result"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].to_string()),
            );
            match result["next_cursor"].as_str() {
                Some(cursor) => args["next_cursor"] = json!(cursor),
                None => break,
            }
        }
        assert_eq!(seen.len(), total, "{integration}: {seen:?}");
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), total, "{integration}: duplicates");
    }
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    let tampered = h
        .call(
            &url,
            "list_all_malomo_orders",
            json!({"next_cursor": "bm90LWEtY3Vyc29y"}),
        )
        .await;
    assert_eq!(tampered["result"]["isError"], true);
    assert!(
        tampered["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Invalid `next_cursor`")
    );
    let malomo_requests = h.sandbox.requests();
    assert!(
        malomo_requests
            .iter()
            .filter(|r| r.uri.starts_with("/malomo"))
            .all(|r| r.accept.as_deref() == Some("application/vnd.malomo+json; version=2"))
    );
}

/// A successful answer passes the vendor's rate limit through too, in every header style: in
/// the result's `_meta` and as `RateLimit-*` response headers.
#[tokio::test]
async fn rate_limits_pass_through_on_success() {
    let h = start().await;
    let account = h.account("e_desk").await;
    let (_, url) = h.server(&account, json!({})).await;
    let styles: [(Vec<(&str, &str)>, Value); 3] = [
        (
            vec![
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "41"),
                ("x-ratelimit-reset", "30"),
            ],
            json!({"limit": 60, "remaining": 41, "reset_seconds": 30, "window_seconds": null}),
        ),
        (
            vec![
                ("ratelimit-limit", "100"),
                ("ratelimit-remaining", "7"),
                ("ratelimit-reset", "12"),
            ],
            json!({"limit": 100, "remaining": 7, "reset_seconds": 12, "window_seconds": null}),
        ),
        (
            vec![
                (
                    "ratelimit-policy",
                    "\"burst\";q=60;w=30, \"daily\";q=1000;w=86400",
                ),
                ("ratelimit", "\"burst\";r=5;t=9, \"daily\";r=900;t=3600"),
            ],
            json!({"limit": 60, "remaining": 5, "reset_seconds": 9, "window_seconds": 30}),
        ),
    ];
    for (sent, normalized) in styles {
        let mut headers: Vec<(String, String)> = sent
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        h.sandbox.script(specgate_server::sandbox::Scripted {
            status: 200,
            headers,
            body: json!({"id": 1, "subject": "Where is my order?"}),
            delay_ms: 0,
        });
        let response = h
            .rpc_raw(
                &url,
                "tools/call",
                json!({"name": "get_single_e_desk_ticket_by_id", "arguments": {"ticketId": 1}}),
                None,
            )
            .await;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let expected = |key: &str| normalized[key].as_u64().map(|n| n.to_string());
        assert_eq!(header("ratelimit-limit"), expected("limit"), "{sent:?}");
        assert_eq!(
            header("ratelimit-remaining"),
            expected("remaining"),
            "{sent:?}"
        );
        assert_eq!(
            header("ratelimit-reset"),
            expected("reset_seconds"),
            "{sent:?}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["result"]["isError"], false, "{body}");
        assert_eq!(
            body["result"]["structuredContent"]["subject"],
            "Where is my order?"
        );
        assert_eq!(
            body["result"]["_meta"]["io.specgate/rate_limit"], normalized,
            "{sent:?}: {body}"
        );
    }
}

#[tokio::test]
async fn rate_limits_are_normalized_and_never_retried() {
    let h = start().await;
    let account = h.account("e_desk").await;
    let (_, url) = h.server(&account, json!({})).await;
    for (headers, reset) in [
        (vec![("retry-after", "17")], "17"),
        (
            vec![
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "30"),
            ],
            "30",
        ),
        (
            vec![
                ("ratelimit-policy", "\"burst\";q=60;w=30"),
                ("ratelimit", "\"burst\";r=0;t=9"),
            ],
            "9",
        ),
    ] {
        h.script(429, &headers).await;
        let before = h.sandbox.requests().len();
        let response = h
            .rpc_raw(
                &url,
                "tools/call",
                json!({"name": "get_single_e_desk_ticket_by_id", "arguments": {"ticketId": 1}}),
                None,
            )
            .await;
        assert_eq!(response.headers().get("ratelimit-reset").unwrap(), reset);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["result"]["isError"], true);
        assert!(
            body["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains(&format!("Retry after {reset} seconds")),
            "{body}"
        );
        assert_eq!(
            body["result"]["structuredContent"]["rate_limit"]["reset_seconds"],
            reset.parse::<u64>().unwrap()
        );
        assert_eq!(
            h.sandbox.requests().len(),
            before + 1,
            "a 429 must not be retried"
        );
    }
}

#[tokio::test]
async fn upstream_faults_become_tool_errors_and_the_server_keeps_serving() {
    let h = start().await;
    let account = h.account("e_desk").await;
    let (_, url) = h.server(&account, json!({})).await;
    let missing = h
        .call(
            &url,
            "get_single_e_desk_ticket_by_id",
            json!({"ticketId": 99}),
        )
        .await;
    assert_eq!(missing["result"]["isError"], true);
    assert!(
        missing["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("HTTP 404: Ticket not found")
    );
    h.script(502, &[]).await;
    let bad_gateway = h.call(&url, "list_all_e_desk_tags", json!({})).await;
    assert!(
        bad_gateway["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("HTTP 502")
    );
    let bad_args = h
        .call(
            &url,
            "get_single_e_desk_ticket_by_id",
            json!({"ticketId": "one"}),
        )
        .await;
    assert_eq!(bad_args["result"]["isError"], true);
    assert!(
        bad_args["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("argument `ticketId`: expected integer, got string")
    );

    // A vendor that refuses connections.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (status, body) = h.admin(reqwest::Method::POST, "/integrated-account", Some(json!({"integration": "e_desk", "name": "dead", "credentials": {"api_key": "x"}, "base_url": dead}))).await;
    assert_eq!(status, 201);
    let (_, dead_url) = h.server(body["id"].as_str().unwrap(), json!({})).await;
    let refused = h.call(&dead_url, "list_all_e_desk_tags", json!({})).await;
    assert!(
        refused["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Could not connect")
    );
    let ok = h.call(&url, "list_all_e_desk_tags", json!({})).await;
    assert_eq!(ok["result"]["isError"], false);

    let huge = "x".repeat(70 * 1024);
    let too_big = h
        .rpc_raw(
            &url,
            "tools/call",
            json!({"name": "list_all_e_desk_tags", "arguments": {"pad": huge}}),
            None,
        )
        .await;
    assert_eq!(too_big.status(), 413);
    let metrics = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("specgate_tool_calls_total{tool=\"get_single_e_desk_ticket_by_id\",upstream_status=\"404\"} 1"), "{metrics}");
}

#[tokio::test]
async fn oauth_refresh_is_single_flight_and_persists_the_rotated_token() {
    let h = start().await;
    let account = h.account("roserocket").await;
    let (_, url) = h.server(&account, json!({})).await;
    let calls = (0..8).map(|_| h.call(&url, "list_all_roserocket_user_groups", json!({})));
    for response in futures::future::join_all(calls).await {
        assert_eq!(response["result"]["isError"], false, "{response}");
    }
    assert_eq!(h.sandbox.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(h.sandbox.rose_refresh_token(), "rr_refresh_1");
    // The rotated refresh token was stored: later calls need no new refresh, and the raw
    // sandbox-issued token never sits in the database.
    let again = h.call(&url, "list_all_roserocket_boards", json!({})).await;
    assert_eq!(again["result"]["isError"], false);
    assert_eq!(h.sandbox.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn legacy_sse_transport_delivers_responses_on_the_stream() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    let (mut stream, endpoint) = h.open_sse(&url, None).await;
    let posted = h
        .http
        .post(&endpoint)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "list_all_malomo_webhooks", "arguments": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let message = read_sse_until(&mut stream, "wh_1").await;
    assert!(
        message.contains("event: message") && message.contains("\"id\":7"),
        "{message}"
    );

    // A server that requires an API token: both the stream and its messages carry it.
    let (_, guarded) = h
        .server(&account, json!({"require_api_token_auth": true}))
        .await;
    let refused = h.http.get(format!("{guarded}/sse")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let (mut stream, endpoint) = h.open_sse(&guarded, Some(&h.admin_token)).await;
    let call = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"});
    let unauthenticated = h.http.post(&endpoint).json(&call).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let posted = h
        .http
        .post(&endpoint)
        .bearer_auth(&h.admin_token)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let message = read_sse_until(&mut stream, "\"id\":8").await;
    assert!(message.contains("create_a_malomo_customer"), "{message}");
}

#[tokio::test]
async fn a_rejected_oauth_token_is_refreshed_once_and_the_call_succeeds() {
    let h = start().await;
    let (status, body) = h
        .admin(
            reqwest::Method::POST,
            "/integrated-account",
            Some(json!({
                "integration": "roserocket", "name": "stale",
                "base_url": format!("{}/roserocket/api/v2/platformModel", h.sandbox_url),
                "credentials": {"access_token": "revoked_by_vendor", "client_id": "rr_client", "client_secret": "rr_secret",
                                "refresh_token": "rr_refresh_0", "token_url": format!("{}/roserocket/oauth/token", h.sandbox_url)}
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, url) = h.server(body["id"].as_str().unwrap(), json!({})).await;
    let response = h
        .call(&url, "list_all_roserocket_user_groups", json!({}))
        .await;
    assert_eq!(response["result"]["isError"], false, "{response}");
    assert_eq!(h.sandbox.token_requests.load(Ordering::SeqCst), 1);
    let rejected = h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.authorization.as_deref() == Some("Bearer revoked_by_vendor"))
        .count();
    assert_eq!(rejected, 1, "the stale token is tried once, then refreshed");
}

#[tokio::test]
async fn admin_api_documents_itself_and_rotates_credentials() {
    let h = start().await;
    let openapi = h.get_json("/openapi.json").await;
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["paths"]["/integrated-account/{id}/mcp/{mcp_id}/rotate"]["post"].is_object());
    let (status, integrations) = h.admin(reqwest::Method::GET, "/integrations", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = integrations
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["e_desk", "malomo", "roserocket"]);
    assert_eq!(integrations[2]["auth"], "oauth2");

    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    let (status, renamed) = h
        .admin(
            reqwest::Method::PATCH,
            &format!("/integrated-account/{account}"),
            Some(json!({"name": "renamed", "credentials": {"api_key": "sk_wrong"}})),
        )
        .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("renamed")));
    let refused = h.call(&url, "list_all_malomo_webhooks", json!({})).await;
    assert!(
        refused["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("HTTP 401: no valid API key provided"),
        "{refused}"
    );
    let (status, _) = h
        .admin(
            reqwest::Method::PATCH,
            &format!("/integrated-account/{account}"),
            Some(json!({"credentials": {"api_key": "sk_sandbox_malomo"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        h.call(&url, "list_all_malomo_webhooks", json!({})).await["result"]["isError"],
        false
    );
    let (status, error) = h
        .admin(
            reqwest::Method::PATCH,
            &format!("/integrated-account/{account}"),
            Some(json!({"credentials": {"password": "x"}})),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    let (status, error) = h.admin(reqwest::Method::POST, "/integrated-account", Some(json!({"integration": "malomo", "name": "x", "credentials": {"api_key": "k"}, "base_url": "http://vendor.example.com"}))).await;
    assert_eq!(status, 400);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("https")
    );
}

#[tokio::test]
async fn forged_hosts_and_malformed_json_rpc_are_refused() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    let forged = h
        .http
        .post(&url)
        .header("host", "evil.example")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error(), "{}", forged.status());
    let origin = h
        .http
        .post(&url)
        .header("origin", "https://evil.example")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert!(origin.status().is_client_error(), "{}", origin.status());
    let garbage = h
        .http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let body: Value = garbage.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700);
    let not_json_rpc = h
        .http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"id": 1, "method": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_json_rpc.status(), 400);
    assert_eq!(
        not_json_rpc.json::<Value>().await.unwrap()["error"]["code"],
        -32600
    );
    let unknown_method = h.rpc(&url, "no/such/method", json!({})).await;
    assert_eq!(unknown_method["error"]["code"], -32601);
}

#[tokio::test]
async fn tools_list_pages_through_large_servers_in_name_order() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    let first = h.rpc(&url, "tools/list", json!({})).await;
    assert_eq!(
        first["result"]["tools"].as_array().unwrap().len(),
        5,
        "the harness page size is 5"
    );
    assert_eq!(first["result"]["ttlMs"], 60_000);
    assert!(first["result"]["nextCursor"].is_string());
    let names = h.tool_names(&url).await;
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(
        names.len(),
        specgate_api::find_integration("malomo")
            .unwrap()
            .tools
            .len()
    );
    let bad = h.rpc(&url, "tools/list", json!({"cursor": "nope"})).await;
    assert_eq!(bad["error"]["code"], -32602);
}

#[tokio::test]
async fn text_bodies_are_capped_and_timeouts_become_tool_errors() {
    let h = start().await;
    let account = h.account("e_desk").await;
    let (_, url) = h.server(&account, json!({})).await;
    h.script_raw(200, "text/plain", json!("plain text from the vendor"), 0);
    let text = h
        .call(&url, "get_single_e_desk_tag_by_id", json!({"tagId": 3}))
        .await;
    assert_eq!(text["result"]["isError"], false);
    assert_eq!(
        text["result"]["content"][0]["text"],
        "plain text from the vendor"
    );
    assert!(text["result"].get("structuredContent").is_none());

    h.script_raw(200, "text/plain", json!("x".repeat(3 * 1024 * 1024)), 0);
    let big = h
        .call(&url, "get_single_e_desk_tag_by_id", json!({"tagId": 3}))
        .await;
    // Past the 2 MiB vendor cap, and past the server's result budget (100,000 bytes by
    // default), which cuts it further and says so.
    let big_text = big["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        big_text
            .ends_with("result budget of 100000 bytes; ask for less, or raise max_result_bytes]"),
        "{}",
        &big_text[big_text.len() - 200..]
    );
    assert!(serde_json::to_string(&big["result"]).unwrap().len() <= 100_000);

    // A vendor that does not answer within the upstream timeout (a second here, and the
    // vendor takes a minute, however loaded the machine).
    let h = common::start_configured(|config| {
        config.upstream_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let account = h.account("e_desk").await;
    let (_, url) = h.server(&account, json!({})).await;
    h.script_raw(200, "application/json", json!({"data": {}}), 60_000);
    let slow = h
        .call(&url, "get_single_e_desk_tag_by_id", json!({"tagId": 3}))
        .await;
    assert_eq!(slow["result"]["isError"], true);
    assert!(
        slow["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{slow}"
    );
    let after = h.call(&url, "list_all_e_desk_tags", json!({})).await;
    assert_eq!(after["result"]["isError"], false);
}

#[tokio::test]
async fn legacy_sse_sessions_are_bounded_and_idle_ones_close() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    let first = h.http.get(format!("{url}/sse")).send().await.unwrap();
    let second = h.http.get(format!("{url}/sse")).send().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = h.http.get(format!("{url}/sse")).send().await.unwrap();
    assert_eq!(
        third.status(),
        503,
        "the harness allows two sessions per server"
    );
    assert!(third.text().await.unwrap().contains("this MCP server"));
    // Another tenant still gets a session: the per-server limit is below the instance's.
    let (_, other_url) = h.server(&account, json!({})).await;
    let other = h.http.get(format!("{other_url}/sse")).send().await.unwrap();
    assert_eq!(other.status(), 200);
    let (_, third_url) = h.server(&account, json!({})).await;
    let over = h.http.get(format!("{third_url}/sse")).send().await.unwrap();
    assert_eq!(
        over.status(),
        503,
        "the harness allows three sessions in all"
    );
    drop((first, second, other));

    // With a short idle window, both of a server's sessions end by themselves, and their
    // slots are free again.
    let idle = std::time::Duration::from_millis(1500);
    let h = common::start_configured(|config| config.sse_idle = idle).await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    // Before the requests, so the idle period the server measures lies inside what this does.
    let started = std::time::Instant::now();
    let mut readers = Vec::new();
    for _ in 0..2 {
        let mut stream = h.http.get(format!("{url}/sse")).send().await.unwrap();
        assert_eq!(stream.status(), 200);
        readers.push(async move {
            while let Ok(Some(chunk)) = stream.chunk().await {
                assert!(!chunk.is_empty());
            }
        });
    }
    futures::future::join_all(readers).await;
    assert!(
        started.elapsed() >= idle,
        "closed for idleness, not at once"
    );
    // Both slots come back once the server has let go.
    let freed = std::time::Instant::now();
    let mut admitted = Vec::new();
    while admitted.len() < 2 {
        let again = h.http.get(format!("{url}/sse")).send().await.unwrap();
        if again.status() == 200 {
            admitted.push(again);
            continue;
        }
        assert_eq!(again.status(), 503);
        assert!(
            freed.elapsed() < std::time::Duration::from_secs(10),
            "closed sessions never freed their slots"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Posts one JSON-RPC request; with `origin`, the request carries what only rmcp's own
/// service checks, so it is answered there instead of by the direct path.
async fn rpc_answer(h: &Harness, url: &str, request: &Value, origin: Option<&str>) -> Value {
    let mut post = h
        .http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(request);
    if let Some(origin) = origin {
        post = post.header("origin", origin);
    }
    let response = post.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{request}"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_direct_path_answers_exactly_as_rmcp_does() {
    let h = start().await;
    let account = h.account("e_desk").await;
    let (_, url) = h.server(&account, json!({"methods": ["read"]})).await;
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": "page-2", "method": "tools/list", "params": {"cursor": "5"}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": "2"}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"cursor": "999"}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "get_single_e_desk_ticket_by_id", "arguments": {"ticketId": 1}}}),
        json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "get_single_e_desk_ticket_by_id", "arguments": {"ticketId": "not a number"}}}),
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "delete_e_desk_ticket", "arguments": {}}}),
        json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "get_single_e_desk_ticket_by_id", "arguments": {"ticketId": 1}, "_meta": {"progressToken": 1}}}),
    ];
    let direct_before = h.metric(DIRECT).await;
    let rmcp_before = h.metric(RMCP).await;
    for request in &requests {
        let direct = rpc_answer(&h, &url, request, None).await;
        let through_rmcp = rpc_answer(&h, &url, request, Some("http://localhost:3000")).await;
        assert_eq!(direct, through_rmcp, "{request}");
        assert_eq!(direct["id"], request["id"]);
    }
    let n = requests.len() as u64;
    assert_eq!(h.metric(DIRECT).await, direct_before + n);
    assert_eq!(h.metric(RMCP).await, rmcp_before + n);

    // A per-request protocol version, and the 2026-07-28 header, are rmcp's to negotiate.
    let negotiated = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2025-06-18"}}});
    h.http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .json(&negotiated)
        .send()
        .await
        .unwrap();
    h.http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .json(&requests[0])
        .send()
        .await
        .unwrap();
    assert_eq!(h.metric(DIRECT).await, direct_before + n);
    assert_eq!(h.metric(RMCP).await, rmcp_before + n + 2);
}

const DIRECT: &str = r#"specgate_mcp_posts_total{path="direct"}"#;
const RMCP: &str = r#"specgate_mcp_posts_total{path="rmcp"}"#;

/// A vendor refusal with a 50 KB message on a server whose budget is 2,000 bytes: the result
/// stays within it on the direct path, through rmcp, through discovery's `call_tool`, and on
/// legacy SSE, and still says what the vendor said.
#[tokio::test]
async fn a_vendor_error_message_stays_in_the_result_budget_on_every_path() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"max_result_bytes": 2000})).await;
    let (_, discovery) = h
        .server(
            &account,
            json!({"max_result_bytes": 2000, "tool_exposure": "discovery"}),
        )
        .await;
    let message = format!("Order not found. {}", "details ".repeat(6_250));
    let refuse = || {
        h.script_raw(
            400,
            "application/json",
            json!({"message": message, "errors": [{"detail": message}]}),
            0,
        );
    };
    let call = json!({"name": "list_all_malomo_orders", "arguments": {}});
    let within_budget = |result: &Value, path: &str| {
        let size = serde_json::to_string(result).unwrap().len();
        assert!(size <= 2000, "{path}: {size} bytes: {result}");
        assert_eq!(result["isError"], true, "{path}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(
            text.contains("returned HTTP 400: Order not found. details") && text.ends_with('…'),
            "{path}: {text}"
        );
    };

    refuse();
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call});
    within_budget(
        &rpc_answer(&h, &url, &request, None).await["result"],
        "direct",
    );
    refuse();
    let through_rmcp = rpc_answer(&h, &url, &request, Some("http://localhost:3000")).await;
    within_budget(&through_rmcp["result"], "rmcp");

    refuse();
    let through_discovery = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "call_tool", "arguments": call}});
    within_budget(
        &rpc_answer(&h, &discovery, &through_discovery, None).await["result"],
        "discovery",
    );

    refuse();
    let (mut stream, endpoint) = h.open_sse(&url, None).await;
    let sse_request = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call});
    let posted = h
        .http
        .post(&endpoint)
        .json(&sse_request)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let event = read_sse_until(&mut stream, "\"id\":3").await;
    let event = read_event_data(&mut stream, event).await;
    within_budget(&event["result"], "legacy SSE");
}

/// The JSON of the first complete `message` event in an SSE stream, given what was read so far.
async fn read_event_data(stream: &mut reqwest::Response, mut text: String) -> Value {
    loop {
        if let Some(data) = text
            .split("\n\n")
            .filter(|event| text.contains("\n\n") && event.contains("event: message"))
            .find_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
            .and_then(|data| serde_json::from_str(data).ok())
        {
            return data;
        }
        text.push_str(&String::from_utf8_lossy(
            &stream.chunk().await.unwrap().unwrap(),
        ));
    }
}
