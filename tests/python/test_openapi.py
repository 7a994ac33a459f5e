"""Both OpenAPI documents against openapi-spec-validator and ChatGPT's limits, the seed's
components against the seed document, and schemathesis against the GPT Action routes of
`serve --demo` (at least 1,000 generated cases, counted by schemathesis itself and by a hook
that sees every call)."""

import json
import os
import pathlib
import re
import subprocess
import urllib.request

import pytest
from openapi_spec_validator import validate

from conftest import KEY, ROOT, binary, running_server

PUBLIC = "https://coda-mcp.example.app"
SEED_DOC = ROOT.parent / "shared" / "seed-chatgpt-connector-flow.md"
SEED_COMPONENTS = ROOT / "tests" / "data" / "seed_mcp_components.json"
MIN_CASES = 1000

# Counts every call schemathesis makes (and its status) into COUNT_FILE.
HOOKS = '''
import os
import schemathesis


@schemathesis.hook
def after_call(context, case, response):
    with open(os.environ["COUNT_FILE"], "a") as f:
        f.write(f"{response.status_code}\\n")
'''


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


def tools():
    """The catalogue as `coda-mcp tools --json` prints it: name → readOnlyHint."""
    out = subprocess.run([binary(), "tools", "--json"], capture_output=True, text=True, check=True)
    return {t["name"]: t["annotations"]["readOnlyHint"] for t in json.loads(out.stdout)}


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


def test_reads_run_without_confirmation_and_writes_ask_first(fuzz_server):
    base = fuzz_server.removesuffix("/mcp")
    actions = get_json(f"{base}/openapi.json")
    read_only = tools()
    checked = 0
    for path, item in actions["paths"].items():
        op = item["post"]
        name = op["operationId"]
        if name == "callTool":
            assert op["x-openai-isConsequential"] is True, "callTool reaches writes"
            continue
        assert op["x-openai-isConsequential"] is (not read_only[name]), \
            f"{name}: readOnlyHint {read_only[name]} but isConsequential {op['x-openai-isConsequential']}"
        checked += 1
    assert checked >= 20
    assert any(not ro for name, ro in read_only.items() if f"/actions/{name}" in actions["paths"])


def test_a_read_only_server_offers_only_reads_none_consequential():
    with running_server(["--read-only"]) as url:
        actions = get_json(f"{url.removesuffix('/mcp')}/openapi.json")
    ops = [item["post"] for item in actions["paths"].values()]
    assert ops and all(op["x-openai-isConsequential"] is False for op in ops), \
        [op["operationId"] for op in ops if op["x-openai-isConsequential"]]
    read_only = tools()
    names = set(actions["paths"]["/actions/callTool"]["post"]["requestBody"]["content"]
                ["application/json"]["schema"]["properties"]["name"]["enum"])
    assert names and all(read_only[n] for n in names)
    # `coda-mcp openapi --read-only` prints the same operations.
    out = subprocess.run([binary(), "openapi", "--read-only"], capture_output=True, text=True, check=True)
    printed = json.loads(out.stdout)
    assert set(printed["paths"]) == set(actions["paths"])


def seed_components_from_the_document():
    """The components of the JSON schema block in the seed document."""
    text = SEED_DOC.read_text()
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        try:
            doc = json.loads(block)
        except json.JSONDecodeError:
            continue  # the seed's outline blocks use "..." placeholders
        if isinstance(doc, dict) and "components" in doc:
            return doc["components"]
    raise AssertionError("the seed document has no JSON schema with components")


def test_the_seed_schema_keeps_the_seed_documents_components(fuzz_server):
    served = get_json(f"{fuzz_server.removesuffix('/mcp')}/openapi/mcp.json")["components"]
    kept = json.loads(SEED_COMPONENTS.read_text())
    assert served == kept, "/openapi/mcp.json's components differ from the seed's (tests/data copy)"
    embedded = json.loads((ROOT / "src" / "openapi" / "direct_call.json").read_text())["components"]
    assert embedded == kept, "src/openapi/direct_call.json's components differ from the seed's"
    if SEED_DOC.exists():  # beside the repository in development; not in CI
        assert seed_components_from_the_document() == kept, \
            "tests/data/seed_mcp_components.json is not the seed document's components any more"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(fuzz_server, tmp_path):
    base = fuzz_server.removesuffix("/mcp")
    report = tmp_path / "report.json"
    counts = tmp_path / "calls.txt"
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "count_calls.py").write_text(HOOKS)
    env = dict(os.environ, SCHEMATHESIS_HOOKS="count_calls", COUNT_FILE=str(counts),
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "hooks"), os.environ.get("PYTHONPATH")])))
    # Enough examples per operation for MIN_CASES with room to spare, however many there are.
    operations = len(get_json(f"{base}/openapi.json")["paths"])
    per_operation = max(45, -(-MIN_CASES * 6 // 5 // operations))
    cmd = [
        str(ROOT / ".tools" / "venv" / "bin" / "schemathesis"), "run", f"{base}/openapi.json",
        "--url", base, "-H", f"Authorization: Bearer {KEY}",
        "--phases", "fuzzing", "-n", str(per_operation), "--seed", "1",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--request-timeout", "45", "--report", "json", "--report-json-path", str(report),
        "--suppress-health-check", "all",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    tail = out.stdout[-3000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    run = json.loads(report.read_text())
    assert run["complete"] is True and run["exit_code"] == 0, run
    cases = run["test_cases"]
    assert cases["generated"] >= MIN_CASES, f"only {cases['generated']} cases\n{tail}"
    assert cases["with_failures"] == 0 and cases["errored"] == 0, cases
    assert run["failures"] == [] and run["errors"] == [], run
    assert run["operations"]["tested"] == run["operations"]["total"] >= 20, run["operations"]
    # Independently of the report: the hook saw every call, none of them a 5xx.
    statuses = counts.read_text().split()
    assert len(statuses) >= MIN_CASES, f"the server answered only {len(statuses)} calls"
    assert not [s for s in statuses if s.startswith("5")], sorted(set(statuses))


def test_schemathesis_finds_no_server_error_in_the_oauth_endpoints(tmp_path):
    """The OAuth endpoints are the only unauthenticated additions to the public face: fuzzed
    with whatever shapes schemathesis makes of their parameters, none answers with a 5xx."""
    counts = tmp_path / "calls.txt"
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "count_calls.py").write_text(HOOKS)
    env = dict(os.environ, SCHEMATHESIS_HOOKS="count_calls", COUNT_FILE=str(counts),
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "hooks"), os.environ.get("PYTHONPATH")])))
    with running_server(["--client-rate", "0"]) as url:
        base = url.removesuffix("/mcp")
        cmd = [
            str(ROOT / ".tools" / "venv" / "bin" / "schemathesis"), "run", str(ROOT / "tests" / "data" / "oauth-openapi.json"),
            "--url", base, "--phases", "fuzzing", "-n", "120", "--seed", "2",
            "--checks", "not_a_server_error", "--request-timeout", "20", "--suppress-health-check", "all",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    statuses = counts.read_text().split()
    assert len(statuses) >= 400, f"only {len(statuses)} calls"
    assert not [s for s in statuses if s.startswith("5")], sorted(set(statuses))
