//! The tool catalogue: every MCP tool is a row in a table — name, description, parameters,
//! annotations, the Coda operations it calls and how its arguments map onto the request.
//! [`dispatch`] runs a row with the [`exec`] toolkit (requests, lists, confirmed writes) or a
//! composite.

mod budget;
mod catalogue;
pub mod complete;
mod def;
mod dispatch;
mod exec;
pub mod links;
mod page_text;
mod params;
pub mod progress;
mod resolve_link;
pub mod resources;
mod search;
mod shorthand;
mod upsert;
mod validate;

use std::sync::Arc;

use serde_json::Value;

pub use crate::toolsets::{Toolset, Toolsets};
pub use catalogue::CATALOGUE;
pub use def::{Call, Confirm, Effect, Loc, Param, ToolDef};
pub use dispatch::run;
pub use exec::{ExecOptions, ToolError, ToolOutput};
pub use progress::{Progress, ProgressSink};

/// Checks arguments against a tool's schema, naming the offending argument.
pub fn validate_arguments(
    args: &serde_json::Value,
    schema: &serde_json::Value,
) -> Result<(), String> {
    validate::validate(args, schema, "")
}

/// The catalogue as served: tool definitions plus their compiled schemas, built once.
#[derive(Debug, Clone)]
pub struct Catalogue {
    tools: Arc<Vec<(ToolDef, Value)>>,
}

impl Catalogue {
    /// The full catalogue, or only the read-only tools when `read_only`.
    pub fn new(read_only: bool) -> Self {
        Catalogue::select(read_only, &Toolsets::all())
    }

    /// The tools of `toolsets` (only those that read when `read_only`).
    pub fn select(read_only: bool, toolsets: &Toolsets) -> Self {
        let tools = CATALOGUE
            .iter()
            .filter(|t| !read_only || t.is_read_only())
            .filter(|t| toolsets.offers(t.name))
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

    /// The size in bytes of the `tools/list` result listing these tools (what a client pays
    /// for on every conversation).
    pub fn list_size(&self) -> usize {
        let tools: Vec<Value> = self.iter().map(|t| t.to_mcp_json()).collect();
        serde_json::to_string(&serde_json::json!({ "tools": tools }))
            .map(|s| s.len())
            .unwrap_or(0)
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
                    .map(|op| strsim::levenshtein(&needle, &format!("coda_{}", snake(op))));
                (
                    by_ops
                        .chain(std::iter::once(strsim::levenshtein(&needle, t.name)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What each toolset's `tools/list` costs, pinned: a change to a description or schema
    /// shows up here, and the default stays within its budget.
    #[test]
    fn tools_list_sizes_per_toolset_are_pinned() {
        let pinned: [(&str, usize, usize); 9] = [
            ("core", 21, 24_021),
            ("docs", 12, 9_998),
            ("pages", 6, 5_932),
            ("formulas", 5, 4_706),
            ("sharing", 7, 6_375),
            ("automations", 1, 1_010),
            ("admin", 10, 7_938),
            ("analytics", 7, 9_094),
            ("all", 69, 68_997),
        ];
        for (name, tools, bytes) in pinned {
            let sets: Toolsets = name.parse().unwrap();
            let c = Catalogue::select(false, &sets);
            assert_eq!(
                (c.iter().count(), c.list_size()),
                (tools, bytes),
                "{name}: update the pin (and README if the default changed)"
            );
        }
        let default = Catalogue::select(false, &Toolsets::default_for_clients());
        assert!(
            default.list_size() <= crate::toolsets::CORE_LIST_BUDGET,
            "the default toolset is over its budget"
        );
    }

    /// Longest tool description, in characters: a model reads every one in every conversation.
    const DESCRIPTION_BUDGET: usize = 280;

    /// Longest parameter description.
    const PARAM_DESCRIPTION_BUDGET: usize = 160;

    #[test]
    fn descriptions_are_distinct_and_within_budget() {
        let mut seen = std::collections::HashMap::new();
        let mut queries = std::collections::HashSet::new();
        for t in CATALOGUE {
            assert!(
                t.description.chars().count() <= DESCRIPTION_BUDGET,
                "{}: description over {DESCRIPTION_BUDGET} characters",
                t.name
            );
            if let Some(other) = seen.insert(t.description, t.name) {
                panic!("{} and {other} share a description", t.name);
            }
            for (name, p) in t.input_schema()["properties"].as_object().unwrap() {
                let d = p["description"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}.{name} has no description", t.name));
                assert!(
                    d.chars().count() <= PARAM_DESCRIPTION_BUDGET,
                    "{}.{name}: description over {PARAM_DESCRIPTION_BUDGET} characters",
                    t.name
                );
                // `query` means something else in each tool: each says what it searches.
                if name == "query" {
                    assert!(
                        queries.insert(d.to_owned()),
                        "{}.query: '{d}' is shared",
                        t.name
                    );
                }
            }
        }
    }

    #[test]
    fn every_schema_parses_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for t in CATALOGUE {
            assert!(names.insert(t.name), "duplicate tool {}", t.name);
            let schema = t.input_schema();
            assert_eq!(schema["type"], "object");
            assert!(
                !t.operations.is_empty() || matches!(t.call, Call::RateBudget),
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
