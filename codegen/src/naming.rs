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

/// Rust module name for an integration: keywords get a trailing underscore, like fields.
pub fn module_name(slug: &str) -> String {
    field_name(slug)
}

/// Distinct names for a group of tools whose derived names collide. `members` holds each
/// one's identity: the HTTP method, the path template and its path parameter names. The first
/// member keeps `base`; callers order members so that it is the canonical operation (see
/// `specs/README.md`). Every other member's name depends only on its own operation and the
/// first member's, never on the order operations appear in the spec:
/// 1. a PUT that collides with a PATCH `update` becomes `replace_a_...`; another method
///    appends it (`..._post`);
/// 2. else a path with parameters the first member lacks appends `_by_<param>`, or a literal
///    segment it lacks appends `_<segment>`;
/// 3. else, or when the result is still taken, four hex digits of `METHOD path` are appended.
pub fn disambiguate(
    base: &str,
    members: &[(String, String, Vec<String>)],
    taken: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let Some((first_method, first_path, first_params)) = members.first() else {
        return Vec::new();
    };
    let first_literals: Vec<String> = literal_segments(first_path);
    let mut names = vec![base.to_owned()];
    for (method, path, params) in &members[1..] {
        let mut candidate = if method != first_method {
            match (base.strip_prefix("update_a_"), method.as_str()) {
                (Some(rest), "PUT") => format!("replace_a_{rest}"),
                _ => format!("{base}_{}", method.to_ascii_lowercase()),
            }
        } else if let Some(param) = params.iter().find(|p| !first_params.contains(p)) {
            // `get_single_x_user_by_id` for `/users/{username}` reads `..._user_by_username`.
            let stem = base.strip_suffix("_by_id").unwrap_or(base);
            format!("{stem}_by_{}", sanitize_snake(param))
        } else if let Some(segment) = literal_segments(path)
            .into_iter()
            .find(|s| !first_literals.contains(s))
        {
            format!("{base}_{segment}")
        } else {
            String::new()
        };
        candidate = shorten(&candidate);
        if candidate.is_empty() || taken(&candidate) || names.contains(&candidate) {
            let digest = Sha256::digest(format!("{method} {path}").as_bytes());
            let hash: String = digest[..2].iter().map(|b| format!("{b:02x}")).collect();
            let stem = if candidate.is_empty() {
                base
            } else {
                &candidate
            };
            candidate = shorten(&format!("{stem}_{hash}"));
        }
        names.push(candidate);
    }
    names
}

/// A path's literal segments as name words (so `/Orders` and `/orders` do not differ).
fn literal_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty() && !s.starts_with('{'))
        .map(sanitize_snake)
        .collect()
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
    fn collisions_get_names_from_their_own_operation() {
        let member = |m: &str, p: &str, params: &[&str]| {
            (
                m.to_owned(),
                p.to_owned(),
                params.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            )
        };
        let never = |_: &str| false;
        assert_eq!(
            disambiguate(
                "update_a_gh_repo_by_id",
                &[
                    member("PATCH", "/repos/{id}", &["id"]),
                    member("PUT", "/repos/{id}", &["id"])
                ],
                &never
            ),
            ["update_a_gh_repo_by_id", "replace_a_gh_repo_by_id"]
        );
        assert_eq!(
            disambiguate(
                "list_all_gh_issues_comments",
                &[
                    member("GET", "/repos/{o}/{r}/issues/comments", &["o", "r"]),
                    member(
                        "GET",
                        "/repos/{o}/{r}/issues/{n}/comments",
                        &["o", "r", "n"]
                    )
                ],
                &never
            ),
            [
                "list_all_gh_issues_comments",
                "list_all_gh_issues_comments_by_n"
            ]
        );
        let same = disambiguate(
            "get_single_gh_user_by_id",
            &[member("GET", "/user", &[]), member("GET", "/user", &[])],
            &never,
        );
        assert_ne!(same[0], same[1]);
        assert!(same[1].starts_with("get_single_gh_user_by_id_"));
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
