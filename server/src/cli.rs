//! The `specgate` command line: serve compiled vendor tools over MCP, and provision who may
//! use them. The `specgate` binary (`cli/`) calls [`main`] with the compiled registry.

mod access;
mod accounts;
mod keys;
mod serve;
mod servers;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use specgate_runtime::Integration;

use crate::access::AccessError;
use crate::catalog::tool_json;
use crate::crypto::Keys;
use crate::mcp::StdioError;
use crate::provision::{ProvisionError, integrations_json, printable};
use crate::store::{SchemaProfile, Store, sqlite_file};
use crate::{AppState, Config};

use access::{ApiTokenCommand, UpstreamHostCommand, api_token, upstream_host};
use accounts::{
    AccountCommand, OAuthAppCommand, ReturnOriginCommand, account, oauth_app, return_origin,
};
use keys::{KeyCommand, backup, init, rotate_key};
use serve::{ServeArgs, demo, serve_command, stdio};
use servers::{McpCommand, mcp};

const DEFAULT_DATABASE: &str = "sqlite://.specgate/specgate.db";
/// Created (mode 0700) for the default database; any other database's directory must exist.
const DEFAULT_DATA_DIR: &str = ".specgate";
/// Settings shared through the database.
const KEY_FINGERPRINT: &str = "key_fingerprint";
const PUBLIC_URL: &str = "public_url";

#[derive(Parser)]
#[command(
    name = "specgate",
    version,
    about = "Typed MCP tools for vendor APIs, compiled from their specs"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Database URL: sqlite://PATH (default, created on first start) or postgres://...
    #[arg(
        long,
        global = true,
        env = "SPECGATE_DATABASE",
        default_value = DEFAULT_DATABASE
    )]
    database: String,
    /// Key file for credential encryption and token hashing (default: `secret.key` next to the
    /// SQLite database; ignored when SPECGATE_SECRET_KEY is set).
    #[arg(long, global = true, env = "SPECGATE_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// How log lines are written to stderr: `text`, or `json` (one object a line) for log
    /// collectors. `SPECGATE_LOG` sets the level (`info`, `debug`, `specgate_server=debug`).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "SPECGATE_LOG_FORMAT"
    )]
    log_format: LogFormat,
    /// Threads that serve requests (default: one per core). Each serves the connections dealt
    /// to it on a single-threaded runtime; other commands use this many runtime workers.
    #[arg(long, global = true, env = "SPECGATE_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    worker_threads: Option<u16>,
    /// The compiled integrations, which the binary hands to [`main`].
    #[arg(skip)]
    registry: &'static [&'static Integration],
}

#[derive(Subcommand)]
enum Command {
    /// Create the database and key (`serve` also does) and print where they are.
    Init,
    /// Copy the database and its key into a new directory, while servers keep running
    /// (SQLite: an online `VACUUM INTO`; PostgreSQL: the key, and how to dump the database).
    Backup {
        /// The directory to create; it must not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Serve MCP and the admin API.
    Serve(ServeArgs),
    /// Serve together with in-process vendor sandboxes and ready-made demo MCP servers.
    Demo(ServeArgs),
    /// Swap a running `serve` (the one its `--pid-file` names) for the binary at its path
    /// now, without refusing a connection or dropping a call; SIGHUP does the same.
    Reload {
        /// The pid file `serve` was started with.
        #[arg(long, env = "SPECGATE_PID_FILE")]
        pid_file: PathBuf,
        /// Seconds to wait for the new process.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Serve from a checkout, and on every change under `specs/` print the drift report,
    /// regenerate, rebuild and swap the new binary in. Arguments after `--` go to `serve`.
    Dev {
        /// The checkout (its `specs/`, `generated/` and Cargo workspace).
        #[arg(long, default_value = ".")]
        workspace: PathBuf,
        /// Arguments for `specgate serve`.
        #[arg(last = true)]
        serve_args: Vec<std::ffi::OsString>,
    },
    /// Serve one MCP server's tools over stdio.
    Stdio {
        /// The MCP token (the last part of the MCP URL).
        #[arg(long, env = "SPECGATE_MCP_TOKEN")]
        mcp_token: String,
        /// Allow http:// loopback base URLs for accounts (tests and demos only).
        #[arg(long, env = "SPECGATE_ALLOW_INSECURE_UPSTREAMS")]
        allow_insecure_upstreams: bool,
    },
    /// Print the compiled tools.
    Tools {
        /// Only this integration.
        #[arg(long)]
        integration: Option<String>,
    },
    /// Print the compiled integrations.
    Integrations,
    /// Admin API tokens.
    #[command(subcommand)]
    ApiToken(ApiTokenCommand),
    /// Integrated accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// MCP servers of an account.
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Upstream hosts allowed for an integration beyond those its spec declares.
    #[command(subcommand)]
    UpstreamHost(UpstreamHostCommand),
    /// The OAuth app an integration's accounts connect through (`account connect`).
    #[command(subcommand)]
    OauthApp(OAuthAppCommand),
    /// Origins a connection's `--return-to` may name.
    #[command(subcommand)]
    ReturnOrigin(ReturnOriginCommand),
    /// The secret key.
    #[command(subcommand)]
    Key(KeyCommand),
}

// Measured by `scripts/bench-serve`: malloc and free were a fifth of a tool call's CPU with
// the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Takes this process off transparent huge pages. Where the kernel backs all anonymous memory
/// with them, mimalloc's arenas stay resident 2 MiB at a time: `scripts/bench-serve --soak 60`
/// peaked at 42-50 MiB with them and 30 MiB without, at the same CPU per call. This is what
/// mimalloc's own `allow_thp=0` option does, applied before any request is served. A kernel
/// without the setting refuses it, and memory is then backed as before.
#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() {
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// Runs the command line over `registry`, the compiled integrations sorted by name.
pub fn main(registry: &'static [&'static Integration]) -> ExitCode {
    #[cfg(target_os = "linux")]
    disable_transparent_huge_pages();
    let mut cli = Cli::parse();
    init_logging(cli.common.log_format);
    cli.common.registry = registry;
    let json_errors = cli.common.json;
    // Serving runs its own threads (see `crate::serving`); this runtime is the
    // first of them.
    let mut runtime = if matches!(cli.command, Command::Serve(_) | Command::Demo(_)) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        if let Some(threads) = cli.common.worker_threads {
            runtime.worker_threads(usize::from(threads));
        }
        runtime
    };
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let code = error.exit_code();
            if json_errors {
                eprintln!("{}", error.into_json());
            } else {
                eprintln!("error: {error}");
            }
            ExitCode::from(code)
        }
    }
}

/// `--log-format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr at `SPECGATE_LOG`'s level (a filter that does not parse is named in a
/// warning, and the default used), in colour only on a terminal.
fn init_logging(format: LogFormat) {
    // rmcp logs every stateless request's service start and end at `info`; that is
    // per-request formatting and a write on the hot path, so it starts at `warn`.
    const DEFAULT: &str = "info,rmcp=warn";
    let given = std::env::var("SPECGATE_LOG").ok();
    let parsed = given.as_deref().map(tracing_subscriber::EnvFilter::try_new);
    let unusable = match &parsed {
        Some(Err(error)) => Some(error.to_string()),
        _ => None,
    };
    let filter = match parsed {
        Some(Ok(filter)) => filter,
        _ => tracing_subscriber::EnvFilter::new(DEFAULT),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    if let (Some(error), Some(given)) = (unusable, given) {
        tracing::warn!(
            given = %crate::provision::printable(&given),
            %error,
            "SPECGATE_LOG is not a usable filter, so the default ({DEFAULT}) applies"
        );
    }
}

/// Why a command failed; each kind has its exit code (see [`CliError::exit_code`]).
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// A flag's value is unusable.
    #[error("{0}")]
    Usage(String),
    /// The database or key cannot be opened, or they do not belong together.
    #[error("{0}")]
    Setup(String),
    /// Provisioning refused the request, or failed.
    #[error("{}", provision_message(.0))]
    Provision(#[from] ProvisionError),
    /// The MCP token opens nothing.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// MCP over stdio failed.
    #[error(transparent)]
    Stdio(#[from] StdioError),
    /// Serving failed.
    #[error("{0}")]
    Serve(String),
    /// The person answered no; nothing changed.
    #[error("cancelled; nothing changed")]
    Cancelled,
}

impl CliError {
    /// The error as `--json` prints it on stderr: the admin API's envelope, so scripts read
    /// one shape from both.
    fn into_json(self) -> Value {
        let message = self.to_string();
        let code = match self {
            Self::Provision(error) => {
                // The API's code and field, with the CLI's words (`upstream-host allow`).
                let mut body = crate::admin::ApiError::from(error).body();
                body["error"]["message"] = json!(message);
                return body;
            }
            Self::Usage(_) => "usage",
            Self::Setup(_) => "setup",
            Self::Access(_) => "access",
            Self::Stdio(_) => "stdio",
            Self::Serve(_) => "serve",
            Self::Cancelled => "cancelled",
        };
        json!({"error": {"code": code, "message": message}})
    }

    /// 2: a flag's value is unusable (as clap's own usage errors); 3: the database or key;
    /// 4: what the command names does not exist; 5: provisioning refused the request;
    /// 1: anything else.
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Setup(_) => 3,
            Self::Provision(
                ProvisionError::NotFound { .. } | ProvisionError::HostNotListed { .. },
            )
            | Self::Access(AccessError::UnknownToken) => 4,
            Self::Provision(ProvisionError::Store(_) | ProvisionError::Internal(_)) => 1,
            Self::Provision(_) => 5,
            Self::Access(_) | Self::Stdio(_) | Self::Serve(_) | Self::Cancelled => 1,
        }
    }
}

/// A provisioning error as the CLI says it: a refused host names the command that allows it.
fn provision_message(error: &ProvisionError) -> String {
    error.explained(crate::provision::AllowVia::Command)
}

fn setup(message: impl std::fmt::Display) -> CliError {
    CliError::Setup(message.to_string())
}

/// Writes a line to stdout. A closed pipe (`specgate tools | head`) ends the output
/// quietly instead of panicking.
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
}

fn print(json_mode: bool, value: &Value, text: impl FnOnce() -> String) {
    if json_mode {
        out(&serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        out(&text());
    }
}

/// A view with every time as RFC 3339, as the CLI prints it: the admin API's Unix seconds
/// (`created_at`, `updated_at`, `expires_at`) and milliseconds (`at_ms`, `last_used_ms`, which
/// lose their suffix) become timestamps.
fn with_rfc3339_times(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(with_rfc3339_times).collect()),
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| {
                    let millis = key
                        .strip_suffix("_ms")
                        .filter(|k| matches!(*k, "at" | "last_used"));
                    match (value.as_i64(), millis) {
                        (Some(ms), Some(name)) => {
                            (name.to_owned(), json!(crate::provision::rfc3339_ms(ms)))
                        }
                        (Some(secs), None)
                            if matches!(
                                key.as_str(),
                                "created_at" | "updated_at" | "expires_at"
                            ) =>
                        {
                            (key, json!(crate::provision::rfc3339(secs)))
                        }
                        _ => (key, with_rfc3339_times(value)),
                    }
                })
                .collect(),
        ),
        other => other,
    }
}

/// Whether a command may create the database and key, or needs them to exist.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Create,
    Existing,
}

/// Where the key lives: `SPECGATE_SECRET_KEY`, `--key-file`/`SPECGATE_KEY_FILE`, or
/// `secret.key` next to the SQLite database, so every command run on one database finds the
/// same key whatever its working directory.
fn key_file(common: &Common) -> Result<PathBuf, CliError> {
    if let Some(path) = &common.key_file {
        return Ok(path.clone());
    }
    match sqlite_file(&common.database) {
        Some(db) => Ok(db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("secret.key")),
        None => Err(setup(
            "a PostgreSQL database needs its key given explicitly: set SPECGATE_SECRET_KEY, or --key-file / SPECGATE_KEY_FILE (the same key on every instance)",
        )),
    }
}

/// Creates the default data directory with mode 0700 (only that one: a mistyped
/// `--database` never creates directories).
fn prepare_default_data_dir(common: &Common, open: Open) -> Result<(), CliError> {
    if common.database != DEFAULT_DATABASE {
        return Ok(());
    }
    let dir = Path::new(DEFAULT_DATA_DIR);
    if !dir.exists() {
        if open == Open::Existing {
            return Ok(());
        }
        crate::crypto::create_private_dir(dir)
            .map_err(|e| setup(format!("cannot create {}: {e}", dir.display())))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| setup(format!("cannot restrict {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Opens the database and key, and checks that the database was set up with this key.
async fn open_store(common: &Common, open: Open) -> Result<(Store, Keys), CliError> {
    prepare_default_data_dir(common, open)?;
    let env_key = std::env::var("SPECGATE_SECRET_KEY").ok();
    // With the key in the environment no key file is read, so PostgreSQL needs no path.
    let key_file = match env_key {
        Some(_) => PathBuf::new(),
        None => key_file(common)?,
    };
    if open == Open::Existing && env_key.is_none() && !key_file.exists() {
        let database_exists = sqlite_file(&common.database).is_none_or(|db| db.exists());
        return Err(setup(if database_exists {
            format!(
                "no key file at {}: this database's key is elsewhere; pass --key-file or SPECGATE_KEY_FILE (or SPECGATE_SECRET_KEY)",
                key_file.display()
            )
        } else {
            format!(
                "no database at {}; `specgate init` or `specgate serve` creates it (or fix --database)",
                common.database
            )
        }));
    }
    let store = Store::open(&common.database, open == Open::Create)
        .await
        .map_err(setup)?;
    // A key is created only for a database that records none: next to one that records
    // another key's fingerprint, a new key would only be a wrong one left on disk.
    let recorded = store.setting(KEY_FINGERPRINT).await.map_err(setup)?;
    if let Some(expected) = &recorded
        && env_key.is_none()
        && !key_file.exists()
    {
        return Err(setup(format!(
            "no key file at {}, and this database was written with the key of fingerprint {expected}; no new key was made. Point --key-file / SPECGATE_KEY_FILE or SPECGATE_SECRET_KEY at that key (a `specgate backup` holds it)",
            key_file.display()
        )));
    }
    let keys = Keys::load(
        env_key.as_deref(),
        &key_file,
        open == Open::Create && recorded.is_none(),
    )
    .map_err(setup)?;
    let expected = store
        .setting_or_insert(KEY_FINGERPRINT, keys.fingerprint())
        .await
        .map_err(setup)?;
    if expected != keys.fingerprint() && Some(expected.as_str()) != keys.previous_fingerprint() {
        let source = if env_key.is_some() {
            "SPECGATE_SECRET_KEY".to_owned()
        } else {
            key_file.display().to_string()
        };
        return Err(setup(format!(
            "the key from {source} (fingerprint {}) is not this database's key: it expects the key with fingerprint {expected}. Point --key-file / SPECGATE_KEY_FILE or SPECGATE_SECRET_KEY at that key",
            keys.fingerprint()
        )));
    }
    Ok((store, keys))
}

/// State for a CLI command: the public URL comes from SPECGATE_PUBLIC_URL or from the one the
/// server recorded in the database, so printed URLs match the running server.
async fn cli_state(common: &Common, allow_insecure_upstreams: bool) -> Result<AppState, CliError> {
    let (store, keys) = open_store(common, Open::Existing).await?;
    let public_url = match std::env::var("SPECGATE_PUBLIC_URL") {
        Ok(url) => Some(url),
        Err(_) => store.setting(PUBLIC_URL).await.map_err(setup)?,
    };
    let config = Config {
        public_url,
        allow_insecure_upstreams,
        sse_max_sessions: 0,
        sse_max_sessions_per_server: 0,
        // Only `serve` prunes the audit log.
        audit_retention: Duration::MAX,
        ..Config::default()
    };
    Ok(AppState::new(config, store, keys, common.registry))
}

/// A secret flag's value: `-` reads standard input, `@FILE` the file, anything else is the
/// value itself. A trailing newline, as editors and `echo` leave, is dropped.
fn secret_value(flag: &str, given: &str) -> Result<String, CliError> {
    let read = if given == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::Usage(format!("--{flag} -: cannot read standard input: {e}")))?
    } else if let Some(path) = given.strip_prefix('@') {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("--{flag} @{path}: cannot read the file: {e}")))?
    } else {
        return Ok(given.to_owned());
    };
    Ok(read.trim_end_matches(['\n', '\r']).to_owned())
}

/// An update that names nothing to change: a usage error (exit 2), so a script that lost a
/// flag hears of it.
fn nothing_to_change() -> CliError {
    CliError::Usage("nothing to change: give at least one of the flags `--help` lists".to_owned())
}

/// Asks `question` on the terminal; anything but `y` or `yes` cancels (exit 1).
fn confirm(question: &str) -> Result<(), CliError> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::Usage(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Cancelled)
    }
}

/// A view as JSON for printing (views always serialize), its times as RFC 3339.
fn json_of(value: impl serde::Serialize) -> Value {
    with_rfc3339_times(serde_json::to_value(value).unwrap_or_default())
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let common = cli.common;
    match cli.command {
        Command::Init => init(&common).await,
        Command::Backup { to } => backup(&common, &to).await,
        Command::Key(KeyCommand::Rotate { finish }) => rotate_key(&common, finish).await,
        Command::Serve(args) => serve_command(&common, args).await,
        Command::Demo(args) => demo(&common, args).await,
        #[cfg(unix)]
        Command::Reload {
            pid_file,
            timeout_secs,
        } => {
            let (old, new) = tokio::task::spawn_blocking(move || {
                crate::handover::request_reload(&pid_file, Duration::from_secs(timeout_secs))
            })
            .await
            .map_err(|e| CliError::Serve(e.to_string()))?
            .map_err(|e| CliError::Serve(e.to_string()))?;
            out(&format!("reloaded: process {old} handed over to {new}"));
            Ok(())
        }
        #[cfg(unix)]
        Command::Dev {
            workspace,
            serve_args,
        } => {
            let database = common.database.clone();
            let key_file = common.key_file.clone();
            tokio::task::spawn_blocking(move || {
                crate::dev::run(&workspace, &database, key_file.as_deref(), &serve_args)
            })
            .await
            .map_err(|e| CliError::Serve(e.to_string()))?
            .map_err(|e| CliError::Serve(e.to_string()))
        }
        #[cfg(not(unix))]
        Command::Reload { .. } | Command::Dev { .. } => Err(CliError::Usage(
            "reload and dev need a Unix system".to_owned(),
        )),
        Command::Stdio {
            mcp_token,
            allow_insecure_upstreams,
        } => stdio(&common, &mcp_token, allow_insecure_upstreams).await,
        Command::Tools { integration } => tools(&common, integration.as_deref()),
        Command::Integrations => {
            integrations(&common);
            Ok(())
        }
        Command::ApiToken(command) => api_token(&common, command).await,
        Command::Account(command) => account(&common, command).await,
        Command::Mcp(command) => mcp(&common, command).await,
        Command::UpstreamHost(command) => upstream_host(&common, command).await,
        Command::OauthApp(command) => oauth_app(&common, command).await,
        Command::ReturnOrigin(command) => return_origin(&common, command).await,
    }
}

/// `specgate tools`.
fn tools(common: &Common, integration: Option<&str>) -> Result<(), CliError> {
    let catalog = crate::catalog::Catalog::from_registry(common.registry);
    if let Some(name) = integration
        && catalog.integration(name).is_none()
    {
        return Err(CliError::Usage(format!(
            "unknown integration `{}`",
            printable(name)
        )));
    }
    let tools: Vec<_> = catalog
        .tools()
        .iter()
        .filter(|t| integration.is_none_or(|n| t.def.integration == n))
        .collect();
    let json = Value::Array(
        tools
            .iter()
            .map(|t| tool_json(t, SchemaProfile::Full))
            .collect(),
    );
    print(common.json, &json, || {
        tools
            .iter()
            .map(|t| {
                format!(
                    "{:<55} {:<7} {}",
                    t.def.name,
                    t.def.class.as_str(),
                    t.def.title
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// `specgate integrations`.
fn integrations(common: &Common) {
    let catalog = crate::catalog::Catalog::from_registry(common.registry);
    let json = integrations_json(&catalog);
    print(common.json, &json, || {
        common
            .registry
            .iter()
            .map(|i| {
                format!(
                    "{:<12} {:>3} tools  auth: {}",
                    i.name,
                    i.tools.len(),
                    i.auth.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
}

/// Text for humans: a list of records as a table, a record as `key: value` lines (a list
/// inside it as an indented table), anything else as itself.
fn human(value: &Value) -> String {
    let records = |items: &[Value]| items.iter().all(Value::is_object);
    match value {
        Value::Array(items) if records(items) => table(items),
        Value::Array(items) => items.iter().map(human).collect::<Vec<_>>().join("\n"),
        Value::Object(object) => object
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::Array(items) if !items.is_empty() && records(items) => {
                    let rows = table(items).replace('\n', "\n  ");
                    format!("{k}:\n  {rows}")
                }
                _ => format!("{k}: {}", cell(v)),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => cell(other),
    }
}

/// Records as aligned columns under an upper-case header: every scalar field, in the order
/// first seen; nested values are left to `--json`.
fn table(rows: &[Value]) -> String {
    /// The widest a cell prints; longer ones end in `…`.
    const WIDEST: usize = 48;
    if rows.is_empty() {
        return "(none)".to_owned();
    }
    let mut columns: Vec<&str> = Vec::new();
    for (key, value) in rows.iter().filter_map(Value::as_object).flatten() {
        if !value.is_object() && !value.is_array() && !columns.contains(&key.as_str()) {
            columns.push(key);
        }
    }
    let shorten = |text: String| {
        if text.chars().count() > WIDEST {
            text.chars().take(WIDEST - 1).chain(['…']).collect()
        } else {
            text
        }
    };
    let mut lines: Vec<Vec<String>> = vec![columns.iter().map(|c| c.to_uppercase()).collect()];
    lines.extend(rows.iter().map(|row| {
        columns
            .iter()
            .map(|column| shorten(row.get(*column).map_or_else(String::new, cell)))
            .collect()
    }));
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    lines
        .iter()
        .map(|line| {
            line.iter()
                .zip(&widths)
                .map(|(text, width)| format!("{text:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One value as text: strings bare, `null` empty, the rest as JSON; never a control character.
fn cell(value: &Value) -> String {
    match value {
        Value::String(text) => printable(text),
        Value::Null => String::new(),
        other => printable(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag and argument of every command says what it is for in `--help`.
    #[test]
    fn every_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for argument in command.get_arguments() {
                let id = argument.get_id().as_str();
                if !matches!(id, "help" | "version") && argument.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(
            &<Cli as clap::CommandFactory>::command(),
            "specgate",
            &mut missing,
        );
        assert!(
            missing.is_empty(),
            "arguments without help:\n{}",
            missing.join("\n")
        );
    }

    /// `--scope` repeats into a list, and leaving it out keeps the OAuth app's scopes, for
    /// `account connect` and `account reconnect` alike.
    #[test]
    fn consent_flags_read_repeated_scopes_and_none_for_the_apps() {
        let consent = |arguments: &[&str]| {
            let cli = <Cli as clap::Parser>::try_parse_from(arguments).expect("parses");
            match cli.command {
                Command::Account(
                    AccountCommand::Connect { consent, .. }
                    | AccountCommand::Reconnect { consent, .. },
                ) => consent,
                _ => panic!("not an account consent command"),
            }
        };
        let connect = consent(&[
            "specgate",
            "account",
            "connect",
            "--integration",
            "roserocket",
            "--name",
            "ops",
            "--scope",
            "read",
            "--scope",
            "offline_access",
            "--wait",
            "0",
        ]);
        assert_eq!(
            (connect.scopes, connect.wait),
            (
                Some(vec!["read".to_owned(), "offline_access".to_owned()]),
                0
            )
        );
        let reconnect = consent(&["specgate", "account", "reconnect", "acc_1"]);
        assert_eq!(
            (reconnect.scopes, reconnect.return_to, reconnect.wait),
            (None, None, 600)
        );
    }
}
