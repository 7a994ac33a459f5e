//! Coda's published OpenAPI spec (v1.4.17, plus the newer operations of
//! `tests/data/coda-newer-operations.json`) as a checker of HTTP exchanges: which operation a
//! request is, whether the request follows it (path, query parameters and their bounds, body)
//! and whether the answer does (a status the operation declares, the body against its schema).
//!
//! Schemas are checked by the `jsonschema` crate (draft 2020-12, formats on) after three
//! loosenings that OpenAPI 3.0 and this spec need, and nothing else:
//! - `nullable: true` becomes a union with `null` (OpenAPI 3.0's spelling of it);
//! - closed objects are opened: the spec closes most with `additionalProperties: false` and
//!   then combines them with `allOf`, which no instance can satisfy, so extra fields are not
//!   counted (missing and mistyped ones are);
//! - `oneOf` becomes `anyOf`: once opened, its branches overlap; where the spec names a
//!   discriminator, the branch its mapping names must match.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// The spec, loaded once per test binary.
pub struct Spec {
    operations: Vec<Operation>,
    /// `{"components": …}`, converted: the root every schema's `$ref`s resolve in.
    components: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    /// The schema of the spec's `UnauthorizedError`.
    unauthorized: Option<Value>,
}

/// One operation of the spec.
pub struct Operation {
    /// Its `operationId`.
    pub id: String,
    /// Upper-case HTTP method.
    pub method: String,
    segments: Vec<Segment>,
    params: Vec<Param>,
    /// `(required, schema)` when the operation takes a body.
    body: Option<(bool, Option<Value>)>,
    /// Declared statuses (and `default`), each with its JSON schema if it has one.
    responses: BTreeMap<String, Option<Value>>,
}

enum Segment {
    Literal(String),
    Param(String),
}

struct Param {
    name: String,
    location: String,
    required: bool,
    schema: Value,
}

/// One request to Coda and its answer, as they crossed the wire.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// The path below the API's base (`/docs/…`), still percent-encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub request_type: Option<String>,
    pub request_body: Vec<u8>,
    pub status: u16,
    pub response_type: Option<String>,
    pub response_body: Vec<u8>,
}

/// Follows `$ref`s to components (parameters, request bodies, responses).
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => deref(
            doc,
            doc.pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("the spec has no {r}")),
        ),
        None => v,
    }
}

/// OpenAPI 3.0 schema → JSON Schema 2020-12, with the loosenings of the module's doc.
fn convert(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, val) in map {
                match (k.as_str(), val) {
                    ("nullable", Value::Bool(_)) | ("additionalProperties", Value::Bool(false)) => {
                    }
                    ("discriminator", _) | ("example", _) => {}
                    ("oneOf", _) => {
                        out.insert("anyOf".into(), convert(val));
                    }
                    _ => {
                        out.insert(k.clone(), convert(val));
                    }
                }
            }
            // A discriminated union: the branch its mapping names must match (the others
            // overlap once opened), besides one of them at all.
            let discriminator = map.get("discriminator");
            if let (Some(prop), Some(mapping)) = (
                discriminator
                    .and_then(|d| d.get("propertyName"))
                    .and_then(Value::as_str),
                discriminator
                    .and_then(|d| d.get("mapping"))
                    .and_then(Value::as_object),
            ) {
                let mut rules: Vec<Value> = mapping
                    .iter()
                    .map(|(value, target)| {
                        json!({"if": {"properties": {prop: {"const": value}}, "required": [prop]},
                            "then": {"$ref": target}})
                    })
                    .collect();
                if let Some(Value::Array(more)) = out.remove("allOf") {
                    rules.extend(more);
                }
                out.insert("allOf".into(), Value::Array(rules));
            }
            let converted = Value::Object(out);
            if map.get("nullable") == Some(&Value::Bool(true)) {
                json!({"anyOf": [converted, {"type": "null"}]})
            } else {
                converted
            }
        }
        other => other.clone(),
    }
}

/// Merges `patch` into `target` (objects key by key, anything else replaced).
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

impl Spec {
    /// The spec and the newer operations, from `tests/data`.
    pub fn load() -> Spec {
        let mut doc: Value =
            serde_yaml_ng::from_str(include_str!("../../data/coda-openapi-v1.4.17.yml"))
                .expect("Coda's spec parses");
        let newer: Value =
            serde_json::from_str(include_str!("../../data/coda-newer-operations.json"))
                .expect("the newer operations parse");
        for (name, patch) in newer["amend"].as_object().expect("amend") {
            let schema = doc["components"]["schemas"]
                .get_mut(name)
                .unwrap_or_else(|| panic!("the spec has no schema {name}"));
            merge(schema, patch);
        }
        for (name, schema) in newer["schemas"].as_object().expect("schemas") {
            doc["components"]["schemas"][name] = schema.clone();
        }
        for (path, item) in newer["paths"].as_object().expect("paths") {
            doc["paths"][path] = item.clone();
        }
        let components = json!({"components": convert(&doc["components"])});
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            // The spec spells two custom-domain paths `/docs/${docId}/…`.
            let path = path.replace("${", "{");
            let shared: Vec<&Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(op) = item.get(method) else { continue };
                let own = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten();
                let mut params: Vec<Param> = Vec::new();
                for p in shared.iter().copied().chain(own) {
                    let p = deref(&doc, p);
                    let param = Param {
                        name: p["name"].as_str().expect("a parameter's name").to_owned(),
                        location: p["in"].as_str().expect("a parameter's place").to_owned(),
                        required: p["required"].as_bool().unwrap_or(false),
                        schema: convert(&p["schema"]),
                    };
                    // An operation's own parameter replaces the path's of the same name.
                    params.retain(|q| (&q.name, &q.location) != (&param.name, &param.location));
                    params.push(param);
                }
                let body = op.get("requestBody").map(|b| {
                    let b = deref(&doc, b);
                    (
                        b["required"].as_bool().unwrap_or(false),
                        b.pointer("/content/application~1json/schema").map(convert),
                    )
                });
                let responses = op["responses"]
                    .as_object()
                    .expect("responses")
                    .iter()
                    .map(|(status, r)| {
                        let r = deref(&doc, r);
                        (
                            status.clone(),
                            r.pointer("/content/application~1json/schema").map(convert),
                        )
                    })
                    .collect();
                let id = op["operationId"].as_str().expect("operationId").to_owned();
                operations.push(Operation {
                    id,
                    method: method.to_ascii_uppercase(),
                    segments: path
                        .trim_matches('/')
                        .split('/')
                        .map(
                            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                                Some(name) => Segment::Param(name.to_owned()),
                                None => Segment::Literal(s.to_owned()),
                            },
                        )
                        .collect(),
                    params,
                    body,
                    responses,
                });
            }
        }
        let unauthorized = doc
            .pointer("/components/responses/UnauthorizedError/content/application~1json/schema")
            .map(convert);
        Spec {
            unauthorized,
            operations,
            components,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// Every operation's id.
    pub fn operation_ids(&self) -> impl Iterator<Item = &str> {
        self.operations.iter().map(|o| o.id.as_str())
    }

    /// The operation a request is: the matching template with the most literal segments.
    pub fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
        self.operations
            .iter()
            .filter(|o| o.method == method && o.segments.len() == segments.len())
            .filter(|o| {
                o.segments.iter().zip(&segments).all(|(t, s)| match t {
                    Segment::Literal(l) => l == s,
                    Segment::Param(_) => !s.is_empty(),
                })
            })
            .max_by_key(|o| {
                o.segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count()
            })
    }

    fn validator(&self, key: String, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap();
        cache
            .entry(key)
            .or_insert_with(|| {
                let mut root = self.components.clone();
                root["allOf"] = json!([schema]);
                Arc::new(
                    jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .should_validate_formats(true)
                        .build(&root)
                        .unwrap_or_else(|e| panic!("a schema of the spec compiles: {e}")),
                )
            })
            .clone()
    }

    /// What in `value` breaks `schema` (at most five findings, each with its place).
    fn violations(&self, key: String, schema: &Value, value: &Value, what: &str) -> Vec<String> {
        self.validator(key, schema)
            .iter_errors(value)
            .take(5)
            .map(|e| format!("{what} {}: {e}", e.instance_path()))
            .collect()
    }

    /// What in the request breaks its operation.
    pub fn check_request(&self, op: &Operation, ex: &Exchange) -> Vec<String> {
        let mut found = Vec::new();
        let segments: Vec<String> = ex.path.trim_matches('/').split('/').map(decode).collect();
        for param in &op.params {
            let values: Vec<&str> = match param.location.as_str() {
                "path" => op
                    .segments
                    .iter()
                    .zip(&segments)
                    .filter(|(t, _)| matches!(t, Segment::Param(n) if *n == param.name))
                    .map(|(_, s)| s.as_str())
                    .collect(),
                "query" => ex
                    .query
                    .iter()
                    .filter(|(k, _)| *k == param.name)
                    .map(|(_, v)| v.as_str())
                    .collect(),
                _ => continue,
            };
            if values.is_empty() {
                if param.required {
                    found.push(format!(
                        "{} parameter {} is missing",
                        param.location, param.name
                    ));
                }
                continue;
            }
            let value = typed(&param.schema, &values, &self.components);
            found.extend(self.violations(
                format!("{} param {} {}", op.id, param.location, param.name),
                &param.schema,
                &value,
                &format!("{} parameter {}={value}", param.location, param.name),
            ));
        }
        for (name, _) in &ex.query {
            if !op
                .params
                .iter()
                .any(|p| p.location == "query" && p.name == *name)
            {
                found.push(format!("query parameter {name} is not declared"));
            }
        }
        match (&op.body, ex.request_body.is_empty()) {
            (None, false) => found.push("a body the operation does not take".into()),
            (Some((true, _)), true) => found.push("the required body is missing".into()),
            (Some((_, Some(schema))), false) => {
                if !ex
                    .request_type
                    .as_deref()
                    .is_some_and(|t| t.starts_with("application/json"))
                {
                    found.push(format!("body sent as {:?}", ex.request_type));
                }
                match serde_json::from_slice::<Value>(&ex.request_body) {
                    Ok(body) => found.extend(self.violations(
                        format!("{} body", op.id),
                        schema,
                        &body,
                        "body",
                    )),
                    Err(e) => found.push(format!("the body is not JSON: {e}")),
                }
            }
            _ => {}
        }
        found
    }

    /// What in the answer breaks its operation.
    pub fn check_response(&self, op: &Operation, ex: &Exchange) -> Vec<String> {
        let status = ex.status.to_string();
        let Some(schema) = op
            .responses
            .get(&status)
            .or_else(|| op.responses.get("default"))
            // The whole spec is under `security: Bearer`: any operation may answer a token it
            // refuses with 401, declared in its responses or not (several leave it out).
            .or_else(|| (ex.status == 401).then_some(&self.unauthorized))
        else {
            if ex.status >= 500 {
                // The spec declares no 5xx, yet Coda answers them (a 504 on a too-large row
                // page, a 503 now and then: shared/coda-api/README.md); the body must still
                // be Coda's error object.
                return match serde_json::from_slice::<Value>(&ex.response_body) {
                    Ok(body) => self.violations(
                        format!("{status} undeclared"),
                        &json!({"type": "object", "required": ["statusCode", "statusMessage", "message"],
                            "properties": {"statusCode": {"type": "integer", "const": ex.status},
                                "statusMessage": {"type": "string"}, "message": {"type": "string"}}}),
                        &body,
                        &format!("{status} body"),
                    ),
                    Err(e) => vec![format!("the {status} body is not JSON: {e}")],
                };
            }
            return vec![format!(
                "status {status} is not declared (declared: {})",
                op.responses.keys().cloned().collect::<Vec<_>>().join(", ")
            )];
        };
        let Some(schema) = schema else {
            return Vec::new();
        };
        if !ex
            .response_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json"))
        {
            return vec![format!("{status} answered as {:?}", ex.response_type)];
        }
        match serde_json::from_slice::<Value>(&ex.response_body) {
            Ok(body) => self.violations(
                format!("{} {status}", op.id),
                schema,
                &body,
                &format!("{status} body"),
            ),
            Err(e) => vec![format!("the {status} body is not JSON: {e}")],
        }
    }
}

/// A parameter's text as the JSON value its schema describes (`limit=5` is the integer 5;
/// a value that is not one stays a string, which the schema then refuses).
fn typed(schema: &Value, values: &[&str], root: &Value) -> Value {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => root.pointer(r.trim_start_matches('#')).unwrap_or(schema),
        None => schema,
    };
    let one = |item: &Value, text: &str| -> Value {
        match item.get("type").and_then(Value::as_str) {
            Some("integer") => text.parse::<i64>().map(Value::from).unwrap_or(json!(text)),
            Some("number") => text.parse::<f64>().map(Value::from).unwrap_or(json!(text)),
            Some("boolean") => match text {
                "true" => json!(true),
                "false" => json!(false),
                _ => json!(text),
            },
            _ => json!(text),
        }
    };
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        let item = schema.get("items").cloned().unwrap_or(json!({}));
        // Form style: repeated (`a=1&a=2`) or comma-separated (`a=1,2`).
        Value::Array(
            values
                .iter()
                .flat_map(|v| v.split(','))
                .map(|v| one(&item, v))
                .collect(),
        )
    } else {
        one(schema, values[0])
    }
}
