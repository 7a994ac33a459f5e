//! Our entry in a client's config text, in the client's own format: JSON (Claude Desktop,
//! Claude Code, Cursor, Windsurf), JSON with comments (VS Code, Gemini CLI) and TOML (Codex).
//! Edits keep everything else of the person's file as it was — other entries, key order,
//! indentation and comments — by editing the parsed syntax tree, never by re-printing a value.

use jsonc_parser::cst::{CstInputValue, CstRootNode};
use jsonc_parser::ParseOptions;
use serde_json::Value;

/// How a client's config file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Strict JSON: servers under `key`.
    Json { key: &'static str },
    /// JSON with comments and trailing commas: servers under `key`.
    Jsonc { key: &'static str },
    /// TOML: servers are the tables `[<key>.<name>]`.
    Toml { key: &'static str },
}

/// Why a config text could not be edited (the file is then left untouched).
#[derive(Debug, PartialEq)]
pub enum FormatError {
    /// The text is not valid in the client's format.
    Invalid(String),
    /// Valid, but not the shape the client reads (e.g. servers that are not an object).
    Shape(String),
}

impl Format {
    /// The format's name in messages: "JSON", "JSON with comments", "TOML".
    pub fn label(self) -> &'static str {
        match self {
            Format::Json { .. } => "JSON",
            Format::Jsonc { .. } => "JSON (with comments)",
            Format::Toml { .. } => "TOML",
        }
    }

    /// The text of a new, empty config file.
    fn empty(self) -> &'static str {
        match self {
            Format::Json { .. } | Format::Jsonc { .. } => "{}\n",
            Format::Toml { .. } => "",
        }
    }

    /// Our entry (`name`) as it is now in `text`, if any.
    pub fn entry(self, text: &str, name: &str) -> Result<Option<Value>, FormatError> {
        match self {
            Format::Json { key } | Format::Jsonc { key } => {
                let root = self.parse_json(text)?;
                let value = root.to_serde_value().unwrap_or(Value::Null);
                let servers = match value.get(key) {
                    None => return Ok(None),
                    Some(Value::Object(servers)) => servers,
                    Some(_) => return Err(not_an_object(key)),
                };
                Ok(servers.get(name).cloned())
            }
            Format::Toml { key } => {
                let doc = parse_toml(text)?;
                let Some(servers) = doc.get(key) else {
                    return Ok(None);
                };
                let servers = servers.as_table_like().ok_or_else(|| not_a_table(key))?;
                Ok(servers.get(name).map(toml_to_json))
            }
        }
    }

    /// `text` with our entry set to `entry` (added, or replacing the one there).
    pub fn set(self, text: &str, name: &str, entry: &Value) -> Result<String, FormatError> {
        match self {
            Format::Json { key } | Format::Jsonc { key } => {
                let root = self.parse_json(text)?;
                let object = match root.value() {
                    None => root.object_value_or_set(),
                    Some(_) => root.object_value().ok_or_else(|| {
                        FormatError::Shape("the top level is not a JSON object".into())
                    })?,
                };
                let servers = object
                    .object_value_or_create(key)
                    .ok_or_else(|| not_an_object(key))?;
                match servers.get(name) {
                    Some(prop) => prop.set_value(to_cst(entry)),
                    None => {
                        servers.append(name, to_cst(entry));
                    }
                }
                Ok(ensure_newline(root.to_string()))
            }
            Format::Toml { key } => {
                let mut doc = parse_toml(text)?;
                let servers = doc
                    .entry(key)
                    .or_insert_with(|| {
                        let mut t = toml_edit::Table::new();
                        t.set_implicit(true);
                        toml_edit::Item::Table(t)
                    })
                    .as_table_mut()
                    .ok_or_else(|| not_a_table(key))?;
                servers.insert(name, json_to_toml_table(entry));
                Ok(doc.to_string())
            }
        }
    }

    /// `text` without our entry (unchanged when there is none).
    pub fn remove(self, text: &str, name: &str) -> Result<String, FormatError> {
        match self {
            Format::Json { key } | Format::Jsonc { key } => {
                let root = self.parse_json(text)?;
                if let Some(prop) = root
                    .object_value()
                    .and_then(|o| o.object_value(key))
                    .and_then(|servers| servers.get(name))
                {
                    prop.remove();
                }
                Ok(ensure_newline(root.to_string()))
            }
            Format::Toml { key } => {
                let mut doc = parse_toml(text)?;
                if let Some(servers) = doc.get_mut(key).and_then(|s| s.as_table_like_mut()) {
                    servers.remove(name);
                }
                Ok(doc.to_string())
            }
        }
    }

    /// Our entry alone, as the client's format writes it (for `connect --print`).
    pub fn snippet(self, name: &str, entry: &Value) -> String {
        self.set(self.empty(), name, entry)
            .expect("an empty file takes an entry")
    }

    fn parse_json(self, text: &str) -> Result<CstRootNode, FormatError> {
        let text = if text.trim().is_empty() {
            self.empty()
        } else {
            text
        };
        let jsonc = matches!(self, Format::Jsonc { .. });
        if !jsonc {
            // Strict JSON first: a comment would make the client itself fail to read the file.
            serde_json::from_str::<serde::de::IgnoredAny>(text)
                .map_err(|e| FormatError::Invalid(e.to_string()))?;
        }
        let options = ParseOptions {
            allow_comments: jsonc,
            allow_trailing_commas: jsonc,
            allow_loose_object_property_names: false,
            allow_missing_commas: false,
            allow_single_quoted_strings: false,
            allow_hexadecimal_numbers: false,
            ..ParseOptions::default()
        };
        CstRootNode::parse(text, &options).map_err(|e| FormatError::Invalid(e.to_string()))
    }
}

fn not_an_object(key: &str) -> FormatError {
    FormatError::Shape(format!("\"{key}\" is not a JSON object"))
}

fn not_a_table(key: &str) -> FormatError {
    FormatError::Shape(format!("`{key}` is not a TOML table"))
}

fn ensure_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn parse_toml(text: &str) -> Result<toml_edit::DocumentMut, FormatError> {
    text.parse::<toml_edit::DocumentMut>()
        .map_err(|e| FormatError::Invalid(e.to_string().trim().to_owned()))
}

/// A JSON value as the syntax tree's input.
fn to_cst(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(to_cst).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), to_cst(v))).collect())
        }
    }
}

/// Our entry (an object of strings, arrays of strings and tables) as a TOML table.
fn json_to_toml_table(entry: &Value) -> toml_edit::Item {
    let mut table = toml_edit::Table::new();
    if let Value::Object(map) = entry {
        for (k, v) in map {
            if let Some(v) = json_to_toml_value(v) {
                table.insert(k, toml_edit::Item::Value(v));
            }
        }
    }
    toml_edit::Item::Table(table)
}

fn json_to_toml_value(value: &Value) -> Option<toml_edit::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => {
            toml_edit::Value::Array(items.iter().filter_map(json_to_toml_value).collect())
        }
        Value::Object(map) => {
            let mut inline = toml_edit::InlineTable::new();
            for (k, v) in map {
                if let Some(v) = json_to_toml_value(v) {
                    inline.insert(k, v);
                }
            }
            toml_edit::Value::InlineTable(inline)
        }
    })
}

/// A TOML item as JSON (to compare our entry with what the file says).
fn toml_to_json(item: &toml_edit::Item) -> Value {
    match item {
        toml_edit::Item::Value(v) => toml_value_to_json(v),
        toml_edit::Item::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), toml_to_json(v)))
                .collect(),
        ),
        toml_edit::Item::ArrayOfTables(a) => Value::Array(
            a.iter()
                .map(|t| toml_to_json(&toml_edit::Item::Table(t.clone())))
                .collect(),
        ),
        toml_edit::Item::None => Value::Null,
    }
}

fn toml_value_to_json(value: &toml_edit::Value) -> Value {
    match value {
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Value::from(*i.value()),
        toml_edit::Value::Float(f) => Value::from(*f.value()),
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => Value::String(d.value().to_string()),
        toml_edit::Value::Array(a) => Value::Array(a.iter().map(toml_value_to_json).collect()),
        toml_edit::Value::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_owned(), toml_value_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> Value {
        json!({"command": "/opt/coda-mcp", "args": ["stdio"]})
    }

    #[test]
    fn jsonc_keeps_comments_trailing_commas_and_other_servers() {
        let f = Format::Jsonc { key: "servers" };
        let text = "// my MCP servers\n{\n  \"servers\": {\n    // the GitHub one\n    \"github\": {\"type\": \"http\", \"url\": \"https://x\"},\n  },\n  \"inputs\": [],\n}\n";
        let written = f.set(text, "coda", &entry()).unwrap();
        assert!(
            written.contains("// my MCP servers") && written.contains("// the GitHub one"),
            "{written}"
        );
        assert_eq!(f.entry(&written, "coda").unwrap(), Some(entry()));
        assert_eq!(
            f.entry(&written, "github").unwrap().unwrap()["url"],
            "https://x"
        );
        let removed = f.remove(&written, "coda").unwrap();
        assert_eq!(f.entry(&removed, "coda").unwrap(), None);
        assert!(removed.contains("// the GitHub one") && removed.contains("github"));
    }

    #[test]
    fn strict_json_refuses_comments_and_keeps_key_order() {
        let f = Format::Json { key: "mcpServers" };
        assert!(matches!(
            f.set("// no\n{}", "coda", &entry()),
            Err(FormatError::Invalid(_))
        ));
        assert!(matches!(
            f.set("{\"mcpServers\": {", "coda", &entry()),
            Err(FormatError::Invalid(_))
        ));
        assert_eq!(
            f.set("{\"mcpServers\": []}", "coda", &entry()),
            Err(FormatError::Shape(
                "\"mcpServers\" is not a JSON object".into()
            ))
        );
        assert!(matches!(
            f.set("[1]", "coda", &entry()),
            Err(FormatError::Shape(_))
        ));
        let written = f
            .set(
                "{\"zeta\": 1, \"mcpServers\": {\"a\": {}}, \"alpha\": 2}",
                "coda",
                &entry(),
            )
            .unwrap();
        let zeta = written.find("zeta").unwrap();
        let alpha = written.find("alpha").unwrap();
        assert!(zeta < alpha, "the person's key order is kept: {written}");
        let parsed: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(parsed["mcpServers"]["coda"], entry());
        assert_eq!(parsed["mcpServers"]["a"], json!({}));
        // An empty file or a missing one is a new config.
        let fresh: Value = serde_json::from_str(&f.set("", "coda", &entry()).unwrap()).unwrap();
        assert_eq!(fresh, json!({"mcpServers": {"coda": entry()}}));
    }

    #[test]
    fn toml_keeps_comments_and_other_tables() {
        let f = Format::Toml { key: "mcp_servers" };
        let text = "# Codex settings\nmodel = \"o4\"\n\n[mcp_servers.files]\ncommand = \"npx\" # the files server\nargs = [\"fs\"]\n";
        let written = f.set(text, "coda", &entry()).unwrap();
        assert!(
            written.contains("# Codex settings") && written.contains("# the files server"),
            "{written}"
        );
        assert!(written.contains("[mcp_servers.coda]"), "{written}");
        assert_eq!(f.entry(&written, "coda").unwrap(), Some(entry()));
        let parsed: toml_edit::DocumentMut = written.parse().unwrap();
        assert_eq!(parsed["model"].as_str(), Some("o4"));
        let removed = f.remove(&written, "coda").unwrap();
        assert_eq!(f.entry(&removed, "coda").unwrap(), None);
        assert!(removed.contains("[mcp_servers.files]"));
        assert!(matches!(
            f.set("model = ", "coda", &entry()),
            Err(FormatError::Invalid(_))
        ));
        assert!(matches!(
            f.set("mcp_servers = 3", "coda", &entry()),
            Err(FormatError::Shape(_))
        ));
    }

    #[test]
    fn snippets_are_the_entry_alone() {
        let toml = Format::Toml { key: "mcp_servers" }.snippet("coda", &entry());
        assert_eq!(
            toml,
            "[mcp_servers.coda]\ncommand = \"/opt/coda-mcp\"\nargs = [\"stdio\"]\n"
        );
        let json: Value =
            serde_json::from_str(&Format::Json { key: "mcpServers" }.snippet("coda", &entry()))
                .unwrap();
        assert_eq!(json, json!({"mcpServers": {"coda": entry()}}));
    }
}
