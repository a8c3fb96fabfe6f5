"""Authorization: the last filter before the handler, after APF has admitted the request.

Until RBAC exists, the decision follows the bootstrap roles kube-apiserver
binds to built-in groups: ``system:masters`` may do anything,
``system:authenticated`` gets discovery and public information
(``system:discovery``, ``system:public-info-viewer``), and
``system:unauthenticated`` only public information. Denials carry
kube-apiserver's wording, so clients and tests see the same messages.
"""

from __future__ import annotations

import functools
import logging

from apf.api import errors
from apf.api.errors import StatusError
from apf.flowcontrol.digest import RequestInfo, UserInfo

logger = logging.getLogger(__name__)

MASTERS_GROUP = "system:masters"
AUTHENTICATED_GROUP = "system:authenticated"
UNAUTHENTICATED_GROUP = "system:unauthenticated"

# URL rules as RBAC writes them: exact, or a prefix when ending in ``*``.
PUBLIC_INFO_URLS = ("/healthz", "/livez", "/readyz", "/version", "/version/")
DISCOVERY_URLS = (
    *PUBLIC_INFO_URLS,
    # NOTE: health sub-paths (``/readyz/etcd``) are granted to authenticated users here,
    # beyond Kubernetes' bootstrap ``system:discovery`` role, which has the exact paths only.
    "/healthz/*",
    "/livez/*",
    "/readyz/*",
    "/openapi",
    "/openapi/*",
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
)


def authorize(user: UserInfo, request_info: RequestInfo) -> tuple[bool, str]:
    """Decide a request: ``(True, "")``, or ``(False, <kube-apiserver's 403 message>)``."""
    if _is_allowed(user, request_info):
        return True, ""
    message = forbidden_error(user, request_info).message
    logger.debug(
        "request forbidden",
        extra={"user": user.name, "verb": request_info.verb, "path": request_info.path},
    )
    return False, message


def _is_allowed(user: UserInfo, info: RequestInfo) -> bool:
    # TODO: RBAC (Roles, ClusterRoles and their bindings); only built-in groups are honoured.
    if MASTERS_GROUP in user.groups:
        return True
    if info.is_resource_request or info.verb != "get":
        return False
    if len(info.path) > MAX_CACHED_PATH_CHARS:
        return _may_get_path(user.groups, info.path)
    return _may_get_path_cached(user.groups, info.path)


# Longer paths are decided every time: anonymous clients choose them, and the cache's
# size in bytes must not be theirs to choose.
MAX_CACHED_PATH_CHARS = 1024


# The rules are fixed, so a decision per (groups, path) holds for the life of the process.
@functools.lru_cache(maxsize=4096)
def _may_get_path_cached(groups: tuple[str, ...], path: str) -> bool:
    return _may_get_path(groups, path)


def _may_get_path(groups: tuple[str, ...], path: str) -> bool:
    if AUTHENTICATED_GROUP in groups:
        return _matches_any(DISCOVERY_URLS, path)
    if UNAUTHENTICATED_GROUP in groups:
        return _matches_any(PUBLIC_INFO_URLS, path)
    return False


def _matches_any(rules: tuple[str, ...], path: str) -> bool:
    return any(_url_matches(rule, path) for rule in rules)


def _url_matches(rule: str, path: str) -> bool:
    if rule in ("*", path):
        return True
    return rule.endswith("*") and path.startswith(rule.rstrip("*"))


def forbidden_error(user: UserInfo, info: RequestInfo) -> StatusError:
    """The 403 ``Forbidden`` Status kube-apiserver sends when authorization denies ``info``."""
    if not info.is_resource_request:
        return errors.forbidden(
            f'forbidden: User "{user.name}" cannot {info.verb} path "{info.path}"'
        )
    resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    scope = "at the cluster scope"
    if info.namespace:
        scope = f'in the namespace "{info.namespace}"'
    reason = (
        f'User "{user.name}" cannot {info.verb} resource "{resource}" '
        f'in API group "{info.api_group}" {scope}'
    )
    qualified = f"{info.resource}.{info.api_group}" if info.api_group else info.resource
    subject = f'{qualified} "{info.name}"' if info.name else qualified
    error = errors.forbidden(f"{subject} is forbidden: {reason}")
    error.details = _details(info)
    return error


def _details(info: RequestInfo) -> dict[str, str]:
    details = {"kind": info.resource}
    if info.name:
        details["name"] = info.name
    if info.api_group:
        details["group"] = info.api_group
    return details
