//! Parsing flat tool arguments into typed fields.
//!
//! Generated request structs call these functions once per field instead of deriving
//! `Deserialize`: a handful of monomorphic helpers compile far faster than one derive per
//! vendor operation, and each error names the offending field.

use serde_json::Value;

/// The flat arguments object of a tool call.
pub type Args = serde_json::Map<String, Value>;

/// An argument that does not fit the tool's input schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument `{field}`: {kind}")]
pub struct ArgError {
    /// The flat argument name (or `field[index]` inside arrays).
    pub field: String,
    /// What is wrong with it.
    pub kind: ArgErrorKind,
}

/// What is wrong with an argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgErrorKind {
    /// A required argument is absent or null.
    #[error("is required")]
    Missing,
    /// The value has the wrong JSON type.
    #[error("expected {expected}, got {got}")]
    WrongType {
        /// Expected JSON type.
        expected: &'static str,
        /// JSON type received.
        got: &'static str,
    },
    /// The value is not one of the allowed values.
    #[error("must be one of {allowed}, got {got:?}")]
    NotAllowed {
        /// Allowed values, comma separated.
        allowed: String,
        /// Value received.
        got: String,
    },
    /// A number outside the allowed range.
    #[error("must be between {min} and {max}, got {got}")]
    OutOfRange {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
        /// Value received, as sent.
        got: String,
    },
    /// A nested object has no such field.
    #[error("is not a field of this object (known: {known})")]
    UnknownField {
        /// Known field names, comma separated.
        known: String,
    },
    /// The tool has no such argument.
    #[error("is not an argument of this tool (known: {known})")]
    Unknown {
        /// Known argument names, comma separated.
        known: String,
    },
    /// A value the schema's constraints refuse (`at most 64 characters`).
    #[error("{0}")]
    Invalid(String),
    /// A path parameter that would not stay one segment of the vendor's path.
    #[error(
        "is a path segment and must not be empty, `.` or `..`, nor hold `.` or `..` between slashes once percent-decoded"
    )]
    NotASegment,
    /// A one-segment path parameter holding `/`: many vendor servers decode even `%2F` into a
    /// segment separator, so the value would name another resource.
    #[error(
        "is one segment of the vendor's path and must not hold `/` (nor `%2F`): pass the identifier itself"
    )]
    SlashInSegment,
    /// A multi-segment path parameter with an empty segment (`a//b`, or a `/` at either end).
    #[error(
        "is a path of segments and must not be empty or hold an empty segment (`//`, or `/` at either end)"
    )]
    EmptySegment,
}

impl ArgError {
    pub(crate) fn new(field: &str, kind: ArgErrorKind) -> Self {
        Self {
            field: field.to_owned(),
            kind,
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A Rust type a flat argument can be parsed into.
pub trait FromArg: Sized {
    /// JSON Schema type name, used in error messages.
    const EXPECTED: &'static str;
    /// Converts a present, non-null value.
    fn from_arg(field: &str, value: &Value) -> Result<Self, ArgError>;
}

fn wrong_type<T: FromArg>(field: &str, value: &Value) -> ArgError {
    expected(field, T::EXPECTED, value)
}

/// The error for a value of the wrong JSON type at `field`.
pub fn expected(field: &str, expected: &'static str, value: &Value) -> ArgError {
    ArgError::new(
        field,
        ArgErrorKind::WrongType {
            expected,
            got: json_type(value),
        },
    )
}

/// The error for a string outside its enum at `field`.
pub fn not_allowed(field: &str, value: &str, allowed: &[&str]) -> ArgError {
    ArgError::new(
        field,
        ArgErrorKind::NotAllowed {
            allowed: allowed.join(", "),
            got: value.to_owned(),
        },
    )
}

/// The path of a nested field: `shipments[0]` and `carrier` make `shipments[0].carrier`.
pub fn nested(field: &str, name: &str) -> String {
    if field.is_empty() {
        name.to_owned()
    } else {
        format!("{field}.{name}")
    }
}

/// The object a nested struct is parsed from.
#[inline(never)] // one shared copy keeps generated crates fast to optimize
pub fn object_at<'v>(field: &str, value: &'v Value) -> Result<&'v Args, ArgError> {
    value
        .as_object()
        .ok_or_else(|| expected(field, "object", value))
}

/// A required field of a nested object; absent and `null` are both "missing".
#[inline(never)] // one shared copy per type keeps generated crates fast to optimize
pub fn required_at<T: FromArg>(field: &str, object: &Args, name: &str) -> Result<T, ArgError> {
    match object.get(name) {
        None | Some(Value::Null) => Err(ArgError::new(&nested(field, name), ArgErrorKind::Missing)),
        Some(value) => T::from_arg(&nested(field, name), value),
    }
}

/// An optional field of a nested object.
#[inline(never)] // one shared copy per type keeps generated crates fast to optimize
pub fn optional_at<T: FromArg>(
    field: &str,
    object: &Args,
    name: &str,
) -> Result<Option<T>, ArgError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::from_arg(&nested(field, name), value).map(Some),
    }
}

/// An optional nested field whose explicit `null` means something.
#[inline(never)] // one shared copy per type keeps generated crates fast to optimize
pub fn nullable_at<T: FromArg>(
    field: &str,
    object: &Args,
    name: &str,
) -> Result<Option<Option<T>>, ArgError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => T::from_arg(&nested(field, name), value).map(|v| Some(Some(v))),
    }
}

/// Refuses fields a nested object's schema does not declare.
pub fn only_known_at(field: &str, object: &Args, known: &[&str]) -> Result<(), ArgError> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(ArgError::new(
            &nested(field, unknown),
            ArgErrorKind::UnknownField {
                known: known.join(", "),
            },
        )),
    }
}

/// The fields of a nested object its schema does not declare, kept when it allows them.
pub fn extra_fields(object: &Args, known: &[&str]) -> Args {
    object
        .iter()
        .filter(|(key, _)| !known.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

impl FromArg for String {
    const EXPECTED: &'static str = "string";
    fn from_arg(field: &str, value: &Value) -> Result<Self, ArgError> {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| wrong_type::<Self>(field, value))
    }
}

impl FromArg for i64 {
    const EXPECTED: &'static str = "integer";
    fn from_arg(field: &str, value: &Value) -> Result<Self, ArgError> {
        match value {
            // A whole float such as 2.0 is an integer; one beyond i64 (1e30) is not, rather
            // than saturating to i64::MAX.
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.223_372_036_854_775e18)
                    .map(|f| f as i64)
            }),
            _ => None,
        }
        .ok_or_else(|| wrong_type::<Self>(field, value))
    }
}

impl FromArg for f64 {
    const EXPECTED: &'static str = "number";
    fn from_arg(field: &str, value: &Value) -> Result<Self, ArgError> {
        value
            .as_f64()
            .ok_or_else(|| wrong_type::<Self>(field, value))
    }
}

impl FromArg for bool {
    const EXPECTED: &'static str = "boolean";
    fn from_arg(field: &str, value: &Value) -> Result<Self, ArgError> {
        value
            .as_bool()
            .ok_or_else(|| wrong_type::<Self>(field, value))
    }
}

/// Objects, unions and anything else without a closer Rust type.
impl FromArg for Value {
    const EXPECTED: &'static str = "any JSON value";
    fn from_arg(_field: &str, value: &Value) -> Result<Self, ArgError> {
        Ok(value.clone())
    }
}

/// A JSON object kept as JSON: nested vendor objects are passed through unchanged.
impl FromArg for serde_json::Map<String, Value> {
    const EXPECTED: &'static str = "object";
    fn from_arg(field: &str, value: &Value) -> Result<Self, ArgError> {
        value
            .as_object()
            .cloned()
            .ok_or_else(|| wrong_type::<Self>(field, value))
    }
}

impl<T: FromArg> FromArg for Box<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_arg(field: &str, value: &Value) -> Result<Self, ArgError> {
        T::from_arg(field, value).map(Box::new)
    }
}

impl<T: FromArg> FromArg for Vec<T> {
    const EXPECTED: &'static str = "array";
    fn from_arg(field: &str, value: &Value) -> Result<Self, ArgError> {
        let items = value
            .as_array()
            .ok_or_else(|| wrong_type::<Self>(field, value))?;
        items
            .iter()
            .enumerate()
            .map(|(index, item)| T::from_arg(&format!("{field}[{index}]"), item))
            .collect()
    }
}

/// A typed value written back as the JSON the vendor receives.
pub trait ToJson {
    /// The JSON form.
    fn to_json(&self) -> Value;
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl ToJson for f64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

impl ToJson for Value {
    fn to_json(&self) -> Value {
        self.clone()
    }
}

impl ToJson for serde_json::Map<String, Value> {
    fn to_json(&self) -> Value {
        Value::Object(self.clone())
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}

impl<T: ToJson> ToJson for Box<T> {
    fn to_json(&self) -> Value {
        (**self).to_json()
    }
}

/// `None` is JSON `null` (for nullable fields, whose absence is the outer `Option`).
impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToJson::to_json)
    }
}

/// Writes a present field into a JSON object being built.
#[inline(never)] // one shared copy per type keeps generated crates small
pub fn put<T: ToJson>(object: &mut Args, name: &str, value: &T) {
    object.insert(name.to_owned(), value.to_json());
}

/// Writes an optional field when it is present.
#[inline(never)]
pub fn put_optional<T: ToJson>(object: &mut Args, name: &str, value: &Option<T>) {
    if let Some(value) = value {
        object.insert(name.to_owned(), value.to_json());
    }
}

/// A required argument; absent and `null` are both "missing".
#[inline(never)] // one shared copy per type keeps generated crates fast to optimize
pub fn required<T: FromArg>(args: &Args, field: &str) -> Result<T, ArgError> {
    match args.get(field) {
        None | Some(Value::Null) => Err(ArgError::new(field, ArgErrorKind::Missing)),
        Some(value) => T::from_arg(field, value),
    }
}

/// An optional argument; absent and `null` are both `None`.
#[inline(never)] // one shared copy per type keeps generated crates fast to optimize
pub fn optional<T: FromArg>(args: &Args, field: &str) -> Result<Option<T>, ArgError> {
    match args.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::from_arg(field, value).map(Some),
    }
}

/// An optional argument whose explicit `null` means something to the vendor (e.g. "remove").
/// The outer `Option` is presence, the inner one is nullness.
#[inline(never)] // one shared copy per type keeps generated crates fast to optimize
pub fn nullable<T: FromArg>(args: &Args, field: &str) -> Result<Option<Option<T>>, ArgError> {
    match args.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value) => T::from_arg(field, value).map(|v| Some(Some(v))),
    }
}

/// Largest `limit` a list tool accepts; its input schema says the same.
pub const MAX_PAGE_LIMIT: i64 = 100;

/// The uniform `limit` of a list tool: absent, or an integer from 1 to [`MAX_PAGE_LIMIT`].
#[inline(never)] // one shared copy keeps generated crates fast to optimize
pub fn page_limit(args: &Args, field: &str) -> Result<Option<i64>, ArgError> {
    let Some(limit) = optional::<i64>(args, field)? else {
        return Ok(None);
    };
    if (1..=MAX_PAGE_LIMIT).contains(&limit) {
        Ok(Some(limit))
    } else {
        Err(ArgError::new(
            field,
            ArgErrorKind::OutOfRange {
                min: 1,
                max: MAX_PAGE_LIMIT,
                got: limit.to_string(),
            },
        ))
    }
}

/// Rejects arguments the tool does not declare, so a typo never silently drops a filter.
pub fn only_known(args: &Args, known: &[&str]) -> Result<(), ArgError> {
    match args.keys().find(|key| !known.contains(&key.as_str())) {
        None => Ok(()),
        Some(unknown) => Err(ArgError::new(
            unknown,
            ArgErrorKind::Unknown {
                known: known.join(", "),
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Value) -> Args {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let a = args(json!({"id": 5, "tags": ["a", 1], "status": "Nope"}));
        assert_eq!(
            required::<String>(&a, "id").unwrap_err().to_string(),
            "argument `id`: expected string, got integer"
        );
        assert_eq!(
            required::<Vec<String>>(&a, "tags").unwrap_err().to_string(),
            "argument `tags[1]`: expected string, got integer"
        );
        assert_eq!(
            required::<String>(&a, "missing").unwrap_err().to_string(),
            "argument `missing`: is required"
        );
        assert_eq!(
            not_allowed("status", "Nope", &["Open", "Closed"]).to_string(),
            "argument `status`: must be one of Open, Closed, got \"Nope\""
        );
        assert_eq!(
            only_known(&a, &["id", "tags"]).unwrap_err().to_string(),
            "argument `status`: is not an argument of this tool (known: id, tags)"
        );
    }

    #[test]
    fn null_means_absent_except_for_nullable_fields() {
        let a = args(json!({"customer": null, "n": 2.0}));
        assert_eq!(optional::<Value>(&a, "customer").unwrap(), None);
        assert_eq!(nullable::<Value>(&a, "customer").unwrap(), Some(None));
        assert_eq!(nullable::<Value>(&a, "other").unwrap(), None);
        assert_eq!(required::<i64>(&a, "n").unwrap(), 2);
        assert!(required::<i64>(&args(json!({"n": 2.5})), "n").is_err());
        assert!(required::<i64>(&args(json!({"n": 1e30})), "n").is_err());
    }

    #[test]
    fn page_limits_are_bounded() {
        for bad in [json!(0), json!(-5), json!(101), json!(1e30)] {
            let error = page_limit(&args(json!({"limit": bad})), "limit").unwrap_err();
            assert_eq!(error.field, "limit", "{bad}");
        }
        assert_eq!(
            page_limit(&args(json!({"limit": 0})), "limit")
                .unwrap_err()
                .to_string(),
            "argument `limit`: must be between 1 and 100, got 0"
        );
        assert_eq!(
            page_limit(&args(json!({"limit": 100})), "limit").unwrap(),
            Some(100)
        );
        assert_eq!(page_limit(&args(json!({})), "limit").unwrap(), None);
    }
}
