//! The catalogue itself: one entry per tool.

use super::params::*;
use super::{Call, Effect, Loc, Param, ToolDef};
use crate::coda::RateClass;

const DOCS_QUERY: Param = Param {
    name: "query",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"string","description":"Only docs whose name contains this text (case-insensitive)."}"#,
};
const IS_OWNER: Param = Param {
    name: "isOwner",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"boolean","description":"Only docs owned by the token's user."}"#,
};
const IS_STARRED: Param = Param {
    name: "isStarred",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"boolean","description":"Only starred docs."}"#,
};
const WORKSPACE_ID: Param = Param {
    name: "workspaceId",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"string","description":"Only docs in this workspace (ws-…)."}"#,
};
const FOLDER_ID: Param = Param {
    name: "folderId",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"string","description":"Only docs in this folder (fl-…)."}"#,
};
const TABLE_TYPES: Param = Param {
    name: "tableTypes",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"string","description":"Comma-separated table types to include: table, view."}"#,
};
const TABLE_SORT: Param = Param {
    name: "sortBy",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"string","enum":["name"],"description":"Sort tables by name."}"#,
};
const ROWS_QUERY: Param = Param {
    name: "query",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"string","description":"Filter rows by one column: <column ID or \"quoted name\">:<JSON value>, e.g. \"Status\":\"Done\" or c-abc:42."}"#,
};
const ROWS_SORT: Param = Param {
    name: "sortBy",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"string","enum":["createdAt","natural","updatedAt"],"description":"Row order. natural is the table's own order (not allowed with visibleOnly=false)."}"#,
};
const VISIBLE_ONLY: Param = Param {
    name: "visibleOnly",
    loc: Loc::Query,
    required: false,
    schema: r#"{"type":"boolean","description":"Only rows visible in the table's current filter."}"#,
};
const ROW_BODY: Param = Param {
    name: "row",
    loc: Loc::Body,
    required: true,
    schema: r#"{"type":"object","description":"The new values: {\"cells\": [{\"column\": \"<column ID or name>\", \"value\": <value>}]}. Only the listed columns change.","properties":{"cells":{"type":"array","minItems":1,"items":{"type":"object","properties":{"column":{"type":"string","description":"Column ID or name."},"value":{"description":"The cell value: text, number, boolean, date text, a person's email, or a list."}},"required":["column","value"]}}},"required":["cells"]}"#,
};
const ROWS_BODY: Param = Param {
    name: "rows",
    loc: Loc::Body,
    required: true,
    schema: r#"{"type":"array","minItems":1,"description":"Rows to add or update, each {\"cells\": [{\"column\": \"<column ID or name>\", \"value\": <value>}]}.","items":{"type":"object","properties":{"cells":{"type":"array","items":{"type":"object","properties":{"column":{"type":"string"},"value":{}},"required":["column","value"]}}},"required":["cells"]}}"#,
};
const KEY_COLUMNS: Param = Param {
    name: "keyColumns",
    loc: Loc::Body,
    required: false,
    schema: r#"{"type":"array","items":{"type":"string"},"description":"Upsert: column IDs or names that identify a row. Rows whose key cells match are updated (every match), others are added. Works on base tables, not views."}"#,
};

/// Every tool the server offers.
pub static CATALOGUE: &[ToolDef] = &[
    ToolDef {
        name: "coda_list_documents",
        title: "List Coda docs",
        description: "List the Coda docs the token can see, newest first, with their IDs, names, owners and links. Use it first to find a docId. Filter by name with query.",
        operations: &["listDocs"],
        effect: Effect::Read,
        params: &[DOCS_QUERY, IS_OWNER, IS_STARRED, WORKSPACE_ID, FOLDER_ID, LIMIT, PAGE_TOKEN],
        call: Call::List { path: "/docs", class: RateClass::ListDocs },
    },
    ToolDef {
        name: "coda_get_document",
        title: "Get a Coda doc",
        description: "Get one Coda doc's metadata by docId: name, owner, folder, workspace, size (pages, tables, rows) and links.",
        operations: &["getDoc"],
        effect: Effect::Read,
        params: &[DOC_ID],
        call: Call::Get { path: "/docs/{docId}" },
    },
    ToolDef {
        name: "coda_list_tables",
        title: "List tables in a doc",
        description: "List the tables and views in a doc with their IDs, names and the page they live on. Use it to find a tableIdOrName before reading or writing rows.",
        operations: &["listTables"],
        effect: Effect::Read,
        params: &[DOC_ID, TABLE_TYPES, TABLE_SORT, LIMIT, PAGE_TOKEN],
        call: Call::List { path: "/docs/{docId}/tables", class: RateClass::Read },
    },
    ToolDef {
        name: "coda_get_table",
        title: "Get a table and its columns",
        description: "Get a table's details (row count, display column, parent page) together with its columns (IDs, names, types, select options). Call it before writing rows so you use real column names.",
        operations: &["getTable", "listColumns"],
        effect: Effect::Read,
        params: &[DOC_ID, TABLE],
        call: Call::TableWithColumns,
    },
    ToolDef {
        name: "coda_list_rows",
        title: "List rows of a table",
        description: "List rows of a table with their values, optionally filtered by one column (query) and sorted. Returns up to limit rows and a nextPageToken when more exist. Values are keyed by column name unless useColumnNames is false.",
        operations: &["listRows"],
        effect: Effect::Read,
        params: &[DOC_ID, TABLE, ROWS_QUERY, ROWS_SORT, USE_COLUMN_NAMES, VALUE_FORMAT, VISIBLE_ONLY, LIMIT, PAGE_TOKEN],
        call: Call::List { path: "/docs/{docId}/tables/{tableIdOrName}/rows", class: RateClass::Read },
    },
    ToolDef {
        name: "coda_get_row",
        title: "Get one row",
        description: "Get one row of a table by row ID or name, with all its values and its parent table.",
        operations: &["getRow"],
        effect: Effect::Read,
        params: &[DOC_ID, TABLE, ROW, USE_COLUMN_NAMES, VALUE_FORMAT],
        call: Call::Get { path: "/docs/{docId}/tables/{tableIdOrName}/rows/{rowIdOrName}" },
    },
    ToolDef {
        name: "coda_update_row",
        title: "Update one row",
        description: "Change some cells of one existing row. Only the columns listed in row.cells change. By default waits until Coda has applied the change and reports the row ID.",
        operations: &["updateRow", "getMutationStatus"],
        effect: Effect::Write { destructive: true, idempotent: true },
        params: &[DOC_ID, TABLE, ROW, ROW_BODY, DISABLE_PARSING, WAIT],
        call: Call::Write { method: "PUT", path: "/docs/{docId}/tables/{tableIdOrName}/rows/{rowIdOrName}", class: RateClass::Write },
    },
    ToolDef {
        name: "coda_create_rows",
        title: "Add or upsert rows",
        description: "Add rows to a table, or upsert them when keyColumns is given (rows whose key cells match are updated instead). By default waits until Coda has applied the write and returns the IDs of added rows.",
        operations: &["upsertRows", "getMutationStatus"],
        effect: Effect::Write { destructive: true, idempotent: false },
        params: &[DOC_ID, TABLE, ROWS_BODY, KEY_COLUMNS, DISABLE_PARSING, WAIT],
        call: Call::Write { method: "POST", path: "/docs/{docId}/tables/{tableIdOrName}/rows", class: RateClass::Write },
    },
];
