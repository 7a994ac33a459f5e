"""The official Python MCP SDK against `coda-mcp serve --demo`, for what a long conversation
uses besides tools: argument completion from the workspace's real names, the server's log as
`notifications/message` after `logging/setLevel`, progress of a bulk write, and
`tools/list_changed` when the person changes the toolsets in the dashboard."""

import asyncio
import json
import urllib.parse
import urllib.request

import mcp.types as types
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import KEY, running_server

DOC = "AbCDeFGH01"


def set_toolsets(dashboard_url, toolsets):
    """What the Setup view's 'Tools offered' boxes send."""
    parsed = urllib.parse.urlparse(dashboard_url)
    token = urllib.parse.parse_qs(parsed.query)["token"][0]
    req = urllib.request.Request(
        f"{parsed.scheme}://{parsed.netloc}/api/setup/toolsets", method="PUT",
        data=json.dumps({"toolsets": toolsets}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "X-Coda-MCP-Dashboard": "1"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_completion_logging_progress_and_list_changed():
    dashboard = []
    with running_server(on_ready=dashboard.append, env_extra={"RUST_LOG": "info"}) as url:
        logs, changed = [], asyncio.Event()

        async def on_log(params: types.LoggingMessageNotificationParams):
            logs.append(params)

        async def on_message(message):
            if isinstance(message, types.ToolListChangedNotification):
                changed.set()

        async def run():
            http = create_mcp_http_client(headers={"Authorization": f"Bearer {KEY}"})
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write, logging_callback=on_log, message_handler=on_message) as s:
                    init = await s.initialize()
                    caps = init.capabilities
                    assert caps.completions is not None and caps.logging is not None
                    assert caps.tools.list_changed is True

                    # Completion: docs by name, then the chosen doc's tables and, for the
                    # table template, their IDs.
                    prompt = types.PromptReference(type="ref/prompt", name="find_rows")
                    docs = await s.complete(prompt, {"name": "docId", "value": "Project"})
                    assert DOC in docs.completion.values, docs
                    tables = await s.complete(prompt, {"name": "tableIdOrName", "value": "ta"},
                                              context_arguments={"docId": DOC})
                    assert tables.completion.values[0] == "Tasks", tables
                    template = types.ResourceTemplateReference(
                        type="ref/resource", uri="coda://docs/{docId}/tables/{tableId}")
                    ids = await s.complete(template, {"name": "tableId", "value": ""},
                                           context_arguments={"docId": DOC})
                    assert ids.completion.values and all(v.startswith("grid-") or v.startswith("table-")
                                                         for v in ids.completion.values), ids
                    none = await s.complete(prompt, {"name": "description", "value": "x"})
                    assert none.completion.values == []

                    # Progress of a bulk write: 600 rows are two batches.
                    seen = []

                    async def progress(done, total, message):
                        seen.append((done, total, message))

                    rows = [{"cells": [{"column": "Task", "value": f"SDK bulk {i}"}]} for i in range(600)]
                    result = await s.call_tool("coda_create_rows", {"docId": DOC, "tableIdOrName": "Tasks",
                                                                    "rows": rows}, progress_callback=progress)
                    assert not result.is_error, result.content
                    assert seen[-1] == (2.0, 2.0, "batch 2 of 2 applied"), seen
                    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)

                    # The log: asked for info, the server's own records arrive.
                    await s.set_logging_level("info")
                    view = await asyncio.to_thread(set_toolsets, dashboard[0], "core")
                    assert view["changed"] is True
                    await asyncio.wait_for(changed.wait(), 10)
                    for _ in range(100):
                        if any("the tools on offer changed" in str(m.data) for m in logs):
                            break
                        await asyncio.sleep(0.05)
                    record = next(m for m in logs if "the tools on offer changed" in str(m.data))
                    assert record.level == "info" and record.logger.startswith("coda_mcp")
                    assert "toolsets=core" in record.data
                    assert KEY not in json.dumps([m.model_dump(mode="json") for m in logs]), "no secret in the log"
                    names = {t.name for t in (await s.list_tools()).tools}
                    assert "coda_add_permission" not in names and "coda_list_rows" in names

        asyncio.run(run())
