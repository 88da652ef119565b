//! A vendor's JSON body read in place: JSON-pointer navigation over borrowed slices of the body
//! ([`RawValue`]) and a compact copy of them, so a successful call builds no `Value` tree of
//! the vendor's data, serializes none and drops none. Only what specgate reads itself (a next
//! cursor, a total) is parsed into a `Value`.
//!
//! Numbers and string escapes reach the client as the vendor wrote them; only whitespace
//! between tokens is removed. That also keeps integers beyond `f64` exact.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The members of an object, in the vendor's order; `None` when `raw` is not an object.
pub fn members(raw: &RawValue) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    if !raw.get().starts_with('{') {
        return None;
    }
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    deserializer.deserialize_map(MembersVisitor).ok()
}

/// The elements of an array; `None` when `raw` is not an array.
pub fn elements(raw: &RawValue) -> Option<Vec<&RawValue>> {
    if !raw.get().starts_with('[') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// Whether `raw` is JSON `null`.
pub fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// What an RFC 6901 JSON pointer names inside `raw`, with the semantics of
/// [`serde_json::Value::pointer`]: `""` is the whole value, and array tokens are indices
/// without leading zeros.
pub fn pointer<'a>(raw: &'a RawValue, pointer: &str) -> Option<&'a RawValue> {
    if pointer.is_empty() {
        return Some(raw);
    }
    let tokens = pointer.strip_prefix('/')?;
    tokens.split('/').try_fold(raw, |target, token| {
        let token = token.replace("~1", "/").replace("~0", "~");
        if target.get().starts_with('{') {
            members(target)?
                .into_iter()
                .find_map(|(key, value)| (key == token).then_some(value))
        } else {
            let index = parse_index(&token)?;
            elements(target)?.get(index).copied()
        }
    })
}

/// An array index token: digits without a leading zero (except `0` itself).
fn parse_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() > 1) {
        return None;
    }
    token.parse().ok()
}

/// Appends `raw` without the whitespace between its tokens, copying the runs in between
/// whole. `raw` is valid JSON, so only string boundaries and escapes need tracking.
pub fn write_compact(out: &mut Vec<u8>, raw: &RawValue) {
    let bytes = raw.get().as_bytes();
    out.reserve(bytes.len());
    let mut run = 0;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                // To the closing quote, stepping over each escaped character.
                at += 1;
                while let Some(&inner) = bytes.get(at) {
                    at += match inner {
                        b'"' => break,
                        b'\\' => 2,
                        _ => 1,
                    };
                }
                at += 1;
            }
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

/// Reads an object's members with keys borrowed from the body where they need no unescaping.
struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            members.push((key, map.next_value::<&RawValue>()?));
        }
        Ok(members)
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

/// The body as one borrowed JSON value, or `None` when it is not JSON.
pub fn parse(text: &str) -> Option<&RawValue> {
    serde_json::from_str(text).ok()
}

/// What `pointer` names inside `raw`, parsed: for the few values specgate reads itself.
pub fn value_at(raw: &RawValue, pointer: &str) -> Option<serde_json::Value> {
    serde_json::from_str(self::pointer(raw, pointer)?.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const BODY: &str = r#"{
        "data": [ {"id": "a b", "n": 1.50, "q": "say \"hi\" \\ ", "big": 12345678901234567890123},
                  {"id": "c", "tags": [ ]} ],
        "a/b": {"m~n": [10, 20, 30]},
        "es\u0063aped": true,
        "next": null
    }"#;

    fn raw() -> &'static RawValue {
        parse(BODY).expect("the body is JSON")
    }

    #[test]
    fn pointers_name_what_value_pointers_name() {
        let value: Value = serde_json::from_str(BODY).unwrap();
        for pointer in [
            "",
            "/data",
            "/data/0",
            "/data/1/tags",
            "/a~1b/m~0n/2",
            "/escaped",
            "/next",
        ] {
            let found = super::pointer(raw(), pointer).unwrap_or_else(|| panic!("{pointer}"));
            assert_eq!(
                serde_json::from_str::<Value>(found.get()).unwrap(),
                value.pointer(pointer).cloned().unwrap(),
                "{pointer}"
            );
        }
        for missing in [
            "data", "/nope", "/data/2", "/data/01", "/data/+1", "/next/x",
        ] {
            assert!(super::pointer(raw(), missing).is_none(), "{missing}");
            assert!(value.pointer(missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn keys_are_borrowed_unless_escaped() {
        let top = members(raw()).unwrap();
        let keys: Vec<_> = top.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["data", "a/b", "escaped", "next"]);
        assert!(matches!(top[0].0, Cow::Borrowed(_)));
        assert!(matches!(top[2].0, Cow::Owned(_)));
        assert!(members(super::pointer(raw(), "/data").unwrap()).is_none());
        assert_eq!(
            elements(super::pointer(raw(), "/data").unwrap())
                .unwrap()
                .len(),
            2
        );
        assert!(elements(raw()).is_none());
        assert!(is_null(super::pointer(raw(), "/next").unwrap()));
    }

    #[test]
    fn compact_copies_drop_only_whitespace_between_tokens() {
        let mut out = Vec::new();
        write_compact(&mut out, super::pointer(raw(), "/data").unwrap());
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            r#"[{"id":"a b","n":1.50,"q":"say \"hi\" \\ ","big":12345678901234567890123},{"id":"c","tags":[]}]"#
        );
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()[0]["q"],
            json!("say \"hi\" \\ ")
        );
    }

    #[test]
    fn what_is_not_json_does_not_parse() {
        for text in ["", "not json", "{\"a\":", "{} trailing"] {
            assert!(parse(text).is_none(), "{text:?}");
        }
        assert_eq!(parse(" [1, 2] \n").map(RawValue::get), Some("[1, 2]"));
    }
}
