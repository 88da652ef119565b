//! `cargo codegen`: regenerate or check the reviewed mirror in `generated/`, and preview the
//! tools any spec would produce.
//!
//! ```text
//! cargo codegen generate [--specs DIR] [--out DIR]   # write generated/*.rs from specs/
//! cargo codegen check [--specs DIR] [--out DIR]      # fail if generated/ is stale
//! cargo codegen tools --spec FILE [--json]   # preview one spec file (or directory)
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use specgate_codegen::{Generated, SpecFile, VendorInput, generate, read_specs_dir};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: codegen generate|check [--specs DIR] [--out DIR] | tools --spec FILE_OR_DIR [--json]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(command @ ("generate" | "check")) => {
            let flag = |name: &str| {
                args.iter()
                    .position(|a| a == name)
                    .and_then(|i| args.get(i + 1))
                    .map(PathBuf::from)
            };
            let specs = flag("--specs").unwrap_or_else(|| workspace_root().join("specs"));
            let out = flag("--out").unwrap_or_else(|| workspace_root().join("generated"));
            mirror(&specs, &out, command == "check")
        }
        Some("tools") => {
            let json = args.iter().any(|a| a == "--json");
            let Some(spec) = args
                .iter()
                .position(|a| a == "--spec")
                .and_then(|i| args.get(i + 1))
            else {
                return usage();
            };
            preview(Path::new(spec), json)
        }
        _ => usage(),
    }
}

fn load_specs(specs: &Path) -> Result<Generated, ExitCode> {
    let inputs = read_specs_dir(specs).map_err(|e| {
        eprintln!("cannot read {}: {e}", specs.display());
        ExitCode::FAILURE
    })?;
    let generated = generate(&inputs);
    if generated.has_errors() {
        eprint!("{}", generated.report());
        return Err(ExitCode::FAILURE);
    }
    Ok(generated)
}

fn mirror(specs: &Path, out_dir: &Path, check_only: bool) -> ExitCode {
    let generated = match load_specs(specs) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let mut stale = Vec::new();
    for (name, contents) in generated.rust_files(false) {
        let path = out_dir.join(&name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(contents.as_str()) {
            stale.push(name.clone());
            if !check_only && let Err(e) = std::fs::write(&path, contents) {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if check_only && !stale.is_empty() {
        eprintln!(
            "generated/ is stale ({}); run `cargo codegen generate` and commit",
            stale.join(", ")
        );
        return ExitCode::FAILURE;
    }
    let tools: usize = generated.integrations.iter().map(|i| i.tools.len()).sum();
    eprintln!(
        "{} integrations, {tools} tools; {} file(s) {}",
        generated.integrations.len(),
        stale.len(),
        if check_only { "stale" } else { "written" }
    );
    ExitCode::SUCCESS
}

fn preview(spec: &Path, json: bool) -> ExitCode {
    let inputs = match preview_inputs(spec) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("cannot read {}: {e}", spec.display());
            return ExitCode::FAILURE;
        }
    };
    let generated = generate(&inputs);
    if json {
        let out = serde_json::json!({
            "tools": generated.tools_json(),
            "diagnostics": generated.diagnostics,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for integration in &generated.integrations {
            println!("{} ({} tools)", integration.title, integration.tools.len());
            for tool in &integration.tools {
                println!("  {:<60} {}", tool.name, tool.title);
            }
        }
        eprint!("{}", generated.report());
    }
    if generated.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A single file previews as its own vendor (named after its parent directory, so an overlay
/// finds its OpenAPI neighbour); a directory previews all its files.
fn preview_inputs(spec: &Path) -> std::io::Result<Vec<VendorInput>> {
    if spec.is_dir() {
        let parent = spec.parent().unwrap_or(Path::new("."));
        let dir_name = spec
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(read_specs_dir(parent)?
            .into_iter()
            .filter(|v| v.dir == dir_name)
            .collect());
    }
    let dir = spec
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_name = std::fs::canonicalize(dir)?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "spec".to_owned());
    let mut files = vec![SpecFile {
        path: format!(
            "{dir_name}/{}",
            spec.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        text: std::fs::read_to_string(spec)?,
    }];
    // An overlay's OpenAPI file travels with it.
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{dir_name}/{name}");
        if path != files[0].path && files[0].text.contains(&format!("openapi: {name}")) {
            files.push(SpecFile {
                path,
                text: std::fs::read_to_string(entry.path())?,
            });
        }
    }
    Ok(vec![VendorInput {
        dir: dir_name,
        files,
    }])
}
