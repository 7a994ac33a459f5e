"""Both OpenAPI documents against openapi-spec-validator and ChatGPT's limits, and
schemathesis against the GPT Action routes of `serve --demo` (1,000+ generated cases)."""

import json
import os
import re
import subprocess
import urllib.request

import pytest
from openapi_spec_validator import validate

from conftest import KEY, ROOT, binary, running_server

PUBLIC = "https://coda-mcp.example.app"


@pytest.fixture(scope="module")
def fuzz_server():
    # No Coda rate limits and no per-client limit: the fuzzer may fire as fast as it likes.
    with running_server(["--demo-unlimited", "--client-rate", "0", "--public-url", PUBLIC]) as url:
        yield url


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def descriptions(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "description" and isinstance(v, str):
                yield v
            else:
                yield from descriptions(v)
    elif isinstance(node, list):
        for v in node:
            yield from descriptions(v)


def test_both_schemas_are_valid_openapi_and_fit_chatgpt(fuzz_server):
    base = fuzz_server.removesuffix("/mcp")
    actions = get_json(f"{base}/openapi.json")
    seed = get_json(f"{base}/openapi/mcp.json")
    validate(actions)
    validate(seed)
    assert actions["servers"][0]["url"] == PUBLIC and seed["servers"][0]["url"] == PUBLIC
    ops = [op for item in actions["paths"].values() for op in item.values()]
    assert len(ops) <= 30
    for op in ops:
        assert re.fullmatch(r"[A-Za-z0-9_]{1,64}", op["operationId"]), op["operationId"]
        assert len(op["summary"]) <= 300 and len(op["description"]) <= 300
        assert isinstance(op["x-openai-isConsequential"], bool)
        for d in descriptions(op["requestBody"]):
            assert len(d) <= 700
    assert actions["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert seed["paths"]["/mcp"]["post"]["operationId"] == "executeToolCall"
    assert seed["paths"]["/mcp"]["get"]["operationId"] == "streamToolResults"
    assert KEY not in json.dumps(actions) and KEY not in json.dumps(seed)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(fuzz_server, tmp_path):
    base = fuzz_server.removesuffix("/mcp")
    report = tmp_path / "report.json"
    cmd = [
        str(ROOT / ".tools" / "venv" / "bin" / "schemathesis"), "run", f"{base}/openapi.json",
        "--url", base, "-H", f"Authorization: Bearer {KEY}",
        "--phases", "fuzzing", "-n", "45", "--seed", "1",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--request-timeout", "45", "--report", "ndjson", "--report-ndjson-path", str(report),
        "--suppress-health-check", "all",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    tail = out.stdout[-3000:]
    assert out.returncode == 0, tail
    generated = re.search(r"(\d+) generated, (\d+) passed", out.stdout)
    assert generated, tail
    assert int(generated.group(1)) >= 1000, f"only {generated.group(1)} cases\n{tail}"
    assert generated.group(1) == generated.group(2), tail
