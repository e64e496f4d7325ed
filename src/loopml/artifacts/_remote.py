"""Blobs kept by a loopml server (``loopml server``), reached over HTTP: the team's store from any machine.

Uploads stream from files a MiB at a time and name the digest they must hash to (the server checks); a file
the server already holds is not sent again. Downloads stream into a temporary file beside the destination,
renamed in once its digest is checked, and ``open`` checks as it is read, like every store. Calls that can be
repeated safely (all but uploading a one-shot stream) are retried a few times with backoff when the
connection fails; errors the server reports come back as the same ``loopml.errors`` classes.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import httpx

from loopml import errors
from loopml.artifacts._base import (
    ArtifactStore,
    Blob,
    ManifestEntry,
    StoredObject,
    load_manifest,
    restore_dir,
    store_dir,
    write_verified,
)
from loopml.artifacts._hashing import (
    CHUNK_SIZE,
    check_digest,
    hash_bytes,
    hash_file,
    integrity_error,
    verifying_stream,
)
from loopml.errors import BlobNotFoundError, InvalidArgumentError, LoopmlError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

PREFIX = "/api/v1/blobs"
RETRIES = 3  # after the first attempt
BACKOFF = 0.2  # seconds before the first retry, doubled each time
_PAGE = 1000
_T = TypeVar("_T")
# failures where the request may never have reached the server, or the answer never came back whole
_CONNECTION_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError)


class RemoteArtifactStore(ArtifactStore):
    """The artifact store of the loopml server at ``base_url``, with an API ``token`` when it needs one."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidArgumentError(
                f"server URL {base_url!r} must start with http:// or https://, as in 'http://127.0.0.1:8080'."
            )
        self.root = base_url.rstrip("/")
        self._retries, self._backoff = retries, backoff
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.root, headers=headers, timeout=timeout)

    def __repr__(self) -> str:
        return f"RemoteArtifactStore({self.root!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteArtifactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing
    def put_bytes(self, data: bytes) -> Blob:
        digest = hash_bytes(data)
        self._upload(digest, lambda: iter([bytes(data)]) if data else iter([]), len(data))
        return Blob(digest, len(data))

    def put_stream(self, stream: BinaryIO) -> Blob:
        # a stream is read once: this upload cannot be retried, and the server computes the digest
        response = self._call("POST", PREFIX, retry=False, content=_read_chunks(stream), headers=_OCTETS)
        body = response.json()
        return Blob(body["digest"], body["size"])

    def put_file(self, path: str | Path) -> Blob:
        file = Path(path)
        size = os.stat(file).st_size
        digest = hash_file(file)
        if not self.exists(digest):

            def chunks() -> Iterator[bytes]:
                with open(file, "rb") as f:
                    yield from _read_chunks(f)

            self._upload(digest, chunks, size)
        return Blob(digest, size)

    def put_dir(self, path: str | Path) -> Blob:
        return store_dir(self, path)

    def _upload(self, digest: str, body: Callable[[], Iterator[bytes]], size: int) -> None:
        """PUT the bytes ``body()`` yields under ``digest``; a fresh ``body()`` for each attempt."""
        self._call(
            "PUT",
            f"{PREFIX}/{digest}",
            content=body,
            headers={**_OCTETS, "Content-Length": str(size)},
        )

    # -- reading (verified)
    def get_bytes(self, digest: str) -> bytes:
        response = self._call("GET", f"{PREFIX}/{check_digest(digest)}")
        data = response.content
        actual = hash_bytes(data)
        if actual != digest:
            raise integrity_error(digest, actual, self.root)
        return data

    def open(self, digest: str) -> BinaryIO:
        response = self._call("GET", f"{PREFIX}/{check_digest(digest)}", stream=True)
        raw = io.BufferedReader(_ResponseReader(response), buffer_size=CHUNK_SIZE)
        return verifying_stream(raw, digest, self.root)

    def get_file(self, digest: str, dest: str | Path) -> Path:
        response = self._call("GET", f"{PREFIX}/{check_digest(digest)}", stream=True)
        with io.BufferedReader(_ResponseReader(response), buffer_size=CHUNK_SIZE) as source:
            return write_verified(source, digest, dest, self.root)

    def get_dir(self, digest: str, dest: str | Path) -> Path:
        return restore_dir(self, digest, dest)

    def read_manifest(self, digest: str) -> dict[str, ManifestEntry]:
        return load_manifest(self, digest)

    # -- housekeeping
    def exists(self, digest: str) -> bool:
        response = self._call("HEAD", f"{PREFIX}/{check_digest(digest)}", ok=(200, 404))
        return response.status_code == 200

    def verify(self, digest: str) -> bool:
        response = self._call("POST", f"{PREFIX}/{check_digest(digest)}/verify")
        return bool(response.json()["ok"])

    def delete(self, digest: str) -> None:
        self._call("DELETE", f"{PREFIX}/{check_digest(digest)}")

    def iter_objects(self) -> Iterator[StoredObject]:
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": _PAGE}
            if after is not None:
                params["after"] = after
            page = self._call("GET", PREFIX, params=params).json()
            for obj in page["objects"]:
                yield StoredObject(obj["digest"], obj["size"], datetime.fromisoformat(obj["modified"]))
            after = page["next"]
            if after is None:
                return

    def local_path(self, digest: str) -> Path | None:
        check_digest(digest)  # no file on this machine, but a bad digest is still the caller's error
        return None

    # -- HTTP
    def _call(
        self,
        method: str,
        url: str,
        *,
        retry: bool = True,
        stream: bool = False,
        ok: tuple[int, ...] = (200, 201, 204),
        content: Any = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send the request (again after a connection failure, when ``retry``); an answer outside ``ok``
        raises the loopml error the server named. ``content`` may be a function giving a fresh body."""
        attempts = 1 + (self._retries if retry else 0)
        for attempt in range(attempts):
            body = content() if callable(content) else content
            try:
                request = self._client.build_request(method, url, content=body, **kwargs)
                response = self._client.send(request, stream=stream)
            except _CONNECTION_ERRORS as e:
                if attempt + 1 < attempts:
                    time.sleep(self._backoff * 2**attempt)
                    continue
                tried = f" after {attempts} attempts" if attempts > 1 else ""
                raise LoopmlError(
                    f"cannot reach the loopml server at {self.root}{tried} ({type(e).__name__}: {e}); "
                    "check LOOPML_SERVER_URL and that `loopml server` is running."
                ) from e
            except httpx.TimeoutException as e:
                raise LoopmlError(
                    f"the loopml server at {self.root} did not answer {method} {url} in time ({e}); "
                    "try again, or raise the timeout."
                ) from e
            if response.status_code in ok:
                return response
            if stream:
                response.read()
                response.close()
            raise _server_error(response, method, url)
        raise AssertionError("unreachable")  # pragma: no cover


_OCTETS = {"Content-Type": "application/octet-stream"}


def _read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


def _server_error(response: httpx.Response, method: str, url: str) -> LoopmlError:
    """The loopml error the server reported, as the same class when it is one of ours."""
    kind, message = "", ""
    try:
        detail = response.json()["error"]
        kind, message = str(detail["type"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text[:500] if method != "HEAD" else ""
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, LoopmlError)):
        cls = _BY_STATUS.get(response.status_code, LoopmlError)
    if not message:
        message = f"the loopml server answered {response.status_code} to {method} {url}."
    try:
        return cls(message)
    except TypeError:  # an error class that needs more than a message
        return LoopmlError(message)


_BY_STATUS: dict[int, type[LoopmlError]] = {
    400: InvalidArgumentError,
    404: BlobNotFoundError,
    413: InvalidArgumentError,
    422: InvalidArgumentError,
}


class _ResponseReader(io.RawIOBase):
    """A streamed HTTP response body as a raw binary file; closing it closes the response."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_bytes(CHUNK_SIZE)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except httpx.HTTPError as e:
                raise LoopmlError(
                    f"the download from the loopml server at {self._response.url} broke off ({e}); "
                    "nothing was kept, try again."
                ) from e
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


__all__ = ["RemoteArtifactStore"]
