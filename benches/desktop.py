#!/usr/bin/env python3
"""Measures the desktop app: time from launch to tray, and memory (RSS of the app and the
WebKit processes it starts) with the dashboard closed, open, and closed again. Runs under its
own Xvfb.

  cargo build --release -p coda-mcp-desktop
  dbus-run-session -- python3 benches/desktop.py [path/to/coda-mcp-desktop] [runs]

(The session bus is where the single-instance plugin finds the first instance on Linux.)
RSS counts shared libraries (GTK, WebKitGTK) in full in every process; PSS shares them out.

The dashboard is opened the way a person's second launch opens it: the single-instance
plugin hands the launch to the running app, which shows its window.
"""
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "desktop"))
import x11  # noqa: E402  (the tests' own X11 helper: which windows show, closing one)
APP = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "coda-mcp-desktop")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5


def rss_kib(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def tree(pid: int) -> list:
    """The process and its descendants (WebKit's web and network processes)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children = {}
    for line in out.split("\n"):
        if line.strip():
            p, pp = map(int, line.split())
            children.setdefault(pp, []).append(p)
    todo, found = [pid], []
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def pss_kib(pid: int) -> int:
    """Proportional set size: shared libraries counted by their share, not in full."""
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def total_rss_mib(pid: int) -> float:
    return sum(rss_kib(p) for p in tree(pid)) / 1024


def total_pss_mib(pid: int) -> float:
    return sum(pss_kib(p) for p in tree(pid)) / 1024


def names(pid: int) -> str:
    out = []
    for p in tree(pid):
        try:
            out.append(open(f"/proc/{p}/comm").read().strip())
        except FileNotFoundError:
            pass
    return ", ".join(out)


def main():
    display = f":{socket.socket().fileno() % 300 + 400}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            stderr=subprocess.DEVNULL)
    time.sleep(1)
    starts, closed, opened, closed_pss, opened_pss = [], [], [], [], []
    reclosed, reclosed_pss = [], []
    procs_closed = procs_open = ""
    try:
        for _ in range(RUNS):
            tmp = tempfile.mkdtemp(prefix="coda-desktop-bench-")
            env = dict(os.environ, DISPLAY=display, CODA_MCP_KEYCHAIN="off", CODA_MCP_KEY="cmk_bench-key-not-a-secret-0123456789abcdef",
                       CODA_MCP_DATA_DIR=f"{tmp}/data", CODA_MCP_CONFIG_DIR=f"{tmp}/config",
                       XDG_CONFIG_HOME=f"{tmp}/xdg", RUST_LOG="info", LIBGL_ALWAYS_SOFTWARE="1")
            t0 = time.perf_counter()
            app = subprocess.Popen([APP, "--demo", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True)
            for line in app.stderr:
                if "tray ready" in line:
                    starts.append((time.perf_counter() - t0) * 1000)
                    break
            # Keep reading stderr so the app never blocks on a full pipe.
            import threading
            threading.Thread(target=lambda: [None for _ in app.stderr], daemon=True).start()
            time.sleep(2)
            closed.append(total_rss_mib(app.pid))
            closed_pss.append(total_pss_mib(app.pid))
            procs_closed = names(app.pid)
            subprocess.Popen([APP], env=env, stderr=subprocess.DEVNULL).wait(20)
            time.sleep(4)
            opened.append(total_rss_mib(app.pid))
            opened_pss.append(total_pss_mib(app.pid))
            procs_open = names(app.pid)
            # Closed again, as a person closes it: the window and its web view go.
            screen = x11.Display(display)
            screen.request_close("Coda MCP")
            screen.close()
            time.sleep(4)
            reclosed.append(total_rss_mib(app.pid))
            reclosed_pss.append(total_pss_mib(app.pid))
            app.terminate()
            try:
                app.wait(10)
            except subprocess.TimeoutExpired:
                app.kill()
            subprocess.run(["rm", "-rf", tmp])
    finally:
        xvfb.terminate()
    med = statistics.median
    print(f"desktop app ({RUNS} runs, {APP})")
    print(f"  launch to tray      median {med(starts):7.0f} ms   (min {min(starts):.0f}, max {max(starts):.0f})")
    print(f"  dashboard closed     RSS {med(closed):6.1f} MiB, PSS {med(closed_pss):6.1f} MiB  ({procs_closed})")
    print(f"  dashboard open       RSS {med(opened):6.1f} MiB, PSS {med(opened_pss):6.1f} MiB  ({procs_open})")
    print(f"  dashboard closed again RSS {med(reclosed):5.1f} MiB, PSS {med(reclosed_pss):6.1f} MiB")


if __name__ == "__main__":
    main()
