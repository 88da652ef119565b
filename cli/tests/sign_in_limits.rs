//! The sign-in and registration limits against a real `specgate serve`, attacked as they would
//! be: from several loopback source addresses at once (127.0.0.1/8 all reach a server bound to
//! 127.0.0.1), behind a trusted and an untrusted proxy header, and spread over many addresses.

use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use specgate_server::grants::pkce_challenge;

mod common;

const REDIRECT: &str = "https://chatgpt.com/connector_platform_oauth_redirect";
const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

/// A served database with an admin token and an `oauth` MCP server.
struct Served {
    child: Child,
    base: String,
    admin_token: String,
    mcp_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(dir: &std::path::Path, args: &[&str]) -> Value {
    let database = format!("sqlite://{}", dir.join("specgate.db").display());
    let output = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(["--database", &database, "--json"])
        .args(args)
        .env_remove("SPECGATE_SECRET_KEY")
        .env_remove("SPECGATE_KEY_FILE")
        .env_remove("SPECGATE_PUBLIC_URL")
        .env_remove("SPECGATE_TRUSTED_PROXIES")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// `specgate serve` on 127.0.0.1 with `extra` flags.
async fn serve(extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    cli(dir.path(), &["init"]);
    let admin_token = cli(dir.path(), &["api-token", "create", "--name", "ops"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = cli(
        dir.path(),
        &[
            "account",
            "create",
            "--integration",
            "e_desk",
            "--name",
            "acme",
            "--credentials",
            r#"{"api_key":"k"}"#,
        ],
    );
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let database = format!("sqlite://{}", dir.path().join("specgate.db").display());
    let child = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(["--database", &database, "serve", "--listen", &listen])
        .args(["--public-url", &format!("http://{listen}")])
        .args(extra)
        .env_remove("SPECGATE_SECRET_KEY")
        .env_remove("SPECGATE_KEY_FILE")
        .env_remove("SPECGATE_PUBLIC_URL")
        .env_remove("SPECGATE_TRUSTED_PROXIES")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = common::until_ready(child, port, "healthz").await;
    let created = cli(
        dir.path(),
        &[
            "mcp",
            "create",
            "--account",
            account["id"].as_str().unwrap(),
            "--name",
            "agent",
            "--oauth",
        ],
    );
    Served {
        child,
        base: format!("http://{listen}"),
        admin_token,
        mcp_url: created["url"].as_str().unwrap().to_owned(),
        _dir: dir,
    }
}

/// An HTTP client whose connections come from `source`, and which reads each redirect.
fn from(source: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(source))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A console sign-in: the status and the page.
async fn console_sign_in(
    s: &Served,
    client: &reqwest::Client,
    token: &str,
    forwarded: Option<&str>,
) -> (u16, String) {
    let mut request = client
        .post(format!("{}/console/login", s.base))
        .form(&[("token", token)]);
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

async fn register(s: &Served, client: &reqwest::Client) -> (u16, Value) {
    let response = client
        .post(format!("{}/oauth/register", s.base))
        .json(&json!({"redirect_uris": [REDIRECT], "client_name": "Test client"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The consent form's hidden fields for a newly registered client.
async fn consent_form(s: &Served, client: &reqwest::Client) -> Vec<(String, String)> {
    let (status, registered) = register(s, client).await;
    assert_eq!(status, 201, "{registered}");
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", registered["client_id"].as_str().unwrap()),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
            ("code_challenge", &pkce_challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
            ("resource", &s.mcp_url),
        ])
        .finish();
    let page = client
        .get(format!("{}/oauth/authorize?{query}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    common::oauth::hidden_fields(&html)
}

/// Signs in on the consent form with `api_token` and allows on the review page that follows:
/// the status and the page (a 303 on success).
async fn consent(
    s: &Served,
    client: &reqwest::Client,
    form: &[(String, String)],
    api_token: &str,
) -> (u16, String) {
    let (status, _, page) =
        common::oauth::decide_at(client, &s.base, form.to_vec(), api_token, "allow").await;
    (status, page)
}

#[tokio::test]
async fn one_address_that_fails_sign_ins_locks_out_only_itself() {
    let s = serve(&[]).await;
    let (attacker, operator) = (from([127, 0, 0, 2]), from([127, 0, 0, 1]));

    // The console.
    for _ in 0..5 {
        assert_eq!(
            console_sign_in(&s, &attacker, "sgk_wrong", None).await.0,
            401
        );
    }
    let (status, page) = console_sign_in(&s, &attacker, &s.admin_token, None).await;
    assert_eq!(
        status, 429,
        "the failing address waits, even with the right token"
    );
    assert!(page.contains("from this address"), "{page}");
    assert_eq!(
        console_sign_in(&s, &operator, &s.admin_token, None).await.0,
        303,
        "another address signs in"
    );

    // The consent page of an `oauth` MCP server.
    let attacker_form = consent_form(&s, &attacker).await;
    for _ in 0..5 {
        assert_eq!(
            consent(&s, &attacker, &attacker_form, "sgk_wrong").await.0,
            401
        );
    }
    assert_eq!(
        consent(&s, &attacker, &attacker_form, &s.admin_token)
            .await
            .0,
        429
    );
    let operator_form = consent_form(&s, &operator).await;
    assert_eq!(
        consent(&s, &operator, &operator_form, &s.admin_token)
            .await
            .0,
        303,
        "another address consents"
    );

    // Registrations: the attacker used one of its ten a minute above.
    for _ in 0..9 {
        assert_eq!(register(&s, &attacker).await.0, 201);
    }
    assert_eq!(register(&s, &attacker).await.0, 429);
    assert_eq!(register(&s, &operator).await.0, 201);
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    let s = serve(&["--trusted-proxy", "127.0.0.3/32"]).await;
    let (proxy, stranger) = (from([127, 0, 0, 3]), from([127, 0, 0, 5]));

    // Through the trusted proxy, each forwarded client has its own window.
    for _ in 0..5 {
        let forwarded = Some("203.0.113.9");
        assert_eq!(
            console_sign_in(&s, &proxy, "sgk_wrong", forwarded).await.0,
            401
        );
    }
    let forwarded = Some("198.51.100.1, 203.0.113.9");
    let (status, page) = console_sign_in(&s, &proxy, &s.admin_token, forwarded).await;
    assert_eq!(
        status, 429,
        "the client's own address, not what it wrote, counts: {page}"
    );
    let other_client = Some("203.0.113.10");
    assert_eq!(
        console_sign_in(&s, &proxy, &s.admin_token, other_client)
            .await
            .0,
        303,
        "another client behind the same proxy signs in"
    );

    // From anyone else the header is ignored: changing it does not escape the limit.
    for attempt in 0..5 {
        let forwarded = format!("192.0.2.{attempt}");
        let (status, _) = console_sign_in(&s, &stranger, "sgk_wrong", Some(&forwarded)).await;
        assert_eq!(status, 401);
    }
    let (status, _) = console_sign_in(&s, &stranger, &s.admin_token, Some("192.0.2.200")).await;
    assert_eq!(status, 429, "an untrusted peer's header names nobody");
}

#[tokio::test]
async fn a_guess_spread_over_many_addresses_is_slowed_and_the_owner_still_gets_in() {
    let s = serve(&[]).await;
    // Twenty failures from four addresses, each within its own limit of five.
    for address in 1..=4 {
        let client = from([127, 0, 1, address]);
        for _ in 0..5 {
            assert_eq!(console_sign_in(&s, &client, "sgk_wrong", None).await.0, 401);
        }
    }
    // Now attempts at the console take turns, one a second, waiting at most five seconds: of
    // twelve at once from twelve fresh addresses, the ones past the wait are refused.
    let attempts = (1..=12).map(|address| {
        let s = &s;
        async move { console_sign_in(s, &from([127, 0, 2, address]), "sgk_wrong", None).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let slowed: Vec<&String> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .map(|(_, page)| page)
        .collect();
    assert!(
        !slowed.is_empty() && slowed.len() < 12,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(
        slowed.iter().all(|page| page.contains("many addresses")),
        "{slowed:?}"
    );
    // The owner, from an address of their own, waits for a turn and signs in.
    let owner = from([127, 0, 3, 1]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, page) = console_sign_in(&s, &owner, &s.admin_token, None).await;
        if status == 303 {
            break;
        }
        assert_eq!(status, 429, "{page}");
        assert!(Instant::now() < deadline, "the owner never got a turn");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
