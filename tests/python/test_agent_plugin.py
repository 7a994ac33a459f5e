"""The Agent Plugins 1.0 package `coda-mcp manifest plugin DIR` writes (what Codex, VS Code and
Cursor install): `plugin.json` and `mcp.json` validate against the published JSON Schemas
(2020-12, copied into tests/data/agent-plugins/ from agentplugins/agent-plugins-spec 1.0.0),
the skill follows the Agent Skills rules (name = folder, description ≤ 1,024 characters, only
the allowed fields), Codex's wrapper names only paths inside the plugin — and the MCP entry,
started the way a client starts it (the command resolved as the spec says: a bare name on the
PATH, or a `./` path inside the plugin; `PLUGIN_ROOT` and `PLUGIN_DATA` set; `${…}` expanded
in args), serves MCP: the official Python SDK lists its tools and calls one."""

import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import jsonschema
import pytest
import yaml
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import ROOT, binary

SCHEMAS = ROOT / "tests" / "data" / "agent-plugins"


def write_plugin(dest: pathlib.Path, *flags: str) -> str:
    out = subprocess.run([binary(), "manifest", "plugin", str(dest), *flags], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PATH=str(pathlib.Path(binary()).parent) + os.pathsep + "/usr/bin:/bin"))
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr


def validate(document: dict, schema_file: str):
    schema = json.loads((SCHEMAS / schema_file).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=str)
    assert not errors, "\n".join(e.message for e in errors)


def frontmatter(text: str) -> dict:
    assert text.startswith("---\n"), text[:40]
    head, _, _ = text[4:].partition("\n---\n")
    return yaml.safe_load(head)


def resolve(command: str, root: pathlib.Path, path: str) -> str:
    """The spec's command resolution: a `./` path is inside the plugin; a bare name is found
    on the PATH."""
    if command.startswith("./"):
        found = (root / command).resolve()
        assert found.is_relative_to(root.resolve()), "a bundled command stays inside the plugin"
        return str(found)
    assert "/" not in command, "a command is a bare name or a ./ path"
    found = shutil.which(command, path=path)
    assert found, f"{command} is not on the PATH {path}"
    return found


async def start_like_a_client(root: pathlib.Path, entry: dict, path: str):
    data = root.parent / f"{root.name}-data"
    data.mkdir(exist_ok=True)
    expand = lambda s: s.replace("${PLUGIN_ROOT}", str(root)).replace("${PLUGIN_DATA}", str(data))  # noqa: E731
    env = {k: expand(v) for k, v in entry.get("env", {}).items()}
    # The person's environment (a client passes it on): the demo workspace, no keychain here.
    env.update(PATH=path, HOME=str(data), CODA_MCP_DEMO="true", CODA_MCP_KEYCHAIN="off",
               CODA_MCP_DATA_DIR=str(data / "coda-mcp"), PLUGIN_ROOT=str(root), PLUGIN_DATA=str(data))
    params = StdioServerParameters(command=resolve(entry["command"], root, path),
                                   args=[expand(a) for a in entry.get("args", [])], env=env, cwd=str(root))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            docs = await session.call_tool("coda_list_documents", {"limit": 2})
            return init, tools, docs


@pytest.mark.parametrize("flags", [(), ("--bundle-binary",)], ids=["on-path", "bundled"])
def test_the_plugin_validates_and_its_entry_serves_mcp(flags):
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "coda-mcp"
        said = write_plugin(root, *flags)
        assert "Agent plugin written to" in said and "chat.pluginLocations" in said, said
        manifest = json.loads((root / "plugin.json").read_text())
        validate(manifest, "plugin.schema.json")
        assert manifest["name"] == "coda-mcp" and manifest["extensions"]["com.openai"]["interface"]["displayName"] == "Coda"
        mcp = json.loads((root / "mcp.json").read_text())
        validate(mcp, "mcp.schema.json")
        assert mcp["$schema"].split("/")[-2] == manifest["$schema"].split("/")[-2], "one spec version for both"
        entry = mcp["mcpServers"]["coda"]
        assert entry["type"] == "stdio" and entry["args"] == ["stdio"]
        text = "".join(p.read_text() for p in root.rglob("*") if p.is_file() and p.suffix in (".json", ".md"))
        assert "cmk_" not in text and "pat_" not in text and "CODA_API_TOKEN" not in text, "no secret in any file"

        # The skill: one folder under skills/, the Agent Skills frontmatter rules.
        skills = [d for d in (root / "skills").iterdir() if (d / "SKILL.md").is_file()]
        assert [d.name for d in skills] == ["coda"]
        skill = (skills[0] / "SKILL.md").read_text()
        meta = frontmatter(skill)
        assert set(meta) <= {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}, meta
        assert meta["name"] == "coda" and 1 <= len(meta["description"]) <= 1024
        assert len(meta.get("compatibility", "")) <= 500
        assert len(skill.splitlines()) < 500
        for words in ("## Finding rows", "## Rate limits", "## Writes", "coda_list_rows"):
            assert words in skill, words

        # Codex's wrapper: paths inside the plugin only, and its own MCP file.
        codex = json.loads((root / ".codex-plugin" / "plugin.json").read_text())
        assert codex["name"] == manifest["name"] and codex["version"] == manifest["version"]
        for key in ("skills", "mcpServers"):
            assert codex[key].startswith("./") and ".." not in codex[key], codex[key]
            assert (root / codex[key]).exists(), codex[key]
        assert len(codex["interface"]["defaultPrompt"]) <= 3
        codex_mcp = json.loads((root / ".mcp.json").read_text())
        assert codex_mcp["mcpServers"]["coda"]["command"] == entry["command"]

        # Started as a client starts it: it serves MCP.
        if flags:
            path = "/usr/bin:/bin"  # the bundled copy, with no coda-mcp on the PATH at all
            assert entry["command"] == "./bin/coda-mcp" and (root / "bin" / "coda-mcp").is_file()
        else:
            path = str(pathlib.Path(binary()).parent) + os.pathsep + "/usr/bin:/bin"
            assert entry["command"] == "coda-mcp"
        init, tools, docs = asyncio.run(start_like_a_client(root, entry, path))
        assert init.server_info.name == "coda-mcp"
        assert "coda_list_rows" in tools and "search" in tools
        assert not docs.is_error and docs.structured_content["items"], docs


def test_without_coda_mcp_on_the_path_it_says_how_to_fix_it():
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([binary(), "manifest", "plugin", str(pathlib.Path(tmp) / "p")], capture_output=True,
                             text=True, timeout=60, env=dict(os.environ, PATH="/usr/bin:/bin"))
        assert out.returncode == 0, out.stderr
        assert "not on your PATH" in out.stderr and "--bundle-binary" in out.stderr, out.stderr
