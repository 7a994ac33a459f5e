"""The Claude Desktop extension (.mcpb), built by `scripts/mcpb.sh` and checked with the
official packager (`@anthropic-ai/mcpb`: validate, pack, info, unpack); then its server is
started from the unpacked bundle the way Claude Desktop starts it — `${__dirname}` and the
`${user_config.…}` settings substituted from the manifest — and the official Python SDK's
stdio client lists its tools and calls one. The registry's server.json written beside the
bundle names it with its real SHA-256."""

import asyncio
import hashlib
import json
import os
import pathlib
import re
import subprocess
import tempfile

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import ROOT, binary

MCPB = ROOT / "tests" / "mcpb" / "node_modules" / ".bin" / "mcpb"


def claude_desktop_launch(unpacked: pathlib.Path, manifest: dict, settings: dict):
    """The command, arguments and environment Claude Desktop derives from the manifest:
    `${__dirname}` is the bundle's folder, each `${user_config.X}` the person's setting or its
    default (booleans as "true"/"false")."""
    def value(v):
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    chosen = {k: value(settings.get(k, spec.get("default", ""))) for k, spec in manifest["user_config"].items()}

    def substitute(text: str) -> str:
        text = text.replace("${__dirname}", str(unpacked))
        return re.sub(r"\$\{user_config\.(\w+)\}", lambda m: chosen.get(m.group(1), m.group(0)), text)

    config = manifest["server"]["mcp_config"]
    return (substitute(config["command"]), [substitute(a) for a in config.get("args", [])],
            {k: substitute(v) for k, v in config.get("env", {}).items()})


async def list_and_call(command, args, env):
    params = StdioServerParameters(command=command, args=args, env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            docs = await session.call_tool("coda_list_documents", {})
            return [t.name for t in tools], docs


def test_the_extension_validates_packs_and_serves_from_the_unpacked_bundle():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        built = subprocess.run([str(ROOT / "scripts" / "mcpb.sh"), "--bin", binary(), "--out", str(tmp / "dist")],
                               capture_output=True, text=True, timeout=600)
        assert built.returncode == 0, built.stdout + built.stderr
        assert "Manifest schema validation passes!" in built.stdout, built.stdout
        bundles = list((tmp / "dist").glob("coda-mcp-*-linux.mcpb"))
        assert len(bundles) == 1, list((tmp / "dist").iterdir())
        bundle = bundles[0]

        info = subprocess.run([str(MCPB), "info", str(bundle)], capture_output=True, text=True, timeout=120)
        assert info.returncode == 0 and bundle.name in info.stdout, info.stdout + info.stderr

        unpacked = tmp / "unpacked"
        out = subprocess.run([str(MCPB), "unpack", str(bundle), str(unpacked)], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        manifest = json.loads((unpacked / "manifest.json").read_text())
        assert manifest["server"]["type"] == "binary"
        server_binary = unpacked / manifest["server"]["entry_point"]
        assert os.access(server_binary, os.X_OK), "the binary keeps its executable bit in the bundle"
        version = subprocess.run([str(server_binary), "--version"], capture_output=True, text=True).stdout
        assert manifest["version"] in version

        # As Claude Desktop starts it, with no setting changed: no token in the extension, no
        # keychain, no app running — it serves on its own and every tool is listed.
        base_env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "CODA_MCP_KEYCHAIN": "off",
                    "CODA_MCP_DATA_DIR": str(tmp / "data"), "RUST_LOG": "warn"}
        command, args, env = claude_desktop_launch(unpacked, manifest, {})
        assert env["CODA_API_TOKEN"] == "" and args == ["stdio"]
        names, docs = asyncio.run(list_and_call(command, args, {**base_env, **env}))
        assert names == [t["name"] for t in manifest["tools"]], "the manifest lists exactly the tools served"
        assert docs.is_error, "without a token the tool says so"
        assert "token" in docs.content[0].text.lower()

        # The demo switch on: the same bundle serves the demo workspace.
        command, args, env = claude_desktop_launch(unpacked, manifest, {"demo": True})
        names, docs = asyncio.run(list_and_call(command, args, {**base_env, **env}))
        assert not docs.is_error, docs
        assert docs.structured_content["items"], docs.structured_content

        # A launcher that leaves an optional setting unsubstituted is not a token.
        names, docs = asyncio.run(list_and_call(command, args, {**base_env, **env,
                                                                "CODA_API_TOKEN": "${user_config.coda_api_token}"}))
        assert not docs.is_error

        # The registry's server.json names this bundle, with its real SHA-256.
        server = json.loads((tmp / "dist" / "server.json").read_text())
        assert server["version"] == manifest["version"]
        assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
        assert 1 <= len(server["description"]) <= 100
        package = server["packages"][0]
        assert package["registryType"] == "mcpb" and package["transport"] == {"type": "stdio"}
        assert package["identifier"].endswith("/" + bundle.name) and "mcp" in package["identifier"]
        assert package["fileSha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
