//! Turns OpenAPI 3.0/3.1 and doc-spec schemas into self-contained JSON Schema 2020-12.
//!
//! Internal `$ref`s are inlined (recursion is cut at the second visit), 3.0 `nullable` becomes
//! a `null` type, object `allOf`s are merged, and keywords that are not JSON Schema are dropped.
//! External `$ref`s are never fetched: they are reported and the operation is skipped.

use serde_json::{Map, Value, json};

use crate::ir::FieldType;

/// Why a schema could not be normalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A `$ref` outside this document.
    #[error("external $ref `{reference}` is not supported (references are never fetched)")]
    ExternalRef {
        /// The reference.
        reference: String,
    },
    /// A `$ref` that points nowhere.
    #[error("$ref `{reference}` does not resolve")]
    DanglingRef {
        /// The reference.
        reference: String,
    },
    /// A node that is not a schema object.
    #[error("expected a schema object, found {found}")]
    NotASchema {
        /// What was found.
        found: &'static str,
    },
}

const KEPT_KEYWORDS: &[&str] = &[
    "type",
    "description",
    "title",
    "format",
    "default",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
    "examples",
    "deprecated",
];

const MAX_DEPTH: usize = 16;

/// Normalizes schemas against one document root.
pub struct Normalizer<'a> {
    root: &'a Value,
    stack: Vec<String>,
    /// `readOnly` properties are dropped: they describe responses, not requests.
    pub for_request: bool,
}

impl<'a> Normalizer<'a> {
    /// A normalizer resolving `#/...` references in `root`.
    pub fn new(root: &'a Value) -> Self {
        Self {
            root,
            stack: Vec::new(),
            for_request: true,
        }
    }

    /// Resolves a local `$ref` to its target node.
    pub fn resolve_ref(&self, reference: &str) -> Result<&'a Value, SchemaError> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(SchemaError::ExternalRef {
                reference: reference.to_owned(),
            });
        };
        self.root
            .pointer(pointer)
            .ok_or_else(|| SchemaError::DanglingRef {
                reference: reference.to_owned(),
            })
    }

    /// Follows `$ref` chains on a non-schema node (parameters, request bodies).
    pub fn deref<'v>(&self, mut node: &'v Value) -> Result<&'v Value, SchemaError>
    where
        'a: 'v,
    {
        for _ in 0..MAX_DEPTH {
            match node.get("$ref").and_then(Value::as_str) {
                Some(reference) => node = self.resolve_ref(reference)?,
                None => return Ok(node),
            }
        }
        Ok(node)
    }

    /// Normalizes one schema.
    pub fn normalize(&mut self, schema: &Value) -> Result<Value, SchemaError> {
        let object = match schema {
            Value::Object(object) => object,
            Value::Bool(true) => return Ok(json!({})),
            Value::Bool(false) => return Ok(json!({"not": {}})),
            other => {
                return Err(SchemaError::NotASchema {
                    found: json_kind(other),
                });
            }
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or(reference).to_owned();
            if self.stack.iter().any(|seen| seen == reference) || self.stack.len() >= MAX_DEPTH {
                return Ok(json!({
                    "type": "object",
                    "description": format!("A nested {name} (recursive; same shape as the enclosing {name}).")
                }));
            }
            let target = self.resolve_ref(reference)?;
            self.stack.push(reference.to_owned());
            let resolved = self.normalize(target);
            self.stack.pop();
            let mut resolved = resolved?;
            // Sibling keywords of a $ref (3.1) refine the target, e.g. a local description.
            if let Value::Object(out) = &mut resolved {
                for key in ["description", "title", "default"] {
                    if let Some(value) = object.get(key) {
                        out.insert(key.to_owned(), value.clone());
                    }
                }
            }
            return Ok(resolved);
        }
        let mut out = Map::new();
        for key in KEPT_KEYWORDS {
            if let Some(value) = object.get(*key) {
                out.insert((*key).to_owned(), value.clone());
            }
        }
        if let Some(example) = object.get("example") {
            out.entry("examples")
                .or_insert_with(|| Value::Array(vec![example.clone()]));
        }
        // OpenAPI 3.0 boolean exclusive bounds become 2020-12 numbers.
        for (flag, bound) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            if let Some(Value::Bool(exclusive)) = object.get(flag) {
                out.remove(flag);
                if *exclusive && let Some(limit) = out.remove(bound) {
                    out.insert(flag.to_owned(), limit);
                }
            }
        }
        if self.stack.len() >= MAX_DEPTH {
            return Ok(Value::Object(out));
        }
        if let Some(Value::Object(properties)) = object.get("properties") {
            let mut normalized = Map::new();
            let mut read_only = Vec::new();
            for (name, property) in properties {
                if self.for_request
                    && property.get("readOnly").and_then(Value::as_bool) == Some(true)
                {
                    read_only.push(name.clone());
                    continue;
                }
                normalized.insert(name.clone(), self.normalize(property)?);
            }
            out.insert("properties".to_owned(), Value::Object(normalized));
            if let Some(Value::Array(required)) = out.get_mut("required") {
                required
                    .retain(|name| !read_only.iter().any(|r| Some(r.as_str()) == name.as_str()));
            }
        }
        if let Some(items) = object.get("items") {
            out.insert("items".to_owned(), self.normalize(items)?);
        }
        match object.get("additionalProperties") {
            Some(Value::Bool(flag)) => {
                out.insert("additionalProperties".to_owned(), Value::Bool(*flag));
            }
            Some(additional @ Value::Object(_)) => {
                out.insert(
                    "additionalProperties".to_owned(),
                    self.normalize(additional)?,
                );
            }
            _ => {}
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(variants)) = object.get(key) {
                let variants = variants
                    .iter()
                    .map(|v| self.normalize(v))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(key.to_owned(), Value::Array(variants));
            }
        }
        if let Some(Value::Array(parts)) = object.get("allOf") {
            let parts = parts
                .iter()
                .map(|v| self.normalize(v))
                .collect::<Result<Vec<_>, _>>()?;
            merge_all_of(&mut out, parts);
        }
        if object.get("nullable").and_then(Value::as_bool) == Some(true) {
            add_null_type(&mut out);
        }
        Ok(Value::Object(out))
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Merges object-shaped `allOf` parts into one object; keeps `allOf` when a part is not an
/// object schema, since merging would change its meaning.
fn merge_all_of(out: &mut Map<String, Value>, parts: Vec<Value>) {
    let mergeable = parts.iter().all(|part| {
        part.get("properties").is_some()
            || part.get("type").and_then(Value::as_str) == Some("object")
    });
    if !mergeable {
        out.insert("allOf".to_owned(), Value::Array(parts));
        return;
    }
    out.insert("type".to_owned(), json!("object"));
    for part in parts {
        if let Some(Value::Object(properties)) = part.get("properties") {
            let target = out
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(target) = target {
                for (name, schema) in properties {
                    target.insert(name.clone(), schema.clone());
                }
            }
        }
        if let Some(Value::Array(required)) = part.get("required") {
            let target = out
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(target) = target {
                for name in required {
                    if !target.contains(name) {
                        target.push(name.clone());
                    }
                }
            }
        }
        if !out.contains_key("description")
            && let Some(description) = part.get("description")
        {
            out.insert("description".to_owned(), description.clone());
        }
    }
}

fn add_null_type(out: &mut Map<String, Value>) {
    match out.get_mut("type") {
        Some(Value::String(single)) => {
            let single = std::mem::take(single);
            out.insert("type".to_owned(), json!([single, "null"]));
        }
        Some(Value::Array(types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
        }
        _ => {
            let inner = Value::Object(std::mem::take(out));
            out.insert("anyOf".to_owned(), json!([inner, {"type": "null"}]));
        }
    }
    if let Some(Value::Array(values)) = out.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

/// Whether a normalized schema admits `null`.
pub fn is_nullable(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::Array(types)) => types.contains(&json!("null")),
        Some(Value::String(t)) => t == "null",
        _ => schema
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|v| v.contains(&json!({"type": "null"}))),
    }
}

/// The Rust type for a normalized schema, ignoring `null`.
pub fn field_type(schema: &Value) -> FieldType {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        ["string"] => FieldType::String,
        ["integer"] => FieldType::Integer,
        ["number"] => FieldType::Number,
        ["boolean"] => FieldType::Boolean,
        ["object"] if schema.get("oneOf").is_none() && schema.get("anyOf").is_none() => {
            FieldType::Object
        }
        ["array"] => FieldType::Array(Box::new(
            schema.get("items").map_or(FieldType::Any, field_type),
        )),
        _ => FieldType::Any,
    }
}

/// String enum values, when the schema is a string enum (a `null` member is dropped).
pub fn string_enum(schema: &Value) -> Option<Vec<String>> {
    let values = schema.get("enum")?.as_array()?;
    let strings: Vec<String> = values
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    (field_type(schema) == FieldType::String && !strings.is_empty()).then_some(strings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_30_and_31_agree() {
        let root = json!({});
        let mut n = Normalizer::new(&root);
        let v30 = n
            .normalize(&json!({"type": "string", "nullable": true}))
            .unwrap();
        let v31 = n.normalize(&json!({"type": ["string", "null"]})).unwrap();
        assert_eq!(v30, v31);
        assert!(is_nullable(&v30));
        assert_eq!(field_type(&v30), FieldType::String);
    }

    #[test]
    fn recursion_is_cut_and_external_refs_refused() {
        let root = json!({"components": {"schemas": {"Node": {
            "type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}
        }}}});
        let mut n = Normalizer::new(&root);
        let node = n
            .normalize(&json!({"$ref": "#/components/schemas/Node"}))
            .unwrap();
        assert_eq!(
            node.pointer("/properties/child/type"),
            Some(&json!("object"))
        );
        assert!(node.pointer("/properties/child/properties").is_none());
        assert_eq!(
            n.normalize(&json!({"$ref": "other.yaml#/X"})).unwrap_err(),
            SchemaError::ExternalRef {
                reference: "other.yaml#/X".to_owned()
            }
        );
    }

    #[test]
    fn all_of_objects_merge() {
        let root = json!({});
        let mut n = Normalizer::new(&root);
        let merged = n
            .normalize(&json!({"allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "integer", "readOnly": true}, "c": {"type": "boolean"}}}
            ]}))
            .unwrap();
        assert_eq!(
            merged,
            json!({"type": "object", "properties": {"a": {"type": "string"}, "c": {"type": "boolean"}}, "required": ["a"]})
        );
    }
}
