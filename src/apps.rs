//! MCP Apps (the `io.modelcontextprotocol/ui` extension): views a host shows beside the
//! conversation — a table's rows to sort, filter, page and edit, a doc's overview, a page's text
//! — as self-contained HTML resources (`ui://coda/…`, built into the binary like `ui/`). Only a
//! client that declares the extension sees them; every other client gets exactly what it got
//! before. A view calls this server's tools through its host, so every write from a view goes
//! through the same checks, pacing, audit and confirmation as any other call.

use std::sync::OnceLock;

use serde_json::{json, Value};

/// The extension's name in capabilities.
pub const EXTENSION: &str = "io.modelcontextprotocol/ui";

/// The MIME type of a view (hosts compare it exactly).
pub const MIME: &str = "text/html;profile=mcp-app";

/// The `_meta` key a view puts on the tool calls it makes, naming itself (the audit says so).
pub const VIA_VIEW: &str = "coda-mcp/view";

/// One view.
pub struct View {
    /// Its name (`rows`, `doc`, `page`).
    pub name: &'static str,
    /// Its resource URI.
    pub uri: &'static str,
    /// Its title in `resources/list`.
    pub title: &'static str,
    /// What it shows.
    pub description: &'static str,
    /// The tools whose results it shows.
    pub tools: &'static [&'static str],
    /// Its page, with `/*STYLE*/` and `/*BRIDGE*/` to fill in.
    page: &'static str,
}

/// Every view.
pub static VIEWS: &[View] = &[
    View {
        name: "rows",
        uri: "ui://coda/rows.html",
        title: "Coda rows",
        description:
            "A table's rows with typed cells: sort, filter, page, edit cells and add rows.",
        tools: &["coda_list_rows", "coda_get_table"],
        page: include_str!("../views/rows.html"),
    },
    View {
        name: "doc",
        uri: "ui://coda/doc.html",
        title: "Coda doc overview",
        description: "A doc's pages and tables, each with a link that opens it in Coda.",
        tools: &["coda_get_document"],
        page: include_str!("../views/doc.html"),
    },
    View {
        name: "page",
        uri: "ui://coda/page.html",
        title: "Coda page",
        description: "A page's text, rendered.",
        tools: &["coda_get_page_content"],
        page: include_str!("../views/page.html"),
    },
];

const STYLE: &str = include_str!("../views/style.css");
const BRIDGE: &str = include_str!("../views/bridge.js");

impl View {
    /// The whole page: one document with its style and script inline, no other asset.
    pub fn html(&self) -> &'static str {
        static PAGES: OnceLock<Vec<String>> = OnceLock::new();
        let pages = PAGES.get_or_init(|| {
            VIEWS
                .iter()
                .map(|v| {
                    v.page
                        .replace("/*STYLE*/", STYLE)
                        .replace("/*BRIDGE*/", BRIDGE)
                })
                .collect()
        });
        let i = VIEWS
            .iter()
            .position(|v| v.uri == self.uri)
            .expect("a view of VIEWS");
        &pages[i]
    }

    /// The `_meta` of its resource: nothing may be fetched, framed or loaded from anywhere
    /// (the page needs no network), and a border suits a table.
    pub fn resource_meta() -> Value {
        json!({"ui": {"csp": {"connectDomains": [], "resourceDomains": [], "frameDomains": [], "baseUriDomains": []},
            "prefersBorder": true}})
    }

    /// The `resources/list` entry.
    pub fn listing(&self) -> Value {
        json!({"uri": self.uri, "name": self.name, "title": self.title, "description": self.description,
            "mimeType": MIME, "_meta": View::resource_meta()})
    }

    /// The `resources/read` contents.
    pub fn contents(&self) -> Value {
        json!([{"uri": self.uri, "mimeType": MIME, "text": self.html(), "_meta": View::resource_meta()}])
    }
}

/// The view showing `tool`'s results, if any.
pub fn view_for(tool: &str) -> Option<&'static View> {
    VIEWS.iter().find(|v| v.tools.contains(&tool))
}

/// The view at `uri`, if any.
pub fn by_uri(uri: &str) -> Option<&'static View> {
    VIEWS.iter().find(|v| v.uri == uri)
}

/// Whether client capabilities (as JSON) declare the extension with our MIME type.
pub fn client_supports(capabilities: &Value) -> bool {
    capabilities["extensions"][EXTENSION]["mimeTypes"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == MIME))
}

/// Adds the view to a tool's MCP definition (`_meta.ui.resourceUri`, and the flat key older
/// hosts read).
pub fn decorate_tool(tool: &mut Value) {
    let Some(view) = tool["name"].as_str().and_then(view_for) else {
        return;
    };
    let meta = &mut tool["_meta"];
    if !meta.is_object() {
        *meta = json!({});
    }
    meta["ui"] = json!({"resourceUri": view.uri});
    meta["ui/resourceUri"] = json!(view.uri);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_whole_pages_with_nothing_from_elsewhere() {
        for v in VIEWS {
            let html = v.html();
            assert!(html.starts_with("<!doctype html>"), "{}", v.name);
            assert!(
                !html.contains("/*STYLE*/") && !html.contains("/*BRIDGE*/"),
                "{}",
                v.name
            );
            assert!(
                html.contains("ui/initialize"),
                "{} speaks the extension",
                v.name
            );
            // No asset from anywhere: no URL, no loaded script, style or image.
            for outside in ["http://", "https://", "src=", "@import", "url("] {
                assert!(
                    !html.contains(outside),
                    "{}: '{outside}' in the page",
                    v.name
                );
            }
        }
    }

    #[test]
    fn only_clients_declaring_the_extension_are_offered_views() {
        assert!(client_supports(
            &json!({"extensions": {EXTENSION: {"mimeTypes": [MIME]}}})
        ));
        assert!(!client_supports(
            &json!({"extensions": {EXTENSION: {"mimeTypes": ["text/html"]}}})
        ));
        assert!(!client_supports(&json!({})));
        let mut tool =
            json!({"name": "coda_list_rows", "_meta": {"coda/operations": ["listRows"]}});
        decorate_tool(&mut tool);
        assert_eq!(tool["_meta"]["ui"]["resourceUri"], "ui://coda/rows.html");
        assert_eq!(tool["_meta"]["coda/operations"][0], "listRows");
        let mut other = json!({"name": "coda_whoami"});
        decorate_tool(&mut other);
        assert!(other.get("_meta").is_none());
    }
}
