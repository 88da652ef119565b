//! The `portable` schema profile: a tool's input schema lowered, at build time, to the subset
//! that OpenAI, Anthropic, Gemini and Cursor all accept (the rules are in `specs/README.md`).
//! What the subset cannot express becomes a JSON-encoded string argument; [`Portable::encoded`]
//! lists where, so the server decodes those arguments before the typed parser sees them.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// Nodes one tool's portable schema may hold; past it, subtrees become JSON-encoded strings.
const MAX_NODES: usize = 400;
/// Deepest nesting kept; deeper subtrees become JSON-encoded strings.
const MAX_DEPTH: usize = 8;

/// Keywords the portable profile never carries.
const FORBIDDEN: &[&str] = &[
    "$ref",
    "$defs",
    "anyOf",
    "oneOf",
    "allOf",
    "const",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "default",
];

/// A portable schema and the argument paths that are JSON-encoded in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Portable {
    /// The lowered input schema.
    pub schema: Value,
    /// Paths of JSON-encoded arguments: property names joined by `/` (their `~`, `/` and `*`
    /// written `~0`, `~1` and `~2`), `*` for every array item (`meta`, `lines/*/options`).
    pub encoded: Vec<String>,
}

/// Lowers a full (2020-12) input schema to the portable profile.
pub fn lower(full: &Value) -> Portable {
    let mut lowering = Lowering {
        defs: full.get("$defs").and_then(Value::as_object),
        encoded: Vec::new(),
        nodes: 0,
    };
    let mut schema = lowering.node(full, &mut Vec::new(), &mut BTreeSet::new());
    if let Some(top) = schema.as_object_mut() {
        top.entry("properties").or_insert_with(|| json!({}));
    }
    let mut encoded = lowering.encoded;
    encoded.sort();
    encoded.dedup();
    Portable { schema, encoded }
}

struct Lowering<'a> {
    defs: Option<&'a Map<String, Value>>,
    encoded: Vec<String>,
    nodes: usize,
}

/// Whether a schema only admits `null`.
fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// Whether a schema admits `null` (so the portable profile makes it optional).
fn nullable(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
        Some(t) => t == "null",
        None => ["anyOf", "oneOf"].iter().any(|k| {
            schema
                .get(*k)
                .and_then(Value::as_array)
                .is_some_and(|variants| variants.iter().any(is_null))
        }),
    }
}

fn description_of(schema: &Value) -> Option<String> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `description` followed by notes in parentheses.
fn describe(description: Option<String>, notes: &[String]) -> Option<String> {
    let notes = notes.join("; ");
    match (description, notes.is_empty()) {
        (None, true) => None,
        (Some(d), true) => Some(d),
        (None, false) => Some(format!("({notes})")),
        (Some(d), false) => Some(format!("{d} ({notes})")),
    }
}

fn with_description(mut node: Map<String, Value>, description: Option<String>) -> Value {
    if let Some(d) = description {
        node.insert("description".to_owned(), Value::String(d));
    }
    Value::Object(node)
}

impl Lowering<'_> {
    /// A string argument that carries `what` as JSON text.
    /// A path of [`Portable::encoded`]: property names escaped by [`encoded_segment`], `*` for
    /// every array item.
    fn encoded(&mut self, path: &[String], description: Option<String>, what: &str) -> Value {
        self.encoded.push(path.join("/"));
        let note = format!("a JSON-encoded {what}: send it as a string of JSON text");
        let mut node = Map::new();
        node.insert("type".to_owned(), json!("string"));
        with_description(node, describe(description, &[note]))
    }

    fn node(
        &mut self,
        schema: &Value,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> Value {
        self.nodes += 1;
        let description = description_of(schema);
        if self.nodes > MAX_NODES || path.len() > MAX_DEPTH {
            return self.encoded(
                path,
                description,
                "value (nested too deep to describe here)",
            );
        }
        // A reference: inlined, except a recursive edge.
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            let name = target.trim_start_matches("#/$defs/").to_owned();
            let Some(resolved) = self.defs.and_then(|d| d.get(&name)) else {
                return self.encoded(path, description, "value");
            };
            if !seen.insert(name.clone()) {
                return self.encoded(
                    path,
                    description.or_else(|| description_of(resolved)),
                    &format!("`{name}` (it contains itself)"),
                );
            }
            let mut inlined = resolved.clone();
            if let (Some(d), Some(object)) = (description, inlined.as_object_mut()) {
                object.insert("description".to_owned(), Value::String(d));
            }
            let lowered = self.node(&inlined, path, seen);
            seen.remove(&name);
            return lowered;
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(variants) = schema.get(keyword).and_then(Value::as_array) {
                return self.union(schema, variants, path, seen);
            }
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            let (mut properties, mut required) = (Map::new(), Vec::<Value>::new());
            for part in parts {
                let part = self.resolve(part);
                if let Some(p) = part.get("properties").and_then(Value::as_object) {
                    properties.extend(p.clone());
                }
                if let Some(r) = part.get("required").and_then(Value::as_array) {
                    required.extend(r.iter().cloned());
                }
            }
            merged.insert("type".to_owned(), json!("object"));
            merged.insert("properties".to_owned(), Value::Object(properties));
            merged.insert("required".to_owned(), Value::Array(required));
            if let Some(d) = description {
                merged.insert("description".to_owned(), Value::String(d));
            }
            return self.node(&Value::Object(merged), path, seen);
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect(),
            _ if schema.get("properties").is_some() => vec!["object"],
            _ if schema.get("items").is_some() => vec!["array"],
            _ => Vec::new(),
        };
        match types.as_slice() {
            [] => self.encoded(path, description, "value of any type"),
            ["object"] => self.object(schema, description, path, seen),
            ["array"] => {
                let Some(items) = schema.get("items") else {
                    let mut node = Map::new();
                    node.insert("type".to_owned(), json!("array"));
                    path.push("*".to_owned());
                    let items = self.encoded(path, None, "value of any type");
                    path.pop();
                    node.insert("items".to_owned(), items);
                    return with_description(node, description);
                };
                path.push("*".to_owned());
                let items = self.node(items, path, seen);
                path.pop();
                let mut node = Map::new();
                node.insert("type".to_owned(), json!("array"));
                node.insert("items".to_owned(), items);
                for keyword in ["minItems", "maxItems"] {
                    if let Some(v) = schema.get(keyword) {
                        node.insert(keyword.to_owned(), v.clone());
                    }
                }
                with_description(node, describe(description, &self.notes(schema)))
            }
            [single] => self.scalar(schema, single, description),
            many => {
                let what = format!("value of one of the types {}", many.join(", "));
                self.encoded(path, description, &what)
            }
        }
    }

    fn resolve(&self, schema: &Value) -> Value {
        schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|t| self.defs?.get(t.trim_start_matches("#/$defs/")))
            .cloned()
            .unwrap_or_else(|| schema.clone())
    }

    /// Constraints the profile drops, as notes for the description.
    fn notes(&self, schema: &Value) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            notes.push(format!("format: {format}"));
        }
        // The server enforces these whatever the profile; the model reads them here.
        for (keyword, words) in [
            ("exclusiveMinimum", "greater than"),
            ("exclusiveMaximum", "less than"),
            ("multipleOf", "a multiple of"),
            ("minProperties", "at least this many properties:"),
            ("maxProperties", "at most this many properties:"),
        ] {
            if let Some(v) = schema.get(keyword) {
                notes.push(format!("{words} {v}"));
            }
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            notes.push("items unique".to_owned());
        }
        if let Some(default) = schema.get("default") {
            notes.push(format!("default: {default}"));
        }
        notes
    }

    fn scalar(&mut self, schema: &Value, kind: &str, description: Option<String>) -> Value {
        let mut notes = self.notes(schema);
        let mut node = Map::new();
        node.insert("type".to_owned(), json!(kind));
        let values = schema
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| schema.get("const").map(|c| vec![c.clone()]));
        if let Some(values) = values {
            let values: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
            if kind == "string" && values.iter().all(Value::is_string) {
                node.insert("enum".to_owned(), Value::Array(values));
            } else if !values.is_empty() {
                let listed: Vec<String> = values.iter().map(Value::to_string).collect();
                notes.push(format!("one of: {}", listed.join(", ")));
            }
        }
        let kept: &[&str] = match kind {
            "string" => &["minLength", "maxLength", "pattern"],
            "integer" | "number" => &["minimum", "maximum"],
            _ => &[],
        };
        for keyword in kept {
            if let Some(v) = schema.get(*keyword) {
                node.insert((*keyword).to_owned(), v.clone());
            }
        }
        with_description(node, describe(description, &notes))
    }

    fn object(
        &mut self,
        schema: &Value,
        description: Option<String>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> Value {
        let properties = schema.get("properties").and_then(Value::as_object);
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        // A map with free keys cannot be described without `additionalProperties`.
        let Some(properties) = properties.filter(|p| !p.is_empty() || closed) else {
            return self.encoded(path, description, "object");
        };
        let required: BTreeSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut lowered = Map::new();
        let mut still_required = Vec::new();
        for (name, property) in properties {
            // A property whose only value is `null` says nothing the profile can carry: an
            // absent argument means the same.
            if only_null(&self.resolve(property)) {
                continue;
            }
            path.push(encoded_segment(name));
            lowered.insert(name.clone(), self.node(property, path, seen));
            path.pop();
            // Nullable becomes optional: the profile has no `null`.
            if required.contains(name.as_str()) && !nullable(&self.resolve(property)) {
                still_required.push(Value::String(name.clone()));
            }
        }
        let mut node = Map::new();
        node.insert("type".to_owned(), json!("object"));
        node.insert("properties".to_owned(), Value::Object(lowered));
        if !still_required.is_empty() {
            node.insert("required".to_owned(), Value::Array(still_required));
        }
        with_description(node, describe(description, &self.notes(schema)))
    }

    fn union(
        &mut self,
        schema: &Value,
        variants: &[Value],
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> Value {
        let description = description_of(schema);
        let variants: Vec<Value> = variants
            .iter()
            .filter(|v| !is_null(v))
            .map(|v| self.resolve(v))
            .collect();
        match variants.as_slice() {
            [] => self.encoded(path, description, "value of any type"),
            [single] => {
                let mut single = single.clone();
                if let (Some(d), Some(object)) = (description, single.as_object_mut()) {
                    object.insert("description".to_owned(), Value::String(d));
                }
                self.node(&single, path, seen)
            }
            many if many.iter().all(|v| v.get("properties").is_some()) => {
                // One object whose properties are all optional; the variants are named.
                let mut properties = Map::new();
                let mut names = Vec::new();
                for (index, variant) in many.iter().enumerate() {
                    let keys: Vec<&str> = variant["properties"]
                        .as_object()
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let title = variant
                        .get("title")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("variant {}", index + 1), str::to_owned);
                    names.push(format!("{title} ({})", keys.join(", ")));
                    for (key, property) in variant["properties"].as_object().into_iter().flatten() {
                        properties
                            .entry(key.clone())
                            .or_insert_with(|| property.clone());
                    }
                }
                let merged = json!({"type": "object", "properties": properties});
                let note = format!("send the fields of exactly one of: {}", names.join("; "));
                let mut lowered = self.object(&merged, describe(description, &[note]), path, seen);
                if let Some(object) = lowered.as_object_mut() {
                    object.remove("required");
                }
                lowered
            }
            many => {
                let kinds: Vec<String> = many
                    .iter()
                    .map(|v| {
                        v.get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("any")
                            .to_owned()
                    })
                    .collect();
                let what = format!("value, one of: {}", kinds.join(", "));
                self.encoded(path, description, &what)
            }
        }
    }
}

/// Every rule of the portable profile that `schema` breaks, with the JSON pointer of the node.
pub fn lint(schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    lint_node(schema, "", &mut problems);
    problems
}

fn lint_node(schema: &Value, pointer: &str, problems: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        problems.push(format!("{pointer}: not a schema object"));
        return;
    };
    for keyword in FORBIDDEN {
        if node.contains_key(*keyword) {
            problems.push(format!("{pointer}: `{keyword}`"));
        }
    }
    let kind = match node.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => {
            problems.push(format!("{pointer}: `type` is not one type"));
            return;
        }
        None => {
            problems.push(format!("{pointer}: no `type`"));
            return;
        }
    };
    if kind == "null" {
        problems.push(format!("{pointer}: `type: null`"));
    }
    if node.contains_key("enum") && kind != "string" {
        problems.push(format!("{pointer}: `enum` on a {kind}"));
    }
    match kind {
        "object" => match node.get("properties").and_then(Value::as_object) {
            Some(properties) => {
                for (name, property) in properties {
                    lint_node(property, &format!("{pointer}/properties/{name}"), problems);
                }
            }
            None => problems.push(format!("{pointer}: an object without `properties`")),
        },
        "array" => match node.get("items") {
            Some(items) => lint_node(items, &format!("{pointer}/items"), problems),
            None => problems.push(format!("{pointer}: an array without `items`")),
        },
        _ => {}
    }
}

/// A schema whose only type is `null`.
fn only_null(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => !ts.is_empty() && ts.iter().all(|t| t == "null"),
        _ => false,
    }
}

/// A property name as a segment of an encoded path: `~`, `/` and `*` written `~0`, `~1` and
/// `~2`, so a property named `*` is never read as "every array item".
fn encoded_segment(name: &str) -> String {
    name.replace('~', "~0")
        .replace('/', "~1")
        .replace('*', "~2")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_lowers_and_the_result_is_lint_free() {
        let full = json!({
            "type": "object",
            "properties": {
                "note": {"type": ["string", "null"], "format": "date-time", "default": "now"},
                "shape": {"oneOf": [{"type": "object", "title": "Circle", "properties": {"r": {"type": "number", "exclusiveMinimum": 0}}}, {"type": "object", "title": "Square", "properties": {"side": {"type": "number"}}}]},
                "meta": {"type": "object", "additionalProperties": true},
                "extra": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
                "empty": {"type": "object", "properties": {}, "additionalProperties": false},
                "any": {},
                "level": {"type": "integer", "enum": [1, 2, 3]},
                "kind": {"const": "fixed", "type": "string"},
                "tree": {"$ref": "#/$defs/Node"},
                "mixed": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "required": ["note", "level"],
            "additionalProperties": false,
            "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
        });
        let portable = lower(&full);
        assert_eq!(
            lint(&portable.schema),
            Vec::<String>::new(),
            "{:#}",
            portable.schema
        );
        let p = &portable.schema["properties"];
        assert_eq!(p["note"]["type"], "string");
        assert!(
            p["note"]["description"]
                .as_str()
                .unwrap()
                .contains("format: date-time; default: \"now\"")
        );
        assert_eq!(
            portable.schema["required"],
            json!(["level"]),
            "nullable became optional"
        );
        assert!(
            p["shape"]["description"]
                .as_str()
                .unwrap()
                .contains("Circle (r); Square (side)")
        );
        assert!(
            p["shape"]["properties"]["r"]["description"]
                .as_str()
                .unwrap()
                .contains("greater than 0")
        );
        assert_eq!(p["level"]["type"], "integer");
        assert!(p["level"].get("enum").is_none());
        assert_eq!(p["kind"]["enum"], json!(["fixed"]));
        assert_eq!(
            p["tree"]["properties"]["child"]["type"], "string",
            "the recursive edge is encoded"
        );
        assert_eq!(p["empty"], json!({"type": "object", "properties": {}}));
        assert_eq!(
            portable.encoded,
            ["any", "extra", "meta", "mixed", "tree/child"]
        );
    }

    #[test]
    fn properties_that_can_only_be_null_are_left_out() {
        let full = json!({"type": "object", "properties": {
            "joinedFrom": {"type": "object", "properties": {
                "ssoUserId": {"type": "null"},
                "origin": {"type": "string"}
            }}
        }});
        let portable = lower(&full).schema;
        assert_eq!(
            portable["properties"]["joinedFrom"]["properties"],
            json!({"origin": {"type": "string"}})
        );
        assert!(lint(&portable).is_empty());
    }

    #[test]
    fn encoded_paths_escape_names_that_look_like_steps() {
        let full = json!({"type": "object", "properties": {
            "*": {"type": "object"},
            "a/b": {"type": "array", "items": {"type": ["string", "integer"]}}
        }});
        assert_eq!(lower(&full).encoded, ["a~1b/*", "~2"]);
    }

    #[test]
    fn lint_names_what_breaks_the_profile() {
        let problems = lint(
            &json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}, "b": {"type": "integer", "enum": [1]}, "c": {"type": "object"}, "d": {"$ref": "#/x"}}}),
        );
        assert_eq!(
            problems,
            [
                "/properties/a: `type` is not one type",
                "/properties/b: `enum` on a integer",
                "/properties/c: an object without `properties`",
                "/properties/d: `$ref`",
                "/properties/d: no `type`",
            ]
        );
    }
}
