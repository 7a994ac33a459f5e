//! The catalogue itself: one entry per tool. Every non-Pack Coda operation
//! (`shared/coda-api/operations.tsv`) is reachable through some entry's `operations`.

use super::params::*;
use super::{Call, Confirm, Effect, Loc, Param, ToolDef};
use crate::coda::RateClass;

/// A query or body parameter declared inline.
const fn q(name: &'static str, schema: &'static str) -> Param {
    Param {
        name,
        loc: Loc::Query,
        required: false,
        schema,
    }
}
/// An argument the server itself consumes (never sent to Coda as is).
const fn local(name: &'static str, schema: &'static str) -> Param {
    Param {
        name,
        loc: Loc::Local,
        required: false,
        schema,
    }
}
const fn body(name: &'static str, required: bool, schema: &'static str) -> Param {
    Param {
        name,
        loc: Loc::Body,
        required,
        schema,
    }
}

/// A row named `name`, shown as `title`, described to the model by `description`; the rest
/// (Coda operations, parameters, the call) is said by [`ToolDef`]'s builder methods.
const fn tool(name: &'static str, title: &'static str, description: &'static str) -> ToolDef {
    ToolDef::new(name, title, description)
}

const W: RateClass = RateClass::Write;
const CW: RateClass = RateClass::DocContentWrite;
const AN: RateClass = RateClass::Analytics;
const R: RateClass = RateClass::Read;

/// Every tool the server offers.
pub static CATALOGUE: &[ToolDef] = &[
    // ------------------------------------------------------------------ docs
    tool("coda_list_documents", "List Coda docs",
        "List the Coda docs the token can see, with IDs, names, owners, folders and links. Use it first to find a docId; filter by name with query.")
        .operations(&["listDocs"])
        .params(&[q("query", r#"{"type":"string","description":"Only docs whose name contains this text."}"#), q("isOwner", r#"{"type":"boolean","description":"Only docs owned by the token's user."}"#),
            IS_PUBLISHED, q("sourceDoc", r#"{"type":"string","description":"Only docs copied from this doc ID."}"#),
            q("isStarred", r#"{"type":"boolean","description":"true: only starred docs; false: only unstarred docs."}"#),
            q("inGallery", r#"{"type":"boolean","description":"Only docs visible in the gallery."}"#),
            WORKSPACE_FILTER, q("folderId", r#"{"type":"string","description":"Only docs in this folder (fl-xxxx)."}"#), LIMIT, PAGE_TOKEN])
        .list("/docs", RateClass::ListDocs),
    tool("coda_get_document", "Get a Coda doc",
        "Get one Coda doc's metadata by docId: name, owner, folder, workspace, size (pages, tables, rows) and links.")
        .operations(&["getDoc"])
        .params(&[DOC_ID])
        .get("/docs/{docId}", R),
    tool("coda_create_doc", "Create a doc",
        "Create a new Coda doc, empty or copied from sourceDoc, optionally in a folder and with a first page. Returns the new doc.")
        .operations(&["createDoc", "getMutationStatus"])
        .params(&[
            body("title", false, r#"{"type":"string","description":"Title of the new doc. Defaults to 'Untitled'."}"#),
            body("sourceDoc", false, r#"{"type":"string","description":"ID of a doc to copy."}"#),
            body("timezone", false, r#"{"type":"string","description":"Timezone of the new doc, e.g. America/Los_Angeles."}"#),
            body("folderId", false, r#"{"type":"string","description":"Folder to create the doc in (fl-xxxx). Defaults to the user's private folder."}"#),
            local("markdown", r#"{"type":"string","description":"The first page's content as markdown (instead of initialPage.pageContent)."}"#),
            body("initialPage", false, r#"{"type":"object","description":"The first page: {\"name\", \"subtitle\", \"iconName\", \"pageContent\": {\"type\": \"canvas\", \"canvasContent\": {\"format\": \"markdown\", \"content\": \"...\"}}}."}"#),
            WAIT])
        .write("POST", "/docs", W),
    tool("coda_delete_doc", "Delete a doc",
        "Delete a Coda doc. The API cannot undo this (the owner can restore it from Coda's trash for a while). Ask the user first.")
        .operations(&["deleteDoc", "getDoc"])
        .params(&[DOC_ID, WAIT])
        .write("DELETE", "/docs/{docId}", W).destructive().idempotent()
        .confirmed_by(Confirm::Gone),
    tool("coda_update_doc", "Rename a doc or change its icon",
        "Rename a doc (title) and/or change its icon (iconName). Other doc settings are not changed.")
        .operations(&["updateDoc"])
        .params(&[DOC_ID,
            body("title", false, r#"{"type":"string","minLength":1,"description":"New title of the doc."}"#),
            body("iconName", false, r#"{"type":"string","description":"Name of the new icon, e.g. rocket."}"#), WAIT])
        .write("PATCH", "/docs/{docId}", W).destructive().idempotent(),
    // ------------------------------------------------------------------ sharing
    tool("coda_get_sharing_metadata", "Get sharing metadata",
        "Whether the token's user can share the doc, with whom, and whether they can copy it.")
        .operations(&["getSharingMetadata"])
        .params(&[DOC_ID])
        .get("/docs/{docId}/acl/metadata", R),
    tool("coda_get_permissions", "List a doc's permissions",
        "List who has access to a doc (people, groups, domains, anyone with the link) and with which access level.")
        .operations(&["getPermissions"])
        .params(&[DOC_ID, LIMIT, PAGE_TOKEN])
        .list("/docs/{docId}/acl/permissions", R),
    tool("coda_add_permission", "Share a doc",
        "Share a doc: give a principal (an email, group, domain, workspace or anyone) readonly, comment or write access.")
        .operations(&["addPermission"])
        .params(&[DOC_ID,
            body("access", true, r#"{"type":"string","enum":["readonly","write","comment"],"description":"Access level to grant."}"#),
            body("principal", true, r#"{"type":"object","description":"Who gets access, e.g. {\"type\": \"email\", \"email\": \"a@b.com\"}, {\"type\": \"domain\", \"domain\": \"b.com\"} or {\"type\": \"anyone\"}.","properties":{"type":{"type":"string","enum":["email","group","domain","workspace","anyone"]},"email":{"type":"string"},"groupId":{"type":"string"},"domain":{"type":"string"},"workspaceId":{"type":"string"}},"required":["type"],
                "anyOf":[{"properties":{"type":{"enum":["email"]}},"required":["email"]},{"properties":{"type":{"enum":["group"]}},"required":["groupId"]},
                    {"properties":{"type":{"enum":["domain"]}},"required":["domain"]},{"properties":{"type":{"enum":["workspace"]}},"required":["workspaceId"]},
                    {"properties":{"type":{"enum":["anyone"]}}}]}"#),
            body("suppressEmail", false, r#"{"type":"boolean","description":"Do not send the notification email."}"#), WAIT])
        .write("POST", "/docs/{docId}/acl/permissions", W).idempotent(),
    tool("coda_delete_permission", "Revoke a permission",
        "Remove one permission from a doc (from coda_get_permissions).")
        .operations(&["deletePermission"])
        .params(&[DOC_ID, PERMISSION_ID, WAIT])
        .write("DELETE", "/docs/{docId}/acl/permissions/{permissionId}", W).destructive().idempotent(),
    tool("coda_search_principals", "Search people and groups to share with",
        "Search the users and groups a doc can be shared with, by name or email.")
        .operations(&["searchPrincipals"])
        .params(&[DOC_ID, q("query", r#"{"type":"string","description":"Part of a person's name or email address, or of a group's name."}"#)])
        .get("/docs/{docId}/acl/principals/search", R),
    tool("coda_get_acl_settings", "Get a doc's sharing settings",
        "Get a doc's sharing settings: whether editors may change permissions, viewers may copy or request editing.")
        .operations(&["getAclSettings"])
        .params(&[DOC_ID])
        .get("/docs/{docId}/acl/settings", R),
    tool("coda_update_acl_settings", "Change a doc's sharing settings",
        "Change whether editors may change permissions, whether the doc may be copied, and whether viewers may request editing.")
        .operations(&["updateAclSettings"])
        .params(&[DOC_ID,
            body("allowEditorsToChangePermissions", false, r#"{"type":"boolean","description":"Editors may change permissions."}"#),
            body("allowCopying", false, r#"{"type":"boolean","description":"Viewers may copy the doc."}"#),
            body("allowViewersToRequestEditing", false, r#"{"type":"boolean","description":"Viewers may request editing access."}"#), WAIT])
        .write("PATCH", "/docs/{docId}/acl/settings", W).destructive().idempotent(),
    // ------------------------------------------------------------------ publishing
    tool("coda_list_categories", "List publishing categories",
        "List the categories a published doc can be filed under in the Coda gallery.")
        .operations(&["listCategories"])
        .params(&[LIMIT])
        .list("/categories", R).without_page_size(),
    tool("coda_publish_doc", "Publish a doc",
        "Publish a doc to the web (or update its publishing settings): slug, discoverability, categories and mode.")
        .operations(&["publishDoc", "getMutationStatus"])
        .params(&[DOC_ID,
            body("slug", false, r#"{"type":"string","description":"Slug of the published doc's URL."}"#),
            body("discoverable", false, r#"{"type":"boolean","description":"Listed in the gallery and search engines."}"#),
            body("earnCredit", false, r#"{"type":"boolean","description":"Copiers must sign up and the publisher earns credit."}"#),
            body("categoryNames", false, r#"{"type":"array","items":{"type":"string"},"description":"Category names (from coda_list_categories)."}"#),
            body("mode", false, r#"{"type":"string","enum":["view","play","edit"],"description":"What readers can do."}"#), WAIT])
        .write("PUT", "/docs/{docId}/publish", W).idempotent(),
    tool("coda_unpublish_doc", "Unpublish a doc",
        "Take a published doc off the web; its public link stops working. The doc itself is kept.")
        .operations(&["unpublishDoc"])
        .params(&[DOC_ID, WAIT])
        .write("DELETE", "/docs/{docId}/publish", W).destructive().idempotent(),
    // ------------------------------------------------------------------ pages
    tool("coda_list_pages", "List pages of a doc",
        "List a doc's pages (and subpages) with IDs, names, subtitles and parents.")
        .operations(&["listPages"])
        .params(&[DOC_ID, LIMIT, PAGE_TOKEN])
        .list("/docs/{docId}/pages", R),
    tool("coda_create_page", "Create a page",
        "Create a page in a doc, optionally as a subpage, with markdown or HTML content.")
        .operations(&["createPage", "getMutationStatus"])
        .params(&[DOC_ID,
            body("name", false, r#"{"type":"string","description":"Name of the page."}"#),
            body("subtitle", false, r#"{"type":"string","description":"Subtitle of the page."}"#),
            body("iconName", false, r#"{"type":"string","description":"Name of the page's icon."}"#),
            body("imageUrl", false, r#"{"type":"string","description":"URL of the cover image."}"#),
            body("parentPageId", false, r#"{"type":"string","description":"Parent page ID, to create a subpage."}"#),
            local("markdown", r#"{"type":"string","description":"The page's content as markdown (instead of pageContent)."}"#),
            body("pageContent", false, r#"{"type":"object","description":"Initial content: {\"type\": \"canvas\", \"canvasContent\": {\"format\": \"markdown\", \"content\": \"Hello\"}} or {\"type\": \"embed\", \"url\": \"https://...\"}.","properties":{"type":{"type":"string","enum":["canvas","embed","syncPage"]}},"required":["type"]}"#),
            WAIT])
        .write("POST", "/docs/{docId}/pages", CW),
    tool("coda_get_page", "Get a page",
        "Get a page's metadata: name, subtitle, icon, parent, children and links. For its text use coda_get_page_content.")
        .operations(&["getPage"])
        .params(&[DOC_ID, PAGE])
        .get("/docs/{docId}/pages/{pageIdOrName}", R),
    tool("coda_update_page", "Update a page",
        "Rename a page, change its subtitle, icon or visibility, or add to / replace its content (contentUpdate with insertionMode append, prepend or replace).")
        .operations(&["updatePage", "getMutationStatus"])
        .params(&[DOC_ID, PAGE,
            body("name", false, r#"{"type":"string","description":"New name."}"#),
            body("subtitle", false, r#"{"type":"string","description":"New subtitle."}"#),
            body("iconName", false, r#"{"type":"string","description":"New icon name."}"#),
            body("imageUrl", false, r#"{"type":"string","description":"New cover image URL."}"#),
            body("isHidden", false, r#"{"type":"boolean","description":"Hide the page from the doc's page list."}"#),
            local("markdown", r#"{"type":"string","description":"Markdown to add to the page (instead of contentUpdate)."}"#),
            local("insertionMode", r#"{"type":"string","enum":["append","prepend","replace"],"default":"append","description":"Where the markdown goes; replace swaps the whole content."}"#),
            body("contentUpdate", false, r#"{"type":"object","description":"Content change: {\"insertionMode\": \"append\" | \"prepend\" | \"replace\", \"canvasContent\": {\"format\": \"markdown\", \"content\": \"...\"}, \"elementId\"?: \"...\"}.","properties":{"insertionMode":{"type":"string","enum":["append","prepend","replace"]},"canvasContent":{"type":"object","properties":{"format":{"type":"string","enum":["html","markdown"]},"content":{"type":"string"}},"required":["format","content"]},"elementId":{"type":"string"}},"required":["insertionMode","canvasContent"]}"#),
            WAIT])
        .write("PUT", "/docs/{docId}/pages/{pageIdOrName}", CW).destructive(),
    tool("coda_delete_page", "Delete a page",
        "Delete a page and its content. Ask the user before using this.")
        .operations(&["deletePage", "getMutationStatus"])
        .params(&[DOC_ID, PAGE, WAIT])
        .write("DELETE", "/docs/{docId}/pages/{pageIdOrName}", W).destructive().idempotent(),
    // Read-only by effect: it POSTs (Coda's doc-content-write rate class, refused to read-only
    // *tokens*) but only starts an export job; no doc changes. So it stays in --read-only
    // mode, like coda_get_page_content whose fallback does the same.
    ToolDef { name: "coda_begin_page_content_export", title: "Start exporting a page",
        description: "Start exporting a page's content as markdown or HTML (changes nothing in the doc). Poll coda_get_page_content_export_status with the returned id for the download link. coda_get_page_content does all of this for you. A read-only Coda API token cannot export (403).",
        operations: &["beginPageContentExport"], effect: Effect::Read,
        params: &[DOC_ID, PAGE, body("outputFormat", true, r#"{"type":"string","enum":["html","markdown"],"description":"Export format."}"#)],
        call: Call::Write { method: "POST", path: "/docs/{docId}/pages/{pageIdOrName}/export", class: CW, confirm: Confirm::Nothing } },
    tool("coda_get_page_content_export_status", "Check a page export",
        "Check a page export started with coda_begin_page_content_export: status, and when complete the downloadLink (valid about 5 minutes).")
        .operations(&["getPageContentExportStatus"])
        .params(&[DOC_ID, PAGE, REQUEST_ID])
        .get("/docs/{docId}/pages/{pageIdOrName}/export/{requestId}", R),
    tool("coda_list_page_content", "List a page's content elements",
        "List a page's content as lines (style, text and element IDs), for precise edits with coda_delete_page_content or coda_update_page. For readable text use coda_get_page_content.")
        .operations(&["listPageContent"])
        .params(&[DOC_ID, PAGE, q("contentFormat", r#"{"type":"string","enum":["plainText"],"description":"Format of each line's content."}"#), LIMIT, PAGE_TOKEN])
        .list("/docs/{docId}/pages/{pageIdOrName}/content", R),
    tool("coda_delete_page_content", "Delete page content",
        "Delete some elements of a page (elementIds from coda_list_page_content), or clear the whole page when elementIds is empty or absent.")
        .operations(&["deletePageContent", "getMutationStatus"])
        .params(&[DOC_ID, PAGE,
            body("elementIds", false, r#"{"type":"array","items":{"type":"string"},"description":"IDs of the elements to delete; empty clears the page."}"#), WAIT])
        .write("DELETE", "/docs/{docId}/pages/{pageIdOrName}/content", CW).destructive().idempotent(),
    ToolDef { name: "coda_get_page_content", title: "Read a page's text",
        description: "Read a page's text as markdown (or plain text), following all its content pages; falls back to an export when needed. Use it to read or summarise a page. A page longer than the result limit is cut at a line boundary with a nextPageToken for the rest.",
        operations: &["listPageContent", "beginPageContentExport", "getPageContentExportStatus"], effect: Effect::Read,
        params: &[DOC_ID, PAGE, q("format", r#"{"type":"string","enum":["markdown","plainText"],"default":"markdown","description":"markdown keeps headings and lists; plainText is just the text."}"#),
            Param { name: "pageToken", loc: Loc::Local, required: false, schema: r#"{"type":"string","description":"Continue a long page: pass the nextPageToken the previous call returned (with the same docId, pageIdOrName and format)."}"# }],
        call: Call::PageText },
    // ------------------------------------------------------------------ tables, columns, rows
    tool("coda_list_tables", "List tables in a doc",
        "List the tables and views in a doc with their IDs, names and the page they live on. Use it to find a tableIdOrName before reading or writing rows.")
        .operations(&["listTables"])
        .params(&[DOC_ID, SORT_BY_NAME,
            q("tableTypes", r#"{"type":"array","items":{"type":"string","enum":["table","view"]},"description":"Which kinds to include; both by default."}"#), LIMIT, PAGE_TOKEN])
        .list("/docs/{docId}/tables", R),
    ToolDef { name: "coda_get_table", title: "Get a table and its columns",
        description: "Get a table's details (row count, display column, parent page) together with its columns (IDs, names, types, select options). Call it before writing rows so you use real column names.",
        operations: &["getTable", "listColumns"], effect: Effect::Read,
        params: &[DOC_ID, TABLE, q("useUpdatedTableLayouts", r#"{"type":"boolean","description":"Report detail and form layouts as such."}"#), REQUIRE_LATEST],
        call: Call::TableWithColumns },
    tool("coda_list_columns", "List columns of a table",
        "List a table's columns with IDs, names, types and formats.")
        .operations(&["listColumns"])
        .params(&[DOC_ID, TABLE, VISIBLE_ONLY, LIMIT, PAGE_TOKEN])
        .list("/docs/{docId}/tables/{tableIdOrName}/columns", R),
    tool("coda_get_column", "Get a column",
        "Get one column's details: type, format, formula, whether it is the display column.")
        .operations(&["getColumn"])
        .params(&[DOC_ID, TABLE, COLUMN])
        .get("/docs/{docId}/tables/{tableIdOrName}/columns/{columnIdOrName}", R),
    tool("coda_list_rows", "List rows of a table",
        "List rows of a table with their values, optionally filtered by one column (query) and sorted. Returns up to limit rows and a nextPageToken when more exist.")
        .operations(&["listRows"])
        .params(&[DOC_ID, TABLE,
            q("query", r#"{"type":"string","description":"Filter rows by one column: <column ID or \"quoted name\">:<JSON value>, e.g. \"Status\":\"Done\" or c-abc:42."}"#),
            q("sortBy", r#"{"type":"string","enum":["createdAt","natural","updatedAt"],"description":"Row order. natural is the table's own order (not allowed with visibleOnly=false)."}"#),
            USE_COLUMN_NAMES, VALUE_FORMAT, VISIBLE_ONLY,
            q("syncToken", r#"{"type":"string","description":"Only rows changed since the listing that returned this nextSyncToken."}"#), REQUIRE_LATEST, LIMIT, PAGE_TOKEN])
        .list("/docs/{docId}/tables/{tableIdOrName}/rows", R),
    tool("coda_get_row", "Get one row",
        "Get one row of a table by row ID or name, with all its values and its parent table.")
        .operations(&["getRow"])
        .params(&[DOC_ID, TABLE, ROW, USE_COLUMN_NAMES, VALUE_FORMAT, REQUIRE_LATEST])
        .get("/docs/{docId}/tables/{tableIdOrName}/rows/{rowIdOrName}", R),
    ToolDef { name: "coda_create_rows", title: "Add or upsert rows",
        description: "Add any number of rows to a table, or upsert them with keyColumns (rows whose key cells match are updated instead — every match). Large inputs are sent in batches within Coda's size and rate limits; the result lists each batch's outcome and the IDs of added rows.",
        operations: &["upsertRows", "getMutationStatus"], effect: Effect::Write { destructive: true, idempotent: false },
        params: &[DOC_ID, TABLE,
            body("rows", true, r#"{"type":"array","minItems":1,"description":"Rows to add or update, each {\"cells\": [{\"column\": \"<column ID or name>\", \"value\": <value>}]}.","items":{"type":"object","properties":{"cells":{"type":"array","minItems":1,"items":{"type":"object","properties":{"column":{"type":"string","description":"Column ID or name."},"value":{"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"},{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"},{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"}]}}]}}],"description":"The cell value (Coda's Value): text, number, boolean, date text, a person's email, a row name for lookups, or a list of these."}},"required":["column","value"]}}},"required":["cells"]}}"#),
            body("keyColumns", false, r#"{"type":"array","items":{"type":"string"},"description":"Upsert: column IDs or names that identify a row. Rows whose key cells match are updated, others are added. Works on base tables, not views."}"#),
            DISABLE_PARSING, WAIT],
        call: Call::UpsertRows },
    tool("coda_delete_rows", "Delete rows",
        "Delete several rows of a table by ID. Ask the user before deleting data.")
        .operations(&["deleteRows", "getMutationStatus"])
        .params(&[DOC_ID, TABLE,
            body("rowIds", true, r#"{"type":"array","minItems":1,"items":{"type":"string"},"description":"IDs of the rows to delete."}"#), WAIT])
        .write("DELETE", "/docs/{docId}/tables/{tableIdOrName}/rows", W).destructive().idempotent(),
    tool("coda_update_row", "Update one row",
        "Change some cells of one existing row. Only the columns listed in row.cells change. By default waits until Coda has applied the change and reports the row ID.")
        .operations(&["updateRow", "getMutationStatus"])
        .params(&[DOC_ID, TABLE, ROW,
            Param { name: "row", loc: Loc::Body, required: true, schema: const_format_row() }, DISABLE_PARSING, WAIT])
        .write("PUT", "/docs/{docId}/tables/{tableIdOrName}/rows/{rowIdOrName}", W).destructive().idempotent(),
    tool("coda_delete_row", "Delete one row",
        "Delete one row of a table. Ask the user before deleting data.")
        .operations(&["deleteRow", "getMutationStatus"])
        .params(&[DOC_ID, TABLE, ROW, WAIT])
        .write("DELETE", "/docs/{docId}/tables/{tableIdOrName}/rows/{rowIdOrName}", W).destructive().idempotent(),
    tool("coda_push_button", "Push a button",
        "Push the button in a button column of one row, running whatever action the button is set up to do.")
        .operations(&["pushButton", "getMutationStatus"])
        .params(&[DOC_ID, TABLE, ROW, COLUMN, WAIT])
        .write("POST", "/docs/{docId}/tables/{tableIdOrName}/rows/{rowIdOrName}/buttons/{columnIdOrName}", W).destructive(),
    // ------------------------------------------------------------------ formulas and controls
    tool("coda_list_formulas", "List named formulas",
        "List a doc's named formulas (canvas formulas with a name) with IDs and names.")
        .operations(&["listFormulas"])
        .params(&[DOC_ID, SORT_BY_NAME, LIMIT, PAGE_TOKEN])
        .list("/docs/{docId}/formulas", R),
    tool("coda_get_formula", "Get a named formula's value",
        "Get a named formula's current value (a canvas formula given a name), by ID or name.")
        .operations(&["getFormula"])
        .params(&[DOC_ID, FORMULA, REQUIRE_LATEST])
        .get("/docs/{docId}/formulas/{formulaIdOrName}", R),
    tool("coda_list_controls", "List controls",
        "List a doc's controls (sliders, checkboxes, select lists, buttons…) with IDs and names.")
        .operations(&["listControls"])
        .params(&[DOC_ID, SORT_BY_NAME, LIMIT, PAGE_TOKEN])
        .list("/docs/{docId}/controls", R),
    tool("coda_get_control", "Get a control's value",
        "Get a control's type (slider, select, checkbox, date picker, button…) and its current value.")
        .operations(&["getControl"])
        .params(&[DOC_ID, CONTROL, REQUIRE_LATEST])
        .get("/docs/{docId}/controls/{controlIdOrName}", R),
    // ------------------------------------------------------------------ custom domains
    tool("coda_list_custom_doc_domains", "List a doc's custom domains",
        "List the custom domains of a published doc and their setup status.")
        .operations(&["listCustomDocDomains"])
        .params(&[DOC_ID])
        .get("/docs/{docId}/domains", R),
    tool("coda_add_custom_doc_domain", "Add a custom domain",
        "Add a custom domain (e.g. docs.example.com) to a published doc; DNS must then point at Coda.")
        .operations(&["addCustomDocDomain", "listCustomDocDomains"])
        .params(&[DOC_ID, body("customDocDomain", true, r#"{"type":"string","minLength":1,"description":"The domain, e.g. docs.example.com."}"#), WAIT])
        .write("POST", "/docs/{docId}/domains", W).idempotent()
        .confirmed_by(Confirm::Listed { path: "/docs/{docId}/domains", array: "customDocDomains", key: "customDocDomain" }),
    tool("coda_delete_custom_doc_domain", "Remove a custom domain",
        "Remove a custom domain from a published doc.")
        .operations(&["deleteCustomDocDomain"])
        .params(&[DOC_ID, CUSTOM_DOMAIN, WAIT])
        .write("DELETE", "/docs/{docId}/domains/{customDocDomain}", W).destructive().idempotent(),
    tool("coda_update_custom_doc_domain", "Refresh a custom domain",
        "Update a custom domain of a published doc (re-checks its setup).")
        .operations(&["updateCustomDocDomain"])
        .params(&[DOC_ID, CUSTOM_DOMAIN, WAIT])
        .write("PATCH", "/docs/{docId}/domains/{customDocDomain}", W).idempotent(),
    tool("coda_get_custom_doc_domain_provider", "Identify a domain's DNS provider",
        "Find out which DNS provider serves a domain, to help set up a custom doc domain.")
        .operations(&["getCustomDocDomainProvider"])
        .params(&[CUSTOM_DOMAIN])
        .get("/domains/provider/{customDocDomain}", R),
    // ------------------------------------------------------------------ account and links
    tool("coda_whoami", "Who am I",
        "Get the user the Coda token belongs to: name, login, workspace and whether the token is scoped.")
        .operations(&["whoami"])
        .params(&[])
        .get("/whoami", R),
    tool("coda_resolve_browser_link", "Resolve a Coda URL",
        "Ask Coda which object a browser URL points at (type, ID, name, API href), also for custom domains and, with degradeGracefully, deleted objects. For the IDs other tools take, coda_resolve_link is quicker.")
        .operations(&["resolveBrowserLink"])
        .params(&[
            Param { name: "url", loc: Loc::Query, required: true, schema: r#"{"type":"string","minLength":1,"description":"The Coda URL to resolve."}"# },
            q("degradeGracefully", r#"{"type":"boolean","description":"For a deleted object, return its nearest existing parent instead of an error."}"#)])
        .get("/resolveBrowserLink", R),
    ToolDef { name: "coda_resolve_link", title: "Get the IDs in a Coda URL",
        description: "Turn a Coda URL (doc, page, table, row) into the IDs other tools take: docId, pageId, tableId, rowId. Parsed without a Coda call when it can be.",
        operations: &["resolveBrowserLink"], effect: Effect::Read,
        params: &[Param { name: "url", loc: Loc::Local, required: true, schema: r#"{"type":"string","minLength":1,"description":"A Coda URL, e.g. https://coda.io/d/Plan_dAbCDeFGH01/Tasks_suXyz#Tasks_tuGrid/r5"}"# }],
        call: Call::ResolveLink },
    ToolDef { name: "coda_rate_budget", title: "Rate-limit headroom",
        description: "How many Coda reads and writes can be sent now without waiting, per rate class. Check before bulk work.",
        operations: &[], effect: Effect::Read, params: &[], call: Call::RateBudget },
    tool("coda_get_mutation_status", "Check whether a write finished",
        "Check whether a write (by its requestId) has been applied. A 404 right after the write is normal: try again in a moment.")
        .operations(&["getMutationStatus"])
        .params(&[REQUEST_ID])
        .get("/mutationStatus/{requestId}", R),
    tool("coda_trigger_webhook_automation", "Trigger an automation",
        "Run a doc automation whose trigger is 'Webhook invoked', passing an optional JSON payload.")
        .operations(&["triggerWebhookAutomation", "getMutationStatus"])
        .params(&[DOC_ID, RULE_ID,
            Param { name: "payload", loc: Loc::WholeBody, required: false, schema: r#"{"type":"object","description":"JSON payload the automation can read."}"# }, WAIT])
        .write("POST", "/docs/{docId}/hooks/automation/{ruleId}", W).destructive(),
    // ------------------------------------------------------------------ analytics
    tool("coda_list_doc_analytics", "Doc analytics",
        "Views, copies, likes and sessions per doc over time (published docs and docs in workspaces you administer).")
        .operations(&["listDocAnalytics"])
        .params(&[
            q("docIds", r#"{"type":"array","items":{"type":"string"},"description":"Only these docs."}"#), WORKSPACE_FILTER, q("query", r#"{"type":"string","description":"Only docs whose title contains this text."}"#), IS_PUBLISHED,
            SINCE_DATE, UNTIL_DATE, SCALE,
            q("orderBy", r#"{"type":"string","enum":["date","docId","title","createdAt","publishedAt","likes","copies","views","sessionsDesktop","sessionsMobile","sessionsOther","totalSessions","aiCreditsChat","aiCreditsBlock","aiCreditsColumn","aiCreditsAssistant","aiCreditsReviewer","aiCredits"],"description":"Order of the results."}"#),
            DIRECTION, LIMIT, PAGE_TOKEN])
        .list("/analytics/docs", AN),
    tool("coda_list_page_analytics", "Page analytics",
        "Views and sessions per page of one doc over time.")
        .operations(&["listPageAnalytics"])
        .params(&[DOC_ID, SINCE_DATE, UNTIL_DATE, LIMIT, PAGE_TOKEN])
        .list("/analytics/docs/{docId}/pages", AN),
    tool("coda_list_doc_analytics_summary", "Doc analytics summary",
        "Totals of doc analytics (sessions, views, copies, likes) across docs.")
        .operations(&["listDocAnalyticsSummary"])
        .params(&[IS_PUBLISHED, SINCE_DATE, UNTIL_DATE, WORKSPACE_FILTER])
        .get("/analytics/docs/summary", AN),
    tool("coda_list_pack_analytics", "Pack analytics",
        "Installs and invocations per Pack over time, for Packs you can manage.")
        .operations(&["listPackAnalytics"])
        .params(&[PACK_IDS, WORKSPACE_FILTER, q("query", r#"{"type":"string","description":"Only Packs whose name contains this text."}"#), SINCE_DATE, UNTIL_DATE, SCALE,
            q("orderBy", r#"{"type":"string","enum":["date","packId","name","createdAt","docInstalls","workspaceInstalls","numFormulaInvocations","numActionInvocations","numSyncInvocations","numMetadataInvocations","docsActivelyUsing","docsActivelyUsing7Day","docsActivelyUsing30Day","docsActivelyUsing90Day","docsActivelyUsingAllTime","workspacesActivelyUsing","workspacesActivelyUsing7Day","workspacesActivelyUsing30Day","workspacesActivelyUsing90Day","workspacesActivelyUsingAllTime","workspacesWithActiveSubscriptions","workspacesWithSuccessfulTrials","revenueUsd"],"description":"Order of the results."}"#),
            DIRECTION, IS_PUBLISHED, LIMIT, PAGE_TOKEN])
        .list("/analytics/packs", AN),
    tool("coda_list_pack_analytics_summary", "Pack analytics summary",
        "Totals of Pack analytics (installs, invocations) across Packs.")
        .operations(&["listPackAnalyticsSummary"])
        .params(&[PACK_IDS, WORKSPACE_FILTER, IS_PUBLISHED, SINCE_DATE, UNTIL_DATE])
        .get("/analytics/packs/summary", AN),
    tool("coda_list_pack_formula_analytics", "Pack formula analytics",
        "Invocations, latency and errors per formula of one Pack over time.")
        .operations(&["listPackFormulaAnalytics"])
        .params(&[PACK_ID,
            q("packFormulaNames", r#"{"type":"array","items":{"type":"string"},"description":"Only these formula names (case-sensitive)."}"#),
            q("packFormulaTypes", r#"{"type":"array","items":{"type":"string","enum":["action","formula","sync","metadata"]},"description":"Types matching packFormulaNames, one each."}"#),
            SINCE_DATE, UNTIL_DATE, SCALE,
            q("orderBy", r#"{"type":"string","enum":["date","formulaName","formulaType","formulaInvocations","medianLatencyMs","medianResponseSizeBytes","errors","docsActivelyUsing","docsActivelyUsing7Day","docsActivelyUsing30Day","docsActivelyUsing90Day","docsActivelyUsingAllTime","workspacesActivelyUsing","workspacesActivelyUsing7Day","workspacesActivelyUsing30Day","workspacesActivelyUsing90Day","workspacesActivelyUsingAllTime"],"description":"Order of the results."}"#),
            DIRECTION, LIMIT, PAGE_TOKEN])
        .list("/analytics/packs/{packId}/formulas", AN),
    ToolDef { name: "coda_get_analytics_last_updated", title: "Analytics freshness",
        description: "The last day for which doc and Pack analytics are complete.",
        operations: &["getAnalyticsLastUpdated"], effect: Effect::Read, params: &[],
        call: Call::Get { path: "/analytics/updated", class: AN } },
    // ------------------------------------------------------------------ workspaces and organizations
    tool("coda_list_workspace_members", "List workspace members",
        "List a workspace's members with their roles and activity (workspace admins only).")
        .operations(&["listWorkspaceMembers"])
        .params(&[WORKSPACE_PATH,
            q("includedRoles", r#"{"type":"array","items":{"type":"string","enum":["Admin","DocMaker","Editor"]},"description":"Only members with these roles."}"#), LIMIT, PAGE_TOKEN])
        .list("/workspaces/{workspaceId}/users", R).without_page_size(),
    tool("coda_change_user_role", "Change a member's role",
        "Change a workspace member's role (Admin, DocMaker or Editor). Affects billing; ask first.")
        .operations(&["changeUserRole"])
        .params(&[WORKSPACE_PATH,
            body("email", true, r#"{"type":"string","minLength":3,"description":"Email of the member."}"#),
            body("newRole", true, r#"{"type":"string","enum":["Admin","DocMaker","Editor"],"description":"The new role."}"#), WAIT])
        .write("POST", "/workspaces/{workspaceId}/users/role", W).destructive().idempotent(),
    tool("coda_list_workspace_role_activity", "Workspace role activity",
        "Counts of members per role and their recent activity in a workspace.")
        .operations(&["listWorkspaceRoleActivity"])
        .params(&[WORKSPACE_PATH])
        .get("/workspaces/{workspaceId}/roles", R),
    tool("coda_add_go_link", "Add a go link",
        "Add a go link (a short name that redirects to a URL) to an organization.")
        .operations(&["addGoLink"])
        .params(&[ORG_ID,
            body("name", true, r#"{"type":"string","minLength":1,"description":"Name of the link, e.g. handbook."}"#),
            body("destinationUrl", true, r#"{"type":"string","minLength":1,"description":"Where the link goes."}"#),
            body("description", false, r#"{"type":"string","description":"What the link is for."}"#),
            body("urlPattern", false, r#"{"type":"string","description":"Pattern with %s placeholders for parameters."}"#),
            body("creatorEmail", false, r#"{"type":"string","description":"Email of the link's creator (admins only)."}"#), WAIT])
        .write("POST", "/organizations/{organizationId}/goLinks", W),
    // ------------------------------------------------------------------ folders
    tool("coda_list_folders", "List folders",
        "List the folders the token can see, optionally in one workspace or only starred ones.")
        .operations(&["listFolders"])
        .params(&[WORKSPACE_FILTER, q("isStarred", r#"{"type":"boolean","description":"Only starred folders."}"#), LIMIT, PAGE_TOKEN])
        .list("/folders", R),
    tool("coda_create_folder", "Create a folder",
        "Create a folder in a workspace to group docs; returns the new folder with its ID.")
        .operations(&["createFolder"])
        .params(&[
            body("name", true, r#"{"type":"string","minLength":1,"description":"Name of the folder."}"#),
            body("workspaceId", true, r#"{"type":"string","minLength":1,"description":"Workspace to create it in (ws-xxxx)."}"#),
            body("description", false, r#"{"type":"string","description":"Description of the folder."}"#), WAIT])
        .write("POST", "/folders", W),
    tool("coda_get_folder", "Get a folder",
        "Get a folder's name, description, workspace and link.")
        .operations(&["getFolder"])
        .params(&[FOLDER_PATH])
        .get("/folders/{folderId}", R),
    tool("coda_update_folder", "Rename a folder",
        "Change a folder's name and/or description. The docs inside are not affected.")
        .operations(&["updateFolder"])
        .params(&[FOLDER_PATH,
            body("name", false, r#"{"type":"string","minLength":1,"description":"New name."}"#),
            body("description", false, r#"{"type":"string","description":"New description."}"#), WAIT])
        .write("PATCH", "/folders/{folderId}", W).destructive().idempotent(),
    tool("coda_delete_folder", "Delete a folder",
        "Delete a folder. Ask the user first: this cannot be undone from the API.")
        .operations(&["deleteFolder", "getFolder"])
        .params(&[FOLDER_PATH, WAIT])
        .write("DELETE", "/folders/{folderId}", W).destructive().idempotent()
        .confirmed_by(Confirm::Gone),
    // ------------------------------------------------------------------ ChatGPT search and fetch
    ToolDef { name: "search", title: "Search Coda",
        description: "Search the user's Coda workspace: doc names, page names, table names and row values. Returns results with an id to pass to fetch.",
        operations: &["listDocs", "listPages", "listTables", "listRows"], effect: Effect::Read,
        params: &[Param { name: "query", loc: Loc::Local, required: true, schema: r#"{"type":"string","minLength":1,"description":"Words to look for."}"# }],
        call: Call::Search },
    ToolDef { name: "fetch", title: "Fetch a Coda item",
        description: "Fetch the full text of a search result (a doc, page, table or row) by its id or Coda URL.",
        operations: &["getDoc", "listPages", "getPage", "listPageContent", "getTable", "listColumns", "listRows", "getRow", "resolveBrowserLink"], effect: Effect::Read,
        params: &[Param { name: "id", loc: Loc::Local, required: true, schema: r#"{"type":"string","minLength":1,"description":"An id from search, or a Coda URL."}"# }],
        call: Call::Fetch },
];

/// The `row` body of `coda_update_row`.
const fn const_format_row() -> &'static str {
    r#"{"type":"object","description":"The new values: {\"cells\": [{\"column\": \"<column ID or name>\", \"value\": <value>}]}. Only the listed columns change.","properties":{"cells":{"type":"array","minItems":1,"items":{"type":"object","properties":{"column":{"type":"string","description":"Column ID or name."},"value":{"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"},{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"},{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"number"},{"type":"boolean"}]}}]}}],"description":"The cell value (Coda's Value): text, number, boolean, date text, a person's email, a row name for lookups, or a list of these."}},"required":["column","value"],"additionalProperties":false}}},"required":["cells"]}"#
}
