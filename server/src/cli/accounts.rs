//! `account`, `oauth-app` and `return-origin`: accounts with credentials or connected through
//! the vendor's consent.

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::call::Credentials;
use crate::connect::{Connect, ConnectStarted, Reconnect, SetOAuthApp};
use crate::provision::{CreateAccount, Provisioner, UpdateAccount, printable};
use crate::store::ConnectionOutcome;

use super::{
    CliError, Common, cli_state, confirm, human, json_of, nothing_to_change, print, secret_value,
};

/// The vendor consent's flags, the same for `account connect` and `account reconnect`.
#[derive(Args)]
pub(super) struct ConsentFlags {
    /// OAuth scopes to ask for instead of the OAuth app's (repeat the flag).
    #[arg(long = "scope")]
    pub(super) scopes: Option<Vec<String>>,
    /// Where the browser goes after the callback; its origin must be allowed (`return-origin allow`).
    #[arg(long)]
    pub(super) return_to: Option<String>,
    /// Seconds to wait for the vendor's callback; 0 prints the URL and returns.
    #[arg(long, default_value_t = 600)]
    pub(super) wait: u64,
}

#[derive(Subcommand)]
pub(super) enum AccountCommand {
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
        #[command(flatten)]
        consent: ConsentFlags,
        /// Allow an http:// loopback base URL.
        #[arg(long)]
        allow_insecure_upstreams: bool,
    },
    /// Connect an account again (after `needs_reconnect`), keeping its id and MCP servers.
    Reconnect {
        /// The account's id (`account list` shows them).
        id: String,
        #[command(flatten)]
        consent: ConsentFlags,
        /// Accept a vendor user or tenant other than the one the account was first connected
        /// as (without it, such a reconnect is refused and nothing changes).
        #[arg(long)]
        accept_other_identity: bool,
    },
}

/// `specgate account ...`.
pub(super) async fn account(common: &Common, command: AccountCommand) -> Result<(), CliError> {
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
            consent:
                ConsentFlags {
                    scopes,
                    return_to,
                    wait,
                },
            ..
        } => {
            let request = Connect {
                integration,
                name,
                base_url,
                scopes,
                return_to,
            };
            let started = p.connect(request).await?;
            wait_for_connection(common, &p, started, wait).await?
        }
        AccountCommand::Reconnect {
            id,
            consent:
                ConsentFlags {
                    scopes,
                    return_to,
                    wait,
                },
            accept_other_identity,
        } => {
            let request = Reconnect {
                scopes,
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
pub(super) async fn wait_for_connection(
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

pub(super) fn parse_credentials(given: &str) -> Result<Credentials, CliError> {
    serde_json::from_str(&secret_value("credentials", given)?)
        .map_err(|e| CliError::Usage(format!("--credentials is not valid credentials JSON: {e}")))
}

#[derive(Subcommand)]
pub(super) enum OAuthAppCommand {
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

/// `specgate oauth-app`.
pub(super) async fn oauth_app(common: &Common, command: OAuthAppCommand) -> Result<(), CliError> {
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

#[derive(Subcommand)]
pub(super) enum ReturnOriginCommand {
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

/// `specgate return-origin`.
pub(super) async fn return_origin(
    common: &Common,
    command: ReturnOriginCommand,
) -> Result<(), CliError> {
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
