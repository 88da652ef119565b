//! MCP clients that are not ours: the official TypeScript and Python SDK clients, each over
//! streamable HTTP and legacy HTTP+SSE, and the official conformance suites, run against a
//! real specgate server. `scripts/test.sh` installs them.

mod common;

use std::process::Command;

use common::{external, node, scripts, start};
use serde_json::{Value, json};

fn python() -> Option<String> {
    let path = scripts().join(".venv/bin/python");
    external(
        "the MCP Python SDK (scripts/.venv from scripts/requirements.txt)",
        path.exists().then(|| path.display().to_string()),
    )
}

/// Runs one official SDK client (`mcp-client.mjs` or `mcp_client.py`) on one transport
/// against a read-only server (at its URL plus `suffix`, e.g. `/portable`) and checks what
/// it saw.
async fn official_client_lists_calls_pages_and_is_refused(
    interpreter: String,
    script: &str,
    transport: &str,
    suffix: &str,
) {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"methods": ["read"]})).await;
    let url = format!("{url}{suffix}");
    let (script, transport_arg) = (scripts().join(script), transport.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(interpreter)
            .arg(script)
            .arg(url)
            .arg(transport_arg)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{transport}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["server"]["name"], "specgate");
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tools.contains(&"list_all_malomo_orders"),
        "{transport}: {tools:?}"
    );
    assert!(
        tools
            .iter()
            .all(|t| t.starts_with("list_all_") || t.starts_with("get_single_")),
        "{transport}: {tools:?}"
    );
    assert_eq!(
        seen["ids"],
        json!(["ord_0001", "ord_0002", "ord_0003", "ord_0004", "ord_0005"]),
        "{transport}"
    );
    assert_eq!(seen["pages"], 3, "{transport}");
    assert_eq!(seen["refused"], -32602, "{transport}");
    // The seed vendor's tool names are listed as the vendor documentation gives them.
    let seed = "get_single_malomo_orders_by_tracking_code_by_id";
    assert!(tools.contains(&seed), "{transport}: {tools:?}");
    assert_eq!(
        seen["tracking"]["isError"], false,
        "{transport}: {}",
        seen["tracking"]
    );
    assert_eq!(seen["tracking"]["deprecated"], Value::Null, "{transport}");
    let text = seen["tracking"]["text"].as_str().unwrap();
    assert!(text.contains("ord_0003"), "{transport}: {text}");
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn official_typescript_client_over_streamable_http() {
    let Some(node) = node() else { return };
    official_client_lists_calls_pages_and_is_refused(node, "mcp-client.mjs", "streamable", "")
        .await;
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn official_typescript_client_over_legacy_sse() {
    let Some(node) = node() else { return };
    official_client_lists_calls_pages_and_is_refused(node, "mcp-client.mjs", "sse", "").await;
}

#[tokio::test]
#[ignore = "needs the MCP Python SDK; scripts/test.sh installs it"]
async fn official_python_client_over_streamable_http() {
    let Some(python) = python() else { return };
    official_client_lists_calls_pages_and_is_refused(python, "mcp_client.py", "streamable", "")
        .await;
}

#[tokio::test]
#[ignore = "needs the MCP Python SDK; scripts/test.sh installs it"]
async fn official_python_client_over_legacy_sse() {
    let Some(python) = python() else { return };
    official_client_lists_calls_pages_and_is_refused(python, "mcp_client.py", "sse", "").await;
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn official_typescript_client_over_portable_streamable_http() {
    let Some(node) = node() else { return };
    official_client_lists_calls_pages_and_is_refused(
        node,
        "mcp-client.mjs",
        "streamable",
        "/portable",
    )
    .await;
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn official_typescript_client_over_portable_legacy_sse() {
    let Some(node) = node() else { return };
    official_client_lists_calls_pages_and_is_refused(node, "mcp-client.mjs", "sse", "/portable")
        .await;
}

#[tokio::test]
#[ignore = "needs the MCP Python SDK; scripts/test.sh installs it"]
async fn official_python_client_over_portable_streamable_http() {
    let Some(python) = python() else { return };
    official_client_lists_calls_pages_and_is_refused(
        python,
        "mcp_client.py",
        "streamable",
        "/portable",
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the MCP Python SDK; scripts/test.sh installs it"]
async fn official_python_client_over_portable_legacy_sse() {
    let Some(python) = python() else { return };
    official_client_lists_calls_pages_and_is_refused(python, "mcp_client.py", "sse", "/portable")
        .await;
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn official_conformance_suites_pass() {
    let Some(_) = node() else { return };
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({})).await;
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(scripts().join("conformance.sh"))
            .arg(url)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "conformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!stdout.contains("Unexpected failures"), "{stdout}");
}

/// Runs an official SDK client's discovery script against a read-only discovery server.
async fn official_client_discovers(interpreter: String, script: &str) {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h
        .server(
            &account,
            json!({"methods": ["read"], "tool_exposure": "discovery"}),
        )
        .await;
    let script = scripts().join(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(interpreter).arg(script).arg(url).output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        seen["listed"],
        json!(["search_tools", "get_tool_schema", "call_tool"]),
        "{seen}"
    );
    assert!(
        seen["found"]
            .as_array()
            .unwrap()
            .contains(&json!("list_all_malomo_orders")),
        "{seen}"
    );
    assert_eq!(
        seen["writes"],
        json!([]),
        "a read-only server finds no write tool: {seen}"
    );
    assert_eq!(seen["describedType"], "object", "{seen}");
    assert_eq!(seen["items"], 2, "{seen}");
    assert_eq!(
        seen["refused"], -32602,
        "a write tool is not callable: {seen}"
    );
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn the_typescript_sdk_client_discovers_and_calls() {
    let Some(node) = node() else { return };
    official_client_discovers(node, "mcp-discovery-client.mjs").await;
}

#[tokio::test]
#[ignore = "needs the MCP Python SDK; scripts/test.sh installs it"]
async fn the_python_sdk_client_discovers_and_calls() {
    let Some(python) = python() else { return };
    official_client_discovers(python, "mcp_discovery_client.py").await;
}
