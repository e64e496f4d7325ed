"""``loopml server``: the team server. A REST API (FastAPI) over everything the Store holds, the blobs of the
artifact store streamed through it, the web UI, and the tokens and roles that decide who may change what.

Names resolve on first use, so importing the package does not load FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "blob_router": "loopml.server._blobs",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.server._blobs import blob_router

__all__ = ["blob_router"]
