//! The per-call audit log: batched inserts, pages, outcome counts and pruning.

use sqlx::Row;

use std::sync::OnceLock;

use serde::Serialize;

use super::{Store, StoreError};

impl Store {
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
