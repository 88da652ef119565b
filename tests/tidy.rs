//! Structural rules kept by tests, as rust-analyzer's `xtask/src/tidy.rs` keeps its own:
//! `ARCHITECTURE.md`'s code map names every source file and nothing else, every source file
//! opens with a `//!` header, and the server keeps the shape that map promises (only `mcp`
//! knows rmcp, the core imports no face and no transport framework, faces never import each
//! other, no `Result<_, String>`, no function longer than 150 lines outside tests).

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, relative to the repository root, sorted.
fn rust_files(dir: &str) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join(dir), &mut files);
    let mut files: Vec<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    files.sort();
    files
}

/// The hand-written source files the code map covers.
fn source_files() -> Vec<String> {
    let mut files = vec![
        "build.rs".to_owned(),
        "generated/lib.rs".to_owned(),
        "shards/build.rs".to_owned(),
        "shards/lib.rs".to_owned(),
    ];
    for dir in [
        "runtime/src",
        "wire/src",
        "codegen/src",
        "server/src",
        "cli/src",
        "fuzz/src",
        "fuzz/fuzz_targets",
    ] {
        files.extend(rust_files(dir));
    }
    files
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The text before a file's `#[cfg(test)]` module.
fn without_tests(text: &str) -> &str {
    text.find("\n#[cfg(test)]").map_or(text, |at| &text[..at])
}

#[test]
fn the_code_map_names_every_source_file_and_only_those() {
    let map = read("ARCHITECTURE.md");
    let files = source_files();
    let missing: Vec<&String> = files
        .iter()
        .filter(|f| !map.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name {missing:?}"
    );
    let named: Vec<&str> = map
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| {
            name.ends_with(".rs")
                && name.contains('/')
                && !name.contains(' ')
                && !name.contains('*')
                && !name.contains("::")
                && (name.starts_with("server/src/")
                    || name.starts_with("runtime/src/")
                    || name.starts_with("wire/src/")
                    || name.starts_with("codegen/src/")
                    || name.starts_with("fuzz/"))
        })
        .collect();
    let stale: Vec<&&str> = named
        .iter()
        .filter(|name| !files.iter().any(|f| f == *name))
        .collect();
    assert!(
        stale.is_empty(),
        "ARCHITECTURE.md names files that do not exist: {stale:?}"
    );
}

#[test]
fn every_source_file_opens_with_a_module_header() {
    let headless: Vec<String> = source_files()
        .into_iter()
        .filter(|f| !read(f).starts_with("//!"))
        .collect();
    assert!(
        headless.is_empty(),
        "these files have no `//!` header: {headless:?}"
    );
}

/// The server's modules by role.
const CORE: &[&str] = &[
    "server/src/state.rs",
    "server/src/access.rs",
    "server/src/grants.rs",
    "server/src/connect.rs",
    "server/src/limiter.rs",
    "server/src/provision.rs",
    "server/src/provision/",
    "server/src/tool_call.rs",
    "server/src/confirm.rs",
    "server/src/resolution.rs",
    "server/src/call/",
    "server/src/catalog.rs",
    "server/src/domain.rs",
    "server/src/store.rs",
    "server/src/store/",
    "server/src/egress.rs",
    "server/src/crypto.rs",
    "server/src/cache.rs",
    "server/src/changes.rs",
    "server/src/audit.rs",
    "server/src/metrics.rs",
];
const FACES: &[(&str, &str)] = &[
    ("server/src/mcp/", "crate::mcp"),
    ("server/src/admin.rs", "crate::admin"),
    ("server/src/oauth.rs", "crate::oauth"),
    ("server/src/callback.rs", "crate::callback"),
    ("server/src/console.rs", "crate::console"),
    ("server/src/console/", "crate::console"),
];

fn in_role(file: &str, role: &[&str]) -> bool {
    role.iter().any(|prefix| file.starts_with(prefix))
}

#[test]
fn only_the_mcp_face_knows_rmcp() {
    for file in rust_files("server/src") {
        let text = read(&file);
        let uses_rmcp = text.contains("rmcp::") || text.contains("use rmcp");
        assert!(
            !uses_rmcp || file.starts_with("server/src/mcp/"),
            "{file} uses rmcp; only server/src/mcp/ may"
        );
    }
}

#[test]
fn the_core_imports_no_face_and_no_transport_framework() {
    for file in rust_files("server/src") {
        if !in_role(&file, CORE) {
            continue;
        }
        let text = without_tests(&read(&file)).to_owned();
        for forbidden in [
            "axum::",
            "use axum",
            "rmcp::",
            "use rmcp",
            "StatusCode::",
            "crate::sandbox",
        ]
        .into_iter()
        .chain(FACES.iter().map(|(_, module)| *module))
        {
            let used = match forbidden {
                // The vendor's status, read from reqwest, is the core's business.
                "StatusCode::" => text
                    .match_indices(forbidden)
                    .any(|(at, _)| !text[..at].ends_with("reqwest::")),
                _ => text.contains(forbidden),
            };
            assert!(!used, "core module {file} uses `{forbidden}`");
        }
    }
}

#[test]
fn faces_never_import_each_other() {
    for (face, _) in FACES {
        for file in rust_files("server/src") {
            if !file.starts_with(face) {
                continue;
            }
            let paths = crate_paths(&read(&file));
            for (other, module) in FACES {
                if other != face {
                    assert!(
                        !paths
                            .iter()
                            .any(|p| p == module || p.starts_with(&format!("{module}::"))),
                        "{file} imports the face {module}"
                    );
                }
            }
        }
    }
}

#[test]
fn no_server_function_returns_a_string_error() {
    for file in rust_files("server/src") {
        let text = read(&file);
        for (number, line) in text.lines().enumerate() {
            let compact: String = line.split_whitespace().collect();
            assert!(
                !(compact.contains("Result<") && compact.contains(",String>")),
                "{file}:{}: a `Result<_, String>`; return a typed error",
                number + 1
            );
        }
    }
}

/// Functions in `text` (rustfmt-formatted, tests excluded) and their length in lines.
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = without_tests(text).lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let signature = trimmed
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("const ")
            .trim_start_matches("async ");
        let Some(name) = signature.strip_prefix("fn ") else {
            continue;
        };
        let name: String = name
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let closing = format!("{indent}}}");
        if let Some(end) = lines[start + 1..].iter().position(|l| *l == closing) {
            found.push((name, end + 2));
        }
    }
    found
}

#[test]
fn no_server_or_generator_function_is_longer_than_150_lines() {
    let mut long = Vec::new();
    for file in rust_files("server/src")
        .into_iter()
        .chain(rust_files("codegen/src"))
    {
        for (name, length) in function_lengths(&read(&file)) {
            if length > 150 {
                long.push(format!("{file}: {name} ({length} lines)"));
            }
        }
    }
    assert!(long.is_empty(), "split these: {long:?}");
}

#[test]
fn the_length_check_measures_functions() {
    let text = "fn short() {\n    one();\n}\n\nimpl X {\n    pub async fn long(&self) {\n        a();\n        b();\n    }\n}\n#[cfg(test)]\nmod tests {\n    fn ignored() {\n    }\n}\n";
    assert_eq!(
        function_lengths(text),
        [("short".to_owned(), 3), ("long".to_owned(), 4)]
    );
}

#[test]
fn build_scripts_read_cargo_paths_when_they_run() {
    // Cargo reuses a compiled build script for the same checkout at another path (a copy
    // sharing a target directory), so a path compiled in with `env!` names the old checkout.
    for script in ["build.rs", "shards/build.rs"] {
        let text = read(script);
        assert!(
            text.contains("CARGO_MANIFEST_DIR"),
            "{script} finds the workspace"
        );
        assert!(
            !text.contains("env!(\"CARGO_"),
            "{script} compiles in a cargo variable; read it with std::env::var"
        );
    }
}

/// A test that returns early without an outside component would pass in the fast loop without
/// testing anything: each one is `#[ignore]`d, so `cargo test --workspace` lists it as ignored,
/// and `scripts/test.sh` runs it with `--include-ignored`.
#[test]
fn every_test_that_needs_an_outside_component_is_ignored_by_default() {
    const NEEDS: [&str; 6] = [
        "= common::postgres() else",
        "= common::external(",
        "= common::node() else",
        "= node() else",
        "= python() else",
        "= chromedriver() else",
    ];
    let mut found = 0;
    for file in rust_files("cli/tests") {
        let text = read(&file);
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if !line.starts_with("async fn ") && !line.starts_with("fn ") {
                continue;
            }
            let body = lines[index..lines.len().min(index + 6)].join("\n");
            if !NEEDS.iter().any(|needs| body.contains(needs)) {
                continue;
            }
            found += 1;
            let attributes = lines[..index]
                .iter()
                .rev()
                .take_while(|line| line.starts_with("#["))
                .collect::<Vec<_>>();
            assert!(
                attributes
                    .iter()
                    .any(|line| line.starts_with("#[ignore = \"needs ")),
                "{file}:{}: `{line}` needs an outside component; mark it #[ignore = \"needs ...\"]",
                index + 1
            );
        }
    }
    assert!(
        found >= 28,
        "found only {found} tests that need an outside component"
    );
}

/// The generated-code example in `ARCHITECTURE.md` is what the generator writes: each of its
/// lines but the elided body (a `//` comment line) appears in `generated/malomo.rs`, in order.
#[test]
fn the_architecture_example_is_the_generated_code() {
    let architecture = read("ARCHITECTURE.md");
    let section = architecture
        .split("## What a generated tool looks like")
        .nth(1)
        .expect("ARCHITECTURE.md shows a generated tool");
    let example = section
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the example is a rust code block");
    let generated = read("generated/malomo.rs");
    let lines: Vec<&str> = generated.lines().map(str::trim).collect();
    let mut at = 0;
    for wanted in example
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("// "))
    {
        let found = lines[at..].iter().position(|line| *line == wanted);
        match found {
            Some(offset) => at += offset + 1,
            None => panic!(
                "ARCHITECTURE.md's example has `{wanted}`, which generated/malomo.rs lacks after line {at}"
            ),
        }
    }
}

/// The server core's layers, lowest first, as `ARCHITECTURE.md` lists them: a module imports
/// only modules of its own layer or lower ones, so the core's imports have no cycle.
const LAYERS: &[&[&str]] = &[
    &[
        "domain", "crypto", "changes", "cache", "egress", "limiter", "metrics",
    ],
    &["store"],
    &["audit", "catalog"],
    &["call"],
    &["resolution"],
    &["state"],
    &["access", "provision"],
    &["grants", "tool_call"],
    &["connect"],
    &["confirm"],
];

/// Every `crate::` path a file names, outside comments and tests: each `use` tree expanded
/// (`use crate::{mcp::X, store}` names `crate::mcp::X` and `crate::store`), and every path
/// written inline.
fn crate_paths(text: &str) -> Vec<String> {
    let code: String = without_tests(text)
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let tree = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
            .or_else(|| statement.strip_prefix("use "))
            .or_else(|| statement.rsplit_once("\nuse ").map(|(_, tree)| tree));
        if let Some(tree) = tree.filter(|tree| tree.trim_start().starts_with("crate::")) {
            expand_use_tree("", tree, &mut paths);
        }
    }
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let path: String = rest[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        paths.push(path);
        rest = &rest[at + "crate::".len()..];
    }
    paths
}

/// Expands one `use` tree under `prefix` into full paths.
fn expand_use_tree(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        let path = tree.split("as").next().unwrap_or_default();
        out.push(format!("{prefix}{path}"));
        return;
    };
    let head = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut depth = 0;
    let mut start = 0;
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand_use_tree(&format!("{prefix}{head}"), &inner[start..at], out);
                start = at + 1;
            }
            _ => {}
        }
    }
    if start < inner.len() {
        expand_use_tree(&format!("{prefix}{head}"), &inner[start..], out);
    }
}

/// The server module a `crate::` path names (`crate::store::Store` is `store`).
fn module_of_path(path: &str) -> Option<&str> {
    path.strip_prefix("crate::")?.split("::").next()
}

/// The server module a file belongs to (`server/src/call/mod.rs` is `call`).
fn module_of_file(file: &str) -> &str {
    let rest = file.trim_start_matches("server/src/");
    rest.split('/')
        .next()
        .unwrap_or(rest)
        .trim_end_matches(".rs")
}

#[test]
fn use_trees_are_expanded_before_the_rules_read_them() {
    let text = "use crate::{mcp::Handler, store::{Store, now}};\nuse crate::call::Caller as C;\nfn f() { crate::egress::check(); }\n// crate::admin::x\n";
    let paths = crate_paths(text);
    for expected in [
        "crate::mcp::Handler",
        "crate::store::Store",
        "crate::store::now",
        "crate::call::Caller",
        "crate::egress::check",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected}: {paths:?}");
    }
    assert!(
        !paths.iter().any(|p| p.contains("admin")),
        "comments name nothing"
    );
}

#[test]
fn no_core_module_imports_a_layer_above_its_own() {
    let architecture = read("ARCHITECTURE.md");
    let layer_of = |module: &str| LAYERS.iter().position(|layer| layer.contains(&module));
    for (index, layer) in LAYERS.iter().enumerate() {
        let listed = layer
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(
            architecture.contains(&format!("{}. {listed}", index + 1)),
            "ARCHITECTURE.md lists layer {} as `{}. {listed}`",
            index + 1,
            index + 1
        );
    }
    let mut upward = Vec::new();
    for file in rust_files("server/src") {
        let module = module_of_file(&file);
        let Some(own) = layer_of(module) else {
            continue;
        };
        for path in crate_paths(&read(&file)) {
            if let Some(target) = module_of_path(&path)
                && let Some(theirs) = layer_of(target)
                && theirs > own
            {
                upward.push(format!("{file} ({module}) imports {path}"));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "{upward:#?}");
}
