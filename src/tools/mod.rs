//! The tool catalogue: every MCP tool is a row in a table — name, description, parameters,
//! annotations, the Coda operations it calls and how its arguments map onto the request.
//! [`exec`] turns a row plus arguments into Coda requests.

mod catalogue;
mod composite;
mod exec;
pub mod links;
mod params;
pub mod resources;
mod validate;

use std::sync::Arc;

use serde_json::{json, Map, Value};

pub use catalogue::CATALOGUE;
pub use exec::{run, ExecOptions, ToolError, ToolOutput};

/// Checks arguments against a tool's schema, naming the offending argument.
pub fn validate_arguments(
    args: &serde_json::Value,
    schema: &serde_json::Value,
) -> Result<(), String> {
    validate::validate(args, schema, "")
}

use crate::coda::RateClass;

/// Where an argument goes in the Coda request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// Substituted into the path template.
    Path,
    /// Sent as a query parameter.
    Query,
    /// A top-level field of the JSON body.
    Body,
    /// The whole JSON body (e.g. an automation's payload).
    WholeBody,
    /// Consumed by the server itself (`limit` across pages, `wait`).
    Local,
}

/// One tool argument.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Coda's own parameter name.
    pub name: &'static str,
    /// Where it goes.
    pub loc: Loc,
    /// Whether the tool requires it.
    pub required: bool,
    /// Its JSON Schema (with description), as JSON text.
    pub schema: &'static str,
}

/// What a tool does to Coda, which decides its MCP annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only.
    Read,
    /// Creates or changes data; `destructive` if it can overwrite or delete, `idempotent`
    /// if repeating it changes nothing more.
    Write { destructive: bool, idempotent: bool },
}

/// How the tool is carried out.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    /// One GET, result returned as is.
    Get {
        path: &'static str,
        class: RateClass,
    },
    /// A paginated GET: pages are followed until `limit` items or the end.
    List {
        path: &'static str,
        class: RateClass,
    },
    /// A write (POST/PUT/PATCH/DELETE), confirmed as `confirm` says when `wait`.
    Write {
        method: &'static str,
        path: &'static str,
        class: RateClass,
        confirm: Confirm,
    },
    /// `getTable` plus `listColumns`, so a model sees the columns it can read and write.
    TableWithColumns,
    /// `upsertRows` in batches that respect Coda's size limits, each waited for.
    UpsertRows,
    /// A page's text through `listPageContent`, or an export when that is unavailable.
    PageText,
    /// The IDs inside a Coda URL.
    ResolveLink,
    /// ChatGPT's `search`.
    Search,
    /// ChatGPT's `fetch`.
    Fetch,
}

/// How a write's effect is confirmed before the tool reports `completed: true`. Coda
/// answers most writes with 202 and a `requestId`, some with 200 (applied at once), and a
/// few with 202 and an empty body, which leaves nothing to poll but the resource itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Poll `getMutationStatus` with the answer's `requestId`; a 200 answer without one is
    /// already applied.
    MutationStatus,
    /// A 202 without `requestId`: GET the write's own path until it answers 404
    /// (`deleteDoc`, `deleteFolder`).
    Gone,
    /// A 202 without `requestId`: GET `path` (a template over the tool's arguments) until its
    /// `array` holds an entry whose `key` equals the argument of the same name
    /// (`addCustomDocDomain`).
    Listed {
        path: &'static str,
        array: &'static str,
        key: &'static str,
    },
    /// Nothing to confirm: the answer is the result (starting an export returns its id).
    Nothing,
}

/// A tool definition: one row of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct ToolDef {
    /// The MCP tool name.
    pub name: &'static str,
    /// A short human title.
    pub title: &'static str,
    /// What it does and when to use it, written for a model.
    pub description: &'static str,
    /// The Coda operationIds it calls.
    pub operations: &'static [&'static str],
    /// Read or write, for annotations and read-only mode.
    pub effect: Effect,
    /// Its arguments.
    pub params: &'static [Param],
    /// How it runs.
    pub call: Call,
}

impl ToolDef {
    /// The JSON Schema of the tool's input, built from its parameters.
    pub fn input_schema(&self) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in self.params {
            let schema: Value = serde_json::from_str(p.schema)
                .unwrap_or_else(|e| panic!("bad schema for {}.{}: {e}", self.name, p.name));
            props.insert(p.name.to_owned(), schema);
            if p.required {
                required.push(p.name);
            }
        }
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }

    /// Whether the tool only reads.
    pub fn is_read_only(&self) -> bool {
        self.effect == Effect::Read
    }

    /// The same write, confirmed another way (see [`Confirm`]).
    pub const fn confirmed_by(self, confirm: Confirm) -> ToolDef {
        match self.call {
            Call::Write {
                method,
                path,
                class,
                ..
            } => ToolDef {
                call: Call::Write {
                    method,
                    path,
                    class,
                    confirm,
                },
                ..self
            },
            _ => panic!("only writes are confirmed"),
        }
    }

    /// The Coda rate class of the tool's own request (`None` for composites, whose
    /// requests span several classes).
    pub fn rate_class(&self) -> Option<RateClass> {
        match self.call {
            Call::Get { class, .. } | Call::List { class, .. } | Call::Write { class, .. } => {
                Some(class)
            }
            _ => None,
        }
    }

    /// The tool as MCP describes it (`tools/list` entry).
    pub fn to_mcp_json(&self) -> Value {
        let (read_only, destructive, idempotent) = match self.effect {
            Effect::Read => (true, false, true),
            Effect::Write {
                destructive,
                idempotent,
            } => (false, destructive, idempotent),
        };
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema(),
            "annotations": {"title": self.title, "readOnlyHint": read_only, "destructiveHint": destructive,
                "idempotentHint": idempotent, "openWorldHint": true},
            "_meta": {"coda/operations": self.operations},
        })
    }
}

/// The catalogue as served: tool definitions plus their compiled schemas, built once.
#[derive(Debug, Clone)]
pub struct Catalogue {
    tools: Arc<Vec<(ToolDef, Value)>>,
}

impl Catalogue {
    /// The full catalogue, or only the read-only tools when `read_only`.
    pub fn new(read_only: bool) -> Self {
        let tools = CATALOGUE
            .iter()
            .filter(|t| !read_only || t.is_read_only())
            .map(|t| (*t, t.input_schema()))
            .collect();
        Catalogue {
            tools: Arc::new(tools),
        }
    }

    /// Looks a tool up by name.
    pub fn get(&self, name: &str) -> Option<(&ToolDef, &Value)> {
        self.tools
            .iter()
            .find(|(t, _)| t.name == name)
            .map(|(t, s)| (t, s))
    }

    /// All tools, in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = &ToolDef> {
        self.tools.iter().map(|(t, _)| t)
    }

    /// Tool names closest to `name`, for "did you mean" hints. A name is compared with each
    /// tool's name and with the snake-case form of the Coda operations it calls, so
    /// `coda_list_docs` suggests `coda_list_documents`.
    pub fn suggest(&self, name: &str) -> Vec<&'static str> {
        let needle = name.to_lowercase();
        let mut scored: Vec<(usize, &'static str)> = self
            .iter()
            .map(|t| {
                let by_ops = t
                    .operations
                    .iter()
                    .map(|op| strsim_distance(&needle, &format!("coda_{}", snake(op))));
                (
                    by_ops
                        .chain(std::iter::once(strsim_distance(&needle, t.name)))
                        .min()
                        .unwrap_or(usize::MAX),
                    t.name,
                )
            })
            .collect();
        scored.sort();
        scored
            .into_iter()
            .filter(|(d, _)| *d <= needle.len().max(4) / 3 + 1)
            .take(3)
            .map(|(_, n)| n)
            .collect()
    }
}

/// `listDocs` → `list_docs`.
pub fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Levenshtein distance, for tool-name suggestions.
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_parses_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for t in CATALOGUE {
            assert!(names.insert(t.name), "duplicate tool {}", t.name);
            let schema = t.input_schema();
            assert_eq!(schema["type"], "object");
            assert!(
                !t.operations.is_empty(),
                "{} names no Coda operation",
                t.name
            );
            assert!(
                t.description.len() > 40,
                "{} needs a real description",
                t.name
            );
        }
    }

    #[test]
    fn suggests_close_names() {
        let c = Catalogue::new(false);
        assert_eq!(c.suggest("coda_list_document")[0], "coda_list_documents");
        assert_eq!(c.suggest("coda_list_docs")[0], "coda_list_documents");
        assert_eq!(c.suggest("coda_upsert_rows")[0], "coda_create_rows");
        assert!(c.suggest("zzzzzzzzzzzzzzzzzzzzzzzzz").is_empty());
    }

    #[test]
    fn read_only_catalogue_has_no_writes() {
        let c = Catalogue::new(true);
        assert!(c.iter().all(|t| t.is_read_only()));
        assert!(c.get("coda_update_row").is_none());
        assert!(c.get("coda_list_rows").is_some());
    }
}
