//! The `specgate` command line: serve compiled vendor tools over MCP, and provision who may
//! use them. The `specgate` binary (`cli/`) calls [`main`] with the compiled registry.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use specgate_runtime::Integration;
use tokio_util::sync::CancellationToken;

use crate::access::AccessError;
use crate::call::Credentials;
use crate::catalog::tool_json;
use crate::connect::{Connect, ConnectStarted, Reconnect, SetOAuthApp};
use crate::crypto::Keys;
use crate::mcp::StdioError;
use crate::provision::{
    CallsPage, CreateAccount, CreateServer, ProvisionError, Provisioner, UpdateAccount,
    UpdateServer, integrations_json, printable,
};
use crate::store::{
    Confirm, ConfirmFallback, ConnectionOutcome, Filter, SchemaProfile, ServerConfig, Store,
    TokenScope, ToolExposure, sqlite_file,
};
use crate::{AppState, Config, app, sandbox, serving};

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

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SPECGATE_LISTEN")]
    listen: SocketAddr,
    /// Public base URL that MCP URLs are built on: an absolute http(s) URL without a path,
    /// https unless its host is loopback (default: http://<listen>). Recorded in the database
    /// only when given, for the links CLI commands print.
    #[arg(long, env = "SPECGATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Accept an http:// --public-url on a host that is not loopback (OAuth and connect
    /// cookies then travel unencrypted).
    #[arg(long, env = "SPECGATE_ALLOW_HTTP_PUBLIC_URL")]
    allow_http_public_url: bool,
    /// Extra accepted Host names (repeatable); loopback is always accepted.
    #[arg(
        long = "allowed-host",
        env = "SPECGATE_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Accepted browser Origins (repeatable), e.g. https://chatgpt.com.
    #[arg(
        long = "allowed-origin",
        env = "SPECGATE_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Allow http:// loopback base URLs for accounts (tests and demos only).
    #[arg(long, env = "SPECGATE_ALLOW_INSECURE_UPSTREAMS")]
    allow_insecure_upstreams: bool,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 1024 * 1024, env = "SPECGATE_MAX_BODY_BYTES")]
    max_body_bytes: usize,
    /// Tools per tools/list page.
    #[arg(long, default_value_t = 100, env = "SPECGATE_TOOLS_PAGE_SIZE")]
    tools_page_size: usize,
    /// Seconds a vendor request may take.
    #[arg(long, default_value_t = 30, env = "SPECGATE_UPSTREAM_TIMEOUT_SECS")]
    upstream_timeout_secs: u64,
    /// Most concurrent legacy HTTP+SSE sessions.
    #[arg(long, default_value_t = 1024, env = "SPECGATE_SSE_MAX_SESSIONS")]
    sse_max_sessions: usize,
    /// Most concurrent legacy HTTP+SSE sessions of one MCP server.
    #[arg(
        long,
        default_value_t = 16,
        env = "SPECGATE_SSE_MAX_SESSIONS_PER_SERVER"
    )]
    sse_max_sessions_per_server: usize,
    /// Seconds a legacy SSE session may stay without a message before it is closed.
    #[arg(long, default_value_t = 300, env = "SPECGATE_SSE_IDLE_SECS")]
    sse_idle_secs: u64,
    /// Seconds between SIGTERM (or Ctrl-C) and closing the listener, while `/readyz` already
    /// answers 503, so a load balancer stops sending traffic first.
    #[arg(long, default_value_t = 0, env = "SPECGATE_SHUTDOWN_DRAIN_SECS")]
    shutdown_drain_secs: u64,
    /// Seconds in-flight calls may take to finish once the listener closes.
    #[arg(long, default_value_t = 30, env = "SPECGATE_SHUTDOWN_GRACE_SECS")]
    shutdown_grace_secs: u64,
    /// Days the audit log keeps a tool call.
    #[arg(long, env = "SPECGATE_AUDIT_RETENTION_DAYS", default_value_t = 30)]
    audit_retention_days: u64,
    /// A reverse proxy (address or CIDR network, repeatable) whose `X-Forwarded-For` names the
    /// client that sign-in and registration limits count. Without one the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "SPECGATE_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = crate::peer::parse_trusted_proxy
    )]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Where `serve` writes its process id, for `specgate reload` (a process that takes over
    /// writes its own).
    #[arg(long, env = "SPECGATE_PID_FILE")]
    pid_file: Option<PathBuf>,
    /// Seconds a new binary may take to start serving on a reload before it is given up.
    #[arg(long, default_value_t = 60, env = "SPECGATE_RELOAD_TIMEOUT_SECS")]
    reload_timeout_secs: u64,
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

#[derive(Subcommand)]
enum KeyCommand {
    /// Rotate the key that seals credentials and secrets, in two steps: this writes a new key
    /// file that still opens what the old key sealed; reload every server (`specgate reload`
    /// or a restart), then `key rotate --finish` seals every stored secret again with the new
    /// key in one transaction. Token hashes keep their pepper (they cannot be rewritten
    /// without the tokens), so every URL and token keeps working.
    Rotate {
        /// Seal every stored secret again with the new key and drop the old one.
        #[arg(long)]
        finish: bool,
    },
}

#[derive(Subcommand)]
enum OAuthAppCommand {
    /// Register (or replace) the OAuth app; register specgate's callback URL at the vendor.
    Set {
        /// The integration (`specgate integrations` lists them).
        #[arg(long)]
        integration: String,
        /// The client id the vendor issued.
        #[arg(long)]
        client_id: String,
        /// The secret, `@FILE` or `-` (standard input); best from the environment, so it stays
        /// out of the process list and shell history.
        #[arg(long, env = "SPECGATE_OAUTH_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// The consent page, when the vendor's host is per tenant.
        #[arg(long)]
        authorize_url: Option<String>,
        /// The token endpoint, when the vendor's host is per tenant.
        #[arg(long)]
        token_url: Option<String>,
        /// Scopes connections ask for (repeat the flag).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Allow http:// loopback URLs (tests and the demo).
        #[arg(long)]
        allow_insecure_upstreams: bool,
    },
    /// Show the OAuth app (never its secret) and the callback URL to register.
    Show {
        /// The integration (`specgate integrations` lists them).
        #[arg(long)]
        integration: String,
    },
    /// Remove the OAuth app.
    Remove {
        /// The integration (`specgate integrations` lists them).
        #[arg(long)]
        integration: String,
    },
}

#[derive(Subcommand)]
enum ReturnOriginCommand {
    /// Allow an origin, e.g. https://app.example.com.
    Allow {
        /// An origin: scheme, host and port, e.g. https://app.example.com.
        origin: String,
    },
    /// List the allowed origins.
    List,
    /// Remove an allowed origin.
    Remove {
        /// An origin: scheme, host and port, e.g. https://app.example.com.
        origin: String,
    },
}

#[derive(Subcommand)]
enum UpstreamHostCommand {
    /// Allow a host (or `*.example.com`) for an integration's base URLs and token URLs.
    Allow {
        /// The integration (`specgate integrations` lists them).
        #[arg(long)]
        integration: String,
        /// A host name, or `*.suffix` for its subdomains.
        host: String,
    },
    /// Show the declared and allowed hosts of an integration.
    List {
        /// The integration (`specgate integrations` lists them).
        #[arg(long)]
        integration: String,
    },
    /// Remove an allowed host.
    Remove {
        /// The integration (`specgate integrations` lists them).
        #[arg(long)]
        integration: String,
        /// A host name, or `*.suffix` for its subdomains.
        host: String,
    },
}

#[derive(Subcommand)]
enum ApiTokenCommand {
    /// Create a token; it is printed once.
    Create {
        /// What the token is for, as lists show it.
        #[arg(long)]
        name: String,
        /// `admin`: the admin API and every MCP server's second factor. `mcp`: only the second
        /// factor of MCP servers (`require_api_token_auth`); refused by the admin API.
        #[arg(long, value_enum, default_value = "admin")]
        scope: TokenScope,
        /// Bind an `mcp` token to one account's MCP servers.
        #[arg(long)]
        account: Option<String>,
        /// When it stops opening anything (RFC 3339); it lasts until revoked without.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List tokens (never the secrets), with each one's expiry and last tool call.
    List,
    /// Revoke a token by id.
    Revoke {
        /// The API token's id (`api-token list` shows them).
        id: String,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Register a vendor account.
    Create {
        /// The integration (`specgate integrations` lists them).
        #[arg(long)]
        integration: String,
        /// The account's display name.
        #[arg(long)]
        name: String,
        /// Credentials as JSON (e.g. '{"api_key": "sk_..."}'), `@FILE` or `-` (standard input);
        /// best from a file, standard input or the environment, since an inline value lands in
        /// shell history and the process list.
        #[arg(long, env = "SPECGATE_CREDENTIALS", hide_env_values = true)]
        credentials: String,
        /// The vendor API's base URL, for a per-tenant host (the spec's by default).
        #[arg(long)]
        base_url: Option<String>,
        /// Allow an http:// loopback base URL.
        #[arg(long)]
        allow_insecure_upstreams: bool,
    },
    /// List accounts.
    List,
    /// Show one account.
    Get {
        /// The account's id (`account list` shows them).
        id: String,
    },
    /// Rename, rotate credentials, or move to another base URL (which needs new credentials).
    Update {
        /// The account's id (`account list` shows them).
        id: String,
        /// The account's display name.
        #[arg(long)]
        name: Option<String>,
        /// New credentials as JSON, `@FILE` or `-` (standard input).
        #[arg(long)]
        credentials: Option<String>,
        /// The vendor API's base URL, for a per-tenant host (the spec's by default).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Delete an account with its MCP servers (their URLs and OAuth grants end) and the API
    /// tokens bound to it; on a terminal it says what goes and asks first.
    Delete {
        /// The account's id (`account list` shows them).
        id: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Connect an account through the vendor's consent: prints the URL to open, then waits
    /// for the vendor's callback and prints the account.
    Connect {
        /// The integration (`specgate integrations` lists them).
        #[arg(long)]
        integration: String,
        /// The account's display name.
        #[arg(long)]
        name: String,
        /// The vendor API's base URL, for a per-tenant host (the spec's by default).
        #[arg(long)]
        base_url: Option<String>,
        /// Scopes to ask for instead of the OAuth app's (repeat the flag).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Where the browser goes afterwards (an allowed origin).
        #[arg(long)]
        return_to: Option<String>,
        /// Seconds to wait for the callback; 0 prints the URL and returns.
        #[arg(long, default_value_t = 600)]
        wait: u64,
        /// Allow an http:// loopback base URL.
        #[arg(long)]
        allow_insecure_upstreams: bool,
    },
    /// Connect an account again (after `needs_reconnect`), keeping its id and MCP servers.
    Reconnect {
        /// The account's id (`account list` shows them).
        id: String,
        /// OAuth scopes to ask for (repeat the flag); the app's by default.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Where the browser goes after the callback; its origin must be allowed (`return-origin allow`).
        #[arg(long)]
        return_to: Option<String>,
        /// Seconds to wait for the vendor's callback.
        #[arg(long, default_value_t = 600)]
        wait: u64,
        /// Accept a vendor user or tenant other than the one the account was first connected
        /// as (without it, such a reconnect is refused and nothing changes).
        #[arg(long)]
        accept_other_identity: bool,
    },
}

#[derive(Subcommand)]
enum McpCommand {
    /// Provision an MCP server; its URL is printed once.
    Create {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The server's display name.
        #[arg(long)]
        name: String,
        /// Comma-separated: read, write, custom, or method names (default: all).
        #[arg(long, value_delimiter = ',', default_value = "all")]
        methods: Vec<String>,
        /// Comma-separated tags (default: all).
        #[arg(long, value_delimiter = ',', default_value = "all")]
        tags: Vec<String>,
        /// Comma-separated tool names to allow (default: all).
        #[arg(long, value_delimiter = ',', default_value = "all")]
        tools: Vec<String>,
        /// Comma-separated tool names never to expose.
        #[arg(long, value_delimiter = ',')]
        exclude_tools: Vec<String>,
        #[command(flatten)]
        switches: Switches,
        /// The most bytes a tools/call result takes (2,000 to 2,000,000).
        #[arg(long, default_value_t = crate::store::DEFAULT_MAX_RESULT_BYTES)]
        max_result_bytes: u32,
        /// `all` tools listed, or `discovery`: search_tools, get_tool_schema and call_tool.
        #[arg(long, value_enum, default_value = "all")]
        tool_exposure: ExposureArg,
        /// Tool schemas listed by default: `full` (JSON Schema 2020-12) or `portable` (the
        /// subset every major client accepts). `<url>/portable` serves portable either way.
        #[arg(long, value_enum, default_value = "full")]
        schema_profile: ProfileArg,
        /// Calls that wait for a person's confirmation: `never`, `destructive` (deletes and
        /// overwrites), `writes` (every tool that is not read-only), or comma-separated tool
        /// names.
        #[arg(long, value_parser = confirm_flag, default_value = "never")]
        confirm: Confirm,
        /// Where the client cannot ask the person: `refuse` the call, or `allow` it unconfirmed.
        #[arg(long, value_enum, default_value = "refuse")]
        confirm_fallback: FallbackArg,
        /// RFC 3339 expiry.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List an account's MCP servers.
    List {
        /// The account's id.
        #[arg(long)]
        account: String,
    },
    /// Show one MCP server.
    Get {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The MCP server's id (`mcp list` shows them).
        id: String,
    },
    /// Change a server's name, filters or expiry; only the flags given change.
    Update {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The MCP server's id (`mcp list` shows them).
        id: String,
        /// The server's display name.
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated; `all` for every method.
        #[arg(long, value_delimiter = ',')]
        methods: Option<Vec<String>>,
        /// Comma-separated; `all` for every tag.
        #[arg(long, value_delimiter = ',')]
        tags: Option<Vec<String>>,
        /// Comma-separated tool names; `all` for every tool.
        #[arg(long, value_delimiter = ',')]
        tools: Option<Vec<String>>,
        /// Comma-separated tool names never to expose; an empty value clears the list.
        #[arg(long, value_delimiter = ',')]
        exclude_tools: Option<Vec<String>>,
        #[command(flatten)]
        switches: Switches,
        /// The most bytes a tools/call result takes (2,000 to 2,000,000).
        #[arg(long)]
        max_result_bytes: Option<u32>,
        /// `all` or `discovery`.
        #[arg(long, value_enum)]
        tool_exposure: Option<ExposureArg>,
        /// `full` or `portable`.
        #[arg(long, value_enum)]
        schema_profile: Option<ProfileArg>,
        /// `never`, `destructive`, `writes`, or comma-separated tool names.
        #[arg(long, value_parser = confirm_flag)]
        confirm: Option<Confirm>,
        /// `refuse` or `allow`.
        #[arg(long, value_enum)]
        confirm_fallback: Option<FallbackArg>,
        /// RFC 3339 expiry.
        #[arg(long, conflicts_with = "no_expiry")]
        expires_at: Option<String>,
        /// Remove the expiry.
        #[arg(long)]
        no_expiry: bool,
    },
    /// Issue a new URL and revoke the old one.
    Rotate {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The MCP server's id (`mcp list` shows them).
        id: String,
    },
    /// Delete an MCP server.
    Delete {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The MCP server's id (`mcp list` shows them).
        id: String,
    },
    /// Preview exactly the tools a server exposes, with their schemas.
    Tools {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The MCP server's id (`mcp list` shows them).
        id: String,
        /// Show the schemas of this profile instead of the server's own.
        #[arg(long, value_enum)]
        schema_profile: Option<ProfileArg>,
    },
    /// The clients signed in to the server with OAuth (its grants).
    Grants {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The MCP server's id (`mcp list` shows them).
        id: String,
    },
    /// Revoke a grant: its tokens stop working at once, on every instance.
    RevokeGrant {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The MCP server's id (`mcp list` shows them).
        id: String,
        /// The grant's id (`mcp grants` lists them).
        grant: String,
    },
    /// The server's tool calls from the audit log, newest first (also after it was deleted).
    Calls {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The MCP server's id (`mcp list` shows them).
        id: String,
        /// Rows per page (1–500).
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// `next_cursor` of the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
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

fn serve_config(
    args: &ServeArgs,
    allow_insecure: bool,
    serving_threads: usize,
) -> Result<Config, CliError> {
    let public_url = match &args.public_url {
        Some(given) => check_public_url(given, args.allow_http_public_url)?,
        None => format!("http://{}", args.listen),
    };
    Ok(Config {
        public_url: Some(public_url),
        allowed_hosts: args.allowed_hosts.clone(),
        allowed_origins: args.allowed_origins.clone(),
        allow_insecure_upstreams: args.allow_insecure_upstreams || allow_insecure,
        max_body_bytes: args.max_body_bytes,
        tools_page_size: args.tools_page_size,
        upstream_timeout: Duration::from_secs(args.upstream_timeout_secs),
        sse_max_sessions: args.sse_max_sessions,
        sse_max_sessions_per_server: args.sse_max_sessions_per_server,
        sse_idle: Duration::from_secs(args.sse_idle_secs),
        audit_retention: Duration::from_secs(args.audit_retention_days.saturating_mul(86_400)),
        serving_threads,
        trusted_proxies: args.trusted_proxies.clone(),
    })
}

/// `--worker-threads`, or one per core.
fn serving_threads(common: &Common) -> usize {
    common.worker_threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    )
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

fn parse_credentials(given: &str) -> Result<Credentials, CliError> {
    serde_json::from_str(&secret_value("credentials", given)?)
        .map_err(|e| CliError::Usage(format!("--credentials is not valid credentials JSON: {e}")))
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

/// `specgate init`.
async fn init(common: &Common) -> Result<(), CliError> {
    let (_, keys) = open_store(common, Open::Create).await?;
    let key = match std::env::var("SPECGATE_SECRET_KEY") {
        Ok(_) => "SPECGATE_SECRET_KEY".to_owned(),
        Err(_) => key_file(common)?.display().to_string(),
    };
    print(
        common.json,
        &json!({"database": common.database, "key": key, "key_fingerprint": keys.fingerprint()}),
        || {
            format!(
                "database: {}\nkey: {key} (fingerprint {})",
                common.database,
                keys.fingerprint()
            )
        },
    );
    Ok(())
}

/// `specgate backup`: the database (SQLite) and the key, into a new private directory, each
/// file 0600; a restore is `--database sqlite://<dir>/specgate.db --key-file <dir>/secret.key`.
async fn backup(common: &Common, to: &Path) -> Result<(), CliError> {
    let (store, keys) = open_store(common, Open::Existing).await?;
    if to.exists() {
        return Err(CliError::Usage(format!(
            "{} exists already; back up into a new directory",
            to.display()
        )));
    }
    crate::crypto::create_private_dir(to)
        .map_err(|e| setup(format!("cannot create {}: {e}", to.display())))?;
    let key_path = to.join("secret.key");
    let key = match std::env::var("SPECGATE_SECRET_KEY") {
        Ok(encoded) => encoded.trim().to_owned(),
        Err(_) => std::fs::read_to_string(key_file(common)?)
            .map_err(|e| setup(format!("cannot read the key: {e}")))?
            .trim()
            .to_owned(),
    };
    let mut file = crate::crypto::create_private_file(&key_path)
        .map_err(|e| setup(format!("cannot write {}: {e}", key_path.display())))?;
    file.write_all(key.as_bytes())
        .map_err(|e| setup(format!("cannot write {}: {e}", key_path.display())))?;
    let database = if sqlite_file(&common.database).is_some() {
        let path = to.join("specgate.db");
        store.backup_into(&path).await.map_err(setup)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| setup(format!("cannot restrict {}: {e}", path.display())))?;
        }
        Some(path)
    } else {
        None
    };
    let restore = database.as_ref().map(|path| {
        format!(
            "specgate --database sqlite://{} --key-file {} ...",
            path.display(),
            key_path.display()
        )
    });
    let note = "PostgreSQL: dump the database with pg_dump (e.g. `pg_dump --format=custom`); the key is in the backup, and the dump is useless without it";
    print(
        common.json,
        &json!({
            "database": database.as_ref().map(|p| p.display().to_string()),
            "key": key_path.display().to_string(),
            "key_fingerprint": keys.fingerprint(),
            "restore": restore,
            "note": database.is_none().then_some(note),
        }),
        || match (&database, &restore) {
            (Some(path), Some(restore)) => format!(
                "database: {}\nkey: {} (fingerprint {})\nrestore with: {restore}",
                path.display(),
                key_path.display(),
                keys.fingerprint()
            ),
            _ => format!(
                "key: {} (fingerprint {})\n{note}",
                key_path.display(),
                keys.fingerprint()
            ),
        },
    );
    Ok(())
}

/// `specgate key rotate [--finish]`.
async fn rotate_key(common: &Common, finish: bool) -> Result<(), CliError> {
    if std::env::var_os("SPECGATE_SECRET_KEY").is_some() {
        return Err(CliError::Usage(
            "the key comes from SPECGATE_SECRET_KEY; `key rotate` rewrites a key file, so point --key-file at one holding the key instead".to_owned(),
        ));
    }
    let (store, keys) = open_store(common, Open::Existing).await?;
    let path = key_file(common)?;
    let under_way = keys.previous_fingerprint().map(str::to_owned);
    let value = match (finish, under_way) {
        (false, Some(_)) => {
            return Err(CliError::Usage(
                "a rotation is under way: reload every server, then run `specgate key rotate --finish`".to_owned(),
            ));
        }
        (true, None) => {
            return Err(CliError::Usage(
                "no rotation is under way: `specgate key rotate` starts one".to_owned(),
            ));
        }
        (false, None) => {
            let rotated = keys.rotated().map_err(setup)?;
            rotated.write(&path).map_err(setup)?;
            json!({
                "key": path.display().to_string(),
                "key_fingerprint": rotated.fingerprint(),
                "previous_fingerprint": keys.fingerprint(),
                "next": "reload every server (specgate reload, or restart it), then run `specgate key rotate --finish`",
            })
        }
        (true, Some(previous)) => {
            let resealed = store
                .reseal_all(
                    |sealed| {
                        let plain = keys
                            .open(sealed)
                            .map_err(|_| crate::store::StoreError::Unsealable)?;
                        keys.seal(&plain)
                            .map_err(|_| crate::store::StoreError::Unsealable)
                    },
                    (KEY_FINGERPRINT, keys.fingerprint()),
                )
                .await
                .map_err(setup)?;
            keys.without_previous().write(&path).map_err(setup)?;
            json!({
                "key": path.display().to_string(),
                "key_fingerprint": keys.fingerprint(),
                "retired_fingerprint": previous,
                "secrets_sealed_again": resealed,
            })
        }
    };
    print(common.json, &value, || human(&value));
    Ok(())
}

/// `specgate serve`.
async fn serve_command(common: &Common, args: ServeArgs) -> Result<(), CliError> {
    // Settings are checked before anything is bound, opened or created.
    let config = serve_config(&args, false, serving_threads(common))?;
    #[cfg(unix)]
    let (listener, swap) = {
        let (listener, ready) = match crate::handover::take_over() {
            Some(taken) => {
                let (listener, ready) = taken.map_err(|e| CliError::Serve(e.to_string()))?;
                let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| {
                    CliError::Serve(format!("cannot serve the handed-over socket: {e}"))
                })?;
                (listener, Some(ready))
            }
            None => (bind(args.listen).await?, None),
        };
        let swap = crate::handover::Swap::new(
            args.pid_file.clone(),
            Duration::from_secs(args.reload_timeout_secs),
            ready,
        )
        .map_err(|e| CliError::Serve(format!("cannot handle SIGHUP: {e}")))?;
        (listener, Some(swap))
    };
    #[cfg(not(unix))]
    let (listener, swap) = (bind(args.listen).await?, None);
    let (store, keys) = open_store(common, Open::Create).await?;
    record_public_url(&store, &args, &config).await?;
    let state = AppState::new(config, store, keys, common.registry);
    watch_signals(&state.shutdown)?;
    out(&format!(
        "specgate {} listening on http://{}, public URL {}",
        env!("CARGO_PKG_VERSION"),
        args.listen,
        state.issuer().unwrap_or_default()
    ));
    out(&format!("  database: {}", common.database));
    out(&format!(
        "  console: http://{}/console (sign in with an admin API token)",
        args.listen
    ));
    out(&format!(
        "  integrations: {}",
        common
            .registry
            .iter()
            .map(|i| i.name)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out("next:");
    out("  specgate api-token create --name admin");
    out(
        "  specgate account create --integration malomo --name acme --credentials '{\"api_key\":\"sk_...\"}'",
    );
    out("  specgate mcp create --account <id> --name support --methods read");
    out("  or try everything without credentials: specgate demo");
    serve(state, listener, Shutdown::from(&args), swap).await
}

/// `specgate stdio`: one MCP server over stdin and stdout. Credentials are read per call:
/// the process outlives any one read.
async fn stdio(
    common: &Common,
    mcp_token: &str,
    allow_insecure_upstreams: bool,
) -> Result<(), CliError> {
    let state = cli_state(common, allow_insecure_upstreams).await?;
    let resolved = state.resolve_mcp_token_uncached(mcp_token).await?;
    Ok(crate::mcp::serve_stdio(state, resolved).await?)
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

/// `specgate api-token ...`.
async fn api_token(common: &Common, command: ApiTokenCommand) -> Result<(), CliError> {
    let p = Provisioner::new(cli_state(common, false).await?);
    match command {
        ApiTokenCommand::Create {
            name,
            scope,
            account,
            expires_at,
        } => {
            let (record, token) = p
                .create_api_token_until(&name, scope, account.as_deref(), expires_at.as_deref())
                .await?;
            let mut value = json_of(&record);
            value["token"] = json!(token);
            print(common.json, &value, || {
                format!(
                    "API token {} ({} scope) created. It is shown only now:\n{token}",
                    record.id,
                    value["scope"].as_str().unwrap_or_default()
                )
            });
        }
        ApiTokenCommand::List => {
            let value = json_of(p.list_api_tokens().await?);
            print(common.json, &value, || human(&value));
        }
        ApiTokenCommand::Revoke { id } => {
            p.revoke_api_token(&id).await?;
            print(common.json, &json!({"revoked": id}), || {
                format!("revoked {id}")
            });
        }
    }
    Ok(())
}

/// `specgate account ...`.
async fn account(common: &Common, command: AccountCommand) -> Result<(), CliError> {
    let allow = matches!(
        command,
        AccountCommand::Create {
            allow_insecure_upstreams: true,
            ..
        } | AccountCommand::Connect {
            allow_insecure_upstreams: true,
            ..
        }
    );
    let p = Provisioner::new(cli_state(common, allow).await?);
    let value = match command {
        AccountCommand::Create {
            integration,
            name,
            credentials,
            base_url,
            ..
        } => json_of(
            p.create_account(CreateAccount {
                integration,
                name,
                credentials: parse_credentials(&credentials)?,
                base_url,
            })
            .await?,
        ),
        AccountCommand::List => json_of(p.list_accounts().await?),
        AccountCommand::Get { id } => json_of(p.get_account(&id).await?),
        AccountCommand::Update {
            id,
            name,
            credentials,
            base_url,
        } => {
            if name.is_none() && credentials.is_none() && base_url.is_none() {
                return Err(nothing_to_change());
            }
            let request = UpdateAccount {
                name,
                credentials: credentials.as_deref().map(parse_credentials).transpose()?,
                base_url: base_url.map(Some),
            };
            json_of(p.update_account(&id, request).await?)
        }
        AccountCommand::Delete { id, yes } => {
            let account = p.account(&id).await?;
            let servers: Vec<Value> = p
                .list_servers(&id)
                .await?
                .into_iter()
                .map(|s| json!({"id": s.id, "name": s.name}))
                .collect();
            let api_tokens = p
                .list_api_tokens()
                .await?
                .into_iter()
                .filter(|t| t.token.account_id.as_deref() == Some(id.as_str()))
                .count();
            if !yes && std::io::stdin().is_terminal() {
                confirm(&format!(
                    "Delete account {} ({}) with its {} MCP server(s) (their URLs and OAuth grants stop working) and the {api_tokens} API token(s) bound to it?",
                    printable(&account.name),
                    account.integration,
                    servers.len()
                ))?;
            }
            p.delete_account(&id).await?;
            json!({"deleted": id, "mcp_servers": servers, "api_tokens": api_tokens})
        }
        AccountCommand::Connect {
            integration,
            name,
            base_url,
            scopes,
            return_to,
            wait,
            ..
        } => {
            let request = Connect {
                integration,
                name,
                base_url,
                scopes: (!scopes.is_empty()).then_some(scopes),
                return_to,
            };
            let started = p.connect(request).await?;
            wait_for_connection(common, &p, started, wait).await?
        }
        AccountCommand::Reconnect {
            id,
            scopes,
            return_to,
            wait,
            accept_other_identity,
        } => {
            let request = Reconnect {
                scopes: (!scopes.is_empty()).then_some(scopes),
                return_to,
                accept_other_identity,
            };
            let started = p.reconnect(&id, request).await?;
            wait_for_connection(common, &p, started, wait).await?
        }
    };
    print(common.json, &value, || human(&value));
    Ok(())
}

/// Prints where to send the account's owner, then waits up to `wait` seconds for the vendor's
/// callback (which any instance on this database may receive) and answers the account.
async fn wait_for_connection(
    common: &Common,
    p: &Provisioner,
    started: ConnectStarted,
    wait: u64,
) -> Result<Value, CliError> {
    if wait == 0 {
        return Ok(json_of(started));
    }
    if !common.json {
        eprintln!(
            "Open this URL to connect the account (valid until {}):\n\n  {}\n\nWaiting for the vendor's callback...",
            started.expires_at, started.authorize_url
        );
    } else {
        eprintln!(
            "{}",
            json!({"authorize_url": started.authorize_url, "expires_at": started.expires_at})
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(wait);
    loop {
        match p.connection_outcome(&started.handle).await? {
            ConnectionOutcome::Connected(id) => return Ok(json_of(p.get_account(&id).await?)),
            ConnectionOutcome::Failed(error) => {
                return Err(CliError::Serve(format!(
                    "the account was not connected: {error}"
                )));
            }
            ConnectionOutcome::Unknown => {
                return Err(CliError::Serve(
                    "the connection is gone (expired and swept)".to_owned(),
                ));
            }
            ConnectionOutcome::Waiting if std::time::Instant::now() >= deadline => {
                return Err(CliError::Serve(format!(
                    "no callback within {wait} seconds; the URL stays valid until {}",
                    started.expires_at
                )));
            }
            ConnectionOutcome::Waiting => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// `specgate oauth-app`.
async fn oauth_app(common: &Common, command: OAuthAppCommand) -> Result<(), CliError> {
    let allow = matches!(
        command,
        OAuthAppCommand::Set {
            allow_insecure_upstreams: true,
            ..
        }
    );
    let p = Provisioner::new(cli_state(common, allow).await?);
    let value = match command {
        OAuthAppCommand::Set {
            integration,
            client_id,
            client_secret,
            authorize_url,
            token_url,
            scopes,
            ..
        } => {
            let request = SetOAuthApp {
                client_id,
                client_secret: secret_value("client-secret", &client_secret)?,
                authorize_url,
                token_url,
                scopes,
            };
            json_of(p.set_oauth_app(&integration, request).await?)
        }
        OAuthAppCommand::Show { integration } => json_of(p.oauth_app(&integration).await?),
        OAuthAppCommand::Remove { integration } => {
            p.remove_oauth_app(&integration).await?;
            json!({"removed": integration})
        }
    };
    print(common.json, &value, || human(&value));
    Ok(())
}

/// `specgate return-origin`.
async fn return_origin(common: &Common, command: ReturnOriginCommand) -> Result<(), CliError> {
    let p = Provisioner::new(cli_state(common, false).await?);
    let value = match command {
        ReturnOriginCommand::Allow { origin } => {
            json!({"origin": p.allow_return_origin(&origin).await?})
        }
        ReturnOriginCommand::List => json!(p.return_origins().await?),
        ReturnOriginCommand::Remove { origin } => {
            p.remove_return_origin(&origin).await?;
            json!({"removed": origin})
        }
    };
    print(common.json, &value, || human(&value));
    Ok(())
}

/// A filter flag's values as a filter.
fn filter_flag(flag: &str, values: Vec<String>) -> Result<Filter, CliError> {
    Filter::from_list(values).map_err(|e| CliError::Usage(format!("--{flag}: {e}")))
}

/// `specgate mcp update`'s flags as a merge patch of only the fields given.
fn config_patch(flags: ConfigFlags) -> Option<serde_json::Map<String, Value>> {
    let mut patch = serde_json::Map::new();
    for (field, values) in [
        ("methods", flags.methods),
        ("tags", flags.tags),
        ("tools", flags.tools),
    ] {
        if let Some(values) = values {
            patch.insert(field.to_owned(), json!(values));
        }
    }
    if let Some(excluded) = flags.exclude_tools {
        let excluded: Vec<String> = excluded.into_iter().filter(|t| !t.is_empty()).collect();
        patch.insert("exclude_tools".to_owned(), json!(excluded));
    }
    for (field, value) in [
        ("require_api_token_auth", flags.require_api_token_auth),
        ("oauth", flags.oauth),
    ] {
        if let Some(value) = value {
            patch.insert(field.to_owned(), json!(value));
        }
    }
    if let Some(bytes) = flags.max_result_bytes {
        patch.insert("max_result_bytes".to_owned(), json!(bytes));
    }
    if let Some(exposure) = flags.tool_exposure {
        patch.insert(
            "tool_exposure".to_owned(),
            json!(ToolExposure::from(exposure)),
        );
    }
    if let Some(profile) = flags.schema_profile {
        patch.insert(
            "schema_profile".to_owned(),
            json!(SchemaProfile::from(profile)),
        );
    }
    if let Some(confirm) = flags.confirm {
        patch.insert("confirm".to_owned(), json!(confirm));
    }
    if let Some(fallback) = flags.confirm_fallback {
        patch.insert(
            "confirm_fallback".to_owned(),
            json!(ConfirmFallback::from(fallback)),
        );
    }
    (!patch.is_empty()).then_some(patch)
}

/// An empty `--confirm`.
#[derive(Debug, thiserror::Error)]
#[error("give `never`, `destructive`, `writes` or comma-separated tool names")]
struct EmptyConfirm;

/// `--confirm`: a policy word, or comma-separated tool names.
fn confirm_flag(text: &str) -> Result<Confirm, EmptyConfirm> {
    match text.trim() {
        "never" => Ok(Confirm::Never),
        "destructive" => Ok(Confirm::Destructive),
        "writes" => Ok(Confirm::Writes),
        "" => Err(EmptyConfirm),
        names => Ok(Confirm::Tools(
            names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
    }
}

/// A server's on/off settings, each with its `--no-` form; the last one given wins.
#[derive(Args)]
struct Switches {
    /// Clients must also send an API token (admin, or `mcp` scope for this account).
    #[arg(long, overrides_with = "no_require_api_token_auth")]
    require_api_token_auth: bool,
    /// Clients need no API token.
    #[arg(long, overrides_with = "require_api_token_auth")]
    no_require_api_token_auth: bool,
    /// Clients sign in with OAuth 2.1 (ChatGPT, Claude), or send an API token.
    #[arg(long, overrides_with = "no_oauth")]
    oauth: bool,
    /// No OAuth sign-in; turning it off ends the server's grants.
    #[arg(long, overrides_with = "oauth")]
    no_oauth: bool,
}

impl Switches {
    fn require_api_token_auth(&self) -> Option<bool> {
        toggle(self.require_api_token_auth, self.no_require_api_token_auth)
    }

    fn oauth(&self) -> Option<bool> {
        toggle(self.oauth, self.no_oauth)
    }
}

/// `--x` is `Some(true)`, `--no-x` `Some(false)`, neither `None`.
fn toggle(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// The config flags of `specgate mcp update`, each absent unless given.
struct ConfigFlags {
    methods: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    tools: Option<Vec<String>>,
    exclude_tools: Option<Vec<String>>,
    require_api_token_auth: Option<bool>,
    oauth: Option<bool>,
    max_result_bytes: Option<u32>,
    tool_exposure: Option<ExposureArg>,
    schema_profile: Option<ProfileArg>,
    confirm: Option<Confirm>,
    confirm_fallback: Option<FallbackArg>,
}

/// `specgate mcp ...`.
async fn mcp(common: &Common, command: McpCommand) -> Result<(), CliError> {
    let p = Provisioner::new(cli_state(common, false).await?);
    let value = match command {
        McpCommand::Create {
            account,
            name,
            methods,
            tags,
            tools,
            exclude_tools,
            switches,
            max_result_bytes,
            tool_exposure,
            schema_profile,
            confirm,
            confirm_fallback,
            expires_at,
        } => {
            let config = ServerConfig {
                methods: filter_flag("methods", methods)?,
                tags: filter_flag("tags", tags)?,
                tools: filter_flag("tools", tools)?,
                exclude_tools,
                require_api_token_auth: switches.require_api_token_auth().unwrap_or(false),
                oauth: switches.oauth().unwrap_or(false),
                max_result_bytes,
                tool_exposure: tool_exposure.into(),
                schema_profile: schema_profile.into(),
                confirm,
                confirm_fallback: confirm_fallback.into(),
            };
            let request = CreateServer {
                name,
                config,
                expires_at,
            };
            json_of(p.create_server(&account, request).await?)
        }
        McpCommand::List { account } => json_of(p.list_servers(&account).await?),
        McpCommand::Get { account, id } => json_of(p.get_server(&account, &id).await?),
        McpCommand::Update {
            account,
            id,
            name,
            methods,
            tags,
            tools,
            exclude_tools,
            switches,
            max_result_bytes,
            tool_exposure,
            schema_profile,
            confirm,
            confirm_fallback,
            expires_at,
            no_expiry,
        } => {
            let config = config_patch(ConfigFlags {
                methods,
                tags,
                tools,
                exclude_tools,
                require_api_token_auth: switches.require_api_token_auth(),
                oauth: switches.oauth(),
                max_result_bytes,
                tool_exposure,
                schema_profile,
                confirm,
                confirm_fallback,
            });
            let expires_at = if no_expiry {
                Some(None)
            } else {
                expires_at.map(Some)
            };
            if name.is_none() && config.is_none() && expires_at.is_none() {
                return Err(nothing_to_change());
            }
            let request = UpdateServer {
                name,
                config,
                expires_at,
            };
            json_of(p.update_server(&account, &id, request).await?)
        }
        McpCommand::Rotate { account, id } => json_of(p.rotate_server(&account, &id).await?),
        McpCommand::Grants { account, id } => json_of(p.list_grants(&account, &id).await?),
        McpCommand::RevokeGrant { account, id, grant } => {
            p.revoke_grant(&account, &id, &grant).await?;
            json!({"revoked": grant})
        }
        McpCommand::Delete { account, id } => {
            p.delete_server(&account, &id).await?;
            json!({"deleted": id})
        }
        McpCommand::Tools {
            account,
            id,
            schema_profile,
        } => Value::Array(
            p.server_tools(&account, &id, schema_profile.map(SchemaProfile::from))
                .await?,
        ),
        McpCommand::Calls {
            account,
            id,
            limit,
            cursor,
        } => {
            let page = CallsPage {
                limit: Some(limit),
                cursor,
            };
            json_of(p.list_calls(&account, &id, page).await?)
        }
    };
    print(common.json, &value, || human(&value));
    if value.get("mcp_path").is_some() && value.get("url").is_none() {
        eprintln!(
            "note: no server has recorded its public URL in this database, so only the path is shown; prefix it with the server's URL (or set SPECGATE_PUBLIC_URL)"
        );
    }
    Ok(())
}

/// `specgate upstream-host ...`.
async fn upstream_host(common: &Common, command: UpstreamHostCommand) -> Result<(), CliError> {
    let p = Provisioner::new(cli_state(common, false).await?);
    let value = match command {
        UpstreamHostCommand::Allow { integration, host } => {
            json_of(p.allow_upstream_host(&integration, &host).await?)
        }
        UpstreamHostCommand::List { integration } => json_of(p.upstream_hosts(&integration).await?),
        UpstreamHostCommand::Remove { integration, host } => {
            p.remove_upstream_host(&integration, &host).await?;
            json!({"removed": host, "integration": integration})
        }
    };
    print(common.json, &value, || human(&value));
    Ok(())
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

/// `--confirm-fallback`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FallbackArg {
    Refuse,
    Allow,
}

impl From<FallbackArg> for ConfirmFallback {
    fn from(fallback: FallbackArg) -> Self {
        match fallback {
            FallbackArg::Refuse => Self::Refuse,
            FallbackArg::Allow => Self::Allow,
        }
    }
}

/// `--tool-exposure`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ExposureArg {
    All,
    Discovery,
}

impl From<ExposureArg> for ToolExposure {
    fn from(exposure: ExposureArg) -> Self {
        match exposure {
            ExposureArg::All => Self::All,
            ExposureArg::Discovery => Self::Discovery,
        }
    }
}

/// `--schema-profile`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ProfileArg {
    Full,
    Portable,
}

impl From<ProfileArg> for SchemaProfile {
    fn from(profile: ProfileArg) -> Self {
        match profile {
            ProfileArg::Full => Self::Full,
            ProfileArg::Portable => Self::Portable,
        }
    }
}

/// Binds before anything is printed, so a port in use fails with nothing claimed.
async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, CliError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::Serve(format!("cannot listen on {listen}: {e}")))?;
    if !listen.ip().is_loopback() {
        tracing::warn!(
            %listen,
            "serving plain HTTP on a non-loopback address: put a TLS-terminating proxy in front, and set --public-url https://..."
        );
    }
    let proxies = crate::egress::proxy_variables();
    if !proxies.is_empty() {
        tracing::warn!(
            variables = proxies.join(", "),
            "proxy variables are ignored: vendor requests and client documents connect directly, so every name is resolved and checked here"
        );
    }
    Ok(listener)
}

/// A `--public-url` as MCP URLs, OAuth metadata and vendor callbacks are built on it: an
/// absolute http(s) URL with a host and nothing after it (no user info, path, query or
/// fragment), and https unless the host is loopback or `allow_http` says otherwise.
fn check_public_url(given: &str, allow_http: bool) -> Result<String, CliError> {
    let refused = |why: &str| {
        CliError::Usage(format!(
            "--public-url `{given}` {why}; give the URL clients reach, e.g. https://mcp.example.com"
        ))
    };
    let url = reqwest::Url::parse(given).map_err(|e| refused(&format!("is not a URL ({e})")))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| refused("has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http || crate::egress::is_loopback_host(host) => {}
        "http" => {
            return Err(refused(
                "is plain http on a host that is not loopback; put TLS in front and use https, or pass --allow-http-public-url",
            ));
        }
        _ => {
            return Err(refused(
                "must start with https:// (or http:// for loopback)",
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("must not carry user info"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refused(
            "must have no path, query or fragment (MCP URLs are built at its root)",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Records the URL MCP links are built on when one was given, so CLI commands print links
/// that match; a server started without one leaves the record alone, and says when it
/// answers elsewhere.
async fn record_public_url(
    store: &Store,
    args: &ServeArgs,
    config: &Config,
) -> Result<(), CliError> {
    let effective = config.public_url.as_deref().unwrap_or_default();
    if args.public_url.is_some() {
        return store
            .set_setting(PUBLIC_URL, effective)
            .await
            .map_err(setup);
    }
    if let Some(recorded) = store.setting(PUBLIC_URL).await.map_err(setup)?
        && recorded != effective
    {
        tracing::warn!(
            recorded = %recorded,
            serving = %effective,
            "this server answers at another URL than the recorded public URL, which `mcp create` and `oauth-app show` print; pass --public-url to change the record"
        );
    }
    Ok(())
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT (Ctrl-C). The handlers are installed
/// before this returns, so a signal that arrives right after startup output is never lost.
fn watch_signals(shutdown: &CancellationToken) -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handle = |kind, name| {
            signal(kind).map_err(|e| CliError::Serve(format!("cannot handle {name}: {e}")))
        };
        let mut terminate = handle(SignalKind::terminate(), "SIGTERM")?;
        let mut interrupt = handle(SignalKind::interrupt(), "SIGINT")?;
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::info!("shutting down: not ready, finishing in-flight requests");
            shutdown.cancel();
        });
    }
    #[cfg(not(unix))]
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
        });
    }
    Ok(())
}

/// How `serve` winds down after a signal.
#[derive(Clone, Copy)]
struct Shutdown {
    drain: Duration,
    grace: Duration,
}

impl From<&ServeArgs> for Shutdown {
    fn from(args: &ServeArgs) -> Self {
        Self {
            drain: Duration::from_secs(args.shutdown_drain_secs),
            grace: Duration::from_secs(args.shutdown_grace_secs),
        }
    }
}

/// How `serve` swaps itself for a new binary; none where that is not supported.
#[cfg(unix)]
type Swap = crate::handover::Swap;
#[cfg(not(unix))]
enum Swap {}

/// Serves until SIGTERM or SIGINT. Then: `/readyz` turns 503 and SSE streams close at once;
/// after `drain` no new connections are accepted, and in-flight calls get up to `grace` to
/// finish. With `swap`, a SIGHUP hands the listening socket to a new process, and once it
/// serves, this one stops accepting at once and winds down the same way.
async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    plan: Shutdown,
    swap: Option<Swap>,
) -> Result<(), CliError> {
    let sweeper = crate::spawn_sweeper(
        state.store.clone(),
        Duration::from_secs(1),
        state.config.audit_retention,
    );
    let audit = state.audit.clone();
    // Token lookups are cached only while this watcher sees every commit to the database.
    let watcher = state.store.watch_changes(state.shutdown.clone());
    let shutdown = state.shutdown.clone();
    let threads = state.config.serving_threads;
    let handed_over = CancellationToken::new();
    #[cfg(unix)]
    let socket = {
        use std::os::fd::AsFd;
        listener
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| CliError::Serve(format!("cannot keep the listening socket: {e}")))?
    };
    let drain_marker = tokio::spawn({
        let (state, shutdown, handed_over) = (state.clone(), shutdown.clone(), handed_over.clone());
        async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = handed_over.cancelled() => {}
            }
            state
                .draining
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let (listeners, accept_loop) = serving::deal(
        listener,
        threads,
        stop_accepting(&shutdown, &handed_over, plan.drain),
    )
    .map_err(|e| CliError::Serve(format!("cannot serve: {e}")))?;
    let acceptor = tokio::spawn(accept_loop);
    #[cfg(unix)]
    let swapper =
        swap.map(|swap| tokio::spawn(swap.run(socket, handed_over.clone(), shutdown.clone())));
    #[cfg(not(unix))]
    let swapper: Option<tokio::task::JoinHandle<()>> = swap.map(|never| match never {});
    // One router for every serving thread: the faces' state (SSE sessions, sign-in limits)
    // is the process's.
    let router = app(state);
    let stop = shutdown.clone();
    let result = serving::run_threads(
        listeners,
        move |listener| serve_connections(router.clone(), shutdown.clone(), listener, plan),
        &stop,
    )
    .await
    .map_err(|e| CliError::Serve(e.to_string()));
    if let Some(swapper) = swapper {
        // Returns at once: shutdown has been signalled. It removes the pid file if it is ours.
        let _ = swapper.await;
    }
    acceptor.abort();
    drain_marker.abort();
    sweeper.abort();
    watcher.abort();
    audit.close().await;
    result
}

/// Resolves `after` the shutdown signal.
fn drained(
    shutdown: &CancellationToken,
    after: Duration,
) -> impl Future<Output = ()> + Send + 'static {
    let shutdown = shutdown.clone();
    async move {
        shutdown.cancelled().await;
        tokio::time::sleep(after).await;
    }
}

/// Resolves when the listener should close: `drain` after the shutdown signal, or at once
/// when this process has handed its socket over (the new process accepts from then on).
fn stop_accepting(
    shutdown: &CancellationToken,
    handed_over: &CancellationToken,
    drain: Duration,
) -> impl Future<Output = ()> + Send + 'static {
    let drained = drained(shutdown, drain);
    let handed_over = handed_over.clone();
    async move {
        tokio::select! {
            () = drained => {}
            () = handed_over.cancelled() => {}
        }
    }
}

/// One serving thread's share of `serve`: from `plan.drain` after the shutdown signal, idle
/// connections close and in-flight requests get up to `plan.grace`.
async fn serve_connections(
    router: axum::Router,
    shutdown: CancellationToken,
    listener: serving::Dealt,
    plan: Shutdown,
) -> std::io::Result<()> {
    // Connection info on every serving thread: the sign-in and registration limits are keyed
    // by the client's address (see `crate::peer`). axum hands a custom listener's
    // peer address to `ConnectInfo` through `tap_io`; the accept loop already set each socket up.
    let server = axum::serve(
        listener.tap_io(|_| ()),
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(drained(&shutdown, plan.drain));
    let grace = plan.grace;
    let deadline = drained(&shutdown, plan.drain + grace);
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs(), "shutdown grace period over; exiting with requests still in flight");
            Ok(())
        }
    }
}

async fn demo(common: &Common, args: ServeArgs) -> Result<(), CliError> {
    let config = serve_config(&args, true, serving_threads(common))?;
    let listener = bind(args.listen).await?;
    let (sandbox_address, _sandbox) = sandbox::spawn()
        .await
        .map_err(|e| CliError::Serve(format!("cannot start the vendor sandboxes: {e}")))?;
    // The sandboxes live only as long as this process, so by default the demo gets its own
    // throwaway database and key instead of writing accounts into the real one.
    let scratch = ScratchDir::new()?;
    let mut common = common.clone();
    if common.database == DEFAULT_DATABASE {
        common.database = format!("sqlite://{}", scratch.0.join("demo.db").display());
        common.key_file = Some(scratch.0.join("secret.key"));
    }
    let (store, keys) = open_store(&common, Open::Create).await?;
    record_public_url(&store, &args, &config).await?;
    let state = AppState::new(config, store, keys, common.registry);
    watch_signals(&state.shutdown)?;
    let p = Provisioner::new(state.clone());
    let sandbox_url = format!("http://{sandbox_address}");
    let demos = [
        (
            "malomo",
            format!("{sandbox_url}/malomo"),
            json!({"api_key": "sk_sandbox_malomo"}),
        ),
        (
            "e_desk",
            format!("{sandbox_url}/edesk/v1"),
            json!({"api_key": "edesk_sandbox_token"}),
        ),
        (
            "roserocket",
            format!("{sandbox_url}/roserocket/api/v2/platformModel"),
            json!({"client_id": "rr_client", "client_secret": "rr_secret", "refresh_token": "rr_refresh_0", "token_url": format!("{sandbox_url}/roserocket/oauth/token")}),
        ),
    ];
    let mut servers = serde_json::Map::new();
    for (integration, base_url, credentials) in demos {
        p.allow_upstream_host(integration, &sandbox_address.ip().to_string())
            .await?;
        let credentials: Credentials = serde_json::from_value(credentials)
            .map_err(|e| CliError::Serve(format!("demo credentials: {e}")))?;
        let account = p
            .create_account(CreateAccount {
                integration: integration.to_owned(),
                name: format!("demo {integration}"),
                credentials,
                base_url: Some(base_url),
            })
            .await?;
        let server = p
            .create_server(
                &account.id,
                CreateServer {
                    name: format!("{integration} demo"),
                    config: ServerConfig::default(),
                    expires_at: None,
                },
            )
            .await?;
        servers.insert(
            integration.to_owned(),
            json!(server.url.unwrap_or_default()),
        );
    }
    // Connecting through the vendor's consent, against the Rose Rocket sandbox's OAuth app.
    p.set_oauth_app(
        "roserocket",
        SetOAuthApp {
            client_id: "rr_client".to_owned(),
            client_secret: "rr_secret".to_owned(),
            authorize_url: Some(format!("{sandbox_url}/roserocket/authorize")),
            token_url: Some(format!("{sandbox_url}/roserocket/oauth/token")),
            scopes: vec!["offline_access".to_owned()],
        },
    )
    .await?;
    let connection = p
        .connect(Connect {
            integration: "roserocket".to_owned(),
            name: "connected rose rocket".to_owned(),
            base_url: Some(format!("{sandbox_url}/roserocket/api/v2/platformModel")),
            scopes: None,
            return_to: None,
        })
        .await?;
    // The demo's database is thrown away, so its admin token may be printed with it.
    let (_, console_token) = p
        .create_api_token("demo console", TokenScope::Admin, None)
        .await?;
    let key_file = key_file(&common)?;
    let value = json!({
        "sandbox_url": sandbox_url,
        "mcp_urls": servers,
        "connect_url": connection.authorize_url,
        "console": format!("http://{}/console", args.listen),
        "console_token": console_token,
        "database": common.database,
        "key_file": key_file.display().to_string(),
    });
    print(common.json, &value, || demo_text(&value));
    serve(state, listener, Shutdown::from(&args), None).await
}

/// What `demo` prints for a person: the URLs, how to try them (curl, Cursor, Claude Desktop
/// through `mcp-remote`), the console, the CLI on the same database, and how to stop.
fn demo_text(value: &Value) -> String {
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
    let urls: Vec<(String, String)> = value["mcp_urls"]
        .as_object()
        .map(|urls| {
            urls.iter()
                .map(|(name, url)| (name.clone(), url.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut lines = vec![
        format!("specgate demo: vendor sandboxes on {}", text("sandbox_url")),
        String::new(),
    ];
    lines.extend(urls.iter().map(|(name, url)| format!("  {name:<11} {url}")));
    let first = urls.first().map(|(_, url)| url.clone()).unwrap_or_default();
    let cursor: serde_json::Map<String, Value> = urls
        .iter()
        .map(|(name, url)| (format!("specgate-{name}"), json!({"url": url})))
        .collect();
    let claude: serde_json::Map<String, Value> = urls
        .iter()
        .map(|(name, url)| {
            (
                format!("specgate-{name}"),
                json!({"command": "npx", "args": ["mcp-remote", url]}),
            )
        })
        .collect();
    lines.extend([
        String::new(),
        "List the first server's tools:".to_owned(),
        format!(
            "  curl -s -X POST {first} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}}'"
        ),
        String::new(),
        format!(
            "Connect a Rose Rocket account through its (sandbox) consent page, in one browser, within 10 minutes:\n  {}",
            text("connect_url")
        ),
        String::new(),
        format!(
            "Cursor (~/.cursor/mcp.json):\n{}",
            serde_json::to_string_pretty(&json!({"mcpServers": cursor})).unwrap_or_default()
        ),
        String::new(),
        format!(
            "Claude Desktop (claude_desktop_config.json, through mcp-remote):\n{}",
            serde_json::to_string_pretty(&json!({"mcpServers": claude})).unwrap_or_default()
        ),
        String::new(),
        "Or: npx @modelcontextprotocol/inspector, transport \"Streamable HTTP\", paste a URL above.".to_owned(),
        String::new(),
        format!(
            "Web console: {}, sign in with {}",
            text("console"),
            text("console_token")
        ),
        format!(
            "The CLI on this demo's data, from another terminal: specgate --database {} --key-file {} account list",
            text("database"),
            text("key_file")
        ),
        "Ctrl-C stops the demo; its sandboxes and scratch database go with it.".to_owned(),
    ]);
    lines.join("\n")
}

/// The demo's throwaway directory (mode 0700), removed when the demo ends.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<Self, CliError> {
        let path = std::env::temp_dir().join(format!("specgate-demo-{}", std::process::id()));
        crate::crypto::create_private_dir(&path)
            .map_err(|e| setup(format!("cannot create {}: {e}", path.display())))?;
        Ok(Self(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
}
