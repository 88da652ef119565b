//! Every name decision in one place: tool names, integration slugs, Rust identifiers.
//!
//! Tool names follow the Truto convention, `<verb>_<integration>_<resource>`:
//!
//! | method | name |
//! | --- | --- |
//! | list | `list_all_<integration>_<resource>` |
//! | get | `get_single_<integration>_<singular>_by_id` |
//! | create | `create_a_<integration>_<singular>` |
//! | update | `update_a_<integration>_<singular>_by_id` |
//! | delete | `delete_a_<integration>_<singular>_by_id` |
//! | custom `m` | `<m>_<integration>_<resource>` |
//!
//! `<singular>` singularizes only the last word of the resource (`orders_by_tracking_code`
//! stays as written). Names longer than [`MAX_TOOL_NAME`] are shortened deterministically.

use heck::{ToSnakeCase, ToUpperCamelCase};
use sha2::{Digest, Sha256};

/// Longest tool name produced: Claude's limit (Cursor's 60 applies to server+tool prefixes).
pub const MAX_TOOL_NAME: usize = 64;

/// Integration slug from a vendor name: `eDesk` -> `e_desk`, `Rose Rocket` -> `rose_rocket`.
pub fn integration_slug(name: &str) -> String {
    sanitize_snake(&name.to_snake_case())
}

/// Snake-case identifier text with only `[a-z0-9_]`, no leading digit and no empty result.
pub fn sanitize_snake(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.to_snake_case().chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_').to_owned();
    match trimmed.chars().next() {
        None => "unnamed".to_owned(),
        Some(c) if c.is_ascii_digit() => format!("n{trimmed}"),
        Some(_) => trimmed,
    }
}

/// Singular form of one English word, good enough for API resource names.
pub fn singularize(word: &str) -> String {
    let irregular = [
        ("people", "person"),
        ("children", "child"),
        ("data", "data"),
    ];
    if let Some((_, single)) = irregular.iter().find(|(plural, _)| *plural == word) {
        return (*single).to_owned();
    }
    if let Some(stem) = word.strip_suffix("ies").filter(|s| !s.is_empty()) {
        return format!("{stem}y");
    }
    for suffix in ["sses", "shes", "ches", "xes", "zes", "uses"] {
        if let Some(stem) = word.strip_suffix(suffix) {
            return format!("{stem}{}", &suffix[..suffix.len() - 2]);
        }
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.is_empty() && !stem.ends_with('s') && !word.ends_with("us") => {
            stem.to_owned()
        }
        _ => word.to_owned(),
    }
}

fn singular_resource(resource: &str) -> String {
    match resource.rsplit_once('_') {
        Some((head, last)) => format!("{head}_{}", singularize(last)),
        None => singularize(resource),
    }
}

/// The tool name for a resource method, before shortening.
pub fn tool_name(integration: &str, resource: &str, method: &str) -> String {
    let raw = match method {
        "list" => format!("list_all_{integration}_{resource}"),
        "get" => format!(
            "get_single_{integration}_{}_by_id",
            singular_resource(resource)
        ),
        "create" => format!("create_a_{integration}_{}", singular_resource(resource)),
        "update" => format!(
            "update_a_{integration}_{}_by_id",
            singular_resource(resource)
        ),
        "delete" => format!(
            "delete_a_{integration}_{}_by_id",
            singular_resource(resource)
        ),
        custom => format!("{custom}_{integration}_{resource}"),
    };
    shorten(&raw)
}

/// Deterministic shortening to [`MAX_TOOL_NAME`]: long words are abbreviated to four letters
/// from the right (the verb and integration stay intact) until the name fits with room for a
/// `_` and four hex digits of the full name's hash, which keeps two long names that abbreviate
/// alike distinct.
pub fn shorten(name: &str) -> String {
    if name.len() <= MAX_TOOL_NAME {
        return name.to_owned();
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest[..2].iter().map(|b| format!("{b:02x}")).collect();
    let budget = MAX_TOOL_NAME - hash.len() - 1;
    let mut words: Vec<String> = name.split('_').map(str::to_owned).collect();
    for index in (2..words.len()).rev() {
        if words.join("_").len() <= budget {
            break;
        }
        words[index].truncate(4);
    }
    let mut cut = words.join("_");
    cut.truncate(budget);
    format!("{}_{hash}", cut.trim_end_matches('_'))
}

/// Whether a tool name fits the MCP character set and our length limit.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOOL_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Rust type name of a tool's request struct.
pub fn struct_name(tool_name: &str) -> String {
    format!("{}Request", tool_name.to_upper_camel_case())
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// Rust field name for a flat argument: snake case, keywords get a trailing underscore.
pub fn field_name(arg_name: &str) -> String {
    let snake = sanitize_snake(arg_name);
    if KEYWORDS.contains(&snake.as_str()) {
        format!("{snake}_")
    } else {
        snake
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truto_convention() {
        assert_eq!(
            tool_name("malomo", "orders", "list"),
            "list_all_malomo_orders"
        );
        assert_eq!(
            tool_name("malomo", "orders", "get"),
            "get_single_malomo_order_by_id"
        );
        assert_eq!(
            tool_name("malomo", "orders_by_tracking_code", "get"),
            "get_single_malomo_orders_by_tracking_code_by_id"
        );
        assert_eq!(
            tool_name("malomo", "webhooks", "create"),
            "create_a_malomo_webhook"
        );
        assert_eq!(
            tool_name("e_desk", "sales_orders", "get"),
            "get_single_e_desk_sales_order_by_id"
        );
        assert_eq!(
            tool_name("roserocket", "objects", "search"),
            "search_roserocket_objects"
        );
        assert_eq!(integration_slug("eDesk"), "e_desk");
        assert_eq!(singularize("addresses"), "address");
        assert_eq!(singularize("status"), "status");
        assert_eq!(singularize("categories"), "category");
        assert_eq!(singularize("messages"), "message");
    }

    #[test]
    fn long_names_shorten_deterministically_and_readably() {
        let long = tool_name(
            "github",
            "repos_actions_organization_secrets_repositories_selected_permissions",
            "list",
        );
        assert!(long.len() <= MAX_TOOL_NAME, "{long}");
        assert_ne!(
            shorten(&format!("{}_alpha", "x_".repeat(40))),
            shorten(&format!("{}_alphb", "x_".repeat(40)))
        );
        assert!(long.starts_with("list_all_github_"), "{long}");
        assert!(is_valid_tool_name(&long));
        assert_eq!(
            long,
            tool_name(
                "github",
                "repos_actions_organization_secrets_repositories_selected_permissions",
                "list"
            )
        );
    }

    #[test]
    fn identifiers_are_sanitized() {
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("X-Org-Id"), "x_org_id");
        assert_eq!(field_name("2fa"), "n2fa");
        assert_eq!(field_name("\"; drop"), "drop");
        assert_eq!(field_name("ñ"), "unnamed");
    }
}
