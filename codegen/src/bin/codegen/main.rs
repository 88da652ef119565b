//! `cargo codegen`: regenerate or check the reviewed mirror in `generated/`, and preview the
//! tools any spec would produce.
//!
//! ```text
//! cargo codegen generate [--specs DIR] [--out DIR]   # write generated/*.rs from specs/
//! cargo codegen check [--specs DIR] [--out DIR]      # fail if generated/ is stale
//! cargo codegen tools --spec FILE [--json] [--profile full|portable] [--lint]
//!                                             # preview one spec file (or directory); --lint
//!                                             # lists what breaks the portable profile
//! cargo codegen diff [--base REF | --base-lock FILE] [--format text|markdown|json] [--allow-breaking]
//! cargo codegen fetch VENDOR [--specs DIR]     # download an overlay's OpenAPI file from its source
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use specgate_codegen::{
    Generated, LOCK_FILE, LOCK_FILE_NAME, ShardMap, SpecFile, Surface, VendorInput, drift,
    generate, generate_against, read_lock, read_specs_dir,
};

mod fetch;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: codegen generate|check [--specs DIR] [--out DIR]\n       codegen tools --spec FILE_OR_DIR [--json] [--profile full|portable] [--lint]\n       codegen diff [--base REF | --base-lock FILE] [--specs DIR] [--format text|markdown|json] [--allow-breaking]\n       codegen fetch VENDOR [--specs DIR]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let specs = flag("--specs").unwrap_or_else(|| workspace_root().join("specs"));
    match args.first().map(String::as_str) {
        Some(command @ ("generate" | "check")) => {
            let out = flag("--out").unwrap_or_else(|| workspace_root().join("generated"));
            mirror(&specs, &out, command == "check")
        }
        Some("diff") => {
            let format = args
                .iter()
                .position(|a| a == "--format")
                .and_then(|i| args.get(i + 1))
                .map_or("text", String::as_str);
            if !["text", "markdown", "json"].contains(&format) {
                return usage();
            }
            let base = match (flag("--base-lock"), flag("--base")) {
                (Some(file), None) => Base::File(file),
                (None, reference) => Base::GitRef(
                    reference.map_or_else(|| "HEAD".to_owned(), |r| r.display().to_string()),
                ),
                (Some(_), Some(_)) => return usage(),
            };
            drift_report(
                &specs,
                &base,
                format,
                args.iter().any(|a| a == "--allow-breaking"),
            )
        }
        Some("fetch") => match args.get(1).filter(|v| !v.starts_with("--")) {
            Some(vendor) => fetch::run(&specs, vendor),
            None => usage(),
        },
        Some("tools") => {
            let json = args.iter().any(|a| a == "--json");
            let portable = match args
                .iter()
                .position(|a| a == "--profile")
                .and_then(|i| args.get(i + 1))
                .map(String::as_str)
            {
                None | Some("full") => false,
                Some("portable") => true,
                Some(_) => return usage(),
            };
            let lint = args.iter().any(|a| a == "--lint");
            let Some(spec) = args
                .iter()
                .position(|a| a == "--spec")
                .and_then(|i| args.get(i + 1))
            else {
                return usage();
            };
            preview(Path::new(spec), json, portable, lint)
        }
        _ => usage(),
    }
}

fn load_specs(specs: &Path, out_dir: &Path) -> Result<Generated, ExitCode> {
    let inputs = read_specs_dir(specs).map_err(|e| {
        eprintln!("cannot read {}: {e}", specs.display());
        ExitCode::FAILURE
    })?;
    let lock = out_dir.join(LOCK_FILE_NAME);
    let previous = read_lock(&lock).map_err(|e| {
        eprintln!("cannot read the lock file {e}");
        ExitCode::FAILURE
    })?;
    let generated = generate_against(&inputs, &previous);
    if generated.has_errors() {
        eprint!("{}", generated.report());
        return Err(ExitCode::FAILURE);
    }
    Ok(generated)
}

fn mirror(specs: &Path, out_dir: &Path, check_only: bool) -> ExitCode {
    let generated = match load_specs(specs, out_dir) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let previous_map = match ShardMap::read(out_dir) {
        Ok(map) => map,
        Err(e) => {
            eprintln!("cannot read the shard map {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stale = Vec::new();
    for (name, contents) in generated.mirror_files(&previous_map) {
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

/// What the drift report compares against.
enum Base {
    /// The lock file as committed at a git ref.
    GitRef(String),
    /// A lock file on disk.
    File(PathBuf),
}

fn base_surface(base: &Base) -> Result<(String, Surface), String> {
    match base {
        Base::File(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Ok((
                path.display().to_string(),
                Surface::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            ))
        }
        Base::GitRef(reference) => {
            let root = workspace_root();
            let verify = std::process::Command::new("git")
                .args(["rev-parse", "--verify", "--quiet"])
                .arg(format!("{reference}^{{commit}}"))
                .current_dir(&root)
                .output()
                .map_err(|e| format!("cannot run git: {e}"))?;
            if !verify.status.success() {
                return Err(format!("`{reference}` is not a commit of this repository"));
            }
            let shown = std::process::Command::new("git")
                .arg("show")
                .arg(format!("{reference}:{LOCK_FILE}"))
                .current_dir(&root)
                .output()
                .map_err(|e| format!("cannot run git: {e}"))?;
            // A commit from before the lock file had no tools recorded: everything is new.
            if !shown.status.success() {
                return Ok((format!("{reference} (no lock file)"), Surface::default()));
            }
            let text = String::from_utf8_lossy(&shown.stdout);
            let surface =
                Surface::parse(&text).map_err(|e| format!("{reference}:{LOCK_FILE}: {e}"))?;
            Ok((reference.clone(), surface))
        }
    }
}

fn drift_report(specs: &Path, base: &Base, format: &str, allow_breaking: bool) -> ExitCode {
    let (label, surface) = match base_surface(base) {
        Ok(found) => found,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let inputs = match read_specs_dir(specs) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", specs.display());
            return ExitCode::from(2);
        }
    };
    // Aliases are what the base's names become, so the base is the previous surface here.
    let generated = generate_against(&inputs, &surface);
    let report = drift::diff(&label, &surface, &generated);
    match format {
        "markdown" => print!("{}", report.to_markdown()),
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        ),
        _ => print!("{}", report.to_text()),
    }
    if report.is_breaking() && !allow_breaking {
        eprintln!("breaking changes to the tool surface; pass --allow-breaking to accept them");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn preview(spec: &Path, json: bool, portable: bool, lint: bool) -> ExitCode {
    let inputs = match preview_inputs(spec) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("cannot read {}: {e}", spec.display());
            return ExitCode::FAILURE;
        }
    };
    let generated = generate(&inputs);
    let problems = if lint {
        generated.portable_lint()
    } else {
        Vec::new()
    };
    if lint && !json {
        for problem in &problems {
            println!("{problem}");
        }
        let tools: usize = generated.integrations.iter().map(|i| i.tools.len()).sum();
        eprintln!(
            "{tools} tools, {} portable-profile violations",
            problems.len()
        );
        return if problems.is_empty() && !generated.has_errors() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if json {
        let out = serde_json::json!({
            "tools": if portable { generated.portable_json() } else { generated.tools_json() },
            "diagnostics": generated.diagnostics,
            "portableViolations": problems,
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
