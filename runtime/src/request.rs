use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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
    /// The uniform `limit` argument of list tools.
    pub page_limit: Option<i64>,
    /// The uniform `next_cursor` argument of list tools, exactly as the client sent it.
    pub page_cursor: Option<String>,
}

/// Everything outside RFC 3986 `unreserved` is escaped, so `../admin` or `a/b` stays one
/// path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Appends one percent-encoded path segment. `.` and `..` are encoded too, so a value can never
/// walk up the vendor's path.
pub fn push_path_segment(path: &mut String, value: &str) {
    match value {
        "." => path.push_str("%2E"),
        ".." => path.push_str("%2E%2E"),
        _ => path.extend(utf8_percent_encode(value, PATH_SEGMENT)),
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
    fn path_segments_cannot_escape() {
        let mut path = String::from("/orders/");
        push_path_segment(&mut path, "../admin?x=1#y");
        assert_eq!(path, "/orders/..%2Fadmin%3Fx%3D1%23y");
        let mut dots = String::from("/orders/");
        push_path_segment(&mut dots, "..");
        assert_eq!(dots, "/orders/%2E%2E");
        let mut unicode = String::new();
        push_path_segment(&mut unicode, "café ok");
        assert_eq!(unicode, "caf%C3%A9%20ok");
    }
}
