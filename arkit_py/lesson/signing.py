"""Ed25519 signatures of lesson bundles (the ``cryptography`` package; docs/lesson-format.md).

``signature.json`` = ``{"key_id", "public_key", "signature"}``: the signature is over the
exact bytes of ``manifest.json``, which lists every other file with its SHA-256, so it
covers the whole bundle. ``public_key`` is the raw 32-byte key in base64; ``key_id`` the
first 16 hex digits of its SHA-256. Keys: ``arkit lesson keygen KEY`` writes the private key
(PKCS#8 PEM, mode 0600) to ``KEY`` and the public key (base64, one line) to ``KEY.pub``; a
trust file lists public keys, one per line (``#`` comments allowed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from ..errors import InputError, LessonError


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _public_raw(private) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate_key(path: str | os.PathLike) -> tuple[Path, Path, str]:
    """Write a new private key to ``path`` (0600) and its public key to ``path.pub``;
    returns (private path, public path, key id). Refuses to overwrite."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    pub = path.with_name(path.name + ".pub")
    for p in (path, pub):
        if p.exists():
            raise InputError(str(p), "already exists (keys are never overwritten)")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    raw = _public_raw(private)
    pub.write_text(base64.b64encode(raw).decode() + "\n", encoding="ascii")
    return path, pub, key_id(raw)


def load_private_key(path: str | os.PathLike):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = Path(path).read_bytes()
    except OSError:
        raise InputError(str(path), "cannot read the key") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InputError(str(path), "not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(str(path), "not an Ed25519 key (arkit lesson keygen makes one)")
    return key


def signature_for(manifest_bytes: bytes, private) -> dict:
    raw = _public_raw(private)
    return {"key_id": key_id(raw), "public_key": base64.b64encode(raw).decode(),
            "signature": base64.b64encode(private.sign(manifest_bytes)).decode()}


def read_trusted_keys(path: str | os.PathLike) -> set[str]:
    """Public keys (base64 raw) from a file or a folder of ``*.pub`` files."""
    path = Path(path)
    files = sorted(path.glob("*.pub")) if path.is_dir() else [path]
    keys = set()
    for f in files:
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            raise InputError(str(f), "cannot read the trusted keys") from None
        for n, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                raw = base64.b64decode(line, validate=True)
            except (ValueError, binascii.Error):
                raise InputError(str(f), f"line {n}: not a base64 public key") from None
            if len(raw) != 32:
                raise InputError(str(f), f"line {n}: not an Ed25519 public key (32 bytes)")
            keys.add(base64.b64encode(raw).decode())
    if not keys:
        raise InputError(str(path), "no trusted keys in it")
    return keys


def verify_bundle(bundle, *, trusted_keys: set[str] | None, require: bool, shown: str) -> str | None:
    """The key id of a valid signature; LessonError for a bad one, a missing one when
    ``require``, or one by a key outside ``trusted_keys`` (when given)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = bundle.signature
    if sig is None:
        if require:
            raise LessonError("not signed (a signature is required)", path=shown)
        return None
    if not isinstance(sig, dict) or not all(isinstance(sig.get(k), str) for k in ("key_id", "public_key", "signature")):
        raise LessonError("signature.json must hold key_id, public_key and signature", path=shown)
    try:
        raw = base64.b64decode(sig["public_key"], validate=True)
        signature = base64.b64decode(sig["signature"], validate=True)
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, bundle.manifest_bytes)
    except (ValueError, binascii.Error, InvalidSignature):
        raise LessonError("bad signature: manifest.json was not signed by the key in signature.json", path=shown) from None
    if sig["key_id"] != key_id(raw):
        raise LessonError("bad signature: key_id does not match the public key", path=shown)
    if trusted_keys is not None and base64.b64encode(raw).decode() not in trusted_keys:
        raise LessonError(f"signed by key {sig['key_id']}, which is not among the trusted keys", path=shown)
    return sig["key_id"]
