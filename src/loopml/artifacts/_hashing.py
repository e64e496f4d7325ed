"""blake3 digests: of bytes, of files and of streams while they are copied or read."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeGuard

from blake3 import blake3

from loopml.errors import IntegrityError, InvalidArgumentError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK_SIZE = 1 << 20  # 1 MiB: big enough to amortise calls, small enough to never matter for memory
DIGEST_LENGTH = 64
_HEX = frozenset("0123456789abcdef")


def hash_bytes(data: bytes) -> str:
    """The lowercase hex blake3 digest of ``data``."""
    return blake3(data).hexdigest()


def new_hasher() -> blake3:
    """An incremental hasher of the store's kind: ``update(chunk)`` as bytes arrive, then ``hexdigest()``."""
    return blake3()


def hash_file(path: str | Path) -> str:
    """The digest of the file at ``path``, read in chunks."""
    with open(path, "rb") as f:
        return copy_and_hash(f)[0]


def copy_and_hash(source: BinaryIO, dest: BinaryIO | None = None) -> tuple[str, int]:
    """Read ``source`` to its end in chunks, writing each to ``dest`` if given; return (digest, size)."""
    hasher = blake3()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        hasher.update(chunk)
        if dest is not None:
            dest.write(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def is_digest(value: object) -> TypeGuard[str]:
    """True for a digest as this store writes it: 64 lowercase hex characters."""
    return isinstance(value, str) and len(value) == DIGEST_LENGTH and _HEX.issuperset(value)


def check_digest(value: object) -> str:
    """``value`` if it is a digest, else ``InvalidArgumentError`` (digests become paths: this guards them)."""
    if not is_digest(value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise InvalidArgumentError(f"{shown} is not a blob digest: expected 64 lowercase hex characters.")
    return value


def integrity_error(digest: str, actual: str, where: str) -> IntegrityError:
    """The error for a blob whose bytes no longer hash to its digest."""
    return IntegrityError(
        f"blob {digest} in {where} is corrupt: its content hashes to {actual}. "
        "Run `loopml doctor` to find and repair damaged blobs."
    )


class VerifyingReader(io.RawIOBase):
    """Reads ``source`` through, hashing as it goes; at the end, raises ``IntegrityError`` on a mismatch."""

    def __init__(self, source: io.BufferedIOBase, digest: str, where: str) -> None:
        super().__init__()
        self._source = source
        self._digest = digest
        self._where = where
        self._hasher = blake3()
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        n = self._source.readinto(view)
        if n:
            self._hasher.update(view[:n])
            return n
        if not self._verified and len(view):
            actual = self._hasher.hexdigest()
            if actual != self._digest:
                raise integrity_error(self._digest, actual, self._where)
            self._verified = True
        return 0

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()


def verifying_stream(source: io.BufferedIOBase, digest: str, where: str) -> BinaryIO:
    """A buffered binary stream over ``source`` that checks ``digest`` when read to its end."""
    return io.BufferedReader(VerifyingReader(source, digest, where), buffer_size=CHUNK_SIZE)


__all__ = [
    "CHUNK_SIZE",
    "DIGEST_LENGTH",
    "VerifyingReader",
    "check_digest",
    "copy_and_hash",
    "hash_bytes",
    "hash_file",
    "integrity_error",
    "is_digest",
    "new_hasher",
    "verifying_stream",
]
