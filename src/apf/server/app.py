"""The ASGI application: the filter chain in kube-apiserver's order, then routing.

Order (as in kube-apiserver): request info → authentication → impersonation
→ APF (or max-in-flight) → authorization → handler. So every request is
classified and counted against a priority level, including ones that later
fail authorization (403) or routing (404).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apf.api import errors
from apf.api.errors import StatusError
from apf.flowcontrol.admission import Admitter, Pending, Ticket
from apf.flowcontrol.digest import RequestInfo, UserInfo
from apf.server.headers import (
    RAW_HEADERS_EXTENSION,
    HeaderBlock,
    encode_headers,
    header_block,
    header_name,
)
from apf.server.http import (
    AnyResponse,
    Request,
    Response,
    StreamingResponse,
    status_response,
    text_response,
)
from apf.server.maxinflight import MaxInFlight
from apf.server.options import parse_duration

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("apf.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 3 * 1024 * 1024
FS_UID_HEADER = "X-Kubernetes-PF-FlowSchema-UID"
PL_UID_HEADER = "X-Kubernetes-PF-PriorityLevel-UID"
TOO_MANY_REQUESTS_BODY = b"Too many requests, please try again later.\n"
DEFAULT_CACHE_CONTROL = ("cache-control", "no-cache, private")
_NO_EXTENSIONS: Mapping[str, Any] = {}
# Every Impersonate-* header name starts so (lower-cased).
IMPERSONATE_PREFIX = "impersonate-"


@dataclass
class Filters:
    """The pluggable parts of the chain; each a plain callable so tests can swap them."""

    # (method, decoded path, raw query string) -> RequestInfo.
    parse_request_info: Callable[[str, str, str], RequestInfo]
    is_long_running: Callable[[RequestInfo], bool]
    authenticate: Callable[[Mapping[str, str], Sequence[str]], UserInfo | None]
    impersonate: Callable[[UserInfo, list[tuple[str, str]]], UserInfo]
    # None when allowed, else the 403 Status to send.
    authorize: Callable[[UserInfo, RequestInfo], StatusError | None]
    route: Callable[[Request], Awaitable[AnyResponse]]
    admitter: Admitter | None = None
    max_in_flight: MaxInFlight | None = None
    # Called once per answered request (apiserver_request_total).
    observe: Callable[[Request, int], None] | None = None
    # Requests being served by kind ("readOnly", "mutating"), counted in place so the
    # metrics read them at scrape time (apiserver_current_inflight_requests).
    in_flight: MutableMapping[str, int] = field(
        default_factory=lambda: {"readOnly": 0, "mutating": 0}
    )


class ApiServer:
    """ASGI 3 callable serving the whole API behind the filter chain."""

    def __init__(self, filters: Filters) -> None:
        self.filters = filters
        self.in_flight = filters.in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        received_at = time.monotonic()
        body = await _read_body(receive)
        headers = _headers(scope["headers"])
        request = Request(
            method=scope["method"],
            path=scope["path"],
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body or b"",
            received_at=received_at,
        )
        kind = "readOnly" if request.method in ("GET", "HEAD") else "mutating"
        self.in_flight[kind] += 1
        try:
            if body is None:
                response: AnyResponse = status_response(
                    StatusError(413, "RequestEntityTooLarge", "the request body is too large")
                )
            else:
                response = await self._serve(request, scope, receive)
            await _send_response(response, request, scope, send, receive)
        finally:
            # Seats and slots are held until the answer is written, as in kube-apiserver.
            for release in request.on_complete:
                release()
            self.in_flight[kind] -= 1
        if self.filters.observe is not None:
            self.filters.observe(request, response.status)
        if access_logger.isEnabledFor(logging.DEBUG):
            access_logger.debug(
                "request served",
                extra={
                    "verb": request.request_info.verb if request.request_info else "",
                    "path": request.path,
                    "user": request.user.name if request.user else "",
                    "code": response.status,
                    "seconds": round(time.monotonic() - received_at, 6),
                },
            )

    async def _serve(self, request: Request, scope: Scope, receive: Receive) -> AnyResponse:
        f = self.filters
        try:
            info = f.parse_request_info(request.method, request.path, request.raw_query)
            request.request_info = info
            user = f.authenticate(request.headers, _peer_chain(scope))
            if user is None:
                return status_response(errors.unauthorized())
            if _asks_impersonation(request.headers):
                user = f.impersonate(user, _raw_headers(scope["headers"]))
            request.user = user
        except StatusError as exc:
            return status_response(exc)
        if f.admitter is not None and not (f.is_long_running(info) and info.verb != "watch"):
            return await self._with_apf(f.admitter, request, receive)
        if f.max_in_flight is not None and not f.is_long_running(info):
            return await self._with_max_in_flight(f.max_in_flight, request)
        return await self._authorize_and_route(request)

    async def _with_apf(
        self, admitter: Admitter, request: Request, receive: Receive
    ) -> AnyResponse:
        assert request.request_info is not None
        assert request.user is not None
        info = request.request_info
        timeout = _timeout(request) if request.raw_query else None
        result = admitter.admit_request(info, request.user, request.received_at, timeout)
        if isinstance(result, Pending):
            waited = await _wait_unless_disconnected(result, receive)
            if waited is None:
                # The client went away while queued; nobody reads this answer.
                return text_response("client disconnected", 499)
            ticket: Ticket = waited
        else:
            ticket = result  # dispatched or rejected at once: the common, cheap path
        pf_headers = _pf_headers(ticket.flow_schema_uid, ticket.priority_level_uid)
        request.on_complete.append(ticket.finish)
        if ticket.rejected is not None:
            return _too_many_requests(ticket.retry_after_seconds, list(pf_headers.pairs))
        request.header_block = pf_headers
        if info.verb == "watch":
            request.on_initialized = ticket.initialized
        return await self._authorize_and_route(request)

    async def _with_max_in_flight(self, limiter: MaxInFlight, request: Request) -> AnyResponse:
        assert request.request_info is not None
        assert request.user is not None
        slot = limiter.try_acquire(request.request_info, request.user)
        if slot is None:
            return _too_many_requests(1, [])
        request.on_complete.append(lambda: limiter.release(slot))
        return await self._authorize_and_route(request)

    async def _authorize_and_route(self, request: Request) -> AnyResponse:
        assert request.request_info is not None
        assert request.user is not None
        try:
            denied = self.filters.authorize(request.user, request.request_info)
            if denied is not None:
                raise denied
            return await self.filters.route(request)
        except StatusError as exc:
            return status_response(exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("handler failed", extra={"path": request.path})
            return status_response(errors.internal(f'Internal Server Error: "{request.path}"'))


async def _wait_unless_disconnected(pending: Pending, receive: Receive) -> Ticket | None:
    """Wait in the queue, but give up (None) if the client disconnects meanwhile."""
    admit = asyncio.ensure_future(pending.wait())
    watcher = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        done, _ = await asyncio.wait({admit, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if admit in done:
        return admit.result()
    admit.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        ticket = await admit
        ticket.finish()  # admitted in the same instant the client left
    return None


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@functools.lru_cache(maxsize=1024)
def _pf_headers(flow_schema_uid: str, priority_level_uid: str) -> HeaderBlock:
    """The X-Kubernetes-PF-* headers naming a schema and a level, encoded once."""
    return header_block(((FS_UID_HEADER, flow_schema_uid), (PL_UID_HEADER, priority_level_uid)))


def _too_many_requests(retry_after_seconds: int, headers: list[tuple[str, str]]) -> Response:
    return Response(
        status=429,
        body=TOO_MANY_REQUESTS_BODY,
        content_type="text/plain; charset=utf-8",
        headers=[
            *headers,
            ("Retry-After", str(retry_after_seconds)),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )


def _timeout(request: Request) -> float | None:
    raw = request.query_value("timeout")
    if not raw:
        return None
    try:
        return parse_duration(raw)
    except ValueError:
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it exceeds MAX_BODY_BYTES."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        # The common case: the whole (usually empty) body in one message.
        body: bytes = message.get("body", b"")
        return body if len(body) <= MAX_BODY_BYTES else None
    return await _read_chunks(receive, message)


async def _read_chunks(receive: Receive, message: Message) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}


def _asks_impersonation(headers: Iterable[str]) -> bool:
    # Most requests impersonate nobody; skip building the raw header list for them.
    return any(name.startswith(IMPERSONATE_PREFIX) for name in headers)


def _raw_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in raw]


def _peer_chain(scope: Scope) -> Sequence[str]:
    tls = scope.get("extensions", {}).get("tls") or {}
    chain: Sequence[str] = tls.get("client_cert_chain") or ()
    return chain


async def _send_response(
    response: AnyResponse, request: Request, scope: Scope, send: Send, receive: Receive
) -> None:
    pairs = [("content-type", response.content_type), *request.response_headers]
    # Only handlers choose a cache policy; filters add APF's UIDs and warnings.
    if response.headers:
        pairs += response.headers
        if not any(header_name(name) == b"cache-control" for name, _ in response.headers):
            pairs.append(DEFAULT_CACHE_CONTROL)
    else:
        pairs.append(DEFAULT_CACHE_CONTROL)
    raw_lines = scope.get("extensions", _NO_EXTENSIONS).get(RAW_HEADERS_EXTENSION)
    # A header block goes in as finished lines when the protocol takes them, else as pairs.
    block = request.header_block
    block_lines = block.lines if block is not None and raw_lines is not None else None
    if block is not None and block_lines is None:
        pairs += block.pairs
    headers = encode_headers(pairs, raw_lines)
    if raw_lines is not None and block_lines is not None:
        raw_lines.append(block_lines)
    if isinstance(response, Response):
        headers.append((b"content-length", b"%d" % len(response.body)))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await _stream(response, send, receive)


async def _stream(response: StreamingResponse, send: Send, receive: Receive) -> None:
    """Copy the chunks to the client until they end or the client disconnects."""
    pump = asyncio.ensure_future(_pump(response, send))
    watcher = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        await asyncio.wait({pump, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not pump.done():
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await pump
    with contextlib.suppress(OSError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump(response: StreamingResponse, send: Send) -> None:
    chunks = response.chunks
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
