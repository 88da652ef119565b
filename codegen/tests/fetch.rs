//! `cargo codegen fetch` against a local HTTP server: the spec and its provenance are
//! written, an unchanged spec is reported as such, a hand edit is surfaced at build time,
//! and a response that is not a spec writes nothing.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use specgate_codegen::{generate, read_specs_dir};

const V1: &str = "openapi: 3.1.0\ninfo: {title: Acme, version: \"1\"}\nservers: [{url: \"https://api.acme.test\"}]\npaths:\n  /orders:\n    get: {operationId: listOrders, summary: List orders}\n";
const V2: &str = "openapi: 3.1.0\ninfo: {title: Acme, version: \"2\"}\nservers: [{url: \"https://api.acme.test\"}]\npaths:\n  /orders:\n    get: {operationId: listOrders, summary: List all orders}\n";

/// Serves `bodies` in order, one per request.
fn serve(bodies: Vec<&'static str>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for body in bodies {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).unwrap();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/yaml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    port
}

fn fetch(specs: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_codegen"))
        .args(["fetch", "acme", "--specs"])
        .arg(specs)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn checksum_warnings(specs: &Path) -> Vec<String> {
    generate(&read_specs_dir(specs).unwrap())
        .diagnostics
        .iter()
        .filter(|d| d.code == "provenance::checksum-changed")
        .map(ToString::to_string)
        .collect()
}

#[test]
fn fetch_records_provenance_and_reports_changes() {
    let port = serve(vec![V1, V1, V2, "<html>not a spec</html>"]);
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path();
    std::fs::create_dir(specs.join("acme")).unwrap();
    let overlay = specs.join("acme/specgate.yaml");
    std::fs::write(
        &overlay,
        format!("# Acme overlay\nspecgate: 1\nintegration:\n  name: Acme\n  openapi: openapi.yaml\n  source: {{url: \"http://127.0.0.1:{port}/openapi.yaml\"}}\n  include_unlisted: true\n"),
    )
    .unwrap();

    let (ok, text) = fetch(specs);
    assert!(ok, "{text}");
    assert!(text.contains("acme/openapi.yaml: changed"), "{text}");
    assert_eq!(
        std::fs::read_to_string(specs.join("acme/openapi.yaml")).unwrap(),
        V1
    );
    let recorded = std::fs::read_to_string(&overlay).unwrap();
    let v1_hash = "sha256: ".to_owned() + &sha256(V1);
    assert!(recorded.contains(&v1_hash), "{recorded}");
    assert!(recorded.contains("fetched_at: \"20"), "{recorded}");
    assert!(
        recorded.starts_with("# Acme overlay\n") && recorded.contains("  include_unlisted: true\n"),
        "{recorded}"
    );
    assert!(checksum_warnings(specs).is_empty());
    assert_eq!(
        generate(&read_specs_dir(specs).unwrap()).integrations[0]
            .tools
            .len(),
        1
    );

    let (ok, text) = fetch(specs);
    assert!(
        ok && text.contains("acme/openapi.yaml: unchanged"),
        "{text}"
    );

    std::fs::write(
        specs.join("acme/openapi.yaml"),
        V1.replace("List orders", "List the orders"),
    )
    .unwrap();
    let warnings = checksum_warnings(specs);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&sha256(V1)) && warnings[0].contains("cargo codegen fetch acme"),
        "{warnings:?}"
    );

    let (ok, text) = fetch(specs);
    assert!(ok, "{text}");
    assert!(
        text.contains("changed") && text.contains("had been edited since it was fetched"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(specs.join("acme/openapi.yaml")).unwrap(),
        V2
    );

    let (ok, text) = fetch(specs);
    assert!(!ok, "{text}");
    assert!(text.contains("nothing was written"), "{text}");
    assert_eq!(
        std::fs::read_to_string(specs.join("acme/openapi.yaml")).unwrap(),
        V2
    );
    assert!(
        std::fs::read_to_string(&overlay)
            .unwrap()
            .contains(&sha256(V2))
    );
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
