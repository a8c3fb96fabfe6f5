"""Impersonation headers, permission checks and the resulting user."""

from __future__ import annotations

import pytest

from apf.api.errors import StatusError
from apf.flowcontrol.digest import RequestInfo, UserInfo
from apf.server.impersonation import impersonate, split_service_account

ADMIN = UserInfo("kubernetes-admin", groups=("system:masters", "system:authenticated"))
BOB = UserInfo("bob", groups=("system:authenticated",))


def test_impersonate_returns_same_user_without_headers() -> None:
    assert impersonate(BOB, [("accept", "application/json")]) is BOB


def test_impersonate_user_adds_authenticated_group() -> None:
    user = impersonate(ADMIN, [("impersonate-user", "noxu")])

    assert user == UserInfo("noxu", groups=("system:authenticated",))


def test_impersonate_user_with_repeated_groups_uid_and_extra() -> None:
    headers = [
        ("Impersonate-User", "noxu"),
        ("Impersonate-Group", "ops"),
        ("Impersonate-Group", "dev,qa"),
        ("Impersonate-Uid", "u-1"),
        ("Impersonate-Extra-Scopes", "view"),
        ("Impersonate-Extra-Scopes", "edit"),
        ("Impersonate-Extra-Acme.com%2Fproject", "p1"),
    ]

    user = impersonate(ADMIN, headers)

    assert user == UserInfo(
        "noxu",
        uid="u-1",
        groups=("ops", "dev,qa", "system:authenticated"),
        extra={"scopes": ("view", "edit"), "acme.com/project": ("p1",)},
    )


def test_impersonate_takes_first_user_header() -> None:
    user = impersonate(ADMIN, [("impersonate-user", "first"), ("impersonate-user", "second")])

    assert user.name == "first"


def test_impersonate_keeps_malformed_extra_key_as_sent() -> None:
    user = impersonate(ADMIN, [("impersonate-user", "u"), ("impersonate-extra-a%zz", "v")])

    assert user.extra == {"a%zz": ("v",)}


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        pytest.param(["system:authenticated"], ("system:authenticated",), id="authenticated"),
        pytest.param(["system:unauthenticated"], ("system:unauthenticated",), id="unauth"),
        pytest.param(["ops"], ("ops", "system:authenticated"), id="other"),
    ],
)
def test_impersonate_adds_authenticated_unless_requested(
    groups: list[str], expected: tuple[str, ...]
) -> None:
    headers = [("impersonate-user", "noxu"), *(("impersonate-group", g) for g in groups)]

    assert impersonate(ADMIN, headers).groups == expected


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        pytest.param([], ("system:unauthenticated",), id="none"),
        pytest.param(["ops"], ("ops", "system:unauthenticated"), id="other"),
        pytest.param(["system:unauthenticated"], ("system:unauthenticated",), id="explicit"),
    ],
)
def test_impersonate_anonymous_gets_unauthenticated_group(
    groups: list[str], expected: tuple[str, ...]
) -> None:
    headers = [
        ("impersonate-user", "system:anonymous"),
        *(("impersonate-group", g) for g in groups),
    ]

    assert impersonate(ADMIN, headers).groups == expected


def test_impersonate_service_account_gets_service_account_groups() -> None:
    user = impersonate(ADMIN, [("impersonate-user", "system:serviceaccount:kube-system:robot")])

    assert user.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:kube-system",
        "system:authenticated",
    )


def test_impersonate_service_account_with_groups_uses_only_those() -> None:
    headers = [
        ("impersonate-user", "system:serviceaccount:ns:robot"),
        ("impersonate-group", "ops"),
    ]

    assert impersonate(ADMIN, headers).groups == ("ops", "system:authenticated")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("system:serviceaccount:ns:sa", ("ns", "sa"), id="valid"),
        pytest.param("system:serviceaccount:ns:sa.x-1", ("ns", "sa.x-1"), id="subdomain-name"),
        pytest.param("system:serviceaccount:ns", None, id="no-name"),
        pytest.param("system:serviceaccount:ns:a:b", None, id="extra-part"),
        pytest.param("system:serviceaccount:NS:sa", None, id="bad-namespace"),
        pytest.param("system:serviceaccount:ns:", None, id="empty-name"),
        pytest.param("system:serviceaccounts:ns:sa", None, id="group-prefix"),
        pytest.param("alice", None, id="plain-user"),
    ],
)
def test_split_service_account_validates_names(
    name: str, expected: tuple[str, str] | None
) -> None:
    assert split_service_account(name) == expected


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("impersonate-group", "ops")], id="group"),
        pytest.param([("impersonate-uid", "u-1")], id="uid"),
        pytest.param([("impersonate-extra-scopes", "view")], id="extra"),
        pytest.param([("impersonate-user", ""), ("impersonate-group", "ops")], id="empty-user"),
    ],
)
def test_impersonate_without_user_is_a_bad_request(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(StatusError, match="requires impersonating a user") as caught:
        impersonate(ADMIN, headers)

    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")


def test_impersonate_forbidden_for_non_masters() -> None:
    with pytest.raises(StatusError) as caught:
        impersonate(BOB, [("impersonate-user", "alice")])

    assert caught.value.code == 403
    assert caught.value.reason == "Forbidden"
    assert caught.value.message == (
        'users "alice" is forbidden: User "bob" cannot impersonate resource "users"'
        ' in API group "" at the cluster scope'
    )


def test_impersonate_forbidden_service_account_names_its_namespace() -> None:
    with pytest.raises(StatusError) as caught:
        impersonate(BOB, [("impersonate-user", "system:serviceaccount:ns1:robot")])

    assert caught.value.message == (
        'serviceaccounts "robot" is forbidden: User "bob" cannot impersonate resource'
        ' "serviceaccounts" in API group "" in the namespace "ns1"'
    )


def test_impersonate_checks_each_requested_item_in_order() -> None:
    checked: list[tuple[str, str, str, str]] = []

    def allow_all_but_uids(user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
        checked.append((info.resource, info.subresource, info.api_group, info.name))
        return info.resource != "uids", ""

    headers = [
        ("impersonate-uid", "u-1"),
        ("impersonate-extra-scopes", "view"),
        ("impersonate-group", "ops"),
        ("impersonate-user", "noxu"),
    ]
    with pytest.raises(StatusError) as caught:
        impersonate(BOB, headers, allow_all_but_uids)

    assert checked == [
        ("users", "", "", "noxu"),
        ("groups", "", "", "ops"),
        ("userextras", "scopes", "authentication.k8s.io", "view"),
        ("uids", "", "authentication.k8s.io", "u-1"),
    ]
    assert caught.value.message == (
        'uids.authentication.k8s.io "u-1" is forbidden: User "bob" cannot impersonate'
        ' resource "uids" in API group "authentication.k8s.io" at the cluster scope'
    )
