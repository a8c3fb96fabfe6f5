"""Small conveniences over the official ``kubernetes`` client, as the e2e framework has."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client as k8s_client, watch as k8s_watch
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")
GROUP = "flowcontrol.apiserver.k8s.io"


def raw_request(
    api: Any,
    method: str,
    path: str,
    *,
    body: Any = None,
    content_type: str = "application/json",
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """Send a request through the client's own transport.

    Returns the status, the headers with lower-cased names, and the decoded body.
    """
    header_params = {"Accept": "application/json", **(headers or {})}
    if body is not None:
        header_params["Content-Type"] = content_type
    method_, url, header_params, body_, post = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        header_params=header_params,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method_, url, header_params, body_, post)
    data = response.read()
    parsed: Any = None
    if data:
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data.decode(errors="replace")
    headers = {name.lower(): value for name, value in response.getheaders().items()}
    return response.status, headers, parsed


def retry_on_conflict(action: Callable[[], T], attempts: int = 5) -> T:
    """Run ``action`` again while it fails with 409 Conflict (client-go's RetryOnConflict)."""
    for attempt in range(attempts):
        try:
            return action()
        except ApiException as exc:
            if exc.status != 409 or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class BackgroundWatch:
    """Collects watch events from a thread so a test can act, then inspect what arrived."""

    def __init__(self, list_func: Callable[..., Any], **kwargs: Any) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._watch = k8s_watch.Watch()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, args=(list_func, kwargs), daemon=True)
        self._thread.start()

    def _run(self, list_func: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        try:
            for event in self._watch.stream(list_func, **kwargs):
                self.events.put(event)
        except Exception as exc:  # noqa: BLE001 - reported through the queue
            if not self._stopped:
                self.events.put({"type": "CLIENT-ERROR", "object": exc})

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> dict[str, Any]:
        """The first event (in order) satisfying ``predicate``; AssertionError on timeout."""
        seen: list[tuple[str, str]] = []
        while True:
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no matching watch event; saw {seen}") from None
            if event["type"] == "CLIENT-ERROR":
                raise AssertionError(f"watch failed: {event['object']!r}")
            seen.append((event["type"], event["object"].metadata.name))
            if predicate(event):
                return event

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()


def flowcontrol(api: Any) -> Any:
    return k8s_client.FlowcontrolApiserverV1Api(api)
