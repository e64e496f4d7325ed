"""Personal data in the prediction log: hashed with a keyed blake3 before anything is written, or dropped.

The key comes from a salt. Given none, loopml keeps one per home in ``<home>/prediction-log.salt``: random
bytes, created once (readable by its owner only) and shared by every serving worker of that home, so that one
customer's hash is the same in every segment and can still be joined or counted, but not reversed by guessing
values without the salt. Workers on several machines must be given the same salt.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import secrets
from pathlib import Path
from typing import Any

from blake3 import blake3

SALT_FILE = "prediction-log.salt"
HASH_HEX_CHARS = 32  # 128 bits: collisions are out of reach for any log
_KEY_CONTEXT = "loopml prediction log: personal data key"


@functools.lru_cache(maxsize=64)
def _key(salt: bytes) -> bytes:
    # blake3's key derivation turns a salt of any length into the 32-byte key of its keyed mode
    return blake3(salt, derive_key_context=_KEY_CONTEXT).digest()


def _salt_bytes(salt: bytes | str) -> bytes:
    return salt.encode() if isinstance(salt, str) else bytes(salt)


def canonical_bytes(value: Any) -> bytes:
    """The bytes a value is hashed as: text as its characters, a number in decimal (7, 7.0 and "7" agree, so
    an id hashes the same whichever type it arrived as), booleans as true/false, times in ISO 8601."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if hasattr(value, "item") and not isinstance(value, dt.datetime):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)).encode()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat().encode()
    return str(value).encode()


def hash_value(value: Any, salt: bytes | str) -> str:
    """The keyed blake3 hash of ``value`` under ``salt``, as 32 hex characters; stable for a given salt."""
    return blake3(canonical_bytes(value), key=_key(_salt_bytes(salt))).hexdigest(length=HASH_HEX_CHARS // 2)


class Hasher:
    """``hash_value`` with the key derived once, for hashing whole columns."""

    def __init__(self, salt: bytes | str) -> None:
        self._key = _key(_salt_bytes(salt))

    def __call__(self, value: Any) -> str:
        return blake3(canonical_bytes(value), key=self._key).hexdigest(length=HASH_HEX_CHARS // 2)


def prediction_salt(home: str | Path | None = None) -> bytes:
    """The salt kept in ``home`` (default: the loopml home of the settings), created on first use."""
    if home is None:
        from loopml.config import load_settings

        home = load_settings().home
    path = Path(home) / SALT_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SALT_FILE}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_hex(32).encode())
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(tmp, path)  # fails if another process created it first: then that one is the salt
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()
