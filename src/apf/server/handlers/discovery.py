"""Discovery documents: legacy (/api, /apis, group, version) and aggregated (apidiscovery v2).

kubectl first asks ``/api`` and ``/apis`` for the aggregated form
(``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``)
and falls back to the legacy documents when the server answers plain JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apf.api.kinds import GROUP, KINDS, PREFERRED_VERSION, STATUS_VERBS, VERBS
from apf.server.http import Request, Response, json_response

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def _wants_aggregated(request: Request) -> str | None:
    """The aggregated discovery media type the client accepts, if any."""
    accept = request.headers.get("accept", "").replace(" ", "")
    for offer in accept.split(","):
        params = set(offer.split(";")[1:])
        if "as=APIGroupDiscoveryList" in params and "g=apidiscovery.k8s.io" in params:
            if "v=v2" in params:
                return AGGREGATED_V2
            if "v=v2beta1" in params:
                return AGGREGATED_V2BETA1
    return None


class Discovery:
    """Serves every discovery document for the versions this server has enabled."""

    def __init__(self, versions: Sequence[str]) -> None:
        self.versions = list(versions)

    def api_versions(self, request: Request) -> Response:
        media = _wants_aggregated(request)
        if media:
            return _aggregated(media, [])
        host = request.headers.get("host", "")
        return json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
            }
        )

    def core_v1(self, request: Request) -> Response:
        return json_response(
            {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": []}
        )

    def api_groups(self, request: Request) -> Response:
        media = _wants_aggregated(request)
        if media:
            return _aggregated(media, [self._group_discovery()])
        return json_response(
            {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group()]}
        )

    def group(self, request: Request) -> Response:
        return json_response(self._group())

    def resources(self, version: str) -> Response:
        resources: list[dict[str, Any]] = []
        for kind in KINDS:
            resources.append(
                {
                    "name": kind.plural,
                    "singularName": kind.singular,
                    "namespaced": False,
                    "kind": kind.kind,
                    "verbs": VERBS,
                    "storageVersionHash": "",
                }
            )
            resources.append(
                {
                    "name": f"{kind.plural}/status",
                    "singularName": "",
                    "namespaced": False,
                    "kind": kind.kind,
                    "verbs": STATUS_VERBS,
                }
            )
        return json_response(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{GROUP}/{version}",
                "resources": resources,
            }
        )

    def _group(self) -> dict[str, Any]:
        versions = [{"groupVersion": f"{GROUP}/{v}", "version": v} for v in self.versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": GROUP,
            "versions": versions,
            "preferredVersion": {
                "groupVersion": f"{GROUP}/{PREFERRED_VERSION}",
                "version": PREFERRED_VERSION,
            },
        }

    def _group_discovery(self) -> dict[str, Any]:
        versions = []
        for version in self.versions:
            resources = [
                {
                    "resource": kind.plural,
                    "responseKind": {"group": GROUP, "version": version, "kind": kind.kind},
                    "scope": "Cluster",
                    "singularResource": kind.singular,
                    "verbs": VERBS,
                    "subresources": [
                        {
                            "subresource": "status",
                            "responseKind": {
                                "group": GROUP,
                                "version": version,
                                "kind": kind.kind,
                            },
                            "verbs": STATUS_VERBS,
                        }
                    ],
                }
                for kind in KINDS
            ]
            entry: dict[str, Any] = {
                "version": version,
                "resources": resources,
                "freshness": "Current",
            }
            versions.append(entry)
        return {"metadata": {"name": GROUP, "creationTimestamp": None}, "versions": versions}


def _aggregated(media: str, groups: list[dict[str, Any]]) -> Response:
    version = "v2" if media == AGGREGATED_V2 else "v2beta1"
    body = {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": groups,
    }
    response = json_response(body)
    response.content_type = media
    return response
