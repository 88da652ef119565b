//! `api-token` and `upstream-host`: who may use the admin API and second factors, and where
//! credentials may go.

use clap::Subcommand;
use serde_json::json;

use crate::provision::Provisioner;
use crate::store::TokenScope;

use super::{CliError, Common, cli_state, human, json_of, print};

#[derive(Subcommand)]
pub(super) enum ApiTokenCommand {
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

/// `specgate api-token ...`.
pub(super) async fn api_token(common: &Common, command: ApiTokenCommand) -> Result<(), CliError> {
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

#[derive(Subcommand)]
pub(super) enum UpstreamHostCommand {
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

/// `specgate upstream-host ...`.
pub(super) async fn upstream_host(
    common: &Common,
    command: UpstreamHostCommand,
) -> Result<(), CliError> {
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
