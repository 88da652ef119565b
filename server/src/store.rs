//! Durable state through `sqlx`'s `Any` driver: SQLite by default, PostgreSQL with the same
//! queries and migrations. Queries use `$n` placeholders, which both engines accept.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlStr};
use tokio_util::sync::CancellationToken;

use crate::changes::ChangeSignal;
pub use crate::domain::{
    Account, ApiToken, ConfigPatch, Confirm, ConfirmFallback, DEFAULT_MAX_RESULT_BYTES, Filter,
    FilterError, McpServer, SchemaProfile, ServerConfig, TokenScope, ToolExposure, UpstreamHost,
    now, now_ms,
};

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

mod accounts;
mod audit;
mod confirmations;
mod connect;
mod hosts;
mod oauth;
mod servers;
mod sessions;
mod settings;
mod tokens;

pub use accounts::CredentialsLock;
pub use audit::CallRecord;
pub use connect::{Connection, ConnectionOutcome, OAuthApp, Taken};
pub use oauth::{
    AccessGrant, GrantRecord, IssuedToken, NewCode, OAuthClient, StoredCode, StoredRefresh,
};
pub use servers::SweptServer;
pub use sessions::{ConsoleSession, SessionEnd};

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
