//! Running a catalogue row: arguments validated → Coda URLs in ID arguments replaced by IDs →
//! the row's call kind carried out with the [`super::exec`] toolkit (one request, a list, a
//! confirmed write) or by a composite (`upsert`, `page_text`, `resolve_link`, `search`) → the result kept within the output budget.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::exec::{
    build, finish_write, list, list_pages, resolve_browser_link, Check, ExecOptions, PageSize, Run,
    ToolError, ToolOutput,
};
use super::links::{self, CodaLink, IdKind};
use super::validate::validate;
use super::{page_text, resolve_link, search, upsert, Call, Confirm, ToolDef};
use crate::coda::{CodaClient, CodaError, RateClass};

/// `getMutationStatus`'s path in the catalogue.
const MUTATION_STATUS: &str = "/mutationStatus/{requestId}";

/// Validates `args` against the tool's schema and runs it.
pub async fn run(
    tool: &ToolDef,
    schema: &Value,
    args: Value,
    client: &CodaClient,
    opts: &ExecOptions,
) -> Result<ToolOutput, ToolError> {
    let args = if args.is_null() { json!({}) } else { args };
    validate(&args, schema, "").map_err(ToolError::InvalidArguments)?;
    let mut args = args.as_object().cloned().unwrap_or_default();
    super::shorthand::expand(tool.name, &mut args)?;
    if opts.cancelled() {
        return Err(ToolError::Cancelled);
    }
    let mut run = Run::new(client, opts);
    ids_from_links(&mut run, tool, &mut args).await?;
    let value = match tool.call {
        Call::Get { path, class } => {
            let req = build(tool, schema, &args, "GET", path, class)?;
            match run.send(&req).await {
                Ok(value) => value,
                // Coda's mutation status is 404 for a few seconds after the write (it has not
                // replicated yet): that is "not yet", not "no such id".
                Err(CodaError::Api { status: 404, .. }) if path == MUTATION_STATUS => {
                    return Err(CodaError::WriteNotRecordedYet.into())
                }
                Err(e) => return Err(e.into()),
            }
        }
        Call::List {
            path,
            class,
            sends_limit,
        } => {
            let req = build(tool, schema, &args, "GET", path, class)?;
            let pages = if sends_limit {
                PageSize::Limit(usize::MAX)
            } else {
                PageSize::Codas
            };
            list_pages(&mut run, req, limit_arg(&args, schema), pages).await?
        }
        Call::Write {
            method,
            path,
            class,
            confirm,
        } => {
            let req = build(tool, schema, &args, method, path, class)?;
            let check = match confirm {
                Confirm::Listed { path, key, .. } => Check {
                    how: confirm,
                    write_path: req.path.clone(),
                    list_path: Some(build(tool, schema, &args, "GET", path, RateClass::Read)?.path),
                    key_value: args.get(key).and_then(Value::as_str).map(str::to_owned),
                },
                _ => Check {
                    how: confirm,
                    write_path: req.path.clone(),
                    list_path: None,
                    key_value: None,
                },
            };
            let accepted = run.send_full(&req).await?;
            finish_write(&mut run, accepted, wait_arg(&args), &check).await?
        }
        Call::TableWithColumns => {
            let table_req = build(
                tool,
                schema,
                &args,
                "GET",
                "/docs/{docId}/tables/{tableIdOrName}",
                RateClass::Read,
            )?;
            let mut table = run.send(&table_req).await?;
            let mut cols_req = build(
                tool,
                schema,
                &args,
                "GET",
                "/docs/{docId}/tables/{tableIdOrName}/columns",
                RateClass::Read,
            )?;
            cols_req.query.clear();
            let columns = list(&mut run, cols_req, 1000).await?;
            table["columns"] = columns["items"].clone();
            table
        }
        Call::UpsertRows => {
            let req = build(
                tool,
                schema,
                &args,
                "POST",
                "/docs/{docId}/tables/{tableIdOrName}/rows",
                RateClass::Write,
            )?;
            upsert::upsert_rows(&mut run, req, wait_arg(&args)).await?
        }
        Call::PageText => {
            let req = build(
                tool,
                schema,
                &args,
                "GET",
                "/docs/{docId}/pages/{pageIdOrName}",
                RateClass::Read,
            )?;
            let plain = args.get("format").and_then(Value::as_str) == Some("plainText");
            let token = args.get("pageToken").and_then(Value::as_str);
            page_text::page_text(&mut run, &req.path, plain, token).await?
        }
        Call::ResolveLink => {
            resolve_link::resolve_link(&mut run, args["url"].as_str().unwrap_or_default()).await?
        }
        Call::Search => {
            search::search(&mut run, args["query"].as_str().unwrap_or_default()).await?
        }
        Call::Fetch => search::fetch(&mut run, args["id"].as_str().unwrap_or_default()).await?,
        Call::RateBudget => super::budget::rate_budget(run.client).await,
    };
    let value = if opts.keep_oversized {
        value
    } else {
        fit_budget(value, opts.output_budget)?
    };
    Ok(run.output(value))
}

fn limit_arg(args: &Map<String, Value>, schema: &Value) -> usize {
    args.get("limit")
        .and_then(Value::as_u64)
        .or_else(|| schema["properties"]["limit"]["default"].as_u64())
        .unwrap_or(25) as usize
}

fn wait_arg(args: &Map<String, Value>) -> bool {
    args.get("wait").and_then(Value::as_bool).unwrap_or(true)
}

/// Replaces Coda URLs given where an ID is expected (path, query and body arguments, single
/// or in lists) by that ID: parsed from the URL when its shape says it, else asked of
/// `resolveBrowserLink` (once per URL).
async fn ids_from_links(
    run: &mut Run<'_>,
    tool: &ToolDef,
    args: &mut Map<String, Value>,
) -> Result<(), ToolError> {
    let mut resolved: HashMap<String, Option<CodaLink>> = HashMap::new();
    for p in tool.params {
        let Some(kind) = IdKind::of_param(p.name) else {
            continue;
        };
        let Some(value) = args.get_mut(p.name) else {
            continue;
        };
        let slots: Vec<&mut Value> = match value {
            Value::Array(items) => items.iter_mut().collect(),
            other => vec![other],
        };
        for slot in slots {
            let Some(url) = slot
                .as_str()
                .filter(|s| links::is_url(s))
                .map(str::to_owned)
            else {
                continue;
            };
            let id = match links::local_id(kind, &url) {
                Some(id) => Some(id),
                None if matches!(kind, IdKind::Folder | IdKind::Workspace) => None,
                None => {
                    if !resolved.contains_key(&url) {
                        let link = resolve_browser_link(run, p.name, &url).await?;
                        resolved.insert(url.clone(), link);
                    }
                    resolved[&url].as_ref().and_then(|l| kind.pick(l))
                }
            };
            let id = id.ok_or_else(|| {
                ToolError::InvalidArguments(format!(
                    "'{}' is a URL that does not name a {}; pass the ID instead",
                    p.name,
                    kind.noun()
                ))
            })?;
            *slot = Value::String(id);
        }
    }
    Ok(())
}

/// Keeps any result within the output budget. Lists are cut by [`list`]; other results that
/// are still too large are refused with advice rather than cut mid-JSON.
fn fit_budget(value: Value, budget: usize) -> Result<Value, ToolError> {
    let size = serde_json::to_string(&value).map(|s| s.len()).unwrap_or(0);
    if size <= budget {
        return Ok(value);
    }
    Err(ToolError::Unsupported(format!(
        "the result is {size} characters, over the {budget}-character limit; ask for less (a smaller limit, fewer columns, or one item at a time)")))
}
