//! `coda_create_rows`: rows sent in batches within Coda's limits (a pure planner decides
//! the batches), each write confirmed, per-batch outcomes reported; an upsert's added and
//! updated rows told apart by the table's row count.

use serde_json::{json, Value};

use super::exec::{finish_write, Check, Run, ToolError};
use crate::coda::{CodaPath, CodaRequest};

/// Coda's per-request limit (2 MB), less room for the envelope.
const MAX_BATCH_BYTES: usize = 1_900_000;
/// Coda's per-row limit (85 KB).
const MAX_ROW_BYTES: usize = 85 * 1024;
/// Rows per batch, whatever their size.
const MAX_BATCH_ROWS: usize = 500;

/// How rows go to Coda: batches of (row index, row), and the rows refused before sending.
#[derive(Debug, Default)]
struct Plan {
    batches: Vec<Vec<(usize, Value)>>,
    rejected: Vec<Value>,
}

/// Splits `rows` into batches within Coda's limits ([`MAX_BATCH_BYTES`] of JSON and
/// [`MAX_BATCH_ROWS`] rows each), in order; a row over Coda's 85 KB is refused with a message
/// saying so and what to do. Pure: nothing is sent.
fn plan(rows: Vec<Value>) -> Plan {
    let mut plan = Plan::default();
    let mut batch_bytes = 0usize;
    for (i, row) in rows.into_iter().enumerate() {
        let size = serde_json::to_vec(&row).map(|b| b.len()).unwrap_or(0);
        if size > MAX_ROW_BYTES {
            plan.rejected.push(json!({"row": i, "error": format!(
                "row {i} is {} KB, over Coda's 85 KB row limit; it was not sent — shorten its values or split them", size / 1024)}));
            continue;
        }
        let full = plan.batches.last().is_none_or(|current| {
            batch_bytes + size > MAX_BATCH_BYTES || current.len() >= MAX_BATCH_ROWS
        });
        if full {
            plan.batches.push(Vec::new());
            batch_bytes = 0;
        }
        plan.batches.last_mut().expect("a batch").push((i, row));
        batch_bytes += size + 1;
    }
    plan
}

/// Sends `rows` in batches within Coda's size limits (the pacer keeps them within the write
/// rate), waits for each and reports per-batch outcomes. Oversized rows are not sent.
/// Coda names the rows a plain insert adds (`addedRowIds`) but not those an upsert
/// (`keyColumns`) adds or updates: for an upsert the table's row count before and after is
/// reported instead, and the result says so.
pub(super) async fn upsert_rows(
    run: &mut Run<'_>,
    req: CodaRequest,
    wait: bool,
) -> Result<Value, ToolError> {
    let body = req.body.clone().unwrap_or_default();
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    let sent_rows = rows.len();
    let key_columns = body
        .get("keyColumns")
        .filter(|k| k.as_array().is_some_and(|k| !k.is_empty()))
        .cloned();
    let Plan { batches, rejected } = plan(rows);
    let table_path = req.path.strip_last("rows").unwrap_or_default();
    let count_before = match (&key_columns, wait) {
        (Some(_), true) if !batches.is_empty() => row_count(run, &table_path).await,
        _ => None,
    };
    let mut outcomes = Vec::new();
    let mut not_sent = Vec::new();
    let mut added: Option<Vec<Value>> = None;
    let mut failures = 0usize;
    let mut first_error: Option<ToolError> = None;
    let mut warnings: Vec<Value> = Vec::new();
    let total = batches.len();
    run.report_waits = false;
    for (n, batch) in batches.into_iter().enumerate() {
        let first = batch.first().map(|(i, _)| *i).unwrap_or(0);
        let last = batch.last().map(|(i, _)| *i).unwrap_or(0);
        let mut body = json!({"rows": batch.into_iter().map(|(_, r)| r).collect::<Vec<_>>()});
        if let Some(keys) = &key_columns {
            body["keyColumns"] = keys.clone();
        }
        if run.opts.past_deadline() {
            // The caller must answer now: what was sent is reported, the rest is not sent.
            not_sent.push(json!({"batch": n + 1, "rows": [first, last], "sent": false,
                "status": "not sent: the call ran out of time before this batch; send these rows again"}));
            continue;
        }
        if run.opts.cancelled() {
            // A safe point: the batches before were sent whole (and waited for), none after.
            not_sent.push(json!({"batch": n + 1, "rows": [first, last], "sent": false,
                "status": "not sent: the call was cancelled before this batch"}));
            continue;
        }
        run.opts.report(
            n as f64 + 0.5,
            Some(total as f64),
            format!("sending batch {} of {total} (rows {first}–{last})", n + 1),
        );
        let mut batch_req = req.clone();
        batch_req.body = Some(body);
        let outcome = match run.send_full(&batch_req).await {
            Ok(accepted) => finish_write(run, accepted, wait, &Check::mutation_status()).await,
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(result) => {
                run.opts.report(
                    (n + 1) as f64,
                    Some(total as f64),
                    format!("batch {} of {total} applied", n + 1),
                );
                let mut entry = json!({"batch": n + 1, "rows": [first, last], "requestId": result["requestId"],
                    "completed": result["completed"]});
                // Coda's mutation status may warn (e.g. a key matched several rows): the
                // model must see it, per batch and at the top.
                if let Some(w) = result.get("warning") {
                    entry["warning"] = w.clone();
                    warnings.push(json!({"batch": n + 1, "warning": w}));
                }
                if let Some(ids) = result["addedRowIds"].as_array() {
                    added
                        .get_or_insert_with(Vec::new)
                        .extend(ids.iter().cloned());
                    entry["addedRowIds"] = json!(ids);
                }
                outcomes.push(entry);
            }
            Err(e) => {
                failures += 1;
                outcomes
                    .push(json!({"batch": n + 1, "rows": [first, last], "error": e.to_string()}));
                let fatal =
                    matches!(&e, ToolError::Coda(c) if matches!(c.status(), Some(401 | 403)));
                first_error.get_or_insert(e);
                if fatal {
                    break;
                }
            }
        }
    }
    if total > 0 && failures == total && rejected.is_empty() && not_sent.is_empty() {
        return Err(first_error.unwrap_or_else(|| ToolError::Unsupported("no rows to send".into())));
    }
    let completed = total > 0
        && failures == 0
        && rejected.is_empty()
        && not_sent.is_empty()
        && outcomes.iter().all(|o| o["completed"] == json!(true));
    let unsent = not_sent.len();
    outcomes.extend(not_sent);
    let mut out = json!({"completed": completed, "batches": outcomes});
    if let Some(ids) = added {
        out["addedRowIds"] = json!(ids);
    }
    if total == 1 && failures == 0 {
        out["requestId"] = out["batches"][0]["requestId"].clone();
    }
    if let Some(keys) = &key_columns {
        let mut upsert = json!({"rowsSent": sent_rows - rejected.len(), "keyColumns": keys,
            "note": "Coda does not say which rows an upsert (keyColumns) added or updated; list the rows (e.g. with query on a key column) to see them."});
        let count_after = match (count_before, completed) {
            (Some(_), true) => row_count(run, &table_path).await,
            _ => None,
        };
        if let (Some(before), Some(after)) = (count_before, count_after) {
            let sent = (sent_rows - rejected.len()) as u64;
            let grew = after.saturating_sub(before);
            upsert["rowCountBefore"] = json!(before);
            upsert["rowCountAfter"] = json!(after);
            upsert["note"] = json!(format!(
                "Coda does not say which rows an upsert (keyColumns) added or updated. The table went from {before} to {after} rows, so {grew} of the {sent} rows sent were added and {} matched existing rows (each match is updated) — unless someone else changed the table meanwhile.",
                sent.saturating_sub(grew)));
        }
        out["upsert"] = upsert;
    }
    if !rejected.is_empty() {
        out["rejectedRows"] = json!(rejected);
    }
    if !warnings.is_empty() {
        out["warnings"] = json!(warnings);
    }
    if failures > 0 || unsent > 0 || !rejected.is_empty() {
        out["status"] = json!(format!(
            "partial: {} row(s) rejected before sending, {failures} of {total} batch(es) failed, {unsent} not sent (out of time); see rejectedRows and batches",
            rejected.len()
        ));
    }
    Ok(out)
}

/// A table's `rowCount`, if Coda tells it.
async fn row_count(run: &mut Run<'_>, table_path: &CodaPath) -> Option<u64> {
    let table = run.send(&CodaRequest::get(table_path.clone())).await.ok()?;
    table["rowCount"].as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(bytes: usize) -> Value {
        json!({"cells": [{"column": "c", "value": "x".repeat(bytes)}]})
    }

    #[test]
    fn rows_are_batched_by_count_and_size_in_order() {
        assert!(plan(vec![]).batches.is_empty());
        let many = plan((0..1_201).map(|_| row(10)).collect());
        let sizes: Vec<usize> = many.batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [500, 500, 201]);
        assert_eq!(many.batches[1][0].0, 500, "indexes stay the caller's");
        // 30 rows of 80 KB: at most 1.9 MB of JSON per batch.
        let big = plan((0..30).map(|_| row(80 * 1024)).collect());
        assert!(big.batches.len() >= 2);
        for batch in &big.batches {
            let bytes: usize = batch
                .iter()
                .map(|(_, r)| serde_json::to_vec(r).unwrap().len() + 1)
                .sum();
            assert!(bytes <= MAX_BATCH_BYTES, "{bytes} bytes in one batch");
        }
        assert!(big.rejected.is_empty());
    }

    #[test]
    fn an_oversized_row_is_refused_and_the_rest_go() {
        let p = plan(vec![row(10), row(90 * 1024), row(10)]);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0]["row"], 1);
        assert!(p.rejected[0]["error"].as_str().unwrap().contains("85 KB"));
        let sent: Vec<usize> = p.batches.concat().iter().map(|(i, _)| *i).collect();
        assert_eq!(sent, [0, 2]);
    }
}
