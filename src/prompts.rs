//! Prompts that help a person start: each is data (name, description, arguments, template),
//! rendered into one user message that tells the model which tools to use.

use serde_json::{json, Map, Value};

/// One prompt argument.
pub struct PromptArg {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    /// What an optional argument left out means.
    pub default: &'static str,
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
    default: "",
};
const TABLE: PromptArg = PromptArg {
    name: "tableIdOrName",
    description: "The table's ID or name.",
    required: true,
    default: "",
};

const AUDIENCE: PromptArg = PromptArg {
    name: "audience",
    description: "Who reads it, e.g. 'the leadership team'.",
    required: false,
    default: "the team",
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
        arguments: &[DOC, TABLE, PromptArg { name: "description", description: "What the rows should match, e.g. 'blocked tasks owned by Ada'.", required: true, default: "" }],
        template: "In the Coda doc {docId}, find the rows of table {tableIdOrName} that match: {description}. First call \
coda_get_table to learn the columns and their types. If one column decides the match, use coda_list_rows with a query \
such as \"Status\":\"Blocked\"; otherwise read the rows with coda_list_rows (follow nextPageToken) and filter them \
yourself. Answer with a list of the matching rows (their display names and links) and say how you matched them.",
    },
    PromptDef {
        name: "status_update",
        title: "Draft a status update from a table",
        description: "Draft a status update for a team from a table of tasks or goals.",
        arguments: &[DOC, TABLE, AUDIENCE],
        template: "Draft a status update for {audience} from table {tableIdOrName} in the Coda doc {docId}. Call \
coda_get_table for its columns, then coda_list_rows for all rows (follow nextPageToken). Group the rows by their status, \
lead with what is done and what is blocked or overdue, name owners, and keep it under 200 words. Do not change the doc.",
    },
    PromptDef {
        name: "weekly_status",
        title: "Weekly status from what changed",
        description: "What changed in a table over the last seven days, as a weekly status note.",
        arguments: &[DOC, TABLE, AUDIENCE],
        template: "Write this week's status for {audience} from table {tableIdOrName} in the Coda doc {docId}. Call coda_get_table for its columns, then coda_list_rows with sortBy updatedAt (follow nextPageToken) and keep the rows updated in the last seven days. Say what was finished, what started, what is blocked or overdue and who owns it, then one line on what comes next. Under 250 words, grouped by status. Do not change the doc.",
    },
    PromptDef {
        name: "design_table",
        title: "Design a table",
        description: "Propose the columns of a new Coda table for a purpose, and a page that documents it.",
        arguments: &[DOC, PromptArg { name: "purpose", description: "What the table is for, e.g. 'tracking hiring candidates'.", required: true, default: "" }],
        template: "Design a Coda table for {purpose} in the doc {docId}. Read coda://docs/{docId}/schema (or call coda_list_tables and coda_get_table) to reuse the doc's existing tables as lookups instead of copying their data. Propose 5–12 columns: name, type (text, number, date, checkbox, select with its options, person, lookup to which table, or a formula with the formula), which one is the display column, and two example rows. Coda's API cannot create tables or columns, so present the design for the person to create in Coda; offer to add it to a page with coda_create_page, and, once the table exists, to fill it with coda_create_rows.",
    },
    PromptDef {
        name: "import_csv",
        title: "Import CSV data into a table",
        description: "Map CSV data onto an existing table's columns and add (or upsert) the rows.",
        arguments: &[DOC, TABLE,
            PromptArg { name: "csv", description: "The CSV text, first line the column names.", required: true, default: "" },
            PromptArg { name: "keyColumn", description: "A column that identifies a row, to update matching rows instead of adding duplicates.", required: false, default: "none" }],
        template: "Import this CSV into table {tableIdOrName} of the Coda doc {docId}:\n\n{csv}\n\nFirst call coda_get_table to learn the columns and their types, and map each CSV column onto one (say which CSV columns have no match and which values cannot be converted, and ask before dropping them). Convert values as coda://guides/values says (dates ISO 8601, checkboxes true/false, people by email). Then call coda_create_rows once with all rows (they are sent in batches for you); key column for upserting: {keyColumn} (if none, rows are added). Report how many rows were added or updated and any warning.",
    },
    PromptDef {
        name: "audit_sharing",
        title: "Audit who can see a doc",
        description: "List who can see or edit a doc and point out what looks too open.",
        arguments: &[DOC],
        template: "Audit the sharing of the Coda doc {docId}. Call coda_get_sharing_metadata, coda_get_permissions (follow nextPageToken) and coda_get_acl_settings. List who has access (people, groups, domain, anyone with the link) and at which level, then flag what looks too open: link sharing or a whole domain with edit rights, editors who are outside the owner's domain, publishing. Recommend changes, but change nothing without the person's explicit yes.",
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
                _ => a.default.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_an_argument_and_every_argument_is_used() {
        for p in PROMPTS {
            let mut args = Map::new();
            for a in p.arguments {
                assert!(
                    p.template.contains(&format!("{{{}}}", a.name)),
                    "{}: {} unused",
                    p.name,
                    a.name
                );
                args.insert(a.name.into(), json!("X"));
            }
            let text = p.render(&args).unwrap();
            let left = regex_free_placeholder(&text);
            assert!(left.is_none(), "{}: {left:?} left unfilled", p.name);
            assert!(p.description.len() <= 120 && !p.title.is_empty());
        }
        let names: std::collections::HashSet<_> = PROMPTS.iter().map(|p| p.name).collect();
        assert_eq!(names.len(), PROMPTS.len(), "names are unique");
    }

    /// A `{word}` left in the text, if any.
    fn regex_free_placeholder(text: &str) -> Option<String> {
        let start = text.find('{')?;
        let end = text[start..].find('}')? + start;
        let inner = &text[start + 1..end];
        (!inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| inner.to_owned())
    }
}
