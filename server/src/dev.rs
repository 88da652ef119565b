//! `specgate dev`: serves from a checkout and turns every change under `specs/` into new tools
//! without a restart: the drift report of the change, `codegen generate`, an incremental
//! `cargo build --release`, and a swap to the new binary (see [`crate::handover`]). A step
//! that fails leaves the running server as it was; cargo's and the generator's diagnostics
//! show as they are printed.
//!
//! The generator runs as its own binary through cargo, so the server still never depends on
//! it. `specs/` is polled every half second rather than watched through inotify: a checkout
//! holds a handful of files, and the poll needs no dependency.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::handover::{read_pid_file, request_reload};

/// How often `specs/` is looked at.
const POLL: Duration = Duration::from_millis(500);
/// How long a new binary may take to start serving.
const SWAP_WITHIN: Duration = Duration::from_secs(60);

/// Why `specgate dev` stopped.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The directory is not a checkout.
    #[error("{0} is not a specgate checkout (no specs/ or Cargo.toml); pass --workspace")]
    NotACheckout(String),
    /// The first build failed; there is nothing to serve.
    #[error("the first build failed: {0}")]
    FirstBuild(StepError),
    /// The built server could not be started.
    #[error("cannot start {binary}: {source}")]
    Start {
        /// The binary.
        binary: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server exited before it served.
    #[error("the server exited before it served ({0})")]
    Exited(std::process::ExitStatus),
    /// The server did not write its pid file in time.
    #[error("the server did not start serving within {} s", SWAP_WITHIN.as_secs())]
    NotServing,
    /// The server stopped while `dev` watched.
    #[error("the server has stopped")]
    Stopped,
}

/// Why one step (a cargo command) failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Cargo could not be run.
    #[error("cannot run cargo: {0}")]
    Spawn(std::io::Error),
    /// Cargo ran and failed; its diagnostics are above.
    #[error("cargo exited with {0}")]
    Failed(std::process::ExitStatus),
}

/// Serves `workspace`'s build until interrupted, rebuilding and swapping on each spec change.
pub fn run(
    workspace: &Path,
    database: &str,
    key_file: Option<&Path>,
    serve_args: &[OsString],
) -> Result<(), DevError> {
    let not_a_checkout = || DevError::NotACheckout(workspace.display().to_string());
    let workspace = workspace.canonicalize().map_err(|_| not_a_checkout())?;
    let specs = workspace.join("specs");
    if !specs.is_dir() || !workspace.join("Cargo.toml").is_file() {
        return Err(not_a_checkout());
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    let binary = target.join("release").join("specgate");
    let pid_file = target.join("specgate-dev.pid");
    let _ = std::fs::remove_file(&pid_file);

    // The generator optimized: it reads a Graph-sized spec in seconds, and in minutes when not.
    let build = timed(|| {
        cargo(&workspace, &["build", "--release"])?;
        cargo(
            &workspace,
            &[
                "build",
                "--release",
                "-p",
                "specgate-codegen",
                "--bin",
                "codegen",
            ],
        )
    });
    build.0.map_err(DevError::FirstBuild)?;
    println!("dev: built in {:.1} s", build.1.as_secs_f64());
    let mut server = Command::new(&binary);
    server
        .arg("serve")
        .arg("--pid-file")
        .arg(&pid_file)
        .args(serve_args)
        .env("SPECGATE_DATABASE", database)
        .stdin(Stdio::null());
    if let Some(key_file) = key_file {
        server.env("SPECGATE_KEY_FILE", key_file);
    }
    let mut first = server.spawn().map_err(|source| DevError::Start {
        binary: binary.display().to_string(),
        source,
    })?;
    let started = Instant::now();
    while read_pid_file(&pid_file).is_err() {
        if let Ok(Some(status)) = first.try_wait() {
            return Err(DevError::Exited(status));
        }
        if started.elapsed() > SWAP_WITHIN {
            return Err(DevError::NotServing);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "dev: serving; watching {} (Ctrl-C stops both)",
        specs.display()
    );

    let mut seen = fingerprint(&specs);
    loop {
        std::thread::sleep(POLL);
        // The first server hands over to later ones; reap it once it has exited.
        let _ = first.try_wait();
        let serving = read_pid_file(&pid_file).map_err(|_| DevError::Stopped)?;
        if !alive(serving) {
            return Err(DevError::Stopped);
        }
        let now = fingerprint(&specs);
        if now == seen {
            continue;
        }
        // Editors write in several steps: wait until the tree holds still.
        let mut settled = now;
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let again = fingerprint(&specs);
            if again == settled {
                break;
            }
            settled = again;
        }
        seen = settled;
        cycle(&workspace, &pid_file);
    }
}

/// One change: drift report, regenerate, rebuild, swap; each step's time is printed.
fn cycle(workspace: &Path, pid_file: &Path) {
    println!("dev: specs/ changed; the drift report against what is served:");
    let lock = workspace
        .join("generated")
        .join("tools.lock.json")
        .into_os_string();
    let mut steps = Vec::new();
    let drift = timed(|| {
        codegen(
            workspace,
            &[
                "diff".into(),
                "--base-lock".into(),
                lock,
                "--allow-breaking".into(),
            ],
        )
    });
    steps.push(("drift report", drift.1));
    let generate = timed(|| codegen(workspace, &["generate".into()]));
    steps.push(("generate", generate.1));
    let outcome = if let Err(error) = drift.0.and(generate.0) {
        Err(format!("the specs do not generate ({error})"))
    } else {
        let build = timed(|| cargo(workspace, &["build", "--release"]));
        steps.push(("build", build.1));
        match build.0 {
            Err(error) => Err(format!("the build failed ({error})")),
            Ok(()) => {
                let swap = timed(|| request_reload(pid_file, SWAP_WITHIN));
                steps.push(("swap", swap.1));
                swap.0
                    .map(|(old, new)| format!("process {old} handed over to {new}"))
                    .map_err(|error| error.to_string())
            }
        }
    };
    let times = steps
        .iter()
        .map(|(step, took)| format!("{step} {:.1} s", took.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ");
    match outcome {
        Ok(done) => println!("dev: live: {done} ({times})"),
        Err(error) => {
            println!("dev: {error}; the running server is unchanged ({times})");
        }
    }
}

/// Runs the generator built by the first step (`cargo codegen` would build it unoptimized).
fn codegen(workspace: &Path, args: &[OsString]) -> Result<(), StepError> {
    let mut all: Vec<OsString> = [
        "run",
        "--release",
        "-q",
        "-p",
        "specgate-codegen",
        "--bin",
        "codegen",
        "--",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    all.extend(args.iter().cloned());
    cargo(workspace, &all)
}

fn timed<T>(step: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let result = step();
    (result, started.elapsed())
}

/// Runs cargo in the checkout, its output going where ours goes.
fn cargo<S: AsRef<std::ffi::OsStr>>(workspace: &Path, args: &[S]) -> Result<(), StepError> {
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .status()
        .map_err(StepError::Spawn)?;
    if status.success() {
        Ok(())
    } else {
        Err(StepError::Failed(status))
    }
}

fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
}

/// Every file under `dir` with its size and modification time.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), (meta.len(), meta.modified().ok()));
            }
        }
    }
    files
}
