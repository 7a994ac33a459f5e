//! The OpenAPI documents ChatGPT takes: the GPT Actions schema generated from the tool
//! catalogue (`/openapi.json`), and the ChatGPT direct-call flow's `POST/GET /mcp` schema
//! (`/openapi/mcp.json`). Both are public and hold no secrets.

use serde_json::{json, Map, Value};

use crate::tools::{Catalogue, ToolDef};

/// The tools that get their own GPT Action operation; every other tool is reachable through
/// `callTool`. ChatGPT allows at most 30 operations per action.
pub const ACTION_TOOLS: &[&str] = &[
    "search",
    "fetch",
    "coda_list_documents",
    "coda_get_document",
    "coda_list_pages",
    "coda_get_page_content",
    "coda_list_tables",
    "coda_get_table",
    "coda_list_rows",
    "coda_get_row",
    "coda_create_rows",
    "coda_update_row",
    "coda_delete_row",
    "coda_create_page",
    "coda_update_page",
    "coda_list_columns",
    "coda_resolve_link",
    "coda_list_formulas",
    "coda_get_formula",
    "coda_list_controls",
    "coda_get_control",
    "coda_whoami",
    "coda_create_doc",
    "coda_get_mutation_status",
    "coda_list_folders",
];

/// ChatGPT's limits on GPT Action schemas.
pub const MAX_OPERATIONS: usize = 30;
/// Longest summary or operation description ChatGPT accepts.
pub const MAX_DESCRIPTION: usize = 300;
/// Longest parameter description ChatGPT accepts.
pub const MAX_PARAM_DESCRIPTION: usize = 700;

const DIRECT_CALL_SCHEMA: &str = include_str!("direct_call.json");

/// Cuts `text` to `max` characters at a word boundary, with an ellipsis.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    let cut = cut.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&cut);
    format!("{cut}…")
}

/// Clips every `description` inside a JSON Schema.
fn clip_schema(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(d)) = o.get_mut("description") {
                *d = clip(d, MAX_PARAM_DESCRIPTION);
            }
            o.values_mut().for_each(clip_schema);
        }
        Value::Array(a) => a.iter_mut().for_each(clip_schema),
        _ => {}
    }
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn responses() -> Value {
    json!({
        "200": {"description": "The tool's result.", "content": {"application/json": {"schema": {"type": "object", "additionalProperties": true}}}},
        "400": error_response("The arguments do not fit the tool's schema."),
        "401": error_response("Missing or wrong bearer key."),
        "403": error_response("The request's host or origin is not allowed."),
        "404": error_response("No such tool, or Coda found no such item."),
        "413": error_response("The request body is too large."),
        "429": error_response("Rate-limited; retry after the Retry-After header."),
        "502": error_response("Coda refused or failed the request."),
        "504": error_response("Coda did not answer in time."),
    })
}

fn operation(tool: &ToolDef, schema: &Value) -> Value {
    let mut body = schema.clone();
    clip_schema(&mut body);
    json!({
        "operationId": tool.name,
        "summary": clip(tool.title, MAX_DESCRIPTION),
        "description": clip(tool.description, MAX_DESCRIPTION),
        "x-openai-isConsequential": !tool.is_read_only(),
        "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
        "responses": responses(),
    })
}

/// The GPT Actions schema for a server reached at `server_url`.
pub fn actions(catalogue: &Catalogue, server_url: &str) -> Value {
    let mut paths = Map::new();
    for name in ACTION_TOOLS {
        if let Some((tool, schema)) = catalogue.get(name) {
            paths.insert(
                format!("/actions/{name}"),
                json!({"post": operation(tool, schema)}),
            );
        }
    }
    let others: Vec<&str> = catalogue
        .iter()
        .map(|t| t.name)
        .filter(|n| !ACTION_TOOLS.contains(n))
        .collect();
    let mut names = others.clone();
    names.extend(ACTION_TOOLS.iter().filter(|n| catalogue.get(n).is_some()));
    paths.insert("/actions/callTool".into(), json!({"post": {
        "operationId": "callTool",
        "summary": "Call any other Coda tool by name",
        "description": clip(&format!("Runs any tool of this server by name with its arguments. Use it for tools without their own operation, e.g. {}.",
            others.iter().take(8).copied().collect::<Vec<_>>().join(", ")), MAX_DESCRIPTION),
        // A read-only server offers no tool that changes anything, so no confirmation is needed.
        "x-openai-isConsequential": catalogue.iter().any(|t| !t.is_read_only()),
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": false, "required": ["name"],
            "properties": {
                "name": {"type": "string", "enum": names, "description": "The tool's name."},
                "arguments": {"type": "object", "additionalProperties": true, "description": "The tool's arguments, as its schema in tools/list describes."},
            }}}}},
        "responses": responses(),
    }}));
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Coda MCP", "version": env!("CARGO_PKG_VERSION"),
            "description": "Read and write the user's Coda workspace: docs, pages, tables and rows. Start with coda_list_documents or search."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": {"Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"}}, "additionalProperties": true}},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    })
}

/// The ChatGPT direct-call flow's `POST/GET /mcp` schema (as the connector document the
/// project started from gives it), with `servers` pointing at this server.
pub fn direct_call_schema(server_url: &str) -> Value {
    let mut doc: Value =
        serde_json::from_str(DIRECT_CALL_SCHEMA).expect("the direct-call schema is valid JSON");
    doc["servers"] = json!([{"url": server_url, "description": "Coda MCP Desktop"}]);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_schema_respects_chatgpt_limits() {
        let doc = actions(&Catalogue::new(false), "https://abc.example.app");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() <= MAX_OPERATIONS);
        assert_eq!(paths.len(), ACTION_TOOLS.len() + 1);
        for (_, item) in paths {
            let op = &item["post"];
            let id = op["operationId"].as_str().unwrap();
            assert!(
                !id.is_empty()
                    && id.len() <= 64
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{id}"
            );
            assert!(op["summary"].as_str().unwrap().chars().count() <= MAX_DESCRIPTION);
            assert!(op["description"].as_str().unwrap().chars().count() <= MAX_DESCRIPTION);
        }
        assert_eq!(
            paths["/actions/coda_list_rows"]["post"]["x-openai-isConsequential"],
            false
        );
        assert_eq!(
            paths["/actions/coda_update_row"]["post"]["x-openai-isConsequential"],
            true
        );
        assert_eq!(
            paths["/actions/callTool"]["post"]["x-openai-isConsequential"], true,
            "callTool reaches writes"
        );
        let read_only = actions(&Catalogue::new(true), "https://x");
        assert!(read_only["paths"].get("/actions/coda_update_row").is_none());
        assert_eq!(
            read_only["paths"]["/actions/callTool"]["post"]["x-openai-isConsequential"], false,
            "on a read-only server callTool reaches only reads"
        );
    }

    #[test]
    fn the_direct_call_schema_keeps_its_components() {
        let doc = direct_call_schema("https://abc.example.app");
        assert_eq!(doc["servers"][0]["url"], "https://abc.example.app");
        assert_eq!(
            doc["paths"]["/mcp"]["post"]["operationId"],
            "executeToolCall"
        );
        assert_eq!(
            doc["paths"]["/mcp"]["get"]["operationId"],
            "streamToolResults"
        );
        assert_eq!(
            doc["components"]["schemas"]["MCPRequest"]["required"],
            json!(["jsonrpc", "id", "method"])
        );
    }
}
