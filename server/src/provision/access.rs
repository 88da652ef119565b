//! API tokens and the upstream hosts an operator allows.

use serde_json::{Value, json};

use crate::crypto::{new_id, new_token};
use crate::store::{ApiToken, TokenScope, UpstreamHost, now};

use super::{
    AllowedHost, ApiTokenView, ProvisionError, Provisioner, Resource, check_name, printable,
};

impl Provisioner {
    /// Creates an API token; the raw token is returned once. An `mcp` token may be bound to
    /// one account; an `admin` token never is.
    pub async fn create_api_token(
        &self,
        name: &str,
        scope: TokenScope,
        account_id: Option<&str>,
    ) -> Result<(ApiToken, String), ProvisionError> {
        self.create_api_token_until(name, scope, account_id, None)
            .await
    }

    /// Creates an API token that opens nothing after `expires_at` (RFC 3339), if given.
    pub async fn create_api_token_until(
        &self,
        name: &str,
        scope: TokenScope,
        account_id: Option<&str>,
        expires_at: Option<&str>,
    ) -> Result<(ApiToken, String), ProvisionError> {
        check_name(name)?;
        let expires_at = expires_at.map(Self::parse_expiry).transpose()?;
        if let Some(account_id) = account_id {
            if scope == TokenScope::Admin {
                return Err(ProvisionError::AdminTokenBound);
            }
            self.account(account_id).await?;
        }
        let token = new_token("sgk_").map_err(ProvisionError::internal)?;
        let record = ApiToken {
            id: new_id().map_err(ProvisionError::internal)?,
            name: name.to_owned(),
            scope,
            account_id: account_id.map(str::to_owned),
            created_at: now(),
            expires_at,
        };
        self.state
            .store
            .create_api_token(&record, &self.state.keys.hash_token(&token))
            .await?;
        Ok((record, token))
    }

    /// Every API token (never the tokens themselves, which are only stored hashed).
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenView>, ProvisionError> {
        Ok(self
            .state
            .store
            .list_api_tokens()
            .await?
            .into_iter()
            .map(|(token, last_used_ms)| ApiTokenView {
                token,
                last_used_ms,
            })
            .collect())
    }

    /// Revokes an API token; every instance refuses it from this commit on.
    pub async fn revoke_api_token(&self, id: &str) -> Result<(), ProvisionError> {
        if self.state.store.revoke_api_token(id).await? {
            Ok(())
        } else {
            Err(ProvisionError::not_found(Resource::ApiToken, id))
        }
    }

    /// Allows an upstream host (or `*.suffix`) for an integration's accounts.
    pub async fn allow_upstream_host(
        &self,
        integration: &str,
        host: &str,
    ) -> Result<AllowedHost, ProvisionError> {
        let integration = self.integration(integration)?;
        let host = normalize_host_pattern(host)?;
        if let Some(suffix) = host.strip_prefix("*.")
            && is_public_suffix(suffix)
        {
            return Err(ProvisionError::PublicSuffixWildcard(host));
        }
        self.state
            .store
            .allow_upstream_host(integration.name, &host)
            .await?;
        let warnings = never_reached(&host, self.state.config.allow_insecure_upstreams)
            .into_iter()
            .collect();
        Ok(AllowedHost {
            host: UpstreamHost {
                integration: integration.name.to_owned(),
                host,
                created_at: now(),
            },
            warnings,
        })
    }

    /// Removes an allowed upstream host. Calls of accounts whose base URL is on it are refused
    /// from then on (the host is checked at every call), until an operator allows it again or
    /// moves the account.
    pub async fn remove_upstream_host(
        &self,
        integration: &str,
        host: &str,
    ) -> Result<(), ProvisionError> {
        let integration = self.integration(integration)?;
        let host = normalize_host_pattern(host)?;
        if self
            .state
            .store
            .remove_upstream_host(integration.name, &host)
            .await?
        {
            Ok(())
        } else {
            Err(ProvisionError::HostNotListed {
                host,
                integration: integration.name,
            })
        }
    }

    /// Every host an operator has allowed, of every integration.
    pub async fn allowed_upstream_hosts(&self) -> Result<Vec<UpstreamHost>, ProvisionError> {
        Ok(self.state.store.upstream_hosts(None).await?)
    }

    /// The hosts an integration's accounts may use: declared by its spec, and allowed.
    pub async fn upstream_hosts(&self, integration: &str) -> Result<Value, ProvisionError> {
        let integration = self.integration(integration)?;
        let allowed = self
            .state
            .store
            .upstream_hosts(Some(integration.name))
            .await?;
        Ok(json!({
            "integration": integration.name,
            "declared": crate::egress::declared_hosts(integration),
            "allowed": allowed.iter().map(|h| &h.host).collect::<Vec<_>>(),
        }))
    }
}

/// Second-level labels under which country registries sell names (`co.uk`, `com.au`).
pub(super) const REGISTRY_LABELS: [&str; 12] = [
    "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "mil",
];

/// Whether `suffix` is a public suffix, under which anyone may register a name: one label
/// (`com`, `io`), or a registry label under a country code (`co.uk`). This covers the cases
/// the public suffix list exists for without compiling its ten thousand rules in (the `psl`
/// crates generate a match of every rule); a vendor's own domain always has a name below these.
pub(super) fn is_public_suffix(suffix: &str) -> bool {
    let labels: Vec<&str> = suffix.split('.').collect();
    match labels.as_slice() {
        [_] => true,
        [second, country] => country.len() == 2 && REGISTRY_LABELS.contains(second),
        _ => false,
    }
}

/// Why vendor requests can never reach `host`, if they cannot: a loopback, private or
/// link-local literal, `localhost`, or a name of the cloud metadata services or local
/// networks, all of which the egress guard refuses (unless insecure upstreams are allowed).
pub(super) fn never_reached(host: &str, allow_insecure: bool) -> Option<String> {
    if allow_insecure {
        return None;
    }
    let private_literal = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| !crate::egress::is_public(ip));
    let local_name = host == "localhost"
        || [".localhost", ".internal", ".local", ".localdomain"]
            .iter()
            .any(|suffix| host.ends_with(suffix));
    (private_literal || local_name).then(|| {
        format!(
            "`{host}` is a loopback, private, link-local or metadata address, which vendor requests never reach (only a server run with --allow-insecure-upstreams, for tests, may)"
        )
    })
}

pub(super) fn normalize_host_pattern(host: &str) -> Result<String, ProvisionError> {
    let host = host.trim().to_ascii_lowercase();
    let bare = host.strip_prefix("*.").unwrap_or(&host);
    let valid = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        || bare.parse::<std::net::IpAddr>().is_ok();
    if valid {
        Ok(host)
    } else {
        Err(ProvisionError::InvalidHost(printable(&host)))
    }
}
