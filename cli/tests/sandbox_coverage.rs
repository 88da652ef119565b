//! Every compiled tool of every vendor answers from the sandboxes, so `specgate demo` has no
//! dead tools: each is called with arguments built from its own input schema.

mod common;

use common::minimal_arguments;
use serde_json::{Value, json};

#[tokio::test]
async fn every_tool_of_every_vendor_answers_from_the_sandboxes() {
    let h = common::start().await;
    let mut failures = Vec::new();
    let mut called = 0;
    for integration in specgate_api::integrations() {
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
