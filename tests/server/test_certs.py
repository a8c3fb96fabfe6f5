"""The server's PKI: creation, reuse, kubeconfig and the TLS server context."""

from __future__ import annotations

import base64
import datetime
import ssl
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes import client as k8s_client, config as k8s_config

from apf.server import certs
from apf.server.certs import (
    Pki,
    ensure_pki,
    issue_client_cert,
    server_ssl_context,
    ssl_context,
    write_kubeconfig,
)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _san(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(san.get_values_for_type(x509.DNSName)), ips


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLObject:
    """Run a TLS handshake in memory; return the server side, raise ssl.SSLError on failure."""
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    client_side = client.wrap_bio(client_in, client_out, server_hostname="localhost")
    done: set[str] = set()
    for _ in range(20):
        for label, side in (("client", client_side), ("server", server_side)):
            try:
                side.do_handshake()
                done.add(label)
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if len(done) == 2 and not client_out.pending and not server_out.pending:
            # TLS 1.3: the server judges the client certificate after the client is done.
            client_side.write(b"x")
            server_in.write(client_out.read())
            assert server_side.read(1) == b"x"
            return server_side
    raise AssertionError("handshake did not finish")


def _client_context(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def test_ensure_pki_creates_ca_serving_and_admin_files(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, hosts=["10.0.0.7", "apf.example"])

    assert pki.directory == tmp_path / "pki"
    ca = _cert(pki.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3650
    dns, ips = _san(_cert(pki.serving_cert))
    assert dns == {"localhost", "apf.example"}
    assert ips == {"127.0.0.1", "::1", "10.0.0.7"}
    admin = _cert(pki.admin_cert).subject
    assert admin.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert admin.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert {_mode(p) for p in (pki.ca_key, pki.serving_key, pki.admin_key)} == {0o600}


def test_ensure_pki_reuses_existing_files(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path, hosts=["127.0.0.1"])
    before = {p: p.read_bytes() for p in first.directory.iterdir()}

    second = ensure_pki(tmp_path, hosts=["127.0.0.1", "localhost", "0:0::1"])

    assert {p: p.read_bytes() for p in second.directory.iterdir()} == before


def test_ensure_pki_reissues_serving_cert_when_host_is_missing(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    ca_before, admin_before = pki.ca_cert.read_bytes(), pki.admin_cert.read_bytes()

    ensure_pki(tmp_path, hosts=["192.168.1.5"])

    _, ips = _san(_cert(pki.serving_cert))
    assert "192.168.1.5" in ips
    assert pki.ca_cert.read_bytes() == ca_before
    assert pki.admin_cert.read_bytes() == admin_before


def test_ensure_pki_reissues_leaf_close_to_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certs, "LEAF_VALIDITY", datetime.timedelta(days=2))
    pki = ensure_pki(tmp_path)
    short_lived = _cert(pki.admin_cert)
    monkeypatch.undo()

    ensure_pki(tmp_path)

    renewed = _cert(pki.admin_cert)
    assert renewed.not_valid_after_utc - short_lived.not_valid_after_utc > datetime.timedelta(
        days=300
    )


def test_ensure_pki_leaves_wildcard_bind_address_out_of_sans(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, hosts=["0.0.0.0", "::", "[::1]"])

    assert _san(_cert(pki.serving_cert))[1] == {"127.0.0.1", "::1"}


def test_ensure_pki_reissues_leaves_when_ca_is_replaced(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    other = ensure_pki(tmp_path / "other")
    pki.ca_cert.write_bytes(other.ca_cert.read_bytes())
    pki.ca_key.write_bytes(other.ca_key.read_bytes())

    ensure_pki(tmp_path)

    ca = _cert(pki.ca_cert)
    _cert(pki.serving_cert).verify_directly_issued_by(ca)
    _cert(pki.admin_cert).verify_directly_issued_by(ca)


def test_write_kubeconfig_embeds_ca_and_admin_credentials(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    path = tmp_path / "admin.kubeconfig"

    write_kubeconfig(path, server_url="https://127.0.0.1:6443", pki=pki)

    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "apf"
    (context,) = config["contexts"]
    assert context["name"] == "apf"
    (cluster,) = config["clusters"]
    assert cluster["name"] == context["context"]["cluster"]
    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    ca_data = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
    assert ca_data == pki.ca_cert.read_bytes()
    (user,) = config["users"]
    assert user["name"] == context["context"]["user"]
    assert base64.b64decode(user["user"]["client-key-data"]) == pki.admin_key.read_bytes()
    assert base64.b64decode(user["user"]["client-certificate-data"]) == (
        pki.admin_cert.read_bytes()
    )
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_write_kubeconfig_loads_in_the_official_client(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    path = tmp_path / "admin.kubeconfig"
    write_kubeconfig(path, server_url="https://127.0.0.1:6443", pki=pki)
    configuration = k8s_client.Configuration()

    k8s_config.load_kube_config(config_file=str(path), client_configuration=configuration)

    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.cert_file is not None
    assert Path(configuration.cert_file).read_bytes() == pki.admin_cert.read_bytes()


def test_issue_client_cert_names_user_and_groups(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)

    client = issue_client_cert(pki, "noxu", ["ops", "dev"])

    subject = x509.load_pem_x509_certificate(client.cert_pem).subject
    assert subject.rfc4514_string() == "CN=noxu,O=dev,O=ops"
    cert_path, key_path = client.write(tmp_path, "noxu")
    assert _mode(key_path) == 0o600
    assert cert_path.read_bytes() == client.cert_pem


def test_ssl_context_accepts_clients_without_certificate(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)

    server_side = _handshake(ssl_context(pki), _client_context(pki))

    assert server_side.getpeercert(binary_form=True) is None


def test_ssl_context_verifies_presented_client_certificate(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)

    server_side = _handshake(ssl_context(pki), _client_context(pki, pki.admin_cert, pki.admin_key))

    der = server_side.getpeercert(binary_form=True)
    assert der is not None
    assert x509.load_der_x509_certificate(der) == _cert(pki.admin_cert)


def test_ssl_context_rejects_client_certificate_from_unknown_ca(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    stranger = issue_client_cert(ensure_pki(tmp_path / "stranger"), "mallory")
    cert, key = stranger.write(tmp_path, "mallory")

    with pytest.raises(ssl.SSLError):
        _handshake(ssl_context(pki), _client_context(pki, cert, key))


def test_ssl_context_trusts_extra_client_ca_file(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    other = ensure_pki(tmp_path / "other")
    cert, key = issue_client_cert(other, "carol", ["ops"]).write(tmp_path, "carol")

    server_side = _handshake(
        ssl_context(pki, client_ca_file=other.ca_cert), _client_context(pki, cert, key)
    )

    assert server_side.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(cert.read_text())


def test_server_ssl_context_uses_explicit_files(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, hosts=["10.1.1.1"])

    context = server_ssl_context(
        cert_file=pki.serving_cert, key_file=pki.serving_key, client_ca_files=[pki.ca_cert]
    )

    assert context.verify_mode == ssl.CERT_OPTIONAL
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    server_side = _handshake(context, _client_context(pki))
    assert server_side.version() in ("TLSv1.2", "TLSv1.3")
