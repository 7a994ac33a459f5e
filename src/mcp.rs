//! The MCP face of the engine: an rmcp `ServerHandler` that serves the tool catalogue.
//! Transport, sessions and protocol-version negotiation are rmcp's; this file only maps
//! `tools/list` and `tools/call` onto the catalogue.

use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Value};

use crate::engine::Engine;
use crate::tools::{self, ToolError, CATALOGUE};

/// What the server tells a client at `initialize`, so the model knows how to start.
const INSTRUCTIONS: &str = "Tools for the user's Coda workspace. Start with coda_list_documents to find a docId, \
then coda_list_tables and coda_get_table to see tables and their columns, then read rows with coda_list_rows \
(filter with query, e.g. \"Status\":\"Done\"). List tools return nextPageToken when more items exist. Write tools \
wait until Coda has applied the change.";

/// One MCP session's handler. rmcp creates one per session; all share the [`Engine`].
#[derive(Clone)]
pub struct CodaMcp {
    engine: Engine,
}

impl CodaMcp {
    /// A handler over `engine`.
    pub fn new(engine: Engine) -> Self {
        CodaMcp { engine }
    }
}

/// A successful tool result: the JSON as text (for clients that only read text) and as
/// `structuredContent`.
pub fn success_result(value: &Value) -> CallToolResult {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    serde_json::from_value(json!({"content": [{"type": "text", "text": text}],
        "structuredContent": value, "isError": false}))
    .expect("valid CallToolResult")
}

/// A failed tool call, phrased for the model.
pub fn error_result(message: &str) -> CallToolResult {
    serde_json::from_value(json!({"content": [{"type": "text", "text": message}], "isError": true}))
        .expect("valid CallToolResult")
}

/// The protocol error for a tool name the server does not offer, with close matches.
pub fn unknown_tool_error(engine: &Engine, name: &str) -> McpError {
    if engine.config().read_only && CATALOGUE.iter().any(|t| t.name == name) {
        return McpError::invalid_params(
            format!("Tool '{name}' changes Coda and this server runs in read-only mode."),
            Some(json!({"tool": name, "readOnly": true})),
        );
    }
    let suggestions = engine.catalogue().suggest(name);
    let hint = if suggestions.is_empty() {
        "Call tools/list to see the available tools.".to_owned()
    } else {
        format!("Did you mean: {}?", suggestions.join(", "))
    };
    McpError::invalid_params(
        format!("Unknown tool '{name}'. {hint}"),
        Some(json!({"tool": name, "suggestions": suggestions})),
    )
}

impl ServerHandler for CodaMcp {
    fn get_info(&self) -> ServerConfig {
        let mut info = InitializeResult::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = serde_json::from_value::<Implementation>(json!({
            "name": "coda-mcp", "title": "Coda MCP Desktop", "version": env!("CARGO_PKG_VERSION"),
        }))
        .expect("valid Implementation");
        info.instructions = Some(INSTRUCTIONS.to_owned());
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools: Vec<Value> = self
            .engine
            .catalogue()
            .iter()
            .map(|t| t.to_mcp_json())
            .collect();
        serde_json::from_value(json!({"tools": tools}))
            .map_err(|e| McpError::internal_error(format!("tool catalogue is invalid: {e}"), None))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let (tool, _) = self.engine.catalogue().get(name)?;
        serde_json::from_value(tool.to_mcp_json()).ok()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let Some((tool, schema)) = self.engine.catalogue().get(&name) else {
            return Err(unknown_tool_error(&self.engine, &name));
        };
        let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let started = Instant::now();
        let outcome = tools::run(
            tool,
            schema,
            args,
            self.engine.coda(),
            &self.engine.exec_options(),
        )
        .await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let result = match outcome {
            Ok(out) => {
                tracing::info!(tool = %name, ok = true, elapsed_ms, coda_requests = out.coda_requests, retries = out.retries, "tool call");
                success_result(&out.value)
            }
            Err(e) => {
                let kind = match &e {
                    ToolError::InvalidArguments(_) => "invalid_arguments",
                    ToolError::Coda(_) => "coda",
                    ToolError::Unsupported(_) => "unsupported",
                };
                tracing::info!(tool = %name, ok = false, elapsed_ms, error_kind = kind, "tool call failed");
                error_result(&format!("{name}: {e}"))
            }
        };
        Ok(CallToolResponse::Complete(result))
    }
}
