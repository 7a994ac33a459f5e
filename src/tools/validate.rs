//! A small JSON Schema checker for tool arguments: the subset our catalogue uses (type, anyOf,
//! enum,
//! minimum/maximum, minLength, minItems, properties, required, additionalProperties, items).
//! It exists so that a wrong argument gets an error that names the argument and the problem.

use serde_json::Value;

/// Whether `value` is of the JSON Schema type `ty` (unknown type names accept anything).
fn is_type(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// Checks `value` against `schema`; the error names the offending path (e.g. `row.cells[0].column`).
pub fn validate(value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let at = |p: &str| {
        if p.is_empty() {
            "arguments".to_owned()
        } else {
            format!("'{p}'")
        }
    };
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        if !is_type(value, ty) {
            return Err(format!(
                "{} must be {} {ty}, got {}",
                at(path),
                article(ty),
                describe(value)
            ));
        }
    }
    // anyOf: the value must fit one of the branches (Coda's cell Value: text, number,
    // boolean or a list of them).
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        // A union told apart by its `type` field (Coda's principals): the branch for this
        // value's type says what is wrong, e.g. "missing required argument 'principal.email'".
        let chosen = value.get("type").and_then(|t| {
            branches.iter().find(|b| {
                b.pointer("/properties/type/enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.contains(t))
            })
        });
        if let Some(branch) = chosen {
            validate(value, branch, path)?;
        } else if !branches.iter().any(|b| validate(value, b, path).is_ok()) {
            let kinds: Vec<String> = branches
                .iter()
                .map(|b| match b.get("type").and_then(Value::as_str) {
                    Some(ty) => format!("{} {ty}", article(ty)),
                    None => "a listed shape".to_owned(),
                })
                .collect();
            return Err(format!(
                "{} must be {}, got {}",
                at(path),
                kinds.join(" or "),
                describe(value)
            ));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            return Err(format!(
                "{} must be one of {}, got {value}",
                at(path),
                list.join(", ")
            ));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            return Err(format!("{} must be at least {min}, got {n}", at(path)));
        }
    }
    if let (Some(max), Some(n)) = (
        schema.get("maximum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n > max {
            return Err(format!("{} must be at most {max}, got {n}", at(path)));
        }
    }
    if let (Some(min), Some(s)) = (
        schema.get("minLength").and_then(Value::as_u64),
        value.as_str(),
    ) {
        if (s.chars().count() as u64) < min {
            return Err(format!("{} must not be empty", at(path)));
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                return Err(format!("{} needs at least {min} item(s)", at(path)));
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item, item_schema, &format!("{path}[{i}]"))?;
            }
        }
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        let known = || {
            props
                .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        };
        // Names the tool does not take, each with the one it probably meant (`doc_id` →
        // `docId`), so a misnamed argument is not reported only as a missing one.
        let unknown: Vec<String> = obj
            .keys()
            .filter(|k| closed && props.and_then(|p| p.get(k.as_str())).is_none())
            .map(|k| match props.and_then(|p| meant(k, p)) {
                Some(m) => format!("'{}' (did you mean '{m}'?)", join(path, k)),
                None => format!("'{}'", join(path, k)),
            })
            .collect();
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = req.as_str() {
                if !obj.contains_key(name) {
                    let mut message = format!("missing required argument '{}'", join(path, name));
                    if !unknown.is_empty() {
                        message.push_str(&format!(
                            "; unknown argument {}; expected one of: {}",
                            unknown.join(", "),
                            known()
                        ));
                    }
                    return Err(message);
                }
            }
        }
        if let Some(first) = unknown.first() {
            return Err(format!(
                "unknown argument {first}; expected one of: {}",
                known()
            ));
        }
        for (key, v) in obj {
            if let Some(sub) = props.and_then(|p| p.get(key)) {
                validate(v, sub, &join(path, key))?;
            }
        }
    }
    Ok(())
}

/// The property `key` was probably meant as: the same letters in another case or with
/// `_`/`-` (`doc_id`, `DocID` → `docId`).
fn meant<'a>(key: &str, props: &'a serde_json::Map<String, Value>) -> Option<&'a str> {
    let plain = |s: &str| {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    let wanted = plain(key);
    props
        .keys()
        .find(|p| plain(p) == wanted)
        .map(String::as_str)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn article(ty: &str) -> &'static str {
    if ty.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => format!("the number {v}"),
        Value::String(s) => format!("the string {:?}", s.chars().take(40).collect::<String>()),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misnamed_argument_is_named_beside_the_missing_one() {
        let schema = serde_json::json!({"type": "object",
            "properties": {"docId": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["docId"], "additionalProperties": false});
        let err = validate(&serde_json::json!({"doc_id": "AbC"}), &schema, "").unwrap_err();
        assert!(err.contains("missing required argument 'docId'"), "{err}");
        assert!(err.contains("'doc_id' (did you mean 'docId'?)"), "{err}");
        let err = validate(
            &serde_json::json!({"docId": "AbC", "LIMIT": 3}),
            &schema,
            "",
        )
        .unwrap_err();
        assert!(
            err.contains("unknown argument 'LIMIT' (did you mean 'limit'?)"),
            "{err}"
        );
        let err = validate(
            &serde_json::json!({"docId": "AbC", "colour": 1}),
            &schema,
            "",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "unknown argument 'colour'; expected one of: docId, limit"
        );
    }
    use serde_json::json;

    fn schema() -> Value {
        json!({"type":"object","additionalProperties":false,"required":["docId"],
            "properties":{"docId":{"type":"string","minLength":1},"limit":{"type":"integer","minimum":1},
            "valueFormat":{"type":"string","enum":["simple","rich"]},
            "row":{"type":"object","required":["cells"],"properties":{"cells":{"type":"array","items":{"type":"object","required":["column"],"properties":{"column":{"type":"string"}}}}}}}})
    }

    #[test]
    fn names_the_problem() {
        let s = schema();
        assert!(validate(&json!({"docId":"x"}), &s, "").is_ok());
        assert_eq!(
            validate(&json!({}), &s, "").unwrap_err(),
            "missing required argument 'docId'"
        );
        assert!(validate(&json!({"docId": 5}), &s, "")
            .unwrap_err()
            .contains("'docId' must be a string, got the number 5"));
        assert!(validate(&json!({"docId":"x","limit":0}), &s, "")
            .unwrap_err()
            .contains("at least 1"));
        assert!(validate(&json!({"docId":"x","limit":"3"}), &s, "")
            .unwrap_err()
            .contains("'limit' must be an integer"));
        assert!(
            validate(&json!({"docId":"x","valueFormat":"fancy"}), &s, "")
                .unwrap_err()
                .contains("one of \"simple\", \"rich\"")
        );
        assert!(validate(&json!({"docId":"x","bogus":1}), &s, "")
            .unwrap_err()
            .contains("unknown argument 'bogus'"));
        let err =
            validate(&json!({"docId":"x","row":{"cells":[{"value":1}]}}), &s, "").unwrap_err();
        assert_eq!(err, "missing required argument 'row.cells[0].column'");
    }

    #[test]
    fn any_of_takes_any_branch_and_names_them_all() {
        let scalar = json!({"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"}]});
        let s = json!({"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"},
            {"type":"array","items": scalar}]});
        for ok in [json!("x"), json!(2.5), json!(true), json!(["a", 1, false])] {
            assert!(validate(&ok, &s, "v").is_ok(), "{ok}");
        }
        assert_eq!(
            validate(&json!({"a": 1}), &s, "v").unwrap_err(),
            "'v' must be a string or a number or a boolean or an array, got an object"
        );
        assert!(validate(&json!(null), &s, "v").is_err());
        assert!(
            validate(&json!([{"a": 1}]), &s, "v").is_err(),
            "items are checked too"
        );
    }
}
