//! `specgate`: serve compiled vendor tools over MCP, and provision who may use them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rmcp::ServiceExt;
use serde_json::{Value, json};
use specgate_server::admin::{
    ApiError, CreateAccount, CreateServer, Provisioner, UpdateAccount, UpdateServer,
    integrations_json,
};
use specgate_server::catalog::tool_json;
use specgate_server::crypto::Keys;
use specgate_server::mcp::{Handler, Resolved};
use specgate_server::proxy::Credentials;
use specgate_server::store::{ServerConfig, Store, now};
use specgate_server::{AppState, Config, app, sandbox};

const DEFAULT_DATABASE: &str = "sqlite://.specgate/specgate.db";

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
    /// Key file for credential encryption and token hashing (ignored when SPECGATE_SECRET_KEY is set).
    #[arg(long, global = true, default_value = ".specgate/secret.key")]
    key_file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Public base URL that MCP URLs are built on (default: http://<listen>).
    #[arg(long, env = "SPECGATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Extra accepted Host names (repeatable); loopback is always accepted.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    /// Accepted browser Origins (repeatable), e.g. https://chatgpt.com.
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Allow http:// loopback base URLs for accounts (tests and demos only).
    #[arg(long)]
    allow_insecure_upstreams: bool,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Tools per tools/list page.
    #[arg(long, default_value_t = 100)]
    tools_page_size: usize,
    /// Seconds a vendor request may take.
    #[arg(long, default_value_t = 30)]
    upstream_timeout_secs: u64,
    /// Most concurrent legacy HTTP+SSE sessions.
    #[arg(long, default_value_t = 1024)]
    sse_max_sessions: usize,
    /// Seconds a legacy SSE session may stay without a message before it is closed.
    #[arg(long, default_value_t = 300)]
    sse_idle_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP and the admin API.
    Serve(ServeArgs),
    /// Serve together with in-process vendor sandboxes and ready-made demo MCP servers.
    Demo(ServeArgs),
    /// Serve one MCP server's tools over stdio.
    Stdio {
        /// The MCP token (the last part of the MCP URL).
        #[arg(long, env = "SPECGATE_MCP_TOKEN")]
        mcp_token: String,
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
}

#[derive(Subcommand)]
enum ApiTokenCommand {
    /// Create a token; it is printed once.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List tokens (never the secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Register a vendor account.
    Create {
        #[arg(long)]
        integration: String,
        #[arg(long)]
        name: String,
        /// Credentials as JSON, e.g. '{"api_key": "sk_..."}'.
        #[arg(long)]
        credentials: String,
        #[arg(long)]
        base_url: Option<String>,
        /// Allow an http:// loopback base URL.
        #[arg(long)]
        allow_insecure_upstreams: bool,
    },
    /// List accounts.
    List,
    /// Show one account.
    Get { id: String },
    /// Rename or rotate credentials.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        credentials: Option<String>,
    },
    /// Delete an account and its MCP servers.
    Delete { id: String },
}

#[derive(Subcommand)]
enum McpCommand {
    /// Provision an MCP server; its URL is printed once.
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: read, write, custom, or method names.
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        /// Comma-separated tags.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        #[arg(long)]
        require_api_token_auth: bool,
        /// RFC 3339 expiry.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List an account's MCP servers.
    List {
        #[arg(long)]
        account: String,
    },
    /// Show one MCP server.
    Get {
        #[arg(long)]
        account: String,
        id: String,
    },
    /// Change a server's name, filters or expiry. Filter flags replace the whole config.
    Update {
        #[arg(long)]
        account: String,
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_delimiter = ',')]
        methods: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        tags: Option<Vec<String>>,
        #[arg(long)]
        require_api_token_auth: Option<bool>,
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Issue a new URL and revoke the old one.
    Rotate {
        #[arg(long)]
        account: String,
        id: String,
    },
    /// Delete an MCP server.
    Delete {
        #[arg(long)]
        account: String,
        id: String,
    },
    /// Preview exactly the tools a server exposes.
    Tools {
        #[arg(long)]
        account: String,
        id: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPECGATE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print(json_mode: bool, value: &Value, text: impl FnOnce() -> String) {
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

async fn open_state(common: &Common, config: Config) -> Result<AppState, String> {
    if let Some(path) = common.database.strip_prefix("sqlite://")
        && let Some(parent) = std::path::Path::new(path.split('?').next().unwrap_or(path)).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let store = Store::open(&common.database)
        .await
        .map_err(|e| e.to_string())?;
    let keys = Keys::load(
        std::env::var("SPECGATE_SECRET_KEY").ok().as_deref(),
        &common.key_file,
    )
    .map_err(|e| e.to_string())?;
    Ok(AppState::new(config, store, keys))
}

fn cli_config(allow_insecure_upstreams: bool) -> Config {
    Config {
        public_url: std::env::var("SPECGATE_PUBLIC_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned()),
        allowed_hosts: Vec::new(),
        allowed_origins: Vec::new(),
        allow_insecure_upstreams,
        max_body_bytes: 1024 * 1024,
        tools_page_size: 100,
        upstream_timeout: std::time::Duration::from_secs(30),
        sse_max_sessions: 1024,
        sse_idle: std::time::Duration::from_secs(300),
    }
}

fn serve_config(args: &ServeArgs, allow_insecure: bool) -> Config {
    Config {
        public_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", args.listen)),
        allowed_hosts: args.allowed_hosts.clone(),
        allowed_origins: args.allowed_origins.clone(),
        allow_insecure_upstreams: args.allow_insecure_upstreams || allow_insecure,
        max_body_bytes: args.max_body_bytes,
        tools_page_size: args.tools_page_size,
        upstream_timeout: std::time::Duration::from_secs(args.upstream_timeout_secs),
        sse_max_sessions: args.sse_max_sessions,
        sse_idle: std::time::Duration::from_secs(args.sse_idle_secs),
    }
}

fn api(error: ApiError) -> String {
    error.message
}

fn parse_credentials(text: &str) -> Result<Credentials, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("--credentials is not valid credentials JSON: {e}"))
}

async fn run(cli: Cli) -> Result<(), String> {
    let common = cli.common;
    match cli.command {
        Command::Serve(args) => {
            let state = open_state(&common, serve_config(&args, false)).await?;
            println!(
                "specgate {} listening on http://{}",
                env!("CARGO_PKG_VERSION"),
                args.listen
            );
            println!("  database: {}", common.database);
            println!(
                "  integrations: {}",
                specgate_api::INTEGRATIONS
                    .iter()
                    .map(|i| i.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("next:");
            println!("  specgate api-token create --name admin");
            println!(
                "  specgate account create --integration malomo --name acme --credentials '{{\"api_key\":\"sk_...\"}}'"
            );
            println!("  specgate mcp create --account <id> --name support --methods read");
            println!("  or try everything without credentials: specgate demo");
            serve(state, args.listen).await
        }
        Command::Demo(args) => demo(&common, args).await,
        Command::Stdio { mcp_token } => {
            let state = open_state(&common, cli_config(false)).await?;
            let (server, account) = state
                .store
                .resolve_token(&state.keys.hash_token(&mcp_token), now())
                .await
                .map_err(|e| e.to_string())?
                .ok_or("unknown or expired MCP token")?;
            let handler = Handler::fixed(state, Resolved { server, account });
            let service = handler
                .serve(rmcp::transport::stdio())
                .await
                .map_err(|e| e.to_string())?;
            service.waiting().await.map_err(|e| e.to_string())?;
            Ok(())
        }
        Command::Tools { integration } => {
            let catalog =
                specgate_server::catalog::Catalog::from_registry(specgate_api::INTEGRATIONS);
            if let Some(name) = &integration
                && specgate_api::find_integration(name).is_none()
            {
                return Err(format!("unknown integration `{name}`"));
            }
            let tools: Vec<_> = catalog
                .tools()
                .iter()
                .filter(|t| {
                    integration
                        .as_deref()
                        .is_none_or(|n| t.def.integration == n)
                })
                .collect();
            let json = Value::Array(tools.iter().map(|t| tool_json(t)).collect());
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
        Command::Integrations => {
            let json = integrations_json();
            print(common.json, &json, || {
                specgate_api::INTEGRATIONS
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
            Ok(())
        }
        Command::ApiToken(command) => {
            let state = open_state(&common, cli_config(false)).await?;
            let p = Provisioner::new(state.clone());
            match command {
                ApiTokenCommand::Create { name } => {
                    let (id, token) = p.create_api_token(&name).await.map_err(api)?;
                    print(
                        common.json,
                        &json!({"id": id, "name": name, "token": token}),
                        || format!("API token {id} created. It is shown only now:\n{token}"),
                    );
                }
                ApiTokenCommand::List => {
                    let tokens = state
                        .store
                        .list_api_tokens()
                        .await
                        .map_err(|e| e.to_string())?;
                    let json = serde_json::to_value(&tokens).unwrap_or_default();
                    print(common.json, &json, || {
                        tokens
                            .iter()
                            .map(|t| format!("{}  {}", t.id, t.name))
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                }
                ApiTokenCommand::Revoke { id } => {
                    if !state
                        .store
                        .revoke_api_token(&id)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        return Err(format!("no API token with id `{id}`"));
                    }
                    print(common.json, &json!({"revoked": id}), || {
                        format!("revoked {id}")
                    });
                }
            }
            Ok(())
        }
        Command::Account(command) => {
            let allow = matches!(
                command,
                AccountCommand::Create {
                    allow_insecure_upstreams: true,
                    ..
                }
            );
            let p = Provisioner::new(open_state(&common, cli_config(allow)).await?);
            let value = match command {
                AccountCommand::Create {
                    integration,
                    name,
                    credentials,
                    base_url,
                    ..
                } => serde_json::to_value(
                    p.create_account(CreateAccount {
                        integration,
                        name,
                        credentials: parse_credentials(&credentials)?,
                        base_url,
                    })
                    .await
                    .map_err(api)?,
                ),
                AccountCommand::List => serde_json::to_value(p.list_accounts().await.map_err(api)?),
                AccountCommand::Get { id } => {
                    serde_json::to_value(p.get_account(&id).await.map_err(api)?)
                }
                AccountCommand::Update {
                    id,
                    name,
                    credentials,
                } => {
                    let credentials = credentials.as_deref().map(parse_credentials).transpose()?;
                    serde_json::to_value(
                        p.update_account(
                            &id,
                            UpdateAccount {
                                name,
                                credentials,
                                base_url: None,
                            },
                        )
                        .await
                        .map_err(api)?,
                    )
                }
                AccountCommand::Delete { id } => {
                    p.delete_account(&id).await.map_err(api)?;
                    Ok(json!({"deleted": id}))
                }
            }
            .map_err(|e| e.to_string())?;
            print(common.json, &value, || human(&value));
            Ok(())
        }
        Command::Mcp(command) => {
            let p = Provisioner::new(open_state(&common, cli_config(false)).await?);
            let value = match command {
                McpCommand::Create {
                    account,
                    name,
                    methods,
                    tags,
                    require_api_token_auth,
                    expires_at,
                } => serde_json::to_value(
                    p.create_server(
                        &account,
                        CreateServer {
                            name,
                            config: ServerConfig {
                                methods,
                                tags,
                                require_api_token_auth,
                            },
                            expires_at,
                        },
                    )
                    .await
                    .map_err(api)?,
                ),
                McpCommand::List { account } => {
                    serde_json::to_value(p.list_servers(&account).await.map_err(api)?)
                }
                McpCommand::Get { account, id } => {
                    serde_json::to_value(p.get_server(&account, &id).await.map_err(api)?)
                }
                McpCommand::Update {
                    account,
                    id,
                    name,
                    methods,
                    tags,
                    require_api_token_auth,
                    expires_at,
                } => {
                    let config = if methods.is_some()
                        || tags.is_some()
                        || require_api_token_auth.is_some()
                    {
                        Some(ServerConfig {
                            methods: methods.unwrap_or_default(),
                            tags: tags.unwrap_or_default(),
                            require_api_token_auth: require_api_token_auth.unwrap_or(false),
                        })
                    } else {
                        None
                    };
                    serde_json::to_value(
                        p.update_server(
                            &account,
                            &id,
                            UpdateServer {
                                name,
                                config,
                                expires_at,
                            },
                        )
                        .await
                        .map_err(api)?,
                    )
                }
                McpCommand::Rotate { account, id } => {
                    serde_json::to_value(p.rotate_server(&account, &id).await.map_err(api)?)
                }
                McpCommand::Delete { account, id } => {
                    p.delete_server(&account, &id).await.map_err(api)?;
                    Ok(json!({"deleted": id}))
                }
                McpCommand::Tools { account, id } => Ok(Value::Array(
                    p.server_tools(&account, &id).await.map_err(api)?,
                )),
            }
            .map_err(|e| e.to_string())?;
            print(common.json, &value, || human(&value));
            Ok(())
        }
    }
}

/// Plain `key: value` lines for humans.
fn human(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(human).collect::<Vec<_>>().join("\n\n"),
        Value::Object(object) => object
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

async fn serve(state: AppState, listen: SocketAddr) -> Result<(), String> {
    specgate_server::spawn_expiry_sweeper(state.store.clone(), std::time::Duration::from_secs(1));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}

async fn demo(common: &Common, args: ServeArgs) -> Result<(), String> {
    let (sandbox_address, _sandbox) = sandbox::spawn().await.map_err(|e| e.to_string())?;
    // The sandboxes live only as long as this process, so by default the demo gets its own
    // throwaway database and key instead of writing accounts into the real one.
    let scratch = std::env::temp_dir().join(format!("specgate-demo-{}", std::process::id()));
    let mut common = common.clone();
    if common.database == DEFAULT_DATABASE {
        common.database = format!("sqlite://{}", scratch.join("demo.db").display());
        common.key_file = scratch.join("secret.key");
    }
    let state = open_state(&common, serve_config(&args, true)).await?;
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
    println!("specgate demo: vendor sandboxes on {sandbox_url}\n");
    let mut servers = serde_json::Map::new();
    for (integration, base_url, credentials) in demos {
        let credentials: Credentials =
            serde_json::from_value(credentials).map_err(|e| e.to_string())?;
        let account = p
            .create_account(CreateAccount {
                integration: integration.to_owned(),
                name: format!("demo {integration}"),
                credentials,
                base_url: Some(base_url),
            })
            .await
            .map_err(api)?;
        let server = p
            .create_server(
                &account.id,
                CreateServer {
                    name: format!("{integration} demo"),
                    config: ServerConfig::default(),
                    expires_at: None,
                },
            )
            .await
            .map_err(api)?;
        let url = server.url.unwrap_or_default();
        println!("  {integration:<11} {url}");
        servers.insert(format!("specgate-{integration}"), json!({"url": url}));
    }
    println!(
        "\nClaude Desktop / Cursor config (mcpServers):\n{}",
        serde_json::to_string_pretty(&json!({"mcpServers": servers})).unwrap_or_default()
    );
    println!(
        "\nTry: npx @modelcontextprotocol/inspector, transport \"Streamable HTTP\", paste a URL above."
    );
    serve(state, args.listen).await
}
