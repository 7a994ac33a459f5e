"""Starts `coda-mcp serve --demo` on a free loopback port for the Python SDK tests."""

import contextlib
import tempfile
import os
import pathlib
import signal
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def binary() -> str:
    return os.environ.get("CODA_MCP_BIN", str(ROOT / "target" / "debug" / "coda-mcp"))


# At least 32 characters: the server refuses a shorter CODA_MCP_KEY.
KEY = "cmk_python-sdk-test-key-0000000000000000"


@contextlib.contextmanager
def running_server(extra_args=(), data_dir=None, on_ready=None, env_extra=None):
    """`coda-mcp serve --demo` on a free port, stopped with SIGTERM (which must exit 0).
    `on_ready` receives the dashboard URL line. It offers every toolset."""
    # Every tool (the default is the `core` toolset; tests/it/cli.rs checks that default).
    env = dict(os.environ, RUST_LOG="warn", CODA_MCP_KEY=KEY, CODA_MCP_KEYCHAIN="off", CODA_MCP_TOOLSETS="all",
               CODA_MCP_DATA_DIR=data_dir or os.path.join(tempfile.gettempdir(), "coda-mcp-tests"))
    env.update(env_extra or {})
    env.pop("CODA_API_TOKEN", None)
    proc = subprocess.Popen(
        [binary(), "serve", "--demo", "--port", "0", *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        url = next((w for w in line.split() if w.startswith("http://") and w.endswith("/mcp")), None)
        assert url, f"no MCP URL in the ready line: {line!r}"
        if on_ready:
            on_ready(proc.stdout.readline().split()[-1])
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert code == 0, f"server exited with {code}"


@pytest.fixture(scope="module")
def server_url():
    with running_server() as url:
        yield url
