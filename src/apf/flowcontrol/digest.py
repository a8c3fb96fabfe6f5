"""What the engine knows of a request: its parsed attributes and the user making it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final


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


class RequestDigest:
    """The request as the engine sees it: what is asked, and by whom.

    A plain class rather than a frozen dataclass: one is built for every
    request, and compiled with mypyc a dataclass keeps the interpreted
    ``__init__`` that the dataclasses module generates, about half a
    microsecond a call, while this one compiles. ``Final`` keeps it read-only
    for the type checker.
    """

    __slots__ = ("request_info", "user")

    def __init__(self, request_info: RequestInfo, user: UserInfo) -> None:
        self.request_info: Final = request_info
        self.user: Final = user

    def __repr__(self) -> str:
        return f"RequestDigest(request_info={self.request_info!r}, user={self.user!r})"


def is_watch_descr(descr: object) -> bool:
    """Whether a queue-set request's ``descr`` (its ``RequestDigest``) belongs to a watch."""
    return isinstance(descr, RequestDigest) and descr.request_info.verb == "watch"
