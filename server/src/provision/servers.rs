//! MCP servers: their configs checked against the integration, URLs made and rotated, their
//! tools, calls and OAuth grants.

use std::collections::BTreeSet;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::catalog::{allowed, method_values, tag_values, tool_json};
use crate::crypto::{new_id, new_token};
use crate::store::{Confirm, McpServer, SchemaProfile, ServerConfig, now};

use super::{
    CallLog, CallsPage, CreateServer, Exposure, Field, GrantView, ProvisionError, Provisioner,
    Resource, ServerView, UpdateServer, check_name, check_result_budget, printable, rfc3339,
};

impl Provisioner {
    pub(super) fn check_config(
        &self,
        integration: &specgate_runtime::Integration,
        config: &ServerConfig,
    ) -> Result<Exposure, ProvisionError> {
        check_result_budget(config.max_result_bytes)?;
        let unknown = |field, value: &str, valid: Vec<String>| ProvisionError::UnknownFilterValue {
            field,
            value: printable(value),
            valid,
        };
        let with_all = |values: BTreeSet<&'static str>| {
            std::iter::once("all".to_owned())
                .chain(values.into_iter().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        let methods = method_values(integration);
        if let Some(bad) = config
            .methods
            .values()
            .iter()
            .find(|m| !methods.contains(m.as_str()))
        {
            return Err(unknown(Field::Methods, bad, with_all(methods)));
        }
        let tags = tag_values(integration);
        if let Some(bad) = config
            .tags
            .values()
            .iter()
            .find(|t| !tags.contains(t.as_str()))
        {
            return Err(unknown(Field::Tags, bad, with_all(tags)));
        }
        let names: BTreeSet<&str> = integration.tools.iter().map(|t| t.name).collect();
        let confirmed: &[String] = match &config.confirm {
            Confirm::Tools(names) => names,
            _ => &[],
        };
        for (field, listed) in [
            (Field::Tools, config.tools.values()),
            (Field::ExcludeTools, config.exclude_tools.as_slice()),
            (Field::Confirm, confirmed),
        ] {
            if let Some(bad) = listed.iter().find(|t| !names.contains(t.as_str())) {
                let valid = names.iter().map(|n| (*n).to_owned()).collect();
                return Err(unknown(field, bad, valid));
            }
        }
        let exposure = Exposure::of(integration.tools.iter().filter(|t| allowed(t, config)));
        if exposure.tools == 0 {
            return Err(ProvisionError::NoTools);
        }
        Ok(exposure)
    }

    /// An RFC 3339 time in the future, as Unix seconds.
    pub(crate) fn parse_expiry(text: &str) -> Result<i64, ProvisionError> {
        let at = OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| ProvisionError::ExpiryNotATimestamp(printable(text)))?;
        let unix = at.unix_timestamp();
        if unix <= now() {
            return Err(ProvisionError::ExpiryInThePast);
        }
        Ok(unix)
    }

    /// The URL (when the public URL is known) and path of a fresh token.
    pub(super) fn link(&self, token: &str) -> (Option<String>, String) {
        let path = format!("/mcp/{token}");
        let url = self
            .state
            .config
            .public_url
            .as_deref()
            .map(|base| format!("{}{path}", base.trim_end_matches('/')));
        (url, path)
    }

    /// Provisions an MCP server; the response carries the only copy of its URL.
    pub async fn create_server(
        &self,
        account_id: &str,
        request: CreateServer,
    ) -> Result<ServerView, ProvisionError> {
        let account = self.account(account_id).await?;
        let integration = self.integration(&account.integration)?;
        check_name(&request.name)?;
        let exposure = self.check_config(integration, &request.config)?;
        let expires_at = request
            .expires_at
            .as_deref()
            .map(Self::parse_expiry)
            .transpose()?;
        let token = new_token("mcp_").map_err(ProvisionError::internal)?;
        let server = McpServer {
            id: new_id().map_err(ProvisionError::internal)?,
            account_id: account.id,
            name: request.name,
            config: request.config,
            expires_at,
            created_at: now(),
        };
        self.state
            .store
            .create_server(&server, &self.state.keys.hash_token(&token))
            .await?;
        let warnings = exposure.warnings(&server.config);
        let mut view = server_view(server, Some(self.link(&token)));
        view.exposes = Some(exposure);
        view.warnings = warnings;
        Ok(view)
    }

    /// Servers of an account.
    pub async fn list_servers(&self, account_id: &str) -> Result<Vec<ServerView>, ProvisionError> {
        self.account(account_id).await?;
        Ok(self
            .state
            .store
            .list_servers(account_id)
            .await?
            .into_iter()
            .map(|s| server_view(s, None))
            .collect())
    }

    pub(super) async fn server(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<McpServer, ProvisionError> {
        self.state
            .store
            .get_server(account_id, id)
            .await?
            .ok_or_else(|| ProvisionError::not_found(Resource::Server, id))
    }

    /// One server (without its URL).
    pub async fn get_server(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<ServerView, ProvisionError> {
        self.server(account_id, id)
            .await
            .map(|s| server_view(s, None))
    }

    /// Changes name, filters or expiry.
    pub async fn update_server(
        &self,
        account_id: &str,
        id: &str,
        request: UpdateServer,
    ) -> Result<ServerView, ProvisionError> {
        let account = self.account(account_id).await?;
        let integration = self.integration(&account.integration)?;
        let mut server = self.server(account_id, id).await?;
        if let Some(name) = request.name {
            check_name(&name)?;
            server.name = name;
        }
        let mut exposure = None;
        if let Some(patch) = request.config {
            let config = patch.applied_to(server.config.clone());
            exposure = Some(self.check_config(integration, &config)?);
            server.config = config;
        }
        if let Some(expiry) = request.expires_at {
            server.expires_at = expiry.as_deref().map(Self::parse_expiry).transpose()?;
        }
        self.state.store.update_server(&server).await?;
        let warnings = exposure.map_or_else(Vec::new, |e| e.warnings(&server.config));
        let mut view = server_view(server, None);
        view.exposes = exposure;
        view.warnings = warnings;
        Ok(view)
    }

    /// Issues a new URL; the old one stops working with this commit.
    pub async fn rotate_server(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<ServerView, ProvisionError> {
        let server = self.server(account_id, id).await?;
        let token = new_token("mcp_").map_err(ProvisionError::internal)?;
        self.state
            .store
            .rotate_server(account_id, id, &self.state.keys.hash_token(&token))
            .await?;
        Ok(server_view(server, Some(self.link(&token))))
    }

    /// Deletes a server.
    pub async fn delete_server(&self, account_id: &str, id: &str) -> Result<(), ProvisionError> {
        if self.state.store.delete_server(account_id, id).await? {
            Ok(())
        } else {
            Err(ProvisionError::not_found(Resource::Server, id))
        }
    }

    /// Exactly the tools a server exposes.
    /// The tools a server exposes, with their schemas in `profile` (default: the server's).
    pub async fn server_tools(
        &self,
        account_id: &str,
        id: &str,
        profile: Option<SchemaProfile>,
    ) -> Result<Vec<Value>, ProvisionError> {
        let account = self.account(account_id).await?;
        let server = self.server(account_id, id).await?;
        let profile = profile.unwrap_or(server.config.schema_profile);
        Ok(self
            .state
            .catalog
            .visible(&account.integration, &server.config)
            .map(|tool| tool_json(tool, profile))
            .collect())
    }

    /// One page of a server's audit log, newest first. The rows outlive the server, so this
    /// answers for deleted servers too.
    pub async fn list_calls(
        &self,
        account_id: &str,
        id: &str,
        page: CallsPage,
    ) -> Result<CallLog, ProvisionError> {
        let limit = page.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(ProvisionError::InvalidLimit);
        }
        let before = match page.cursor.as_deref() {
            None => None,
            Some(cursor) => Some(
                cursor
                    .split_once('.')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)))
                    .ok_or(ProvisionError::InvalidCursor)?,
            ),
        };
        let calls = self
            .state
            .store
            .list_calls(account_id, id, before, limit + 1)
            .await?;
        let more = calls.len() > limit as usize;
        let calls: Vec<_> = calls.into_iter().take(limit as usize).collect();
        let next_cursor = more
            .then(|| calls.last().map(|c| format!("{}.{}", c.at_ms, c.id)))
            .flatten();
        Ok(CallLog { calls, next_cursor })
    }

    /// How a server's calls since `since_ms` (Unix milliseconds) ended: each outcome class
    /// with its count, commonest first.
    pub async fn call_outcomes(
        &self,
        account_id: &str,
        id: &str,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, ProvisionError> {
        Ok(self
            .state
            .store
            .call_outcomes(account_id, id, since_ms)
            .await?)
    }

    /// The clients signed in to a server through OAuth: its grants, newest first.
    pub async fn list_grants(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Vec<GrantView>, ProvisionError> {
        self.server(account_id, id).await?;
        Ok(self
            .state
            .store
            .list_grants(id)
            .await?
            .into_iter()
            .map(|grant| GrantView {
                created_at: rfc3339(grant.created_at),
                last_used_at: grant.last_used_ms.map(|ms| rfc3339(ms / 1000)),
                id: grant.id,
                client_id: grant.client_id,
                client_name: grant.client_name,
                api_token_id: grant.api_token_id,
            })
            .collect())
    }

    /// Ends a grant: its tokens stop working on every instance with this commit.
    pub async fn revoke_grant(
        &self,
        account_id: &str,
        id: &str,
        grant_id: &str,
    ) -> Result<(), ProvisionError> {
        self.server(account_id, id).await?;
        if self.state.store.delete_server_grant(id, grant_id).await? {
            Ok(())
        } else {
            Err(ProvisionError::not_found(Resource::Grant, grant_id))
        }
    }
}

pub(super) fn server_view(server: McpServer, link: Option<(Option<String>, String)>) -> ServerView {
    let (url, mcp_path) = link.map_or((None, None), |(url, path)| (url, Some(path)));
    ServerView {
        expires_at: server.expires_at.map(rfc3339),
        created_at: rfc3339(server.created_at),
        id: server.id,
        name: server.name,
        config: server.config,
        url,
        mcp_path,
        exposes: None,
        warnings: Vec::new(),
    }
}

/// Some clients accept at most this many tools from one server.
pub(super) const CLIENT_TOOL_CAP: usize = 128;
