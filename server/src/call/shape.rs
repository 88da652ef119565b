//! A vendor response turned into a call's outcome: the vendor's JSON passed through as the
//! text it was sent as (whitespace between tokens removed), list pages in the uniform
//! `{result, next_cursor}` shape, and error statuses as typed errors with the vendor's message.

use serde_json::{Value, json};
use specgate_runtime::{CursorSource, Integration, Pagination};

use super::dispatch::{MAX_BODY_BYTES, VendorResponse};
use super::fields::Selection;
use super::paging::{self, NextHints, PageState};
use super::{CallError, CallOutcome, CallResult, VendorRefusal, budget};
use crate::crypto::Keys;
use crate::ratelimit::RateLimit;
use crate::store::now;
use crate::vendor_json::{self, Json, Key};

/// The member names specgate writes into results.
pub(super) const RESULT: Key<'static> = Key::quoted(r#""result""#);
const NEXT_CURSOR: Key<'static> = Key::quoted(r#""next_cursor""#);
const TRUNCATED: Key<'static> = Key::quoted(r#""truncated""#);
const IGNORED_FIELDS: Key<'static> = Key::quoted(r#""ignored_fields""#);
const RATE_LIMIT: Key<'static> = Key::quoted(r#""rate_limit""#);

/// What shaping a list page needs besides the response.
pub(super) struct ListContext<'a> {
    /// The most bytes the result may take (see [`budget`]).
    pub budget: usize,
    /// The fields `response_fields` keeps, when it was given.
    pub selection: Option<Selection>,
    pub keys: &'a Keys,
    pub tool: &'a specgate_runtime::ToolDef,
    pub server_id: &'a str,
    pub page: &'a PageState,
}

/// The outcome of a vendor response: a success shaped for the tool, or the vendor's refusal.
pub(super) fn outcome(
    integration: &Integration,
    request: &specgate_runtime::HttpRequest,
    response: &VendorResponse,
    list: &ListContext<'_>,
) -> Result<CallOutcome, CallError> {
    let status = response.status;
    let rate_limit = RateLimit::from_headers(&response.headers, now());
    let is_json = response
        .header(reqwest::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.contains("json"));
    let text = &response.text;
    let raw = if is_json || text.trim_start().starts_with(['{', '[']) {
        vendor_json::parse(text)
    } else {
        None
    };
    if status.as_u16() == 429 {
        return Err(CallError::RateLimited {
            vendor: integration.title,
            rate_limit,
        });
    }
    if !status.is_success() {
        let parsed: Option<Value> = raw.and_then(Json::value);
        let message = parsed
            .as_ref()
            .and_then(|body| vendor_message(body, integration.error_message_pointers))
            .unwrap_or_else(|| text.trim().chars().take(500).collect());
        let message = if message.is_empty() {
            format!(
                "{} (empty response body) for {} {}",
                status.canonical_reason().unwrap_or("no reason given"),
                request.method.as_str(),
                request.path
            )
        } else {
            message
        };
        let body = parsed.unwrap_or_else(|| Value::String(text.chars().take(2000).collect()));
        return Err(CallError::VendorStatus(Box::new(VendorRefusal {
            vendor: integration.title,
            status: status.as_u16(),
            body: error_body_within(body, list.budget / 3),
            message,
            rate_limit,
        })));
    }
    let result = success(response, raw, rate_limit.as_ref(), list)?;
    Ok(CallOutcome {
        result,
        rate_limit,
        upstream_status: status.as_u16(),
    })
}

/// A successful response's result: the vendor's object with ours added, a list page, a
/// non-object body under `result`, or text that is not JSON as it came; each within the
/// server's result budget.
fn success(
    response: &VendorResponse,
    raw: Option<Json<'_>>,
    rate_limit: Option<&RateLimit>,
    list: &ListContext<'_>,
) -> Result<CallResult, CallError> {
    // Set after the vendor's members, replacing a member of the same name.
    let mut ours = Vec::new();
    if response.truncated {
        ours.push((TRUNCATED, Value::Bool(true)));
    }
    if let Some(rate_limit) = rate_limit {
        ours.push((RATE_LIMIT, rate_limit.to_json()));
    }
    let fits = |json: &str| budget::structured_len(json, rate_limit) <= list.budget;
    let structured = match (&list.tool.pagination, raw) {
        (Pagination::None, Some(raw)) if list.selection.is_some() => {
            let written = selected_object(raw, list.selection.as_ref(), ours);
            if fits(&written) {
                written
            } else {
                shaped(&written, "", list.budget, rate_limit)
            }
        }
        (Pagination::None, Some(raw)) => {
            let written = match raw.members() {
                Some(members) => structured_object(
                    members
                        .into_iter()
                        .map(|(key, value)| (key, Member::Raw(value))),
                    ours,
                ),
                None => structured_object([(RESULT, Member::Raw(raw))], ours),
            };
            if fits(&written) {
                written
            } else {
                shaped(&written, "", list.budget, rate_limit)
            }
        }
        (Pagination::None, None) if response.text.is_empty() => {
            structured_object([(RESULT, Member::Value(Value::Null))], ours)
        }
        (Pagination::None, None) => {
            let note = if response.truncated {
                format!("\n\n[truncated: the vendor response exceeded {MAX_BODY_BYTES} bytes]")
            } else {
                String::new()
            };
            let text = format!("{}{note}", response.text);
            return Ok(CallResult::Text(budget::fit_text(
                text,
                list.budget,
                rate_limit,
            )));
        }
        (pagination, raw) => list_page(response, raw, pagination, ours, list, rate_limit)?,
    };
    Ok(CallResult::Structured(structured))
}

/// A list page within the budget: as many whole items as fit (at least one, shaped if it
/// alone is too large), with a cursor that continues right after the last one returned.
fn list_page(
    response: &VendorResponse,
    raw: Option<Json<'_>>,
    pagination: &Pagination,
    ours: Vec<(Key<'static>, Value)>,
    list: &ListContext<'_>,
    rate_limit: Option<&RateLimit>,
) -> Result<String, CallError> {
    let body = raw.unwrap_or(Json::NULL);
    let items = paging::list_items(body, pagination);
    let cursor_header = match pagination {
        Pagination::Cursor {
            next_from: CursorSource::Header(name),
            ..
        } => response.header(*name),
        _ => None,
    };
    let hints = NextHints {
        link: response.header(reqwest::header::LINK),
        cursor_header,
    };
    let vendor_next = paging::vendor_next(list.tool, list.page, body, items.len(), &hints);
    let page = |cap: usize| -> Result<(String, usize), CallError> {
        let (taken, next) = paging::page_of(
            list.keys,
            list.tool,
            list.server_id,
            list.page,
            items.clone(),
            vendor_next.clone(),
            cap,
        )?;
        let written = match &list.selection {
            None => structured_object(
                [
                    (RESULT, Member::Items(&taken)),
                    (NEXT_CURSOR, Member::Value(next)),
                ],
                ours.clone(),
            ),
            Some(selection) => {
                let values: Vec<Value> = taken.iter().filter_map(|item| item.value()).collect();
                let mut ours = ours.clone();
                let unknown = selection.unknown(values.iter());
                if !unknown.is_empty() {
                    ours.push((IGNORED_FIELDS, json!(unknown)));
                }
                let kept = values.iter().map(|item| selection.apply(item)).collect();
                structured_object(
                    [
                        (RESULT, Member::Value(Value::Array(kept))),
                        (NEXT_CURSOR, Member::Value(next)),
                    ],
                    ours,
                )
            }
        };
        Ok((written, taken.len()))
    };
    let fits = |json: &str| budget::structured_len(json, rate_limit) <= list.budget;
    let (whole, count) = page(usize::MAX)?;
    if fits(&whole) || count <= 1 {
        return Ok(if fits(&whole) {
            whole
        } else {
            shaped(&whole, "result.", list.budget, rate_limit)
        });
    }
    // The most items that fit: `fewest` always does, or is the single item to shape.
    let (mut fewest, mut most) = (1, count - 1);
    while fewest < most {
        let middle = (fewest + most).div_ceil(2);
        if fits(&page(middle)?.0) {
            fewest = middle;
        } else {
            most = middle - 1;
        }
    }
    let (written, _) = page(fewest)?;
    Ok(if fits(&written) {
        written
    } else {
        shaped(&written, "result.", list.budget, rate_limit)
    })
}

/// A structured result too large for the budget, shortened where it is largest (specgate's
/// own members untouched) and marked with what was shortened. `prefix` is taken off the
/// paths reported (`result.` for a list item, whose fields a caller names per item).
fn shaped(written: &str, prefix: &str, limit: usize, rate_limit: Option<&RateLimit>) -> String {
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(written) else {
        return written.to_owned();
    };
    // Room for the note that says what was shortened.
    let reserve = 600;
    let paths = budget::shape(&mut object, &OUR_MEMBERS, |object| {
        let json = serde_json::to_string(object).unwrap_or_default();
        budget::structured_len(&json, rate_limit) + reserve <= limit
    });
    let mut listed: Vec<String> = paths
        .iter()
        .map(|path| path.strip_prefix(prefix).unwrap_or(path).to_owned())
        .take(10)
        .collect();
    listed.dedup();
    object.insert(
        "truncated".to_owned(),
        json!({
            "paths": listed,
            "hint": format!("shortened to fit this MCP server's result budget of {limit} bytes; call again for less: `response_fields` with only the fields you need (the shortened ones among them), or a smaller `limit`"),
        }),
    );
    serde_json::to_string(&object).unwrap_or_default()
}

/// A vendor's error body, shortened where it is largest to at most `limit` bytes: it goes
/// into the error result beside the message, so it gets a share of the budget.
fn error_body_within(body: Value, limit: usize) -> Value {
    let mut wrapper = serde_json::Map::new();
    wrapper.insert("body".to_owned(), body);
    budget::shape(&mut wrapper, &[], |wrapper| {
        serde_json::to_string(wrapper).map_or(0, |text| text.len()) <= limit
    });
    wrapper.remove("body").unwrap_or(Value::Null)
}

/// The vendor's object (or, for any other JSON, `result`) with only the selected fields, ours
/// added, and the paths that named nothing in `ignored_fields`.
fn selected_object(
    raw: Json<'_>,
    selection: Option<&Selection>,
    mut ours: Vec<(Key<'static>, Value)>,
) -> String {
    let value = raw.value().unwrap_or(Value::Null);
    let Some(selection) = selection else {
        return structured_object([(RESULT, Member::Value(value))], ours);
    };
    let unknown = selection.unknown(std::iter::once(&value));
    if !unknown.is_empty() {
        ours.push((IGNORED_FIELDS, json!(unknown)));
    }
    match selection.apply(&value) {
        Value::Object(mut kept) if value.is_object() => {
            for (key, value) in ours {
                kept.insert(key.name().into_owned(), value);
            }
            serde_json::to_string(&kept).unwrap_or_default()
        }
        selected => structured_object([(RESULT, Member::Value(selected))], ours),
    }
}

/// The members specgate writes into results, which shaping leaves alone.
const OUR_MEMBERS: [&str; 4] = ["next_cursor", "rate_limit", "truncated", "ignored_fields"];

/// A member of a structured result.
pub(super) enum Member<'a> {
    /// Vendor JSON, copied compactly.
    Raw(Json<'a>),
    /// Vendor items, as one array.
    Items(&'a [Json<'a>]),
    /// A value of specgate's own.
    Value(Value),
}

/// Writes a structured result object: `members` in order, then `ours`, each of which replaces
/// the member of its name where there is one (as `Map::insert` would) and is appended where not.
pub(super) fn structured_object<'a>(
    members: impl IntoIterator<Item = (Key<'a>, Member<'a>)>,
    mut ours: Vec<(Key<'static>, Value)>,
) -> String {
    fn write_member(out: &mut Vec<u8>, key: &str, member: Member<'_>) {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        out.push(b':');
        match member {
            Member::Raw(raw) => raw.write_compact(out),
            Member::Items(items) => {
                out.push(b'[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    item.write_compact(out);
                }
                out.push(b']');
            }
            Member::Value(value) => {
                // Writing into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, &value);
            }
        }
    }
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    // Names ours replaced: a later duplicate of one is dropped, since readers take the last.
    let mut replaced_names: Vec<Key<'static>> = Vec::new();
    for (key, member) in members {
        let name = (!ours.is_empty() || !replaced_names.is_empty()).then(|| key.name());
        if let Some(name) = &name
            && replaced_names.iter().any(|ours| ours.name() == *name)
        {
            continue;
        }
        let replaced = name.and_then(|name| ours.iter().position(|(ours, _)| ours.name() == name));
        match replaced {
            Some(index) => {
                let (ours_key, value) = ours.remove(index);
                replaced_names.push(ours_key);
                write_member(&mut out, key.text(), Member::Value(value));
            }
            None => write_member(&mut out, key.text(), member),
        }
    }
    for (key, value) in ours {
        write_member(&mut out, key.text(), Member::Value(value));
    }
    out.push(b'}');
    // Built from valid UTF-8 pieces only.
    String::from_utf8(out).unwrap_or_default()
}

/// The vendor's own error message, at the first of the integration's pointers that holds one.
fn vendor_message(body: &Value, pointers: &[&str]) -> Option<String> {
    pointers
        .iter()
        .find_map(|pointer| match body.pointer(pointer)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Array(items) if !items.is_empty() => Some(
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Value::Object(_) | Value::Array(_) | Value::String(_) | Value::Null => None,
            other => Some(other.to_string()),
        })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn vendor_members_pass_through_and_ours_replace_as_insert_would() {
        let body = "{\n  \"id\": \"ord 1\",\n  \"rate_limit\": \"vendor's\",\n  \"n\": 1.50\n}";
        let members = vendor_json::parse(body).unwrap().members().unwrap();
        let written = structured_object(
            members.into_iter().map(|(k, v)| (k, Member::Raw(v))),
            vec![(TRUNCATED, json!(true)), (RATE_LIMIT, json!({"limit": 5}))],
        );
        assert_eq!(
            written,
            r#"{"id":"ord 1","rate_limit":{"limit":5},"n":1.50,"truncated":true}"#
        );
        let mut expected: Value = serde_json::from_str(body).unwrap();
        expected["truncated"] = json!(true);
        expected["rate_limit"] = json!({"limit": 5});
        assert_eq!(serde_json::from_str::<Value>(&written).unwrap(), expected);
    }

    #[test]
    fn a_duplicate_vendor_member_never_outlasts_ours() {
        let body = r#"{"rate_limit":"first","id":1,"rate_limit":"last","truncated":false}"#;
        let members = vendor_json::parse(body).unwrap().members().unwrap();
        let written = structured_object(
            members.into_iter().map(|(k, v)| (k, Member::Raw(v))),
            vec![(TRUNCATED, json!(true)), (RATE_LIMIT, json!({"limit": 5}))],
        );
        let read: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            read,
            json!({"rate_limit": {"limit": 5}, "id": 1, "truncated": true})
        );
        assert_eq!(written.matches("rate_limit").count(), 1, "{written}");
    }

    #[test]
    fn vendor_messages_follow_pointers() {
        let rose = json!({"statusCode": 400, "message": ["name must be a string", "id is required"], "error": "Bad Request"});
        assert_eq!(
            vendor_message(&rose, &["/message"]).as_deref(),
            Some("name must be a string; id is required")
        );
        let edesk = json!({"error": {"httpCode": 404, "message": "Ticket not found"}});
        assert_eq!(
            vendor_message(&edesk, &["/message", "/error/message"]).as_deref(),
            Some("Ticket not found")
        );
    }
}
