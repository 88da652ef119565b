//! A lenient, typed, borrowed view of an OpenAPI 3 document, read once, each part keeping its
//! JSON pointer.
//!
//! Lenient, because real specs are imperfect: a parameter or request body that cannot be read
//! stays in its place as a [`Malformed`], so it costs only its own operation. A strict model
//! (such as `openapiv3`) refuses the whole document over one bad field. Schemas stay
//! `serde_json::Value`: they are JSON Schema, the tools' output language, and the schema arena
//! is their typed boundary. Swagger 2 documents are converted to this shape first (`swagger`).

use serde_json::{Map, Value};

use crate::diag::{Diagnostic, Severity, pointer_segment};
use crate::ir::HttpMethodIr;
use crate::schema::{self, SchemaError};

/// Methods a path item may have that no tool is made for.
const UNSUPPORTED_METHODS: &[&str] = &["head", "options", "trace"];

/// The parts of an OpenAPI document that tools are made from.
pub struct Spec<'v> {
    /// `info.title`.
    pub title: Option<&'v str>,
    /// The first server's URL with its variables' defaults, without a trailing slash.
    pub base_url: Option<String>,
    /// The scheme the document's first security requirement names, else its first scheme;
    /// `None` where it declares none.
    pub security_scheme: Option<SecurityScheme<'v>>,
    /// Operations in path order, and in [`HttpMethodIr::ALL`] order within a path.
    pub operations: Vec<Op<'v>>,
    /// `head`, `options` and `trace` operations, which make no tool.
    pub unsupported_operations: Vec<UnsupportedOp<'v>>,
}

/// An operation of a method specgate makes no tool for.
pub struct UnsupportedOp<'v> {
    /// The path template.
    pub path: &'v str,
    /// The method, lower case as in the document.
    pub method: &'static str,
    /// Where it is.
    pub pointer: String,
}

/// One operation, with its path item's parameters.
pub struct Op<'v> {
    /// The path template.
    pub path: &'v str,
    /// The HTTP method.
    pub method: HttpMethodIr,
    /// Where it is: `/paths/<path>/<method>`.
    pub pointer: String,
    /// `operationId`.
    pub operation_id: Option<&'v str>,
    /// `summary`.
    pub summary: Option<&'v str>,
    /// `description`.
    pub description: Option<&'v str>,
    /// `tags`, the strings among them.
    pub tags: Vec<String>,
    /// `x-unverified: true`: the vendor's documentation does not confirm the endpoint.
    pub unverified: bool,
    /// The path item's parameters, then the operation's, each read or malformed.
    pub parameters: Vec<Result<Param<'v>, Malformed>>,
    /// `requestBody`, read or malformed.
    pub request_body: Option<Result<RequestBody<'v>, Malformed>>,
}

impl Op<'_> {
    /// `METHOD /path`, as diagnostics name an operation.
    pub fn endpoint(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn<'v> {
    /// In the path template.
    Path,
    /// In the query string.
    Query,
    /// A request header.
    Header,
    /// Anywhere else (`cookie`, or a word OpenAPI does not have).
    Other(&'v str),
}

/// A parameter, its `$ref` followed.
#[derive(Debug)]
pub struct Param<'v> {
    /// Where it is declared (the reference, when it is one).
    pub pointer: String,
    /// `name`.
    pub name: &'v str,
    /// `in`.
    pub location: ParamIn<'v>,
    /// `required: true`.
    pub required: bool,
    /// `explode`, when given.
    pub explode: Option<bool>,
    /// `description`.
    pub description: Option<&'v str>,
    /// `schema`.
    pub schema: Option<&'v Value>,
}

/// A request body, its `$ref` followed.
pub struct RequestBody<'v> {
    /// Where it is declared.
    pub pointer: String,
    /// `required: true`.
    pub required: bool,
    /// `content`, in document order.
    pub content: Vec<Media<'v>>,
}

/// One media type of a request body.
pub struct Media<'v> {
    /// The media type, e.g. `application/json`.
    pub media_type: &'v str,
    /// `schema`.
    pub schema: Option<&'v Value>,
    /// The properties its `encoding` marks `style: deepObject` (form bodies).
    pub deep_object_properties: Vec<String>,
}

/// A part of an operation that cannot be read; the operation it belongs to makes no tool.
#[derive(Debug)]
pub struct Malformed {
    code: &'static str,
    pointer: String,
    problem: String,
    help: &'static str,
}

impl Malformed {
    fn reference(pointer: String, error: &SchemaError) -> Self {
        Self {
            code: "schema::invalid",
            pointer,
            problem: error.to_string(),
            help: "fix the reference; the operation was skipped",
        }
    }

    /// The warning that skips the operation at `endpoint`, in `file`.
    pub fn diagnostic(&self, file: &str, endpoint: &str) -> Diagnostic {
        Diagnostic::new(
            self.code,
            Severity::Warning,
            file,
            &self.pointer,
            format!("{endpoint}: {}", self.problem),
        )
        .with_help(self.help)
    }
}

/// A security scheme, the fields tools need; a field the document lacks is empty.
pub struct SecurityScheme<'v> {
    /// `type`: `http`, `apiKey`, `oauth2`, `openIdConnect`...
    pub kind: &'v str,
    /// `scheme` (for `http`): `bearer`, `basic`...
    pub scheme: &'v str,
    /// `in` (for `apiKey`).
    pub location: &'v str,
    /// `name` (for `apiKey`).
    pub name: &'v str,
    /// `flows` (for `oauth2`), in document order.
    pub flows: Vec<OAuthFlow<'v>>,
}

/// One OAuth 2 flow of a security scheme.
pub struct OAuthFlow<'v> {
    /// The flow's key: `clientCredentials`, `authorizationCode`...
    pub kind: &'v str,
    /// `tokenUrl`.
    pub token_url: Option<&'v str>,
    /// `authorizationUrl`.
    pub authorization_url: Option<&'v str>,
}

impl<'v> Spec<'v> {
    /// Reads `document`. Nothing here fails: what cannot be read is absent, or [`Malformed`]
    /// where it costs an operation.
    pub fn read(document: &'v Value) -> Self {
        let mut operations = Vec::new();
        let mut unsupported_operations = Vec::new();
        if let Some(paths) = document.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                let item_pointer = format!("/paths/{}", pointer_segment(path));
                for method in UNSUPPORTED_METHODS {
                    if item.get(*method).is_some_and(Value::is_object) {
                        unsupported_operations.push(UnsupportedOp {
                            path,
                            method,
                            pointer: format!("{item_pointer}/{method}"),
                        });
                    }
                }
                for method in HttpMethodIr::ALL {
                    if let Some(op) = item.get(method.key()).filter(|op| op.is_object()) {
                        operations.push(read_operation(
                            document,
                            path,
                            &item_pointer,
                            item,
                            method,
                            op,
                        ));
                    }
                }
            }
        }
        Self {
            title: document.pointer("/info/title").and_then(Value::as_str),
            base_url: base_url(document),
            security_scheme: security_scheme(document),
            operations,
            unsupported_operations,
        }
    }
}

fn read_operation<'v>(
    document: &'v Value,
    path: &'v str,
    item_pointer: &str,
    item: &'v Value,
    method: HttpMethodIr,
    op: &'v Value,
) -> Op<'v> {
    let pointer = format!("{item_pointer}/{}", method.key());
    let mut parameters = parameters(document, item, item_pointer);
    parameters.extend(self::parameters(document, op, &pointer));
    let request_body = op
        .get("requestBody")
        .map(|body| request_body(document, body, format!("{pointer}/requestBody")));
    Op {
        path,
        method,
        operation_id: text(op, "operationId"),
        summary: text(op, "summary"),
        description: text(op, "description"),
        tags: op
            .get("tags")
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        unverified: op.get("x-unverified").and_then(Value::as_bool) == Some(true),
        parameters,
        request_body,
        pointer,
    }
}

/// The `parameters` of a path item or an operation at `owner`.
fn parameters<'v>(
    document: &'v Value,
    owner: &'v Value,
    owner_pointer: &str,
) -> Vec<Result<Param<'v>, Malformed>> {
    let Some(Value::Array(items)) = owner.get("parameters") else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let pointer = format!("{owner_pointer}/parameters/{index}");
            let param = schema::deref_in(document, node)
                .map_err(|error| Malformed::reference(pointer.clone(), &error))?;
            let (Some(name), Some(location)) = (text(param, "name"), text(param, "in")) else {
                return Err(Malformed {
                    code: "openapi::bad-parameter",
                    pointer,
                    problem: "parameter without `name` or `in`".to_owned(),
                    help: "every parameter needs `name` and `in`; the operation was skipped",
                });
            };
            Ok(Param {
                name,
                location: match location {
                    "path" => ParamIn::Path,
                    "query" => ParamIn::Query,
                    "header" => ParamIn::Header,
                    other => ParamIn::Other(other),
                },
                required: param.get("required").and_then(Value::as_bool) == Some(true),
                explode: param.get("explode").and_then(Value::as_bool),
                description: text(param, "description"),
                schema: param.get("schema"),
                pointer,
            })
        })
        .collect()
}

fn request_body<'v>(
    document: &'v Value,
    node: &'v Value,
    pointer: String,
) -> Result<RequestBody<'v>, Malformed> {
    let body = schema::deref_in(document, node)
        .map_err(|error| Malformed::reference(pointer.clone(), &error))?;
    let content = body
        .get("content")
        .and_then(Value::as_object)
        .map(|content| {
            content
                .iter()
                .map(|(media_type, media)| Media {
                    media_type,
                    schema: media.get("schema"),
                    deep_object_properties: deep_object_properties(media),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(RequestBody {
        pointer,
        required: body.get("required").and_then(Value::as_bool) == Some(true),
        content,
    })
}

/// The top-level properties a media type's `encoding` marks `style: deepObject`.
fn deep_object_properties(media: &Value) -> Vec<String> {
    let Some(encoding) = media.get("encoding").and_then(Value::as_object) else {
        return Vec::new();
    };
    encoding
        .iter()
        .filter(|(_, e)| text(e, "style") == Some("deepObject"))
        .map(|(name, _)| name.clone())
        .collect()
}

fn base_url(document: &Value) -> Option<String> {
    let server = document.pointer("/servers/0")?;
    let mut url = text(server, "url")?.to_owned();
    if let Some(variables) = server.get("variables").and_then(Value::as_object) {
        for (name, variable) in variables {
            if let Some(default) = text(variable, "default") {
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
    }
    Some(url.trim_end_matches('/').to_owned())
}

fn security_scheme(document: &Value) -> Option<SecurityScheme<'_>> {
    let schemes = document
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)?;
    let preferred = document
        .pointer("/security/0")
        .and_then(Value::as_object)
        .and_then(|requirement| requirement.keys().next());
    let scheme = preferred
        .and_then(|name| schemes.get(name))
        .or_else(|| schemes.values().next())?;
    let field = |key| text(scheme, key).unwrap_or_default();
    Some(SecurityScheme {
        kind: field("type"),
        scheme: field("scheme"),
        location: field("in"),
        name: field("name"),
        flows: scheme
            .get("flows")
            .and_then(Value::as_object)
            .map(oauth_flows)
            .unwrap_or_default(),
    })
}

fn oauth_flows(flows: &Map<String, Value>) -> Vec<OAuthFlow<'_>> {
    flows
        .iter()
        .map(|(kind, flow)| OAuthFlow {
            kind,
            token_url: text(flow, "tokenUrl"),
            authorization_url: text(flow, "authorizationUrl"),
        })
        .collect()
}

fn text<'v>(node: &'v Value, key: &str) -> Option<&'v str> {
    node.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_follow_references_and_keep_their_own_pointers() {
        let document = json!({
            "components": {"parameters": {"Id": {"name": "id", "in": "path", "required": true}}},
            "paths": {"/orders/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "get": {"summary": "Get", "parameters": [
                    {"name": "expand", "in": "query", "explode": false},
                    {"in": "query"},
                    {"$ref": "#/components/parameters/Missing"},
                    {"name": "session", "in": "cookie"}
                ]},
                "head": {}
            }}
        });
        let spec = Spec::read(&document);
        assert_eq!(spec.unsupported_operations.len(), 1);
        assert_eq!(
            spec.unsupported_operations[0].pointer,
            "/paths/~1orders~1{id}/head"
        );
        let [op] = spec.operations.as_slice() else {
            panic!("one operation");
        };
        assert_eq!(op.endpoint(), "GET /orders/{id}");
        let params = &op.parameters;
        assert_eq!(params.len(), 5);
        let id = params[0].as_ref().expect("the reference is followed");
        assert_eq!(
            (id.name, id.location, id.required),
            ("id", ParamIn::Path, true)
        );
        assert_eq!(id.pointer, "/paths/~1orders~1{id}/parameters/0");
        let expand = params[1].as_ref().expect("a query parameter");
        assert_eq!(expand.explode, Some(false));
        assert_eq!(expand.pointer, "/paths/~1orders~1{id}/get/parameters/0");
        let nameless = params[2]
            .as_ref()
            .expect_err("no name")
            .diagnostic("api.yaml", "GET /x");
        assert_eq!(nameless.code, "openapi::bad-parameter");
        assert_eq!(nameless.pointer, "/paths/~1orders~1{id}/get/parameters/1");
        let dangling = params[3]
            .as_ref()
            .expect_err("dangling")
            .diagnostic("api.yaml", "GET /x");
        assert_eq!(dangling.code, "schema::invalid");
        assert!(
            dangling.message.contains("does not resolve"),
            "{}",
            dangling.message
        );
        let cookie = params[4].as_ref().expect("kept for lowering to judge");
        assert_eq!(cookie.location, ParamIn::Other("cookie"));
    }

    #[test]
    fn a_request_body_lists_its_media_types_and_deep_object_fields() {
        let document = json!({
            "components": {"requestBodies": {"Order": {"required": true, "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object"},
                    "encoding": {"filter": {"style": "deepObject"}, "name": {"style": "form"}}
                },
                "application/json": {"schema": {"type": "object"}}
            }}}},
            "paths": {"/orders": {"post": {"requestBody": {"$ref": "#/components/requestBodies/Order"}}}}
        });
        let spec = Spec::read(&document);
        let body = spec.operations[0]
            .request_body
            .as_ref()
            .expect("a body")
            .as_ref()
            .expect("readable");
        assert!(body.required);
        assert_eq!(body.pointer, "/paths/~1orders/post/requestBody");
        let types: Vec<&str> = body.content.iter().map(|m| m.media_type).collect();
        assert_eq!(types.len(), 2);
        let form = body
            .content
            .iter()
            .find(|m| m.media_type.starts_with("application/x-www"))
            .expect("the form type");
        assert_eq!(form.deep_object_properties, vec!["filter".to_owned()]);
    }

    #[test]
    fn the_base_url_and_security_scheme_are_read_from_the_document() {
        let document = json!({
            "info": {"title": "Orders"},
            "servers": [{"url": "https://{region}.example.com/v1/", "variables": {"region": {"default": "eu"}}}],
            "security": [{"oauth": []}],
            "components": {"securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
                "oauth": {"type": "oauth2", "flows": {"authorizationCode": {
                    "authorizationUrl": "https://example.com/authorize", "tokenUrl": "https://example.com/token"
                }}}
            }}
        });
        let spec = Spec::read(&document);
        assert_eq!(spec.title, Some("Orders"));
        assert_eq!(spec.base_url.as_deref(), Some("https://eu.example.com/v1"));
        let scheme = spec.security_scheme.expect("the required scheme");
        assert_eq!(scheme.kind, "oauth2");
        assert_eq!(scheme.flows[0].kind, "authorizationCode");
        assert_eq!(scheme.flows[0].token_url, Some("https://example.com/token"));
        assert!(Spec::read(&json!({"paths": []})).operations.is_empty());
    }
}
