//! Durable state through `sqlx`'s `Any` driver: SQLite by default, PostgreSQL with the same
//! queries and migrations. Queries use `$n` placeholders, which both engines accept.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlStr};
use tokio_util::sync::CancellationToken;

use crate::changes::ChangeSignal;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite file or its directory cannot be used.
    #[error("{0}")]
    File(String),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored secret opens with neither the key nor the previous one.
    #[error("a stored secret opens with neither this key nor the previous one")]
    Unsealable,
    /// PostgreSQL does not answer, or refuses the connection.
    #[error("cannot connect to the database at {at}: {reason}")]
    Unreachable {
        /// Host and port (never the password).
        at: String,
        /// The connect error, or how long nothing answered.
        reason: String,
    },
    /// A newer specgate migrated the database past what this build knows.
    #[error(
        "this database was written by a newer specgate (it has migration {applied}; this build knows migrations up to {known}): run that newer specgate, or restore a backup taken before the upgrade"
    )]
    Newer {
        /// The unknown migration the database has.
        applied: i64,
        /// The newest migration this build has.
        known: i64,
    },
    /// The database lacks migrations this build needs.
    #[error("the database schema is at migration {applied}; this build needs {expected}")]
    Schema {
        /// The newest migration applied.
        applied: i64,
        /// The newest migration this build has.
        expected: i64,
    },
    /// A stored filter list is not valid JSON (only possible if edited by hand).
    #[error("corrupt stored filter list: {0}")]
    Corrupt(#[from] serde_json::Error),
}

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

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// The admin API, and the second factor of every MCP server.
    Admin,
    /// Only the second factor of MCP servers (of one account, if bound); refused by the admin API.
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

    fn parse(text: &str) -> Self {
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

macro_rules! server_columns {
    () => {
        "SELECT id, account_id, name, methods, tags, tools, exclude_tools, require_api_token_auth, oauth, max_result_bytes, tool_exposure, schema_profile, confirm, confirm_fallback, expires_at, created_at FROM mcp_servers"
    };
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// The URL it was opened with, for the change watcher's own connection.
    url: Arc<str>,
    /// Bumped after every write this process commits.
    changes: ChangeSignal,
    /// Which engine, for the statements built at run time.
    postgres: bool,
}

mod connect;
mod oauth;

pub use connect::{Connection, ConnectionOutcome, OAuthApp, Taken};
pub use oauth::{
    AccessGrant, GrantRecord, IssuedToken, NewCode, OAuthClient, StoredCode, StoredRefresh,
};

/// How long a database server may take to accept a connection before a command gives up.
const CONNECT_SECS: u64 = 5;

/// Connects to a database server once, so an unreachable or refusing one fails within
/// seconds with its host and the reason, instead of a pool's timeout half a minute later.
async fn reachable(url: &str) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let at = reqwest::Url::parse(url)
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or("localhost"),
                u.port().unwrap_or(5432)
            )
        })
        .unwrap_or_else(|| "the configured address".to_owned());
    let unreachable = |reason: String| StoreError::Unreachable {
        at: at.clone(),
        reason,
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(CONNECT_SECS),
        sqlx::AnyConnection::connect(url),
    )
    .await
    {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(error)) => Err(unreachable(error.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {CONNECT_SECS} s"))),
    }
}

fn migrator(postgres: bool) -> Migrator {
    // PostgreSQL tells other instances about changes through triggers; SQLite needs none.
    let (notifications, counter, audit_ids, host_changes, grant_changes) = if postgres {
        (
            include_str!("../migrations/0003_change_notifications.postgres.sql"),
            include_str!("../migrations/0006_change_counter.postgres.sql"),
            include_str!("../migrations/0009_tool_calls_without_id_index.postgres.sql"),
            include_str!("../migrations/0010_upstream_host_changes.postgres.sql"),
            include_str!("../migrations/0012_oauth_grant_changes.postgres.sql"),
        )
    } else {
        (
            include_str!("../migrations/0003_change_notifications.sqlite.sql"),
            include_str!("../migrations/0006_change_counter.sqlite.sql"),
            include_str!("../migrations/0009_tool_calls_without_id_index.sqlite.sql"),
            include_str!("../migrations/0010_upstream_host_changes.sqlite.sql"),
            include_str!("../migrations/0012_oauth_grant_changes.sqlite.sql"),
        )
    };
    // (version, description, SQL): the description and SQL are what sqlx checksums, so
    // neither changes once released.
    let steps: [(i64, &'static str, &'static str); 18] = [
        (1, "init", include_str!("../migrations/0001_init.sql")),
        (
            2,
            "scopes hosts settings",
            include_str!("../migrations/0002_scopes_hosts_settings.sql"),
        ),
        (3, "change notifications", notifications),
        (
            4,
            "tool allow-lists",
            include_str!("../migrations/0004_tool_allow_lists.sql"),
        ),
        (
            5,
            "tool calls",
            include_str!("../migrations/0005_tool_calls.sql"),
        ),
        (6, "change counter", counter),
        (
            7,
            "console sessions",
            include_str!("../migrations/0007_console_sessions.sql"),
        ),
        (
            8,
            "schema profile",
            include_str!("../migrations/0008_schema_profile.sql"),
        ),
        (9, "tool calls without an id index", audit_ids),
        (10, "upstream host changes", host_changes),
        (11, "oauth", include_str!("../migrations/0011_oauth.sql")),
        (12, "oauth grant changes", grant_changes),
        (
            13,
            "result budget and exposure",
            include_str!("../migrations/0013_result_budget_and_exposure.sql"),
        ),
        (
            14,
            "vendor oauth",
            include_str!("../migrations/0014_vendor_oauth.sql"),
        ),
        (
            15,
            "oauth hardening",
            include_str!("../migrations/0015_oauth_hardening.sql"),
        ),
        (
            16,
            "api token expiry",
            include_str!("../migrations/0016_api_token_expiry.sql"),
        ),
        (
            17,
            "api token last used",
            include_str!("../migrations/0017_api_token_last_used.sql"),
        ),
        (
            18,
            "confirmations",
            include_str!("../migrations/0018_confirmations.sql"),
        ),
    ];
    Migrator {
        migrations: Cow::Owned(
            steps
                .into_iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        SqlStr::from_static(sql),
                        false,
                    )
                })
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
}

/// The audit log's insert of `rows` rows. PostgreSQL numbers its parameters (`$1` ... `$n`);
/// SQLite gets positional `?`, because it looks each `$n` up among the names seen so far, which
/// makes parsing a 1,000-parameter statement quadratic.
fn insert_calls_sql(rows: usize, postgres: bool) -> String {
    use std::fmt::Write;
    const COLUMNS: usize = 12;
    let mut sql = String::with_capacity(128 + rows * 64);
    sql.push_str("INSERT INTO tool_calls (id, at_ms, account_id, server_id, integration, tool, arguments_hmac, upstream_status, latency_ms, outcome, grant_id, api_token_id) VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            if postgres {
                // Writing into a String cannot fail.
                let _ = write!(sql, "${}", row * COLUMNS + column + 1);
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
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

impl Store {
    /// Connects and runs the embedded migrations. With `create`, a missing SQLite file is
    /// created (mode 0600); without it, a missing file is an error and nothing is written to
    /// disk before the database is found.
    pub async fn open(url: &str, create: bool) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let sqlite_path = sqlite_file(url);
        let sqlite = sqlite_path.is_some();
        if let Some(path) = &sqlite_path {
            prepare_sqlite_file(path, create)?;
        }
        let url = if sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rw", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_owned()
        };
        if !sqlite {
            reachable(&url).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL for concurrent readers; FULL sync so a commit survives a kill.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        // Lookups touch a few small tables and the audit log only appends,
                        // so 512 KiB of page cache per connection is plenty (default 2 MiB).
                        sqlx::query("PRAGMA cache_size = -512")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let migrator = migrator(!sqlite);
        migrator.run(&pool).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::VersionMissing(applied) => StoreError::Newer {
                applied,
                known: migrator
                    .migrations
                    .iter()
                    .map(|m| m.version)
                    .max()
                    .unwrap_or(0),
            },
            other => other.into(),
        })?;
        if let Some(path) = &sqlite_path {
            // SQLite gives the WAL and shared-memory files the database file's mode, but an
            // older database may have been created more open.
            for suffix in ["", "-wal", "-shm"] {
                restrict_file(std::path::Path::new(&format!("{}{suffix}", path.display())))?;
            }
        }
        Ok(Self {
            pool,
            url: url.into(),
            changes: ChangeSignal::default(),
            postgres: !sqlite,
        })
    }

    /// The signal caches of this database's contents watch (see [`crate::changes`]).
    pub fn changes(&self) -> &ChangeSignal {
        &self.changes
    }

    /// Watches the database for other processes' commits until `stop` fires; until it is
    /// connected, [`ChangeSignal::generation`] is `None` and caches are bypassed.
    pub fn watch_changes(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        crate::changes::spawn_watcher(self.url.to_string(), self.changes.clone(), stop)
    }

    // ---- API tokens ----

    /// Stores a new API token hash.
    pub async fn create_api_token(&self, token: &ApiToken, hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, scope, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(hash)
        .bind(token.scope.as_str())
        .bind(&token.account_id)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// All API tokens, oldest first, each with the time of its last use (Unix milliseconds):
    /// its last tool call (from the audit log) or its last admin, console or consent sign-in,
    /// whichever is later.
    pub async fn list_api_tokens(&self) -> Result<Vec<(ApiToken, Option<i64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.scope, t.account_id, t.created_at, t.expires_at, u.last_used_at, \
                    (SELECT MAX(at_ms) FROM tool_calls k WHERE k.api_token_id = t.id) AS last_call_ms \
             FROM api_tokens t LEFT JOIN api_token_uses u ON u.api_token_id = t.id ORDER BY t.created_at, t.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let opened: Option<i64> = row.try_get("last_used_at")?;
                let called: Option<i64> = row.try_get("last_call_ms")?;
                Ok((
                    api_token_from_row(row)?,
                    opened.map(|s| s * 1000).max(called),
                ))
            })
            .collect()
    }

    /// Records that a token opened the admin API, the console or a consent page at `at`; a
    /// use within a minute of the recorded one writes nothing, so a busy script costs one
    /// write a minute. It moves no change counter: caches stay.
    pub async fn touch_api_token(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_token_uses (api_token_id, last_used_at) VALUES ($1, $2) \
             ON CONFLICT (api_token_id) DO UPDATE SET last_used_at = excluded.last_used_at \
             WHERE api_token_uses.last_used_at < $3",
        )
        .bind(id)
        .bind(at)
        .bind(at - 60)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes an API token; returns whether it existed.
    pub async fn revoke_api_token(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// The live API token a hash belongs to.
    pub async fn find_api_token(&self, hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, scope, account_id, created_at, expires_at FROM api_tokens WHERE token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_token_from_row).transpose()
    }

    /// A live API token by id.
    pub async fn api_token_by_id(&self, id: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, scope, account_id, created_at, expires_at FROM api_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(api_token_from_row).transpose()
    }

    // ---- console sessions ----

    /// Records a console session (by the hash of its cookie value).
    pub async fn create_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, api_token_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.id_hash)
        .bind(&session.api_token_id)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live session: unexpired, and its admin API token not revoked.
    pub async fn find_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id_hash, s.api_token_id, s.csrf_token, s.created_at, s.expires_at FROM console_sessions s \
             JOIN api_tokens t ON t.id = s.api_token_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND t.scope = 'admin' AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ConsoleSession {
                id_hash: row.try_get("id_hash")?,
                api_token_id: row.try_get("api_token_id")?,
                csrf_token: row.try_get("csrf_token")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Records a confirmation's nonce as used; `false` if it was used before (on any
    /// instance).
    pub async fn use_confirmation(
        &self,
        nonce_hash: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO used_confirmations (nonce_hash, expires_at) VALUES ($1, $2) ON CONFLICT (nonce_hash) DO NOTHING",
        )
        .bind(nonce_hash)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets the used confirmations that expired by `at`: past their expiry they are
    /// refused anyway.
    pub async fn prune_confirmations(&self, at: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM used_confirmations WHERE expires_at <= $1")
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Why a session that [`Store::find_session`] no longer finds has ended; `None` for a
    /// session this database never had or that was signed out.
    pub async fn session_end(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<SessionEnd>, StoreError> {
        let row = sqlx::query(
            "SELECT s.expires_at, t.id AS token_id, t.expires_at AS token_expires_at FROM console_sessions s \
             LEFT JOIN api_tokens t ON t.id = s.api_token_id WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token: Option<String> = row.try_get("token_id")?;
        let token_expires: Option<i64> = row.try_get("token_expires_at")?;
        let expires: i64 = row.try_get("expires_at")?;
        Ok(Some(if token.is_none() {
            SessionEnd::TokenRevoked
        } else if token_expires.is_some_and(|at| at <= now) {
            SessionEnd::TokenExpired
        } else if expires <= now {
            SessionEnd::Expired
        } else {
            return Ok(None);
        }))
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the sessions that expired by `at`; returns how many.
    pub async fn prune_sessions(&self, at: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Seals every stored secret again (`reseal`: opened with the key that sealed it, sealed
    /// with the current one) and sets the setting `fingerprint.0` to `fingerprint.1`, in one
    /// transaction: a key rotation's end. Returns how many secrets were sealed again.
    pub async fn reseal_all(
        &self,
        reseal: impl Fn(&str) -> Result<String, StoreError>,
        fingerprint: (&str, &str),
    ) -> Result<usize, StoreError> {
        /// Every sealed column, with its table's key column.
        const SEALED: [(&str, &str, &str); 4] = [
            ("accounts", "id", "credentials_sealed"),
            ("oauth_apps", "integration", "client_secret_sealed"),
            ("oauth_connections", "state_hash", "verifier_sealed"),
            ("oauth_connections", "state_hash", "authorize_sealed"),
        ];
        let mut transaction = self.pool.begin().await?;
        let mut count = 0;
        for (table, key, column) in SEALED {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {key} AS k, {column} AS v FROM {table} WHERE {column} IS NOT NULL"
            )))
            .fetch_all(&mut *transaction)
            .await?;
            for row in rows {
                let id: String = row.try_get("k")?;
                let sealed: String = row.try_get("v")?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET {column} = $1 WHERE {key} = $2"
                )))
                .bind(reseal(&sealed)?)
                .bind(id)
                .execute(&mut *transaction)
                .await?;
                count += 1;
            }
        }
        sqlx::query("UPDATE settings SET value = $2 WHERE name = $1")
            .bind(fingerprint.0)
            .bind(fingerprint.1)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        self.changes.bump();
        Ok(count)
    }

    /// Writes a consistent copy of this SQLite database to `path` while others keep using
    /// it (`VACUUM INTO`, which also leaves no free pages behind).
    pub async fn backup_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::File(format!("{} is not UTF-8", path.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- settings ----

    /// A shared setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    /// Sets a shared setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The setting's value, storing `value` first if it has none (first writer wins, also
    /// when several processes start at once).
    pub async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(self
            .setting(name)
            .await?
            .unwrap_or_else(|| value.to_owned()))
    }

    /// Whether the database answers and has every migration this build knows.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let applied: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE",
        )
        .fetch_one(&self.pool)
        .await?;
        // Newer is fine: during a rolling upgrade a newer instance may have migrated first.
        let expected = migrator(false)
            .migrations
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0);
        if applied < expected {
            return Err(StoreError::Schema { applied, expected });
        }
        Ok(())
    }

    // ---- upstream hosts ----

    /// Allows a host for an integration; returns false if it already was.
    pub async fn allow_upstream_host(
        &self,
        integration: &str,
        host: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO upstream_hosts (integration, host, created_at) VALUES ($1, $2, $3) ON CONFLICT (integration, host) DO NOTHING")
            .bind(integration)
            .bind(host)
            .bind(now())
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Removes an allowed host; returns whether it was allowed. Cached token resolutions end
    /// with it, so the next call checks its base URL again.
    pub async fn remove_upstream_host(
        &self,
        integration: &str,
        host: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM upstream_hosts WHERE integration = $1 AND host = $2")
            .bind(integration)
            .bind(host)
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Hosts allowed for an integration (all integrations when `None`), in order.
    pub async fn upstream_hosts(
        &self,
        integration: Option<&str>,
    ) -> Result<Vec<UpstreamHost>, StoreError> {
        let rows = match integration {
            Some(integration) => sqlx::query("SELECT integration, host, created_at FROM upstream_hosts WHERE integration = $1 ORDER BY host")
                .bind(integration)
                .fetch_all(&self.pool)
                .await?,
            None => sqlx::query("SELECT integration, host, created_at FROM upstream_hosts ORDER BY integration, host")
                .fetch_all(&self.pool)
                .await?,
        };
        rows.iter()
            .map(|r| {
                Ok(UpstreamHost {
                    integration: r.try_get("integration")?,
                    host: r.try_get("host")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    // ---- accounts ----

    /// Inserts an account with sealed credentials.
    pub async fn create_account(&self, account: &Account, sealed: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO accounts (id, integration, name, base_url, credentials_sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&account.id)
            .bind(&account.integration)
            .bind(&account.name)
            .bind(&account.base_url)
            .bind(sealed)
            .bind(account.created_at)
            .bind(account.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// All accounts, oldest first.
    pub async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query("SELECT id, integration, name, base_url, created_at, updated_at, needs_reconnect FROM accounts ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// One account.
    pub async fn get_account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT id, integration, name, base_url, created_at, updated_at, needs_reconnect FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Renames an account, replaces its base URL, and/or replaces its sealed credentials.
    pub async fn update_account(
        &self,
        id: &str,
        name: Option<&str>,
        base_url: Option<Option<&str>>,
        sealed: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A write first: SQLite then takes the write lock now, waiting out other writers for
        // its busy timeout. A read first would make this a read transaction that fails at
        // once (SQLITE_BUSY) when another connection, such as the audit log's, commits before
        // its first write.
        let exists = sqlx::query("UPDATE accounts SET updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if !exists {
            return Ok(false);
        }
        if let Some(name) = name {
            sqlx::query("UPDATE accounts SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(base_url) = base_url {
            sqlx::query("UPDATE accounts SET base_url = $1 WHERE id = $2")
                .bind(base_url)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(sealed) = sealed {
            sqlx::query("UPDATE accounts SET credentials_sealed = $1 WHERE id = $2")
                .bind(sealed)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.changes.bump();
        Ok(true)
    }

    /// Deletes an account and, in the same transaction, its MCP servers and the API tokens
    /// bound to it.
    pub async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM api_tokens WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM mcp_servers WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// The sealed credentials of an account.
    pub async fn sealed_credentials(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT credentials_sealed FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("credentials_sealed"))
            .transpose()
            .map_err(Into::into)
    }

    // ---- MCP servers ----

    /// Inserts a server with its token hash.
    pub async fn create_server(
        &self,
        server: &McpServer,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO mcp_servers (id, account_id, name, token_hash, methods, tags, tools, exclude_tools, require_api_token_auth, expires_at, created_at, schema_profile, oauth, max_result_bytes, tool_exposure, confirm, confirm_fallback) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)")
            .bind(&server.id)
            .bind(&server.account_id)
            .bind(&server.name)
            .bind(token_hash)
            .bind(serde_json::to_string(&server.config.methods)?)
            .bind(serde_json::to_string(&server.config.tags)?)
            .bind(serde_json::to_string(&server.config.tools)?)
            .bind(serde_json::to_string(&server.config.exclude_tools)?)
            .bind(i64::from(server.config.require_api_token_auth))
            .bind(server.expires_at)
            .bind(server.created_at)
            .bind(server.config.schema_profile.as_str())
            .bind(i64::from(server.config.oauth))
            .bind(i64::from(server.config.max_result_bytes))
            .bind(server.config.tool_exposure.as_str())
            .bind(server.config.confirm.stored())
            .bind(server.config.confirm_fallback.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Servers of one account, oldest first.
    pub async fn list_servers(&self, account_id: &str) -> Result<Vec<McpServer>, StoreError> {
        let rows = sqlx::query(concat!(
            server_columns!(),
            " WHERE account_id = $1 ORDER BY created_at, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(server_from_row).collect()
    }

    /// One server of one account.
    pub async fn get_server(
        &self,
        account_id: &str,
        id: &str,
    ) -> Result<Option<McpServer>, StoreError> {
        let row = sqlx::query(concat!(
            server_columns!(),
            " WHERE account_id = $1 AND id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(server_from_row).transpose()
    }

    /// Replaces a server's name, config and expiry; with `oauth` off, its grants and codes end in
    /// the same transaction.
    pub async fn update_server(&self, server: &McpServer) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let done = sqlx::query("UPDATE mcp_servers SET name = $1, methods = $2, tags = $3, tools = $4, exclude_tools = $5, require_api_token_auth = $6, expires_at = $7, schema_profile = $10, oauth = $11, max_result_bytes = $12, tool_exposure = $13, confirm = $14, confirm_fallback = $15 WHERE id = $8 AND account_id = $9")
            .bind(&server.name)
            .bind(serde_json::to_string(&server.config.methods)?)
            .bind(serde_json::to_string(&server.config.tags)?)
            .bind(serde_json::to_string(&server.config.tools)?)
            .bind(serde_json::to_string(&server.config.exclude_tools)?)
            .bind(i64::from(server.config.require_api_token_auth))
            .bind(server.expires_at)
            .bind(&server.id)
            .bind(&server.account_id)
            .bind(server.config.schema_profile.as_str())
            .bind(i64::from(server.config.oauth))
            .bind(i64::from(server.config.max_result_bytes))
            .bind(server.config.tool_exposure.as_str())
            .bind(server.config.confirm.stored())
            .bind(server.config.confirm_fallback.as_str())
            .execute(&mut *transaction)
            .await?;
        if !server.config.oauth {
            // Signing in with OAuth turned off ends what it granted, so turning it on again
            // revives nothing.
            for statement in [
                "DELETE FROM oauth_grants WHERE server_id = $1",
                "DELETE FROM oauth_codes WHERE server_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(&server.id)
                    .execute(&mut *transaction)
                    .await?;
            }
        }
        transaction.commit().await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a server's token hash; the old token, and every OAuth grant to the old URL,
    /// stop working with this commit.
    pub async fn rotate_server(
        &self,
        account_id: &str,
        id: &str,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE mcp_servers SET token_hash = $1 WHERE id = $2 AND account_id = $3")
                .bind(token_hash)
                .bind(id)
                .bind(account_id)
                .execute(&mut *transaction)
                .await?;
        sqlx::query("DELETE FROM oauth_grants WHERE server_id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a server.
    pub async fn delete_server(&self, account_id: &str, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM mcp_servers WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        self.changes.bump();
        Ok(done.rows_affected() > 0)
    }

    /// The server and account a token hash belongs to, if the server has not expired, with
    /// the account's sealed credentials.
    pub async fn resolve_token(
        &self,
        token_hash: &str,
        at: i64,
    ) -> Result<Option<(McpServer, Account, String)>, StoreError> {
        // One round trip on the hot path: the server, its account and the account's sealed
        // credentials together, so a tool call needs no second read.
        let row = sqlx::query(
            "SELECT s.id, s.account_id, s.name, s.methods, s.tags, s.tools, s.exclude_tools, s.require_api_token_auth, s.oauth, s.max_result_bytes, s.tool_exposure, s.schema_profile, s.confirm, s.confirm_fallback, s.expires_at, s.created_at, \
                    a.integration, a.name AS account_name, a.base_url, a.created_at AS account_created_at, a.updated_at, a.needs_reconnect, a.credentials_sealed \
             FROM mcp_servers s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND (s.expires_at IS NULL OR s.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let server = server_from_row(&row)?;
        let account = Account {
            id: server.account_id.clone(),
            integration: row.try_get("integration")?,
            name: row.try_get("account_name")?,
            base_url: row.try_get("base_url")?,
            created_at: row.try_get("account_created_at")?,
            updated_at: row.try_get("updated_at")?,
            needs_reconnect: row.try_get::<i64, _>("needs_reconnect")? != 0,
        };
        Ok(Some((server, account, row.try_get("credentials_sealed")?)))
    }

    // ---- audit log ----

    /// Appends tool calls in one transaction, many rows per statement.
    pub async fn insert_calls(&self, calls: &[CallRecord]) -> Result<(), StoreError> {
        // Twelve parameters a row; 100 rows stay far below either engine's parameter limit.
        const ROWS_PER_STATEMENT: usize = 100;
        // The statement for a full chunk is written once per engine, not once per batch.
        static FULL_CHUNK: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
        let mut transaction = self.pool.begin().await?;
        for chunk in calls.chunks(ROWS_PER_STATEMENT) {
            let full = chunk.len() == ROWS_PER_STATEMENT;
            let mut insert = if full {
                sqlx::query(
                    FULL_CHUNK[usize::from(self.postgres)]
                        .get_or_init(|| insert_calls_sql(ROWS_PER_STATEMENT, self.postgres))
                        .as_str(),
                )
            } else {
                sqlx::query(sqlx::AssertSqlSafe(insert_calls_sql(
                    chunk.len(),
                    self.postgres,
                )))
            };
            for call in chunk {
                insert = insert
                    .bind(call.id.clone())
                    .bind(call.at_ms)
                    .bind(call.account_id.clone())
                    .bind(call.server_id.clone())
                    .bind(call.integration.clone())
                    .bind(call.tool.clone())
                    .bind(call.arguments_hmac.clone())
                    .bind(i32::from(call.upstream_status))
                    .bind(call.latency_ms)
                    .bind(call.outcome.clone())
                    .bind(call.grant_id.clone())
                    .bind(call.api_token_id.clone());
            }
            // Full chunks share one prepared statement per connection; a shorter last chunk
            // is not cached, or every row count would become a statement of its own.
            insert.persistent(full).execute(&mut *transaction).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Each outcome class of a server's calls since `since_ms`, with its count, commonest
    /// first.
    pub async fn call_outcomes(
        &self,
        account_id: &str,
        server_id: &str,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS calls FROM tool_calls \
             WHERE account_id = $1 AND server_id = $2 AND at_ms >= $3 GROUP BY outcome ORDER BY calls DESC, outcome",
        )
        .bind(account_id)
        .bind(server_id)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("outcome")?, row.try_get("calls")?)))
            .collect()
    }

    /// A server's calls, newest first, strictly older than `before` (`(at_ms, id)`; without
    /// it, from the newest).
    pub async fn list_calls(
        &self,
        account_id: &str,
        server_id: &str,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let (at, id) = before.unwrap_or((i64::MAX, ""));
        let rows = sqlx::query(
            "SELECT id, at_ms, account_id, server_id, integration, tool, arguments_hmac, upstream_status, latency_ms, outcome, grant_id, api_token_id FROM tool_calls \
             WHERE account_id = $1 AND server_id = $2 AND (at_ms < $3 OR (at_ms = $3 AND id < $4)) ORDER BY at_ms DESC, id DESC LIMIT $5",
        )
        .bind(account_id)
        .bind(server_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: i32 = row.try_get("upstream_status")?;
                Ok(CallRecord {
                    id: row.try_get("id")?,
                    at_ms: row.try_get("at_ms")?,
                    account_id: row.try_get("account_id")?,
                    server_id: row.try_get("server_id")?,
                    integration: row.try_get("integration")?,
                    tool: row.try_get("tool")?,
                    arguments_hmac: row.try_get("arguments_hmac")?,
                    upstream_status: u16::try_from(status).unwrap_or(0),
                    latency_ms: row.try_get("latency_ms")?,
                    outcome: row.try_get("outcome")?,
                    grant_id: row.try_get("grant_id")?,
                    api_token_id: row.try_get("api_token_id")?,
                })
            })
            .collect()
    }

    /// Deletes calls older than `before_ms`; returns how many.
    pub async fn prune_calls(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM tool_calls WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes every server expired at `at`; returns how many.
    pub async fn sweep_expired(&self, at: i64) -> Result<Vec<SweptServer>, StoreError> {
        let rows = sqlx::query(
            "DELETE FROM mcp_servers WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING id, name, account_id",
        )
        .bind(at)
        .fetch_all(&self.pool)
        .await?;
        // Nothing removed, nothing changed: cached token lookups stay valid.
        if !rows.is_empty() {
            self.changes.bump();
        }
        rows.iter()
            .map(|row| {
                Ok(SweptServer {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    account_id: row.try_get("account_id")?,
                })
            })
            .collect()
    }

    /// Takes an account's credentials for replacement, with what they are now (`None`: the
    /// account is gone). Until the lock is dropped or [`CredentialsLock::replace`]d, other
    /// takers wait, in every process on this database: PostgreSQL locks the account's row,
    /// SQLite the database for writes (other writers wait up to its 5 s busy timeout).
    pub async fn lock_credentials(
        &self,
        account_id: &str,
    ) -> Result<(CredentialsLock, Option<String>), StoreError> {
        let mut transaction = self.pool.begin().await?;
        // A write that changes nothing takes the lock on both engines.
        sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1")
            .bind(account_id)
            .execute(&mut *transaction)
            .await?;
        let sealed = sqlx::query("SELECT credentials_sealed FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&mut *transaction)
            .await?
            .map(|row| row.try_get("credentials_sealed"))
            .transpose()?;
        let lock = CredentialsLock {
            transaction,
            account_id: account_id.to_owned(),
            changes: self.changes.clone(),
        };
        Ok((lock, sealed))
    }
}

/// An expired MCP server the sweeper removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweptServer {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its account.
    pub account_id: String,
}

/// One tool call in the audit log.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CallRecord {
    /// Id.
    pub id: String,
    /// Unix milliseconds when the call began.
    pub at_ms: i64,
    /// Integrated account.
    pub account_id: String,
    /// MCP server.
    pub server_id: String,
    /// Integration slug.
    pub integration: String,
    /// Tool name.
    pub tool: String,
    /// HMAC-SHA256 of the canonical JSON arguments (see `Keys::mac_arguments`).
    pub arguments_hmac: String,
    /// Vendor HTTP status (0 when no response arrived).
    pub upstream_status: u16,
    /// Milliseconds the call took.
    pub latency_ms: i64,
    /// How the call ended: a `CallClass` label (`ok`, `invalid_arguments`, `timeout`, ...).
    pub outcome: String,
    /// The OAuth grant whose access token made the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The API token that made the call, or that consented to its grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token_id: Option<String>,
}

/// Why a console session ended without its operator signing out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// It outlived its twelve hours.
    Expired,
    /// The admin API token it was signed in with was revoked.
    TokenRevoked,
    /// The admin API token it was signed in with expired.
    TokenExpired,
}

impl SessionEnd {
    /// Its name in the sign-in page's `ended` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::TokenRevoked => "revoked",
            Self::TokenExpired => "token-expired",
        }
    }

    /// Parses [`SessionEnd::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Expired, Self::TokenRevoked, Self::TokenExpired]
            .into_iter()
            .find(|end| end.as_str() == text)
    }

    /// What the sign-in page says.
    pub fn message(self) -> &'static str {
        match self {
            Self::Expired => "Your session expired after twelve hours. Sign in again.",
            Self::TokenRevoked => {
                "Your session ended: the admin API token it was signed in with has been revoked. Sign in with a live one."
            }
            Self::TokenExpired => {
                "Your session ended: the admin API token it was signed in with has expired. Sign in with a live one."
            }
        }
    }
}

/// A signed-in web console session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// Hash of the cookie's opaque id.
    pub id_hash: String,
    /// The admin API token it was signed in with.
    pub api_token_id: String,
    /// The token every form of this session must carry.
    pub csrf_token: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// An account's credentials, held for replacement (see [`Store::lock_credentials`]).
pub struct CredentialsLock {
    transaction: sqlx::Transaction<'static, sqlx::Any>,
    account_id: String,
    changes: ChangeSignal,
}

impl CredentialsLock {
    /// Writes the new sealed credentials and commits, which releases the lock.
    pub async fn replace(mut self, sealed: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET credentials_sealed = $1, updated_at = $2 WHERE id = $3")
            .bind(sealed)
            .bind(now())
            .bind(&self.account_id)
            .execute(&mut *self.transaction)
            .await?;
        self.transaction.commit().await?;
        self.changes.bump();
        Ok(())
    }
}

fn account_from_row(row: &AnyRow) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.try_get("id")?,
        integration: row.try_get("integration")?,
        name: row.try_get("name")?,
        base_url: row.try_get("base_url")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        needs_reconnect: row.try_get::<i64, _>("needs_reconnect")? != 0,
    })
}

/// The file path of a `sqlite://` URL.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

/// Checks that a SQLite file exists, or creates it (and nothing but it) with mode 0600. The
/// parent directory must already exist: a typo in `--database` never creates directories.
fn prepare_sqlite_file(path: &std::path::Path, create: bool) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent
        && !parent.is_dir()
    {
        return Err(StoreError::File(format!(
            "no directory {} for the database {}; create it or fix --database",
            parent.display(),
            path.display()
        )));
    }
    if !create {
        return Err(StoreError::File(format!(
            "no database at {}; `specgate init` or `specgate serve` creates it (or fix --database)",
            path.display()
        )));
    }
    crate::crypto::create_private_file(path)
        .map(drop)
        .map_err(|e| StoreError::File(format!("cannot create {}: {e}", path.display())))
}

fn restrict_file(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    if path.exists() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::File(format!("cannot restrict {}: {e}", path.display())))?;
    }
    Ok(())
}

fn api_token_from_row(row: &AnyRow) -> Result<ApiToken, StoreError> {
    let scope: String = row.try_get("scope")?;
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scope: TokenScope::parse(&scope),
        account_id: row.try_get("account_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn server_from_row(row: &AnyRow) -> Result<McpServer, StoreError> {
    let methods: String = row.try_get("methods")?;
    let tags: String = row.try_get("tags")?;
    let tools: String = row.try_get("tools")?;
    let exclude_tools: String = row.try_get("exclude_tools")?;
    let require: i64 = row.try_get("require_api_token_auth")?;
    let oauth: i64 = row.try_get("oauth")?;
    let max_result_bytes: i64 = row.try_get("max_result_bytes")?;
    let exposure: String = row.try_get("tool_exposure")?;
    let profile: String = row.try_get("schema_profile")?;
    let confirm: String = row.try_get("confirm")?;
    let confirm_fallback: String = row.try_get("confirm_fallback")?;
    Ok(McpServer {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        config: ServerConfig {
            methods: serde_json::from_str(&methods)?,
            tags: serde_json::from_str(&tags)?,
            tools: serde_json::from_str(&tools)?,
            exclude_tools: serde_json::from_str(&exclude_tools)?,
            require_api_token_auth: require != 0,
            oauth: oauth != 0,
            max_result_bytes: u32::try_from(max_result_bytes).unwrap_or(DEFAULT_MAX_RESULT_BYTES),
            tool_exposure: serde_json::from_value(serde_json::Value::String(exposure))?,
            schema_profile: serde_json::from_value(serde_json::Value::String(profile))?,
            confirm: Confirm::from_stored(&confirm)?,
            confirm_fallback: serde_json::from_value(serde_json::Value::String(confirm_fallback))?,
        },
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}
