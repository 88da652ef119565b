//! Provisioning: integrated accounts, MCP servers, API tokens and allowed upstream hosts.
//! [`Provisioner`] holds the rules every face shares (admin API, console, CLI); it answers
//! with views or a [`ProvisionError`] that names the field and the problem, and knows no
//! transport, status code or command line.

mod access;
mod accounts;
mod servers;
use accounts::has_fixed_base_url;
use servers::CLIENT_TOOL_CAP;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::call::{Credentials, CredentialsMismatch};
use crate::catalog::{method_values, tag_values};
use crate::egress::UrlRefusal;
use crate::state::AppState;
use crate::store::{
    Account, ApiToken, ConfigPatch, Filter, ServerConfig, StoreError, UpstreamHost,
};

/// The request field a [`ProvisionError`] concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The integration slug.
    Integration,
    /// A display name.
    Name,
    /// The vendor credentials.
    Credentials,
    /// An account's base URL.
    BaseUrl,
    /// The credentials' OAuth token URL.
    TokenUrl,
    /// A server's config as a whole.
    Config,
    /// The method filter.
    Methods,
    /// The tag filter.
    Tags,
    /// The tool filter.
    Tools,
    /// The excluded tools.
    ExcludeTools,
    /// A server's expiry.
    ExpiresAt,
    /// A page size.
    Limit,
    /// A page cursor.
    Cursor,
    /// An API token's scope.
    Scope,
    /// An upstream host pattern.
    Host,
    /// A server's result budget.
    MaxResultBytes,
    /// An OAuth app's client id.
    ClientId,
    /// An OAuth app's client secret.
    ClientSecret,
    /// An OAuth app's consent page.
    AuthorizeUrl,
    /// An OAuth app's token endpoint.
    AppTokenUrl,
    /// OAuth scopes.
    Scopes,
    /// Where the browser goes after connecting.
    ReturnTo,
    /// An origin `return_to` may name.
    Origin,
    /// A server's confirmation policy.
    Confirm,
}

impl Field {
    /// The field's name in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integration => "integration",
            Self::Name => "name",
            Self::Credentials => "credentials",
            Self::BaseUrl => "base_url",
            Self::TokenUrl => "credentials.token_url",
            Self::Config => "config",
            Self::Methods => "methods",
            Self::Tags => "tags",
            Self::Tools => "tools",
            Self::ExcludeTools => "exclude_tools",
            Self::ExpiresAt => "expires_at",
            Self::Limit => "limit",
            Self::Cursor => "cursor",
            Self::Scope => "scope",
            Self::Host => "host",
            Self::MaxResultBytes => "max_result_bytes",
            Self::ClientId => "client_id",
            Self::ClientSecret => "client_secret",
            Self::AuthorizeUrl => "authorize_url",
            Self::AppTokenUrl => "token_url",
            Self::Scopes => "scopes",
            Self::ReturnTo => "return_to",
            Self::Origin => "origin",
            Self::Confirm => "confirm",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an operator reading an error allows a refused host: the CLI (which the console names
/// too) or the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowVia {
    /// `specgate upstream-host allow`.
    Command,
    /// `POST /integrations/{name}/upstream-hosts`.
    Api,
}

/// What a provisioning request names that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// An integrated account.
    Account,
    /// An MCP server.
    Server,
    /// An API token.
    ApiToken,
    /// An OAuth grant.
    Grant,
    /// An integration's OAuth app.
    OAuthApp,
    /// An allowed `return_to` origin.
    ReturnOrigin,
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Account => "integrated account",
            Self::Server => "MCP server",
            Self::ApiToken => "API token",
            Self::Grant => "grant",
            Self::OAuthApp => "OAuth app for integration",
            Self::ReturnOrigin => "allowed return origin",
        })
    }
}

/// Why a display name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    /// Empty or only whitespace.
    #[error("must not be empty")]
    Empty,
    /// NUL, escape codes or newlines.
    #[error("must not contain control characters (NUL, escape codes, newlines)")]
    ControlCharacters,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("must be at most {MAX_NAME_CHARS} characters")]
    TooLong,
}

/// Why a provisioning request was refused. Every variant names what is wrong and how to fix
/// it; [`ProvisionError::field`] says which field it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// No compiled integration has this name.
    #[error("unknown integration `{name}`{}; compiled integrations: {}", closest(name, known).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default(), known.join(", "))]
    UnknownIntegration {
        /// The name sent.
        name: String,
        /// The compiled integrations.
        known: Vec<&'static str>,
    },
    /// A URL field does not parse.
    #[error("`{field}` is not a URL: {reason}")]
    NotAUrl {
        /// `base_url` or the token URL.
        field: Field,
        /// The parser's reason.
        reason: String,
    },
    /// A URL credentials would go to is not https or not public.
    #[error("`{field}` {refusal}")]
    InsecureUrl {
        /// `base_url` or the token URL.
        field: Field,
        /// Why.
        refusal: UrlRefusal,
    },
    /// A URL's host is neither declared by the spec nor allowed by an operator.
    #[error("`{field}` host `{host}` is not allowed for integration `{integration}`: {}", if allowed.is_empty() { "it allows no host yet".to_owned() } else { format!("it allows {}", allowed.join(", ")) })]
    HostNotAllowed {
        /// `base_url` or the token URL.
        field: Field,
        /// The host.
        host: String,
        /// The integration.
        integration: &'static str,
        /// The hosts it allows now.
        allowed: Vec<String>,
    },
    /// The credentials do not fit the integration's auth kind.
    #[error("credentials do not match integration `{integration}`: {mismatch}")]
    CredentialsMismatch {
        /// The integration.
        integration: &'static str,
        /// What does not fit.
        mismatch: CredentialsMismatch,
    },
    /// The integration's spec has no usable base URL, so the account needs one.
    #[error(
        "integration `{integration}` has no fixed base URL in its spec (`{spec_base_url}`), so an account needs `base_url`"
    )]
    BaseUrlRequired {
        /// The integration.
        integration: &'static str,
        /// The spec's base URL.
        spec_base_url: &'static str,
    },
    /// A new base URL without new credentials.
    #[error(
        "changing `base_url` requires `credentials` in the same request: stored credentials are never sent to a new host"
    )]
    CredentialsRequired,
    /// A display name is refused.
    #[error("`name` {0}")]
    InvalidName(NameProblem),
    /// A filter names a value the integration does not have.
    #[error("{}", unknown_filter_value(*field, value, valid))]
    UnknownFilterValue {
        /// `methods`, `tags`, `tools` or `exclude_tools`.
        field: Field,
        /// The value (control characters escaped).
        value: String,
        /// The valid values.
        valid: Vec<String>,
    },
    /// A result budget out of range.
    #[error(
        "`max_result_bytes` must be between {MIN_RESULT_BYTES} and {MAX_RESULT_BYTES}, got {0}"
    )]
    ResultBudgetOutOfRange(u32),
    /// The filters admit no tool.
    #[error(
        "this account has no tools for that filter (methods ∩ tags ∩ tools − exclude_tools is empty)"
    )]
    NoTools,
    /// `expires_at` is not an RFC 3339 timestamp.
    #[error("`expires_at` must be an RFC 3339 timestamp such as 2027-01-31T12:00:00Z, got `{0}`")]
    ExpiryNotATimestamp(String),
    /// `expires_at` is not in the future.
    #[error("`expires_at` is in the past")]
    ExpiryInThePast,
    /// A page size out of range.
    #[error("`limit` must be between 1 and 500")]
    InvalidLimit,
    /// A page cursor this API did not issue.
    #[error("`cursor` must be a `next_cursor` from an earlier page")]
    InvalidCursor,
    /// An admin token bound to an account.
    #[error("only `mcp` tokens can be bound to an account")]
    AdminTokenBound,
    /// Not a host name or `*.suffix` pattern.
    #[error("`{0}` is not a host name (example: api.example.com or *.example.com)")]
    InvalidHost(String),
    /// A wildcard over a public suffix (`*.com`, `*.co.uk`): every site under it.
    #[error(
        "`{0}` would allow every site under a public suffix; name the vendor's domain, such as *.vendor.com"
    )]
    PublicSuffixWildcard(String),
    /// A config patch that does not make a valid config.
    #[error("config: {0}")]
    InvalidConfig(String),
    /// The named resource does not exist.
    #[error("no {resource} with id `{id}`")]
    NotFound {
        /// What kind.
        resource: Resource,
        /// The id sent (control characters escaped).
        id: String,
    },
    /// The host is not on the integration's allow-list.
    #[error("host `{host}` is not allowed for `{integration}`")]
    HostNotListed {
        /// The host pattern.
        host: String,
        /// The integration.
        integration: &'static str,
    },
    /// Connecting needs the integration's OAuth app, and it has none.
    #[error(
        "integration `{integration}` has no OAuth app: register one at the vendor with the redirect URI {redirect_uri}, then PUT /integrations/{integration}/oauth-app"
    )]
    OAuthAppMissing {
        /// The integration.
        integration: &'static str,
        /// The callback URL to register.
        redirect_uri: String,
    },
    /// Connecting through consent needs OAuth 2 auth.
    #[error(
        "integration `{integration}` authenticates with `{auth}`, not OAuth 2: create its accounts with credentials"
    )]
    NotOAuth2 {
        /// The integration.
        integration: &'static str,
        /// Its auth kind.
        auth: &'static str,
    },
    /// Neither the spec nor the OAuth app names a consent page.
    #[error(
        "integration `{integration}`'s spec names no authorization URL: set `authorize_url` in its OAuth app"
    )]
    AuthorizeUrlMissing {
        /// The integration.
        integration: &'static str,
    },
    /// A value of an OAuth app or a connection is refused.
    #[error("`{field}` {problem}")]
    InvalidOAuthValue {
        /// Which value.
        field: Field,
        /// What is wrong with it.
        problem: String,
    },
    /// `return_to` is on an origin no operator allowed.
    #[error("`return_to` origin `{origin}` is not allowed: {}", if allowed.is_empty() { "no origin is allowed yet (POST /return-origins)".to_owned() } else { format!("allowed: {}", allowed.join(", ")) })]
    ReturnToNotAllowed {
        /// The origin sent.
        origin: String,
        /// The origins allowed now.
        allowed: Vec<String>,
    },
    /// The callback URL cannot be built: no public URL is known.
    #[error(
        "the server's public URL is unknown, so the vendor's callback URL is too: start `specgate serve` on this database once, or set SPECGATE_PUBLIC_URL"
    )]
    PublicUrlUnknown,
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// specgate failed otherwise (randomness, sealing).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProvisionError {
    /// The request field this error concerns; `None` for the request as a whole.
    pub fn field(&self) -> Option<Field> {
        Some(match self {
            Self::UnknownIntegration { .. } => Field::Integration,
            Self::NotAUrl { field, .. }
            | Self::InsecureUrl { field, .. }
            | Self::HostNotAllowed { field, .. }
            | Self::UnknownFilterValue { field, .. } => *field,
            Self::CredentialsMismatch { .. } | Self::CredentialsRequired => Field::Credentials,
            Self::BaseUrlRequired { .. } => Field::BaseUrl,
            Self::InvalidName(_) => Field::Name,
            Self::NoTools => Field::Methods,
            Self::ResultBudgetOutOfRange(_) => Field::MaxResultBytes,
            Self::ExpiryNotATimestamp(_) | Self::ExpiryInThePast => Field::ExpiresAt,
            Self::InvalidLimit => Field::Limit,
            Self::InvalidCursor => Field::Cursor,
            Self::AdminTokenBound => Field::Scope,
            Self::InvalidHost(_) | Self::PublicSuffixWildcard(_) | Self::HostNotListed { .. } => {
                Field::Host
            }
            Self::InvalidConfig(_) => Field::Config,
            Self::OAuthAppMissing { .. } | Self::NotOAuth2 { .. } => Field::Integration,
            Self::AuthorizeUrlMissing { .. } => Field::AuthorizeUrl,
            Self::InvalidOAuthValue { field, .. } => *field,
            Self::ReturnToNotAllowed { .. } => Field::ReturnTo,
            Self::NotFound { .. } | Self::PublicUrlUnknown | Self::Store(_) | Self::Internal(_) => {
                return None;
            }
        })
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    /// The error in words, with the way to allow a refused host as `via` names it.
    pub fn explained(&self, via: AllowVia) -> String {
        let Self::HostNotAllowed {
            integration, host, ..
        } = self
        else {
            return self.to_string();
        };
        let how = match via {
            AllowVia::Command => {
                format!("`specgate upstream-host allow --integration {integration} {host}`")
            }
            AllowVia::Api => format!("POST /integrations/{integration}/upstream-hosts"),
        };
        format!("{self}. An operator can allow it with {how}")
    }

    pub(crate) fn not_found(resource: Resource, id: &str) -> Self {
        Self::NotFound {
            resource,
            id: printable(id),
        }
    }
}

/// The known name `given` most likely means: the same letters but for case, `_`, `-` and
/// spaces (`edesk` for `e_desk`), or one that starts with it.
fn closest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let letters = |text: &str| -> String {
        text.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let given = letters(given);
    if given.is_empty() {
        return None;
    }
    known
        .iter()
        .find(|name| letters(name) == given)
        .or_else(|| known.iter().find(|name| letters(name).starts_with(&given)))
        .copied()
}

/// `POST /integrated-account`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Integration slug.
    pub integration: String,
    /// Display name.
    pub name: String,
    /// Vendor credentials (write-only).
    pub credentials: Credentials,
    /// Base URL override (https, or loopback with `--allow-insecure-upstreams`).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// `PATCH /integrated-account/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Replacement credentials.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// New base URL override (`null` returns to the spec's). Changing it requires
    /// `credentials` in the same request, so stored secrets never follow a new host.
    #[serde(default, deserialize_with = "present")]
    pub base_url: Option<Option<String>>,
}

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `POST /integrated-account/{id}/mcp`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    /// Display name.
    pub name: String,
    /// Filters and second factor.
    #[serde(default)]
    pub config: ServerConfig,
    /// RFC 3339 expiry.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `PATCH /integrated-account/{id}/mcp/{mcp_id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateServer {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// A JSON merge patch of the config: fields not sent keep their values.
    #[serde(default)]
    pub config: Option<ConfigPatch>,
    /// New RFC 3339 expiry; `null` removes the expiry.
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<String>>,
}

/// `POST /integrations/{name}/upstream-hosts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowHost {
    /// Host name, or `*.suffix` for its subdomains.
    pub host: String,
}

/// An MCP server as the API shows it; `url` only right after creation or rotation.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Filters.
    pub config: ServerConfig,
    /// RFC 3339 expiry.
    pub expires_at: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// The MCP URL with its secret token; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The URL's path, with the secret token; shown once, also when the public URL is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_path: Option<String>,
    /// What its filters let clients call: after a create or an update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposes: Option<Exposure>,
    /// What the operator should know about the configuration just written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The tools a server's filters let clients call, by what they may do.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Exposure {
    /// Every tool.
    pub tools: usize,
    /// Tools that only read.
    pub read_only: usize,
    /// Tools that write (everything else).
    pub writes: usize,
    /// Of the writing tools, those that may destroy or replace data (deletes, overwrites).
    pub destructive: usize,
}

impl Exposure {
    pub(crate) fn of<'a>(tools: impl Iterator<Item = &'a specgate_runtime::ToolDef>) -> Self {
        tools.fold(Self::default(), |mut exposure, tool| {
            exposure.tools += 1;
            if tool.annotations.read_only {
                exposure.read_only += 1;
            } else {
                exposure.writes += 1;
                exposure.destructive += usize::from(tool.annotations.destructive);
            }
            exposure
        })
    }

    /// What the operator should hear about it: too many tools for some clients, and writes
    /// exposed without `methods` having asked for them.
    fn warnings(self, config: &ServerConfig) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.tools > CLIENT_TOOL_CAP {
            warnings.push(format!(
                "this server exposes {} tools; some clients accept at most {CLIENT_TOOL_CAP} from one server, so narrow it with `methods`, `tags` or `tools`, or set `tool_exposure` to `discovery` (three tools that search, describe and call them)",
                self.tools
            ));
        }
        if self.writes > 0 && config.methods == Filter::All {
            warnings.push(format!(
                "this server exposes every method: {} of its {} tools write, {} of them destructive (deletes and overwrites); set `methods` to `read` (CLI `--methods read`) to expose only reads",
                self.writes, self.tools, self.destructive
            ));
        }
        warnings
    }
}

/// A client signed in to an MCP server through OAuth.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    /// Id.
    pub id: String,
    /// The client's id: a URL (metadata document) or `sgc_...` (registered).
    pub client_id: String,
    /// The client's name, while the client is known.
    pub client_name: Option<String>,
    /// The API token that consented; revoking it ends the grant.
    pub api_token_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 time of its last tool call, if any.
    pub last_used_at: Option<String>,
}

/// Query of `GET .../mcp/{mcp_id}/calls`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsPage {
    /// Rows per page (1–500, default 100).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of a server's audit log, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct CallLog {
    /// The calls.
    pub calls: Vec<crate::store::CallRecord>,
    /// The cursor of the next (older) page, if there is one.
    pub next_cursor: Option<String>,
}

/// An account as the API shows it (never with credentials).
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    /// Id.
    pub id: String,
    /// Integration slug.
    pub integration: String,
    /// Name.
    pub name: String,
    /// Base URL override.
    pub base_url: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The vendor refused its refresh token: connect it again (`POST .../reconnect`).
    pub needs_reconnect: bool,
}

pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Unix milliseconds as RFC 3339, to the millisecond.
pub(crate) fn rfc3339_ms(unix_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub(crate) fn account_view(account: Account) -> AccountView {
    AccountView {
        created_at: rfc3339(account.created_at),
        updated_at: rfc3339(account.updated_at),
        id: account.id,
        integration: account.integration,
        name: account.name,
        base_url: account.base_url,
        needs_reconnect: account.needs_reconnect,
    }
}

fn unknown_filter_value(field: Field, value: &str, valid: &[String]) -> String {
    let valid = valid.join(", ");
    match field {
        Field::Methods => format!("unknown method filter `{value}`; valid values: {valid}"),
        Field::Tags => format!("unknown tag `{value}`; valid tags: {valid}"),
        _ => format!("unknown tool `{value}` in `{field}`; valid tools: {valid}"),
    }
}

pub(crate) fn base_url_required(
    integration: &'static specgate_runtime::Integration,
) -> ProvisionError {
    ProvisionError::BaseUrlRequired {
        integration: integration.name,
        spec_base_url: integration.base_url,
    }
}

/// Text safe to print on a terminal: control characters (NUL, escape sequences) are escaped.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The smallest and largest result budgets a server may have.
pub const MIN_RESULT_BYTES: u32 = 2_000;
pub const MAX_RESULT_BYTES: u32 = 2_000_000;

/// Longest accepted display name.
const MAX_NAME_CHARS: usize = 200;

/// A result budget within the bounds a server may have.
pub(crate) fn check_result_budget(bytes: u32) -> Result<(), ProvisionError> {
    if (MIN_RESULT_BYTES..=MAX_RESULT_BYTES).contains(&bytes) {
        Ok(())
    } else {
        Err(ProvisionError::ResultBudgetOutOfRange(bytes))
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), ProvisionError> {
    let problem = if name.trim().is_empty() {
        NameProblem::Empty
    } else if name.chars().any(char::is_control) {
        NameProblem::ControlCharacters
    } else if name.chars().count() > MAX_NAME_CHARS {
        NameProblem::TooLong
    } else {
        return Ok(());
    };
    Err(ProvisionError::InvalidName(problem))
}

/// The provisioning rules every face shares.
#[derive(Clone)]
pub struct Provisioner {
    pub(crate) state: AppState,
}

impl Provisioner {
    /// Provisioning over the app state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    pub(crate) fn integration(
        &self,
        name: &str,
    ) -> Result<&'static specgate_runtime::Integration, ProvisionError> {
        let catalog = &self.state.catalog;
        catalog
            .integration(name)
            .ok_or_else(|| ProvisionError::UnknownIntegration {
                name: printable(name),
                known: catalog.integrations().iter().map(|i| i.name).collect(),
            })
    }

    /// Checks a URL that the account's credentials will be sent to: https (or loopback http
    /// with `--allow-insecure-upstreams`), a public address, and a host that the spec
    /// declares or an operator allowed for this integration.
    pub(crate) async fn check_upstream_url(
        &self,
        integration: &'static specgate_runtime::Integration,
        field: Field,
        url: &str,
    ) -> Result<(), ProvisionError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| ProvisionError::NotAUrl {
            field,
            reason: e.to_string(),
        })?;
        let insecure = self.state.config.allow_insecure_upstreams;
        crate::egress::check_url(&parsed, insecure)
            .map_err(|refusal| ProvisionError::InsecureUrl { field, refusal })?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let mut patterns = crate::egress::declared_hosts(integration);
        patterns.extend(
            self.state
                .store
                .upstream_hosts(Some(integration.name))
                .await?
                .into_iter()
                .map(|h| h.host),
        );
        if patterns
            .iter()
            .any(|p| crate::egress::host_matches(p, &host))
        {
            return Ok(());
        }
        Err(ProvisionError::HostNotAllowed {
            field,
            host,
            integration: integration.name,
            allowed: patterns,
        })
    }

    /// A new account's base URL: allowed for the integration, or absent when its spec has a
    /// fixed one.
    pub(crate) async fn check_base_url(
        &self,
        integration: &'static specgate_runtime::Integration,
        base_url: Option<&str>,
    ) -> Result<(), ProvisionError> {
        match base_url {
            Some(url) => {
                self.check_upstream_url(integration, Field::BaseUrl, url)
                    .await
            }
            None if !has_fixed_base_url(integration) => Err(base_url_required(integration)),
            None => Ok(()),
        }
    }

    pub(crate) fn seal(&self, credentials: &Credentials) -> Result<String, ProvisionError> {
        let bytes = serde_json::to_vec(credentials).map_err(ProvisionError::internal)?;
        self.state
            .keys
            .seal(&bytes)
            .map_err(ProvisionError::internal)
    }

    pub(crate) async fn account(&self, id: &str) -> Result<Account, ProvisionError> {
        self.state
            .store
            .get_account(id)
            .await?
            .ok_or_else(|| ProvisionError::not_found(Resource::Account, id))
    }
}

/// Compiled integrations with tool counts, tags and auth kinds.
pub fn integrations_json(catalog: &crate::catalog::Catalog) -> Value {
    Value::Array(
        catalog
            .integrations()
            .iter()
            .map(|i| {
                json!({
                    "name": i.name,
                    "title": i.title,
                    "auth": i.auth.as_str(),
                    "tool_count": i.tools.len(),
                    "tags": tag_values(i),
                    "methods": method_values(i),
                })
            })
            .collect(),
    )
}

/// An API token as lists show it: never its secret, with its last use.
#[derive(Debug, Clone, Serialize)]
pub struct ApiTokenView {
    /// The token.
    #[serde(flatten)]
    pub token: ApiToken,
    /// Unix milliseconds of its last use, if any: a tool call (from the audit log), or the
    /// admin API, the console or a consent page.
    pub last_used_ms: Option<i64>,
}

/// An allowed upstream host, as allowing it answers.
#[derive(Debug, Clone, Serialize)]
pub struct AllowedHost {
    /// The host.
    #[serde(flatten)]
    pub host: UpstreamHost,
    /// What the operator should know: a host vendor requests can never reach.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
