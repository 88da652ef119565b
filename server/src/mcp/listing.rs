//! The catalog's tools as MCP `Tool`s (each schema parsed once, when first needed) and a server's
//! `tools/list` pages, each serialized once per listing.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use rmcp::model::{CacheScope, JsonObject, ListToolsResult, ServerResult, Tool, ToolAnnotations};

use crate::catalog::{Catalog, CatalogTool, ToolListing};
use crate::store::SchemaProfile;

/// How long a client may reuse a tools/list page (`ttlMs`).
const LIST_TTL_MS: u64 = 60_000;

/// Every catalog tool's MCP form in both schema profiles, by catalog index, each built the
/// first time a listing or a call needs it (an idle server has parsed no schema), and the
/// discovery tools' listing in each profile.
#[derive(Debug, Clone)]
pub struct McpForms(Arc<Forms>);

#[derive(Debug)]
struct Forms {
    catalog: Catalog,
    tools: OnceLock<Box<[[OnceLock<Tool>; 2]]>>,
    discovery: [Bytes; 2],
}

impl McpForms {
    /// The forms of every tool of `catalog`.
    pub fn new(catalog: &Catalog) -> Self {
        let discovery = [SchemaProfile::Full, SchemaProfile::Portable].map(|profile| {
            let mut page = ServerResult::ListToolsResult(discovery_page(profile));
            legacy_shape(&mut page);
            Bytes::from(serde_json::to_vec(&page).unwrap_or_default())
        });
        Self(Arc::new(Forms {
            catalog: catalog.clone(),
            tools: OnceLock::new(),
            discovery,
        }))
    }

    /// The discovery listing in `profile`, serialized as [`Self::legacy_list_page_json`] is.
    pub fn discovery_page_json(&self, profile: SchemaProfile) -> Bytes {
        self.0.discovery[profile as usize].clone()
    }

    /// The form of the tool at catalog index `index` in `profile`.
    pub fn form(&self, index: usize, profile: SchemaProfile) -> &Tool {
        let forms = &self.0;
        let tools = forms.tools.get_or_init(|| {
            (0..forms.catalog.tools().len())
                .map(|_| [OnceLock::new(), OnceLock::new()])
                .collect()
        });
        tools[index][profile as usize].get_or_init(|| {
            let tool = &forms.catalog.tools()[index];
            mcp_tool(tool, tool.input_schema(profile))
        })
    }

    /// The page of `listing` that `cursor` starts; `None` for a cursor it never issued.
    pub fn list_page(
        &self,
        listing: &ToolListing,
        cursor: Option<&str>,
    ) -> Option<ListToolsResult> {
        let page = listing.page(cursor)?;
        let mut result = ListToolsResult::with_all_items(
            listing
                .indices(page)
                .iter()
                .map(|&index| self.form(index as usize, listing.profile).clone())
                .collect(),
        );
        result.next_cursor = page.next_cursor();
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
        let page = listing.page(cursor)?;
        listing.written(page, || {
            let mut result = ServerResult::ListToolsResult(self.list_page(listing, cursor)?);
            legacy_shape(&mut result);
            serde_json::to_vec(&result).ok().map(Bytes::from)
        })
    }
}

/// The one page of a discovery server's `tools/list`.
pub fn discovery_page(profile: SchemaProfile) -> ListToolsResult {
    let mut result = ListToolsResult::with_all_items(super::discovery::tools(profile));
    result.ttl_ms = Some(LIST_TTL_MS);
    result.cache_scope = Some(CacheScope::Private);
    result
}

/// What rmcp's handler does to a result for a peer on a version before 2026-07-28.
pub fn legacy_shape(result: &mut ServerResult) {
    result.strip_result_type_for_legacy_peer();
    result.strip_non_object_output_for_legacy_peer();
}

fn mcp_tool(catalog_tool: &CatalogTool, input_schema: &str) -> Tool {
    let def = catalog_tool.def;
    let schema: JsonObject = serde_json::from_str(input_schema).unwrap_or_default();
    let mut tool = Tool::new(def.name, catalog_tool.description(), Arc::new(schema));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ServerConfig;

    #[test]
    fn pages_are_written_once_and_follow_their_cursors() {
        let catalog = Catalog::from_registry(specgate_api::integrations());
        let forms = McpForms::new(&catalog);
        let integration = specgate_api::integrations()[0].name;
        let listing = catalog.listing(
            integration,
            &ServerConfig::default(),
            SchemaProfile::Full,
            3,
        );
        let first = forms.list_page(&listing, None).unwrap();
        assert_eq!(first.tools.len(), 3);
        let next = first.next_cursor.clone().unwrap();
        let second = forms.list_page(&listing, Some(&next)).unwrap();
        assert_ne!(first.tools[0].name, second.tools[0].name);
        let bytes = forms.legacy_list_page_json(&listing, None).unwrap();
        let again = forms.legacy_list_page_json(&listing, None).unwrap();
        assert_eq!(bytes.as_ptr(), again.as_ptr(), "written once");
        let read: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(read["tools"].as_array().unwrap().len(), 3);
        assert!(read.get("resultType").is_none());
        assert!(forms.list_page(&listing, Some("999999")).is_none());
    }
}
