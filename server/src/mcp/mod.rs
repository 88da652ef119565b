//! The MCP face: the only module that knows rmcp and JSON-RPC. A hand-written rmcp
//! `ServerHandler` over the core ([`Handler`]), served over streamable HTTP with a direct
//! path for `tools/list` and `tools/call` ([`http`]), the legacy HTTP+SSE transport ([`sse`])
//! and stdio ([`serve_stdio`]).

mod discovery;
pub mod http;
mod listing;
mod result;
mod sse;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData as McpError, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, ServiceExt};

pub use http::{McpHttp, router};
pub use listing::McpForms;
pub use result::{RATE_LIMIT_META, ToolResult};

use crate::access::{Principal, Resolved};
use crate::state::AppState;
use crate::store::SchemaProfile;

/// The rmcp handler. Over HTTP it reads the resolved server from the request; over stdio it is
/// fixed at start.
#[derive(Clone)]
pub struct Handler {
    state: AppState,
    forms: McpForms,
    fixed: Option<Arc<Resolved>>,
}

impl Handler {
    /// A handler for HTTP, resolving per request.
    fn per_request(state: AppState, forms: McpForms) -> Self {
        Self {
            state,
            forms,
            fixed: None,
        }
    }

    fn resolved(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<(Arc<Resolved>, Principal, SchemaProfile), McpError> {
        if let Some(fixed) = &self.fixed {
            return Ok((
                fixed.clone(),
                Principal::default(),
                fixed.server.config.schema_profile,
            ));
        }
        let parts = context
            .extensions
            .get::<::http::request::Parts>()
            .ok_or_else(|| McpError::internal_error("request context is missing", None))?;
        let resolved = parts
            .extensions
            .get::<Arc<Resolved>>()
            .cloned()
            .ok_or_else(|| McpError::internal_error("unresolved MCP token", None))?;
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or_default();
        let profile = http::profile(&resolved, parts);
        Ok((resolved, principal, profile))
    }
}

fn invalid_list_cursor() -> McpError {
    McpError::invalid_params("Invalid tools/list cursor", None)
}

/// Runs one `tools/call` for a resolved server: the same code behind rmcp and the direct path.
async fn call_tool(
    state: &AppState,
    resolved: &Resolved,
    principal: &Principal,
    profile: SchemaProfile,
    request: CallToolRequestParams,
) -> Result<ToolResult, McpError> {
    let arguments = request.arguments.unwrap_or_default();
    if discovery::enabled(resolved)
        && let Some(answer) = discovery::call(
            state,
            resolved,
            principal,
            profile,
            &request.name,
            arguments.clone(),
        )
        .await
    {
        return answer;
    }
    let call = state
        .call_tool(resolved, principal, profile, &request.name, arguments)
        .await
        .map_err(|unknown| McpError::invalid_params(unknown.to_string(), None))?;
    Ok(ToolResult::of(call, &request.name))
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::default();
        info.capabilities = ServerCapabilities::builder().enable_tools().build();
        info.server_info = Implementation::new("specgate", env!("CARGO_PKG_VERSION"));
        info.instructions = Some("Typed tools for a vendor API. List tools return {result, next_cursor}; pass next_cursor back unchanged to page.".to_owned());
        info
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (resolved, _, profile) = self.resolved(&context)?;
        let cursor = request.and_then(|r| r.cursor);
        if discovery::enabled(&resolved) {
            return match cursor {
                None => Ok(listing::discovery_page(profile)),
                Some(_) => Err(invalid_list_cursor()),
            };
        }
        self.forms
            .list_page(resolved.listing(&self.state, profile), cursor.as_deref())
            .ok_or_else(invalid_list_cursor)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let (index, _) = self.state.catalog.resolve_index(name)?;
        Some(self.forms.form(index, SchemaProfile::Full).clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let (resolved, principal, profile) = self.resolved(&context)?;
        let result = call_tool(&self.state, &resolved, &principal, profile, request).await?;
        Ok(result.into_call_tool_result().into())
    }
}

/// Why stdio serving ended early.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The MCP session could not start.
    #[error("MCP over stdio could not start: {0}")]
    Start(String),
    /// The session ended with an error.
    #[error("MCP over stdio failed: {0}")]
    Session(String),
}

/// Serves one resolved MCP server over stdin and stdout until the client closes it.
pub async fn serve_stdio(state: AppState, resolved: Resolved) -> Result<(), StdioError> {
    let audit = state.audit.clone();
    let forms = McpForms::new(&state.catalog);
    let handler = Handler {
        state,
        forms,
        fixed: Some(Arc::new(resolved)),
    };
    let service = handler
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| StdioError::Start(e.to_string()))?;
    let ended = service.waiting().await;
    audit.close().await;
    ended
        .map(drop)
        .map_err(|e| StdioError::Session(e.to_string()))
}
