//! The compiled tools as MCP sees them, and the method/tag filters that scope a server.

use std::collections::BTreeSet;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use specgate_runtime::{Integration, MethodClass, ToolDef};

use crate::store::ServerConfig;

/// One compiled tool with its MCP form, built once at startup.
#[derive(Debug)]
pub struct CatalogTool {
    /// The generated definition.
    pub def: &'static ToolDef,
    /// The integration it belongs to.
    pub integration: &'static Integration,
    /// The MCP tool description, schema parsed once.
    pub mcp: Tool,
}

/// Every compiled tool, sorted by name.
#[derive(Debug, Clone)]
pub struct Catalog {
    tools: Arc<Vec<CatalogTool>>,
}

impl Catalog {
    /// Builds the catalog from the generated registry.
    pub fn from_registry(integrations: &'static [&'static Integration]) -> Self {
        let mut tools: Vec<CatalogTool> = integrations
            .iter()
            .flat_map(|integration| integration.tools.iter().map(move |def| (*integration, def)))
            .map(|(integration, def)| CatalogTool {
                def,
                integration,
                mcp: mcp_tool(def),
            })
            .collect();
        tools.sort_by(|a, b| a.def.name.cmp(b.def.name));
        Self {
            tools: Arc::new(tools),
        }
    }

    /// All tools.
    pub fn tools(&self) -> &[CatalogTool] {
        &self.tools
    }

    /// One tool by name, whatever its integration.
    pub fn get(&self, name: &str) -> Option<&CatalogTool> {
        self.tools
            .binary_search_by(|t| t.def.name.cmp(name))
            .ok()
            .map(|i| &self.tools[i])
    }

    /// Tools of one integration that pass a server's filters, in name order.
    pub fn visible<'a>(
        &'a self,
        integration: &'a str,
        config: &'a ServerConfig,
    ) -> impl Iterator<Item = &'a CatalogTool> + 'a {
        self.tools
            .iter()
            .filter(move |t| t.def.integration == integration && allowed(t.def, config))
    }
}

fn mcp_tool(def: &'static ToolDef) -> Tool {
    let schema: JsonObject = serde_json::from_str(def.input_schema).unwrap_or_default();
    let mut tool = Tool::new(def.name, def.description, Arc::new(schema));
    tool.title = Some(def.title.to_owned());
    let mut annotations = ToolAnnotations::new();
    annotations.title = Some(def.title.to_owned());
    annotations.read_only_hint = Some(def.annotations.read_only);
    annotations.destructive_hint = Some(def.annotations.destructive);
    annotations.idempotent_hint = Some(def.annotations.idempotent);
    annotations.open_world_hint = Some(def.annotations.open_world);
    tool.annotations = Some(annotations);
    tool
}

/// Whether a tool passes a server's method and tag filters (both must pass).
pub fn allowed(def: &ToolDef, config: &ServerConfig) -> bool {
    config
        .methods
        .admits(|m| m == def.class.as_str() || m == def.method)
        && config.tags.admits(|t| def.tags.contains(&t))
}

/// Valid `methods` values for an integration: the classes plus its method names.
pub fn method_values(integration: &Integration) -> BTreeSet<&'static str> {
    let mut values: BTreeSet<&'static str> =
        [MethodClass::Read, MethodClass::Write, MethodClass::Custom]
            .iter()
            .map(MethodClass::as_str)
            .collect();
    values.extend(integration.tools.iter().map(|t| t.method));
    values
}

/// Tags of an integration.
pub fn tag_values(integration: &Integration) -> BTreeSet<&'static str> {
    integration
        .tools
        .iter()
        .flat_map(|t| t.tags.iter().copied())
        .collect()
}

/// The JSON shape of `specgate tools --json` (the same as `cargo codegen tools --json`).
pub fn tool_json(tool: &CatalogTool) -> serde_json::Value {
    let def = tool.def;
    let schema: serde_json::Value = serde_json::from_str(def.input_schema).unwrap_or_default();
    serde_json::json!({
        "name": def.name,
        "title": def.title,
        "description": def.description,
        "integration": def.integration,
        "inputSchema": schema,
        "annotations": {
            "title": def.title,
            "readOnlyHint": def.annotations.read_only,
            "destructiveHint": def.annotations.destructive,
            "idempotentHint": def.annotations.idempotent,
            "openWorldHint": def.annotations.open_world,
        },
        "tags": def.tags,
        "methodClass": def.class.as_str(),
        "method": def.method,
        "endpoint": def.endpoint,
        "operationId": def.operation_id,
    })
}
