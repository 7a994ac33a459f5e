//! `coda_resolve_link`: the IDs in a Coda URL, parsed locally or asked of
//! `resolveBrowserLink`.

use serde_json::{json, Value};

use super::exec::{Run, ToolError};
use super::links;
use crate::coda::CodaRequest;

/// The IDs in a Coda URL: parsed locally, else asked of `resolveBrowserLink`.
pub(super) async fn resolve_link(run: &mut Run<'_>, url: &str) -> Result<Value, ToolError> {
    if let Some(link) = links::parse(url) {
        let mut out = serde_json::to_value(&link).expect("serializable");
        out["source"] = json!("url");
        return Ok(out);
    }
    let resolved = run
        .send(&CodaRequest::get("/resolveBrowserLink").query("url", url))
        .await?;
    let resource = &resolved["resource"];
    let link = resource["href"]
        .as_str()
        .and_then(links::from_href)
        .ok_or_else(|| ToolError::Unsupported(format!("'{url}' does not point into a Coda doc")))?;
    let mut out = serde_json::to_value(&link).expect("serializable");
    out["source"] = json!("resolveBrowserLink");
    out["resource"] = resource.clone();
    Ok(out)
}
