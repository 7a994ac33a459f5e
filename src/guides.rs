//! Short guides for the model, served as MCP resources (`coda://guides/{name}`): the Coda rules
//! a tool description has no room for. Plain data, like the prompts.

/// One guide.
pub struct Guide {
    /// Its name in `coda://guides/{name}`.
    pub name: &'static str,
    /// Its title in `resources/list`.
    pub title: &'static str,
    /// One line on when to read it.
    pub description: &'static str,
    /// The guide, in markdown.
    pub text: &'static str,
}

impl Guide {
    /// Its resource URI.
    pub fn uri(&self) -> String {
        format!("coda://guides/{}", self.name)
    }
}

/// Every guide.
pub static GUIDES: &[Guide] = &[
    Guide {
        name: "queries",
        title: "Finding rows: query, sorting and paging",
        description: "How coda_list_rows filters (query syntax), sorts and pages; read before filtering rows.",
        text: "# Finding rows\n\n\
- `query` filters on ONE column by equality: `<column>:<JSON value>`. The column is its ID (`c-AbC12`) or its \
name in double quotes. Examples: `\"Status\":\"Done\"`, `\"Estimate (h)\":8`, `\"Urgent\":true`, `c-AbC12:\"Ada\"`.\n\
- There is no `contains`, `>` or `OR`: for anything else, read the rows (follow `nextPageToken`) and filter them yourself.\n\
- `sortBy`: `createdAt`, `updatedAt` or `natural` (the table's order; needs `visibleOnly` left true).\n\
- `useColumnNames: true` keys values by column name instead of ID.\n\
- `valueFormat`: `simple` (text), `simpleWithArrays` (lists stay lists) or `rich` (structured: people, links, currency).\n\
- Paging: a result with `nextPageToken` has more; call again with only `pageToken` (other arguments are ignored \
then). A short page is not the end: only a missing `nextPageToken` is.\n\
- Incremental sync: when a listing reaches the end it returns `nextSyncToken`; pass it as `syncToken` later to get \
only the rows changed since.\n\
- Reading right after a write: pass `requireLatest: true` where offered; Coda then refuses (and we say \"retry\") \
instead of answering from a stale copy.\n",
    },
    Guide {
        name: "values",
        title: "Cell values when writing rows",
        description: "What to send as a cell value for each column type, and how upserts match rows.",
        text: "# Cell values\n\n\
A row is `{\"cells\": [{\"column\": \"<name or ID>\", \"value\": …}]}`.\n\n\
| column type | value |\n|---|---|\n\
| text | a string; markdown is kept as text |\n\
| number, currency, percent, slider | a number (`0.25` for 25 %) |\n\
| checkbox | `true` / `false` |\n\
| date, time, date and time | an ISO 8601 string: `2026-11-30`, `2026-11-30T14:00:00Z` |\n\
| select, multi-select | the option's text; a list of texts for several |\n\
| person | the person's email address (a list for several) |\n\
| lookup (relation) | the linked row's display value or row ID (a list for several) |\n\
| formula column | cannot be written |\n\n\
- Coda parses text into the column's type; `disableParsing: true` stores exactly what you send.\n\
- Upsert: give `keyColumns` (names or IDs); a row whose key cells match an existing row updates EVERY matching row, \
others are added. Upserts work on base tables, not views.\n\
- Limits: 85 KB per row and 2 MB per request; bigger writes are split into batches for you.\n\
- The API cannot create tables or columns: design them for the person to create in Coda.\n",
    },
    Guide {
        name: "rate-limits",
        title: "Coda's rate limits and how to pace bulk work",
        description: "Coda's per-user request limits, what happens at the limit, and how to pace long jobs.",
        text: "# Rate limits\n\n\
Coda limits each user (all sessions together):\n\n\
| class | limit |\n|---|---|\n\
| reads (GET) | 100 per 6 s |\n| writes (POST, PUT, PATCH, DELETE) | 10 per 6 s |\n\
| page content writes | 3 per 10 s |\n| listing docs | 4 per 6 s |\n| analytics | 100 per 6 s |\n\n\
- This server paces every request to stay inside them, so a burst of calls waits instead of failing.\n\
- If Coda still answers 429, the whole class pauses for the time Coda asked, for every session.\n\
- `coda_rate_budget` reports the headroom of each class now: check it before bulk work and prefer one \
`coda_create_rows` with many rows (sent in batches) over many single-row calls.\n",
    },
    Guide {
        name: "writes",
        title: "How writes are confirmed",
        description: "Why Coda's writes are asynchronous and what a write tool's result means.",
        text: "# Writes\n\n\
- Coda accepts a write with HTTP 202 and a `requestId`, and applies it a moment later.\n\
- Write tools wait (up to about 20 s) until Coda reports the change applied, then answer `completed: true`. \
`wait: false` answers at once with the `requestId`; check it later with `coda_get_mutation_status`.\n\
- `completed: false` means accepted but not yet applied: do not send the write again (it would be applied twice); \
check the mutation status, or read the object.\n\
- A mutation status of \"not found\" right after a write is normal (Coda has not recorded it yet): ask again shortly.\n\
- A `warning` in the result is Coda's note about how the write was applied (e.g. a value it could not parse): tell the person.\n\
- Deleting a doc cannot be undone through the API (its owner can restore it from Coda's trash for a while).\n",
    },
];

/// Finds a guide by its URI.
pub fn by_uri(uri: &str) -> Option<&'static Guide> {
    let name = uri.strip_prefix("coda://guides/")?;
    GUIDES.iter().find(|g| g.name == name)
}
