//! `cargo codegen`: regenerate or check the reviewed mirror in `generated/`, preview the tools
//! any spec would produce, report drift, fetch an overlay's OpenAPI file. Paths default to
//! `specs/` and `generated/` under the current directory; `--help` on each command says more.
//!
//! ```text
//! cargo codegen generate [--specs DIR] [--out DIR]   # write generated/*.rs from specs/
//! cargo codegen check [--specs DIR] [--out DIR]      # fail if generated/ is stale
//! cargo codegen tools --spec FILE [--vendor NAME] [--json] [--profile full|portable] [--lint]
//! cargo codegen diff [--base REF | --base-lock FILE] [--format text|markdown|json] [--allow-breaking]
//! cargo codegen fetch VENDOR [--specs DIR]     # download an overlay's OpenAPI file from its source
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use specgate_codegen::{
    Generated, LOCK_FILE, LOCK_FILE_NAME, ShardMap, SpecFile, Surface, VendorInput, drift,
    generate, generate_against, read_lock, read_specs_dir,
};

mod fetch;

/// Vendor specs in, typed request structs and MCP tools out. Paths are relative to the
/// current directory: run it from the checkout's root (`cargo codegen ...` does), or name them.
#[derive(Parser)]
#[command(name = "codegen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the reviewed mirror (`generated/*.rs`, the shard map, the tool lock) from the specs.
    Generate(Mirror),
    /// Fail when the mirror differs from what the specs generate.
    Check(Mirror),
    /// Preview the tools one spec file (or vendor directory) produces, with its diagnostics.
    Tools {
        /// The spec file or vendor directory.
        #[arg(long)]
        spec: PathBuf,
        /// The vendor's name (its tools' prefix); the parent directory's name by default.
        #[arg(long)]
        vendor: Option<String>,
        /// Print the tools, their schemas and the diagnostics as JSON.
        #[arg(long)]
        json: bool,
        /// The schema profile the JSON shows.
        #[arg(long, value_enum, default_value = "full")]
        profile: Profile,
        /// List what breaks the portable profile; fail if anything does.
        #[arg(long)]
        lint: bool,
    },
    /// The drift report: how the tool surface changed against a lock file.
    Diff {
        /// The git commit whose committed lock file is the base (in the current directory's
        /// repository).
        #[arg(long, default_value = "HEAD", conflicts_with = "base_lock")]
        base: String,
        /// A lock file on disk as the base instead.
        #[arg(long)]
        base_lock: Option<PathBuf>,
        /// The specs directory.
        #[arg(long, default_value = "specs")]
        specs: PathBuf,
        /// How the report is written.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Exit 0 even with breaking changes.
        #[arg(long)]
        allow_breaking: bool,
    },
    /// Download an overlay's OpenAPI file from the source its `source:` names.
    Fetch {
        /// The vendor directory under the specs directory.
        vendor: String,
        /// The specs directory.
        #[arg(long, default_value = "specs")]
        specs: PathBuf,
    },
}

/// Where `generate` and `check` read and write.
#[derive(clap::Args)]
struct Mirror {
    /// The specs directory.
    #[arg(long, default_value = "specs")]
    specs: PathBuf,
    /// The mirror directory.
    #[arg(long, default_value = "generated")]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Profile {
    Full,
    Portable,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Markdown,
    Json,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Markdown => "markdown",
            Self::Json => "json",
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Generate(Mirror { specs, out }) => {
            with_specs(&specs, || mirror(&specs, &out, false))
        }
        Command::Check(Mirror { specs, out }) => with_specs(&specs, || mirror(&specs, &out, true)),
        Command::Tools {
            spec,
            vendor,
            json,
            profile,
            lint,
        } => preview(
            &spec,
            vendor.as_deref(),
            json,
            matches!(profile, Profile::Portable),
            lint,
        ),
        Command::Diff {
            base,
            base_lock,
            specs,
            format,
            allow_breaking,
        } => {
            let base = base_lock.map_or(Base::GitRef(base), Base::File);
            with_specs(&specs, || {
                drift_report(&specs, &base, format.as_str(), allow_breaking)
            })
        }
        Command::Fetch { vendor, specs } => with_specs(&specs, || fetch::run(&specs, &vendor)),
    }
}

/// Runs `command` when `specs` is a directory; otherwise says what was expected (exit 2).
fn with_specs(specs: &Path, command: impl FnOnce() -> ExitCode) -> ExitCode {
    if specs.is_dir() {
        return command();
    }
    let here = std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string());
    eprintln!(
        "error: no specs directory at {} (from {here}): run this from the checkout's root, where specs/<vendor>/ holds each vendor's OpenAPI or doc spec, or pass --specs DIR",
        specs.display()
    );
    ExitCode::from(2)
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
            let root = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
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

fn preview(spec: &Path, vendor: Option<&str>, json: bool, portable: bool, lint: bool) -> ExitCode {
    let inputs = match preview_inputs(spec, vendor) {
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

/// A single file previews as its own vendor (named `vendor`, else after its parent directory,
/// so an overlay finds its OpenAPI neighbour); a directory previews all its files.
fn preview_inputs(spec: &Path, vendor: Option<&str>) -> std::io::Result<Vec<VendorInput>> {
    if spec.is_dir() {
        let parent = spec.parent().unwrap_or(Path::new("."));
        let dir_name = spec
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(read_specs_dir(parent)?
            .into_iter()
            .filter(|v| v.dir == dir_name)
            .map(|mut input| {
                if let Some(vendor) = vendor {
                    vendor.clone_into(&mut input.dir);
                }
                input
            })
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
        dir: vendor.map_or(dir_name, str::to_owned),
        files,
    }])
}
