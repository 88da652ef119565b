//! Discovery exposure: for a server whose `tool_exposure` is `discovery`, `tools/list` holds
//! three tools that search, describe and call the server's tools. They see exactly the tools
//! the server's filters admit, and `call_tool` is the same call as calling a tool by name.

use std::sync::Arc;

use rmcp::model::{
    CallToolResult, ContentBlock, ErrorData as McpError, JsonObject, Tool, ToolAnnotations,
};
use serde_json::{Map, Value, json};

use super::ToolResult;
use crate::call::budget;
use crate::catalog::search;
use crate::resolution::{Principal, Resolved};
use crate::state::AppState;
use crate::store::{SchemaProfile, ToolExposure};

/// The three tools' names.
pub const SEARCH: &str = "search_tools";
pub const DESCRIBE: &str = "get_tool_schema";
pub const CALL: &str = "call_tool";

/// Whether `resolved` exposes its tools through discovery.
pub fn enabled(resolved: &Resolved) -> bool {
    resolved.server.config.tool_exposure == ToolExposure::Discovery
}

/// The three tools, with `call_tool`'s `arguments` as an object (full profile) or a
/// JSON-encoded string (portable profile).
pub fn tools(profile: SchemaProfile) -> Vec<Tool> {
    let arguments = match profile {
        SchemaProfile::Full => {
            json!({"type": "object", "description": "The tool's arguments, as its get_tool_schema input schema describes them."})
        }
        SchemaProfile::Portable => {
            json!({"type": "string", "description": "The tool's arguments as a JSON-encoded object, as its get_tool_schema input schema describes them."})
        }
    };
    let read_only = |tool: &mut Tool, read_only: bool| {
        let mut annotations = ToolAnnotations::new();
        annotations.read_only_hint = Some(read_only);
        annotations.open_world_hint = Some(!read_only);
        tool.annotations = Some(annotations);
    };
    let schema = |value: Value| Arc::new(value.as_object().cloned().unwrap_or_default());
    let mut search_tools = Tool::new(
        SEARCH,
        "Finds this server's tools for a task: give a few words (what to read or change, the object's name); returns the best matches with their names and what they do. Then call get_tool_schema for one, and call_tool to run it.",
        schema(json!({"type": "object", "properties": {
            "query": {"type": "string", "description": "Words to look for in tool names, titles, tags and descriptions."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "description": "At most this many tools (default 10)."}
        }, "required": ["query"], "additionalProperties": false})),
    );
    read_only(&mut search_tools, true);
    let mut describe = Tool::new(
        DESCRIBE,
        "The input schema and annotations of one of this server's tools, by name (from search_tools).",
        schema(
            json!({"type": "object", "properties": {"name": {"type": "string", "description": "The tool's name."}}, "required": ["name"], "additionalProperties": false}),
        ),
    );
    read_only(&mut describe, true);
    let mut call = Tool::new(
        CALL,
        "Runs one of this server's tools by name with its arguments; the result is the tool's own.",
        schema(
            json!({"type": "object", "properties": {"name": {"type": "string", "description": "The tool's name."}, "arguments": arguments}, "required": ["name"], "additionalProperties": false}),
        ),
    );
    read_only(&mut call, false);
    vec![search_tools, describe, call]
}

fn invalid(message: impl Into<String>) -> McpError {
    McpError::invalid_params(message.into(), None)
}

fn text_argument<'a>(arguments: &'a Map<String, Value>, name: &str) -> Result<&'a str, McpError> {
    arguments
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("`{name}` must be a string")))
}

/// A structured result of specgate's own, within the server's budget.
fn structured(value: Value, resolved: &Resolved) -> ToolResult {
    let limit = resolved.server.config.max_result_bytes as usize;
    let mut object = match value {
        Value::Object(object) => object,
        other => Map::from_iter([("result".to_owned(), other)]),
    };
    let fits = |object: &Map<String, Value>| {
        budget::structured_len(&serde_json::to_string(object).unwrap_or_default(), None) <= limit
    };
    if !fits(&object) {
        let paths = budget::shape(&mut object, &[], fits);
        object.insert("truncated".to_owned(), json!({"paths": paths}));
    }
    ToolResult::Structured {
        json: serde_json::to_string(&object).unwrap_or_default(),
        rate_limit: None,
    }
}

/// Answers a call of one of the three tools; `None` for any other name.
pub async fn call(
    state: &AppState,
    resolved: &Resolved,
    principal: &Principal,
    profile: SchemaProfile,
    name: &str,
    arguments: Map<String, Value>,
) -> Option<Result<ToolResult, McpError>> {
    let answer = match name {
        SEARCH => search_tools(state, resolved, &arguments),
        DESCRIBE => describe(state, resolved, profile, &arguments),
        CALL => Box::pin(call_tool(state, resolved, principal, profile, arguments)).await,
        _ => return None,
    };
    Some(answer)
}

/// The tool a call of discovery's `call_tool` runs, with its own arguments as the client sent
/// them; `None` for any other call, or one whose `name` or `arguments` do not parse (the call
/// itself then says what is wrong).
pub fn target(
    resolved: &Resolved,
    profile: SchemaProfile,
    name: &str,
    arguments: &Map<String, Value>,
) -> Option<(String, Map<String, Value>)> {
    if !enabled(resolved) || name != CALL {
        return None;
    }
    let target = arguments.get("name")?.as_str()?.to_owned();
    let inner = match (arguments.get("arguments"), profile) {
        (None, _) => Map::new(),
        (Some(Value::Object(object)), SchemaProfile::Full) => object.clone(),
        (Some(Value::String(text)), SchemaProfile::Portable) => {
            match serde_json::from_str(text).ok()? {
                Value::Object(object) => object,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some((target, inner))
}

fn search_tools(
    state: &AppState,
    resolved: &Resolved,
    arguments: &Map<String, Value>,
) -> Result<ToolResult, McpError> {
    let query = text_argument(arguments, "query")?;
    let limit = match arguments.get("limit") {
        None => 10,
        Some(limit) => limit
            .as_u64()
            .filter(|l| (1..=50).contains(l))
            .ok_or_else(|| invalid("`limit` must be an integer from 1 to 50"))?
            as usize,
    };
    let found = search(
        state
            .catalog
            .visible(&resolved.account.integration, &resolved.server.config),
        query,
        limit,
    );
    let tools: Vec<Value> = found
        .iter()
        .map(|tool| {
            json!({
                "name": tool.def.name,
                "title": tool.def.title,
                "method_class": tool.def.class.as_str(),
                "description": tool.def.description.lines().next().unwrap_or_default(),
            })
        })
        .collect();
    Ok(structured(json!({"tools": tools}), resolved))
}

fn describe(
    state: &AppState,
    resolved: &Resolved,
    profile: SchemaProfile,
    arguments: &Map<String, Value>,
) -> Result<ToolResult, McpError> {
    let name = text_argument(arguments, "name")?;
    let (tool, _) = state
        .visible_tool(resolved, name)
        .ok_or_else(|| invalid(format!("Unknown tool: {name}")))?;
    let schema: Value = serde_json::from_str(tool.input_schema(profile)).unwrap_or_default();
    let def = tool.def;
    Ok(structured(
        json!({
            "name": def.name,
            "title": def.title,
            "description": tool.description(),
            "inputSchema": schema,
            "annotations": {
                "readOnlyHint": def.annotations.read_only,
                "destructiveHint": def.annotations.destructive,
                "idempotentHint": def.annotations.idempotent,
                "openWorldHint": def.annotations.open_world,
            },
        }),
        resolved,
    ))
}

async fn call_tool(
    state: &AppState,
    resolved: &Resolved,
    principal: &Principal,
    profile: SchemaProfile,
    mut arguments: Map<String, Value>,
) -> Result<ToolResult, McpError> {
    let name = text_argument(&arguments, "name")?.to_owned();
    let inner = match (arguments.remove("arguments"), profile) {
        (None, _) => JsonObject::new(),
        (Some(Value::Object(object)), SchemaProfile::Full) => object,
        (Some(Value::String(text)), SchemaProfile::Portable) => match serde_json::from_str(&text) {
            Ok(Value::Object(object)) => object,
            _ => {
                return Ok(invalid_arguments(
                    "`arguments` must be a JSON-encoded object",
                ));
            }
        },
        (Some(_), SchemaProfile::Full) => {
            return Ok(invalid_arguments("`arguments` must be an object"));
        }
        (Some(_), SchemaProfile::Portable) => {
            return Ok(invalid_arguments(
                "`arguments` must be a JSON-encoded object, as a string",
            ));
        }
    };
    let call = state
        .call_tool(resolved, principal, profile, &name, inner)
        .await
        .map_err(|unknown| invalid(unknown.to_string()))?;
    Ok(ToolResult::of(call, &name))
}

fn invalid_arguments(message: &str) -> ToolResult {
    ToolResult::Other(CallToolResult::error(vec![ContentBlock::text(format!(
        "Invalid arguments: {message}. Check call_tool's input schema and try again."
    ))]))
}
