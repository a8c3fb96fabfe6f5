"""Authentication, impersonation and authorization as real clients see them."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess, running_server

FS_PATH = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas"


def _get(
    server: ServerProcess, path: str, *, context: ssl.SSLContext, headers: dict[str, str]
) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(server.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            body = response.read()
            return (
                response.status,
                _decode(body),
                {k.lower(): v for k, v in response.headers.items()},
            )
    except urllib.error.HTTPError as exc:
        return exc.code, _decode(exc.read()), {k.lower(): v for k, v in exc.headers.items()}


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode()


def _anonymous_context(server: ServerProcess) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp("apf-tokens")
    tokens = data_dir / "tokens.csv"
    tokens.write_text('admin-token,alice,1001,"system:masters,ops"\nplain-token,bob,1002\n')
    with running_server(data_dir / "srv", f"--token-auth-file={tokens}") as server:
        yield server


def test_anonymous_may_read_version_but_not_flowschemas(server: ServerProcess) -> None:
    context = _anonymous_context(server)
    status, body, headers = _get(server, "/version", context=context, headers={})
    assert status == 200
    assert body["major"] == "1"
    assert headers["x-kubernetes-pf-flowschema-uid"]

    status, body, headers = _get(server, FS_PATH, context=context, headers={})
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert 'User "system:anonymous" cannot list resource "flowschemas"' in body["message"]
    assert headers["x-kubernetes-pf-prioritylevel-uid"]


def test_bearer_tokens_authenticate_users_and_groups(token_server: ServerProcess) -> None:
    context = _anonymous_context(token_server)
    status, body, _ = _get(
        token_server, FS_PATH, context=context, headers={"Authorization": "Bearer admin-token"}
    )
    assert status == 200
    assert body["kind"] == "FlowSchemaList"

    status, body, _ = _get(
        token_server, FS_PATH, context=context, headers={"Authorization": "Bearer plain-token"}
    )
    assert status == 403
    assert 'User "bob"' in body["message"]

    status, body, _ = _get(
        token_server, "/version", context=context, headers={"Authorization": "Bearer wrong"}
    )
    assert status == 401
    assert body["reason"] == "Unauthorized"


def test_impersonation_is_applied_before_authorization(server: ServerProcess) -> None:
    context = server.ssl_context()
    status, body, headers = _get(
        server, FS_PATH, context=context, headers={"Impersonate-User": "noxu"}
    )
    assert status == 403
    assert 'User "noxu"' in body["message"]
    assert headers["x-kubernetes-pf-flowschema-uid"]


def test_impersonation_requires_permission(token_server: ServerProcess) -> None:
    context = _anonymous_context(token_server)
    status, body, _ = _get(
        token_server,
        "/version",
        context=context,
        headers={"Authorization": "Bearer plain-token", "Impersonate-User": "alice"},
    )
    assert status == 403
    assert "cannot impersonate" in body["message"]


def test_impersonating_groups_without_a_user_is_a_bad_request(server: ServerProcess) -> None:
    status, body, _ = _get(
        server, "/version", context=server.ssl_context(), headers={"Impersonate-Group": "ops"}
    )
    assert status == 400
    assert body["reason"] == "BadRequest"


def test_kubeconfig_embeds_credentials(server: ServerProcess) -> None:
    text = Path(server.kubeconfig).read_text()
    assert "certificate-authority-data" in text
    assert "client-certificate-data" in text
    assert "client-key-data" in text
