//! The compiled tools as MCP sees them, and the method/tag filters that scope a server.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use rmcp::model::{CacheScope, JsonObject, ListToolsResult, ServerResult, Tool, ToolAnnotations};
use specgate_runtime::{Integration, MethodClass, ToolDef};

use crate::store::{SchemaProfile, ServerConfig};

/// One compiled tool with its MCP form, built once at startup.
#[derive(Debug)]
pub struct CatalogTool {
    /// The generated definition.
    pub def: &'static ToolDef,
    /// The integration it belongs to.
    pub integration: &'static Integration,
    /// The MCP tool description, schema parsed once.
    pub mcp: Tool,
    /// The same in the portable schema profile.
    pub portable: Tool,
}

impl CatalogTool {
    /// The MCP form a client of `profile` is served.
    pub fn form(&self, profile: SchemaProfile) -> &Tool {
        match profile {
            SchemaProfile::Full => &self.mcp,
            SchemaProfile::Portable => &self.portable,
        }
    }
}

/// Every compiled tool, sorted by name.
#[derive(Debug, Clone)]
pub struct Catalog {
    tools: Arc<Vec<CatalogTool>>,
    /// Earlier tool names, sorted, with the index of the tool they now call.
    aliases: Arc<Vec<(&'static str, usize)>>,
    /// Listings by the exact set of tools they hold and their schema profile, shared by every
    /// server exposing that set.
    listings: Arc<Mutex<HashMap<ListingKey, Arc<ToolListing>>>>,
}

/// A listing's tools (catalog indices) and the profile of their schemas.
type ListingKey = (Vec<u32>, SchemaProfile);

/// Distinct tool sets whose listings are kept; past it the cache starts over.
const MAX_LISTINGS: usize = 1024;

/// How long a client may reuse a tools/list page (`ttlMs`).
const LIST_TTL_MS: u64 = 60_000;

/// One server's `tools/list`: its tools, and each page serialized once, when first asked for.
#[derive(Debug)]
pub struct ToolListing {
    /// Indices into the catalog, in name order.
    tools: Vec<u32>,
    profile: SchemaProfile,
    page_size: usize,
    pages: Box<[OnceLock<Bytes>]>,
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
                mcp: mcp_tool(def, def.input_schema),
                portable: mcp_tool(def, def.input_schema_portable),
            })
            .collect();
        tools.sort_by(|a, b| a.def.name.cmp(b.def.name));
        let mut aliases: Vec<(&'static str, usize)> = tools
            .iter()
            .enumerate()
            .flat_map(|(index, t)| t.def.aliases.iter().map(move |alias| (*alias, index)))
            .collect();
        aliases.sort_unstable();
        Self {
            aliases: Arc::new(aliases),
            tools: Arc::new(tools),
            listings: Arc::default(),
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

    /// The tool `name` calls: a tool of that name, or the tool it is an earlier name of
    /// (`true`: called by a deprecated alias). Aliases are never listed.
    pub fn resolve(&self, name: &str) -> Option<(&CatalogTool, bool)> {
        if let Some(tool) = self.get(name) {
            return Some((tool, false));
        }
        let at = self
            .aliases
            .binary_search_by(|(alias, _)| (*alias).cmp(name))
            .ok()?;
        Some((&self.tools[self.aliases[at].1], true))
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

impl Catalog {
    /// The listing of the tools a server's filters admit, in pages of `page_size`. Servers
    /// whose filters admit the same tools share one listing, however the filters are written.
    pub fn listing(
        &self,
        integration: &str,
        config: &ServerConfig,
        profile: SchemaProfile,
        page_size: usize,
    ) -> Arc<ToolListing> {
        let tools: Vec<u32> = (0u32..)
            .zip(self.tools.iter())
            .filter(|(_, t)| t.def.integration == integration && allowed(t.def, config))
            .map(|(index, _)| index)
            .collect();
        let mut listings = self
            .listings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (tools, profile);
        if let Some(listing) = listings.get(&key) {
            return listing.clone();
        }
        if listings.len() >= MAX_LISTINGS {
            listings.clear();
        }
        let page_size = page_size.max(1);
        let listing = Arc::new(ToolListing {
            pages: (0..key.0.len().div_ceil(page_size))
                .map(|_| OnceLock::new())
                .collect(),
            tools: key.0.clone(),
            profile,
            page_size,
        });
        listings.insert(key, listing.clone());
        listing
    }

    /// The page of `listing` that `cursor` starts (the first without one); `None` for a
    /// cursor this listing never issued.
    pub fn list_page(
        &self,
        listing: &ToolListing,
        cursor: Option<&str>,
    ) -> Option<ListToolsResult> {
        let start = page_start(listing, cursor)?;
        let end = (start + listing.page_size).min(listing.tools.len());
        let mut result = ListToolsResult::with_all_items(
            listing.tools[start..end]
                .iter()
                .map(|&index| self.tools[index as usize].form(listing.profile).clone())
                .collect(),
        );
        result.next_cursor = (end < listing.tools.len()).then(|| end.to_string());
        result.ttl_ms = Some(LIST_TTL_MS);
        result.cache_scope = Some(CacheScope::Private);
        Some(result)
    }

    /// [`Self::list_page`] as JSON in the shape of protocol versions before 2026-07-28 (no
    /// `resultType`), serialized once per page and listing.
    pub fn legacy_list_page_json(
        &self,
        listing: &ToolListing,
        cursor: Option<&str>,
    ) -> Option<Bytes> {
        let start = page_start(listing, cursor)?;
        let serialize = || {
            let mut page = ServerResult::ListToolsResult(self.list_page(listing, cursor)?);
            legacy_shape(&mut page);
            serde_json::to_vec(&page).ok().map(Bytes::from)
        };
        if start % listing.page_size != 0 {
            return serialize();
        }
        let slot = listing.pages.get(start / listing.page_size);
        match slot {
            Some(slot) => match slot.get() {
                Some(page) => Some(page.clone()),
                None => {
                    let page = serialize()?;
                    Some(slot.get_or_init(|| page).clone())
                }
            },
            // The one page of an empty listing.
            None => serialize(),
        }
    }
}

/// What rmcp's handler does to a result for a peer on a version before 2026-07-28.
pub fn legacy_shape(result: &mut ServerResult) {
    result.strip_result_type_for_legacy_peer();
    result.strip_non_object_output_for_legacy_peer();
}

fn page_start(listing: &ToolListing, cursor: Option<&str>) -> Option<usize> {
    match cursor {
        None => Some(0),
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|start| *start < listing.tools.len()),
    }
}

fn mcp_tool(def: &'static ToolDef, input_schema: &str) -> Tool {
    let schema: JsonObject = serde_json::from_str(input_schema).unwrap_or_default();
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

/// Whether a tool passes a server's filters: methods ∩ tags ∩ tools − exclude_tools.
pub fn allowed(def: &ToolDef, config: &ServerConfig) -> bool {
    config
        .methods
        .admits(|m| m == def.class.as_str() || m == def.method)
        && config.tags.admits(|t| def.tags.contains(&t))
        && config
            .tools
            .admits(|t| t == def.name || def.aliases.contains(&t))
        && !config
            .exclude_tools
            .iter()
            .any(|t| t == def.name || def.aliases.contains(&t.as_str()))
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

/// The JSON shape of `specgate tools --json` (the same as `cargo codegen tools --json`),
/// with the input schema of `profile`.
pub fn tool_json(tool: &CatalogTool, profile: SchemaProfile) -> serde_json::Value {
    let def = tool.def;
    let schema = serde_json::Value::Object((*tool.form(profile).input_schema).clone());
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
        "schemaProfile": profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture vendor whose one tool was renamed: it keeps its earlier name as an alias.
    /// Seed vendors never rename a tool to show this, since their names are the product.
    fn fixture_catalog() -> Catalog {
        let template = &specgate_api::INTEGRATIONS[0].tools[0];
        let tools: &'static [ToolDef] = Box::leak(Box::new([ToolDef {
            name: "get_single_acme_order_by_id",
            integration: "acme",
            aliases: &["fetch_acme_order"],
            ..*template
        }]));
        let integration: &'static Integration = Box::leak(Box::new(Integration {
            name: "acme",
            title: "Acme",
            tools,
            ..*specgate_api::INTEGRATIONS[0]
        }));
        Catalog::from_registry(Box::leak(Box::new([integration])))
    }

    #[test]
    fn an_alias_calls_its_tool_and_is_never_listed() {
        let catalog = fixture_catalog();
        let (tool, by_alias) = catalog.resolve("fetch_acme_order").unwrap();
        assert_eq!(tool.def.name, "get_single_acme_order_by_id");
        assert!(by_alias);
        let (tool, by_alias) = catalog.resolve("get_single_acme_order_by_id").unwrap();
        assert_eq!(tool.def.name, "get_single_acme_order_by_id");
        assert!(!by_alias);
        assert!(catalog.resolve("fetch_acme_orders").is_none());

        let config = ServerConfig::default();
        let listing = catalog.listing("acme", &config, SchemaProfile::Full, 10);
        let page = catalog.list_page(&listing, None).unwrap();
        let names: Vec<&str> = page.tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["get_single_acme_order_by_id"]);
    }

    #[test]
    fn filters_name_a_tool_by_its_alias_too() {
        let catalog = fixture_catalog();
        let def = catalog.tools()[0].def;
        let by_alias: ServerConfig =
            serde_json::from_value(serde_json::json!({"tools": ["fetch_acme_order"]})).unwrap();
        assert!(allowed(def, &by_alias));
        let excluded: ServerConfig =
            serde_json::from_value(serde_json::json!({"exclude_tools": ["fetch_acme_order"]}))
                .unwrap();
        assert!(!allowed(def, &excluded));
    }
}
