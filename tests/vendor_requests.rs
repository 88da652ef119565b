//! Every seed tool's request builder produces the request the vendor documents.

use serde_json::{Value, json};
use specgate_api::find_tool;
use specgate_api::runtime::{Args, HttpMethod, HttpRequest};

fn build(tool: &str, args: Value) -> HttpRequest {
    let def = find_tool(tool).unwrap_or_else(|| panic!("tool {tool} is not compiled"));
    let args: Args = args.as_object().cloned().unwrap_or_default();
    (def.build)(&args).unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn query(request: &HttpRequest) -> Vec<(&str, &str)> {
    request
        .query
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect()
}

#[test]
fn malomo_requests() {
    let r = build(
        "list_all_malomo_orders",
        json!({"alternate_id": "shop_1", "customer_email": "a@b.c", "number": "#1001", "tracking_code": "9400"}),
    );
    assert_eq!((r.method, r.path.as_str()), (HttpMethod::Get, "/orders"));
    assert_eq!(
        query(&r),
        vec![
            ("alternate_id", "shop_1"),
            ("tracking_code", "9400"),
            ("number", "#1001"),
            ("customer_email", "a@b.c")
        ]
    );
    let r = build("get_single_malomo_order_by_id", json!({"id": "ord 1\\?#"}));
    assert_eq!(r.path, "/orders/ord%201%5C%3F%23");
    let def = find_tool("get_single_malomo_order_by_id").unwrap();
    for escaping in ["ord/../1", "ord/1", "ord%2F1"] {
        let args: Args = json!({"id": escaping}).as_object().cloned().unwrap();
        assert_eq!((def.build)(&args).unwrap_err().field, "id", "{escaping}");
    }
    let r = build(
        "get_single_malomo_orders_by_tracking_code_by_id",
        json!({"id": "9400111"}),
    );
    assert_eq!(
        (r.method, r.path.as_str(), query(&r)),
        (
            HttpMethod::Get,
            "/orders",
            vec![("tracking_code", "9400111")]
        )
    );
    let r = build("list_all_malomo_order_events", json!({"order_id": "ord_1"}));
    assert_eq!(r.path, "/orders/ord_1/events");
    let r = build(
        "update_a_malomo_order_by_id",
        json!({"id": "ord_1", "customer": null, "shipments": [{"carrier": "usps", "tracking_code": "1"}]}),
    );
    assert_eq!(
        (r.method, r.path.as_str()),
        (HttpMethod::Put, "/orders/ord_1")
    );
    assert_eq!(
        r.body,
        Some(json!({"customer": null, "shipments": [{"carrier": "usps", "tracking_code": "1"}]}))
    );
    let update = find_tool("update_a_malomo_order_by_id").unwrap();
    assert!(update.annotations.destructive && update.description.contains("REPLACES"));
    assert_eq!(
        build("list_all_malomo_customers", json!({})).path,
        "/customers"
    );
    let r = build(
        "create_a_malomo_webhook",
        json!({"topic": "events:created", "url": "https://x.test/h"}),
    );
    assert_eq!(
        (r.method, r.path.as_str(), r.body),
        (
            HttpMethod::Post,
            "/webhooks",
            Some(json!({"topic": "events:created", "url": "https://x.test/h"}))
        )
    );
    assert_eq!(
        build("list_all_malomo_webhooks", json!({})).path,
        "/webhooks"
    );
    assert_eq!(
        specgate_api::find_integration("malomo")
            .unwrap()
            .default_headers,
        &[("Accept", "application/vnd.malomo+json; version=2")]
    );
}

#[test]
fn edesk_requests() {
    let r = build(
        "list_all_e_desk_tickets",
        json!({"filter_status_equals": "Open", "limit": 10}),
    );
    assert_eq!(
        (r.path.as_str(), query(&r), r.page_limit),
        ("/tickets", vec![("filter_status_equals", "Open")], Some(10))
    );
    assert_eq!(
        build("get_single_e_desk_ticket_by_id", json!({"ticketId": 5})).path,
        "/tickets/5"
    );
    let r = build(
        "update_a_e_desk_ticket_by_id",
        json!({"ticketId": 5, "status": "Closed"}),
    );
    assert_eq!(
        (r.method, r.body),
        (HttpMethod::Put, Some(json!({"status": "Closed"})))
    );
    assert_eq!(
        build(
            "get_single_e_desk_sales_order_by_id",
            json!({"salesOrderId": 9})
        )
        .path,
        "/sales-orders/9"
    );
    let r = build(
        "create_a_e_desk_message",
        json!({"ticket_id": 5, "type": "Note", "body": "hi", "direction": "Outgoing"}),
    );
    assert_eq!((r.method, r.path.as_str()), (HttpMethod::Post, "/messages"));
    assert_eq!(
        r.body,
        Some(json!({"ticket_id": 5, "type": "Note", "body": "hi", "direction": "Outgoing"}))
    );
    let missing = (find_tool("create_a_e_desk_message").unwrap().build)(
        &json!({"type": "Note", "body": "x"})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .unwrap_err();
    assert_eq!(missing.to_string(), "argument `ticket_id`: is required");
    assert_eq!(
        build("list_all_e_desk_order_notes", json!({})).path,
        "/order-notes"
    );
    let r = build(
        "create_a_e_desk_order_note",
        json!({"sales_order_id": 9, "text": "called"}),
    );
    assert_eq!(
        (r.method, r.body),
        (
            HttpMethod::Post,
            Some(json!({"sales_order_id": 9, "text": "called"}))
        )
    );
    assert_eq!(
        build("list_all_e_desk_templates", json!({})).path,
        "/templates"
    );
    assert_eq!(build("list_all_e_desk_tags", json!({})).path, "/tags");
}

#[test]
fn roserocket_requests() {
    let r = build(
        "list_all_roserocket_objects",
        json!({"objectKey": "invoice", "boardId": "b1", "limit": 5}),
    );
    assert_eq!(
        (r.method, r.path.as_str()),
        (HttpMethod::Post, "/objects/search")
    );
    assert_eq!(
        r.body,
        Some(json!({"objectKey": "invoice", "boardId": "b1"}))
    );
    let bad = (find_tool("list_all_roserocket_objects").unwrap().build)(
        &json!({"objectKey": "Invoice", "boardId": "b"})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("argument `objectKey`: must be one of customer, order, task")
    );
    let r = build(
        "get_single_roserocket_objects_external_by_id",
        json!({"objectKey": "customer", "externalId": "ERP 1\\2"}),
    );
    assert_eq!(
        (r.method, r.path.as_str()),
        (HttpMethod::Get, "/objects/customer/ERP%201%5C2/external")
    );
    let r = build(
        "update_a_roserocket_objects_external_by_id",
        json!({"objectKey": "order", "externalId": "SO-1", "json": {"status": "new"}}),
    );
    assert_eq!(
        (r.method, r.path.as_str(), r.body),
        (
            HttpMethod::Patch,
            "/objects/order/SO-1/external",
            Some(json!({"json": {"status": "new"}}))
        )
    );
    let r = build(
        "create_a_roserocket_event",
        json!({"recordId": "r", "boardId": "b", "type": "mutate", "json": {}}),
    );
    assert_eq!((r.method, r.path.as_str()), (HttpMethod::Post, "/events"));
    assert_eq!(
        build("list_all_roserocket_user_groups", json!({})).path,
        "/userGroups"
    );
    assert_eq!(
        build(
            "list_all_roserocket_user_group_members",
            json!({"groupId": "g1"})
        )
        .path,
        "/userGroups/g1/members"
    );
    let r = build(
        "update_a_roserocket_user_group_member_by_id",
        json!({"groupId": "g1", "add": ["u1"], "remove": []}),
    );
    assert_eq!(
        (r.method, r.path.as_str(), r.body),
        (
            HttpMethod::Post,
            "/userGroups/g1/members",
            Some(json!({"add": ["u1"], "remove": []}))
        )
    );
    assert_eq!(
        build("list_all_roserocket_boards", json!({"objectKey": "order"})).path,
        "/boards/nav"
    );
    let r = build(
        "get_single_roserocket_object_by_id",
        json!({"recordId": "r1", "paths": ["customer", "tasks.stops"]}),
    );
    assert_eq!(query(&r), vec![("paths", "customer,tasks.stops")]);
}

fn refused(tool: &str, args: Value) -> String {
    let def = find_tool(tool).unwrap_or_else(|| panic!("tool {tool} is not compiled"));
    let args: Args = args.as_object().cloned().unwrap_or_default();
    match (def.build)(&args) {
        Ok(request) => panic!("{tool} accepted {args:?} as {request:?}"),
        Err(error) => error.to_string(),
    }
}

/// Nested arguments are typed all the way down: each error names the full path.
#[test]
fn nested_arguments_are_checked_with_their_paths() {
    assert_eq!(
        refused(
            "create_a_malomo_order",
            json!({"shipments": [{"carrier": 5, "tracking_code": ["x"]}]})
        ),
        "argument `shipments[0].carrier`: expected string, got integer"
    );
    assert_eq!(
        refused("create_a_malomo_order", json!({"shipments": [{}]})),
        "argument `shipments[0].carrier`: is required"
    );
    assert_eq!(
        refused(
            "create_a_malomo_order",
            json!({"customer": {"email": "a@b.c", "nickname": "x"}})
        ),
        "argument `customer.nickname`: is not a field of this object (known: email, first_name, last_name, phone_number)"
    );
    assert!(
        refused(
            "list_all_e_desk_tickets",
            json!({"filter_status_equals": "Nope"})
        )
        .starts_with("argument `filter_status_equals`: must be one of ")
    );
    // A valid nested value is written back unchanged.
    let r = build(
        "create_a_malomo_order",
        json!({"shipments": [{"carrier": "usps", "tracking_code": "9400"}], "meta": {"k": [1]}}),
    );
    assert_eq!(
        r.body,
        Some(
            json!({"meta": {"k": [1]}, "shipments": [{"carrier": "usps", "tracking_code": "9400"}]})
        )
    );
}
