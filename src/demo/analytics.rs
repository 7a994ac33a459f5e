//! Doc, page and Pack analytics over a date range, as Coda shapes them.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::common::{bool_param, ok, page_of, paging, respond, Params, Shared};
use super::model::{doc_link, Doc};

/// This resource's routes (the router adds them under `/apis/v1`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/analytics/docs", get(doc_analytics))
        .route("/analytics/docs/summary", get(doc_analytics_summary))
        .route("/analytics/docs/{doc}/pages", get(page_analytics))
        .route("/analytics/packs", get(pack_analytics))
        .route("/analytics/packs/summary", get(pack_analytics_summary))
        .route(
            "/analytics/packs/{pack}/formulas",
            get(pack_formula_analytics),
        )
        .route("/analytics/updated", get(analytics_updated))
}

const DAYS: [&str; 7] = [
    "2026-02-21",
    "2026-02-22",
    "2026-02-23",
    "2026-02-24",
    "2026-02-25",
    "2026-02-26",
    "2026-02-27",
];

fn in_range(q: &Params, date: &str) -> bool {
    q.get("sinceDate").is_none_or(|s| date >= s.as_str())
        && q.get("untilDate").is_none_or(|u| date <= u.as_str())
}

fn doc_metrics(d: &Doc, q: &Params) -> Vec<Value> {
    let cumulative = q.get("scale").map(String::as_str) == Some("cumulative");
    let mut total = 0u64;
    DAYS.iter().enumerate().filter(|(_, day)| in_range(q, day)).map(|(i, day)| {
        let views = d.extras.views / 7 + (i as u64 * 3) % 11;
        total += views;
        let v = if cumulative { total } else { views };
        json!({"date": day, "views": v, "copies": (i % 3) as u64, "likes": (i % 2) as u64,
            "sessionsDesktop": v * 2 / 3, "sessionsMobile": v / 4, "sessionsOther": v / 12, "totalSessions": v,
            "aiCredits": 0, "aiCreditsChat": 0, "aiCreditsBlock": 0, "aiCreditsColumn": 0, "aiCreditsAssistant": 0, "aiCreditsReviewer": 0})
    }).collect()
}

fn sum(metrics: &[Value], key: &str) -> u64 {
    metrics.iter().filter_map(|m| m[key].as_u64()).sum()
}

async fn doc_analytics(State(s): State<Shared>, Query(raw): Query<Params>) -> Response {
    respond(paging(&s, raw).and_then(|p| {
        let ws = s.workspace.lock().expect("workspace");
        let q = &p.params;
        let ids: Option<Vec<&str>> = q.get("docIds").map(|v| v.split(',').collect());
        let needle = q.get("query").map(|v| v.to_lowercase());
        let published = bool_param(q, "isPublished")?;
        let mut items: Vec<Value> = ws.docs.iter()
            .filter(|d| ids.as_ref().is_none_or(|ids| ids.contains(&d.id.as_str())))
            .filter(|d| needle.as_ref().is_none_or(|n| d.name.to_lowercase().contains(n)))
            .filter(|d| published.is_none_or(|p| p == d.extras.published.is_some()))
            .filter(|_| q.get("workspaceId").is_none_or(|w| *w == ws.id))
            .map(|d| {
                let mut doc = json!({"id": d.id, "type": "doc", "href": format!("{}/docs/{}", s.api_base, d.id),
                    "browserLink": doc_link(&d.id), "title": d.name, "createdAt": d.created_at});
                // Only a published doc has `publishedAt` (a string, never null).
                if d.extras.published.is_some() {
                    doc["publishedAt"] = json!("2026-01-10T09:00:00.000Z");
                }
                json!({"doc": doc, "metrics": doc_metrics(d, q)})
            }).collect();
        if let Some(order) = q.get("orderBy") {
            let key = |v: &Value| match order.as_str() {
                "title" => json!(v["doc"]["title"]),
                "docId" => json!(v["doc"]["id"]),
                "createdAt" => json!(v["doc"]["createdAt"]),
                other => json!(sum(v["metrics"].as_array().map(Vec::as_slice).unwrap_or(&[]), other)),
            };
            items.sort_by(|a, b| {
                let (ka, kb) = (key(a), key(b));
                match (ka.as_f64(), kb.as_f64()) {
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    _ => ka.to_string().cmp(&kb.to_string()),
                }
            });
            if q.get("direction").map(String::as_str) == Some("descending") {
                items.reverse();
            }
        }
        Ok(page_of(items, &p, &format!("{}/analytics/docs", s.api_base)))
    }))
}

async fn doc_analytics_summary(State(s): State<Shared>, Query(q): Query<Params>) -> Response {
    let ws = s.workspace.lock().expect("workspace");
    let metrics: Vec<Value> = ws.docs.iter().flat_map(|d| doc_metrics(d, &q)).collect();
    ok(
        json!({"totalSessions": sum(&metrics, "totalSessions"), "totalViews": sum(&metrics, "views"),
        "totalCopies": sum(&metrics, "copies"), "totalLikes": sum(&metrics, "likes"), "totalAiCredits": 0}),
    )
}

async fn page_analytics(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).map(|p| {
        // The spec declares no 404 here: a doc with no analytics (or none the caller may see)
        // has an empty listing.
        let ws = s.workspace.lock().expect("workspace");
        let Some(d) = ws.doc(&doc) else {
            return page_of(Vec::new(), &p, &format!("{}/analytics/docs/{doc}/pages", s.api_base));
        };
        let items = d.pages.iter().enumerate().map(|(n, page)| json!({"page": page.reference(&s.api_base, &d.id),
            "metrics": DAYS.iter().enumerate().filter(|(_, day)| in_range(&p.params, day)).map(|(i, day)| {
                let views = (d.extras.views / 10 + (i * 5 + n * 3) as u64 % 9) / (n as u64 + 1);
                json!({"date": day, "views": views, "sessions": views * 3 / 4, "users": views / 2,
                    "averageSecondsViewed": 40 + n * 5, "medianSecondsViewed": 30 + n * 4, "tabs": views / 5})
            }).collect::<Vec<_>>()})).collect();
        page_of(items, &p, &format!("{}/analytics/docs/{doc}/pages", s.api_base))
    }))
}

const PACK_ID: u64 = 1001;

fn pack_metrics(q: &Params) -> Vec<Value> {
    DAYS.iter().enumerate().filter(|(_, d)| in_range(q, d)).map(|(i, day)| json!({"date": day,
        "docInstalls": 3 + i as u64, "workspaceInstalls": 1, "numFormulaInvocations": 40 + 7 * i as u64,
        "numActionInvocations": 5 + i as u64, "numSyncInvocations": 2, "numMetadataInvocations": 1,
        "docsActivelyUsing": 3, "docsActivelyUsing7Day": 3, "docsActivelyUsing30Day": 4, "docsActivelyUsing90Day": 5,
        "docsActivelyUsingAllTime": 6, "workspacesActivelyUsing": 1, "workspacesActivelyUsing7Day": 1,
        "workspacesActivelyUsing30Day": 1, "workspacesActivelyUsing90Day": 2, "workspacesActivelyUsingAllTime": 2,
        "workspacesActivelyTrialing": 0, "workspacesActivelyTrialing7Day": 0, "workspacesActivelyTrialing30Day": 0,
        "workspacesActivelyTrialing90Day": 1, "workspacesActivelyTrialingAllTime": 1, "workspacesNewlySubscribed": 0,
        "workspacesWithActiveSubscriptions": 0, "workspacesWithSuccessfulTrials": 0, "revenueUsd": "0"})).collect()
}

async fn pack_analytics(State(s): State<Shared>, Query(raw): Query<Params>) -> Response {
    respond(paging(&s, raw).map(|p| {
        let wanted = p.params.get("packIds").is_none_or(|ids| ids.split(',').any(|i| i.trim() == PACK_ID.to_string()));
        let items = if wanted { vec![json!({"pack": {"id": PACK_ID, "name": "Demo Pack", "createdAt": "2025-10-01T09:00:00.000Z"},
            "metrics": pack_metrics(&p.params)})] } else { vec![] };
        page_of(items, &p, &format!("{}/analytics/packs", s.api_base))
    }))
}

async fn pack_analytics_summary(Query(q): Query<Params>) -> Response {
    let m = pack_metrics(&q);
    ok(
        json!({"totalDocInstalls": sum(&m, "docInstalls"), "totalWorkspaceInstalls": sum(&m, "workspaceInstalls"),
        "totalInvocations": sum(&m, "numFormulaInvocations") + sum(&m, "numActionInvocations") + sum(&m, "numSyncInvocations")}),
    )
}

async fn pack_formula_analytics(
    State(s): State<Shared>,
    Path(pack): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).map(|p| {
        // The spec declares no 400 or 404 here: a pack without analytics (or not the
        // caller's) has none to list.
        let known = pack.parse::<u64>().is_ok_and(|id| id == PACK_ID);
        let names: Option<Vec<&str>> = p.params.get("packFormulaNames").map(|n| n.split(',').collect());
        let items = [("Greeting", "formula"), ("SendMessage", "action"), ("Contacts", "sync")].iter()
            .filter(|_| known)
            .filter(|(n, _)| names.as_ref().is_none_or(|ns| ns.contains(n)))
            .map(|(n, t)| json!({"formula": {"name": n, "type": t}, "metrics": DAYS.iter().filter(|d| in_range(&p.params, d))
                .enumerate().map(|(i, day)| json!({"date": day, "formulaInvocations": 10 + i, "errors": i % 2,
                    "medianLatencyMs": 120 + i * 3, "medianResponseSizeBytes": 512,
                    "docsActivelyUsing": 3, "docsActivelyUsing7Day": 3, "docsActivelyUsing30Day": 4,
                    "docsActivelyUsing90Day": 5, "docsActivelyUsingAllTime": 6, "workspacesActivelyUsing": 1,
                    "workspacesActivelyUsing7Day": 1, "workspacesActivelyUsing30Day": 1,
                    "workspacesActivelyUsing90Day": 2, "workspacesActivelyUsingAllTime": 2})).collect::<Vec<_>>()})).collect();
        page_of(items, &p, &format!("{}/analytics/packs/{pack}/formulas", s.api_base))
    }))
}

async fn analytics_updated() -> Response {
    ok(
        json!({"docAnalyticsLastUpdated": DAYS[6], "packAnalyticsLastUpdated": DAYS[6], "packFormulaAnalyticsLastUpdated": DAYS[6]}),
    )
}
