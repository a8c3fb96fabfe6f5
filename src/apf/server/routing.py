"""Maps a request path to its handler; answers 404 and 405 as kube-apiserver does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from apf.api import errors
from apf.api.kinds import GROUP
from apf.server.handlers.discovery import Discovery
from apf.server.handlers.health import HealthEndpoint
from apf.server.handlers.info import OpenApi, version
from apf.server.http import AnyResponse, Request, Response

SyncHandler = Callable[[Request], Response]
NOT_FOUND_MESSAGE = "the server could not find the requested resource"
DEBUG_PREFIX = "/debug/api_priority_and_fairness/"


@dataclass
class Router:
    """Every endpoint the server has; ``resources`` serves the flowcontrol group's objects."""

    discovery: Discovery
    resources: Callable[[Request], Awaitable[AnyResponse]]
    openapi: OpenApi
    health: dict[str, HealthEndpoint]
    metrics: SyncHandler
    dumps: dict[str, SyncHandler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._table = self._fixed_table()

    async def route(self, request: Request) -> AnyResponse:
        # Segments joined without the outer slashes: "version", "apis/<group>/v1/...".
        joined = request.path.strip("/")
        handler = self._table.get(joined)
        if handler is None:
            parts = joined.split("/") if joined else []
            if parts[:2] == ["apis", GROUP] and len(parts) >= 4:
                return await self.resources(request)
            handler = self._static(parts)
        if handler is None:
            raise errors.StatusError(404, "NotFound", NOT_FOUND_MESSAGE)
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource"
            )
        response = handler(request)
        if response is None:
            raise errors.StatusError(404, "NotFound", NOT_FOUND_MESSAGE)
        return response

    def _static(self, parts: list[str]) -> Callable[[Request], Response | None] | None:
        """The GET-only handler for a non-resource path, or None (404)."""
        if not parts:
            return None
        head, rest = parts[0], parts[1:]
        if head in self.health and len(rest) <= 1:
            endpoint = self.health[head]
            name = rest[0] if rest else ""
            return lambda request: endpoint.handle(request, name)
        return self._fixed(parts)

    def _fixed_table(self) -> dict[str, Callable[[Request], Response | None]]:
        """The handlers of the fixed paths, keyed by the path without its outer slashes."""
        d = self.discovery
        table: dict[str, Callable[[Request], Response | None]] = {
            "version": version,
            "api": d.api_versions,
            "api/v1": d.core_v1,
            "apis": d.api_groups,
            f"apis/{GROUP}": d.group,
            "openapi/v2": self.openapi.v2,
            "openapi/v3": self.openapi.v3_index,
            "metrics": self.metrics,
        }
        for name, handler in self.dumps.items():
            table[DEBUG_PREFIX.strip("/") + "/" + name] = handler
        return table

    def _fixed(self, parts: list[str]) -> Callable[[Request], Response | None] | None:
        d = self.discovery
        if len(parts) == 3 and parts[:2] == ["apis", GROUP] and parts[2] in d.versions:
            group_version = parts[2]
            return lambda request: d.resources(group_version)
        if len(parts) == 5 and parts[:3] == ["openapi", "v3", "apis"] and parts[3] == GROUP:
            doc_version = parts[4]
            return lambda request: self.openapi.v3_document(request, doc_version)
        return None
