"""Authentication by client certificate, static bearer token and anonymous access."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from apf.flowcontrol.digest import UserInfo
from apf.server.authn import (
    Authenticator,
    TokenFileError,
    bearer_token,
    load_token_file,
    split_csv_line,
)
from apf.server.certs import Pki, ensure_pki, issue_client_cert

TOKENS = 'admin-token,alice,1001,"system:masters,ops"\nplain-token,bob,1002\n'


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.csv"
    path.write_text(TOKENS)
    return path


def test_authenticate_bearer_token_gives_user_uid_and_groups(token_file: Path) -> None:
    authn = Authenticator(token_file=token_file, anonymous=False)

    user = authn.authenticate({"authorization": "Bearer admin-token"}, [])

    assert user == UserInfo(
        "alice", uid="1001", groups=("system:masters", "ops", "system:authenticated")
    )


def test_authenticate_bearer_token_without_groups(token_file: Path) -> None:
    authn = Authenticator(token_file=token_file, anonymous=True)

    user = authn.authenticate({"Authorization": "bearer plain-token"}, [])

    assert user == UserInfo("bob", uid="1002", groups=("system:authenticated",))


def test_authenticate_rejects_invalid_token_even_when_anonymous_is_on(token_file: Path) -> None:
    authn = Authenticator(token_file=token_file, anonymous=True)

    assert authn.authenticate({"authorization": "Bearer wrong"}, []) is None


def test_authenticate_gives_anonymous_without_credentials() -> None:
    authn = Authenticator(anonymous=True)

    user = authn.authenticate({}, [])

    assert user == UserInfo("system:anonymous", groups=("system:unauthenticated",))


def test_authenticate_refuses_when_anonymous_is_off() -> None:
    authn = Authenticator(anonymous=False)

    assert authn.authenticate({}, []) is None


@pytest.mark.parametrize(
    ("value", "token"),
    [
        pytest.param("Bearer abc", "abc", id="plain"),
        pytest.param("  BEARER abc  ", "abc", id="case-and-spaces"),
        pytest.param("Bearer abc extra", "abc", id="trailing-words"),
        pytest.param("Bearer  abc", None, id="double-space"),
        pytest.param("Bearer", None, id="no-token"),
        pytest.param("Basic dXNlcjpwdw==", None, id="basic"),
        pytest.param("", None, id="empty"),
    ],
)
def test_bearer_token_parses_authorization_header(value: str, token: str | None) -> None:
    assert bearer_token({"authorization": value}) == token


def test_authenticate_ignores_non_bearer_authorization_when_anonymous() -> None:
    authn = Authenticator(anonymous=True)

    user = authn.authenticate({"authorization": "Basic dXNlcjpwdw=="}, [])

    assert user is not None
    assert user.name == "system:anonymous"


def test_load_token_file_reads_quoted_groups_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('\nt1, u1, 1, "a,b"\nt2,u2,2,""\n')

    tokens = load_token_file(path)

    assert {k: (v.name, v.uid, v.groups) for k, v in tokens.items()} == {
        "t1": ("u1", "1", ("a", "b")),
        "t2": ("u2", "2", ()),
    }


def test_load_token_file_keeps_last_duplicate_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("t,first,1\nt,second,2\n,nobody,3\n")

    with caplog.at_level(logging.WARNING, logger="apf.server.authn"):
        tokens = load_token_file(path)

    assert tokens["t"].name == "second"
    assert "" not in tokens
    assert [r.getMessage() for r in caplog.records] == ["duplicate token", "empty token skipped"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("t,u,1\nonly,two\n", r"line 2: must have at least 3 columns", id="short"),
        pytest.param('t,u,1,"a\n', r"line 1: quoted field at column 7 is not closed", id="open"),
        pytest.param('t,u"x",1\n', r'line 1: bare " in non-quoted field', id="bare-quote"),
        pytest.param('t,u,1,"a"b\n', r'line 1: extraneous "', id="after-quote"),
    ],
)
def test_load_token_file_names_the_bad_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)

    with pytest.raises(TokenFileError, match=message):
        Authenticator(token_file=path)


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        pytest.param("a,b,c", ["a", "b", "c"], id="plain"),
        pytest.param('a,"b,c",d', ["a", "b,c", "d"], id="quoted-comma"),
        pytest.param('a,"say ""hi"""', ["a", 'say "hi"'], id="doubled-quote"),
        pytest.param("a,,", ["a", "", ""], id="empty-fields"),
        pytest.param('  a,  "b"', ["a", "b"], id="leading-spaces"),
    ],
)
def test_split_csv_line_handles_quoting(line: str, fields: list[str]) -> None:
    assert split_csv_line(line) == fields


def test_load_token_file_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="cannot read token file"):
        load_token_file(tmp_path / "absent.csv")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return ensure_pki(tmp_path)


def test_authenticate_client_certificate_gives_name_and_groups(pki: Pki) -> None:
    chain = [issue_client_cert(pki, "noxu", ["ops", "dev"]).cert_pem.decode()]

    user = Authenticator(anonymous=False).authenticate({}, chain)

    assert user == UserInfo("noxu", groups=("ops", "dev", "system:authenticated"))


def test_authenticate_client_certificate_wins_over_token(pki: Pki, token_file: Path) -> None:
    authn = Authenticator(token_file=token_file, anonymous=True)

    user = authn.authenticate({"authorization": "Bearer wrong"}, [pki.admin_cert.read_text()])

    assert user == UserInfo("kubernetes-admin", groups=("system:masters", "system:authenticated"))


def test_authenticate_rejects_certificate_not_for_client_auth(pki: Pki) -> None:
    authn = Authenticator(anonymous=True)

    assert authn.authenticate({}, [pki.serving_cert.read_text()]) is None


def test_authenticate_uses_token_when_certificate_is_unusable(pki: Pki, token_file: Path) -> None:
    authn = Authenticator(token_file=token_file, anonymous=True)

    user = authn.authenticate(
        {"authorization": "Bearer plain-token"}, [pki.serving_cert.read_text()]
    )

    assert user is not None
    assert user.name == "bob"
