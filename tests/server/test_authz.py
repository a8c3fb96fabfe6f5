"""Authorization by built-in groups, and kube-apiserver's forbidden messages."""

from __future__ import annotations

import pytest

from apf.flowcontrol.digest import UserInfo
from apf.server.authz import (
    MAX_CACHED_PATH_CHARS,
    _may_get_path_cached,
    authorize,
    forbidden_error,
)
from apf.server.requestinfo import parse

GROUP = "flowcontrol.apiserver.k8s.io"
ADMIN = UserInfo("kubernetes-admin", groups=("system:masters", "system:authenticated"))
NOXU = UserInfo("noxu", groups=("system:authenticated",))
ANONYMOUS = UserInfo("system:anonymous", groups=("system:unauthenticated",))


def _allowed(user: UserInfo, method: str, path: str) -> bool:
    allowed, _ = authorize(user, parse(method, path, {}))
    return allowed


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", f"/apis/{GROUP}/v1/flowschemas", id="list"),
        pytest.param("DELETE", f"/apis/{GROUP}/v1/flowschemas/x", id="delete"),
        pytest.param("PUT", f"/apis/{GROUP}/v1/prioritylevelconfigurations/x/status", id="status"),
        pytest.param("GET", "/metrics", id="metrics"),
        pytest.param("GET", "/debug/api_priority_and_fairness/dump_queues", id="debug"),
        pytest.param("POST", "/anything", id="any-path"),
    ],
)
def test_authorize_allows_masters_everything(method: str, path: str) -> None:
    assert _allowed(ADMIN, method, path)


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/api/v1",
        "/apis",
        f"/apis/{GROUP}",
        f"/apis/{GROUP}/v1",
        "/openapi/v2",
        "/openapi/v3",
        f"/openapi/v3/apis/{GROUP}/v1",
        "/version",
        "/healthz",
        "/livez",
        "/readyz",
        "/readyz/ping",
    ],
)
def test_authorize_allows_authenticated_users_discovery(path: str) -> None:
    assert _allowed(NOXU, "GET", path)


@pytest.mark.parametrize(
    ("user", "method", "path"),
    [
        pytest.param(NOXU, "GET", f"/apis/{GROUP}/v1/flowschemas", id="list"),
        pytest.param(NOXU, "POST", "/api", id="post-discovery"),
        pytest.param(NOXU, "HEAD", "/version", id="head"),
        pytest.param(NOXU, "GET", "/metrics", id="metrics"),
        pytest.param(NOXU, "GET", "/versions", id="version-prefix"),
        pytest.param(NOXU, "GET", "/apisx", id="apis-prefix"),
        pytest.param(ANONYMOUS, "GET", "/api", id="anonymous-discovery"),
        pytest.param(ANONYMOUS, "GET", "/openapi/v2", id="anonymous-openapi"),
        pytest.param(ANONYMOUS, "GET", "/readyz/ping", id="anonymous-health-subpath"),
        pytest.param(UserInfo("nobody"), "GET", "/version", id="no-groups"),
    ],
)
def test_authorize_denies_others(user: UserInfo, method: str, path: str) -> None:
    assert not _allowed(user, method, path)


@pytest.mark.parametrize("path", ["/version", "/version/", "/healthz", "/livez", "/readyz"])
def test_authorize_allows_anonymous_public_info(path: str) -> None:
    assert _allowed(ANONYMOUS, "GET", path)


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        pytest.param(
            "GET",
            f"/apis/{GROUP}/v1/flowschemas",
            f'flowschemas.{GROUP} is forbidden: User "noxu" cannot list resource "flowschemas"'
            f' in API group "{GROUP}" at the cluster scope',
            id="list",
        ),
        pytest.param(
            "PUT",
            f"/apis/{GROUP}/v1/flowschemas/exempt/status",
            f'flowschemas.{GROUP} "exempt" is forbidden: User "noxu" cannot update resource'
            f' "flowschemas/status" in API group "{GROUP}" at the cluster scope',
            id="named-subresource",
        ),
        pytest.param(
            "GET",
            "/api/v1/namespaces/ns1/pods",
            'pods is forbidden: User "noxu" cannot list resource "pods" in API group ""'
            ' in the namespace "ns1"',
            id="namespaced-core",
        ),
        pytest.param(
            "GET", "/foo", 'forbidden: User "noxu" cannot get path "/foo"', id="non-resource"
        ),
    ],
)
def test_authorize_denial_uses_kubernetes_message(method: str, path: str, message: str) -> None:
    allowed, reason = authorize(NOXU, parse(method, path, {}))

    assert not allowed
    assert reason == message


def test_forbidden_error_carries_status_details() -> None:
    info = parse("DELETE", f"/apis/{GROUP}/v1/flowschemas/x", {})

    error = forbidden_error(NOXU, info)

    assert error.code == 403
    assert error.reason == "Forbidden"
    assert error.details == {"kind": "flowschemas", "name": "x", "group": GROUP}


def test_authorize_decides_long_paths_without_remembering_them() -> None:
    long_public = "/healthz/" + "x" * MAX_CACHED_PATH_CHARS
    long_private = "/apis/" + "x" * MAX_CACHED_PATH_CHARS
    before = _may_get_path_cached.cache_info().currsize

    assert _allowed(ANONYMOUS, "GET", long_public) == _allowed(ANONYMOUS, "GET", "/healthz/x")
    assert _allowed(NOXU, "GET", long_private) == _allowed(NOXU, "GET", "/apis/x")
    assert _may_get_path_cached.cache_info().currsize <= before + 2  # only the short ones
