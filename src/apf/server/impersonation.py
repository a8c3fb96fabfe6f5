"""Impersonation: act as another user when the ``Impersonate-*`` headers ask and it is allowed.

Runs after authentication and before APF, so APF classifies the impersonated
user. Header rules follow kube-apiserver:

- ``Impersonate-User``: the first value; a ``system:serviceaccount:<ns>:<name>``
  name is a service account (authorized as ``serviceaccounts``, not ``users``).
- ``Impersonate-Group``: every occurrence is one group (a value is never split
  on commas, as Go's header map keeps each header line as one value).
- ``Impersonate-Extra-<key>``: every occurrence is one value of the extra
  ``<key>``, lower-cased and percent-decoded.
- ``Impersonate-Uid``: the first value.

Groups, extra or a UID without a user are refused with 400. Each requested
item must be authorized with the verb ``impersonate`` (403 otherwise).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from apf.api import errors
from apf.flowcontrol.digest import RequestInfo, UserInfo
from apf.server import authz

logger = logging.getLogger(__name__)

USER_HEADER = "impersonate-user"
GROUP_HEADER = "impersonate-group"
UID_HEADER = "impersonate-uid"
EXTRA_HEADER_PREFIX = "impersonate-extra-"

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
ANONYMOUS_USER = "system:anonymous"
AUTHENTICATED_GROUP = "system:authenticated"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
AUTHENTICATION_GROUP = "authentication.k8s.io"

Authorize = Callable[[UserInfo, RequestInfo], tuple[bool, str]]

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_BAD_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True, slots=True)
class _Target:
    """One thing to impersonate, as kube-apiserver authorizes it."""

    resource: str
    name: str
    api_group: str = ""
    namespace: str = ""
    subresource: str = ""


@dataclass
class _Requested:
    """What the headers ask for, in the order kube-apiserver checks it."""

    user: str = ""
    uid: str = ""
    groups: list[str] = field(default_factory=list)
    extra: dict[str, list[str]] = field(default_factory=dict)
    has_groups: bool = False

    def is_empty(self) -> bool:
        return not (self.user or self.uid or self.has_groups or self.extra)


def impersonate(
    user: UserInfo,
    headers: Sequence[tuple[str, str]],
    authorize: Authorize = authz.authorize,
) -> UserInfo:
    """The user the request acts as: ``user`` itself, or whom the headers impersonate.

    ``headers`` are the raw (name, value) pairs in arrival order, names in any
    case. Raises a 400 ``StatusError`` for groups, extra or UID without a user,
    and kube-apiserver's 403 when ``authorize`` refuses any requested item.
    """
    requested = _read_headers(headers)
    if requested.is_empty():
        return user
    if not requested.user:
        raise errors.bad_request(
            "impersonating groups, extra fields or a UID requires impersonating a user"
            " (Impersonate-User header)"
        )
    for target in _targets(requested):
        _check_allowed(user, target, authorize)
    result = _impersonated_user(requested)
    logger.debug("impersonating", extra={"user": user.name, "impersonated_user": result.name})
    return result


def _read_headers(headers: Sequence[tuple[str, str]]) -> _Requested:
    requested = _Requested()
    seen: set[str] = set()
    for raw_name, value in headers:
        name = raw_name.lower()
        if name in seen and name in (USER_HEADER, UID_HEADER):
            continue  # only the first value counts, as with Go's Header.Get
        seen.add(name)
        if name == USER_HEADER:
            requested.user = value
        elif name == UID_HEADER:
            requested.uid = value
        elif name == GROUP_HEADER:
            requested.has_groups = True
            requested.groups.append(value)
        elif name.startswith(EXTRA_HEADER_PREFIX):
            key = _unescape_extra_key(name[len(EXTRA_HEADER_PREFIX) :])
            requested.extra.setdefault(key, []).append(value)
    return requested


def _unescape_extra_key(encoded: str) -> str:
    """Percent-decode an extra key; a malformed escape keeps the key as sent."""
    if _BAD_PERCENT_ESCAPE.search(encoded):
        return encoded
    return unquote(encoded, errors="replace")


def split_service_account(name: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of a ``system:serviceaccount:<ns>:<name>`` user, else None."""
    if not name.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = name[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
    if len(parts) != 2:
        return None
    namespace, account = parts
    if len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
        return None
    if len(account) > 253 or not _DNS_SUBDOMAIN.fullmatch(account):
        return None
    return namespace, account


def _targets(requested: _Requested) -> list[_Target]:
    account = split_service_account(requested.user)
    if account is None:
        targets = [_Target("users", requested.user)]
    else:
        targets = [_Target("serviceaccounts", account[1], namespace=account[0])]
    targets += [_Target("groups", group) for group in requested.groups]
    targets += [
        _Target("userextras", value, api_group=AUTHENTICATION_GROUP, subresource=key)
        for key, values in requested.extra.items()
        for value in values
    ]
    if requested.uid:
        targets.append(_Target("uids", requested.uid, api_group=AUTHENTICATION_GROUP))
    return targets


def _check_allowed(user: UserInfo, target: _Target, authorize: Authorize) -> None:
    info = RequestInfo(
        is_resource_request=True,
        path="",
        verb="impersonate",
        api_group=target.api_group,
        api_version="v1",
        namespace=target.namespace,
        resource=target.resource,
        subresource=target.subresource,
        name=target.name,
    )
    allowed, _ = authorize(user, info)
    if not allowed:
        logger.debug(
            "impersonation forbidden",
            extra={"user": user.name, "resource": target.resource, "object_name": target.name},
        )
        raise authz.forbidden_error(user, info)


def _impersonated_user(requested: _Requested) -> UserInfo:
    groups = list(requested.groups)
    account = split_service_account(requested.user)
    if account is not None and not requested.has_groups:
        groups = [SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{account[0]}"]
    if requested.user != ANONYMOUS_USER:
        if AUTHENTICATED_GROUP not in groups and UNAUTHENTICATED_GROUP not in groups:
            groups.append(AUTHENTICATED_GROUP)
    elif UNAUTHENTICATED_GROUP not in groups:
        groups.append(UNAUTHENTICATED_GROUP)
    return UserInfo(
        name=requested.user,
        uid=requested.uid,
        groups=tuple(groups),
        extra={key: tuple(values) for key, values in requested.extra.items()},
    )
