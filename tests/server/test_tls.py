"""The local CA of ``--tls auto``: files, certificate profile, reuse and re-issue, a real handshake."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from arkit_py.errors import InputError
from arkit_py.server import tls
from arkit_py.server.tls import addresses, authority

HOSTS = ["192.168.1.20", "10.0.0.5", "arkit-lab.local", "[fd00::5]", "0.0.0.0"]


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def verify(ca: tls.CA, leaf: x509.Certificate, name) -> None:
    """Full RFC 5280 / CA-B-Forum-profile path validation with cryptography's verifier."""
    now = dt.datetime.now(dt.UTC)
    PolicyBuilder().store(Store([ca.cert])).time(now).build_server_verifier(name).verify(leaf, [])


def test_ca_is_created_once_and_reused(tmp_path):
    ca = tls.ensure_ca(tmp_path)
    assert ca.cert_path == tmp_path / "tls" / "ca.pem" and ca.key_path == tmp_path / "tls" / "ca-key.pem"
    assert mode(ca.key_path) == 0o600
    again = tls.ensure_ca(str(tmp_path))
    assert again.fingerprint == ca.fingerprint and again.cert_pem == ca.cert_pem
    assert ca.key_path.read_bytes() == again.key_path.read_bytes()
    assert ca.fingerprint == load(ca.cert_path).fingerprint(hashes.SHA256()).hex(":").upper()
    assert len(ca.fingerprint) == 32 * 3 - 1


def test_ca_profile(tmp_path):
    ca = tls.ensure_ca(tmp_path)
    cert = load(ca.cert_path)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and cert.public_key().curve.name == "secp256r1"
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and not ku.value.digital_signature
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn.startswith("arkit local classroom CA (") and cn.endswith(")")
    assert cert.subject == cert.issuer
    cert.verify_directly_issued_by(cert)
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365
    assert 9.9 < years < 10.1


def test_broken_ca_is_not_overwritten(tmp_path):
    ca = tls.ensure_ca(tmp_path)
    ca.key_path.write_bytes(b"not a key")
    with pytest.raises(InputError, match="ca.pem: tls: not a usable CA"):
        tls.ensure_ca(tmp_path)
    assert ca.cert_path.read_bytes() == ca.cert_pem


def test_expired_ca_is_replaced(tmp_path, monkeypatch):
    real_now = authority._now
    monkeypatch.setattr(authority, "_now", lambda: real_now() - dt.timedelta(days=authority.CA_DAYS))
    old = tls.ensure_ca(tmp_path)
    monkeypatch.setattr(authority, "_now", real_now)
    new = tls.ensure_ca(tmp_path)
    assert new.fingerprint != old.fingerprint


def test_leaf_verifies_against_the_ca(tmp_path):
    cert_path, key_path = tls.ensure_leaf(tmp_path, HOSTS)
    ca = tls.ensure_ca(tmp_path)
    assert mode(key_path) == 0o600
    leaf = load(cert_path)
    leaf.verify_directly_issued_by(ca.cert)  # signature and issuer name
    assert leaf.issuer == ca.cert.subject

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(a) for a in ("192.168.1.20", "10.0.0.5", "fd00::5", "127.0.0.1")}
    assert set(san.get_values_for_type(x509.DNSName)) == {"arkit-lab.local", "localhost"}

    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.public_key().curve.name == "secp256r1"
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=397)
    assert leaf.not_valid_before_utc <= dt.datetime.now(dt.UTC) < leaf.not_valid_after_utc

    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()

    for name in (DNSName("localhost"), DNSName("arkit-lab.local"), IPAddress(ipaddress.ip_address("192.168.1.20")),
                 IPAddress(ipaddress.ip_address("fd00::5")), IPAddress(ipaddress.ip_address("127.0.0.1"))):
        verify(ca, leaf, name)
    with pytest.raises(VerificationError):
        verify(ca, leaf, DNSName("example.org"))
    with pytest.raises(VerificationError):
        verify(ca, leaf, IPAddress(ipaddress.ip_address("192.168.1.21")))


def test_leaf_is_reused_or_reissued(tmp_path, monkeypatch):
    cert_path, _ = tls.ensure_leaf(tmp_path, ["192.168.1.20", "arkit-lab.local"])
    first = cert_path.read_bytes()
    # the same names (in any order, any spelling) reuse the certificate
    tls.ensure_leaf(tmp_path, ["ARKIT-lab.local.", "192.168.1.20", "localhost"])
    assert cert_path.read_bytes() == first
    # a new address re-issues
    tls.ensure_leaf(tmp_path, ["192.168.1.21", "arkit-lab.local"])
    second = cert_path.read_bytes()
    assert second != first
    san = load(cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("192.168.1.21") in san.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("192.168.1.20") not in san.get_values_for_type(x509.IPAddress)
    # a leaf within 30 days of expiry re-issues
    real_now = authority._now
    monkeypatch.setattr(authority, "_now", lambda: real_now() - dt.timedelta(days=380))
    (tmp_path / "tls" / "server.pem").unlink()
    tls.ensure_leaf(tmp_path, ["192.168.1.21"])
    old = load(cert_path)
    monkeypatch.setattr(authority, "_now", real_now)
    tls.ensure_leaf(tmp_path, ["192.168.1.21"])
    assert load(cert_path).not_valid_after_utc > old.not_valid_after_utc + dt.timedelta(days=300)


def test_new_ca_reissues_the_leaf(tmp_path):
    cert_path, _ = tls.ensure_leaf(tmp_path, ["192.168.1.20"])
    for name in ("ca.pem", "ca-key.pem"):
        (tmp_path / "tls" / name).unlink()
    tls.ensure_leaf(tmp_path, ["192.168.1.20"])
    load(cert_path).verify_directly_issued_by(tls.ensure_ca(tmp_path).cert)


def test_no_temporary_files_are_left(tmp_path):
    tls.ensure_leaf(tmp_path, ["192.168.1.20"])
    tls.ensure_leaf(tmp_path, ["192.168.1.30"])
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        ".lock", "ca-key.pem", "ca.pem", "server-key.pem", "server.pem"]


@pytest.mark.parametrize("bad", ["a b", "x/y", "user@host"])
def test_bad_host_names(tmp_path, bad):
    with pytest.raises(ValueError, match="neither an IP address nor a valid DNS name"):
        tls.ensure_leaf(tmp_path, [bad])


def test_hosts_must_be_a_list(tmp_path):
    with pytest.raises(TypeError):
        tls.ensure_leaf(tmp_path, "192.168.1.20")


class OneShotServer:
    """A TLS server on 127.0.0.1 that accepts one connection, says hello and closes."""

    def __init__(self, ctx: ssl.SSLContext):
        self.ctx = ctx
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.sendall(b"hello")
            except (ssl.SSLError, OSError) as exc:
                self.error = exc

    def close(self):
        self.thread.join(10)
        self.sock.close()


def handshake(port: int, client: ssl.SSLContext, server_hostname: str) -> tuple[bytes, str]:
    with (socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
          client.wrap_socket(raw, server_hostname=server_hostname) as conn):
        return conn.recv(5), conn.version()


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_real_handshake(tmp_path, server_hostname):
    cert_path, key_path = tls.ensure_leaf(tmp_path, ["192.168.1.20"])
    ca = tls.ensure_ca(tmp_path)
    server = OneShotServer(tls.ssl_context(cert_path, key_path))
    try:
        client = ssl.create_default_context(cafile=str(ca.cert_path))
        data, version = handshake(server.port, client, server_hostname)
    finally:
        server.close()
    assert data == b"hello" and version in ("TLSv1.2", "TLSv1.3")
    assert server.error is None


def test_client_without_the_ca_refuses(tmp_path):
    cert_path, key_path = tls.ensure_leaf(tmp_path, [])
    server = OneShotServer(tls.ssl_context(cert_path, key_path))
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(server.port, ssl.create_default_context(), "localhost")
    finally:
        server.close()
    assert isinstance(server.error, ssl.SSLError)


def test_wrong_name_is_refused(tmp_path):
    cert_path, key_path = tls.ensure_leaf(tmp_path, [])
    ca = tls.ensure_ca(tmp_path)
    server = OneShotServer(tls.ssl_context(cert_path, key_path))
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            handshake(server.port, ssl.create_default_context(cafile=str(ca.cert_path)), "example.org")
    finally:
        server.close()


def test_ssl_context(tmp_path):
    ctx = tls.ssl_context(*tls.ensure_leaf(tmp_path, []))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(InputError, match="tls: cannot use this certificate"):
        tls.ssl_context(tmp_path / "tls" / "server.pem", tmp_path / "tls" / "ca-key.pem")


def test_trust_page_info(tmp_path):
    ca = tls.ensure_ca(tmp_path)
    info = tls.trust_page_info(ca)
    assert info["fingerprint"] == ca.fingerprint
    assert info["subject"].startswith("arkit local classroom CA")
    assert x509.load_der_x509_certificate(info["der"]) == ca.cert
    assert info["pem"] == ca.cert_pem and info["pem"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert dt.date.fromisoformat(info["not_after"]) > dt.date.today() + dt.timedelta(days=3600)
    assert info["fingerprint_sha1"] == ca.cert.fingerprint(hashes.SHA1()).hex(":").upper()
    assert b"PRIVATE" not in info["pem"] + info["der"]


def test_device_steps():
    assert set(tls.DEVICE_STEPS) == {"Android", "iPhone/iPad", "Windows", "macOS", "Linux/Chrome", "Meta Quest",
                                     "HoloLens 2"}
    assert all(isinstance(text, str) and 80 < len(text) < 600 for text in tls.DEVICE_STEPS.values())
    assert "Certificate Trust Settings" in tls.DEVICE_STEPS["iPhone/iPad"]
    assert "adb reverse" in tls.DEVICE_STEPS["Meta Quest"]


def test_lan_addresses():
    found = tls.lan_addresses()
    assert isinstance(found, list) and all(isinstance(a, str) for a in found)
    assert len(found) == len(set(found))
    for text in found:
        ip = ipaddress.ip_address(text)
        assert not ip.is_loopback and not ip.is_link_local and not ip.is_unspecified
    assert "127.0.0.1" not in found and "::1" not in found
    assert found == tls.lan_addresses()


def test_lan_addresses_never_raises(monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(socket, "socket", broken)
    monkeypatch.setattr(socket, "getaddrinfo", broken)
    monkeypatch.setattr(socket, "gethostname", broken)
    monkeypatch.setattr(socket, "if_nameindex", broken)
    assert isinstance(tls.lan_addresses(), list)


def test_lan_addresses_keep_the_usable_ones_in_order(monkeypatch):
    """Known answer: from a mix of candidates, the usable ones, IPv4 first, the default
    route's source first, no duplicates, no loopback or link-local."""
    routes = {(socket.AF_INET, "10.255.255.255"): "192.168.1.20", (socket.AF_INET, "192.168.255.255"): "192.168.1.20",
              (socket.AF_INET6, "2001:db8::1"): "2001:db8:5::7"}
    monkeypatch.setattr(addresses, "_route_source", lambda family, target: routes.get((family, target)))
    monkeypatch.setattr(addresses, "_interface_ipv4", lambda: ["127.0.0.1", "10.0.0.5", "169.254.3.4", "192.168.1.20"])
    monkeypatch.setattr(addresses, "_interface_ipv6", lambda: ["::1", "fe80::1", "fd12:3456::9"])
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(None, None, None, "", ("172.16.0.9", 0)),
                                                                (None, None, None, "", ("10.0.0.5", 0))])
    assert tls.lan_addresses() == ["192.168.1.20", "10.0.0.5", "172.16.0.9", "2001:db8:5::7", "fd12:3456::9"]
