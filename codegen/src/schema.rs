//! Turns OpenAPI 3.0/3.1 and doc-spec schemas into self-contained JSON Schema 2020-12.
//!
//! Every `$ref` target is normalized once into a [`SchemaArena`]; tool schemas are expanded
//! from it with a size budget (small shapes inline, larger ones in local `$defs`, huge ones cut
//! to described free-form objects). 3.0 `nullable` becomes a `null` type, object `allOf`s are
//! merged, `readOnly` properties are dropped from requests, and keywords that are not JSON
//! Schema are dropped. External `$ref`s are never fetched: they are reported and the operation
//! is skipped.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

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

/// Resolves a `$ref` local to `document` to its target node.
pub fn resolve_in<'v>(document: &'v Value, reference: &str) -> Result<&'v Value, SchemaError> {
    let Some(pointer) = reference.strip_prefix('#') else {
        return Err(SchemaError::ExternalRef {
            reference: reference.to_owned(),
        });
    };
    document
        .pointer(pointer)
        .ok_or_else(|| SchemaError::DanglingRef {
            reference: reference.to_owned(),
        })
}

/// Follows `$ref` chains on a node that is not a schema (a parameter, a request body).
pub fn deref_in<'v>(document: &'v Value, mut node: &'v Value) -> Result<&'v Value, SchemaError> {
    for _ in 0..MAX_INLINE_DEPTH {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => node = resolve_in(document, reference)?,
            None => return Ok(node),
        }
    }
    Ok(node)
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

/// Deepest nesting of inline (not `$ref`) schemas followed; deeper nodes become free-form.
const MAX_INLINE_DEPTH: usize = 64;
/// A shared shape whose whole closure serializes to at most this many bytes is inlined where
/// it is used; a larger one goes into the tool schema's `$defs` once.
const INLINE_LIMIT: usize = 2 * 1024;
/// A shared shape whose closure is larger than this is not expanded where another shape refers
/// to it: it becomes a free-form object whose description names it, so every tool schema stays
/// readable (tens of KB) even on specs like Microsoft Graph, where every entity reaches every
/// other one.
const LARGE_LIMIT: usize = 24 * 1024;

/// Where a `$ref` points in the arena's output: `#/$defs/<name>`.
const DEFS_PREFIX: &str = "#/$defs/";

/// One shared schema (a `$ref` target), normalized once.
#[derive(Debug)]
struct Def {
    /// Unique in the integration; the `$defs` key and the Rust type name's source.
    name: String,
    /// Normalized, with its own references kept as `{"$ref": "#/$defs/<name>"}`; `None` while
    /// it is being normalized (a reference to it then is a cycle).
    schema: Option<Result<Value, SchemaError>>,
}

/// Every shared schema of an integration's documents, each converted once, in the style of
/// typify's `TypeSpace`: normalization keeps references instead of inlining them, so time and
/// memory stay linear in the size of the spec even where `$ref`s form a dense DAG. Tool schemas
/// are then expanded from it with a size budget ([`SchemaArena::expand`]).
#[derive(Debug)]
pub struct SchemaArena<'a> {
    roots: Vec<&'a Value>,
    defs: Vec<Def>,
    by_ref: HashMap<(usize, String), DefId>,
    by_name: HashMap<String, DefId>,
    closure: std::cell::RefCell<HashMap<DefId, usize>>,
    inlined: std::cell::RefCell<HashMap<DefId, usize>>,
}

/// A shared shape's place in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DefId(usize);

/// A document root registered in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootId(usize);

/// What expanding one tool's schemas used: the shared shapes put in `$defs`, and how many
/// references were cut to free-form objects.
#[derive(Debug, Default)]
pub struct Expansion {
    /// `$defs` of the tool schema, by name.
    pub defs: Map<String, Value>,
    /// References to shapes too large to expand.
    pub stubbed: usize,
}

impl<'a> SchemaArena<'a> {
    /// An empty arena.
    pub fn new() -> Self {
        Self {
            roots: Vec::new(),
            defs: Vec::new(),
            by_ref: HashMap::new(),
            by_name: HashMap::new(),
            closure: std::cell::RefCell::default(),
            inlined: std::cell::RefCell::default(),
        }
    }

    /// Registers a document whose `#/...` references resolve inside `root`.
    pub fn add_root(&mut self, root: &'a Value) -> RootId {
        self.roots.push(root);
        RootId(self.roots.len() - 1)
    }

    /// Resolves a local `$ref` to its target node.
    pub fn resolve_ref(&self, root: RootId, reference: &str) -> Result<&'a Value, SchemaError> {
        resolve_in(self.roots[root.0], reference)
    }

    /// Normalizes a parameter or body schema. Its root is given inline (a root `$ref` is
    /// replaced by its target), so callers can read its properties; nested shared shapes stay
    /// references into the arena.
    pub fn normalize(&mut self, root: RootId, schema: &Value) -> Result<Value, SchemaError> {
        let normalized = self.normalize_node(root, schema, 0)?;
        Ok(self.inline_root(normalized))
    }

    /// A normalized node with a root reference replaced by its target (siblings kept).
    pub fn inline_root(&self, node: Value) -> Value {
        let Some(id) = self.def_of(&node) else {
            return node;
        };
        match &self.defs[id.0].schema {
            Some(Ok(Value::Object(target))) => {
                let mut out = target.clone();
                if let Value::Object(siblings) = node {
                    for (key, value) in siblings {
                        if key != "$ref" {
                            out.insert(key, value);
                        }
                    }
                }
                Value::Object(out)
            }
            _ => node,
        }
    }

    /// The arena shape a normalized `{"$ref": "#/$defs/..."}` node points at.
    fn def_of(&self, node: &Value) -> Option<DefId> {
        let name = node.get("$ref")?.as_str()?.strip_prefix(DEFS_PREFIX)?;
        self.by_name.get(name).copied()
    }

    /// The normalized schema of a shared shape, when it is complete and valid.
    pub fn target(&self, node: &Value) -> Option<(&str, &Value)> {
        let id = self.def_of(node)?;
        match &self.defs[id.0].schema {
            Some(Ok(schema)) => Some((&self.defs[id.0].name, schema)),
            _ => None,
        }
    }

    /// Whether a reference to this node is cut to a free-form object when expanded.
    pub fn is_large(&self, node: &Value) -> bool {
        self.def_of(node)
            .is_some_and(|id| self.closure_size(id) > LARGE_LIMIT)
    }

    fn reference(&mut self, root: RootId, reference: &str) -> Result<DefId, SchemaError> {
        let key = (root.0, reference.to_owned());
        if let Some(id) = self.by_ref.get(&key) {
            return Ok(*id);
        }
        let target = self.resolve_ref(root, reference)?;
        let id = DefId(self.defs.len());
        let name = self.unique_name(reference);
        self.by_ref.insert(key, id);
        self.by_name.insert(name.clone(), id);
        self.defs.push(Def { name, schema: None });
        let normalized = self.normalize_node(root, target, 0);
        self.defs[id.0].schema = Some(normalized);
        Ok(id)
    }

    /// A `$defs` key from the reference's last segment: letters, digits, `_`, `.` and `-`,
    /// unique in the arena.
    fn unique_name(&self, reference: &str) -> String {
        let last = reference.rsplit('/').next().unwrap_or(reference);
        let last = last.replace("~1", "_").replace("~0", "_");
        let mut base: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if base.is_empty() {
            base = "Schema".to_owned();
        }
        let mut candidate = base.clone();
        let mut n = 2;
        while self.by_name.contains_key(&candidate) {
            candidate = format!("{base}_{n}");
            n += 1;
        }
        candidate
    }

    fn normalize_node(
        &mut self,
        root: RootId,
        schema: &Value,
        depth: usize,
    ) -> Result<Value, SchemaError> {
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
            let id = self.reference(root, reference)?;
            if let Some(Err(error)) = &self.defs[id.0].schema {
                return Err(error.clone());
            }
            let mut out = Map::new();
            out.insert(
                "$ref".to_owned(),
                json!(format!("{DEFS_PREFIX}{}", self.defs[id.0].name)),
            );
            // Sibling keywords of a $ref (3.1) refine the target, e.g. a local description.
            for key in ["description", "title", "default"] {
                if let Some(value) = object.get(key) {
                    out.insert(key.to_owned(), value.clone());
                }
            }
            return Ok(Value::Object(out));
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
        keep_well_formed(&mut out);
        if depth >= MAX_INLINE_DEPTH {
            return Ok(Value::Object(out));
        }
        let depth = depth + 1;
        if let Some(Value::Object(properties)) = object.get("properties") {
            let mut normalized = Map::new();
            let mut read_only = Vec::new();
            for (name, property) in properties {
                // `readOnly` properties describe responses, not requests.
                if property.get("readOnly").and_then(Value::as_bool) == Some(true) {
                    read_only.push(name.clone());
                    continue;
                }
                normalized.insert(name.clone(), self.normalize_node(root, property, depth)?);
            }
            out.insert("properties".to_owned(), Value::Object(normalized));
            if let Some(Value::Array(required)) = out.get_mut("required") {
                required
                    .retain(|name| !read_only.iter().any(|r| Some(r.as_str()) == name.as_str()));
            }
        }
        if let Some(items) = object.get("items") {
            out.insert("items".to_owned(), self.normalize_node(root, items, depth)?);
        }
        match object.get("additionalProperties") {
            Some(Value::Bool(flag)) => {
                out.insert("additionalProperties".to_owned(), Value::Bool(*flag));
            }
            Some(additional @ Value::Object(_)) => {
                out.insert(
                    "additionalProperties".to_owned(),
                    self.normalize_node(root, additional, depth)?,
                );
            }
            _ => {}
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(variants)) = object.get(key) {
                let variants = variants
                    .iter()
                    .map(|v| self.normalize_node(root, v, depth))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(key.to_owned(), Value::Array(variants));
            }
        }
        if let Some(Value::Array(parts)) = object.get("allOf") {
            let parts = parts
                .iter()
                .map(|v| self.normalize_node(root, v, depth))
                .collect::<Result<Vec<_>, _>>()?;
            // A part that is a shared shape merges through its target (not while that shape
            // is itself being normalized, which is a cycle: then `allOf` stays).
            let resolved: Option<Vec<Value>> = parts
                .iter()
                .map(|part| match self.def_of(part) {
                    None => Some(part.clone()),
                    Some(_) => self.target(part).map(|(_, t)| t.clone()),
                })
                .collect();
            match resolved {
                Some(resolved) => merge_all_of(&mut out, resolved, parts),
                None => {
                    out.insert("allOf".to_owned(), Value::Array(parts));
                }
            }
        }
        if object.get("nullable").and_then(Value::as_bool) == Some(true) {
            add_null_type(&mut out);
        }
        Ok(Value::Object(out))
    }

    /// Serialized size of everything a shared shape reaches, counting each shape once, capped
    /// just above [`LARGE_LIMIT`].
    fn closure_size(&self, id: DefId) -> usize {
        if let Some(size) = self.closure.borrow().get(&id) {
            return *size;
        }
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![id];
        let mut total = 0;
        while let Some(next) = stack.pop() {
            if !seen.insert(next) {
                continue;
            }
            let Some(Ok(schema)) = &self.defs[next.0].schema else {
                continue;
            };
            total += crate::to_stable_json(schema).len();
            if total > LARGE_LIMIT {
                break;
            }
            collect_refs(schema, &mut |name| {
                if let Some(found) = self.by_name.get(name) {
                    stack.push(*found);
                }
            });
        }
        self.closure.borrow_mut().insert(id, total);
        total
    }

    /// Serialized size of a shared shape written out with every reference inlined (a tree,
    /// where [`Self::closure_size`] counts a DAG), capped just above [`INLINE_LIMIT`];
    /// recursive shapes are never inlined, so they count as over the limit.
    fn inlined_size(&self, id: DefId, path: &mut Vec<DefId>) -> usize {
        if let Some(size) = self.inlined.borrow().get(&id) {
            return *size;
        }
        if path.contains(&id) {
            return INLINE_LIMIT + 1;
        }
        let Some(Ok(schema)) = &self.defs[id.0].schema else {
            return 0;
        };
        path.push(id);
        let mut total = crate::to_stable_json(schema).len();
        let mut references = Vec::new();
        collect_refs(schema, &mut |name| references.push(name.to_owned()));
        for name in references {
            if total > INLINE_LIMIT {
                break;
            }
            if let Some(found) = self.by_name.get(&name) {
                total += self.inlined_size(*found, path);
            }
        }
        path.pop();
        let total = total.min(INLINE_LIMIT + 1);
        self.inlined.borrow_mut().insert(id, total);
        total
    }

    /// The self-contained JSON Schema of one argument: small shared shapes inline, larger ones
    /// once in `expansion.defs` (referenced as `#/$defs/<name>`), and shapes past
    /// [`LARGE_LIMIT`] cut to described free-form objects. Objects always get `properties` and
    /// arrays `items`, which some clients require.
    pub fn expand(&self, schema: &Value, expansion: &mut Expansion) -> Value {
        self.expand_node(schema, expansion, &mut Vec::new())
    }

    fn expand_node(&self, node: &Value, expansion: &mut Expansion, path: &mut Vec<DefId>) -> Value {
        let Value::Object(object) = node else {
            return node.clone();
        };
        if let Some(id) = self.def_of(node) {
            let def = &self.defs[id.0];
            let Some(Ok(target)) = &def.schema else {
                return json!({});
            };
            let siblings = object.iter().filter(|(k, _)| k.as_str() != "$ref");
            if self.closure_size(id) > LARGE_LIMIT {
                expansion.stubbed += 1;
                let mut stub = free_form(&def.name, target);
                for (key, value) in siblings {
                    if key == "description" {
                        stub.insert(
                            key.clone(),
                            json!(
                                format!(
                                    "{} {}",
                                    value.as_str().unwrap_or_default(),
                                    stub_note(&def.name)
                                )
                                .trim()
                                .to_owned()
                            ),
                        );
                    } else {
                        stub.insert(key.clone(), value.clone());
                    }
                }
                return Value::Object(stub);
            }
            if path.contains(&id) || self.inlined_size(id, &mut Vec::new()) > INLINE_LIMIT {
                if !expansion.defs.contains_key(&def.name) {
                    expansion.defs.insert(def.name.clone(), Value::Null);
                    path.push(id);
                    let expanded = self.expand_node(target, expansion, path);
                    path.pop();
                    expansion.defs.insert(def.name.clone(), expanded);
                }
                return node.clone();
            }
            path.push(id);
            let mut inlined = self.expand_node(target, expansion, path);
            path.pop();
            if let Value::Object(out) = &mut inlined {
                for (key, value) in siblings {
                    out.insert(key.clone(), value.clone());
                }
            }
            return inlined;
        }
        let mut out = Map::new();
        for (key, value) in object {
            let expanded = match (key.as_str(), value) {
                ("properties", Value::Object(properties)) => Value::Object(
                    properties
                        .iter()
                        .map(|(name, p)| (name.clone(), self.expand_node(p, expansion, path)))
                        .collect(),
                ),
                ("items" | "additionalProperties", Value::Object(_)) => {
                    self.expand_node(value, expansion, path)
                }
                ("oneOf" | "anyOf" | "allOf", Value::Array(variants)) => Value::Array(
                    variants
                        .iter()
                        .map(|v| self.expand_node(v, expansion, path))
                        .collect(),
                ),
                _ => value.clone(),
            };
            out.insert(key.clone(), expanded);
        }
        if has_type(&out, "object") {
            out.entry("properties").or_insert_with(|| json!({}));
        }
        if has_type(&out, "array") {
            out.entry("items").or_insert_with(|| json!({}));
        }
        Value::Object(out)
    }
}

impl Default for SchemaArena<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// JSON Schema's type names.
const TYPE_NAMES: &[&str] = &[
    "null", "boolean", "integer", "number", "string", "array", "object",
];

/// Removes kept keywords whose values JSON Schema 2020-12 does not allow there (a vendor's
/// `type: [string, integer, {}]`, `maxLength: "64"`, `required: true`), so no client that
/// compiles the schema refuses it; a `type` list keeps its valid names, once each.
fn keep_well_formed(out: &mut Map<String, Value>) {
    if let Some(Value::Array(names)) = out.get_mut("type") {
        let mut seen = Vec::new();
        names.retain(|name| {
            let valid =
                name.as_str().is_some_and(|n| TYPE_NAMES.contains(&n)) && !seen.contains(name);
            if valid {
                seen.push(name.clone());
            }
            valid
        });
    }
    if let Some(Value::Array(names)) = out.get_mut("required") {
        let mut seen = Vec::new();
        names.retain(|name| {
            let valid = name.is_string() && !seen.contains(name);
            if valid {
                seen.push(name.clone());
            }
            valid
        });
    }
    let count = |v: &Value| v.as_f64().is_some_and(|n| n >= 0.0 && n.fract() == 0.0);
    out.retain(|key, value| match key.as_str() {
        "type" => match value {
            Value::String(name) => TYPE_NAMES.contains(&name.as_str()),
            Value::Array(names) => !names.is_empty(),
            _ => false,
        },
        "description" | "title" | "format" | "pattern" => value.is_string(),
        "enum" | "examples" | "required" => value.is_array(),
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => value.is_number(),
        "multipleOf" => value.as_f64().is_some_and(|n| n > 0.0),
        "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties" => {
            count(value)
        }
        "uniqueItems" | "deprecated" => value.is_boolean(),
        _ => true,
    });
}

fn stub_note(name: &str) -> String {
    format!(
        "(The full `{name}` schema is too large to include here: send it as JSON following the vendor's documentation of `{name}`.)"
    )
}

/// A free-form stand-in for a shape too large to expand; the typed parser accepts any JSON
/// there.
fn free_form(name: &str, target: &Value) -> Map<String, Value> {
    let mut stub = Map::new();
    let is_array = target.get("type").and_then(Value::as_str) == Some("array");
    stub.insert(
        "type".to_owned(),
        json!(if is_array { "array" } else { "object" }),
    );
    if is_array {
        stub.insert("items".to_owned(), json!({}));
    } else {
        stub.insert("properties".to_owned(), json!({}));
        stub.insert("additionalProperties".to_owned(), json!(true));
    }
    let description = target
        .get("description")
        .and_then(Value::as_str)
        .map_or_else(|| format!("A {name}."), |d| d.trim().to_owned());
    stub.insert(
        "description".to_owned(),
        json!(format!("{description} {}", stub_note(name))),
    );
    stub
}

fn has_type(object: &Map<String, Value>, wanted: &str) -> bool {
    match object.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(types)) => types.iter().any(|t| t == wanted),
        _ => false,
    }
}

/// Calls `found` with the name of every `#/$defs/...` reference in a normalized node.
fn collect_refs(node: &Value, found: &mut dyn FnMut(&str)) {
    match node {
        Value::Object(object) => {
            if let Some(name) = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(DEFS_PREFIX))
            {
                found(name);
            }
            for value in object.values() {
                collect_refs(value, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_refs(item, found);
            }
        }
        _ => {}
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

/// Merges object-shaped `allOf` parts (`parts`, with shared shapes resolved) into one object;
/// keeps `allOf` of the `original` parts when a part is not an object schema, since merging
/// would change its meaning.
fn merge_all_of(out: &mut Map<String, Value>, parts: Vec<Value>, original: Vec<Value>) {
    let mergeable = parts.iter().all(|part| {
        part.get("properties").is_some()
            || part.get("type").and_then(Value::as_str) == Some("object")
    });
    if !mergeable {
        out.insert("allOf".to_owned(), Value::Array(original));
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

/// Closes, in a tool's input schema, every object that declares properties and says nothing
/// of others: the typed parser refuses members such an object does not declare, so
/// the schema says `additionalProperties: false` and a client validating against it refuses
/// what the parser would. An `allOf` part stays open (closing one part would refuse the other
/// parts' members), and so does a shared shape used as one.
pub fn close_declared_objects(input_schema: &mut Value) {
    let mut parts = BTreeSet::new();
    collect_all_of_refs(input_schema, &mut parts);
    close(input_schema, true, &parts);
}

fn collect_all_of_refs(node: &Value, found: &mut BTreeSet<String>) {
    match node {
        Value::Object(members) => {
            for part in members
                .get("allOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(name) = part
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(DEFS_PREFIX))
                {
                    found.insert(name.to_owned());
                }
            }
            members.values().for_each(|v| collect_all_of_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_all_of_refs(v, found)),
        _ => {}
    }
}

fn close(node: &mut Value, close_self: bool, open_defs: &BTreeSet<String>) {
    let Value::Object(members) = node else {
        return;
    };
    // What the typed parser reads as a struct: declared properties, and no other type.
    let declares = members
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    let object_only = members
        .get("type")
        .is_none_or(|t| t.as_str() == Some("object"));
    if close_self && declares && object_only && !members.contains_key("additionalProperties") {
        members.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    for (key, value) in members.iter_mut() {
        match (key.as_str(), value) {
            ("properties", Value::Object(children)) => {
                children
                    .values_mut()
                    .for_each(|c| close(c, true, open_defs));
            }
            ("$defs", Value::Object(defs)) => {
                for (name, def) in defs.iter_mut() {
                    close(def, !open_defs.contains(name), open_defs);
                }
            }
            ("allOf", Value::Array(parts)) => {
                parts.iter_mut().for_each(|p| close(p, false, open_defs));
            }
            ("oneOf" | "anyOf", Value::Array(branches)) => {
                branches.iter_mut().for_each(|b| close(b, true, open_defs));
            }
            ("items" | "additionalProperties", child) => close(child, true, open_defs),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(root: &Value, schema: Value) -> (SchemaArena<'_>, Value) {
        let mut arena = SchemaArena::new();
        let id = arena.add_root(root);
        let value = arena.normalize(id, &schema).unwrap();
        (arena, value)
    }

    #[test]
    fn keywords_json_schema_does_not_allow_are_dropped() {
        let root = json!({});
        let (_, value) = normalized(
            &root,
            json!({
                "type": ["string", "integer", {}, "string", "text"],
                "maxLength": "64",
                "minLength": 2,
                "multipleOf": 0,
                "required": ["a", 1, "a"],
                "uniqueItems": "yes",
                "pattern": 5,
                "enum": "x"
            }),
        );
        assert_eq!(
            value,
            json!({"type": ["string", "integer"], "minLength": 2, "required": ["a"]})
        );
        let (_, unknown) = normalized(&root, json!({"type": "text", "description": 7}));
        assert_eq!(unknown, json!({}));
    }

    #[test]
    fn nullable_30_and_31_agree() {
        let root = json!({});
        let (_, v30) = normalized(&root, json!({"type": "string", "nullable": true}));
        let (_, v31) = normalized(&root, json!({"type": ["string", "null"]}));
        assert_eq!(v30, v31);
        assert!(is_nullable(&v30));
    }

    #[test]
    fn recursion_goes_through_local_defs_and_external_refs_are_refused() {
        let root = json!({"components": {"schemas": {"Node": {
            "type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}
        }}}});
        let (mut arena, node) = normalized(&root, json!({"$ref": "#/components/schemas/Node"}));
        assert_eq!(
            node.pointer("/properties/child/$ref"),
            Some(&json!("#/$defs/Node"))
        );
        let mut expansion = Expansion::default();
        let expanded = arena.expand(&node, &mut expansion);
        assert_eq!(
            expanded.pointer("/properties/child/$ref"),
            Some(&json!("#/$defs/Node"))
        );
        assert_eq!(
            expansion.defs["Node"].pointer("/properties/child/$ref"),
            Some(&json!("#/$defs/Node")),
            "the recursive shape is defined once and refers to itself"
        );
        let root_id = RootId(0);
        assert_eq!(
            arena
                .normalize(root_id, &json!({"$ref": "other.yaml#/X"}))
                .unwrap_err(),
            SchemaError::ExternalRef {
                reference: "other.yaml#/X".to_owned()
            }
        );
    }

    #[test]
    fn all_of_objects_merge_also_through_refs() {
        let root = json!({"components": {"schemas": {"Base": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}}});
        let (_, merged) = normalized(
            &root,
            json!({"allOf": [
                {"$ref": "#/components/schemas/Base"},
                {"properties": {"b": {"type": "integer", "readOnly": true}, "c": {"type": "boolean"}}}
            ]}),
        );
        assert_eq!(
            merged,
            json!({"type": "object", "properties": {"a": {"type": "string"}, "c": {"type": "boolean"}}, "required": ["a"]})
        );
    }

    /// Thirty shapes, each referring to the next one twice: inlining per use would write 2^30
    /// copies; the arena converts each once and the expansion stays small.
    #[test]
    fn dense_ref_graphs_stay_linear() {
        let mut schemas = Map::new();
        for n in 0..30 {
            let next = json!({"$ref": format!("#/components/schemas/S{}", n + 1)});
            schemas.insert(
                format!("S{n}"),
                json!({"type": "object", "description": format!("Shape {n} with a long enough description to add up."), "properties": {"left": next, "right": next}}),
            );
        }
        schemas.insert("S30".to_owned(), json!({"type": "string"}));
        let root = json!({"components": {"schemas": schemas}});
        let (arena, schema) = normalized(&root, json!({"$ref": "#/components/schemas/S0"}));
        let mut expansion = Expansion::default();
        let expanded = arena.expand(&schema, &mut expansion);
        let size = crate::to_stable_json(&expanded).len()
            + crate::to_stable_json(&Value::Object(expansion.defs.clone())).len();
        assert!(size < 64 * 1024, "{size} bytes");
        assert_eq!(expanded["type"], "object");
    }

    #[test]
    fn shapes_past_the_size_limit_become_described_free_form_objects() {
        let mut properties = Map::new();
        for n in 0..400 {
            properties.insert(
                format!("field_{n}"),
                json!({"type": "string", "description": "A field of a very large vendor entity."}),
            );
        }
        let root = json!({"components": {"schemas": {
            "Huge": {"type": "object", "description": "A huge entity.", "properties": properties},
            "Holder": {"type": "object", "properties": {"huge": {"$ref": "#/components/schemas/Huge"}, "name": {"type": "string"}}}
        }}});
        let (arena, holder) = normalized(&root, json!({"$ref": "#/components/schemas/Holder"}));
        let mut expansion = Expansion::default();
        let expanded = arena.expand(&holder, &mut expansion);
        assert_eq!(expansion.stubbed, 1);
        let huge = &expanded["properties"]["huge"];
        assert_eq!(huge["type"], "object");
        assert_eq!(huge["properties"], json!({}));
        assert!(
            huge["description"].as_str().unwrap().contains("`Huge`"),
            "{huge}"
        );
        assert!(arena.is_large(&holder["properties"]["huge"]));
    }

    #[test]
    fn objects_get_properties_and_arrays_items() {
        let root = json!({});
        let (arena, schema) = normalized(
            &root,
            json!({"type": "object", "properties": {"meta": {"type": "object"}, "tags": {"type": "array"}}}),
        );
        let expanded = arena.expand(&schema, &mut Expansion::default());
        assert_eq!(expanded["properties"]["meta"]["properties"], json!({}));
        assert_eq!(expanded["properties"]["tags"]["items"], json!({}));
    }

    #[test]
    fn declared_objects_are_closed_but_allof_parts_and_free_forms_stay_open() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "customer": {"type": "object", "properties": {"email": {"type": "string"}}},
                "meta": {"type": "object", "properties": {}},
                "extra": {"type": "object", "properties": {"a": {}}, "additionalProperties": true},
                "lines": {"type": "array", "items": {"properties": {"sku": {"type": "string"}}}},
                "either": {"oneOf": [{"type": "object", "properties": {"a": {}}}, {"type": "string"}]},
                "both": {"allOf": [{"$ref": "#/$defs/Part"}, {"type": "object", "properties": {"b": {}}}]},
            },
            "$defs": {
                "Part": {"type": "object", "properties": {"a": {}}},
                "Alone": {"type": "object", "properties": {"c": {}}},
            },
        });
        close_declared_objects(&mut schema);
        let closed = |pointer: &str| {
            schema
                .pointer(pointer)
                .unwrap()
                .get("additionalProperties")
                .cloned()
        };
        assert_eq!(closed(""), Some(json!(false)));
        assert_eq!(closed("/properties/customer"), Some(json!(false)));
        assert_eq!(
            closed("/properties/meta"),
            None,
            "no declared property: free-form"
        );
        assert_eq!(
            closed("/properties/extra"),
            Some(json!(true)),
            "said explicitly"
        );
        assert_eq!(closed("/properties/lines/items"), Some(json!(false)));
        assert_eq!(closed("/properties/either/oneOf/0"), Some(json!(false)));
        assert_eq!(
            closed("/properties/both/allOf/1"),
            None,
            "an allOf part stays open"
        );
        assert_eq!(
            closed("/$defs/Part"),
            None,
            "a shape used as an allOf part stays open"
        );
        assert_eq!(closed("/$defs/Alone"), Some(json!(false)));
    }
}
