"""Updates end to end, against a local update server: the app is built twice with the same
update key (a fresh minisign key pair from the pinned Tauri CLI) — as 0.1.0, packaged and
installed with apt-get, and as 0.1.1, packaged and signed. The installed 0.1.0 runs under Xvfb
with the local server as its update URL; from its dashboard window: an older version offered
is ignored, an unreachable server and a package whose signature does not match change nothing
and say why, and so do the downgrade attacks (the signed 0.1.1 announced as 0.1.2, a signature
that names no version); then the signed 0.1.1 is downloaded, checked, installed with dpkg, and
the app restarts into it, keeping its settings and data."""

import json
import os
import pathlib
import shutil
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from test_desktop import ARTIFACTS, ROOT, desktop, free_port, session, stop_pid, wait_until  # noqa: F401
from test_package import INSTALLED_APP, PACKAGE, apt, installed

TAURI = ROOT / "packaging" / "node_modules" / ".bin" / "tauri"
OLD, NEW = "0.1.0", "0.1.1"


def build_and_package(version: str, pubkey: str) -> pathlib.Path:
    """The desktop app built as `version` with the update key, then its .deb."""
    env = dict(os.environ, CODA_MCP_UPDATE_PUBKEY=pubkey, TAURI_CONFIG=json.dumps({"version": version}))
    subprocess.run(["cargo", "build", "--locked", "-p", "coda-mcp-desktop", "--bin", "coda-mcp-desktop"],
                   cwd=ROOT, env=env, check=True, timeout=1800)
    out = subprocess.run([str(ROOT / "scripts" / "package.sh"), "--debug", "--bundles", "deb", "--version", version],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    deb = next((ROOT / "target" / "debug" / "bundle" / "deb").glob(f"*_{version}_*.deb"))
    return deb


def package_version() -> str:
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE], capture_output=True, text=True).stdout


def update_text(wd) -> str:
    return wd.script("return document.querySelector('#update-state')?.textContent || ''")


def check_now(wd, expect: str, timeout=30.0) -> str:
    wd.script("document.querySelector('#check-update').click()")
    return wait_until(f"update state '{expect}'", lambda: expect in update_text(wd) and update_text(wd), timeout=timeout)


def test_a_signed_newer_version_is_installed_and_everything_else_is_refused(desktop):
    wd, tmp, env, screen = desktop
    keys = tmp / "keys"
    keys.mkdir()
    subprocess.run([str(TAURI), "signer", "generate", "--ci", "-p", "", "-w", str(keys / "update.key")],
                   check=True, capture_output=True, timeout=120)
    pubkey = (keys / "update.key.pub").read_text().strip()

    www = tmp / "www"
    www.mkdir()
    new_deb = build_and_package(NEW, pubkey)
    shutil.copy(new_deb, www / "coda-mcp-desktop_new.deb")
    def sign(path: pathlib.Path, *bind: str) -> str:
        subprocess.run([str(TAURI), "signer", "sign", "-f", str(keys / "update.key"), "-p", "", *bind, str(path)],
                       check=True, capture_output=True, timeout=300)
        return (path.parent / (path.name + ".sig")).read_text()

    # A signature that names no version (what an older CLI made): refused, whatever it covers.
    unbound_signature = sign(www / "coda-mcp-desktop_new.deb")
    good_signature = sign(www / "coda-mcp-desktop_new.deb", "--app-version", NEW)
    # A signature by the same key, but of another file: it does not match the package.
    (www / "other.txt").write_text("not the package")
    wrong_signature = sign(www / "other.txt", "--app-version", NEW)
    old_deb = build_and_package(OLD, pubkey)

    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def manifest(version: str, signature: str):
        target = {"signature": signature, "url": f"{base}/coda-mcp-desktop_new.deb"}
        (www / "latest.json").write_text(json.dumps({
            "version": version, "notes": f"Coda MCP Desktop {version}", "pub_date": "2026-11-29T12:00:00Z",
            "platforms": {"linux-x86_64-deb": target, "linux-x86_64": target}}))

    server = ThreadingHTTPServer(("127.0.0.1", port), partial(SimpleHTTPRequestHandler, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if installed():
        apt("remove", PACKAGE)
    out = apt("install", "--no-install-recommends", str(old_deb))
    assert out.returncode == 0, out.stdout + out.stderr
    app_pid = None
    try:
        assert package_version() == OLD
        (tmp / "config").mkdir(exist_ok=True)
        (tmp / "config" / "settings.json").write_text(json.dumps({
            "update_url": f"{base}/latest.json", "first_run_done": True, "demo": True, "port": 0}))

        # An older version on offer is not an update.
        manifest("0.0.9", good_signature)
        wd.start(INSTALLED_APP, ["--open-dashboard", "--demo", "--port", "0"])
        announced = wait_until("server.json", lambda: json.loads((tmp / "data" / "server.json").read_text()))
        app_pid = announced["pid"]
        wait_until("the dashboard", lambda: wd.script("return document.querySelector('#conn')?.textContent") == "live")
        wd.script("document.querySelector('#tab-setup').click()")
        check_now(wd, "is the newest version")

        # An unreachable update server: nothing changes, and it says why.
        server.shutdown()
        server.server_close()
        assert "could not reach the update server" in check_now(wd, "Not updated")
        server = ThreadingHTTPServer(("127.0.0.1", port), partial(SimpleHTTPRequestHandler, directory=str(www)))
        threading.Thread(target=server.serve_forever, daemon=True).start()

        # A package whose signature does not match: offered, but refused at install.
        manifest(NEW, wrong_signature)
        check_now(wd, f"{NEW} is available")
        wd.script("document.querySelector('#install-update').click()")
        refused = wait_until("the refusal", lambda: "signature does not match" in update_text(wd) and update_text(wd))
        assert "not installed" in refused, refused
        assert package_version() == OLD, "nothing was installed"
        wd.screenshot(ARTIFACTS / "update-refused.png")

        # The signed 0.1.1 offered as a higher 0.1.2: the signature names 0.1.1, so it is refused.
        manifest("0.1.2", good_signature)
        check_now(wd, "0.1.2 is available")
        wd.script("document.querySelector('#install-update').click()")
        refused = wait_until("the version refusal", lambda: "signed as" in update_text(wd) and update_text(wd))
        assert "0.1.2" in refused and NEW in refused and "not installed" in refused, refused
        assert package_version() == OLD, "nothing was installed"

        # A signature that does not name the version it was made for.
        manifest(NEW, unbound_signature)
        check_now(wd, f"{NEW} is available")
        wd.script("document.querySelector('#install-update').click()")
        refused = wait_until("the unbound refusal", lambda: "does not name its version" in update_text(wd) and update_text(wd))
        assert package_version() == OLD, "nothing was installed"

        # The signed newer version: downloaded, checked, installed, and the app restarts into it.
        manifest(NEW, good_signature)
        check_now(wd, f"{NEW} is available")
        wd.screenshot(ARTIFACTS / "update-available.png")
        wd.script("document.querySelector('#install-update').click()")
        wait_until("the new package", lambda: package_version() == NEW, timeout=120)
        restarted = wait_until("the restarted app", lambda: (lambda a: a if a["pid"] != app_pid else None)(
            json.loads((tmp / "data" / "server.json").read_text())), timeout=60)
        stop_pid(app_pid)
        app_pid = restarted["pid"]
        assert os.path.realpath(f"/proc/{app_pid}/exe") == INSTALLED_APP
        logs = tmp / "xdg-data" / "io.github.codamcp.desktop" / "logs"
        wait_until("the new version's start in the log", lambda: f'version={NEW}' in "".join(
            p.read_text() for p in logs.glob("coda-mcp-desktop*.log")) or f'version: {NEW}' in "".join(
            p.read_text() for p in logs.glob("coda-mcp-desktop*.log")), timeout=30)
        # Settings and data outlive the update.
        kept = json.loads((tmp / "config" / "settings.json").read_text())
        assert kept["update_url"] == f"{base}/latest.json"
        assert (tmp / "data").is_dir()
    finally:
        if app_pid:
            stop_pid(app_pid)
        # The new process was started by the old one, outside tauri-driver: end it too.
        try:
            stop_pid(json.loads((tmp / "data" / "server.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            pass
        server.shutdown()
        apt("remove", PACKAGE)
        # Back to the plain build for whatever runs next.
        subprocess.run(["cargo", "build", "--locked", "-p", "coda-mcp-desktop", "--bin", "coda-mcp-desktop"],
                       cwd=ROOT, env={k: v for k, v in os.environ.items() if k not in ("TAURI_CONFIG", "CODA_MCP_UPDATE_PUBKEY")},
                       timeout=1800)
