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

/// A form body the encoder accepts decodes back to the arguments: each pair's bracketed key
/// names one leaf of the JSON, and its value is that leaf's text.
pub fn form(data: &[u8]) {
    let Ok(body @ Value::Object(_)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(pairs) = runtime::form_pairs(&body, &[]) else {
        return;
    };
    for (key, text) in &pairs {
        let (top, rest) = key
            .split_once('[')
            .map_or((key.as_str(), ""), |(t, r)| (t, r));
        let mut node = &body[top];
        if !rest.is_empty() {
            let inner = rest.strip_suffix(']').expect("brackets close");
            for step in inner.split("][") {
                assert!(!step.contains(['[', ']']), "{key}: a bracket inside a step");
                node = match node {
                    Value::Array(items) => &items[step.parse::<usize>().expect("an index")],
                    other => &other[step],
                };
            }
        }
        // A top-level array of scalars repeats its key once per item.
        let leaves: Vec<&Value> = match node {
            Value::Array(items) if rest.is_empty() && !items.is_empty() => items.iter().collect(),
            other => vec![other],
        };
        let expected: Vec<String> = leaves
            .into_iter()
            .map(|leaf| match leaf {
                Value::String(s) => s.clone(),
                Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
                other => other.to_string(),
            })
            .collect();
        assert!(expected.contains(text), "{key}={text:?} is not in {body}");
    }
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

/// Rate-limit headers (`name: value` lines): read without a panic, and every number read is
/// one JSON carries exactly.
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
    let Some(read) = specgate_wire::ratelimit::RateLimit::from_headers(&headers, 1_700_000_000)
    else {
        return;
    };
    for number in [read.limit, read.remaining, read.reset, read.window]
        .into_iter()
        .flatten()
    {
        assert!(number <= 1 << 53, "{number} from {text:?}");
    }
    read.response_headers();
}

/// A `Link` header: read without a panic, and a cursor comes only from a link whose target
/// carries the parameter.
pub fn link(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if specgate_wire::link::next_param(text, "cursor").is_some() {
        assert!(text.contains("cursor="), "{text:?}");
        assert!(text.to_ascii_lowercase().contains("next"), "{text:?}");
    }
}

/// A portable-profile call (the first byte picks the tool, the rest is its JSON arguments):
/// decoding the JSON-encoded arguments and the typed parse after it never panic, and a
/// decoded argument is never text that fails to parse.
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
    let Ok(Value::Object(mut args)) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    if runtime::decode_portable_arguments(&mut args, tool.portable_encoded).is_ok() {
        let _ = (tool.build)(&args);
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
