"""Validation of FlowSchema and PriorityLevelConfiguration objects (spec §3).

Each check yields :class:`FieldError` values with the cause types, field paths
and messages kube-apiserver 1.29 reports, in the order it reports them, so a
422 ``Status`` reads the same. Objects are v1 dicts, already defaulted.

Missing keys read as Go zero values (``""``, ``0``, empty list, nil pointer).
Values of the wrong JSON type are reported as ``FieldValueTypeInvalid`` instead
of raising, since the decoder in front of us is not typed.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from apf.api import bootstrap
from apf.api.errors import CauseType, FieldError
from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL, Kind

Object = dict[str, Any]
Errors = Iterator[FieldError]

MAX_MATCHING_PRECEDENCE = 10000
MAX_QUEUES = 10_000_000
MAX_HASH_BITS = 60
WILDCARD = "*"

SUPPORTED_VERBS = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "proxy",
    "update",
    "watch",
)
DISTINGUISHER_TYPES = ("ByNamespace", "ByUser")
SUBJECT_KINDS = ("Group", "ServiceAccount", "User")
PRIORITY_LEVEL_TYPES = ("Exempt", "Limited")
LIMIT_RESPONSE_TYPES = ("Queue", "Reject")

_NAMESPACE_INTRO = "each member of this list must be '*' or a DNS-1123 label; "


# --- public entry points ----------------------------------------------------------------


def validate(
    kind: Kind,
    obj: Object,
    old: Object | None,
    *,
    allow_zero_limited_ncs: bool = False,
    version: str = "v1",
) -> list[FieldError]:
    """Every problem of ``obj`` for a create (``old`` None) or a main-resource update.

    ``allow_zero_limited_ncs`` is the ``ZeroLimitedNominalConcurrencyShares``
    gate (off in 1.29); a Limited level may keep a zero share count anyway when
    ``old`` already had one. ``version`` is the request's API version, which
    names the shares field in messages (``assuredConcurrencyShares`` in the
    v1beta1 and v1beta2 APIs).
    """
    problems = list(validate_metadata(obj.get("metadata")))
    if kind == FLOW_SCHEMA:
        problems.extend(_flow_schema(obj))
    elif kind == PRIORITY_LEVEL:
        allow_zero = allow_zero_limited_ncs or _has_zero_limited_shares(old)
        problems.extend(_priority_level(obj, allow_zero=allow_zero, version=version))
    problems.extend(_conditions(obj.get("status")))
    return problems


def validate_status(kind: Kind, obj: Object, old: Object) -> list[FieldError]:
    """Problems of a ``/status`` update: only the status conditions are checked."""
    return list(_conditions(obj.get("status")))


# --- metadata ---------------------------------------------------------------------------

_DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = _DNS_LABEL + r"(\." + _DNS_LABEL + ")*"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    """Kubernetes' wording of a pattern mismatch, examples included."""
    if not examples:
        return f"{message} (regex used for validation is '{pattern}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


def _too_long(limit: int) -> str:
    return f"must be no more than {limit} characters"


def _format_errors(
    value: str, limit: int, pattern: str, message: str, *examples: str
) -> list[str]:
    """Messages for a length limit and a pattern, in Kubernetes' order; empty when fine."""
    problems = []
    if len(value) > limit:
        problems.append(_too_long(limit))
    if not re.fullmatch(pattern, value):
        problems.append(_regex_error(message, pattern, *examples))
    return problems


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Messages for ``value`` as an RFC 1123 subdomain (object names), empty when fine."""
    return _format_errors(
        value,
        253,
        _DNS_SUBDOMAIN,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
        "characters, '-' or '.', and must start and end with an alphanumeric character",
        "example.com",
    )


def dns1123_label_errors(value: str) -> list[str]:
    """Messages for ``value`` as an RFC 1123 label (namespace names), empty when fine."""
    return _format_errors(
        value,
        63,
        _DNS_LABEL,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric "
        "characters or '-', and must start and end with an alphanumeric character",
        "my-name",
        "123-abc",
    )


_QUALIFIED_NAME_WORDS = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character"
)
_QUALIFIED_NAME_EXAMPLES = ("MyName", "my.name", "123-abc")


def qualified_name_errors(value: str) -> list[str]:
    """Messages for a label or annotation key (``prefix/name``), empty when fine."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        problems: list[str] = []
    elif len(parts) == 2:
        prefix, name = parts
        if prefix:
            problems = ["prefix part " + m for m in dns1123_subdomain_errors(prefix)]
        else:
            problems = ["prefix part must be non-empty"]
    else:
        wording = _regex_error(_QUALIFIED_NAME_WORDS, _QUALIFIED_NAME, *_QUALIFIED_NAME_EXAMPLES)
        return [
            f"a qualified name {wording} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    if not name:
        return [*problems, "name part must be non-empty"]
    name_problems = _format_errors(
        name, 63, _QUALIFIED_NAME, _QUALIFIED_NAME_WORDS, *_QUALIFIED_NAME_EXAMPLES
    )
    return [*problems, *("name part " + m for m in name_problems)]


def _label_value_errors(value: str) -> list[str]:
    return _format_errors(
        value,
        63,
        _LABEL_VALUE,
        "a valid label must be an empty string or consist of alphanumeric characters, "
        "'-', '_' or '.', and must start and end with an alphanumeric character",
        "MyValue",
        "my_value",
        "12345",
    )


def validate_metadata(metadata: object) -> Errors:
    """Name, generateName, labels and annotations of a cluster-scoped object.

    A body namespace is not checked: the store clears it, as Kubernetes does for
    cluster-scoped kinds.
    """
    if not isinstance(metadata, dict):
        metadata = {}
    name = _text(metadata.get("name"))
    generate_name = _text(metadata.get("generateName"))
    if generate_name:
        # A trailing dash is fine in a prefix: a random suffix follows it.
        masked = generate_name[:-1] + "a" if generate_name.endswith("-") else generate_name
        for message in dns1123_subdomain_errors(masked):
            yield FieldError(CauseType.INVALID, "metadata.generateName", message, generate_name)
    if not name and not generate_name:
        yield FieldError(CauseType.REQUIRED, "metadata.name", "name or generateName is required")
    elif name:
        for message in dns1123_subdomain_errors(name):
            yield FieldError(CauseType.INVALID, "metadata.name", message, name)
    yield from _labels(metadata.get("labels"))
    yield from _annotations(metadata.get("annotations"))


def _labels(labels: object) -> Errors:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        for message in qualified_name_errors(str(key)):
            yield FieldError(CauseType.INVALID, "metadata.labels", message, key)
        for message in _label_value_errors(_text(value)):
            yield FieldError(CauseType.INVALID, "metadata.labels", message, value)


def _annotations(annotations: object) -> Errors:
    if not isinstance(annotations, dict):
        return
    total_bytes = 0
    for key, value in annotations.items():
        for message in qualified_name_errors(str(key).lower()):
            yield FieldError(CauseType.INVALID, "metadata.annotations", message, key)
        total_bytes += len(str(key)) + len(_text(value))
    if total_bytes > 256 * 1024:
        yield FieldError(
            CauseType.TOO_LONG, "metadata.annotations", "must have at most 262144 bytes"
        )


# --- FlowSchema -------------------------------------------------------------------------


def _flow_schema(obj: Object) -> Errors:
    name = _text((_dict(obj.get("metadata")) or {}).get("name"))
    spec = _dict(obj.get("spec")) or {}
    yield from _flow_schema_spec(name, spec, "spec")
    yield from _fixed_spec(FLOW_SCHEMA, name, spec)


def _flow_schema_spec(name: str, spec: Object, path: str) -> Errors:
    precedence = spec.get("matchingPrecedence") or 0
    yield from _precedence(name, precedence, f"{path}.matchingPrecedence")
    method = spec.get("distinguisherMethod")
    if isinstance(method, dict):
        method_type = _text(method.get("type"))
        if method_type not in DISTINGUISHER_TYPES:
            # Kubernetes reports the whole method struct as the bad value.
            shown = GoLiteral(
                f"flowcontrol.FlowDistinguisherMethod{{Type:{_go_quote(method_type)}}}"
            )
            yield _not_supported(f"{path}.distinguisherMethod.type", shown, DISTINGUISHER_TYPES)
    level = _text((_dict(spec.get("priorityLevelConfiguration")) or {}).get("name"))
    level_path = f"{path}.priorityLevelConfiguration.name"
    if not level:
        yield FieldError(CauseType.REQUIRED, level_path, "must reference a priority level")
    for message in dns1123_subdomain_errors(level) if level else []:
        yield FieldError(CauseType.INVALID, level_path, message, level)
    for i, rule in enumerate(_list(spec.get("rules"))):
        yield from _policy_rule(_dict(rule) or {}, f"{path}.rules[{i}]")


def _precedence(name: str, precedence: object, path: str) -> Errors:
    if not _is_int(precedence):
        yield FieldError(CauseType.TYPE_INVALID, path, "must be an integer", precedence)
    elif precedence <= 0:
        yield FieldError(CauseType.INVALID, path, "must be a positive value", precedence)
    elif precedence > MAX_MATCHING_PRECEDENCE:
        yield FieldError(
            CauseType.INVALID,
            path,
            f"must not be greater than {MAX_MATCHING_PRECEDENCE}",
            precedence,
        )
    elif precedence == 1 and name != "exempt":
        yield FieldError(
            CauseType.INVALID,
            path,
            "only the schema named 'exempt' may have matchingPrecedence 1",
            precedence,
        )


def _policy_rule(rule: Object, path: str) -> Errors:
    subjects = _list(rule.get("subjects"))
    for i, subject in enumerate(subjects):
        yield from _subject(_dict(subject) or {}, f"{path}.subjects[{i}]")
    if not subjects:
        yield FieldError(
            CauseType.REQUIRED, f"{path}.subjects", "subjects must contain at least one value"
        )
    resource_rules = _list(rule.get("resourceRules"))
    non_resource_rules = _list(rule.get("nonResourceRules"))
    if not resource_rules and not non_resource_rules:
        yield FieldError(
            CauseType.REQUIRED,
            path,
            "at least one of resourceRules and nonResourceRules has to be non-empty",
        )
    for i, item in enumerate(resource_rules):
        yield from _resource_rule(_dict(item) or {}, f"{path}.resourceRules[{i}]")
    for i, item in enumerate(non_resource_rules):
        yield from _non_resource_rule(_dict(item) or {}, f"{path}.nonResourceRules[{i}]")


_MEMBERS = {"User": "user", "Group": "group", "ServiceAccount": "serviceAccount"}


def _subject(subject: Object, path: str) -> Errors:
    kind = _text(subject.get("kind"))
    own = _MEMBERS.get(kind)
    if own is None:
        yield _not_supported(f"{path}.kind", kind, SUBJECT_KINDS)
        return
    if own == "serviceAccount":
        yield from _service_account(subject.get(own), f"{path}.serviceAccount")
    else:
        yield from _named_subject(subject.get(own), kind, f"{path}.{own}")
    for other_kind, other in _MEMBERS.items():
        if other != own and subject.get(other) is not None:
            yield FieldError(
                CauseType.FORBIDDEN,
                f"{path}.{other}",
                f"{other} is forbidden when subject kind is not '{other_kind}'",
            )


def _named_subject(member: object, kind: str, path: str) -> Errors:
    if not isinstance(member, dict):
        field = _MEMBERS[kind]
        yield FieldError(
            CauseType.REQUIRED, path, f"{field} is required when subject kind is '{kind}'"
        )
        return
    if not _text(member.get("name")):
        yield FieldError(CauseType.REQUIRED, f"{path}.name")


def _service_account(member: object, path: str) -> Errors:
    if not isinstance(member, dict):
        yield FieldError(
            CauseType.REQUIRED,
            path,
            "serviceAccount is required when subject kind is 'ServiceAccount'",
        )
        return
    name = _text(member.get("name"))
    if not name:
        yield FieldError(CauseType.REQUIRED, f"{path}.name")
    elif name != WILDCARD:
        for message in dns1123_subdomain_errors(name):
            yield FieldError(CauseType.INVALID, f"{path}.name", message, name)
    namespace = _text(member.get("namespace"))
    if not namespace:
        yield FieldError(
            CauseType.REQUIRED,
            f"{path}.namespace",
            "must specify namespace for service account",
        )
    else:
        for message in dns1123_label_errors(namespace):
            yield FieldError(CauseType.INVALID, f"{path}.namespace", message, namespace)


def _verbs(verbs: list[Any], path: str) -> Errors:
    if not verbs:
        yield FieldError(CauseType.REQUIRED, path, "verbs must contain at least one value")
    elif WILDCARD in verbs:
        if len(verbs) > 1:
            yield FieldError(
                CauseType.INVALID, path, "if '*' is present, must not specify other verbs", verbs
            )
    elif not all(verb in SUPPORTED_VERBS for verb in verbs):
        yield _not_supported(path, verbs, SUPPORTED_VERBS)


def _wildcard_alone(values: list[Any], path: str, what: str) -> Errors:
    if len(values) > 1 and WILDCARD in values:
        yield FieldError(
            CauseType.INVALID, path, f"if '*' is present, must not specify other {what}", values
        )


def _resource_rule(rule: Object, path: str) -> Errors:
    yield from _verbs(_list(rule.get("verbs")), f"{path}.verbs")
    groups = _list(rule.get("apiGroups"))
    if not groups:
        yield FieldError(
            CauseType.REQUIRED,
            f"{path}.apiGroups",
            "resource rules must supply at least one api group",
        )
    yield from _wildcard_alone(groups, f"{path}.apiGroups", "api groups")
    resources = _list(rule.get("resources"))
    if not resources:
        yield FieldError(
            CauseType.REQUIRED,
            f"{path}.resources",
            "resource rules must supply at least one resource",
        )
    yield from _wildcard_alone(resources, f"{path}.resources", "resources")
    yield from _namespaces(rule, f"{path}.namespaces")


def _namespaces(rule: Object, path: str) -> Errors:
    namespaces = _list(rule.get("namespaces"))
    if not namespaces and rule.get("clusterScope") is not True:
        yield FieldError(
            CauseType.REQUIRED,
            path,
            "resource rules that are not cluster scoped must supply at least one namespace",
        )
    elif WILDCARD in namespaces:
        yield from _wildcard_alone(namespaces, path, "namespaces")
    else:
        for i, namespace in enumerate(namespaces):
            for message in dns1123_label_errors(_text(namespace)):
                yield FieldError(
                    CauseType.INVALID, f"{path}[{i}]", _NAMESPACE_INTRO + message, namespace
                )


def _non_resource_rule(rule: Object, path: str) -> Errors:
    yield from _verbs(_list(rule.get("verbs")), f"{path}.verbs")
    urls = _list(rule.get("nonResourceURLs"))
    urls_path = f"{path}.nonResourceURLs"
    if not urls:
        yield FieldError(
            CauseType.REQUIRED, urls_path, "nonResourceURLs must contain at least one value"
        )
    elif WILDCARD in urls:
        yield from _wildcard_alone(urls, urls_path, "non-resource URLs")
    else:
        for i, url in enumerate(urls):
            problem = non_resource_url_problem(_text(url))
            if problem:
                yield FieldError(CauseType.INVALID, f"{urls_path}[{i}]", problem, url)


def non_resource_url_problem(url: str) -> str:
    """Why ``url`` is no valid non-resource URL pattern, or ``""`` when it is one."""
    if url == "":
        return "must not be empty"
    if url == "/":
        return ""
    if not url.startswith("/"):
        return "must start with slash"
    if " " in url:
        return "must not contain white-space"
    if "//" in url:
        return "must not contain double slash"
    stars = url.count("*")
    if stars > 1 or (stars == 1 and not url.endswith("/*")):
        return "wildcard can only do suffix matching"
    return ""


# --- PriorityLevelConfiguration ---------------------------------------------------------


def _priority_level(obj: Object, *, allow_zero: bool, version: str) -> Errors:
    name = _text((_dict(obj.get("metadata")) or {}).get("name"))
    spec = _dict(obj.get("spec")) or {}
    yield from _priority_level_spec(name, spec, allow_zero=allow_zero, version=version)
    yield from _fixed_spec(PRIORITY_LEVEL, name, spec)


def _priority_level_spec(name: str, spec: Object, *, allow_zero: bool, version: str) -> Errors:
    level_type = _text(spec.get("type"))
    if (name == "exempt") != (level_type == "Exempt"):
        yield FieldError(
            CauseType.INVALID,
            "spec.type",
            "type must be 'Exempt' if and only if name is 'exempt'",
            level_type,
        )
    limited = spec.get("limited")
    exempt = spec.get("exempt")
    if level_type == "Exempt":
        if limited is not None:
            yield FieldError(
                CauseType.FORBIDDEN, "spec.limited", "must be nil if the type is not Limited"
            )
        if isinstance(exempt, dict):
            yield from _exempt(exempt, "spec.exempt")
    elif level_type == "Limited":
        if exempt is not None:
            yield FieldError(
                CauseType.FORBIDDEN, "spec.exempt", "must be nil if the type is Limited"
            )
        if not isinstance(limited, dict):
            yield FieldError(
                CauseType.REQUIRED, "spec.limited", "must not be empty when type is Limited"
            )
        else:
            yield from _limited(limited, "spec.limited", allow_zero=allow_zero, version=version)
    else:
        yield _not_supported("spec.type", level_type, PRIORITY_LEVEL_TYPES)


def _exempt(exempt: Object, path: str) -> Errors:
    shares = exempt.get("nominalConcurrencyShares")
    if _is_int(shares) and shares < 0:
        yield FieldError(
            CauseType.INVALID,
            f"{path}.nominalConcurrencyShares",
            "must be a non-negative integer",
            shares,
        )
    yield from _lendable(exempt.get("lendablePercent"), f"{path}.lendablePercent")


def _lendable(percent: object, path: str) -> Errors:
    if _is_int(percent) and not 0 <= percent <= 100:
        yield FieldError(CauseType.INVALID, path, "must be between 0 and 100, inclusive", percent)


def shares_field_name(version: str) -> str:
    """The name of the Limited shares field in API ``version``."""
    if version in ("v1beta1", "v1beta2"):
        return "assuredConcurrencyShares"
    return "nominalConcurrencyShares"


def _limited(limited: Object, path: str, *, allow_zero: bool, version: str) -> Errors:
    shares = limited.get("nominalConcurrencyShares") or 0
    shares_path = f"{path}.{shares_field_name(version)}"
    if not _is_int(shares):
        yield FieldError(CauseType.TYPE_INVALID, shares_path, "must be an integer", shares)
    elif allow_zero and shares < 0:
        yield FieldError(CauseType.INVALID, shares_path, "must be a non-negative integer", shares)
    elif not allow_zero and shares <= 0:
        yield FieldError(CauseType.INVALID, shares_path, "must be positive", shares)
    yield from _limit_response(_dict(limited.get("limitResponse")) or {}, f"{path}.limitResponse")
    yield from _lendable(limited.get("lendablePercent"), f"{path}.lendablePercent")
    borrowing = limited.get("borrowingLimitPercent")
    if _is_int(borrowing) and borrowing < 0:
        yield FieldError(
            CauseType.INVALID,
            f"{path}.borrowingLimitPercent",
            "if specified, must be a non-negative integer",
            borrowing,
        )


def _limit_response(response: Object, path: str) -> Errors:
    response_type = _text(response.get("type"))
    queuing = response.get("queuing")
    if response_type == "Reject":
        if queuing is not None:
            yield FieldError(
                CauseType.FORBIDDEN,
                f"{path}.queuing",
                "must be nil if limited.limitResponse.type is not Limited",
            )
    elif response_type == "Queue":
        if not isinstance(queuing, dict):
            yield FieldError(
                CauseType.REQUIRED,
                f"{path}.queuing",
                "must not be empty if limited.limitResponse.type is Limited",
            )
        else:
            yield from _queuing(queuing, f"{path}.queuing")
    else:
        yield _not_supported(f"{path}.type", response_type, LIMIT_RESPONSE_TYPES)


def required_entropy_bits(queues: int, hand_size: int) -> int:
    """Bits of hash a shuffle-shard deal of ``hand_size`` from ``queues`` consumes."""
    return math.ceil(math.log2(queues) * hand_size)


def _queuing(queuing: Object, path: str) -> Errors:
    length = _int_or_zero(queuing.get("queueLengthLimit"))
    queues = _int_or_zero(queuing.get("queues"))
    hand = _int_or_zero(queuing.get("handSize"))
    if length <= 0:
        yield FieldError(CauseType.INVALID, f"{path}.queueLengthLimit", "must be positive", length)
    if queues <= 0:
        yield FieldError(CauseType.INVALID, f"{path}.queues", "must be positive", queues)
    elif queues > MAX_QUEUES:
        yield FieldError(
            CauseType.INVALID, f"{path}.queues", f"must not be greater than {MAX_QUEUES}", queues
        )
    hand_path = f"{path}.handSize"
    if hand <= 0:
        yield FieldError(CauseType.INVALID, hand_path, "must be positive", hand)
    elif hand > queues:
        yield FieldError(
            CauseType.INVALID, hand_path, f"should not be greater than queues ({queues})", hand
        )
    elif required_entropy_bits(queues, hand) > MAX_HASH_BITS:
        yield FieldError(
            CauseType.INVALID,
            hand_path,
            f"required entropy bits of deckSize {queues} and handSize {hand} "
            f"should not be greater than {MAX_HASH_BITS}",
            hand,
        )


def _has_zero_limited_shares(old: Object | None) -> bool:
    if old is None:
        return False
    limited = (_dict(old.get("spec")) or {}).get("limited")
    return isinstance(limited, dict) and limited.get("nominalConcurrencyShares") == 0


# --- shared: fixed specs and conditions -------------------------------------------------


def _fixed_spec(kind: Kind, name: str, spec: Object) -> Errors:
    """The mandatory objects' specs may not change (``exempt`` PL: except ``spec.exempt``)."""
    builtin = bootstrap.mandatory(kind, name)
    if builtin is None:
        return
    wanted = builtin["spec"]
    have = copy.deepcopy(spec)
    message = f"spec of '{name}' must equal the fixed value"
    if kind == PRIORITY_LEVEL and name == "exempt":
        have["exempt"] = copy.deepcopy(wanted["exempt"])
        message = f"spec of '{name}' except the 'spec.exempt' field must equal the fixed value"
    if semantic(have) != semantic(wanted):
        yield FieldError(CauseType.INVALID, "spec", message)


# Pointer fields where an explicit 0 differs from nil.
_POINTER_INTS = frozenset({"nominalConcurrencyShares", "lendablePercent", "borrowingLimitPercent"})
# Struct (not pointer) fields where an empty object equals an absent one.
_VALUE_STRUCTS = frozenset({"priorityLevelConfiguration", "limitResponse"})


def semantic(value: object) -> object:
    """``value`` with Go zero values dropped, so Go's semantic equality is ``==`` on it.

    ``null``, empty lists, ``false``, ``""`` and non-pointer zeros equal absence;
    list order still matters.
    """
    if isinstance(value, list):
        return [semantic(v) for v in value]
    if not isinstance(value, dict):
        return value
    kept: dict[str, object] = {}
    for key, item in value.items():
        reduced = semantic(item)
        if reduced is None or reduced == [] or reduced is False or reduced == "":
            continue
        if reduced == 0 and not isinstance(reduced, bool) and key not in _POINTER_INTS:
            continue
        if reduced == {} and key in _VALUE_STRUCTS:
            continue
        kept[key] = reduced
    return kept


def _conditions(status: object) -> Errors:
    conditions = _list(status.get("conditions")) if isinstance(status, dict) else []
    seen: set[str] = set()
    for i, condition in enumerate(conditions):
        condition_type = _text((_dict(condition) or {}).get("type"))
        path = f"status.conditions[{i}].type"
        if condition_type in seen:
            yield FieldError(CauseType.DUPLICATE, path, bad_value=condition_type)
        seen.add(condition_type)
        if not condition_type:
            yield FieldError(CauseType.REQUIRED, path, "must not be empty")


# --- helpers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoLiteral:
    """A bad value printed as-is (a Go struct literal), not quoted like a string."""

    text: str

    def __str__(self) -> str:
        return self.text


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _not_supported(path: str, value: object, allowed: tuple[str, ...]) -> FieldError:
    listed = ", ".join(f'"{v}"' for v in sorted(allowed))
    return FieldError(CauseType.NOT_SUPPORTED, path, f"supported values: {listed}", value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> Object | None:
    return value if isinstance(value, dict) else None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_zero(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
