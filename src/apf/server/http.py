"""The small request/response model every handler and filter speaks.

Handlers are ``async def handler(request: Request) -> Response``. The app
reads the whole body before the filter chain runs (bodies are small here),
so handlers never touch ASGI. A watch returns a :class:`StreamingResponse`
whose ``chunks`` async iterator the app drains onto the socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from apf.api.errors import StatusError
from apf.flowcontrol.digest import RequestInfo, UserInfo
from apf.server.headers import HeaderBlock


@dataclass(slots=True)
class Request:
    method: str
    path: str
    raw_query: str
    headers: Mapping[str, str]  # lower-cased names, last value wins
    body: bytes
    # Filled in by the filter chain, in this order.
    request_info: RequestInfo | None = None
    user: UserInfo | None = None
    # Monotonic time the request arrived.
    received_at: float = 0.0
    # Extra response headers filters add (Warning), and a fixed block (APF's
    # X-Kubernetes-PF-*), encoded once for every response that carries it.
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    header_block: HeaderBlock | None = None
    # Called by a watch handler once its initial events are written.
    on_initialized: Callable[[], None] | None = None
    # Run once the response is fully written (or the connection is gone): seat releases.
    on_complete: list[Callable[[], None]] = field(default_factory=list)
    _query: dict[str, list[str]] | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            raw = self.raw_query
            self._query = parse_qs(raw, keep_blank_values=True) if raw else {}
        return self._query

    def query_value(self, name: str, default: str = "") -> str:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def has_query(self, name: str) -> bool:
        return name in self.query

    def json_body(self) -> Any:
        """The body decoded as JSON, or StatusError 400 with the decoder's reason."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise StatusError(
                400, "BadRequest", f"the body of the request was in an unknown format: {exc}"
            ) from exc


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class StreamingResponse:
    """A chunked response; ``chunks`` ends when the stream should close."""

    status: int
    chunks: AsyncIterator[bytes]
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


AnyResponse = Response | StreamingResponse
Handler = Callable[[Request], Awaitable[AnyResponse]]


def json_response(
    obj: Any, status: int = 200, *, headers: list[tuple[str, str]] | None = None
) -> Response:
    return Response(status=status, body=orjson.dumps(obj), headers=list(headers or []))


def status_response(error: StatusError) -> Response:
    return json_response(error.to_status(), error.code)


def text_response(text: str, status: int = 200) -> Response:
    return Response(status=status, body=text.encode(), content_type="text/plain; charset=utf-8")
