//! A tool call's outcome as an MCP result. A success with structured content keeps that
//! content as the JSON text it is sent as (its text block carries the same JSON), so the
//! direct path writes the result without building and serializing a `CallToolResult`
//! ([`ToolResult::write_json`]); rmcp's path gets the equivalent `CallToolResult`
//! ([`ToolResult::into_call_tool_result`]). The vendor's rate limit rides in `_meta`, where
//! the HTTP side finds it for the response headers and stdio clients read it.

use rmcp::model::{CallToolResult, ContentBlock, MetaObject, ServerResult};
use serde_json::{Value, json};

use crate::call::{CallError, CallResult};
use crate::ratelimit::RateLimit;
use crate::tool_call::ToolCall;

pub use crate::call::budget::RATE_LIMIT_META;

/// A tool call's MCP result.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolResult {
    /// `structuredContent`, serialized (a JSON object), and the rate limit for `_meta`.
    Structured {
        /// The object's JSON text.
        json: String,
        /// The vendor's rate limit.
        rate_limit: Option<RateLimit>,
    },
    /// Any other result.
    Other(CallToolResult),
}

impl ToolResult {
    /// The MCP result of a call made under the name `called_as`.
    pub fn of(call: ToolCall<'_>, called_as: &str) -> Self {
        let result = match call.result {
            Ok(outcome) => match outcome.result {
                CallResult::Structured(json) => Self::Structured {
                    json,
                    rate_limit: outcome.rate_limit,
                },
                CallResult::Text(text) => {
                    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                    set_rate_limit(&mut result, outcome.rate_limit);
                    Self::Other(result)
                }
            },
            Err(error) => Self::Other(error_result(&error)),
        };
        if call.by_alias {
            let mut result = result.into_call_tool_result();
            deprecate(&mut result, called_as, call.tool.def.name);
            Self::Other(result)
        } else {
            result
        }
    }

    /// The vendor's rate limit this result carries.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        match self {
            Self::Structured { rate_limit, .. } => *rate_limit,
            Self::Other(result) => rate_limit_of(result.meta.as_ref()),
        }
    }

    /// The result as rmcp's type.
    pub fn into_call_tool_result(self) -> CallToolResult {
        match self {
            Self::Structured { json, rate_limit } => {
                let value = serde_json::from_str(&json).unwrap_or(Value::Null);
                let mut result = CallToolResult::success(vec![ContentBlock::text(json)]);
                result.structured_content = Some(value);
                set_rate_limit(&mut result, rate_limit);
                result
            }
            Self::Other(result) => result,
        }
    }

    /// Appends the result object as protocol versions before 2026-07-28 receive it (no
    /// `resultType`), as rmcp would serialize it for them.
    pub fn write_json(self, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        match self {
            Self::Structured { json, rate_limit } => {
                out.reserve(2 * json.len() + 160);
                out.extend_from_slice(br#"{"content":[{"type":"text","text":"#);
                let _ = serde_json::to_writer(&mut *out, &json);
                out.extend_from_slice(br#"}],"structuredContent":"#);
                out.extend_from_slice(json.as_bytes());
                out.extend_from_slice(br#","isError":false"#);
                if let Some(rate_limit) = rate_limit {
                    out.extend_from_slice(br#","_meta":{""#);
                    out.extend_from_slice(RATE_LIMIT_META.as_bytes());
                    out.extend_from_slice(br#"":"#);
                    let _ = serde_json::to_writer(&mut *out, &rate_limit.to_json());
                    out.push(b'}');
                }
                out.push(b'}');
            }
            Self::Other(result) => {
                let mut result = ServerResult::CallToolResult(result);
                super::listing::legacy_shape(&mut result);
                let _ = serde_json::to_writer(&mut *out, &result);
            }
        }
    }
}

/// The rate limit a result's `_meta` carries.
pub fn rate_limit_of(meta: Option<&MetaObject>) -> Option<RateLimit> {
    meta?.0.get(RATE_LIMIT_META).and_then(RateLimit::from_json)
}

fn set_rate_limit(result: &mut CallToolResult, rate_limit: Option<RateLimit>) {
    if let Some(rate_limit) = rate_limit {
        result
            .meta
            .get_or_insert_with(Default::default)
            .0
            .insert(RATE_LIMIT_META.to_owned(), rate_limit.to_json());
    }
}

/// A failed call as an error result: its message for the model, and for the vendor's own
/// refusals the details as structured content.
fn error_result(error: &CallError) -> CallToolResult {
    let structured = match error {
        CallError::RateLimited { rate_limit, .. } => Some(json!({
            "error": "rate_limited",
            "status": 429,
            "retry_after_seconds": rate_limit.and_then(|r| r.reset),
            "rate_limit": rate_limit.map(|r| r.to_json()),
        })),
        CallError::VendorStatus(refusal) => Some(json!({
            "error": "upstream_error",
            "status": refusal.status,
            "message": refusal.message,
            "body": refusal.body,
            "rate_limit": refusal.rate_limit.map(|r| r.to_json()),
        })),
        _ => None,
    };
    let mut result = CallToolResult::error(vec![ContentBlock::text(error.to_string())]);
    if let Some(Value::Object(mut object)) = structured {
        // Absent rather than null when the vendor sent no rate limit.
        object.retain(|key, value| key != "rate_limit" || !value.is_null());
        result.structured_content = Some(Value::Object(object));
    }
    set_rate_limit(&mut result, error.rate_limit());
    result
}

/// Marks a result reached through an earlier tool name: in `_meta` for clients, and as a
/// last text block for the model.
fn deprecate(result: &mut CallToolResult, alias: &str, name: &str) {
    let notice = json!({"alias": alias, "use": name});
    result
        .meta
        .get_or_insert_with(Default::default)
        .0
        .insert("io.specgate/deprecated".to_owned(), notice);
    result.content.push(ContentBlock::text(format!(
        "Note: `{alias}` is a deprecated name of the tool `{name}`; call `{name}` instead."
    )));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(result: ToolResult) -> Vec<u8> {
        let mut out = Vec::new();
        result.write_json(&mut out);
        out
    }

    #[test]
    fn a_structured_result_is_written_as_rmcp_writes_it() {
        let value = json!({"result": [{"id": "ord_1", "note": "say \"hi\"\n", "n": 1.5}], "next_cursor": null});
        let limited = RateLimit {
            limit: Some(60),
            remaining: Some(3),
            reset: None,
            window: None,
        };
        for rate_limit in [None, Some(limited)] {
            let result = ToolResult::Structured {
                json: value.to_string(),
                rate_limit,
            };
            let mut expected = ServerResult::CallToolResult(result.clone().into_call_tool_result());
            super::super::listing::legacy_shape(&mut expected);
            assert_eq!(
                serde_json::from_slice::<Value>(&written(result.clone())).unwrap(),
                serde_json::to_value(&expected).unwrap()
            );
            let call_result = result.clone().into_call_tool_result();
            assert_eq!(call_result.structured_content, Some(value.clone()));
            assert_eq!(rate_limit_of(call_result.meta.as_ref()), rate_limit);
            assert_eq!(result.rate_limit(), rate_limit);
        }
        // Any other result goes through rmcp's own serialization, legacy-shaped.
        let error = ToolResult::Other(CallToolResult::error(vec![ContentBlock::text("no")]));
        let mut shaped = ServerResult::CallToolResult(error.clone().into_call_tool_result());
        super::super::listing::legacy_shape(&mut shaped);
        assert_eq!(written(error), serde_json::to_vec(&shaped).unwrap());
    }

    /// The core budgets results by the size this face writes them at.
    #[test]
    fn the_budgeted_size_is_the_written_size() {
        use crate::call::budget::{structured_len, text_len};
        let limited = RateLimit {
            limit: Some(60),
            remaining: Some(3),
            reset: Some(9),
            window: None,
        };
        for json in [
            r#"{"a":"say \"hi\"\n\u0001"}"#,
            r#"{"result":[1,2],"next_cursor":null}"#,
            "{}",
        ] {
            for rate_limit in [None, Some(limited)] {
                let result = ToolResult::Structured {
                    json: json.to_owned(),
                    rate_limit,
                };
                assert_eq!(
                    written(result).len(),
                    structured_len(json, rate_limit.as_ref()),
                    "{json}"
                );
            }
        }
        for text in ["plain", "tab\t and \"quotes\"", ""] {
            let result = ToolResult::Other(CallToolResult::success(vec![ContentBlock::text(text)]));
            assert_eq!(written(result).len(), text_len(text, None), "{text:?}");
        }
    }

    #[test]
    fn a_vendor_refusal_carries_its_details_and_rate_limit() {
        let rate_limit = RateLimit {
            reset: Some(17),
            ..RateLimit::default()
        };
        let result = error_result(&CallError::RateLimited {
            vendor: "eDesk",
            rate_limit: Some(rate_limit),
        });
        assert_eq!(result.is_error, Some(true));
        let structured = result.structured_content.clone().unwrap();
        assert_eq!(structured["retry_after_seconds"], 17);
        assert_eq!(structured["rate_limit"]["reset_seconds"], 17);
        assert_eq!(rate_limit_of(result.meta.as_ref()), Some(rate_limit));
        let timeout = error_result(&CallError::Timeout);
        assert_eq!(timeout.structured_content, None);
        assert_eq!(timeout.meta, None);
    }
}
