//! IR to Rust. Every string from a spec goes through `quote` as a literal, so no spec text can
//! break out of a string or a doc comment.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};

use crate::ir::{
    AuthIr, BodyIr, ClassIr, CursorSourceIr, FieldType, IntegrationIr, Location, PaginationIr,
    ParamIr, PathPart, ToolIr,
};

/// The module of one integration: request structs, build functions and the tool table.
pub fn integration_tokens(integration: &IntegrationIr) -> TokenStream {
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
    let tools = integration.tools.iter().map(tool_def_tokens);
    let items = integration.tools.iter().map(tool_items);
    quote! {
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

        #(#items)*
    }
}

fn auth_tokens(auth: &AuthIr) -> TokenStream {
    match auth {
        AuthIr::None => quote! { ::specgate_runtime::AuthKind::None },
        AuthIr::Bearer => quote! { ::specgate_runtime::AuthKind::Bearer },
        AuthIr::Basic => quote! { ::specgate_runtime::AuthKind::Basic },
        AuthIr::Header(name) => quote! { ::specgate_runtime::AuthKind::Header { name: #name } },
        AuthIr::Query(name) => quote! { ::specgate_runtime::AuthKind::Query { name: #name } },
        AuthIr::OAuth2 { token_url, grants } => quote! {
            ::specgate_runtime::AuthKind::OAuth2 { token_url: #token_url, grants: &[#(#grants),*] }
        },
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
    let pagination = pagination_tokens(&tool.pagination);
    let endpoint = format!("{} {}", tool.http_method, tool.path_template());
    let operation_id = opt_str(tool.operation_id.as_ref());
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
            pagination: #pagination,
            endpoint: #endpoint,
            operation_id: #operation_id,
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

fn rust_type(ty: &FieldType) -> TokenStream {
    match ty {
        FieldType::String => quote! { ::std::string::String },
        FieldType::Integer => quote! { i64 },
        FieldType::Number => quote! { f64 },
        FieldType::Boolean => quote! { bool },
        FieldType::Object => {
            quote! { ::serde_json::Map<::std::string::String, ::serde_json::Value> }
        }
        FieldType::Any => quote! { ::serde_json::Value },
        FieldType::Array(item) => {
            let item = rust_type(item);
            quote! { ::std::vec::Vec<#item> }
        }
    }
}

fn field_ident(param: &ParamIr) -> Ident {
    Ident::new(&param.field_name, Span::call_site())
}

fn field_type_tokens(param: &ParamIr) -> TokenStream {
    let ty = rust_type(&param.ty);
    if param.required {
        ty
    } else if param.nullable {
        quote! { ::std::option::Option<::std::option::Option<#ty>> }
    } else {
        quote! { ::std::option::Option<#ty> }
    }
}

fn tool_items(tool: &ToolIr) -> TokenStream {
    let struct_ident = format_ident!("{}", tool.struct_name);
    let struct_doc = format!("Typed arguments of `{}`: {}", tool.name, tool.title);
    let fields = tool.params.iter().map(|param| {
        let ident = field_ident(param);
        let ty = field_type_tokens(param);
        let doc = if param.description.is_empty() {
            format!("`{}`", param.arg_name)
        } else {
            format!("`{}`: {}", param.arg_name, param.description)
        };
        quote! { #[doc = #doc] pub #ident: #ty }
    });
    let known = tool.params.iter().map(|p| &p.arg_name);
    let parses = tool.params.iter().map(parse_field);
    let field_idents: Vec<Ident> = tool.params.iter().map(field_ident).collect();
    let split = split_tokens(tool);
    let build = build_fn_ident(tool);
    quote! {
        #[doc = #struct_doc]
        #[derive(Debug, Clone, PartialEq)]
        pub struct #struct_ident {
            #(#fields,)*
        }

        impl #struct_ident {
            /// Parses flat tool arguments; errors name the offending argument.
            pub fn from_args(args: &::specgate_runtime::Args) -> ::std::result::Result<Self, ::specgate_runtime::ArgError> {
                ::specgate_runtime::only_known(args, &[#(#known),*])?;
                #(#parses)*
                ::std::result::Result::Ok(Self { #(#field_idents),* })
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

fn parse_field(param: &ParamIr) -> TokenStream {
    let ident = field_ident(param);
    let arg = &param.arg_name;
    let ty = rust_type(&param.ty);
    let parse = if param.location == Location::PageLimit {
        quote! { let #ident = ::specgate_runtime::page_limit(args, #arg)?; }
    } else if param.required {
        quote! { let #ident = ::specgate_runtime::required::<#ty>(args, #arg)?; }
    } else if param.nullable {
        quote! { let #ident = ::specgate_runtime::nullable::<#ty>(args, #arg)?; }
    } else {
        quote! { let #ident = ::specgate_runtime::optional::<#ty>(args, #arg)?; }
    };
    let check = param.enum_values.as_ref().map(|allowed| {
        let value_ref = if param.required {
            quote! { ::std::option::Option::Some(&#ident) }
        } else if param.nullable {
            quote! { #ident.as_ref().and_then(::std::option::Option::as_ref) }
        } else {
            quote! { #ident.as_ref() }
        };
        quote! {
            if let ::std::option::Option::Some(value) = #value_ref {
                ::specgate_runtime::one_of(#arg, value, &[#(#allowed),*])?;
            }
        }
    });
    quote! { #parse #check }
}

fn split_tokens(tool: &ToolIr) -> TokenStream {
    let literal_len: usize = tool
        .path
        .iter()
        .map(|p| match p {
            PathPart::Literal(text) => text.len(),
            PathPart::Param(_) => 16,
        })
        .sum();
    let path_steps = tool.path.iter().map(|part| match part {
        PathPart::Literal(text) if text.chars().count() == 1 => {
            let ch = text.chars().next().unwrap_or('/');
            quote! { path.push(#ch); }
        }
        PathPart::Literal(text) => quote! { path.push_str(#text); },
        PathPart::Param(index) => {
            let param = &tool.params[*index];
            let ident = field_ident(param);
            let value = match param.ty {
                FieldType::String => quote! { &self.#ident },
                _ => quote! { &::specgate_runtime::QueryValue::to_query(&self.#ident) },
            };
            quote! { ::specgate_runtime::push_path_segment(&mut path, #value); }
        }
    });
    let mut query_steps = Vec::new();
    let mut header_steps = Vec::new();
    let mut body_steps = Vec::new();
    let mut page_limit = quote! { ::std::option::Option::None };
    let mut page_cursor = quote! { ::std::option::Option::None };
    for param in &tool.params {
        let ident = field_ident(param);
        let wire = &param.wire_name;
        match param.location {
            Location::Path => {}
            Location::Query | Location::Header => {
                let target = if param.location == Location::Query {
                    quote! { query }
                } else {
                    quote! { headers }
                };
                let push = match (&param.ty, param.explode) {
                    (FieldType::Array(_), true) => quote! {
                        for item in &value { #target.push((#wire, ::specgate_runtime::QueryValue::to_query(item))); }
                    },
                    (FieldType::Array(_), false) => quote! {
                        #target.push((#wire, value.iter().map(::specgate_runtime::QueryValue::to_query).collect::<::std::vec::Vec<_>>().join(",")));
                    },
                    _ => {
                        quote! { #target.push((#wire, ::specgate_runtime::QueryValue::to_query(&value))); }
                    }
                };
                if param.required {
                    query_or_header(
                        &mut query_steps,
                        &mut header_steps,
                        param.location,
                        quote! { let value = self.#ident; #push },
                    );
                } else {
                    query_or_header(
                        &mut query_steps,
                        &mut header_steps,
                        param.location,
                        quote! {
                            if let ::std::option::Option::Some(value) = self.#ident { #push }
                        },
                    );
                }
            }
            Location::Body => {
                if matches!(tool.body, BodyIr::Whole(_)) {
                    continue;
                }
                // A `Value` field is inserted as is; everything else converts with `Value::from`.
                let convert = |value: TokenStream| {
                    if param.ty == FieldType::Any && !param.nullable {
                        value
                    } else {
                        quote! { ::serde_json::Value::from(#value) }
                    }
                };
                body_steps.push(if param.required {
                    let value = convert(quote! { self.#ident });
                    quote! { body.insert(::std::string::String::from(#wire), #value); }
                } else {
                    let value = convert(quote! { value });
                    quote! {
                        if let ::std::option::Option::Some(value) = self.#ident {
                            body.insert(::std::string::String::from(#wire), #value);
                        }
                    }
                });
            }
            Location::PageLimit => page_limit = quote! { self.#ident },
            Location::PageCursor => page_cursor = quote! { self.#ident },
        }
    }
    let method = format_ident!("{}", tool.http_method.variant());
    let content_type = &tool.content_type;
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
    let body = match tool.body {
        BodyIr::None => quote! { ::std::option::Option::None },
        BodyIr::Whole(index) => {
            let param = &tool.params[index];
            let ident = field_ident(param);
            match (param.required, &param.ty) {
                (true, FieldType::Any) => quote! { ::std::option::Option::Some(self.#ident) },
                (true, _) => {
                    quote! { ::std::option::Option::Some(::serde_json::Value::from(self.#ident)) }
                }
                (false, FieldType::Any) => quote! { self.#ident },
                (false, _) => quote! { self.#ident.map(::serde_json::Value::from) },
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
    };
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
            page_limit: #page_limit,
            page_cursor: #page_cursor,
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

/// The registry file: one module per integration and the list of all of them.
pub fn registry_tokens(integrations: &[IntegrationIr], include_from_out_dir: bool) -> TokenStream {
    let modules = integrations.iter().map(|integration| {
        let ident = format_ident!("{}", crate::naming::module_name(&integration.name));
        let file = format!("/{}.rs", integration.name);
        let doc = format!("Tools generated for {}.", integration.title);
        if include_from_out_dir {
            quote! {
                #[doc = #doc]
                pub mod #ident { include!(concat!(env!("OUT_DIR"), #file)); }
            }
        } else {
            let file = format!("{}.rs", integration.name);
            quote! {
                #[doc = #doc]
                pub mod #ident { include!(#file); }
            }
        }
    });
    let refs = integrations.iter().map(|integration| {
        let ident = format_ident!("{}", crate::naming::module_name(&integration.name));
        quote! { &#ident::INTEGRATION }
    });
    quote! {
        #(#modules)*

        /// Every compiled integration, sorted by name.
        pub static INTEGRATIONS: &[&::specgate_runtime::Integration] = &[#(#refs),*];
    }
}
