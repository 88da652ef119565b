//! The constraints of a tool's published input schema, checked on its arguments.
//!
//! Codegen compiles each tool schema that declares a constraint (`minLength`, `pattern`,
//! `maximum`, `multipleOf`, `minItems`, `uniqueItems`, `maxProperties`, ...) into a static tree
//! of [`Rule`]s, which the generated parser checks after the typed parse, before any vendor
//! call. The semantics are Ajv's (JSON Schema 2020-12): lengths count Unicode code points, a
//! whole float is an integer, `multipleOf` divides and tests for a whole quotient, and patterns
//! are ECMA-262 regular expressions in Unicode mode (the `regress` crate), compiled once.
//! Inside `anyOf`/`oneOf`/`allOf` the branches are checked as JSON Schema says, so a
//! constraint in a union the typed parser cannot tell apart is still enforced.

use std::sync::OnceLock;

use serde_json::Value;

use crate::args::{ArgError, ArgErrorKind};

/// JSON types a [`Rule`] admits, as a bit set ([`Rule::types`]).
pub mod types {
    /// `null`
    pub const NULL: u8 = 1;
    /// `true`, `false`
    pub const BOOLEAN: u8 = 2;
    /// A number with no fractional part.
    pub const INTEGER: u8 = 4;
    /// Any number (integers included).
    pub const NUMBER: u8 = 8;
    /// A string.
    pub const STRING: u8 = 16;
    /// An array.
    pub const ARRAY: u8 = 32;
    /// An object.
    pub const OBJECT: u8 = 64;
}

/// One schema node: the JSON types it admits (`0`: any) and its other keywords.
#[derive(Debug)]
pub struct Rule {
    /// Allowed JSON types, from [`types`]; `0` admits every type.
    pub types: u8,
    /// The node's other keywords.
    pub checks: &'static [Check],
}

/// One keyword of a schema node.
#[derive(Debug)]
pub enum Check {
    /// `minLength`, in code points.
    MinLength(u64),
    /// `maxLength`, in code points.
    MaxLength(u64),
    /// `pattern`, unanchored.
    Pattern(&'static Pattern),
    /// `minimum`
    Minimum(f64),
    /// `maximum`
    Maximum(f64),
    /// `exclusiveMinimum`
    ExclusiveMinimum(f64),
    /// `exclusiveMaximum`
    ExclusiveMaximum(f64),
    /// `multipleOf`
    MultipleOf(f64),
    /// `minItems`
    MinItems(u64),
    /// `maxItems`
    MaxItems(u64),
    /// `uniqueItems: true`
    UniqueItems,
    /// `items`: every element.
    Items(&'static Rule),
    /// `minProperties`
    MinProperties(u64),
    /// `maxProperties`
    MaxProperties(u64),
    /// `required`
    Required(&'static [&'static str]),
    /// `properties`: the named members that are present.
    Properties(&'static [(&'static str, &'static Rule)]),
    /// `additionalProperties`: members not in `properties` must match (`None`: none allowed).
    AdditionalProperties(&'static [&'static str], Option<&'static Rule>),
    /// `enum` (or `const`) of scalar values.
    Enum(&'static [Literal]),
    /// `anyOf`: at least one branch.
    AnyOf(&'static [&'static Rule]),
    /// `oneOf`: exactly one branch.
    OneOf(&'static [&'static Rule]),
    /// `allOf`: every branch.
    AllOf(&'static [&'static Rule]),
}

/// A scalar `enum` value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// A boolean.
    Boolean(bool),
    /// A number, compared by value (`1` equals `1.0`, as in JavaScript).
    Number(f64),
    /// A string.
    String(&'static str),
}

/// An ECMA-262 pattern (Unicode mode), compiled on first use and kept.
#[derive(Debug)]
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<Option<regress::Regex>>,
}

impl Pattern {
    /// A pattern codegen has already compiled once, so it is known to be valid.
    pub const fn new(source: &'static str) -> Self {
        Self {
            source,
            compiled: OnceLock::new(),
        }
    }

    /// The pattern as the schema publishes it.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether `text` contains a match. A pattern that does not compile here (codegen refuses
    /// those, so only a different `regress` could) matches everything rather than refusing
    /// every call.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled
            .get_or_init(|| regress::Regex::with_flags(self.source, "u").ok())
            .as_ref()
            .is_none_or(|regex| regex.find(text).is_some())
    }
}

/// Checks a tool's arguments against its rules; the error names the argument's full path
/// (`shipments[2].carrier`).
#[inline(never)] // one shared copy keeps generated crates fast to optimize
pub fn check_arguments(rule: &Rule, args: &crate::Args) -> Result<(), ArgError> {
    // The root is the arguments object, whose members are named bare (`customer.email`).
    for check in rule.checks {
        if let Check::Properties(properties) = check {
            check_members(properties, args, &mut String::new())
                .map_err(|(field, why)| ArgError::new(&field, ArgErrorKind::Invalid(why)))?;
        }
    }
    Ok(())
}

/// The members of an object that `properties` names; `null` is an absent member, as the typed
/// parser reads it at every depth.
fn check_members(
    properties: &[(&str, &Rule)],
    members: &crate::Args,
    path: &mut String,
) -> Result<(), Failure> {
    for (name, inner) in properties {
        if let Some(member) = members.get(*name).filter(|m| !m.is_null()) {
            let length = path.len();
            *path = crate::nested(path, name);
            check_value(inner, member, path)?;
            path.truncate(length);
        }
    }
    Ok(())
}

/// A failed check: the path and what the schema wants there.
type Failure = (String, String);

fn check_value(rule: &Rule, value: &Value, path: &mut String) -> Result<(), Failure> {
    if rule.types != 0 && rule.types & type_bits(value) == 0 {
        return Err((path.clone(), format!("expected {}", type_names(rule.types))));
    }
    for check in rule.checks {
        check_one(check, value, path)?;
    }
    Ok(())
}

fn type_bits(value: &Value) -> u8 {
    match value {
        Value::Null => types::NULL,
        Value::Bool(_) => types::BOOLEAN,
        Value::Number(n) if is_integer(n) => types::INTEGER | types::NUMBER,
        Value::Number(_) => types::NUMBER,
        Value::String(_) => types::STRING,
        Value::Array(_) => types::ARRAY,
        Value::Object(_) => types::OBJECT,
    }
}

fn is_integer(number: &serde_json::Number) -> bool {
    number.is_i64() || number.is_u64() || number.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn type_names(bits: u8) -> String {
    let names = [
        (types::NULL, "null"),
        (types::BOOLEAN, "boolean"),
        (types::INTEGER, "integer"),
        (types::NUMBER, "number"),
        (types::STRING, "string"),
        (types::ARRAY, "array"),
        (types::OBJECT, "object"),
    ];
    let named: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    named.join(" or ")
}

fn fail<T>(path: &str, why: String) -> Result<T, Failure> {
    Err((path.to_owned(), why))
}

fn plural(n: u64, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "property") => format!("{n} properties"),
        _ => format!("{n} {noun}s"),
    }
}

fn check_one(check: &Check, value: &Value, path: &mut String) -> Result<(), Failure> {
    match (check, value) {
        (Check::MinLength(min), Value::String(text)) if (text.chars().count() as u64) < *min => {
            fail(path, format!("at least {}", plural(*min, "character")))
        }
        (Check::MaxLength(max), Value::String(text)) if text.chars().count() as u64 > *max => {
            fail(path, format!("at most {}", plural(*max, "character")))
        }
        (Check::Pattern(pattern), Value::String(text)) if !pattern.is_match(text) => fail(
            path,
            format!("does not match the pattern {}", pattern.source()),
        ),
        (Check::Minimum(min), Value::Number(n)) if n.as_f64().is_some_and(|v| v < *min) => {
            fail(path, format!("must be at least {min}"))
        }
        (Check::Maximum(max), Value::Number(n)) if n.as_f64().is_some_and(|v| v > *max) => {
            fail(path, format!("must be at most {max}"))
        }
        (Check::ExclusiveMinimum(min), Value::Number(n))
            if n.as_f64().is_some_and(|v| v <= *min) =>
        {
            fail(path, format!("must be greater than {min}"))
        }
        (Check::ExclusiveMaximum(max), Value::Number(n))
            if n.as_f64().is_some_and(|v| v >= *max) =>
        {
            fail(path, format!("must be less than {max}"))
        }
        (Check::MultipleOf(divisor), Value::Number(n))
            if n.as_f64().is_some_and(|v| !is_multiple(v, *divisor)) =>
        {
            fail(path, format!("must be a multiple of {divisor}"))
        }
        (Check::MinItems(min), Value::Array(items)) if (items.len() as u64) < *min => {
            fail(path, format!("at least {}", plural(*min, "item")))
        }
        (Check::MaxItems(max), Value::Array(items)) if items.len() as u64 > *max => {
            fail(path, format!("at most {}", plural(*max, "item")))
        }
        (Check::UniqueItems, Value::Array(items)) => {
            for (later, item) in items.iter().enumerate() {
                if let Some(earlier) = items[..later].iter().position(|e| json_equal(e, item)) {
                    return fail(
                        path,
                        format!("items must be unique ([{earlier}] and [{later}] are equal)"),
                    );
                }
            }
            Ok(())
        }
        (Check::Items(inner), Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                let length = path.len();
                path.push_str(&format!("[{index}]"));
                check_value(inner, item, path)?;
                path.truncate(length);
            }
            Ok(())
        }
        (Check::MinProperties(min), Value::Object(members)) if (members.len() as u64) < *min => {
            fail(path, format!("at least {}", plural(*min, "property")))
        }
        (Check::MaxProperties(max), Value::Object(members)) if members.len() as u64 > *max => {
            fail(path, format!("at most {}", plural(*max, "property")))
        }
        (Check::Required(names), Value::Object(members)) => {
            match names.iter().find(|name| !members.contains_key(**name)) {
                Some(missing) => fail(&crate::nested(path, missing), "is required".to_owned()),
                None => Ok(()),
            }
        }
        (Check::Properties(properties), Value::Object(members)) => {
            check_members(properties, members, path)
        }
        (Check::AdditionalProperties(known, rule), Value::Object(members)) => {
            for (name, member) in members {
                if known.contains(&name.as_str()) {
                    continue;
                }
                let length = path.len();
                *path = crate::nested(path, name);
                match rule {
                    Some(inner) => check_value(inner, member, path)?,
                    None => return fail(path, "is not a field of this object".to_owned()),
                }
                path.truncate(length);
            }
            Ok(())
        }
        (Check::Enum(literals), value) => {
            if literals
                .iter()
                .any(|literal| literal_equals(literal, value))
            {
                Ok(())
            } else {
                let listed: Vec<String> = literals.iter().map(literal_text).collect();
                fail(path, format!("must be one of {}", listed.join(", ")))
            }
        }
        (Check::AnyOf(branches), value) => {
            if branches
                .iter()
                .any(|branch| check_value(branch, value, &mut path.clone()).is_ok())
            {
                Ok(())
            } else {
                // The closest branch's reason: the one of the value's own type, if only one is.
                let typed: Vec<&&Rule> = branches
                    .iter()
                    .filter(|b| b.types == 0 || b.types & type_bits(value) != 0)
                    .collect();
                match typed.as_slice() {
                    [only] => check_value(only, value, path),
                    _ => fail(path, "matches none of the allowed forms".to_owned()),
                }
            }
        }
        (Check::OneOf(branches), value) => {
            let matching = branches
                .iter()
                .filter(|branch| check_value(branch, value, &mut path.clone()).is_ok())
                .count();
            match matching {
                1 => Ok(()),
                0 => check_one(&Check::AnyOf(branches), value, path),
                _ => fail(
                    path,
                    "matches more than one of the allowed forms".to_owned(),
                ),
            }
        }
        (Check::AllOf(branches), value) => {
            for branch in *branches {
                check_value(branch, value, path)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Ajv's `multipleOf`: the quotient must be a whole number. JavaScript's `parseInt` reads a
/// quotient of 1e21 or more in exponent notation, so Ajv refuses those; so does this.
fn is_multiple(value: f64, divisor: f64) -> bool {
    let quotient = value / divisor;
    quotient.is_finite() && quotient.fract() == 0.0 && quotient.abs() < 1e21
}

/// Deep equality as JavaScript's: numbers by value, objects regardless of member order.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => a == b,
    }
}

fn literal_equals(literal: &Literal, value: &Value) -> bool {
    match (literal, value) {
        (Literal::Null, Value::Null) => true,
        (Literal::Boolean(a), Value::Bool(b)) => a == b,
        (Literal::Number(a), Value::Number(b)) => b.as_f64() == Some(*a),
        (Literal::String(a), Value::String(b)) => a == b,
        _ => false,
    }
}

fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::Null => "null".to_owned(),
        Literal::Boolean(b) => b.to_string(),
        Literal::Number(n) => n.to_string(),
        Literal::String(s) => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static CARRIER_CODE: Pattern = Pattern::new("^[A-Z]{2,4}$");
    static SHIPMENT: Rule = Rule {
        types: types::OBJECT,
        checks: &[Check::Properties(&[(
            "carrier",
            &Rule {
                types: types::STRING,
                checks: &[Check::MaxLength(4), Check::Pattern(&CARRIER_CODE)],
            },
        )])],
    };
    static TOOL: Rule = Rule {
        types: types::OBJECT,
        checks: &[Check::Properties(&[
            (
                "shipments",
                &Rule {
                    types: types::ARRAY,
                    checks: &[
                        Check::MaxItems(3),
                        Check::UniqueItems,
                        Check::Items(&SHIPMENT),
                    ],
                },
            ),
            (
                "quantity",
                &Rule {
                    types: types::NUMBER,
                    checks: &[
                        Check::MultipleOf(0.01),
                        Check::ExclusiveMinimum(0.0),
                        Check::Maximum(1000.0),
                    ],
                },
            ),
            (
                "name",
                &Rule {
                    types: types::STRING,
                    checks: &[Check::MinLength(2)],
                },
            ),
        ])],
    };

    fn check(args: Value) -> Result<(), String> {
        check_arguments(&TOOL, args.as_object().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn errors_carry_the_full_path() {
        assert_eq!(
            check(json!({"shipments": [{"carrier": "UPS"}, {"carrier": "FEDEX"}]})),
            Err("argument `shipments[1].carrier`: at most 4 characters".to_owned())
        );
        assert_eq!(
            check(json!({"shipments": [{"carrier": "ups"}]})),
            Err(
                "argument `shipments[0].carrier`: does not match the pattern ^[A-Z]{2,4}$"
                    .to_owned()
            )
        );
        assert_eq!(
            check(json!({"shipments": [{"carrier": "UPS"}, {"carrier": "UPS"}]})),
            Err("argument `shipments`: items must be unique ([0] and [1] are equal)".to_owned())
        );
        // `null` is an absent member at every depth, as the typed parser reads it.
        assert_eq!(
            check(json!({"shipments": [{"carrier": null}], "name": null})),
            Ok(())
        );
        assert_eq!(
            check(json!({"quantity": 0})),
            Err("argument `quantity`: must be greater than 0".to_owned())
        );
        assert_eq!(
            check(json!({"shipments": [{"carrier": "UPS"}], "quantity": 2.5, "name": "ab"})),
            Ok(())
        );
    }

    #[test]
    fn semantics_follow_ajv() {
        // Code points, not bytes or UTF-16 units: one emoji is one character.
        assert_eq!(check(json!({"name": "é😀"})), Ok(()));
        assert!(check(json!({"name": "😀"})).is_err());
        // 0.07 / 0.01 is 7.000000000000001 in binary floating point: Ajv refuses it too.
        assert!(check(json!({"quantity": 0.07})).is_err());
        assert_eq!(check(json!({"quantity": 0.5})), Ok(()));
        assert!(!is_multiple(1e22, 1.0));
        // Unicode-mode patterns: `.` matches one astral code point.
        static ONE: Pattern = Pattern::new("^.$");
        assert!(ONE.is_match("😀"));
        // Equal by value, whatever the member order or number form.
        assert!(json_equal(
            &json!({"a": 1, "b": [2.0]}),
            &json!({"b": [2], "a": 1.0})
        ));
    }

    #[test]
    fn unions_check_their_branches() {
        static SHORT: Rule = Rule {
            types: types::STRING,
            checks: &[Check::MaxLength(3)],
        };
        static SMALL: Rule = Rule {
            types: types::INTEGER,
            checks: &[Check::Maximum(9.0)],
        };
        static EITHER: Rule = Rule {
            types: 0,
            checks: &[Check::OneOf(&[&SHORT, &SMALL])],
        };
        let mut path = "code".to_owned();
        assert!(check_value(&EITHER, &json!("abc"), &mut path).is_ok());
        assert!(check_value(&EITHER, &json!(7), &mut path).is_ok());
        assert_eq!(
            check_value(&EITHER, &json!(70), &mut path),
            Err(("code".to_owned(), "must be at most 9".to_owned()))
        );
        assert!(check_value(&EITHER, &json!(true), &mut path).is_err());
    }
}
