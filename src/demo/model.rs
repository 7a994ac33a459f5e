//! The demo workspace's data model and how it renders in Coda's JSON shapes.

use serde_json::{json, Map, Value};

/// The public origin the demo pretends to be, used in `browserLink`s.
pub const BROWSER_ORIGIN: &str = "https://coda.io";

/// URL-friendly form of a name, as Coda puts in links.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// `https://coda.io/d/_d{docId}`.
pub fn doc_link(doc_id: &str) -> String {
    format!("{BROWSER_ORIGIN}/d/_d{doc_id}")
}

/// A page's browser link: `…/d/_d{doc}/{Name}_su{suffix}` for page `canvas-{suffix}`.
pub fn page_link(doc_id: &str, page_id: &str, name: &str) -> String {
    let suffix = page_id.strip_prefix("canvas-").unwrap_or(page_id);
    format!("{}/{}_su{suffix}", doc_link(doc_id), slug(name))
}

/// A table's browser link: `…/d/_d{doc}#{Name}_t{suffix}` for table `grid-{suffix}`.
pub fn table_link(doc_id: &str, table_id: &str, name: &str) -> String {
    let suffix = table_id.strip_prefix("grid-").unwrap_or(table_id);
    format!("{}#{}_t{suffix}", doc_link(doc_id), slug(name))
}

/// A row's browser link: the table's plus `/_ru{rowId}`.
pub fn row_link(doc_id: &str, table_id: &str, table_name: &str, row_id: &str) -> String {
    format!("{}/_ru{row_id}", table_link(doc_id, table_id, table_name))
}

/// A column's type, as Coda's `format.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Number,
    Date,
    Checkbox,
    Select,
    Person,
    Lookup,
    Button,
}

impl ColumnType {
    fn coda_name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Number => "number",
            ColumnType::Date => "date",
            ColumnType::Checkbox => "checkbox",
            ColumnType::Select => "select",
            ColumnType::Person => "person",
            ColumnType::Lookup => "lookup",
            ColumnType::Button => "button",
        }
    }
}

/// A person known to the workspace.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: &'static str,
    pub email: &'static str,
}

/// A cell value, stored in its richest form.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Date(String),
    Bool(bool),
    Person {
        name: String,
        email: String,
    },
    Ref {
        table_id: String,
        table_name: String,
        row_id: String,
        name: String,
    },
}

/// How a client asked for values (`valueFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    Simple,
    SimpleWithArrays,
    Rich,
}

impl ValueFormat {
    /// Parses Coda's `valueFormat` query parameter.
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("simple") => Some(ValueFormat::Simple),
            Some("simpleWithArrays") => Some(ValueFormat::SimpleWithArrays),
            Some("rich") => Some(ValueFormat::Rich),
            _ => None,
        }
    }
}

impl Cell {
    /// Renders the value the way Coda does for `format`.
    pub fn render(&self, format: ValueFormat, doc_id: &str) -> Value {
        match (self, format) {
            (Cell::Empty, _) => json!(""),
            (Cell::Text(s), ValueFormat::Rich) => json!(format!("```{s}```")),
            (Cell::Text(s), _) | (Cell::Date(s), _) => json!(s),
            (Cell::Number(n), _) if n.fract() == 0.0 && n.abs() < 1e15 => json!(*n as i64),
            (Cell::Number(n), _) => json!(n),
            (Cell::Bool(b), _) => json!(b),
            (Cell::Person { name, email }, ValueFormat::Rich) => json!({
                "@context": "http://schema.org/", "@type": "Person", "name": name, "email": email,
            }),
            (Cell::Person { name, .. }, _) => json!(name),
            (
                Cell::Ref {
                    table_id,
                    table_name,
                    row_id,
                    name,
                },
                ValueFormat::Rich,
            ) => json!({
                "@context": "http://schema.org/", "@type": "StructuredValue",
                "additionalType": "row", "name": name,
                "url": row_link(doc_id, table_id, table_name, row_id),
                "tableId": table_id, "rowId": row_id,
                "tableUrl": table_link(doc_id, table_id, table_name),
            }),
            (Cell::Ref { name, .. }, _) => json!(name),
        }
    }

    /// The plain text of the value, for display names and matching.
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) | Cell::Date(s) => s.clone(),
            Cell::Number(n) => format_number(*n),
            Cell::Bool(b) => b.to_string(),
            Cell::Person { name, .. } => name.clone(),
            Cell::Ref { name, .. } => name.clone(),
        }
    }

    /// Whether this cell equals a `query` filter value.
    pub fn matches(&self, wanted: &Value) -> bool {
        match (self, wanted) {
            (Cell::Number(n), Value::Number(w)) => w.as_f64() == Some(*n),
            (Cell::Bool(b), Value::Bool(w)) => b == w,
            (Cell::Person { name, email }, Value::String(w)) => name == w || email == w,
            (cell, Value::String(w)) => cell.text() == *w,
            (cell, other) => serde_json::to_string(other).is_ok_and(|o| o == cell.text()),
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A table column.
#[derive(Debug, Clone)]
pub struct Column {
    pub id: String,
    pub name: String,
    pub kind: ColumnType,
    /// For selects: the allowed options.
    pub options: Vec<String>,
    /// For lookups: the table the column points at.
    pub lookup_table: Option<String>,
    pub display: bool,
}

/// A row.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub cells: Vec<Cell>,
    pub created_at: String,
    pub updated_at: String,
    /// Position in the table (0-based).
    pub index: usize,
    /// The table's [`Table::version`] when this row last changed (0: as sampled), for
    /// `syncToken`.
    pub changed: u64,
}

/// A table.
#[derive(Debug, Clone)]
pub struct Table {
    pub id: String,
    pub name: String,
    pub page_id: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub created_at: String,
    pub updated_at: String,
    /// Counts row changes: `nextSyncToken` names the version a listing saw, and a later
    /// `syncToken` lists only the rows changed since (as Coda does).
    pub version: u64,
}

/// One line of page content, as `listPageContent` reports it.
#[derive(Debug, Clone)]
pub struct Line {
    /// Stable element ID (`cl-…`), usable with `deletePageContent` and `elementId`.
    pub id: String,
    /// Coda's line style: `h1`, `h2`, `h3`, `paragraph`, `bulletedList`, `numberedList`, …
    pub style: String,
    pub text: String,
}

/// A page of a doc, with its text content as lines.
#[derive(Debug, Clone)]
pub struct Page {
    pub id: String,
    pub name: String,
    pub subtitle: String,
    pub icon: String,
    pub hidden: bool,
    pub parent: Option<String>,
    /// The page's content, line by line.
    pub lines: Vec<Line>,
    pub created_at: String,
    pub updated_at: String,
}

/// A doc.
#[derive(Debug, Clone)]
pub struct Doc {
    pub id: String,
    pub name: String,
    pub icon: String,
    pub folder_id: String,
    pub folder_name: String,
    pub pages: Vec<Page>,
    pub tables: Vec<Table>,
    pub created_at: String,
    pub updated_at: String,
    /// Sharing, publishing, formulas, controls and the rest.
    pub extras: DocExtras,
}

/// The parts of a doc beyond pages and tables.
#[derive(Debug, Clone, Default)]
pub struct DocExtras {
    /// `{id, principal, access}` objects.
    pub permissions: Vec<Value>,
    /// allowEditorsToChangePermissions, allowCopying, allowViewersToRequestEditing.
    pub acl: (bool, bool, bool),
    /// Publishing settings when published.
    pub published: Option<Value>,
    /// Custom domains: `{customDocDomain, setupStatus, …}`.
    pub domains: Vec<Value>,
    /// Named formulas: `(id, name, value)`.
    pub formulas: Vec<(String, String, Value)>,
    /// Controls: `(id, name, controlType, value)`.
    pub controls: Vec<(String, String, String, Value)>,
    /// IDs of automation rules that a webhook may trigger.
    pub webhook_rules: Vec<String>,
    /// Times each webhook rule ran (for tests and the curious).
    pub webhook_runs: Vec<(String, Value)>,
    /// Times each page was viewed (analytics).
    pub views: u64,
}

/// A folder.
#[derive(Debug, Clone)]
pub struct Folder {
    pub id: String,
    pub name: String,
    pub description: String,
    pub starred: bool,
}

/// A workspace member.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub email: String,
    pub role: String,
}

/// The whole workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub owner: Person,
    pub docs: Vec<Doc>,
    pub folders: Vec<Folder>,
    pub members: Vec<Member>,
    pub go_links: Vec<Value>,
    pub organization_id: String,
}

impl Workspace {
    /// Coda's `Folder` object.
    pub fn folder_json(&self, api: &str, f: &Folder) -> Value {
        json!({"id": f.id, "type": "folder", "name": f.name, "description": f.description,
            "browserLink": format!("{BROWSER_ORIGIN}/docs?folderId={}", f.id), "href": format!("{api}/folders/{}", f.id),
            "canEdit": true, "workspace": {"id": self.id, "type": "workspace", "organizationId": self.organization_id,
                "browserLink": format!("{BROWSER_ORIGIN}/docs?workspaceId={}", self.id), "name": self.name}})
    }

    /// Finds a doc by ID.
    pub fn doc(&self, id: &str) -> Option<&Doc> {
        self.docs.iter().find(|d| d.id == id)
    }

    /// Mutable variant of [`Workspace::doc`].
    pub fn doc_mut(&mut self, id: &str) -> Option<&mut Doc> {
        self.docs.iter_mut().find(|d| d.id == id)
    }
}

impl Doc {
    /// Coda's `Doc` object.
    pub fn to_json(&self, api: &str, ws: &Workspace) -> Value {
        let rows: usize = self.tables.iter().map(|t| t.rows.len()).sum();
        let mut doc = json!({
            "id": self.id, "type": "doc", "href": format!("{api}/docs/{}", self.id),
            "browserLink": doc_link(&self.id),
            "icon": {"name": self.icon, "type": "image/png", "browserLink": format!("{BROWSER_ORIGIN}/icons/{}", self.icon)},
            "name": self.name, "owner": ws.owner.email, "ownerName": ws.owner.name,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
            "workspace": {"id": ws.id, "type": "workspace", "organizationId": "org-demo",
                "browserLink": format!("{BROWSER_ORIGIN}/docs?workspaceId={}", ws.id), "name": ws.name},
            "folder": {"id": self.folder_id, "type": "folder",
                "browserLink": format!("{BROWSER_ORIGIN}/docs?folderId={}", self.folder_id), "name": self.folder_name},
            "workspaceId": ws.id, "folderId": self.folder_id,
            "docSize": {"totalRowCount": rows, "tableAndViewCount": self.tables.len(),
                "pageCount": self.pages.len(), "overApiSizeLimit": false},
        });
        // Coda's `DocPublished`, present only while the doc is published.
        if let Some(p) = &self.extras.published {
            doc["published"] = json!({
                "browserLink": format!("{BROWSER_ORIGIN}/@demo/{}", p["slug"].as_str().unwrap_or_default()),
                "discoverable": p["discoverable"], "earnCredit": p["earnCredit"], "mode": p["mode"],
                "categories": p["categories"]});
        }
        doc
    }

    /// Finds a page by id or name.
    pub fn page(&self, id_or_name: &str) -> Option<&Page> {
        self.pages
            .iter()
            .find(|p| p.id == id_or_name)
            .or_else(|| self.pages.iter().find(|p| p.name == id_or_name))
    }

    /// Finds a table by id or name.
    pub fn table(&self, id_or_name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.id == id_or_name)
            .or_else(|| self.tables.iter().find(|t| t.name == id_or_name))
    }

    /// Mutable variant of [`Doc::table`].
    pub fn table_mut(&mut self, id_or_name: &str) -> Option<&mut Table> {
        let idx = self
            .tables
            .iter()
            .position(|t| t.id == id_or_name)
            .or_else(|| self.tables.iter().position(|t| t.name == id_or_name))?;
        self.tables.get_mut(idx)
    }
}

impl Page {
    /// Coda's `PageReference`.
    pub fn reference(&self, api: &str, doc_id: &str) -> Value {
        json!({"id": self.id, "type": "page", "href": format!("{api}/docs/{doc_id}/pages/{}", self.id),
            "browserLink": page_link(doc_id, &self.id, &self.name), "name": self.name})
    }

    /// Coda's full `Page` object.
    pub fn to_json(&self, api: &str, doc: &Doc) -> Value {
        let mut v = self.reference(api, &doc.id);
        let children: Vec<Value> = doc
            .pages
            .iter()
            .filter(|p| p.parent.as_deref() == Some(self.id.as_str()))
            .map(|p| p.reference(api, &doc.id))
            .collect();
        let obj = v.as_object_mut().expect("object");
        obj.insert("subtitle".into(), json!(self.subtitle));
        obj.insert(
            "icon".into(),
            json!({"name": self.icon, "type": "image/png",
            "browserLink": format!("{BROWSER_ORIGIN}/icons/{}", self.icon)}),
        );
        obj.insert("contentType".into(), json!("canvas"));
        obj.insert("isHidden".into(), json!(self.hidden));
        obj.insert("isEffectivelyHidden".into(), json!(self.hidden));
        obj.insert("children".into(), json!(children));
        if let Some(parent) = self.parent.as_deref().and_then(|p| doc.page(p)) {
            obj.insert("parent".into(), parent.reference(api, &doc.id));
        }
        obj.insert("createdAt".into(), json!(self.created_at));
        obj.insert("updatedAt".into(), json!(self.updated_at));
        v
    }
}

impl Table {
    /// Marks row `i` as changed at `now` (for `syncToken` and `updatedAt`).
    pub fn touch(&mut self, i: usize, now: String) {
        self.version += 1;
        if let Some(r) = self.rows.get_mut(i) {
            r.changed = self.version;
            r.updated_at = now;
        }
    }

    /// Coda's `TableReference`.
    pub fn reference(&self, api: &str, doc: &Doc) -> Value {
        let page = doc
            .page(&self.page_id)
            .map(|p| p.reference(api, &doc.id))
            .unwrap_or(Value::Null);
        json!({"id": self.id, "type": "table", "tableType": "table",
            "href": format!("{api}/docs/{}/tables/{}", doc.id, self.id),
            "browserLink": table_link(&doc.id, &self.id, &self.name),
            "name": self.name, "parent": page})
    }

    /// Coda's full `Table` object.
    pub fn to_json(&self, api: &str, doc: &Doc) -> Value {
        let mut v = self.reference(api, doc);
        let display = self
            .columns
            .iter()
            .find(|c| c.display)
            .unwrap_or(&self.columns[0]);
        let obj = v.as_object_mut().expect("object");
        obj.insert(
            "displayColumn".into(),
            json!({"id": display.id, "type": "column",
            "href": format!("{api}/docs/{}/tables/{}/columns/{}", doc.id, self.id, display.id)}),
        );
        obj.insert("rowCount".into(), json!(self.rows.len()));
        obj.insert("sorts".into(), json!([]));
        obj.insert("layout".into(), json!("default"));
        // The spec's `Table` requires `viewId`; a base table is its own view.
        obj.insert("viewId".into(), json!(self.id));
        obj.insert("createdAt".into(), json!(self.created_at));
        obj.insert("updatedAt".into(), json!(self.updated_at));
        v
    }

    /// Coda's `Column` object (`ColumnDetail`: its parent is the table's full reference).
    pub fn column_json(&self, api: &str, doc: &Doc, col: &Column) -> Value {
        let mut format = json!({"type": col.kind.coda_name(), "isArray": false});
        match col.kind {
            ColumnType::Select => format["options"] = json!(col.options),
            // Coda's CheckboxColumnFormat always says how the box is shown.
            ColumnType::Checkbox => format["displayType"] = json!("check"),
            _ => {}
        }
        if let Some(t) = &col.lookup_table {
            // A lookup's format names its table by a full `TableReference`.
            format["table"] = doc
                .tables
                .iter()
                .find(|other| other.id == *t)
                .map(|other| other.reference(api, doc))
                .unwrap_or_else(|| json!({"id": t, "type": "table"}));
        }
        json!({"id": col.id, "type": "column", "name": col.name,
            "href": format!("{api}/docs/{}/tables/{}/columns/{}", doc.id, self.id, col.id),
            "display": col.display, "calculated": false, "format": format,
            "parent": self.reference(api, doc)})
    }

    /// Finds a column by id or name.
    pub fn column_index(&self, id_or_name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.id == id_or_name)
            .or_else(|| self.columns.iter().position(|c| c.name == id_or_name))
    }

    /// The display value (name) of a row.
    pub fn row_name(&self, row: &Row) -> String {
        let idx = self.columns.iter().position(|c| c.display).unwrap_or(0);
        row.cells.get(idx).map(Cell::text).unwrap_or_default()
    }

    /// Finds a row by id or by name (display column value).
    pub fn row_index(&self, id_or_name: &str) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| r.id == id_or_name)
            .or_else(|| {
                self.rows
                    .iter()
                    .position(|r| self.row_name(r) == id_or_name)
            })
    }

    /// Coda's `Row` object.
    pub fn row_json(
        &self,
        api: &str,
        doc_id: &str,
        row: &Row,
        format: ValueFormat,
        use_names: bool,
        full: bool,
    ) -> Value {
        let mut values = Map::new();
        for (col, cell) in self.columns.iter().zip(&row.cells) {
            let key = if use_names {
                col.name.clone()
            } else {
                col.id.clone()
            };
            values.insert(key, cell.render(format, doc_id));
        }
        let mut v = json!({"id": row.id, "type": "row",
            "href": format!("{api}/docs/{doc_id}/tables/{}/rows/{}", self.id, row.id),
            "name": self.row_name(row), "index": row.index,
            "browserLink": row_link(doc_id, &self.id, &self.name, &row.id),
            "createdAt": row.created_at, "updatedAt": row.updated_at, "values": values});
        if full {
            v["parent"] = json!({"id": self.id, "type": "table", "tableType": "table",
                "href": format!("{api}/docs/{doc_id}/tables/{}", self.id),
                "browserLink": table_link(doc_id, &self.id, &self.name), "name": self.name});
        }
        v
    }
}
