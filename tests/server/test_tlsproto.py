"""The TLS-aware uvicorn protocol, on a real uvicorn server bound to 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import uvloop
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from apf.server.certs import Pki, ensure_pki, issue_client_cert, ssl_context
from apf.server.tlsproto import HeadHoldingWriter, TlsHttpToolsProtocol

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def _echo_tls(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the scope's TLS extension as JSON (or null), streamed (chunked)."""
    await receive()
    body = json.dumps(scope.get("extensions", {}).get("tls")).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _echo_tls_sized(scope: Scope, receive: Receive, send: Send) -> None:
    """As _echo_tls, with a Content-Length."""
    await receive()
    body = json.dumps(scope.get("extensions", {}).get("tls")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class RunningServer:
    port: int
    pki: Pki


@contextlib.asynccontextmanager
async def _serving(pki: Pki, app: Any = _echo_tls) -> AsyncIterator[RunningServer]:
    """A uvicorn server with the TLS protocol on 127.0.0.1, stopped on exit."""
    config = uvicorn.Config(
        app,
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


class _RecordingTransport(asyncio.Transport):
    """Records each write and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _cycle(
    method: str = "GET", raw_lines: list[bytes] | None = None
) -> tuple[RequestResponseCycle, _RecordingTransport]:
    """uvicorn's own request cycle, writing through a HeadHoldingWriter to a recorder."""
    transport = _RecordingTransport()
    scope: Any = {"type": "http", "method": method, "path": "/", "headers": []}
    cycle = RequestResponseCycle(
        scope=scope,
        transport=transport,
        flow=FlowControl(transport),
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    cycle.transport = HeadHoldingWriter(transport, cycle, raw_lines)  # type: ignore[assignment]
    return cycle, transport


def _start(*headers: tuple[bytes, bytes]) -> Any:
    return {"type": "http.response.start", "status": 200, "headers": list(headers)}


def _body(body: bytes, *, more: bool = False) -> Any:
    return {"type": "http.response.body", "body": body, "more_body": more}


async def test_head_and_body_of_a_sized_response_leave_in_one_write() -> None:
    cycle, transport = _cycle()

    await cycle.send(_start((b"content-length", b"2")))
    assert transport.writes == []
    await cycle.send(_body(b"ok"))

    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"content-length: 2\r\n\r\nok")


async def test_head_of_a_streamed_response_leaves_before_its_body() -> None:
    cycle, transport = _cycle()

    await cycle.send(_start())

    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    await cycle.send(_body(b"x", more=True))
    assert transport.writes[1] == b"1\r\nx\r\n"


async def test_head_of_a_head_request_leaves_at_once() -> None:
    cycle, transport = _cycle("HEAD")

    await cycle.send(_start((b"content-length", b"2")))

    assert len(transport.writes) == 1
    await cycle.send(_body(b"ok"))
    assert len(transport.writes) == 1
    assert cycle.response_complete


async def test_closing_writes_a_held_head_first() -> None:
    cycle, transport = _cycle()
    await cycle.send(_start((b"content-length", b"2")))

    cycle.transport.close()

    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.closed


async def test_sized_answers_arrive_whole_over_tls(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)

    async with _serving(pki, _echo_tls_sized) as server:
        bodies = await asyncio.to_thread(_get_tls_twice, server.port, _client_context(pki))

    assert [(b["client_cert_chain"], b["client_cert_name"]) for b in bodies] == [([], None)] * 2


async def test_raw_header_lines_join_a_held_head() -> None:
    raw_lines: list[bytes] = []
    cycle, transport = _cycle(raw_lines=raw_lines)

    raw_lines.append(b"x-one: 1\r\n")
    raw_lines.append(b"x-two: 2\r\n")
    await cycle.send(_start((b"content-length", b"2")))
    await cycle.send(_body(b"ok"))

    assert len(transport.writes) == 1
    assert transport.writes[0].endswith(b"content-length: 2\r\nx-one: 1\r\nx-two: 2\r\n\r\nok")


async def test_raw_header_lines_join_a_streamed_head() -> None:
    cycle, transport = _cycle(raw_lines=[b"x-one: 1\r\n"])

    await cycle.send(_start())

    assert transport.writes[0].endswith(b"transfer-encoding: chunked\r\nx-one: 1\r\n\r\n")


async def _raw_header_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with one header the ASGI way and one as a finished line, if offered."""
    await receive()
    raw_lines = scope["extensions"].get("apf.response.raw_headers")
    if raw_lines is not None:
        raw_lines.append(b"x-raw: spliced\r\n")
    headers = [(b"x-asgi", b"plain"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_raw_header_lines_reach_the_client(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)

    def get() -> list[tuple[str | None, str | None, bytes]]:
        connection = http.client.HTTPSConnection(
            "localhost", server.port, context=_client_context(pki), timeout=30
        )
        answers = []
        for _ in range(2):  # the second request on the connection gets a fresh list
            connection.request("GET", "/")
            response = connection.getresponse()
            body = response.read()
            answers.append((response.getheader("x-raw"), response.getheader("x-asgi"), body))
        connection.close()
        return answers

    async with _serving(pki, _raw_header_app) as server:
        answers = await asyncio.to_thread(get)

    assert answers == [("spliced", "plain", b"ok")] * 2
