//! Types and helpers that specgate's generated code links against.
//!
//! Generated code is a static table of [`ToolDef`]s, one per documented vendor operation, grouped
//! into [`Integration`]s. Each tool carries a `build` function that parses flat MCP tool
//! arguments into the tool's typed request struct and splits it into an [`HttpRequest`].
//! This crate has no dependency on the code generator, on `syn` or `quote`, or on any server
//! framework, so generated code stays cheap to compile.
#![deny(missing_docs)]

mod args;
mod portable;
mod reader;
mod request;
mod rules;

pub use args::{
    ArgError, ArgErrorKind, Args, FromArg, MAX_PAGE_LIMIT, ToJson, expected, extra_fields, nested,
    not_allowed, nullable, nullable_at, object_at, only_known, only_known_at, optional,
    optional_at, page_limit, put, put_optional, required, required_at,
};
pub use portable::decode_portable_arguments;
pub use reader::ArgReader;
pub use request::{
    BodyKind, HttpMethod, HttpRequest, Pairs, QueryValue, form_pairs, path_segment, path_segments,
    push_each, push_joined, push_path_segment, push_path_segments, push_value,
};
pub use rules::{Check, Literal, Pattern, Rule, check_arguments, types as rule_types};

/// A compiled vendor integration: where its API lives, how it authenticates, and its tools.
#[derive(Debug)]
pub struct Integration {
    /// Slug used in tool names and in the admin API (`malomo`, `e_desk`, `roserocket`).
    pub name: &'static str,
    /// Human-readable vendor name.
    pub title: &'static str,
    /// Default base URL that tool paths are appended to.
    pub base_url: &'static str,
    /// How requests to this vendor authenticate.
    pub auth: AuthKind,
    /// Headers sent on every request to this vendor (e.g. a versioned `Accept`).
    pub default_headers: &'static [(&'static str, &'static str)],
    /// JSON pointers tried in order to find the human-readable message in an error body.
    pub error_message_pointers: &'static [&'static str],
    /// Every tool of this integration, sorted by name.
    pub tools: &'static [ToolDef],
}

/// How a vendor authenticates requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No credentials.
    None,
    /// `Authorization: Bearer <api key>`.
    Bearer,
    /// A custom header carrying the key.
    Header {
        /// Header name.
        name: &'static str,
    },
    /// HTTP basic authentication.
    Basic,
    /// A query parameter carrying the key.
    Query {
        /// Query parameter name.
        name: &'static str,
    },
    /// OAuth 2.0 bearer tokens that the server refreshes itself.
    OAuth2 {
        /// Token endpoint used for refresh, client-credentials and authorization-code grants.
        token_url: &'static str,
        /// Grants the vendor supports (`refresh_token`, `client_credentials`, ...).
        grants: &'static [&'static str],
        /// Where an account's owner consents (the authorization-code grant); empty when the
        /// spec names none.
        authorize_url: &'static str,
        /// How the client authenticates at the token endpoint.
        token_auth: TokenAuth,
    },
}

/// How an OAuth client authenticates at a vendor's token endpoint (RFC 7591's
/// `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 section 2.3.1, the default).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

impl AuthKind {
    /// Stable short name used in the admin API and CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bearer => "bearer",
            Self::Header { .. } => "header",
            Self::Basic => "basic",
            Self::Query { .. } => "query",
            Self::OAuth2 { .. } => "oauth2",
        }
    }
}

/// The class a tool's method falls in, used by method filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MethodClass {
    /// `get` and `list`.
    Read,
    /// `create`, `update` and `delete`.
    Write,
    /// Everything else (`search`, `upsert`, ...).
    Custom,
}

impl MethodClass {
    /// Lower-case name, as used in filters.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Custom => "custom",
        }
    }
}

/// MCP tool annotations (all hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Annotations {
    /// The tool does not modify its environment.
    pub read_only: bool,
    /// The tool may destroy or replace data.
    pub destructive: bool,
    /// Repeating the call with the same arguments has no further effect.
    pub idempotent: bool,
    /// The tool talks to an external system.
    pub open_world: bool,
}

/// Where pagination parameters go in the vendor request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    /// Query string.
    Query,
    /// Top-level field of the JSON body.
    Body,
}

/// How a list tool's uniform `limit`/`next_cursor` map onto the vendor's pagination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pagination {
    /// Not a paginated tool.
    None,
    /// A list the vendor returns whole; the server pages it. The items are the body itself if
    /// it is an array, else its one array-valued field.
    Local,
    /// Opaque vendor cursors.
    Cursor {
        /// Request parameter that carries the cursor.
        cursor_param: &'static str,
        /// Request parameter for the page size, if the vendor has one.
        limit_param: Option<&'static str>,
        /// Where the next cursor comes from in the response.
        next_from: CursorSource,
        /// JSON pointer to the items array (`""` for a bare array).
        items_pointer: &'static str,
    },
    /// 1-based page numbers.
    Page {
        /// Request parameter for the page number.
        page_param: &'static str,
        /// Request parameter for the page size.
        size_param: &'static str,
        /// JSON pointer to the items array.
        items_pointer: &'static str,
        /// JSON pointer to the total item count, if the vendor reports one.
        total_pointer: Option<&'static str>,
    },
    /// Offsets into the result set.
    Offset {
        /// Request parameter for the offset.
        offset_param: &'static str,
        /// Request parameter for the page size.
        limit_param: &'static str,
        /// Where both parameters go.
        location: ParamLocation,
        /// JSON pointer to the items array.
        items_pointer: &'static str,
        /// JSON pointer to the total item count, if the vendor reports one.
        total_pointer: Option<&'static str>,
    },
}

/// Where a cursor-paginated vendor puts the next cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorSource {
    /// A JSON pointer into the response body.
    BodyPointer(&'static str),
    /// An RFC 8288 `Link` header with `rel="next"`; the cursor is that URL's cursor parameter.
    LinkHeader,
    /// A response header holding the cursor itself.
    Header(&'static str),
}

/// One MCP tool compiled from one documented vendor operation.
#[derive(Debug)]
pub struct ToolDef {
    /// Tool name (`list_all_malomo_orders`), unique across all integrations.
    pub name: &'static str,
    /// Human-readable title.
    pub title: &'static str,
    /// Description shown to the model; never empty.
    pub description: &'static str,
    /// Integration slug this tool belongs to.
    pub integration: &'static str,
    /// Resource name as written in the spec (`orders`, `orders_by_tracking_code`).
    pub resource: &'static str,
    /// Method name (`list`, `get`, `create`, `update`, `delete`, or a custom name).
    pub method: &'static str,
    /// Method class used by filters.
    pub class: MethodClass,
    /// Tags used by tag filters.
    pub tags: &'static [&'static str],
    /// MCP annotations.
    pub annotations: Annotations,
    /// JSON Schema 2020-12 of the flat arguments object, precomputed at build time.
    pub input_schema: &'static str,
    /// The same schema in the `portable` profile: the subset every major MCP client accepts.
    pub input_schema_portable: &'static str,
    /// Arguments the portable profile takes as JSON-encoded strings: property names joined
    /// by `/` (with `~`, `/` and `*` in a name written `~0`, `~1` and `~2`), `*` for every
    /// array item.
    pub portable_encoded: &'static [&'static str],
    /// Pagination mapping for list tools.
    pub pagination: Pagination,
    /// HTTP method and path template: with `operation_id`, the tool's stable identity, which
    /// follows a tool across renames.
    pub endpoint: &'static str,
    /// The vendor operation's `operationId`, when the spec gives one.
    pub operation_id: Option<&'static str>,
    /// Earlier names of this tool: callable, never listed, answered as deprecated.
    pub aliases: &'static [&'static str],
    /// Parses flat arguments into the typed request struct and splits it into a vendor request.
    pub build: fn(&Args) -> Result<HttpRequest, ArgError>,
}
