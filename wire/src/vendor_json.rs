//! A vendor's JSON body read in place: JSON-pointer navigation over borrowed slices of the body
//! and a compact copy of them, so a successful call builds no `Value` tree of the vendor's
//! data, serializes none and drops none. Only what specgate reads itself (a next cursor, a
//! total) is parsed into a `Value`.
//!
//! serde_json validates the body once ([`parse`]). Finding the members of an object or the
//! elements of an array inside that validated text is then a scan for the ends of values,
//! written here because serde_json's own way (deserializing `RawValue` slices) validates the
//! same bytes again on every level, at about three times the cost.
//!
//! Numbers and string escapes reach the client as the vendor wrote them; only whitespace
//! between tokens is removed. That also keeps integers beyond `f64` exact.

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

/// One JSON value: a slice of a body that [`parse`] validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<'a>(&'a str);

/// An object member's name as the vendor wrote it: a JSON string, quotes and escapes included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key<'a>(&'a str);

/// The body as one JSON value, or `None` when it is not JSON as serde reads it. A number
/// beyond `f64` (`1e999`), which serde cannot hold in a `Value`, is kept as the vendor wrote
/// it, as every other number is.
pub fn parse(text: &str) -> Option<Json<'_>> {
    let raw: &RawValue = serde_json::from_str(text).ok()?;
    // The raw scan does not pair UTF-16 surrogate escapes, and serde refuses an unpaired one
    // when it reads the string; only a body that escapes a surrogate pays for a full read.
    if has_surrogate_escape(raw.get()) && serde_json::from_str::<Value>(text).is_err() {
        return None;
    }
    Some(Json(raw.get()))
}

/// Whether the text holds a `\uD800`–`\uDFFF` escape.
fn has_surrogate_escape(text: &str) -> bool {
    text.as_bytes().windows(4).any(|w| {
        w[0] == b'\\'
            && w[1] == b'u'
            && matches!(w[2], b'd' | b'D')
            && matches!(w[3], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
    })
}

impl<'a> Json<'a> {
    /// JSON `null`.
    pub const NULL: Json<'static> = Json("null");

    /// The value's text as the vendor wrote it.
    pub fn text(self) -> &'a str {
        self.0
    }

    /// Whether this is JSON `null`.
    pub fn is_null(self) -> bool {
        self.0 == "null"
    }

    /// Whether this is an array.
    pub fn is_array(self) -> bool {
        self.0.starts_with('[')
    }

    /// The value, parsed: for the few values specgate reads itself.
    pub fn value(self) -> Option<Value> {
        serde_json::from_str(self.0).ok()
    }

    /// The members of an object, in the vendor's order; `None` when this is not an object.
    pub fn members(self) -> Option<Vec<(Key<'a>, Json<'a>)>> {
        let bytes = self.0.as_bytes();
        let mut members = Vec::new();
        for_each_item(bytes, b'{', b'}', |key_start| {
            let key_end = string_end(bytes, key_start);
            // Past the colon.
            let value_start = skip_whitespace(bytes, skip_whitespace(bytes, key_end) + 1);
            let value_end = value_end(bytes, value_start);
            members.push((
                Key(self.0.get(key_start..key_end)?),
                Json(self.0.get(value_start..value_end)?),
            ));
            Some(value_end)
        })?;
        Some(members)
    }

    /// The elements of an array; `None` when this is not an array.
    pub fn elements(self) -> Option<Vec<Json<'a>>> {
        let bytes = self.0.as_bytes();
        let mut elements = Vec::new();
        for_each_item(bytes, b'[', b']', |start| {
            let end = value_end(bytes, start);
            elements.push(Json(self.0.get(start..end)?));
            Some(end)
        })?;
        Some(elements)
    }

    /// What an RFC 6901 JSON pointer names inside this value, with the semantics of
    /// [`serde_json::Value::pointer`]: `""` is the whole value, and array tokens are indices
    /// without leading zeros.
    pub fn pointer(self, pointer: &str) -> Option<Json<'a>> {
        if pointer.is_empty() {
            return Some(self);
        }
        let tokens = pointer.strip_prefix('/')?;
        tokens.split('/').try_fold(self, |target, token| {
            let token = if token.contains('~') {
                Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(token)
            };
            match target.members() {
                // The last of duplicate names, as serde reads them.
                Some(members) => members
                    .into_iter()
                    .rev()
                    .find_map(|(key, value)| (key.name() == token).then_some(value)),
                None => target.elements()?.get(parse_index(&token)?).copied(),
            }
        })
    }

    /// Appends this value without the whitespace between its tokens, copying the runs in
    /// between whole.
    pub fn write_compact(self, out: &mut Vec<u8>) {
        let bytes = self.0.as_bytes();
        out.reserve(bytes.len());
        let mut run = 0;
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            match byte {
                b'"' => at = string_end(bytes, at),
                b' ' | b'\n' | b'\r' | b'\t' => {
                    out.extend_from_slice(&bytes[run..at]);
                    at += 1;
                    run = at;
                }
                _ => at += 1,
            }
        }
        out.extend_from_slice(&bytes[run..]);
    }
}

impl<'a> Key<'a> {
    /// A name of specgate's own, given as a JSON string literal (`"\"result\""`).
    pub const fn quoted(json_string: &'a str) -> Self {
        Self(json_string)
    }

    /// The name, unescaped.
    pub fn name(self) -> Cow<'a, str> {
        let inner = self.0.get(1..self.0.len() - 1).unwrap_or_default();
        if inner.contains('\\') {
            Cow::Owned(serde_json::from_str(self.0).unwrap_or_default())
        } else {
            Cow::Borrowed(inner)
        }
    }

    /// The name as the JSON string the vendor wrote.
    pub fn text(self) -> &'a str {
        self.0
    }
}

/// An array index token: digits without a leading zero (except `0` itself).
fn parse_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() > 1) {
        return None;
    }
    token.parse().ok()
}

/// Walks the comma-separated items of the container that `bytes` holds, opened by `open` and
/// closed by `close`: `item` gets where each item starts and returns where it ends. `None`
/// when `bytes` is not such a container (or `item` gives up).
fn for_each_item(
    bytes: &[u8],
    open: u8,
    close: u8,
    mut item: impl FnMut(usize) -> Option<usize>,
) -> Option<()> {
    if bytes.first() != Some(&open) {
        return None;
    }
    let mut at = skip_whitespace(bytes, 1);
    if bytes.get(at) == Some(&close) {
        return Some(());
    }
    loop {
        at = skip_whitespace(bytes, item(at)?);
        if bytes.get(at) != Some(&b',') {
            return Some(());
        }
        at = skip_whitespace(bytes, at + 1);
    }
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        at += 1;
    }
    at
}

/// Where the string starting at `at` (its opening quote) ends: just past its closing quote.
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    at += 1;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => return at + 1,
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Where the value starting at `at` ends: just past its last byte.
fn value_end(bytes: &[u8], mut at: usize) -> usize {
    match bytes.get(at) {
        Some(b'"') => string_end(bytes, at),
        Some(b'{' | b'[') => {
            let mut depth = 0_usize;
            while let Some(&byte) = bytes.get(at) {
                match byte {
                    b'"' => {
                        at = string_end(bytes, at);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return at + 1;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            bytes.len()
        }
        // A number, `true`, `false` or `null`: up to the next delimiter.
        _ => {
            while !matches!(
                bytes.get(at),
                None | Some(b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t')
            ) {
                at += 1;
            }
            at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BODY: &str = r#"{
        "data": [ {"id": "a b", "n": 1.50, "q": "say \"hi\" \\ ", "big": 12345678901234567890123},
                  {"id": "c", "tags": [ ], "nested": {"deep": [[1], {"x": "]}"}]}} , -0.5e-3, true, null, "é" ],
        "a/b": {"m~n": [10, 20, 30]},
        "es\u0063aped": true,
        "empty": {},
        "next": null
    }"#;

    fn body() -> Json<'static> {
        parse(BODY).expect("the body is JSON")
    }

    /// Every value inside `value`, with the pointer that names it.
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match value {
            Value::Object(object) => {
                for (key, inner) in object {
                    let token = key.replace('~', "~0").replace('/', "~1");
                    pointers(inner, format!("{at}/{token}"), out);
                }
            }
            Value::Array(items) => {
                for (index, inner) in items.iter().enumerate() {
                    pointers(inner, format!("{at}/{index}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_pointer_names_what_value_pointers_name() {
        let value: Value = serde_json::from_str(BODY).unwrap();
        let mut all = Vec::new();
        pointers(&value, String::new(), &mut all);
        assert!(all.len() > 25, "{all:?}");
        for pointer in &all {
            let found = body()
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{pointer}"));
            assert_eq!(found.value().as_ref(), value.pointer(pointer), "{pointer}");
        }
        for missing in [
            "data", "/nope", "/data/9", "/data/01", "/data/+1", "/next/x",
        ] {
            assert!(body().pointer(missing).is_none(), "{missing}");
            assert!(value.pointer(missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn an_unpaired_surrogate_escape_is_refused_as_serde_refuses_it() {
        // What the vendor_json fuzz target found: a lone surrogate in a member name.
        let lone = r#"{"9\ud83ds":"\u00e9\ud83d\ude00","n":1}"#;
        assert!(serde_json::from_str::<Value>(lone).is_err());
        assert!(parse(lone).is_none());
        let paired = r#"{"s":"\u00e9\ud83d\ude00"}"#;
        assert_eq!(
            parse(paired).unwrap().value(),
            serde_json::from_str(paired).ok()
        );
    }

    #[test]
    fn duplicate_names_read_as_serde_reads_them() {
        let text = r#"{"next":"first","data":{"n":1,"n":2},"next":"last"}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        for pointer in ["/next", "/data/n"] {
            assert_eq!(
                parse(text)
                    .unwrap()
                    .pointer(pointer)
                    .unwrap()
                    .value()
                    .as_ref(),
                value.pointer(pointer),
                "{pointer}"
            );
        }
    }

    #[test]
    fn members_and_elements_split_values_where_serde_does() {
        let members = body().members().unwrap();
        let names: Vec<_> = members.iter().map(|(key, _)| key.name()).collect();
        assert_eq!(names, ["data", "a/b", "escaped", "empty", "next"]);
        assert_eq!(members[2].0.text(), r#""es\u0063aped""#);
        assert_eq!(members[3].1.members(), Some(vec![]));
        let data = body().pointer("/data").unwrap();
        assert!(data.is_array() && data.members().is_none());
        let elements = data.elements().unwrap();
        assert_eq!(
            elements.iter().map(|e| e.text()).collect::<Vec<_>>()[2..],
            ["-0.5e-3", "true", "null", "\"é\""]
        );
        assert_eq!(Json::NULL.elements(), None);
        assert_eq!(parse("[ ]").unwrap().elements(), Some(vec![]));
        assert!(body().pointer("/next").unwrap().is_null());
    }

    #[test]
    fn compact_copies_drop_only_whitespace_between_tokens() {
        let mut out = Vec::new();
        body().pointer("/data/0").unwrap().write_compact(&mut out);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            r#"{"id":"a b","n":1.50,"q":"say \"hi\" \\ ","big":12345678901234567890123}"#
        );
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["q"],
            json!("say \"hi\" \\ ")
        );
        let mut whole = Vec::new();
        body().write_compact(&mut whole);
        assert_eq!(
            serde_json::from_slice::<Value>(&whole).unwrap(),
            serde_json::from_str::<Value>(BODY).unwrap()
        );
    }

    /// A pseudo-random JSON value (a fixed linear congruential sequence, so failures repeat):
    /// nested objects and arrays, numbers of every form, and strings with escapes, quotes,
    /// brackets and non-ASCII text.
    fn random_value(state: &mut u64, depth: u32) -> Value {
        fn next(state: &mut u64, bound: u64) -> u64 {
            *state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (*state >> 33) % bound
        }
        let pieces = [
            "a", " ", "\"", "\\", "]", "}", ",", ":", "é", "\n", "\u{2028}", "~/",
        ];
        let piece = |state: &mut u64| pieces[next(state, pieces.len() as u64) as usize];
        match next(state, if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(next(state, 2) == 0),
            2 => json!(next(state, 1_000_000) as i64 - 500_000),
            3 => json!(next(state, 1_000_000) as f64 / 64.0 - 7.5),
            4 => Value::String((0..next(state, 6)).map(|_| piece(state)).collect()),
            5 => Value::Array(
                (0..next(state, 5))
                    .map(|_| random_value(state, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..next(state, 5))
                    .map(|i| {
                        (
                            format!("{}{i}", piece(state)),
                            random_value(state, depth - 1),
                        )
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn random_documents_read_as_serde_reads_them() {
        let mut state = 7;
        for _ in 0..300 {
            let value = random_value(&mut state, 4);
            for text in [
                serde_json::to_string(&value).unwrap(),
                serde_json::to_string_pretty(&value).unwrap(),
            ] {
                let json = parse(&text).unwrap();
                let mut compact = Vec::new();
                json.write_compact(&mut compact);
                assert_eq!(
                    String::from_utf8(compact).unwrap(),
                    serde_json::to_string(&value).unwrap()
                );
                let mut all = Vec::new();
                pointers(&value, String::new(), &mut all);
                for pointer in &all {
                    let found = json
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("{pointer} in {text}"));
                    assert_eq!(
                        found.value().as_ref(),
                        value.pointer(pointer),
                        "{pointer} in {text}"
                    );
                }
            }
        }
    }

    #[test]
    fn what_is_not_json_does_not_parse() {
        for text in ["", "not json", "{\"a\":", "{} trailing", "[1,]"] {
            assert!(parse(text).is_none(), "{text:?}");
        }
        assert_eq!(parse(" [1, 2] \n").map(Json::text), Some("[1, 2]"));
    }
}
