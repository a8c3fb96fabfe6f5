"""The TLS-aware uvicorn protocol, on a real uvicorn server bound to 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import uvloop

from apf.server.certs import Pki, ensure_pki, issue_client_cert, ssl_context
from apf.server.tlsproto import TlsHttpToolsProtocol

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def _echo_tls(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the scope's TLS extension as JSON (or null)."""
    await receive()
    body = json.dumps(scope.get("extensions", {}).get("tls")).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class RunningServer:
    port: int
    pki: Pki


@contextlib.asynccontextmanager
async def _serving(pki: Pki) -> AsyncIterator[RunningServer]:
    """A uvicorn server with the TLS protocol on 127.0.0.1, stopped on exit."""
    config = uvicorn.Config(
        _echo_tls,
        http=TlsHttpToolsProtocol,
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        ssl_certfile=str(pki.serving_cert),
        ssl_keyfile=str(pki.serving_key),
    )
    config.load()
    config.ssl = ssl_context(pki)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections queue up until uvicorn accepts them
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        yield RunningServer(sock.getsockname()[1], pki)
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with _serving(ensure_pki(tmp_path)) as server:
        yield server


def _get_tls_twice(port: int, context: ssl.SSLContext) -> list[Any]:
    """Two requests on one keep-alive connection; the decoded bodies."""
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=30)
    try:
        bodies = []
        for _ in range(2):
            connection.request("GET", "/")
            response = connection.getresponse()
            bodies.append(json.loads(response.read()))
        return bodies
    finally:
        connection.close()


def _client_context(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_cert))


async def test_tls_protocol_exposes_client_certificate_in_scope(running: RunningServer) -> None:
    context = _client_context(running.pki)
    context.load_cert_chain(str(running.pki.admin_cert), str(running.pki.admin_key))

    bodies = await asyncio.to_thread(_get_tls_twice, running.port, context)

    admin_pem = running.pki.admin_cert.read_text()
    for tls in bodies:
        assert tls["client_cert_name"] == "CN=kubernetes-admin,O=system:masters"
        assert len(tls["client_cert_chain"]) == 1
        assert ssl.PEM_cert_to_DER_cert(tls["client_cert_chain"][0]) == (
            ssl.PEM_cert_to_DER_cert(admin_pem)
        )
        assert tls["tls_version"] in (0x0303, 0x0304)


async def test_tls_protocol_reports_no_certificate_when_client_sends_none(
    running: RunningServer,
) -> None:
    bodies = await asyncio.to_thread(_get_tls_twice, running.port, _client_context(running.pki))

    assert [(b["client_cert_chain"], b["client_cert_name"]) for b in bodies] == [
        ([], None),
        ([], None),
    ]


async def test_tls_protocol_serves_issued_client_identity(
    running: RunningServer, tmp_path: Path
) -> None:
    cert, key = issue_client_cert(running.pki, "noxu", ["ops"]).write(tmp_path, "noxu")
    context = _client_context(running.pki)
    context.load_cert_chain(str(cert), str(key))

    bodies = await asyncio.to_thread(_get_tls_twice, running.port, context)

    assert bodies[0]["client_cert_name"] == "CN=noxu,O=ops"


def test_tls_protocol_works_on_uvloop(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    context = _client_context(pki)
    context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))

    async def scenario() -> list[Any]:
        async with _serving(pki) as server:
            return await asyncio.to_thread(_get_tls_twice, server.port, context)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        bodies = runner.run(scenario())

    assert [b["client_cert_name"] for b in bodies] == ["CN=kubernetes-admin,O=system:masters"] * 2
