//! A tool call as every face runs it: the name resolved under the server's filters, a
//! portable call's arguments decoded, the vendor call, and the call recorded in the metrics
//! and the audit log.

use std::time::Instant;

use serde_json::{Map, Value};
use specgate_runtime::decode_portable_arguments;

use crate::call::{CallClass, CallError, CallOutcome};
use crate::catalog::{CatalogTool, allowed};
use crate::resolution::{Principal, Resolved};
use crate::state::AppState;
use crate::store::{CallRecord, SchemaProfile, now_ms};

/// A tool that does not exist, or that the server's filters leave out: one answer for both.
#[derive(Debug, thiserror::Error)]
#[error("Unknown tool: {0}")]
pub struct UnknownTool(pub String);

/// A tool call that reached its tool.
pub struct ToolCall<'c> {
    /// The tool called.
    pub tool: &'c CatalogTool,
    /// Whether it was called by an earlier name (a deprecated alias).
    pub by_alias: bool,
    /// What the call produced.
    pub result: Result<CallOutcome, CallError>,
}

impl AppState {
    /// The server's tool called `name` (or by an earlier name: then `true`), if its filters
    /// admit it: the one rule for calling, describing and confirming a tool.
    pub fn visible_tool(&self, resolved: &Resolved, name: &str) -> Option<(&CatalogTool, bool)> {
        self.catalog.resolve(name).filter(|(tool, _)| {
            tool.def.integration == resolved.account.integration
                && allowed(tool.def, &resolved.server.config)
        })
    }

    /// Calls tool `name` with `args` for the server `resolved`, arguments in `profile`, on
    /// behalf of `principal`.
    pub async fn call_tool(
        &self,
        resolved: &Resolved,
        principal: &Principal,
        profile: SchemaProfile,
        name: &str,
        mut args: Map<String, Value>,
    ) -> Result<ToolCall<'_>, UnknownTool> {
        let (tool, by_alias) = self
            .visible_tool(resolved, name)
            .ok_or_else(|| UnknownTool(name.to_owned()))?;
        let decoded = match profile {
            SchemaProfile::Portable => {
                decode_portable_arguments(&mut args, tool.def.portable_encoded)
            }
            SchemaProfile::Full => Ok(()),
        };
        let at_ms = now_ms();
        let started = Instant::now();
        let span =
            tracing::debug_span!("tool_call", tool = tool.def.name, account = %resolved.account.id);
        let result = match decoded {
            Err(error) => Err(CallError::invalid_arguments(&error)),
            Ok(()) => {
                let target = (&resolved.account, &resolved.server, &resolved.upstream);
                let call = self.caller.call(target, tool.integration, tool.def, &args);
                tracing::Instrument::instrument(call, span).await
            }
        };
        let elapsed = started.elapsed();
        let (upstream_status, class) = match &result {
            Ok(outcome) => (outcome.upstream_status, CallClass::Ok),
            Err(error) => (error.upstream_status(), error.class()),
        };
        self.metrics.record(
            tool.integration.name,
            tool.def.name,
            upstream_status,
            class.as_str(),
            elapsed,
        );
        self.record_call(Recorded {
            resolved,
            principal,
            tool,
            args,
            at_ms,
            upstream_status,
            elapsed,
            class,
        });
        Ok(ToolCall {
            tool,
            by_alias,
            result,
        })
    }

    /// Records a call that ended before anything was sent (a confirmation asked, declined or
    /// refused) in the audit log and the metrics.
    pub(crate) fn record_unsent(
        &self,
        resolved: &Resolved,
        principal: &Principal,
        tool: &CatalogTool,
        args: &Map<String, Value>,
        class: CallClass,
    ) {
        self.metrics.record(
            tool.integration.name,
            tool.def.name,
            0,
            class.as_str(),
            std::time::Duration::ZERO,
        );
        self.record_call(Recorded {
            resolved,
            principal,
            tool,
            args: args.clone(),
            at_ms: now_ms(),
            upstream_status: 0,
            elapsed: std::time::Duration::ZERO,
            class,
        });
    }

    fn record_call(&self, call: Recorded<'_>) {
        let mut canonical = Value::Object(call.args);
        canonical.sort_all_objects();
        self.audit.record(CallRecord {
            id: self.audit.new_id(),
            at_ms: call.at_ms,
            account_id: call.resolved.account.id.clone(),
            server_id: call.resolved.server.id.clone(),
            integration: call.tool.integration.name.to_owned(),
            tool: call.tool.def.name.to_owned(),
            arguments_hmac: self.keys.mac_arguments(&canonical),
            upstream_status: call.upstream_status,
            latency_ms: i64::try_from(call.elapsed.as_millis()).unwrap_or(i64::MAX),
            outcome: call.class.as_str().to_owned(),
            grant_id: call.principal.grant_id.clone(),
            api_token_id: call.principal.api_token_id.clone(),
        });
    }
}

/// One audit row's facts.
struct Recorded<'a> {
    resolved: &'a Resolved,
    principal: &'a Principal,
    tool: &'a CatalogTool,
    args: Map<String, Value>,
    at_ms: i64,
    upstream_status: u16,
    elapsed: std::time::Duration,
    class: CallClass,
}
