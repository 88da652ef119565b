//! `serve`, `demo` and `stdio`: the server, its public URL, signals, the handover and draining.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use clap::Args;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::call::Credentials;
use crate::connect::{Connect, SetOAuthApp};
use crate::provision::{CreateAccount, CreateServer, Provisioner};
use crate::store::{ServerConfig, Store, TokenScope};
use crate::{AppState, Config, app, sandbox, serving};

use super::{
    CliError, Common, DEFAULT_DATABASE, Open, PUBLIC_URL, cli_state, key_file, open_store, out,
    print, setup,
};

#[derive(Args, Clone)]
pub(super) struct ServeArgs {
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

pub(super) fn serve_config(
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
pub(super) fn serving_threads(common: &Common) -> usize {
    common.worker_threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        usize::from,
    )
}

/// `specgate serve`.
pub(super) async fn serve_command(common: &Common, args: ServeArgs) -> Result<(), CliError> {
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
pub(super) async fn stdio(
    common: &Common,
    mcp_token: &str,
    allow_insecure_upstreams: bool,
) -> Result<(), CliError> {
    let state = cli_state(common, allow_insecure_upstreams).await?;
    let resolved = state.resolve_mcp_token_uncached(mcp_token).await?;
    Ok(crate::mcp::serve_stdio(state, resolved).await?)
}

/// Binds before anything is printed, so a port in use fails with nothing claimed.
pub(super) async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, CliError> {
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
pub(super) fn check_public_url(given: &str, allow_http: bool) -> Result<String, CliError> {
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
pub(super) async fn record_public_url(
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
pub(super) fn watch_signals(shutdown: &CancellationToken) -> Result<(), CliError> {
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
pub(super) struct Shutdown {
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
pub(super) async fn serve(
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
pub(super) fn drained(
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
pub(super) fn stop_accepting(
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
pub(super) async fn serve_connections(
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

pub(super) async fn demo(common: &Common, args: ServeArgs) -> Result<(), CliError> {
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
pub(super) fn demo_text(value: &Value) -> String {
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
pub(super) struct ScratchDir(PathBuf);

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
