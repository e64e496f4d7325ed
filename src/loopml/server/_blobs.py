"""The artifact store over HTTP: blobs streamed in and out of the server, never whole in memory.

    PUT    /api/v1/blobs/{digest}              upload bytes that must hash to ``digest``       editor
    POST   /api/v1/blobs                       upload bytes; the server says their digest      editor
    GET    /api/v1/blobs/{digest}              download (Content-Length, X-Loopml-Digest)      reader
    HEAD   /api/v1/blobs/{digest}              200 when stored, 404 when not                   reader
    GET    /api/v1/blobs?after=&limit=         the stored blobs in digest order, a page a call reader
    POST   /api/v1/blobs/{digest}/verify       whether the stored bytes still hash to it       reader
    GET    /api/v1/blobs/{digest}/files/{path} one file of the folder whose manifest is digest reader
    DELETE /api/v1/blobs/{digest}              remove a blob                                   admin

Status codes: 201 a blob was stored, 200 it was already there (nothing rewritten) or the answer; 204 deleted;
400 a malformed digest or path, an upload that was cut off or whose bytes do not hash to the digest named;
404 no such blob; 413 an upload over the limit. Every error is JSON ``{"error": {"type": "<loopml error
class>", "message": "..."}}``, and a refused upload leaves nothing behind: it is spooled to a temporary file
while it is hashed and only handed to the store once it is complete and its digest checked.

A folder is a manifest blob (see ``loopml.artifacts``) and travels like any other; a client rebuilds the
folder by reading the manifest and then each file. Downloads stream what the store holds and the client
checks the digest as every reader does (``RemoteArtifactStore``); a blob found corrupt while it is sent is
logged here.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from loopml.artifacts import ArtifactStore, safe_relative_path
from loopml.artifacts._hashing import CHUNK_SIZE, check_digest, new_hasher
from loopml.errors import (
    BlobNotFoundError,
    IntegrityError,
    InvalidArgumentError,
    LoopmlError,
    NotFoundError,
)

PREFIX = "/api/v1/blobs"
DIGEST_HEADER = "X-Loopml-Digest"
MAX_PAGE = 10_000
_log = logging.getLogger("loopml.server")


class BlobInfo(BaseModel):
    """A blob as stored: its digest and its size in bytes (None when the store cannot say cheaply)."""

    digest: str
    size: int | None


class StoredBlob(BaseModel):
    digest: str
    size: int
    modified: datetime


class BlobPage(BaseModel):
    """One page of the listing; ``next`` is the ``after`` of the following page (None on the last)."""

    objects: list[StoredBlob]
    next: str | None


class Verified(BaseModel):
    digest: str
    ok: bool


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": what}
    for code, what in [
        (400, "a malformed digest or path, a cut-off upload, or bytes that do not hash to the digest"),
        (404, "no such blob"),
    ]
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def error_response(status: int, exc: LoopmlError) -> JSONResponse:
    """The JSON error body every route answers with: the loopml error's class name and message."""
    return JSONResponse({"error": {"type": type(exc).__name__, "message": str(exc)}}, status_code=status)


def blob_router(
    artifacts: ArtifactStore,
    require: Callable[[str], Callable[..., Any]],
    *,
    max_upload_bytes: int,
    spool_dir: str | Path | None = None,
) -> APIRouter:
    """The routes of the blob API over ``artifacts``; ``require(role)`` is the dependency that admits a
    caller with at least that role (``"reader"``, ``"editor"``, ``"admin"``). Uploads over
    ``max_upload_bytes`` are refused (413); they are spooled in ``spool_dir`` (default: the system's temporary
    folder) until complete and checked."""
    if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes < 1:
        raise InvalidArgumentError(
            f"max_upload_bytes={max_upload_bytes!r} must be a whole number of bytes >= 1."
        )
    spool = Path(spool_dir) if spool_dir is not None else Path(tempfile.gettempdir())
    spool.mkdir(parents=True, exist_ok=True)
    router = APIRouter(prefix=PREFIX, tags=["blobs"])
    reader, editor, admin = (Depends(require(role)) for role in ("reader", "editor", "admin"))

    def size_of(digest: str) -> int | None:
        path = artifacts.local_path(digest)
        return None if path is None else path.stat().st_size

    async def receive(request: Request, expected: str | None) -> Response:
        """Spool the body to a temporary file while hashing it; store it only when it is whole and right."""
        declared = _declared_length(request)
        if isinstance(declared, Response):
            return declared
        if declared is not None and declared > max_upload_bytes:
            return _too_large(declared, max_upload_bytes)
        fd, name = tempfile.mkstemp(dir=spool, prefix="loopml-upload-", suffix=".part")
        part = Path(name)
        try:
            hasher, size = new_hasher(), 0
            with os.fdopen(fd, "wb") as out:
                pending: list[bytes] = []
                waiting = 0
                try:
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > max_upload_bytes:
                            return _too_large(size, max_upload_bytes)
                        pending.append(chunk)
                        waiting += len(chunk)
                        if waiting >= CHUNK_SIZE:  # disk and hashing off the event loop, a MiB at a time
                            await run_in_threadpool(_write, out, hasher, pending)
                            pending, waiting = [], 0
                except ClientDisconnect:
                    return _cut_off(size, declared)
                await run_in_threadpool(_write, out, hasher, pending)
            if declared is not None and size != declared:
                return _cut_off(size, declared)
            actual = hasher.hexdigest()
            if expected is not None and actual != expected:
                return error_response(
                    400,
                    IntegrityError(
                        f"the upload to {expected} hashes to {actual}: the bytes changed on the way or the "
                        "digest is wrong; nothing was stored. Send the bytes again under their own digest."
                    ),
                )
            existed = await run_in_threadpool(artifacts.exists, actual)
            blob = await run_in_threadpool(artifacts.put_file, part)
        finally:
            part.unlink(missing_ok=True)
        info = BlobInfo(digest=blob.digest, size=blob.size)
        return JSONResponse(info.model_dump(), status_code=200 if existed else 201)

    @router.put(
        "/{digest}",
        dependencies=[editor],
        status_code=201,
        response_model=BlobInfo,
        responses={**_ERRORS, 200: {"model": BlobInfo, "description": "already stored, nothing rewritten"}},
        openapi_extra=_UPLOAD_BODY,
        summary="Upload a blob under its digest",
    )
    async def put_blob(digest: str, request: Request) -> Response:
        try:
            check_digest(digest)
        except InvalidArgumentError as e:
            return error_response(400, e)
        if await run_in_threadpool(artifacts.exists, digest):
            size = await run_in_threadpool(size_of, digest)
            return JSONResponse(BlobInfo(digest=digest, size=size).model_dump(), status_code=200)
        return await receive(request, digest)

    @router.post(
        "",
        dependencies=[editor],
        status_code=201,
        response_model=BlobInfo,
        responses={**_ERRORS, 200: {"model": BlobInfo, "description": "already stored, nothing rewritten"}},
        openapi_extra=_UPLOAD_BODY,
        summary="Upload a blob; the server computes its digest",
    )
    async def post_blob(request: Request) -> Response:
        return await receive(request, None)

    @router.get(
        "/{digest}",
        dependencies=[reader],
        response_class=StreamingResponse,
        responses={**_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
        summary="Download a blob",
    )
    def get_blob(digest: str) -> Response:
        return _download(artifacts, digest, size_of)

    @router.head("/{digest}", dependencies=[reader], responses=_ERRORS, summary="Whether a blob is stored")
    def head_blob(digest: str) -> Response:
        try:
            check_digest(digest)
        except InvalidArgumentError:
            return Response(status_code=400)
        if not artifacts.exists(digest):
            return Response(status_code=404)
        headers = {DIGEST_HEADER: digest}
        size = size_of(digest)
        if size is not None:
            headers["Content-Length"] = str(size)
        return Response(status_code=200, headers=headers)

    @router.get("", dependencies=[reader], response_model=BlobPage, responses=_ERRORS, summary="List blobs")
    def list_blobs(
        after: str | None = Query(None, description="the last digest of the previous page"),
        limit: int = Query(1000, ge=1, le=MAX_PAGE),
    ) -> Response:
        if after is not None:
            try:
                check_digest(after)
            except InvalidArgumentError as e:
                return error_response(400, e)
        page: list[StoredBlob] = []
        more = False
        for obj in artifacts.iter_objects():  # in digest order
            if after is not None and obj.digest <= after:
                continue
            if len(page) == limit:
                more = True
                break
            page.append(StoredBlob(digest=obj.digest, size=obj.size, modified=obj.modified))
        listing = BlobPage(objects=page, next=page[-1].digest if more else None)
        return JSONResponse(listing.model_dump(mode="json"))

    @router.post(
        "/{digest}/verify",
        dependencies=[reader],
        response_model=Verified,
        responses=_ERRORS,
        summary="Check a blob's bytes",
    )
    def verify_blob(digest: str) -> Response:
        try:
            ok = artifacts.verify(digest)
        except InvalidArgumentError as e:
            return error_response(400, e)
        return JSONResponse(Verified(digest=digest, ok=ok).model_dump())

    @router.get(
        "/{digest}/files/{path:path}",
        dependencies=[reader],
        response_class=StreamingResponse,
        responses={**_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
        summary="Download one file of a stored folder",
    )
    def get_folder_file(digest: str, path: str) -> Response:
        try:
            check_digest(digest)
            rel = safe_relative_path(path)
            entries = artifacts.read_manifest(digest)
        except NotFoundError:
            return error_response(404, BlobNotFoundError(f"no folder {digest} on this server."))
        except IntegrityError as e:
            return error_response(409, e)
        except InvalidArgumentError as e:
            return error_response(400, e)
        entry = entries.get(rel)
        if entry is None:
            return error_response(
                404, NotFoundError(f"folder {digest} has no file {rel!r}; list it with read_manifest.")
            )
        return _download(artifacts, entry.digest, size_of)

    @router.delete(
        "/{digest}",
        dependencies=[admin],
        status_code=204,
        response_class=Response,
        responses=_ERRORS,
        summary="Delete a blob",
    )
    def delete_blob(digest: str) -> Response:
        try:
            artifacts.delete(digest)
        except InvalidArgumentError as e:
            return error_response(400, e)
        return Response(status_code=204)

    return router


def _download(artifacts: ArtifactStore, digest: str, size_of: Callable[[str], int | None]) -> Response:
    try:
        check_digest(digest)
        stream = artifacts.open(digest)
    except BlobNotFoundError:
        return error_response(404, BlobNotFoundError(f"no blob {digest} on this server."))
    except InvalidArgumentError as e:
        return error_response(400, e)
    headers = {DIGEST_HEADER: digest}
    try:
        size = size_of(digest)
    except BaseException:
        stream.close()
        raise
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(stream, digest), media_type="application/octet-stream", headers=headers)


def _chunks(stream: BinaryIO, digest: str) -> Iterator[bytes]:
    """The blob a MiB at a time. ``read1`` hands over every byte before the store's check at the end can
    fail, so the client sees exactly what is stored and its own check reports the damage."""
    with stream:
        reader: Any = stream
        try:
            while chunk := reader.read1(CHUNK_SIZE):
                yield chunk
        except IntegrityError as e:
            _log.warning("sent a corrupt blob: %s", e)


def _write(out: BinaryIO, hasher: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)
        out.write(chunk)


def _declared_length(request: Request) -> int | Response | None:
    text = request.headers.get("content-length")
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        return error_response(
            400, InvalidArgumentError(f"Content-Length {text!r} is not a number of bytes; send a valid one.")
        )
    return value


def _too_large(size: int, limit: int) -> Response:
    return error_response(
        413,
        InvalidArgumentError(
            f"the upload is over the server's limit of {limit} bytes (at least {size} sent); nothing was "
            "stored. Split the artifact or ask the server's admin to raise the limit."
        ),
    )


def _cut_off(size: int, declared: int | None) -> Response:
    of = "" if declared is None else f" of the {declared} declared"
    return error_response(
        400,
        InvalidArgumentError(
            f"the upload was cut off after {size} bytes{of}; nothing was stored. Send it again."
        ),
    )


__all__ = ["BlobInfo", "BlobPage", "ErrorBody", "StoredBlob", "Verified", "blob_router", "error_response"]
