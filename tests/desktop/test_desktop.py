"""The desktop app end to end, under Xvfb, driven through tauri-driver and WebKitWebDriver
(plain W3C WebDriver over HTTP): the app starts with its dashboard window open on the demo
workspace; an MCP client (the official Python SDK) makes a call and the window shows it; the
window's "Connect Claude Desktop" writes an entry that runs the app's own `stdio`, and a
stdio client started from that entry appears in the window as a bridged session."""

import asyncio
import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = os.environ.get("CODA_MCP_DESKTOP_BIN", str(ROOT / "target" / "debug" / "coda-mcp-desktop"))
DRIVER = os.environ.get("TAURI_DRIVER", str(ROOT / ".tools" / "cargo" / "bin" / "tauri-driver"))
ARTIFACTS = ROOT / "artifacts"
KEY = "cmk_desktop-e2e-test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, check, timeout=30.0, every=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last = e
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class WebDriver:
    """The few W3C WebDriver commands the test needs."""

    def __init__(self, base: str):
        self.base = base
        self.session = None

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}") from None

    def start(self, app: str, args: list):
        caps = {"capabilities": {"alwaysMatch": {"tauri:options": {"application": app, "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def s(self, path: str) -> str:
        return f"/session/{self.session}{path}"

    def find(self, css: str) -> str:
        found = self.call("POST", self.s("/element"), {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def texts(self, css: str) -> list:
        items = self.call("POST", self.s("/elements"), {"using": "css selector", "value": css})
        return [self.call("GET", self.s(f"/element/{next(iter(i.values()))}/text")) for i in items]

    def click(self, css: str):
        self.call("POST", self.s(f"/element/{self.find(css)}/click"), {})

    def script(self, js: str):
        return self.call("POST", self.s("/execute/sync"), {"script": js, "args": []})

    def screenshot(self, path: pathlib.Path):
        path.write_bytes(base64.b64decode(self.call("GET", self.s("/screenshot"))))

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", self.s(""))
            except AssertionError:
                pass


@pytest.fixture
def desktop():
    for tool in (APP, DRIVER, "/usr/bin/WebKitWebDriver"):
        assert os.path.exists(tool), f"missing {tool}: scripts/test.sh builds and installs it"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="coda-desktop-e2e-"))
    display = f":{free_port() % 400 + 100}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            stderr=subprocess.DEVNULL)
    wait_until("Xvfb", lambda: os.path.exists(f"/tmp/.X11-unix/X{display[1:]}"), timeout=15)
    env = dict(os.environ, DISPLAY=display, CODA_MCP_KEY=KEY, CODA_MCP_KEYCHAIN="off",
               CODA_MCP_DATA_DIR=str(tmp / "data"), CODA_MCP_CONFIG_DIR=str(tmp / "config"),
               CODA_MCP_CLAUDE_CONFIG=str(tmp / "Claude" / "claude_desktop_config.json"),
               XDG_CONFIG_HOME=str(tmp / "xdg-config"), XDG_DATA_HOME=str(tmp / "xdg-data"),
               RUST_LOG="info", WEBKIT_DISABLE_COMPOSITING_MODE="1", LIBGL_ALWAYS_SOFTWARE="1")
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("NGROK_AUTHTOKEN", None)
    port, native = free_port(), free_port()
    log = open(tmp / "driver.log", "w")
    driver = subprocess.Popen([DRIVER, "--port", str(port), "--native-port", str(native),
                               "--native-driver", "/usr/bin/WebKitWebDriver"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    wd = WebDriver(f"http://127.0.0.1:{port}")
    wait_until("tauri-driver", lambda: wd.call("GET", "/status") is not None, timeout=20)
    try:
        yield wd, tmp, env
    finally:
        wd.quit()
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
        subprocess.run(["pkill", "-f", f"{APP} --open-dashboard"], check=False)
        xvfb.terminate()
        xvfb.wait(10)
        log.close()
        if os.environ.get("KEEP_E2E_TMP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


async def http_call(url: str):
    client = create_mcp_http_client(headers={"Authorization": f"Bearer {KEY}"})
    async with streamable_http_client(url, http_client=client) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await session.call_tool("coda_list_documents", {"limit": 3})


async def stdio_call(command: str, args: list, env: dict):
    params = StdioServerParameters(command=command, args=args, env={
        k: env[k] for k in ("CODA_MCP_KEY", "CODA_MCP_KEYCHAIN", "CODA_MCP_DATA_DIR", "RUST_LOG")})
    with tempfile.TemporaryFile("w+") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                result = await session.call_tool("coda_list_tables", {"docId": "AbCDeFGH01"})
        errlog.seek(0)
        return init, result, errlog.read()


def test_desktop_app_serves_mcp_shows_calls_and_connects_claude(desktop):
    wd, tmp, env = desktop
    ARTIFACTS.mkdir(exist_ok=True)
    wd.start(APP, ["--open-dashboard", "--demo", "--port", "0"])
    announced = wait_until("server.json", lambda: json.loads((tmp / "data" / "server.json").read_text()))
    mcp_url = announced["mcp_url"]
    assert announced["demo"] is True

    # The window shows the engine's dashboard (the token already traded for a cookie).
    wait_until("the dashboard", lambda: wd.script("return document.querySelector('#conn')?.textContent") == "live")
    url = wd.call("GET", wd.s("/url"))
    assert "/ui/" in url and "token=" not in url, url
    assert wd.call("GET", wd.s("/title")) == "Coda MCP"

    # An MCP client makes a call; the window shows it.
    result = asyncio.run(http_call(mcp_url))
    assert not result.is_error
    wd.click("#tab-calls")
    wait_until("the call in the window", lambda: any("coda_list_documents" in t for t in wd.texts("#call-rows tr")), timeout=10)
    wd.screenshot(ARTIFACTS / "desktop-dashboard-calls.png")

    # Connect Claude Desktop from the window: the entry runs this app's own `stdio`.
    wd.click("#tab-setup")
    wd.click("#connect-claude")
    config_path = tmp / "Claude" / "claude_desktop_config.json"
    config = wait_until("claude config", lambda: json.loads(config_path.read_text()))
    entry = config["mcpServers"]["coda"]
    assert os.path.realpath(entry["command"]) == os.path.realpath(APP)
    assert entry["args"][0] == "stdio"

    # Claude Desktop would start that entry: it bridges to the app, and the window shows it.
    init, tables, err = asyncio.run(stdio_call(entry["command"], entry["args"], env))
    assert init.server_info.name == "coda-mcp"
    assert any(t["name"] == "Tasks" for t in tables.structured_content["items"])
    assert "bridging to the running server" in err, err
    wd.click("#tab-sessions")
    wait_until("the bridged session", lambda: any("stdio bridge" in t for t in wd.texts("#session-rows tr")), timeout=10)
    wd.screenshot(ARTIFACTS / "desktop-dashboard-sessions.png")

    # No ngrok authtoken: the tunnel says why, and the server keeps serving.
    wd.click("#tab-setup")
    wd.click("#tunnel-start")
    wait_until("the tunnel's refusal",
               lambda: "no ngrok authtoken" in wd.script("return document.querySelector('#tunnel-state').textContent"),
               timeout=10)
    with urllib.request.urlopen(mcp_url.replace("/mcp", "/health"), timeout=5) as r:
        assert json.load(r)["status"] == "ok"

    # The app went to the tray at start (its log, which reaches the driver's, says so).
    log = (tmp / "driver.log").read_text()
    assert "tray ready" in log, log[-2000:]
    assert KEY not in log, "the connection key never reaches the log"
