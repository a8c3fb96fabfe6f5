"""Match a request to the first FlowSchema that claims it, and compute its flow.

Design: each FlowSchema is turned once, at config digestion, into frozen
dataclasses (:class:`FlowSchemaDigest`). Its rules are then split into
*clauses*: one (subject, resource rule) or (subject, non-resource rule) pair,
tagged with the schema's position in matching order. A schema matches a
request iff one of its clauses does, so the first matching schema is the one
owning the matching clause with the smallest position.

Clauses are indexed in one dict by keys that are cheap to derive from the
request: the subject part (user name, group, service-account user name or
namespace, or the wildcard) combined with the API group and full resource
(resource rules) or with an exact path or path prefix (non-resource rules).
A lookup derives every key the request can hit, reads a few lists that are
each sorted by position, and checks only the remaining conditions (verb,
namespace) on their heads. Work per request grows with the number of groups
of the user and the depth of the path, not with the number of schemas.

Left out: nothing of the matching rules; a config whose clauses all share
one key (e.g. a thousand schemas for ``system:authenticated`` that differ
only by verb) degrades towards a linear scan of that key's list.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from apf.flowcontrol.digest import RequestDigest, RequestInfo, UserInfo

WILDCARD: Final = "*"
SERVICE_ACCOUNT_PREFIX: Final = "system:serviceaccount:"

# Index key component meaning "the rule accepts any value here". Distinct from the
# string "*", which is a literal value when it shares its list with other values.
_ANY: Final = None


class DistinguisherMethod(enum.StrEnum):
    BY_USER = "ByUser"
    BY_NAMESPACE = "ByNamespace"


class SubjectKind(enum.StrEnum):
    USER = "User"
    GROUP = "Group"
    SERVICE_ACCOUNT = "ServiceAccount"


@dataclass(frozen=True, slots=True)
class Subject:
    """One subject; ``name`` is the user/group/SA name, ``namespace`` only for SAs.

    ``name`` is None when the member matching ``kind`` is missing: such a subject
    matches nobody.
    """

    kind: str
    name: str | None
    namespace: str = ""


@dataclass(frozen=True, slots=True)
class ResourceRule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    cluster_scope: bool
    namespaces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NonResourceRule:
    verbs: tuple[str, ...]
    non_resource_urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyRule:
    subjects: tuple[Subject, ...]
    resource_rules: tuple[ResourceRule, ...]
    non_resource_rules: tuple[NonResourceRule, ...]


@dataclass(frozen=True, slots=True)
class FlowSchemaDigest:
    """What classification needs of one FlowSchema (v1)."""

    name: str
    uid: str
    priority_level: str
    matching_precedence: int
    distinguisher_method: str | None
    rules: tuple[PolicyRule, ...]

    @property
    def sort_key(self) -> tuple[int, str]:
        """Matching order: precedence ascending, then name in byte order."""
        return (self.matching_precedence, self.name)


def digest_flow_schema(obj: Mapping[str, Any]) -> FlowSchemaDigest:
    """Build the digest of a v1 FlowSchema dict; missing parts read as empty."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    method = spec.get("distinguisherMethod") or {}
    return FlowSchemaDigest(
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
        priority_level=str((spec.get("priorityLevelConfiguration") or {}).get("name") or ""),
        matching_precedence=int(spec.get("matchingPrecedence") or 0),
        distinguisher_method=str(method["type"]) if method.get("type") else None,
        rules=tuple(_policy_rule(rule) for rule in spec.get("rules") or ()),
    )


def _policy_rule(rule: Mapping[str, Any]) -> PolicyRule:
    return PolicyRule(
        subjects=tuple(_subject(s) for s in rule.get("subjects") or ()),
        resource_rules=tuple(
            ResourceRule(
                verbs=_strings(r.get("verbs")),
                api_groups=_strings(r.get("apiGroups")),
                resources=_strings(r.get("resources")),
                cluster_scope=bool(r.get("clusterScope")),
                namespaces=_strings(r.get("namespaces")),
            )
            for r in rule.get("resourceRules") or ()
        ),
        non_resource_rules=tuple(
            NonResourceRule(
                verbs=_strings(r.get("verbs")),
                non_resource_urls=_strings(r.get("nonResourceURLs")),
            )
            for r in rule.get("nonResourceRules") or ()
        ),
    )


def _subject(subject: Mapping[str, Any]) -> Subject:
    kind = str(subject.get("kind") or "")
    if kind == SubjectKind.USER:
        member = subject.get("user")
    elif kind == SubjectKind.GROUP:
        member = subject.get("group")
    elif kind == SubjectKind.SERVICE_ACCOUNT:
        member = subject.get("serviceAccount")
    else:
        member = None
    if not isinstance(member, Mapping):
        return Subject(kind=kind, name=None)
    return Subject(
        kind=kind,
        name=str(member.get("name") or ""),
        namespace=str(member.get("namespace") or ""),
    )


def _strings(values: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def _any_or_values(values: tuple[str, ...]) -> tuple[str | None, ...]:
    """Index keys of a list: the wildcard only when the list is exactly ``["*"]``."""
    if values == (WILDCARD,):
        return (_ANY,)
    return values


def _contains(values: tuple[str, ...], value: str) -> bool:
    return values == (WILDCARD,) or value in values


def url_prefix(pattern: str) -> str:
    """The path prefix a non-resource URL pattern covers beyond its exact path.

    One trailing ``*`` is dropped and a ``/`` ensured at the end, so ``/healthz``
    also covers ``/healthz/etcd`` and ``/apis/*`` covers ``/apis/x`` but not ``/apis``.
    """
    prefix = pattern.removesuffix(WILDCARD)
    return prefix if prefix.endswith("/") else prefix + "/"


# --- the index --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ResourceClause:
    position: int
    verbs: tuple[str, ...]
    cluster_scope: bool
    namespaces: tuple[str, ...]

    def matches(self, verb: str, namespace: str) -> bool:
        if not _contains(self.verbs, verb):
            return False
        if not namespace:
            return self.cluster_scope
        return _contains(self.namespaces, namespace)


@dataclass(frozen=True, slots=True)
class _NonResourceClause:
    position: int
    verbs: tuple[str, ...]

    def matches(self, verb: str) -> bool:
        return _contains(self.verbs, verb)


# Subject part of a key: ("u", name|None), ("g", name|None), ("s", username) for an
# exact service account, ("n", namespace) for every service account of a namespace.
_SubjectKey = tuple[str, str | None]


def _subject_key(subject: Subject) -> _SubjectKey | None:
    name = subject.name
    if name is None:
        return None
    if subject.kind == SubjectKind.USER:
        return ("u", _ANY if name == WILDCARD else name)
    if subject.kind == SubjectKind.GROUP:
        return ("g", _ANY if name == WILDCARD else name)
    if subject.kind == SubjectKind.SERVICE_ACCOUNT:
        if name == WILDCARD:
            return ("n", subject.namespace)
        return ("s", f"{SERVICE_ACCOUNT_PREFIX}{subject.namespace}:{name}")
    return None


def _user_subject_keys(user: UserInfo) -> list[_SubjectKey]:
    """Every subject key that matches ``user``."""
    keys: list[_SubjectKey] = [("u", user.name), ("u", _ANY), ("g", _ANY)]
    keys.extend(("g", group) for group in user.groups)
    if user.name.startswith(SERVICE_ACCOUNT_PREFIX):
        keys.append(("s", user.name))
        rest = user.name[len(SERVICE_ACCOUNT_PREFIX) :]
        # A wildcard SA of namespace N matches any name starting with "N:".
        colon = rest.find(":")
        while colon >= 0:
            keys.append(("n", rest[:colon]))
            colon = rest.find(":", colon + 1)
    return keys


def _path_keys(path: str) -> list[tuple[str, str | None]]:
    """Every URL key a non-resource path can hit: wildcard, exact, each ``/``-prefix."""
    keys: list[tuple[str, str | None]] = [("*", _ANY), ("=", path)]
    slash = path.find("/")
    while slash >= 0:
        keys.append(("/", path[: slash + 1]))
        slash = path.find("/", slash + 1)
    return keys


class Classifier:
    """Finds the first matching FlowSchema among digested ones, through an index.

    Built once per config digestion from schemas already filtered to those whose
    priority level exists and is well-formed; immutable afterwards.
    """

    def __init__(self, flow_schemas: Sequence[FlowSchemaDigest], *, sort: bool = True) -> None:
        """Index ``flow_schemas``; with ``sort=False`` their order is the matching order."""
        ordered = sorted(flow_schemas, key=lambda fs: fs.sort_key) if sort else flow_schemas
        self.flow_schemas: tuple[FlowSchemaDigest, ...] = tuple(ordered)
        # key -> clauses sorted by position (insertion order is position order).
        self._resource: dict[tuple[object, ...], list[_ResourceClause]] = {}
        self._non_resource: dict[tuple[object, ...], list[_NonResourceClause]] = {}
        # Memoised match positions by _decision_key (None: nothing matched).
        self._decisions: dict[tuple[object, ...], object] = {}
        self._seen: dict[int, Route] = {}
        self._recent: list[Route | None] = [None] * RECENT_ROUTES
        for position, fs in enumerate(self.flow_schemas):
            for rule in fs.rules:
                self._add_rule(position, rule)

    def _add_rule(self, position: int, rule: PolicyRule) -> None:
        subject_keys = {key for s in rule.subjects if (key := _subject_key(s)) is not None}
        for subject_key in sorted(subject_keys, key=repr):
            for rr in rule.resource_rules:
                clause = _ResourceClause(position, rr.verbs, rr.cluster_scope, rr.namespaces)
                for group in set(_any_or_values(rr.api_groups)):
                    for resource in set(_any_or_values(rr.resources)):
                        _append(self._resource, (*subject_key, group, resource), clause)
            for nr in rule.non_resource_rules:
                nr_clause = _NonResourceClause(position, nr.verbs)
                for url_key in _url_keys(nr.non_resource_urls):
                    _append(self._non_resource, (*subject_key, *url_key), nr_clause)

    def classify(self, digest: RequestDigest) -> FlowSchemaDigest | None:
        """The first matching schema in matching order, or None when none matches."""
        return self.route(digest.request_info, digest.user).flow_schema

    def route(self, info: RequestInfo, user: UserInfo) -> Route:
        """The matching schema with the request's flow under it.

        Decisions are memoised per (user, groups, request attributes that rules
        can see), since clients repeat the same kinds of requests; a classifier
        lives for one configuration generation, so the memo never goes stale.
        """
        # The server caches the parsed request and the user of short, repeated
        # requests and hands over the same objects, so most routes are found by
        # identity: first in a small direct-mapped table (no hashing), then in a
        # dict. Pairs may share a slot or a key: an entry checks its objects.
        info_id, user_id = id(info), id(user)
        slot = ((info_id >> 4) ^ (user_id >> 4)) & (RECENT_ROUTES - 1)
        recent = self._recent[slot]
        if recent is not None and recent.request_info is info and recent.user is user:
            return recent
        identity = info_id ^ (user_id << 1)
        seen = self._seen.get(identity)
        if seen is None or seen.request_info is not info or seen.user is not user:
            return self._new_route(info, user, identity, slot)
        self._recent[slot] = seen
        return seen

    def _new_route(self, info: RequestInfo, user: UserInfo, identity: int, slot: int) -> Route:
        digest = RequestDigest(info, user)
        memoize = _is_small(digest)
        position = self._decide(digest, memoize)
        found = Route(info, user, None if position is None else self.flow_schemas[position])
        if memoize:
            if len(self._seen) >= SEEN_CACHE_SIZE:
                self._seen.clear()
            # Entries hold both objects, so their ids cannot be reused meanwhile.
            self._seen[identity] = found
            self._recent[slot] = found
        return found

    def _decide(self, digest: RequestDigest, memoize: bool) -> int | None:
        """The match position, from the memo by decision key or by matching."""
        if not memoize:
            return self.match_position(digest)
        key = _decision_key(digest)
        cached = self._decisions.get(key, _UNKNOWN)
        if cached is _UNKNOWN:
            position = self.match_position(digest)
            if len(self._decisions) >= DECISION_CACHE_SIZE:
                self._decisions.clear()
            self._decisions[key] = position
            return position
        return cached if isinstance(cached, int) else None

    def match_position(self, digest: RequestDigest) -> int | None:
        """The position of the first matching schema in ``flow_schemas``, or None."""
        info = digest.request_info
        subject_keys = _user_subject_keys(digest.user)
        best = len(self.flow_schemas)
        if info.is_resource_request:
            full_resource = info.resource
            if info.subresource:
                full_resource = f"{info.resource}/{info.subresource}"
            for subject_key in subject_keys:
                for group in (info.api_group, _ANY):
                    for resource in (full_resource, _ANY):
                        clauses = self._resource.get((*subject_key, group, resource))
                        if clauses:
                            best = _first_resource(clauses, info.verb, info.namespace, best)
        else:
            path_keys = _path_keys(info.path)
            for subject_key in subject_keys:
                for url_key in path_keys:
                    nr_clauses = self._non_resource.get((*subject_key, *url_key))
                    if nr_clauses:
                        best = _first_non_resource(nr_clauses, info.verb, best)
        return None if best == len(self.flow_schemas) else best


def _url_keys(urls: tuple[str, ...]) -> set[tuple[str, str | None]]:
    keys: set[tuple[str, str | None]] = set()
    for url in urls:
        if url == WILDCARD:
            keys.add(("*", _ANY))
            continue
        keys.add(("=", url))
        keys.add(("/", url_prefix(url)))
    return keys


def _append(
    index: dict[tuple[object, ...], list[Any]], key: tuple[object, ...], item: Any
) -> None:
    bucket = index.setdefault(key, [])
    # One clause may reach a key twice (e.g. "/x" and "/x/" share a prefix key).
    if not bucket or bucket[-1] is not item:
        bucket.append(item)


def _first_resource(clauses: list[_ResourceClause], verb: str, namespace: str, best: int) -> int:
    for clause in clauses:
        if clause.position >= best:
            break
        if clause.matches(verb, namespace):
            return clause.position
    return best


def _first_non_resource(clauses: list[_NonResourceClause], verb: str, best: int) -> int:
    for clause in clauses:
        if clause.position >= best:
            break
        if clause.matches(verb):
            return clause.position
    return best


# --- flows ------------------------------------------------------------------------------


def flow_distinguisher(fs: FlowSchemaDigest, digest: RequestDigest) -> str:
    """The flow distinguisher by the schema's method: user name, namespace, or ``""``."""
    return _distinguisher(fs, digest.request_info, digest.user)


def _distinguisher(fs: FlowSchemaDigest, info: RequestInfo, user: UserInfo) -> str:
    if fs.distinguisher_method == DistinguisherMethod.BY_USER:
        return user.name
    if fs.distinguisher_method == DistinguisherMethod.BY_NAMESPACE:
        return info.namespace
    return ""


@functools.lru_cache(maxsize=4096)
def flow_hash(flow_schema: str, distinguisher: str) -> int:
    """First 8 bytes, little-endian, of SHA-256(schema name, NUL, distinguisher)."""
    data = flow_schema.encode() + b"\x00" + distinguisher.encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


class Route(RequestDigest):
    """Where one request goes: the matching schema (None: no match) and its flow.

    The flow distinguisher and hash depend only on the schema and the request,
    so a remembered route carries them too. It is the request's digest as well,
    made of the very request-info and user objects it was found for (see
    ``Classifier.route``), so the engine passes it on instead of a new digest.
    """

    __slots__ = ("distinguisher", "flow_schema", "hash_value", "target")

    def __init__(self, info: RequestInfo, user: UserInfo, fs: FlowSchemaDigest | None) -> None:
        super().__init__(info, user)
        self.flow_schema: Final = fs
        distinguisher = "" if fs is None else _distinguisher(fs, info, user)
        self.distinguisher: Final = distinguisher
        self.hash_value: Final = 0 if fs is None else flow_hash(fs.name, distinguisher)
        # What the classifier's owner derived from this route and keeps with it (the
        # controller: the priority level it leads to); valid as long as the classifier.
        self.target: object = None

    def __repr__(self) -> str:
        name = None if self.flow_schema is None else self.flow_schema.name
        return (
            f"Route(request_info={self.request_info!r}, user={self.user!r}, flow_schema={name!r})"
        )


# Memoised decisions per classifier; cleared wholesale when full.
DECISION_CACHE_SIZE: Final = 4096
_UNKNOWN: Final = object()
# Routes by the identity of the request and user objects. Entries keep
# their objects alive, and anonymous clients choose paths, queries and (with
# impersonation rights) users: only requests whose parts total at most
# MEMO_MAX_CHARS characters are remembered, in either memo.
SEEN_CACHE_SIZE: Final = 4096
# Slots of the direct-mapped table in front of it (a power of two).
RECENT_ROUTES: Final = 64
MEMO_MAX_CHARS: Final = 1024


def _is_small(digest: RequestDigest) -> bool:
    """Whether the request is small enough to remember (see MEMO_MAX_CHARS)."""
    info, user = digest.request_info, digest.user
    size = len(info.path) + len(user.name) + len(user.uid)
    for key, value in info.query.items():
        size += len(key) + len(value)
    for group in user.groups:
        size += len(group)
    for name, values in user.extra.items():
        size += len(name) + sum(len(v) for v in values)
    return size <= MEMO_MAX_CHARS


def _decision_key(digest: RequestDigest) -> tuple[object, ...]:
    """Everything matching can look at: who, and what (the path only when non-resource)."""
    info, user = digest.request_info, digest.user
    if info.is_resource_request:
        what: tuple[object, ...] = (
            True,
            info.verb,
            info.api_group,
            info.resource,
            info.subresource,
            info.namespace,
        )
    else:
        what = (False, info.verb, info.path)
    return (user.name, user.groups, *what)
