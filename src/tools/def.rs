//! What a catalogue row is: a tool's name, description, parameters (each with its place in
//! the Coda request), effect, Coda operations and call kind — plain data, with the JSON Schema
//! and MCP tool definition built from it.

use serde_json::{json, Map, Value};

use crate::coda::RateClass;

/// Where an argument goes in the Coda request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// Substituted into the path template.
    Path,
    /// Sent as a query parameter.
    Query,
    /// A top-level field of the JSON body.
    Body,
    /// The whole JSON body (e.g. an automation's payload).
    WholeBody,
    /// Consumed by the server itself (`limit` across pages, `wait`).
    Local,
    /// A boolean that, when true, sends `X-Coda-Doc-Version: latest`: Coda then answers 400
    /// rather than from a copy of the doc that lags its latest edits.
    DocVersionHeader,
}

/// One tool argument.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Coda's own parameter name.
    pub name: &'static str,
    /// Where it goes.
    pub loc: Loc,
    /// Whether the tool requires it.
    pub required: bool,
    /// Its JSON Schema (with description), as JSON text.
    pub schema: &'static str,
}

/// What a tool does to Coda, which decides its MCP annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only.
    Read,
    /// Creates or changes data; `destructive` if it can overwrite or delete, `idempotent`
    /// if repeating it changes nothing more.
    Write { destructive: bool, idempotent: bool },
}

/// How the tool is carried out.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    /// One GET, result returned as is.
    Get {
        path: &'static str,
        class: RateClass,
    },
    /// A paginated GET: pages are followed until `limit` items or the end.
    List {
        path: &'static str,
        class: RateClass,
        /// Whether Coda's operation takes `limit` (a page size); without it pages follow
        /// `pageToken` only and are cut to the caller's `limit` here.
        sends_limit: bool,
    },
    /// A write (POST/PUT/PATCH/DELETE), confirmed as `confirm` says when `wait`.
    Write {
        method: &'static str,
        path: &'static str,
        class: RateClass,
        confirm: Confirm,
    },
    /// `getTable` plus `listColumns`, so a model sees the columns it can read and write.
    TableWithColumns,
    /// `upsertRows` in batches that respect Coda's size limits, each waited for.
    UpsertRows,
    /// A page's text through `listPageContent`, or an export when that is unavailable.
    PageText,
    /// The IDs inside a Coda URL.
    ResolveLink,
    /// ChatGPT's `search`.
    Search,
    /// ChatGPT's `fetch`.
    Fetch,
    /// The rate-limit headroom per class (no Coda request).
    RateBudget,
}

/// How a write's effect is confirmed before the tool reports `completed: true`. Coda
/// answers most writes with 202 and a `requestId`, some with 200 (applied at once), and a
/// few with 202 and an empty body, which leaves nothing to poll but the resource itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Poll `getMutationStatus` with the answer's `requestId`; a 200 answer without one is
    /// already applied.
    MutationStatus,
    /// A 202 without `requestId`: GET the write's own path until it answers 404
    /// (`deleteDoc`, `deleteFolder`).
    Gone,
    /// A 202 without `requestId`: GET `path` (a template over the tool's arguments) until its
    /// `array` holds an entry whose `key` equals the argument of the same name
    /// (`addCustomDocDomain`).
    Listed {
        path: &'static str,
        array: &'static str,
        key: &'static str,
    },
    /// Nothing to confirm: the answer is the result (starting an export returns its id).
    Nothing,
}

/// A tool definition: one row of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct ToolDef {
    /// The MCP tool name.
    pub name: &'static str,
    /// A short human title.
    pub title: &'static str,
    /// What it does and when to use it, written for a model.
    pub description: &'static str,
    /// The Coda operationIds it calls.
    pub operations: &'static [&'static str],
    /// Read or write, for annotations and read-only mode.
    pub effect: Effect,
    /// Its arguments.
    pub params: &'static [Param],
    /// How it runs.
    pub call: Call,
}

/// Building a row, one named part at a time (the catalogue is a table of these).
impl ToolDef {
    /// A read-only row with no parameters yet; its call is set by [`ToolDef::get`],
    /// [`ToolDef::list`] or [`ToolDef::write`].
    pub const fn new(name: &'static str, title: &'static str, description: &'static str) -> Self {
        ToolDef {
            name,
            title,
            description,
            operations: &[],
            effect: Effect::Read,
            params: &[],
            call: Call::Get {
                path: "",
                class: RateClass::Read,
            },
        }
    }

    /// The Coda operations (operationIds) the tool calls.
    pub const fn operations(mut self, operations: &'static [&'static str]) -> Self {
        self.operations = operations;
        self
    }

    /// The tool's arguments.
    pub const fn params(mut self, params: &'static [Param]) -> Self {
        self.params = params;
        self
    }

    /// One GET of `path`.
    pub const fn get(mut self, path: &'static str, class: RateClass) -> Self {
        self.effect = Effect::Read;
        self.call = Call::Get { path, class };
        self
    }

    /// A paginated GET of `path`, followed to the caller's `limit`, asking Coda for pages of
    /// that size (`limit`) unless [`ToolDef::without_page_size`] says the operation has none.
    pub const fn list(mut self, path: &'static str, class: RateClass) -> Self {
        self.effect = Effect::Read;
        self.call = Call::List {
            path,
            class,
            sends_limit: true,
        };
        self
    }

    /// A list whose Coda operation declares no `limit` (e.g. `listWorkspaceMembers`): it is
    /// never sent there, so Coda's own page size is followed by `pageToken`.
    pub const fn without_page_size(mut self) -> Self {
        match self.call {
            Call::List { path, class, .. } => {
                self.call = Call::List {
                    path,
                    class,
                    sends_limit: false,
                };
                self
            }
            _ => panic!("only a list has a page size"),
        }
    }

    /// Whether the tool sends Coda a `limit` (only lists whose operation declares one).
    pub fn sends_limit(&self) -> bool {
        matches!(
            self.call,
            Call::List {
                sends_limit: true,
                ..
            }
        )
    }

    /// A write (`method` on `path`), confirmed through Coda's mutation status unless
    /// [`ToolDef::confirmed_by`] says otherwise; neither destructive nor idempotent until said.
    pub const fn write(
        mut self,
        method: &'static str,
        path: &'static str,
        class: RateClass,
    ) -> Self {
        self.effect = Effect::Write {
            destructive: false,
            idempotent: false,
        };
        self.call = Call::Write {
            method,
            path,
            class,
            confirm: Confirm::MutationStatus,
        };
        self
    }

    /// A write that removes or overwrites something (the MCP `destructiveHint`).
    pub const fn destructive(mut self) -> Self {
        match self.effect {
            Effect::Write { idempotent, .. } => {
                self.effect = Effect::Write {
                    destructive: true,
                    idempotent,
                };
                self
            }
            _ => panic!("only a write is destructive"),
        }
    }

    /// A write that has the same effect when repeated (the MCP `idempotentHint`).
    pub const fn idempotent(mut self) -> Self {
        match self.effect {
            Effect::Write { destructive, .. } => {
                self.effect = Effect::Write {
                    destructive,
                    idempotent: true,
                };
                self
            }
            _ => panic!("only a write is idempotent"),
        }
    }

    /// The JSON Schema of the tool's input, built from its parameters.
    pub fn input_schema(&self) -> Value {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in self.params {
            let schema: Value = serde_json::from_str(p.schema)
                .unwrap_or_else(|e| panic!("bad schema for {}.{}: {e}", self.name, p.name));
            props.insert(p.name.to_owned(), schema);
            if p.required {
                required.push(p.name);
            }
        }
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }

    /// Whether the tool only reads.
    pub fn is_read_only(&self) -> bool {
        self.effect == Effect::Read
    }

    /// The same write, confirmed another way (see [`Confirm`]).
    pub const fn confirmed_by(self, confirm: Confirm) -> ToolDef {
        match self.call {
            Call::Write {
                method,
                path,
                class,
                ..
            } => ToolDef {
                call: Call::Write {
                    method,
                    path,
                    class,
                    confirm,
                },
                ..self
            },
            _ => panic!("only writes are confirmed"),
        }
    }

    /// The Coda rate class of the tool's own request (`None` for composites, whose
    /// requests span several classes).
    pub fn rate_class(&self) -> Option<RateClass> {
        match self.call {
            Call::Get { class, .. } | Call::List { class, .. } | Call::Write { class, .. } => {
                Some(class)
            }
            _ => None,
        }
    }

    /// The tool as MCP describes it (`tools/list` entry).
    pub fn to_mcp_json(&self) -> Value {
        let (read_only, destructive, idempotent) = match self.effect {
            Effect::Read => (true, false, true),
            Effect::Write {
                destructive,
                idempotent,
            } => (false, destructive, idempotent),
        };
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema(),
            "annotations": {"title": self.title, "readOnlyHint": read_only, "destructiveHint": destructive,
                // Only a tool that calls no Coda operation (the rate budget) stays inside.
                "idempotentHint": idempotent, "openWorldHint": !self.operations.is_empty()},
            "_meta": {"coda/operations": self.operations},
        })
    }
}
