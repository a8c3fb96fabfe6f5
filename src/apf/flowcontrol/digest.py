"""What the engine knows of a request: its parsed attributes and the user making it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Kubernetes' view of a URL and method (see ``apf.server.requestinfo.parse``).

    For a non-resource request only ``verb`` (the lower-cased HTTP method) and
    ``path`` matter. For a resource request ``verb`` is one of get, list,
    watch, create, update, patch, delete, deletecollection, proxy.
    """

    is_resource_request: bool
    path: str
    verb: str
    api_prefix: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()
    # Query parameters that steer work estimation (limit, resourceVersion, ...).
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated (or impersonated) identity."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequestDigest:
    request_info: RequestInfo
    user: UserInfo
