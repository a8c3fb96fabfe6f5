"""Authentication: who is making a request, from a client certificate, a bearer token, or nobody.

Authenticators are tried in kube-apiserver's order: x509 client certificate,
then a static bearer token, then (when enabled) anonymous. As there, anonymous
only stands in for a request that carries no credentials: a request whose
credentials fail is answered 401 even when anonymous access is on. Every user
found by a credential also gets the ``system:authenticated`` group.

The certificate chain has already been verified by the TLS handshake (see
``apf.server.certs.server_ssl_context``, built from the same client CA files),
so here the leaf certificate is only read: common name = user name,
organizations = groups.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apf.flowcontrol.digest import UserInfo

logger = logging.getLogger(__name__)

ANONYMOUS_USER = "system:anonymous"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
AUTHENTICATED_GROUP = "system:authenticated"


class TokenFileError(ValueError):
    """The static token file cannot be used; the message names the file and line."""


class InvalidCredentials(Exception):
    """A credential was presented but is not valid; the request gets 401."""


@dataclass(frozen=True, slots=True)
class _TokenUser:
    name: str
    uid: str
    groups: tuple[str, ...]


# Every anonymous request is the same user; UserInfo is frozen, so one instance serves all.
ANONYMOUS = UserInfo(name=ANONYMOUS_USER, groups=(UNAUTHENTICATED_GROUP,))


class Authenticator:
    """Find the user of a request; None means 401 Unauthorized."""

    def __init__(
        self,
        *,
        client_ca: Path | None = None,
        token_file: Path | None = None,
        anonymous: bool = True,
    ) -> None:
        """Load the token file now, so a broken one stops the server at start-up.

        ``client_ca`` is the extra ``--client-ca-file`` bundle; it takes part in
        the TLS handshake's verification, not in this class.
        """
        self.client_ca = client_ca
        self.is_anonymous_enabled = anonymous
        tokens = load_token_file(token_file) if token_file is not None else {}
        # The user each token stands for, groups complete, built once for all its requests.
        self._token_users = {
            token: _with_authenticated_group(UserInfo(name=t.name, uid=t.uid, groups=t.groups))
            for token, t in tokens.items()
        }
        logger.info(
            "authentication configured",
            extra={
                "client_ca": str(client_ca) if client_ca else "",
                "tokens": len(self._token_users),
                "anonymous": anonymous,
            },
        )

    def authenticate(
        self, headers: Mapping[str, str], tls_peer_chain: Sequence[str]
    ) -> UserInfo | None:
        """The request's user, or None when it must be refused with 401.

        ``headers`` maps header names (any case) to values; ``tls_peer_chain``
        is the verified client chain as PEM strings, leaf first (may be empty).
        """
        try:
            user = self._authenticate_credentials(headers, tls_peer_chain)
        except InvalidCredentials as exc:
            logger.debug("authentication failed", extra={"reason": str(exc)})
            return None
        if user is not None:
            return user
        if self.is_anonymous_enabled:
            return ANONYMOUS
        return None

    def _authenticate_credentials(
        self, headers: Mapping[str, str], tls_peer_chain: Sequence[str]
    ) -> UserInfo | None:
        """A user from the first credential that works; raise if some failed and none worked."""
        failure: InvalidCredentials | None = None
        user = None
        if tls_peer_chain:
            try:
                user = _authenticated_certificate_user(tls_peer_chain[0])
            except InvalidCredentials as exc:
                failure = exc
        if user is not None:
            return user
        token = bearer_token(headers)
        if token is not None:
            found = self._token_users.get(token)
            if found is None:
                raise InvalidCredentials("invalid bearer token")
            return found
        if failure is not None:
            raise failure
        return None


# A connection sends the same certificate with every request: parse it, and add the
# authenticated group, once per certificate.
@functools.lru_cache(maxsize=1024)
def _authenticated_certificate_user(leaf_pem: str) -> UserInfo | None:
    user = _certificate_user(leaf_pem)
    return None if user is None else _with_authenticated_group(user)


def _certificate_user(leaf_pem: str) -> UserInfo | None:
    """User and groups named by a client certificate's subject; None without a common name.

    Raises InvalidCredentials for a certificate not meant for client authentication.
    """
    try:
        leaf = x509.load_pem_x509_certificate(leaf_pem.encode("ascii"))
    except ValueError as exc:
        raise InvalidCredentials("unreadable client certificate") from exc
    _check_client_usage(leaf)
    common_names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not common_names or not common_names[0].value:
        return None
    organizations = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return UserInfo(
        name=_text(common_names[0].value),
        groups=tuple(_text(o.value) for o in organizations),
    )


def _check_client_usage(leaf: x509.Certificate) -> None:
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    allowed = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if not allowed.intersection(usages):
        raise InvalidCredentials("certificate specifies an incompatible key usage")


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    raw = headers.get("authorization")
    if raw is None:
        # Names arrive lower-cased from the server; other callers may not be so tidy.
        raw = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    parts = raw.strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


def load_token_file(path: Path) -> dict[str, _TokenUser]:
    """Read a kube-apiserver static token file: ``token,user,uid[,"group1,group2"]`` lines.

    Raises TokenFileError naming the line for a malformed file. Empty tokens are
    skipped and a repeated token keeps its last line, as kube-apiserver does.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"cannot read token file {path}: {exc}") from exc
    tokens: dict[str, _TokenUser] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            record = split_csv_line(line) if line.strip() else []
        except ValueError as exc:
            raise TokenFileError(f"token file {path}, line {number}: {exc}") from exc
        _add_token(tokens, record, path, number)
    return tokens


def split_csv_line(line: str) -> list[str]:
    """Split one CSV record strictly: quoted fields may hold commas and ``""``; no bare quotes.

    Spaces before a field are dropped. Records spanning lines are not supported.
    """
    fields: list[str] = []
    index = 0
    while True:
        while line.startswith(" ", index):
            index += 1
        if line.startswith('"', index):
            field, index = _quoted_field(line, index)
        else:
            end = line.find(",", index)
            end = len(line) if end < 0 else end
            field = line[index:end]
            if '"' in field:
                raise ValueError(f'bare " in non-quoted field at column {index + 1}')
            index = end
        fields.append(field)
        if index >= len(line):
            return fields
        index += 1  # the comma


def _quoted_field(line: str, start: int) -> tuple[str, int]:
    """The value of the quoted field opening at ``start``, and the index just past it."""
    pieces: list[str] = []
    index = start + 1
    while True:
        close = line.find('"', index)
        if close < 0:
            raise ValueError(f"quoted field at column {start + 1} is not closed")
        pieces.append(line[index:close])
        if not line.startswith('""', close):
            break
        pieces.append('"')
        index = close + 2
    index = close + 1
    if index < len(line) and line[index] != ",":
        raise ValueError(f'extraneous " in field at column {start + 1}')
    return "".join(pieces), index


def _add_token(tokens: dict[str, _TokenUser], record: list[str], path: Path, line: int) -> None:
    if not record:
        return  # a blank line
    if len(record) < 3:
        raise TokenFileError(
            f"token file {path}, line {line}: must have at least 3 columns "
            f"(token, user name, user uid), found {len(record)}"
        )
    token, name, uid = record[0], record[1], record[2]
    if not token:
        logger.warning("empty token skipped", extra={"path": str(path), "line": line})
        return
    if token in tokens:
        logger.warning("duplicate token", extra={"path": str(path), "line": line})
    groups = tuple(g for g in record[3].split(",") if g) if len(record) > 3 else ()
    tokens[token] = _TokenUser(name=name, uid=uid, groups=groups)


def _with_authenticated_group(user: UserInfo) -> UserInfo:
    if AUTHENTICATED_GROUP in user.groups or UNAUTHENTICATED_GROUP in user.groups:
        return user
    return UserInfo(
        name=user.name,
        uid=user.uid,
        groups=(*user.groups, AUTHENTICATED_GROUP),
        extra=user.extra,
    )
