//! `response_fields`: only the named fields of a result. Paths are field names joined by dots;
//! a path through an array applies to each of its elements.

use serde_json::{Map, Value};

/// Parsed `response_fields` paths.
pub struct Selection {
    paths: Vec<Vec<String>>,
}

impl Selection {
    /// The selection of `paths` (dot-separated); `None` when there is none to make.
    pub fn new(paths: Option<&[String]>) -> Option<Self> {
        let paths: Vec<Vec<String>> = paths?
            .iter()
            .map(|path| path.split('.').map(str::to_owned).collect::<Vec<_>>())
            .filter(|path| path.iter().all(|segment| !segment.is_empty()))
            .collect();
        Some(Self { paths })
    }

    /// `value` with only the selected fields (an array: each element's).
    pub fn apply(&self, value: &Value) -> Value {
        let paths: Vec<&[String]> = self.paths.iter().map(Vec::as_slice).collect();
        select(value, &paths)
    }

    /// The paths that name nothing in any of `values`.
    pub fn unknown<'v>(&self, values: impl Iterator<Item = &'v Value> + Clone) -> Vec<String> {
        self.paths
            .iter()
            .filter(|path| !values.clone().any(|value| present(value, path)))
            .map(|path| path.join("."))
            .collect()
    }
}

fn select(value: &Value, paths: &[&[String]]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|item| select(item, paths)).collect()),
        Value::Object(members) => {
            let mut kept = Map::new();
            for (key, member) in members {
                let below: Vec<&[String]> = paths
                    .iter()
                    .filter(|path| path.first() == Some(key))
                    .map(|path| &path[1..])
                    .collect();
                if below.is_empty() {
                    continue;
                }
                let whole = below.iter().any(|rest| rest.is_empty());
                kept.insert(
                    key.clone(),
                    if whole {
                        member.clone()
                    } else {
                        select(member, &below)
                    },
                );
            }
            Value::Object(kept)
        }
        other => other.clone(),
    }
}

fn present(value: &Value, path: &[String]) -> bool {
    let Some((head, rest)) = path.split_first() else {
        return true;
    };
    match value {
        Value::Array(items) => items.iter().any(|item| present(item, path)),
        Value::Object(members) => members
            .get(head)
            .is_some_and(|member| present(member, rest)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_select_fields_through_arrays_and_unknown_ones_are_named() {
        let order = json!({
            "id": "ord_1",
            "customer": {"email": "ada@example.com", "name": "Ada"},
            "shipments": [{"tracking_code": "1Z", "carrier": "UPS"}, {"tracking_code": "2Z"}],
            "total": 12
        });
        let paths = [
            "customer.email",
            "shipments.tracking_code",
            "id",
            "nope.deeper",
        ]
        .map(str::to_owned);
        let selection = Selection::new(Some(&paths)).unwrap();
        assert_eq!(
            selection.apply(&order),
            json!({"id": "ord_1", "customer": {"email": "ada@example.com"}, "shipments": [{"tracking_code": "1Z"}, {"tracking_code": "2Z"}]})
        );
        assert_eq!(selection.unknown(std::iter::once(&order)), ["nope.deeper"]);
        let list = json!([order.clone(), {"id": "ord_2"}]);
        assert_eq!(selection.apply(&list)[1], json!({"id": "ord_2"}));
    }
}
