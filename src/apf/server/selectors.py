"""Label and field selectors of list and watch requests, parsed and matched as Kubernetes does.

Label selectors take the full set-based syntax: ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``, ``k>3``, ``k<3``, joined by
commas (a comma inside parentheses separates values). Field selectors take
``field=value``, ``field==value`` and ``field!=value`` terms, with backslash
escapes; only ``metadata.name`` and ``metadata.namespace`` (always ``""`` for
these cluster-scoped kinds) are selectable. Syntax errors raise
``ValueError``; the handler turns them into 400 BadRequest.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_NAME_RE = re.compile(_NAME)
_PREFIX_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MAX_NAME_LENGTH = 63
_MAX_PREFIX_LENGTH = 253
SELECTABLE_FIELDS = ("metadata.name", "metadata.namespace")


class Operator(enum.StrEnum):
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement: ``key`` compared by ``operator`` to ``values``."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement."""
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.operator:
            case Operator.EQUALS | Operator.DOUBLE_EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or value not in self.values
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.GREATER_THAN | Operator.LESS_THAN:
                return present and _compare_integer(value, self.operator, self.values[0])


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def is_empty(self) -> bool:
        return not self.requirements


@dataclass(frozen=True, slots=True)
class FieldTerm:
    field: str
    value: str
    is_negated: bool


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A conjunction of field equality terms over ``metadata.name``/``metadata.namespace``."""

    terms: tuple[FieldTerm, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        fields = object_fields(obj)
        return all((fields.get(t.field) == t.value) != t.is_negated for t in self.terms)

    def is_empty(self) -> bool:
        return not self.terms


def object_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable fields of a cluster-scoped object."""
    metadata = obj.get("metadata") or {}
    return {"metadata.name": str(metadata.get("name") or ""), "metadata.namespace": ""}


def object_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True, slots=True)
class Selection:
    """The label and field selectors of one request, matched together."""

    labels: LabelSelector = LabelSelector()
    fields: FieldSelector = FieldSelector()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        if self.labels.is_empty() and self.fields.is_empty():
            return True  # most lists select nothing; skip gathering labels and fields
        return self.labels.matches(object_labels(obj)) and self.fields.matches(obj)


def _compare_integer(value: str, operator: Operator, bound: str) -> bool:
    try:
        number = int(value)
    except ValueError:
        return False
    if operator is Operator.GREATER_THAN:
        return number > int(bound)
    return number < int(bound)


# ---------------------------------------------------------------- label selector parsing

_TOKEN_RE = re.compile(r"\s*(!=|==|=|>|<|!|\(|\)|,|[^\s!=<>(),]+)")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a label selector; ValueError with the reason on bad syntax."""
    tokens = _tokenize(text)
    if not tokens:
        return LabelSelector()
    requirements: list[Requirement] = []
    position = 0
    while True:
        requirement, position = _parse_requirement(tokens, position)
        requirements.append(requirement)
        if position == len(tokens):
            break
        if tokens[position] != ",":
            raise ValueError(f"found '{tokens[position]}', expected: ',' or 'end of string'")
        position += 1
    requirements.sort(key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise ValueError(f"unable to parse requirement: unexpected text {text[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _parse_requirement(tokens: list[str], position: int) -> tuple[Requirement, int]:
    if tokens[position] == "!":
        key = _expect_key(tokens, position + 1)
        return Requirement(key, Operator.DOES_NOT_EXIST), position + 2
    key = _expect_key(tokens, position)
    position += 1
    if position == len(tokens) or tokens[position] == ",":
        return Requirement(key, Operator.EXISTS), position
    token = tokens[position]
    if token in ("in", "notin"):
        values, position = _parse_value_set(tokens, position + 1)
        operator = Operator.IN if token == "in" else Operator.NOT_IN
        return Requirement(key, operator, values), position
    if token in ("=", "==", "!="):
        value, position = _parse_single_value(tokens, position + 1)
        return Requirement(key, Operator(token), (value,)), position
    if token in (">", "<"):
        value, position = _parse_single_value(tokens, position + 1)
        if not re.fullmatch(r"-?[0-9]+", value):
            raise ValueError(f"for 'Gt', 'Lt' operators, the value must be an integer: {value!r}")
        operator = Operator.GREATER_THAN if token == ">" else Operator.LESS_THAN
        return Requirement(key, operator, (value,)), position
    raise ValueError(f"found '{token}', expected: in, notin, =, ==, !=, gt, lt")


def _expect_key(tokens: list[str], position: int) -> str:
    if position >= len(tokens):
        raise ValueError("found 'end of string', expected: identifier")
    key = tokens[position]
    if key in ("!", "=", "==", "!=", ">", "<", "(", ")", ","):
        raise ValueError(f"found '{key}', expected: identifier")
    problem = qualified_name_problem(key)
    if problem:
        raise ValueError(f'unable to parse requirement: key: Invalid value: "{key}": {problem}')
    return key


def _parse_single_value(tokens: list[str], position: int) -> tuple[str, int]:
    if position == len(tokens) or tokens[position] == ",":
        return "", position
    value = tokens[position]
    _check_value(value)
    return value, position + 1


def _parse_value_set(tokens: list[str], position: int) -> tuple[tuple[str, ...], int]:
    if position >= len(tokens) or tokens[position] != "(":
        found = tokens[position] if position < len(tokens) else "end of string"
        raise ValueError(f"found '{found}', expected: '('")
    position += 1
    values: list[str] = []
    expect_value = True
    while position < len(tokens) and tokens[position] != ")":
        token = tokens[position]
        if token == ",":
            if expect_value:
                values.append("")
            expect_value = True
        elif expect_value:
            _check_value(token)
            values.append(token)
            expect_value = False
        else:
            raise ValueError(f"found '{token}', expected: ',' or ')'")
        position += 1
    if position == len(tokens):
        raise ValueError("found 'end of string', expected: ')'")
    if expect_value:
        values.append("")
    return tuple(sorted(set(values))), position + 1


def _check_value(value: str) -> None:
    if value in ("!", "=", "==", "!=", ">", "<", "(", ")"):
        raise ValueError(f"found '{value}', expected: identifier")
    if len(value) > _MAX_NAME_LENGTH or not _NAME_RE.fullmatch(value):
        raise ValueError(
            f'unable to parse requirement: values[0]: Invalid value: "{value}": a valid label '
            "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )


def qualified_name_problem(key: str) -> str:
    """Why ``key`` is not a valid label key (``[prefix/]name``), or ``""``."""
    prefix, slash, name = key.rpartition("/")
    if slash and (
        not prefix or len(prefix) > _MAX_PREFIX_LENGTH or not _PREFIX_RE.fullmatch(prefix)
    ):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name:
        return "name part must be non-empty"
    if len(name) > _MAX_NAME_LENGTH:
        return "name part must be no more than 63 characters"
    if not _NAME_RE.fullmatch(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return ""


# ---------------------------------------------------------------- field selector parsing


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a field selector; ValueError on bad syntax or an unsupported field."""
    terms: list[FieldTerm] = []
    for raw in _split_unescaped(text, ","):
        if not raw.strip():
            continue
        terms.append(_parse_field_term(raw))
    return FieldSelector(tuple(terms))


def _parse_field_term(raw: str) -> FieldTerm:
    for operator in ("!=", "==", "="):
        index = _find_unescaped(raw, operator)
        if index < 0:
            continue
        field = _unescape(raw[:index].strip())
        value = _unescape(raw[index + len(operator) :])
        if field not in SELECTABLE_FIELDS:
            raise UnsupportedField(field)
        return FieldTerm(field, value, operator == "!=")
    raise ValueError(f"invalid selector: '{raw}'; can't understand '{raw}'")


class UnsupportedField(ValueError):
    """A field selector names a field these kinds cannot be selected by."""

    def __init__(self, field: str) -> None:
        super().__init__(f"field label not supported: {field}")
        self.field = field


def _find_unescaped(text: str, needle: str) -> int:
    index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(needle, index):
            return index
        index += 1
    return -1


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    start = 0
    while True:
        index = _find_unescaped(text[start:], separator)
        if index < 0:
            parts.append(text[start:])
            return parts
        parts.append(text[start : start + index])
        start += index + len(separator)


def _unescape(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text) or text[index + 1] not in "\\,=":
                raise ValueError(f"invalid field selector: unescaped backslash in {text!r}")
            out.append(text[index + 1])
            index += 2
            continue
        if char in ",=":
            raise ValueError(f"invalid field selector: unescaped {char!r} in {text!r}")
        out.append(char)
        index += 1
    return "".join(out)


def parse_selection(label_selector: str, field_selector: str) -> Selection:
    """Both selectors of a request; ValueError on either."""
    return Selection(parse_label_selector(label_selector), parse_field_selector(field_selector))
