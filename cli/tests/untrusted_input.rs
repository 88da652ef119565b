//! Untrusted tool arguments cannot steer a call: every check here looks at what the vendor
//! sandbox actually received, after the HTTP client parsed and normalised the URL.

mod common;

use common::{Harness, minimal_arguments, start};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

/// Values that would leave their path segment once a URL parser or the vendor's router
/// removes dot segments or decodes `%2F` (which many vendor servers do, so a one-segment
/// parameter refuses `/` in any form).
const ESCAPING: &[&str] = &[
    "a/b",
    "a%2Fb",
    "../../admin%2f",
    "",
    ".",
    "..",
    "../x",
    "x/..",
    "x/./y",
    "%2e%2e",
    "%2E",
    "..%2Fevents",
    "x\\..",
];

/// Values that look odd but stay one segment: the vendor must receive them intact. A URL
/// parser turns a bare `\` into `/`, so it arrives intact only encoded.
const INTACT: &[&str] = &[
    "a..b",
    "...",
    "x y\\z?q=1#f",
    "a\\b",
    "%2e%2e-not-a-dot",
    "café",
];

/// One path parameter of one tool, found where the sandbox saw it.
struct PathArgument {
    tool: &'static str,
    arguments: Value,
    name: String,
    /// A string parameter; the others are integers, which refuse any string by type.
    text: bool,
}

/// The paths of the tool requests the sandbox received, in order (OAuth token requests,
/// which Rose Rocket's calls make when their access token is due, are not tool requests).
fn vendor_paths(h: &Harness) -> Vec<String> {
    h.sandbox
        .requests()
        .into_iter()
        .map(|r| r.uri.split('?').next().unwrap().to_owned())
        .filter(|path| !path.ends_with("/oauth/token"))
        .collect()
}

/// The path of the newest tool request the sandbox received.
fn last_path(h: &Harness) -> String {
    vendor_paths(h).pop().unwrap()
}

/// Every path parameter of every tool of `integration`: each required string or integer
/// argument is sent as a marker, and it is a path parameter when the marker lands in the
/// request path.
async fn path_arguments(h: &Harness, url: &str, integration: &str) -> Vec<PathArgument> {
    let integration = specgate_api::integrations()
        .iter()
        .find(|i| i.name == integration)
        .unwrap();
    let mut found = Vec::new();
    for tool in integration.tools {
        let schema: Value = serde_json::from_str(tool.input_schema).unwrap();
        let arguments = minimal_arguments(integration.name, &schema);
        for (name, value) in arguments.as_object().unwrap() {
            let marker = match value {
                Value::String(_) if !schema["properties"][name]["enum"].is_array() => {
                    json!("zz-marker")
                }
                Value::Number(_) => json!(987_654_321),
                _ => continue,
            };
            let mut marked = arguments.clone();
            marked[name] = marker.clone();
            let before = vendor_paths(h).len();
            h.call(url, tool.name, marked).await;
            assert_eq!(vendor_paths(h).len(), before + 1, "{}", tool.name);
            let seen = marker
                .as_str()
                .map_or_else(|| marker.to_string(), str::to_owned);
            if last_path(h).contains(&seen) {
                found.push(PathArgument {
                    tool: tool.name,
                    arguments: arguments.clone(),
                    name: name.clone(),
                    text: marker.is_string(),
                });
            }
        }
    }
    found
}

/// Each escaping value is an argument error naming the parameter, and nothing reaches the
/// vendor; each intact value reaches the vendor as one segment that decodes back to it.
/// Returns how many path parameters were checked.
async fn path_values_stay_in_their_segment(h: &Harness, url: &str, integration: &str) -> usize {
    let arguments = path_arguments(h, url, integration).await;
    for argument in &arguments {
        for bad in ESCAPING {
            let mut sent = argument.arguments.clone();
            sent[&argument.name] = json!(bad);
            let before = vendor_paths(h).len();
            let answer = h.call(url, argument.tool, sent).await;
            let context = format!("{} {}={bad:?}: {answer}", argument.tool, argument.name);
            assert_eq!(answer["result"]["isError"], true, "{context}");
            let text = answer["result"]["content"][0]["text"].as_str().unwrap();
            let why = if argument.text {
                "segment"
            } else {
                "expected integer"
            };
            assert!(
                text.contains(&format!("argument `{}`", argument.name)) && text.contains(why),
                "{context}"
            );
            assert_eq!(vendor_paths(h).len(), before, "{context}");
        }
        if !argument.text {
            continue;
        }
        for good in INTACT {
            let mut sent = argument.arguments.clone();
            sent[&argument.name] = json!(format!("zz{good}zz"));
            h.call(url, argument.tool, sent).await;
            let path = last_path(h);
            let segment = path
                .split('/')
                .find(|segment| segment.starts_with("zz"))
                .unwrap_or_else(|| panic!("{} {good:?}: {path}", argument.tool));
            assert_eq!(
                percent_decode_str(segment).decode_utf8().unwrap(),
                format!("zz{good}zz"),
                "{} received {path}",
                argument.tool
            );
        }
    }
    arguments.len()
}

/// Get, list (Link-header cursors, offsets) and write tools of all three vendors, through the
/// full and the portable profile. Every `{param}` of their endpoints is counted, except Rose
/// Rocket's three `objectKey`s, whose values the spec fixes (an enum).
#[tokio::test]
async fn path_arguments_never_leave_their_segment() {
    let h = start().await;
    for (integration, path_parameters) in [("malomo", 13), ("e_desk", 8), ("roserocket", 8)] {
        let account = h.account(integration).await;
        let (_, url) = h.server(&account, json!({})).await;
        for url in [url.clone(), format!("{url}/portable")] {
            assert_eq!(
                path_values_stay_in_their_segment(&h, &url, integration).await,
                path_parameters,
                "{url}"
            );
        }
    }
}

/// eDesk publishes `tracking_carrier_name: {maxLength: 64}`: a longer name is refused with its
/// full path before any vendor call, and one of exactly 64 code points (256 bytes of emoji)
/// reaches the vendor unchanged, through both profiles.
#[tokio::test]
async fn declared_constraints_are_enforced_before_the_vendor_is_called() {
    let h = start().await;
    let account = h.account("e_desk").await;
    let (_, url) = h.server(&account, json!({})).await;
    let tool = "update_a_e_desk_sales_order_by_id";
    let order = |carrier: &str| {
        json!({"salesOrderId": 1, "tracking_codes": [
            {"tracking_code": "1Z1", "tracking_carrier_name": "UPS"},
            {"tracking_code": "1Z2", "tracking_carrier_name": carrier}
        ]})
    };
    for url in [url.clone(), format!("{url}/portable")] {
        let before = vendor_paths(&h).len();
        let answer = h.call(&url, tool, order(&"é".repeat(65))).await;
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            text.contains(
                "argument `tracking_codes[1].tracking_carrier_name`: at most 64 characters"
            ),
            "{text}"
        );
        assert_eq!(
            vendor_paths(&h).len(),
            before,
            "{url}: nothing reached the vendor"
        );

        let at_limit = "😀".repeat(64);
        let answer = h.call(&url, tool, order(&at_limit)).await;
        assert_eq!(answer["result"]["isError"], false, "{answer}");
        let received = h.sandbox.requests().pop().unwrap();
        let body: Value = serde_json::from_slice(&received.body).unwrap();
        assert_eq!(body["tracking_codes"][1]["tracking_carrier_name"], at_limit);
    }
}
