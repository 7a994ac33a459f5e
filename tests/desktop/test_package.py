"""The Debian package as a person installs it: `scripts/package.sh --debug` packages the built
app with the Tauri CLI; apt-get installs the .deb on this machine; the installed app is started
from /usr/bin under Xvfb (through tauri-driver, so its dashboard window can be looked at): the
tray comes up, the server answers /health, the dashboard shows, the log file is written (and
holds no secret), `coda-mcp-desktop stdio` from /usr/bin serves MCP by bridging to it, and the
headless `coda-mcp` shipped in the package runs; then apt-get removes the package and nothing
of it is left but the person's data directory."""

import asyncio
import json
import os
import pathlib
import subprocess
import urllib.request

import pytest

from test_desktop import ARTIFACTS, KEY, ROOT, desktop, session, stdio_call, stop_pid, wait_until  # noqa: F401

INSTALLED_APP = "/usr/bin/coda-mcp-desktop"
INSTALLED_SERVER = "/usr/bin/coda-mcp"
PACKAGE = "coda-mcp-desktop"


def as_root(cmd: list) -> list:
    """`cmd` as root: directly when the tests run as root (CI), else through sudo."""
    return cmd if os.geteuid() == 0 else ["sudo", "-n", *cmd]


def apt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(as_root(["apt-get", "-y", "-q", *args]), capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def installed() -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", PACKAGE], capture_output=True, text=True)
    return "install ok installed" in out.stdout


@pytest.fixture(scope="module")
def deb() -> pathlib.Path:
    out = subprocess.run([str(ROOT / "scripts" / "package.sh"), "--debug", "--bundles", "deb"],
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    debs = sorted((ROOT / "target" / "debug" / "bundle" / "deb").glob("*.deb"), key=lambda p: p.stat().st_mtime)
    assert debs, out.stdout[-2000:]
    return debs[-1]


def test_the_deb_installs_runs_from_usr_bin_and_removes_cleanly(deb, desktop):
    wd, tmp, env, screen = desktop
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in (" usr/bin/coda-mcp-desktop", " usr/bin/coda-mcp\n", " usr/share/applications/",
                 " usr/share/icons/hicolor/128x128/apps/coda-mcp-desktop.png"):
        assert path in listing, f"{path} is not in the package:\n{listing}"
    if installed():
        apt("remove", PACKAGE)
    out = apt("install", "--no-install-recommends", str(deb))
    assert out.returncode == 0, out.stdout + out.stderr
    files = []
    app_pid = None
    try:
        assert installed()
        files = [f for f in subprocess.run(["dpkg", "-L", PACKAGE], capture_output=True, text=True,
                                           check=True).stdout.splitlines() if os.path.isfile(f)]
        assert INSTALLED_APP in files and INSTALLED_SERVER in files, files
        entries = [f for f in files if f.startswith("/usr/share/applications/") and f.endswith(".desktop")]
        assert entries, files
        entry = pathlib.Path(entries[0]).read_text()
        assert "Exec=coda-mcp-desktop" in entry and "Icon=coda-mcp-desktop" in entry, entry
        assert any(f.startswith("/usr/share/icons/hicolor/") for f in files), files

        # The headless server shipped in the package.
        version = subprocess.run([INSTALLED_SERVER, "--version"], capture_output=True, text=True, check=True).stdout
        assert version.startswith("coda-mcp "), version

        # The installed app, started from its installed path: tray, server, dashboard window.
        wd.start(INSTALLED_APP, ["--open-dashboard", "--demo", "--port", "0"])
        announced = wait_until("server.json", lambda: json.loads((tmp / "data" / "server.json").read_text()))
        app_pid = announced["pid"]
        assert os.path.realpath(f"/proc/{app_pid}/exe") == INSTALLED_APP
        health_url = announced["mcp_url"].rsplit("/mcp", 1)[0] + "/health"
        health = json.loads(urllib.request.urlopen(health_url, timeout=10).read())
        assert health["status"] == "ok", health
        wait_until("the dashboard", lambda: wd.script("return document.querySelector('#conn')?.textContent") == "live")
        ARTIFACTS.mkdir(exist_ok=True)
        wd.screenshot(ARTIFACTS / "installed-app-dashboard.png")

        # Its log file, in the OS's log folder, says the tray came up and holds no secret.
        logs = tmp / "xdg-data" / "io.github.codamcp.desktop" / "logs"
        log_text = wait_until("the log file", lambda: "tray ready" in "".join(
            p.read_text() for p in logs.glob("coda-mcp-desktop*.log")) and "".join(
            p.read_text() for p in logs.glob("coda-mcp-desktop*.log")))
        assert KEY not in log_text and KEY[-12:] not in log_text

        # Claude Desktop's entry, from the installed path: it bridges to the running app.
        init, tables, err = asyncio.run(stdio_call(INSTALLED_APP, ["stdio"], env))
        assert init.server_info.name == "coda-mcp"
        assert any(t["name"] == "Tasks" for t in tables.structured_content["items"])
        assert "bridging to the running server" in err, err
    finally:
        if app_pid:
            stop_pid(app_pid)
        removed = apt("remove", PACKAGE)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not installed()
    left = [f for f in files if os.path.exists(f)]
    assert left == [], f"left behind after removal: {left}"
    assert (tmp / "data").is_dir(), "the person's data directory stays"
