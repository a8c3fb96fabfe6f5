"""uvicorn's httptools protocol, extended to hand the client certificate to the ASGI app.

uvicorn terminates TLS but does not tell the application who the peer is, and
x509 authentication needs exactly that. This subclass reads the peer
certificate once per connection, when the handshake is done, and puts it into
every request's scope as the ASGI TLS extension::

    scope["extensions"]["tls"] = {
        "server_cert": None,
        "client_cert_chain": ("-----BEGIN CERTIFICATE-----...",),  # leaf first
        "client_cert_name": "CN=kubernetes-admin,O=system:masters",
        "client_cert_error": None,
        "tls_version": 0x0304,
        "cipher_suite": None,
    }

Use it as ``uvicorn.Config(app, http=TlsHttpToolsProtocol, ...)``. Plain HTTP
connections get no ``tls`` extension.

It also sends a response's head and body in one write when the length is
known (see :class:`HeadHoldingWriter`): over TLS every write is a record and a
system call of its own, and for a small answer that was a large share of the
cost of a request.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, cast

from cryptography import x509
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from apf.server.headers import RAW_HEADERS_EXTENSION

logger = logging.getLogger(__name__)

# ASGI reports the protocol version as the TLS wire number.
_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that adds the ASGI ``tls`` extension to each request scope.

    Each scope also gets the ``apf.response.raw_headers`` list (see
    :mod:`apf.server.headers`), and each request's cycle writes through a
    :class:`HeadHoldingWriter`.
    """

    tls_extension: dict[str, Any] | None = None

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            self.tls_extension = tls_extension(ssl_object)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        scope = cast(dict[str, Any], self.scope)
        extensions: dict[str, Any] = scope.setdefault("extensions", {})
        # The parser calls back in order: this request's headers complete before
        # the next message begins, so one attribute carries the list over.
        self.raw_lines: list[bytes] = []
        extensions[RAW_HEADERS_EXTENSION] = self.raw_lines
        if self.tls_extension is not None:
            # Each request gets its own dict, so an app mutating it cannot leak state;
            # the chain is a tuple and can be shared.
            extensions["tls"] = dict(self.tls_extension)

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous:
            writer = HeadHoldingWriter(self.transport, cycle, self.raw_lines)
            cycle.transport = writer  # type: ignore[assignment]


class HeadHoldingWriter:
    """The transport one request's cycle writes to: a sized response's head waits for its body.

    uvicorn writes the status line and headers, then the body, as two writes.
    When the head announces a non-empty body of known length (and the request
    is not HEAD), the head is held and goes out together with the first body
    write. A chunked (streamed) head is written at once, since a watch client
    needs its headers before the first event. Closing writes a held head first.

    The head also receives the finished header lines the application put in
    ``raw_lines`` (the ``apf.response.raw_headers`` extension, see
    :mod:`apf.server.headers`), just before its closing blank line.
    """

    __slots__ = ("_cycle", "_head", "_raw_lines", "_transport")

    def __init__(
        self,
        transport: asyncio.Transport,
        cycle: RequestResponseCycle,
        raw_lines: list[bytes] | None = None,
    ) -> None:
        self._transport = transport
        self._cycle: RequestResponseCycle | None = cycle
        self._head: bytes | None = None
        self._raw_lines = raw_lines

    def write(self, data: bytes) -> None:
        cycle = self._cycle
        if cycle is not None and cycle.response_started:
            # The first write once the response started is its head; decide once.
            self._cycle = None
            if self._raw_lines:
                # The head ends with an empty line (b"\r\n\r\n"); the lines go before it.
                data = b"".join((data[:-2], *self._raw_lines, b"\r\n"))
            if _body_follows(cycle):
                self._head = data
                return
        head = self._head
        if head is not None:
            self._head = None
            data = head + data
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self.write(b"")
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _body_follows(cycle: RequestResponseCycle) -> bool:
    return (
        cycle.chunked_encoding is False
        and cycle.expected_content_length > 0
        and cycle.scope["method"] != "HEAD"
    )


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, Any]:
    """The ASGI TLS extension values for an established TLS connection."""
    chain = peer_chain_pem(ssl_object)
    name = None
    if chain:
        leaf = x509.load_pem_x509_certificate(chain[0].encode("ascii"))
        name = leaf.subject.rfc4514_string()
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("tls connection", extra={"client_cert_name": name or ""})
    return {
        # NOTE: the ssl module does not expose our own certificate per connection.
        "server_cert": None,
        "client_cert_chain": tuple(chain),
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


def peer_chain_pem(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> list[str]:
    """The peer's certificates as PEM strings, leaf first; empty without a client certificate.

    The handshake has verified them against the trusted client CAs already.
    """
    # NOTE: Python 3.11 exposes only the leaf; intermediates the client sent are not listed.
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return []
    return [ssl.DER_cert_to_PEM_cert(der)]
