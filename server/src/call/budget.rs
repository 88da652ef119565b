//! A result's size as a client receives it, and results shaped to a server's budget: a
//! structured result travels twice (as `structuredContent`, and as the JSON text of its text
//! block), so its size is that of the whole `result` object a tools/call answers with. An
//! object too large for the budget is shortened where it is largest (long strings, long
//! arrays), never cut mid-JSON, and says which fields were shortened.

use serde_json::{Map, Value};

use crate::ratelimit::RateLimit;

/// The `_meta` key of the vendor's normalized rate limit in a result.
pub const RATE_LIMIT_META: &str = "io.specgate/rate_limit";

/// Strings shorter than this are never shortened.
const MIN_STRING: usize = 32;

/// Bytes of a JSON string holding `text`, quotes and escapes included (as serde_json writes it).
pub fn escaped_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | 0x08 | 0x0c | b'\n' | b'\r' | b'\t' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

fn meta_len(rate_limit: Option<&RateLimit>) -> usize {
    rate_limit.map_or(0, |rate_limit| {
        r#","_meta":{""#.len()
            + RATE_LIMIT_META.len()
            + r#"":"#.len()
            + rate_limit.to_json().to_string().len()
            + 1
    })
}

/// Bytes of the result object of a structured result whose JSON is `json`:
/// `{"content":[{"type":"text","text":<json as a string>}],"structuredContent":<json>,"isError":false}`,
/// with the rate limit in `_meta` when there is one.
pub fn structured_len(json: &str, rate_limit: Option<&RateLimit>) -> usize {
    r#"{"content":[{"type":"text","text":"#.len()
        + escaped_len(json)
        + r#"}],"structuredContent":"#.len()
        + json.len()
        + r#","isError":false}"#.len()
        + meta_len(rate_limit)
}

/// Bytes of the result object of a text result: `{"content":[{"type":"text","text":<text>}],"isError":false}`.
pub fn text_len(text: &str, rate_limit: Option<&RateLimit>) -> usize {
    r#"{"content":[{"type":"text","text":"#.len()
        + escaped_len(text)
        + r#"}],"isError":false}"#.len()
        + meta_len(rate_limit)
}

/// `text` cut (at a character boundary) so that its result fits `budget`, with a note.
pub fn fit_text(text: String, budget: usize, rate_limit: Option<&RateLimit>) -> String {
    if text_len(&text, rate_limit) <= budget {
        return text;
    }
    let note = format!(
        "\n\n[cut to the MCP server's result budget of {budget} bytes; ask for less, or raise max_result_bytes]"
    );
    let room = budget.saturating_sub(text_len(&note, rate_limit));
    let mut end = 0;
    let mut used = 0;
    for (at, c) in text.char_indices() {
        used += escaped_len(c.encode_utf8(&mut [0; 4])) - 2;
        if used > room {
            break;
        }
        end = at + c.len_utf8();
    }
    format!("{}{note}", &text[..end])
}

/// `text` cut (at a character boundary, with `…`) so that it takes at most `limit` bytes as a
/// JSON string; unchanged when it fits.
pub fn shorten(text: &str, limit: usize) -> String {
    if escaped_len(text) <= limit {
        return text.to_owned();
    }
    let room = limit.saturating_sub(escaped_len("…"));
    let mut end = 0;
    let mut used = 0;
    for (at, c) in text.char_indices() {
        used += escaped_len(c.encode_utf8(&mut [0; 4])) - 2;
        if used > room {
            break;
        }
        end = at + c.len_utf8();
    }
    format!("{}…", &text[..end])
}

/// A step of a path into a value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The largest thing in `value` that can be shortened: its path, and its size in bytes.
fn largest(value: &Value, path: &mut Vec<Step>, best: &mut Option<(Vec<Step>, usize)>) -> usize {
    fn consider(best: &mut Option<(Vec<Step>, usize)>, size: usize, path: &[Step]) {
        if best.as_ref().is_none_or(|(_, s)| size > *s) {
            *best = Some((path.to_vec(), size));
        }
    }
    match value {
        Value::String(text) => {
            let size = escaped_len(text);
            if text.chars().count() > MIN_STRING {
                consider(best, size, path);
            }
            size
        }
        Value::Array(items) => {
            let mut size = 2 + items.len().saturating_sub(1);
            for (index, item) in items.iter().enumerate() {
                path.push(Step::Index(index));
                size += largest(item, path, best);
                path.pop();
            }
            if items.len() > 1 {
                consider(best, size, path);
            }
            size
        }
        Value::Object(members) => {
            let mut size = 2 + members.len().saturating_sub(1);
            for (key, member) in members {
                path.push(Step::Key(key.clone()));
                size += escaped_len(key) + 1 + largest(member, path, best);
                path.pop();
            }
            // Objects of many small members are the last resort: below strings and arrays.
            if members.len() > 1 && !path.is_empty() {
                consider(best, size / 4, path);
            }
            size
        }
        other => other.to_string().len(),
    }
}

fn at_mut<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |value, step| match step {
        Step::Key(key) => value.get_mut(key.as_str()),
        Step::Index(index) => value.get_mut(*index),
    })
}

/// A path as `response_fields` names it: field names joined by dots, array positions left out.
fn dotted(path: &[Step]) -> String {
    path.iter()
        .filter_map(|step| match step {
            Step::Key(key) => Some(key.as_str()),
            Step::Index(_) => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Shortens the members of `object` other than `keep` (specgate's own) until `fits` says the
/// object fits: each round halves the largest long string or long array. Returns the dotted
/// paths shortened, in the order first shortened; empty when nothing needed to be.
pub fn shape(
    object: &mut Map<String, Value>,
    keep: &[&str],
    fits: impl Fn(&Map<String, Value>) -> bool,
) -> Vec<String> {
    let mut shortened: Vec<String> = Vec::new();
    while !fits(object) {
        let mut best = None;
        for (key, member) in object.iter() {
            if keep.contains(&key.as_str()) {
                continue;
            }
            let mut path = vec![Step::Key(key.clone())];
            let mut candidate = None;
            largest(member, &mut path, &mut candidate);
            if let Some((path, size)) = candidate
                && best.as_ref().is_none_or(|(_, s)| size > *s)
            {
                best = Some((path, size));
            }
        }
        let Some((path, _)) = best else { break };
        let mut root = Value::Object(std::mem::take(object));
        if let Some(target) = at_mut(&mut root, &path) {
            match target {
                Value::String(text) => {
                    let keep_chars = text.chars().count() / 2;
                    let cut: String = text.chars().take(keep_chars).collect();
                    *text = format!("{cut}…");
                }
                Value::Array(items) => items.truncate(items.len() / 2),
                Value::Object(members) => {
                    let keep_members = members.len() / 2;
                    let mut seen = 0;
                    members.retain(|_, _| {
                        seen += 1;
                        seen <= keep_members
                    });
                }
                _ => {}
            }
        }
        if let Value::Object(back) = root {
            *object = back;
        }
        let name = dotted(&path);
        if !shortened.contains(&name) {
            shortened.push(name);
        }
    }
    shortened
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaped_lengths_are_serde_jsons() {
        for text in [
            "",
            "plain",
            "say \"hi\"\n",
            "tab\there",
            "\u{1}\u{1f}",
            "ünïcødé 🎉",
            "back\\slash",
        ] {
            assert_eq!(
                escaped_len(text),
                serde_json::to_string(text).unwrap().len(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_large_object_is_shortened_where_it_is_largest_and_stays_json() {
        let mut object = json!({
            "id": "ord_1",
            "note": "n".repeat(5000),
            "events": (0..200).map(|i| json!({"at": i, "what": "shipped"})).collect::<Vec<_>>(),
            "rate_limit": {"limit": 5},
        })
        .as_object()
        .unwrap()
        .clone();
        let budget = 3000;
        let paths = shape(&mut object, &["rate_limit"], |o| {
            serde_json::to_string(o).unwrap().len() <= budget
        });
        assert!(serde_json::to_string(&object).unwrap().len() <= budget);
        assert_eq!(object["id"], "ord_1");
        assert_eq!(object["rate_limit"], json!({"limit": 5}));
        assert!(
            paths.contains(&"note".to_owned()) && paths.contains(&"events".to_owned()),
            "{paths:?}"
        );
        assert!(object["note"].as_str().unwrap().ends_with('…'));
    }

    #[test]
    fn shortened_text_fits_as_a_json_string() {
        for text in [
            "\u{1}".repeat(1000),
            "é".repeat(1000),
            "quote\"".repeat(300),
        ] {
            let short = shorten(&text, 200);
            assert!(escaped_len(&short) <= 200, "{short:?}");
            assert!(short.ends_with('…') && short.len() > 20, "{short:?}");
        }
        assert_eq!(shorten("fits", 200), "fits");
    }

    #[test]
    fn text_is_cut_to_its_budget_at_a_character() {
        let text = "é".repeat(10_000);
        let cut = fit_text(text, 2_000, None);
        assert!(text_len(&cut, None) <= 2_000);
        assert!(cut.contains("result budget of 2000 bytes"));
    }
}
