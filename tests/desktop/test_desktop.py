"""The desktop app end to end, under Xvfb, driven through tauri-driver and WebKitWebDriver
(plain W3C WebDriver over HTTP), with a private D-Bus session (single instance) and a private
home (launch at login):

- with its dashboard window open on the demo workspace: an MCP client (the official Python SDK)
  makes a call and the window shows it; "Connect Claude Desktop" writes an entry that runs the
  app's own `stdio`, and a stdio client started from it appears as a bridged session; saving
  "Launch at login" in the window writes the OS's autostart entry at once; closing the window
  hides it and the app keeps serving; a second launch exits and shows the first one's window;
- started without `--open-dashboard`: no window at all, the tray and the MCP server only;
- the first run without a Coda token: the window opens on Setup with the first-run banner, and
  "Use the demo workspace" restarts the server on the demo.

The X server is asked directly (tests/desktop/x11.py) whether a window is on screen."""

import asyncio
import base64
import http.client
import json
import os
import pathlib
import shutil
import select
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from mcp import ClientSession

import x11
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = os.environ.get("CODA_MCP_DESKTOP_BIN", str(ROOT / "target" / "debug" / "coda-mcp-desktop"))
DRIVER = os.environ.get("TAURI_DRIVER", str(ROOT / ".tools" / "cargo" / "bin" / "tauri-driver"))
ARTIFACTS = ROOT / "artifacts"
KEY = "cmk_desktop-e2e-test-key-0000000000000000"


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
        # tauri-driver forwards each command to WebKitWebDriver over a pooled keep-alive
        # connection; when WebKitWebDriver has just closed that connection as idle (after a
        # pause of the test's), the forward fails with "connection reset" and tauri-driver
        # closes ours without an answer. The command never ran, so it is sent once more; the
        # session itself is alive (the failure evidence of such runs has its screenshot).
        for attempt in (1, 2):
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return json.load(r)["value"]
            except urllib.error.HTTPError as e:
                raise AssertionError(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}") from None
            except (http.client.RemoteDisconnected, ConnectionResetError):
                if attempt == 2:
                    raise
                print(f"WebDriver {method} {path}: the driver closed the connection unanswered; sent again")

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
        """Scrolls the element to the middle of the window, then clicks it, as a person would:
        WebKitWebDriver clicks an element at the window's bottom edge at a point the page
        has moved on from by then (the click lands nowhere, with no error)."""
        element = self.find(css)
        self.call("POST", self.s("/execute/sync"), {
            "script": "arguments[0].scrollIntoView({block: 'center'})",
            "args": [{"element-6066-11e4-a52e-4f735466cecf": element}]})
        self.call("POST", self.s(f"/element/{element}/click"), {})

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


TITLE = "Coda MCP"


def stop_pid(pid: int):
    """Ends a process this test started (the app is started by WebKitWebDriver, so its id
    comes from the server.json it announced)."""
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


@pytest.fixture
def session():
    """Xvfb, a private D-Bus session and a private home: (display, env, tmp)."""
    for tool in (APP, DRIVER, "/usr/bin/WebKitWebDriver", "/usr/bin/dbus-daemon"):
        assert os.path.exists(tool), f"missing {tool}: scripts/test.sh builds and installs it"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="coda-desktop-e2e-"))
    # Xvfb picks a free display itself and says which once it accepts connections (a number
    # chosen here could still be held by another server, or by one that is shutting down).
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x900x24",
                             "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    bus = None
    screen = None
    try:
        ready, _, _ = select.select([xvfb.stdout], [], [], 15)
        number = xvfb.stdout.readline().strip() if ready else ""
        assert number.isdigit(), f"Xvfb did not say which display it serves ({number!r})"
        display = f":{number}"
        # Single instance finds the first app on the session bus: give the test its own.
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        bus_address = bus.stdout.readline().strip()
        assert bus_address, "dbus-daemon printed no address"
        (tmp / "home").mkdir()
        env = dict(os.environ, DISPLAY=display, CODA_MCP_KEY=KEY, CODA_MCP_KEYCHAIN="off",
                   DBUS_SESSION_BUS_ADDRESS=bus_address, HOME=str(tmp / "home"),
                   CODA_MCP_DATA_DIR=str(tmp / "data"), CODA_MCP_CONFIG_DIR=str(tmp / "config"),
                   CODA_MCP_CLAUDE_CONFIG=str(tmp / "Claude" / "claude_desktop_config.json"),
                   XDG_CONFIG_HOME=str(tmp / "xdg-config"), XDG_DATA_HOME=str(tmp / "xdg-data"),
                   XDG_CACHE_HOME=str(tmp / "xdg-cache"),
                   RUST_LOG="info", WEBKIT_DISABLE_COMPOSITING_MODE="1", LIBGL_ALWAYS_SOFTWARE="1")
        for var in ("WAYLAND_DISPLAY", "NGROK_AUTHTOKEN", "CODA_API_TOKEN"):
            env.pop(var, None)
        screen = x11.Display(display)
        yield screen, env, tmp
    finally:
        # Whatever failed above, nothing this fixture started outlives it.
        if screen is not None:
            screen.close()
        if bus is not None:
            bus.terminate()
            bus.wait(10)
        xvfb.terminate()
        xvfb.wait(10)
        if os.environ.get("KEEP_E2E_TMP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


def keep_failure_artifacts(name: str, wd, tmp: pathlib.Path):
    """A failed test's evidence under artifacts/desktop-failures/NAME/: a screenshot (while the
    session still answers), tauri-driver's and WebKitWebDriver's output, the app's own logs."""
    where = ARTIFACTS / "desktop-failures" / name
    where.mkdir(parents=True, exist_ok=True)
    try:
        wd.screenshot(where / "screen.png")
    except Exception as e:  # noqa: BLE001 - the session may be what failed
        (where / "screen.txt").write_text(f"no screenshot: {e!r}\n")
    for log in [tmp / "driver.log", *sorted((tmp / "xdg-data").glob("*/logs/*.log"))]:
        if log.is_file():
            shutil.copy(log, where / log.name)
    journal = subprocess.run(["dmesg", "--ctime"], capture_output=True, text=True)
    if journal.returncode == 0:
        (where / "dmesg.txt").write_text(journal.stdout[-20000:])


@pytest.fixture
def desktop(session, request):
    """tauri-driver on top of `session`: (driver, tmp, env, screen)."""
    screen, env, tmp = session
    port, native = free_port(), free_port()
    log = open(tmp / "driver.log", "w")
    driver = subprocess.Popen([DRIVER, "--port", str(port), "--native-port", str(native),
                               "--native-driver", "/usr/bin/WebKitWebDriver"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    wd = WebDriver(f"http://127.0.0.1:{port}")
    wait_until("tauri-driver", lambda: wd.call("GET", "/status") is not None, timeout=20)
    try:
        yield wd, tmp, env, screen
    finally:
        app_pid = None
        try:
            app_pid = json.loads((tmp / "data" / "server.json").read_text())["pid"]
        except (OSError, ValueError, KeyError):
            pass
        report = getattr(request.node, "rep_call", None)
        if report is None or not report.passed:
            keep_failure_artifacts(request.node.name, wd, tmp)
        wd.quit()
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
        if app_pid:
            stop_pid(app_pid)
        log.close()


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


def web_processes(pid: int) -> list:
    """WebKit web processes started by the app `pid` (they carry a window's page)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == pid and name.startswith("WebKitWebProces"):
            found.append(int(entry.name))
    return found


def test_desktop_app_serves_mcp_shows_calls_and_connects_claude(desktop):
    wd, tmp, env, screen = desktop
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

    # "Launch at login" saved in the window: the OS's autostart entry is written at once.
    autostart = tmp / "home" / ".config" / "autostart"
    assert not autostart.exists() or not list(autostart.glob("*.desktop"))
    wd.script("document.querySelector('#settings-form [name=launch_at_login]').checked = true")
    wd.click("#settings-form button[type=submit]")
    entry_file = wait_until("the autostart entry", lambda: next(iter(autostart.glob("*.desktop")), None), timeout=10)
    assert os.path.realpath(APP) in entry_file.read_text() or APP in entry_file.read_text()
    settings = json.loads((tmp / "config" / "settings.json").read_text())
    assert settings["launch_at_login"] is True

    # The app went to the tray at start (its log, which reaches the driver's, says so).
    log = (tmp / "driver.log").read_text()
    assert "tray ready" in log, log[-2000:]
    assert KEY not in log, "the connection key never reaches the log"

    # Closing the window closes it — its web process ends and gives its memory back — and
    # the app keeps serving.
    app_pid = announced["pid"]
    assert web_processes(app_pid), "the open dashboard has a WebKit web process"
    assert screen.visible(TITLE)
    assert screen.request_close(TITLE) >= 1
    wait_until("the window closed", lambda: not screen.visible(TITLE), timeout=10)
    wait_until("its web process gone", lambda: not web_processes(app_pid), timeout=15)
    with urllib.request.urlopen(mcp_url.replace("/mcp", "/health"), timeout=5) as r:
        assert json.load(r)["status"] == "ok"
    result = asyncio.run(http_call(mcp_url))
    assert not result.is_error, "still serving MCP with the window closed"

    # A second launch exits at once and shows the first one's window.
    second = subprocess.run([APP, "--demo", "--port", "0"], env=env, timeout=30,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert second.returncode == 0, second.stdout[-2000:]
    assert "tray ready" not in second.stdout, "the second launch did not start an app of its own"
    wait_until("the first window shown again", lambda: screen.visible(TITLE), timeout=10)
    assert json.loads((tmp / "data" / "server.json").read_text())["mcp_url"] == mcp_url, \
        "still the first app's server"


def test_without_open_dashboard_the_app_starts_in_the_tray_with_no_window(session):
    screen, env, tmp = session
    log_path = tmp / "app.log"
    with open(log_path, "w") as log:
        app = subprocess.Popen([APP, "--demo", "--port", "0"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            announced = wait_until("server.json", lambda: json.loads((tmp / "data" / "server.json").read_text()))
            assert announced["pid"] == app.pid
            # Serving MCP…
            result = asyncio.run(http_call(announced["mcp_url"]))
            assert not result.is_error
            # …from the tray, with no window on screen (or anywhere).
            wait_until("the tray", lambda: "started in the tray (no window)" in log_path.read_text(), timeout=15)
            assert "tray ready" in log_path.read_text()
            time.sleep(1.0)
            assert app.poll() is None, "the app keeps running without a window"
            assert screen.windows(TITLE) == [], screen.windows(TITLE)
        finally:
            app.terminate()
            try:
                app.wait(10)
            except subprocess.TimeoutExpired:
                app.kill()


def test_first_run_without_a_token_opens_setup_and_the_demo_button_restarts_on_the_demo(desktop):
    wd, tmp, env, screen = desktop
    # No token anywhere, no settings yet; Coda itself stands at an address nothing answers.
    wd.start(APP, ["--port", "0", "--coda-base-url", "http://127.0.0.1:9/apis/v1"])
    first = wait_until("server.json", lambda: json.loads((tmp / "data" / "server.json").read_text()))
    assert first["demo"] is False
    wait_until("the dashboard", lambda: wd.script("return document.querySelector('#conn')?.textContent") == "live")
    assert wd.script("return location.hash") == "#setup", "the window opens on Setup"
    assert screen.visible(TITLE)
    shown = "return getComputedStyle(document.querySelector('{}')).display !== 'none'"
    wait_until("the first-run banner", lambda: wd.script(shown.format("#first-run")), timeout=10)
    banner = wd.script("return document.querySelector('#first-run').textContent")
    assert "Welcome" in banner and "demo workspace" in banner, banner
    assert wd.script(shown.format("#use-demo"))
    assert "No working Coda token" in wd.script("return document.querySelector('#account').textContent")
    wd.screenshot(ARTIFACTS / "desktop-first-run.png")

    wd.click("#use-demo")
    restarted = wait_until("the server on the demo",
                           lambda: (lambda a: a if a["demo"] else None)(json.loads((tmp / "data" / "server.json").read_text())),
                           timeout=20)
    assert restarted["mcp_url"] != first["mcp_url"], "a new server"
    settings = json.loads((tmp / "config" / "settings.json").read_text())
    assert settings["demo"] is True and settings["first_run_done"] is True
    # The window follows the restarted server and shows the demo account.
    port = restarted["mcp_url"].split(":")[2].split("/")[0]
    wait_until("the window on the new server", lambda: f":{port}/" in wd.call("GET", wd.s("/url")), timeout=15)
    wait_until("the demo account", lambda: "demo workspace" in (wd.script(
        "return document.querySelector('#account')?.textContent") or ""), timeout=15)
    assert not wd.script(shown.format("#first-run")), "the banner is gone on the demo"

