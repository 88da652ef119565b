//! The CLI twins of the admin API, and the stdio transport, driven as a user would.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

struct Cli {
    database: String,
    key_file: String,
}

impl Cli {
    /// A CLI on `db.sqlite` and `key` in `dir`.
    fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            database: format!("sqlite://{}", dir.join("db.sqlite").display()),
            key_file: dir.join("key").display().to_string(),
        }
    }

    fn run(&self, args: &[&str]) -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_specgate"))
            .args([
                "--database",
                &self.database,
                "--key-file",
                &self.key_file,
                "--json",
            ])
            .args(args)
            .env_remove("SPECGATE_SECRET_KEY")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_specgate"))
            .args(["--database", &self.database, "--key-file", &self.key_file])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

#[test]
fn cli_provisions_and_stdio_serves_the_filtered_tools() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::in_dir(dir.path());

    cli.run(&["init"]);
    let token = cli.run(&["api-token", "create", "--name", "ops"]);
    assert!(token["token"].as_str().unwrap().starts_with("sgk_"));
    let listed = cli.run(&["api-token", "list"]);
    assert_eq!(listed[0]["name"], "ops");
    assert!(listed[0].get("token").is_none());

    let account = cli.run(&[
        "account",
        "create",
        "--integration",
        "e_desk",
        "--name",
        "acme",
        "--credentials",
        r#"{"api_key":"edesk_live"}"#,
    ]);
    let account_id = account["id"].as_str().unwrap();
    assert!(
        cli.fails(&[
            "account",
            "create",
            "--integration",
            "e_desk",
            "--name",
            "x",
            "--credentials",
            r#"{"username":"u"}"#
        ])
        .contains("does not use `username`")
    );
    assert!(
        cli.fails(&[
            "account",
            "create",
            "--integration",
            "nope",
            "--name",
            "x",
            "--credentials",
            "{}"
        ])
        .contains("unknown integration `nope`")
    );

    let server = cli.run(&[
        "mcp",
        "create",
        "--account",
        account_id,
        "--name",
        "support",
        "--methods",
        "read",
        "--tags",
        "tickets",
    ]);
    let server_id = server["id"].as_str().unwrap();
    // No server has recorded its public URL in this database, so the CLI shows only the path.
    assert!(server.get("url").is_none(), "{server}");
    let mcp_token = server["mcp_path"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        cli.fails(&[
            "mcp",
            "create",
            "--account",
            account_id,
            "--name",
            "x",
            "--tags",
            "nope"
        ])
        .contains("valid tags")
    );
    assert_eq!(
        cli.run(&["mcp", "list", "--account", account_id])[0]["id"],
        server_id
    );
    // OAuth sign-in is one flag; its grants are listed (none yet) and a missing one is named.
    let signed = cli.run(&[
        "mcp",
        "create",
        "--account",
        account_id,
        "--name",
        "chatgpt",
        "--oauth",
    ]);
    assert_eq!(signed["config"]["oauth"], true, "{signed}");
    let signed_id = signed["id"].as_str().unwrap();
    assert_eq!(
        cli.run(&["mcp", "grants", "--account", account_id, signed_id]),
        serde_json::json!([])
    );
    let updated = cli.run(&[
        "mcp",
        "update",
        "--account",
        account_id,
        signed_id,
        "--no-oauth",
    ]);
    assert_eq!(updated["config"]["oauth"], false, "{updated}");
    assert!(
        cli.fails(&[
            "mcp",
            "revoke-grant",
            "--account",
            account_id,
            signed_id,
            "no-such-grant"
        ])
        .contains("no grant with id `no-such-grant`")
    );
    assert!(
        cli.run(&["mcp", "get", "--account", account_id, server_id])
            .get("url")
            .is_none()
    );
    let tools = cli.run(&["mcp", "tools", "--account", account_id, server_id]);
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "get_single_e_desk_message_by_id",
            "get_single_e_desk_ticket_by_id",
            "list_all_e_desk_tickets"
        ]
    );

    // stdio serves exactly those tools.
    let mut child = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args([
            "--database",
            &cli.database,
            "--key-file",
            &cli.key_file,
            "stdio",
            "--mcp-token",
            &mcp_token,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |message: Value| writeln!(stdin, "{message}").unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_single_e_desk_ticket_by_id", "arguments": {"unknown": 1}}}),
    );
    let mut responses = Vec::new();
    while responses.len() < 3 {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "stdio server closed early"
        );
        responses.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    // End of input ends the session, and the audit log is written before the process exits.
    drop(stdin);
    assert!(child.wait().unwrap().success());
    // Requests are served concurrently, so answers come in any order.
    responses.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(responses[0]["result"]["serverInfo"]["name"], "specgate");
    assert_eq!(responses[2]["result"]["isError"], true, "{}", responses[2]);
    let logged = cli.run(&["mcp", "calls", "--account", account_id, server_id]);
    assert_eq!(logged["calls"][0]["tool"], "get_single_e_desk_ticket_by_id");
    assert_eq!(logged["calls"][0]["outcome"], "invalid_arguments");
    let listed: Vec<&str> = responses[1]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, names);

    // Update the filters, rotate, delete.
    let updated = cli.run(&[
        "mcp",
        "update",
        "--account",
        account_id,
        server_id,
        "--methods",
        "write",
    ]);
    assert_eq!(updated["config"]["methods"], json!(["write"]));
    assert_eq!(
        updated["config"]["tags"],
        json!(["tickets"]),
        "flags not given keep their values"
    );
    let narrowed = cli.run(&[
        "mcp",
        "update",
        "--account",
        account_id,
        server_id,
        "--methods",
        "all",
        "--tools",
        "get_single_e_desk_ticket_by_id,update_a_e_desk_ticket_by_id",
        "--exclude-tools",
        "update_a_e_desk_ticket_by_id",
    ]);
    assert_eq!(
        narrowed["config"]["exclude_tools"],
        json!(["update_a_e_desk_ticket_by_id"])
    );
    let tools = cli.run(&["mcp", "tools", "--account", account_id, server_id]);
    assert_eq!(
        tools
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["get_single_e_desk_ticket_by_id"]
    );
    // The schema profile: set by a flag, kept by updates that do not name it, previewed.
    let portable = cli.run(&[
        "mcp",
        "update",
        "--account",
        account_id,
        server_id,
        "--schema-profile",
        "portable",
    ]);
    assert_eq!(portable["config"]["schema_profile"], "portable");
    assert_eq!(
        portable["config"]["exclude_tools"],
        json!(["update_a_e_desk_ticket_by_id"])
    );
    let previewed = cli.run(&["mcp", "tools", "--account", account_id, server_id]);
    assert_eq!(previewed[0]["schemaProfile"], "portable");
    let full = cli.run(&[
        "mcp",
        "tools",
        "--account",
        account_id,
        server_id,
        "--schema-profile",
        "full",
    ]);
    assert_eq!(full[0]["schemaProfile"], "full");
    let cleared = cli.run(&[
        "mcp",
        "update",
        "--account",
        account_id,
        server_id,
        "--exclude-tools",
        "",
    ]);
    assert_eq!(cleared["config"]["exclude_tools"], json!([]));
    let rotated = cli.run(&["mcp", "rotate", "--account", account_id, server_id]);
    assert_ne!(
        rotated["mcp_path"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap(),
        mcp_token
    );
    assert!(
        cli.fails(&["stdio", "--mcp-token", &mcp_token])
            .contains("unknown or expired MCP token")
    );
    cli.run(&["mcp", "delete", "--account", account_id, server_id]);
    cli.run(&["account", "delete", account_id]);
    assert_eq!(cli.run(&["account", "list"]), json!([]));
}

mod common;

/// `--public-url` must be a URL clients can reach, and only a `serve` given one records it:
/// a short run on another port leaves the links `mcp create` prints alone, and says so.
#[tokio::test]
async fn a_public_url_is_checked_and_recorded_only_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::in_dir(dir.path());
    cli.run(&["init"]);
    let serve = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_specgate"));
        command
            .args([
                "--database",
                &cli.database,
                "--key-file",
                &cli.key_file,
                "serve",
            ])
            .args(args)
            .env_remove("SPECGATE_PUBLIC_URL")
            .env_remove("SPECGATE_SECRET_KEY");
        command
    };
    for (given, said) in [
        ("mcp.example.com", "is not a URL"),
        ("ftp://x y", "is not a URL"),
        ("ftp://files.example.com", "must start with https://"),
        ("http://mcp.example.com", "is plain http"),
        ("https://mcp.example.com/base", "no path"),
        ("https://user:pw@mcp.example.com", "user info"),
    ] {
        let output = serve(&["--listen", "127.0.0.1:0", "--public-url", given])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{given}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(said), "{given}: {stderr}");
    }

    let recorded = format!("http://127.0.0.1:{}", common::free_port());
    let (first, second) = (common::free_port(), common::free_port());
    let log = dir.path().join("second.log");
    for (port, public, stderr) in [
        (first, Some(recorded.as_str()), None),
        (second, None, Some(&log)),
    ] {
        let listen = format!("127.0.0.1:{port}");
        let mut command = serve(&["--listen", &listen]);
        if let Some(public) = public {
            command.args(["--public-url", public]);
        }
        command.stdout(Stdio::null());
        match stderr {
            Some(path) => command.stderr(std::fs::File::create(path).unwrap()),
            None => command.stderr(Stdio::null()),
        };
        let mut server = common::until_ready(command.spawn().unwrap(), port, "healthz").await;
        server.kill().unwrap();
        server.wait().unwrap();
    }
    let warned = std::fs::read_to_string(&log).unwrap();
    assert!(
        warned.contains("another URL than the recorded public URL"),
        "{warned}"
    );
    let account = cli.run(&[
        "account",
        "create",
        "--integration",
        "malomo",
        "--name",
        "acme",
        "--credentials",
        r#"{"api_key":"k"}"#,
    ]);
    let created = cli.run(&[
        "mcp",
        "create",
        "--account",
        account["id"].as_str().unwrap(),
        "--name",
        "agent",
    ]);
    let url = created["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{recorded}/mcp/")), "{url}");
}

/// Credentials come from a file, standard input or the environment, never only the command
/// line; a new server says how many of its tools write; deleting an account says what went.
#[test]
fn secrets_stay_off_the_command_line_and_wide_servers_and_deletions_say_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::in_dir(dir.path());
    cli.run(&["init"]);
    let credentials = dir.path().join("malomo.json");
    std::fs::write(&credentials, "{\"api_key\": \"from-a-file\"}\n").unwrap();
    let from_file = cli.run(&[
        "account",
        "create",
        "--integration",
        "malomo",
        "--name",
        "from a file",
        "--credentials",
        &format!("@{}", credentials.display()),
    ]);
    let base = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_specgate"));
        command
            .args([
                "--database",
                &cli.database,
                "--key-file",
                &cli.key_file,
                "--json",
            ])
            .args(["account", "create", "--integration", "malomo"]);
        command
    };
    let mut piped = base()
        .args(["--name", "from stdin", "--credentials", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    piped
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"api_key\": \"from-stdin\"}")
        .unwrap();
    assert!(piped.wait_with_output().unwrap().status.success());
    let from_env = base()
        .args(["--name", "from the environment"])
        .env("SPECGATE_CREDENTIALS", "{\"api_key\": \"from-env\"}")
        .output()
        .unwrap();
    assert!(
        from_env.status.success(),
        "{}",
        String::from_utf8_lossy(&from_env.stderr)
    );
    let missing = cli.fails(&[
        "account",
        "create",
        "--integration",
        "malomo",
        "--name",
        "n",
        "--credentials",
        "@/nonexistent/creds.json",
    ]);
    assert!(missing.contains("cannot read the file"), "{missing}");
    let listed = cli.run(&["account", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");

    // A server with every method says what it exposes, and how to narrow it.
    let id = from_file["id"].as_str().unwrap();
    let wide = cli.run(&["mcp", "create", "--account", id, "--name", "wide"]);
    let exposes = &wide["exposes"];
    assert!(exposes["writes"].as_u64().unwrap() > 0, "{wide}");
    assert!(exposes["destructive"].as_u64().unwrap() > 0, "{wide}");
    assert_eq!(
        exposes["tools"].as_u64(),
        Some(exposes["read_only"].as_u64().unwrap() + exposes["writes"].as_u64().unwrap())
    );
    assert!(
        wide["warnings"].to_string().contains("--methods read"),
        "{wide}"
    );
    let narrow = cli.run(&[
        "mcp",
        "create",
        "--account",
        id,
        "--name",
        "narrow",
        "--methods",
        "read",
    ]);
    assert_eq!(narrow["exposes"]["writes"], 0, "{narrow}");
    assert!(narrow.get("warnings").is_none(), "{narrow}");

    // Deleting the account (not on a terminal, so without a question) says what went with it.
    let deleted = cli.run(&["account", "delete", id]);
    let names: Vec<&str> = deleted["mcp_servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{deleted}");
    assert!(
        names.contains(&"wide") && names.contains(&"narrow"),
        "{deleted}"
    );
}

/// The key is never replaced by accident, a backup restores, and a database from a newer
/// specgate says so in words.
#[tokio::test]
async fn the_key_is_kept_backed_up_and_a_newer_database_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db.sqlite");
    let cli = Cli {
        database: format!("sqlite://{}", db_path.display()),
        key_file: dir.path().join("key").display().to_string(),
    };
    let init = cli.run(&["init"]);
    cli.run(&[
        "account",
        "create",
        "--integration",
        "malomo",
        "--name",
        "kept",
        "--credentials",
        r#"{"api_key":"k"}"#,
    ]);

    // A backup while the database is in use, and a restore from it.
    let backup_dir = dir.path().join("backup");
    let backup_arg = backup_dir.display().to_string();
    let backup = cli.run(&["backup", "--to", &backup_arg]);
    assert_eq!(backup["key_fingerprint"], init["key_fingerprint"]);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&backup_dir), 0o700);
    for file in ["specgate.db", "secret.key"] {
        assert_eq!(mode(&backup_dir.join(file)), 0o600, "{file}");
    }
    let restored = Cli {
        database: format!("sqlite://{}", backup_dir.join("specgate.db").display()),
        key_file: backup_dir.join("secret.key").display().to_string(),
    };
    let accounts = restored.run(&["account", "list"]);
    assert_eq!(accounts[0]["name"], "kept", "{accounts}");
    let again = cli.fails(&["backup", "--to", &backup_arg]);
    assert!(again.contains("exists already"), "{again}");

    // The key file gone: neither `init` nor `serve` writes a new one next to this database.
    std::fs::rename(&cli.key_file, dir.path().join("key.moved")).unwrap();
    for command in [vec!["init"], vec!["serve", "--listen", "127.0.0.1:0"]] {
        let said = cli.fails(&command);
        assert!(said.contains("no new key was made"), "{command:?}: {said}");
        assert!(
            said.contains(init["key_fingerprint"].as_str().unwrap()),
            "{said}"
        );
        assert!(!std::path::Path::new(&cli.key_file).exists(), "{command:?}");
    }
    std::fs::rename(dir.path().join("key.moved"), &cli.key_file).unwrap();

    // A migration this build does not know.
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&cli.database)
        .await
        .unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (999, 'from the future', 1, x'00', 0)")
        .execute(&mut connection)
        .await
        .unwrap();
    drop(connection);
    let said = cli.fails(&["account", "list"]);
    assert!(
        said.contains("written by a newer specgate (it has migration 999"),
        "{said}"
    );
}

/// `key rotate` then `key rotate --finish`: every sealed secret moves to the new key in one
/// transaction, MCP URLs and API tokens keep working, and the old key alone opens nothing.
#[tokio::test]
async fn a_key_rotation_reseals_every_secret_and_keeps_every_token() {
    use specgate_server::crypto::Keys;
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::in_dir(dir.path());
    let init = cli.run(&["init"]);
    let account = cli.run(&[
        "account",
        "create",
        "--integration",
        "malomo",
        "--name",
        "rotated",
        "--credentials",
        r#"{"api_key":"sk_rotated"}"#,
    ]);
    let token = cli.run(&["api-token", "create", "--name", "admin"]);
    let old_key = Keys::load(None, std::path::Path::new(&cli.key_file), false).unwrap();
    let sealed = || async {
        let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&cli.database)
            .await
            .unwrap();
        let (value,): (String,) = sqlx::query_as("SELECT credentials_sealed FROM accounts")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        value
    };
    let before = sealed().await;

    let started = cli.run(&["key", "rotate"]);
    assert_eq!(started["previous_fingerprint"], init["key_fingerprint"]);
    assert!(cli.fails(&["key", "rotate"]).contains("under way"));
    // Between the steps, commands (and servers reloaded with the new file) still work.
    assert_eq!(cli.run(&["account", "list"])[0]["name"], "rotated");

    let finished = cli.run(&["key", "rotate", "--finish"]);
    assert_eq!(finished["secrets_sealed_again"], 1, "{finished}");
    assert_eq!(finished["key_fingerprint"], started["key_fingerprint"]);
    let after = sealed().await;
    assert_ne!(after, before);
    let new_key = Keys::load(None, std::path::Path::new(&cli.key_file), false).unwrap();
    assert_eq!(new_key.previous_fingerprint(), None);
    assert_eq!(
        String::from_utf8(new_key.open(&after).unwrap()).unwrap(),
        r#"{"api_key":"sk_rotated"}"#
    );
    assert!(
        old_key.open(&after).is_err(),
        "the old key alone opens nothing"
    );
    assert!(
        cli.fails(&["key", "rotate", "--finish"])
            .contains("no rotation")
    );

    // The API token still opens the admin API of a server on the rotated key.
    let port = common::free_port();
    let server = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args([
            "--database",
            &cli.database,
            "--key-file",
            &cli.key_file,
            "serve",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("SPECGATE_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = common::until_ready(server, port, "healthz").await;
    let listed = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{port}/integrated-account/{}",
            account["id"].as_str().unwrap()
        ))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(listed.status(), 200);
}

/// The CLI's output holds up: errors as JSON under `--json`, the closest name suggested, an
/// empty update refused, `--x`/`--no-x` switches, RFC 3339 times, and an unreachable
/// PostgreSQL named at once.
#[test]
fn cli_errors_and_output_are_ones_a_person_or_script_can_act_on() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::in_dir(dir.path());
    cli.run(&["init"]);
    let json_failure = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_specgate"))
            .args([
                "--database",
                &cli.database,
                "--key-file",
                &cli.key_file,
                "--json",
            ])
            .args(args)
            .output()
            .unwrap();
        let error: Value = serde_json::from_slice(&output.stderr)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
        (output.status.code(), error)
    };
    let (code, error) = json_failure(&[
        "account",
        "create",
        "--integration",
        "edesk",
        "--name",
        "n",
        "--credentials",
        "{}",
    ]);
    assert_eq!(code, Some(5), "{error}");
    assert_eq!(error["error"]["code"], "unknown_integration", "{error}");
    assert_eq!(error["error"]["field"], "integration", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `e_desk`?"),
        "{error}"
    );

    let account = cli.run(&[
        "account",
        "create",
        "--integration",
        "malomo",
        "--name",
        "acme",
        "--credentials",
        r#"{"api_key":"k"}"#,
    ]);
    let id = account["id"].as_str().unwrap();
    let server = cli.run(&["mcp", "create", "--account", id, "--name", "s", "--oauth"]);
    let sid = server["id"].as_str().unwrap();
    assert_eq!(server["config"]["oauth"], true);
    for args in [
        vec!["account", "update", id],
        vec!["mcp", "update", "--account", id, sid],
    ] {
        let (code, error) = json_failure(&args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("nothing to change"),
            "{error}"
        );
    }
    let off = cli.run(&["mcp", "update", "--account", id, sid, "--no-oauth"]);
    assert_eq!(off["config"]["oauth"], false);
    let last_wins = cli.run(&[
        "mcp",
        "update",
        "--account",
        id,
        sid,
        "--no-oauth",
        "--oauth",
    ]);
    assert_eq!(last_wins["config"]["oauth"], true);

    let rfc3339 = |value: &Value| {
        let text = value.as_str().unwrap_or_default();
        assert!(
            text.len() >= 20 && text.as_bytes()[4] == b'-' && text.contains('T'),
            "not RFC 3339: {value}"
        );
    };
    cli.run(&["api-token", "create", "--name", "admin"]);
    rfc3339(&cli.run(&["api-token", "list"])[0]["created_at"]);
    let allowed = cli.run(&[
        "upstream-host",
        "allow",
        "--integration",
        "malomo",
        "eu.gomalomo.com",
    ]);
    rfc3339(&allowed["created_at"]);

    // Nothing listens on this port: the error names it, right away.
    let port = common::free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args([
            "--database",
            &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            "account",
            "list",
        ])
        .env(
            "SPECGATE_SECRET_KEY",
            "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot connect to the database at 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
}

/// Logs for a collector: one JSON object a line, no colour codes off a terminal, and a
/// `SPECGATE_LOG` that does not parse named rather than ignored.
#[tokio::test]
async fn logs_are_json_lines_without_colour_and_a_bad_filter_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::in_dir(dir.path());
    cli.run(&["init"]);
    let port = common::free_port();
    let log = dir.path().join("serve.log");
    let server = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(["--database", &cli.database, "--key-file", &cli.key_file])
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            &format!("0.0.0.0:{port}"),
        ])
        .env("SPECGATE_LOG", "info,[=nonsense")
        .env_remove("SPECGATE_PUBLIC_URL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = common::until_ready(server, port, "healthz").await;
    server.kill().unwrap();
    server.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains('\u{1b}'),
        "colour codes off a terminal: {text}"
    );
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SPECGATE_LOG is not a usable filter"))),
        "{text}"
    );
    // Serving on every interface warns, as a JSON line too.
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "WARN"
                && l["fields"]["message"].to_string().contains("plain HTTP")),
        "{text}"
    );
}

/// Lists print as tables in text mode: a header, then one aligned row per record.
#[test]
fn lists_print_as_tables() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::in_dir(dir.path());
    cli.run(&["init"]);
    for name in ["first", "second account"] {
        cli.run(&[
            "account",
            "create",
            "--integration",
            "malomo",
            "--name",
            name,
            "--credentials",
            r#"{"api_key":"k"}"#,
        ]);
    }
    let output = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(["--database", &cli.database, "--key-file", &cli.key_file])
        .args(["account", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("INTEGRATION") && lines[0].contains("NAME"),
        "{text}"
    );
    let name_at = lines[0].find("NAME").unwrap();
    for name in ["first", "second account"] {
        let row = lines[1..].iter().find(|l| l.contains(name)).unwrap();
        assert_eq!(&row[name_at..name_at + name.len()], name, "aligned: {text}");
        assert!(row.contains("malomo"), "{text}");
    }
}

/// `--confirm` and `--confirm-fallback` set a server's confirmation policy on create and
/// update; a tool the integration lacks is named in the error.
#[test]
fn the_cli_sets_which_calls_wait_for_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli::in_dir(dir.path());
    cli.run(&["init"]);
    let account = cli.run(&[
        "account",
        "create",
        "--integration",
        "malomo",
        "--name",
        "acme",
        "--credentials",
        "{\"api_key\": \"k\"}",
    ]);
    let id = account["id"].as_str().unwrap();
    let created = cli.run(&[
        "mcp",
        "create",
        "--account",
        id,
        "--name",
        "s",
        "--confirm",
        "destructive",
    ]);
    assert_eq!(created["config"]["confirm"], "destructive", "{created}");
    assert_eq!(created["config"]["confirm_fallback"], "refuse");
    let server = created["id"].as_str().unwrap();
    let updated = cli.run(&[
        "mcp",
        "update",
        "--account",
        id,
        server,
        "--confirm",
        "delete_a_malomo_order_by_id,update_a_malomo_order_by_id",
        "--confirm-fallback",
        "allow",
    ]);
    assert_eq!(
        updated["config"]["confirm"],
        json!(["delete_a_malomo_order_by_id", "update_a_malomo_order_by_id"]),
        "{updated}"
    );
    assert_eq!(updated["config"]["confirm_fallback"], "allow");
    let unknown = cli.fails(&[
        "mcp",
        "update",
        "--account",
        id,
        server,
        "--confirm",
        "delete_everything",
    ]);
    assert!(
        unknown.contains("unknown tool `delete_everything` in `confirm`"),
        "{unknown}"
    );
}
