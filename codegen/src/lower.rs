//! Parsed specs to IR: tool selection, the documentation gate, naming, parameter flattening
//! and collision resolution.
//!
//! Flattening rule: path, query, header and body parameters share one flat arguments object.
//! Names are claimed in that order (path first, body last). A parameter whose name is already
//! taken is renamed `<location>_<name>` (`query_id`, `header_id`, `body_id`), then `_2`, `_3`...
//! The uniform pagination arguments `limit` and `next_cursor` are reserved on list tools, and
//! `response_fields` on read tools (get and list).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::diag::{Diagnostic, Severity, pointer_segment};
use crate::docspec::{
    AuthDoc, DocSpec, LocationDoc, MethodDoc, NamingDoc, NextFromDoc, PaginationDoc,
    TokenEndpointAuth,
};
use crate::ir::{
    AuthIr, BodyIr, ClassIr, CursorSourceIr, FieldType, IntegrationIr, Location, PaginationIr,
    ParamIndex, ParamIr, PathPart, SourceFile, ToolIr,
};
use crate::ir::{BodyKindIr, HttpMethodIr};
use crate::naming;
use crate::openapi::{Op, ParamIn, Spec};
use crate::schema::{self, Expansion, RootId, SchemaArena};
use crate::types::TypeSpace;

/// The argument of read tools (get and list) that keeps only some fields of the result.
pub const RESPONSE_FIELDS: &str = "response_fields";

/// Headers the server manages itself; operations cannot take them as arguments.
const MANAGED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "accept",
    "content-length",
    "host",
];

/// A parsed spec document with its file name.
pub struct Document<'a> {
    /// Path relative to the specs directory.
    pub file: &'a str,
    /// Raw text, for line lookup.
    pub text: &'a str,
    /// Parsed value.
    pub value: Value,
}

/// The inputs of one integration: an optional doc spec and an optional OpenAPI document.
pub struct VendorDocs<'a> {
    /// Directory name under `specs/`, used as the vendor name without a doc spec.
    pub dir: &'a str,
    /// Our doc spec, if any.
    pub doc: Option<(Document<'a>, DocSpec)>,
    /// The OpenAPI document, if any.
    pub openapi: Option<Document<'a>>,
    /// Every file read, for the header.
    pub sources: Vec<SourceFile>,
}

/// Collects diagnostics with their file and line.
pub struct Sink<'d> {
    /// Diagnostics so far.
    pub diagnostics: &'d mut Vec<Diagnostic>,
}

impl Sink<'_> {
    fn push(&mut self, doc: &Document<'_>, mut diagnostic: Diagnostic) {
        diagnostic.locate_in(doc.text);
        self.diagnostics.push(diagnostic);
    }
}

/// Lowers one vendor to IR. Problems in one operation cost that operation only.
pub fn lower_vendor(vendor: VendorDocs<'_>, sink: &mut Sink<'_>) -> Option<IntegrationIr> {
    let doc = vendor.doc.as_ref();
    let openapi = vendor.openapi.as_ref();
    // The OpenAPI document with its typed view.
    let read = openapi.map(|o| (o, Spec::read(&o.value)));
    let spec_name = doc
        .map(|(_, d)| d.integration.name.clone())
        .unwrap_or_else(|| vendor.dir.to_owned());
    let slug = naming::integration_slug(&spec_name);
    let title = doc
        .and_then(|(_, d)| d.integration.title.clone())
        .or_else(|| read.as_ref()?.1.title.map(str::to_owned))
        .unwrap_or_else(|| spec_name.clone());
    let base_url = doc
        .and_then(|(_, d)| d.integration.base_url.clone())
        .or_else(|| read.as_ref()?.1.base_url.clone())
        .unwrap_or_default();
    let pointer_file = doc.map(|(d, _)| d).or(openapi)?;
    check_base_url(pointer_file, &slug, &base_url, sink);
    let auth = match doc.and_then(|(_, d)| d.integration.auth.clone()) {
        Some(auth) => auth_from_doc(auth),
        None => read
            .as_ref()
            .map_or(AuthIr::None, |(o, spec)| openapi_auth(o, spec, sink)),
    };
    let docspec_schemas = json!({
        "schemas": doc.map(|(_, d)| d.schemas.clone()).unwrap_or_default()
    });
    let mut arena = SchemaArena::new();
    let openapi_root = openapi.map(|o| arena.add_root(&o.value));
    let docspec_root = arena.add_root(&docspec_schemas);
    let mut lowerer = Lowerer {
        slug: slug.clone(),
        title: title.clone(),
        sink,
        tools: Vec::new(),
        arena,
        openapi_root,
        docspec_root,
        schema_stats: (0, 0),
        types: TypeSpace::default(),
    };
    let default_pagination = doc.and_then(|(_, d)| d.integration.pagination.clone());
    let ops: &[Op<'_>] = match &read {
        Some((o, spec)) => {
            report_operations(o, spec, lowerer.sink);
            &spec.operations
        }
        None => &[],
    };
    let mut used_ops = BTreeSet::new();

    if let Some((doc_file, spec)) = doc
        && !lowerer.doc_spec_tools(
            doc_file,
            spec,
            openapi,
            ops,
            default_pagination.as_ref(),
            &mut used_ops,
        )
    {
        return None;
    }

    if let Some(openapi_doc) = openapi {
        let include_unlisted = doc.is_none_or(|(_, d)| d.integration.include_unlisted);
        let naming_rule = doc.map_or(NamingDoc::Path, |(_, d)| d.integration.naming);
        for (index, op) in ops.iter().enumerate() {
            if used_ops.contains(&index) {
                continue;
            }
            if include_unlisted {
                lowerer.derived_tool(openapi_doc, op, naming_rule);
            } else {
                lowerer.not_selected(openapi_doc, op);
            }
        }
    }

    let Lowerer {
        tools,
        sink,
        schema_stats: (with_defs, stubbed),
        mut types,
        ..
    } = lowerer;
    types.box_cycles();
    summary_notes(sink, pointer_file, &types, with_defs, stubbed);
    let tools = resolve_collisions(tools, sink);

    Some(IntegrationIr {
        name: slug,
        title,
        base_url,
        auth,
        default_headers: doc
            .map(|(_, d)| d.integration.default_headers.clone().into_iter().collect())
            .unwrap_or_default(),
        error_message_pointers: doc
            .map(|(_, d)| d.integration.error_message_pointers.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                vec![
                    "/message".to_owned(),
                    "/error/message".to_owned(),
                    "/error".to_owned(),
                ]
            }),
        tools,
        types: types.types,
        sources: vendor.sources,
    })
}

/// A note where the integration has no fixed base URL, so every account must set one.
fn check_base_url(file: &Document<'_>, slug: &str, base_url: &str, sink: &mut Sink<'_>) {
    if !base_url.is_empty() && !base_url.contains('{') && base_url.contains("://") {
        return;
    }
    sink.push(
        file,
        Diagnostic::new(
            "spec::missing-base-url",
            Severity::Note,
            file.file,
            "",
            if base_url.is_empty() {
                format!("integration `{slug}` has no base URL in its spec")
            } else {
                format!("integration `{slug}` has no fixed base URL in its spec (`{base_url}`)")
            },
        )
        .with_help("each account must set `base_url` (the admin API refuses an account without one); or set `integration.base_url` in a doc spec or `servers[0].url` with variable defaults in OpenAPI"),
    );
}

/// The integration-wide notes: unions left as JSON, and what the schema budget did.
fn summary_notes(
    sink: &mut Sink<'_>,
    pointer_file: &Document<'_>,
    types: &TypeSpace,
    with_defs: usize,
    stubbed: usize,
) {
    if types.undecidable_unions > 0 {
        sink.push(
            pointer_file,
            Diagnostic::new(
                "schema::undecidable-union",
                Severity::Note,
                pointer_file.file,
                "",
                format!("{} oneOf/anyOf schemas have variants that neither their JSON types nor a tag property tell apart; those arguments are checked only as JSON", types.undecidable_unions),
            )
            .with_help("a `discriminator`, or a property with a single `enum` value in each variant, makes them typed"),
        );
    }
    if with_defs > 0 || stubbed > 0 {
        sink.push(
            pointer_file,
            Diagnostic::new(
                "schema::size-budget",
                Severity::Note,
                pointer_file.file,
                "",
                format!("{with_defs} tool schemas keep shared shapes in local `$defs`; {stubbed} references to shapes too large to expand became free-form objects"),
            )
            .with_help("tool schemas stay self-contained and readable; a free-form argument is sent as given"),
        );
    }
}

/// Gives every tool a distinct name. Colliding derived names are resolved with
/// [`naming::disambiguate`], reported as notes; a collision between two names a doc spec sets
/// explicitly stays an error, and both tools are dropped from the name's group but the first.
fn resolve_collisions(mut tools: Vec<ToolIr>, sink: &mut Sink<'_>) -> Vec<ToolIr> {
    let mut groups: BTreeMap<String, Vec<ToolIr>> = BTreeMap::new();
    for tool in tools.drain(..) {
        groups.entry(tool.name.clone()).or_default().push(tool);
    }
    let taken: BTreeSet<String> = groups.keys().cloned().collect();
    let mut assigned: BTreeSet<String> = BTreeSet::new();
    let mut resolved = Vec::new();
    for (base, mut members) in groups {
        if members.len() == 1 {
            assigned.insert(base);
            resolved.extend(members);
            continue;
        }
        // The canonical operation keeps the name: an explicit one, then by method (PATCH
        // before PUT for `update`), then the shorter path, then the path text.
        members.sort_by_key(|t| {
            (
                !t.explicit_name,
                t.http_method,
                t.path.len(),
                t.path_template(),
            )
        });
        let explicit: Vec<&ToolIr> = members.iter().filter(|t| t.explicit_name).collect();
        if explicit.len() > 1 {
            sink.diagnostics.push(
                Diagnostic::new(
                    "naming::duplicate-tool-name",
                    Severity::Error,
                    &explicit[1].source_file,
                    &explicit[1].pointer,
                    format!(
                        "tool name `{base}` is set explicitly for both {} and {}",
                        previous_endpoint(explicit[0]),
                        previous_endpoint(explicit[1])
                    ),
                )
                .with_help("give one of them a different resource or method name in the doc spec"),
            );
            // The first explicit name stands; the other explicit tools are dropped.
            let mut first = true;
            members.retain(|t| !t.explicit_name || std::mem::take(&mut first));
        }
        let identities: Vec<(String, String, Vec<String>)> = members
            .iter()
            .map(|t| {
                (
                    t.http_method.as_str().to_owned(),
                    t.path_template(),
                    path_param_names(&t.path_template()),
                )
            })
            .collect();
        let names = naming::disambiguate(&base, &identities, &|candidate| {
            taken.contains(candidate) || assigned.contains(candidate)
        });
        for (mut tool, name) in members.into_iter().zip(names) {
            if name != base {
                sink.diagnostics.push(
                    Diagnostic::new(
                        "naming::collision-resolved",
                        Severity::Note,
                        &tool.source_file,
                        &tool.pointer,
                        format!(
                            "{} would also be named `{base}`; it is `{name}`",
                            previous_endpoint(&tool)
                        ),
                    )
                    .with_help(
                        "set a resource and method in a doc spec overlay to choose the name",
                    ),
                );
                tool.struct_name = naming::struct_name(&name);
                tool.name = name;
            }
            assigned.insert(tool.name.clone());
            resolved.push(tool);
        }
    }
    resolved.sort_by(|a, b| a.name.cmp(&b.name));
    resolved
}

fn previous_endpoint(tool: &ToolIr) -> String {
    let path = tool.path_template();
    format!("`{} {path}`", tool.http_method)
}

struct Overlay<'o> {
    resource: &'o str,
    method: &'o str,
    doc: &'o MethodDoc,
    doc_file: &'o Document<'o>,
    pointer: &'o str,
    tags: Vec<String>,
    pagination: Option<PaginationDoc>,
}

struct Lowerer<'s, 'd, 'a> {
    slug: String,
    title: String,
    sink: &'s mut Sink<'d>,
    tools: Vec<ToolIr>,
    /// Shared schemas of the vendor's documents, each normalized once.
    arena: SchemaArena<'a>,
    /// The OpenAPI document's root in the arena.
    openapi_root: Option<RootId>,
    /// The doc spec's `schemas` (referenced as `#/schemas/Name`) in the arena.
    docspec_root: RootId,
    /// Tools whose schemas use local `$defs`, and references cut to free-form objects.
    schema_stats: (usize, usize),
    /// Rust types of nested arguments.
    types: TypeSpace,
}

/// A parameter before flattening.
struct RawParam {
    wire_name: String,
    /// Argument name when it differs from the wire name (doc spec `arg:`).
    arg_name: Option<String>,
    location: Location,
    required: bool,
    schema: Value,
    explode: bool,
}

/// One vendor operation, whatever it was read from (a standalone doc spec, an overlay on an
/// OpenAPI operation, or an OpenAPI operation alone): the single model every tool is lowered
/// from by [`Lowerer::lower_operation`].
struct Operation {
    resource: String,
    method: String,
    http_method: HttpMethodIr,
    path_template: String,
    title: Option<String>,
    description: String,
    instructions: Option<String>,
    unverified: Option<String>,
    tags: Vec<String>,
    params: Vec<RawParam>,
    body: Option<(Value, bool)>,
    content_type: String,
    body_kind: BodyKindIr,
    pagination: Option<PaginationDoc>,
    destructive: Option<bool>,
    idempotent: Option<bool>,
    field_notes: BTreeMap<String, String>,
    name_override: Option<String>,
    /// Earlier names the doc spec lists.
    aliases: Vec<String>,
    /// The vendor's `operationId`.
    operation_id: Option<String>,
    /// The name comes from a doc spec rather than the path.
    explicit_name: bool,
}

impl Lowerer<'_, '_, '_> {
    fn error(
        &mut self,
        doc: &Document<'_>,
        code: &'static str,
        pointer: &str,
        message: String,
        help: &str,
    ) {
        self.sink.push(
            doc,
            Diagnostic::new(code, Severity::Error, doc.file, pointer, message).with_help(help),
        );
    }

    /// Reports a pattern Unicode-mode ECMA-262 refuses: rewritten to an exact equivalent
    /// (a note), or dropped from the schema, so neither clients nor the server enforce it.
    fn pattern_diagnostic(
        &mut self,
        doc: &Document<'_>,
        pointer: &str,
        tool: &str,
        fate: crate::rules::PatternFate,
    ) {
        let diagnostic = match fate {
            crate::rules::PatternFate::Rewritten { pointer: at, from, to } => Diagnostic::new(
                "schema::pattern-rewritten",
                Severity::Note,
                doc.file,
                pointer,
                format!("{tool}: pattern `{from}` at {at} is published as `{to}`, its exact equivalent in ECMA-262 Unicode mode"),
            ),
            crate::rules::PatternFate::Dropped { pointer: at, pattern } => Diagnostic::new(
                "schema::pattern-dropped",
                Severity::Warning,
                doc.file,
                pointer,
                format!("{tool}: pattern `{pattern}` at {at} is not a valid ECMA-262 Unicode-mode pattern and has no exact equivalent; it is not published or enforced"),
            )
            .with_help("write the pattern as JSON Schema defines it (ECMA-262, `u` flag) in the spec or an overlay"),
        };
        self.sink.push(doc, diagnostic);
    }

    fn skip(
        &mut self,
        doc: &Document<'_>,
        code: &'static str,
        pointer: &str,
        message: String,
        help: &str,
    ) {
        self.sink.push(
            doc,
            Diagnostic::new(code, Severity::Warning, doc.file, pointer, message).with_help(help),
        );
    }

    #[allow(clippy::too_many_arguments)] // one call site; the arguments are the method's facets
    fn standalone_tool(
        &mut self,
        doc_file: &Document<'_>,
        resource: &str,
        method: &str,
        http: &str,
        method_doc: &MethodDoc,
        pointer: &str,
        tags: Vec<String>,
        pagination: Option<PaginationDoc>,
    ) {
        let Some((verb, path)) = http.split_once(' ') else {
            self.error(
                doc_file,
                "docspec::bad-http",
                &format!("{pointer}/http"),
                format!("`{http}` is not `METHOD /path`"),
                "write e.g. `GET /orders/{id}`",
            );
            return;
        };
        let Some(verb) = HttpMethodIr::parse(verb).filter(|_| path.starts_with('/')) else {
            self.error(
                doc_file,
                "docspec::bad-http",
                &format!("{pointer}/http"),
                format!("`{http}` is not `METHOD /path` with a supported method"),
                "methods: GET, POST, PUT, PATCH, DELETE; the path starts with `/`",
            );
            return;
        };
        let Some(description) = documentation(method_doc.description.as_deref(), None) else {
            self.undocumented(doc_file, pointer, &format!("{resource}.{method}"));
            return;
        };
        let root = self.docspec_root;
        let (params, arg_names) = docspec_params(path, method_doc);
        let mut raw = Vec::new();
        for (name, location, required, mut schema, explode) in params {
            if let Value::Object(object) = &mut schema {
                object.remove("required");
                object.remove("explode");
                object.remove("arg");
            }
            match self.arena.normalize(root, &schema) {
                Ok(schema) => raw.push(RawParam {
                    arg_name: arg_names.get(&name).cloned(),
                    wire_name: name,
                    location,
                    required,
                    schema,
                    explode,
                }),
                Err(error) => {
                    self.skip(
                        doc_file,
                        "schema::invalid",
                        pointer,
                        format!("{resource}.{method}: parameter `{name}`: {error}"),
                        "fix the schema; the tool was skipped",
                    );
                    return;
                }
            }
        }
        let body = match &method_doc.body {
            None => None,
            Some(body) => match self.arena.normalize(root, body) {
                Ok(body) => Some((body, true)),
                Err(error) => {
                    self.skip(
                        doc_file,
                        "schema::invalid",
                        &format!("{pointer}/body"),
                        format!("{resource}.{method}: body: {error}"),
                        "fix the schema; the tool was skipped",
                    );
                    return;
                }
            },
        };
        self.lower_operation(
            doc_file,
            pointer,
            Operation {
                resource: resource.to_owned(),
                method: method.to_owned(),
                http_method: verb,
                path_template: path.to_owned(),
                title: method_doc.title.clone(),
                description,
                instructions: method_doc.instructions.clone(),
                unverified: method_doc.unverified.clone(),
                tags,
                params: raw,
                body,
                body_kind: method_doc
                    .content_type
                    .as_deref()
                    .and_then(BodyKindIr::for_media)
                    .unwrap_or(BodyKindIr::Json),
                content_type: method_doc
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/json".to_owned()),
                pagination,
                destructive: method_doc.destructive,
                idempotent: method_doc.idempotent,
                field_notes: method_doc.field_notes.clone(),
                name_override: method_doc.name.clone(),
                aliases: method_doc.aliases.clone(),
                operation_id: None,
                explicit_name: true,
            },
        );
    }

    /// A doc spec's tools: standalone ones (`http:`) and overlays on OpenAPI operations
    /// (`operation:`), marking the operations used; `false` for a doc spec of another version.
    fn doc_spec_tools(
        &mut self,
        doc_file: &Document<'_>,
        spec: &DocSpec,
        openapi: Option<&Document<'_>>,
        ops: &[Op<'_>],
        default_pagination: Option<&PaginationDoc>,
        used_ops: &mut BTreeSet<usize>,
    ) -> bool {
        if spec.specgate != 1 {
            self.sink.push(
                doc_file,
                Diagnostic::new(
                    "docspec::version",
                    Severity::Error,
                    doc_file.file,
                    "/specgate",
                    format!("unsupported doc-spec version {}", spec.specgate),
                )
                .with_help("this codegen reads `specgate: 1`"),
            );
            return false;
        }
        for (resource, resource_doc) in &spec.resources {
            for (method, method_doc) in &resource_doc.methods {
                let pointer = format!(
                    "/resources/{}/methods/{}",
                    pointer_segment(resource),
                    pointer_segment(method)
                );
                let pagination = method_doc.pagination.clone().or_else(|| {
                    (method == "list")
                        .then(|| default_pagination.cloned())
                        .flatten()
                });
                let mut tags = resource_doc.tags.clone();
                tags.extend(method_doc.tags.iter().cloned());
                if let Some(operation) = &method_doc.operation {
                    let Some(openapi_doc) = openapi else {
                        self.error(doc_file, "docspec::no-openapi", &pointer,
                            format!("method `{resource}.{method}` names operation `{operation}` but the doc spec has no `integration.openapi` file"),
                            "set `integration.openapi`, or describe the endpoint with `http:`");
                        continue;
                    };
                    let Some(index) = find_operation(ops, operation) else {
                        self.error(
                            doc_file,
                            "docspec::unknown-operation",
                            &pointer,
                            format!("operation `{operation}` is not in {}", openapi_doc.file),
                            "use an operationId or `METHOD /path` exactly as in the OpenAPI file",
                        );
                        continue;
                    };
                    used_ops.insert(index);
                    let found = &ops[index];
                    self.overlay_tool(
                        openapi_doc,
                        found,
                        &Overlay {
                            resource,
                            method,
                            doc: method_doc,
                            doc_file,
                            pointer: &pointer,
                            tags,
                            pagination,
                        },
                    );
                } else if let Some(http) = &method_doc.http {
                    self.standalone_tool(
                        doc_file, resource, method, http, method_doc, &pointer, tags, pagination,
                    );
                } else {
                    self.error(doc_file, "docspec::no-endpoint", &pointer,
                        format!("method `{resource}.{method}` has neither `http` nor `operation`"),
                        "add `http: GET /path` (standalone) or `operation: <operationId>` (overlay)");
                }
            }
        }

        true
    }

    fn undocumented(&mut self, doc: &Document<'_>, pointer: &str, what: &str) {
        self.sink.push(
            doc,
            Diagnostic::new(
                "gate::undocumented",
                Severity::Note,
                doc.file,
                pointer,
                format!("{what} is not a tool: it has no documentation"),
            )
            .with_help("add a summary or description (OpenAPI) or a `description` (doc spec)"),
        );
    }

    /// A note for an OpenAPI operation that an overlay without `include_unlisted` leaves out.
    fn not_selected(&mut self, doc: &Document<'_>, op: &Op<'_>) {
        self.sink.push(
            doc,
            Diagnostic::new(
                "overlay::not-selected",
                Severity::Note,
                doc.file,
                &op.pointer,
                format!(
                    "{} is not a tool: the overlay does not list it",
                    op.endpoint()
                ),
            )
            .with_help(
                "add it to the doc spec's resources, or set `integration.include_unlisted: true`",
            ),
        );
    }

    fn derived_tool(&mut self, doc: &Document<'_>, op: &Op<'_>, naming_rule: NamingDoc) {
        let (resource, method) = resource_and_method(op.path, op.method);
        let name_override = match naming_rule {
            NamingDoc::Path => None,
            NamingDoc::OperationId => op.operation_id.map(|id| {
                naming::shorten(&format!("{}_{}", self.slug, naming::sanitize_snake(id)))
            }),
        };
        let tags = op.tags.clone();
        self.openapi_tool_with(doc, op, None, resource, method, tags, None, name_override);
    }

    fn overlay_tool(&mut self, doc: &Document<'_>, op: &Op<'_>, overlay: &Overlay<'_>) {
        let tags = if overlay.tags.is_empty() {
            op.tags.clone()
        } else {
            overlay.tags.clone()
        };
        self.openapi_tool_with(
            doc,
            op,
            Some(overlay),
            overlay.resource.to_owned(),
            overlay.method.to_owned(),
            tags,
            overlay.pagination.clone(),
            None,
        );
    }

    /// An operation's parameters, path-level ones first and overridden by operation-level
    /// ones; `None` (with a diagnostic) when one makes the operation unusable.
    fn openapi_params(
        &mut self,
        doc: &Document<'_>,
        op: &Op<'_>,
        root: RootId,
        endpoint: &str,
    ) -> Option<Vec<RawParam>> {
        let mut raw: Vec<RawParam> = Vec::new();
        for param in &op.parameters {
            let param = match param {
                Ok(param) => param,
                Err(malformed) => {
                    self.sink
                        .push(doc, malformed.diagnostic(doc.file, endpoint));
                    return None;
                }
            };
            let name = param.name;
            let location = match param.location {
                ParamIn::Path => Location::Path,
                ParamIn::Query => Location::Query,
                ParamIn::Header
                    if MANAGED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) =>
                {
                    continue;
                }
                ParamIn::Header => Location::Header,
                ParamIn::Other(other) => {
                    let message =
                        format!("{endpoint}: `{other}` parameter `{name}` is not supported");
                    if param.required {
                        self.skip(
                            doc,
                            "openapi::unsupported-parameter",
                            &op.pointer,
                            message,
                            "the parameter is required, so the operation was skipped",
                        );
                        return None;
                    }
                    self.skip(
                        doc,
                        "openapi::unsupported-parameter",
                        &op.pointer,
                        message,
                        "the optional parameter was left out of the tool",
                    );
                    continue;
                }
            };
            let mut param_schema = match param.schema {
                Some(s) => match self.arena.normalize(root, s) {
                    Ok(s) => s,
                    Err(error) => {
                        self.skip(
                            doc,
                            "schema::invalid",
                            &format!("{}/schema", param.pointer),
                            format!("{endpoint}: parameter `{name}`: {error}"),
                            "fix the schema; the operation was skipped",
                        );
                        return None;
                    }
                },
                None => json!({"type": "string"}),
            };
            if let (Some(text), Value::Object(object)) = (param.description, &mut param_schema) {
                object.entry("description").or_insert_with(|| json!(text));
            }
            // Operation-level parameters override path-level ones with the same name and location.
            raw.retain(|existing| !(existing.wire_name == name && existing.location == location));
            raw.push(RawParam {
                arg_name: None,
                wire_name: name.to_owned(),
                location,
                required: location == Location::Path || param.required,
                explode: param.explode.unwrap_or(true),
                schema: param_schema,
            });
        }
        Some(raw)
    }

    /// An overlay's query parameters, added to (or replacing) the operation's; `false` (with a
    /// diagnostic) when one's schema is unusable.
    fn overlay_query(
        &mut self,
        o: &Overlay<'_>,
        root: RootId,
        endpoint: &str,
        raw: &mut Vec<RawParam>,
    ) -> bool {
        for (name, schema) in &o.doc.query {
            let mut schema = schema.clone();
            let required = schema
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if let Value::Object(object) = &mut schema {
                object.remove("required");
            }
            let schema = match self.arena.normalize(root, &schema) {
                Ok(schema) => schema,
                Err(error) => {
                    self.skip(
                        o.doc_file,
                        "schema::invalid",
                        &format!("{}/query/{}", o.pointer, pointer_segment(name)),
                        format!("{endpoint}: overlay query parameter `{name}`: {error}"),
                        "fix the schema; the tool was skipped",
                    );
                    return false;
                }
            };
            raw.retain(|existing| {
                !(existing.wire_name == *name && existing.location == Location::Query)
            });
            raw.push(RawParam {
                arg_name: None,
                wire_name: name.clone(),
                location: Location::Query,
                required,
                schema,
                explode: true,
            });
        }
        true
    }

    /// The request body (the overlay's, else the operation's first supported media type), its
    /// content type and how it goes on the wire; `None` (with a diagnostic) when it is unusable.
    fn request_body(
        &mut self,
        doc: &Document<'_>,
        op: &Op<'_>,
        overlay: Option<&Overlay<'_>>,
        root: RootId,
        endpoint: &str,
    ) -> Option<RequestBody> {
        let json = |body| (body, "application/json".to_owned(), BodyKindIr::Json);
        if let Some(override_body) = overlay.and_then(|o| o.doc.body.as_ref()) {
            return match self.arena.normalize(root, override_body) {
                Ok(schema) => Some(json(Some((schema, true)))),
                Err(error) => {
                    self.skip(
                        doc,
                        "schema::invalid",
                        &op.pointer,
                        format!("{endpoint}: overlay body: {error}"),
                        "fix the schema; the operation was skipped",
                    );
                    None
                }
            };
        }
        let request_body = match &op.request_body {
            None => return Some(json(None)),
            Some(Err(malformed)) => {
                self.sink
                    .push(doc, malformed.diagnostic(doc.file, endpoint));
                return None;
            }
            Some(Ok(body)) => body,
        };
        let Some(media) = request_body
            .content
            .iter()
            .min_by_key(|m| (BodyKindIr::rank(m.media_type), m.media_type))
        else {
            return Some(json(None));
        };
        let media_type = media.media_type;
        let Some(kind) = BodyKindIr::for_media(media_type) else {
            self.skip(
                doc,
                "openapi::unsupported-media-type",
                &request_body.pointer,
                format!("{endpoint}: request body type `{media_type}` is not supported"),
                "JSON, form, text, XML and binary bodies are supported, multipart is not; the operation was skipped",
            );
            return None;
        };
        let schema = match &kind {
            BodyKindIr::Text => {
                json!({"type": "string", "description": format!("The request body, sent as `{media_type}`.")})
            }
            BodyKindIr::Binary => {
                json!({"type": "string", "contentEncoding": "base64", "description": format!("The request body, base64-encoded; it is sent decoded, as `{media_type}`.")})
            }
            BodyKindIr::Json | BodyKindIr::Form { .. } => {
                media.schema.cloned().unwrap_or_else(|| json!({}))
            }
        };
        let schema = match self.arena.normalize(root, &schema) {
            Ok(schema) => schema,
            Err(error) => {
                self.skip(
                    doc,
                    "schema::invalid",
                    &request_body.pointer,
                    format!("{endpoint}: body: {error}"),
                    "fix the schema; the operation was skipped",
                );
                return None;
            }
        };
        let body_kind = match kind {
            BodyKindIr::Form { .. } => BodyKindIr::Form {
                deep: media.deep_object_properties.clone(),
            },
            other => other,
        };
        Some((
            Some((schema, request_body.required)),
            media_type.to_owned(),
            body_kind,
        ))
    }

    #[allow(clippy::too_many_arguments)] // shared by overlay and derived tools
    fn openapi_tool_with(
        &mut self,
        doc: &Document<'_>,
        op: &Op<'_>,
        overlay: Option<&Overlay<'_>>,
        resource: String,
        method: String,
        tags: Vec<String>,
        pagination: Option<PaginationDoc>,
        name_override: Option<String>,
    ) {
        let endpoint = op.endpoint();
        let summary = op.summary;
        let op_description = op.description;
        let openapi_docs = documentation(summary, op_description);
        let description = match overlay.and_then(|o| o.doc.description.as_deref()) {
            Some(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
            _ => openapi_docs,
        };
        let Some(description) = description else {
            match overlay {
                Some(o) => self.undocumented(o.doc_file, o.pointer, &endpoint),
                None => self.undocumented(doc, &op.pointer, &endpoint),
            }
            return;
        };
        let Some(root) = self.openapi_root else {
            return;
        };
        let Some(mut raw) = self.openapi_params(doc, op, root, &endpoint) else {
            return;
        };
        if let Some(o) = overlay
            && !self.overlay_query(o, root, &endpoint, &mut raw)
        {
            return;
        }
        let Some((body, content_type, body_kind)) =
            self.request_body(doc, op, overlay, root, &endpoint)
        else {
            return;
        };
        let pointer = overlay.map_or(op.pointer.clone(), |o| o.pointer.to_owned());
        let report_doc = overlay.map_or(doc, |o| o.doc_file);
        self.lower_operation(
            report_doc,
            &pointer,
            Operation {
                resource,
                method,
                http_method: op.method,
                path_template: op.path.to_owned(),
                title: overlay.and_then(|o| o.doc.title.clone()).or_else(|| {
                    summary
                        .map(str::to_owned)
                        .filter(|_| op_description.is_some())
                }),
                description,
                instructions: overlay.and_then(|o| o.doc.instructions.clone()),
                unverified: overlay.and_then(|o| o.doc.unverified.clone()).or_else(|| {
                    op.unverified
                        .then(|| "marked x-unverified in the spec".to_owned())
                }),
                tags,
                params: raw,
                body,
                body_kind: match overlay.and_then(|o| o.doc.content_type.as_deref()) {
                    Some(media) => BodyKindIr::for_media(media).unwrap_or(body_kind),
                    None => body_kind,
                },
                content_type: overlay
                    .and_then(|o| o.doc.content_type.clone())
                    .unwrap_or(content_type),
                pagination,
                destructive: overlay.and_then(|o| o.doc.destructive),
                idempotent: overlay.and_then(|o| o.doc.idempotent),
                field_notes: overlay
                    .map(|o| o.doc.field_notes.clone())
                    .unwrap_or_default(),
                explicit_name: overlay.is_some() || name_override.is_some(),
                name_override: overlay.and_then(|o| o.doc.name.clone()).or(name_override),
                aliases: overlay.map(|o| o.doc.aliases.clone()).unwrap_or_default(),
                operation_id: op.operation_id.map(str::to_owned),
            },
        );
    }

    /// Lowers one operation into a tool: flat arguments, typed fields, pagination, the
    /// expanded input schema and annotations. Every source goes through here, in named stages.
    fn lower_operation(&mut self, doc: &Document<'_>, pointer: &str, parts: Operation) {
        let Some((name, method, class)) = self.identity(doc, pointer, &parts) else {
            return;
        };
        let (pagination, controlled) = pagination_of(&parts, class, &method);
        let paginated = pagination != PaginationIr::None;
        let reads = class == ClassIr::Read;
        let mut args = Arguments::new(&parts.field_notes, paginated, reads);
        self.path_arguments(doc, pointer, &parts, &mut args);
        query_and_header_arguments(&parts, &controlled, &mut args);
        let body = self.body_arguments(&parts, &pagination, &controlled, &mut args);
        args.add_uniform(paginated, reads);
        self.note_renamed_response_fields(doc, pointer, &name, &args, reads);
        self.type_arguments(&name, &mut args);
        let path = split_path(&parts.path_template, &args.flat);
        // A multi-segment path is read and sent as text, whatever its schema's type.
        for part in &path {
            if let PathPart::Segments(index) = part {
                args.flat[index.0].ty = FieldType::String;
            }
        }
        let http_method = parts.http_method;
        let destructive = parts.destructive.unwrap_or(
            method == "delete" || (class == ClassIr::Custom && http_method == HttpMethodIr::Delete),
        );
        let idempotent = parts.idempotent.unwrap_or(matches!(
            http_method,
            HttpMethodIr::Get | HttpMethodIr::Put | HttpMethodIr::Delete
        ));
        let title = parts
            .title
            .clone()
            .unwrap_or_else(|| default_title(&self.title, &parts.resource, &method));
        let description = tool_description(&parts, paginated);
        let input_schema = self.input_schema(doc, pointer, &name, &title, &mut args);
        let mut tags: Vec<String> = parts
            .tags
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        tags.sort();
        tags.dedup();
        self.tools.push(ToolIr {
            struct_name: naming::struct_name(&name),
            name,
            title,
            description,
            resource: parts.resource,
            method,
            class,
            tags,
            read_only: reads,
            destructive,
            idempotent,
            http_method,
            path,
            params: args.flat,
            body,
            content_type: parts.content_type,
            body_kind: parts.body_kind,
            pagination,
            input_schema,
            source_file: doc.file.to_owned(),
            pointer: pointer.to_owned(),
            operation_id: parts.operation_id,
            explicit_name: parts.explicit_name,
            aliases: parts.aliases,
        });
    }

    /// The tool's name, method and class; `None`, with an error, for a name that is not valid.
    fn identity(
        &mut self,
        doc: &Document<'_>,
        pointer: &str,
        parts: &Operation,
    ) -> Option<(String, String, ClassIr)> {
        let name = parts.name_override.clone().unwrap_or_else(|| {
            naming::tool_name(
                &self.slug,
                &naming::sanitize_snake(&parts.resource),
                &naming::sanitize_snake(&parts.method),
            )
        });
        if !naming::is_valid_tool_name(&name) {
            self.error(
                doc,
                "naming::invalid-tool-name",
                pointer,
                format!("tool name `{name}` is not valid"),
                "tool names are 1-64 characters of [A-Za-z0-9_.-]",
            );
            return None;
        }
        let method = naming::sanitize_snake(&parts.method);
        let class = match method.as_str() {
            "get" | "list" => ClassIr::Read,
            "create" | "update" | "delete" => ClassIr::Write,
            _ => ClassIr::Custom,
        };
        Some((name, method, class))
    }

    /// The path's arguments, in the template's order; a declared path parameter the template
    /// lacks is skipped with a diagnostic.
    fn path_arguments(
        &mut self,
        doc: &Document<'_>,
        pointer: &str,
        parts: &Operation,
        args: &mut Arguments<'_>,
    ) {
        let path_names = path_param_names(&parts.path_template);
        for param in parts.params.iter().filter(|p| p.location == Location::Path) {
            if !path_names.contains(&param.wire_name) {
                self.skip(
                    doc,
                    "openapi::unused-path-parameter",
                    pointer,
                    format!(
                        "path parameter `{}` does not appear in `{}`",
                        param.wire_name, parts.path_template
                    ),
                    "the parameter was ignored",
                );
            }
        }
        for name in &path_names {
            let schema = parts
                .params
                .iter()
                .find(|p| p.location == Location::Path && &p.wire_name == name)
                .map_or_else(|| json!({"type": "string"}), |p| p.schema.clone());
            args.add(name.clone(), None, Location::Path, true, schema, true);
        }
    }

    /// The body's arguments: an object's properties one by one, or the whole body as one.
    fn body_arguments(
        &mut self,
        parts: &Operation,
        pagination: &PaginationIr,
        controlled: &[String],
        args: &mut Arguments<'_>,
    ) -> BodyIr {
        let Some((body_schema, body_required)) = &parts.body else {
            return BodyIr::None;
        };
        let object_properties = body_schema
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty());
        let Some(body_properties) = object_properties else {
            let mut schema = body_schema.clone();
            if let Value::Object(object) = &mut schema {
                object
                    .entry("description")
                    .or_insert_with(|| json!("The request body."));
            }
            args.add(
                "body".to_owned(),
                None,
                Location::Body,
                *body_required,
                schema,
                true,
            );
            return BodyIr::Whole(ParamIndex(args.flat.len() - 1));
        };
        let required: Vec<&str> = body_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, schema) in body_properties {
            if matches!(pagination, PaginationIr::Offset { in_body: true, .. })
                && controlled.contains(name)
            {
                continue;
            }
            let arg = args.add(
                name.clone(),
                None,
                Location::Body,
                *body_required && required.contains(&name.as_str()),
                self.arena.inline_root(schema.clone()),
                true,
            );
            // Typed from the reference itself, so a shared shape keeps its type.
            args.typing_schemas.insert(arg, schema.clone());
        }
        BodyIr::Object
    }

    /// A note where the operation's own `response_fields` parameter had to take another name.
    fn note_renamed_response_fields(
        &mut self,
        doc: &Document<'_>,
        pointer: &str,
        name: &str,
        args: &Arguments<'_>,
        reads: bool,
    ) {
        let renamed = args
            .flat
            .iter()
            .find(|p| p.wire_name == RESPONSE_FIELDS && p.arg_name != RESPONSE_FIELDS);
        if let (true, Some(renamed)) = (reads, renamed) {
            self.sink.push(
                doc,
                Diagnostic::new(
                    "naming::reserved-argument",
                    Severity::Note,
                    doc.file,
                    pointer,
                    format!(
                        "`{RESPONSE_FIELDS}` selects the result's fields on read tools, so the operation's own parameter of that name is the argument `{}` of `{name}`",
                        renamed.arg_name
                    ),
                ),
            );
        }
    }

    /// Each argument's Rust type and its struct field's name.
    fn type_arguments(&mut self, name: &str, args: &mut Arguments<'_>) {
        for param in &mut args.flat {
            let schema = args
                .typing_schemas
                .get(&param.arg_name)
                .or_else(|| args.properties.get(&param.arg_name));
            if let Some(schema) = schema {
                param.ty = self.types.field_type(
                    &self.arena,
                    schema,
                    &format!("{name}_{}", param.arg_name),
                );
            }
        }
        let mut field_names = BTreeSet::new();
        for param in &mut args.flat {
            let base = naming::field_name(&param.arg_name);
            let mut candidate = base.clone();
            let mut n = 2;
            while !field_names.insert(candidate.clone()) {
                candidate = format!("{base}_{n}");
                n += 1;
            }
            param.field_name = candidate;
        }
    }

    /// The tool's input schema: its arguments' schemas expanded within the budget, objects
    /// that declare their properties closed, and patterns settled.
    fn input_schema(
        &mut self,
        doc: &Document<'_>,
        pointer: &str,
        name: &str,
        title: &str,
        args: &mut Arguments<'_>,
    ) -> Value {
        let mut expansion = Expansion::default();
        for schema in args.properties.values_mut() {
            *schema = self.arena.expand(schema, &mut expansion);
        }
        let mut input_schema = json!({
            "type": "object",
            "description": format!("Arguments for: {title}."),
            "properties": std::mem::take(&mut args.properties),
            "required": std::mem::take(&mut args.required),
            "additionalProperties": false,
        });
        if !expansion.defs.is_empty() {
            self.schema_stats.0 += 1;
            input_schema["$defs"] = Value::Object(expansion.defs);
        }
        schema::close_declared_objects(&mut input_schema);
        for fate in crate::rules::settle_patterns(&mut input_schema) {
            self.pattern_diagnostic(doc, pointer, name, fate);
        }
        self.schema_stats.1 += expansion.stubbed;
        input_schema
    }
}

/// A tool's arguments as they are gathered: the flat list in the order the tool takes them, the
/// names taken, the input schema's properties (and the schemas to type from where they differ),
/// and the required ones.
struct Arguments<'n> {
    flat: Vec<ParamIr>,
    taken: BTreeSet<String>,
    properties: Map<String, Value>,
    typing_schemas: Map<String, Value>,
    required: Vec<Value>,
    field_notes: &'n BTreeMap<String, String>,
}

impl<'n> Arguments<'n> {
    /// None yet; the uniform arguments' names (`limit`, `next_cursor`, `response_fields`) are
    /// reserved where the tool takes them.
    fn new(field_notes: &'n BTreeMap<String, String>, paginated: bool, reads: bool) -> Self {
        let mut taken = BTreeSet::new();
        if paginated {
            taken.insert("limit".to_owned());
            taken.insert("next_cursor".to_owned());
        }
        if reads {
            taken.insert(RESPONSE_FIELDS.to_owned());
        }
        Self {
            flat: Vec::new(),
            taken,
            properties: Map::new(),
            typing_schemas: Map::new(),
            required: Vec::new(),
            field_notes,
        }
    }

    /// An argument name for `wire` that no other argument has: the wire name, else prefixed
    /// with its location, else numbered.
    fn claim(&mut self, wire: &str, location: Location) -> String {
        let prefix = match location {
            Location::Query => "query",
            Location::Header => "header",
            Location::Body => "body",
            _ => "path",
        };
        let mut candidate = wire.to_owned();
        if self.taken.contains(&candidate) {
            candidate = format!("{prefix}_{wire}");
        }
        let base = candidate.clone();
        let mut n = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }

    /// Adds an argument with its schema (a doc spec's field note appended to its
    /// description); returns its name.
    fn add(
        &mut self,
        wire: String,
        arg_override: Option<&str>,
        location: Location,
        required: bool,
        mut schema: Value,
        explode: bool,
    ) -> String {
        let arg = self.claim(arg_override.unwrap_or(&wire), location);
        if let Some(note) = self
            .field_notes
            .get(&arg)
            .or_else(|| self.field_notes.get(&wire))
            && let Value::Object(object) = &mut schema
        {
            let text = match object.get("description").and_then(Value::as_str) {
                Some(existing) => format!("{existing} {note}"),
                None => note.clone(),
            };
            object.insert("description".to_owned(), json!(text));
        }
        let nullable = schema::is_nullable(&schema) && location == Location::Body;
        self.flat.push(ParamIr {
            arg_name: arg.clone(),
            wire_name: wire,
            field_name: String::new(),
            location,
            required,
            nullable,
            ty: FieldType::Any,
            explode,
            description: schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        });
        if required {
            self.required.push(json!(arg));
        }
        self.properties.insert(arg.clone(), schema);
        arg
    }

    /// The uniform arguments every list tool (`limit`, `next_cursor`) and every read tool
    /// (`response_fields`) takes.
    fn add_uniform(&mut self, paginated: bool, reads: bool) {
        if paginated {
            // The maximum is specgate_runtime::MAX_PAGE_LIMIT, which the typed parser enforces.
            let limit = json!({"type": "integer", "minimum": 1, "maximum": 100, "description": "Maximum number of items to return in this page, from 1 to 100 (other values are refused). Omit it for the vendor's default page size."});
            let cursor = json!({"type": "string", "description": "Cursor for the next page. Pass the `next_cursor` value from the previous result back exactly as received, unchanged. Omit it for the first page."});
            self.uniform("limit", Location::PageLimit, FieldType::Integer, limit);
            self.uniform(
                "next_cursor",
                Location::PageCursor,
                FieldType::String,
                cursor,
            );
        }
        if reads {
            let schema = json!({"type": "array", "items": {"type": "string"}, "description": "Only these fields of the result: dot-separated paths, such as `customer.email`; a path through an array applies to each element (`shipments.tracking_code`). For a list, the fields of each item; `next_cursor` is always kept. Unknown paths are ignored and named in `ignored_fields`."});
            self.uniform(
                RESPONSE_FIELDS,
                Location::ResponseFields,
                FieldType::String,
                schema,
            );
        }
    }

    fn uniform(&mut self, arg: &str, location: Location, ty: FieldType, schema: Value) {
        self.flat.push(ParamIr {
            arg_name: arg.to_owned(),
            wire_name: arg.to_owned(),
            field_name: String::new(),
            location,
            required: false,
            nullable: false,
            ty,
            explode: true,
            description: schema["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        });
        self.properties.insert(arg.to_owned(), schema);
    }
}

/// The tool's pagination, and the vendor parameters it controls (so they are not arguments):
/// a list tool whose vendor returns the whole list is paged by specgate.
fn pagination_of(parts: &Operation, class: ClassIr, method: &str) -> (PaginationIr, Vec<String>) {
    let pagination = match (&parts.pagination, class) {
        (Some(p), ClassIr::Read) if method == "list" => pagination_ir(p),
        (Some(p), ClassIr::Custom) => pagination_ir(p),
        _ => PaginationIr::None,
    };
    let pagination = if method == "list" && pagination == PaginationIr::None {
        PaginationIr::Local
    } else {
        pagination
    };
    let controlled: Vec<String> = match &pagination {
        PaginationIr::None | PaginationIr::Local => vec![],
        PaginationIr::Cursor {
            cursor_param,
            limit_param,
            ..
        } => std::iter::once(cursor_param.clone())
            .chain(limit_param.clone())
            .collect(),
        PaginationIr::Page {
            page_param,
            size_param,
            ..
        } => vec![page_param.clone(), size_param.clone()],
        PaginationIr::Offset {
            offset_param,
            limit_param,
            ..
        } => vec![offset_param.clone(), limit_param.clone()],
    };
    (pagination, controlled)
}

/// The query and header arguments, in declaration order; the query parameters pagination
/// controls are not arguments.
fn query_and_header_arguments(parts: &Operation, controlled: &[String], args: &mut Arguments<'_>) {
    for location in [Location::Query, Location::Header] {
        for param in parts.params.iter().filter(|p| p.location == location) {
            if location == Location::Query && controlled.contains(&param.wire_name) {
                continue;
            }
            args.add(
                param.wire_name.clone(),
                param.arg_name.as_deref(),
                location,
                param.required,
                param.schema.clone(),
                param.explode,
            );
        }
    }
}

/// The description the model reads: the spec's, with the doc spec's instructions, how to
/// page, and a note where the endpoint is not confirmed by the vendor.
fn tool_description(parts: &Operation, paginated: bool) -> String {
    let mut description = parts.description.clone();
    if let Some(instructions) = &parts.instructions {
        description.push_str("\n\nImportant: ");
        description.push_str(instructions.trim());
    }
    if paginated {
        description.push_str("\n\nReturns {\"result\": [...], \"next_cursor\": string | null}. To fetch the next page, call this tool again with `next_cursor` set to the returned value exactly as received; it is null on the last page.");
    }
    if let Some(why) = &parts.unverified {
        description
            .push_str("\n\nNote: this endpoint is not confirmed by the vendor's documentation (");
        description.push_str(why.trim());
        description.push_str(").");
    }
    description
}

/// A request body (its schema, and whether it is required), its content type and how it goes
/// on the wire.
type RequestBody = (Option<(Value, bool)>, String, BodyKindIr);

/// A doc-spec parameter before normalization: name, location, required, schema, explode.
type DocParam = (String, Location, bool, Value, bool);

/// A doc-spec method's parameters, path first (in the template's order), then query and
/// headers, each with its location, whether it is required, its schema and whether an array
/// repeats its key; and the argument names the query parameters choose.
fn docspec_params(path: &str, method_doc: &MethodDoc) -> (Vec<DocParam>, BTreeMap<String, String>) {
    let mut params = Vec::new();
    let mut arg_names = BTreeMap::new();
    for name in path_param_names(path) {
        let schema = method_doc
            .path
            .get(&name)
            .cloned()
            .unwrap_or_else(|| json!({"type": "string"}));
        params.push((name, Location::Path, true, schema, true));
    }
    for (name, schema) in &method_doc.query {
        let required = schema
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let explode = schema
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        params.push((
            name.clone(),
            Location::Query,
            required,
            schema.clone(),
            explode,
        ));
        if let Some(arg) = schema.get("arg").and_then(Value::as_str) {
            arg_names.insert(name.clone(), arg.to_owned());
        }
    }
    for (name, schema) in &method_doc.headers {
        let required = schema
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        params.push((
            name.clone(),
            Location::Header,
            required,
            schema.clone(),
            true,
        ));
    }
    (params, arg_names)
}

fn default_title(integration: &str, resource: &str, method: &str) -> String {
    let words = resource.replace('_', " ");
    let singular = match words.rsplit_once(' ') {
        Some((head, last)) => format!("{head} {}", naming::singularize(last)),
        None => naming::singularize(&words),
    };
    match method {
        "list" => format!("List all {integration} {words}"),
        "get" => format!("Get a {integration} {singular} by id"),
        "create" => format!("Create a {integration} {singular}"),
        "update" => format!("Update a {integration} {singular} by id"),
        "delete" => format!("Delete a {integration} {singular} by id"),
        custom => format!(
            "{} {integration} {words}",
            capitalize(&custom.replace('_', " "))
        ),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The documentation gate: summary and description joined, or `None` when both are blank.
fn documentation(summary: Option<&str>, description: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [summary, description]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match parts.as_slice() {
        [] => None,
        [one] => Some((*one).to_owned()),
        [summary, description] if description.starts_with(summary) => {
            Some((*description).to_owned())
        }
        [summary, description, ..] => Some(format!("{summary}\n\n{description}")),
    }
}

fn path_param_names(path: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        names.push(template_variable(&after[..end]).0.to_owned());
        rest = &after[end + 1..];
    }
    names
}

/// A template variable's name, and whether it spans several segments: RFC 6570's reserved
/// expansion `{+name}`, or `{name+}` as API gateways write a greedy path variable.
fn template_variable(variable: &str) -> (&str, bool) {
    match variable
        .strip_prefix('+')
        .or_else(|| variable.strip_suffix('+'))
    {
        Some(name) => (name, true),
        None => (variable, false),
    }
}

fn split_path(template: &str, params: &[ParamIr]) -> Vec<PathPart> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        if start > 0 {
            parts.push(PathPart::Literal(rest[..start].to_owned()));
        }
        let (name, multi_segment) = template_variable(&after[..end]);
        if let Some(index) = params
            .iter()
            .position(|p| p.location == Location::Path && p.wire_name == name)
        {
            parts.push(if multi_segment {
                PathPart::Segments(ParamIndex(index))
            } else {
                PathPart::Param(ParamIndex(index))
            });
        }
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(PathPart::Literal(rest.to_owned()));
    }
    parts
}

/// Resource and method for an operation the overlay does not name (see `naming`).
fn resource_and_method(path: &str, verb: HttpMethodIr) -> (String, String) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let ends_in_param = segments.last().is_some_and(|s| s.starts_with('{'));
    let literal: Vec<String> = segments
        .iter()
        .filter(|s| !s.starts_with('{'))
        .map(|s| naming::sanitize_snake(s))
        .collect();
    let resource = if literal.is_empty() {
        "root".to_owned()
    } else {
        literal.join("_")
    };
    let method = match (verb, ends_in_param) {
        (HttpMethodIr::Get, false) => "list",
        (HttpMethodIr::Get, true) => "get",
        (HttpMethodIr::Post, false) => "create",
        (HttpMethodIr::Put | HttpMethodIr::Patch, true) => "update",
        (HttpMethodIr::Delete, true) => "delete",
        // Collection-level verbs are custom methods, never the item `update`/`delete` names.
        (HttpMethodIr::Delete, false) => "delete_all",
        (other, _) => other.key(),
    };
    (resource, method.to_owned())
}

fn find_operation(ops: &[Op<'_>], reference: &str) -> Option<usize> {
    if let Some((verb, path)) = reference.split_once(' ')
        && verb.chars().all(|c| c.is_ascii_alphabetic())
    {
        let verb = HttpMethodIr::parse(verb)?;
        return ops
            .iter()
            .position(|op| op.method == verb && op.path == path.trim());
    }
    ops.iter().position(|op| op.operation_id == Some(reference))
}

/// Reports the operations that make no tool for their method, then repeated `operationId`s.
fn report_operations(doc: &Document<'_>, spec: &Spec<'_>, sink: &mut Sink<'_>) {
    for op in &spec.unsupported_operations {
        let method = op.method;
        sink.push(
            doc,
            Diagnostic::new(
                "openapi::unsupported-method",
                Severity::Warning,
                doc.file,
                &op.pointer,
                format!(
                    "{} {} is not a tool: `{method}` operations are not supported",
                    method.to_uppercase(),
                    op.path
                ),
            )
            .with_help("tools are made for get, post, put, patch and delete operations"),
        );
    }
    check_operation_ids(doc, &spec.operations, sink);
}

/// Warns of every `operationId` that an earlier operation already has: OpenAPI requires them
/// unique, and an overlay's `operation:` reference finds only the first.
fn check_operation_ids(doc: &Document<'_>, ops: &[Op<'_>], sink: &mut Sink<'_>) {
    let mut first: BTreeMap<&str, &Op<'_>> = BTreeMap::new();
    for op in ops {
        let Some(id) = op.operation_id else {
            continue;
        };
        match first.get(id) {
            None => {
                first.insert(id, op);
            }
            Some(earlier) => sink.push(
                doc,
                Diagnostic::new(
                    "openapi::duplicate-operation-id",
                    Severity::Warning,
                    doc.file,
                    &format!("{}/operationId", op.pointer),
                    format!(
                        "operationId `{id}` of {} {} is already the operationId of {} {}",
                        op.method.as_str(),
                        op.path,
                        earlier.method.as_str(),
                        earlier.path
                    ),
                )
                .with_help("OpenAPI requires operationIds to be unique: rename one (a doc spec's `operation:` finds only the first, so refer to this one as `METHOD /path`)"),
            ),
        }
    }
}

fn openapi_auth(doc: &Document<'_>, spec: &Spec<'_>, sink: &mut Sink<'_>) -> AuthIr {
    let Some(scheme) = &spec.security_scheme else {
        return AuthIr::None;
    };
    match (scheme.kind, scheme.scheme.to_ascii_lowercase().as_str()) {
        ("http", "bearer") => AuthIr::Bearer,
        ("http", "basic") => AuthIr::Basic,
        ("apiKey", _) if scheme.location == "query" => AuthIr::Query(scheme.name.to_owned()),
        ("apiKey", _) if scheme.name.eq_ignore_ascii_case("authorization") => AuthIr::Bearer,
        ("apiKey", _) => AuthIr::Header(scheme.name.to_owned()),
        ("oauth2", _) => {
            let flows = &scheme.flows;
            let token_url = flows
                .iter()
                .find_map(|flow| flow.token_url)
                .unwrap_or_default()
                .to_owned();
            let mut grants: Vec<String> = flows
                .iter()
                .map(|flow| match flow.kind {
                    "clientCredentials" => "client_credentials".to_owned(),
                    "authorizationCode" => "authorization_code".to_owned(),
                    other => naming::sanitize_snake(other),
                })
                .collect();
            grants.push("refresh_token".to_owned());
            grants.sort();
            grants.dedup();
            let authorize_url = flows
                .iter()
                .find(|flow| flow.kind == "authorizationCode")
                .and_then(|flow| flow.authorization_url)
                .unwrap_or_default()
                .to_owned();
            // OpenAPI has no word for it; RFC 7591 makes HTTP Basic the default.
            AuthIr::OAuth2 {
                token_url,
                grants,
                authorize_url,
                secret_in_body: false,
            }
        }
        ("openIdConnect", _) => AuthIr::Bearer,
        (kind, scheme) => {
            let what = if scheme.is_empty() {
                format!("`{kind}`")
            } else {
                format!("`{kind}` with scheme `{scheme}`")
            };
            sink.push(
                doc,
                Diagnostic::new(
                    "openapi::unsupported-auth",
                    Severity::Warning,
                    doc.file,
                    "/components/securitySchemes",
                    format!("security scheme {what} is not supported; requests are sent without credentials"),
                )
                .with_help("specgate sends bearer, basic, API-key (header or query) and OAuth 2 credentials; set `integration.auth` in a doc spec overlay"),
            );
            AuthIr::None
        }
    }
}

fn auth_from_doc(auth: AuthDoc) -> AuthIr {
    match auth {
        AuthDoc::None => AuthIr::None,
        AuthDoc::Bearer => AuthIr::Bearer,
        AuthDoc::Header { name } => AuthIr::Header(name),
        AuthDoc::Basic => AuthIr::Basic,
        AuthDoc::Query { name } => AuthIr::Query(name),
        AuthDoc::Oauth2 {
            token_url,
            grants,
            authorize_url,
            token_endpoint_auth,
        } => AuthIr::OAuth2 {
            token_url,
            grants,
            authorize_url: authorize_url.unwrap_or_default(),
            secret_in_body: token_endpoint_auth == TokenEndpointAuth::ClientSecretPost,
        },
    }
}

fn pagination_ir(doc: &PaginationDoc) -> PaginationIr {
    match doc.clone() {
        PaginationDoc::None => PaginationIr::None,
        PaginationDoc::Cursor {
            cursor_param,
            limit_param,
            next_from,
            items_pointer,
        } => PaginationIr::Cursor {
            cursor_param,
            limit_param,
            next_from: match next_from {
                NextFromDoc::LinkHeader => CursorSourceIr::LinkHeader,
                NextFromDoc::Pointer(p) => CursorSourceIr::BodyPointer(p),
                NextFromDoc::Header(h) => CursorSourceIr::Header(h),
            },
            items_pointer,
        },
        PaginationDoc::Page {
            page_param,
            size_param,
            items_pointer,
            total_pointer,
        } => PaginationIr::Page {
            page_param,
            size_param,
            items_pointer,
            total_pointer,
        },
        PaginationDoc::Offset {
            offset_param,
            limit_param,
            location,
            items_pointer,
            total_pointer,
        } => PaginationIr::Offset {
            offset_param,
            limit_param,
            in_body: location == LocationDoc::Body,
            items_pointer,
            total_pointer,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_resource_and_method() {
        assert_eq!(
            resource_and_method("/orders", HttpMethodIr::Get),
            ("orders".into(), "list".into())
        );
        assert_eq!(
            resource_and_method("/orders/{id}", HttpMethodIr::Get),
            ("orders".into(), "get".into())
        );
        assert_eq!(
            resource_and_method("/orders/{id}/events", HttpMethodIr::Post),
            ("orders_events".into(), "create".into())
        );
        assert_eq!(
            resource_and_method("/objects/search", HttpMethodIr::Post),
            ("objects_search".into(), "create".into())
        );
        assert_eq!(
            resource_and_method("/objects", HttpMethodIr::Patch),
            ("objects".into(), "patch".into())
        );
    }

    #[test]
    fn documentation_gate() {
        assert_eq!(documentation(None, Some("  ")), None);
        assert_eq!(documentation(Some("List"), None).as_deref(), Some("List"));
        assert_eq!(
            documentation(Some("List"), Some("Lists all")).as_deref(),
            Some("Lists all")
        );
        assert_eq!(
            documentation(Some("A"), Some("B")).as_deref(),
            Some("A\n\nB")
        );
    }
}
