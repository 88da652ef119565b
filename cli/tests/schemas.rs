//! Every tool schema, full and portable, of the compiled registry and of the codegen
//! fixtures' snapshots, is valid against the JSON Schema 2020-12 metaschema, and compiles
//! with ECMA-262 `pattern` semantics (Ajv, installed by `scripts/test.sh`).

mod common;

use std::process::Command;

use common::{node, scripts};
use serde_json::{Value, json};

/// Tool schemas in the codegen snapshots (`tests/snapshots/codegen__tool_schemas*`).
fn fixture_schemas() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/snapshots");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("codegen__tool_schemas") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // An insta snapshot: a front-matter block between `---` lines, then the value.
        let body = text.splitn(3, "---").nth(2).unwrap();
        let tools: Value = serde_json::from_str(body).unwrap();
        for tool in tools.as_array().unwrap() {
            found.push(
                json!({"name": format!("{name}: {}", tool["name"]), "schema": tool["inputSchema"]}),
            );
        }
    }
    found
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn every_schema_is_valid_2020_12_with_ecma_patterns() {
    let Some(node) = node() else { return };
    let mut entries = Vec::new();
    for integration in specgate_api::integrations() {
        for tool in integration.tools {
            for (profile, text) in [
                ("full", tool.input_schema),
                ("portable", tool.input_schema_portable),
            ] {
                let schema: Value = serde_json::from_str(text).unwrap();
                entries
                    .push(json!({"name": format!("{} ({profile})", tool.name), "schema": schema}));
            }
        }
    }
    let compiled = entries.len();
    entries.extend(fixture_schemas());
    assert!(entries.len() > compiled, "the fixture snapshots were found");
    // Probes: a Unicode property escape is valid ECMA-262; a wrong keyword type is not valid.
    entries
        .push(json!({"name": "probe-valid", "schema": {"type": "string", "pattern": "^\\p{L}+$"}}));
    entries.push(json!({"name": "probe-invalid", "schema": {"type": 5}}));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schemas.json");
    std::fs::write(&file, serde_json::to_vec(&entries).unwrap()).unwrap();
    let output = Command::new(node)
        .arg(scripts().join("validate-schemas.mjs"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["checked"], entries.len());
    let invalid: Vec<&str> = report["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(invalid, ["probe-invalid"], "{}", report["invalid"]);
}
