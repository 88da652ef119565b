//! Several instances on one database, as behind a load balancer.

mod common;

use std::sync::atomic::Ordering;

use common::{Harness, start_with};
use serde_json::json;

/// Three instances on `database` (the first one's own SQLite file when `None`).
async fn three_instances(database: Option<String>) -> Vec<Harness> {
    let first = start_with(database.clone()).await;
    let shared = database.unwrap_or_else(|| format!("sqlite://{}", first.db_path.display()));
    let second = start_with(Some(shared.clone())).await;
    let third = start_with(Some(shared)).await;
    vec![first, second, third]
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    &rest[rest.find('/').unwrap()..]
}

/// 21 concurrent calls spread over three instances all find the OAuth token due: the token
/// endpoint is called once, and every call uses the winner's token.
async fn one_refresh_for_the_whole_cluster(instances: &[Harness]) {
    let first = &instances[0];
    let account = first.account("roserocket").await;
    let (_, url) = first.server(&account, json!({})).await;
    let urls: Vec<String> = instances
        .iter()
        .map(|h| format!("{}{}", h.base, path_of(&url)))
        .collect();
    let calls = (0..21).map(|i| {
        let instance = &instances[i % 3];
        instance.call(&urls[i % 3], "list_all_roserocket_user_groups", json!({}))
    });
    for response in futures::future::join_all(calls).await {
        assert_eq!(response["result"]["isError"], false, "{response}");
    }
    // The account's token endpoint is the first harness's sandbox.
    assert_eq!(first.sandbox.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(first.sandbox.rose_refresh_token(), "rr_refresh_1");
    for (instance, url) in instances.iter().zip(&urls) {
        let again = instance
            .call(url, "list_all_roserocket_boards", json!({}))
            .await;
        assert_eq!(again["result"]["isError"], false, "{again}");
    }
    assert_eq!(first.sandbox.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn one_oauth_refresh_for_three_instances_on_sqlite() {
    one_refresh_for_the_whole_cluster(&three_instances(None).await).await;
}

#[tokio::test]
async fn one_oauth_refresh_for_three_instances_on_postgres() {
    let Some(url) = common::external(
        "PostgreSQL (SPECGATE_TEST_POSTGRES_URL)",
        std::env::var("SPECGATE_TEST_POSTGRES_URL").ok(),
    ) else {
        return;
    };
    one_refresh_for_the_whole_cluster(&three_instances(Some(url)).await).await;
}

/// The expiry sweep is one idempotent `DELETE`: three instances sweeping at once remove each
/// expired server once between them, fail nothing, and leave live servers alone.
async fn concurrent_sweeps_remove_each_expired_server_once(database: Option<String>) {
    use specgate_server::store::{McpServer, Store, now};
    let h = start_with(database.clone()).await;
    let shared = database.unwrap_or_else(|| format!("sqlite://{}", h.db_path.display()));
    let account = h.account("malomo").await;
    let (_, live) = h.server(&account, json!({})).await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(Store::open(&shared, false).await.unwrap());
    }
    let before = now();
    for i in 0..30 {
        let server = McpServer {
            id: format!("expired-{i}-{account}"),
            account_id: account.clone(),
            name: "expired".to_owned(),
            config: Default::default(),
            expires_at: Some(before - 10),
            created_at: before - 20,
        };
        stores[0]
            .create_server(&server, &format!("hash-{i}-{account}"))
            .await
            .unwrap();
    }
    let sweeps = stores.iter().map(|store| store.sweep_expired(now()));
    let removed: u64 = futures::future::join_all(sweeps)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    // Other tests on a shared PostgreSQL may have expired servers of their own.
    assert!(removed >= 30, "removed {removed}");
    for store in &stores {
        assert_eq!(store.sweep_expired(now()).await.unwrap(), 0);
    }
    let listed = h.rpc(&live, "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
}

#[tokio::test]
async fn concurrent_sweeps_on_sqlite() {
    concurrent_sweeps_remove_each_expired_server_once(None).await;
}

#[tokio::test]
async fn concurrent_sweeps_on_postgres() {
    let Some(url) = common::external(
        "PostgreSQL (SPECGATE_TEST_POSTGRES_URL)",
        std::env::var("SPECGATE_TEST_POSTGRES_URL").ok(),
    ) else {
        return;
    };
    concurrent_sweeps_remove_each_expired_server_once(Some(url)).await;
}

#[tokio::test]
async fn readiness_needs_every_migration() {
    use sqlx::Connection;
    let h = start_with(None).await;
    let ready = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let url = format!("sqlite://{}", h.db_path.display());
    let mut connection = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let unready = h
        .http
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unready.status(), 503);
    let text = unready.text().await.unwrap();
    assert!(text.contains("this build needs"), "{text}");
}
