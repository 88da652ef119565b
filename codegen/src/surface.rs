//! The tool surface: what an agent relies on, tool by tool. It is committed as the lock file
//! `generated/tools.lock.json`, kept fresh like the generated mirror, and it is both the
//! baseline of the drift report ([`crate::drift`]) and the memory of earlier tool names that
//! become aliases.
//!
//! A tool's identity across renames is its operation: the `operationId` when both sides have
//! one, otherwise the HTTP method and path. An identity shared by two tools identifies neither.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diag::{Diagnostic, Severity};
use crate::ir::{AuthIr, ClassIr, IntegrationIr, PaginationIr, ToolIr};

macro_rules! lock_file_name {
    () => {
        "tools.lock.json"
    };
}

/// The lock file's name in the mirror directory.
pub const LOCK_FILE_NAME: &str = lock_file_name!();

/// The lock file's path in the repository.
pub const LOCK_FILE: &str = concat!("generated/", lock_file_name!());

/// Every integration's tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Surface {
    /// Format version, 1.
    pub specgate_tool_surface: u32,
    /// By integration slug.
    pub integrations: BTreeMap<String, IntegrationSurface>,
}

/// One integration's tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSurface {
    /// By tool name.
    pub tools: BTreeMap<String, ToolSurface>,
}

/// One tool as an agent sees and calls it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSurface {
    /// HTTP method.
    pub method: String,
    /// Path template.
    pub path: String,
    /// The vendor's `operationId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// `read`, `write` or `custom`.
    pub class: String,
    /// Destroys or replaces data.
    pub destructive: bool,
    /// How the tool pages: `none`, `local`, `cursor`, `page` or `offset`.
    pub pagination: String,
    /// The credentials it is called with.
    pub auth: String,
    /// The description the model reads.
    pub description: String,
    /// Each argument's schema, by name.
    pub arguments: BTreeMap<String, Value>,
    /// Required arguments, sorted.
    pub required: Vec<String>,
    /// Earlier names, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl ToolSurface {
    fn of(integration: &IntegrationIr, tool: &ToolIr) -> Self {
        let (arguments, required) = properties_and_required(&tool.input_schema);
        Self {
            method: tool.http_method.as_str().to_owned(),
            path: tool.path_template(),
            operation_id: tool.operation_id.clone(),
            class: match tool.class {
                ClassIr::Read => "read",
                ClassIr::Write => "write",
                ClassIr::Custom => "custom",
            }
            .to_owned(),
            destructive: tool.destructive,
            pagination: match tool.pagination {
                PaginationIr::None => "none",
                PaginationIr::Local => "local",
                PaginationIr::Cursor { .. } => "cursor",
                PaginationIr::Page { .. } => "page",
                PaginationIr::Offset { .. } => "offset",
            }
            .to_owned(),
            auth: auth_label(&integration.auth),
            description: tool.description.clone(),
            arguments,
            required,
            aliases: tool.aliases.clone(),
        }
    }

    /// `GET /orders/{id}` (`getOrder`).
    pub fn endpoint(&self) -> String {
        match &self.operation_id {
            Some(id) => format!("{} {} ({id})", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }

    /// Whether `other` is the same vendor operation.
    pub fn same_operation(&self, other: &ToolSurface) -> bool {
        match (&self.operation_id, &other.operation_id) {
            (Some(a), Some(b)) => a == b,
            _ => self.method == other.method && self.path == other.path,
        }
    }
}

fn auth_label(auth: &AuthIr) -> String {
    match auth {
        AuthIr::None => "none".to_owned(),
        AuthIr::Bearer => "bearer".to_owned(),
        AuthIr::Header(name) => format!("header {name}"),
        AuthIr::Basic => "basic".to_owned(),
        AuthIr::Query(name) => format!("query {name}"),
        AuthIr::OAuth2 { grants, .. } => format!("oauth2 {}", grants.join(",")),
    }
}

impl Surface {
    /// The surface of generated integrations.
    pub fn of(integrations: &[IntegrationIr]) -> Self {
        Self {
            specgate_tool_surface: 1,
            integrations: integrations
                .iter()
                .map(|integration| {
                    let tools = integration
                        .tools
                        .iter()
                        .map(|tool| (tool.name.clone(), ToolSurface::of(integration, tool)))
                        .collect();
                    (integration.name.clone(), IntegrationSurface { tools })
                })
                .collect(),
        }
    }

    /// Reads a lock file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let surface: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if surface.specgate_tool_surface != 1 {
            return Err(format!(
                "unknown lock file version {}",
                surface.specgate_tool_surface
            ));
        }
        Ok(surface)
    }

    /// The lock file's text: pretty, sorted, with a final newline.
    pub fn to_lock_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The one tool of `integration` in this surface that is the same operation as `tool`.
    pub fn unique_match<'a>(
        &'a self,
        integration: &str,
        tool: &ToolSurface,
    ) -> Option<(&'a String, &'a ToolSurface)> {
        self.integrations.get(integration)?.unique_match(tool)
    }
}

impl IntegrationSurface {
    /// The one tool here that is the same operation as `tool`.
    pub fn unique_match<'a>(&'a self, tool: &ToolSurface) -> Option<(&'a String, &'a ToolSurface)> {
        let mut matches = self
            .tools
            .iter()
            .filter(|(_, candidate)| candidate.same_operation(tool));
        let first = matches.next()?;
        matches.next().is_none().then_some(first)
    }
}

/// An object schema's properties by name, and its required names, sorted.
pub(crate) fn properties_and_required(schema: &Value) -> (BTreeMap<String, Value>, Vec<String>) {
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    required.sort();
    (properties, required)
}

/// Gives every tool its aliases: the names its doc spec lists, plus, for a tool whose
/// operation `previous` knew under another name, that name and its aliases. An alias never
/// shadows a live tool name, and a name two tools claim is given to neither.
pub fn apply_aliases(
    integrations: &mut [IntegrationIr],
    previous: &Surface,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let current = Surface::of(integrations);
    let live: BTreeSet<String> = integrations
        .iter()
        .flat_map(|i| i.tools.iter().map(|t| t.name.clone()))
        .collect();
    let mut claims: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for integration in integrations.iter_mut() {
        for tool in &mut integration.tools {
            let mut aliases: BTreeSet<String> = tool.aliases.drain(..).collect();
            let surface = &current.integrations[&integration.name].tools[&tool.name];
            // Both sides must be unambiguous: this is the only tool with that operation now,
            // and it had only one name before.
            if current.unique_match(&integration.name, surface).is_some()
                && let Some((old_name, old)) = previous.unique_match(&integration.name, surface)
            {
                aliases.insert(old_name.clone());
                aliases.extend(old.aliases.iter().cloned());
            }
            aliases.remove(&tool.name);
            for alias in &aliases {
                claims
                    .entry(alias.clone())
                    .or_default()
                    .push(tool.name.clone());
            }
            tool.aliases = aliases.into_iter().collect();
        }
    }
    for integration in integrations.iter_mut() {
        let file = integration
            .sources
            .first()
            .map(|s| s.path.clone())
            .unwrap_or_default();
        for tool in &mut integration.tools {
            tool.aliases.retain(|alias| {
                if live.contains(alias) {
                    diagnostics.push(Diagnostic::new(
                        "naming::alias-shadows-tool",
                        Severity::Warning,
                        &file,
                        &tool.pointer,
                        format!("`{alias}`, an earlier name of `{}`, is now the name of another tool; it is not an alias", tool.name),
                    ));
                    return false;
                }
                let owners = &claims[alias];
                if owners.len() > 1 {
                    diagnostics.push(Diagnostic::new(
                        "naming::ambiguous-alias",
                        Severity::Warning,
                        &file,
                        &tool.pointer,
                        format!("`{alias}` is an earlier name of {}; it is an alias of none", owners.join(" and ")),
                    ));
                    return false;
                }
                true
            });
        }
    }
}
