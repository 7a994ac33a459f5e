//! Reusable tool parameters: Coda's own parameter names, with their JSON Schemas (descriptions
//! and enums from Coda's OpenAPI spec, reworded for a model where that helps).

use super::{Loc, Param};

/// Declares a parameter constant; `$schema` is JSON text.
macro_rules! param {
    ($(#[$doc:meta])* $const:ident, $name:expr, $loc:ident, $required:expr, $schema:expr) => {
        $(#[$doc])*
        pub const $const: Param = Param { name: $name, loc: Loc::$loc, required: $required, schema: $schema };
    };
}

// ---- path identifiers
param!(/// `docId` in the path.
    DOC_ID, "docId", Path, true,
    r#"{"type":"string","minLength":1,"description":"The doc's ID (e.g. AbCDeFGH01, from coda_list_documents) or its Coda URL."}"#);
param!(/// `tableIdOrName` in the path.
    TABLE, "tableIdOrName", Path, true,
    r#"{"type":"string","minLength":1,"description":"Table ID (grid-…) or name, from coda_list_tables; IDs survive renames."}"#);
param!(/// `rowIdOrName` in the path.
    ROW, "rowIdOrName", Path, true,
    r#"{"type":"string","minLength":1,"description":"Row ID (i-…) or its display-column value (must be unique in the table)."}"#);
param!(/// `pageIdOrName` in the path.
    PAGE, "pageIdOrName", Path, true,
    r#"{"type":"string","minLength":1,"description":"Page ID (canvas-…, from coda_list_pages) or name; prefer IDs."}"#);
param!(/// `columnIdOrName` in the path.
    COLUMN, "columnIdOrName", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID (c-xxxx) or name of the column (from coda_get_table or coda_list_columns)."}"#);
param!(/// `formulaIdOrName` in the path.
    FORMULA, "formulaIdOrName", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID or name of the named formula (from coda_list_formulas)."}"#);
param!(/// `controlIdOrName` in the path.
    CONTROL, "controlIdOrName", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID or name of the control (from coda_list_controls)."}"#);
param!(/// `permissionId` in the path.
    PERMISSION_ID, "permissionId", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID of a permission on the doc (from coda_get_permissions)."}"#);
param!(/// `customDocDomain` in the path.
    CUSTOM_DOMAIN, "customDocDomain", Path, true,
    r#"{"type":"string","minLength":1,"description":"A custom domain of a published doc, e.g. docs.example.com."}"#);
param!(/// `requestId` in the path.
    REQUEST_ID, "requestId", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID of the request, as returned by the write or export that started it."}"#);
param!(/// `ruleId` in the path.
    RULE_ID, "ruleId", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID of the automation rule (webhook-invoked automation), e.g. grid-auto-xxxx."}"#);
param!(/// `workspaceId` in the path.
    WORKSPACE_PATH, "workspaceId", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID of the workspace, e.g. ws-xxxx (see a doc's workspace in coda_get_document)."}"#);
param!(/// `organizationId` in the path.
    ORG_ID, "organizationId", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID of the organization (see a workspace's organizationId)."}"#);
param!(/// `packId` in the path.
    PACK_ID, "packId", Path, true,
    r#"{"type":"integer","minimum":1,"description":"ID of a Pack."}"#);
param!(/// `folderId` in the path.
    FOLDER_PATH, "folderId", Path, true,
    r#"{"type":"string","minLength":1,"description":"ID of the folder, e.g. fl-xxxx (from coda_list_folders)."}"#);

// ---- paging and common query parameters
param!(/// `limit` for list tools: how many items to return in total.
    LIMIT, "limit", Local, false,
    r#"{"type":"integer","minimum":1,"maximum":1000,"default":25,"description":"How many items to return in all (Coda's pages are followed for you)."}"#);
param!(/// `pageToken` to continue a list.
    PAGE_TOKEN, "pageToken", Query, false,
    r#"{"type":"string","description":"The previous call's nextPageToken, to continue it (its filters come with it)."}"#);
param!(/// `sortBy=name` for formulas, controls, tables.
    SORT_BY_NAME, "sortBy", Query, false,
    r#"{"type":"string","enum":["name"],"description":"Sort by name."}"#);
param!(/// `useColumnNames` for row reads.
    USE_COLUMN_NAMES, "useColumnNames", Query, false,
    r#"{"type":"boolean","default":true,"description":"Key values by column name (default here) instead of column ID."}"#);
param!(/// `valueFormat` for row reads.
    VALUE_FORMAT, "valueFormat", Query, false,
    r#"{"type":"string","enum":["simple","simpleWithArrays","rich"],"default":"simple","description":"simple (plain), simpleWithArrays (lists stay lists) or rich (typed people, links, currency)."}"#);
param!(/// `disableParsing` for writes.
    DISABLE_PARSING, "disableParsing", Query, false,
    r#"{"type":"boolean","description":"Store values exactly as sent (no parsing into dates, numbers…)."}"#);
param!(/// `visibleOnly` for rows and columns.
    VISIBLE_ONLY, "visibleOnly", Query, false,
    r#"{"type":"boolean","description":"Only rows/columns visible in the table's current view."}"#);
param!(/// `X-Coda-Doc-Version: latest` for reads where a stale answer matters (rows, tables).
    REQUIRE_LATEST, "requireLatest", DocVersionHeader, false,
    r#"{"type":"boolean","description":"true: fail (then retry) rather than read a copy that lags recent edits."}"#);
param!(/// `wait` for writes.
    WAIT, "wait", Local, false,
    r#"{"type":"boolean","default":true,"description":"Wait (up to 20 s) until Coda has applied the write. false: answer at once, with the requestId."}"#);
param!(/// `workspaceId` as a filter.
    WORKSPACE_FILTER, "workspaceId", Query, false,
    r#"{"type":"string","description":"Only items in this workspace (ws-xxxx)."}"#);
param!(/// `isPublished` as a filter.
    IS_PUBLISHED, "isPublished", Query, false,
    r#"{"type":"boolean","description":"Only published items."}"#);
param!(/// `sinceDate` for analytics.
    SINCE_DATE, "sinceDate", Query, false,
    r#"{"type":"string","format":"date","description":"Only activity on or after this date (YYYY-MM-DD)."}"#);
param!(/// `untilDate` for analytics.
    UNTIL_DATE, "untilDate", Query, false,
    r#"{"type":"string","format":"date","description":"Only activity on or before this date (YYYY-MM-DD)."}"#);
param!(/// `scale` for analytics.
    SCALE, "scale", Query, false,
    r#"{"type":"string","enum":["daily","cumulative"],"description":"Quantization period of the analytics. Defaults to daily."}"#);
param!(/// `direction` for analytics.
    DIRECTION, "direction", Query, false,
    r#"{"type":"string","enum":["ascending","descending"],"description":"Sort direction."}"#);
param!(/// `packIds` for analytics.
    PACK_IDS, "packIds", Query, false,
    r#"{"type":"array","items":{"type":"integer"},"description":"Only these Pack IDs."}"#);
