//! The per-call audit log: one row per tool call, with a keyed digest of the arguments and
//! never their values, listed newest first, outliving its MCP server.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, start};
use serde_json::{Value, json};

async fn calls(h: &Harness, account: &str, id: &str, query: &str) -> Value {
    let (status, body) = h
        .admin(
            reqwest::Method::GET,
            &format!("/integrated-account/{account}/mcp/{id}/calls{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits, with a generous deadline, until the log holds `count` rows for the server.
async fn logged(h: &Harness, account: &str, id: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let rows = calls(h, account, id, "?limit=500").await["calls"]
            .as_array()
            .unwrap()
            .clone();
        if rows.len() >= count {
            return rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "only {} rows",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes six calls and checks how the log holds them; returns the account, the server id and
/// the rows, newest first.
async fn six_calls_logged(h: &Harness) -> (String, String, Vec<Value>) {
    let account = h.account("e_desk").await;
    let (id, url) = h.server(&account, json!({})).await;
    let tool = "get_single_e_desk_ticket_by_id";
    h.call(&url, tool, json!({"ticketId": 86753091})).await;
    h.call(&url, tool, json!({"ticketId": 86753091})).await;
    h.call(&url, tool, json!({"ticketId": 7})).await;
    h.call(&url, tool, json!({"ticketId": "not a number"}))
        .await;
    h.call(
        &url,
        "list_all_e_desk_tickets",
        json!({"limit": 1, "filter_contact_id_equals": 55501237}),
    )
    .await;
    h.call(
        &url,
        "list_all_e_desk_tickets",
        json!({"filter_contact_id_equals": 55501237, "limit": 1}),
    )
    .await;

    let rows = logged(h, &account, &id, 6).await;
    assert_eq!(rows.len(), 6);
    let text = serde_json::to_string(&rows).unwrap();
    // Values long enough that no timestamp or hex digest in the rows holds them by chance
    // (a four-digit value turned up in a millisecond timestamp).
    for value in ["86753091", "not a number", "55501237"] {
        assert!(
            !text.contains(value),
            "an argument value reached the log: {text}"
        );
    }
    // Newest first; the fields an operator reads.
    let newest = &rows[0];
    assert_eq!(newest["tool"], "list_all_e_desk_tickets");
    assert_eq!(newest["integration"], "e_desk");
    assert_eq!(newest["server_id"], id.as_str());
    assert_eq!(newest["account_id"], account.as_str());
    assert_eq!(newest["outcome"], "ok");
    assert_eq!(newest["upstream_status"], 200);
    assert!(newest["latency_ms"].as_i64().unwrap() >= 0);
    let digest = |row: &Value| row["arguments_hmac"].as_str().unwrap().to_owned();
    // The same arguments in any key order give one digest; other arguments another.
    assert_eq!(digest(&rows[0]), digest(&rows[1]));
    assert_eq!(digest(&rows[4]), digest(&rows[5]));
    assert_ne!(digest(&rows[3]), digest(&rows[4]));
    assert_eq!(digest(&rows[0]).len(), 64);
    assert_eq!(rows[2]["outcome"], "invalid_arguments");
    assert_eq!(rows[2]["upstream_status"], 0);

    // Pages of two follow one another without gaps or repeats.
    let mut paged = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = calls(h, &account, &id, &query).await;
        paged.extend(
            page["calls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        paged,
        rows.iter().map(|r| r["id"].clone()).collect::<Vec<_>>()
    );
    (account, id, rows)
}

#[tokio::test]
async fn every_call_is_logged_without_its_arguments() {
    let h = start().await;
    let (account, id, rows) = six_calls_logged(&h).await;
    let (status, body) = h
        .admin(
            reqwest::Method::GET,
            &format!("/integrated-account/{account}/mcp/{id}/calls?cursor=nope"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_cursor"))
    );

    // The rows outlive the server.
    let status = h.delete_server(&account, &id).await;
    assert_eq!(status, 204);
    assert_eq!(
        calls(&h, &account, &id, "").await["calls"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    // Retention: the sweeper prunes rows older than the configured age.
    let store =
        specgate_server::store::Store::open(&format!("sqlite://{}", h.db_path.display()), false)
            .await
            .unwrap();
    let oldest = rows.last().unwrap()["at_ms"].as_i64().unwrap();
    assert_eq!(store.prune_calls(oldest).await.unwrap(), 0);
    assert_eq!(store.prune_calls(oldest + 60_000).await.unwrap(), 6);
    assert!(
        calls(&h, &account, &id, "").await["calls"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let outcomes = h
        .metric(r#"specgate_tool_call_outcomes_total{integration="e_desk",tool="get_single_e_desk_ticket_by_id",outcome="invalid_arguments"}"#)
        .await;
    assert_eq!(outcomes, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn every_call_is_logged_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    six_calls_logged(&common::start_with(Some(url)).await).await;
}

/// Batches of any size round-trip whole, on SQLite and on PostgreSQL: full 100-row
/// statements, the shorter last one, and a batch of one.
#[tokio::test]
async fn batches_of_any_size_are_written_whole() {
    use specgate_server::store::{CallRecord, Store};
    let dir = tempfile::tempdir().unwrap();
    let mut databases = vec![(format!("sqlite://{}/audit.db", dir.path().display()), true)];
    databases.extend(common::postgres().map(|url| (url, false)));
    for (database, create) in databases {
        let store = Store::open(&database, create).await.unwrap();
        let server_id = format!("srv-{}", specgate_server::crypto::new_id().unwrap());
        let records: Vec<CallRecord> = (0..251_i64)
            .map(|i| CallRecord {
                id: format!("{server_id}-{i:04}"),
                at_ms: 1_000_000 + i,
                account_id: "acc-batches".to_owned(),
                server_id: server_id.clone(),
                integration: "malomo".to_owned(),
                tool: format!("tool_{i}"),
                arguments_hmac: format!("{i:064x}"),
                upstream_status: 200 + u16::try_from(i % 300).unwrap(),
                latency_ms: i * 3,
                outcome: ["ok", "timeout"][usize::try_from(i % 2).unwrap()].to_owned(),
                // Grants and API tokens on some rows, to read back as written.
                grant_id: (i % 3 == 0).then(|| format!("grant-{i}")),
                api_token_id: (i % 5 == 0).then(|| format!("token-{i}")),
            })
            .collect();
        store.insert_calls(&records[..250]).await.unwrap();
        store.insert_calls(&records[250..]).await.unwrap();
        let mut listed = store
            .list_calls("acc-batches", &server_id, None, 1000)
            .await
            .unwrap();
        listed.reverse();
        assert_eq!(listed, records, "{database}");
    }
}

/// Rows logged before the audit table lost its id index survive the rebuild that drops it.
#[tokio::test]
async fn rows_logged_before_the_id_index_was_dropped_are_kept() {
    use specgate_server::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/audit.db", dir.path().display());
    drop(Store::open(&url, true).await.unwrap());
    // Put the audit table back as migration 8 left it, with a row in the old table.
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    for statement in [
        "DROP TABLE tool_calls",
        include_str!("../../server/migrations/0005_tool_calls.sql"),
        "INSERT INTO tool_calls VALUES ('old-1', 5, 'acc-old', 'srv-old', 'malomo', 'list_all_malomo_orders', 'ab', 200, 7, 'ok')",
        // What the OAuth migrations (11, 12) added, so they run again after 9.
        "DROP TRIGGER oauth_grants_deleted",
        "DROP TABLE oauth_tokens",
        "DROP TABLE oauth_codes",
        "DROP TABLE oauth_grants",
        "DROP TABLE oauth_clients",
        "ALTER TABLE mcp_servers DROP COLUMN oauth",
        "DELETE FROM _sqlx_migrations WHERE version IN (9, 11, 12)",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut connection)
            .await
            .unwrap();
    }
    drop(connection);
    let store = Store::open(&url, false).await.unwrap();
    let rows = store
        .list_calls("acc-old", "srv-old", None, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].id.as_str(), rows[0].at_ms, rows[0].latency_ms),
        ("old-1", 5, 7)
    );
    // Both indexes are back and the id one is gone.
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tool_calls' ORDER BY name",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(
        indexes,
        [
            ("tool_calls_by_age".to_owned(),),
            ("tool_calls_by_server".to_owned(),)
        ]
    );
}
