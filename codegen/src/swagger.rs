//! Swagger 2.0 input, converted to OpenAPI 3.0 at the JSON level before lowering. Only what
//! tools need is carried over: servers, security schemes, parameters, bodies and schemas.

use serde_json::{Map, Value, json};

/// Converts a Swagger 2.0 document to an equivalent OpenAPI 3.0 document.
pub(crate) fn to_openapi3(swagger: &Value) -> Value {
    let mut out = Map::new();
    out.insert("openapi".to_owned(), json!("3.0.3"));
    out.insert(
        "info".to_owned(),
        swagger.get("info").cloned().unwrap_or_else(|| json!({})),
    );
    if let Some(host) = swagger.get("host").and_then(Value::as_str) {
        let scheme = swagger
            .pointer("/schemes/0")
            .and_then(Value::as_str)
            .unwrap_or("https");
        let base_path = swagger
            .get("basePath")
            .and_then(Value::as_str)
            .unwrap_or("");
        out.insert(
            "servers".to_owned(),
            json!([{"url": format!("{scheme}://{host}{base_path}")}]),
        );
    }
    if let Some(security) = swagger.get("security") {
        out.insert("security".to_owned(), security.clone());
    }
    let consumes = swagger
        .pointer("/consumes/0")
        .and_then(Value::as_str)
        .unwrap_or("application/json");
    let mut components = Map::new();
    if let Some(definitions) = swagger.get("definitions") {
        components.insert("schemas".to_owned(), definitions.clone());
    }
    if let Some(Value::Object(parameters)) = swagger.get("parameters") {
        let converted: Map<String, Value> = parameters
            .iter()
            .filter(|(_, p)| p.get("in").and_then(Value::as_str) != Some("body"))
            .map(|(name, p)| (name.clone(), parameter(p)))
            .collect();
        components.insert("parameters".to_owned(), Value::Object(converted));
    }
    if let Some(Value::Object(schemes)) = swagger.get("securityDefinitions") {
        let converted: Map<String, Value> = schemes
            .iter()
            .map(|(name, s)| (name.clone(), security_scheme(s)))
            .collect();
        components.insert("securitySchemes".to_owned(), Value::Object(converted));
    }
    out.insert("components".to_owned(), Value::Object(components));
    let mut paths = Map::new();
    if let Some(Value::Object(items)) = swagger.get("paths") {
        for (path, item) in items {
            let Value::Object(item) = item else { continue };
            let mut converted = Map::new();
            for (key, value) in item {
                match key.as_str() {
                    "parameters" => {
                        converted.insert(key.clone(), parameters(value));
                    }
                    "get" | "post" | "put" | "patch" | "delete" => {
                        converted.insert(key.clone(), operation(value, consumes));
                    }
                    _ => {}
                }
            }
            paths.insert(path.clone(), Value::Object(converted));
        }
    }
    out.insert("paths".to_owned(), Value::Object(paths));
    let mut converted = Value::Object(out);
    rewrite_refs(&mut converted);
    converted
}

fn operation(op: &Value, default_consumes: &str) -> Value {
    let Value::Object(op) = op else {
        return op.clone();
    };
    let mut out: Map<String, Value> = op
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "operationId" | "summary" | "description" | "tags" | "security" | "deprecated"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let consumes = op
        .get("consumes")
        .and_then(|c| c.get(0))
        .and_then(Value::as_str)
        .unwrap_or(default_consumes);
    let declared: Vec<&Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let body = declared
        .iter()
        .find(|p| p.get("in").and_then(Value::as_str) == Some("body"));
    let form: Vec<&&Value> = declared
        .iter()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("formData"))
        .collect();
    if let Some(body) = body {
        out.insert(
            "requestBody".to_owned(),
            json!({"required": body.get("required").cloned().unwrap_or(json!(false)), "content": {consumes: {"schema": body.get("schema").cloned().unwrap_or(json!({}))}}}),
        );
    } else if !form.is_empty() {
        let properties: Map<String, Value> = form
            .iter()
            .filter_map(|p| {
                Some((
                    p.get("name")?.as_str()?.to_owned(),
                    parameter(p).get("schema").cloned().unwrap_or(json!({})),
                ))
            })
            .collect();
        let required: Vec<&Value> = form
            .iter()
            .filter(|p| p.get("required").and_then(Value::as_bool) == Some(true))
            .filter_map(|p| p.get("name"))
            .collect();
        out.insert(
            "requestBody".to_owned(),
            json!({"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": properties, "required": required}}}}),
        );
    }
    let rest: Vec<Value> = declared
        .iter()
        .filter(|p| {
            !matches!(
                p.get("in").and_then(Value::as_str),
                Some("body" | "formData")
            )
        })
        .map(|p| parameter(p))
        .collect();
    if !rest.is_empty() {
        out.insert("parameters".to_owned(), Value::Array(rest));
    }
    Value::Object(out)
}

fn parameters(list: &Value) -> Value {
    Value::Array(
        list.as_array()
            .map(|p| p.iter().map(parameter).collect())
            .unwrap_or_default(),
    )
}

/// A non-body parameter: type keywords move into `schema`, `collectionFormat` into `explode`.
fn parameter(p: &Value) -> Value {
    let Value::Object(p) = p else {
        return p.clone();
    };
    if p.contains_key("$ref") {
        return Value::Object(p.clone());
    }
    let mut out = Map::new();
    let mut schema = Map::new();
    for (key, value) in p {
        match key.as_str() {
            "name" | "in" | "required" | "description" => {
                out.insert(key.clone(), value.clone());
            }
            "collectionFormat" => {
                out.insert("explode".to_owned(), json!(value == "multi"));
            }
            "type" | "format" | "items" | "enum" | "default" | "minimum" | "maximum"
            | "pattern" | "minLength" | "maxLength" => {
                schema.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    if p.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("explode") {
        out.insert("explode".to_owned(), json!(false));
    }
    out.insert("schema".to_owned(), Value::Object(schema));
    Value::Object(out)
}

fn security_scheme(s: &Value) -> Value {
    match s.get("type").and_then(Value::as_str) {
        Some("basic") => json!({"type": "http", "scheme": "basic"}),
        Some("oauth2") => {
            let flow = match s.get("flow").and_then(Value::as_str) {
                Some("accessCode") => "authorizationCode",
                Some("application") => "clientCredentials",
                Some("password") => "password",
                _ => "implicit",
            };
            let mut details = Map::new();
            for (from, to) in [
                ("authorizationUrl", "authorizationUrl"),
                ("tokenUrl", "tokenUrl"),
                ("scopes", "scopes"),
            ] {
                if let Some(value) = s.get(from) {
                    details.insert(to.to_owned(), value.clone());
                }
            }
            json!({"type": "oauth2", "flows": {flow: details}})
        }
        _ => s.clone(),
    }
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "$ref"
                    && let Value::String(reference) = child
                {
                    *reference = reference
                        .replacen("#/definitions/", "#/components/schemas/", 1)
                        .replacen("#/parameters/", "#/components/parameters/", 1);
                } else {
                    rewrite_refs(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_servers_bodies_parameters_and_refs() {
        let swagger = json!({
            "swagger": "2.0", "info": {"title": "Pets", "version": "1"},
            "host": "api.pets.test", "basePath": "/v1", "schemes": ["https"],
            "securityDefinitions": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}},
            "definitions": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "paths": {"/pets": {"post": {"summary": "Add", "parameters": [
                {"in": "body", "name": "pet", "required": true, "schema": {"$ref": "#/definitions/Pet"}},
                {"in": "query", "name": "tags", "type": "array", "items": {"type": "string"}, "collectionFormat": "multi"}
            ]}}}
        });
        let converted = to_openapi3(&swagger);
        assert_eq!(converted["servers"][0]["url"], "https://api.pets.test/v1");
        assert_eq!(
            converted
                .pointer("/paths/~1pets/post/requestBody/content/application~1json/schema/$ref"),
            Some(&json!("#/components/schemas/Pet"))
        );
        assert_eq!(
            converted.pointer("/paths/~1pets/post/parameters/0/schema/type"),
            Some(&json!("array"))
        );
        assert_eq!(
            converted.pointer("/paths/~1pets/post/parameters/0/explode"),
            Some(&json!(true))
        );
        assert_eq!(
            converted.pointer("/components/securitySchemes/key/name"),
            Some(&json!("X-Key"))
        );
    }
}
