"""One case per validation rule of spec §3, checking cause type, field path and message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from apf.api import bootstrap
from apf.api.defaults import set_defaults
from apf.api.errors import CauseType, FieldError
from apf.api.kinds import FLOW_SCHEMA, PRIORITY_LEVEL, Kind
from apf.api.validation import GoLiteral, required_entropy_bits, validate, validate_status
from tests.api.mangle import mangled

Object = dict[str, Any]
Mutation = Callable[[Object], None]

SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
VERBS = (
    'supported values: "create", "delete", "deletecollection", "get", "list", "patch", '
    '"proxy", "update", "watch"'
)


def flow_schema() -> Object:
    obj: Object = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": "fs"},
        "spec": {
            "priorityLevelConfiguration": {"name": "pl"},
            "matchingPrecedence": 500,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [
                        {"kind": "User", "user": {"name": "alice"}},
                        {"kind": "Group", "group": {"name": "devs"}},
                        {
                            "kind": "ServiceAccount",
                            "serviceAccount": {"namespace": "ns", "name": "sa"},
                        },
                    ],
                    "resourceRules": [
                        {
                            "verbs": ["get"],
                            "apiGroups": [""],
                            "resources": ["pods"],
                            "namespaces": ["ns"],
                        }
                    ],
                    "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                }
            ],
        },
    }
    set_defaults(FLOW_SCHEMA, obj)
    return obj


def priority_level() -> Object:
    obj: Object = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": "pl"},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 10,
                "limitResponse": {
                    "type": "Queue",
                    "queuing": {"queues": 64, "handSize": 6, "queueLengthLimit": 50},
                },
            },
        },
    }
    set_defaults(PRIORITY_LEVEL, obj)
    return obj


def rule(obj: Object) -> Object:
    first: Object = obj["spec"]["rules"][0]
    return first


def resource_rule(obj: Object) -> Object:
    first: Object = rule(obj)["resourceRules"][0]
    return first


def non_resource_rule(obj: Object) -> Object:
    first: Object = rule(obj)["nonResourceRules"][0]
    return first


def limited(obj: Object) -> Object:
    part: Object = obj["spec"]["limited"]
    return part


def queuing(obj: Object) -> Object:
    part: Object = limited(obj)["limitResponse"]["queuing"]
    return part


def setter(get: Callable[[Object], Object], key: str, value: object) -> Mutation:
    def mutate(obj: Object) -> None:
        get(obj)[key] = value

    return mutate


def spec(obj: Object) -> Object:
    part: Object = obj["spec"]
    return part


def metadata(obj: Object) -> Object:
    part: Object = obj["metadata"]
    return part


def subject(index: int) -> Callable[[Object], Object]:
    def get(obj: Object) -> Object:
        found: Object = rule(obj)["subjects"][index]
        return found

    return get


def exempt_level(*, limited: Object | None = None, **exempt: object) -> Mutation:
    def mutate(obj: Object) -> None:
        obj["metadata"]["name"] = "exempt"
        obj["spec"] = {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, **exempt}}
        if limited is not None:
            obj["spec"]["limited"] = limited

    return mutate


def err(cause: CauseType, path: str, detail: str = "", value: object = None) -> FieldError:
    if value is None:
        return FieldError(cause, path, detail)
    return FieldError(cause, path, detail, value)


INVALID, REQUIRED, FORBIDDEN = CauseType.INVALID, CauseType.REQUIRED, CauseType.FORBIDDEN
NOT_SUPPORTED, DUPLICATE = CauseType.NOT_SUPPORTED, CauseType.DUPLICATE
R0 = "spec.rules[0]"
RR = f"{R0}.resourceRules[0]"
NR = f"{R0}.nonResourceRules[0]"
LIM = "spec.limited"
Q = f"{LIM}.limitResponse.queuing"

FLOW_SCHEMA_CASES = [
    pytest.param(
        setter(metadata, "name", ""),
        [err(REQUIRED, "metadata.name", "name or generateName is required")],
        id="name-required",
    ),
    pytest.param(
        setter(metadata, "name", "Bad_Name"),
        [err(INVALID, "metadata.name", SUBDOMAIN_MESSAGE, "Bad_Name")],
        id="name-dns-subdomain",
    ),
    pytest.param(
        setter(spec, "matchingPrecedence", -1),
        [err(INVALID, "spec.matchingPrecedence", "must be a positive value", -1)],
        id="precedence-positive",
    ),
    pytest.param(
        setter(spec, "matchingPrecedence", 10001),
        [err(INVALID, "spec.matchingPrecedence", "must not be greater than 10000", 10001)],
        id="precedence-max",
    ),
    pytest.param(
        setter(spec, "matchingPrecedence", 1),
        [
            err(
                INVALID,
                "spec.matchingPrecedence",
                "only the schema named 'exempt' may have matchingPrecedence 1",
                1,
            )
        ],
        id="precedence-one-reserved",
    ),
    pytest.param(
        setter(spec, "distinguisherMethod", {"type": "ByGroup"}),
        [
            err(
                NOT_SUPPORTED,
                "spec.distinguisherMethod.type",
                'supported values: "ByNamespace", "ByUser"',
                GoLiteral('flowcontrol.FlowDistinguisherMethod{Type:"ByGroup"}'),
            )
        ],
        id="distinguisher-type",
    ),
    pytest.param(
        setter(spec, "priorityLevelConfiguration", {"name": ""}),
        [
            err(
                REQUIRED,
                "spec.priorityLevelConfiguration.name",
                "must reference a priority level",
            )
        ],
        id="level-name-required",
    ),
    pytest.param(
        setter(spec, "priorityLevelConfiguration", {"name": "A"}),
        [err(INVALID, "spec.priorityLevelConfiguration.name", SUBDOMAIN_MESSAGE, "A")],
        id="level-name-subdomain",
    ),
    pytest.param(
        setter(rule, "subjects", []),
        [err(REQUIRED, f"{R0}.subjects", "subjects must contain at least one value")],
        id="subjects-required",
    ),
    pytest.param(
        lambda o: rule(o).update(resourceRules=[], nonResourceRules=None),
        [
            err(
                REQUIRED,
                R0,
                "at least one of resourceRules and nonResourceRules has to be non-empty",
            )
        ],
        id="rules-one-list-required",
    ),
    pytest.param(
        setter(subject(2), "serviceAccount", None),
        [
            err(
                REQUIRED,
                f"{R0}.subjects[2].serviceAccount",
                "serviceAccount is required when subject kind is 'ServiceAccount'",
            )
        ],
        id="service-account-required",
    ),
    pytest.param(
        setter(subject(2), "serviceAccount", {"namespace": "ns", "name": ""}),
        [err(REQUIRED, f"{R0}.subjects[2].serviceAccount.name")],
        id="service-account-name-required",
    ),
    pytest.param(
        setter(subject(2), "serviceAccount", {"namespace": "ns", "name": "Sa"}),
        [err(INVALID, f"{R0}.subjects[2].serviceAccount.name", SUBDOMAIN_MESSAGE, "Sa")],
        id="service-account-name-subdomain",
    ),
    pytest.param(
        setter(subject(2), "serviceAccount", {"namespace": "", "name": "*"}),
        [
            err(
                REQUIRED,
                f"{R0}.subjects[2].serviceAccount.namespace",
                "must specify namespace for service account",
            )
        ],
        id="service-account-namespace-required",
    ),
    pytest.param(
        setter(subject(2), "serviceAccount", {"namespace": "a.b", "name": "sa"}),
        [err(INVALID, f"{R0}.subjects[2].serviceAccount.namespace", LABEL_MESSAGE, "a.b")],
        id="service-account-namespace-label",
    ),
    pytest.param(
        setter(subject(0), "user", None),
        [
            err(
                REQUIRED,
                f"{R0}.subjects[0].user",
                "user is required when subject kind is 'User'",
            )
        ],
        id="user-required",
    ),
    pytest.param(
        setter(subject(0), "user", {"name": ""}),
        [err(REQUIRED, f"{R0}.subjects[0].user.name")],
        id="user-name-required",
    ),
    pytest.param(
        setter(subject(1), "group", None),
        [
            err(
                REQUIRED,
                f"{R0}.subjects[1].group",
                "group is required when subject kind is 'Group'",
            )
        ],
        id="group-required",
    ),
    pytest.param(
        setter(subject(1), "group", {"name": ""}),
        [err(REQUIRED, f"{R0}.subjects[1].group.name")],
        id="group-name-required",
    ),
    pytest.param(
        setter(subject(0), "group", {"name": "x"}),
        [
            err(
                FORBIDDEN,
                f"{R0}.subjects[0].group",
                "group is forbidden when subject kind is not 'Group'",
            )
        ],
        id="other-member-forbidden",
    ),
    pytest.param(
        setter(subject(0), "kind", "Robot"),
        [
            err(
                NOT_SUPPORTED,
                f"{R0}.subjects[0].kind",
                'supported values: "Group", "ServiceAccount", "User"',
                "Robot",
            )
        ],
        id="subject-kind",
    ),
    pytest.param(
        setter(resource_rule, "verbs", []),
        [err(REQUIRED, f"{RR}.verbs", "verbs must contain at least one value")],
        id="resource-verbs-required",
    ),
    pytest.param(
        setter(resource_rule, "verbs", ["*", "get"]),
        [
            err(
                INVALID,
                f"{RR}.verbs",
                "if '*' is present, must not specify other verbs",
                ["*", "get"],
            )
        ],
        id="resource-verbs-wildcard",
    ),
    pytest.param(
        setter(resource_rule, "verbs", ["get", "post"]),
        [err(NOT_SUPPORTED, f"{RR}.verbs", VERBS, ["get", "post"])],
        id="resource-verbs-supported",
    ),
    pytest.param(
        setter(resource_rule, "apiGroups", []),
        [
            err(
                REQUIRED,
                f"{RR}.apiGroups",
                "resource rules must supply at least one api group",
            )
        ],
        id="api-groups-required",
    ),
    pytest.param(
        setter(resource_rule, "apiGroups", ["*", "apps"]),
        [
            err(
                INVALID,
                f"{RR}.apiGroups",
                "if '*' is present, must not specify other api groups",
                ["*", "apps"],
            )
        ],
        id="api-groups-wildcard",
    ),
    pytest.param(
        setter(resource_rule, "resources", []),
        [
            err(
                REQUIRED,
                f"{RR}.resources",
                "resource rules must supply at least one resource",
            )
        ],
        id="resources-required",
    ),
    pytest.param(
        setter(resource_rule, "resources", ["pods", "*"]),
        [
            err(
                INVALID,
                f"{RR}.resources",
                "if '*' is present, must not specify other resources",
                ["pods", "*"],
            )
        ],
        id="resources-wildcard",
    ),
    pytest.param(
        setter(resource_rule, "namespaces", None),
        [
            err(
                REQUIRED,
                f"{RR}.namespaces",
                "resource rules that are not cluster scoped must supply at least one namespace",
            )
        ],
        id="namespaces-required",
    ),
    pytest.param(
        setter(resource_rule, "namespaces", ["*", "ns"]),
        [
            err(
                INVALID,
                f"{RR}.namespaces",
                "if '*' is present, must not specify other namespaces",
                ["*", "ns"],
            )
        ],
        id="namespaces-wildcard",
    ),
    pytest.param(
        setter(resource_rule, "namespaces", ["ns", "Bad"]),
        [
            err(
                INVALID,
                f"{RR}.namespaces[1]",
                "each member of this list must be '*' or a DNS-1123 label; " + LABEL_MESSAGE,
                "Bad",
            )
        ],
        id="namespaces-label",
    ),
    pytest.param(
        setter(non_resource_rule, "verbs", []),
        [err(REQUIRED, f"{NR}.verbs", "verbs must contain at least one value")],
        id="non-resource-verbs-required",
    ),
    pytest.param(
        setter(non_resource_rule, "verbs", ["post"]),
        [err(NOT_SUPPORTED, f"{NR}.verbs", VERBS, ["post"])],
        id="non-resource-verbs-supported",
    ),
    pytest.param(
        setter(non_resource_rule, "nonResourceURLs", []),
        [
            err(
                REQUIRED,
                f"{NR}.nonResourceURLs",
                "nonResourceURLs must contain at least one value",
            )
        ],
        id="urls-required",
    ),
    pytest.param(
        setter(non_resource_rule, "nonResourceURLs", ["*", "/x"]),
        [
            err(
                INVALID,
                f"{NR}.nonResourceURLs",
                "if '*' is present, must not specify other non-resource URLs",
                ["*", "/x"],
            )
        ],
        id="urls-wildcard",
    ),
    *[
        pytest.param(
            setter(non_resource_rule, "nonResourceURLs", ["/", url]),
            [err(INVALID, f"{NR}.nonResourceURLs[1]", message, url)],
            id=f"url-{case}",
        )
        for case, url, message in [
            ("empty", "", "must not be empty"),
            ("slash", "healthz", "must start with slash"),
            ("space", "/a b", "must not contain white-space"),
            ("double-slash", "/a//b", "must not contain double slash"),
            ("inner-wildcard", "/a*/b", "wildcard can only do suffix matching"),
            ("two-wildcards", "/*/*", "wildcard can only do suffix matching"),
        ]
    ],
    pytest.param(
        lambda o: o["status"].update(conditions=[{"type": "Dangling"}, {"type": "Dangling"}]),
        [err(DUPLICATE, "status.conditions[1].type", value="Dangling")],
        id="condition-type-duplicate",
    ),
    pytest.param(
        lambda o: o["status"].update(conditions=[{"type": ""}]),
        [err(REQUIRED, "status.conditions[0].type", "must not be empty")],
        id="condition-type-required",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), FLOW_SCHEMA_CASES)
def test_validate_flow_schema_reports_rule(mutate: Mutation, expected: list[FieldError]) -> None:
    obj = flow_schema()
    obj["status"] = {}
    mutate(obj)

    problems = validate(FLOW_SCHEMA, obj, None)

    assert problems == expected


def fixed_flow_schema(name: str) -> Object:
    for obj in bootstrap.MANDATORY_FLOW_SCHEMAS:
        if obj["metadata"]["name"] == name:
            return copy.deepcopy(obj)
    raise LookupError(name)


@pytest.mark.parametrize("name", ["exempt", "catch-all"])
def test_validate_flow_schema_rejects_changed_fixed_spec(name: str) -> None:
    obj = fixed_flow_schema(name)
    obj["spec"]["rules"][0]["subjects"].append({"kind": "User", "user": {"name": "x"}})

    problems = validate(FLOW_SCHEMA, obj, None)

    assert problems == [err(INVALID, "spec", f"spec of '{name}' must equal the fixed value")]


def test_validate_flow_schema_accepts_fixed_spec_when_only_zero_values_differ() -> None:
    obj = fixed_flow_schema("catch-all")
    obj["spec"]["rules"][0]["resourceRules"][0]["clusterScope"] = True
    obj["spec"]["rules"][0]["nonResourceRules"][0]["extra"] = []
    obj["spec"]["rules"][0]["resourceRules"][0]["namespaces"] = ["*"]

    assert validate(FLOW_SCHEMA, obj, None) == []


PRIORITY_LEVEL_CASES = [
    pytest.param(
        setter(spec, "type", "Exempt"),
        [
            err(
                INVALID,
                "spec.type",
                "type must be 'Exempt' if and only if name is 'exempt'",
                "Exempt",
            ),
            err(FORBIDDEN, "spec.limited", "must be nil if the type is not Limited"),
        ],
        id="type-iff-name-exempt",
    ),
    pytest.param(
        lambda o: o["spec"].update(type="Exempt", limited=None, exempt={"lendablePercent": 1}),
        [
            err(
                INVALID,
                "spec.type",
                "type must be 'Exempt' if and only if name is 'exempt'",
                "Exempt",
            )
        ],
        id="type-exempt-needs-name",
    ),
    pytest.param(
        exempt_level(limited={}),
        [
            err(FORBIDDEN, "spec.limited", "must be nil if the type is not Limited"),
            err(
                INVALID,
                "spec",
                "spec of 'exempt' except the 'spec.exempt' field must equal the fixed value",
            ),
        ],
        id="exempt-limited-forbidden",
    ),
    pytest.param(
        exempt_level(nominalConcurrencyShares=-1),
        [
            err(
                INVALID,
                "spec.exempt.nominalConcurrencyShares",
                "must be a non-negative integer",
                -1,
            )
        ],
        id="exempt-shares-non-negative",
    ),
    pytest.param(
        exempt_level(lendablePercent=101),
        [
            err(
                INVALID,
                "spec.exempt.lendablePercent",
                "must be between 0 and 100, inclusive",
                101,
            )
        ],
        id="exempt-lendable-range",
    ),
    pytest.param(
        setter(spec, "exempt", {}),
        [err(FORBIDDEN, "spec.exempt", "must be nil if the type is Limited")],
        id="limited-exempt-forbidden",
    ),
    pytest.param(
        setter(spec, "limited", None),
        [err(REQUIRED, "spec.limited", "must not be empty when type is Limited")],
        id="limited-required",
    ),
    pytest.param(
        setter(limited, "nominalConcurrencyShares", 0),
        [err(INVALID, f"{LIM}.nominalConcurrencyShares", "must be positive", 0)],
        id="shares-positive",
    ),
    pytest.param(
        setter(limited, "lendablePercent", -1),
        [err(INVALID, f"{LIM}.lendablePercent", "must be between 0 and 100, inclusive", -1)],
        id="lendable-range",
    ),
    pytest.param(
        setter(limited, "borrowingLimitPercent", -5),
        [
            err(
                INVALID,
                f"{LIM}.borrowingLimitPercent",
                "if specified, must be a non-negative integer",
                -5,
            )
        ],
        id="borrowing-non-negative",
    ),
    pytest.param(
        lambda o: limited(o)["limitResponse"].update(type="Reject"),
        [
            err(
                FORBIDDEN,
                f"{LIM}.limitResponse.queuing",
                "must be nil if limited.limitResponse.type is not Limited",
            )
        ],
        id="reject-queuing-forbidden",
    ),
    pytest.param(
        lambda o: limited(o)["limitResponse"].pop("queuing"),
        [
            err(
                REQUIRED,
                f"{LIM}.limitResponse.queuing",
                "must not be empty if limited.limitResponse.type is Limited",
            )
        ],
        id="queue-queuing-required",
    ),
    pytest.param(
        lambda o: limited(o).update(limitResponse={"type": "Drop"}),
        [
            err(
                NOT_SUPPORTED,
                f"{LIM}.limitResponse.type",
                'supported values: "Queue", "Reject"',
                "Drop",
            )
        ],
        id="limit-response-type",
    ),
    pytest.param(
        setter(queuing, "queueLengthLimit", -1),
        [err(INVALID, f"{Q}.queueLengthLimit", "must be positive", -1)],
        id="queue-length-positive",
    ),
    pytest.param(
        setter(queuing, "queues", -1),
        [
            err(INVALID, f"{Q}.queues", "must be positive", -1),
            err(INVALID, f"{Q}.handSize", "should not be greater than queues (-1)", 6),
        ],
        id="queues-positive",
    ),
    pytest.param(
        setter(queuing, "queues", 10_000_001),
        [
            err(INVALID, f"{Q}.queues", "must not be greater than 10000000", 10_000_001),
            err(
                INVALID,
                f"{Q}.handSize",
                "required entropy bits of deckSize 10000001 and handSize 6 should not be "
                "greater than 60",
                6,
            ),
        ],
        id="queues-max",
    ),
    pytest.param(
        setter(queuing, "handSize", -2),
        [err(INVALID, f"{Q}.handSize", "must be positive", -2)],
        id="hand-size-positive",
    ),
    pytest.param(
        setter(queuing, "handSize", 65),
        [err(INVALID, f"{Q}.handSize", "should not be greater than queues (64)", 65)],
        id="hand-size-within-queues",
    ),
    pytest.param(
        lambda o: queuing(o).update(queues=128, handSize=9),
        [
            err(
                INVALID,
                f"{Q}.handSize",
                "required entropy bits of deckSize 128 and handSize 9 should not be greater "
                "than 60",
                9,
            )
        ],
        id="hand-size-entropy",
    ),
    pytest.param(
        setter(spec, "type", "Other"),
        [err(NOT_SUPPORTED, "spec.type", 'supported values: "Exempt", "Limited"', "Other")],
        id="type-supported",
    ),
    pytest.param(
        lambda o: o["status"].update(conditions=[{"type": "A"}, {"type": "B"}, {"type": "A"}]),
        [err(DUPLICATE, "status.conditions[2].type", value="A")],
        id="condition-type-duplicate",
    ),
    pytest.param(
        lambda o: o["status"].update(conditions=[{"status": "True"}]),
        [err(REQUIRED, "status.conditions[0].type", "must not be empty")],
        id="condition-type-required",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), PRIORITY_LEVEL_CASES)
def test_validate_priority_level_reports_rule(
    mutate: Mutation, expected: list[FieldError]
) -> None:
    obj = priority_level()
    obj["status"] = {}
    mutate(obj)

    problems = validate(PRIORITY_LEVEL, obj, None)

    assert problems == expected


def test_validate_priority_level_accepts_zero_shares_when_stored_object_had_zero() -> None:
    old = priority_level()
    limited(old)["nominalConcurrencyShares"] = 0
    new = copy.deepcopy(old)
    limited(new)["lendablePercent"] = 10

    assert validate(PRIORITY_LEVEL, new, old) == []


def test_validate_priority_level_accepts_zero_shares_when_gate_on() -> None:
    obj = priority_level()
    limited(obj)["nominalConcurrencyShares"] = 0

    assert validate(PRIORITY_LEVEL, obj, None, allow_zero_limited_ncs=True) == []


def test_validate_priority_level_rejects_negative_shares_when_gate_on() -> None:
    obj = priority_level()
    limited(obj)["nominalConcurrencyShares"] = -1

    problems = validate(PRIORITY_LEVEL, obj, None, allow_zero_limited_ncs=True)

    assert problems == [
        err(INVALID, f"{LIM}.nominalConcurrencyShares", "must be a non-negative integer", -1)
    ]


def test_validate_priority_level_names_assured_shares_when_version_is_beta() -> None:
    obj = priority_level()
    limited(obj)["nominalConcurrencyShares"] = 0

    problems = validate(PRIORITY_LEVEL, obj, None, version="v1beta2")

    assert [p.field for p in problems] == [f"{LIM}.assuredConcurrencyShares"]


def fixed_level(name: str) -> Object:
    for obj in bootstrap.MANDATORY_PRIORITY_LEVELS:
        if obj["metadata"]["name"] == name:
            return copy.deepcopy(obj)
    raise LookupError(name)


def test_validate_priority_level_rejects_changed_catch_all_spec() -> None:
    obj = fixed_level("catch-all")
    limited(obj)["nominalConcurrencyShares"] = 6

    problems = validate(PRIORITY_LEVEL, obj, None)

    assert problems == [err(INVALID, "spec", "spec of 'catch-all' must equal the fixed value")]


@pytest.mark.parametrize(
    "exempt",
    [
        pytest.param({"nominalConcurrencyShares": 7, "lendablePercent": 20}, id="changed"),
        pytest.param(None, id="omitted"),
    ],
)
def test_validate_priority_level_accepts_exempt_level_when_only_exempt_field_differs(
    exempt: Object | None,
) -> None:
    obj = fixed_level("exempt")
    obj["spec"]["exempt"] = exempt

    assert validate(PRIORITY_LEVEL, obj, None) == []


def test_validate_priority_level_rejects_exempt_level_when_other_fields_differ() -> None:
    obj = fixed_level("exempt")
    obj["spec"]["limited"] = {"nominalConcurrencyShares": 1}

    problems = validate(PRIORITY_LEVEL, obj, None)

    assert problems[-1] == err(
        INVALID,
        "spec",
        "spec of 'exempt' except the 'spec.exempt' field must equal the fixed value",
    )


@pytest.mark.parametrize("kind", [FLOW_SCHEMA, PRIORITY_LEVEL])
def test_validate_status_checks_only_conditions(kind: Kind) -> None:
    obj = flow_schema() if kind == FLOW_SCHEMA else priority_level()
    obj["spec"] = {}
    obj["status"] = {"conditions": [{"type": "X"}, {"type": "X"}]}

    problems = validate_status(kind, obj, copy.deepcopy(obj))

    assert problems == [err(DUPLICATE, "status.conditions[1].type", value="X")]


def test_validate_metadata_checks_labels_and_generate_name() -> None:
    obj = flow_schema()
    obj["metadata"] = {"generateName": "fs-", "labels": {"a/b/c": "ok", "k": "bad value"}}

    problems = validate(FLOW_SCHEMA, obj, None)

    assert [(p.type, p.field) for p in problems] == [
        (INVALID, "metadata.labels"),
        (INVALID, "metadata.labels"),
    ]


def test_field_error_message_renders_string_lists_like_go() -> None:
    problem = err(INVALID, "spec.x", "why", ["*", "get"])

    assert str(problem) == 'spec.x: Invalid value: []string{"*", "get"}: why'


@pytest.mark.parametrize(
    ("queues", "hand_size", "bits"),
    [(64, 6, 36), (128, 8, 56), (128, 9, 63), (2, 1, 1), (1, 1, 0)],
)
def test_required_entropy_bits_rounds_up(queues: int, hand_size: int, bits: int) -> None:
    assert required_entropy_bits(queues, hand_size) == bits


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(o, id=f"{o['kind']}-{o['metadata']['name']}")
        for o in (
            *bootstrap.MANDATORY_FLOW_SCHEMAS,
            *bootstrap.SUGGESTED_FLOW_SCHEMAS,
            *bootstrap.MANDATORY_PRIORITY_LEVELS,
            *bootstrap.SUGGESTED_PRIORITY_LEVELS,
        )
    ],
)
def test_bootstrap_object_passes_validation(obj: Object) -> None:
    kind = FLOW_SCHEMA if obj["kind"] == "FlowSchema" else PRIORITY_LEVEL

    assert validate(kind, obj, None) == []


def test_validate_flow_schema_renders_distinguisher_struct_like_go() -> None:
    obj = flow_schema()
    obj["spec"]["distinguisherMethod"] = {"type": "X"}

    (problem,) = validate(FLOW_SCHEMA, obj, None)

    assert problem.message() == (
        'Unsupported value: flowcontrol.FlowDistinguisherMethod{Type:"X"}: '
        'supported values: "ByNamespace", "ByUser"'
    )


def test_validate_flow_schema_reports_resource_rules_before_non_resource_rules() -> None:
    obj = flow_schema()
    rule(obj)["nonResourceRules"][0]["verbs"] = []
    rule(obj)["resourceRules"][0]["verbs"] = []

    problems = validate(FLOW_SCHEMA, obj, None)

    assert [p.field for p in problems] == [f"{RR}.verbs", f"{NR}.verbs"]


@pytest.mark.parametrize("kind", [FLOW_SCHEMA, PRIORITY_LEVEL])
def test_validate_reports_instead_of_raising_when_values_have_wrong_types(kind: Kind) -> None:
    base = flow_schema() if kind == FLOW_SCHEMA else priority_level()

    for obj in mangled(base, seed=20261204, count=500):
        problems = validate(kind, obj, None)
        assert all(isinstance(p, FieldError) for p in problems)
        assert all(p.field.split(".")[0] in ("metadata", "spec", "status") for p in problems)
