//! The portable schema profile end to end: served at `/mcp/<token>/portable` or by a server's
//! `schema_profile`, its JSON-encoded arguments decoded before the typed parser, so the vendor
//! receives the same request as through the full profile.

mod common;

use common::start;
use serde_json::{Value, json};

/// Every tool a URL lists, with its input schema, across pages.
async fn schemas(h: &common::Harness, url: &str) -> Vec<(String, Value)> {
    let mut tools = Vec::new();
    let mut params = json!({});
    loop {
        let listed = h.rpc(url, "tools/list", params).await;
        for tool in listed["result"]["tools"].as_array().unwrap() {
            tools.push((
                tool["name"].as_str().unwrap().to_owned(),
                tool["inputSchema"].clone(),
            ));
        }
        match listed["result"]["nextCursor"].as_str() {
            Some(cursor) => params = json!({"cursor": cursor}),
            None => return tools,
        }
    }
}

/// What the profile forbids, anywhere in a schema.
fn portable_problems(schema: &Value, pointer: &str, problems: &mut Vec<String>) {
    let node = schema.as_object().unwrap();
    for keyword in [
        "$ref",
        "$defs",
        "anyOf",
        "oneOf",
        "allOf",
        "const",
        "additionalProperties",
        "default",
    ] {
        if node.contains_key(keyword) {
            problems.push(format!("{pointer}: {keyword}"));
        }
    }
    match node.get("type").and_then(Value::as_str) {
        Some("object") => match node.get("properties").and_then(Value::as_object) {
            Some(properties) => {
                for (name, property) in properties {
                    portable_problems(property, &format!("{pointer}/{name}"), problems);
                }
            }
            None => problems.push(format!("{pointer}: object without properties")),
        },
        Some("array") => match node.get("items") {
            Some(items) => portable_problems(items, &format!("{pointer}/items"), problems),
            None => problems.push(format!("{pointer}: array without items")),
        },
        Some(kind) if node.contains_key("enum") && kind != "string" => {
            problems.push(format!("{pointer}: enum on {kind}"));
        }
        Some(_) => {}
        None => problems.push(format!("{pointer}: not exactly one type")),
    }
}

fn last_body(h: &common::Harness) -> Value {
    let request = h.sandbox.requests().pop().unwrap();
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn portable_clients_get_simple_schemas_and_the_vendor_gets_the_same_request() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (server_id, url) = h.server(&account, json!({})).await;
    let portable_url = format!("{url}/portable");

    let full = schemas(&h, &url).await;
    let portable = schemas(&h, &portable_url).await;
    assert_eq!(
        full.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        portable.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "both profiles list the same tools"
    );
    for (name, schema) in &portable {
        let mut problems = Vec::new();
        portable_problems(schema, name, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }
    let find = |tools: &[(String, Value)], name: &str| {
        tools.iter().find(|(n, _)| n == name).unwrap().1.clone()
    };
    // A free-form object is a JSON-encoded string; a nullable object is an optional object.
    let create_full = find(&full, "create_a_malomo_order");
    let create_portable = find(&portable, "create_a_malomo_order");
    assert_eq!(create_full["properties"]["meta"]["type"], "object");
    assert_eq!(create_portable["properties"]["meta"]["type"], "string");
    assert!(
        create_portable["properties"]["meta"]["description"]
            .as_str()
            .unwrap()
            .contains("JSON-encoded")
    );
    let update_full = find(&full, "update_a_malomo_order_by_id");
    let update_portable = find(&portable, "update_a_malomo_order_by_id");
    assert!(update_full["properties"]["customer"]["anyOf"].is_array());
    assert_eq!(update_portable["properties"]["customer"]["type"], "object");

    // The same order through both profiles: the vendor sees identical bodies.
    let order = |meta: Value| {
        json!({"number": "#2001", "email": "ada@example.com", "meta": meta,
               "shipments": [{"carrier": "usps", "tracking_code": "9400111"}]})
    };
    let through_full = h
        .call(
            &url,
            "create_a_malomo_order",
            order(json!({"shopify_order": {"order_id": 7}})),
        )
        .await;
    assert_ne!(through_full["result"]["isError"], true, "{through_full}");
    let full_body = last_body(&h);
    let through_portable = h
        .call(
            &portable_url,
            "create_a_malomo_order",
            order(json!("{\"shopify_order\": {\"order_id\": 7}}")),
        )
        .await;
    assert_ne!(
        through_portable["result"]["isError"], true,
        "{through_portable}"
    );
    assert_eq!(last_body(&h), full_body);
    assert_eq!(full_body["meta"], json!({"shopify_order": {"order_id": 7}}));

    // The nullable customer: an object through either profile, and omitted in portable.
    let customer = json!({"id": "ord_0001", "customer": {"email": "grace@example.com"}});
    h.call(&url, "update_a_malomo_order_by_id", customer.clone())
        .await;
    let full_update = last_body(&h);
    h.call(&portable_url, "update_a_malomo_order_by_id", customer)
        .await;
    assert_eq!(last_body(&h), full_update);

    // On the full profile a string stays a string, and the parser names the argument.
    let refused = h
        .call(&url, "create_a_malomo_order", order(json!("{\"a\": 1}")))
        .await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(refused.to_string().contains("meta"), "{refused}");
    // On the portable profile, text that is not JSON is refused the same way.
    let bad = h
        .call(
            &portable_url,
            "create_a_malomo_order",
            order(json!("not json")),
        )
        .await;
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    assert!(bad.to_string().contains("meta"), "{bad}");

    // A server configured as portable serves it on its plain URL; the preview says so.
    let (status, _) = h
        .admin(
            reqwest::Method::PATCH,
            &format!("/integrated-account/{account}/mcp/{server_id}"),
            Some(json!({"config": {"schema_profile": "portable"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(schemas(&h, &url).await, portable);
    let (_, preview) = h
        .admin(
            reqwest::Method::GET,
            &format!("/integrated-account/{account}/mcp/{server_id}/tools"),
            None,
        )
        .await;
    assert!(
        preview
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["schemaProfile"] == "portable")
    );
    let (_, full_preview) = h
        .admin(
            reqwest::Method::GET,
            &format!("/integrated-account/{account}/mcp/{server_id}/tools?profile=full"),
            None,
        )
        .await;
    assert_eq!(full_preview[0]["schemaProfile"], "full");
    let (status, refused) = h
        .admin(
            reqwest::Method::PATCH,
            &format!("/integrated-account/{account}/mcp/{server_id}"),
            Some(json!({"config": {"schema_profile": "simple"}})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["error"]["field"], "config.schema_profile",
        "{refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`simple` is not one of: full or portable"),
        "{refused}"
    );
}

#[tokio::test]
async fn encoded_arguments_inside_arrays_are_decoded() {
    let h = start().await;
    let account = h.account("roserocket").await;
    let (_, url) = h.server(&account, json!({})).await;
    let portable_url = format!("{url}/portable");
    let filters = |value: Value| json!({"objectKey": "order", "boardId": "3f8e2a4c-0d1b-4c6e-9a7f-2b5d8e1c4a90", "filters": [{"path": "status", "operator": "in", "value": value}]});
    let direct = h
        .call(
            &url,
            "list_all_roserocket_objects",
            filters(json!(["open", "held"])),
        )
        .await;
    assert_ne!(direct["result"]["isError"], true, "{direct}");
    let full_body = last_body(&h);
    let encoded = h
        .call(
            &portable_url,
            "list_all_roserocket_objects",
            filters(json!("[\"open\", \"held\"]")),
        )
        .await;
    assert_ne!(encoded["result"]["isError"], true, "{encoded}");
    assert_eq!(last_body(&h), full_body);
    assert_eq!(full_body["filters"][0]["value"], json!(["open", "held"]));
}
