//! Every compiled tool of every vendor answers from the sandboxes, so `specgate demo` has no
//! dead tools: each is called with arguments built from its own input schema.

mod common;

use serde_json::{Map, Value, json};

/// The smallest arguments the schema requires: enums take their first value, and ids the
/// sandbox fixtures know.
fn minimal_arguments(integration: &str, schema: &Value) -> Value {
    let mut arguments = Map::new();
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

#[tokio::test]
async fn every_tool_of_every_vendor_answers_from_the_sandboxes() {
    let h = common::start().await;
    let mut failures = Vec::new();
    let mut called = 0;
    for integration in specgate_api::INTEGRATIONS {
        let account = h.account(integration.name).await;
        let (_, url) = h.server(&account, json!({})).await;
        for tool in integration.tools {
            let schema: Value = serde_json::from_str(tool.input_schema).unwrap();
            let arguments = minimal_arguments(integration.name, &schema);
            let answer = h.call(&url, tool.name, arguments.clone()).await;
            called += 1;
            if answer["result"]["isError"] != false {
                failures.push(format!("{} {arguments}: {answer}", tool.name));
            }
        }
    }
    assert_eq!(called, 55, "every compiled tool was called");
    assert!(
        failures.is_empty(),
        "tools the sandboxes do not serve:\n{}",
        failures.join("\n")
    );
}
