//! OAuth 2.1 sign-in for `oauth` MCP servers, over real HTTP: discovery, registration and
//! metadata-document clients, the consent page played as a person would, PKCE codes, tokens
//! that open one server, rotation and reuse, revocation, and what each refusal looks like.

mod common;

use common::{Harness, start, start_secure};
use serde_json::{Value, json};
use specgate_server::store::TokenScope;

use common::oauth::{
    REDIRECT, VERIFIER, authorize, authorize_query, authorize_url, browser, consent_page, decide,
    exchange, oauth_server, post_consent, query_param, refresh, register, sign_in, token,
};

async fn call_status(h: &Harness, url: &str, bearer: Option<&str>) -> (u16, Option<String>) {
    let response = h
        .rpc_raw(
            url,
            "tools/call",
            json!({"name": "list_all_malomo_orders", "arguments": {"limit": 1}}),
            bearer,
        )
        .await;
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn a_client_discovers_signs_in_and_calls_with_an_access_token() {
    let h = start().await;
    let (account, server, url) = oauth_server(&h).await;
    let token_part = url.rsplit('/').next().unwrap();

    // Without a credential: 401 naming the metadata of this very URL.
    let (status, challenge) = call_status(&h, &url, None).await;
    assert_eq!(status, 401);
    let metadata_url = format!(
        "{}/.well-known/oauth-protected-resource/mcp/{token_part}",
        h.base
    );
    assert_eq!(
        challenge.as_deref(),
        Some(format!("Bearer resource_metadata=\"{metadata_url}\"").as_str())
    );
    let (status, challenge) = call_status(&h, &format!("{url}/portable"), None).await;
    assert_eq!(status, 401);
    assert!(
        challenge
            .unwrap()
            .contains(&format!("{metadata_url}/portable"))
    );

    let resource = h.get_json(&metadata_url.replace(&h.base, "")).await;
    assert_eq!(resource["resource"], url.as_str());
    assert_eq!(resource["authorization_servers"], json!([h.base]));
    assert_eq!(resource["bearer_methods_supported"], json!(["header"]));
    // RFC 9728 section 3.3: each transport's metadata names the URL it was derived from.
    for suffix in ["/portable", "/sse", "/portable/messages"] {
        let metadata = h
            .get_json(&format!("{}{suffix}", metadata_url.replace(&h.base, "")))
            .await;
        assert_eq!(metadata["resource"], format!("{url}{suffix}"));
    }

    let server_metadata = h.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(server_metadata["issuer"], h.base.as_str());
    assert_eq!(
        server_metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        server_metadata["client_id_metadata_document_supported"],
        true
    );
    assert!(
        server_metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("none"))
    );
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
        "revocation_endpoint",
    ] {
        assert!(
            server_metadata[endpoint]
                .as_str()
                .unwrap()
                .starts_with(&h.base),
            "{endpoint}"
        );
    }

    // The consent page: who asks, for what, under the console's security headers.
    let client_id = register(&h, REDIRECT).await;
    let (status, headers, page) =
        consent_page(&h, &authorize_query(&client_id, REDIRECT, &url, "S256")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Test client") && page.contains("https://chatgpt.com"),
        "{page}"
    );
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    // The sign-in posts here; only the review page's answer goes to the client.
    let review = browser()
        .post(format!("{}/oauth/authorize", h.base))
        .form(
            &[
                common::oauth::hidden_fields(&page),
                vec![
                    ("api_token".to_owned(), h.admin_token.clone()),
                    ("decision".to_owned(), "sign_in".to_owned()),
                ],
            ]
            .concat(),
        )
        .send()
        .await
        .unwrap();
    let policy = review.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("form-action 'self' https://chatgpt.com"),
        "{policy}"
    );
    assert!(review.text().await.unwrap().contains("agent"));

    let (_, tokens) = sign_in(&h, &url, &h.admin_token).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() <= 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    // The access token opens this server on every path, and the call is the grant's.
    let (status, _) = call_status(&h, &url, Some(access)).await;
    assert_eq!(status, 200);
    let (status, _) = call_status(&h, &format!("{url}/portable"), Some(access)).await;
    assert_eq!(status, 200);
    let grants = h
        .admin(
            reqwest::Method::GET,
            &format!("/integrated-account/{account}/mcp/{server}/grants"),
            None,
        )
        .await
        .1;
    let grant = grants[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        grants.as_array().unwrap().len(),
        1,
        "one sign-in, one grant: {grants}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let calls = h
            .admin(
                reqwest::Method::GET,
                &format!("/integrated-account/{account}/mcp/{server}/calls"),
                None,
            )
            .await
            .1;
        if calls["calls"].as_array().unwrap().len() >= 2 || std::time::Instant::now() > deadline {
            assert_eq!(calls["calls"][0]["grant_id"], grant.as_str(), "{calls}");
            assert!(calls["calls"][0]["api_token_id"].is_string(), "{calls}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Refresh rotates; presenting the old refresh token again ends the whole grant.
    let (status, next) = token(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            (
                "client_id",
                &client_id_of(&h, &account, &server, &grant).await,
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_ne!(next["refresh_token"], tokens["refresh_token"]);
    let next_access = next["access_token"].as_str().unwrap();
    assert_eq!(call_status(&h, &url, Some(next_access)).await.0, 200);
    let client_id = client_id_of(&h, &account, &server, &grant).await;
    // A refresh must name its client (OAuth 2.1 section 4.3.1 for public clients).
    let (status, unnamed) = token(
        &h,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, unnamed["error"].as_str()),
        (400, Some("invalid_request")),
        "{unnamed}"
    );
    // Within the grace, the rotated token presented again gets the same pair: a client that
    // lost the answer keeps its grant.
    let (status, retried) = common::oauth::refresh(&h, &client_id, refresh).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["refresh_token"], next["refresh_token"]);
    assert_eq!(retried["access_token"], next["access_token"]);
    // After it, the rotated token is a copy someone kept: the grant ends.
    execute(
        &h,
        "UPDATE oauth_tokens SET used_at = used_at - 3600 WHERE used_at IS NOT NULL",
    )
    .await;
    let (status, reused) = common::oauth::refresh(&h, &client_id, refresh).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, challenge) = call_status(&h, &url, Some(next_access)).await;
    assert_eq!(status, 401, "the grant ended with the reuse");
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    let (status, _) =
        common::oauth::refresh(&h, &client_id, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "every token of the grant ended");
}

async fn client_id_of(h: &Harness, account: &str, server: &str, grant: &str) -> String {
    let grants = h
        .admin(
            reqwest::Method::GET,
            &format!("/integrated-account/{account}/mcp/{server}/grants"),
            None,
        )
        .await
        .1;
    grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == grant)
        .unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_their_verifier_redirect_and_resource() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let client_id = register(&h, REDIRECT).await;
    let consent = |method: &'static str| authorize_query(&client_id, REDIRECT, &url, method);

    // `plain` PKCE is refused on specgate's page: the client is anyone's registration, so
    // no error goes to its redirect URI before a person signed in (RFC 9700 4.11.2).
    let (status, headers, page) = consent_page(&h, &consent("plain")).await;
    assert_eq!(status, 400, "{page}");
    assert!(headers.get("location").is_none());
    assert!(page.contains("PKCE is required"), "{page}");

    // An unregistered redirect URI is shown, never redirected to.
    let mut elsewhere = consent("S256");
    elsewhere[2].1 = "https://evil.example/callback".to_owned();
    let (status, headers, page) = consent_page(&h, &elsewhere).await;
    assert_eq!(status, 400);
    assert!(headers.get("location").is_none());
    assert!(page.contains("is not one client"), "{page}");

    // A resource that is not an oauth server, and a wrong response_type: on the page too.
    let plain_account = h.account("malomo").await;
    let (_, plain_url) = h.server(&plain_account, json!({})).await;
    let mut wrong_target = consent("S256");
    wrong_target[6].1 = plain_url;
    let mut implicit = consent("S256");
    implicit[0].1 = "token".to_owned();
    for (query, said) in [
        (wrong_target, "is not the URL"),
        (implicit, "response_type"),
    ] {
        let (status, headers, page) = consent_page(&h, &query).await;
        assert_eq!(status, 400, "{page}");
        assert!(headers.get("location").is_none(), "{said}");
        assert!(page.contains(said), "{page}");
    }

    // The sign-in page names neither the server nor its account; the page after does.
    let (_, _, page) = consent_page(&h, &consent("S256")).await;
    assert!(
        page.contains("Test client") && page.contains("unverified"),
        "{page}"
    );
    assert!(
        page.contains("https://chatgpt.com"),
        "the full origin: {page}"
    );
    for name in ["<strong>agent</strong>", "<strong>acme</strong>"] {
        assert!(!page.contains(name), "{name} before sign-in: {page}");
    }
    let (status, _, review) = post_consent(
        &h,
        &page,
        &[("api_token", &h.admin_token), ("decision", "sign_in")],
    )
    .await;
    assert_eq!(status, 200, "{review}");
    for name in ["<strong>agent</strong>", "<strong>acme</strong>"] {
        assert!(review.contains(name), "{name} after sign-in: {review}");
    }
    assert!(
        review.contains("revoke") || review.contains("Revoke"),
        "{review}"
    );

    // A decision without a sign-in goes nowhere.
    let (status, location, _) = post_consent(&h, &page, &[("decision", "deny")]).await;
    assert_eq!((status, location), (400, None));

    // Deny, signed in: access_denied with the state.
    let (status, location, _) = decide(&h, &page, &h.admin_token, "deny").await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some("state-123")
    );

    // A wrong API token shows the page again, with the error, and no redirect.
    let (status, location, body) = decide(&h, &page, "sgk_not_a_token", "allow").await;
    assert_eq!((status, location), (401, None));
    assert!(body.contains("not a live API token"), "{body}");

    let (_, location, _) = decide(&h, &page, &h.admin_token, "allow").await;
    let code = query_param(&location.unwrap(), "code").unwrap();
    let exchange = |verifier: &'static str, redirect: &'static str| {
        let (code, client_id) = (code.clone(), client_id.clone());
        let h = &h;
        async move {
            token(
                h,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("client_id", &client_id),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (status, body) = exchange(
        "a-wrong-verifier-of-at-least-forty-three-characters-xx",
        REDIRECT,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = exchange(VERIFIER, "https://chatgpt.com/other").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, tokens) = exchange(VERIFIER, REDIRECT).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 200);
    // The code again: refused, and what it produced ends.
    let (status, body) = exchange(VERIFIER, REDIRECT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 401);

    // An unknown client at the token endpoint: invalid_client, 401.
    let (status, body) = token(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", "sgc_nobody"),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn a_token_opens_only_its_server_and_ends_with_its_grant_server_or_api_token() {
    let h = start().await;
    let (account, server, url) = oauth_server(&h).await;
    let (_, other_server, other_url) = oauth_server(&h).await;
    let _ = other_server;
    let (_, tokens) = sign_in(&h, &url, &h.admin_token).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 200);
    assert_eq!(
        call_status(&h, &other_url, Some(&access)).await.0,
        401,
        "another server's token"
    );
    assert_eq!(call_status(&h, &url, Some("sga_forged")).await.0, 401);

    // An API token still opens the server, by bearer or `X-Api-Key`.
    let key = h
        .http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", &h.admin_token)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), 200);

    // Revoked by the operator (admin API): the cached token ends at once.
    let grants = h
        .admin(
            reqwest::Method::GET,
            &format!("/integrated-account/{account}/mcp/{server}/grants"),
            None,
        )
        .await
        .1;
    let grant = grants[0]["id"].as_str().unwrap();
    let (status, _) = h
        .admin(
            reqwest::Method::DELETE,
            &format!("/integrated-account/{account}/mcp/{server}/grants/{grant}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 401);

    // Revoked by RFC 7009: the grant ends.
    let (_, tokens) = sign_in(&h, &url, &h.admin_token).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 200);
    let revoked = h
        .http
        .post(format!("{}/oauth/revoke", h.base))
        .form(&[("token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 401);

    // Consented with an `mcp` API token: revoking that token ends the grant.
    let (consenter, raw) = h
        .provisioner
        .create_api_token("person", TokenScope::Mcp, Some(&account))
        .await
        .unwrap();
    let (_, tokens) = sign_in(&h, &url, &raw).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 200);
    h.provisioner.revoke_api_token(&consenter.id).await.unwrap();
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 401);

    // A token bound to another account cannot consent.
    let elsewhere = h.account("malomo").await;
    let (_, bound) = h
        .provisioner
        .create_api_token("elsewhere", TokenScope::Mcp, Some(&elsewhere))
        .await
        .unwrap();
    let client_id = register(&h, REDIRECT).await;
    let (_, _, page) = consent_page(&h, &authorize_query(&client_id, REDIRECT, &url, "S256")).await;
    let (status, location, _) = decide(&h, &page, &bound, "allow").await;
    assert_eq!((status, location), (401, None));

    // Rotating the server ends every grant to the old URL.
    let (_, tokens) = sign_in(&h, &url, &h.admin_token).await;
    let (status, _) = h
        .admin(
            reqwest::Method::POST,
            &format!("/integrated-account/{account}/mcp/{server}/rotate"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let grants = h
        .admin(
            reqwest::Method::GET,
            &format!("/integrated-account/{account}/mcp/{server}/grants"),
            None,
        )
        .await
        .1;
    assert_eq!(grants, json!([]));
    let (status, _) = token(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let (_, tokens) = sign_in(&h, &url, &h.admin_token).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(call_status(&h, &url, Some(&access)).await.0, 200);
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        h.db_path.display()
    ))
    .await
    .unwrap();
    // Time cannot be moved here, so the token's expiry is; the counter bump makes this
    // instance read it again (a token's real expiry never changes, and is checked on cached
    // entries too).
    for statement in [
        "UPDATE oauth_tokens SET expires_at = 1 WHERE kind = 'access'",
        "UPDATE change_counter SET n = n + 1",
    ] {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    // The watcher notices the bump within its poll; wait for it with a generous deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (status, challenge) = loop {
        let answer = call_status(&h, &url, Some(&access)).await;
        if answer.0 == 401 || std::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn a_header_only_server_publishes_no_oauth_metadata() {
    let h = start().await;
    let account = h.account("malomo").await;
    let (_, url) = h
        .server(&account, json!({"require_api_token_auth": true}))
        .await;
    let token_part = url.rsplit('/').next().unwrap();
    let (status, challenge) = call_status(&h, &url, None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"specgate\""));
    let metadata = h
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp/{token_part}",
            h.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 404);
    // Its API token works by `X-Api-Key` too.
    let response = h
        .http
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", &h.admin_token)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Serves a Client ID Metadata Document for a client called `name`, whose one redirect URI is
/// `http://127.0.0.1/callback`: its URL (the `client_id`) and the task serving it.
async fn serve_document(name: &str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let document_url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let document = json!({"client_id": document_url, "client_name": name, "redirect_uris": ["http://127.0.0.1/callback"]});
    let app = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    let host = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (document_url, host)
}

/// Signs in on a consent `page` and allows it, then exchanges the code as `client_id` with
/// `redirect`: the tokens.
async fn allow_and_exchange(h: &Harness, page: &str, client_id: &str, redirect: &str) -> Value {
    let (status, location, _) = decide(h, page, &h.admin_token, "allow").await;
    assert_eq!(status, 303);
    let code = query_param(&location.unwrap(), "code").unwrap();
    let (status, tokens) = token(
        h,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// A client identified by its metadata document, served here on loopback (allowed only
/// because this harness allows insecure upstreams, as for vendors).
#[tokio::test]
async fn a_client_metadata_document_identifies_a_client() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let (document_url, _host) = serve_document("Document client").await;

    // A loopback redirect may use any port.
    let redirect = "http://127.0.0.1:49152/callback";
    let (status, _, page) =
        consent_page(&h, &authorize_query(&document_url, redirect, &url, "S256")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Document client"), "{page}");
    allow_and_exchange(&h, &page, &document_url, redirect).await;
}

/// Without `--allow-insecure-upstreams`, a client document on a private or metadata address
/// is never fetched.
#[tokio::test]
async fn a_client_document_on_a_private_address_is_refused() {
    let h = start_secure().await;
    for client_id in [
        "https://169.254.169.254/latest/client.json",
        "http://127.0.0.1:9/client.json",
        "https://10.0.0.1/client.json",
    ] {
        let query = authorize_query(client_id, REDIRECT, &format!("{}/mcp/x", h.base), "S256");
        let (status, headers, page) = consent_page(&h, &query).await;
        assert_eq!(status, 400, "{client_id}: {page}");
        assert!(headers.get("location").is_none());
        assert!(
            page.contains("is not a usable client metadata document URL"),
            "{client_id}: {page}"
        );
    }
}

/// Runs an official SDK client's OAuth script against a fresh `oauth` server, signing in
/// with an API token bound to the server's account, and returns what it printed.
async fn official_client_signs_in(interpreter: String, script: &str) -> (Harness, Value, String) {
    let h = start().await;
    let (account, server, url) = oauth_server(&h).await;
    let (_, api_token) = h
        .provisioner
        .create_api_token("person", TokenScope::Mcp, Some(&account))
        .await
        .unwrap();
    let script = common::scripts().join(script);
    let run_url = url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(interpreter)
            .arg(script)
            .arg(run_url)
            .arg(api_token)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    // The first page of tools/list (the harness pages by five).
    assert_eq!(seen["tools"].as_array().unwrap().len(), 5, "{seen}");
    assert_eq!(seen["called"], true, "{seen}");
    assert_eq!(seen["items"], 2, "{seen}");
    assert_eq!(
        seen["newAccessToken"], true,
        "the refresh issued a new access token: {seen}"
    );
    assert_eq!(seen["calledAfterRefresh"], true, "{seen}");
    assert!(
        seen["registered"].as_str().unwrap().starts_with("sgc_"),
        "{seen}"
    );
    (
        h,
        seen,
        format!("/integrated-account/{account}/mcp/{server}/grants"),
    )
}

#[tokio::test]
#[ignore = "needs Node 22 and the MCP SDKs; scripts/test.sh installs them"]
async fn the_typescript_sdk_client_signs_in_with_its_oauth_provider() {
    let Some(node) = common::node() else { return };
    let (h, seen, grants) = official_client_signs_in(node, "mcp-oauth-client.mjs").await;
    assert_eq!(seen["refusedBeforeSignIn"], true, "{seen}");
    assert_eq!(seen["refreshed"], "AUTHORIZED", "{seen}");
    // No `scope`, and the resource it was sent with is the MCP URL.
    let authorization = reqwest::Url::parse(seen["authorizationUrl"].as_str().unwrap()).unwrap();
    let resource = authorization
        .query_pairs()
        .find(|(k, _)| k == "resource")
        .unwrap()
        .1;
    assert!(resource.contains("/mcp/mcp_"), "{resource}");
    let listed = h.admin(reqwest::Method::GET, &grants, None).await.1;
    assert_eq!(
        listed[0]["client_name"], "TypeScript SDK test client",
        "{listed}"
    );
}

#[tokio::test]
#[ignore = "needs the MCP Python SDK; scripts/test.sh installs it"]
async fn the_python_sdk_client_signs_in_with_its_oauth_provider() {
    let path = common::scripts().join(".venv/bin/python");
    let Some(python) = common::external(
        "the MCP Python SDK (scripts/.venv from scripts/requirements.txt)",
        path.exists().then(|| path.display().to_string()),
    ) else {
        return;
    };
    let (h, _, grants) = official_client_signs_in(python, "mcp_oauth_client.py").await;
    let listed = h.admin(reqwest::Method::GET, &grants, None).await.1;
    assert_eq!(
        listed[0]["client_name"], "Python SDK test client",
        "{listed}"
    );
}

/// Registrations and failed consent sign-ins are limited per address (the in-process
/// harness serves without connection info, so every request shares one address).
#[tokio::test]
async fn registrations_and_failed_sign_ins_are_limited_per_address() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let response = h
            .http
            .post(format!("{}/oauth/register", h.base))
            .json(&json!({"redirect_uris": [REDIRECT]}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..10], [201; 10]);
    assert_eq!(statuses[10], 429);

    let h = start().await;
    let (_, _, url_b) = oauth_server(&h).await;
    let _ = url;
    let client_id = register(&h, REDIRECT).await;
    let (_, _, page) =
        consent_page(&h, &authorize_query(&client_id, REDIRECT, &url_b, "S256")).await;
    for _ in 0..5 {
        let (status, location, _) = decide(&h, &page, "sgk_wrong", "allow").await;
        assert_eq!((status, location), (401, None));
    }
    // Even the right token waits now.
    let (status, location, body) = decide(&h, &page, &h.admin_token, "allow").await;
    assert_eq!((status, location), (429, None));
    assert!(body.contains("Too many failed sign-ins"), "{body}");
}

/// Two instances of one deployment on `database` (the first one's own SQLite file when
/// `None`): one public URL, as behind a load balancer.
async fn two_instances(database: Option<String>) -> (Harness, Harness) {
    let first = common::start_with(database.clone()).await;
    let shared = database.unwrap_or_else(|| format!("sqlite://{}", first.db_path.display()));
    let public = first.base.clone();
    let second = common::start_on(Some(shared), move |config| {
        config.public_url = Some(public);
    })
    .await;
    (first, second)
}

/// Waits, with a generous deadline, until `access` no longer opens `url` at `h` (another
/// instance's revocation reaches this one through the change signal).
async fn until_refused(h: &Harness, url: &str, access: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while call_status(h, url, Some(access)).await.0 != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the grant did not end at this instance"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The refusal a replayed code or refresh token gets.
fn refused_grant(answer: &(u16, Value)) -> bool {
    answer.0 == 400 && answer.1["error"] == "invalid_grant"
}

/// One code exchanged at two instances at once, in several rounds: exactly one exchange gets
/// tokens, and since the code was presented twice, the grant it made ends.
async fn concurrent_exchanges_issue_one_token_and_end_the_grant(a: &Harness, b: &Harness) {
    let (_, _, url) = oauth_server(a).await;
    for round in 0..5 {
        let (client_id, code) = authorize(a, &url, &a.admin_token).await;
        let (first, second) = tokio::join!(
            exchange(a, &client_id, &code, &url),
            exchange(b, &client_id, &code, &url)
        );
        let (won, lost) = match (first.0, second.0) {
            (200, _) => (first, second),
            (_, 200) => (second, first),
            _ => panic!("round {round}: no exchange won: {first:?} {second:?}"),
        };
        assert!(refused_grant(&lost), "round {round}: both won: {lost:?}");
        let access = won.1["access_token"].as_str().unwrap();
        assert_eq!(
            call_status(a, &url, Some(access)).await.0,
            401,
            "round {round}: the grant of a code presented twice ends"
        );
        let refresh_token = won.1["refresh_token"].as_str().unwrap();
        assert!(refused_grant(&refresh(a, &client_id, refresh_token).await));
    }
}

#[tokio::test]
async fn concurrent_exchanges_of_one_code_on_sqlite() {
    let (a, b) = two_instances(None).await;
    concurrent_exchanges_issue_one_token_and_end_the_grant(&a, &b).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn concurrent_exchanges_of_one_code_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    let (a, b) = two_instances(Some(url)).await;
    concurrent_exchanges_issue_one_token_and_end_the_grant(&a, &b).await;
}

/// One refresh token presented eight times at once, across two instances, in several rounds:
/// one rotation, and every answer is that rotation's pair (a retry within the grace), which
/// works; the grant lives on. Presented again after the grace, the old token ends the grant.
async fn concurrent_refreshes_rotate_once_and_end_the_grant(a: &Harness, b: &Harness) {
    let (_, _, url) = oauth_server(a).await;
    for round in 0..3 {
        let (client_id, tokens) = sign_in(a, &url, &a.admin_token).await;
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let answers = futures::future::join_all((0..8).map(|i| {
            let instance = if i % 2 == 0 { a } else { b };
            refresh(instance, &client_id, refresh_token)
        }))
        .await;
        for answer in &answers {
            assert_eq!(answer.0, 200, "round {round}: {answer:?}");
            assert_eq!(
                (&answer.1["access_token"], &answer.1["refresh_token"]),
                (
                    &answers[0].1["access_token"],
                    &answers[0].1["refresh_token"]
                ),
                "round {round}: one rotation, one pair"
            );
        }
        let access = answers[0].1["access_token"].as_str().unwrap();
        assert_eq!(
            call_status(a, &url, Some(access)).await.0,
            200,
            "round {round}"
        );
        let next = answers[0].1["refresh_token"].as_str().unwrap().to_owned();
        // Past the grace, the rotated token is a copy someone kept: the grant ends.
        execute_on(
            a,
            "UPDATE oauth_tokens SET used_at = used_at - 3600 WHERE used_at IS NOT NULL",
        )
        .await;
        assert!(refused_grant(&refresh(b, &client_id, refresh_token).await));
        until_refused(a, &url, access).await;
        assert!(refused_grant(&refresh(a, &client_id, &next).await));
    }
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_on_sqlite() {
    let (a, b) = two_instances(None).await;
    concurrent_refreshes_rotate_once_and_end_the_grant(&a, &b).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn concurrent_refreshes_with_one_token_on_postgres() {
    let Some(url) = common::postgres() else {
        return;
    };
    let (a, b) = two_instances(Some(url)).await;
    concurrent_refreshes_rotate_once_and_end_the_grant(&a, &b).await;
}

/// Runs `statement` on the harness's database, SQLite or PostgreSQL.
async fn execute_on(h: &Harness, statement: &'static str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&h.database).await.unwrap();
    sqlx::query(statement).execute(&pool).await.unwrap();
}

/// Runs `statement` on the harness's SQLite database.
async fn execute(h: &Harness, statement: &'static str) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", h.db_path.display());
    let mut connection = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(statement)
        .execute(&mut connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_token_endpoint_refuses_expired_foreign_and_misdirected_grants() {
    let h = start().await;
    let (account, _, url) = oauth_server(&h).await;
    // A second `oauth` server of the same account, and one of another account.
    let (_, sibling) = h.server(&account, json!({"oauth": true})).await;
    let (_, _, stranger) = oauth_server(&h).await;

    // An expired code: refused, and nothing else is wrong with the request.
    let (client_id, code) = authorize(&h, &url, &h.admin_token).await;
    execute(
        &h,
        "UPDATE oauth_codes SET expires_at = 0 WHERE grant_id IS NULL",
    )
    .await;
    assert!(refused_grant(&exchange(&h, &client_id, &code, &url).await));

    // Another client's code.
    let (_, code) = authorize(&h, &url, &h.admin_token).await;
    let other_client = register(&h, REDIRECT).await;
    let answer = exchange(&h, &other_client, &code, &url).await;
    assert!(refused_grant(&answer), "{answer:?}");
    assert!(
        answer.1["error_description"]
            .as_str()
            .unwrap()
            .contains("another client")
    );

    // A resource naming another server, of the same account or another: invalid_target.
    for other in [&sibling, &stranger] {
        let (client_id, code) = authorize(&h, &url, &h.admin_token).await;
        let (status, body) = exchange(&h, &client_id, &code, other).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{other}"
        );
        // The code was not spent on the misdirected request.
        let (status, tokens) = exchange(&h, &client_id, &code, &url).await;
        assert_eq!(status, 200, "{tokens}");
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let (status, body) = token(
            &h,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", &client_id),
                ("resource", other),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target"))
        );
    }

    // Another client's refresh token, then RFC 7009 revocation in another client's name:
    // both leave the grant alone.
    let (client_id, tokens) = sign_in(&h, &url, &h.admin_token).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let answer = refresh(&h, &other_client, refresh_token).await;
    assert!(refused_grant(&answer), "{answer:?}");
    let revoked = h
        .http
        .post(format!("{}/oauth/revoke", h.base))
        .form(&[("token", access), ("client_id", other_client.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        revoked.status(),
        200,
        "RFC 7009: no hint whether the token was known"
    );
    assert_eq!(call_status(&h, &url, Some(access)).await.0, 200);

    // An expired refresh token.
    execute(
        &h,
        "UPDATE oauth_tokens SET expires_at = 0 WHERE kind = 'refresh'",
    )
    .await;
    assert!(refused_grant(&refresh(&h, &client_id, refresh_token).await));
}

/// A client's registration: system handler schemes, dotless private schemes, too many or too
/// long redirect URIs, a too-large body and names with invisible characters are refused;
/// reverse-DNS app schemes and the known editors' schemes are taken.
#[tokio::test]
async fn registration_refuses_system_schemes_spoofing_names_and_oversized_metadata() {
    // Registrations are limited to ten a minute per address: two servers take the sixteen.
    let (first, second) = (start().await, start().await);
    let register_raw = |h: &'static str, body: Value| {
        let h = if h == "first" { &first } else { &second };
        async move {
            let response = h
                .http
                .post(format!("{}/oauth/register", h.base))
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    for refused in [
        "search-ms:query=invoice&crumb=location:\\\\evil.example\\share",
        "ms-settings:privacy",
        "chrome://settings",
        "view-source:https://chatgpt.com",
        "jar:https://evil.example/a.jar!/",
        "filesystem:https://evil.example/temporary/x",
        "mailto:person@example.com",
        "evilapp://chatgpt.com/callback",
    ] {
        let (status, body) = register_raw("first", json!({"redirect_uris": [refused]})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_redirect_uri")),
            "{refused}: {body}"
        );
    }
    for taken in [
        "com.example.app:/oauth2redirect",
        "cursor://anysphere.cursor-mcp/oauth/callback",
    ] {
        let (status, body) = register_raw("first", json!({"redirect_uris": [taken]})).await;
        assert_eq!(status, 201, "{taken}: {body}");
    }
    let many: Vec<String> = (0..11)
        .map(|i| format!("https://app.example.com/cb/{i}"))
        .collect();
    let long = format!("https://app.example.com/{}", "a".repeat(2100));
    for uris in [json!(many), json!([long]), json!([])] {
        let (status, body) = register_raw("second", json!({"redirect_uris": uris})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_redirect_uri"))
        );
    }
    let padded = json!({"redirect_uris": [REDIRECT], "software_statement": "x".repeat(20_000)});
    let (status, body) = register_raw("second", padded).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    for spoof in ["Chat\u{200b}GPT", "\u{202e}TPGtahC", "Claude\u{2066}"] {
        let (status, body) = register_raw(
            "second",
            json!({"redirect_uris": [REDIRECT], "client_name": spoof}),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{spoof:?}"
        );
    }
}

/// A client named "ChatGPT" on a custom scheme is shown as what it is: an unverified name, and
/// the app that opens that scheme's links, never a host.
#[tokio::test]
async fn the_consent_page_names_an_app_schemes_redirect_by_its_scheme() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let redirect = "com.evil.app://chatgpt.com/callback";
    let response = h
        .http
        .post(format!("{}/oauth/register", h.base))
        .json(&json!({"redirect_uris": [redirect], "client_name": "ChatGPT"}))
        .send()
        .await
        .unwrap();
    let client: Value = response.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let (status, _, page) =
        consent_page(&h, &authorize_query(client_id, redirect, &url, "S256")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("unverified"), "{page}");
    assert!(
        page.contains("the app that opens <strong>com.evil.app:</strong> links"),
        "{page}"
    );
    assert!(!page.contains("<strong>chatgpt.com</strong>"), "{page}");
}

/// A metadata document that declares a secret, names another client or is missing is refused
/// with one message that says nothing of what answered; a client_id with user info or dot
/// segments is refused before anything is fetched.
#[tokio::test]
async fn client_documents_are_checked_and_their_failures_tell_nothing_of_the_answer() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let fetched = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetched.clone();
    let base = origin.clone();
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::get(move |axum::extract::Path(name): axum::extract::Path<String>| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let id = format!("{base}/{name}");
            async move {
                let callback = "http://127.0.0.1/callback";
                let document = match name.as_str() {
                    "secret.json" => json!({"client_id": id, "redirect_uris": [callback], "client_secret": "zzz-echo-secret"}),
                    "basic.json" => json!({"client_id": id, "redirect_uris": [callback], "token_endpoint_auth_method": "client_secret_basic"}),
                    "other.json" => json!({"client_id": "https://zzz-echo-marker.example/c.json", "redirect_uris": [callback]}),
                    _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
                };
                axum::Json(document).into_response()
            }
        }),
    );
    use axum::response::IntoResponse;
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let redirect = "http://127.0.0.1:5000/callback";
    for name in ["secret.json", "basic.json", "other.json", "missing.json"] {
        let client_id = format!("{origin}/{name}");
        let (status, headers, page) =
            consent_page(&h, &authorize_query(&client_id, redirect, &url, "S256")).await;
        assert_eq!(status, 400, "{name}: {page}");
        assert!(headers.get("location").is_none());
        assert!(
            page.contains("could not be fetched, or is not a usable document for this client"),
            "{name}: {page}"
        );
        for leak in ["404", "zzz-echo", "client_secret"] {
            assert!(!page.contains(leak), "{name} leaks `{leak}`: {page}");
        }
    }
    let before = fetched.load(std::sync::atomic::Ordering::SeqCst);
    let host = origin.trim_start_matches("http://");
    for client_id in [
        format!("http://user:pass@{host}/secret.json"),
        format!("{origin}/a/../basic.json"),
        format!("{origin}/./basic.json"),
    ] {
        let (status, _, page) =
            consent_page(&h, &authorize_query(&client_id, redirect, &url, "S256")).await;
        assert_eq!(status, 400, "{client_id}: {page}");
        assert!(
            page.contains("is not a usable client metadata document URL"),
            "{page}"
        );
    }
    assert_eq!(
        fetched.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "refused before any fetch"
    );
}

/// A metadata-document client keeps refreshing after its document goes stale, is swept, and
/// its host stops answering: a client with a live grant stays known.
#[tokio::test]
async fn a_document_client_refreshes_after_its_document_goes_stale_and_its_host_goes_away() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let (document_url, host) = serve_document("Desktop client").await;
    let redirect = "http://127.0.0.1/callback";
    let (_, _, page) =
        consent_page(&h, &authorize_query(&document_url, redirect, &url, "S256")).await;
    assert!(
        page.contains("verified: <strong>127.0.0.1</strong>"),
        "{page}"
    );
    let tokens = allow_and_exchange(&h, &page, &document_url, redirect).await;

    // Ten minutes on: the document is stale, the sweeper runs, and its host is gone.
    host.abort();
    execute(&h, "UPDATE oauth_clients SET expires_at = 1").await;
    let store = specgate_server::store::Store::open(&h.database, false)
        .await
        .unwrap();
    store
        .prune_oauth(specgate_server::store::now())
        .await
        .unwrap();
    let mut refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, next) = refresh(&h, &document_url, &refresh_token).await;
        assert_eq!(status, 200, "{next}");
        refresh_token = next["refresh_token"].as_str().unwrap().to_owned();
    }
}

/// Turning `oauth` off ends the server's grants at once, and turning it on again revives
/// none of them.
#[tokio::test]
async fn turning_oauth_off_ends_grants_for_good() {
    let h = start().await;
    let (account, server, url) = oauth_server(&h).await;
    let (client_id, tokens) = sign_in(&h, &url, &h.admin_token).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(call_status(&h, &url, Some(access)).await.0, 200);
    let path = format!("/integrated-account/{account}/mcp/{server}");
    for oauth in [false, true] {
        let (status, body) = h
            .admin(
                reqwest::Method::PATCH,
                &path,
                Some(json!({"config": {"oauth": oauth}})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(call_status(&h, &url, Some(access)).await.0, 401);
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert!(refused_grant(&refresh(&h, &client_id, refresh_token).await));
}

/// RFC 9110: the authentication scheme is case-insensitive.
#[tokio::test]
async fn a_bearer_token_is_accepted_whatever_the_schemes_case() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let (_, tokens) = sign_in(&h, &url, &h.admin_token).await;
    let access = tokens["access_token"].as_str().unwrap();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = h
            .http
            .post(&url)
            .header("authorization", format!("{scheme} {access}"))
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    let admin = h
        .http
        .get(format!("{}/integrated-account", h.base))
        .header("authorization", format!("bearer {}", h.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
}

/// Browser-based clients reach the discovery documents, registration, token and revocation
/// endpoints across origins; the consent page stays same-origin.
#[tokio::test]
async fn the_oauth_endpoints_answer_browser_clients_across_origins() {
    let h = start().await;
    for path in ["/oauth/token", "/oauth/register", "/oauth/revoke"] {
        let preflight = h
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", h.base))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 200, "{path}");
        assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    }
    let metadata = h
        .http
        .get(format!("{}/.well-known/oauth-authorization-server", h.base))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.headers()["access-control-allow-origin"], "*");
    let consent = h
        .http
        .get(authorize_url(&h, &[]))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        consent
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// What a database backup holds after a sign-in and a refresh: no MCP URL token, no access,
/// refresh or authorization code, no API token, in any table.
async fn no_own_token_in_the_database(h: &Harness) {
    let (_, _, url) = oauth_server(h).await;
    let (client_id, code) = authorize(h, &url, &h.admin_token).await;
    let (_, tokens) = exchange(h, &client_id, &code, &url).await;
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (_, next) = refresh(h, &client_id, &first_refresh).await;
    let secrets = [
        url.rsplit('/').next().unwrap().to_owned(),
        code,
        h.admin_token.clone(),
        first_refresh,
        tokens["access_token"].as_str().unwrap().to_owned(),
        next["access_token"].as_str().unwrap().to_owned(),
        next["refresh_token"].as_str().unwrap().to_owned(),
    ];
    let held = database_bytes(h).await;
    for secret in &secrets {
        assert!(secret.len() > 20, "{secret}");
        let found = held.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "`{secret}` is in the database");
    }
}

/// Everything the database holds: the SQLite file and its WAL, or every row of every table of
/// the PostgreSQL schema as text.
async fn database_bytes(h: &Harness) -> Vec<u8> {
    if h.database.starts_with("sqlite:") {
        let mut bytes = std::fs::read(&h.db_path).unwrap();
        bytes.extend(std::fs::read(h.db_path.with_extension("db-wal")).unwrap_or_default());
        return bytes;
    }
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(&h.database).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let mut bytes = Vec::new();
    for (table,) in tables {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(t AS TEXT) FROM \"{table}\" t"
        )))
        .fetch_all(&mut connection)
        .await
        .unwrap();
        for (row,) in rows {
            bytes.extend(row.into_bytes());
        }
    }
    bytes
}

#[tokio::test]
async fn the_sqlite_database_holds_none_of_specgates_own_tokens() {
    no_own_token_in_the_database(&start().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (SPECGATE_TEST_POSTGRES_URL); scripts/test.sh starts one"]
async fn the_postgres_database_holds_none_of_specgates_own_tokens() {
    let Some(url) = common::postgres() else {
        return;
    };
    no_own_token_in_the_database(&common::start_with(Some(url)).await).await;
}

/// With `HTTPS_PROXY` and friends set, a client document on an internal name is still
/// resolved and checked here: nothing reaches the proxy, which would resolve any name it is
/// asked for. A real process, since proxy variables are read from its environment.
#[tokio::test]
async fn proxy_variables_never_carry_a_fetch_past_the_address_rules() {
    use std::process::{Command, Stdio};
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    proxy.set_nonblocking(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let key_file = dir.path().join("key").display().to_string();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let specgate = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_specgate"));
        command
            .args(["--database", &database, "--key-file", &key_file])
            .args(args)
            .env_remove("SPECGATE_SECRET_KEY")
            .env_remove("SPECGATE_PUBLIC_URL");
        for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy"] {
            command.env(name, &proxy_url);
        }
        command.env("NO_PROXY", "").env("no_proxy", "");
        command
    };
    assert!(specgate(&["init"]).output().unwrap().status.success());
    let server = specgate(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--public-url",
        &base,
    ])
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log_path).unwrap())
    .spawn()
    .unwrap();
    let mut server = common::until_ready(server, port, "healthz").await;

    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            (
                "client_id",
                "https://metadata.google.internal/computeMetadata/v1/client.json",
            ),
            ("redirect_uri", "http://127.0.0.1/callback"),
            ("code_challenge", "x"),
            ("code_challenge_method", "S256"),
            ("resource", &format!("{base}/mcp/x")),
        ])
        .finish();
    let response = reqwest::get(format!("{base}/oauth/authorize?{query}"))
        .await
        .unwrap();
    let status = response.status();
    let page = response.text().await.unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("could not be fetched, or is not a usable document"),
        "{page}"
    );
    assert!(
        matches!(proxy.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the fetch went to the proxy"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("proxy variables are ignored"), "{log}");
}

/// Grants and codes stored before migration 15 kept the MCP URL, token included; the
/// migration keeps only the transport suffix (the server id was always there).
#[tokio::test]
async fn migrating_keeps_a_grants_transport_and_drops_its_url() {
    use specgate_server::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/grants.db", dir.path().display());
    drop(Store::open(&url, true).await.unwrap());
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    // Back to what migration 14 left, with rows written then.
    for statement in [
        "PRAGMA foreign_keys = OFF",
        "ALTER TABLE oauth_grants ADD COLUMN resource TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE oauth_grants DROP COLUMN resource_suffix",
        "ALTER TABLE oauth_codes ADD COLUMN resource TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE oauth_codes DROP COLUMN resource_suffix",
        "ALTER TABLE oauth_tokens DROP COLUMN used_at",
        "ALTER TABLE oauth_tokens DROP COLUMN successor_sealed",
        "DROP INDEX oauth_connections_by_start",
        "ALTER TABLE oauth_connections DROP COLUMN start_hash",
        "ALTER TABLE oauth_connections DROP COLUMN browser_hash",
        "ALTER TABLE oauth_connections DROP COLUMN authorize_sealed",
        "ALTER TABLE oauth_connections DROP COLUMN accept_other_identity",
        "ALTER TABLE accounts DROP COLUMN vendor_identity",
        "DELETE FROM _sqlx_migrations WHERE version = 15",
        "INSERT INTO oauth_grants (id, server_id, client_id, api_token_id, resource, created_at) VALUES \
         ('g-sse', 's', 'c', 't', 'https://mcp.example.com/mcp/mcp_secret_one/portable/sse', 1), \
         ('g-plain', 's', 'c', 't', 'https://mcp.example.com/mcp/mcp_secret_two', 1)",
        "INSERT INTO oauth_codes (code_hash, server_id, client_id, api_token_id, resource, redirect_uri, code_challenge, expires_at) VALUES \
         ('h', 's', 'c', 't', 'https://mcp.example.com/mcp/mcp_secret_three/portable', 'https://x', 'c', 1)",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut connection)
            .await
            .unwrap();
    }
    drop(connection);
    drop(Store::open(&url, false).await.unwrap());
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let grants: Vec<(String, String)> =
        sqlx::query_as("SELECT id, resource_suffix FROM oauth_grants ORDER BY id")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert_eq!(
        grants,
        [
            ("g-plain".to_owned(), String::new()),
            ("g-sse".to_owned(), "/portable/sse".to_owned())
        ]
    );
    let codes: Vec<(String,)> = sqlx::query_as("SELECT resource_suffix FROM oauth_codes")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    assert_eq!(codes, [("/portable".to_owned(),)]);
    let columns: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM pragma_table_info('oauth_grants') UNION ALL SELECT name FROM pragma_table_info('oauth_codes')",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert!(
        !columns.iter().any(|(name,)| name == "resource"),
        "{columns:?}"
    );
}

/// RFC 9207: every answer that reaches the redirect URI names the issuer, and the metadata
/// says so; MCP 2025-03-26's default endpoints answer as the metadata's do, so a client that
/// refreshes at `<issuer>/token` after a restart keeps its grant; `application_type` keeps web
/// clients on https and native clients on loopback or their own scheme.
#[tokio::test]
async fn answers_name_the_issuer_default_endpoints_answer_and_application_types_hold() {
    let h = start().await;
    let (_, _, url) = oauth_server(&h).await;
    let metadata = h.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(metadata["client_id_metadata_document_supported"], true);

    // Allowed and denied: both carry `iss`.
    let client_id = register(&h, REDIRECT).await;
    let query = authorize_query(&client_id, REDIRECT, &url, "S256");
    for decision in ["allow", "deny"] {
        let (_, _, page) = consent_page(&h, &query).await;
        let (status, location, body) = decide(&h, &page, &h.admin_token, decision).await;
        assert_eq!(status, 303, "{body}");
        let location = location.unwrap();
        assert_eq!(
            query_param(&location, "iss").as_deref(),
            Some(h.base.as_str()),
            "{location}"
        );
    }

    // Signed in, then refreshed at `<issuer>/token`.
    let (client_id, tokens) = sign_in(&h, &url, &h.admin_token).await;
    let refreshed = h
        .http
        .post(format!("{}/token", h.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
    let default_endpoint = authorize_url(&h, &query).replace("/oauth/authorize", "/authorize");
    let consent = browser().get(default_endpoint).send().await.unwrap();
    assert_eq!(consent.status(), 200, "the default authorization endpoint");

    // application_type.
    let registered = |body: Value| {
        let h = &h;
        async move {
            let response = h
                .http
                .post(format!("{}/register", h.base))
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, web_on_loopback) = registered(
        json!({"redirect_uris": ["http://127.0.0.1:8080/cb"], "application_type": "web"}),
    )
    .await;
    assert_eq!(status, 400, "{web_on_loopback}");
    assert_eq!(web_on_loopback["error"], "invalid_redirect_uri");
    let (status, native_on_web) = registered(
        json!({"redirect_uris": ["https://app.example.com/cb"], "application_type": "native"}),
    )
    .await;
    assert_eq!(status, 400, "{native_on_web}");
    let (status, unknown) = registered(
        json!({"redirect_uris": ["https://app.example.com/cb"], "application_type": "desktop"}),
    )
    .await;
    assert_eq!(
        (status, unknown["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let (status, native) = registered(json!({"redirect_uris": ["http://127.0.0.1:8080/cb", "com.example.app:/cb"], "application_type": "native"})).await;
    assert_eq!(status, 201, "{native}");
    assert_eq!(native["application_type"], "native");
}
