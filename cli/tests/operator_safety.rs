//! What an operator or an attacker with an API token can and cannot do: updates that merge
//! instead of widening access, stored credentials that never follow a new host, scoped API
//! tokens, cursors bound to their MCP server, bounded `limit`s, and the admin API's edges.

mod common;

use common::{Harness, start, start_secure};
use reqwest::Method;
use serde_json::{Value, json};

fn texts(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn patch_server(h: &Harness, account: &str, id: &str, body: Value) -> (u16, Value) {
    h.admin(
        Method::PATCH,
        &format!("/integrated-account/{account}/mcp/{id}"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn updating_one_setting_keeps_the_filters_and_widening_is_explicit() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (id, url) = h
        .server(&account, json!({"methods": ["read"], "tags": ["orders"]}))
        .await;
    let before = h.tool_names(&url).await;
    assert!(
        before.iter().all(|n| !n.starts_with("delete_")),
        "{before:?}"
    );

    let (status, body) = patch_server(
        &h,
        &account,
        &id,
        json!({"config": {"require_api_token_auth": false}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["methods"], json!(["read"]));
    assert_eq!(body["config"]["tags"], json!(["orders"]));
    assert_eq!(h.tool_names(&url).await, before, "no tool was added");

    for refused in [
        json!({"methods": null}),
        json!({"tags": null}),
        json!({"methods": []}),
    ] {
        let (status, body) = patch_server(&h, &account, &id, json!({"config": refused})).await;
        assert_eq!(status, 422, "{refused}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("[\"all\"]"),
            "{body}"
        );
    }
    let (status, body) = patch_server(
        &h,
        &account,
        &id,
        json!({"config": {"methods": ["all", "read"]}}),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    let (status, body) =
        patch_server(&h, &account, &id, json!({"config": {"methods": ["all"]}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["methods"], json!(["all"]));
    assert_eq!(body["config"]["tags"], json!(["orders"]), "tags kept");
    let widened = h.tool_names(&url).await;
    assert!(widened.contains(&"delete_a_malomo_order_by_id".to_owned()));
    assert!(widened.iter().all(|n| n.contains("order")), "{widened:?}");

    // `expires_at: null` removes the expiry.
    let (status, body) = patch_server(
        &h,
        &account,
        &id,
        json!({"expires_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(
        (status, body["expires_at"].clone()),
        (200, json!("2099-01-01T00:00:00Z"))
    );
    let (status, body) = patch_server(&h, &account, &id, json!({"expires_at": null})).await;
    assert_eq!((status, body["expires_at"].clone()), (200, Value::Null));
    let (_, listed) = h
        .admin(
            Method::GET,
            &format!("/integrated-account/{account}/mcp/{id}"),
            None,
        )
        .await;
    assert_eq!(listed["expires_at"], Value::Null, "the removal was stored");
}

#[tokio::test]
async fn stored_credentials_never_follow_a_new_host() {
    let h = start().await;
    let account = h.account("malomo").await;
    let path = format!("/integrated-account/{account}");

    let (status, body) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"base_url": "https://collector.example.net/v2"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "credentials_required");

    let (status, body) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"base_url": "https://collector.example.net/v2", "credentials": {"api_key": "new"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "upstream_host_not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api.gomalomo.com"),
        "the message names the declared host: {body}"
    );

    // The spec's own host is allowed; an operator can allow more, shared through the database.
    let (status, _) = h
        .admin(
            Method::PATCH,
            &path,
            Some(
                json!({"base_url": "https://api.gomalomo.com/v2", "credentials": {"api_key": "k"}}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .admin(
            Method::POST,
            "/integrations/malomo/upstream-hosts",
            Some(json!({"host": "*.example.net"})),
        )
        .await;
    assert_eq!(status, 201);
    let (_, hosts) = h
        .admin(Method::GET, "/integrations/malomo/upstream-hosts", None)
        .await;
    assert_eq!(hosts["declared"], json!(["api.gomalomo.com"]));
    assert!(
        hosts["allowed"]
            .as_array()
            .unwrap()
            .contains(&json!("*.example.net"))
    );
    let (status, _) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"base_url": "https://collector.example.net/v2", "credentials": {"api_key": "k"}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .admin(
            Method::DELETE,
            "/integrations/malomo/upstream-hosts/*.example.net",
            None,
        )
        .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn private_and_metadata_addresses_are_refused_by_name_and_by_resolution() {
    let h = start_secure().await;
    let p = |body: Value| h.admin(Method::POST, "/integrated-account", Some(body));
    for host in ["169.254.169.254", "10.0.0.8", "[fd00:ec2::254]"] {
        let (status, body) = p(json!({"integration": "malomo", "name": "x", "credentials": {"api_key": "k"}, "base_url": format!("https://{host}/latest")})).await;
        assert_eq!(status, 400, "{host}: {body}");
        assert_eq!(body["error"]["code"], "insecure_base_url", "{host}: {body}");
    }
    let (status, _) = p(json!({"integration": "malomo", "name": "x", "credentials": {"api_key": "k"}, "base_url": "http://api.gomalomo.com"})).await;
    assert_eq!(status, 400, "plain http is refused");

    // `localhost` is a name, not an address, so only resolution can catch it.
    let (status, _) = h
        .admin(
            Method::POST,
            "/integrations/malomo/upstream-hosts",
            Some(json!({"host": "localhost"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, account) = p(json!({"integration": "malomo", "name": "x", "credentials": {"api_key": "k"}, "base_url": "https://localhost:9/malomo"})).await;
    assert_eq!(status, 201, "{account}");
    let (_, url) = h.server(account["id"].as_str().unwrap(), json!({})).await;
    let answer = h.call(&url, "list_all_malomo_webhooks", json!({})).await;
    assert_eq!(answer["result"]["isError"], true);
    assert!(
        answer.to_string().contains("resolves only to private"),
        "{answer}"
    );
}

#[tokio::test]
async fn vendor_redirects_stay_on_the_origin() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    // Same host by another name is another origin: not followed.
    let elsewhere = h.sandbox_url.replace("127.0.0.1", "localhost");
    h.script(
        302,
        &[("location", &format!("{elsewhere}/malomo/webhooks"))],
    )
    .await;
    let before = h.sandbox.requests().len();
    let answer = h.call(&url, "list_all_malomo_webhooks", json!({})).await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(texts(&answer).contains("HTTP 302"), "{answer}");
    assert_eq!(
        h.sandbox.requests().len(),
        before + 1,
        "the redirect was not followed"
    );

    h.script(
        302,
        &[("location", &format!("{}/malomo/webhooks", h.sandbox_url))],
    )
    .await;
    let answer = h.call(&url, "list_all_malomo_webhooks", json!({})).await;
    assert_eq!(
        answer["result"]["isError"], false,
        "same-origin redirects are followed: {answer}"
    );
}

#[tokio::test]
async fn mcp_scoped_tokens_are_a_second_factor_and_nothing_more() {
    let h = start().await;
    let account = h.account("malomo").await;
    let other = h.account("malomo").await;
    let (_, guarded) = h
        .server(&account, json!({"require_api_token_auth": true}))
        .await;
    let provisioner = &h.provisioner;
    let (_, unbound) = provisioner
        .create_api_token("agent", specgate_server::store::TokenScope::Mcp, None)
        .await
        .unwrap();
    let (_, bound_here) = provisioner
        .create_api_token(
            "agent",
            specgate_server::store::TokenScope::Mcp,
            Some(&account),
        )
        .await
        .unwrap();
    let (_, bound_elsewhere) = provisioner
        .create_api_token(
            "agent",
            specgate_server::store::TokenScope::Mcp,
            Some(&other),
        )
        .await
        .unwrap();

    for (token, expected) in [
        (h.admin_token.as_str(), 200),
        (unbound.as_str(), 200),
        (bound_here.as_str(), 200),
        (bound_elsewhere.as_str(), 401),
    ] {
        let status = h
            .rpc_raw(&guarded, "tools/list", json!({}), Some(token))
            .await
            .status();
        assert_eq!(status, expected);
    }
    let refused = h
        .http
        .get(format!("{}/integrated-account", h.base))
        .bearer_auth(&unbound)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        403,
        "mcp tokens never reach the admin API"
    );

    let unauthenticated = h.rpc_raw(&guarded, "tools/list", json!({}), None).await;
    assert_eq!(unauthenticated.status(), 401);
    assert!(unauthenticated.headers().contains_key("www-authenticate"));
    let admin = h
        .http
        .get(format!("{}/integrated-account", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 401);
    assert_eq!(
        admin.headers()["www-authenticate"],
        "Bearer realm=\"specgate\""
    );
}

#[tokio::test]
async fn cursors_only_work_on_the_mcp_server_that_issued_them() {
    let h = start().await;
    let (_, first) = h.server(&h.account("malomo").await, json!({})).await;
    let (_, second) = h.server(&h.account("malomo").await, json!({})).await;
    let page = h
        .call(&first, "list_all_malomo_orders", json!({"limit": 2}))
        .await;
    let cursor = page["result"]["structuredContent"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let stolen = h
        .call(
            &second,
            "list_all_malomo_orders",
            json!({"limit": 2, "next_cursor": cursor}),
        )
        .await;
    assert_eq!(stolen["result"]["isError"], true);
    assert!(texts(&stolen).contains("Invalid `next_cursor`"), "{stolen}");
    let own = h
        .call(
            &first,
            "list_all_malomo_orders",
            json!({"limit": 2, "next_cursor": cursor}),
        )
        .await;
    assert_eq!(own["result"]["isError"], false, "{own}");
}

/// Pages a list tool to the end with `limit`, returning every item id in order.
async fn page_ids(h: &Harness, url: &str, tool: &str, limit: i64) -> Vec<Value> {
    page_ids_with(h, url, tool, json!({}), limit).await
}

async fn page_ids_with(h: &Harness, url: &str, tool: &str, base: Value, limit: i64) -> Vec<Value> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut arguments = base.clone();
        arguments["limit"] = json!(limit);
        if let Some(cursor) = &cursor {
            arguments["next_cursor"] = json!(cursor);
        }
        let page = h.call(url, tool, arguments).await;
        let content = &page["result"]["structuredContent"];
        let items = content["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"));
        assert!(
            items.len() as i64 <= limit,
            "{tool}: {} items for limit {limit}",
            items.len()
        );
        ids.extend(items.iter().map(|i| i["id"].clone()));
        match content["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("{tool} did not finish paging");
}

#[tokio::test]
async fn limit_is_honoured_exactly_on_every_paging_style() {
    let h = start().await;
    let malomo = h.server(&h.account("malomo").await, json!({})).await.1;
    let edesk = h.server(&h.account("e_desk").await, json!({})).await.1;
    let rose = h.server(&h.account("roserocket").await, json!({})).await.1;

    // Malomo pages by two and ignores any size: one item per call must still lose nothing.
    let one_by_one = page_ids(&h, &malomo, "list_all_malomo_orders", 1).await;
    let expected: Vec<Value> = (1..=5).map(|n| json!(format!("ord_{n:04}"))).collect();
    assert_eq!(one_by_one, expected);
    assert_eq!(
        page_ids(&h, &malomo, "list_all_malomo_orders", 3).await,
        expected
    );
    // Page numbers, offsets, and a list the vendor returns whole (paged here).
    assert_eq!(
        page_ids(&h, &edesk, "list_all_e_desk_tickets", 2)
            .await
            .len(),
        5
    );
    let events = page_ids_with(
        &h,
        &rose,
        "list_all_roserocket_events",
        json!({"recordId": "r1", "objectKey": "order"}),
        2,
    )
    .await;
    assert_eq!(events, vec![json!("evt_1"), json!("evt_2"), json!("evt_3")]);
    assert_eq!(
        page_ids(&h, &malomo, "list_all_malomo_returns", 2).await,
        vec![json!("ret_1"), json!("ret_2"), json!("ret_3")]
    );

    let before = h.sandbox.requests().len();
    for bad in [json!(0), json!(-5), json!(101), json!(1e30), json!("10")] {
        let answer = h
            .call(&edesk, "list_all_e_desk_tickets", json!({"limit": bad}))
            .await;
        assert_eq!(answer["result"]["isError"], true, "{bad}");
        assert!(
            texts(&answer).contains("argument `limit`"),
            "{bad}: {answer}"
        );
    }
    assert_eq!(
        h.sandbox.requests().len(),
        before,
        "no bad limit reached the vendor"
    );
}

#[tokio::test]
async fn a_bad_nested_argument_gets_its_full_path_and_never_reaches_the_vendor() {
    let h = start().await;
    let (_, url) = h.server(&h.account("malomo").await, json!({})).await;
    let before = h.sandbox.requests().len();
    let answer = h
        .call(
            &url,
            "create_a_malomo_order",
            json!({"shipments": [{"carrier": "usps", "tracking_code": "1"}, {"carrier": 5, "tracking_code": "2"}]}),
        )
        .await;
    assert_eq!(answer["result"]["isError"], true);
    assert!(
        texts(&answer).contains("argument `shipments[1].carrier`: expected string, got integer"),
        "{answer}"
    );
    assert_eq!(h.sandbox.requests().len(), before);
    let created = h
        .call(
            &url,
            "create_a_malomo_order",
            json!({"shipments": [{"carrier": "usps", "tracking_code": "1"}]}),
        )
        .await;
    assert_eq!(created["result"]["isError"], false, "{created}");
}

#[tokio::test]
async fn an_empty_vendor_error_says_what_failed() {
    let h = start().await;
    let (_, url) = h.server(&h.account("e_desk").await, json!({})).await;
    h.script_raw(404, "text/plain", json!(""), 0);
    let answer = h.call(&url, "list_all_e_desk_tickets", json!({})).await;
    assert_eq!(
        texts(&answer),
        "eDesk returned HTTP 404: Not Found (empty response body) for GET /tickets"
    );
}

#[tokio::test]
async fn admin_input_edges_get_specific_errors() {
    let h = start().await;
    // Larger than the harness's 64 KiB body limit.
    let big = json!({"integration": "malomo", "name": "x".repeat(100_000), "credentials": {"api_key": "k"}});
    let (status, body) = h
        .admin(Method::POST, "/integrated-account", Some(big))
        .await;
    assert_eq!(status, 413, "{body}");

    for name in ["a\u{0}b", "\u{1b}[31mred", "two\nlines"] {
        let (status, body) = h
            .admin(
                Method::POST,
                "/integrated-account",
                Some(
                    json!({"integration": "malomo", "name": name, "credentials": {"api_key": "k"}}),
                ),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (400, json!("invalid_name")),
            "{name:?}"
        );
    }
    let (status, body) = h
        .admin(
            Method::POST,
            "/integrated-account",
            Some(json!({"integration": "malomo", "name": "x", "credentials": {"api_key": "k", "username": "u"}})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not use `username`")
    );

    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    for params in [
        json!({"name": "list_all_malomo_webhooks", "arguments": [1]}),
        json!({"name": "list_all_malomo_webhooks", "arguments": "x"}),
    ] {
        let response = h.rpc_raw(&url, "tools/call", params.clone(), None).await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32602, "{params}: {body}");
    }
}

/// Every operation in `/openapi.json` is called, and answers with a status the document lists.
#[tokio::test]
async fn the_admin_openapi_document_matches_every_route() {
    let h = start().await;
    let document = h.get_json("/openapi.json").await;
    let account = h.account("malomo").await;
    let (server, _) = h.server(&account, json!({})).await;
    let victim = h.account("malomo").await;
    let (victim_server, _) = h.server(&victim, json!({})).await;
    let rose = h.account("roserocket").await;
    let rose_base = format!("{}/roserocket/api/v2/platformModel", h.sandbox_url);
    h.admin(
        Method::POST,
        "/integrations/malomo/upstream-hosts",
        Some(json!({"host": "gone.example.com"})),
    )
    .await;
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/integrations".into(), None),
        (
            Method::GET,
            "/integrations/malomo/upstream-hosts".into(),
            None,
        ),
        (
            Method::POST,
            "/integrations/malomo/upstream-hosts".into(),
            Some(json!({"host": "api2.example.com"})),
        ),
        (
            Method::DELETE,
            "/integrations/malomo/upstream-hosts/gone.example.com".into(),
            None,
        ),
        (
            Method::POST,
            "/integrated-account".into(),
            Some(json!({"integration": "malomo", "name": "n", "credentials": {"api_key": "k"}})),
        ),
        (Method::GET, "/integrated-account".into(), None),
        (Method::GET, format!("/integrated-account/{account}"), None),
        (
            Method::PATCH,
            format!("/integrated-account/{account}"),
            Some(json!({"name": "renamed"})),
        ),
        (
            Method::POST,
            format!("/integrated-account/{account}/mcp"),
            Some(json!({"name": "s"})),
        ),
        (
            Method::GET,
            format!("/integrated-account/{account}/mcp"),
            None,
        ),
        (
            Method::GET,
            format!("/integrated-account/{account}/mcp/{server}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/integrated-account/{account}/mcp/{server}"),
            Some(json!({"name": "t"})),
        ),
        (
            Method::POST,
            format!("/integrated-account/{account}/mcp/{server}/rotate"),
            None,
        ),
        (
            Method::GET,
            format!("/integrated-account/{account}/mcp/{server}/tools"),
            None,
        ),
        (
            Method::GET,
            format!("/integrated-account/{account}/mcp/{server}/calls"),
            None,
        ),
        (
            Method::GET,
            format!("/integrated-account/{account}/mcp/{server}/grants"),
            None,
        ),
        (
            Method::DELETE,
            format!("/integrated-account/{account}/mcp/{server}/grants/no-such-grant"),
            None,
        ),
        (
            Method::DELETE,
            format!("/integrated-account/{victim}/mcp/{victim_server}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/integrated-account/{victim}"),
            None,
        ),
        (
            Method::PUT,
            "/integrations/roserocket/oauth-app".into(),
            Some(
                json!({"client_id": "rr_client", "client_secret": "rr_secret", "authorize_url": format!("{}/roserocket/authorize", h.sandbox_url), "token_url": format!("{}/roserocket/oauth/token", h.sandbox_url)}),
            ),
        ),
        (
            Method::GET,
            "/integrations/roserocket/oauth-app".into(),
            None,
        ),
        (Method::GET, "/return-origins".into(), None),
        (
            Method::POST,
            "/return-origins".into(),
            Some(json!({"origin": "https://app.example.com"})),
        ),
        (
            Method::POST,
            "/integrated-account/connect".into(),
            Some(
                json!({"integration": "roserocket", "name": "c", "base_url": rose_base, "return_to": "https://app.example.com/done"}),
            ),
        ),
        (
            Method::POST,
            format!("/integrated-account/{rose}/reconnect"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            "/return-origins/https%3A%2F%2Fapp.example.com".into(),
            None,
        ),
        (
            Method::DELETE,
            "/integrations/roserocket/oauth-app".into(),
            None,
        ),
    ];
    let mut documented = Vec::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let mut exercised = Vec::new();
    for (method, path, body) in calls {
        let template = openapi_template(&document, &path);
        let (status, answer) = h.admin(method.clone(), &path, body).await;
        let responses = &document["paths"][&template][method.as_str().to_lowercase()]["responses"];
        assert!(
            responses.get(status.to_string()).is_some(),
            "{method} {path} answered {status} ({answer}) but the document lists {responses}"
        );
        exercised.push(format!("{method} {template}"));
    }
    documented.sort();
    exercised.sort();
    assert_eq!(
        exercised, documented,
        "every documented route was called, and only those"
    );
}

/// The document's path template that a concrete path matches: the one with the fewest
/// parameters, as the router prefers `/integrated-account/connect` to `/integrated-account/{id}`.
fn openapi_template(document: &Value, path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
        })
        .min_by_key(|template| template.matches('{').count())
        .unwrap_or_else(|| panic!("{path} is not in the document"))
        .clone()
}

#[tokio::test]
async fn tool_allow_lists_combine_with_the_other_filters() {
    let h = start().await;
    let account = h.account("e_desk").await;
    let ticket = "get_single_e_desk_ticket_by_id";
    let tag = "get_single_e_desk_tag_by_id";
    let note = "create_a_e_desk_order_note";

    // methods ∩ tools: the write tool on the list is still filtered out by `methods`.
    let (id, url) = h
        .server(
            &account,
            json!({"methods": ["read"], "tools": [ticket, tag, note]}),
        )
        .await;
    assert_eq!(h.tool_names(&url).await, vec![tag, ticket]);
    let refused = h.call(&url, note, json!({})).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");

    // − exclude_tools, merged into the stored config without touching the other filters.
    let (status, body) = patch_server(
        &h,
        &account,
        &id,
        json!({"config": {"exclude_tools": [tag]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["tools"], json!([ticket, tag, note]));
    assert!(body.get("warnings").is_none(), "{body}");
    assert_eq!(h.tool_names(&url).await, vec![ticket]);
    let called = h.call(&url, ticket, json!({"ticketId": 1})).await;
    assert_eq!(called["result"]["isError"], false, "{called}");

    // Unknown names are refused with the valid ones listed.
    let (status, body) = patch_server(
        &h,
        &account,
        &id,
        json!({"config": {"tools": ["no_such_tool"]}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_tools");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(ticket),
        "{body}"
    );
    let (status, body) = patch_server(
        &h,
        &account,
        &id,
        json!({"config": {"exclude_tools": ["nope"]}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_exclude_tools");

    // A config that leaves nothing is a 422, and the stored config is unchanged.
    let (status, body) = patch_server(
        &h,
        &account,
        &id,
        json!({"config": {"exclude_tools": [ticket, tag]}}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "no_tools");
    assert_eq!(h.tool_names(&url).await, vec![ticket]);
}

/// Every admin API body is a JSON object: an array, which serde would read into a struct field
/// by field, renames nothing and creates nothing.
#[tokio::test]
async fn admin_bodies_that_are_not_objects_change_nothing() {
    let h = start().await;
    let account = h.account("malomo").await;
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/integrated-account/{account}"),
            json!(["renamed"]),
        ),
        (
            Method::POST,
            format!("/integrated-account/{account}/mcp"),
            json!(["support"]),
        ),
        (
            Method::POST,
            "/integrated-account".to_owned(),
            json!("malomo"),
        ),
        (
            Method::PUT,
            "/integrations/roserocket/oauth-app".to_owned(),
            json!(7),
        ),
    ] {
        let (status, answer) = h.admin(method, &path, Some(body)).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_json", "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("must be a JSON object"),
            "{answer}"
        );
    }
    let (_, shown) = h
        .admin(Method::GET, &format!("/integrated-account/{account}"), None)
        .await;
    assert_eq!(shown["name"], "acme");
    let (_, servers) = h
        .admin(
            Method::GET,
            &format!("/integrated-account/{account}/mcp"),
            None,
        )
        .await;
    assert_eq!(servers.as_array().map(Vec::len), Some(0), "{servers}");
}

/// The admin API says what a new or changed server exposes, and warns when every method is
/// open.
#[tokio::test]
async fn a_server_says_how_many_of_its_tools_write() {
    let h = start().await;
    let account = h.account("malomo").await;
    let path = format!("/integrated-account/{account}/mcp");
    let (status, wide) = h
        .admin(Method::POST, &path, Some(json!({"name": "wide"})))
        .await;
    assert_eq!(status, 201, "{wide}");
    assert!(wide["exposes"]["writes"].as_u64().unwrap() > 0, "{wide}");
    assert!(
        wide["warnings"].to_string().contains("every method"),
        "{wide}"
    );
    let id = wide["id"].as_str().unwrap();
    let (status, narrowed) = h
        .admin(
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(json!({"config": {"methods": ["read"]}})),
        )
        .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["exposes"]["writes"], 0, "{narrowed}");
    assert!(narrowed.get("warnings").is_none(), "{narrowed}");
}

/// Every admin API error names the field at fault in JSON's words, never Rust's or serde's,
/// and unknown routes and wrong methods answer the same envelope.
#[tokio::test]
async fn api_errors_name_the_field_and_speak_json() {
    let h = start().await;
    let account = h.account("malomo").await;
    let servers = format!("/integrated-account/{account}/mcp");
    for (method, path, body, field) in [
        (
            Method::POST,
            servers.clone(),
            json!({"name": "n", "config": {"max_result_bytes": "big"}}),
            "config.max_result_bytes",
        ),
        (
            Method::POST,
            servers.clone(),
            json!({"name": "n", "config": {"max_result_bytes": 10}}),
            "config.max_result_bytes",
        ),
        (
            Method::POST,
            servers.clone(),
            json!({"name": "n", "config": {"tool_exposure": "some"}}),
            "config.tool_exposure",
        ),
        (
            Method::PATCH,
            format!("/integrated-account/{account}"),
            json!({"nme": "typo"}),
            "nme",
        ),
        (
            Method::POST,
            "/integrated-account".to_owned(),
            json!({"integration": "malomo"}),
            "name",
        ),
        (
            Method::POST,
            servers.clone(),
            json!({"name": "n", "config": {"methods": ["sideways"]}}),
            "config.methods",
        ),
    ] {
        let (status, answer) = h.admin(method, &path, Some(body)).await;
        assert!(matches!(status, 400 | 422), "{path}: {status} {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        for rust in [
            "u32",
            "usize",
            "struct ",
            "variant",
            "Failed to deserialize",
            "line 1",
        ] {
            assert!(!message.contains(rust), "`{rust}` in {message}");
        }
    }
    for (method, path, status, code) in [
        (Method::GET, "/no/such/route", 404, "not_found"),
        (Method::DELETE, "/openapi.json", 405, "method_not_allowed"),
        (
            Method::PUT,
            "/integrated-account",
            405,
            "method_not_allowed",
        ),
    ] {
        let response = h
            .http
            .request(method.clone(), format!("{}{path}", h.base))
            .bearer_auth(&h.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        if status == 405 {
            assert!(response.headers().contains_key("allow"), "{path}");
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    let index = h
        .http
        .get(&h.base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for link in ["/console", "/openapi.json", "/healthz", "/readyz"] {
        assert!(index.contains(&format!("href=\"{link}\"")), "{index}");
    }
}

/// A wildcard over a public suffix is refused, and a host vendor requests can never reach is
/// allowed with a warning that says so.
#[tokio::test]
async fn upstream_hosts_refuse_public_suffix_wildcards_and_warn_on_unreachable_hosts() {
    let h = start_secure().await;
    let allow = |host: &'static str| {
        h.admin(
            Method::POST,
            "/integrations/malomo/upstream-hosts",
            Some(json!({"host": host})),
        )
    };
    for public in ["*.com", "*.io", "*.co.uk", "*.com.au"] {
        let (status, body) = allow(public).await;
        assert_eq!(status, 400, "{public}: {body}");
        assert_eq!(body["error"]["field"], "host", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("public suffix"),
            "{body}"
        );
    }
    for fine in ["*.gomalomo.com", "*.vendor.co.uk", "api.example.io"] {
        let (status, body) = allow(fine).await;
        assert_eq!(status, 201, "{fine}: {body}");
        assert!(body.get("warnings").is_none(), "{body}");
    }
    for unreachable in [
        "169.254.169.254",
        "localhost",
        "metadata.google.internal",
        "10.0.0.7",
    ] {
        let (status, body) = allow(unreachable).await;
        assert_eq!(status, 201, "{unreachable}: {body}");
        assert!(
            body["warnings"].to_string().contains("never reach"),
            "{unreachable}: {body}"
        );
    }
}

/// An API token may expire, and then opens nothing (the cached lookup included); lists show
/// each token's expiry and its last use, by the admin API or by a tool call.
#[tokio::test]
async fn api_tokens_expire_and_show_their_last_use() {
    use specgate_server::store::TokenScope;
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, guarded) = h
        .server(&account, json!({"require_api_token_auth": true}))
        .await;
    assert!(
        h.provisioner
            .create_api_token_until(
                "past",
                TokenScope::Admin,
                None,
                Some("2001-01-01T00:00:00Z")
            )
            .await
            .is_err(),
        "an expiry in the past is refused"
    );
    let (record, token) = h
        .provisioner
        .create_api_token_until(
            "temporary",
            TokenScope::Admin,
            None,
            Some("2099-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let admin = |bearer: String| {
        let h = &h;
        async move {
            h.http
                .get(format!("{}/integrated-account", h.base))
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let last_use = |id: String| {
        let h = &h;
        async move {
            let listed = h.provisioner.list_api_tokens().await.unwrap();
            listed
                .iter()
                .find(|t| t.token.id == id)
                .unwrap()
                .last_used_ms
        }
    };
    assert_eq!(last_use(record.id.clone()).await, None, "never used yet");
    let changes = || {
        let database = h.database.clone();
        async move {
            let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&database)
                .await
                .unwrap();
            sqlx::query_scalar::<_, i64>("SELECT n FROM change_counter")
                .fetch_one(&mut connection)
                .await
                .unwrap()
        }
    };
    let before = changes().await;
    assert_eq!(admin(token.clone()).await, 200);
    assert!(
        last_use(record.id.clone()).await.is_some(),
        "admin API use is recorded at once"
    );
    assert_eq!(
        changes().await,
        before,
        "recording a use empties no instance's caches"
    );
    // A token used only as a second factor: its last use is its last tool call.
    let (caller, caller_token) = h
        .provisioner
        .create_api_token("caller", TokenScope::Mcp, None)
        .await
        .unwrap();
    let called = h
        .rpc_raw(
            &guarded,
            "tools/call",
            json!({"name": "list_all_malomo_webhooks", "arguments": {}}),
            Some(&caller_token),
        )
        .await;
    assert_eq!(called.status(), 200);
    let listed = h.provisioner.list_api_tokens().await.unwrap();
    let shown =
        serde_json::to_value(listed.iter().find(|t| t.token.id == record.id).unwrap()).unwrap();
    assert!(shown["expires_at"].as_i64().unwrap() > 0, "{shown}");
    // The audit log is written in batches: wait for the call's row, with a generous deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while last_use(caller.id.clone()).await.is_none() {
        assert!(std::time::Instant::now() < deadline, "no last use recorded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Expired: the admin API and the second factor refuse it.
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&h.database)
        .await
        .unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE name = 'temporary'")
        .execute(&mut connection)
        .await
        .unwrap();
    drop(connection);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while admin(token.clone()).await != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired token still opens"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let refused = h
        .rpc_raw(&guarded, "tools/list", json!({}), Some(&token))
        .await;
    assert_eq!(refused.status(), 401);
    // Nor does the console, whose sign-in is the admin API's rule.
    let console = h
        .http
        .post(format!("{}/console/login", h.base))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        console.status(),
        401,
        "an expired admin token signs in to nothing"
    );
}
