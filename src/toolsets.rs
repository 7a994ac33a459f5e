//! Toolsets: the catalogue in groups, so a client pays — in tokens, on every conversation — only
//! for the tools it needs. `core` (the default) covers what people ask an assistant for: find
//! docs, read and write pages, tables and rows, search and fetch; each other group is one flag
//! away (`--toolsets core,sharing`, or `all`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A group of tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Toolset {
    /// Docs, pages, tables, columns and rows to read and write; search and fetch.
    Core,
    /// Creating, changing, publishing and deleting docs; folders.
    Docs,
    /// Page exports, page content edits, deleting pages.
    Pages,
    /// Formulas, controls and buttons.
    Formulas,
    /// Who may see a doc: permissions, sharing settings, principals.
    Sharing,
    /// Webhook-triggered automations.
    Automations,
    /// Workspace members and roles, custom doc domains, go links, the account.
    Admin,
    /// Doc, page and Pack analytics.
    Analytics,
}

/// The most characters the default toolset's `tools/list` may take (pinned by a test): what
/// every conversation pays before the first question.
pub const CORE_LIST_BUDGET: usize = 25_000;

/// Every toolset, in the order lists show them.
pub const ALL: [Toolset; 8] = [
    Toolset::Core,
    Toolset::Docs,
    Toolset::Pages,
    Toolset::Formulas,
    Toolset::Sharing,
    Toolset::Automations,
    Toolset::Admin,
    Toolset::Analytics,
];

impl Toolset {
    /// Its name in flags and settings.
    pub fn name(self) -> &'static str {
        match self {
            Toolset::Core => "core",
            Toolset::Docs => "docs",
            Toolset::Pages => "pages",
            Toolset::Formulas => "formulas",
            Toolset::Sharing => "sharing",
            Toolset::Automations => "automations",
            Toolset::Admin => "admin",
            Toolset::Analytics => "analytics",
        }
    }

    /// What it holds, for help texts and the Setup view.
    pub fn about(self) -> &'static str {
        match self {
            Toolset::Core => "docs, pages, tables and rows to read and write; search and fetch",
            Toolset::Docs => "create, change, publish and delete docs; folders",
            Toolset::Pages => "page exports, page content edits, deleting pages",
            Toolset::Formulas => "formulas, controls and buttons",
            Toolset::Sharing => "permissions, sharing settings, people and groups",
            Toolset::Automations => "webhook-triggered automations",
            Toolset::Admin => "workspace members and roles, custom domains, go links, the account",
            Toolset::Analytics => "doc, page and Pack analytics",
        }
    }

    /// The toolset a tool belongs to (every catalogue row is in exactly one).
    pub fn of(tool: &str) -> Toolset {
        match tool {
            "search"
            | "fetch"
            | "coda_resolve_link"
            | "coda_get_mutation_status"
            | "coda_rate_budget"
            | "coda_list_documents"
            | "coda_get_document"
            | "coda_list_pages"
            | "coda_get_page"
            | "coda_get_page_content"
            | "coda_create_page"
            | "coda_update_page"
            | "coda_list_tables"
            | "coda_get_table"
            | "coda_list_columns"
            | "coda_list_rows"
            | "coda_get_row"
            | "coda_create_rows"
            | "coda_update_row"
            | "coda_delete_row"
            | "coda_delete_rows" => Toolset::Core,
            "coda_create_doc"
            | "coda_delete_doc"
            | "coda_update_doc"
            | "coda_list_categories"
            | "coda_publish_doc"
            | "coda_unpublish_doc"
            | "coda_resolve_browser_link"
            | "coda_list_folders"
            | "coda_create_folder"
            | "coda_get_folder"
            | "coda_update_folder"
            | "coda_delete_folder" => Toolset::Docs,
            "coda_delete_page"
            | "coda_begin_page_content_export"
            | "coda_get_page_content_export_status"
            | "coda_list_page_content"
            | "coda_delete_page_content"
            | "coda_get_column" => Toolset::Pages,
            "coda_list_formulas" | "coda_get_formula" | "coda_list_controls"
            | "coda_get_control" | "coda_push_button" => Toolset::Formulas,
            "coda_get_sharing_metadata"
            | "coda_get_permissions"
            | "coda_add_permission"
            | "coda_delete_permission"
            | "coda_search_principals"
            | "coda_get_acl_settings"
            | "coda_update_acl_settings" => Toolset::Sharing,
            "coda_trigger_webhook_automation" => Toolset::Automations,
            name if name.contains("analytics") => Toolset::Analytics,
            _ => Toolset::Admin,
        }
    }
}

impl fmt::Display for Toolset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A choice of toolsets (`core`, `core,sharing`, `all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toolsets(BTreeSet<Toolset>);

impl Toolsets {
    /// Every tool.
    pub fn all() -> Toolsets {
        Toolsets(ALL.into_iter().collect())
    }

    /// What a server offers unless told otherwise: `core`.
    pub fn default_for_clients() -> Toolsets {
        Toolsets([Toolset::Core].into_iter().collect())
    }

    /// Whether `tool` is in one of them.
    pub fn offers(&self, tool: &str) -> bool {
        self.0.contains(&Toolset::of(tool))
    }

    /// Whether every toolset is chosen.
    pub fn is_all(&self) -> bool {
        self.0.len() == ALL.len()
    }

    /// Whether `set` is chosen.
    pub fn contains(&self, set: Toolset) -> bool {
        self.0.contains(&set)
    }

    /// The chosen toolsets.
    pub fn iter(&self) -> impl Iterator<Item = Toolset> + '_ {
        self.0.iter().copied()
    }
}

impl Default for Toolsets {
    /// The library's default is every tool (an embedding decides); the faces default to
    /// [`Toolsets::default_for_clients`].
    fn default() -> Self {
        Toolsets::all()
    }
}

impl fmt::Display for Toolsets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = self.0.iter().map(|t| t.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Toolsets {
    type Err = String;

    /// `core`, `core,sharing`, `all` (names separated by commas; case and spaces ignored).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let mut chosen = BTreeSet::new();
        for word in value.split(',').map(|w| w.trim().to_ascii_lowercase()) {
            if word.is_empty() {
                continue;
            }
            if word == "all" {
                return Ok(Toolsets::all());
            }
            match ALL.into_iter().find(|t| t.name() == word) {
                Some(t) => {
                    chosen.insert(t);
                }
                None => {
                    let known: Vec<&str> = ALL.iter().map(|t| t.name()).collect();
                    return Err(format!(
                        "'{word}' is not a toolset; choose from {} (or all)",
                        known.join(", ")
                    ));
                }
            }
        }
        if chosen.is_empty() {
            return Err("name at least one toolset, e.g. core (or all)".into());
        }
        Ok(Toolsets(chosen))
    }
}

/// `--toolsets` (and `CODA_MCP_TOOLSETS`): as [`Toolsets::from_str`], except that an empty
/// value or a placeholder a launcher left unsubstituted (`${user_config.toolsets}`) means the
/// default, `core`.
pub fn parse_flag(value: &str) -> Result<Toolsets, String> {
    let v = value.trim();
    if v.is_empty() || (v.starts_with("${") && v.ends_with('}')) {
        return Ok(Toolsets::default_for_clients());
    }
    v.parse()
}

impl serde::Serialize for Toolsets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Toolsets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::CATALOGUE;

    #[test]
    fn names_parse_and_print_back() {
        let t: Toolsets = " Core, sharing ".parse().unwrap();
        assert_eq!(t.to_string(), "core,sharing");
        assert!(t.offers("coda_list_rows") && t.offers("coda_add_permission"));
        assert!(!t.offers("coda_list_doc_analytics"));
        assert_eq!("all".parse::<Toolsets>().unwrap(), Toolsets::all());
        assert_eq!(Toolsets::all().to_string(), "all");
        assert!("core,rows"
            .parse::<Toolsets>()
            .unwrap_err()
            .contains("choose from core, docs"));
        assert!(",".parse::<Toolsets>().is_err());
        assert_eq!(
            parse_flag("${user_config.toolsets}").unwrap(),
            Toolsets::default_for_clients()
        );
        assert_eq!(parse_flag("").unwrap().to_string(), "core");
    }

    #[test]
    fn every_toolset_has_tools_and_admin_holds_only_what_is_left() {
        for set in ALL {
            assert!(
                CATALOGUE.iter().any(|t| Toolset::of(t.name) == set),
                "{set} has no tool"
            );
        }
        let admin: Vec<&str> = CATALOGUE
            .iter()
            .filter(|t| Toolset::of(t.name) == Toolset::Admin)
            .map(|t| t.name)
            .collect();
        for name in &admin {
            assert!(
                name.contains("domain")
                    || name.contains("workspace")
                    || name.contains("user_role")
                    || name.contains("go_link")
                    || *name == "coda_whoami",
                "{name} fell into admin by default: give it a toolset"
            );
        }
    }
}
