//! The doc-spec YAML format (see `specs/README.md`): a vendor description for APIs without
//! OpenAPI, and an overlay that picks, names and documents tools on top of an OpenAPI file.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// A whole doc-spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocSpec {
    /// Format version; must be 1.
    pub specgate: u32,
    /// The vendor.
    pub integration: IntegrationDoc,
    /// Resources and their methods; each method becomes one tool.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceDoc>,
    /// Named schemas, referenced as `#/schemas/<Name>`.
    #[serde(default)]
    pub schemas: Map<String, Value>,
}

/// Integration-wide settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationDoc {
    /// Vendor name; the slug in tool names is its snake case (`eDesk` -> `e_desk`).
    pub name: String,
    /// Display name.
    pub title: Option<String>,
    /// Base URL; defaults to the OpenAPI file's first server.
    pub base_url: Option<String>,
    /// OpenAPI file (same directory) this doc spec overlays.
    pub openapi: Option<String>,
    /// Where the OpenAPI file was fetched from (`cargo codegen fetch` fills it in).
    pub source: Option<SourceDoc>,
    /// Also expose documented OpenAPI operations the overlay does not list.
    #[serde(default)]
    pub include_unlisted: bool,
    /// Tool naming for unlisted operations: `path` (default) or `operation_id`.
    #[serde(default)]
    pub naming: NamingDoc,
    /// Authentication.
    pub auth: Option<AuthDoc>,
    /// Headers on every request.
    #[serde(default)]
    pub default_headers: BTreeMap<String, String>,
    /// JSON pointers to the message in error bodies.
    #[serde(default)]
    pub error_message_pointers: Vec<String>,
    /// Default pagination of list tools.
    pub pagination: Option<PaginationDoc>,
    /// Documentation only: the shape of error bodies.
    #[allow(
        dead_code,
        reason = "documentation for readers of the spec; parsed to validate it"
    )]
    pub error_shape: Option<Value>,
    /// Documentation only: rate-limit headers the vendor sends.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "documentation for readers of the spec; parsed to validate it"
    )]
    pub rate_limit_headers: Vec<String>,
}

/// Provenance of an overlay's OpenAPI file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDoc {
    /// The URL the file is downloaded from.
    pub url: String,
    /// Hex SHA-256 of the file as last fetched.
    pub sha256: Option<String>,
    /// When it was last fetched (RFC 3339, UTC).
    pub fetched_at: Option<String>,
}

/// How unlisted operations are named.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamingDoc {
    /// Resource and method derived from the path and HTTP method.
    #[default]
    Path,
    /// `<integration>_<operationId>`, for very large specs with irregular paths.
    OperationId,
}

/// Authentication kinds.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthDoc {
    /// No credentials.
    None,
    /// Bearer key.
    Bearer,
    /// Key in a header.
    Header {
        /// Header name.
        name: String,
    },
    /// HTTP basic.
    Basic,
    /// Key in a query parameter.
    Query {
        /// Parameter name.
        name: String,
    },
    /// OAuth 2.0.
    Oauth2 {
        /// Token endpoint.
        token_url: String,
        /// Supported grants.
        #[serde(default)]
        grants: Vec<String>,
        /// Consent page of the authorization-code grant.
        #[serde(default)]
        authorize_url: Option<String>,
        /// How the client authenticates at the token endpoint.
        #[serde(default)]
        token_endpoint_auth: TokenEndpointAuth,
    },
}

/// RFC 7591's `token_endpoint_auth_method` values specgate speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuth {
    /// HTTP Basic (the RFC's default).
    #[default]
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
}

/// Pagination styles.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaginationDoc {
    /// Not paginated.
    None,
    /// Opaque cursors.
    Cursor {
        /// Request parameter carrying the cursor.
        cursor_param: String,
        /// Page size parameter.
        limit_param: Option<String>,
        /// Where the next cursor comes from.
        next_from: NextFromDoc,
        /// Items array pointer (`""` for a bare array).
        #[serde(default)]
        items_pointer: String,
    },
    /// Page numbers.
    Page {
        /// Page parameter.
        page_param: String,
        /// Page size parameter.
        size_param: String,
        /// Items pointer.
        #[serde(default)]
        items_pointer: String,
        /// Total count pointer.
        total_pointer: Option<String>,
    },
    /// Offsets.
    Offset {
        /// Offset parameter.
        offset_param: String,
        /// Limit parameter.
        limit_param: String,
        /// `query` (default) or `body`.
        #[serde(default)]
        location: LocationDoc,
        /// Items pointer.
        #[serde(default)]
        items_pointer: String,
        /// Total count pointer.
        total_pointer: Option<String>,
    },
}

/// Query or body.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationDoc {
    /// Query string.
    #[default]
    Query,
    /// JSON body.
    Body,
}

/// Where a cursor comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextFromDoc {
    /// `Link: <url>; rel="next"`.
    LinkHeader,
    /// A JSON pointer in the body.
    Pointer(String),
    /// A response header.
    Header(String),
}

/// One resource.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDoc {
    /// Tags for every method of the resource.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Methods: `list`, `get`, `create`, `update`, `delete`, or custom names.
    pub methods: BTreeMap<String, MethodDoc>,
}

/// One method, which becomes one tool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodDoc {
    /// `GET /orders/{id}`: the endpoint of a standalone method.
    pub http: Option<String>,
    /// Overlay: the OpenAPI operation, by `operationId` or as `GET /path`.
    pub operation: Option<String>,
    /// The tool's name, instead of the one derived from the resource and method.
    pub name: Option<String>,
    /// Earlier names of this tool: still callable, not listed, answered as deprecated.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Tool title.
    pub title: Option<String>,
    /// Documentation; a method without any documentation is not a tool.
    pub description: Option<String>,
    /// Path parameter schemas (default: required strings).
    #[serde(default)]
    pub path: Map<String, Value>,
    /// Query parameter schemas; `required: true` and `explode: false` are allowed.
    #[serde(default)]
    pub query: Map<String, Value>,
    /// Header parameter schemas.
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// JSON body schema.
    pub body: Option<Value>,
    /// Body content type (default `application/json`).
    pub content_type: Option<String>,
    /// Pagination, overriding the integration default.
    pub pagination: Option<PaginationDoc>,
    /// Marks the tool destructive (replaces or deletes data).
    pub destructive: Option<bool>,
    /// Marks the tool idempotent.
    pub idempotent: Option<bool>,
    /// Extra instructions for the model, appended to the description.
    pub instructions: Option<String>,
    /// Per-argument notes appended to that argument's description.
    #[serde(default)]
    pub field_notes: BTreeMap<String, String>,
    /// Extra tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Why this endpoint is not confirmed by the vendor, if it is not.
    pub unverified: Option<String>,
}
