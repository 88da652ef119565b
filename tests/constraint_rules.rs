//! The constraints a fixture publishes at every depth are enforced by its generated parser,
//! with Ajv's semantics and the full path in each error.
#![deny(warnings)]

mod constraints {
    include!("expanded/constraints.rs");
}

use serde_json::{Value, json};

fn build(arguments: Value) -> Result<specgate_runtime::HttpRequest, String> {
    let tool = &constraints::INTEGRATION.tools[0];
    (tool.build)(arguments.as_object().unwrap()).map_err(|e| e.to_string())
}

fn order(extra: Value) -> Value {
    let mut order = json!({"lines": [{"sku": "AB-12", "quantity": 2, "price": 2.5}]});
    for (key, value) in extra.as_object().unwrap() {
        order[key] = value.clone();
    }
    order
}

#[test]
fn a_valid_order_builds() {
    let request = build(order(json!({
        "channel": "商店abc",
        "batch": "b-1",
        "legacy": "anything: its pattern was dropped",
        "tags": ["a", "b"],
        "metadata": {"k": "short"},
        "category": {"name": "root", "children": [{"name": "leaf", "children": []}]},
        "code": "A1",
        "reference": {"external": "ext"}
    })))
    .unwrap();
    assert_eq!(request.path, "/orders");
}

#[test]
fn each_constraint_names_its_path() {
    for (extra, error) in [
        (json!({"lines": []}), "argument `lines`: at least 1 item"),
        (
            json!({"lines": [{"sku": "AB"}]}),
            "argument `lines[0].sku`: at least 3 characters",
        ),
        (
            json!({"lines": [{"sku": "AB-12"}, {"sku": "ab-12"}]}),
            "argument `lines[1].sku`: does not match the pattern ^[A-Z0-9\\-]+$",
        ),
        (
            json!({"lines": [{"sku": "AB-12", "quantity": 100}]}),
            "argument `lines[0].quantity`: must be at most 99",
        ),
        (
            json!({"lines": [{"sku": "AB-12", "price": 0}]}),
            "argument `lines[0].price`: must be greater than 0",
        ),
        (
            json!({"lines": [{"sku": "AB-12", "price": 0.07}]}),
            "argument `lines[0].price`: must be a multiple of 0.01",
        ),
        (
            json!({"lines": [{"sku": "AB-12", "discount": -50.5}]}),
            "argument `lines[0].discount`: must be at least -50",
        ),
        (
            json!({"tags": ["a", "b", "a"]}),
            "argument `tags`: items must be unique ([0] and [2] are equal)",
        ),
        (
            json!({"metadata": {}}),
            "argument `metadata`: at least 1 property",
        ),
        (
            json!({"metadata": {"a": "1", "b": "2", "c": "3"}}),
            "argument `metadata`: at most 2 properties",
        ),
        (
            json!({"metadata": {"a": "much too long"}}),
            "argument `metadata.a`: at most 10 characters",
        ),
        (
            json!({"category": {"children": [{"children": [{"name": "a name longer than twenty"}]}]}}),
            "argument `category.children[0].children[0].name`: at most 20 characters",
        ),
        (
            json!({"code": "ABCDE"}),
            "argument `code`: at most 4 characters",
        ),
        (
            json!({"code": 10000}),
            "argument `code`: must be at most 9999",
        ),
        (
            json!({"reference": {"external": "x"}}),
            "argument `reference.external`: at least 2 characters",
        ),
        (
            json!({"channel": "商店ABC"}),
            "argument `channel`: does not match the pattern ^[\\p{Script=Han}a-z]+$",
        ),
        (
            json!({"batch": "a/b"}),
            "argument `batch`: does not match the pattern ^[^/:|\\x00-\\x1f]+$",
        ),
    ] {
        assert_eq!(build(order(extra.clone())).unwrap_err(), error, "{extra}");
    }
}

#[test]
fn the_published_schema_holds_the_patterns_it_enforces() {
    let tool = &constraints::INTEGRATION.tools[0];
    let schema: Value = serde_json::from_str(tool.input_schema).unwrap();
    assert_eq!(
        schema["properties"]["channel"]["pattern"],
        "^[\\p{Script=Han}a-z]+$"
    );
    assert_eq!(
        schema["properties"]["batch"]["pattern"],
        "^[^/:|\\x00-\\x1f]+$"
    );
    assert!(schema["properties"]["legacy"].get("pattern").is_none());
}
