//! The generated argument parsers against Ajv: for instances generated from each tool's full
//! input schema (valid by construction, and the same mutated at one node: a value of another
//! shape, a `null`, a deleted member), the typed parser accepts exactly what Ajv 2020-12
//! accepts. The tools are every seed vendor's and those of the fixtures whose schemas are the
//! hardest to parse: `constraints` (every constraint keyword at some depth), `composition`,
//! `nullable_styles`, `recursive_schema` and `enums_and_reserved_words`. Ajv checks all of
//! them in one Node process (`scripts/ajv-verdicts.mjs`, installed by `scripts/test.sh`).
//! Ajv judges by the published schema; that it holds every constraint of the vendor's source
//! is `tests/constraint_survival.rs`.
//!
//! Two differences are by design, and instances that meet them are left out by what they
//! are: a `null` for an optional argument or member means "absent" to the parser (Ajv
//! refuses it unless the schema allows null), and a path parameter must stay one segment
//! (see `untrusted_input.rs`). A `null` anywhere else (a required member, an array item, a
//! nullable member) is compared like any other value.

mod common;

mod constraints {
    include!("../../tests/expanded/constraints.rs");
}
mod composition {
    include!("../../tests/expanded/composition.rs");
}
mod nullable_styles {
    include!("../../tests/expanded/nullable_styles.rs");
}
mod recursive_schema {
    include!("../../tests/expanded/recursive_schema.rs");
}
mod enums_and_reserved_words {
    include!("../../tests/expanded/enums_and_reserved_words.rs");
}

use std::process::Command;

use common::{node, scripts};
use serde_json::{Map, Value, json};

/// A small deterministic generator (xorshift), so a failure names a reproducible case.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/$defs/");
            resolve(&root["$defs"][name], root)
        }
        None => schema,
    }
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A value the schema accepts (as far as a generator without a regex inverter can: a string
/// with a `pattern` is a short word, which the mutations and Ajv then judge).
fn valid(schema: &Value, root: &Value, random: &mut Random, depth: usize) -> Value {
    let schema = resolve(schema, root);
    if let Some(Value::Array(values)) = schema.get("enum") {
        return values[random.below(values.len() as u64) as usize].clone();
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    for union in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = schema.get(union) {
            let branch = &branches[random.below(branches.len() as u64) as usize];
            return valid(branch, root, random, depth + 1);
        }
    }
    let kinds: Vec<&str> = types(schema).into_iter().filter(|t| *t != "null").collect();
    let kind = if kinds.is_empty() {
        if schema.get("properties").is_some() {
            "object"
        } else {
            "string"
        }
    } else {
        kinds[random.below(kinds.len() as u64) as usize]
    };
    let count = |key: &str| schema.get(key).and_then(Value::as_u64);
    match kind {
        "string" => {
            let min = count("minLength").unwrap_or(1).max(1);
            let max = count("maxLength").unwrap_or(min + 6).max(min);
            let length = min + random.below(max - min + 1);
            let letters = if schema.get("pattern").is_some() {
                "ABC0129-"
            } else {
                "abcxyz0é😀"
            };
            let letters: Vec<char> = letters.chars().collect();
            Value::String(
                (0..length)
                    .map(|_| letters[random.below(letters.len() as u64) as usize])
                    .collect(),
            )
        }
        "integer" | "number" => {
            let low = schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0);
            let low = schema
                .get("exclusiveMinimum")
                .and_then(Value::as_f64)
                .map_or(low, |m| m.floor() + 1.0);
            let high = schema
                .get("maximum")
                .and_then(Value::as_f64)
                .unwrap_or(low + 50.0);
            let high = schema
                .get("exclusiveMaximum")
                .and_then(Value::as_f64)
                .map_or(high, |m| m.ceil() - 1.0);
            let step = schema
                .get("multipleOf")
                .and_then(Value::as_f64)
                .unwrap_or(1.0);
            let steps = ((high - low) / step).floor().max(0.0) as u64;
            let value = (low / step).ceil() * step + step * random.below(steps + 1) as f64;
            if kind == "integer" || value.fract() == 0.0 {
                json!(value as i64)
            } else {
                json!((value * 100.0).round() / 100.0)
            }
        }
        "boolean" => json!(random.chance(50)),
        "array" => {
            let min = count("minItems").unwrap_or(0);
            let max = count("maxItems").unwrap_or(min + 2).max(min).min(min + 3);
            let length = min + random.below(max - min + 1);
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            let mut out: Vec<Value> = Vec::new();
            for _ in 0..length {
                if depth > 6 {
                    break;
                }
                let item = valid(&items, root, random, depth + 1);
                if schema.get("uniqueItems") == Some(&json!(true)) && out.contains(&item) {
                    continue;
                }
                out.push(item);
            }
            Value::Array(out)
        }
        _ => {
            let mut out = Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, property) in properties {
                    if depth < 6 && (required.contains(&name.as_str()) || random.chance(50)) {
                        out.insert(name.clone(), valid(property, root, random, depth + 1));
                    }
                }
            }
            if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties")
                && random.chance(50)
            {
                out.insert(
                    "extra_key".to_owned(),
                    valid(extra, root, random, depth + 1),
                );
            }
            let max = count("maxProperties").unwrap_or(u64::MAX) as usize;
            while out.len() > max {
                let last = out.keys().next_back().unwrap().clone();
                out.remove(&last);
            }
            Value::Object(out)
        }
    }
}

/// The same value with one node replaced by something its schema may refuse.
fn mutate(value: &mut Value, random: &mut Random) {
    let children: usize = match value {
        Value::Object(members) => members.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if children > 0 && random.chance(70) {
        let pick = random.below(children as u64) as usize;
        match value {
            Value::Object(members) => {
                let key = members.keys().nth(pick).unwrap().clone();
                mutate(members.get_mut(&key).unwrap(), random);
            }
            Value::Array(items) => mutate(&mut items[pick], random),
            _ => {}
        }
        return;
    }
    *value = match (random.below(11), &*value) {
        (0, Value::String(s)) => json!(format!("{s}{}", "x".repeat(70))),
        (1, Value::String(s)) => json!(s.chars().take(1).collect::<String>().to_lowercase()),
        (2, Value::Number(n)) => json!(n.as_f64().unwrap_or(0.0) + 0.5),
        (3, Value::Number(n)) => json!(n.as_f64().unwrap_or(0.0) * -1000.0),
        (4, Value::Array(items)) if !items.is_empty() => {
            let mut doubled = items.clone();
            doubled.push(items[0].clone());
            doubled.extend(items.iter().cloned());
            Value::Array(doubled)
        }
        (5, Value::Object(members)) => {
            let mut more = members.clone();
            more.insert("unexpected".to_owned(), json!("x"));
            Value::Object(more)
        }
        (6, _) => json!(true),
        (7, _) => json!([]),
        (8, Value::Object(members)) if !members.is_empty() => {
            let mut fewer = members.clone();
            let key = fewer
                .keys()
                .nth(random.below(fewer.len() as u64) as usize)
                .unwrap()
                .clone();
            fewer.remove(&key);
            Value::Object(fewer)
        }
        (9, _) => Value::Null,
        _ => json!(7),
    };
}

/// Whether `schema` admits `null`.
fn allows_null(schema: &Value, root: &Value) -> bool {
    let schema = resolve(schema, root);
    types(schema).contains(&"null")
        || schema.get("const") == Some(&Value::Null)
        || ["oneOf", "anyOf"].iter().any(|key| {
            schema
                .get(*key)
                .and_then(Value::as_array)
                .is_some_and(|branches| branches.iter().any(|b| allows_null(b, root)))
        })
}

/// Whether `value` holds, at any depth, a `null` for an object member that its schema makes
/// optional and does not allow to be null: "absent" to the parser by design.
fn null_for_optional(value: &Value, schema: &Value, root: &Value) -> bool {
    let schema = resolve(schema, root);
    let in_branches = ["oneOf", "anyOf", "allOf"].iter().any(|key| {
        schema
            .get(*key)
            .and_then(Value::as_array)
            .is_some_and(|branches| branches.iter().any(|b| null_for_optional(value, b, root)))
    });
    if in_branches {
        return true;
    }
    match value {
        Value::Object(members) => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            members.iter().any(|(name, member)| {
                let Some(property) = schema["properties"]
                    .get(name)
                    .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
                else {
                    return false;
                };
                (member.is_null()
                    && !required.contains(&name.as_str())
                    && !allows_null(property, root))
                    || null_for_optional(member, property, root)
            })
        }
        Value::Array(items) => schema
            .get("items")
            .is_some_and(|item| items.iter().any(|i| null_for_optional(i, item, root))),
        _ => false,
    }
}

/// Whether a path argument of `tool` holds text that could leave its segment of the vendor's
/// path: empty, `.` or `..`, or holding a separator or a percent escape. Judged on the
/// instance, so that a parser refusing more than it should is still caught.
fn leaves_a_segment(tool: &specgate_runtime::ToolDef, args: &Map<String, Value>) -> bool {
    let path = tool.endpoint.split_once(' ').map_or("", |(_, path)| path);
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.trim_matches('+')))
        .filter_map(|name| args.get(name)?.as_str())
        .any(|text| matches!(text, "" | "." | "..") || text.contains(['/', '\\', '%']))
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn generated_parsers_accept_exactly_what_ajv_accepts() {
    let Some(node) = node() else { return };
    let tools: Vec<&specgate_runtime::ToolDef> = specgate_api::integrations()
        .iter()
        .flat_map(|i| i.tools)
        .chain(constraints::INTEGRATION.tools)
        .chain(composition::INTEGRATION.tools)
        .chain(nullable_styles::INTEGRATION.tools)
        .chain(recursive_schema::INTEGRATION.tools)
        .chain(enums_and_reserved_words::INTEGRATION.tools)
        .collect();
    let mut random = Random(0x5eed_1234_abcd_9876);
    let mut entries = Vec::new();
    let mut verdicts = Vec::new();
    for tool in &tools {
        let schema: Value = serde_json::from_str(tool.input_schema).unwrap();
        let mut instances = Vec::new();
        for round in 0..60 {
            let mut instance = valid(&schema, &schema, &mut random, 0);
            if round % 2 == 1 {
                mutate(&mut instance, &mut random);
            }
            // By design (see the module docs): no null for an argument, no path value that
            // could leave its segment.
            let Value::Object(args) = &instance else {
                continue;
            };
            if null_for_optional(&instance, &schema, &schema) || leaves_a_segment(tool, args) {
                continue;
            }
            let verdict = (tool.build)(args);
            verdicts.push((
                tool.name,
                instance.clone(),
                verdict.map(|_| ()).map_err(|e| e.to_string()),
            ));
            instances.push(instance);
        }
        entries.push(json!({"schema": schema, "instances": instances}));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("instances.json");
    std::fs::write(&file, serde_json::to_vec(&entries).unwrap()).unwrap();
    let output = Command::new(node)
        .arg(scripts().join("ajv-verdicts.mjs"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ajv: Vec<Vec<bool>> = serde_json::from_slice(&output.stdout).unwrap();
    let ajv: Vec<bool> = ajv.into_iter().flatten().collect();
    assert_eq!(ajv.len(), verdicts.len());
    let accepted = ajv.iter().filter(|v| **v).count();
    // Both kinds of instance are there in numbers, or the comparison proves little.
    assert!(
        accepted > verdicts.len() / 4,
        "{accepted} of {} accepted",
        verdicts.len()
    );
    assert!(
        accepted < verdicts.len() * 3 / 4,
        "{accepted} of {} accepted",
        verdicts.len()
    );
    eprintln!(
        "{} instances of {} tools, {accepted} accepted by Ajv",
        verdicts.len(),
        tools.len()
    );
    let disagreements: Vec<String> = verdicts
        .iter()
        .zip(&ajv)
        .filter(|((_, _, ours), theirs)| ours.is_ok() != **theirs)
        .map(|((tool, instance, ours), theirs)| {
            format!("{tool} {instance}: parser {ours:?}, Ajv accepts: {theirs}")
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of {} instances judged differently:\n{}",
        disagreements.len(),
        verdicts.len(),
        disagreements
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
