//! A vendor request as generated code builds it (`HttpRequest`, its body kind and form pairs),
//! and path segments: encoded for the URL, and checked to stay one segment.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::args::{ArgError, ArgErrorKind};

/// HTTP methods a vendor operation can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl HttpMethod {
    /// Upper-case method name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// A vendor request produced from typed tool arguments, before auth and base URL are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// HTTP method.
    pub method: HttpMethod,
    /// Path relative to the integration's base URL, with every parameter segment
    /// percent-encoded.
    pub path: String,
    /// Query pairs in order, unencoded; arrays appear once per element or comma-joined as the
    /// spec's `explode` says.
    pub query: Vec<(&'static str, String)>,
    /// Header parameters.
    pub headers: Vec<(&'static str, String)>,
    /// Request body, if the operation has one.
    pub body: Option<serde_json::Value>,
    /// Content type of the body (`application/json` unless the spec says otherwise).
    pub content_type: &'static str,
    /// How the body is encoded on the wire.
    pub body_kind: BodyKind,
    /// The uniform `limit` argument of list tools.
    pub page_limit: Option<i64>,
    /// The uniform `next_cursor` argument of list tools, exactly as the client sent it.
    pub page_cursor: Option<String>,
    /// The `response_fields` argument of read tools: dot-separated paths of the result's
    /// fields to keep.
    pub response_fields: Option<Vec<String>>,
}

/// How a request body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// The JSON value.
    Json,
    /// `application/x-www-form-urlencoded` from a JSON object: see [`form_pairs`].
    Form {
        /// Top-level properties whose arrays use indexed brackets (`style: deepObject`).
        deep_object: &'static [&'static str],
    },
    /// A string argument sent as is.
    Text,
    /// A base64 string argument sent decoded.
    Binary,
}

/// The pairs of a form body, in the bracket notation form APIs such as Stripe's parse:
/// nested objects as `metadata[key]=v`, arrays of objects as `items[0][price]=p`. A top-level
/// array of scalars repeats its key (`tag=a&tag=b`, OpenAPI's form default) unless its
/// property is `deep_object`, which indexes it (`expand[0]=a`). `null` and an empty array or
/// object are an empty value, which such APIs read as "unset"; numbers and booleans are their
/// JSON text. A member name holding `[` or `]`, at the top or nested, would be read as more
/// nesting (`a][b`), and bracket notation has no escape for them, so it is an argument error.
pub fn form_pairs(
    body: &serde_json::Value,
    deep_object: &[&str],
) -> Result<Vec<(String, String)>, ArgError> {
    let mut pairs = Vec::new();
    if let serde_json::Value::Object(object) = body {
        for (key, value) in object {
            refuse_brackets(key, key)?;
            match value {
                serde_json::Value::Array(items)
                    if !items.is_empty()
                        && !deep_object.contains(&key.as_str())
                        && items.iter().all(|i| !i.is_object() && !i.is_array()) =>
                {
                    for item in items {
                        push_form(key.clone(), key, item, &mut pairs)?;
                    }
                }
                _ => push_form(key.clone(), key, value, &mut pairs)?,
            }
        }
    }
    Ok(pairs)
}

fn refuse_brackets(name: &str, field: &str) -> Result<(), ArgError> {
    if name.contains(['[', ']']) {
        return Err(ArgError::new(
            field,
            ArgErrorKind::Invalid(
                "a form body cannot carry a member name with `[` or `]`".to_owned(),
            ),
        ));
    }
    Ok(())
}

/// Appends `value` under the bracket-notation `key`; `field` is its argument path for errors.
fn push_form(
    key: String,
    field: &str,
    value: &serde_json::Value,
    pairs: &mut Vec<(String, String)>,
) -> Result<(), ArgError> {
    match value {
        serde_json::Value::Object(object) if !object.is_empty() => {
            for (name, inner) in object {
                let inner_field = crate::nested(field, name);
                refuse_brackets(name, &inner_field)?;
                push_form(format!("{key}[{name}]"), &inner_field, inner, pairs)?;
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for (index, inner) in items.iter().enumerate() {
                let inner_field = format!("{field}[{index}]");
                push_form(format!("{key}[{index}]"), &inner_field, inner, pairs)?;
            }
        }
        serde_json::Value::Null | serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
            pairs.push((key, String::new()));
        }
        serde_json::Value::String(text) => pairs.push((key, text.clone())),
        other => pairs.push((key, other.to_string())),
    }
    Ok(())
}

/// Everything outside RFC 3986 `unreserved` is escaped, so `../admin` or `a/b` stays one
/// path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Appends one percent-encoded path segment. Callers check the value with [`path_segment`]
/// first: encoding alone cannot keep a value in its segment, because URL parsers treat `%2E%2E`
/// as `..` and many vendor servers decode `%2F` before routing.
pub fn push_path_segment(path: &mut String, value: &str) {
    path.extend(utf8_percent_encode(value, PATH_SEGMENT));
}

/// Appends a multi-segment path parameter (`{+name}` or `{name+}` in the spec's template):
/// each `/`-separated part percent-encoded, the `/` between them kept. Callers check the value
/// with [`path_segments`] first.
pub fn push_path_segments(path: &mut String, value: &str) {
    for (index, segment) in value.split('/').enumerate() {
        if index > 0 {
            path.push('/');
        }
        push_path_segment(path, segment);
    }
}

/// Whether `value`, percent-decoded once, holds a `.` or `..` segment between `/` or `\`
/// separators (`..`, `../x`, `x/./y`, `%2e%2e`).
fn holds_dot_segment(decoded: &str) -> bool {
    decoded
        .split(['/', '\\'])
        .any(|segment| segment == "." || segment == "..")
}

/// Refuses a path parameter that could leave its segment of the vendor's path: an empty value
/// (it would reach the collection route), one that holds `/` (even as `%2F`), or one that,
/// percent-decoded once, holds a `.` or `..` segment between `/` or `\` separators.
#[inline(never)] // one shared copy keeps generated crates fast to optimize
pub fn path_segment(field: &str, value: &str) -> Result<(), ArgError> {
    let decoded = percent_decode_str(value).decode_utf8_lossy();
    if value.is_empty() || holds_dot_segment(&decoded) {
        Err(ArgError::new(field, ArgErrorKind::NotASegment))
    } else if decoded.contains('/') {
        Err(ArgError::new(field, ArgErrorKind::SlashInSegment))
    } else {
        Ok(())
    }
}

/// Refuses a multi-segment path parameter that could leave its place in the vendor's path: an
/// empty value or segment, or a `.` or `..` segment once percent-decoded.
#[inline(never)]
pub fn path_segments(field: &str, value: &str) -> Result<(), ArgError> {
    let decoded = percent_decode_str(value).decode_utf8_lossy();
    if holds_dot_segment(&decoded) {
        Err(ArgError::new(field, ArgErrorKind::NotASegment))
    } else if value.split('/').any(str::is_empty) {
        Err(ArgError::new(field, ArgErrorKind::EmptySegment))
    } else {
        Ok(())
    }
}

/// Query or header pairs of a request being built.
pub type Pairs = Vec<(&'static str, String)>;

/// Adds `name: value` when the value is present.
#[inline(never)] // one shared copy per type keeps generated crates small
pub fn push_value<T: QueryValue + ?Sized>(
    pairs: &mut Pairs,
    name: &'static str,
    value: Option<&T>,
) {
    if let Some(value) = value {
        pairs.push((name, value.to_query()));
    }
}

/// Adds one `name: item` pair per item (an exploded array).
#[inline(never)]
pub fn push_each<T: QueryValue>(pairs: &mut Pairs, name: &'static str, values: Option<&[T]>) {
    for item in values.unwrap_or_default() {
        pairs.push((name, item.to_query()));
    }
}

/// Adds one `name: a,b,c` pair when the array is present (a form-style array, not exploded).
#[inline(never)]
pub fn push_joined<T: QueryValue>(pairs: &mut Pairs, name: &'static str, values: Option<&[T]>) {
    if let Some(values) = values {
        let joined: Vec<String> = values.iter().map(QueryValue::to_query).collect();
        pairs.push((name, joined.join(",")));
    }
}

/// Formats a typed argument for a query string or header value.
pub trait QueryValue {
    /// The unencoded text sent on the wire.
    fn to_query(&self) -> String;
}

impl QueryValue for String {
    fn to_query(&self) -> String {
        self.clone()
    }
}

impl QueryValue for i64 {
    fn to_query(&self) -> String {
        self.to_string()
    }
}

impl QueryValue for f64 {
    fn to_query(&self) -> String {
        self.to_string()
    }
}

impl QueryValue for bool {
    fn to_query(&self) -> String {
        self.to_string()
    }
}

/// Strings go bare; anything else is sent as compact JSON.
impl QueryValue for serde_json::Value {
    fn to_query(&self) -> String {
        match self {
            Self::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl QueryValue for serde_json::Map<String, serde_json::Value> {
    fn to_query(&self) -> String {
        serde_json::Value::Object(self.clone()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_use_bracket_notation() {
        let body = serde_json::json!({
            "customer": "cus_1",
            "metadata": {"order": "1001", "note": null},
            "items": [{"price": "p_1", "quantity": 2}],
            "expand": ["customer", "invoice"],
            "tag": ["a", "b"],
            "confirm": true
        });
        let pairs = form_pairs(&body, &["expand"]).unwrap();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("customer", "cus_1"),
                ("metadata[order]", "1001"),
                ("metadata[note]", ""),
                ("items[0][price]", "p_1"),
                ("items[0][quantity]", "2"),
                ("expand[0]", "customer"),
                ("expand[1]", "invoice"),
                ("tag", "a"),
                ("tag", "b"),
                ("confirm", "true"),
            ]
        );
    }

    #[test]
    fn form_bodies_keep_empty_containers_and_refuse_bracketed_names() {
        let body = serde_json::json!({"metadata": {}, "tag": [], "items": [{"meta": {}}]});
        assert_eq!(
            form_pairs(&body, &[]).unwrap(),
            [
                ("metadata".to_owned(), String::new()),
                ("tag".to_owned(), String::new()),
                ("items[0][meta]".to_owned(), String::new()),
            ]
        );
        let injected = serde_json::json!({"metadata": {"a][b": "x"}});
        let error = form_pairs(&injected, &[]).unwrap_err();
        assert_eq!(error.field, "metadata.a][b");
        // What the form fuzz target found: a top-level name opening a bracket.
        let top = serde_json::json!({"n": 1.5, "d[0,eep": {"a": {"b": [0, [2, 3]]}}});
        assert_eq!(form_pairs(&top, &[]).unwrap_err().field, "d[0,eep");
        let nested = serde_json::json!({"items": [{"meta": {"k[0]": 1}}]});
        assert_eq!(
            form_pairs(&nested, &[]).unwrap_err().field,
            "items[0].meta.k[0]"
        );
    }

    #[test]
    fn path_segments_are_encoded_whole() {
        let mut path = String::from("/orders/");
        push_path_segment(&mut path, "a..b?x=1#y/z");
        assert_eq!(path, "/orders/a..b%3Fx%3D1%23y%2Fz");
        let mut unicode = String::new();
        push_path_segment(&mut unicode, "café ok");
        assert_eq!(unicode, "caf%C3%A9%20ok");
    }

    #[test]
    fn values_that_would_leave_their_segment_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "x/..",
            "x/./y",
            "%2e%2e",
            "%2E",
            "..%2Fx",
            "x\\..",
            "%2e%2e%2fx",
        ] {
            let error = path_segment("order_id", bad).unwrap_err();
            assert_eq!(error.field, "order_id", "{bad:?}");
            assert_eq!(error.kind, ArgErrorKind::NotASegment, "{bad:?}");
        }
        for good in [
            "a..b",
            "...",
            ".x",
            "x.",
            "ord_0001",
            "a\\b",
            "%252e%252e",
            "%252F",
            "café",
        ] {
            assert_eq!(path_segment("id", good), Ok(()), "{good:?}");
        }
        for slashed in ["a/b", "a%2Fb", "a%2fb", "/"] {
            let error = path_segment("id", slashed).unwrap_err();
            assert_eq!(error.kind, ArgErrorKind::SlashInSegment, "{slashed:?}");
        }
    }

    #[test]
    fn multi_segment_values_keep_their_slashes_and_stay_in_place() {
        let mut path = String::from("/files/");
        push_path_segments(&mut path, "docs/a b/r\u{e9}sum\u{e9}?.pdf");
        assert_eq!(path, "/files/docs/a%20b/r%C3%A9sum%C3%A9%3F.pdf");
        assert_eq!(path_segments("path", "docs/2024/report.pdf"), Ok(()));
        for (bad, kind) in [
            ("", ArgErrorKind::EmptySegment),
            ("a//b", ArgErrorKind::EmptySegment),
            ("/a", ArgErrorKind::EmptySegment),
            ("a/", ArgErrorKind::EmptySegment),
            ("a/../b", ArgErrorKind::NotASegment),
            ("a/%2e%2e/b", ArgErrorKind::NotASegment),
            ("./a", ArgErrorKind::NotASegment),
        ] {
            assert_eq!(
                path_segments("path", bad).unwrap_err().kind,
                kind,
                "{bad:?}"
            );
        }
    }
}
