"""Response headers encoded for the server: which go as finished lines, which the ASGI way."""

from __future__ import annotations

from typing import Any

import pytest

from apf.server.headers import encode_headers, header_block, header_line

UID = "72ba1c09-54d9-4472-8225-5e122b634035"


def test_without_the_extension_every_header_goes_the_asgi_way() -> None:
    headers = encode_headers([("Content-Type", "application/json"), ("X-Trace", "é")], None)

    assert headers == [(b"content-type", b"application/json"), (b"x-trace", "é".encode())]


def test_with_the_extension_checked_headers_become_finished_lines() -> None:
    raw_lines: list[bytes] = []

    headers = encode_headers(
        [("content-type", "application/json"), ("X-Kubernetes-PF-FlowSchema-UID", UID)],
        raw_lines,
    )

    assert headers == []
    assert raw_lines == [
        b"content-type: application/json\r\n",
        b"x-kubernetes-pf-flowschema-uid: " + UID.encode() + b"\r\n",
    ]


def test_a_value_with_a_line_break_is_left_for_the_server_to_reject() -> None:
    raw_lines: list[bytes] = []

    headers = encode_headers([("Warning", '299 - "a\r\nSet-Cookie: x"')], raw_lines)

    assert raw_lines == []
    assert headers == [(b"warning", b'299 - "a\r\nSet-Cookie: x"')]


def test_a_name_that_is_not_a_token_is_left_for_the_server_to_reject() -> None:
    assert header_line("bad name", "v") is None
    assert header_line("bad:name", "v") is None
    assert header_line("", "v") is None


def test_tabs_and_non_ascii_are_allowed_in_values() -> None:
    assert header_line("Warning", "a\tb") == b"warning: a\tb\r\n"
    assert header_line("Warning", "naïve") == "warning: naïve\r\n".encode()


def test_long_values_are_encoded_and_checked_the_same() -> None:
    text = "299 - " + "x" * 1000

    assert header_line("Warning", text) == b"warning: " + text.encode() + b"\r\n"
    assert header_line("Warning", text + "\n") is None


def test_headers_the_server_acts_on_are_left_to_it() -> None:
    raw_lines: list[bytes] = []

    headers = encode_headers(
        [("Content-Length", "2"), ("Connection", "close"), ("Transfer-Encoding", "chunked")],
        raw_lines,
    )

    assert raw_lines == []
    names = [name for name, _ in headers]
    assert names == [b"content-length", b"connection", b"transfer-encoding"]


def test_a_lone_surrogate_is_sent_as_a_question_mark() -> None:
    raw_lines: list[bytes] = []

    assert encode_headers([("Warning", "a\ud800b")], raw_lines) == []
    assert raw_lines == [b"warning: a?b\r\n"]
    assert encode_headers([("Warning", "a\ud800b")], None) == [(b"warning", b"a?b")]


def test_a_failure_midway_leaves_no_lines_behind() -> None:
    raw_lines: list[bytes] = []
    broken: Any = None  # a handler bug: a header without a string value

    with pytest.raises(TypeError):
        encode_headers([("content-type", "application/json"), ("X-Broken", broken)], raw_lines)

    assert raw_lines == []


def test_a_header_block_is_encoded_once_as_finished_lines() -> None:
    block = header_block([("X-Kubernetes-PF-FlowSchema-UID", "u1"), ("X-Other", "")])

    assert block.pairs == (("X-Kubernetes-PF-FlowSchema-UID", "u1"), ("X-Other", ""))
    assert block.lines == b"x-kubernetes-pf-flowschema-uid: u1\r\nx-other: \r\n"


def test_a_header_block_with_a_bad_pair_keeps_only_its_pairs() -> None:
    block = header_block([("X-Good", "v"), ("X-Bad", "line\nbreak")])

    assert block.lines is None
    assert block.pairs == (("X-Good", "v"), ("X-Bad", "line\nbreak"))
