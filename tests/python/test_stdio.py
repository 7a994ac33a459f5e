"""`coda-mcp stdio` (Claude Desktop's entry) with the official Python SDK's stdio client, in
both modes: bridging to a running server (whose dashboard then shows the session) and serving
in-process when no server runs."""

import asyncio
import json
import os
import tempfile
import urllib.request

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import KEY, binary, running_server

DOC = "AbCDeFGH01"


async def stdio_session(args, env, errlog):
    params = StdioServerParameters(command=binary(), args=["stdio", *args], env=env)
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            docs = await session.call_tool("coda_list_documents", {"limit": 5})
            tables = await session.call_tool("coda_list_tables", {"docId": DOC})
            bad = await session.call_tool("coda_get_table", {"docId": DOC})
            return init, tools, docs, tables, bad


def check(outcome):
    init, tools, docs, tables, bad = outcome
    assert init.server_info.name == "coda-mcp"
    assert len(tools.tools) >= 60
    assert not docs.is_error
    assert json.loads(docs.content[0].text) == docs.structured_content
    assert len(docs.structured_content["items"]) >= 3
    assert any(t["name"] == "Tasks" for t in tables.structured_content["items"])
    assert bad.is_error and "tableIdOrName" in bad.content[0].text


def flatten(error):
    """The messages of an exception and, for a group, of everything inside it."""
    if isinstance(error, BaseExceptionGroup):
        return " | ".join(flatten(e) for e in error.exceptions)
    return str(error)


def base_env(data_dir):
    return {"CODA_MCP_DATA_DIR": data_dir, "CODA_MCP_KEYCHAIN": "off", "RUST_LOG": "warn"}


def test_bridge_to_running_server_shows_in_dashboard():
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    dashboard = []
    with running_server(data_dir=data_dir, on_ready=dashboard.append) as url:
        announced = json.load(open(os.path.join(data_dir, "server.json")))
        assert announced["mcp_url"] == url and announced["demo"] is True
        env = dict(base_env(data_dir), CODA_MCP_KEY=KEY)
        with tempfile.TemporaryFile("w+") as errlog:
            outcome = asyncio.run(stdio_session([], env, errlog))
            errlog.seek(0)
            err = errlog.read()
        check(outcome)
        assert "bridging to the running server at " + url in err, err
        token = dashboard[0].split("token=")[1]
        request = urllib.request.Request(url.replace("/mcp", "/api/state"),
                                         headers={"Authorization": f"Bearer {token}"})
        state = json.load(urllib.request.urlopen(request, timeout=5))
        bridged = [s for s in state["sessions"] if s["kind"] == "stdio bridge"]
        assert bridged, state["sessions"]
        assert bridged[0]["calls"] >= 3
    # The server removed its announcement when it stopped.
    assert not os.path.exists(os.path.join(data_dir, "server.json"))


def test_bridge_with_a_wrong_key_reports_a_clear_error():
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    with running_server(data_dir=data_dir):
        env = dict(base_env(data_dir), CODA_MCP_KEY="cmk_wrong")
        with tempfile.TemporaryFile("w+") as errlog:
            try:
                asyncio.run(stdio_session([], env, errlog))
            except Exception as e:  # the SDK raises the JSON-RPC error of initialize
                message = flatten(e)
            else:
                raise AssertionError("initialize succeeded with a wrong key")
    assert "401" in message and "connection key" in message, message


def test_in_process_when_no_server_runs():
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    with tempfile.TemporaryFile("w+") as errlog:
        outcome = asyncio.run(stdio_session(["--demo"], base_env(data_dir), errlog))
        errlog.seek(0)
        err = errlog.read()
    check(outcome)
    assert "the app is not running; serving the built-in demo workspace in this process" in err, err
    # The calls were recorded in the demo audit history beside the app's.
    assert os.path.exists(os.path.join(data_dir, "demo", "audit.sqlite3"))


def test_stale_announcement_falls_back_to_in_process():
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    with open(os.path.join(data_dir, "server.json"), "w") as f:
        json.dump({"mcp_url": "http://127.0.0.1:9/mcp", "pid": 1, "demo": True, "no_auth": False}, f)
    with tempfile.TemporaryFile("w+") as errlog:
        outcome = asyncio.run(stdio_session(["--demo"], base_env(data_dir), errlog))
        errlog.seek(0)
        err = errlog.read()
    check(outcome)
    assert "no server answers at http://127.0.0.1:9/mcp" in err, err
