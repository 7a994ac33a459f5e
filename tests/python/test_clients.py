"""Official MCP clients other than the Python SDK, against `coda-mcp serve --demo`:

- the MCP Inspector's CLI (`inspector --cli`): lists the tools with `--strict` (its check that
  every tool schema is portable across clients), calls tools, reads resources and prompts,
  is refused without the key and told what is wrong with a bad call;
- `mcp-remote`, the stdio-to-HTTP bridge many Claude Desktop users run (README's
  alternative to `coda-mcp stdio`), driven through the Python SDK's stdio client.

Both come from tests/clients (installed by scripts/test.sh) and run on the Node 22 that
tests/conformance installs."""

import asyncio
import json
import os
import pathlib
import subprocess
import tempfile

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import KEY, ROOT

CLIENTS = pathlib.Path(os.environ.get("CODA_MCP_CLIENTS_DIR", ROOT / "tests" / "clients")) / "node_modules"
NODE = os.environ.get("NODE22", str(ROOT / "tests" / "conformance" / "node_modules" / "node" / "bin" / "node"))
INSPECTOR = CLIENTS / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
MCP_REMOTE = CLIENTS / "mcp-remote" / "dist" / "proxy.js"
DOC = "AbCDeFGH01"
SEED_TOOLS = {"coda_list_documents", "coda_get_document", "coda_list_tables", "coda_get_table",
              "coda_list_rows", "coda_get_row", "coda_update_row", "coda_create_rows"}


def inspector(url, *args, key=KEY):
    """Runs `inspector --cli URL …` with its own empty home; returns the finished process."""
    home = tempfile.mkdtemp(prefix="inspector-home-")
    header = ["--header", f"Authorization: Bearer {key}"] if key else []
    return subprocess.run(
        [NODE, str(INSPECTOR), "--cli", url, *header, *args],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, HOME=home, MCP_CATALOG_PATH=os.path.join(home, "mcp.json")),
    )


def as_json(proc, tool_error=False):
    """The JSON the Inspector printed. It exits 5 when a tool answered isError."""
    expected = 5 if tool_error else 0
    assert proc.returncode == expected, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout)


def test_inspector_lists_portable_tool_schemas(server_url):
    proc = inspector(server_url, "--method", "tools/list", "--strict")
    listed = as_json(proc)
    names = {t["name"] for t in listed["tools"]}
    assert SEED_TOOLS <= names
    assert len(names) >= 64, f"only {len(names)} tools"
    # --strict reports every portability problem on stderr (exit 6 on an error); a clean
    # catalogue gets no report at all.
    assert "Warning" not in proc.stderr and "error" not in proc.stderr.lower(), proc.stderr[-3000:]
    for tool in listed["tools"]:
        assert tool["inputSchema"]["type"] == "object", tool["name"]
        # Every tool names the Coda operations it calls; only the rate budget calls none.
        assert tool["_meta"]["coda/operations"] or tool["name"] == "coda_rate_budget", tool["name"]


def test_inspector_calls_tools_and_reads_resources_and_prompts(server_url):
    rows = as_json(inspector(server_url, "--method", "tools/call", "--tool-name", "coda_list_rows",
                             "--tool-arg", f"docId={DOC}", "tableIdOrName=Tasks", "limit=3"))
    assert rows.get("isError") is False, rows
    assert len(rows["structuredContent"]["items"]) == 3
    assert json.loads(rows["content"][0]["text"]) == rows["structuredContent"]

    templates = as_json(inspector(server_url, "--method", "resources/templates/list"))
    uris = {t["uriTemplate"] for t in templates["resourceTemplates"]}
    assert "coda://docs/{docId}/tables/{tableId}" in uris, uris
    doc = as_json(inspector(server_url, "--method", "resources/read", "--uri", f"coda://docs/{DOC}"))
    assert json.loads(doc["contents"][0]["text"])["id"] == DOC

    prompts = as_json(inspector(server_url, "--method", "prompts/list"))
    assert {p["name"] for p in prompts["prompts"]} >= {"summarize_doc", "find_rows", "status_update"}
    prompt = as_json(inspector(server_url, "--method", "prompts/get", "--prompt-name", "summarize_doc",
                               "--prompt-args", f"docId={DOC}"))
    assert DOC in prompt["messages"][0]["content"]["text"]


def test_inspector_is_refused_without_the_key_and_told_about_bad_calls(server_url):
    refused = inspector(server_url, "--method", "tools/list", key=None)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    # The 401 with WWW-Authenticate: Bearer makes the Inspector ask for credentials.
    assert "auth_required" in said or "401" in said, said[-2000:]
    assert "coda_list_documents" not in said, "nothing is listed without the key"

    # A required argument left out reaches the server, which names it.
    missing = as_json(inspector(server_url, "--method", "tools/call", "--tool-name", "coda_list_rows",
                                "--tool-arg", f"docId={DOC}"), tool_error=True)
    assert missing["isError"] is True
    assert "tableIdOrName" in missing["content"][0]["text"], missing

    bad = inspector(server_url, "--method", "tools/call", "--tool-name", "coda_get_document",
                    "--tool-arg", "docId=NoSuchDoc1")
    result = as_json(bad, tool_error=True)
    assert result["isError"] is True
    assert "404" in result["content"][0]["text"] or "not found" in result["content"][0]["text"].lower()


def test_mcp_remote_bridges_claude_style_stdio_to_the_server(server_url):
    async def session():
        home = tempfile.mkdtemp(prefix="mcp-remote-home-")
        params = StdioServerParameters(
            command=NODE,
            args=[str(MCP_REMOTE), server_url, "--header", "Authorization:Bearer ${CODA_MCP_KEY}"],
            env={"CODA_MCP_KEY": KEY, "HOME": home, "MCP_REMOTE_CONFIG_DIR": home,
                 "PATH": os.environ.get("PATH", "")},
        )
        with tempfile.TemporaryFile("w+") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as s:
                    init = await s.initialize()
                    tools = await s.list_tools()
                    doc = await s.call_tool("coda_get_document", {"docId": DOC})
                    missing = await s.call_tool("coda_get_document", {})
                    return init, tools, doc, missing

    init, tools, doc, missing = asyncio.run(asyncio.wait_for(session(), 60))
    assert init.server_info.name == "coda-mcp"
    assert init.protocol_version in {"2025-03-26", "2025-06-18", "2025-11-25"}
    assert SEED_TOOLS <= {t.name for t in tools.tools}
    assert doc.is_error is False and doc.structured_content["id"] == DOC
    assert missing.is_error is True
    assert "docId" in missing.content[0].text
