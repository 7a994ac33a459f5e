"""`coda-mcp stdio` (Claude Desktop's entry) with the official Python SDK's stdio client, in
both modes: bridging to a running server (whose dashboard then shows the session) and serving
in-process when no server runs — with the demo, or with a Coda token from the environment
(against `coda-mcp demo`, a Coda-compatible API on loopback). `--demo` bridges only to a demo
server; without it, bridging to a demo server is said on stderr. The desktop app's binary
takes the same `stdio` entry."""

import asyncio
import contextlib
import json
import os
import pathlib
import re
import signal
import subprocess
import tempfile
import urllib.request

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import KEY, ROOT, binary, running_server

DOC = "AbCDeFGH01"


def desktop_binary() -> str:
    return os.environ.get("CODA_MCP_DESKTOP_BIN", str(ROOT / "target" / "debug" / "coda-mcp-desktop"))


@contextlib.contextmanager
def demo_api():
    """`coda-mcp demo`: the demo workspace alone, as a Coda-compatible API on loopback.
    Yields (base URL, token)."""
    env = dict(os.environ, RUST_LOG="warn")
    env.pop("CODA_API_TOKEN", None)
    proc = subprocess.Popen([binary(), "demo", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stdout.readline()
        found = re.search(r"ready: (http://\S+) \(token: (\S+)\)", line)
        assert found, f"no base URL and token in {line!r}"
        yield found.group(1), found.group(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@contextlib.contextmanager
def real_server(data_dir, base_url, token):
    """`coda-mcp serve` on the person's "own" workspace (here: `coda-mcp demo`'s API with its
    token), so its server.json says `demo: false`."""
    env = dict(os.environ, RUST_LOG="warn", CODA_MCP_KEY=KEY, CODA_MCP_KEYCHAIN="off",
               CODA_MCP_DATA_DIR=data_dir, CODA_API_TOKEN=token)
    proc = subprocess.Popen([binary(), "serve", "--coda-base-url", base_url, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = next((w for w in line.split() if w.startswith("http://") and w.endswith("/mcp")), None)
        assert url, line
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def run_stdio(args, env, program=None):
    with tempfile.TemporaryFile("w+") as errlog:
        outcome = asyncio.run(stdio_session(args, env, errlog, program))
        errlog.seek(0)
        return outcome, errlog.read()


async def stdio_session(args, env, errlog, program=None):
    params = StdioServerParameters(command=program or binary(), args=["stdio", *args], env=env)
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
    # In process the default toolset (core) is served; the bridged servers offer it too.
    assert len(tools.tools) >= 20
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
    # The bridge asks the server to prove it holds the key first; with the wrong key here the
    # proof does not match, so the key is never sent and the client is told why.
    assert "did not prove" in message and "connection key" in message, message


def test_bridge_without_a_key_says_how_to_give_it_one():
    """No keychain here and no CODA_MCP_KEY: the bridge says once what to do, instead of
    relaying a 401 for every message."""
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    with running_server(data_dir=data_dir):
        env = base_env(data_dir)
        with tempfile.TemporaryFile("w+") as errlog:
            try:
                asyncio.run(stdio_session([], env, errlog))
            except Exception as e:  # the SDK raises the JSON-RPC error of initialize
                message = flatten(e)
            else:
                raise AssertionError("initialize succeeded without a key")
            errlog.seek(0)
            err = errlog.read()
    assert "no connection key here" in message and "CODA_MCP_KEY" in message, message
    assert "connection key for this run" in err, err


def test_demo_without_the_demo_servers_key_serves_a_demo_of_its_own():
    """`stdio --demo` on a machine without a keychain, beside a running demo server whose key
    it does not have: the demo needs no account, so it serves its own instead of refusing."""
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    with running_server(data_dir=data_dir):
        with tempfile.TemporaryFile("w+") as errlog:
            outcome = asyncio.run(stdio_session(["--demo"], base_env(data_dir), errlog))
            errlog.seek(0)
            err = errlog.read()
    check(outcome)
    assert "no connection key here for the demo server at http://127.0.0.1:" in err, err
    assert "serving the built-in demo workspace in this process" in err, err


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


def test_in_process_with_a_coda_token_from_the_environment():
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    with demo_api() as (base_url, token):
        env = dict(base_env(data_dir), CODA_API_TOKEN=token)
        outcome, err = run_stdio(["--coda-base-url", base_url], env)
    check(outcome)
    assert "the app is not running; serving in this process with the Coda token from the environment" in err, err
    assert token not in err, "the token never reaches stderr"
    # The person's own history (not the demo's) got the calls.
    assert os.path.exists(os.path.join(data_dir, "audit.sqlite3"))


def test_demo_is_never_bridged_to_the_real_workspace():
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    with demo_api() as (base_url, token), real_server(data_dir, base_url, token) as url:
        announced = json.load(open(os.path.join(data_dir, "server.json")))
        assert announced["mcp_url"] == url and announced["demo"] is False
        env = dict(base_env(data_dir), CODA_MCP_KEY=KEY)
        outcome, err = run_stdio(["--demo"], env)
        check(outcome)
        assert "bridging" not in err, err
        assert f"the running server at {url} serves your Coda workspace, not the demo; " \
               "serving the built-in demo workspace in this process" in err, err
        # Without --demo the same server is bridged to, quietly.
        outcome, err = run_stdio([], env)
        check(outcome)
        assert f"bridging to the running server at {url}" in err and "demo" not in err, err


def test_bridging_to_a_demo_server_without_demo_says_so():
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    with running_server(data_dir=data_dir) as url:
        outcome, err = run_stdio([], dict(base_env(data_dir), CODA_MCP_KEY=KEY))
    check(outcome)
    assert f"the running server at {url} serves the built-in demo workspace, not your Coda account" in err, err
    assert f"bridging to the running server at {url}" in err, err


def test_the_desktop_apps_binary_serves_stdio_too():
    program = desktop_binary()
    assert os.path.exists(program), f"missing {program}: `cargo build --workspace --bins` builds it"
    data_dir = tempfile.mkdtemp(prefix="coda-mcp-stdio-")
    env = dict(base_env(data_dir))
    env.pop("DISPLAY", None)  # Claude Desktop's entry needs no display.
    outcome, err = run_stdio(["--demo"], env, program=desktop_binary())
    check(outcome)
    assert "serving the built-in demo workspace in this process" in err, err

