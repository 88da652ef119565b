//! The drift report: how the tool surface changed between a base lock file and what the
//! working tree's specs generate, as changes with stable check ids in three classes.
//! `cargo codegen diff` prints it and fails on breaking changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::Generated;
use crate::surface::{IntegrationSurface, Surface, ToolSurface, properties_and_required};

/// How much a change can hurt an agent that worked against the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A call that worked before can now fail or do something else.
    Breaking,
    /// Calls still work, but what they mean or how they are named moved.
    Warning,
    /// More is possible; nothing that worked stops working.
    Info,
}

impl Class {
    /// `breaking`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breaking => "breaking",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// Every check id, with its class. `tests/codegen.rs` proves each has a fixture pair.
pub const CHECKS: &[(&str, Class)] = &[
    ("integration-rejected", Class::Breaking),
    ("tool-removed", Class::Breaking),
    ("tool-renamed", Class::Breaking),
    ("tool-name-reused", Class::Breaking),
    ("tool-dropped-by-documentation-gate", Class::Breaking),
    ("alias-removed", Class::Breaking),
    ("required-argument-added", Class::Breaking),
    ("argument-removed", Class::Breaking),
    ("argument-type-changed", Class::Breaking),
    ("enum-value-removed", Class::Breaking),
    ("max-lowered", Class::Breaking),
    ("min-raised", Class::Breaking),
    ("pattern-changed", Class::Breaking),
    ("unknown-fields-refused", Class::Breaking),
    ("method-class-changed", Class::Breaking),
    ("auth-changed", Class::Breaking),
    ("pagination-removed", Class::Breaking),
    ("tool-renamed-aliased", Class::Warning),
    ("default-changed", Class::Warning),
    ("destructive-description-changed", Class::Warning),
    ("tool-added", Class::Info),
    ("optional-argument-added", Class::Info),
    ("argument-now-optional", Class::Info),
    ("argument-type-widened", Class::Info),
    ("enum-value-added", Class::Info),
    ("limit-relaxed", Class::Info),
    ("description-changed", Class::Info),
    ("pagination-changed", Class::Info),
];

fn class_of(check: &str) -> Class {
    CHECKS
        .iter()
        .find(|(id, _)| *id == check)
        .map_or(Class::Breaking, |(_, class)| *class)
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Change {
    /// Its class.
    pub class: Class,
    /// Integration slug.
    pub integration: String,
    /// The tool's name in the working tree (its base name if it is gone).
    pub tool: String,
    /// Stable check id (see [`CHECKS`]).
    pub check: &'static str,
    /// What changed, for a reviewer.
    pub detail: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What the base is (`HEAD`, a ref, or a file).
    pub base: String,
    /// Changes, breaking first, then by integration, tool and check.
    pub changes: Vec<Change>,
}

impl Report {
    /// Changes of one class.
    pub fn count(&self, class: Class) -> usize {
        self.changes.iter().filter(|c| c.class == class).count()
    }

    /// Whether anything is breaking.
    pub fn is_breaking(&self) -> bool {
        self.count(Class::Breaking) > 0
    }

    fn summary(&self) -> String {
        format!(
            "{} breaking, {} warning, {} info",
            self.count(Class::Breaking),
            self.count(Class::Warning),
            self.count(Class::Info)
        )
    }

    /// For a terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "tool surface: {} -> working tree: {}\n",
            self.base,
            self.summary()
        );
        for change in &self.changes {
            let _ = writeln!(
                out,
                "{:<8} {:<34} {}/{}: {}",
                change.class.as_str(),
                change.check,
                change.integration,
                change.tool,
                change.detail
            );
        }
        out
    }

    /// For a pull-request comment.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### Tool surface drift ({} → working tree)\n\n**{}**\n",
            self.base,
            self.summary()
        );
        if !self.changes.is_empty() {
            out.push_str("\n| class | check | tool | change |\n| --- | --- | --- | --- |\n");
            for change in &self.changes {
                let _ = writeln!(
                    out,
                    "| {} | `{}` | `{}/{}` | {} |",
                    change.class.as_str(),
                    change.check,
                    change.integration,
                    change.tool,
                    change.detail.replace('|', "\\|").replace('\n', " ")
                );
            }
        }
        out
    }

    /// For machines.
    pub fn to_json(&self) -> Value {
        json!({
            "base": self.base,
            "summary": {
                "breaking": self.count(Class::Breaking),
                "warning": self.count(Class::Warning),
                "info": self.count(Class::Info),
            },
            "changes": self.changes,
        })
    }
}

/// Compares `base` with what `generated` produced from the working tree.
pub fn diff(base_label: &str, base: &Surface, generated: &Generated) -> Report {
    let new = generated.surface();
    let gated: BTreeSet<&str> = generated
        .diagnostics
        .iter()
        .filter(|d| d.code == "gate::undocumented")
        .filter_map(|d| {
            d.message
                .strip_suffix(" is not a tool: it has no documentation")
        })
        .collect();
    let errors: Vec<&str> = generated
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::Severity::Error)
        .map(|d| d.message.as_str())
        .collect();
    let empty = IntegrationSurface::default();
    let names: BTreeSet<&String> = base
        .integrations
        .keys()
        .chain(new.integrations.keys())
        .collect();
    let mut changes = Vec::new();
    for name in names {
        let old = base.integrations.get(name).unwrap_or(&empty);
        let current = new.integrations.get(name);
        if current.is_none() && !errors.is_empty() {
            changes.push(Change {
                class: Class::Breaking,
                integration: name.clone(),
                tool: "*".to_owned(),
                check: "integration-rejected",
                detail: format!(
                    "the specs no longer generate: {} error(s), first: {}",
                    errors.len(),
                    errors[0]
                ),
            });
        }
        let mut sink = Sink {
            integration: name,
            changes: &mut changes,
        };
        diff_integration(old, current.unwrap_or(&empty), &gated, &mut sink);
    }
    changes.sort();
    Report {
        base: base_label.to_owned(),
        changes,
    }
}

struct Sink<'a> {
    integration: &'a str,
    changes: &'a mut Vec<Change>,
}

impl Sink<'_> {
    fn push(&mut self, tool: &str, check: &'static str, detail: String) {
        self.changes.push(Change {
            class: class_of(check),
            integration: self.integration.to_owned(),
            tool: tool.to_owned(),
            check,
            detail,
        });
    }
}

fn diff_integration(
    old: &IntegrationSurface,
    new: &IntegrationSurface,
    gated: &BTreeSet<&str>,
    sink: &mut Sink<'_>,
) {
    let mut matched: BTreeSet<&str> = BTreeSet::new();
    for (name, before) in &old.tools {
        if let Some(after) = new.tools.get(name) {
            matched.insert(name);
            if after.same_operation(before) {
                diff_tool(name, before, after, sink);
                continue;
            }
            sink.push(
                name,
                "tool-name-reused",
                format!("was {}, now names {}", before.endpoint(), after.endpoint()),
            );
        }
        // A tool that lists the old name as an alias, or else the one tool with its operation.
        let moved = new
            .tools
            .iter()
            .find(|(_, t)| t.aliases.contains(name))
            .or_else(|| new.unique_match(before).filter(|(n, _)| *n != name));
        match moved {
            Some((new_name, after)) => {
                matched.insert(new_name);
                if after.aliases.contains(name) {
                    sink.push(
                        new_name,
                        "tool-renamed-aliased",
                        format!(
                            "renamed from `{name}`, which stays callable as a deprecated alias"
                        ),
                    );
                } else {
                    sink.push(
                        new_name,
                        "tool-renamed",
                        format!(
                            "renamed from `{name}` ({}); calls to the old name fail",
                            before.endpoint()
                        ),
                    );
                }
                diff_tool(new_name, before, after, sink);
            }
            None if new.tools.contains_key(name) => {}
            None => {
                let endpoint = format!("{} {}", before.method, before.path);
                if gated.contains(endpoint.as_str()) {
                    sink.push(
                        name,
                        "tool-dropped-by-documentation-gate",
                        format!(
                            "{} lost its documentation, so it is no longer a tool",
                            before.endpoint()
                        ),
                    );
                } else {
                    sink.push(
                        name,
                        "tool-removed",
                        format!("{} is gone", before.endpoint()),
                    );
                }
            }
        }
    }
    for (name, after) in &new.tools {
        if !matched.contains(name.as_str()) {
            sink.push(name, "tool-added", after.endpoint());
        }
    }
}

fn diff_tool(name: &str, before: &ToolSurface, after: &ToolSurface, sink: &mut Sink<'_>) {
    if before.class != after.class {
        sink.push(
            name,
            "method-class-changed",
            format!(
                "{} -> {}; method filters now treat it differently",
                before.class, after.class
            ),
        );
    }
    if before.auth != after.auth {
        sink.push(
            name,
            "auth-changed",
            format!("{} -> {}", before.auth, after.auth),
        );
    }
    if before.pagination != after.pagination {
        if after.pagination == "none" {
            sink.push(
                name,
                "pagination-removed",
                format!(
                    "was paged ({}); `limit` and `next_cursor` are gone",
                    before.pagination
                ),
            );
        } else {
            sink.push(
                name,
                "pagination-changed",
                format!("{} -> {}", before.pagination, after.pagination),
            );
        }
    }
    if before.description != after.description {
        if before.destructive || after.destructive {
            sink.push(
                name,
                "destructive-description-changed",
                "the description of a destructive tool changed; review what the model is told"
                    .to_owned(),
            );
        } else {
            sink.push(
                name,
                "description-changed",
                "the tool's description changed".to_owned(),
            );
        }
    }
    for alias in &before.aliases {
        if !after.aliases.contains(alias) {
            sink.push(
                name,
                "alias-removed",
                format!("`{alias}` is no longer callable"),
            );
        }
    }
    diff_properties(
        name,
        "",
        (&before.arguments, &before.required),
        (&after.arguments, &after.required),
        sink,
    );
}

type Properties<'a> = (&'a BTreeMap<String, Value>, &'a Vec<String>);

fn diff_properties(
    tool: &str,
    prefix: &str,
    (old, old_required): Properties<'_>,
    (new, new_required): Properties<'_>,
    sink: &mut Sink<'_>,
) {
    for (key, before) in old {
        let path = format!("{prefix}{key}");
        match new.get(key) {
            None => sink.push(tool, "argument-removed", format!("`{path}`")),
            Some(after) => {
                let (was, is) = (old_required.contains(key), new_required.contains(key));
                if is && !was {
                    sink.push(
                        tool,
                        "required-argument-added",
                        format!("`{path}` is now required"),
                    );
                } else if was && !is {
                    sink.push(tool, "argument-now-optional", format!("`{path}`"));
                }
                diff_schema(tool, &path, before, after, sink);
            }
        }
    }
    for key in new.keys().filter(|k| !old.contains_key(*k)) {
        let path = format!("{prefix}{key}");
        if new_required.contains(key) {
            sink.push(
                tool,
                "required-argument-added",
                format!("new argument `{path}`"),
            );
        } else {
            sink.push(tool, "optional-argument-added", format!("`{path}`"));
        }
    }
}

fn types(schema: &Value) -> BTreeSet<String> {
    match schema.get("type") {
        Some(Value::String(t)) => BTreeSet::from([t.clone()]),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "none".to_owned(), Value::to_string)
}

/// Compares one argument's schema, recursing into properties and items.
fn diff_schema(tool: &str, path: &str, old: &Value, new: &Value, sink: &mut Sink<'_>) {
    let (before, after) = (types(old), types(new));
    if before != after {
        // No type accepts anything; gaining types or losing the restriction widens.
        let widened = after.is_empty() || (!before.is_empty() && after.is_superset(&before));
        sink.push(
            tool,
            if widened {
                "argument-type-widened"
            } else {
                "argument-type-changed"
            },
            format!(
                "`{path}`: type {} -> {}",
                show(old.get("type")),
                show(new.get("type"))
            ),
        );
    }
    if old.get("format") != new.get("format") {
        sink.push(
            tool,
            if new.get("format").is_none() {
                "argument-type-widened"
            } else {
                "argument-type-changed"
            },
            format!(
                "`{path}`: format {} -> {}",
                show(old.get("format")),
                show(new.get("format"))
            ),
        );
    }
    for (keyword, composite) in [
        ("anyOf", "any of"),
        ("oneOf", "one of"),
        ("allOf", "all of"),
    ] {
        if old.get(keyword) != new.get(keyword) {
            sink.push(
                tool,
                "argument-type-changed",
                format!("`{path}`: its {composite} variants changed"),
            );
        }
    }
    diff_enum(tool, path, old.get("enum"), new.get("enum"), sink);
    for keyword in [
        "maxLength",
        "maximum",
        "exclusiveMaximum",
        "maxItems",
        "maxProperties",
    ] {
        let (b, a) = (
            old.get(keyword).and_then(Value::as_f64),
            new.get(keyword).and_then(Value::as_f64),
        );
        match (b, a) {
            (b, Some(a)) if b.is_none_or(|b| a < b) => sink.push(
                tool,
                "max-lowered",
                format!("`{path}`: {keyword} {} -> {a}", show(old.get(keyword))),
            ),
            (Some(b), a) if a.is_none_or(|a| a > b) => sink.push(
                tool,
                "limit-relaxed",
                format!("`{path}`: {keyword} {b} -> {}", show(new.get(keyword))),
            ),
            _ => {}
        }
    }
    for keyword in [
        "minLength",
        "minimum",
        "exclusiveMinimum",
        "minItems",
        "minProperties",
    ] {
        let (b, a) = (
            old.get(keyword).and_then(Value::as_f64),
            new.get(keyword).and_then(Value::as_f64),
        );
        match (b, a) {
            (b, Some(a)) if b.is_none_or(|b| a > b) => sink.push(
                tool,
                "min-raised",
                format!("`{path}`: {keyword} {} -> {a}", show(old.get(keyword))),
            ),
            (Some(b), a) if a.is_none_or(|a| a < b) => sink.push(
                tool,
                "limit-relaxed",
                format!("`{path}`: {keyword} {b} -> {}", show(new.get(keyword))),
            ),
            _ => {}
        }
    }
    if old.get("pattern") != new.get("pattern") && new.get("pattern").is_some() {
        sink.push(
            tool,
            "pattern-changed",
            format!(
                "`{path}`: pattern {} -> {}",
                show(old.get("pattern")),
                show(new.get("pattern"))
            ),
        );
    }
    let refuses = |s: &Value| s.get("additionalProperties") == Some(&Value::Bool(false));
    if refuses(new) && !refuses(old) && types(new).contains("object") {
        sink.push(
            tool,
            "unknown-fields-refused",
            format!("`{path}`: fields it does not list are now refused"),
        );
    }
    if old.get("default") != new.get("default") {
        sink.push(
            tool,
            "default-changed",
            format!(
                "`{path}`: default {} -> {}",
                show(old.get("default")),
                show(new.get("default"))
            ),
        );
    }
    if old.get("description") != new.get("description") {
        sink.push(
            tool,
            "description-changed",
            format!("`{path}`: description changed"),
        );
    }
    let (old_props, old_required) = properties_and_required(old);
    let (new_props, new_required) = properties_and_required(new);
    if !old_props.is_empty() || !new_props.is_empty() {
        diff_properties(
            tool,
            &format!("{path}."),
            (&old_props, &old_required),
            (&new_props, &new_required),
            sink,
        );
    }
    if let (Some(old_items), Some(new_items)) = (old.get("items"), new.get("items")) {
        diff_schema(tool, &format!("{path}[]"), old_items, new_items, sink);
    }
}

fn diff_enum(
    tool: &str,
    path: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    sink: &mut Sink<'_>,
) {
    let values = |v: Option<&Value>| -> Option<Vec<Value>> { v.and_then(Value::as_array).cloned() };
    match (values(old), values(new)) {
        (Some(before), Some(after)) => {
            for value in before.iter().filter(|v| !after.contains(v)) {
                sink.push(tool, "enum-value-removed", format!("`{path}`: {value}"));
            }
            for value in after.iter().filter(|v| !before.contains(v)) {
                sink.push(tool, "enum-value-added", format!("`{path}`: {value}"));
            }
        }
        (None, Some(after)) => sink.push(
            tool,
            "enum-value-removed",
            format!("`{path}`: now restricted to {}", Value::Array(after)),
        ),
        (Some(_), None) => sink.push(
            tool,
            "argument-type-widened",
            format!("`{path}`: any value, no longer an enum"),
        ),
        (None, None) => {}
    }
}
