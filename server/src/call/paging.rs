//! Uniform pagination: `limit` and a sealed `next_cursor` bound to the MCP server and tool,
//! mapped onto each vendor's cursor, page or offset parameters, and pages cut at exactly
//! `limit` items.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use specgate_runtime::{
    CursorSource, HttpRequest, MAX_PAGE_LIMIT, Pagination, ParamLocation, ToolDef,
};

use super::CallError;
use crate::crypto::Keys;
use crate::vendor_json::Json;

/// What a `next_cursor` holds, sealed and bound to its MCP server.
#[derive(Serialize, Deserialize)]
struct CursorPayload {
    /// Tool the cursor belongs to.
    t: String,
    /// Vendor cursor, page number or offset of the page to fetch (null: the first page).
    v: Value,
    /// Items of that page already returned, when a page held more than `limit`.
    #[serde(default, skip_serializing_if = "is_zero")]
    k: usize,
    /// Page size the sequence started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<i64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The page a list call fetches.
pub(super) struct PageState {
    /// Items per page the caller asked for.
    size: Option<i64>,
    /// The vendor position of this page (cursor, page number or offset; null for the first).
    position: Value,
    /// Items at the start of this page that earlier calls already returned.
    skip: usize,
}

/// Where the vendor says the next page is, besides the body.
pub(super) struct NextHints<'a> {
    /// The response's `Link` header.
    pub link: Option<&'a str>,
    /// The header the tool's cursor comes in, if it comes in one.
    pub cursor_header: Option<&'a str>,
}

/// Decodes `next_cursor` and writes the vendor's pagination parameters into the request.
pub(super) fn apply(
    keys: &Keys,
    tool: &ToolDef,
    server_id: &str,
    request: &mut HttpRequest,
) -> Result<PageState, CallError> {
    let limit = request.page_limit;
    let decoded = match request.page_cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(open_cursor(keys, tool, server_id, cursor)?),
    };
    let size = decoded.as_ref().and_then(|c| c.s).or(limit);
    let mut state = PageState {
        size,
        position: Value::Null,
        skip: decoded.as_ref().map_or(0, |c| c.k),
    };
    let position = decoded.map(|c| c.v).filter(|v| !v.is_null());
    let mut set = |location: ParamLocation, name: &'static str, value: Value| match location {
        ParamLocation::Query => request.query.push((
            name,
            value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        )),
        ParamLocation::Body => {
            let body = request.body.get_or_insert_with(|| json!({}));
            if let Value::Object(object) = body {
                object.insert(name.to_owned(), value);
            }
        }
    };
    match tool.pagination {
        Pagination::None | Pagination::Local => {}
        Pagination::Cursor {
            cursor_param,
            limit_param,
            ..
        } => {
            if let Some(cursor) = &position {
                set(ParamLocation::Query, cursor_param, cursor.clone());
            }
            if let (Some(param), Some(size)) = (limit_param, size) {
                set(ParamLocation::Query, param, json!(size));
            }
            state.position = position.unwrap_or(Value::Null);
        }
        Pagination::Page {
            page_param,
            size_param,
            ..
        } => {
            let page_number = position.as_ref().and_then(Value::as_i64).unwrap_or(1);
            state.position = json!(page_number);
            set(ParamLocation::Query, page_param, json!(page_number));
            if let Some(size) = size {
                set(ParamLocation::Query, size_param, json!(size));
            }
        }
        Pagination::Offset {
            offset_param,
            limit_param,
            location,
            ..
        } => {
            // Offsets address items exactly, so a partly returned page resumes at its item.
            let offset = position.as_ref().and_then(Value::as_i64).unwrap_or(0) + state.skip as i64;
            state.skip = 0;
            state.position = json!(offset);
            if offset > 0 {
                set(location, offset_param, json!(offset));
            }
            if let Some(size) = size {
                set(location, limit_param, json!(size));
            }
        }
    }
    Ok(state)
}

/// Where the vendor says the page after this one starts, if there is one.
pub(super) fn vendor_next(
    tool: &ToolDef,
    page: &PageState,
    body: Json<'_>,
    count: usize,
    hints: &NextHints<'_>,
) -> Option<Value> {
    let count = count as i64;
    let position = page.position.as_i64().unwrap_or(0);
    let total = |total_pointer: Option<&str>| {
        total_pointer
            .and_then(|p| body.pointer(p))
            .and_then(Json::value)
            .and_then(|total| total.as_i64())
    };
    match tool.pagination {
        Pagination::None | Pagination::Local => None,
        Pagination::Cursor {
            cursor_param,
            next_from,
            ..
        } => match next_from {
            CursorSource::BodyPointer(pointer) => body
                .pointer(pointer)
                .and_then(Json::value)
                .filter(|v| !v.is_null() && v.as_str() != Some("")),
            CursorSource::Header(_) => hints
                .cursor_header
                .filter(|h| !h.is_empty())
                .map(|h| json!(h)),
            CursorSource::LinkHeader => hints
                .link
                .and_then(|l| specgate_wire::link::next_param(l, cursor_param))
                .map(Value::String),
        },
        Pagination::Page { total_pointer, .. } => {
            let size = page.size.unwrap_or(count);
            let more = match total(total_pointer) {
                Some(total) => position * size < total,
                None => count > 0 && page.size.is_none_or(|s| count >= s),
            };
            (more && count > 0).then(|| json!(position + 1))
        }
        Pagination::Offset { total_pointer, .. } => {
            let next = position + count;
            let more = match total(total_pointer) {
                Some(total) => next < total,
                None => page.size.is_some_and(|s| count >= s),
            };
            (more && count > 0).then(|| json!(next))
        }
    }
}

/// At most `limit` items (and at most `cap`) of the vendor page, after those already
/// returned, and the cursor that continues right after the last one: within this page while
/// it has more, else at the vendor's next page.
pub(super) fn page_of<Item>(
    keys: &Keys,
    tool: &ToolDef,
    server_id: &str,
    page: &PageState,
    items: Vec<Item>,
    vendor_next: Option<Value>,
    cap: usize,
) -> Result<(Vec<Item>, Value), CallError> {
    let local = tool.pagination == Pagination::Local;
    let limit = page.size.map_or(
        if local {
            MAX_PAGE_LIMIT as usize
        } else {
            usize::MAX
        },
        |s| s as usize,
    );
    let available = items.len().saturating_sub(page.skip);
    let taken: Vec<Item> = items
        .into_iter()
        .skip(page.skip)
        .take(limit.min(cap))
        .collect();
    let next = if available > taken.len() {
        Some((page.position.clone(), page.skip + taken.len()))
    } else {
        vendor_next.map(|v| (v, 0))
    };
    let Some((v, k)) = next else {
        return Ok((taken, Value::Null));
    };
    let payload = CursorPayload {
        t: tool.name.to_owned(),
        v,
        k,
        s: page.size,
    };
    let internal = |e: &dyn std::fmt::Display| CallError::Internal(e.to_string());
    let bytes = serde_json::to_vec(&payload).map_err(|e| internal(&e))?;
    let sealed = keys
        .seal_bound(&bytes, server_id.as_bytes())
        .map_err(|e| internal(&e))?;
    Ok((taken, Value::String(sealed)))
}

fn open_cursor(
    keys: &Keys,
    tool: &ToolDef,
    server_id: &str,
    cursor: &str,
) -> Result<CursorPayload, CallError> {
    let bytes = keys
        .open_bound(cursor, server_id.as_bytes())
        .map_err(|_| CallError::InvalidCursor)?;
    let payload: CursorPayload =
        serde_json::from_slice(&bytes).map_err(|_| CallError::InvalidCursor)?;
    if payload.t != tool.name {
        return Err(CallError::InvalidCursor);
    }
    Ok(payload)
}

/// A list response's items: for local pagination the body if it is an array, else its only
/// array-valued member (else the body); otherwise what the integration's items pointer names.
/// An array gives its elements, null or nothing gives none, and any other value is one item.
pub(super) fn list_items<'b>(body: Json<'b>, pagination: &Pagination) -> Vec<Json<'b>> {
    let found = match pagination {
        Pagination::Cursor { items_pointer, .. }
        | Pagination::Page { items_pointer, .. }
        | Pagination::Offset { items_pointer, .. } => body.pointer(items_pointer),
        Pagination::Local | Pagination::None => {
            let mut arrays = body
                .members()
                .into_iter()
                .flatten()
                .filter(|(_, value)| value.is_array());
            match (arrays.next(), arrays.next()) {
                (Some((_, items)), None) => Some(items),
                _ => Some(body),
            }
        }
    };
    match found {
        Some(found) if found.is_null() => Vec::new(),
        Some(found) => found.elements().unwrap_or_else(|| vec![found]),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use specgate_runtime::{CursorSource, Pagination};

    use super::list_items;
    use crate::call::shape::{Member, RESULT, structured_object};
    use crate::vendor_json;

    #[test]
    fn list_items_are_found_as_before() {
        let local = Pagination::Local;
        let cursor = Pagination::Cursor {
            cursor_param: "cursor",
            limit_param: None,
            next_from: CursorSource::BodyPointer("/meta/next"),
            items_pointer: "/page/data",
        };
        let cases: [(&Pagination, &str, Value); 7] = [
            (&local, r#"[1, 2, 3]"#, json!([1, 2, 3])),
            (&local, r#"{"data": [1, 2], "n": 2}"#, json!([1, 2])),
            (
                &local,
                r#"{"a": [1], "b": [2]}"#,
                json!([{"a": [1], "b": [2]}]),
            ),
            (&local, r#"null"#, json!([])),
            (
                &cursor,
                r#"{"page": {"data": [{"id": 1}]}}"#,
                json!([{"id": 1}]),
            ),
            (
                &cursor,
                r#"{"page": {"data": {"id": 1}}}"#,
                json!([{"id": 1}]),
            ),
            (&cursor, r#"{"page": {}}"#, json!([])),
        ];
        for (pagination, body, expected) in cases {
            let items = list_items(vendor_json::parse(body).unwrap(), pagination);
            let written = structured_object([(RESULT, Member::Items(&items))], vec![]);
            assert_eq!(
                serde_json::from_str::<Value>(&written).unwrap(),
                json!({"result": expected}),
                "{body}"
            );
        }
    }

    #[test]
    fn link_header_next_cursor() {
        let link = r#"<https://api.gomalomo.com/orders?prev=abc>; rel="prev", <https://api.gomalomo.com/orders?next=c%2Fd&x=1>; rel="next""#;
        assert_eq!(
            specgate_wire::link::next_param(link, "next").as_deref(),
            Some("c/d")
        );
        assert_eq!(
            specgate_wire::link::next_param(r#"<https://x/orders?prev=a>; rel="prev""#, "next"),
            None
        );
    }
}
