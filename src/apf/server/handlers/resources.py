"""REST handler for FlowSchemas and PriorityLevelConfigurations, as kube-apiserver serves them.

One :class:`ResourceHandler` serves every path
``/apis/flowcontrol.apiserver.k8s.io/<version>/<plural>[/<name>[/status]]``:
get, list, watch, create, update, patch, delete and deletecollection, with
``dryRun``, ``fieldValidation``, selectors, pagination, Table output and
conversion between the served versions (objects are stored in v1, the hub).
The handler parses the path itself; the router hands it anything under the
group with a version segment.

Request bodies are checked for unknown and duplicate fields in the URL's
version (as Kubernetes decodes them), pruned, then converted to v1; responses
are converted back to the URL's version and rendered as the client asked.
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import yaml

from apf.api import errors
from apf.api.conversion import convert
from apf.api.errors import CauseType, FieldError, StatusError
from apf.api.kinds import BY_PLURAL, GROUP, PREFERRED_VERSION, Kind
from apf.api.table import to_table
from apf.registry import fields
from apf.registry.store import Object, Preconditions, Store
from apf.server import patch
from apf.server.http import AnyResponse, Request, Response, StreamingResponse
from apf.server.negotiation import Encoding, Output, Representation, negotiate
from apf.server.selectors import Selection, UnsupportedField, parse_selection
from apf.server.watch import WatchPlan, stream_events

logger = logging.getLogger(__name__)

NOT_FOUND_MESSAGE = "the server could not find the requested resource"
METHOD_NOT_ALLOWED_MESSAGE = "the server does not allow this method on the requested resource"
META_GROUP = "meta.k8s.io"
# kube-apiserver's --min-request-timeout default; a watch without timeoutSeconds
# lasts a random time between this and twice this, spreading reconnections.
MIN_REQUEST_TIMEOUT_SECONDS = 1800.0
BOOKMARK_INTERVAL_SECONDS = 60.0
PATCH_ATTEMPTS = 8
# Release that deprecated / removed each beta version, and its replacement (the
# types' prerelease-lifecycle tags); used for the Warning header kube-apiserver sends.
DEPRECATIONS = {
    "v1beta3": ("1.29", "1.32", "v1"),
    "v1beta2": ("1.26", "1.29", "v1beta3"),
    "v1beta1": ("1.23", "1.26", "v1beta2"),
}
BODY_MEDIA_TYPES = "application/json, application/yaml"
PATCH_MEDIA_TYPES = (
    "application/json-patch+json, application/merge-patch+json, "
    "application/apply-patch+yaml, application/strategic-merge-patch+json"
)
CONTINUE_TOKEN_VERSION = "meta.k8s.io/v1"
FIELD_VALIDATION_MODES = ("Ignore", "Warn", "Strict")
INCLUDE_OBJECT_MODES = ("None", "Metadata", "Object")
RESOURCE_VERSION_MATCHES = ("Exact", "NotOlderThan")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True, slots=True)
class Target:
    """What a request path names: a collection, an object, or an object's status."""

    version: str
    kind: Kind
    name: str = ""
    subresource: str = ""
    is_legacy_watch: bool = False

    @property
    def api_version(self) -> str:
        return f"{GROUP}/{self.version}"


@dataclass(frozen=True, slots=True)
class View:
    """How to answer one request: the path's target and the negotiated output."""

    target: Target
    output: Output
    include_object: str = "Metadata"


@dataclass(frozen=True, slots=True)
class PatchInput:
    """A decoded PATCH request body and how to check the patched object."""

    type: str
    document: Any
    duplicates: list[str]
    mode: str


class ResourceHandler:
    """Serves the flowcontrol group's two resources over a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        versions: Sequence[str],
        min_request_timeout_seconds: float = MIN_REQUEST_TIMEOUT_SECONDS,
        bookmark_interval_seconds: float = BOOKMARK_INTERVAL_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        assert versions, "at least one version must be served"
        self.store = store
        self.versions = tuple(versions)
        self.min_request_timeout_seconds = min_request_timeout_seconds
        self.bookmark_interval_seconds = bookmark_interval_seconds
        self.rng = rng or random.Random()

    async def handle(self, request: Request) -> AnyResponse:
        """Serve one request under the group; failures raise StatusError for the app."""
        target = self._target(request.path)
        output = negotiate(request.headers.get("accept", ""))
        view = View(target, output, _include_object(request, output))
        _add_deprecation_warning(request, target)
        method = request.method.upper()
        if target.is_legacy_watch:
            if method != "GET":
                raise errors.method_not_allowed(METHOD_NOT_ALLOWED_MESSAGE)
            return self._watch(request, view)
        if not target.name:
            return await self._collection(request, view, method)
        if target.subresource:
            return await self._status(request, view, method)
        return await self._item(request, view, method)

    # ------------------------------------------------------------ dispatch

    def _target(self, path: str) -> Target:
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "apis" or parts[1] != GROUP:
            raise _not_found()
        version, rest = parts[2], parts[3:]
        if version not in self.versions:
            raise _not_found()
        is_legacy_watch = rest[0] == "watch"
        if is_legacy_watch:
            rest = rest[1:]
        if not rest or rest[0] not in BY_PLURAL or len(rest) > 3 or not all(rest):
            raise _not_found()
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        if subresource not in ("", "status") or (is_legacy_watch and subresource):
            raise _not_found()
        return Target(version, BY_PLURAL[rest[0]], name, subresource, is_legacy_watch)

    async def _collection(self, request: Request, view: View, method: str) -> AnyResponse:
        if method == "GET" and _bool_query(request, "watch"):
            return self._watch(request, view)
        if method == "GET":
            return await self._list(request, view)
        if method == "POST":
            return await self._create(request, view)
        if method == "DELETE":
            return await self._delete_collection(request, view)
        raise errors.method_not_allowed(METHOD_NOT_ALLOWED_MESSAGE)

    async def _item(self, request: Request, view: View, method: str) -> AnyResponse:
        if method == "GET" and _bool_query(request, "watch"):
            return self._watch(request, view)
        if method == "GET":
            obj = await self.store.get(view.target.kind, view.target.name)
            return self._object_response(obj, 200, view)
        if method == "PUT":
            return await self._update(request, view)
        if method == "PATCH":
            return await self._patch(request, view)
        if method == "DELETE":
            return await self._delete(request, view)
        raise errors.method_not_allowed(METHOD_NOT_ALLOWED_MESSAGE)

    async def _status(self, request: Request, view: View, method: str) -> AnyResponse:
        if method == "GET":
            obj = await self.store.get(view.target.kind, view.target.name)
            return self._object_response(obj, 200, view)
        if method == "PUT":
            return await self._update(request, view)
        if method == "PATCH":
            return await self._patch(request, view)
        raise errors.method_not_allowed(METHOD_NOT_ALLOWED_MESSAGE)

    # ------------------------------------------------------------ writes

    async def _create(self, request: Request, view: View) -> Response:
        dry_run = _dry_run(request, "CreateOptions")
        mode = _field_validation(request, "CreateOptions")
        body, duplicates = _decode_body(request)
        obj = self._checked_to_hub(request, view.target, body, mode, duplicates=duplicates)
        created = await self.store.create(view.target.kind, obj, dry_run=dry_run)
        return self._object_response(created, 201, view)

    async def _update(self, request: Request, view: View) -> Response:
        dry_run = _dry_run(request, "UpdateOptions")
        mode = _field_validation(request, "UpdateOptions")
        body, duplicates = _decode_body(request)
        obj = self._checked_to_hub(request, view.target, body, mode, duplicates=duplicates)
        _check_name(obj, view.target)
        is_status = view.target.subresource == "status"
        updated = await self.store.update(view.target.kind, obj, status=is_status, dry_run=dry_run)
        return self._object_response(updated, 200, view)

    async def _patch(self, request: Request, view: View) -> Response:
        target = view.target
        patch_type = _patch_type(request)
        dry_run = _dry_run(request, "PatchOptions")
        mode = _field_validation(request, "PatchOptions")
        _check_patch_options(request, patch_type)
        document, duplicates = _decode_patch(request, patch_type)
        given = PatchInput(patch_type, document, duplicates, mode)
        is_status = target.subresource == "status"
        headers_before = len(request.response_headers)
        for _ in range(PATCH_ATTEMPTS):
            del request.response_headers[headers_before:]  # warnings of a retried attempt
            try:
                current = await self.store.get(target.kind, target.name)
            except StatusError as exc:
                if exc.code != 404 or patch_type != patch.APPLY_PATCH or is_status:
                    raise
                return await self._apply_create(request, view, given, dry_run)
            patched = self._patched(request, target, current, given)
            try:
                updated = await self.store.update(
                    target.kind, patched, status=is_status, dry_run=dry_run
                )
            except StatusError as exc:
                if exc.reason == "Conflict" and not _pins_resource_version(
                    patched, current, given
                ):
                    # Someone wrote between our read and our write; the patch did not
                    # pin a resourceVersion, so apply it again to the newer object.
                    logger.debug(
                        "patch conflicted, retrying",
                        extra={"kind": target.kind.kind, "object_name": target.name},
                    )
                    continue
                raise
            return self._object_response(updated, 200, view)
        raise errors.conflict(GROUP, target.kind.plural, target.name, "too many conflicts")

    async def _apply_create(
        self, request: Request, view: View, given: PatchInput, dry_run: bool
    ) -> Response:
        """Server-side apply of an object that does not exist yet: create it."""
        target = view.target
        lookup = fields.merge_key_lookup(target.kind, target.version)
        try:
            applied = patch.apply_configuration(None, given.document, lookup)
        except patch.PatchError as exc:
            raise _patch_error(exc) from exc
        obj = self._checked_to_hub(
            request, target, applied, given.mode, patch_duplicates=given.duplicates
        )
        _check_name(obj, target)
        created = await self.store.create(target.kind, obj, dry_run=dry_run)
        return self._object_response(created, 201, view)

    def _patched(
        self, request: Request, target: Target, current: Object, given: PatchInput
    ) -> Object:
        """``current`` (v1) patched in the URL's version, checked and converted back to v1."""
        versioned = self._from_hub(current, target)
        lookup = fields.merge_key_lookup(target.kind, target.version)
        try:
            if given.type == patch.JSON_PATCH:
                result = patch.json_patch(versioned, given.document)
            elif given.type == patch.MERGE_PATCH:
                result = patch.merge_patch(versioned, given.document)
            elif given.type == patch.STRATEGIC_MERGE_PATCH:
                result = patch.strategic_merge_patch(versioned, given.document, lookup)
            else:
                result = patch.apply_configuration(versioned, given.document, lookup)
        except patch.PatchError as exc:
            raise _patch_error(exc) from exc
        obj = self._checked_to_hub(
            request, target, result, given.mode, patch_duplicates=given.duplicates
        )
        _check_name(obj, target)
        return obj

    async def _delete(self, request: Request, view: View) -> Response:
        target = view.target
        options = _delete_options(request)
        dry_run = _dry_run(request, "DeleteOptions", extra=options.get("dryRun"))
        deleted = await self.store.delete(
            target.kind, target.name, preconditions=_preconditions(options), dry_run=dry_run
        )
        details = {
            "name": target.name,
            "group": GROUP,
            "kind": target.kind.plural,
            "uid": deleted["metadata"].get("uid", ""),
        }
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }
        return Response(status=200, body=orjson.dumps(status))

    async def _delete_collection(self, request: Request, view: View) -> Response:
        options = _delete_options(request)
        dry_run = _dry_run(request, "DeleteOptions", extra=options.get("dryRun"))
        selection = _selection(request)
        objects, revision = await self.store.list(view.target.kind)
        deleted: list[Object] = []
        for obj in filter(selection.matches, objects):
            try:
                gone = await self.store.delete(
                    view.target.kind, obj["metadata"]["name"], dry_run=dry_run
                )
            except StatusError as exc:
                if exc.code != 404:  # 404: deleted by someone else meanwhile
                    raise
                continue
            deleted.append(gone)
            revision = max(revision, int(gone["metadata"]["resourceVersion"]))
        return self._list_response(deleted, {"resourceVersion": str(revision)}, view)

    # ------------------------------------------------------------ reads

    async def _list(self, request: Request, view: View) -> Response:
        selection = _selection(request)
        limit = _limit(request)
        token = request.query_value("continue")
        _check_list_options(request, is_watch=False)
        objects, revision = await self.store.list(view.target.kind)
        _check_list_resource_version(request, revision)
        start = ""
        if token:
            start, revision = _decode_continue(token)
        # NOTE: storage cannot read an old revision, so every page of a paginated list
        # shows the objects as they are now; all pages report the first page's
        # resourceVersion, so a watch started from it replays whatever changed meanwhile.
        selected = [o for o in objects if o["metadata"]["name"] >= start and selection.matches(o)]
        metadata: Object = {"resourceVersion": str(revision)}
        if limit and len(selected) > limit:
            last = selected[limit - 1]["metadata"]["name"]
            metadata["continue"] = _encode_continue(last + "\x00", revision)
            if selection.labels.is_empty() and selection.fields.is_empty():
                metadata["remainingItemCount"] = len(selected) - limit
            selected = selected[:limit]
        return self._list_response(selected, metadata, view)

    def _watch(self, request: Request, view: View) -> StreamingResponse:
        field_selector = request.query_value("fieldSelector")
        if view.target.name:
            name_term = "metadata.name=" + view.target.name.replace("\\", "\\\\").replace(
                ",", "\\,"
            )
            field_selector = f"{field_selector},{name_term}" if field_selector else name_term
        selection = _parse_selection(request.query_value("labelSelector"), field_selector)
        plan = self._watch_plan(request, selection)
        headers_sent = False

        def render(obj: Object) -> Object:
            # As kube-apiserver does, only the first Table event carries the column
            # definitions; later ones are rows only.
            nonlocal headers_sent
            rendered = self._render(obj, view)
            if view.output.representation is Representation.TABLE:
                if headers_sent:
                    rendered["columnDefinitions"] = []
                headers_sent = True
            return rendered

        chunks = stream_events(
            self.store,
            view.target.kind,
            plan,
            render=render,
            bookmark=lambda rv, is_end: _bookmark_object(view.target, rv, is_end),
            on_initialized=request.on_initialized,
        )
        content_type = view.output.content_type()
        if view.output.representation is Representation.OBJECT:
            content_type = "application/json"
        return StreamingResponse(status=200, chunks=chunks, content_type=content_type)

    def _watch_plan(self, request: Request, selection: Selection) -> WatchPlan:
        _check_list_options(request, is_watch=True)
        raw_rv = request.query_value("resourceVersion")
        revision = _parse_resource_version(raw_rv) if raw_rv else None
        send_initial = _bool_query(request, "sendInitialEvents")
        after: int | None
        if send_initial:
            after = None
        elif send_initial is None:
            after = None if revision in (None, 0) else revision
        else:
            current = int(self.store.storage.current_revision())
            after = current if revision in (None, 0) else revision
        return WatchPlan(
            after_revision=after,
            selection=selection,
            timeout_seconds=self._watch_timeout(request),
            allow_bookmarks=_bool_query(request, "allowWatchBookmarks") is True,
            mark_initial_events_end=send_initial is True,
            bookmark_interval_seconds=self.bookmark_interval_seconds,
        )

    def _watch_timeout(self, request: Request) -> float:
        """``timeoutSeconds``, or (unset or 0, as Kubernetes reads it) a random default."""
        raw = request.query_value("timeoutSeconds")
        seconds = 0
        if raw:
            try:
                seconds = int(raw)
            except ValueError:
                raise errors.bad_request(
                    f'invalid value "{raw}" for timeoutSeconds: must be an integer'
                ) from None
        if seconds:
            return float(seconds)
        return self.min_request_timeout_seconds * (1.0 + self.rng.random())

    # ------------------------------------------------------------ conversion

    def _checked_to_hub(
        self,
        request: Request,
        target: Target,
        body: Any,
        mode: str,
        *,
        duplicates: Sequence[str] = (),
        patch_duplicates: Sequence[str] | None = None,
    ) -> Object:
        """A request object in any served version: field-checked, pruned, converted to v1.

        A patched object (``patch_duplicates`` given) reports the patch's duplicate
        fields first and then the result's unknown fields sorted, as Kubernetes does.
        """
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON or YAML object")
        version = self._body_version(body, target)
        obj = {**body, "apiVersion": f"{GROUP}/{version}", "kind": target.kind.kind}
        if mode != "Ignore":
            if patch_duplicates is None:
                problems = fields.strict_problems(target.kind, version, obj, duplicates)
                kind = target.kind.kind
                context = f'{kind} in version "{version}" cannot be handled as a {kind}: '
            else:
                problems = [f'duplicate field "{d}"' for d in patch_duplicates]
                unknown = sorted(fields.unknown(target.kind, version, obj))
                problems += [f'unknown field "{u}"' for u in unknown]
                context = ""
            _report_field_problems(request, problems, mode, context)
        obj = fields.prune(target.kind, version, obj)
        if version == PREFERRED_VERSION:
            return obj
        return convert(obj, PREFERRED_VERSION)

    def _body_version(self, body: Object, target: Target) -> str:
        api_version = str(body.get("apiVersion") or target.api_version)
        kind = str(body.get("kind") or target.kind.kind)
        group, _, version = api_version.rpartition("/")
        if group != GROUP or version not in self.versions:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({target.api_version})"
            )
        if kind != target.kind.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind "
                f"({target.kind.kind})"
            )
        return version

    def _from_hub(self, obj: Object, target: Target) -> Object:
        if target.version == PREFERRED_VERSION:
            return copy.deepcopy(obj)
        return convert(obj, target.version)

    # ------------------------------------------------------------ rendering

    def _render(self, obj: Object, view: View) -> Object:
        """One object (v1) as the client asked for it: version, Table or metadata."""
        versioned = self._from_hub(obj, view.target)
        if view.output.representation is Representation.TABLE:
            return _table(view, [versioned], {})
        if view.output.representation is Representation.METADATA:
            return _partial_metadata(versioned, view.output.meta_version)
        return versioned

    def _object_response(self, obj: Object, status: int, view: View) -> Response:
        return _encode(self._render(obj, view), status, view.output)

    def _list_response(self, objects: list[Object], metadata: Object, view: View) -> Response:
        """``objects`` are this response's own (the store decodes them per call).

        Rendering only reads them, so in the preferred version they are used as they
        are: a copy of each was most of the cost of a LIST.
        """
        target, output = view.target, view.output
        if target.version == PREFERRED_VERSION:
            versioned = objects
        else:
            versioned = [convert(o, target.version) for o in objects]
        body: Object
        if output.representation is Representation.TABLE:
            body = _table(view, versioned, metadata)
        elif output.representation is Representation.METADATA:
            body = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": f"{META_GROUP}/{output.meta_version}",
                "metadata": metadata,
                "items": [_partial_metadata(o, output.meta_version) for o in versioned],
            }
        else:
            body = {
                "kind": target.kind.list_kind,
                "apiVersion": target.api_version,
                "metadata": metadata,
                "items": [_without_type_meta(o) for o in versioned],
            }
        return _encode(body, 200, output)


# ---------------------------------------------------------------- request parsing


def _not_found() -> StatusError:
    return StatusError(404, "NotFound", NOT_FOUND_MESSAGE)


def _bool_query(request: Request, name: str) -> bool | None:
    """A boolean query parameter as Go's strconv.ParseBool reads it; None when absent."""
    if not request.has_query(name):
        return None
    raw = request.query_value(name)
    if raw in _TRUE:
        return True
    if raw in _FALSE or raw == "":
        return False
    raise errors.bad_request(f'invalid value "{raw}" for {name}: must be a boolean')


class GoStrings(list[str]):
    """A string list that prints as Go's ``%#v`` does, as option errors show bad values."""

    def __str__(self) -> str:
        return "[]string{" + ", ".join(f'"{v}"' for v in self) + "}"


def _options_invalid(options_kind: str, problems: list[FieldError]) -> StatusError:
    return errors.invalid(META_GROUP, options_kind, "", problems)


def _dry_run(request: Request, options_kind: str, *, extra: Any = None) -> bool:
    values = list(request.query.get("dryRun", []))
    if isinstance(extra, list):
        values += [str(v) for v in extra]
    if not values:
        return False
    if any(v != "All" for v in values):
        problem = FieldError(
            CauseType.NOT_SUPPORTED, "dryRun", 'supported values: "All"', GoStrings(values)
        )
        raise _options_invalid(options_kind, [problem])
    return True


def _field_validation(request: Request, options_kind: str) -> str:
    mode = request.query_value("fieldValidation")
    if not mode:
        return "Warn"
    if mode not in FIELD_VALIDATION_MODES:
        detail = 'supported values: "", "Ignore", "Strict", "Warn"'
        problem = FieldError(CauseType.NOT_SUPPORTED, "fieldValidation", detail, mode)
        raise _options_invalid(options_kind, [problem])
    return mode


def _report_field_problems(request: Request, problems: list[str], mode: str, context: str) -> None:
    if not problems:
        return
    if mode == "Strict":
        raise errors.bad_request(f"{context}strict decoding error: " + ", ".join(problems))
    for problem in problems:
        request.response_headers.append(("Warning", _warning_value(problem)))


def _warning_value(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    # A header value cannot carry control characters; field names quoted from a
    # request body can (JSON "\n"), so they become spaces.
    return f'299 - "{escaped.translate(_CONTROL_TO_SPACE)}"'


_CONTROL_TO_SPACE = {code: " " for code in [*range(0x20), 0x7F] if code != 0x09}


def _add_deprecation_warning(request: Request, target: Target) -> None:
    lifecycle = DEPRECATIONS.get(target.version)
    if lifecycle is None:
        return
    deprecated, removed, replacement = lifecycle
    kind = target.kind.kind
    text = (
        f"{GROUP}/{target.version} {kind} is deprecated in v{deprecated}+, unavailable in "
        f"v{removed}+; use {GROUP}/{replacement} {kind}"
    )
    request.response_headers.append(("Warning", _warning_value(text)))


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _decode_body(request: Request) -> tuple[Any, list[str]]:
    """The request body as JSON or YAML, and the paths of duplicate JSON fields."""
    media_type = _media_type(request)
    # kube-apiserver reads a body without Content-Type as JSON; the Python client relies on it.
    if media_type in ("application/json", ""):
        return fields.decode_json(request.body)
    if media_type == "application/yaml":
        return _load_yaml(request.body), []
    raise errors.unsupported_media_type(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{BODY_MEDIA_TYPES}"
    )


def _load_yaml(body: bytes) -> Any:
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise errors.bad_request(
            f"the body of the request was in an unknown format: {exc}"
        ) from exc


def _patch_type(request: Request) -> str:
    media_type = _media_type(request)
    if media_type not in patch.PATCH_TYPES:
        raise errors.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{PATCH_MEDIA_TYPES}"
        )
    return media_type


def _check_patch_options(request: Request, patch_type: str) -> None:
    problems: list[FieldError] = []
    if patch_type == patch.APPLY_PATCH and not request.query_value("fieldManager"):
        problems.append(
            FieldError(CauseType.REQUIRED, "fieldManager", "is required for apply patch")
        )
    if request.has_query("force") and patch_type != patch.APPLY_PATCH:
        problems.append(
            FieldError(CauseType.FORBIDDEN, "force", "may not be specified for non-apply patch")
        )
    if problems:
        raise _options_invalid("PatchOptions", problems)


def _decode_patch(request: Request, patch_type: str) -> tuple[Any, list[str]]:
    """The patch document, and the paths of its duplicate JSON fields."""
    if patch_type == patch.APPLY_PATCH:
        return _load_yaml(request.body), []
    document, duplicates = fields.decode_json(request.body)
    if patch_type == patch.JSON_PATCH:
        # Duplicates inside JSON patch operations are not object fields.
        return document, []
    return document, duplicates


def _patch_error(exc: patch.PatchError) -> StatusError:
    if exc.code == 400:
        return errors.bad_request(exc.message)
    return StatusError(422, "Invalid", exc.message)


def _pins_resource_version(patched: Object, current: Object, given: PatchInput) -> bool:
    """Whether the patch itself asked for a resourceVersion (so a conflict is final)."""
    if patched["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
        return True
    document = given.document
    if given.type == patch.JSON_PATCH:
        return any(
            isinstance(op, dict) and "resourceVersion" in str(op.get("path", ""))
            for op in document
        )
    metadata = document.get("metadata") if isinstance(document, dict) else None
    return isinstance(metadata, dict) and bool(metadata.get("resourceVersion"))


def _check_name(obj: Object, target: Target) -> None:
    name = str((obj.get("metadata") or {}).get("name") or "")
    if name != target.name:
        raise errors.bad_request(
            f"the name of the object ({name}) does not match the name on the URL ({target.name})"
        )


def _delete_options(request: Request) -> Object:
    """The DeleteOptions body of a DELETE, or {} (clients often send none)."""
    if not request.body.strip():
        return {}
    media_type = _media_type(request)
    if media_type in ("", "application/json"):
        options, _ = fields.decode_json(request.body)
    elif media_type == "application/yaml":
        options = _load_yaml(request.body)
    else:
        raise errors.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{BODY_MEDIA_TYPES}"
        )
    if not isinstance(options, dict):
        raise errors.bad_request("the body of a DELETE must be a DeleteOptions object")
    return options


def _preconditions(options: Object) -> Preconditions | None:
    raw = options.get("preconditions")
    if not isinstance(raw, dict):
        return None
    uid = raw.get("uid")
    rv = raw.get("resourceVersion")
    return Preconditions(uid=str(uid) if uid else None, resource_version=str(rv) if rv else None)


def _parse_selection(label_selector: str, field_selector: str) -> Selection:
    try:
        return parse_selection(label_selector, field_selector)
    except UnsupportedField as exc:
        raise errors.bad_request(str(exc)) from exc
    except ValueError as exc:
        raise errors.bad_request(f"unable to parse selector: {exc}") from exc


def _selection(request: Request) -> Selection:
    return _parse_selection(
        request.query_value("labelSelector"), request.query_value("fieldSelector")
    )


def _limit(request: Request) -> int:
    raw = request.query_value("limit")
    if not raw:
        return 0
    try:
        limit = int(raw)
    except ValueError:
        raise errors.bad_request(f'invalid value "{raw}" for limit: must be an integer') from None
    return max(limit, 0)


def _parse_resource_version(raw: str) -> int:
    try:
        revision = int(raw)
    except ValueError:
        revision = -1
    if revision < 0:
        raise errors.bad_request(
            f"invalid resource version: {raw!r} is not a non-negative integer"
        )
    return revision


def _check_list_options(request: Request, *, is_watch: bool) -> None:
    """The ListOptions rules kube-apiserver checks before a list or watch (422 Invalid)."""
    problems = _watch_option_problems(request) if is_watch else _list_option_problems(request)
    if problems:
        raise _options_invalid("ListOptions", problems)
    rv = request.query_value("resourceVersion")
    if not is_watch and request.query_value("continue") and rv not in ("", "0"):
        raise errors.bad_request("specifying resource version is not allowed when using continue")


def _list_option_problems(request: Request) -> list[FieldError]:
    match = request.query_value("resourceVersionMatch")
    problems: list[FieldError] = []
    if match:
        if not request.query_value("resourceVersion"):
            problems.append(_forbidden_match("unless resourceVersion is provided"))
        if request.query_value("continue"):
            problems.append(_forbidden_match("when continue is provided"))
        if match not in RESOURCE_VERSION_MATCHES:
            detail = 'supported values: "Exact", "NotOlderThan", ""'
            problems.append(_unsupported_match(match, detail))
        if match == "Exact" and request.query_value("resourceVersion") == "0":
            problems.append(_forbidden_match('"exact" is forbidden for resourceVersion "0"'))
    if request.has_query("sendInitialEvents"):
        detail = "sendInitialEvents is forbidden for list"
        problems.append(FieldError(CauseType.FORBIDDEN, "sendInitialEvents", detail))
    return problems


def _watch_option_problems(request: Request) -> list[FieldError]:
    match = request.query_value("resourceVersionMatch")
    has_send_initial = request.has_query("sendInitialEvents")
    problems: list[FieldError] = []
    if has_send_initial and match != "NotOlderThan":
        detail = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        problems.append(FieldError(CauseType.FORBIDDEN, "resourceVersionMatch", detail))
    if match:
        if not has_send_initial:
            problems.append(_forbidden_match("for watch unless sendInitialEvents is provided"))
        if match != "NotOlderThan":
            problems.append(_unsupported_match(match, 'supported values: "NotOlderThan"'))
        if request.query_value("continue"):
            problems.append(_forbidden_match("when continue is provided"))
    return problems


def _forbidden_match(why: str) -> FieldError:
    detail = f"resourceVersionMatch is forbidden {why}"
    if why.startswith('"'):
        detail = f"resourceVersionMatch {why}"
    return FieldError(CauseType.FORBIDDEN, "resourceVersionMatch", detail)


def _unsupported_match(match: str, detail: str) -> FieldError:
    return FieldError(CauseType.NOT_SUPPORTED, "resourceVersionMatch", detail, match)


def _check_list_resource_version(request: Request, current: int) -> None:
    """Serve a list at ``resourceVersion`` only if the current state satisfies it."""
    raw = request.query_value("resourceVersion")
    if not raw or raw == "0":
        return
    wanted = _parse_resource_version(raw)
    if wanted > current:
        raise StatusError(
            504,
            "Timeout",
            f"Too large resource version: {wanted}, current: {current}",
            {
                "causes": [
                    {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
                ],
                "retryAfterSeconds": 1,
            },
        )
    if request.query_value("resourceVersionMatch") == "Exact" and wanted != current:
        # TODO: no reads at past revisions; an exact list of an older revision is 410 Expired.
        raise errors.gone(f"too old resource version: {wanted} ({current})")


def _encode_continue(start: str, revision: int) -> str:
    token = {"v": CONTINUE_TOKEN_VERSION, "rv": revision, "start": start}
    return base64.urlsafe_b64encode(orjson.dumps(token)).decode()


def _decode_continue(token: str) -> tuple[str, int]:
    """The start name and revision of a continue token; 400 when it is not ours."""
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raw = None
    if (
        not isinstance(raw, dict)
        or raw.get("v") != CONTINUE_TOKEN_VERSION
        or not isinstance(raw.get("start"), str)
        or not isinstance(raw.get("rv"), int)
        or raw["rv"] <= 0
    ):
        raise errors.bad_request(
            "continue key is not valid: the continue token is malformed or from another server"
        )
    return raw["start"], raw["rv"]


def _include_object(request: Request, output: Output) -> str:
    """What Table rows embed; checked (422 TableOptions) only when a Table is wanted."""
    raw = request.query_value("includeObject") or "Metadata"
    if raw not in INCLUDE_OBJECT_MODES and output.representation is Representation.TABLE:
        detail = "must be 'Metadata', 'Object', 'None', or empty"
        problem = FieldError(CauseType.INVALID, "includeObject", detail, raw)
        raise _options_invalid("TableOptions", [problem])
    return raw


# ---------------------------------------------------------------- response rendering


def _encode(body: Object, status: int, output: Output) -> Response:
    if output.encoding is Encoding.YAML:
        text = yaml.safe_dump(body, default_flow_style=False, sort_keys=False)
        return Response(status=status, body=text.encode(), content_type=output.content_type())
    return Response(status=status, body=orjson.dumps(body), content_type=output.content_type())


def _without_type_meta(obj: Object) -> Object:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def _partial_metadata(obj: Object, meta_version: str) -> Object:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"{META_GROUP}/{meta_version}",
        "metadata": copy.deepcopy(obj.get("metadata") or {}),
    }


def _table(view: View, versioned: list[Object], metadata: Object) -> Object:
    """The objects as a ``meta.k8s.io`` Table, each row carrying the requested object form."""
    table = to_table(view.target.kind, versioned, now=datetime.now(UTC))
    table["apiVersion"] = f"{META_GROUP}/{view.output.meta_version}"
    table.setdefault("metadata", {}).update(metadata)
    by_name = {o["metadata"].get("name"): o for o in versioned}
    for position, row in enumerate(table.get("rows") or []):
        obj = _row_object(row, by_name, versioned, position)
        if view.include_object == "None" or obj is None:
            row.pop("object", None)
        elif view.include_object == "Object":
            row["object"] = obj
        else:
            row["object"] = _partial_metadata(obj, view.output.meta_version)
    return table


def _row_object(
    row: Object, by_name: dict[Any, Object], versioned: list[Object], position: int
) -> Object | None:
    """The object a table row shows (rows may be sorted differently from the objects)."""
    embedded = row.get("object")
    if isinstance(embedded, dict):
        name = (embedded.get("metadata") or {}).get("name")
        if name in by_name:
            return by_name[name]
    cells = row.get("cells") or []
    if cells and cells[0] in by_name:
        return by_name[cells[0]]
    return versioned[position] if position < len(versioned) else None


def _bookmark_object(target: Target, resource_version: str, is_initial_events_end: bool) -> Object:
    metadata: Object = {"resourceVersion": resource_version}
    if is_initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": target.kind.kind, "apiVersion": target.api_version, "metadata": metadata}
