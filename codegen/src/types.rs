//! The Rust types of an integration's arguments, typed all the way down: a named struct per
//! nested object, an enum per string enum, and an enum per decidable `oneOf`/`anyOf`. Shared
//! shapes (arena `$defs`) become one type each, and inline shapes with the same schema share
//! one type, so large specs stay compact. Shapes the schema expansion cuts to free-form
//! objects ([`SchemaArena::is_large`]) stay `serde_json::Value`, exactly as the tool schema
//! tells the model.

use std::collections::{BTreeSet, HashMap};

use heck::ToUpperCamelCase;
use serde_json::Value;

use crate::ir::{FieldIr, FieldType, TypeId, TypeIr, TypeKind, VariantIr, VariantMatch};
use crate::naming;
use crate::schema::SchemaArena;

/// Every named type of one integration.
#[derive(Debug, Default)]
pub struct TypeSpace {
    /// The types, in creation order (emitted in this order, so output is stable).
    pub types: Vec<TypeIr>,
    /// Arena shape name -> its type.
    by_def: HashMap<String, FieldType>,
    /// Canonical schema text of an inline shape -> its type.
    by_shape: HashMap<String, TypeId>,
    names: BTreeSet<String>,
    /// Unions that match no decidable form and stay `Value`.
    pub undecidable_unions: usize,
}

/// Rust names the generated module already uses or that would shadow a prelude name the
/// generated code relies on.
const RESERVED: &[&str] = &[
    "Self", "Option", "Result", "String", "Vec", "Box", "Some", "None", "Ok", "Err", "Value",
];

impl TypeSpace {
    fn unique_name(&mut self, hint: &str) -> String {
        let mut base = hint.to_upper_camel_case();
        base.retain(|c| c.is_ascii_alphanumeric());
        if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
            base = format!("T{base}");
        }
        // Request structs end in `Request`; a nested type never does, so they cannot clash.
        if RESERVED.contains(&base.as_str()) || base.ends_with("Request") {
            base.push_str("Type");
        }
        let mut candidate = base.clone();
        let mut n = 2;
        while self.names.contains(&candidate) {
            candidate = format!("{base}{n}");
            n += 1;
        }
        self.names.insert(candidate.clone());
        candidate
    }

    /// The Rust type of a normalized argument schema (its root already inline); `hint` names
    /// a new type (`CreateAMalomoOrderShipments`).
    pub fn field_type(&mut self, arena: &SchemaArena<'_>, schema: &Value, hint: &str) -> FieldType {
        self.type_of(arena, schema, hint, 0)
    }

    fn type_of(
        &mut self,
        arena: &SchemaArena<'_>,
        schema: &Value,
        hint: &str,
        depth: usize,
    ) -> FieldType {
        if depth > 48 {
            return FieldType::Any;
        }
        if let Some((name, target)) = arena.target(schema) {
            if arena.is_large(schema) {
                return FieldType::Any;
            }
            if let Some(known) = self.by_def.get(name) {
                return known.clone();
            }
            let name = name.to_owned();
            // A placeholder first, so a shape that refers to itself resolves to its own type.
            let reserved = TypeId(self.types.len());
            let type_name = self.unique_name(&name);
            self.types.push(TypeIr {
                name: type_name,
                description: String::new(),
                kind: TypeKind::Pending,
            });
            self.by_def.insert(name.clone(), FieldType::Named(reserved));
            let target = target.clone();
            match self.build(arena, &target, &name, depth + 1) {
                Some((description, kind)) => {
                    self.types[reserved.0].description = description;
                    self.types[reserved.0].kind = kind;
                    FieldType::Named(reserved)
                }
                None => {
                    // Not a nested shape (a string, a list...): no type of its own. A
                    // self-reference seen meanwhile stays a checked `Value`.
                    self.types[reserved.0].kind = TypeKind::Alias;
                    let direct = self.type_of(arena, &target, &name, depth + 1);
                    self.by_def.insert(name, direct.clone());
                    direct
                }
            }
        } else if schema.get("$ref").is_some() {
            FieldType::Any
        } else if let [only] = union_variants(schema).as_slice() {
            // `anyOf: [X, null]` is a nullable X.
            self.type_of(arena, only, hint, depth + 1)
        } else {
            match self.build(arena, schema, hint, depth + 1) {
                Some((description, kind)) => {
                    let key = crate::to_stable_json(schema);
                    if let Some(id) = self.by_shape.get(&key) {
                        return FieldType::Named(*id);
                    }
                    let id = TypeId(self.types.len());
                    let name = self.unique_name(hint);
                    self.types.push(TypeIr {
                        name,
                        description,
                        kind,
                    });
                    self.by_shape.insert(key, id);
                    FieldType::Named(id)
                }
                None => self.scalar(arena, schema, hint, depth),
            }
        }
    }

    fn scalar(
        &mut self,
        arena: &SchemaArena<'_>,
        schema: &Value,
        hint: &str,
        depth: usize,
    ) -> FieldType {
        match single_type(schema) {
            Some("string") => FieldType::String,
            Some("integer") => FieldType::Integer,
            Some("number") => FieldType::Number,
            Some("boolean") => FieldType::Boolean,
            Some("array") => FieldType::Array(Box::new(match schema.get("items") {
                Some(items) => self.type_of(arena, items, &format!("{hint}Item"), depth + 1),
                None => FieldType::Any,
            })),
            Some("object") => FieldType::Object,
            _ => FieldType::Any,
        }
    }

    /// The named type a schema needs, if it needs one: a struct, a string enum or a union.
    fn build(
        &mut self,
        arena: &SchemaArena<'_>,
        schema: &Value,
        hint: &str,
        depth: usize,
    ) -> Option<(String, TypeKind)> {
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(values) = string_enum(schema) {
            return Some((description, TypeKind::Enum { values }));
        }
        let variants = union_variants(schema);
        if !variants.is_empty() {
            return match self.union(arena, schema, &variants, hint, depth) {
                Some(kind) => Some((description, kind)),
                None => {
                    self.undecidable_unions += 1;
                    None
                }
            };
        }
        let properties = schema.get("properties").and_then(Value::as_object)?;
        if properties.is_empty() || !matches!(single_type(schema), Some("object") | None) {
            return None;
        }
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut field_names = BTreeSet::new();
        let mut fields = Vec::new();
        for (wire, property) in properties {
            let property = arena.inline_root(property.clone());
            let base = naming::field_name(wire);
            let mut rust = base.clone();
            let mut n = 2;
            while !field_names.insert(rust.clone()) {
                rust = format!("{base}_{n}");
                n += 1;
            }
            let property_ref = &properties[wire];
            let ty = self.type_of(
                arena,
                if arena.target(property_ref).is_some() {
                    property_ref
                } else {
                    &property
                },
                &format!("{hint}_{wire}"),
                depth + 1,
            );
            fields.push(FieldIr {
                wire: wire.clone(),
                rust,
                ty,
                required: required.contains(&wire.as_str()),
                nullable: crate::schema::is_nullable(&property),
                boxed: false,
            });
        }
        // JSON Schema allows unknown fields unless told otherwise, but most specs leave it
        // unsaid; an explicit `additionalProperties` (other than `false`) keeps them.
        let open = matches!(
            schema.get("additionalProperties"),
            Some(Value::Bool(true) | Value::Object(_))
        );
        Some((description, TypeKind::Struct { fields, open }))
    }

    fn union(
        &mut self,
        arena: &SchemaArena<'_>,
        schema: &Value,
        variants: &[Value],
        hint: &str,
        depth: usize,
    ) -> Option<TypeKind> {
        let resolved: Vec<Value> = variants
            .iter()
            .map(|v| arena.inline_root(v.clone()))
            .collect();
        let kinds: Vec<Option<&str>> = resolved.iter().map(json_kind_of).collect();
        let distinct: BTreeSet<&str> = kinds.iter().flatten().copied().collect();
        if kinds.iter().all(Option::is_some) && distinct.len() == kinds.len() {
            let mut out = Vec::new();
            for (variant, kind) in variants.iter().zip(kinds.iter().flatten()) {
                let ty = self.type_of(arena, variant, &format!("{hint}_{kind}"), depth + 1);
                out.push(VariantIr {
                    name: kind.to_upper_camel_case(),
                    ty,
                    matches: VariantMatch::Kind((*kind).to_owned()),
                    boxed: false,
                });
            }
            return Some(TypeKind::Union { variants: out });
        }
        // Objects told apart by one property with a fixed value (a discriminator).
        let property = schema
            .pointer("/discriminator/propertyName")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| common_tag(&resolved))?;
        let tags: Vec<String> = resolved
            .iter()
            .map(|v| tag_value(v, &property))
            .collect::<Option<_>>()?;
        if tags.iter().collect::<BTreeSet<_>>().len() != tags.len() {
            return None;
        }
        let mut out = Vec::new();
        let mut names = BTreeSet::new();
        for (variant, tag) in variants.iter().zip(&tags) {
            let ty = self.type_of(arena, variant, &format!("{hint}_{tag}"), depth + 1);
            let mut name = tag.to_upper_camel_case();
            name.retain(|c| c.is_ascii_alphanumeric());
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                name = format!("V{name}");
            }
            while !names.insert(name.clone()) {
                name.push('_');
            }
            out.push(VariantIr {
                name,
                ty,
                matches: VariantMatch::Tag {
                    property: property.clone(),
                    value: tag.clone(),
                },
                boxed: false,
            });
        }
        Some(TypeKind::Union { variants: out })
    }

    /// Marks struct fields that must be boxed: those whose type can reach back to the struct
    /// without going through a `Vec` (which is already indirect).
    pub fn box_cycles(&mut self) {
        let direct = |ty: &FieldType| match ty {
            FieldType::Named(id) => Some(id.0),
            _ => None,
        };
        let edges: Vec<Vec<usize>> = self
            .types
            .iter()
            .map(|t| match &t.kind {
                TypeKind::Struct { fields, .. } => {
                    fields.iter().filter_map(|f| direct(&f.ty)).collect()
                }
                TypeKind::Union { variants } => {
                    variants.iter().filter_map(|v| direct(&v.ty)).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        let reaches = |from: usize, to: usize| {
            let mut seen = vec![false; edges.len()];
            let mut stack = vec![from];
            while let Some(next) = stack.pop() {
                if next == to {
                    return true;
                }
                if std::mem::replace(&mut seen[next], true) {
                    continue;
                }
                stack.extend(edges[next].iter().copied());
            }
            false
        };
        let mut boxed = Vec::new();
        for (id, outgoing) in edges.iter().enumerate() {
            for (position, target) in outgoing.iter().enumerate() {
                if reaches(*target, id) {
                    boxed.push((id, position));
                }
            }
        }
        for (id, position) in boxed {
            match &mut self.types[id].kind {
                TypeKind::Struct { fields, .. } => {
                    if let Some(field) = fields
                        .iter_mut()
                        .filter(|f| direct(&f.ty).is_some())
                        .nth(position)
                    {
                        field.boxed = true;
                    }
                }
                TypeKind::Union { variants } => {
                    if let Some(variant) = variants
                        .iter_mut()
                        .filter(|v| direct(&v.ty).is_some())
                        .nth(position)
                    {
                        variant.boxed = true;
                    }
                }
                _ => {}
            }
        }
    }
}

/// The one non-null type of a schema, if it has exactly one.
fn single_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(types)) => {
            let mut non_null = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null");
            match (non_null.next(), non_null.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
        None if schema.get("properties").is_some() => Some("object"),
        _ => None,
    }
}

/// String enum values (a `null` member is dropped), when the schema is a string enum.
fn string_enum(schema: &Value) -> Option<Vec<String>> {
    if single_type(schema) != Some("string") {
        return None;
    }
    let mut strings: Vec<String> = Vec::new();
    for value in schema
        .get("enum")?
        .as_array()?
        .iter()
        .filter(|v| !v.is_null())
    {
        let text = value.as_str()?.to_owned();
        // Specs do repeat enum values; one variant each.
        if !strings.contains(&text) {
            strings.push(text);
        }
    }
    (!strings.is_empty()).then_some(strings)
}

/// The non-null variants of a `oneOf`/`anyOf` (an `anyOf` with `null` is how 3.0 `nullable`
/// lands on a schema without a type).
fn union_variants(schema: &Value) -> Vec<Value> {
    ["oneOf", "anyOf"]
        .iter()
        .filter_map(|key| schema.get(*key)?.as_array())
        .flatten()
        .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
        .cloned()
        .collect()
}

fn json_kind_of(schema: &Value) -> Option<&'static str> {
    match single_type(schema)? {
        "string" => Some("string"),
        "integer" => Some("integer"),
        "number" => Some("number"),
        "boolean" => Some("boolean"),
        "array" => Some("array"),
        "object" => Some("object"),
        _ => None,
    }
}

/// A property every variant declares with one fixed value.
fn common_tag(variants: &[Value]) -> Option<String> {
    let first = variants.first()?.get("properties")?.as_object()?;
    first
        .keys()
        .find(|name| variants.iter().all(|v| tag_value(v, name).is_some()))
        .cloned()
}

fn tag_value(variant: &Value, property: &str) -> Option<String> {
    let schema = variant.get("properties")?.get(property)?;
    if let Some(value) = schema.get("const").and_then(Value::as_str) {
        return Some(value.to_owned());
    }
    match schema.get("enum")?.as_array()?.as_slice() {
        [Value::String(only)] => Some(only.clone()),
        _ => None,
    }
}
