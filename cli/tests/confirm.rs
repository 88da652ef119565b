//! Confirmation of destructive calls (`config.confirm`): a 2026-07-28 client is asked with
//! `input_required`, and the retry runs the call only with an `accept` and a state that binds
//! exactly this call; earlier clients without a way to ask get the server's fallback. Counted
//! at the vendor's side of the wire: nothing arrives before `accept`, exactly one request after.

mod common;

use common::{call_2026, post_2026 as post, start};
use serde_json::{Value, json};

const DELETE: &str = "delete_a_malomo_order_by_id";

/// The vendor requests that deleted an order.
fn deletes(h: &common::Harness) -> usize {
    h.sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count()
}

/// What a client process printed, as JSON; it must succeed (`what` names it in the failure).
async fn printed_json(mut client: std::process::Command, what: String) -> Value {
    let output = tokio::task::spawn_blocking(move || client.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The first call of a `DELETE` of `target`, from a client that can answer a form.
async fn ask(h: &common::Harness, url: &str, target: &Value) -> Value {
    post(
        h,
        url,
        &call_2026(DELETE, target.clone(), form(), None),
        None,
    )
    .await
}

/// The retry of a `DELETE` of `target` with the person's `action` and the question's `state`.
async fn retry(
    h: &common::Harness,
    url: &str,
    target: &Value,
    state: &Value,
    action: &str,
) -> Value {
    post(
        h,
        url,
        &call_2026(DELETE, target.clone(), form(), answered(state, action)),
        None,
    )
    .await
}

/// The text of a call's result.
fn text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
}

fn form() -> Option<Value> {
    Some(json!({"form": {}}))
}

fn answered(state: &Value, action: &str) -> Option<Value> {
    Some(json!({
        "requestState": state,
        "inputResponses": {"confirm": {"action": action, "content": {"confirm": true}}},
    }))
}

#[tokio::test]
async fn a_destructive_call_runs_only_after_the_person_accepts_exactly_it() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"confirm": "destructive"})).await;
    let (_, other_url) = h.server(&account, json!({"confirm": "destructive"})).await;
    let target = json!({"id": "ord_123"});

    // The first call asks: a form whose message says what will happen, and a sealed state.
    let asked = ask(&h, &url, &target).await;
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let question = &result["inputRequests"]["confirm"];
    assert_eq!(question["method"], "elicitation/create", "{question}");
    assert_eq!(question["params"]["mode"], "form");
    let message = question["params"]["message"].as_str().unwrap();
    for part in [
        "Delete a Malomo order by id",
        DELETE,
        "Malomo account “acme”",
        "id = ord_123",
        "deletes or overwrites",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    let state = result["requestState"].clone();
    assert!(
        state.as_str().is_some_and(|s| !s.contains("ord_123")),
        "sealed: {state}"
    );
    assert_eq!(
        deletes(&h),
        0,
        "nothing reaches the vendor before the person answers"
    );

    // Changed arguments, another tool, another server: refused, nothing sent.
    let changed = post(
        &h,
        &url,
        &call_2026(
            DELETE,
            json!({"id": "ord_999"}),
            form(),
            answered(&state, "accept"),
        ),
        None,
    )
    .await;
    assert_eq!(changed["result"]["isError"], true, "{changed}");
    assert!(text(&changed).contains("different call"));
    let elsewhere = retry(&h, &other_url, &target, &state, "accept").await;
    assert!(text(&elsewhere).contains("different call"), "{elsewhere}");
    let tampered = state.as_str().unwrap().replacen('A', "B", 1);
    let forged = post(
        &h,
        &url,
        &call_2026(
            DELETE,
            target.clone(),
            form(),
            answered(&json!(tampered), "accept"),
        ),
        None,
    )
    .await;
    assert!(text(&forged).contains("not valid"), "{forged}");
    assert_eq!(deletes(&h), 0);

    // Accepted: exactly one request reaches the vendor.
    let done = retry(&h, &url, &target, &state, "accept").await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(deletes(&h), 1);

    // The same state again: replayed, refused.
    let replayed = retry(&h, &url, &target, &state, "accept").await;
    assert!(text(&replayed).contains("used already"), "{replayed}");
    assert_eq!(deletes(&h), 1);

    // Declined and cancelled: the result says so, nothing sent.
    for (action, words) in [("decline", "declined"), ("cancel", "dismissed")] {
        let asked = ask(&h, &url, &target).await;
        let state = asked["result"]["requestState"].clone();
        let ended = retry(&h, &url, &target, &state, action).await;
        assert_eq!(ended["result"]["isError"], true, "{ended}");
        assert!(text(&ended).contains(words), "{ended}");
    }
    // An accept whose form was unticked runs nothing either.
    let asked = ask(&h, &url, &target).await;
    let unticked = Some(json!({
        "requestState": asked["result"]["requestState"],
        "inputResponses": {"confirm": {"action": "accept", "content": {"confirm": false}}},
    }));
    let ended = post(
        &h,
        &url,
        &call_2026(DELETE, target.clone(), form(), unticked),
        None,
    )
    .await;
    assert!(text(&ended).contains("declined"), "{ended}");
    assert_eq!(deletes(&h), 1);

    // Reads are not held.
    let read = post(
        &h,
        &url,
        &call_2026("list_all_malomo_orders", json!({}), form(), None),
        None,
    )
    .await;
    assert_eq!(read["result"]["isError"], false, "{read}");

    // The audit log and the metrics count every step.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let expected = [
        ("confirmation_asked", 4),
        ("confirmation_refused", 4),
        ("confirmed", 1),
        ("confirmation_declined", 3),
    ];
    loop {
        let metrics = h
            .http
            .get(format!("{}/metrics", h.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let count = |outcome: &str| -> u64 {
            metrics
                .lines()
                .filter(|l| {
                    l.starts_with("specgate_tool_call_outcomes_total")
                        && l.contains(&format!("outcome=\"{outcome}\""))
                        && l.contains(DELETE)
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        };
        if expected.iter().all(|(outcome, n)| count(outcome) == *n) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_confirmation_is_bound_to_the_credential() {
    use specgate_server::store::TokenScope;
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h
        .server(
            &account,
            json!({"confirm": "writes", "require_api_token_auth": true}),
        )
        .await;
    let (_, alice) = h
        .provisioner
        .create_api_token("alice", TokenScope::Mcp, None)
        .await
        .unwrap();
    let (_, bob) = h
        .provisioner
        .create_api_token("bob", TokenScope::Mcp, None)
        .await
        .unwrap();
    let target = json!({"id": "ord_1"});
    let asked = post(
        &h,
        &url,
        &call_2026(DELETE, target.clone(), form(), None),
        Some(&alice),
    )
    .await;
    let state = asked["result"]["requestState"].clone();
    let as_bob = post(
        &h,
        &url,
        &call_2026(DELETE, target.clone(), form(), answered(&state, "accept")),
        Some(&bob),
    )
    .await;
    assert!(text(&as_bob).contains("different call"), "{as_bob}");
    assert_eq!(deletes(&h), 0);
    // Still usable by the credential it was asked for.
    let as_alice = post(
        &h,
        &url,
        &call_2026(DELETE, target.clone(), form(), answered(&state, "accept")),
        Some(&alice),
    )
    .await;
    assert_eq!(as_alice["result"]["isError"], false, "{as_alice}");
    assert_eq!(deletes(&h), 1);
}

#[tokio::test]
async fn clients_that_cannot_ask_get_the_servers_fallback() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, refusing) = h.server(&account, json!({"confirm": [DELETE]})).await;
    let (_, allowing) = h
        .server(
            &account,
            json!({"confirm": [DELETE], "confirm_fallback": "allow"}),
        )
        .await;
    // A 2025 client over stateless HTTP (the direct path), and a 2026 client that declared
    // no elicitation: refused in words, nothing sent.
    let old = h.call(&refusing, DELETE, json!({"id": "ord_1"})).await;
    assert_eq!(old["result"]["isError"], true, "{old}");
    let text = text(&old);
    assert!(
        text.contains("needs a person's confirmation") && text.contains("2026-07-28"),
        "{text}"
    );
    let undeclared = post(
        &h,
        &refusing,
        &call_2026(DELETE, json!({"id": "ord_1"}), None, None),
        None,
    )
    .await;
    assert_eq!(undeclared["result"]["isError"], true, "{undeclared}");
    assert_eq!(deletes(&h), 0);
    // A URL-only client cannot show a form either.
    let url_only = post(
        &h,
        &refusing,
        &call_2026(
            DELETE,
            json!({"id": "ord_1"}),
            Some(json!({"url": {}})),
            None,
        ),
        None,
    )
    .await;
    assert_eq!(url_only["result"]["isError"], true, "{url_only}");
    assert_eq!(deletes(&h), 0);
    // `allow` runs it unconfirmed; other tools are not held.
    let allowed = h.call(&allowing, DELETE, json!({"id": "ord_1"})).await;
    assert_eq!(allowed["result"]["isError"], false, "{allowed}");
    assert_eq!(deletes(&h), 1);
    let other = h
        .call(
            &refusing,
            "delete_a_malomo_webhook_by_id",
            json!({"id": "wh_1"}),
        )
        .await;
    assert_eq!(other["result"]["isError"], false, "{other}");
}

#[tokio::test]
async fn discovery_confirms_the_tool_it_runs() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h
        .server(
            &account,
            json!({"confirm": "destructive", "tool_exposure": "discovery"}),
        )
        .await;
    let through = json!({"name": DELETE, "arguments": {"id": "ord_5"}});
    let asked = post(
        &h,
        &url,
        &call_2026("call_tool", through.clone(), form(), None),
        None,
    )
    .await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    let message = asked["result"]["inputRequests"]["confirm"]["params"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("id = ord_5"), "{message}");
    let state = asked["result"]["requestState"].clone();
    assert_eq!(deletes(&h), 0);
    let done = post(
        &h,
        &url,
        &call_2026("call_tool", through, form(), answered(&state, "accept")),
        None,
    )
    .await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(deletes(&h), 1);
    // Without a way to ask, discovery's call is refused like a direct one.
    let old = h
        .call(
            &url,
            "call_tool",
            json!({"name": DELETE, "arguments": {"id": "ord_6"}}),
        )
        .await;
    assert_eq!(old["result"]["isError"], true, "{old}");
    assert_eq!(deletes(&h), 1);
}

/// An answer that comes back after its five minutes is refused, though everything else in it
/// verifies. The test seals such a state with the harness's key, as the server would have.
#[tokio::test]
async fn an_expired_confirmation_runs_nothing() {
    use specgate_server::crypto::Keys;
    let h = start().await;
    let account = h.account("malomo").await;
    let (server, url) = h.server(&account, json!({"confirm": "destructive"})).await;
    let target = json!({"id": "ord_1"});
    let keys = Keys::from_bytes([9; 32]);
    let binding = json!({
        "server": server,
        "principal": "url",
        "tool": DELETE,
        "arguments": keys.mac_arguments(&target),
        "expires_at": 1,
        "nonce": "n",
    });
    let sealed = keys
        .seal_for("specgate confirmation v1", binding.to_string().as_bytes())
        .unwrap();
    let late = post(
        &h,
        &url,
        &call_2026(DELETE, target, form(), answered(&json!(sealed), "accept")),
        None,
    )
    .await;
    let text = text(&late);
    assert!(text.contains("expired"), "{late}");
    assert_eq!(deletes(&h), 0);
}

/// Two instances on one database get the same answer at the same moment: one runs the call,
/// the other says it was used, and the vendor sees one request.
async fn a_confirmation_works_once_across_instances(database: Option<String>) {
    let first = common::start_with(database.clone()).await;
    let shared = database.unwrap_or_else(|| format!("sqlite://{}", first.db_path.display()));
    let second = common::start_with(Some(shared)).await;
    let account = first.account("malomo").await;
    let (_, url) = first
        .server(&account, json!({"confirm": "destructive"}))
        .await;
    let path = &url[url.find("/mcp/").unwrap()..];
    let target = json!({"id": "ord_7"});
    let asked = post(
        &first,
        &url,
        &call_2026(DELETE, target.clone(), form(), None),
        None,
    )
    .await;
    let state = asked["result"]["requestState"].clone();
    let retry = call_2026(DELETE, target, form(), answered(&state, "accept"));
    let urls = [
        format!("{}{path}", first.base),
        format!("{}{path}", second.base),
    ];
    let (a, b) = tokio::join!(
        post(&first, &urls[0], &retry, None),
        post(&second, &urls[1], &retry, None)
    );
    let ran = [&a, &b]
        .iter()
        .filter(|answer| answer["result"]["isError"] == false)
        .count();
    assert_eq!(ran, 1, "{a}\n{b}");
    assert!([&a, &b].iter().any(|answer| {
        answer["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("used already"))
    }));
    assert_eq!(deletes(&first), 1);
}

#[tokio::test]
async fn a_confirmation_works_once_across_instances_on_sqlite() {
    a_confirmation_works_once_across_instances(None).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn a_confirmation_works_once_across_instances_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    a_confirmation_works_once_across_instances(Some(url)).await;
}

/// The consent page tells the person which calls will wait for them.
#[tokio::test]
async fn the_consent_page_says_which_calls_wait_for_the_person() {
    use common::oauth::{authorize_query, consent_page, post_consent, register};
    let h = start().await;
    let account = h.account("malomo").await;
    for (config, expected) in [
        (json!({"oauth": true}), "without asking you again"),
        (
            json!({"oauth": true, "confirm": "destructive"}),
            "of them (those that delete or overwrite) wait for your confirmation in the client each time, where the client can ask; where it cannot, they are refused.",
        ),
    ] {
        let (_, url) = h.server(&account, config).await;
        let redirect = "http://127.0.0.1:9/callback";
        let client_id = register(&h, redirect).await;
        let (status, _, page) =
            consent_page(&h, &authorize_query(&client_id, redirect, &url, "S256")).await;
        assert_eq!(status, 200, "{page}");
        let (status, _, review) = post_consent(
            &h,
            &page,
            &[
                ("api_token", h.admin_token.as_str()),
                ("decision", "sign_in"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{review}");
        let said = review
            .split("id=\"confirmations\">")
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .unwrap();
        assert!(said.contains(expected), "{said}");
    }
}

/// The official Python SDK client, as a person's client would use it: on 2026-07-28 it is
/// asked and its answer decides; on the 2025 handshake over stateless HTTP it cannot be asked,
/// so the server's fallback refuses; over stdio, a session with a stream, it is asked with
/// `elicitation/create` when it declared elicitation.
#[tokio::test]
#[ignore = "needs the MCP Python SDK; scripts/test.sh installs it"]
async fn the_official_python_client_confirms_declines_and_is_refused_where_it_cannot_ask() {
    use base64::Engine as _;
    let python = common::scripts().join(".venv/bin/python");
    let Some(python) = common::external(
        "the MCP Python SDK (scripts/.venv from scripts/requirements.txt)",
        python.exists().then(|| python.display().to_string()),
    ) else {
        return;
    };
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"confirm": "destructive"})).await;
    let token = url.rsplit('/').next().unwrap().to_owned();
    let database = format!("sqlite://{}", h.db_path.display());
    let stdio = [
        format!("stdio:{}", env!("CARGO_BIN_EXE_specgate")),
        "--database".to_owned(),
        database,
        "stdio".to_owned(),
        "--allow-insecure-upstreams".to_owned(),
        "--mcp-token".to_owned(),
        token,
    ];
    let run = |target: Vec<String>, mode: &'static str, action: &'static str| {
        let python = python.clone();
        async move {
            let mut client = std::process::Command::new(&python);
            client
                .arg(common::scripts().join("mcp_confirm_client.py"))
                .args(&target)
                .args([mode, action])
                .env(
                    "SPECGATE_SECRET_KEY",
                    base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
                );
            printed_json(client, format!("{mode} {action}")).await
        }
    };
    let http = || vec![url.clone()];

    let accepted = run(http(), "2026-07-28", "accept").await;
    assert_eq!(accepted["protocol"], "2026-07-28");
    assert_eq!(accepted["isError"], false, "{accepted}");
    assert!(
        accepted["asked"][0]
            .as_str()
            .unwrap()
            .contains("Delete a Malomo order by id"),
        "{accepted}"
    );
    assert_eq!(deletes(&h), 1);
    for (action, words) in [("decline", "declined"), ("cancel", "dismissed")] {
        let ended = run(http(), "2026-07-28", action).await;
        assert_eq!(ended["isError"], true, "{ended}");
        assert!(ended["text"].as_str().unwrap().contains(words), "{ended}");
    }
    assert_eq!(deletes(&h), 1);

    // The 2025 handshake over stateless HTTP: no stream to ask on, with or without elicitation.
    for action in ["accept", "none"] {
        let refused = run(http(), "legacy", action).await;
        assert_eq!(refused["isError"], true, "{refused}");
        assert_eq!(refused["asked"], json!([]), "{refused}");
        assert!(
            refused["text"]
                .as_str()
                .unwrap()
                .contains("needs a person's confirmation")
        );
    }
    assert_eq!(deletes(&h), 1);

    // stdio: asked in the session when the client declared elicitation, refused otherwise.
    let in_session = run(stdio.to_vec(), "legacy", "accept").await;
    assert_eq!(in_session["isError"], false, "{in_session}");
    assert!(
        in_session["asked"][0]
            .as_str()
            .unwrap()
            .contains("id = ord_0001"),
        "{in_session}"
    );
    assert_eq!(deletes(&h), 2);
    let undeclared = run(stdio.to_vec(), "legacy", "none").await;
    assert_eq!(undeclared["isError"], true, "{undeclared}");
    assert_eq!(deletes(&h), 2);
}

/// The official TypeScript SDK client (2.x, pinned to 2026-07-28) fulfils `input_required`
/// through its `elicitation/create` handler: accepted, the call runs once; declined or
/// cancelled, it does not.
#[tokio::test]
#[ignore = "needs Node 22 and the MCP TypeScript SDK; scripts/test.sh installs them"]
async fn the_official_typescript_client_confirms_and_declines() {
    let Some(node) = common::node() else {
        return;
    };
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"confirm": "destructive"})).await;
    let run = |action: &'static str| {
        let (node, url) = (node.clone(), url.clone());
        async move {
            let mut client = std::process::Command::new(&node);
            client
                .arg(common::scripts().join("mcp-confirm-client.mjs"))
                .args([url.as_str(), action]);
            printed_json(client, action.to_owned()).await
        }
    };
    let accepted = run("accept").await;
    assert_eq!(accepted["isError"], false, "{accepted}");
    assert!(
        accepted["asked"][0]
            .as_str()
            .unwrap()
            .contains("id = ord_0001"),
        "{accepted}"
    );
    assert_eq!(deletes(&h), 1);
    for (action, words) in [("decline", "declined"), ("cancel", "dismissed")] {
        let ended = run(action).await;
        assert_eq!(ended["isError"], true, "{ended}");
        assert!(ended["text"].as_str().unwrap().contains(words), "{ended}");
    }
    assert_eq!(deletes(&h), 1);
}

/// The admin API takes the policy as a word or a list of tool names, and says what is wrong
/// with anything else.
#[tokio::test]
async fn the_admin_api_refuses_a_policy_it_cannot_read() {
    let h = start().await;
    let account = h.account("malomo").await;
    let create = |config: Value| {
        let h = &h;
        let path = format!("/integrated-account/{account}/mcp");
        async move {
            h.admin(
                reqwest::Method::POST,
                &path,
                Some(json!({"name": "s", "config": config})),
            )
            .await
        }
    };
    let (status, body) = create(json!({"confirm": "sometimes"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "config.confirm", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`never`, `destructive`, `writes`")
    );
    let (status, body) = create(json!({"confirm": []})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = create(json!({"confirm": ["no_such_tool"]})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_confirm", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_tool"),
        "{body}"
    );
    let (status, body) = create(json!({"confirm": "writes", "confirm_fallback": "allow"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"]["confirm"], "writes");
    // A patch changes only what it names, refuses `null`, and speaks JSON.
    let path = format!(
        "/integrated-account/{account}/mcp/{}",
        body["id"].as_str().unwrap()
    );
    let patch = |config: Value| {
        let (h, path) = (&h, path.clone());
        async move {
            h.admin(
                reqwest::Method::PATCH,
                &path,
                Some(json!({"config": config})),
            )
            .await
        }
    };
    let (status, body) = patch(json!({"confirm": "destructive"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["confirm"], "destructive");
    assert_eq!(
        body["config"]["confirm_fallback"], "allow",
        "unnamed fields keep their values"
    );
    let (status, body) = patch(json!({"methods": null})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "config.methods", "{body}");
    let (status, body) = patch(json!({"bogus": 1})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "config.bogus", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("valid fields: methods") && !message.contains("expected one of"),
        "{body}"
    );
}

/// A person behind rmcp's own client, answering every confirmation with one action.
#[derive(Clone)]
struct Person {
    action: rmcp::model::ElicitationAction,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl rmcp::ClientHandler for Person {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        let mut capabilities = rmcp::model::ClientCapabilities::default();
        let mut elicitation = rmcp::model::ElicitationCapability::default();
        elicitation.form = Some(rmcp::model::FormElicitationCapability::default());
        capabilities.elicitation = Some(elicitation);
        rmcp::model::ClientConfig::new(
            capabilities,
            rmcp::model::Implementation::new("confirm-test-rmcp", "1"),
        )
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        if let rmcp::model::ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.asked.lock().unwrap().push(message);
        }
        Ok(rmcp::model::ElicitResult::new(self.action.clone()))
    }
}

/// rmcp's own client on 2026-07-28 (`server/discover`, then per-request metadata) drives the
/// round trip itself: accepted, the call runs once; declined, it does not.
#[tokio::test]
async fn rmcps_own_client_confirms_and_declines() {
    use rmcp::model::{CallToolRequestParams, ElicitationAction, ProtocolVersion};
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"confirm": "destructive"})).await;
    for (action, refused, ran) in [
        (ElicitationAction::Accept, false, 1),
        (ElicitationAction::Decline, true, 1),
    ] {
        let person = Person {
            action,
            asked: std::sync::Arc::default(),
        };
        let asked = person.asked.clone();
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.as_str());
        let client = person
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .unwrap();
        let arguments = json!({"id": "ord_3"}).as_object().unwrap().clone();
        let result = client
            .call_tool(CallToolRequestParams::new(DELETE).with_arguments(arguments))
            .await
            .unwrap();
        assert_eq!(asked.lock().unwrap().len(), 1, "asked once");
        assert_eq!(deletes(&h), ran, "{result:?}");
        assert_eq!(result.is_error, Some(refused), "{result:?}");
        client.cancel().await.unwrap();
    }
}

/// The portable profile's URL holds the same calls: its question and its retry bind the call
/// as the portable client sent it.
#[tokio::test]
async fn the_portable_profile_confirms_the_same_calls() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h.server(&account, json!({"confirm": "destructive"})).await;
    let portable = format!("{url}/portable");
    let target = json!({"id": "ord_9"});
    let asked = ask(&h, &portable, &target).await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    let state = asked["result"]["requestState"].clone();
    assert_eq!(deletes(&h), 0);
    let done = retry(&h, &portable, &target, &state, "accept").await;
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(deletes(&h), 1);
}
