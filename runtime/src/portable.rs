//! The arguments of a call served in the portable schema profile, where what the profile
//! cannot describe is sent as JSON text (`ToolDef::portable_encoded` lists where).

use crate::args::{ArgError, ArgErrorKind, Args};

/// Decodes, in the arguments of a portable-profile call, each JSON-encoded string at the
/// tool's encoded paths (see `ToolDef::portable_encoded`), so the typed parser checks the
/// value. The profile publishes those arguments as JSON text, so text that is not JSON is an
/// argument error naming its path, never a plain string that changes meaning with its
/// content (`"42"` is the number 42 and `"\"42\""` the string; `abc` is refused).
pub fn decode_portable_arguments(arguments: &mut Args, paths: &[&str]) -> Result<(), ArgError> {
    for path in paths {
        let segments: Vec<Segment> = path.split('/').map(Segment::parse).collect();
        if let Some((Segment::Name(first), rest)) = segments.split_first()
            && let Some(value) = arguments.get_mut(first)
        {
            decode_at(value, rest, first.clone())?;
        }
    }
    Ok(())
}

/// One step of an encoded path.
enum Segment {
    /// `*`: every item of an array.
    Items,
    /// A property, its `*`, `/` and `~` written `~2`, `~1` and `~0` in the path.
    Name(String),
}

impl Segment {
    fn parse(segment: &str) -> Self {
        if segment == "*" {
            Self::Items
        } else {
            Self::Name(unescape_name(segment))
        }
    }
}

fn unescape_name(segment: &str) -> String {
    let mut name = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        name.push(match (c, chars.clone().next()) {
            ('~', Some(escape @ ('0' | '1' | '2'))) => {
                chars.next();
                ['~', '/', '*'][escape as usize - '0' as usize]
            }
            _ => c,
        });
    }
    name
}

fn decode_at(
    value: &mut serde_json::Value,
    segments: &[Segment],
    field: String,
) -> Result<(), ArgError> {
    match segments.split_first() {
        None => {
            if let serde_json::Value::String(text) = value {
                *value = serde_json::from_str(text).map_err(|_| ArgError {
                    field,
                    kind: ArgErrorKind::Invalid(
                        "must be JSON text in this schema profile (a string goes in quotes: \"\\\"text\\\"\")"
                            .to_owned(),
                    ),
                })?;
            }
        }
        Some((Segment::Items, rest)) => {
            if let serde_json::Value::Array(items) = value {
                for (index, item) in items.iter_mut().enumerate() {
                    decode_at(item, rest, format!("{field}[{index}]"))?;
                }
            }
        }
        Some((Segment::Name(key), rest)) => {
            if let Some(inner) = value.as_object_mut().and_then(|o| o.get_mut(key)) {
                decode_at(inner, rest, crate::nested(&field, key))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_arguments_are_json_text_at_their_paths() {
        let mut args: Args = serde_json::from_value(serde_json::json!({
            "code": "42",
            "label": "\"42\"",
            "items": [{"*": "{\"a\": 1}", "x": "[1]"}, {"*": "null"}],
            "a/b": "true"
        }))
        .unwrap();
        let paths = ["code", "label", "items/*/~2", "a~1b"];
        decode_portable_arguments(&mut args, &paths).unwrap();
        assert_eq!(
            serde_json::Value::Object(args),
            serde_json::json!({
                "code": 42,
                "label": "42",
                "items": [{"*": {"a": 1}, "x": "[1]"}, {"*": null}],
                "a/b": true
            })
        );
        let mut plain: Args =
            serde_json::from_value(serde_json::json!({"items": [{"*": "1"}, {"*": "abc"}]}))
                .unwrap();
        let error = decode_portable_arguments(&mut plain, &["items/*/~2"]).unwrap_err();
        assert_eq!(error.field, "items[1].*");
        assert!(error.to_string().contains("must be JSON text"), "{error}");
    }
}
