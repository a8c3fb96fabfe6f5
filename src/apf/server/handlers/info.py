"""``/version``, OpenAPI documents, ``/metrics`` and the APF debug dumps."""

from __future__ import annotations

import functools
import hashlib
import platform
from collections.abc import Callable
from typing import Any

import orjson

from apf import __version__
from apf.server.http import Request, Response, json_response, text_response

KUBERNETES_LEVEL = ("1", "29", "0")


def version_info() -> dict[str, Any]:
    """The ``/version`` document: a 1.29 level with apf's version as semver build metadata."""
    major, minor, patch = KUBERNETES_LEVEL
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{major}.{minor}.{patch}+apf.{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-12-04T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


@functools.cache
def _version_body() -> bytes:
    # The document cannot change while the process runs.
    return orjson.dumps(version_info())


def version(request: Request) -> Response:
    return Response(status=200, body=_version_body())


class OpenApi:
    """Serves the v2 document and the v3 index plus one document per group-version."""

    def __init__(
        self,
        *,
        v2: Callable[[], dict[str, Any]],
        v3: Callable[[str], dict[str, Any]],
        group: str,
        versions: list[str],
    ) -> None:
        self._v2 = orjson.dumps(v2())
        self._v3 = {v: orjson.dumps(v3(v)) for v in versions}
        self._group = group

    def v2(self, request: Request) -> Response:
        if "protobuf" in request.headers.get("accept", ""):
            return Response(
                status=200,
                body=OPENAPI_V2_PROTOBUF,
                content_type=OPENAPI_V2_PROTOBUF_TYPE,
                headers=[("ETag", _etag(OPENAPI_V2_PROTOBUF))],
            )
        return Response(status=200, body=self._v2, headers=[("ETag", _etag(self._v2))])

    def v3_index(self, request: Request) -> Response:
        paths = {
            f"apis/{self._group}/{version}": {
                "serverRelativeURL": f"/openapi/v3/apis/{self._group}/{version}?hash={_hash(doc)}"
            }
            for version, doc in self._v3.items()
        }
        return json_response({"paths": paths})

    def v3_document(self, request: Request, version: str) -> Response | None:
        doc = self._v3.get(version)
        if doc is None:
            return None
        headers = [("ETag", _etag(doc))]
        if request.has_query("hash"):
            headers.append(("Cache-Control", "public, immutable"))
        return Response(status=200, body=doc, headers=headers)


def _proto_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2); payloads here are < 128 bytes."""
    return bytes([number << 3 | 2, len(payload)]) + payload


# The gnostic OpenAPI v2 Document kubectl downloads for client-side checks, reduced to
# ``swagger`` (1) and ``info`` (2: title 1, version 2). kubectl validates and patches our
# kinds through OpenAPI v3; this only lets it parse v2 and move on.
# TODO: encode the full v2 definitions in protobuf; kubectl's v2-only paths see no types.
OPENAPI_V2_PROTOBUF = _proto_field(1, b"2.0") + _proto_field(
    2, _proto_field(1, b"apf") + _proto_field(2, b"v1.29.0")
)
OPENAPI_V2_PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _hash(doc: bytes) -> str:
    return hashlib.sha512(doc).hexdigest()[:128].upper()


def _etag(doc: bytes) -> str:
    return f'"{_hash(doc)}"'


def prometheus_text(exposition: Callable[[], bytes]) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        return Response(
            status=200,
            body=exposition(),
            content_type="text/plain; version=0.0.4; charset=utf-8",
        )

    return handle


def dump(render: Callable[[Request], str]) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        return text_response(render(request))

    return handle
