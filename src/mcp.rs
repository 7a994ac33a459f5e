//! The MCP face of the engine: an rmcp `ServerHandler` that serves the tool catalogue.
//! Transport, sessions and protocol-version negotiation are rmcp's; this file only maps
//! `tools/list` and `tools/call` onto the catalogue.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Reference, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Value};

use crate::engine::{Engine, ToolCall};
use crate::events::SessionKind;
use crate::prompts;
use crate::tools::complete::{self, Target};
use crate::tools::{resources, ProgressSink, ToolError};

/// What the server tells a client at `initialize`, so the model knows how to start.
const INSTRUCTIONS: &str = "The user's Coda workspace: docs, pages, tables, rows. Find first: search, or \
coda_list_documents (a coda.io link works as an ID). Then coda_list_tables and coda_get_table for columns, \
coda_list_rows (query = one column's equality; follow nextPageToken), coda_get_page_content. Writes wait until \
Coda applied them (completed: true); never resend one that says completed: false. Only some toolsets may be \
offered: tools/list is what exists. Rules: coda://guides/*.";

/// One MCP session's handler. rmcp creates one per session; all share the [`Engine`].
#[derive(Clone)]
pub struct CodaMcp {
    engine: Engine,
    /// The session ID when serving one client over stdio.
    stdio_session: Option<String>,
    /// The least severe log level the client asked for (`logging/setLevel`), if it asked.
    log_level: logging::Chosen,
    /// Cancelled when the session ends (rmcp drops its handler, the last clone of this), so
    /// the tasks that tell the client of changes end with it.
    ended: tokio_util::sync::CancellationToken,
    _alive: std::sync::Arc<tokio_util::sync::DropGuard>,
}

/// The header `coda-mcp stdio` adds when it bridges to a running server, so the dashboard
/// can tell its sessions apart.
pub const BRIDGE_HEADER: &str = "x-coda-mcp-bridge";

impl CodaMcp {
    /// A handler over `engine`.
    pub fn new(engine: Engine) -> Self {
        CodaMcp::serving(engine, None)
    }

    fn serving(engine: Engine, stdio_session: Option<String>) -> Self {
        let ended = tokio_util::sync::CancellationToken::new();
        CodaMcp {
            engine,
            stdio_session,
            log_level: Default::default(),
            _alive: std::sync::Arc::new(ended.clone().drop_guard()),
            ended,
        }
    }

    /// A handler for one client on stdin/stdout (`coda-mcp stdio` serving in-process): there
    /// is no HTTP session, so the process is the session.
    pub fn stdio(engine: Engine) -> Self {
        CodaMcp::serving(engine, Some(format!("stdio-{}", std::process::id())))
    }

    /// The Coda client for this request's caller: the authentication layer attached who is
    /// calling, and a pass-through caller's own Coda token is used for their calls.
    fn client_for(&self, ctx: &RequestContext<RoleServer>) -> crate::coda::CodaClient {
        self.engine.coda_for(self.caller(ctx))
    }

    fn caller<'a>(&self, ctx: &'a RequestContext<RoleServer>) -> Option<&'a crate::caller::Caller> {
        ctx.extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<crate::caller::Caller>())
    }

    /// Whether this request's client shows MCP Apps views (declared at `initialize`, or in a
    /// 2026-07-28 request's own `_meta`).
    fn shows_views(&self, ctx: &RequestContext<RoleServer>) -> bool {
        self.engine.config().views
            && ctx
                .client_capabilities()
                .and_then(|c| serde_json::to_value(c).ok())
                .is_some_and(|c| crate::apps::client_supports(&c))
    }

    /// The session ID and the client's name, announcing the session on first sight.
    fn who(&self, ctx: &RequestContext<RoleServer>) -> (String, String) {
        let parts = ctx.extensions.get::<http::request::Parts>();
        let header = |name: &str| {
            parts
                .and_then(|p| p.headers.get(name))
                .and_then(|v| v.to_str().ok())
        };
        let (session, kind) = match &self.stdio_session {
            Some(id) => (id.clone(), SessionKind::Stdio),
            None if header(BRIDGE_HEADER).is_some() => (
                header("mcp-session-id").unwrap_or("").to_owned(),
                SessionKind::StdioBridge,
            ),
            None => (
                header("mcp-session-id").unwrap_or("").to_owned(),
                SessionKind::Mcp,
            ),
        };
        let (name, version) = ctx
            .peer
            .peer_info()
            .map(|i| (i.client_info.name.clone(), i.client_info.version.clone()))
            .unwrap_or_else(|| ("unknown client".into(), String::new()));
        self.engine.session_seen(&session, &name, &version, kind);
        (session, format!("{name} {version}").trim().to_owned())
    }
}

/// MCP logging: deprecated by the 2026-07-28 revision, still what clients of the earlier ones
/// use, so rmcp's logging types are used here knowingly.
#[allow(deprecated)]
mod logging {
    use rmcp::model::{LoggingLevel, SetLevelRequestParams};
    use rmcp::RoleServer;
    use serde_json::json;

    /// The level a session chose, shared by its handler and its forwarder.
    pub(super) type Chosen = std::sync::Arc<std::sync::Mutex<Option<LoggingLevel>>>;

    /// Takes the session's choice; true the first time it chooses.
    pub(super) fn choose(chosen: &Chosen, request: SetLevelRequestParams) -> bool {
        chosen
            .lock()
            .expect("log level")
            .replace(request.level)
            .is_none()
    }

    /// Sends the server's log records at or above the session's chosen level to its client as
    /// `notifications/message`, until the client goes.
    pub(super) fn forward(
        peer: rmcp::Peer<RoleServer>,
        level: Chosen,
        ended: tokio_util::sync::CancellationToken,
    ) {
        let mut records = crate::mcp_log::subscribe();
        tokio::spawn(async move {
            loop {
                let record = tokio::select! {
                    r = records.recv() => r,
                    _ = ended.cancelled() => return,
                };
                let record = match record {
                    Ok(r) => r,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let severity = mcp_level(&record.level);
                let wanted = *level.lock().expect("log level");
                if wanted.is_none_or(|w| rank(severity) < rank(w)) {
                    continue;
                }
                let note = serde_json::from_value(json!({"level": severity,
                    "logger": record.target, "data": record.message}));
                let Ok(note) = note else { continue };
                #[allow(deprecated)]
                let sent = peer.notify_logging_message(note).await;
                if sent.is_err() {
                    return;
                }
            }
        });
    }

    /// A level's place in MCP's order, least severe first.
    fn rank(level: LoggingLevel) -> u8 {
        match level {
            LoggingLevel::Debug => 0,
            LoggingLevel::Info => 1,
            LoggingLevel::Notice => 2,
            LoggingLevel::Warning => 3,
            LoggingLevel::Error => 4,
            LoggingLevel::Critical => 5,
            LoggingLevel::Alert => 6,
            LoggingLevel::Emergency => 7,
        }
    }

    /// MCP's level for a tracing level.
    fn mcp_level(level: &tracing::Level) -> LoggingLevel {
        match *level {
            tracing::Level::ERROR => LoggingLevel::Error,
            tracing::Level::WARN => LoggingLevel::Warning,
            tracing::Level::INFO => LoggingLevel::Info,
            _ => LoggingLevel::Debug,
        }
    }
}

/// Progress reports a call may have waiting to be sent; past that, reports are dropped
/// (progress is advisory, and a slow client must not hold up the call).
const PROGRESS_QUEUE: usize = 16;

/// A sink sending a call's progress to its client as `notifications/progress` under `token`,
/// in order, and the task doing it (it ends once the sink is dropped and the queue is sent).
fn progress_to(
    peer: rmcp::Peer<RoleServer>,
    token: rmcp::model::ProgressToken,
) -> (ProgressSink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<crate::tools::Progress>(PROGRESS_QUEUE);
    let forwarder = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            let mut note = rmcp::model::ProgressNotificationParam::new(token.clone(), p.done)
                .with_message(p.message);
            if let Some(total) = p.total {
                note = note.with_total(total);
            }
            if peer.notify_progress(note).await.is_err() {
                return;
            }
        }
    });
    let sink = ProgressSink::new(move |p| {
        let _ = tx.try_send(p);
    });
    (sink, forwarder)
}

/// Builds an rmcp result from its JSON form (the model types are non-exhaustive). Every result
/// built here is whole, so it says `resultType: "complete"` as the 2026-07-28 revision requires
/// (rmcp takes it out again for clients of earlier revisions).
fn decode<T: serde::de::DeserializeOwned>(mut value: Value) -> Result<T, McpError> {
    if let Some(obj) = value.as_object_mut() {
        obj.insert("resultType".into(), json!("complete"));
    }
    serde_json::from_value(value)
        .map_err(|e| McpError::internal_error(format!("malformed result: {e}"), None))
}

/// A successful tool result: the JSON as text (for clients that only read text) and as
/// `structuredContent`.
pub fn success_result(value: &Value) -> CallToolResult {
    CallToolResult::structured(value.clone())
}

/// A failed tool call, phrased for the model.
pub fn error_result(message: &str) -> CallToolResult {
    CallToolResult::error(vec![rmcp::model::ContentBlock::text(message)])
}

/// The protocol error for a tool name the server does not offer, with close matches.
pub fn unknown_tool_error(engine: &Engine, name: &str) -> McpError {
    if let Some(why) = engine.not_offered(name) {
        return McpError::invalid_params(
            why,
            Some(json!({"tool": name, "readOnly": engine.config().read_only,
                "toolset": crate::tools::Toolset::of(name).name()})),
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
        // Logging is deprecated in the 2026-07-28 revision, yet still what clients of the
        // earlier revisions (most of them) use; it is offered to those.
        #[allow(deprecated)]
        let capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        let mut info = InitializeResult::new(capabilities);
        info.server_info = serde_json::from_value::<Implementation>(json!({
            "name": "coda-mcp", "title": "Coda MCP Desktop", "version": env!("CARGO_PKG_VERSION"),
        }))
        .expect("valid Implementation");
        info.instructions = Some(INSTRUCTIONS.to_owned());
        info
    }

    async fn initialize(
        &self,
        request: rmcp::model::InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        let mut result = self.negotiate_initialize(&request)?;
        // The views extension is advertised to the clients that declare it, and only to them.
        let declared = self.engine.config().views
            && serde_json::to_value(&request.capabilities)
                .is_ok_and(|c| crate::apps::client_supports(&c));
        if declared {
            let mut extensions = result.capabilities.extensions.take().unwrap_or_default();
            extensions.insert(crate::apps::EXTENSION.into(), Default::default());
            result.capabilities.extensions = Some(extensions);
        }
        Ok(result)
    }

    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        // A session that began with `initialize` is told of changed toolsets on its stream.
        let peer = context.peer.clone();
        let mut changes = self.engine.watch_tools();
        changes.borrow_and_update();
        let ended = self.ended.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() || peer.notify_tool_list_changed().await.is_err() {
                            return;
                        }
                    }
                    _ = ended.cancelled() => return,
                }
            }
        });
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        Some(
            rmcp::model::SubscriptionFilter::builder()
                .tools_list_changed()
                .build(),
        )
    }

    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), McpError> {
        // 2026-07-28 clients subscribe with `subscriptions/listen` instead of a GET stream.
        let mut changes = self.engine.watch_tools();
        changes.borrow_and_update();
        let wants_tools = context.accepted().tools_list_changed == Some(true);
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                changed = changes.changed(), if wants_tools => {
                    if changed.is_err() || context.sink().notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let target = match &request.r#ref {
            Reference::Prompt(p) => Target::Prompt(&p.name),
            Reference::Resource(r) => Target::Template(&r.uri),
            _ => return decode(json!({"completion": {"values": []}})),
        };
        let context = request
            .context
            .as_ref()
            .and_then(|c| c.arguments.clone())
            .unwrap_or_default();
        let found = complete::values(
            &self.client_for(&ctx),
            &self.engine.exec_options(),
            target,
            &request.argument.name,
            &request.argument.value,
            &context,
        )
        .await
        .unwrap_or_else(|e| {
            // A hint while typing: Coda failing means no suggestions, not an error dialog.
            tracing::debug!(error = %e, "completion: Coda could not be asked");
            Vec::new()
        });
        let total = found.len();
        let values: Vec<String> = found.into_iter().take(complete::MAX_VALUES).collect();
        decode(json!({"completion": {"values": values, "total": total,
            "hasMore": total > complete::MAX_VALUES}}))
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // Removed in the 2026-07-28 revision: a client of it gets "method not found".
        if ctx
            .protocol_version()
            .is_some_and(|v| v.as_str() >= rmcp::model::ProtocolVersion::V_2026_07_28.as_str())
        {
            return Err(McpError::method_not_found::<
                rmcp::model::SetLevelRequestMethod,
            >());
        }
        let first = logging::choose(&self.log_level, request);
        // The server's log is the owner's: other callers' sessions hear nothing from it.
        let owner = self
            .caller(&ctx)
            .is_none_or(|c| matches!(c, crate::caller::Caller::Owner));
        if first && owner {
            logging::forward(ctx.peer.clone(), self.log_level.clone(), self.ended.clone());
        }
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.who(&ctx);
        // An app approved for reading only is offered only the tools that read.
        let may_write = self.caller(&ctx).is_none_or(|c| c.may_write());
        let views = self.shows_views(&ctx);
        let tools: Vec<Value> = self
            .engine
            .catalogue()
            .iter()
            .filter(|t| may_write || t.is_read_only())
            .map(|t| {
                let mut tool = t.to_mcp_json();
                if views {
                    crate::apps::decorate_tool(&mut tool);
                }
                tool
            })
            .collect();
        decode(json!({ "tools": tools }))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        // The views (for a client that shows them) and the guides first: they are there even
        // when Coda cannot be reached.
        let views: Vec<Value> = if self.shows_views(&ctx) {
            crate::apps::VIEWS.iter().map(|v| v.listing()).collect()
        } else {
            Vec::new()
        };
        let mut listed: Vec<Value> = views;
        listed.extend(crate::guides::GUIDES.iter().map(|g| {
            json!({"uri": g.uri(), "name": g.name, "title": g.title,
                "description": g.description, "mimeType": "text/markdown"})
        }));
        match resources::list_docs(&self.client_for(&ctx), &self.engine.exec_options()).await {
            Ok(Value::Array(docs)) => listed.extend(docs),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "resources/list: the docs could not be listed"),
        }
        decode(json!({"resources": listed}))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        decode(json!({"resourceTemplates": resources::templates()}))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        if let Some(view) = crate::apps::by_uri(&uri) {
            let result: ReadResourceResult = decode(json!({ "contents": view.contents() }))?;
            return Ok(result.into());
        }
        if let Some(guide) = crate::guides::by_uri(&uri) {
            let result: ReadResourceResult = decode(json!({"contents": [
                {"uri": uri, "mimeType": "text/markdown", "text": guide.text}]}))?;
            return Ok(result.into());
        }
        match resources::read(&uri, &self.client_for(&ctx), &self.engine.exec_options()).await {
            Ok(Some(resource)) => {
                let result: ReadResourceResult = decode(json!({"contents": resource.contents(&uri)}))?;
                Ok(result.into())
            }
            Ok(None) => Err(McpError::resource_not_found(
                format!("Unknown resource '{uri}': use coda://docs/{{docId}}, coda://docs/{{docId}}/schema, coda://docs/{{docId}}/pages/{{pageId}}, coda://docs/{{docId}}/tables/{{tableId}} or a guide from resources/list"),
                Some(json!({"uri": uri})))),
            Err(ToolError::Coda(e)) if e.status() == Some(404) => Err(McpError::resource_not_found(
                format!("Resource '{uri}' was not found in Coda: {e}"), Some(json!({"uri": uri})))),
            Err(e) => Err(McpError::internal_error(format!("Could not read '{uri}': {e}"), Some(json!({"uri": uri})))),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        decode(json!({"prompts": prompts::PROMPTS.iter().map(|p| p.to_json()).collect::<Vec<_>>()}))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let prompt = prompts::get(&request.name).ok_or_else(|| {
            McpError::invalid_params(
                format!("Unknown prompt '{}'; call prompts/list", request.name),
                None,
            )
        })?;
        let text = prompt
            .render(&request.arguments.unwrap_or_default())
            .map_err(|missing| {
                McpError::invalid_params(
                    format!("Prompt '{}' needs the argument '{missing}'", prompt.name),
                    None,
                )
            })?;
        let result: GetPromptResult = decode(json!({"description": prompt.description,
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}]}))?;
        Ok(result.into())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let catalogue = self.engine.catalogue();
        let (tool, _) = catalogue.get(name)?;
        serde_json::from_value(tool.to_mcp_json()).ok()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let catalogue = self.engine.catalogue();
        let Some((tool, schema)) = catalogue.get(&name) else {
            return Err(unknown_tool_error(&self.engine, &name));
        };
        let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let (session, mut client) = self.who(&ctx);
        // A call a view made through its host says so (the dashboard and the audit show it).
        let via = [request.meta.as_ref(), Some(&ctx.meta)]
            .into_iter()
            .flatten()
            .find_map(|m| {
                m.get(crate::apps::VIA_VIEW)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        if let Some(view) = via {
            let view: String = view
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(20)
                .collect();
            client = format!("{client} (from the {view} view)");
        }
        let call = ToolCall {
            tool: (tool, schema),
            caller: self.caller(&ctx),
            session: &session,
            client: &client,
        };
        let mut opts = self.engine.exec_options();
        opts.cancel = Some(ctx.ct.clone());
        let forwarder = ctx.meta.get_progress_token().map(|token| {
            let (sink, forwarder) = progress_to(ctx.peer.clone(), token);
            opts.progress = Some(sink);
            forwarder
        });
        let outcome = self.engine.run_tool(call, args, &opts).await;
        // Every report is delivered before the result: none may follow it.
        drop(opts);
        if let Some(forwarder) = forwarder {
            let _ = forwarder.await;
        }
        let result = match outcome {
            // Built directly from the value (no clone): this is every MCP call's hot path.
            Ok(out) => CallToolResult::structured(out.value),
            Err(e) => error_result(&format!("{name}: {e}")),
        };
        Ok(CallToolResponse::Complete(result))
    }
}

#[cfg(test)]
mod tests {
    use super::INSTRUCTIONS;

    /// ChatGPT reads the first 512 characters of a server's instructions: all of it fits,
    /// and it says how to start.
    #[test]
    fn the_instructions_fit_what_chatgpt_reads() {
        assert!(
            INSTRUCTIONS.chars().count() <= 512,
            "{} characters",
            INSTRUCTIONS.chars().count()
        );
        for needed in [
            "search",
            "coda_list_rows",
            "completed",
            "tools/list",
            "coda://guides",
        ] {
            assert!(INSTRUCTIONS.contains(needed), "{needed}");
        }
    }
}
