//! The domain: what specgate provisions and serves (accounts, MCP servers and their configs,
//! API tokens, allowed hosts), as plain data with its own rules and no storage, HTTP or MCP.
//! The store persists these types; every layer above reads them.

use serde::{Deserialize, Serialize};

/// An integrated account: one customer's credentials for one vendor.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Account {
    /// Id.
    pub id: String,
    /// Integration slug.
    pub integration: String,
    /// Display name.
    pub name: String,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// The vendor refused its refresh token: its owner must connect it again.
    pub needs_reconnect: bool,
}

/// One filter of an MCP server: every value, or only the listed ones. On the wire it is
/// `["all"]` or the list; `null` and `[]` are refused, so widening access is always explicit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Filter {
    /// No restriction.
    #[default]
    All,
    /// Only these values (never empty).
    Only(Vec<String>),
}

impl Filter {
    /// The value that means "no restriction".
    pub const ALL: &'static str = "all";

    /// Whether `matches` holds for any listed value, or the filter is `All`.
    pub fn admits(&self, matches: impl Fn(&str) -> bool) -> bool {
        match self {
            Self::All => true,
            Self::Only(values) => values.iter().any(|v| matches(v)),
        }
    }

    /// The listed values (none for `All`).
    pub fn values(&self) -> &[String] {
        match self {
            Self::All => &[],
            Self::Only(values) => values,
        }
    }

    /// A filter from a list, with the same rules as its JSON form.
    pub fn from_list(values: Vec<String>) -> Result<Self, FilterError> {
        if values.is_empty() {
            return Err(FilterError::Empty);
        }
        if values.iter().any(|v| v == Self::ALL) {
            return if values.len() == 1 {
                Ok(Self::All)
            } else {
                Err(FilterError::AllCombined)
            };
        }
        Ok(Self::Only(values))
    }
}

/// Why a list is not a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// No values.
    #[error("an empty filter would match nothing; use [\"all\"] for every value")]
    Empty,
    /// `all` next to other values.
    #[error("`all` cannot be combined with other values")]
    AllCombined,
}

impl Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::All => [Self::ALL].serialize(serializer),
            Self::Only(values) => values.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<Vec<String>>::deserialize(deserializer)? {
            None => Err(serde::de::Error::custom(
                "a filter cannot be null; send [\"all\"] to allow every value, or the values to allow",
            )),
            Some(values) => Self::from_list(values).map_err(serde::de::Error::custom),
        }
    }
}

/// The filters, second factor and result shape of an MCP server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `read`, `write`, `custom` or method names.
    #[serde(default)]
    pub methods: Filter,
    /// Tags.
    #[serde(default)]
    pub tags: Filter,
    /// Tool names: an explicit allow-list, or `["all"]`.
    #[serde(default)]
    pub tools: Filter,
    /// Tool names never exposed, whatever the other filters admit.
    #[serde(default)]
    pub exclude_tools: Vec<String>,
    /// Clients must also send a valid API token.
    #[serde(default)]
    pub require_api_token_auth: bool,
    /// Clients sign in with OAuth 2.1 (or send an API token): the second factor for hosted
    /// clients that cannot send headers.
    #[serde(default)]
    pub oauth: bool,
    /// The most bytes a tools/call result takes (its JSON-RPC `result` object, compact).
    #[serde(default = "default_max_result_bytes")]
    pub max_result_bytes: u32,
    /// Every tool listed, or three that search, describe and call them.
    #[serde(default)]
    pub tool_exposure: ToolExposure,
    /// The tool schemas listed when the URL does not choose (`/mcp/<token>/portable` does).
    #[serde(default)]
    pub schema_profile: SchemaProfile,
    /// Which calls wait for a person's confirmation before anything is sent to the vendor.
    #[serde(default)]
    pub confirm: Confirm,
    /// What a call that needs confirmation does where the client cannot ask the person.
    #[serde(default)]
    pub confirm_fallback: ConfirmFallback,
}

/// A change to a server's config, as the admin API's `PATCH` (a JSON merge patch), the CLI's
/// flags and the console's form make it: each field sent replaces that field, the others keep
/// their values, and `null` is refused (widening access is always explicit).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    /// `read`, `write`, `custom` or method names.
    #[serde(default, deserialize_with = "present_value")]
    pub methods: Option<Filter>,
    /// Tags.
    #[serde(default, deserialize_with = "present_value")]
    pub tags: Option<Filter>,
    /// Tool names.
    #[serde(default, deserialize_with = "present_value")]
    pub tools: Option<Filter>,
    /// Tool names never exposed.
    #[serde(default, deserialize_with = "present_value")]
    pub exclude_tools: Option<Vec<String>>,
    /// Clients must also send a valid API token.
    #[serde(default, deserialize_with = "present_value")]
    pub require_api_token_auth: Option<bool>,
    /// Clients sign in with OAuth.
    #[serde(default, deserialize_with = "present_value")]
    pub oauth: Option<bool>,
    /// The result budget.
    #[serde(default, deserialize_with = "present_value")]
    pub max_result_bytes: Option<u32>,
    /// How tools are listed.
    #[serde(default, deserialize_with = "present_value")]
    pub tool_exposure: Option<ToolExposure>,
    /// The schemas listed by default.
    #[serde(default, deserialize_with = "present_value")]
    pub schema_profile: Option<SchemaProfile>,
    /// Which calls wait for a person.
    #[serde(default, deserialize_with = "present_value")]
    pub confirm: Option<Confirm>,
    /// Where the client cannot ask.
    #[serde(default, deserialize_with = "present_value")]
    pub confirm_fallback: Option<ConfirmFallback>,
}

/// A field that, when present, holds a value: `null` is read as the value's type, so it is
/// refused with that type's words.
fn present_value<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl ConfigPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `config` with this patch's fields replaced.
    pub fn applied_to(self, mut config: ServerConfig) -> ServerConfig {
        macro_rules! replace {
            ($($field:ident),*) => {
                $(if let Some(value) = self.$field {
                    config.$field = value;
                })*
            };
        }
        replace!(
            methods,
            tags,
            tools,
            exclude_tools,
            require_api_token_auth,
            oauth,
            max_result_bytes,
            tool_exposure,
            schema_profile,
            confirm,
            confirm_fallback
        );
        config
    }
}

impl From<ServerConfig> for ConfigPatch {
    /// A patch that replaces every field: a whole config, as the console's form sends it.
    fn from(config: ServerConfig) -> Self {
        Self {
            methods: Some(config.methods),
            tags: Some(config.tags),
            tools: Some(config.tools),
            exclude_tools: Some(config.exclude_tools),
            require_api_token_auth: Some(config.require_api_token_auth),
            oauth: Some(config.oauth),
            max_result_bytes: Some(config.max_result_bytes),
            tool_exposure: Some(config.tool_exposure),
            schema_profile: Some(config.schema_profile),
            confirm: Some(config.confirm),
            confirm_fallback: Some(config.confirm_fallback),
        }
    }
}

/// Which calls of a server wait for a person's confirmation (see `server/src/confirm.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Confirm {
    /// None.
    #[default]
    Never,
    /// Those of tools marked `destructiveHint`: deletes and overwrites.
    Destructive,
    /// Those of every tool that is not read-only.
    Writes,
    /// Those of the tools named.
    Tools(Vec<String>),
}

impl Confirm {
    /// Whether a call of `tool` waits for confirmation.
    pub fn applies(&self, tool: &specgate_runtime::ToolDef) -> bool {
        match self {
            Self::Never => false,
            Self::Destructive => tool.annotations.destructive,
            Self::Writes => !tool.annotations.read_only,
            Self::Tools(names) => names.iter().any(|name| name == tool.name),
        }
    }

    /// Its stored form: a word, or a JSON array of tool names.
    pub fn stored(&self) -> String {
        match self {
            Self::Never => "never".to_owned(),
            Self::Destructive => "destructive".to_owned(),
            Self::Writes => "writes".to_owned(),
            Self::Tools(names) => serde_json::to_string(names).unwrap_or_default(),
        }
    }

    /// Reads [`Confirm::stored`].
    pub fn from_stored(text: &str) -> Result<Self, serde_json::Error> {
        match text {
            "never" => Ok(Self::Never),
            "destructive" => Ok(Self::Destructive),
            "writes" => Ok(Self::Writes),
            list => serde_json::from_str(list).map(Self::Tools),
        }
    }
}

impl Serialize for Confirm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Tools(names) => names.serialize(serializer),
            word => serializer.serialize_str(&word.stored()),
        }
    }
}

impl<'de> Deserialize<'de> for Confirm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "`never`, `destructive`, `writes` or a list of tool names";
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(word) => match word.as_str() {
                "never" => Ok(Self::Never),
                "destructive" => Ok(Self::Destructive),
                "writes" => Ok(Self::Writes),
                other => Err(serde::de::Error::custom(format!(
                    "must be {EXPECTED}, not `{other}`"
                ))),
            },
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::String(name) => Ok(name),
                    _ => Err(serde::de::Error::custom(format!(
                        "must be {EXPECTED}: a list holds tool names only"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(|names| {
                    if names.is_empty() {
                        Err(serde::de::Error::custom(format!(
                            "must be {EXPECTED}: a list names at least one tool"
                        )))
                    } else {
                        Ok(Self::Tools(names))
                    }
                }),
            _ => Err(serde::de::Error::custom(format!("must be {EXPECTED}"))),
        }
    }
}

/// What a call that needs confirmation does where the client cannot ask the person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfirmFallback {
    /// It is refused, and its result says which clients can confirm it.
    #[default]
    Refuse,
    /// It runs unconfirmed.
    Allow,
}

impl ConfirmFallback {
    /// Its stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::Allow => "allow",
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            methods: Filter::default(),
            tags: Filter::default(),
            tools: Filter::default(),
            exclude_tools: Vec::new(),
            require_api_token_auth: false,
            oauth: false,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            tool_exposure: ToolExposure::All,
            schema_profile: SchemaProfile::default(),
            confirm: Confirm::Never,
            confirm_fallback: ConfirmFallback::Refuse,
        }
    }
}

/// The default result budget: within Claude Code's default limit of 25,000 tokens.
pub const DEFAULT_MAX_RESULT_BYTES: u32 = 100_000;

fn default_max_result_bytes() -> u32 {
    DEFAULT_MAX_RESULT_BYTES
}

/// How an MCP server exposes its tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolExposure {
    /// Every tool in `tools/list`.
    #[default]
    All,
    /// `search_tools`, `get_tool_schema` and `call_tool`, over the same tools.
    Discovery,
}

impl ToolExposure {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Discovery => "discovery",
        }
    }
}

/// Which form of the tools' input schemas a client is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaProfile {
    /// Self-contained JSON Schema 2020-12.
    #[default]
    Full,
    /// The subset OpenAI, Anthropic, Gemini and Cursor all accept; what it cannot express
    /// is a JSON-encoded string argument.
    Portable,
}

impl SchemaProfile {
    /// `full` or `portable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Portable => "portable",
        }
    }
}

/// A provisioned MCP server (the token itself is never stored).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct McpServer {
    /// Id.
    pub id: String,
    /// Owning account.
    pub account_id: String,
    /// Display name.
    pub name: String,
    /// Filters.
    pub config: ServerConfig,
    /// Unix seconds after which the server is refused.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

/// What an API token may do; a new one may do the least unless it says otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// The admin API, and the second factor of every MCP server.
    Admin,
    /// Only the second factor of MCP servers (of one account, if bound); refused by the admin API.
    #[default]
    Mcp,
}

impl TokenScope {
    /// Its name, as the API and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Mcp => "mcp",
        }
    }

    pub(crate) fn parse(text: &str) -> Self {
        // Anything but `mcp` is an admin token, the only scope before scopes existed.
        if text == "mcp" {
            Self::Mcp
        } else {
            Self::Admin
        }
    }
}

/// An API token (hash only).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiToken {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// The one account an `mcp` token is bound to, if any.
    pub account_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which it opens nothing; `None`: until revoked.
    pub expires_at: Option<i64>,
}

impl ApiToken {
    /// Whether it has not expired.
    pub fn live(&self) -> bool {
        self.expires_at.is_none_or(|at| at > now())
    }

    /// Whether it opens the admin API and the console: an `admin` token (its liveness is
    /// checked where it is looked up, `AppState::api_token`).
    pub fn opens_admin(&self) -> bool {
        self.scope == TokenScope::Admin
    }
}

/// An upstream host an operator allowed for an integration.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UpstreamHost {
    /// Integration slug.
    pub integration: String,
    /// Host name or `*.suffix` pattern, lower-case.
    pub host: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Current unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Current unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
