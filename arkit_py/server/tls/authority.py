"""The local certificate authority and the server certificate it issues.

``ensure_ca`` keeps one small certificate authority in ``<data>/tls/`` (created once, ten
years); ``ensure_leaf`` issues the server certificate for this machine's addresses from it
(re-issued when the addresses change or it is about to expire); ``ssl_context`` serves it.

Files in ``<data>/tls/``::

    ca.pem, ca-key.pem         the CA certificate and its key (0600)
    server.pem, server-key.pem the server (leaf) certificate and its key (0600)

The CA carries no name constraints, on purpose: a constraint is fixed when the CA is created
and installed on every device, but the names and addresses the server must answer to are not
(many university networks hand out public IPv4 addresses, global IPv6 prefixes change, a
lecturer may add a DNS name later), and a leaf outside the constraints fails on every device
with an opaque error. Instead the CA may sign only leaves (path length 0), its key never leaves
the data folder (0600), and it is unique to this installation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ...errors import InputError

log = logging.getLogger("arkit_py.server.tls")

CA_DAYS = 3650
LEAF_DAYS = 397  # the CA/Browser Forum limit; Chrome refuses longer leaves from public CAs
RENEW_DAYS = 30  # a leaf this close to expiry is re-issued
BACKDATE = dt.timedelta(hours=1)  # tolerate device clocks that run a little behind
ALWAYS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class CA:
    """The local certificate authority.

    ``cert_pem`` is the certificate (PEM bytes); ``fingerprint`` its SHA-256 over the DER
    bytes, colon hex (``AB:CD:...``), as devices show it. The key stays on disk at ``key_path``.
    """

    cert_path: Path
    key_path: Path
    cert_pem: bytes
    fingerprint: str
    cert: x509.Certificate = field(repr=False, compare=False)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- files ---------------------------------------------------------------------------------

def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Keys and certificates: written atomically and durably (``fileio.write_atomic``)."""
    from ...fileio import write_atomic

    write_atomic(path, data, mode=mode, fsync=True)


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold an exclusive lock on ``folder/.lock`` (where fcntl exists), so two processes
    starting together do not both create a CA or a leaf."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The certificate and key at the two paths; ValueError if unreadable or not a pair."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ValueError("the key does not belong to the certificate")
    return cert, key


def fingerprint(cert: x509.Certificate, algorithm: hashes.HashAlgorithm | None = None) -> str:
    """The certificate's fingerprint (SHA-256 unless ``algorithm``), colon hex, as devices show it."""
    return cert.fingerprint(algorithm or hashes.SHA256()).hex(":").upper()


# --- the CA --------------------------------------------------------------------------------

def _ca_subject() -> x509.Name:
    host = socket.gethostname().split(".")[0] or "this computer"
    prefix = "arkit local classroom CA ("
    cn = prefix + host[: 64 - len(prefix) - 1] + ")"
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "arkit"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _new_ca(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _ca_subject()
    start = _now() - BACKDATE
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(key_path, _key_pem(key), 0o600)  # key first: a cert without its key is never left behind
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    log.info("tls: created the local classroom CA %s (SHA-256 %s)", cert_path, fingerprint(cert))


def ensure_ca(data_dir: str | os.PathLike) -> CA:
    """The local CA in ``data_dir/tls/``, created on first use and reused afterwards.

    ECDSA P-256, CA:true with path length 0, keyCertSign + cRLSign, subject
    ``arkit local classroom CA (<hostname>)``, valid ten years. An expired CA (or one within
    30 days of expiry) is replaced, and devices must then install the new one. A CA
    certificate whose key is missing, unreadable or does not match raises ``InputError``
    rather than being overwritten, since devices may trust it.
    """
    folder = Path(data_dir) / "tls"
    cert_path, key_path = folder / "ca.pem", folder / "ca-key.pem"
    with _locked(folder):
        if cert_path.exists():
            try:
                cert, _ = _load_pair(cert_path, key_path)
            except (OSError, ValueError, TypeError) as exc:
                raise InputError(cert_path, f"tls: not a usable CA with its key {key_path.name} ({exc}); "
                                 "remove both files to create a new CA (devices must then trust it again)") from None
            if cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_DAYS):
                log.warning("tls: the local CA %s expires %s; creating a new one (install it on devices again)",
                            cert_path, cert.not_valid_after_utc.date())
                _new_ca(cert_path, key_path)
        else:
            _new_ca(cert_path, key_path)
        pem = cert_path.read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    return CA(cert_path=cert_path, key_path=key_path, cert_pem=pem, fingerprint=fingerprint(cert), cert=cert)


# --- the server certificate ----------------------------------------------------------------

def _wanted_names(hosts: list[str]) -> tuple[set[ipaddress.IPv4Address | ipaddress.IPv6Address], set[str]]:
    """(IP addresses, DNS names) for ``hosts`` plus localhost and 127.0.0.1."""
    ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    names: set[str] = set()
    for raw in [*ALWAYS, *hosts]:
        if not isinstance(raw, str):
            raise TypeError(f"ensure_leaf: hosts must be strings, got {raw!r}")
        text = raw.strip().strip("[]").rstrip(".")
        if not text:
            continue
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            pass
        else:
            if not ip.is_unspecified:  # 0.0.0.0 / :: are bind addresses, not names to reach
                ips.add(ip)
            continue
        try:
            name = text.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise ValueError(f"ensure_leaf: {raw!r} is neither an IP address nor a valid DNS name") from None
        if any(c in name for c in " /:@") or ".." in name:
            raise ValueError(f"ensure_leaf: {raw!r} is neither an IP address nor a valid DNS name")
        names.add(name)
    return ips, names


def _leaf_is_current(cert: x509.Certificate, ca: CA, ips: set, names: set[str]) -> bool:
    """True if ``cert`` was signed by ``ca``, names exactly ``ips`` + ``names`` and is not near expiry."""
    try:
        cert.verify_directly_issued_by(ca.cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (InvalidSignature, ValueError, TypeError, x509.ExtensionNotFound):  # any doubt: issue a new one
        return False
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    have_names = set(san.get_values_for_type(x509.DNSName))
    fresh = cert.not_valid_after_utc - _now() >= dt.timedelta(days=RENEW_DAYS)
    return have_ips == ips and have_names == names and fresh and cert.not_valid_before_utc <= _now()


def ensure_leaf(data_dir: str | os.PathLike, hosts: list[str]) -> tuple[Path, Path]:
    """(cert_path, key_path) of a server certificate for ``hosts``, signed by the local CA.

    ``hosts`` are IP addresses (IPv6 with or without brackets) and DNS names; ``localhost``
    and ``127.0.0.1`` are always added, unspecified bind addresses (``0.0.0.0``, ``::``)
    dropped. ECDSA P-256, extended key usage serverAuth, valid 397 days. The existing
    certificate is reused unless the wanted names differ, it expires within 30 days, or the
    CA changed; a new one is written atomically (key 0600). Creates the CA if needed.
    """
    if isinstance(hosts, str):
        raise TypeError("ensure_leaf: hosts must be a list of strings, not one string")
    ips, names = _wanted_names(list(hosts))
    ca = ensure_ca(data_dir)
    folder = ca.cert_path.parent
    cert_path, key_path = folder / "server.pem", folder / "server-key.pem"
    with _locked(folder):
        with contextlib.suppress(OSError, ValueError, TypeError):
            cert, _ = _load_pair(cert_path, key_path)
            if _leaf_is_current(cert, ca, ips, names):
                return cert_path, key_path
        ca_key = serialization.load_pem_private_key(ca.key_path.read_bytes(), password=None)
        key = ec.generate_private_key(ec.SECP256R1())
        start = _now() - BACKDATE
        sans = [x509.DNSName(n) for n in sorted(names)] + [x509.IPAddress(i) for i in sorted(ips, key=_ip_key)]
        host = socket.gethostname().split(".")[0][:40] or "server"
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "arkit"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, f"arkit classroom server ({host})")]))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_atomic(key_path, _key_pem(key), 0o600)
        _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    log.info("tls: issued the server certificate for %s", ", ".join(str(s.value) for s in sans))
    return cert_path, key_path


def _ip_key(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    return ip.version, int(ip)


def ssl_context(cert_path: str | os.PathLike, key_path: str | os.PathLike) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) for the certificate and key files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(os.fspath(cert_path), os.fspath(key_path))
    except (OSError, ssl.SSLError) as exc:
        raise InputError(cert_path, f"tls: cannot use this certificate with key {os.fspath(key_path)} ({exc})") from None
    return ctx


__all__ = ["CA", "ensure_ca", "ensure_leaf", "fingerprint", "ssl_context"]
