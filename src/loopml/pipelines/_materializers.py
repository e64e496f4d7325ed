"""Materializers: how a step's output of each type is written to the blob store and read back.

The registry is asked in order, newest registration first, so a user's materializer for a type wins over the
built-in one. Built in: pandas DataFrame -> Parquet, NumPy array -> ``.npy``, JSON-able values -> JSON, and
anything else (scikit-learn models, Python objects) -> joblib. Each materializer has a version that is part of
the cache key: bump it when the stored format changes, and cached outputs in the old format are not reused.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from loopml.artifacts import ArtifactStore
from loopml.errors import BlobNotFoundError, IntegrityError, InvalidArgumentError


class Materializer:
    """Writes values of some types to one file and reads them back. Subclass it and ``register`` it.

    ``name`` identifies the format in stored records; ``version`` goes into cache keys.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"

    def can_save(self, value: Any) -> bool:
        raise NotImplementedError

    def save(self, value: Any, path: Path) -> None:
        raise NotImplementedError

    def load(self, path: Path) -> Any:
        raise NotImplementedError


class JsonMaterializer(Materializer):
    name = "json"

    def can_save(self, value: Any) -> bool:
        return _jsonable(value, depth=0)

    def save(self, value: Any, path: Path) -> None:
        path.write_text(json.dumps(value, allow_nan=True, separators=(",", ":")))

    def load(self, path: Path) -> Any:
        return json.loads(path.read_text())


_SCALARS = (str, int, float, bool, type(None))


def _jsonable(value: Any, depth: int) -> bool:
    """Plain JSON that reads back as the same value: str-keyed dicts, lists, str, int, float, bool, None."""
    if depth > 50:
        return False
    kind = type(value)
    if kind in _SCALARS:
        return not (kind is float and math.isinf(value))
    if kind is list:
        return all(_jsonable(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _jsonable(v, depth + 1) for k, v in value.items())
    return False


class PandasMaterializer(Materializer):
    name = "pandas.parquet"

    def can_save(self, value: Any) -> bool:
        module = type(value).__module__
        if not module.startswith("pandas"):
            return False
        import pandas as pd

        return isinstance(value, pd.DataFrame)

    def save(self, value: Any, path: Path) -> None:
        value.to_parquet(path, engine="pyarrow")

    def load(self, path: Path) -> Any:
        import pandas as pd

        return pd.read_parquet(path, engine="pyarrow")


class NumpyMaterializer(Materializer):
    name = "numpy.npy"

    def can_save(self, value: Any) -> bool:
        if type(value).__module__ != "numpy":
            return False
        import numpy as np

        return isinstance(value, np.ndarray) and value.dtype != object

    def save(self, value: Any, path: Path) -> None:
        import numpy as np

        with path.open("wb") as f:
            np.save(f, value, allow_pickle=False)

    def load(self, path: Path) -> Any:
        import numpy as np

        return np.load(path, allow_pickle=False)


class JoblibMaterializer(Materializer):
    """Anything picklable: scikit-learn estimators, tuples, dataclasses. Read back only what you trust."""

    name = "joblib"

    def can_save(self, value: Any) -> bool:
        return True

    def save(self, value: Any, path: Path) -> None:
        import joblib

        joblib.dump(value, path)

    def load(self, path: Path) -> Any:
        import joblib

        return joblib.load(path)


_lock = threading.Lock()
_registry: list[Materializer] = [
    JoblibMaterializer(),
    JsonMaterializer(),
    NumpyMaterializer(),
    PandasMaterializer(),
]


def register_materializer(materializer: Materializer | type[Materializer]) -> Materializer:
    """Add a materializer; it is asked before those registered earlier (and the built-ins).

    Register it where the steps that return its type are defined (their module), so worker processes,
    which import that module, know it too. Registering one with the same name replaces it.
    """
    instance = materializer() if isinstance(materializer, type) else materializer
    if not isinstance(instance, Materializer) or not instance.name:
        raise InvalidArgumentError(
            "A materializer subclasses loopml.pipelines.Materializer and sets a non-empty `name`."
        )
    with _lock:
        _registry[:] = [m for m in _registry if m.name != instance.name]
        _registry.append(instance)
        _fingerprint.clear()
    return instance


def materializers() -> list[Materializer]:
    """The registered materializers, in the order they are asked (newest first)."""
    return list(reversed(_registry))


_fingerprint: list[str] = []


def registry_fingerprint() -> str:
    """Every materializer's name and version: part of every cache key (the output format may change)."""
    if not _fingerprint:
        _fingerprint.append(",".join(sorted(f"{m.name}:{m.version}" for m in _registry)))
    return _fingerprint[0]


def _by_name(name: str) -> Materializer:
    for m in _registry:
        if m.name == name:
            return m
    raise InvalidArgumentError(
        f"No materializer named {name!r} is registered; import the module that registers it "
        "(usually the one that defines the step) before reading this output."
    )


@dataclass(frozen=True)
class StoredValue:
    """A step output in the blob store: its digest, and how to read it back."""

    digest: str
    materializer: str
    version: str
    size: int
    type_name: str

    def as_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "materializer": self.materializer,
            "version": self.version,
            "size": self.size,
            "type": self.type_name,
        }

    @staticmethod
    def from_json(obj: dict[str, Any]) -> StoredValue:
        return StoredValue(obj["digest"], obj["materializer"], obj["version"], obj["size"], obj["type"])


def save_value(value: Any, artifacts: ArtifactStore) -> StoredValue:
    """Write ``value`` with the first materializer that takes it; return where it went."""
    for m in reversed(_registry):
        if m.can_save(value):
            break
    kind = type(value)
    with tempfile.TemporaryDirectory(prefix="loopml-out-") as tmp:
        path = Path(tmp) / "value"
        try:
            m.save(value, path)
        except Exception as exc:
            raise InvalidArgumentError(
                f"Cannot store a {kind.__module__}.{kind.__qualname__} with the {m.name!r} materializer "
                f"({type(exc).__name__}: {exc}); register a materializer for this type with "
                "loopml.pipelines.register_materializer."
            ) from exc
        blob = artifacts.put_file(path)
    return StoredValue(blob.digest, m.name, m.version, blob.size, f"{kind.__module__}.{kind.__qualname__}")


def load_value(stored: StoredValue, artifacts: ArtifactStore) -> Any:
    """Read a stored output back, verified against its digest."""
    m = _by_name(stored.materializer)
    if not artifacts.exists(stored.digest):
        raise BlobNotFoundError(
            f"The stored output {stored.digest} is missing from the artifact store; run the pipeline again "
            "(the cache entry is dropped) or run `loopml doctor`."
        )
    local = artifacts.local_path(stored.digest)
    if local is not None:
        if not artifacts.verify(stored.digest):
            raise IntegrityError(f"The stored output {stored.digest} does not match its digest.")
        return m.load(local)
    with tempfile.TemporaryDirectory(prefix="loopml-in-") as tmp:
        return m.load(artifacts.get_file(stored.digest, Path(tmp) / "value"))
