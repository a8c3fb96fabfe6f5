"""The built-in configuration of Kubernetes 1.29 (spec §4), as defaulted v1 objects.

Mandatory objects (``exempt`` and ``catch-all`` of both kinds) always exist and
their specs are fixed; suggested ones are created and kept current unless an
operator turns auto-update off. Every object carries the auto-update
annotation. The tuples hold plain dicts: callers deep-copy before changing one.
"""

from __future__ import annotations

from typing import Any

from apf.api.defaults import set_defaults
from apf.api.kinds import FLOW_SCHEMA, GROUP, PRIORITY_LEVEL, Kind

AUTO_UPDATE_ANNOTATION = "apf.kubernetes.io/autoupdate-spec"
API_VERSION = f"{GROUP}/v1"

Object = dict[str, Any]

_ALL = "*"
_CORE = ""
_COORDINATION = "coordination.k8s.io"
_LEASE_VERBS = ("get", "create", "update")


def _object(kind: Kind, name: str, spec: Object) -> Object:
    obj: Object = {
        "apiVersion": API_VERSION,
        "kind": kind.kind,
        "metadata": {"name": name, "annotations": {AUTO_UPDATE_ANNOTATION: "true"}},
        "spec": spec,
    }
    set_defaults(kind, obj)
    return obj


# --- priority levels --------------------------------------------------------------------


def _queued_level(name: str, *, shares: int, lendable: int, queues: int, hand: int) -> Object:
    queuing = {"queues": queues, "handSize": hand, "queueLengthLimit": 50}
    limited = {
        "nominalConcurrencyShares": shares,
        "lendablePercent": lendable,
        "limitResponse": {"type": "Queue", "queuing": queuing},
    }
    return _object(PRIORITY_LEVEL, name, {"type": "Limited", "limited": limited})


MANDATORY_PRIORITY_LEVELS: tuple[Object, ...] = (
    _object(
        PRIORITY_LEVEL,
        "exempt",
        {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}},
    ),
    _object(
        PRIORITY_LEVEL,
        "catch-all",
        {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 5,
                "lendablePercent": 0,
                "limitResponse": {"type": "Reject"},
            },
        },
    ),
)

SUGGESTED_PRIORITY_LEVELS: tuple[Object, ...] = (
    _queued_level("system", shares=30, lendable=33, queues=64, hand=6),
    _queued_level("node-high", shares=40, lendable=25, queues=64, hand=6),
    _queued_level("leader-election", shares=10, lendable=0, queues=16, hand=4),
    _queued_level("workload-high", shares=40, lendable=50, queues=128, hand=6),
    _queued_level("workload-low", shares=100, lendable=90, queues=128, hand=6),
    _queued_level("global-default", shares=20, lendable=50, queues=128, hand=6),
)


# --- flow schemas -----------------------------------------------------------------------


def _users(*names: str) -> list[Object]:
    return [{"kind": "User", "user": {"name": n}} for n in names]


def _groups(*names: str) -> list[Object]:
    return [{"kind": "Group", "group": {"name": n}} for n in names]


def _kube_system_accounts(*names: str) -> list[Object]:
    return [
        {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": n}}
        for n in names
    ]


def _resource_rule(
    verbs: tuple[str, ...], group: str, resources: tuple[str, ...], *, cluster_scope: bool
) -> Object:
    rule: Object = {"verbs": list(verbs), "apiGroups": [group], "resources": list(resources)}
    if cluster_scope:
        rule["clusterScope"] = True
    rule["namespaces"] = [_ALL]
    return rule


def _everything(subjects: list[Object]) -> Object:
    """A rule matching every request of ``subjects``, resource or not."""
    return {
        "subjects": subjects,
        "resourceRules": [_resource_rule((_ALL,), _ALL, (_ALL,), cluster_scope=True)],
        "nonResourceRules": [{"verbs": [_ALL], "nonResourceURLs": [_ALL]}],
    }


def _schema(
    name: str, level: str, precedence: int, distinguisher: str, rules: list[Object]
) -> Object:
    spec: Object = {
        "priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence,
    }
    if distinguisher:
        spec["distinguisherMethod"] = {"type": distinguisher}
    spec["rules"] = rules
    return _object(FLOW_SCHEMA, name, spec)


_EVERYONE = ("system:unauthenticated", "system:authenticated")
_KCM = "system:kube-controller-manager"
_SCHEDULER = "system:kube-scheduler"

MANDATORY_FLOW_SCHEMAS: tuple[Object, ...] = (
    _schema("exempt", "exempt", 1, "", [_everything(_groups("system:masters"))]),
    _schema("catch-all", "catch-all", 10000, "ByUser", [_everything(_groups(*_EVERYONE))]),
)

SUGGESTED_FLOW_SCHEMAS: tuple[Object, ...] = (
    _schema(
        "probes",
        "exempt",
        2,
        "",
        [
            {
                "subjects": _groups(*_EVERYONE),
                "nonResourceRules": [
                    {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}
                ],
            }
        ],
    ),
    _schema(
        "system-leader-election",
        "leader-election",
        100,
        "ByUser",
        [
            {
                "subjects": [*_users(_KCM, _SCHEDULER), *_kube_system_accounts(_ALL)],
                "resourceRules": [
                    _resource_rule(_LEASE_VERBS, _COORDINATION, ("leases",), cluster_scope=False)
                ],
            }
        ],
    ),
    # Present in 1.29 to 1.33 only.
    _schema(
        "endpoint-controller",
        "workload-high",
        150,
        "ByUser",
        [
            {
                "subjects": [
                    *_users(_KCM),
                    *_kube_system_accounts(
                        "endpoint-controller", "endpointslicemirroring-controller"
                    ),
                ],
                "resourceRules": [
                    _resource_rule(_LEASE_VERBS, _CORE, ("endpoints",), cluster_scope=False)
                ],
            }
        ],
    ),
    # Present in 1.29 to 1.33 only.
    _schema(
        "workload-leader-election",
        "leader-election",
        200,
        "ByUser",
        [
            {
                "subjects": _kube_system_accounts(_ALL),
                "resourceRules": [
                    _resource_rule(
                        _LEASE_VERBS, _CORE, ("endpoints", "configmaps"), cluster_scope=False
                    ),
                    _resource_rule(_LEASE_VERBS, _COORDINATION, ("leases",), cluster_scope=False),
                ],
            }
        ],
    ),
    _schema(
        "system-node-high",
        "node-high",
        400,
        "ByUser",
        [
            {
                "subjects": _groups("system:nodes"),
                "resourceRules": [
                    _resource_rule((_ALL,), _CORE, ("nodes", "nodes/status"), cluster_scope=True),
                    _resource_rule((_ALL,), _COORDINATION, ("leases",), cluster_scope=False),
                ],
            }
        ],
    ),
    _schema("system-nodes", "system", 500, "ByUser", [_everything(_groups("system:nodes"))]),
    _schema(
        "kube-controller-manager",
        "workload-high",
        800,
        "ByNamespace",
        [_everything(_users(_KCM))],
    ),
    _schema(
        "kube-scheduler",
        "workload-high",
        800,
        "ByNamespace",
        [_everything(_users(_SCHEDULER))],
    ),
    _schema(
        "kube-system-service-accounts",
        "workload-high",
        900,
        "ByNamespace",
        [_everything(_kube_system_accounts(_ALL))],
    ),
    _schema(
        "service-accounts",
        "workload-low",
        9000,
        "ByUser",
        [_everything(_groups("system:serviceaccounts"))],
    ),
    _schema(
        "global-default",
        "global-default",
        9900,
        "ByUser",
        [_everything(_groups(*_EVERYONE))],
    ),
)


def mandatory(kind: Kind, name: str) -> Object | None:
    """The mandatory object of ``kind`` named ``name``, or None."""
    pool = MANDATORY_FLOW_SCHEMAS if kind == FLOW_SCHEMA else MANDATORY_PRIORITY_LEVELS
    for obj in pool:
        if obj["metadata"]["name"] == name:
            return obj
    return None
