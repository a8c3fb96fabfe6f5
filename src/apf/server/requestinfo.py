"""Turn a method, URL path and query into Kubernetes' ``RequestInfo``.

This is the first filter of the chain: everything after it (authorization,
APF classification, long-running detection) reasons about the parsed
attributes, never the raw URL. The rules follow kube-apiserver's request info
factory: ``/api`` is the legacy, groupless prefix, ``/apis`` carries a group,
``watch`` and ``proxy`` path segments name the verb, and a collection ``get``
becomes ``list`` or ``watch`` depending on the ``watch`` query parameter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import parse_qs

from apf.api import errors
from apf.flowcontrol.digest import RequestInfo

logger = logging.getLogger(__name__)

API_PREFIXES = frozenset({"api", "apis"})
GROUPLESS_API_PREFIXES = frozenset({"api"})
# Path segments after the version that name the verb instead of a resource.
SPECIAL_VERBS = frozenset({"watch", "proxy"})
# Verbs whose third part is not a subresource (``proxy`` keeps the rest as a path).
SPECIAL_VERBS_NO_SUBRESOURCES = frozenset({"proxy"})
# ``namespaces/<ns>/<x>``: for these ``x`` the namespace itself is the object.
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})
PPROF_PREFIX = "/debug/pprof/"

_VERB_BY_METHOD = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
# List options that fail decoding when they are not integers.
_INTEGER_OPTIONS = ("limit", "timeoutSeconds")
# Distinct (method, path, query) triples remembered by ParseCache; clients repeat a few.
PARSE_CACHE_SIZE = 4096
# Longer paths plus queries are parsed every time: the cache runs before authentication,
# so its size in bytes must not be up to the client (4096 entries of this at most).
PARSE_CACHE_MAX_KEY_CHARS = 1024


class ParseCache:
    """``parse`` memoised per (method, path, raw query), bounded to ``size`` entries.

    Parsing is a pure function of the three strings, so an entry never goes stale;
    when full, the oldest entry makes room. Long requests (over
    ``PARSE_CACHE_MAX_KEY_CHARS``) are not kept, so memory stays bounded. The
    RequestInfo (and its ``query`` mapping) is shared between requests: nobody may
    mutate it. Failures are not kept.
    """

    def __init__(self, size: int = PARSE_CACHE_SIZE) -> None:
        self._size = size
        self._infos: dict[tuple[str, str, str], RequestInfo] = {}

    def parse(self, method: str, path: str, raw_query: str) -> RequestInfo:
        key = (method, path, raw_query)
        info = self._infos.get(key)
        if info is None:
            query = parse_qs(raw_query, keep_blank_values=True) if raw_query else {}
            info = parse(method, path, query)
            if len(path) + len(raw_query) > PARSE_CACHE_MAX_KEY_CHARS:
                return info
            if len(self._infos) >= self._size:
                del self._infos[next(iter(self._infos))]
            self._infos[key] = info
        return info


def parse(method: str, path: str, query: Mapping[str, list[str]]) -> RequestInfo:
    """Parse a request as kube-apiserver does.

    ``path`` is the decoded URL path; ``query`` maps each parameter to all of
    its values. Raises a 500 ``StatusError`` for a ``watch``/``proxy`` URL
    with nothing after the verb, as kube-apiserver fails such requests.
    """
    first_values = {key: values[0] for key, values in query.items() if values}
    parts = _split_path(path)
    prefix_length = _resource_prefix_length(parts)
    if prefix_length == 0:
        return RequestInfo(
            is_resource_request=False, path=path, verb=method.lower(), query=first_values
        )

    api_prefix = parts[0]
    api_group = parts[1] if prefix_length == 3 else ""
    api_version = parts[prefix_length - 1]
    rest = parts[prefix_length:]
    verb, rest = _verb(method, path, rest)
    namespace, rest = _namespace(rest)
    resource, name, subresource = _resource_name_subresource(verb, rest)
    if not name and verb == "get":
        verb = "watch" if _is_watch(first_values) else "list"
        name = _name_from_field_selector(query)
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(
        is_resource_request=True,
        path=path,
        verb=verb,
        api_prefix=api_prefix,
        api_group=api_group,
        api_version=api_version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
        parts=tuple(rest),
        query=first_values,
    )


def is_long_running(info: RequestInfo) -> bool:
    """Whether kube-apiserver treats the request as long-running (no request timeout).

    Long-running requests other than watches bypass APF and max-in-flight.
    """
    if info.verb in LONG_RUNNING_VERBS:
        return True
    if info.is_resource_request:
        return info.subresource in LONG_RUNNING_SUBRESOURCES
    return info.path.startswith(PPROF_PREFIX)


def _split_path(path: str) -> list[str]:
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def _resource_prefix_length(parts: list[str]) -> int:
    """Segments before the resource parts (2 for ``api/v1``, 3 for ``apis/g/v1``), or 0.

    0 means the path is not a resource request: too short or an unknown prefix.
    """
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return 0
    if parts[0] in GROUPLESS_API_PREFIXES:
        return 2
    return 3 if len(parts) >= 4 else 0


def _verb(method: str, path: str, rest: list[str]) -> tuple[str, list[str]]:
    if rest[0] not in SPECIAL_VERBS:
        return _VERB_BY_METHOD.get(method.upper(), ""), rest
    if len(rest) < 2:
        logger.debug("request info not determined", extra={"path": path})
        raise errors.internal(
            f'Internal Server Error: "{path}": failed to create RequestInfo: '
            f"unable to determine kind and namespace from url {path}"
        )
    return rest[0], rest[1:]


def _namespace(rest: list[str]) -> tuple[str, list[str]]:
    """The namespace, and the parts that remain once ``namespaces/<ns>`` is consumed.

    ``namespaces/<ns>`` alone (or with a namespace subresource) stays as the
    parts, since it addresses the Namespace object itself.
    """
    if rest[0] != "namespaces" or len(rest) < 2:
        return "", rest
    if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
        return rest[1], rest[2:]
    return rest[1], rest


def _resource_name_subresource(verb: str, rest: list[str]) -> tuple[str, str, str]:
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) >= 2 else ""
    has_subresource = len(rest) >= 3 and verb not in SPECIAL_VERBS_NO_SUBRESOURCES
    subresource = rest[2] if has_subresource else ""
    return resource, name, subresource


def _is_watch(first_values: Mapping[str, str]) -> bool:
    """Go's string-to-bool query conversion: present and not ``0``/``false`` means true."""
    if "watch" not in first_values:
        return False
    return first_values["watch"].lower() not in ("0", "false")


def _name_from_field_selector(query: Mapping[str, list[str]]) -> str:
    """The name a ``metadata.name=x`` field selector pins a collection request to, or "".

    As in Kubernetes, list options that fail to decode leave the name unset,
    and so does a value that could not be a path segment.
    """
    for option in _INTEGER_OPTIONS:
        values = query.get(option)
        if values and values[0] and not _is_int64(values[0]):
            return ""
    selectors = query.get("fieldSelector")
    if not selectors:
        return ""
    name = _exact_match(selectors[0], "metadata.name")
    if name is None or name in (".", "..") or "/" in name or "%" in name:
        return ""
    return name


def _is_int64(text: str) -> bool:
    try:
        value = int(text, 10)
    except ValueError:
        return False
    return -(2**63) <= value < 2**63 and text.strip() == text and "_" not in text


def _exact_match(selector: str, field: str) -> str | None:
    """The value an equality term requires of ``field``; None if none or unparsable."""
    try:
        terms = [_field_term(raw) for raw in _split_escaped(selector, ",") if raw]
    except ValueError:
        return None
    for term_field, operator, value in terms:
        if term_field == field and operator != "!=":
            return value
    return None


def _field_term(raw: str) -> tuple[str, str, str]:
    for operator in ("!=", "==", "="):
        pieces = _split_escaped(raw, operator)
        if len(pieces) >= 2:
            value = operator.join(pieces[1:])
            return _unescape(pieces[0].strip()), operator, _unescape(value)
    raise ValueError(f"invalid field selector term {raw!r}")


def _split_escaped(text: str, separator: str) -> list[str]:
    """Split on ``separator`` where it is not preceded by a backslash escape."""
    pieces: list[str] = []
    start = index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text.startswith(separator, index):
            pieces.append(text[start:index])
            index += len(separator)
            start = index
        else:
            index += 1
    pieces.append(text[start:])
    return pieces


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text) or text[index + 1] not in "\\,=":
                raise ValueError(f"invalid escape in field selector value {text!r}")
            char = text[index + 1]
            index += 1
        elif char in ",=":
            raise ValueError(f"unescaped {char!r} in field selector value {text!r}")
        out.append(char)
        index += 1
    return "".join(out)
