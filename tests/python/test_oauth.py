"""The official Python MCP SDK's OAuth client (`OAuthClientProvider`) against
`coda-mcp serve --demo`: discovery from the 401 → registration → authorization, with the
consent page driven in Debian's Chromium (type the connection key, click Allow) → token →
tools/list and tools/call → refresh → revocation → 401. Again with a read-only grant (writes
refused) and with a client identified by its metadata document, served by a local HTTPS server.
"""

import asyncio
import http.server
import json
import os
import pathlib
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

import httpx2
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

from conftest import KEY, ROOT, running_server

REDIRECT = "http://127.0.0.1:9/callback"
CONSENT = ROOT / "tests" / "ui" / "consent.mjs"


class MemoryStorage:
    """What a client keeps between runs (the SDK asks for it; nothing is written to disk)."""

    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


class ChromiumConsent:
    """The redirect and callback handlers: the authorization URL is opened in Chromium, where
    the owner's key is typed and Allow clicked; the code comes back from the redirect."""

    def __init__(self, write=True):
        self.answer = None
        self.opened = 0
        self.write = write

    async def redirect(self, url: str) -> None:
        self.opened += 1
        proc = await asyncio.create_subprocess_exec(
            "node", str(CONSENT), url, KEY, *([] if self.write else ["read"]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, err.decode()
        self.answer = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(out.decode().strip()).query))

    async def callback(self) -> AuthorizationCodeResult:
        a = self.answer
        return AuthorizationCodeResult(code=a["code"], state=a.get("state"), iss=a.get("iss"))


def provider(url, storage, consent, scope=None, metadata_url=None):
    meta = OAuthClientMetadata(
        redirect_uris=[REDIRECT], client_name="Python SDK test", token_endpoint_auth_method="none",
        scope=scope,
    )
    return OAuthClientProvider(url, meta, storage, consent.redirect, consent.callback,
                               client_metadata_url=metadata_url)


async def session_calls(url, auth, calls):
    """Opens an MCP session through `auth` and runs `calls(session)`."""
    async with streamable_http_client(url, http_client=create_mcp_http_client(auth=auth)) as (read, write, *_):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await calls(session)


async def list_and_read(session):
    tools = await session.list_tools()
    result = await session.call_tool("coda_get_document", {"docId": "AbCDeFGH01"})
    assert not result.is_error, result
    return [t.name for t in tools.tools]


def status_with(url, token):
    r = httpx2.post(url, headers={"authorization": f"Bearer {token}", "content-type": "application/json",
                                  "accept": "application/json, text/event-stream"},
                    content=json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
    return r.status_code


def test_the_sdks_oauth_client_connects_refreshes_and_is_revoked():
    with running_server() as url:
        storage, consent = MemoryStorage(), ChromiumConsent()
        auth = provider(url, storage, consent)
        names = asyncio.run(session_calls(url, auth, list_and_read))
        assert consent.opened == 1, "the owner was asked once"
        assert "coda_update_row" in names
        assert storage.client.client_id.startswith("mcpc_"), "registered dynamically"
        first = storage.tokens
        assert first.scope == "coda:read coda:write"
        assert status_with(url, first.access_token) == 200

        # The access token's hour is up (as the client sees it): it refreshes, unasked. (The
        # test moves the expiry the SDK computed when it got the token.)
        auth.context.token_expiry_time = time.time() - 1
        asyncio.run(session_calls(url, auth, list_and_read))
        assert consent.opened == 1, "no new consent for a refresh"
        second = storage.tokens
        assert second.access_token != first.access_token and second.refresh_token != first.refresh_token

        # Revoking the refresh token ends the grant: its tokens get 401.
        base = url.rsplit("/mcp", 1)[0]
        r = httpx2.post(f"{base}/oauth/revoke", data={"token": second.refresh_token})
        assert r.status_code == 200
        assert status_with(url, second.access_token) == 401


def test_a_read_only_grant_lists_and_runs_only_reads():
    with running_server() as url:
        # The app asks for both scopes; the owner unticks "allow changes" on the consent page.
        storage, consent = MemoryStorage(), ChromiumConsent(write=False)

        async def calls(session):
            names = [t.name for t in (await session.list_tools()).tools]
            refused = await session.call_tool("coda_delete_doc", {"docId": "AbCDeFGH01"})
            return names, refused

        names, refused = asyncio.run(session_calls(url, provider(url, storage, consent), calls))
        assert storage.tokens.scope == "coda:read"
        assert "coda_update_row" not in names and "coda_get_document" in names
        assert refused.is_error
        assert "coda:write" in refused.content[0].text


def make_certificates(directory: pathlib.Path):
    """A test CA and a certificate for `app.test` it signed (openssl)."""
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=directory)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=coda-mcp test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=app.test")
    (directory / "leaf.ext").write_text("subjectAltName=DNS:app.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext")


def test_a_client_identified_by_its_metadata_document():
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        make_certificates(d)
        document = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps(document).encode()
                if self.path == "/oauth/big.json":
                    body = json.dumps({**document, "client_id": big_id, "padding": "x" * 6000}).encode()
                self.send_response(200 if self.path in ("/oauth/client.json", "/oauth/big.json") else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        https = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(d / "leaf.pem", d / "leaf.key")
        https.socket = context.wrap_socket(https.socket, server_side=True)
        port = https.server_address[1]
        threading.Thread(target=https.serve_forever, daemon=True).start()
        client_id = f"https://app.test:{port}/oauth/client.json"
        big_id = f"https://app.test:{port}/oauth/big.json"
        document.update({"client_id": client_id, "client_name": "Metadata document app",
                         "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})
        try:
            extra = ("--oauth-test-resolve", f"app.test=127.0.0.1:{port}", "--oauth-test-ca", str(d / "ca.pem"))
            with running_server(extra_args=extra) as url:
                storage, consent = MemoryStorage(), ChromiumConsent()
                asyncio.run(session_calls(url, provider(url, storage, consent, metadata_url=client_id), list_and_read))
                assert storage.client.client_id == client_id, "no registration: the document is the client"
                assert consent.opened == 1
                # A document over 5 KiB is refused, and the browser is sent nowhere.
                base = url.rsplit("/mcp", 1)[0]
                r = httpx2.get(f"{base}/oauth/authorize", params={
                    "response_type": "code", "client_id": big_id, "redirect_uri": REDIRECT,
                    "code_challenge": "x" * 43, "code_challenge_method": "S256", "resource": url})
                assert r.status_code == 400 and "location" not in r.headers
                assert "larger than 5120 bytes" in r.text, r.text
        finally:
            https.shutdown()
