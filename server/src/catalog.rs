//! The compiled tools, the method/tag filters that scope a server, and each server's listing
//! of them in pages. Which protocol a page is written in is the face's business: a listing
//! keeps each page's bytes once a face has written them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use specgate_runtime::{Integration, MethodClass, ToolDef};

use crate::store::{SchemaProfile, ServerConfig};

/// One compiled tool.
#[derive(Debug)]
pub struct CatalogTool {
    /// The generated definition.
    pub def: &'static ToolDef,
    /// The integration it belongs to.
    pub integration: &'static Integration,
}

/// What every read tool's description adds: how results are budgeted, and how to narrow them.
const BUDGET_NOTE: &str = "\n\nResults are kept within this MCP server's result budget: a list page holds as many whole items as fit, and `next_cursor` continues right after the last one; a larger object is shortened where it is largest, and `truncated.paths` names what was shortened. Ask for less with `response_fields` (only the fields you need) or `limit`.";

impl CatalogTool {
    /// The description clients are served: the spec's, and for read tools how results are
    /// budgeted.
    pub fn description(&self) -> std::borrow::Cow<'static, str> {
        if self.def.class == MethodClass::Read {
            format!("{}{BUDGET_NOTE}", self.def.description).into()
        } else {
            self.def.description.into()
        }
    }

    /// The input schema a client of `profile` is served, as JSON text.
    pub fn input_schema(&self, profile: SchemaProfile) -> &'static str {
        match profile {
            SchemaProfile::Full => self.def.input_schema,
            SchemaProfile::Portable => self.def.input_schema_portable,
        }
    }
}

/// Every compiled tool, sorted by name. The index is built on first use, so an idle server
/// touches none of a Graph-sized registry's tool data.
#[derive(Debug, Clone)]
pub struct Catalog {
    integrations: &'static [&'static Integration],
    index: Arc<OnceLock<CatalogIndex>>,
    /// Listings by the exact set of tools they hold and their schema profile, shared by every
    /// server exposing that set.
    listings: Arc<Mutex<HashMap<ListingKey, Arc<ToolListing>>>>,
}

#[derive(Debug)]
struct CatalogIndex {
    tools: Vec<CatalogTool>,
    /// Earlier tool names, sorted, with the index of the tool they now call.
    aliases: Vec<(&'static str, usize)>,
}

impl CatalogIndex {
    fn of(integrations: &'static [&'static Integration]) -> Self {
        let mut tools: Vec<CatalogTool> = integrations
            .iter()
            .flat_map(|integration| integration.tools.iter().map(move |def| (*integration, def)))
            .map(|(integration, def)| CatalogTool { def, integration })
            .collect();
        tools.sort_by(|a, b| a.def.name.cmp(b.def.name));
        let mut aliases: Vec<(&'static str, usize)> = tools
            .iter()
            .enumerate()
            .flat_map(|(index, t)| t.def.aliases.iter().map(move |alias| (*alias, index)))
            .collect();
        aliases.sort_unstable();
        Self { tools, aliases }
    }
}

/// A listing's tools (catalog indices) and the profile of their schemas.
type ListingKey = (Vec<u32>, SchemaProfile);

/// Distinct tool sets whose listings are kept; past it the cache starts over.
const MAX_LISTINGS: usize = 1024;

/// One server's tool listing: its tools, and each page's bytes once a face wrote them.
#[derive(Debug)]
pub struct ToolListing {
    /// Indices into the catalog, in name order.
    tools: Vec<u32>,
    /// The schema profile the listing is served in.
    pub profile: SchemaProfile,
    page_size: usize,
    pages: Box<[OnceLock<Bytes>]>,
}

/// One page of a [`ToolListing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingPage {
    start: usize,
    end: usize,
    /// Whether tools follow this page.
    more: bool,
}

impl ListingPage {
    /// The cursor of the page after this one, if there is one.
    pub fn next_cursor(&self) -> Option<String> {
        self.more.then(|| self.end.to_string())
    }
}

impl ToolListing {
    /// The page that `cursor` starts (the first without one); `None` for a cursor this
    /// listing never issued.
    pub fn page(&self, cursor: Option<&str>) -> Option<ListingPage> {
        let start = match cursor {
            None => 0,
            Some(cursor) => cursor
                .parse::<usize>()
                .ok()
                .filter(|start| *start < self.tools.len())?,
        };
        let end = (start + self.page_size).min(self.tools.len());
        Some(ListingPage {
            start,
            end,
            more: end < self.tools.len(),
        })
    }

    /// The catalog indices of a page's tools.
    pub fn indices(&self, page: ListingPage) -> &[u32] {
        &self.tools[page.start..page.end]
    }

    /// A page's bytes as `write` writes them, written once per page (a page that does not
    /// start at a page boundary is written each time).
    pub fn written(
        &self,
        page: ListingPage,
        write: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        if !page.start.is_multiple_of(self.page_size) {
            return write();
        }
        match self.pages.get(page.start / self.page_size) {
            Some(slot) => match slot.get() {
                Some(bytes) => Some(bytes.clone()),
                None => {
                    let bytes = write()?;
                    Some(slot.get_or_init(|| bytes).clone())
                }
            },
            // The one page of an empty listing.
            None => write(),
        }
    }
}

impl Catalog {
    /// Builds the catalog from the generated registry.
    pub fn from_registry(integrations: &'static [&'static Integration]) -> Self {
        Self {
            integrations,
            index: Arc::default(),
            listings: Arc::default(),
        }
    }

    /// The compiled integrations, sorted by name.
    pub fn integrations(&self) -> &'static [&'static Integration] {
        self.integrations
    }

    /// The compiled integration `name`.
    pub fn integration(&self, name: &str) -> Option<&'static Integration> {
        self.integrations.iter().copied().find(|i| i.name == name)
    }

    fn index(&self) -> &CatalogIndex {
        self.index
            .get_or_init(|| CatalogIndex::of(self.integrations))
    }

    /// All tools.
    pub fn tools(&self) -> &[CatalogTool] {
        &self.index().tools
    }

    /// The tool `name` calls: a tool of that name, or the tool it is an earlier name of
    /// (`true`: called by a deprecated alias). Aliases are never listed.
    pub fn resolve(&self, name: &str) -> Option<(&CatalogTool, bool)> {
        let (index, by_alias) = self.resolve_index(name)?;
        Some((&self.index().tools[index], by_alias))
    }

    /// [`Self::resolve`] as an index into [`Self::tools`].
    pub fn resolve_index(&self, name: &str) -> Option<(usize, bool)> {
        let index = self.index();
        if let Ok(at) = index.tools.binary_search_by(|t| t.def.name.cmp(name)) {
            return Some((at, false));
        }
        let at = index
            .aliases
            .binary_search_by(|(alias, _)| (*alias).cmp(name))
            .ok()?;
        Some((index.aliases[at].1, true))
    }

    /// Tools of one integration that pass a server's filters, in name order.
    pub fn visible<'a>(
        &'a self,
        integration: &'a str,
        config: &'a ServerConfig,
    ) -> impl Iterator<Item = &'a CatalogTool> + 'a {
        self.index()
            .tools
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
            .zip(self.index().tools.iter())
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
}

/// The tools of a server that best match `query`, best first: each query word scores where it
/// appears (name 3, title and tags 2, description 1), ties broken by name. An empty query
/// lists the server's tools by name.
pub fn search<'a>(
    tools: impl Iterator<Item = &'a CatalogTool>,
    query: &str,
    limit: usize,
) -> Vec<&'a CatalogTool> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut scored: Vec<(usize, &CatalogTool)> = tools
        .map(|tool| {
            let def = tool.def;
            let (name, title, description) = (
                def.name.to_lowercase(),
                def.title.to_lowercase(),
                def.description.to_lowercase(),
            );
            let score = words
                .iter()
                .map(|word| {
                    3 * usize::from(name.contains(word.as_str()))
                        + 2 * usize::from(title.contains(word.as_str()))
                        + 2 * usize::from(
                            def.tags
                                .iter()
                                .any(|t| t.to_lowercase().contains(word.as_str())),
                        )
                        + usize::from(description.contains(word.as_str()))
                })
                .sum();
            (score, tool)
        })
        .filter(|(score, _)| words.is_empty() || *score > 0)
        .collect();
    scored.sort_by(|(a, x), (b, y)| b.cmp(a).then(x.def.name.cmp(y.def.name)));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, tool)| tool)
        .collect()
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

/// The JSON shape of `specgate tools --json` (the shape of `cargo codegen tools --json`), with
/// the input schema of `profile` and the description clients are served.
pub fn tool_json(tool: &CatalogTool, profile: SchemaProfile) -> serde_json::Value {
    let def = tool.def;
    // Generated schemas are valid JSON (`tests/codegen.rs` checks every one).
    let schema: serde_json::Value =
        serde_json::from_str(tool.input_schema(profile)).unwrap_or_default();
    serde_json::json!({
        "name": def.name,
        "title": def.title,
        "description": tool.description(),
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
        let template = &specgate_api::integrations()[0].tools[0];
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
            ..*specgate_api::integrations()[0]
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
        let page = listing.page(None).unwrap();
        let names: Vec<&str> = listing
            .indices(page)
            .iter()
            .map(|&index| catalog.tools()[index as usize].def.name)
            .collect();
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
