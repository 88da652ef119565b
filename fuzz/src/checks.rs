//! What each fuzz target checks, one function per target, on arbitrary bytes. The fuzz
//! targets (`fuzz/fuzz_targets/`, libFuzzer on nightly) and the corpus replay in the main
//! workspace (`tests/fuzz_corpora.rs`, stable, in CI) both call these, so every input a
//! fuzzer ever kept is checked again on every build.
//!
//! A check panics when an invariant breaks; returning normally means the input was fine,
//! including when it was refused with an error.

use percent_encoding::percent_decode_str;
use serde_json::Value;
use specgate_api::runtime;

/// A target's check of one input.
pub type Check = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Check)] = &[
    ("arguments", arguments),
    ("path_segment", path_segment),
    ("form", form),
    ("spec", spec),
    ("vendor_json", vendor_json),
    ("rate_limit", rate_limit),
    ("link", link),
    ("portable", portable),
    ("oauth", oauth),
];

/// A tool's typed parser on arbitrary arguments (the first byte picks the tool, the rest is
/// JSON): it never panics, and a request it builds never holds a path segment that a URL
/// parser or a vendor's router would read as `.` or `..`, or an empty one its template does
/// not have.
pub fn arguments(data: &[u8]) {
    let tools: Vec<&runtime::ToolDef> = specgate_api::integrations()
        .iter()
        .flat_map(|integration| integration.tools)
        .collect();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let tool = tools[usize::from(pick) % tools.len()];
    let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let Ok(request) = (tool.build)(&args) else {
        return;
    };
    let template = tool.endpoint.split_once(' ').map_or("", |(_, path)| path);
    assert_eq!(
        request.path.matches('/').count(),
        template.matches('/').count(),
        "{}: {} does not follow {template}",
        tool.name,
        request.path
    );
    for (segment, written) in request.path.split('/').zip(template.split('/')) {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        assert!(
            !(segment.is_empty() && written.starts_with('{')),
            "{}: an empty parameter in {}",
            tool.name,
            request.path
        );
        assert!(
            decoded
                .split(['/', '\\'])
                .all(|part| part != "." && part != ".."),
            "{}: a dot segment in {}",
            tool.name,
            request.path
        );
    }
}

/// A path value the parser accepts stays one segment where the vendor receives it: after
/// `url` parses and normalises the URL, the segment is still there and decodes back to the
/// value.
pub fn path_segment(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if runtime::path_segment("id", value).is_err() {
        return;
    }
    let mut path = String::from("/v2/orders/");
    runtime::push_path_segment(&mut path, value);
    path.push_str("/events");
    let url = url::Url::parse(&format!("https://vendor.test{path}")).expect("a valid URL");
    let segments: Vec<&str> = url.path_segments().expect("a base URL").collect();
    assert_eq!(segments.len(), 4, "{value:?} became {url}");
    assert_eq!(segments[..2], ["v2", "orders"], "{value:?} became {url}");
    assert_eq!(segments[3], "events", "{value:?} became {url}");
    assert_eq!(
        percent_decode_str(segments[2])
            .decode_utf8()
            .expect("UTF-8"),
        value,
        "{url}"
    );
}

/// A form body the encoder accepts decodes back to the arguments: the pairs, read back by an
/// independent bracket-notation decoder, are exactly the body's leaves, each as its text (a
/// null, empty object or empty array as empty text; a top-level array of scalars as its key
/// repeated; array positions as the steps `0`, `1`, ...), nothing more and nothing less.
pub fn form(data: &[u8]) {
    let Ok(body @ Value::Object(_)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(pairs) = runtime::form_pairs(&body, &[]) else {
        return;
    };
    let mut decoded = serde_json::Map::new();
    for (key, text) in &pairs {
        let (top, rest) = key.split_once('[').unwrap_or((key.as_str(), ""));
        if rest.is_empty() {
            let texts = decoded
                .entry(top.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            texts
                .as_array_mut()
                .expect("a bare key is only ever repeated")
                .push(Value::String(text.clone()));
            continue;
        }
        let inner = rest.strip_suffix(']').expect("brackets close");
        let mut node = decoded
            .entry(top.to_owned())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        let steps: Vec<&str> = inner.split("][").collect();
        for (index, step) in steps.iter().enumerate() {
            assert!(!step.contains(['[', ']']), "{key}: a bracket inside a step");
            let object = node.as_object_mut().expect("a step into an object");
            let last = index + 1 == steps.len();
            node = object.entry((*step).to_owned()).or_insert_with(|| {
                if last {
                    Value::Null
                } else {
                    Value::Object(serde_json::Map::new())
                }
            });
        }
        assert!(node.is_null(), "{key} is sent twice");
        *node = Value::String(text.clone());
    }
    let expected: serde_json::Map<String, Value> = body
        .as_object()
        .expect("an object")
        .iter()
        .map(|(key, value)| {
            let top = match value {
                Value::Array(items)
                    if !items.is_empty()
                        && items.iter().all(|i| !i.is_object() && !i.is_array()) =>
                {
                    Value::Array(items.iter().map(leaf_text).collect())
                }
                Value::Object(o) if !o.is_empty() => form_tree(value),
                Value::Array(items) if !items.is_empty() => form_tree(value),
                leaf => Value::Array(vec![leaf_text(leaf)]),
            };
            (key.clone(), top)
        })
        .collect();
    assert_eq!(Value::Object(decoded), Value::Object(expected), "{body}");
}

/// A nested value as its form pairs name it: objects and arrays as objects keyed by member
/// name or position, everything else as its text.
fn form_tree(value: &Value) -> Value {
    match value {
        Value::Object(members) if !members.is_empty() => Value::Object(
            members
                .iter()
                .map(|(name, inner)| (name.clone(), form_tree(inner)))
                .collect(),
        ),
        Value::Array(items) if !items.is_empty() => Value::Object(
            items
                .iter()
                .enumerate()
                .map(|(index, inner)| (index.to_string(), form_tree(inner)))
                .collect(),
        ),
        leaf => leaf_text(leaf),
    }
}

/// A leaf's text in a form body.
fn leaf_text(leaf: &Value) -> Value {
    Value::String(match leaf {
        Value::String(s) => s.clone(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
        other => other.to_string(),
    })
}

/// The spec front end on arbitrary text, as YAML or JSON (the first byte picks): no input
/// makes the generator panic.
pub fn spec(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let file = if pick % 3 == 0 {
        "fuzz/specgate.yaml"
    } else if pick % 3 == 1 {
        "fuzz/openapi.json"
    } else {
        "fuzz/openapi.yaml"
    };
    let input = specgate_codegen::VendorInput {
        dir: "fuzz".to_owned(),
        files: vec![specgate_codegen::SpecFile {
            path: file.to_owned(),
            text: text.to_owned(),
        }],
    };
    let generated = specgate_codegen::generate(&[input]);
    for integration in &generated.integrations {
        specgate_codegen::integration_file(integration);
    }
}

/// The vendor JSON scanner against serde_json: it accepts exactly what serde accepts, reads
/// the same value at every pointer (the last of duplicate names included), and its compact
/// copy is the same JSON. Two kinds of text have no serde reading to compare with: a number
/// beyond `f64` (`1e999`), which serde cannot hold in a `Value` while the scanner keeps numbers
/// as the vendor wrote them, and serde's own raw-value token used as a member name.
pub fn vendor_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = specgate_wire::vendor_json::parse(text);
    let theirs = serde_json::from_str::<Value>(text);
    // serde stops at the first number it cannot hold, so it says nothing of the rest; and it
    // reads an object whose member is named with its raw-value token as that token, not as
    // JSON (the scanner reads it as JSON).
    if let Err(error) = &theirs
        && (error.to_string().starts_with("number out of range")
            || text.contains("$serde_json::private::RawValue"))
    {
        return;
    }
    assert_eq!(ours.is_some(), theirs.is_ok(), "{text:?}: {theirs:?}");
    let (Some(json), Ok(value)) = (ours, theirs) else {
        return;
    };
    assert_eq!(json.value().as_ref(), Some(&value));
    let mut pointers = Vec::new();
    collect_pointers(&value, String::new(), &mut pointers);
    for pointer in pointers {
        assert_eq!(
            json.pointer(&pointer)
                .and_then(|found| found.value())
                .as_ref(),
            value.pointer(&pointer),
            "{pointer} in {text}"
        );
    }
    let mut compact = Vec::new();
    json.write_compact(&mut compact);
    assert_eq!(serde_json::from_slice::<Value>(&compact).ok(), Some(value));
}

/// Up to 256 pointers into `value`, escaped as RFC 6901 says.
fn collect_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    if out.len() >= 256 {
        return;
    }
    match value {
        Value::Object(members) => {
            for (name, inner) in members {
                let next = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
                out.push(next.clone());
                collect_pointers(inner, next, out);
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                let next = format!("{at}/{index}");
                out.push(next.clone());
                collect_pointers(inner, next, out);
            }
        }
        _ => {}
    }
}

/// Rate-limit headers (`name: value` lines): read without a panic, every number read is one
/// JSON carries exactly, and what specgate sends on (`RateLimit-*` and the structured
/// `RateLimit`/`RateLimit-Policy` fields) reads back as the same limit: a round trip.
pub fn rate_limit(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::try_from(name.trim()),
            http::HeaderValue::try_from(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    let now = 1_700_000_000;
    let Some(read) = specgate_wire::ratelimit::RateLimit::from_headers(&headers, now) else {
        return;
    };
    for number in [read.limit, read.remaining, read.reset, read.window]
        .into_iter()
        .flatten()
    {
        assert!(number <= 1 << 53, "{number} from {text:?}");
    }
    let mut sent = http::HeaderMap::new();
    for (name, value) in read.response_headers() {
        sent.append(
            name,
            http::HeaderValue::try_from(value).expect("a header value"),
        );
    }
    let again = specgate_wire::ratelimit::RateLimit::from_headers(&sent, now);
    // A window alone is sent only with its limit (the policy carries both).
    let expected =
        (read.limit.is_some() || read.remaining.is_some() || read.reset.is_some()).then(|| {
            specgate_wire::ratelimit::RateLimit {
                window: read.window.filter(|_| read.limit.is_some()),
                ..read
            }
        });
    assert_eq!(again, expected, "{text:?} was sent on as {sent:?}");
}

/// A `Link` header: read without a panic; a cursor comes only from a link whose target
/// carries the parameter; and a header written from the input's parts (a cursor, other links
/// before and after it, relations listed together, a fragment) reads back that cursor exactly:
/// a round trip through the writer RFC 8288 describes.
pub fn link(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(cursor) = specgate_wire::link::next_param(text, "cursor") {
        assert!(!cursor.is_empty(), "{text:?}");
        assert!(text.contains(['?', '=']), "{text:?}");
        assert!(text.to_ascii_lowercase().contains("next"), "{text:?}");
    }
    // The input's first line is the cursor; its first byte picks how the header is written.
    let cursor = text.lines().next().unwrap_or_default();
    if cursor.is_empty() {
        return;
    }
    let style = data.first().copied().unwrap_or_default();
    let encoded: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    let rel = match style % 4 {
        0 => "rel=\"next\"".to_owned(),
        1 => "rel=next".to_owned(),
        2 => "rel=\"last next\"".to_owned(),
        _ => "title=\"a, b; c\"; REL=\"Next\"".to_owned(),
    };
    let fragment = if style & 4 != 0 { "#page" } else { "" };
    let mut links = Vec::new();
    if style & 8 != 0 {
        links.push("<https://vendor.test/items?cursor=first&ids=1,2>; rel=\"prev\"".to_owned());
    }
    links.push(format!(
        "<https://vendor.test/items?limit=5&cursor={encoded}&x=y{fragment}>; {rel}"
    ));
    if style & 16 != 0 {
        links.push("<https://vendor.test/items?cursor=last>; rel=\"last\"".to_owned());
    }
    let header = links.join(", ");
    assert_eq!(
        specgate_wire::link::next_param(&header, "cursor").as_deref(),
        Some(cursor),
        "{header}"
    );
}

/// A portable-profile call (the first byte picks the tool, the rest is its arguments): the
/// arguments a full-profile client would send, JSON-encoded at the tool's encoded paths as a
/// portable client sends them, decode back to exactly those arguments (a round trip), and
/// decoding arbitrary arguments, and the typed parse after it, never panic.
pub fn portable(data: &[u8]) {
    let tools: Vec<&runtime::ToolDef> = specgate_api::integrations()
        .iter()
        .flat_map(|integration| integration.tools)
        .filter(|tool| !tool.portable_encoded.is_empty())
        .collect();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some(tool) = tools.get(usize::from(pick) % tools.len().max(1)) else {
        return;
    };
    let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let mut sent = Value::Object(args.clone());
    // Inner paths first, so an encoded argument inside another is text inside its text.
    for path in tool.portable_encoded.iter().rev() {
        let steps: Vec<String> = path.split('/').map(unescape_step).collect();
        encode_at(&mut sent, &steps);
    }
    let Value::Object(mut decoded) = sent else {
        unreachable!("the arguments stay an object")
    };
    runtime::decode_portable_arguments(&mut decoded, tool.portable_encoded)
        .expect("what a portable client encodes decodes");
    assert_eq!(decoded, args, "{}", tool.name);

    let mut arbitrary = args;
    if runtime::decode_portable_arguments(&mut arbitrary, tool.portable_encoded).is_ok() {
        let _ = (tool.build)(&arbitrary);
    }
}

/// A step of an encoded path: `*`, or a name with `~0`, `~1`, `~2` for `~`, `/`, `*`.
fn unescape_step(step: &str) -> String {
    if step == "*" {
        return step.to_owned();
    }
    step.replace("~2", "*")
        .replace("~1", "/")
        .replace("~0", "~")
}

/// Replaces the values at `steps` (a name, or `*` for every item) with their JSON text.
fn encode_at(value: &mut Value, steps: &[String]) {
    match steps.split_first() {
        None => *value = Value::String(value.to_string()),
        Some((step, rest)) if step == "*" => {
            if let Value::Array(items) = value {
                items.iter_mut().for_each(|item| encode_at(item, rest));
            }
        }
        Some((name, rest)) => {
            if let Some(inner) = value.as_object_mut().and_then(|o| o.get_mut(name)) {
                encode_at(inner, rest);
            }
        }
    }
}

/// What an OAuth client sends: form and query parameters (read without a panic; a refused
/// input really repeats a name; an accepted one reads back the same after encoding it
/// again), and two redirect URIs, one per line (a usable one has no fragment and no
/// script scheme; every URI matches itself; two different ones match only as loopback http
/// URIs that differ in their port).
pub fn oauth(data: &[u8]) {
    use specgate_wire::oauth::{RepeatedParameter, parameters, redirect_matches, usable_redirect};
    match parameters(data) {
        Err(RepeatedParameter(name)) => {
            let seen = url::form_urlencoded::parse(data)
                .filter(|(key, _)| *key == name)
                .count();
            assert!(
                seen > 1,
                "{name:?} refused as repeated but sent {seen} time(s)"
            );
        }
        Ok(read) => {
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    read.iter()
                        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())),
                )
                .finish();
            assert_eq!(parameters(encoded.as_bytes()).as_ref(), Ok(&read));
        }
    }
    let text = String::from_utf8_lossy(data);
    let (registered, given) = text.split_once('\n').unwrap_or((&text, &text));
    for uri in [registered, given] {
        assert!(redirect_matches(uri, uri), "{uri:?} does not match itself");
        if usable_redirect(uri) {
            let url = url::Url::parse(uri).unwrap();
            assert!(url.fragment().is_none(), "{uri:?}");
            assert!(
                !["javascript", "data", "file"].contains(&url.scheme()),
                "{uri:?}"
            );
            if url.scheme() == "http" {
                assert!(
                    specgate_wire::oauth::is_loopback_host(url.host_str().unwrap_or_default()),
                    "{uri:?}"
                );
            }
            // A native app's scheme: reverse-DNS, or one of the editors named, never a
            // system handler.
            let scheme = url.scheme();
            if !["https", "http"].contains(&scheme) {
                assert!(
                    scheme.contains('.')
                        || ["cursor", "vscode", "vscode-insiders", "windsurf"].contains(&scheme),
                    "{uri:?}"
                );
                assert!(
                    !scheme.starts_with("ms-") && scheme != "search-ms",
                    "{uri:?}"
                );
            }
            assert!(
                specgate_wire::oauth::redirect_target(uri).is_some(),
                "{uri:?}"
            );
        }
    }
    // Invisible characters are found wherever they sit.
    let hidden = format!("{registered}\u{200b}{given}");
    assert!(specgate_wire::oauth::has_invisible_characters(&hidden));
    // The converse, RFC 8252 section 7.3: loopback http URIs that differ only in their port
    // match, whichever port the app picked.
    if let (Ok(mut a), Ok(mut b)) = (url::Url::parse(registered), url::Url::parse(given))
        && b.scheme() == "http"
        && specgate_wire::oauth::is_loopback_host(b.host_str().unwrap_or_default())
    {
        let _ = a.set_port(None);
        let _ = b.set_port(None);
        if a == b {
            assert!(
                redirect_matches(registered, given),
                "{registered:?} ~ {given:?}"
            );
        }
    }
    if registered != given && redirect_matches(registered, given) {
        let (mut a, mut b) = (
            url::Url::parse(registered).unwrap(),
            url::Url::parse(given).unwrap(),
        );
        assert_eq!(b.scheme(), "http", "{registered:?} ~ {given:?}");
        let _ = a.set_port(None);
        let _ = b.set_port(None);
        assert_eq!(a, b, "{registered:?} ~ {given:?}");
    }
}
