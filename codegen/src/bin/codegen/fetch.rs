//! `cargo codegen fetch <vendor>`: downloads an overlay's OpenAPI file from the URL its doc
//! spec records under `integration.source`, and records the file's SHA-256 and the time.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest spec accepted (Microsoft Graph's is about 35 MB).
const MAX_SPEC_BYTES: u64 = 128 * 1024 * 1024;

pub fn run(specs: &Path, vendor: &str) -> ExitCode {
    match fetch(specs, vendor) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn fetch(specs: &Path, vendor: &str) -> Result<String, String> {
    let dir = specs.join(vendor);
    let doc_path = dir.join("specgate.yaml");
    let doc_text = std::fs::read_to_string(&doc_path)
        .map_err(|e| format!("cannot read {}: {e}", doc_path.display()))?;
    let doc: Value = yaml_serde::from_str(&doc_text)
        .map_err(|e| format!("{} is not valid YAML: {e}", doc_path.display()))?;
    let integration = doc.get("integration").unwrap_or(&Value::Null);
    let file_name = integration
        .get("openapi")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            format!(
                "{} has no `integration.openapi` file to fetch into",
                doc_path.display()
            )
        })?;
    let url = integration
        .pointer("/source/url")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            format!(
                "{} records no `integration.source.url`; add `source: {{url: https://...}}` under `integration:`",
                doc_path.display()
            )
        })?;
    let recorded = integration
        .pointer("/source/sha256")
        .and_then(Value::as_str);
    let body = download(url)?;
    let parsed: Value = yaml_serde::from_slice(&body).map_err(|e| {
        format!("{url} did not return a YAML or JSON document: {e}; nothing was written")
    })?;
    if parsed.get("openapi").is_none() && parsed.get("swagger").is_none() {
        return Err(format!(
            "{url} returned a document without `openapi` or `swagger`; nothing was written"
        ));
    }
    let spec_path = dir.join(file_name);
    let on_disk = std::fs::read(&spec_path).ok();
    let old_hash = on_disk.as_deref().map(sha256_hex);
    let new_hash = sha256_hex(&body);
    let changed = old_hash.as_deref() != Some(new_hash.as_str());
    if changed {
        std::fs::write(&spec_path, &body)
            .map_err(|e| format!("cannot write {}: {e}", spec_path.display()))?;
    }
    let fetched_at = rfc3339_now();
    let updated = record_source(&doc_text, url, &new_hash, &fetched_at).ok_or_else(|| {
        format!(
            "cannot find `source:` under `integration:` in {}",
            doc_path.display()
        )
    })?;
    std::fs::write(&doc_path, updated)
        .map_err(|e| format!("cannot write {}: {e}", doc_path.display()))?;
    let mut summary = format!(
        "{vendor}/{file_name}: {} ({} bytes, sha256 {new_hash}) from {url}",
        if changed { "changed" } else { "unchanged" },
        body.len()
    );
    if let (Some(recorded), Some(old)) = (recorded, old_hash.as_deref())
        && recorded != old
    {
        summary.push_str(&format!(
            "\nthe file on disk had been edited since it was fetched (recorded sha256 {recorded}, was {old})"
        ));
    }
    if changed {
        summary.push_str("\nnext: cargo codegen diff, then cargo codegen generate");
    }
    Ok(summary)
}

fn download(url: &str) -> Result<Vec<u8>, String> {
    let mut response = ureq::get(url)
        .call()
        .map_err(|e| format!("cannot fetch {url}: {e}"))?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_SPEC_BYTES)
        .read_to_vec()
        .map_err(|e| format!("cannot read {url}: {e}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Replaces the doc spec's `source:` entry (a flow mapping, or a block mapping with its
/// indented lines) by one flow mapping line, leaving every other line as it was.
fn record_source(doc: &str, url: &str, sha256: &str, fetched_at: &str) -> Option<String> {
    let lines: Vec<&str> = doc.lines().collect();
    // Within the `integration:` block: after it, before the next top-level key.
    let block = lines.iter().position(|l| l.starts_with("integration:"))? + 1;
    let start = block
        + lines[block..]
            .iter()
            .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
            .position(|l| l.trim_start().starts_with("source:"))?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let end = start
        + 1
        + lines[start + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .count();
    // YAML double-quoted scalars take JSON string escapes.
    let entry = format!(
        "{}source: {{url: {}, sha256: {sha256}, fetched_at: \"{fetched_at}\"}}",
        " ".repeat(indent),
        Value::String(url.to_owned())
    );
    let mut out: Vec<String> = lines[..start].iter().map(|l| (*l).to_owned()).collect();
    out.push(entry);
    out.extend(lines[end..].iter().map(|l| (*l).to_owned()));
    let mut text = out.join("\n");
    text.push('\n');
    Some(text)
}

/// The current UTC time as RFC 3339. Written out because the one timestamp this tool
/// writes does not justify a date crate in the code generator.
fn rfc3339_now() -> String {
    rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

fn rfc3339(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_entry_is_replaced_and_nothing_else() {
        let doc = "specgate: 1\n# kept\nresources:\n  x:\n    source: not this one\nintegration:\n  name: Acme\n  source:\n    url: https://a.test/x.yaml\n    sha256: old\n  openapi: openapi.yaml\nresources: {}\n";
        let updated =
            record_source(doc, "https://a.test/x.yaml", "abc", "2026-12-01T00:00:00Z").unwrap();
        assert_eq!(
            updated,
            "specgate: 1\n# kept\nresources:\n  x:\n    source: not this one\nintegration:\n  name: Acme\n  source: {url: \"https://a.test/x.yaml\", sha256: abc, fetched_at: \"2026-12-01T00:00:00Z\"}\n  openapi: openapi.yaml\nresources: {}\n"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_128_496), "2026-12-01T12:34:56Z");
    }
}
