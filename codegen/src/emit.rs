//! IR to Rust. Every string from a spec goes through `quote` as a literal, so no spec text can
//! break out of a string or a doc comment.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::ir::{
    AuthIr, BodyIr, BodyKindIr, ClassIr, CursorSourceIr, FieldIr, FieldType, IntegrationIr,
    Location, PaginationIr, ParamIndex, ParamIr, PathPart, ToolIr, TypeId, TypeIr, TypeKind,
    VariantIr, VariantMatch,
};

/// The module of one integration, as chunks of items that are formatted one at a time (a
/// Microsoft Graph-sized module is hundreds of MB of Rust): the tool table, then each tool's
/// request struct and build function, then the nested argument types.
pub fn integration_chunks(integration: &IntegrationIr) -> impl Iterator<Item = TokenStream> + '_ {
    let name = &integration.name;
    let title = &integration.title;
    let base_url = &integration.base_url;
    let auth = auth_tokens(&integration.auth);
    let headers = integration
        .default_headers
        .iter()
        .map(|(k, v)| quote! { (#k, #v) });
    let pointers = &integration.error_message_pointers;
    let count = integration.tools.len();
    let types = &integration.types;
    let tools = integration.tools.iter().map(tool_def_tokens);
    let head = quote! {
        /// This integration: base URL, auth and its tool table.
        pub static INTEGRATION: ::specgate_runtime::Integration = ::specgate_runtime::Integration {
            name: #name,
            title: #title,
            base_url: #base_url,
            auth: #auth,
            default_headers: &[#(#headers),*],
            error_message_pointers: &[#(#pointers),*],
            tools: &TOOLS,
        };

        static TOOLS: [::specgate_runtime::ToolDef; #count] = [#(#tools),*];
    };
    let query_typed = query_typed(integration);
    std::iter::once(head)
        .chain(integration.tools.iter().scan(
            std::collections::BTreeSet::new(),
            move |emitted_rules, tool| Some(tool_items(tool, types, emitted_rules)),
        ))
        .chain(
            types
                .iter()
                .enumerate()
                .filter(|(id, _)| is_emitted(types, TypeId(*id)))
                .map(move |(id, t)| type_items(t, types, query_typed.contains(&TypeId(id)))),
        )
}

/// Named types used by a path, query or header argument, which need `QueryValue`.
fn query_typed(integration: &IntegrationIr) -> std::collections::BTreeSet<TypeId> {
    fn named(ty: &FieldType, out: &mut std::collections::BTreeSet<TypeId>) {
        match ty {
            FieldType::Named(id) => {
                out.insert(*id);
            }
            FieldType::Array(item) => named(item, out),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for tool in &integration.tools {
        for param in &tool.params {
            if matches!(
                param.location,
                Location::Path | Location::Query | Location::Header
            ) {
                named(&param.ty, &mut out);
            }
        }
    }
    out
}

/// Whether a named type is emitted (an alias is just `serde_json::Value`).
fn is_emitted(types: &[TypeIr], id: TypeId) -> bool {
    matches!(
        id.of(types).kind,
        TypeKind::Struct { .. } | TypeKind::Enum { .. } | TypeKind::Union { .. }
    )
}

/// One nested type: the struct or enum, its `FromArg` parser (errors carry the full path,
/// e.g. `shipments[0].carrier`) and its `ToJson` writer.
fn type_items(t: &TypeIr, types: &[TypeIr], in_query: bool) -> TokenStream {
    let ident = format_ident!("{}", t.name);
    let doc = if t.description.trim().is_empty() {
        format!("Argument type `{}`.", t.name)
    } else {
        t.description.trim().to_owned()
    };
    let query = in_query.then(|| {
        quote! {
            impl ::specgate_runtime::QueryValue for #ident {
                fn to_query(&self) -> ::std::string::String {
                    ::specgate_runtime::QueryValue::to_query(&::specgate_runtime::ToJson::to_json(self))
                }
            }
        }
    });
    match &t.kind {
        TypeKind::Pending | TypeKind::Alias => quote! {},
        TypeKind::Enum { values } => enum_items(&ident, &doc, values),
        TypeKind::Struct { fields, open } => {
            struct_items(&ident, &doc, query, fields, *open, types)
        }
        TypeKind::Union { variants } => union_items(&ident, &doc, query, variants, types),
    }
}

/// A string enum: the Rust enum, its parser from the listed values and its writer.
fn enum_items(ident: &Ident, doc: &str, values: &[String]) -> TokenStream {
    let variants: Vec<Ident> = enum_variant_names(values)
        .iter()
        .map(|v| format_ident!("{}", v))
        .collect();
    let doc_values = values.iter().map(|v| format!("`{v}`"));
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum #ident {
            #(#[doc = #doc_values] #variants,)*
        }
        impl #ident {
            /// Every value, as on the wire.
            pub const VALUES: &'static [&'static str] = &[#(#values),*];
            /// The value as on the wire.
            pub fn as_str(self) -> &'static str {
                match self { #(Self::#variants => #values,)* }
            }
        }
        impl ::specgate_runtime::FromArg for #ident {
            const EXPECTED: &'static str = "string";
            fn from_arg(field: &str, value: &::serde_json::Value) -> ::std::result::Result<Self, ::specgate_runtime::ArgError> {
                match value.as_str() {
                    #(::std::option::Option::Some(#values) => ::std::result::Result::Ok(Self::#variants),)*
                    ::std::option::Option::Some(other) => ::std::result::Result::Err(::specgate_runtime::not_allowed(field, other, Self::VALUES)),
                    ::std::option::Option::None => ::std::result::Result::Err(::specgate_runtime::expected(field, "string", value)),
                }
            }
        }
        impl ::specgate_runtime::ToJson for #ident {
            fn to_json(&self) -> ::serde_json::Value {
                ::serde_json::Value::String(::std::string::String::from(self.as_str()))
            }
        }
        impl ::specgate_runtime::QueryValue for #ident {
            fn to_query(&self) -> ::std::string::String {
                ::std::string::String::from(self.as_str())
            }
        }
    }
}

/// A struct: its fields, its parser (refusing undeclared members unless it is `open`) and
/// its writer.
fn struct_items(
    ident: &Ident,
    doc: &str,
    query: Option<TokenStream>,
    fields: &[FieldIr],
    open: bool,
    types: &[TypeIr],
) -> TokenStream {
    let names: Vec<Ident> = fields
        .iter()
        .map(|f| Ident::new(&f.rust, Span::call_site()))
        .collect();
    let wires: Vec<&String> = fields.iter().map(|f| &f.wire).collect();
    let declared = fields.iter().zip(&names).map(|(f, name)| {
        let ty = nested_type_tokens(f, types);
        let doc = format!("`{}`", f.wire);
        quote! { #[doc = #doc] pub #name: #ty }
    });
    let parses = fields.iter().map(|f| {
        let wire = &f.wire;
        let ty = boxed(rust_type(&f.ty, types), f.boxed);
        if f.required && !f.nullable {
            quote! { ::specgate_runtime::required_at::<#ty>(field, object, #wire)? }
        } else if f.nullable {
            quote! { ::specgate_runtime::nullable_at::<#ty>(field, object, #wire)? }
        } else {
            quote! { ::specgate_runtime::optional_at::<#ty>(field, object, #wire)? }
        }
    });
    let writes = fields.iter().zip(&names).map(|(f, name)| {
        let wire = &f.wire;
        if f.required && !f.nullable {
            quote! { ::specgate_runtime::put(&mut object, #wire, &self.#name); }
        } else {
            quote! { ::specgate_runtime::put_optional(&mut object, #wire, &self.#name); }
        }
    });
    let (extra_field, check, extra_parse, extra_write) = if open {
        (
            quote! {
                /// Fields the schema does not name, which it allows; sent as given.
                pub extra: ::specgate_runtime::Args,
            },
            quote! {},
            quote! { extra: ::specgate_runtime::extra_fields(object, &[#(#wires),*]), },
            quote! { for (key, value) in &self.extra { object.insert(key.clone(), value.clone()); } },
        )
    } else {
        (
            quote! {},
            quote! { ::specgate_runtime::only_known_at(field, object, &[#(#wires),*])?; },
            quote! {},
            quote! {},
        )
    };
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq)]
        pub struct #ident {
            #(#declared,)*
            #extra_field
        }
        impl ::specgate_runtime::FromArg for #ident {
            const EXPECTED: &'static str = "object";
            fn from_arg(field: &str, value: &::serde_json::Value) -> ::std::result::Result<Self, ::specgate_runtime::ArgError> {
                let object = ::specgate_runtime::object_at(field, value)?;
                #check
                ::std::result::Result::Ok(Self {
                    #(#names: #parses,)*
                    #extra_parse
                })
            }
        }
        impl ::specgate_runtime::ToJson for #ident {
            fn to_json(&self) -> ::serde_json::Value {
                let mut object = ::serde_json::Map::new();
                #(#writes)*
                #extra_write
                ::serde_json::Value::Object(object)
            }
        }
        #query
    }
}

/// A union: one variant per branch, the parser that tells them apart, and its writer.
fn union_items(
    ident: &Ident,
    doc: &str,
    query: Option<TokenStream>,
    variants: &[VariantIr],
    types: &[TypeIr],
) -> TokenStream {
    let names: Vec<Ident> = variants
        .iter()
        .map(|v| format_ident!("{}", v.name))
        .collect();
    let declared = variants.iter().zip(&names).map(|(v, name)| {
        let ty = boxed(rust_type(&v.ty, types), v.boxed);
        quote! { #name(#ty) }
    });
    let expected: Vec<String> = variants
        .iter()
        .map(|v| match &v.matches {
            VariantMatch::Kind(kind) => kind.clone(),
            VariantMatch::Tag { value, .. } => value.clone(),
        })
        .collect();
    let tag_property = variants.iter().find_map(|v| match &v.matches {
        VariantMatch::Tag { property, .. } => Some(property.clone()),
        VariantMatch::Kind(_) => None,
    });
    // A whole number matches both `integer` and `number`: the integer arm goes first.
    let mut ordered: Vec<(&VariantIr, &Ident)> = variants.iter().zip(&names).collect();
    ordered.sort_by_key(|(v, _)| v.matches != VariantMatch::Kind("integer".to_owned()));
    let arms = ordered.into_iter().map(|(v, name)| {
            let ty = boxed(rust_type(&v.ty, types), v.boxed);
            let pattern = match &v.matches {
                VariantMatch::Kind(kind) => match kind.as_str() {
                    "string" => quote! { ::serde_json::Value::String(_) },
                    "integer" => quote! { ::serde_json::Value::Number(n) if n.is_i64() || n.is_u64() },
                    "number" => quote! { ::serde_json::Value::Number(_) },
                    "boolean" => quote! { ::serde_json::Value::Bool(_) },
                    "array" => quote! { ::serde_json::Value::Array(_) },
                    _ => quote! { ::serde_json::Value::Object(_) },
                },
                VariantMatch::Tag { value, .. } => quote! { ::std::option::Option::Some(#value) },
            };
            quote! { #pattern => <#ty as ::specgate_runtime::FromArg>::from_arg(field, value).map(Self::#name), }
        });
    let parse = match tag_property {
        None => {
            let wanted = expected.join(" or ");
            quote! {
                match value {
                    #(#arms)*
                    _ => ::std::result::Result::Err(::specgate_runtime::expected(field, #wanted, value)),
                }
            }
        }
        Some(property) => quote! {
            let object = ::specgate_runtime::object_at(field, value)?;
            let tag_field = ::specgate_runtime::nested(field, #property);
            match object.get(#property).and_then(::serde_json::Value::as_str) {
                #(#arms)*
                ::std::option::Option::Some(other) => ::std::result::Result::Err(::specgate_runtime::not_allowed(&tag_field, other, &[#(#expected),*])),
                ::std::option::Option::None => ::std::result::Result::Err(::specgate_runtime::expected(&tag_field, "string", object.get(#property).unwrap_or(&::serde_json::Value::Null))),
            }
        },
    };
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq)]
        pub enum #ident {
            #(#declared,)*
        }
        impl ::specgate_runtime::FromArg for #ident {
            const EXPECTED: &'static str = "one of its variants";
            fn from_arg(field: &str, value: &::serde_json::Value) -> ::std::result::Result<Self, ::specgate_runtime::ArgError> {
                #parse
            }
        }
        impl ::specgate_runtime::ToJson for #ident {
            fn to_json(&self) -> ::serde_json::Value {
                match self { #(Self::#names(value) => ::specgate_runtime::ToJson::to_json(value),)* }
            }
        }
        #query
    }
}

/// Rust variant names for enum values: UpperCamelCase, made unique and valid.
fn enum_variant_names(values: &[String]) -> Vec<String> {
    use heck::ToUpperCamelCase;
    let mut seen = std::collections::BTreeSet::new();
    values
        .iter()
        .map(|value| {
            let mut name = value.to_upper_camel_case();
            name.retain(|c| c.is_ascii_alphanumeric());
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                name = format!("V{name}");
            }
            if name == "Self" {
                name.push('_');
            }
            let base = name.clone();
            let mut n = 2;
            while !seen.insert(name.clone()) {
                name = format!("{base}{n}");
                n += 1;
            }
            name
        })
        .collect()
}

fn boxed(ty: TokenStream, is_boxed: bool) -> TokenStream {
    if is_boxed {
        quote! { ::std::boxed::Box<#ty> }
    } else {
        ty
    }
}

fn nested_type_tokens(field: &FieldIr, types: &[TypeIr]) -> TokenStream {
    let ty = boxed(rust_type(&field.ty, types), field.boxed);
    if field.required && !field.nullable {
        ty
    } else if field.nullable {
        quote! { ::std::option::Option<::std::option::Option<#ty>> }
    } else {
        quote! { ::std::option::Option<#ty> }
    }
}

fn auth_tokens(auth: &AuthIr) -> TokenStream {
    match auth {
        AuthIr::None => quote! { ::specgate_runtime::AuthKind::None },
        AuthIr::Bearer => quote! { ::specgate_runtime::AuthKind::Bearer },
        AuthIr::Basic => quote! { ::specgate_runtime::AuthKind::Basic },
        AuthIr::Header(name) => quote! { ::specgate_runtime::AuthKind::Header { name: #name } },
        AuthIr::Query(name) => quote! { ::specgate_runtime::AuthKind::Query { name: #name } },
        AuthIr::OAuth2 {
            token_url,
            grants,
            authorize_url,
            secret_in_body,
        } => {
            let token_auth = if *secret_in_body {
                quote! { ::specgate_runtime::TokenAuth::ClientSecretPost }
            } else {
                quote! { ::specgate_runtime::TokenAuth::ClientSecretBasic }
            };
            quote! {
                ::specgate_runtime::AuthKind::OAuth2 {
                    token_url: #token_url,
                    grants: &[#(#grants),*],
                    authorize_url: #authorize_url,
                    token_auth: #token_auth,
                }
            }
        }
    }
}

fn build_fn_ident(tool: &ToolIr) -> Ident {
    format_ident!("build_{}", tool.name.replace(['-', '.'], "_"))
}

fn tool_def_tokens(tool: &ToolIr) -> TokenStream {
    let name = &tool.name;
    let title = &tool.title;
    let description = &tool.description;
    let resource = &tool.resource;
    let method = &tool.method;
    let tags = &tool.tags;
    let class = match tool.class {
        ClassIr::Read => quote! { ::specgate_runtime::MethodClass::Read },
        ClassIr::Write => quote! { ::specgate_runtime::MethodClass::Write },
        ClassIr::Custom => quote! { ::specgate_runtime::MethodClass::Custom },
    };
    let (read_only, destructive, idempotent) = (tool.read_only, tool.destructive, tool.idempotent);
    let schema = crate::to_stable_json(&tool.input_schema);
    let portable = crate::portable::lower(&tool.input_schema);
    let portable_schema = crate::to_stable_json(&portable.schema);
    let portable_encoded = &portable.encoded;
    let pagination = pagination_tokens(&tool.pagination);
    let endpoint = format!("{} {}", tool.http_method, tool.path_template());
    let operation_id = opt_str(tool.operation_id.as_ref());
    let aliases = &tool.aliases;
    let build = build_fn_ident(tool);
    quote! {
        ::specgate_runtime::ToolDef {
            name: #name,
            title: #title,
            description: #description,
            integration: INTEGRATION.name,
            resource: #resource,
            method: #method,
            class: #class,
            tags: &[#(#tags),*],
            annotations: ::specgate_runtime::Annotations {
                read_only: #read_only,
                destructive: #destructive,
                idempotent: #idempotent,
                open_world: true,
            },
            input_schema: #schema,
            input_schema_portable: #portable_schema,
            portable_encoded: &[#(#portable_encoded),*],
            pagination: #pagination,
            endpoint: #endpoint,
            operation_id: #operation_id,
            aliases: &[#(#aliases),*],
            build: #build,
        }
    }
}

fn opt_str(value: Option<&String>) -> TokenStream {
    match value {
        Some(v) => quote! { ::std::option::Option::Some(#v) },
        None => quote! { ::std::option::Option::None },
    }
}

fn pagination_tokens(pagination: &PaginationIr) -> TokenStream {
    match pagination {
        PaginationIr::None => quote! { ::specgate_runtime::Pagination::None },
        PaginationIr::Local => quote! { ::specgate_runtime::Pagination::Local },
        PaginationIr::Cursor {
            cursor_param,
            limit_param,
            next_from,
            items_pointer,
        } => {
            let limit_param = opt_str(limit_param.as_ref());
            let next_from = match next_from {
                CursorSourceIr::BodyPointer(p) => {
                    quote! { ::specgate_runtime::CursorSource::BodyPointer(#p) }
                }
                CursorSourceIr::LinkHeader => {
                    quote! { ::specgate_runtime::CursorSource::LinkHeader }
                }
                CursorSourceIr::Header(h) => {
                    quote! { ::specgate_runtime::CursorSource::Header(#h) }
                }
            };
            quote! {
                ::specgate_runtime::Pagination::Cursor {
                    cursor_param: #cursor_param,
                    limit_param: #limit_param,
                    next_from: #next_from,
                    items_pointer: #items_pointer,
                }
            }
        }
        PaginationIr::Page {
            page_param,
            size_param,
            items_pointer,
            total_pointer,
        } => {
            let total_pointer = opt_str(total_pointer.as_ref());
            quote! {
                ::specgate_runtime::Pagination::Page {
                    page_param: #page_param,
                    size_param: #size_param,
                    items_pointer: #items_pointer,
                    total_pointer: #total_pointer,
                }
            }
        }
        PaginationIr::Offset {
            offset_param,
            limit_param,
            in_body,
            items_pointer,
            total_pointer,
        } => {
            let total_pointer = opt_str(total_pointer.as_ref());
            let location = if *in_body {
                quote! { ::specgate_runtime::ParamLocation::Body }
            } else {
                quote! { ::specgate_runtime::ParamLocation::Query }
            };
            quote! {
                ::specgate_runtime::Pagination::Offset {
                    offset_param: #offset_param,
                    limit_param: #limit_param,
                    location: #location,
                    items_pointer: #items_pointer,
                    total_pointer: #total_pointer,
                }
            }
        }
    }
}

fn rust_type(ty: &FieldType, types: &[TypeIr]) -> TokenStream {
    match ty {
        FieldType::Named(id) if is_emitted(types, *id) => {
            let ident = format_ident!("{}", id.of(types).name);
            quote! { #ident }
        }
        FieldType::Named(_) => quote! { ::serde_json::Value },
        FieldType::String => quote! { ::std::string::String },
        FieldType::Integer => quote! { i64 },
        FieldType::Number => quote! { f64 },
        FieldType::Boolean => quote! { bool },
        FieldType::Object => {
            quote! { ::serde_json::Map<::std::string::String, ::serde_json::Value> }
        }
        FieldType::Any => quote! { ::serde_json::Value },
        FieldType::Array(item) => {
            let item = rust_type(item, types);
            quote! { ::std::vec::Vec<#item> }
        }
    }
}

fn field_ident(param: &ParamIr) -> Ident {
    Ident::new(&param.field_name, Span::call_site())
}

fn field_type_tokens(param: &ParamIr, types: &[TypeIr]) -> TokenStream {
    let ty = rust_type(&param.ty, types);
    if param.required {
        ty
    } else if param.nullable {
        quote! { ::std::option::Option<::std::option::Option<#ty>> }
    } else {
        quote! { ::std::option::Option<#ty> }
    }
}

fn tool_items(
    tool: &ToolIr,
    types: &[TypeIr],
    emitted_rules: &mut std::collections::BTreeSet<String>,
) -> TokenStream {
    let struct_ident = format_ident!("{}", tool.struct_name);
    let struct_doc = format!("Typed arguments of `{}`: {}", tool.name, tool.title);
    let fields = tool.params.iter().map(|param| {
        let ident = field_ident(param);
        let ty = field_type_tokens(param, types);
        // The uniform arguments every list or read tool has are documented once, in the
        // runtime, not on each of a Graph-sized spec's eleven thousand structs.
        let uniform = matches!(
            param.location,
            Location::PageLimit | Location::PageCursor | Location::ResponseFields
        );
        let doc = if uniform {
            format!("`{}`: see `specgate_runtime::HttpRequest`", param.arg_name)
        } else if param.description.is_empty() {
            format!("`{}`", param.arg_name)
        } else {
            format!("`{}`: {}", param.arg_name, param.description)
        };
        quote! { #[doc = #doc] pub #ident: #ty }
    });
    let known = tool.params.iter().map(|p| &p.arg_name);
    let multi_segment: Vec<ParamIndex> = tool
        .path
        .iter()
        .filter_map(|part| match part {
            PathPart::Segments(index) => Some(*index),
            _ => None,
        })
        .collect();
    let reads =
        tool.params.iter().enumerate().map(|(index, param)| {
            read_field(param, types, multi_segment.contains(&ParamIndex(index)))
        });
    let field_idents: Vec<Ident> = tool.params.iter().map(field_ident).collect();
    // Required arguments are read as `Option`s that are all `Some` unless an error was kept.
    let required: Vec<&ParamIr> = tool
        .params
        .iter()
        .filter(|param| is_read_as_required(param))
        .collect();
    let required_idents: Vec<Ident> = required.iter().map(|param| field_ident(param)).collect();
    let (rule_statics, rules) = match shared_rules(tool, emitted_rules) {
        Some((statics, root)) => (statics, quote! { ::std::option::Option::Some(&#root) }),
        None => (quote! {}, quote! { ::std::option::Option::None }),
    };
    let construct = quote! { ::std::result::Result::Ok(Self { #(#field_idents),* }) };
    let finish = match required.first() {
        None => quote! {
            ::specgate_runtime::ArgReader::finish(__reader, #rules)?;
            #construct
        },
        Some(first) => {
            let first = &first.arg_name;
            quote! {
                match (::specgate_runtime::ArgReader::finish(__reader, #rules), #(#required_idents),*) {
                    (::std::result::Result::Ok(()), #(::std::option::Option::Some(#required_idents)),*) => #construct,
                    (finished, ..) => ::std::result::Result::Err(::specgate_runtime::ArgReader::failure(finished, #first)),
                }
            }
        }
    };
    // `__reader`: field names never start with `_` (`naming::sanitize_snake`), so no argument
    // (Stripe has one named `reader`) can shadow it.
    let reader = if tool.params.is_empty() {
        quote! { __reader }
    } else {
        quote! { mut __reader }
    };
    let split = split_tokens(tool);
    let build = build_fn_ident(tool);
    quote! {
        #rule_statics

        #[doc = #struct_doc]
        pub struct #struct_ident {
            #(#fields,)*
        }

        impl #struct_ident {
            /// Parses flat tool arguments; errors name the offending argument.
            pub fn from_args(args: &::specgate_runtime::Args) -> ::std::result::Result<Self, ::specgate_runtime::ArgError> {
                let #reader = ::specgate_runtime::ArgReader::new(args, &[#(#known),*]);
                #(#reads)*
                #finish
            }

            /// Splits the arguments into the vendor HTTP request.
            pub fn into_request(self) -> ::specgate_runtime::HttpRequest {
                #split
            }
        }

        fn #build(args: &::specgate_runtime::Args) -> ::std::result::Result<::specgate_runtime::HttpRequest, ::specgate_runtime::ArgError> {
            #struct_ident::from_args(args).map(#struct_ident::into_request)
        }
    }
}

/// A tool's rule statics, named by a hash of their content so that tools with the same
/// constraints (most of a Graph-sized spec) share one tree: the statics are empty when an
/// earlier tool of the integration already emitted them.
fn shared_rules(
    tool: &ToolIr,
    emitted: &mut std::collections::BTreeSet<String>,
) -> Option<(TokenStream, Ident)> {
    use sha2::{Digest, Sha256};
    let (content, _) = crate::rules::tool_rules("SHARED", &tool.input_schema)?;
    let digest = Sha256::digest(content.to_string().as_bytes());
    let name: String = digest[..6]
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect();
    let (statics, root) = crate::rules::tool_rules(&name, &tool.input_schema)?;
    if emitted.insert(name) {
        Some((statics, root))
    } else {
        Some((quote! {}, root))
    }
}

/// Whether a field is read as an `Option` that must be `Some` (a required or path argument).
fn is_read_as_required(param: &ParamIr) -> bool {
    param.location == Location::Path || (param.required && param.location != Location::PageLimit)
}

/// The reader call that reads one field. Calls are written as paths, not methods, which spares
/// the compiler a method lookup per argument.
fn read_field(param: &ParamIr, types: &[TypeIr], multi_segment: bool) -> TokenStream {
    let ident = field_ident(param);
    let arg = &param.arg_name;
    let ty = rust_type(&param.ty, types);
    let read = if multi_segment {
        // A multi-segment path is text; its segments must stay where the template puts them.
        return quote! { let #ident = ::specgate_runtime::ArgReader::path_segments(&mut __reader, #arg); };
    } else if param.location == Location::PageLimit {
        return quote! { let #ident = ::specgate_runtime::ArgReader::page_limit(&mut __reader, #arg); };
    } else if param.location == Location::Path {
        // Path parameters are always required, and their text must stay in its segment.
        quote! { path }
    } else if param.required {
        quote! { required }
    } else if param.nullable {
        quote! { nullable }
    } else {
        quote! { optional }
    };
    quote! { let #ident = ::specgate_runtime::ArgReader::#read::<#ty>(&mut __reader, #arg); }
}

/// The statements that build a request's path, and the capacity to reserve for it.
fn path_steps(tool: &ToolIr) -> (usize, Vec<TokenStream>) {
    let literal_len: usize = tool
        .path
        .iter()
        .map(|p| match p {
            PathPart::Literal(text) => text.len(),
            PathPart::Param(_) | PathPart::Segments(_) => 16,
        })
        .sum();
    let steps = tool.path.iter().map(|part| match part {
        PathPart::Literal(text) if text.chars().count() == 1 => {
            let ch = text.chars().next().unwrap_or('/');
            quote! { ::std::string::String::push(&mut path, #ch); }
        }
        PathPart::Literal(text) => quote! { ::std::string::String::push_str(&mut path, #text); },
        PathPart::Param(index) => {
            let param = index.of(&tool.params);
            let ident = field_ident(param);
            let value = match param.ty {
                FieldType::String => quote! { &self.#ident },
                _ => quote! { &::specgate_runtime::QueryValue::to_query(&self.#ident) },
            };
            quote! { ::specgate_runtime::push_path_segment(&mut path, #value); }
        }
        PathPart::Segments(index) => {
            let ident = field_ident(index.of(&tool.params));
            quote! { ::specgate_runtime::push_path_segments(&mut path, &self.#ident); }
        }
    });
    (literal_len, steps.collect())
}

/// The request's body: none, one argument as the whole body, or an object of the body
/// arguments put by `body_steps`.
fn body_expression(tool: &ToolIr, body_steps: &[TokenStream]) -> TokenStream {
    match tool.body {
        BodyIr::None => quote! { ::std::option::Option::None },
        BodyIr::Whole(index) => {
            let param = index.of(&tool.params);
            let ident = field_ident(param);
            match (param.required, &param.ty) {
                (true, FieldType::Any) => quote! { ::std::option::Option::Some(self.#ident) },
                (true, _) => {
                    quote! { ::std::option::Option::Some(::specgate_runtime::ToJson::to_json(&self.#ident)) }
                }
                // A nullable optional field is `Option<Option<_>>`: `ToJson` writes the inner
                // `None` as `null`.
                (false, FieldType::Any) if !param.nullable => quote! { self.#ident },
                (false, _) => {
                    quote! { self.#ident.map(|value| ::specgate_runtime::ToJson::to_json(&value)) }
                }
            }
        }
        BodyIr::Object => {
            let decl = if body_steps.is_empty() {
                quote! { let body = ::serde_json::Map::new(); }
            } else {
                quote! { let mut body = ::serde_json::Map::new(); }
            };
            quote! {{
                #decl
                #(#body_steps)*
                ::std::option::Option::Some(::serde_json::Value::Object(body))
            }}
        }
    }
}

fn split_tokens(tool: &ToolIr) -> TokenStream {
    let (literal_len, path_steps) = path_steps(tool);
    let mut query_steps = Vec::new();
    let mut header_steps = Vec::new();
    let mut body_steps = Vec::new();
    let mut page_limit = quote! { ::std::option::Option::None };
    let mut page_cursor = quote! { ::std::option::Option::None };
    let mut response_fields = quote! { ::std::option::Option::None };
    for param in &tool.params {
        let ident = field_ident(param);
        let wire = &param.wire_name;
        match param.location {
            Location::Path => {}
            Location::Query | Location::Header => {
                // One call into a shared runtime helper per argument keeps a Graph-sized crate
                // small: `Some(&value)` for a required one, `as_ref`/`as_deref` for an optional.
                let value = match (&param.ty, param.required) {
                    (FieldType::Array(_), true) => {
                        quote! { ::std::option::Option::Some(::std::vec::Vec::as_slice(&self.#ident)) }
                    }
                    (FieldType::Array(_), false) => {
                        quote! { ::std::option::Option::as_deref(&self.#ident) }
                    }
                    (_, true) => quote! { ::std::option::Option::Some(&self.#ident) },
                    (_, false) => quote! { ::std::option::Option::as_ref(&self.#ident) },
                };
                let helper = match (&param.ty, param.explode) {
                    (FieldType::Array(_), true) => quote! { push_each },
                    (FieldType::Array(_), false) => quote! { push_joined },
                    _ => quote! { push_value },
                };
                let target = if param.location == Location::Query {
                    quote! { query }
                } else {
                    quote! { headers }
                };
                query_or_header(
                    &mut query_steps,
                    &mut header_steps,
                    param.location,
                    quote! { ::specgate_runtime::#helper(&mut #target, #wire, #value); },
                );
            }
            Location::Body => {
                if matches!(tool.body, BodyIr::Whole(_)) {
                    continue;
                }
                body_steps.push(if param.required {
                    quote! { ::specgate_runtime::put(&mut body, #wire, &self.#ident); }
                } else {
                    quote! { ::specgate_runtime::put_optional(&mut body, #wire, &self.#ident); }
                });
            }
            Location::PageLimit => page_limit = quote! { self.#ident },
            Location::PageCursor => page_cursor = quote! { self.#ident },
            Location::ResponseFields => response_fields = quote! { self.#ident },
        }
    }
    let method = format_ident!("{}", tool.http_method.variant());
    let content_type = &tool.content_type;
    let body_kind = match &tool.body_kind {
        BodyKindIr::Json => quote! { ::specgate_runtime::BodyKind::Json },
        BodyKindIr::Form { deep } => {
            quote! { ::specgate_runtime::BodyKind::Form { deep_object: &[#(#deep),*] } }
        }
        BodyKindIr::Text => quote! { ::specgate_runtime::BodyKind::Text },
        BodyKindIr::Binary => quote! { ::specgate_runtime::BodyKind::Binary },
    };
    let query_decl = if query_steps.is_empty() {
        quote! { let query = ::std::vec::Vec::new(); }
    } else {
        quote! { let mut query = ::std::vec::Vec::new(); }
    };
    let header_decl = if header_steps.is_empty() {
        quote! { let headers = ::std::vec::Vec::new(); }
    } else {
        quote! { let mut headers = ::std::vec::Vec::new(); }
    };
    let body = body_expression(tool, &body_steps);
    quote! {
        let mut path = ::std::string::String::with_capacity(#literal_len);
        #(#path_steps)*
        #query_decl
        #(#query_steps)*
        #header_decl
        #(#header_steps)*
        ::specgate_runtime::HttpRequest {
            method: ::specgate_runtime::HttpMethod::#method,
            path,
            query,
            headers,
            body: #body,
            content_type: #content_type,
            body_kind: #body_kind,
            page_limit: #page_limit,
            page_cursor: #page_cursor,
            response_fields: #response_fields,
        }
    }
}

fn query_or_header(
    query: &mut Vec<TokenStream>,
    headers: &mut Vec<TokenStream>,
    location: Location,
    step: TokenStream,
) {
    if location == Location::Query {
        query.push(step);
    } else {
        headers.push(step);
    }
}

/// The registry file of one build script's `OUT_DIR`: one module per integration, included from
/// `OUT_DIR`, and the list of them.
pub fn registry_tokens(integrations: &[IntegrationIr]) -> TokenStream {
    let modules = integrations.iter().map(|integration| {
        let ident = format_ident!("{}", crate::naming::module_name(&integration.name));
        let file = format!("/{}.rs", integration.name);
        let doc = format!("Tools generated for {}.", integration.title);
        quote! {
            #[doc = #doc]
            pub mod #ident { include!(concat!(env!("OUT_DIR"), #file)); }
        }
    });
    let refs = integrations.iter().map(|integration| {
        let ident = format_ident!("{}", crate::naming::module_name(&integration.name));
        quote! { &#ident::INTEGRATION }
    });
    quote! {
        #(#modules)*

        /// The integrations compiled here, sorted by name.
        pub static INTEGRATIONS: &[&::specgate_runtime::Integration] = &[#(#refs),*];
    }
}
