//! Prompts that help a person start: each is data (name, description, arguments, template),
//! rendered into one user message that tells the model which tools to use.

use serde_json::{json, Map, Value};

/// One prompt argument.
pub struct PromptArg {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
}

/// One prompt: `{name}` placeholders in `template` are filled from the arguments.
pub struct PromptDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub arguments: &'static [PromptArg],
    pub template: &'static str,
}

const DOC: PromptArg = PromptArg {
    name: "docId",
    description: "The doc's ID or Coda URL.",
    required: true,
};
const TABLE: PromptArg = PromptArg {
    name: "tableIdOrName",
    description: "The table's ID or name.",
    required: true,
};

/// The prompts on offer.
pub static PROMPTS: &[PromptDef] = &[
    PromptDef {
        name: "summarize_doc",
        title: "Summarise a doc",
        description: "A short summary of a Coda doc: what it is for, its pages and tables, and what stands out.",
        arguments: &[DOC],
        template: "Summarise the Coda doc {docId}. Call coda_get_document for its name and size, coda_list_pages for its \
pages and coda_get_page_content for the most important ones, then coda_list_tables and a few rows of each table with \
coda_list_rows. Write: its purpose in one sentence, the key pages and tables (one line each), and anything that looks \
out of date or unresolved.",
    },
    PromptDef {
        name: "find_rows",
        title: "Find rows matching a description",
        description: "Find the rows of a table that match a description in plain words.",
        arguments: &[DOC, TABLE, PromptArg { name: "description", description: "What the rows should match, e.g. 'blocked tasks owned by Ada'.", required: true }],
        template: "In the Coda doc {docId}, find the rows of table {tableIdOrName} that match: {description}. First call \
coda_get_table to learn the columns and their types. If one column decides the match, use coda_list_rows with a query \
such as \"Status\":\"Blocked\"; otherwise read the rows with coda_list_rows (follow nextPageToken) and filter them \
yourself. Answer with a list of the matching rows (their display names and links) and say how you matched them.",
    },
    PromptDef {
        name: "status_update",
        title: "Draft a status update from a table",
        description: "Draft a status update for a team from a table of tasks or goals.",
        arguments: &[DOC, TABLE, PromptArg { name: "audience", description: "Who reads it, e.g. 'the leadership team'.", required: false }],
        template: "Draft a status update for {audience} from table {tableIdOrName} in the Coda doc {docId}. Call \
coda_get_table for its columns, then coda_list_rows for all rows (follow nextPageToken). Group the rows by their status, \
lead with what is done and what is blocked or overdue, name owners, and keep it under 200 words. Do not change the doc.",
    },
];

impl PromptDef {
    /// The `prompts/list` entry.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "title": self.title, "description": self.description,
            "arguments": self.arguments.iter().map(|a| json!({"name": a.name, "description": a.description, "required": a.required})).collect::<Vec<_>>()})
    }

    /// The rendered user message, or the name of a missing required argument.
    pub fn render(&self, args: &Map<String, Value>) -> Result<String, String> {
        let mut text = self.template.to_owned();
        for a in self.arguments {
            let value = match args.get(a.name) {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                Some(v) if !v.is_null() && !v.is_string() => v.to_string(),
                _ if a.required => return Err(a.name.to_owned()),
                _ => "the team".to_owned(),
            };
            text = text.replace(&format!("{{{}}}", a.name), &value);
        }
        Ok(text)
    }
}

/// Finds a prompt by name.
pub fn get(name: &str) -> Option<&'static PromptDef> {
    PROMPTS.iter().find(|p| p.name == name)
}
