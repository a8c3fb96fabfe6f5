"""Response headers, encoded for the HTTP server: checked once, reused.

uvicorn checks every response header of every response against two regular
expressions, then lower-cases and copies it. For an answer as small as
``GET /version`` that was a large share of the cost, and APF adds two headers
to every response. Our protocol (:mod:`apf.server.tlsproto`) therefore offers
an ASGI extension: a per-request list under
``scope["extensions"][RAW_HEADERS_EXTENSION]`` into which the application may
put finished header lines (``b"name: value\\r\\n"``), which the protocol
splices into the response head as they are. :func:`encode_headers` fills it
with lines it has checked itself, memoized, since the same few lines answer
almost every request. Under another server the extension is absent and every
header goes the ordinary ASGI way.

Headers the server acts on (``content-length``, ``transfer-encoding``,
``connection``) always go the ASGI way, and so does any header this module will
not vouch for: uvicorn then rejects it as it always would.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

RAW_HEADERS_EXTENSION = "apf.response.raw_headers"
# Headers uvicorn acts on (framing, keep-alive): these always go the ASGI way.
SERVER_READ_HEADERS = frozenset({b"content-length", b"transfer-encoding", b"connection"})

# RFC 9110: a field name is a token; a field value carries no control
# character except horizontal tab.
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")
# Longer values (rare: long Warning texts) are encoded but not memoized. The
# memo is bounded (lru_cache), so varied values only push others out of it.
_MEMO_MAX_VALUE = 256


def encode_headers(
    pairs: Iterable[tuple[str, str]], raw_lines: list[bytes] | None
) -> list[tuple[bytes, bytes]]:
    """The ASGI header list for ``pairs``.

    With ``raw_lines`` (the protocol's extension), every header that passes
    the checks is appended there as a finished line instead, and only the
    others are returned.
    """
    if raw_lines is None:
        return [(header_name(name), _encoded(value)) for name, value in pairs]
    headers: list[tuple[bytes, bytes]] = []
    lines: list[bytes] = []
    for name, value in pairs:
        # header_line, inlined: this loop runs for every header of every response.
        line = _memoized_line(name, value) if len(value) <= _MEMO_MAX_VALUE else _line(name, value)
        if line is None:
            headers.append((header_name(name), _encoded(value)))
        else:
            lines.append(line)
    raw_lines += lines  # all at once, after the last step that could fail
    return headers


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """A fixed group of headers, checked and encoded once, for many responses.

    ``lines`` holds the finished lines for the protocol's extension, or None
    when some pair fails the checks (then the pairs go the ASGI way).
    """

    pairs: tuple[tuple[str, str], ...]
    lines: bytes | None


def header_block(pairs: Iterable[tuple[str, str]]) -> HeaderBlock:
    """The block of ``pairs``: keep one per group of values and send it with each answer."""
    pairs = tuple(pairs)
    lines = [header_line(name, value) for name, value in pairs]
    joined = None if None in lines else b"".join(line for line in lines if line is not None)
    return HeaderBlock(pairs, joined)


def header_line(name: str, value: str) -> bytes | None:
    """``b"name: value\\r\\n"`` (name lower-cased), or None if either part is not allowed."""
    if len(value) <= _MEMO_MAX_VALUE:
        return _memoized_line(name, value)
    return _line(name, value)


@functools.lru_cache(maxsize=1024)
def header_name(name: str) -> bytes:
    # Few distinct names are sent; uvicorn lower-cases them on the wire anyway.
    return name.lower().encode()


@functools.lru_cache(maxsize=1024)
def _memoized_line(name: str, value: str) -> bytes | None:
    return _line(name, value)


def _encoded(value: str) -> bytes:
    # A lone surrogate (from a JSON escape in a request) cannot be UTF-8: it becomes "?".
    return value.encode("utf-8", "replace")


def _line(name: str, value: str) -> bytes | None:
    encoded_name = header_name(name)
    encoded_value = _encoded(value)
    if encoded_name in SERVER_READ_HEADERS:
        return None
    if not _FIELD_NAME.fullmatch(encoded_name) or not _FIELD_VALUE.fullmatch(encoded_value):
        return None
    return b"%s: %s\r\n" % (encoded_name, encoded_value)
