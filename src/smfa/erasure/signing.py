"""Ed25519 signatures of erasure records: key pairs, signing a sealed record, checking one.

A seal (`record_sha256`) shows a record was not edited by accident; anyone can recompute it.
A signature shows who wrote it: `smfa keygen PREFIX` writes PREFIX.key (the private key, PEM
PKCS#8, mode 0600) and PREFIX.pub (the public key, PEM SubjectPublicKeyInfo); `--sign-key
PREFIX.key` adds `signature` to a sealed record, and a verifier who holds PREFIX.pub names it
with `--trust`. The signature is over the canonical JSON of the whole record (its seal
included) with `signature` holding everything but its `value`, so the public key and its
fingerprint are signed too. Keys: the `cryptography` library (docs/erasure.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from smfa.errors import SmfaError
from smfa.io import canonical_json, remove_own_temporaries

ALGORITHM = "ed25519"
PRIVATE_SUFFIX, PUBLIC_SUFFIX = ".key", ".pub"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def fingerprint(public_key: bytes) -> str:
    """sha256 (hex) of the raw 32-byte public key: how records and messages name a key."""
    return hashlib.sha256(public_key).hexdigest()


def raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(*_RAW)


def generate_key_pair(prefix: Path) -> tuple[Path, Path]:
    """Write PREFIX.key (0600) and PREFIX.pub; never over an existing file."""
    private_path = Path(f"{prefix}{PRIVATE_SUFFIX}")
    public_path = Path(f"{prefix}{PUBLIC_SUFFIX}")
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise SmfaError(
                f"{path} already exists; choose another prefix (a key is never replaced)"
            )
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private_path, private, 0o600)
    _write_new(public_path, public, 0o644)
    return private_path, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to a temporary sibling created with `mode`, then link it to `path`: the
    file appears whole or not at all, and an existing `path` is never replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.smfa-keygen-{os.getpid()}-"
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise SmfaError(f"{path} already exists; choose another prefix") from None
    finally:
        if tmp is None:  # interrupted after mkstemp made the file, before it was named here
            remove_own_temporaries(path.parent, prefix, "")
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SmfaError(f"{path}: no {what} there") from None
    except IsADirectoryError:
        raise SmfaError(f"{path} is a folder, not a {what}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The ed25519 private key of a PEM file (`smfa keygen`'s PREFIX.key)."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SmfaError(f"{path}: an encrypted private key; smfa reads unencrypted ones") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SmfaError(f"{path}: not a PEM private key (make one with smfa keygen)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SmfaError(f"{path}: a {type(key).__name__} key; records are signed with ed25519")
    return key


def load_public_key(path: Path) -> bytes:
    """The raw 32-byte ed25519 public key of a PEM file (`smfa keygen`'s PREFIX.pub) or of a
    file holding it as 64 hex digits (as a record's `signature.public_key` shows it)."""
    data = _read(path, "public key")
    text = data.decode("ascii", errors="replace").strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        hint = " (that is the private key: give the .pub file)" if b"PRIVATE KEY" in data else ""
        raise SmfaError(f"{path}: not a PEM public key{hint}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SmfaError(f"{path}: a {type(key).__name__} key; records are signed with ed25519")
    return raw_public(key)


def _signed_bytes(record: dict[str, Any], signature: dict[str, Any]) -> bytes:
    header = {k: v for k, v in signature.items() if k != "value"}
    body = {k: v for k, v in record.items() if k != "signature"}
    return canonical_json({**body, "signature": header}).encode("utf-8")


def sign(record: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The sealed `record` with a `signature` by `key` (any earlier signature replaced)."""
    public = raw_public(key)
    signature: dict[str, Any] = {
        "algorithm": ALGORITHM,
        "public_key": public.hex(),
        "fingerprint": fingerprint(public),
    }
    signature["value"] = key.sign(_signed_bytes(record, signature)).hex()
    return {**{k: v for k, v in record.items() if k != "signature"}, "signature": signature}


def signature_problem(record: dict[str, Any]) -> str | None:
    """Why a signed record's signature does not hold, or None when it does (or is absent)."""
    signature = record.get("signature")
    if signature is None:
        return None
    if signature["algorithm"] != ALGORITHM:
        return f"names algorithm {signature['algorithm']!r:.20}, not {ALGORITHM}"
    try:
        public = bytes.fromhex(signature["public_key"])
        value = bytes.fromhex(signature["value"])
        key = Ed25519PublicKey.from_public_bytes(public)
    except ValueError:
        return "holds a public key or value that is not a hex ed25519 key or signature"
    if signature["fingerprint"] != fingerprint(public):
        return "holds a fingerprint that is not its public key's"
    try:
        key.verify(value, _signed_bytes(record, signature))
    except InvalidSignature:
        return "does not match the record's content (edited after it was signed)"
    return None


@dataclass(frozen=True)
class Trust:
    """Whose signatures a verifier accepts: fingerprints of trusted keys, and whether a record
    must carry a valid signature by one of them."""

    fingerprints: frozenset[str] = field(default_factory=frozenset)
    required: bool = False

    @classmethod
    def of(cls, public_key_files: Iterable[Path], required: bool = False) -> Trust:
        keys = frozenset(fingerprint(load_public_key(path)) for path in public_key_files)
        return cls(keys, required)


def trust_problem(record: dict[str, Any], trust: Trust) -> tuple[str, bool] | None:
    """(what is wrong, whether it fails `trust`) for an unsigned or untrusted record; None
    when a trusted key signed it. A signature that does not hold: `signature_problem`."""
    signature = record.get("signature")
    if signature is None:
        return "not signed", trust.required
    if signature["fingerprint"] not in trust.fingerprints:
        return f"signed by key {signature['fingerprint'][:16]}, which no --trust names", (
            trust.required
        )
    return None
