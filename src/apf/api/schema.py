"""The schemas of both kinds in every served version, and the OpenAPI documents built from them.

One compact table describes each type once (:data:`_FLOWCONTROL`, :data:`_META`);
everything else is derived from it:

- :func:`openapi_v3` — the per-group-version document kube-apiserver serves at
  ``/openapi/v3/apis/flowcontrol.apiserver.k8s.io/<version>``;
- :func:`openapi_v2` — the Swagger 2.0 document for older clients;
- :func:`unknown_fields` / :func:`prune` — strict decoding and pruning;
- :func:`merge_key` / :func:`list_strategy` — strategic-merge-patch metadata.

Field descriptions are our own wording, long enough for ``kubectl explain``.
The only per-version difference is the Limited shares field, named
``assuredConcurrencyShares`` in v1beta1 and v1beta2.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

from apf.api.kinds import ALL_VERSIONS, GROUP, KINDS, Kind

Object = dict[str, Any]

KUBERNETES_VERSION = "v1.29.0"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
RUNTIME = "io.k8s.apimachinery.pkg.runtime"


def flowcontrol_package(version: str) -> str:
    """The OpenAPI name prefix of the flowcontrol types of ``version``."""
    return f"io.k8s.api.flowcontrol.{version}"


# --- the type table ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prop:
    """One field. ``type`` is ``string``, ``boolean``, ``int32``, ``int64``, ``object``,
    ``map`` (string to string), a type name, or ``[]`` followed by one of those."""

    name: str
    type: str
    doc: str
    required: bool = False
    list_type: str = ""  # x-kubernetes-list-type: atomic, set or map
    map_keys: tuple[str, ...] = ()  # x-kubernetes-list-map-keys, also the patch merge key
    patch_strategy: str = ""  # x-kubernetes-patch-strategy


@dataclass(frozen=True, slots=True)
class Type:
    """One named object type; ``opaque`` types take any content."""

    doc: str
    props: tuple[Prop, ...] = ()
    union: tuple[str, tuple[tuple[str, str], ...]] | None = None
    opaque: bool = False
    scalar: Object = field(default_factory=dict)


_TYPE_META = (
    Prop(
        "apiVersion",
        "string",
        "The versioned schema of this representation of an object, such as "
        "flowcontrol.apiserver.k8s.io/v1. Servers convert recognized schemas to their latest "
        "internal value and may reject unrecognized ones.",
    ),
    Prop(
        "kind",
        "string",
        "The REST resource this object represents, in CamelCase, such as FlowSchema. It may "
        "be inferred from the endpoint the client submits requests to. Cannot be updated.",
    ),
)
_CONDITION_PROPS = (
    Prop(
        "lastTransitionTime",
        "Time",
        "The last time the condition moved from one status to another.",
    ),
    Prop("message", "string", "A human-readable explanation of the last transition."),
    Prop("reason", "string", "A unique, one-word, CamelCase reason for the last transition."),
    Prop("status", "string", "The status of the condition: True, False or Unknown."),
    Prop("type", "string", "The type of the condition."),
)
_SET = "set"
_ATOMIC = "atomic"


def _flowcontrol_types(version: str) -> dict[str, Type]:
    shares = (
        "assuredConcurrencyShares"
        if version in ("v1beta1", "v1beta2")
        else "nominalConcurrencyShares"
    )
    return {
        "FlowSchema": Type(
            "A FlowSchema classifies inbound requests into flows and sends each to a priority "
            "level. A request matches a schema when one of its rules matches; the matching "
            "schema with the lowest matchingPrecedence wins.",
            (
                *_TYPE_META,
                Prop("metadata", "ObjectMeta", "Standard object metadata."),
                Prop("spec", "FlowSchemaSpec", "The desired behaviour of this FlowSchema."),
                Prop("status", "FlowSchemaStatus", "The observed state of this FlowSchema."),
            ),
        ),
        "FlowSchemaList": Type(
            "A list of FlowSchema objects.",
            (
                *_TYPE_META,
                Prop("items", "[]FlowSchema", "The FlowSchemas.", required=True),
                Prop("metadata", "ListMeta", "Standard list metadata."),
            ),
        ),
        "FlowSchemaSpec": Type(
            "The desired behaviour of a FlowSchema: what it matches and where it sends it.",
            (
                Prop(
                    "distinguisherMethod",
                    "FlowDistinguisherMethod",
                    "How matching requests are split into flows. When absent, all requests "
                    "matching this schema form one flow.",
                ),
                Prop(
                    "matchingPrecedence",
                    "int32",
                    "The order in which schemas are tried: lower values first. Must be "
                    "between 1 and 10000; only the schema named 'exempt' may use 1. Defaults "
                    "to 1000.",
                ),
                Prop(
                    "priorityLevelConfiguration",
                    "PriorityLevelConfigurationReference",
                    "The priority level that requests matching this schema are sent to. A "
                    "reference to a missing level marks the schema Dangling. Required.",
                    required=True,
                ),
                Prop(
                    "rules",
                    "[]PolicyRulesWithSubjects",
                    "The conditions a request must meet to match this schema; the schema "
                    "matches when at least one rule does. An empty list matches nothing.",
                    list_type=_ATOMIC,
                ),
            ),
        ),
        "FlowDistinguisherMethod": Type(
            "How requests of one schema are divided into flows.",
            (
                Prop(
                    "type",
                    "string",
                    "ByUser splits flows by the requesting user; ByNamespace by the "
                    "namespace of the object. Required.",
                    required=True,
                ),
            ),
        ),
        "PriorityLevelConfigurationReference": Type(
            "A reference to a priority level by name.",
            (Prop("name", "string", "The name of the priority level. Required.", required=True),),
        ),
        "PolicyRulesWithSubjects": Type(
            "A rule: some subjects, and what those subjects do. A request matches when it "
            "comes from one of the subjects and matches at least one resource or non-resource "
            "rule.",
            (
                Prop(
                    "nonResourceRules",
                    "[]NonResourcePolicyRule",
                    "Verbs and URL paths of requests that are not about a resource.",
                    list_type=_ATOMIC,
                ),
                Prop(
                    "resourceRules",
                    "[]ResourcePolicyRule",
                    "Verbs and resources of resource requests. At least one of resourceRules "
                    "and nonResourceRules must be non-empty.",
                    list_type=_ATOMIC,
                ),
                Prop(
                    "subjects",
                    "[]Subject",
                    "The users, groups or service accounts this rule is about. Must not be empty.",
                    required=True,
                    list_type=_ATOMIC,
                ),
            ),
        ),
        "Subject": Type(
            "Who made a request: a user, a group or a service account, chosen by kind.",
            (
                Prop("group", "GroupSubject", "The group; set only when kind is Group."),
                Prop(
                    "kind",
                    "string",
                    "Which of the other fields is set: User, Group or ServiceAccount. Required.",
                    required=True,
                ),
                Prop(
                    "serviceAccount",
                    "ServiceAccountSubject",
                    "The service account; set only when kind is ServiceAccount.",
                ),
                Prop("user", "UserSubject", "The user; set only when kind is User."),
            ),
            union=(
                "kind",
                (("group", "Group"), ("serviceAccount", "ServiceAccount"), ("user", "User")),
            ),
        ),
        "UserSubject": Type(
            "A user, by name.",
            (
                Prop(
                    "name",
                    "string",
                    "The user name; '*' matches every user. Required.",
                    required=True,
                ),
            ),
        ),
        "GroupSubject": Type(
            "A user group, by name.",
            (
                Prop(
                    "name",
                    "string",
                    "The group name, such as system:authenticated; '*' matches every group. "
                    "Required.",
                    required=True,
                ),
            ),
        ),
        "ServiceAccountSubject": Type(
            "A service account, by namespace and name.",
            (
                Prop(
                    "name",
                    "string",
                    "The service account name; '*' matches every account in the namespace. "
                    "Required.",
                    required=True,
                ),
                Prop(
                    "namespace",
                    "string",
                    "The namespace of the service account. Required.",
                    required=True,
                ),
            ),
        ),
        "ResourcePolicyRule": Type(
            "Matches resource requests by verb, API group, resource and namespace. Every list "
            "must match; '*' in a list matches everything and must then be its only member.",
            (
                Prop(
                    "apiGroups",
                    "[]string",
                    'The API groups to match; "" is the core group. Required.',
                    required=True,
                    list_type=_SET,
                ),
                Prop(
                    "clusterScope",
                    "boolean",
                    "Whether requests without a namespace (cluster-scoped resources, or "
                    "lists across all namespaces) match. When false, namespaces must not be "
                    "empty.",
                ),
                Prop(
                    "namespaces",
                    "[]string",
                    "The namespaces to match; '*' matches any namespace but not requests "
                    "without one.",
                    list_type=_SET,
                ),
                Prop(
                    "resources",
                    "[]string",
                    "The resources to match, as lowercase plurals, optionally with a "
                    "subresource (pods/log). Required.",
                    required=True,
                    list_type=_SET,
                ),
                Prop(
                    "verbs",
                    "[]string",
                    "The verbs to match, such as get, list or watch. Required.",
                    required=True,
                    list_type=_SET,
                ),
            ),
        ),
        "NonResourcePolicyRule": Type(
            "Matches requests that are not about a resource, by verb and URL path.",
            (
                Prop(
                    "nonResourceURLs",
                    "[]string",
                    "The URL paths to match, such as /healthz; a trailing /* matches a "
                    "prefix and '*' alone matches every path. Required.",
                    required=True,
                    list_type=_SET,
                ),
                Prop(
                    "verbs",
                    "[]string",
                    "The verbs to match, such as get; '*' matches every verb. Required.",
                    required=True,
                    list_type=_SET,
                ),
            ),
        ),
        "FlowSchemaStatus": Type(
            "The observed state of a FlowSchema.",
            (
                Prop(
                    "conditions",
                    "[]FlowSchemaCondition",
                    "The current conditions of the FlowSchema, such as Dangling.",
                    list_type="map",
                    map_keys=("type",),
                    patch_strategy="merge",
                ),
            ),
        ),
        "FlowSchemaCondition": Type("One condition of a FlowSchema.", _CONDITION_PROPS),
        "PriorityLevelConfiguration": Type(
            "A priority level: how much of the server's concurrency a class of requests gets "
            "and what happens to requests beyond it.",
            (
                *_TYPE_META,
                Prop("metadata", "ObjectMeta", "Standard object metadata."),
                Prop(
                    "spec",
                    "PriorityLevelConfigurationSpec",
                    "The desired behaviour of this priority level.",
                ),
                Prop(
                    "status",
                    "PriorityLevelConfigurationStatus",
                    "The observed state of this priority level.",
                ),
            ),
        ),
        "PriorityLevelConfigurationList": Type(
            "A list of PriorityLevelConfiguration objects.",
            (
                *_TYPE_META,
                Prop(
                    "items",
                    "[]PriorityLevelConfiguration",
                    "The priority levels.",
                    required=True,
                ),
                Prop("metadata", "ListMeta", "Standard list metadata."),
            ),
        ),
        "PriorityLevelConfigurationSpec": Type(
            "The desired behaviour of a priority level; which part is set follows the type.",
            (
                Prop(
                    "exempt",
                    "ExemptPriorityLevelConfiguration",
                    "Settings of an Exempt level; must be absent for other types.",
                ),
                Prop(
                    "limited",
                    "LimitedPriorityLevelConfiguration",
                    "Settings of a Limited level; required when type is Limited.",
                ),
                Prop(
                    "type",
                    "string",
                    "Exempt levels are not limited at all (only the level named 'exempt' "
                    "may be Exempt); Limited levels get a share of the server's concurrency. "
                    "Required.",
                    required=True,
                ),
            ),
            union=("type", (("exempt", "Exempt"), ("limited", "Limited"))),
        ),
        "ExemptPriorityLevelConfiguration": Type(
            "Settings of an Exempt level. Its requests are never held back; the numbers only "
            "affect how concurrency is shared with other levels.",
            (
                Prop(
                    "lendablePercent",
                    "int32",
                    "The percentage of this level's nominal concurrency that other levels "
                    "may borrow, 0 to 100. Defaults to 0.",
                ),
                Prop(
                    "nominalConcurrencyShares",
                    "int32",
                    "This level's share of the server's concurrency limit, relative to the "
                    "shares of the other levels. Non-negative; defaults to 0.",
                ),
            ),
        ),
        "LimitedPriorityLevelConfiguration": Type(
            "Settings of a Limited level: its concurrency share, lending and borrowing, and "
            "what to do with requests that cannot run yet.",
            (
                Prop(
                    "borrowingLimitPercent",
                    "int32",
                    "How much this level may borrow from others, as a percentage of its "
                    "nominal concurrency. Non-negative, may exceed 100; absent means no limit.",
                ),
                Prop(
                    "lendablePercent",
                    "int32",
                    "The percentage of this level's nominal concurrency that other levels "
                    "may borrow, 0 to 100. Defaults to 0.",
                ),
                Prop(
                    "limitResponse",
                    "LimitResponse",
                    "What happens to requests that cannot be executed right away.",
                ),
                Prop(
                    shares,
                    "int32",
                    "This level's share of the server's concurrency limit: its nominal "
                    "concurrency is the limit times this number divided by the sum over all "
                    "Limited levels, rounded up. Positive; defaults to 30.",
                ),
            ),
        ),
        "LimitResponse": Type(
            "What a priority level does with requests beyond its concurrency.",
            (
                Prop(
                    "queuing",
                    "QueuingConfiguration",
                    "Queue settings; required when type is Queue, absent otherwise.",
                ),
                Prop(
                    "type",
                    "string",
                    "Queue holds excess requests in queues; Reject refuses them at once with "
                    "HTTP 429. Required.",
                    required=True,
                ),
            ),
            union=("type", (("queuing", "Queuing"),)),
        ),
        "QueuingConfiguration": Type(
            "Fair queuing settings. Each flow is shuffle-sharded onto handSize of the queues "
            "and its requests go to the shortest of them.",
            (
                Prop(
                    "handSize",
                    "int32",
                    "How many queues each flow may use. Not more than queues; with queues it "
                    "must need at most 60 bits of hash. Defaults to 8.",
                ),
                Prop(
                    "queueLengthLimit",
                    "int32",
                    "How many requests may wait in one queue; beyond that they are rejected. "
                    "Positive; defaults to 50.",
                ),
                Prop(
                    "queues",
                    "int32",
                    "The number of queues of this level. Positive; defaults to 64.",
                ),
            ),
        ),
        "PriorityLevelConfigurationStatus": Type(
            "The observed state of a priority level.",
            (
                Prop(
                    "conditions",
                    "[]PriorityLevelConfigurationCondition",
                    "The current conditions of the priority level.",
                    list_type="map",
                    map_keys=("type",),
                    patch_strategy="merge",
                ),
            ),
        ),
        "PriorityLevelConfigurationCondition": Type(
            "One condition of a priority level.", _CONDITION_PROPS
        ),
    }


_META_TYPES: dict[str, Type] = {
    "ObjectMeta": Type(
        "Metadata every persisted object has.",
        (
            Prop("annotations", "map", "Unstructured key/value data kept with the object."),
            Prop("creationTimestamp", "Time", "When the object was created. Read-only."),
            Prop(
                "deletionGracePeriodSeconds",
                "int64",
                "Seconds the object is given to terminate gracefully. Read-only.",
            ),
            Prop("deletionTimestamp", "Time", "When the object will be deleted. Read-only."),
            Prop(
                "finalizers",
                "[]string",
                "Entries that must be removed before the object is deleted.",
                list_type=_SET,
                patch_strategy="merge",
            ),
            Prop(
                "generateName",
                "string",
                "A prefix the server completes with random characters when name is empty.",
            ),
            Prop(
                "generation",
                "int64",
                "A sequence number of the desired state, raised when the spec changes. Read-only.",
            ),
            Prop("labels", "map", "Key/value pairs to organise and select objects."),
            Prop(
                "managedFields",
                "[]ManagedFieldsEntry",
                "Which field managers own which fields. Internal to server-side apply.",
                list_type=_ATOMIC,
            ),
            Prop("name", "string", "The object's name, unique within its kind."),
            Prop("namespace", "string", "The object's namespace; empty for these kinds."),
            Prop(
                "ownerReferences",
                "[]OwnerReference",
                "Objects this one depends on; it is garbage collected after they are gone.",
                list_type="map",
                map_keys=("uid",),
                patch_strategy="merge",
            ),
            Prop(
                "resourceVersion",
                "string",
                "An opaque value identifying this version of the object, for optimistic "
                "concurrency, watch and list. Read-only.",
            ),
            Prop("selfLink", "string", "Deprecated and unused."),
            Prop("uid", "string", "A unique identifier of the object, set on creation."),
        ),
    ),
    "ManagedFieldsEntry": Type(
        "The fields one manager owns through one operation.",
        (
            Prop("apiVersion", "string", "The version the fields are described in."),
            Prop("fieldsType", "string", "The format of fieldsV1; only FieldsV1."),
            Prop("fieldsV1", "FieldsV1", "The set of owned fields."),
            Prop("manager", "string", "The name of the manager."),
            Prop("operation", "string", "Apply or Update."),
            Prop("subresource", "string", "The subresource written, if any."),
            Prop("time", "Time", "When the fields were last changed."),
        ),
    ),
    "FieldsV1": Type("A set of fields in the FieldsV1 trie format.", opaque=True),
    "OwnerReference": Type(
        "A reference to an owning object.",
        (
            Prop("apiVersion", "string", "API version of the owner.", required=True),
            Prop(
                "blockOwnerDeletion",
                "boolean",
                "Whether the owner waits for this object in foreground deletion.",
            ),
            Prop("controller", "boolean", "Whether the owner is the managing controller."),
            Prop("kind", "string", "Kind of the owner.", required=True),
            Prop("name", "string", "Name of the owner.", required=True),
            Prop("uid", "string", "UID of the owner.", required=True),
        ),
    ),
    "ListMeta": Type(
        "Metadata of a list.",
        (
            Prop(
                "continue",
                "string",
                "A token to fetch the next page when the list was limited.",
            ),
            Prop(
                "remainingItemCount",
                "int64",
                "How many items follow this page, when known.",
            ),
            Prop("resourceVersion", "string", "The version of the collection listed."),
            Prop("selfLink", "string", "Deprecated and unused."),
        ),
    ),
    "Time": Type(
        "A timestamp in RFC 3339 form, with second precision.",
        scalar={"type": "string", "format": "date-time"},
    ),
    "Status": Type(
        "The result of an operation that returns no object, or of a failed one.",
        (
            *_TYPE_META,
            Prop("code", "int32", "The HTTP status code."),
            Prop("details", "StatusDetails", "Reason-specific detail."),
            Prop("message", "string", "A human-readable description of the outcome."),
            Prop("metadata", "ListMeta", "Standard list metadata."),
            Prop("reason", "string", "A machine-readable reason, such as NotFound."),
            Prop("status", "string", "Success or Failure."),
        ),
    ),
    "StatusDetails": Type(
        "More about a Status: the object concerned and the causes.",
        (
            Prop(
                "causes",
                "[]StatusCause",
                "The individual problems, such as one per invalid field.",
                list_type=_ATOMIC,
            ),
            Prop("group", "string", "The group of the object."),
            Prop("kind", "string", "The kind of the object."),
            Prop("name", "string", "The name of the object."),
            Prop("retryAfterSeconds", "int32", "When the client may retry."),
            Prop("uid", "string", "The UID of the object."),
        ),
    ),
    "StatusCause": Type(
        "One cause of a failure.",
        (
            Prop("field", "string", "The path of the field at fault, such as spec.type."),
            Prop("message", "string", "A human-readable description of the cause."),
            Prop("reason", "string", "A machine-readable cause, such as FieldValueInvalid."),
        ),
    ),
    "DeleteOptions": Type(
        "Options of a delete request.",
        (
            *_TYPE_META,
            Prop(
                "dryRun",
                "[]string",
                "When All, the deletion is checked but not persisted.",
                list_type=_ATOMIC,
            ),
            Prop("gracePeriodSeconds", "int64", "Seconds before the object is deleted."),
            Prop("orphanDependents", "boolean", "Deprecated: use propagationPolicy."),
            Prop("preconditions", "Preconditions", "Must hold for the deletion to happen."),
            Prop("propagationPolicy", "string", "Orphan, Background or Foreground."),
        ),
    ),
    "Preconditions": Type(
        "Conditions on the stored object for an operation to proceed.",
        (
            Prop("resourceVersion", "string", "The resourceVersion the object must have."),
            Prop("uid", "string", "The UID the object must have."),
        ),
    ),
    "Patch": Type("A patch document, in the format its content type names.", opaque=True),
    "WatchEvent": Type(
        "One event of a watch stream.",
        (
            Prop(
                "object",
                "RawExtension",
                "The object (ADDED, MODIFIED, DELETED), a bookmark, or a Status (ERROR).",
                required=True,
            ),
            Prop(
                "type",
                "string",
                "ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.",
                required=True,
            ),
        ),
    ),
    "RawExtension": Type("An embedded object of any kind.", opaque=True),
    "APIResourceList": Type(
        "The resources served in one group version.",
        (
            *_TYPE_META,
            Prop("groupVersion", "string", "The group version listed.", required=True),
            Prop(
                "resources",
                "[]APIResource",
                "The resources.",
                required=True,
                list_type=_ATOMIC,
            ),
        ),
    ),
    "APIResource": Type(
        "One served resource.",
        (
            Prop("categories", "[]string", "Groupings such as all.", list_type=_ATOMIC),
            Prop("group", "string", "The preferred group, when different."),
            Prop("kind", "string", "The kind of the resource.", required=True),
            Prop("name", "string", "The plural name of the resource.", required=True),
            Prop("namespaced", "boolean", "Whether it is namespaced.", required=True),
            Prop("shortNames", "[]string", "Short aliases.", list_type=_ATOMIC),
            Prop("singularName", "string", "The singular name.", required=True),
            Prop("storageVersionHash", "string", "A hash of the storage version."),
            Prop("verbs", "[]string", "The supported verbs.", required=True),
            Prop("version", "string", "The preferred version, when different."),
        ),
    ),
}
_RUNTIME_TYPES = frozenset({"RawExtension"})


@functools.cache
def _types(version: str) -> dict[str, Type]:
    """Every type of ``version``, keyed by its short name."""
    return {**_META_TYPES, **_flowcontrol_types(version)}


def _full_name(short: str, version: str) -> str:
    if short in _RUNTIME_TYPES:
        return f"{RUNTIME}.{short}"
    if short in _META_TYPES:
        return f"{META}.{short}"
    return f"{flowcontrol_package(version)}.{short}"


# --- rendering as OpenAPI ---------------------------------------------------------------


_SCALARS: dict[str, Object] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "object": {"type": "object"},
    "map": {"type": "object", "additionalProperties": {"type": "string", "default": ""}},
}


def _ref(short: str, version: str, *, v3: bool) -> Object:
    prefix = "#/components/schemas/" if v3 else "#/definitions/"
    return {"$ref": prefix + _full_name(short, version)}


def _type_schema(type_name: str, version: str, *, v3: bool) -> Object:
    if type_name.startswith("[]"):
        return {"type": "array", "items": _type_schema(type_name[2:], version, v3=v3)}
    if type_name in _SCALARS:
        return copy.deepcopy(_SCALARS[type_name])
    ref = _ref(type_name, version, v3=v3)
    # kube-openapi v3 wraps references in allOf so a sibling description is allowed.
    return {"allOf": [ref]} if v3 else ref


def _prop_schema(prop: Prop, version: str, *, v3: bool) -> Object:
    schema = _type_schema(prop.type, version, v3=v3)
    schema["description"] = prop.doc
    if prop.list_type:
        schema["x-kubernetes-list-type"] = prop.list_type
    if prop.map_keys:
        schema["x-kubernetes-list-map-keys"] = list(prop.map_keys)
    if prop.patch_strategy:
        schema["x-kubernetes-patch-strategy"] = prop.patch_strategy
        if prop.map_keys:
            schema["x-kubernetes-patch-merge-key"] = prop.map_keys[0]
    return schema


_TOP_LEVEL = frozenset(name for kind in KINDS for name in (kind.kind, kind.list_kind))


def _gvk_list(short: str, version: str) -> list[Object]:
    """The ``x-kubernetes-group-version-kind`` entries of a named type, if any."""
    if short in _TOP_LEVEL:
        return [{"group": GROUP, "kind": short, "version": version}]
    if short in ("DeleteOptions", "WatchEvent"):
        # Shared types, served in every group version of the server.
        return [
            {"group": "", "kind": short, "version": "v1"},
            *({"group": GROUP, "kind": short, "version": v} for v in ALL_VERSIONS),
        ]
    if short == "Status":
        return [{"group": "", "kind": "Status", "version": "v1"}]
    return []


def _named_schema(short: str, type_: Type, version: str, *, v3: bool) -> Object:
    if type_.scalar:
        return {"description": type_.doc, **type_.scalar}
    schema: Object = {"description": type_.doc, "type": "object"}
    if type_.props:
        schema["properties"] = {p.name: _prop_schema(p, version, v3=v3) for p in type_.props}
        required = [p.name for p in type_.props if p.required]
        if required:
            schema["required"] = required
    if type_.union:
        discriminator, members = type_.union
        schema["x-kubernetes-unions"] = [
            {"discriminator": discriminator, "fields-to-discriminateBy": dict(members)}
        ]
    gvk = _gvk_list(short, version)
    if gvk:
        schema["x-kubernetes-group-version-kind"] = gvk
    return schema


def _definitions(version: str, *, v3: bool) -> dict[str, Object]:
    return {
        _full_name(short, version): _named_schema(short, type_, version, v3=v3)
        for short, type_ in _types(version).items()
    }


# --- paths ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str
    doc: str
    location: str = "query"


_PARAMS = {
    p.name: p
    for p in (
        Param("pretty", "string", "If 'true', the output is indented."),
        Param("name", "string", "The name of the object.", "path"),
        Param("allowWatchBookmarks", "boolean", "Ask for BOOKMARK events in a watch."),
        Param("continue", "string", "The token of the next page from a previous list."),
        Param("fieldSelector", "string", "Select objects by fields; default everything."),
        Param("labelSelector", "string", "Select objects by labels; default everything."),
        Param("limit", "integer", "The maximum number of items in one page."),
        Param("resourceVersion", "string", "The version to read at; see the API concepts."),
        Param("resourceVersionMatch", "string", "How resourceVersion applies to a list."),
        Param("sendInitialEvents", "boolean", "Start a watch with the current objects."),
        Param("timeoutSeconds", "integer", "End the list or watch after this many seconds."),
        Param("watch", "boolean", "Watch for changes instead of listing."),
        Param(
            "dryRun",
            "string",
            "When All, the request is processed fully but nothing is persisted.",
        ),
        Param("fieldManager", "string", "The name of the actor making the change."),
        Param(
            "fieldValidation",
            "string",
            "What to do with unknown or duplicate fields: Ignore, Warn or Strict.",
        ),
        Param("force", "boolean", "Take over conflicting fields in an apply patch."),
        Param("gracePeriodSeconds", "integer", "Seconds before the object is deleted."),
        Param("orphanDependents", "boolean", "Deprecated: use propagationPolicy."),
        Param("propagationPolicy", "string", "Orphan, Background or Foreground."),
    )
}
_LIST_PARAMS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_DELETE_COLLECTION_PARAMS = (
    "continue",
    "dryRun",
    "fieldSelector",
    "gracePeriodSeconds",
    "labelSelector",
    "limit",
    "orphanDependents",
    "propagationPolicy",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
)
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_JSON_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_WATCH_TYPES = (
    *_JSON_TYPES,
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
)


def _param(name: str, *, v3: bool) -> Object:
    param = _PARAMS[name]
    rendered: Object = {"name": param.name, "in": param.location, "description": param.doc}
    if param.location == "path":
        rendered["required"] = True
    kind: Object = {"type": param.type, "uniqueItems": True}
    if v3:
        rendered["schema"] = kind
    else:
        rendered.update(kind)
    return rendered


@dataclass(frozen=True, slots=True)
class _Op:
    """One operation: HTTP method, action, id verb, parameters, body and answers."""

    method: str
    action: str
    verb: str  # operation id template over {g} (group and version) and {k} (kind)
    params: tuple[str, ...]
    body: str = ""  # short type name of the request body
    answers: tuple[tuple[str, str], ...] = ()  # (HTTP code, short type name)
    watch: bool = False


def _operations(kind: Kind) -> dict[str, tuple[_Op, ...]]:
    """Operations per path suffix (relative to the version root)."""
    k, lst = kind.kind, kind.list_kind
    return {
        f"/{kind.plural}": (
            _Op("get", "list", "list{g}{k}", _LIST_PARAMS, answers=(("200", lst),), watch=True),
            _Op(
                "post",
                "post",
                "create{g}{k}",
                _WRITE_PARAMS,
                body=k,
                answers=(("200", k), ("201", k), ("202", k)),
            ),
            _Op(
                "delete",
                "deletecollection",
                "delete{g}Collection{k}",
                _DELETE_COLLECTION_PARAMS,
                body="DeleteOptions",
                answers=(("200", "Status"),),
            ),
        ),
        f"/{kind.plural}/{{name}}": _item_operations(k, ""),
        f"/{kind.plural}/{{name}}/status": _item_operations(k, "Status")[:3],
        f"/watch/{kind.plural}": (
            _Op(
                "get",
                "watchlist",
                "watch{g}{k}List",
                _LIST_PARAMS,
                answers=(("200", "WatchEvent"),),
            ),
        ),
        f"/watch/{kind.plural}/{{name}}": (
            _Op("get", "watch", "watch{g}{k}", _LIST_PARAMS, answers=(("200", "WatchEvent"),)),
        ),
    }


def _item_operations(k: str, suffix: str) -> tuple[_Op, ...]:
    return (
        _Op("get", "get", "read{g}{k}" + suffix, (), answers=(("200", k),)),
        _Op(
            "put",
            "put",
            "replace{g}{k}" + suffix,
            _WRITE_PARAMS,
            body=k,
            answers=(("200", k), ("201", k)),
        ),
        _Op(
            "patch",
            "patch",
            "patch{g}{k}" + suffix,
            (*_WRITE_PARAMS, "force"),
            body="Patch",
            answers=(("200", k), ("201", k)),
        ),
        _Op(
            "delete",
            "delete",
            "delete{g}{k}" + suffix,
            _DELETE_PARAMS,
            body="DeleteOptions",
            answers=(("200", "Status"), ("202", "Status")),
        ),
    )


def _operation_id(op: _Op, kind: Kind, version: str) -> str:
    """Kubernetes' operation id, e.g. ``patchFlowcontrolApiserverV1FlowSchemaStatus``."""
    group_word = "FlowcontrolApiserver" + version[0].upper() + version[1:]
    return op.verb.format(g=group_word, k=kind.kind)


def _render_op(op: _Op, kind: Kind, version: str, *, v3: bool) -> Object:
    tag = f"flowcontrolApiserver_{version}"
    rendered: Object = {
        "tags": [tag],
        "description": f"{op.action} {kind.kind} objects",
        "operationId": _operation_id(op, kind, version),
        "parameters": [_param(p, v3=v3) for p in op.params],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": {"group": GROUP, "kind": kind.kind, "version": version},
    }
    media = (*_WATCH_TYPES,) if op.watch or op.action.startswith("watch") else _JSON_TYPES
    if op.body:
        body_types = _PATCH_TYPES if op.body == "Patch" else ("*/*",)
        _render_body(rendered, op.body, body_types, version, v3=v3)
    responses: Object = {}
    for code, short in op.answers:
        schema = _ref(short, version, v3=v3)
        if v3:
            responses[code] = {
                "description": "OK",
                "content": {m: {"schema": schema} for m in media},
            }
        else:
            responses[code] = {"description": "OK", "schema": schema}
    responses["401"] = {"description": "Unauthorized"}
    rendered["responses"] = responses
    if not v3:
        rendered["consumes"] = list(_PATCH_TYPES) if op.body == "Patch" else ["*/*"]
        rendered["produces"] = list(media)
        rendered["schemes"] = ["https"]
    return rendered


def _render_body(
    rendered: Object, short: str, media: tuple[str, ...], version: str, *, v3: bool
) -> None:
    schema = _ref(short, version, v3=v3)
    if v3:
        rendered["requestBody"] = {
            "content": {m: {"schema": schema} for m in media},
            "required": short != "DeleteOptions",
        }
    else:
        rendered["parameters"].insert(
            0,
            {"name": "body", "in": "body", "required": short != "DeleteOptions", "schema": schema},
        )


def _paths(version: str, *, v3: bool) -> dict[str, Object]:
    root = f"/apis/{GROUP}/{version}"
    paths: dict[str, Object] = {f"{root}/": _resources_path(version, v3=v3)}
    for kind in KINDS:
        for suffix, ops in _operations(kind).items():
            item: Object = {op.method: _render_op(op, kind, version, v3=v3) for op in ops}
            common = ["pretty"] if "/watch/" not in suffix else []
            if "{name}" in suffix:
                common.insert(0, "name")
            item["parameters"] = [_param(p, v3=v3) for p in common]
            paths[root + suffix] = item
    return paths


def _resources_path(version: str, *, v3: bool) -> Object:
    schema = _ref("APIResourceList", version, v3=v3)
    if v3:
        answer: Object = {
            "description": "OK",
            "content": {m: {"schema": schema} for m in _JSON_TYPES},
        }
    else:
        answer = {"description": "OK", "schema": schema}
    group_word = "FlowcontrolApiserver" + version[0].upper() + version[1:]
    return {
        "get": {
            "tags": [f"flowcontrolApiserver_{version}"],
            "description": "get available resources",
            "operationId": f"get{group_word}APIResources",
            "responses": {"200": answer, "401": {"description": "Unauthorized"}},
        }
    }


# --- public documents -------------------------------------------------------------------

_BEARER = {
    "type": "apiKey",
    "name": "authorization",
    "in": "header",
    "description": "Bearer token authentication",
}


@functools.cache
def _openapi_v3(version: str) -> Object:
    if version not in ALL_VERSIONS:
        raise ValueError(f"unsupported version {version!r} of {GROUP}")
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": _paths(version, v3=True),
        "components": {
            "schemas": _definitions(version, v3=True),
            "securitySchemes": {"BearerToken": _BEARER},
        },
        "security": [{"BearerToken": []}],
    }


def openapi_v3(version: str) -> Object:
    """The OpenAPI v3 document of ``flowcontrol.apiserver.k8s.io/<version>`` (a fresh copy)."""
    return copy.deepcopy(_openapi_v3(version))


def openapi_v2(versions: tuple[str, ...] = ALL_VERSIONS) -> Object:
    """A Swagger 2.0 document with the definitions and paths of ``versions``."""
    definitions: dict[str, Object] = {}
    paths: dict[str, Object] = {}
    for version in versions:
        definitions.update(_definitions(version, v3=False))
        paths.update(_paths(version, v3=False))
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": _BEARER},
        "security": [{"BearerToken": []}],
    }


# --- walking objects against the table --------------------------------------------------


def _kind_type(kind: Kind, obj: Object) -> str:
    return kind.list_kind if str(obj.get("kind") or "").endswith("List") else kind.kind


def unknown_fields(kind: Kind, obj: Object, version: str) -> list[str]:
    """Dotted paths of fields ``version``'s schema does not declare, in document order.

    Paths read like ``spec.foo`` and ``spec.rules[0].bar``; Kubernetes words each as
    ``unknown field "spec.foo"``.
    """
    found: list[str] = []
    _walk(obj, _kind_type(kind, obj), version, "", found, prune=False)
    return found


def prune(kind: Kind, obj: Object, version: str) -> Object:
    """A copy of ``obj`` without the fields ``version``'s schema does not declare."""
    pruned = copy.deepcopy(obj)
    _walk(pruned, _kind_type(kind, obj), version, "", [], prune=True)
    return pruned


def _walk(
    value: object, type_name: str, version: str, path: str, found: list[str], *, prune: bool
) -> None:
    if type_name.startswith("[]"):
        if isinstance(value, list):
            for index, item in enumerate(value):
                _walk(item, type_name[2:], version, f"{path}[{index}]", found, prune=prune)
        return
    type_ = _types(version).get(type_name)
    if type_ is None or type_.opaque or type_.scalar or not isinstance(value, dict):
        return
    props = {p.name: p for p in type_.props}
    for key in list(value):
        child = f"{path}.{key}" if path else key
        prop = props.get(key)
        if prop is None:
            found.append(child)
            if prune:
                del value[key]
            continue
        _walk(value[key], prop.type, version, child, found, prune=prune)


def _prop_at(kind: Kind, path: tuple[str, ...], version: str) -> Prop | None:
    type_name = kind.kind
    prop: Prop | None = None
    for key in path:
        type_ = _types(version).get(type_name.removeprefix("[]"))
        if type_ is None:
            return None
        prop = next((p for p in type_.props if p.name == key), None)
        if prop is None:
            return None
        type_name = prop.type
    return prop


def known_fields(
    kind: Kind, path: str | tuple[str, ...] = (), version: str = "v1"
) -> frozenset[str] | None:
    """Field names declared for the object at ``path`` (``""`` is the top level).

    None when the path is unknown or leads to free-form content (labels,
    ``fieldsV1``) where any key is accepted.
    """
    steps = _as_path(path) if path else ()
    if steps:
        prop = _prop_at(kind, steps, version)
        if prop is None:
            return None
        type_name = prop.type.removeprefix("[]")
    else:
        type_name = kind.kind
    type_ = _types(version).get(type_name)
    if type_ is None or type_.opaque or type_.scalar:
        return None
    return frozenset(p.name for p in type_.props)


def _as_path(path: str | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(path.split(".")) if isinstance(path, str) else path


def merge_key(kind: Kind, path: str | tuple[str, ...], version: str = "v1") -> str | None:
    """The strategic-merge key of the list at ``path`` (``status.conditions`` → ``type``)."""
    prop = _prop_at(kind, _as_path(path), version)
    if prop is None or prop.patch_strategy != "merge" or not prop.map_keys:
        return None
    return prop.map_keys[0]


def list_strategy(kind: Kind, path: str | tuple[str, ...], version: str = "v1") -> str:
    """How strategic merge treats the list at ``path``: ``merge`` or ``replace``."""
    prop = _prop_at(kind, _as_path(path), version)
    if prop is not None and prop.patch_strategy == "merge":
        return "merge"
    return "replace"
