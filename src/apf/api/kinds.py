"""The two resources this server serves, and the API versions they are served in."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "flowcontrol.apiserver.k8s.io"
PREFERRED_VERSION = "v1"
# Served by default, as in Kubernetes 1.29 (v1beta3 is deprecated but on).
DEFAULT_VERSIONS = ("v1", "v1beta3")
# Off by default; enabled with --runtime-config=flowcontrol.apiserver.k8s.io/v1beta2=true.
OPTIONAL_VERSIONS = ("v1beta2", "v1beta1")
ALL_VERSIONS = DEFAULT_VERSIONS + OPTIONAL_VERSIONS


@dataclass(frozen=True, slots=True)
class Kind:
    """One cluster-scoped resource with a ``/status`` subresource."""

    kind: str
    list_kind: str
    plural: str
    singular: str

    def storage_key(self, name: str = "") -> str:
        """The storage key of object ``name``, or the prefix of all of them."""
        return f"/{GROUP}/{self.plural}/{name}"


FLOW_SCHEMA = Kind(
    kind="FlowSchema",
    list_kind="FlowSchemaList",
    plural="flowschemas",
    singular="flowschema",
)
PRIORITY_LEVEL = Kind(
    kind="PriorityLevelConfiguration",
    list_kind="PriorityLevelConfigurationList",
    plural="prioritylevelconfigurations",
    singular="prioritylevelconfiguration",
)
KINDS = (FLOW_SCHEMA, PRIORITY_LEVEL)
BY_PLURAL = {k.plural: k for k in KINDS}
BY_KIND = {k.kind: k for k in KINDS}

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]
