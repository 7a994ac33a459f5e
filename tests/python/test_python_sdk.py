"""The official Python MCP SDK (mcp 2.x) against `coda-mcp serve --demo`: initialize,
list tools and call each of the eight seed tools."""

import asyncio
import json

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import KEY

DOC = "AbCDeFGH01"
SEED_TOOLS = [
    "coda_list_documents", "coda_get_document", "coda_list_tables", "coda_get_table",
    "coda_list_rows", "coda_get_row", "coda_update_row", "coda_create_rows",
]


async def with_session(url, body, key=KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with streamable_http_client(url, http_client=create_mcp_http_client(headers=headers)) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            return init, await body(session)


def structured(result):
    assert not result.is_error, result.content
    data = json.loads(result.content[0].text)
    assert data == result.structured_content, "text and structuredContent agree"
    return data


def test_initialize_and_list_tools(server_url):
    async def body(session):
        return await session.list_tools()

    init, tools = asyncio.run(with_session(server_url, body))
    assert init.server_info.name == "coda-mcp"
    names = {t.name for t in tools.tools}
    assert set(SEED_TOOLS) <= names
    for tool in tools.tools:
        assert tool.input_schema["type"] == "object"
        assert tool.annotations is not None and tool.annotations.read_only_hint is not None
        assert tool.meta and (tool.meta["coda/operations"] or tool.name == "coda_rate_budget")


def test_each_seed_tool(server_url, caplog):
    async def body(session):
        out = {}
        out["docs"] = structured(await session.call_tool("coda_list_documents", {"limit": 10}))
        out["doc"] = structured(await session.call_tool("coda_get_document", {"docId": DOC}))
        out["tables"] = structured(await session.call_tool("coda_list_tables", {"docId": DOC}))
        out["table"] = structured(await session.call_tool("coda_get_table", {"docId": DOC, "tableIdOrName": "Tasks"}))
        out["rows"] = structured(await session.call_tool(
            "coda_list_rows", {"docId": DOC, "tableIdOrName": "Tasks", "limit": 160, "query": "\"Status\":\"Done\""}))
        out["row"] = structured(await session.call_tool(
            "coda_get_row", {"docId": DOC, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0003", "valueFormat": "rich"}))
        out["update"] = structured(await session.call_tool("coda_update_row", {
            "docId": DOC, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0003",
            "row": {"cells": [{"column": "Status", "value": "In progress"}]}}))
        out["create"] = structured(await session.call_tool("coda_create_rows", {
            "docId": DOC, "tableIdOrName": "Projects",
            "rows": [{"cells": [{"column": "Name", "value": "Python SDK project"}, {"column": "Budget", "value": 1000}]}]}))
        out["after"] = structured(await session.call_tool(
            "coda_get_row", {"docId": DOC, "tableIdOrName": "Projects", "rowIdOrName": "Python SDK project"}))
        out["bad"] = await session.call_tool("coda_get_row", {"docId": DOC, "tableIdOrName": "Tasks"})
        return out

    _, out = asyncio.run(with_session(server_url, body))
    assert len(out["docs"]["items"]) >= 3
    assert out["doc"]["name"] == "Project Plan"
    assert any(t["name"] == "Tasks" for t in out["tables"]["items"])
    assert {c["format"]["type"] for c in out["table"]["columns"]} >= {"text", "person", "lookup", "select"}
    assert out["rows"]["items"] and all(r["values"]["Status"] == "Done" for r in out["rows"]["items"])
    assert out["row"]["values"]["Owner"]["@type"] == "Person"
    assert out["update"]["completed"] is True
    assert out["create"]["completed"] is True and len(out["create"]["addedRowIds"]) == 1
    assert out["after"]["values"]["Budget"] == 1000
    assert out["bad"].is_error and "rowIdOrName" in out["bad"].content[0].text
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")], "the SDK saw no protocol trouble"


def test_a_client_without_the_key_is_refused(server_url):
    async def body(session):
        return None

    with pytest.raises(BaseException):
        asyncio.run(with_session(server_url, body, key=None))

    async def raw():
        async with create_mcp_http_client() as http:
            return await http.post(server_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                   headers={"Accept": "application/json, text/event-stream"})

    response = asyncio.run(raw())
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["message"]
