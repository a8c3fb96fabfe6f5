"""The server's own small PKI: a CA, a serving certificate, an admin client certificate.

``apf serve`` works out of the box over HTTPS: on first start it creates, under
``<data-dir>/pki``, a CA (EC P-256, ten years), a serving certificate signed by
it for the loopback names plus the bind address, and a client certificate for
``kubernetes-admin`` in ``system:masters``; then it writes a kubeconfig that
embeds them. Later starts reuse the files, re-issuing a leaf certificate only
when it is missing, close to expiry, or (serving) lacks a requested host.

Private keys are written with mode 0600, every file atomically (temporary file
then rename), so a crash never leaves half a key behind.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

CA_VALIDITY = datetime.timedelta(days=3650)
LEAF_VALIDITY = datetime.timedelta(days=365)
# A leaf certificate this close to expiry is re-issued at start-up.
RENEW_BEFORE = datetime.timedelta(days=30)
# Clocks of clients may lag ours; certificates are valid from a little earlier.
BACKDATE = datetime.timedelta(hours=1)
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"
KUBECONFIG_NAME = "apf"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Pki:
    """Paths of the PKI files (all PEM) under one directory."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "serving.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "serving.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"


@dataclass(frozen=True, slots=True)
class ClientCert:
    """A client certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key`` (0600) into ``directory``; return both paths."""
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        write_atomic(cert_path, self.cert_pem, mode=0o644)
        write_atomic(key_path, self.key_pem, mode=0o600)
        return cert_path, key_path


def ensure_pki(data_dir: Path, *, hosts: Sequence[str] = ()) -> Pki:
    """Create or reuse the PKI under ``data_dir/pki``; the serving cert covers ``hosts`` too."""
    pki = Pki(data_dir / "pki")
    pki.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = _now()
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        _create_ca(pki, now)
        # Leaves signed by a previous CA are useless now.
        for path in (pki.serving_cert, pki.admin_cert):
            path.unlink(missing_ok=True)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    wanted = _host_set([*DEFAULT_HOSTS, *hosts])
    if not _is_usable(pki.serving_cert, pki.serving_key, ca_cert, now, wanted):
        _issue_serving(pki, wanted, now)
    if not _is_usable(pki.admin_cert, pki.admin_key, ca_cert, now, None):
        ClientCert(*_issue_client(pki, ADMIN_USER, [ADMIN_GROUP], now)).write(
            pki.directory, "admin"
        )
        logger.info("admin client certificate issued", extra={"user": ADMIN_USER})
    return pki


def issue_client_cert(pki: Pki, user: str, groups: Sequence[str] = ()) -> ClientCert:
    """A client certificate for ``user`` (CN) in ``groups`` (O), signed by the PKI's CA."""
    cert_pem, key_pem = _issue_client(pki, user, groups, _now())
    return ClientCert(cert_pem, key_pem)


def write_kubeconfig(path: Path, *, server_url: str, pki: Pki) -> None:
    """Write an admin kubeconfig with the CA and client credentials embedded, atomically."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": KUBECONFIG_NAME,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": _base64(pki.ca_cert),
                },
            }
        ],
        "users": [
            {
                "name": ADMIN_USER,
                "user": {
                    "client-certificate-data": _base64(pki.admin_cert),
                    "client-key-data": _base64(pki.admin_key),
                },
            }
        ],
        "contexts": [
            {"name": KUBECONFIG_NAME, "context": {"cluster": KUBECONFIG_NAME, "user": ADMIN_USER}}
        ],
        "current-context": KUBECONFIG_NAME,
        "preferences": {},
    }
    write_atomic(path, yaml.safe_dump(config, sort_keys=False).encode(), mode=0o600)


def server_ssl_context(
    *, cert_file: Path, key_file: Path, client_ca_files: Iterable[Path] = ()
) -> ssl.SSLContext:
    """A TLS server context that asks for, but does not require, a client certificate.

    A presented certificate must chain to one of ``client_ca_files`` or the
    handshake fails; a client without one continues (as anonymous or with a token).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_file), str(key_file))
    context.verify_mode = ssl.CERT_OPTIONAL
    for ca_file in client_ca_files:
        context.load_verify_locations(cafile=str(ca_file))
    context.set_alpn_protocols(["http/1.1"])
    return context


def ssl_context(pki: Pki, client_ca_file: Path | None = None) -> ssl.SSLContext:
    """A server context for the PKI's serving cert, trusting its CA and ``client_ca_file``."""
    client_cas = [pki.ca_cert] if client_ca_file is None else [pki.ca_cert, client_ca_file]
    return server_ssl_context(
        cert_file=pki.serving_cert, key_file=pki.serving_key, client_ca_files=client_cas
    )


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` in one step; the file never exists with other modes."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# ---------------------------------------------------------------- issuing


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _create_ca(pki: Pki, now: datetime.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apf-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(is_ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_atomic(pki.ca_key, _key_pem(key), mode=0o600)
    write_atomic(pki.ca_cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    logger.info("certificate authority created", extra={"path": str(pki.ca_cert)})


def _issue_serving(pki: Pki, hosts: set[str | IpAddress], now: datetime.datetime) -> None:
    names: list[x509.GeneralName] = []
    for host in sorted(hosts, key=str):
        if isinstance(host, str):
            names.append(x509.DNSName(host))
        else:
            names.append(x509.IPAddress(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apf-serving")])
    cert_pem, key_pem = _issue_leaf(
        pki,
        subject,
        now,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        alternative_names=names,
    )
    write_atomic(pki.serving_key, key_pem, mode=0o600)
    write_atomic(pki.serving_cert, cert_pem, mode=0o644)
    logger.info("serving certificate issued", extra={"hosts": sorted(str(h) for h in hosts)})


def _issue_client(
    pki: Pki, user: str, groups: Sequence[str], now: datetime.datetime
) -> tuple[bytes, bytes]:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    return _issue_leaf(pki, x509.Name(attributes), now, usage=ExtendedKeyUsageOID.CLIENT_AUTH)


def _issue_leaf(
    pki: Pki,
    subject: x509.Name,
    now: datetime.datetime,
    *,
    usage: x509.ObjectIdentifier,
    alternative_names: Sequence[x509.GeneralName] = (),
) -> tuple[bytes, bytes]:
    """Sign a new leaf certificate with the CA; return (certificate PEM, key PEM)."""
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{pki.ca_key} does not hold the EC key apf creates")
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(is_ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _key_usage(*, is_ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=is_ca,
        crl_sign=is_ca,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# ---------------------------------------------------------------- reuse checks


def _host_set(hosts: Iterable[str]) -> set[str | IpAddress]:
    """Hosts as SAN values: IP addresses parsed (``::1`` equals ``0::1``), names lower-cased."""
    result: set[str | IpAddress] = set()
    for host in filter(None, (h.strip().strip("[]") for h in hosts)):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            result.add(host.lower())
            continue
        # A wildcard bind address (0.0.0.0, ::) is never dialled, so it is no SAN.
        if not address.is_unspecified:
            result.add(address)
    return result


def _is_usable(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    now: datetime.datetime,
    hosts: set[str | IpAddress] | None,
) -> bool:
    """Whether a leaf exists, is signed by the CA, is not close to expiry, covers ``hosts``."""
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        logger.warning("unreadable certificate replaced", extra={"path": str(cert_path)})
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return hosts is None or hosts <= _san_hosts(cert)


def _san_hosts(cert: x509.Certificate) -> set[str | IpAddress]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    found: set[str | IpAddress] = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    for address in san.get_values_for_type(x509.IPAddress):
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            found.add(address)
    return found


def _base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")
