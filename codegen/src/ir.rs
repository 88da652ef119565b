//! The intermediate representation between parsed specs and emitted Rust.
//!
//! Plain data only: nothing here knows YAML, JSON files, `syn` or `quote`. Lowering fills it
//! in from OpenAPI documents and doc specs; emission reads it and nothing else.

use serde_json::Value;

/// The intermediate representation of one vendor integration.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationIr {
    /// Slug used in tool names (`malomo`, `e_desk`).
    pub name: String,
    /// Human-readable vendor name.
    pub title: String,
    /// Default base URL.
    pub base_url: String,
    /// Authentication kind.
    pub auth: AuthIr,
    /// Headers sent on every request.
    pub default_headers: Vec<(String, String)>,
    /// JSON pointers to the message in vendor error bodies.
    pub error_message_pointers: Vec<String>,
    /// Tools, sorted by name.
    pub tools: Vec<ToolIr>,
    /// Named types of nested arguments, referenced by [`FieldType::Named`].
    pub types: Vec<TypeIr>,
    /// Spec files this integration was generated from, with their hashes, for the header.
    pub sources: Vec<SourceFile>,
}

/// A spec file and its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the specs directory.
    pub path: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// Authentication of an integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthIr {
    /// No credentials.
    None,
    /// Bearer key.
    Bearer,
    /// Key in a named header.
    Header(String),
    /// HTTP basic.
    Basic,
    /// Key in a named query parameter.
    Query(String),
    /// OAuth 2.0 with a token endpoint and grants.
    OAuth2 {
        /// Token endpoint.
        token_url: String,
        /// Supported grants.
        grants: Vec<String>,
        /// Consent page of the authorization-code grant; empty when unknown.
        authorize_url: String,
        /// Token endpoint client authentication: `true` for `client_secret_post`.
        secret_in_body: bool,
    },
}

/// Read, write or custom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassIr {
    /// get, list
    Read,
    /// create, update, delete
    Write,
    /// anything else
    Custom,
}

/// The intermediate representation of an operation that will become a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolIr {
    /// MCP tool name.
    pub name: String,
    /// Rust type name of the request struct.
    pub struct_name: String,
    /// Title.
    pub title: String,
    /// Full description shown to the model.
    pub description: String,
    /// Resource name as written.
    pub resource: String,
    /// Method name.
    pub method: String,
    /// Method class.
    pub class: ClassIr,
    /// Tags, sorted and de-duplicated.
    pub tags: Vec<String>,
    /// Annotations.
    pub read_only: bool,
    /// Destroys or replaces data.
    pub destructive: bool,
    /// Safe to repeat.
    pub idempotent: bool,
    /// HTTP method.
    pub http_method: HttpMethodIr,
    /// Path template split into literal text and parameter references.
    pub path: Vec<PathPart>,
    /// Flat arguments, in schema order (path, query, header, body, then pagination).
    pub params: Vec<ParamIr>,
    /// Where the body comes from.
    pub body: BodyIr,
    /// Body content type.
    pub content_type: String,
    /// How the body is encoded on the wire.
    pub body_kind: BodyKindIr,
    /// Pagination mapping.
    pub pagination: PaginationIr,
    /// The tool's flat JSON Schema.
    pub input_schema: Value,
    /// Spec file the tool came from, for diagnostics.
    pub source_file: String,
    /// JSON pointer of the spec node the tool came from, for diagnostics.
    pub pointer: String,
    /// The vendor operation's `operationId`, if it has one: with the method and path, the
    /// tool's stable identity across renames.
    pub operation_id: Option<String>,
    /// The name was written in a doc spec (resource and method, or an overlay), not derived
    /// from the path; such names are never changed to resolve a collision.
    pub explicit_name: bool,
    /// Earlier names, sorted: callable but not listed (see [`crate::surface`]).
    pub aliases: Vec<String>,
}

/// The HTTP methods a tool can use; a spec's `head`, `options` and `trace` operations are
/// reported, not lowered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpMethodIr {
    /// GET
    Get,
    /// POST
    Post,
    /// PATCH
    Patch,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

impl HttpMethodIr {
    /// Every method, in the order OpenAPI path items are read.
    pub const ALL: [Self; 5] = [Self::Get, Self::Post, Self::Put, Self::Patch, Self::Delete];

    /// Lower case, as an OpenAPI path item's key.
    pub fn key(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Patch => "patch",
            Self::Put => "put",
            Self::Delete => "delete",
        }
    }

    /// From a spec's method name, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "get" => Some(Self::Get),
            "post" => Some(Self::Post),
            "patch" => Some(Self::Patch),
            "put" => Some(Self::Put),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }

    /// Upper case, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    /// The `specgate_runtime::HttpMethod` variant name.
    pub fn variant(self) -> &'static str {
        match self {
            Self::Get => "Get",
            Self::Post => "Post",
            Self::Patch => "Patch",
            Self::Put => "Put",
            Self::Delete => "Delete",
        }
    }
}

impl std::fmt::Display for HttpMethodIr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToolIr {
    /// The path template with parameter names, as in the spec.
    pub fn path_template(&self) -> String {
        self.path
            .iter()
            .map(|part| match part {
                PathPart::Literal(text) => text.clone(),
                PathPart::Param(index) => format!("{{{}}}", index.of(&self.params).wire_name),
                PathPart::Segments(index) => format!("{{+{}}}", index.of(&self.params).wire_name),
            })
            .collect()
    }
}

/// An argument's place in `ToolIr::params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamIndex(pub usize);

impl ParamIndex {
    /// The argument in `params`.
    pub fn of(self, params: &[ParamIr]) -> &ParamIr {
        &params[self.0]
    }
}

/// A named type's place in `IntegrationIr::types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeId(pub usize);

impl TypeId {
    /// The type in `types`.
    pub fn of(self, types: &[TypeIr]) -> &TypeIr {
        &types[self.0]
    }
}

/// A piece of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    /// Literal text.
    Literal(String),
    /// A path parameter: one segment.
    Param(ParamIndex),
    /// A path parameter whose value is several segments (`{+name}`, RFC 6570's reserved
    /// expansion, or `{name+}`): its `/`s are kept, each segment is encoded.
    Segments(ParamIndex),
}

impl PathPart {
    /// The parameter this part stands for, if it is one.
    pub fn param(&self) -> Option<ParamIndex> {
        match self {
            Self::Literal(_) => None,
            Self::Param(index) | Self::Segments(index) => Some(*index),
        }
    }
}

/// The request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyIr {
    /// No body.
    None,
    /// A JSON object assembled from the `Body` params.
    Object,
    /// The whole body is one argument (non-object schemas).
    Whole(ParamIndex),
}

/// Where an argument goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    /// Path segment.
    Path,
    /// Query string.
    Query,
    /// Header.
    Header,
    /// Body property.
    Body,
    /// The uniform `limit` of list tools.
    PageLimit,
    /// The uniform `next_cursor` of list tools.
    PageCursor,
    /// The `response_fields` of read tools: which fields of the result to keep.
    ResponseFields,
}

/// The Rust type an argument parses into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// `String`
    String,
    /// `i64`
    Integer,
    /// `f64`
    Number,
    /// `bool`
    Boolean,
    /// `Vec<T>`
    Array(Box<FieldType>),
    /// `serde_json::Map`
    Object,
    /// `serde_json::Value`: undecidable unions, unconstrained and cut-off schemas.
    Any,
    /// A named type of the integration ([`IntegrationIr::types`]).
    Named(TypeId),
}

/// How a request body goes on the wire, from its media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKindIr {
    /// JSON (`application/json`, `*+json`, `*/*`).
    Json,
    /// `application/x-www-form-urlencoded`: nested values in bracket notation, arrays of the
    /// listed (`style: deepObject`) properties indexed, other arrays as repeated keys.
    Form {
        /// Top-level properties the spec's `encoding` marks `style: deepObject`.
        deep: Vec<String>,
    },
    /// Text (`text/*`, XML, YAML): one string argument sent as is.
    Text,
    /// Anything else but multipart: one base64 string argument, sent decoded.
    Binary,
}

impl BodyKindIr {
    /// The kind for a media type; `None` for multipart, which is not supported.
    pub fn for_media(media: &str) -> Option<Self> {
        let media = media
            .split(';')
            .next()
            .unwrap_or(media)
            .trim()
            .to_ascii_lowercase();
        Some(if media.contains("json") || media == "*/*" {
            Self::Json
        } else if media == "application/x-www-form-urlencoded" {
            Self::Form { deep: Vec::new() }
        } else if media.starts_with("multipart/") {
            return None;
        } else if media.starts_with("text/") || media.contains("xml") || media.contains("yaml") {
            Self::Text
        } else {
            Self::Binary
        })
    }

    /// Preference when an operation offers several media types (lower is preferred).
    pub fn rank(media: &str) -> u8 {
        match Self::for_media(media) {
            Some(Self::Json) if media == "application/json" => 0,
            Some(Self::Json) => 1,
            Some(Self::Form { .. }) => 2,
            Some(Self::Text) => 3,
            Some(Self::Binary) => 4,
            None => 9,
        }
    }
}

/// A named Rust type for a nested argument shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeIr {
    /// Rust type name, unique in the integration's module.
    pub name: String,
    /// Schema description, for the type's doc comment.
    pub description: String,
    /// What it is.
    pub kind: TypeKind,
}

/// The kinds of named types.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    /// Being built (only while the type space runs).
    Pending,
    /// A shared shape that needed no type of its own (a string, a list): never emitted, and a
    /// reference to it is a `serde_json::Value`.
    Alias,
    /// An object with known fields.
    Struct {
        /// Fields in schema order.
        fields: Vec<FieldIr>,
        /// Unknown fields are kept (the schema allows additional properties) instead of refused.
        open: bool,
    },
    /// A string enum.
    Enum {
        /// Allowed values.
        values: Vec<String>,
    },
    /// A `oneOf`/`anyOf` told apart by JSON type or by a tag property.
    Union {
        /// The variants.
        variants: Vec<VariantIr>,
    },
}

/// One field of a nested struct.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldIr {
    /// Name in the JSON object.
    pub wire: String,
    /// Rust field name.
    pub rust: String,
    /// Type.
    pub ty: FieldType,
    /// Must be present.
    pub required: bool,
    /// An explicit `null` is meaningful.
    pub nullable: bool,
    /// Boxed, because the type refers back to the struct.
    pub boxed: bool,
}

/// One variant of a union type.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantIr {
    /// Rust variant name.
    pub name: String,
    /// The variant's type.
    pub ty: FieldType,
    /// How a value is recognized as this variant.
    pub matches: VariantMatch,
    /// Boxed, because the type refers back to the union.
    pub boxed: bool,
}

/// How a union value picks its variant.
#[derive(Debug, Clone, PartialEq)]
pub enum VariantMatch {
    /// By JSON type: `string`, `integer`, `number`, `boolean`, `array` or `object`.
    Kind(String),
    /// By the string value of one property of an object.
    Tag {
        /// The property.
        property: String,
        /// Its value for this variant.
        value: String,
    },
}

/// One flat argument.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamIr {
    /// Name in the flat arguments object.
    pub arg_name: String,
    /// Name on the wire (query key, header name, body property).
    pub wire_name: String,
    /// Rust field name.
    pub field_name: String,
    /// Where it goes.
    pub location: Location,
    /// Must be present.
    pub required: bool,
    /// An explicit `null` is meaningful and sent as such.
    pub nullable: bool,
    /// Rust type.
    pub ty: FieldType,
    /// Arrays in queries: one pair per element (`true`) or comma-joined.
    pub explode: bool,
    /// Description, for the struct field doc.
    pub description: String,
}

/// Vendor pagination style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaginationIr {
    /// Not paginated.
    None,
    /// A whole list, paged by the server.
    Local,
    /// Opaque cursors.
    Cursor {
        /// Cursor request parameter.
        cursor_param: String,
        /// Page size parameter.
        limit_param: Option<String>,
        /// Where the next cursor is.
        next_from: CursorSourceIr,
        /// Items pointer.
        items_pointer: String,
    },
    /// Page numbers.
    Page {
        /// Page parameter.
        page_param: String,
        /// Page size parameter.
        size_param: String,
        /// Items pointer.
        items_pointer: String,
        /// Total pointer.
        total_pointer: Option<String>,
    },
    /// Offsets.
    Offset {
        /// Offset parameter.
        offset_param: String,
        /// Limit parameter.
        limit_param: String,
        /// In the body rather than the query.
        in_body: bool,
        /// Items pointer.
        items_pointer: String,
        /// Total pointer.
        total_pointer: Option<String>,
    },
}

/// Where the next cursor comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorSourceIr {
    /// JSON pointer into the body.
    BodyPointer(String),
    /// `Link: <...>; rel="next"`.
    LinkHeader,
    /// A header carrying the cursor.
    Header(String),
}
