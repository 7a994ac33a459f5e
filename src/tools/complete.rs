//! Argument completion (`completion/complete`) for the prompts' arguments and the `coda://`
//! resource templates, from the workspace's real names: docs, then the tables, pages and
//! columns of the doc (and table) already chosen.

use std::collections::HashMap;

use serde_json::Value;

use super::exec::{list, path_of, ExecOptions, Run, ToolError};
use crate::coda::{CodaClient, CodaRequest, RateClass};

/// Most values one answer holds (MCP's limit).
pub const MAX_VALUES: usize = 100;

/// What is being completed: a prompt's argument or a resource template's variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A prompt, by name.
    Prompt(&'a str),
    /// A resource template, by its URI template.
    Template(&'a str),
}

/// The values a client may offer for `argument`, starting with (or containing) what was typed
/// so far; the doc, table already chosen come from `context`. Unknown targets and arguments
/// have none.
pub async fn values(
    client: &CodaClient,
    opts: &ExecOptions,
    target: Target<'_>,
    argument: &str,
    typed: &str,
    context: &HashMap<String, String>,
) -> Result<Vec<String>, ToolError> {
    let known = match target {
        Target::Prompt(name) => crate::prompts::get(name)
            .is_some_and(|p| p.arguments.iter().any(|a| a.name == argument)),
        Target::Template(uri) => {
            uri.starts_with("coda://docs/") && uri.contains(&format!("{{{argument}}}"))
        }
    };
    if !known {
        return Ok(Vec::new());
    }
    let mut run = Run::new(client, opts);
    let doc = context.get("docId").map(String::as_str);
    let table = context
        .get("tableIdOrName")
        .or_else(|| context.get("tableId"))
        .map(String::as_str);
    // (what to list, the key that is the value, the key matched besides it)
    let (req, value_key, also) = match (argument, doc, table) {
        ("docId", _, _) => {
            let mut req = CodaRequest {
                class: RateClass::ListDocs,
                ..CodaRequest::get("/docs")
            };
            if !typed.is_empty() {
                req = req.query("query", typed);
            }
            (req, "id", "name")
        }
        ("tableIdOrName", Some(doc), _) => (get(["docs", doc, "tables"])?, "name", "id"),
        ("tableId", Some(doc), _) => (get(["docs", doc, "tables"])?, "id", "name"),
        ("pageId", Some(doc), _) => (get(["docs", doc, "pages"])?, "id", "name"),
        ("keyColumn", Some(doc), Some(table)) => (
            get(["docs", doc, "tables", table, "columns"])?,
            "name",
            "id",
        ),
        _ => return Ok(Vec::new()),
    };
    let listing = list(&mut run, req, 200).await?;
    let typed = typed.to_lowercase();
    let matches = |v: &Value, key: &str| {
        v[key]
            .as_str()
            .is_some_and(|s| s.to_lowercase().contains(&typed))
    };
    let mut found: Vec<String> = listing["items"]
        .as_array()
        .into_iter()
        .flatten()
        // A doc found by Coda's own name search matches even when neither field contains it.
        .filter(|v| argument == "docId" || matches(v, value_key) || matches(v, also))
        .filter_map(|v| v[value_key].as_str().map(str::to_owned))
        .collect();
    // Those that start with what was typed first.
    found.sort_by_key(|v| !v.to_lowercase().starts_with(&typed));
    found.dedup();
    Ok(found)
}

fn get<const N: usize>(segments: [&str; N]) -> Result<CodaRequest, ToolError> {
    Ok(CodaRequest::get(path_of("argument", segments)?))
}
