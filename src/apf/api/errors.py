"""Kubernetes ``Status`` errors: the one exception type every layer raises for the client.

A :class:`StatusError` carries exactly what goes on the wire: HTTP code,
``reason``, message and optional ``details`` with field ``causes``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class CauseType(enum.StrEnum):
    """Field error types, with the wire strings Kubernetes uses in ``details.causes``."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"


# How each cause type starts its human message, as Kubernetes' field errors do.
_LEAD = {
    CauseType.NOT_FOUND: "Not found",
    CauseType.REQUIRED: "Required value",
    CauseType.DUPLICATE: "Duplicate value",
    CauseType.INVALID: "Invalid value",
    CauseType.NOT_SUPPORTED: "Unsupported value",
    CauseType.FORBIDDEN: "Forbidden",
    CauseType.TOO_LONG: "Too long",
    CauseType.TOO_MANY: "Too many",
    CauseType.INTERNAL: "Internal error",
    CauseType.TYPE_INVALID: "Invalid value",
}

_NO_VALUE = object()


@dataclass(frozen=True, slots=True)
class FieldError:
    """One field problem: ``field`` is a path such as ``spec.rules[0].subjects``."""

    type: CauseType
    field: str
    detail: str = ""
    bad_value: Any = _NO_VALUE

    def message(self) -> str:
        """Render as Kubernetes does: ``spec.x: Invalid value: 3: must be positive``."""
        parts = [_LEAD[self.type]]
        if self.type in (CauseType.INVALID, CauseType.NOT_SUPPORTED, CauseType.DUPLICATE) and (
            self.bad_value is not _NO_VALUE
        ):
            parts.append(_render_value(self.bad_value))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def as_cause(self) -> dict[str, str]:
        return {"reason": str(self.type), "message": self.message(), "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.message()}"


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        # Go prints a bad []string value with %#v.
        return "[]string{" + ", ".join(_render_value(v) for v in value) + "}"
    return str(value)


@dataclass
class StatusError(Exception):
    """An error the client sees as a ``Status`` object with ``code`` and ``reason``."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def _details(group: str, kind: str, name: str, **more: Any) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    details.update(more)
    return details


def _qualified(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(group: str, resource: str, name: str) -> StatusError:
    return StatusError(
        404,
        "NotFound",
        f'{_qualified(group, resource)} "{name}" not found',
        _details(group, resource, name),
    )


def already_exists(group: str, resource: str, name: str) -> StatusError:
    return StatusError(
        409,
        "AlreadyExists",
        f'{_qualified(group, resource)} "{name}" already exists',
        _details(group, resource, name),
    )


def conflict(group: str, resource: str, name: str, why: str) -> StatusError:
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(group, resource)} "{name}": {why}',
        _details(group, resource, name),
    )


def invalid(group: str, kind: str, name: str, errors: list[FieldError]) -> StatusError:
    """422 Invalid with one cause per field error, worded as kube-apiserver words it."""
    joined = ", ".join(str(e) for e in errors)
    if len(errors) > 1:
        joined = f"[{joined}]"
    return StatusError(
        422,
        "Invalid",
        f'{kind}.{group} "{name}" is invalid: {joined}'
        if group
        else f'{kind} "{name}" is invalid: {joined}',
        _details(group, kind, name, causes=[e.as_cause() for e in errors]),
    )


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def forbidden(message: str) -> StatusError:
    return StatusError(403, "Forbidden", message)


def unauthorized(message: str = "Unauthorized") -> StatusError:
    return StatusError(401, "Unauthorized", message)


def method_not_allowed(message: str) -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def not_acceptable(message: str) -> StatusError:
    return StatusError(406, "NotAcceptable", message)


def unsupported_media_type(message: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", message)


def service_unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)
