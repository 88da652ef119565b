//! Every constraint an OpenAPI operation's arguments carry in the source spec (after `$ref`
//! resolution) is in the tool's published input schema, or the generator said why not: a
//! constraint lost in lowering would be lost on both sides of the Ajv differential
//! (`cli/tests/argument_parsers.rs`), which judges instances by the published schema.
//! Checked over every fixture and every seed vendor's OpenAPI document.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value};
use specgate_codegen::{PaginationIr, SpecFile, VendorInput, generate, read_specs_dir};

/// The keywords that refuse values (as opposed to describing them).
const CONSTRAINTS: [&str; 14] = [
    "maxLength",
    "minLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "enum",
];

/// A constraint as `keyword=value`, numbers written alike whatever their JSON form (`1`, `1.0`).
fn constraint(keyword: &str, value: &Value) -> String {
    let value = match value {
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string()),
        other => other.to_string(),
    };
    format!("{keyword}={value}")
}

fn fixture_inputs() -> Vec<VendorInput> {
    let mut paths: Vec<_> = std::fs::read_dir("tests/fixtures")
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let file = path.file_name().unwrap().to_string_lossy();
            VendorInput {
                dir: name.clone(),
                files: vec![SpecFile {
                    path: format!("{name}/{file}"),
                    text: std::fs::read_to_string(path).unwrap(),
                }],
            }
        })
        .collect()
}

/// What a local `$ref` points at.
fn resolve<'a>(node: &'a Value, document: &'a Value) -> Option<&'a Value> {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => document.pointer(reference.strip_prefix('#')?),
        None => Some(node),
    }
}

/// The constraints in `schema` and everything it contains, following local references once.
fn source_constraints(
    schema: &Value,
    document: &Value,
    seen: &mut BTreeSet<String>,
    out: &mut BTreeSet<String>,
) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str)
        && !seen.insert(reference.to_owned())
    {
        return;
    }
    let Some(Value::Object(schema)) = resolve(schema, document) else {
        return;
    };
    for keyword in CONSTRAINTS {
        let Some(value) = schema.get(keyword) else {
            continue;
        };
        match (keyword, value) {
            // OpenAPI 3.0's boolean form qualifies `minimum`/`maximum`.
            ("exclusiveMinimum" | "exclusiveMaximum", Value::Bool(_)) => {}
            ("uniqueItems", Value::Bool(false)) => {}
            _ => {
                out.insert(constraint(keyword, value));
            }
        }
    }
    for (bound, exclusive) in [
        ("minimum", "exclusiveMinimum"),
        ("maximum", "exclusiveMaximum"),
    ] {
        if let (Some(value), Some(Value::Bool(true))) = (schema.get(bound), schema.get(exclusive)) {
            out.remove(&constraint(bound, value));
            out.insert(constraint(exclusive, value));
        }
    }
    let mut children: Vec<&Value> = Vec::new();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        children.extend(properties.values());
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Value::Object(_)) = schema.get(key) {
            children.push(child);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            children.extend(branches);
        }
    }
    for child in children {
        source_constraints(child, document, seen, out);
    }
}

/// The constraints of an operation's path and query parameters and JSON body, but for the
/// parameters in `uniform` (which the tool's uniform paging arguments replace).
fn operation_constraints(
    document: &Value,
    pointer: &str,
    uniform: &[&str],
) -> Option<BTreeSet<String>> {
    let operation = document.pointer(pointer)?.as_object()?;
    let path_item = document.pointer(&pointer[..pointer.rfind('/')?])?;
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let parameters = [path_item.get("parameters"), operation.get("parameters")];
    for parameter in parameters
        .into_iter()
        .flatten()
        .flat_map(|p| p.as_array())
        .flatten()
    {
        let Some(parameter) = resolve(parameter, document) else {
            continue;
        };
        if parameter
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| uniform.contains(&name))
        {
            continue;
        }
        match parameter.get("in").and_then(Value::as_str) {
            Some("path" | "query") => {
                // Swagger 2 puts a parameter's schema keywords on the parameter itself.
                let schema = parameter.get("schema").unwrap_or(parameter);
                source_constraints(schema, document, &mut seen, &mut out);
            }
            Some("body") => {
                if let Some(schema) = parameter.get("schema") {
                    source_constraints(schema, document, &mut seen, &mut out);
                }
            }
            _ => {}
        }
    }
    let body = operation
        .get("requestBody")
        .and_then(|b| resolve(b, document));
    if let Some(Value::Object(media)) = body.and_then(|b| b.get("content")) {
        let json = media
            .iter()
            .find(|(kind, _)| kind.contains("json"))
            .or_else(|| media.iter().next());
        if let Some(schema) = json.and_then(|(_, m)| m.get("schema")) {
            source_constraints(schema, document, &mut seen, &mut out);
        }
    }
    Some(out)
}

/// Every constraint anywhere in a published schema, `$defs` included.
fn published_constraints(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(members) => {
            for (key, value) in members {
                if CONSTRAINTS.contains(&key.as_str()) {
                    out.insert(constraint(key, value));
                }
                if key == "properties" || key == "$defs" {
                    for child in value.as_object().map(Map::values).into_iter().flatten() {
                        published_constraints(child, out);
                    }
                } else if key != "enum" && key != "const" {
                    published_constraints(value, out);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| published_constraints(item, out)),
        _ => {}
    }
}

#[test]
fn every_source_constraint_is_published_or_diagnosed() {
    let mut inputs = fixture_inputs();
    inputs.extend(read_specs_dir(Path::new("specs")).unwrap());
    let generated = generate(&inputs);
    let report = generated.report();
    let documents: Vec<(&str, Value)> = inputs
        .iter()
        .flat_map(|vendor| &vendor.files)
        .filter_map(|file| {
            let document: Value = yaml_serde::from_str(&file.text).ok()?;
            let openapi = document
                .get("openapi")
                .or(document.get("swagger"))
                .is_some();
            openapi.then_some((file.path.as_str(), document))
        })
        .collect();
    let mut checked = Vec::new();
    let mut lost = Vec::new();
    for tool in generated.integrations.iter().flat_map(|i| &i.tools) {
        // The operation in its vendor's OpenAPI document, by method and path (a doc spec
        // overlay points at itself, not at the operation).
        let vendor = tool.source_file.split('/').next().unwrap_or_default();
        let uniform: Vec<&str> = match &tool.pagination {
            PaginationIr::Cursor {
                cursor_param,
                limit_param,
                ..
            } => [Some(cursor_param), limit_param.as_ref()]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect(),
            PaginationIr::Page {
                page_param,
                size_param,
                ..
            } => vec![page_param, size_param],
            PaginationIr::Offset {
                offset_param,
                limit_param,
                ..
            } => vec![offset_param, limit_param],
            _ => Vec::new(),
        };
        let template = tool.path_template().replace('~', "~0").replace('/', "~1");
        let pointer = format!(
            "/paths/{template}/{}",
            tool.http_method.as_str().to_ascii_lowercase()
        );
        let Some(source) = documents
            .iter()
            .filter(|(path, _)| path.starts_with(&format!("{vendor}/")))
            .find_map(|(_, document)| operation_constraints(document, &pointer, &uniform))
        else {
            continue;
        };
        let mut published = BTreeSet::new();
        published_constraints(&tool.input_schema, &mut published);
        for wanted in source {
            checked.push(wanted.clone());
            let diagnosed = wanted
                .strip_prefix("pattern=")
                .and_then(|p| serde_json::from_str::<String>(p).ok())
                .is_some_and(|p| report.contains(&format!("pattern `{p}`")));
            if !published.contains(&wanted) && !diagnosed {
                lost.push(format!("{}: {wanted}", tool.name));
            }
        }
    }
    eprintln!("{} source constraints checked", checked.len());
    // The walk reaches every kind of constraint somewhere, or this proves little.
    for keyword in CONSTRAINTS {
        assert!(
            checked
                .iter()
                .any(|c| c.starts_with(&format!("{keyword}="))),
            "no source constraint `{keyword}` was checked"
        );
    }
    assert!(
        lost.is_empty(),
        "lost without a diagnostic:\n{}",
        lost.join("\n")
    );
}
