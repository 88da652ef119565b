//! `mcp`: MCP servers, their filters and settings as flags, and their calls.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::provision::{CallsPage, CreateServer, Provisioner, ServerView, UpdateServer};
use crate::store::{
    ConfigPatch, Confirm, ConfirmFallback, Filter, SchemaProfile, ServerConfig, ToolExposure,
};

use super::{CliError, Common, cli_state, human, json_of, nothing_to_change, print};

#[derive(Subcommand)]
pub(super) enum McpCommand {
    /// Provision an MCP server; its URL is printed once.
    Create {
        /// The account's id.
        #[arg(long)]
        account: String,
        /// The server's display name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        config: ConfigFlags,
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
        #[command(flatten)]
        config: ConfigFlags,
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

/// `specgate mcp ...`.
pub(super) async fn mcp(common: &Common, command: McpCommand) -> Result<(), CliError> {
    let p = Provisioner::new(cli_state(common, false).await?);
    let value = match command {
        McpCommand::Create {
            account,
            name,
            config,
            expires_at,
        } => {
            let request = CreateServer {
                name,
                config: config.patch()?.applied_to(ServerConfig::default()),
                expires_at,
            };
            shown_once(p.create_server(&account, request).await?)
        }
        McpCommand::List { account } => json_of(p.list_servers(&account).await?),
        McpCommand::Get { account, id } => json_of(p.get_server(&account, &id).await?),
        McpCommand::Update {
            account,
            id,
            name,
            config,
            expires_at,
            no_expiry,
        } => {
            let config = Some(config.patch()?).filter(|patch| !patch.is_empty());
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
        McpCommand::Rotate { account, id } => shown_once(p.rotate_server(&account, &id).await?),
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

    Ok(())
}

/// A filter flag's values as a filter.
pub(super) fn filter_flag(flag: &str, values: Vec<String>) -> Result<Filter, CliError> {
    Filter::from_list(values).map_err(|e| CliError::Usage(format!("--{flag}: {e}")))
}

/// An empty `--confirm`.
#[derive(Debug, thiserror::Error)]
#[error("give `never`, `destructive`, `writes` or comma-separated tool names")]
pub(super) struct EmptyConfirm;

/// `--confirm`: a policy word, or comma-separated tool names.
pub(super) fn confirm_flag(text: &str) -> Result<Confirm, EmptyConfirm> {
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
pub(super) struct Switches {
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
pub(super) fn toggle(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// A server's config as flags, written once for `mcp create` (over the defaults: every
/// method, tag and tool, no second factor) and `mcp update` (only the flags given change).
#[derive(Args)]
pub(super) struct ConfigFlags {
    /// Comma-separated: read, write, custom, or method names; `all` for every method (a new
    /// server's default).
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Comma-separated tags; `all` for every tag (a new server's default).
    #[arg(long, value_delimiter = ',')]
    tags: Option<Vec<String>>,
    /// Comma-separated tool names to allow; `all` for every tool (a new server's default).
    #[arg(long, value_delimiter = ',')]
    tools: Option<Vec<String>>,
    /// Comma-separated tool names never to expose; an empty value clears the list.
    #[arg(long, value_delimiter = ',')]
    exclude_tools: Option<Vec<String>>,
    #[command(flatten)]
    switches: Switches,
    /// The most bytes a tools/call result takes (2,000 to 2,000,000; default 100,000).
    #[arg(long)]
    max_result_bytes: Option<u32>,
    /// `all` tools listed (the default), or `discovery`: search_tools, get_tool_schema and
    /// call_tool.
    #[arg(long, value_enum)]
    tool_exposure: Option<ExposureArg>,
    /// Tool schemas listed by default: `full` (JSON Schema 2020-12, the default) or `portable`
    /// (the subset every major client accepts). `<url>/portable` serves portable either way.
    #[arg(long, value_enum)]
    schema_profile: Option<ProfileArg>,
    /// Calls that wait for a person's confirmation: `never` (the default), `destructive`
    /// (deletes and overwrites), `writes` (every tool that is not read-only), or
    /// comma-separated tool names.
    #[arg(long, value_parser = confirm_flag)]
    confirm: Option<Confirm>,
    /// Where the client cannot ask the person: `refuse` the call (the default), or `allow` it
    /// unconfirmed.
    #[arg(long, value_enum)]
    confirm_fallback: Option<FallbackArg>,
}

impl ConfigFlags {
    /// The flags given, as a patch of only those fields.
    fn patch(self) -> Result<ConfigPatch, CliError> {
        let filter = |flag, values: Option<Vec<String>>| {
            values.map(|values| filter_flag(flag, values)).transpose()
        };
        Ok(ConfigPatch {
            methods: filter("methods", self.methods)?,
            tags: filter("tags", self.tags)?,
            tools: filter("tools", self.tools)?,
            exclude_tools: self
                .exclude_tools
                .map(|tools| tools.into_iter().filter(|t| !t.is_empty()).collect()),
            require_api_token_auth: self.switches.require_api_token_auth(),
            oauth: self.switches.oauth(),
            max_result_bytes: self.max_result_bytes,
            tool_exposure: self.tool_exposure.map(ToolExposure::from),
            schema_profile: self.schema_profile.map(SchemaProfile::from),
            confirm: self.confirm,
            confirm_fallback: self.confirm_fallback.map(ConfirmFallback::from),
        })
    }
}

/// `--confirm-fallback`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum FallbackArg {
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
pub(super) enum ExposureArg {
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
pub(super) enum ProfileArg {
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

/// A server's view the one time it holds its URL; says so when only the path is known.
fn shown_once(server: ServerView) -> Value {
    if server.mcp_path.is_some() && server.url.is_none() {
        eprintln!(
            "note: no server has recorded its public URL in this database, so only the path is shown; prefix it with the server's URL (or set SPECGATE_PUBLIC_URL)"
        );
    }
    json_of(server)
}
