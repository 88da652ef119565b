//! Path parameters at the vendor's side of the wire, through the code generated for
//! `tests/fixtures/path-segments.yaml`: a one-segment parameter never carries `/`, and a
//! multi-segment one (`{+path}`, `{key+}`) keeps its `/`s with each segment encoded.

mod path_segments {
    include!("expanded/path_segments.rs");
}

use serde_json::{Value, json};
use specgate_runtime::{ArgErrorKind, Args, HttpRequest, ToolDef};

fn tool(name: &str) -> &'static ToolDef {
    path_segments::INTEGRATION
        .tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

fn build(name: &str, arguments: Value) -> Result<HttpRequest, specgate_runtime::ArgError> {
    let Value::Object(args) = arguments else {
        panic!("arguments are an object")
    };
    let args: Args = args;
    (tool(name).build)(&args)
}

#[test]
fn a_one_segment_parameter_is_encoded_whole_and_refuses_slashes() {
    let get = "get_single_path_segments_order_by_id";
    let request = build(get, json!({"order_id": "a\\b c?#%"})).unwrap();
    assert_eq!(request.path, "/orders/a%5Cb%20c%3F%23%25");
    for slashed in ["a/b", "a%2Fb", "a%2fb"] {
        let error = build(get, json!({"order_id": slashed})).unwrap_err();
        assert_eq!(error.kind, ArgErrorKind::SlashInSegment, "{slashed}");
        assert_eq!(error.field, "order_id");
    }
}

#[test]
fn a_multi_segment_parameter_keeps_its_slashes_and_stays_in_place() {
    let get = "get_single_path_segments_file_by_id";
    let request = build(get, json!({"path": "docs/2024/q1 report?.pdf"})).unwrap();
    assert_eq!(request.path, "/files/docs/2024/q1%20report%3F.pdf");
    // Where the vendor receives it: the URL the HTTP client parses has the value's segments,
    // each decoding back to its text.
    let mut url = url::Url::parse("https://api.paths.test/v1").unwrap();
    url.set_path(&format!("{}{}", url.path(), request.path));
    let segments: Vec<String> = url
        .path_segments()
        .unwrap()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .collect();
    assert_eq!(
        segments,
        ["v1", "files", "docs", "2024", "q1 report?.pdf"],
        "{url}"
    );
    for bad in ["docs/../secrets", "docs/%2e%2e/x", "/etc", "docs//x", ""] {
        assert!(build(get, json!({"path": bad})).is_err(), "{bad:?}");
    }

    let delete = "delete_a_path_segments_buckets_object_by_id";
    let request = build(delete, json!({"bucket": "media", "key": "2024/cat.png"})).unwrap();
    assert_eq!(request.path, "/buckets/media/objects/2024/cat.png");
    let error = build(delete, json!({"bucket": "a/b", "key": "x"})).unwrap_err();
    assert_eq!(error.kind, ArgErrorKind::SlashInSegment);
}
