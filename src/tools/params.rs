//! Reusable tool parameters: Coda's own parameter names, with their JSON Schemas.

use super::{Loc, Param};

macro_rules! param {
    ($name:expr, $loc:expr, $required:expr, $schema:expr) => {
        Param {
            name: $name,
            loc: $loc,
            required: $required,
            schema: $schema,
        }
    };
}

/// `docId` in the path.
pub const DOC_ID: Param = param!(
    "docId",
    Loc::Path,
    true,
    r#"{"type":"string","minLength":1,"description":"ID of the doc, e.g. AbCDeFGH01 (from coda_list_documents)."}"#
);
/// `tableIdOrName` in the path.
pub const TABLE: Param = param!(
    "tableIdOrName",
    Loc::Path,
    true,
    r#"{"type":"string","minLength":1,"description":"ID or name of the table, e.g. grid-pqRst-U or Tasks (from coda_list_tables). Names work but IDs survive renames."}"#
);
/// `rowIdOrName` in the path.
pub const ROW: Param = param!(
    "rowIdOrName",
    Loc::Path,
    true,
    r#"{"type":"string","minLength":1,"description":"ID of the row (i-xxxx) or its display-column value. Names must be unique in the table."}"#
);
/// `limit` for list tools: how many items to return in total.
pub const LIMIT: Param = param!(
    "limit",
    Loc::Local,
    false,
    r#"{"type":"integer","minimum":1,"maximum":1000,"default":25,"description":"How many items to return. The server fetches as many Coda pages as needed to return this many (fewer only at the end)."}"#
);
/// `pageToken` to continue a list.
pub const PAGE_TOKEN: Param = param!(
    "pageToken",
    Loc::Query,
    false,
    r#"{"type":"string","description":"Continue a previous listing: pass the nextPageToken it returned. Other filters are then taken from the token."}"#
);
/// `useColumnNames` for row reads.
pub const USE_COLUMN_NAMES: Param = param!(
    "useColumnNames",
    Loc::Query,
    false,
    r#"{"type":"boolean","default":true,"description":"Key row values by column name instead of column ID. Easier to read; IDs are stable across renames."}"#
);
/// `valueFormat` for row reads.
pub const VALUE_FORMAT: Param = param!(
    "valueFormat",
    Loc::Query,
    false,
    r#"{"type":"string","enum":["simple","simpleWithArrays","rich"],"default":"simple","description":"How cell values are rendered: simple (plain values), simpleWithArrays (lists as arrays), rich (typed objects for people, links, currency)."}"#
);
/// `disableParsing` for writes.
pub const DISABLE_PARSING: Param = param!(
    "disableParsing",
    Loc::Query,
    false,
    r#"{"type":"boolean","description":"If true, values are stored as given and not parsed (e.g. a date-looking string stays text)."}"#
);
/// `wait` for writes.
pub const WAIT: Param = param!(
    "wait",
    Loc::Local,
    false,
    r#"{"type":"boolean","default":true,"description":"Wait until Coda has applied the write (polls the mutation status, up to 20 s). If false, returns at once with the requestId."}"#
);
