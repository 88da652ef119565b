//! Constraints the published schemas declare, made enforceable: patterns settled into the
//! ECMA-262 Unicode-mode form that JSON Schema clients compile, and each tool's constraints
//! emitted as a static `specgate_runtime::Rule` tree that its parser checks.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::{Map, Value};

/// Keywords that constrain a value beyond its type; a schema without any in reach needs no
/// rules, since the typed parser already checks types, enums, required and unknown fields.
const CONSTRAINTS: &[&str] = &[
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

/// Whether `pattern` compiles as JSON Schema clients compile it: ECMA-262 with the `u` flag.
pub fn is_valid_pattern(pattern: &str) -> bool {
    regress::Regex::with_flags(pattern, "u").is_ok()
}

/// What became of a pattern that Unicode mode refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternFate {
    /// Rewritten to an exact equivalent that Unicode mode accepts.
    Rewritten {
        /// Where, in the tool's input schema.
        pointer: String,
        /// The vendor's pattern.
        from: String,
        /// What the schema publishes now.
        to: String,
    },
    /// No exact equivalent: removed from the schema, so nothing enforces it.
    Dropped {
        /// Where, in the tool's input schema.
        pointer: String,
        /// The vendor's pattern.
        pattern: String,
    },
}

/// Rewrites or removes every `pattern` of `schema` that Unicode-mode ECMA-262 refuses.
pub fn settle_patterns(schema: &mut Value) -> Vec<PatternFate> {
    let mut fates = Vec::new();
    settle_at(schema, &mut String::new(), &mut fates);
    fates
}

fn settle_at(node: &mut Value, pointer: &mut String, fates: &mut Vec<PatternFate>) {
    match node {
        Value::Object(members) => {
            if let Some(Value::String(pattern)) = members.get("pattern")
                && !is_valid_pattern(pattern)
            {
                let from = pattern.clone();
                let at = format!("{pointer}/pattern");
                match unicode_equivalent(&from) {
                    Some(to) => {
                        members.insert("pattern".to_owned(), Value::String(to.clone()));
                        fates.push(PatternFate::Rewritten {
                            pointer: at,
                            from,
                            to,
                        });
                    }
                    None => {
                        members.remove("pattern");
                        fates.push(PatternFate::Dropped {
                            pointer: at,
                            pattern: from,
                        });
                    }
                }
            }
            for (key, child) in members.iter_mut() {
                // Property names and examples are data, not schemas.
                if matches!(key.as_str(), "enum" | "const" | "default" | "examples") {
                    continue;
                }
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                settle_at(child, pointer, fates);
                pointer.truncate(length);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter_mut().enumerate() {
                let length = pointer.len();
                pointer.push_str(&format!("/{index}"));
                settle_at(child, pointer, fates);
                pointer.truncate(length);
            }
        }
        _ => {}
    }
}

/// The pattern in a form Unicode mode accepts with the same meaning, if there is one:
/// identity escapes of ASCII punctuation or letters that need none (`\_`, `\-` outside a
/// class, `\ `), octal escapes (`\000` is `\x00`), and bare script names (`\p{Han}` is
/// `\p{Script=Han}`).
fn unicode_equivalent(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            match c {
                '[' if !in_class => in_class = true,
                ']' if in_class => in_class = false,
                _ => {}
            }
            out.push(c);
            i += 1;
            continue;
        }
        let &next = chars.get(i + 1)?;
        match next {
            // Octal escapes: up to three digits below 0o400.
            '0'..='7' if next == '0' || in_class => {
                let digits: String = chars[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|d| ('0'..='7').contains(d))
                    .collect();
                let value = u32::from_str_radix(&digits, 8).ok()?;
                if value > 0o377 {
                    return None;
                }
                out.push_str(&format!("\\x{value:02x}"));
                i += 1 + digits.len();
            }
            'p' | 'P' if chars.get(i + 2) == Some(&'{') => {
                let end = chars[i + 3..].iter().position(|&c| c == '}')? + i + 3;
                let name: String = chars[i + 3..end].iter().collect();
                let property = if name.contains('=') || is_general_category(&name) {
                    name
                } else {
                    format!("Script={name}")
                };
                out.push_str(&format!("\\{next}{{{property}}}"));
                i = end + 1;
            }
            // Identity escapes Unicode mode forbids: the character itself means the same.
            c if !is_syntax_escape(c, in_class) && (c.is_ascii_punctuation() || c == ' ') => {
                out.push(c);
                i += 2;
            }
            _ => {
                out.push('\\');
                out.push(next);
                i += 2;
            }
        }
    }
    is_valid_pattern(&out).then_some(out)
}

/// Characters whose escape Unicode mode accepts as they are.
fn is_syntax_escape(c: char, in_class: bool) -> bool {
    "^$\\.*+?()[]{}|/".contains(c) || (in_class && c == '-')
}

/// General categories and binary properties that stand alone in `\p{...}`.
fn is_general_category(name: &str) -> bool {
    regress::Regex::with_flags(&format!("\\p{{{name}}}"), "u").is_ok()
}

/// The static rule tree of a tool's input schema, its statics named after `name`, and the ident
/// of its root; `None` when the schema declares no constraint, so the parser has nothing more
/// to check.
pub fn tool_rules(name: &str, schema: &Value) -> Option<(TokenStream, proc_macro2::Ident)> {
    let defs = schema.get("$defs").and_then(Value::as_object);
    let prefix = name.replace(['-', '.'], "_").to_uppercase();
    let mut builder = RuleBuilder {
        defs,
        constrained_defs: constrained_defs(defs),
        prefix: prefix.clone(),
        def_statics: BTreeMap::new(),
        patterns: BTreeMap::new(),
        statics: Vec::new(),
    };
    let properties = schema.get("properties").and_then(Value::as_object)?;
    let members = builder.properties(properties);
    if members.is_empty() {
        return None;
    }
    let root = format_ident!("RULES_{prefix}");
    let statics = &builder.statics;
    Some((
        quote! {
            #(#statics)*
            static #root: ::specgate_runtime::Rule = ::specgate_runtime::Rule {
                types: ::specgate_runtime::rule_types::OBJECT,
                checks: &[::specgate_runtime::Check::Properties(&[#(#members),*])],
            };
        },
        root,
    ))
}

/// The `$defs` whose closure holds a constraint.
fn constrained_defs(defs: Option<&Map<String, Value>>) -> BTreeSet<String> {
    let Some(defs) = defs else {
        return BTreeSet::new();
    };
    let mut constrained = BTreeSet::new();
    // To a fixed point: a definition is constrained if it or one it refers to is.
    loop {
        let before = constrained.len();
        for (name, def) in defs {
            if !constrained.contains(name) && reaches_constraint(def, &constrained) {
                constrained.insert(name.clone());
            }
        }
        if constrained.len() == before {
            return constrained;
        }
    }
}

fn def_name(node: &Value) -> Option<&str> {
    node.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

fn reaches_constraint(node: &Value, constrained_defs: &BTreeSet<String>) -> bool {
    let Some(members) = node.as_object() else {
        return false;
    };
    if let Some(name) = def_name(node) {
        return constrained_defs.contains(name);
    }
    if CONSTRAINTS.iter().any(|k| members.contains_key(*k)) || needs_exclusivity(members) {
        return true;
    }
    children(members).any(|child| reaches_constraint(child, constrained_defs))
}

/// Whether a `oneOf` of scalar branches has two that one value can match (`number` and
/// `integer`, or a branch of any type): the typed parser takes the first branch that fits,
/// so only the rule's exclusivity check refuses a value that fits both, as JSON Schema does.
/// Branches of objects and arrays are told apart by their members, which the typed parser
/// reads whole.
fn needs_exclusivity(members: &Map<String, Value>) -> bool {
    const SCALARS: u8 = 1 | 2 | 4 | 8 | 16;
    let Some(branches) = members.get("oneOf").and_then(Value::as_array) else {
        return false;
    };
    let mut bits = Vec::new();
    for branch in branches {
        if branch.get("$ref").is_some() {
            return false;
        }
        let mut types = match type_bits(branch.get("type")) {
            0 => return false,
            types if types & !SCALARS != 0 => return false,
            types => types,
        };
        // Every number that is an integer.
        if types & 8 != 0 {
            types |= 4;
        }
        bits.push(types);
    }
    bits.iter()
        .enumerate()
        .any(|(i, a)| bits[i + 1..].iter().any(|b| a & b != 0))
}

/// The subschemas of a node that rules follow.
fn children(members: &Map<String, Value>) -> impl Iterator<Item = &Value> {
    let properties = members
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values());
    let branches = ["anyOf", "oneOf", "allOf"]
        .into_iter()
        .filter_map(|k| members.get(k).and_then(Value::as_array))
        .flatten();
    let single = ["items", "additionalProperties"]
        .into_iter()
        .filter_map(|k| members.get(k))
        .filter(|v| v.is_object());
    properties.chain(branches).chain(single)
}

struct RuleBuilder<'a> {
    defs: Option<&'a Map<String, Value>>,
    constrained_defs: BTreeSet<String>,
    prefix: String,
    def_statics: BTreeMap<String, proc_macro2::Ident>,
    patterns: BTreeMap<String, proc_macro2::Ident>,
    statics: Vec<TokenStream>,
}

impl RuleBuilder<'_> {
    fn constrained(&self, node: &Value) -> bool {
        reaches_constraint(node, &self.constrained_defs)
    }

    /// A `&Rule` expression for `node`: the static of a `$defs` entry, or the node's own rule.
    fn rule(&mut self, node: &Value) -> TokenStream {
        match def_name(node) {
            Some(name) => {
                let ident = self.def_static(name);
                quote! { &#ident }
            }
            None => {
                let rule = self.node_rule(node);
                quote! { &#rule }
            }
        }
    }

    /// A `Rule` value for a node that is not a reference: its own keywords, and the subschemas
    /// that reach a constraint. A union that reaches one keeps every branch, shallowly, so its
    /// branches are told apart as JSON Schema tells them.
    fn node_rule(&mut self, node: &Value) -> TokenStream {
        // A definition that is only a reference to another one.
        if let Some(name) = def_name(node) {
            let ident = self.def_static(name);
            return quote! { ::specgate_runtime::Rule { types: 0, checks: &[::specgate_runtime::Check::AllOf(&[&#ident])] } };
        }
        let Some(members) = node.as_object() else {
            return quote! { ::specgate_runtime::Rule { types: 0, checks: &[] } };
        };
        let types = type_bits(members.get("type"));
        let mut checks = Vec::new();
        let count = |key: &str| members.get(key).and_then(Value::as_u64);
        let number = |key: &str| members.get(key).and_then(Value::as_f64);
        for (key, variant) in [
            ("minLength", quote! { MinLength }),
            ("maxLength", quote! { MaxLength }),
            ("minItems", quote! { MinItems }),
            ("maxItems", quote! { MaxItems }),
            ("minProperties", quote! { MinProperties }),
            ("maxProperties", quote! { MaxProperties }),
        ] {
            if let Some(n) = count(key) {
                checks.push(quote! { ::specgate_runtime::Check::#variant(#n) });
            }
        }
        for (key, variant) in [
            ("minimum", quote! { Minimum }),
            ("maximum", quote! { Maximum }),
            ("exclusiveMinimum", quote! { ExclusiveMinimum }),
            ("exclusiveMaximum", quote! { ExclusiveMaximum }),
        ] {
            if let Some(n) = number(key).filter(|n| n.is_finite()) {
                let n = float(n);
                checks.push(quote! { ::specgate_runtime::Check::#variant(#n) });
            }
        }
        if let Some(n) = number("multipleOf").filter(|n| n.is_finite() && *n > 0.0) {
            let n = float(n);
            checks.push(quote! { ::specgate_runtime::Check::MultipleOf(#n) });
        }
        if members.get("uniqueItems") == Some(&Value::Bool(true)) {
            checks.push(quote! { ::specgate_runtime::Check::UniqueItems });
        }
        if let Some(pattern) = members.get("pattern").and_then(Value::as_str)
            && is_valid_pattern(pattern)
        {
            let ident = self.pattern(pattern);
            checks.push(quote! { ::specgate_runtime::Check::Pattern(&#ident) });
        }
        if let Some(literals) = enum_literals(members) {
            checks.push(quote! { ::specgate_runtime::Check::Enum(&[#(#literals),*]) });
        }
        if let Some(required) = members.get("required").and_then(Value::as_array) {
            let names = required.iter().filter_map(Value::as_str);
            checks.push(quote! { ::specgate_runtime::Check::Required(&[#(#names),*]) });
        }
        if let Some(properties) = members.get("properties").and_then(Value::as_object) {
            let inner = self.properties(properties);
            if !inner.is_empty() {
                checks.push(quote! { ::specgate_runtime::Check::Properties(&[#(#inner),*]) });
            }
        }
        let known: Vec<&String> = members
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        match members.get("additionalProperties") {
            Some(Value::Bool(false)) => checks.push(
                quote! { ::specgate_runtime::Check::AdditionalProperties(&[#(#known),*], ::std::option::Option::None) },
            ),
            Some(extra @ Value::Object(_)) if self.constrained(extra) => {
                let rule = self.rule(extra);
                checks.push(quote! { ::specgate_runtime::Check::AdditionalProperties(&[#(#known),*], ::std::option::Option::Some(#rule)) });
            }
            _ => {}
        }
        if let Some(items) = members.get("items").filter(|i| self.constrained(i)) {
            let rule = self.rule(items);
            checks.push(quote! { ::specgate_runtime::Check::Items(#rule) });
        }
        for (key, variant) in [
            ("anyOf", quote! { AnyOf }),
            ("oneOf", quote! { OneOf }),
            ("allOf", quote! { AllOf }),
        ] {
            let Some(branches) = members.get(key).and_then(Value::as_array) else {
                continue;
            };
            let exclusive = key == "oneOf" && needs_exclusivity(members);
            if !exclusive && !branches.iter().any(|b| self.constrained(b)) {
                continue;
            }
            let rules: Vec<TokenStream> = branches.iter().map(|b| self.rule(b)).collect();
            checks.push(quote! { ::specgate_runtime::Check::#variant(&[#(#rules),*]) });
        }
        quote! { ::specgate_runtime::Rule { types: #types, checks: &[#(#checks),*] } }
    }

    /// `(name, &rule)` of each property that reaches a constraint.
    fn properties(&mut self, properties: &Map<String, Value>) -> Vec<TokenStream> {
        let mut members = Vec::new();
        for (name, property) in properties {
            if self.constrained(property) {
                let rule = self.rule(property);
                members.push(quote! { (#name, #rule) });
            }
        }
        members
    }

    /// The static of a `$defs` entry, emitted once (it may refer to itself).
    fn def_static(&mut self, name: &str) -> proc_macro2::Ident {
        if let Some(ident) = self.def_statics.get(name) {
            return ident.clone();
        }
        let ident = format_ident!("RULES_{}_DEF_{}", self.prefix, self.def_statics.len());
        self.def_statics.insert(name.to_owned(), ident.clone());
        let rule = match self.defs.and_then(|d| d.get(name)) {
            Some(def) if self.constrained_defs.contains(name) => self.node_rule(def),
            _ => quote! { ::specgate_runtime::Rule { types: 0, checks: &[] } },
        };
        self.statics.push(quote! {
            static #ident: ::specgate_runtime::Rule = #rule;
        });
        ident
    }

    fn pattern(&mut self, source: &str) -> proc_macro2::Ident {
        if let Some(ident) = self.patterns.get(source) {
            return ident.clone();
        }
        let ident = format_ident!("PATTERN_{}_{}", self.prefix, self.patterns.len());
        self.patterns.insert(source.to_owned(), ident.clone());
        self.statics.push(quote! {
            static #ident: ::specgate_runtime::Pattern = ::specgate_runtime::Pattern::new(#source);
        });
        ident
    }
}

/// A finite float as a literal expression; a negative one as a negation, since a literal
/// token cannot carry a sign.
fn float(n: f64) -> TokenStream {
    if n.is_sign_negative() {
        let magnitude = -n;
        quote! { -#magnitude }
    } else {
        quote! { #n }
    }
}

fn type_bits(types: Option<&Value>) -> u8 {
    let bit = |name: &str| -> u8 {
        match name {
            "null" => 1,
            "boolean" => 2,
            "integer" => 4,
            "number" => 8,
            "string" => 16,
            "array" => 32,
            "object" => 64,
            _ => 0,
        }
    };
    match types {
        Some(Value::String(name)) => bit(name),
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).map(bit).sum(),
        _ => 0,
    }
}

/// The `enum` (or `const`) of scalar values as literals; `None` when there is none, or a
/// value is an array or object (left to the typed parser).
fn enum_literals(members: &Map<String, Value>) -> Option<Vec<TokenStream>> {
    let values = match (members.get("enum"), members.get("const")) {
        (Some(Value::Array(values)), _) => values.clone(),
        (None, Some(value)) => vec![value.clone()],
        _ => return None,
    };
    values
        .iter()
        .map(|value| match value {
            Value::Null => Some(quote! { ::specgate_runtime::Literal::Null }),
            Value::Bool(b) => Some(quote! { ::specgate_runtime::Literal::Boolean(#b) }),
            Value::Number(n) => {
                let n = float(n.as_f64()?);
                Some(quote! { ::specgate_runtime::Literal::Number(#n) })
            }
            Value::String(s) => Some(quote! { ::specgate_runtime::Literal::String(#s) }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_unicode_mode_refuses_are_rewritten_when_exact() {
        for (from, to) in [
            (r"^[^/:|\000-\037]+$", r"^[^/:|\x00-\x1f]+$"),
            (r"^[\p{Han}a-z]+$", r"^[\p{Script=Han}a-z]+$"),
            (r"^a\_b$", r"^a_b$"),
            (r"^\p{L}+$", r"^\p{L}+$"),
        ] {
            assert_eq!(unicode_equivalent(from).as_deref(), Some(to), "{from}");
        }
        let mut schema = json!({"properties": {
            "name": {"type": "string", "pattern": r"^a\_b$"},
            "odd": {"type": "string", "pattern": r"(?<=x"},
            "fine": {"type": "string", "pattern": "^[a-z]+$"}
        }});
        let fates = settle_patterns(&mut schema);
        assert_eq!(
            fates,
            vec![
                PatternFate::Rewritten {
                    pointer: "/properties/name/pattern".to_owned(),
                    from: r"^a\_b$".to_owned(),
                    to: "^a_b$".to_owned()
                },
                PatternFate::Dropped {
                    pointer: "/properties/odd/pattern".to_owned(),
                    pattern: "(?<=x".to_owned()
                },
            ]
        );
        assert_eq!(schema["properties"]["name"]["pattern"], "^a_b$");
        assert!(schema["properties"]["odd"].get("pattern").is_none());
        assert_eq!(schema["properties"]["fine"]["pattern"], "^[a-z]+$");
    }

    #[test]
    fn only_constrained_schemas_get_rules() {
        let plain = json!({"properties": {"id": {"type": "string"}}});
        assert!(tool_rules("get_x", &plain).is_none());
        let deep = json!({
            "properties": {"order": {"$ref": "#/$defs/Order"}, "id": {"type": "string"}},
            "$defs": {
                "Order": {"type": "object", "properties": {"lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}}}},
                "Line": {"type": "object", "properties": {"sku": {"type": "string", "maxLength": 8}}}
            }
        });
        let (tokens, root) = tool_rules("create_x", &deep).unwrap();
        assert_eq!(root.to_string(), "RULES_CREATE_X");
        let text = tokens.to_string();
        assert!(text.contains("MaxLength (8u64)"), "{text}");
        assert!(
            !text.contains("\"id\""),
            "unconstrained members are left out: {text}"
        );
    }

    #[test]
    fn a_oneof_of_overlapping_scalars_is_checked_for_exclusivity() {
        let union = |branches: Value| json!({"oneOf": branches}).as_object().unwrap().clone();
        assert!(needs_exclusivity(&union(
            json!([{"type": "number"}, {"type": "integer"}])
        )));
        assert!(needs_exclusivity(&union(
            json!([{"type": ["string", "null"]}, {"type": "null"}])
        )));
        assert!(!needs_exclusivity(&union(
            json!([{"type": "string"}, {"type": "integer"}])
        )));
        // Objects and arrays are told apart by the typed parser, which reads them whole.
        assert!(!needs_exclusivity(&union(
            json!([{"type": "object"}, {"type": "object"}])
        )));
        assert!(!needs_exclusivity(&union(
            json!([{"$ref": "#/$defs/A"}, {"type": "integer"}])
        )));
    }
}
