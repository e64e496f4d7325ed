"""Flavors: how each kind of model is written into a bundle, read back and asked for predictions.

    flavors.names()                 # ['sklearn', 'xgboost', 'lightgbm', 'onnx', 'python']: detection order
    flavors.get("sklearn")          # the Flavor
    flavors.detect(model)           # the first flavor that accepts ``model``
    flavors.register(MyFlavor())    # asked before the built-in ones; flavors.unregister("mine")

A flavor writes its files into the bundle folder (beside ``loopml-model.json``) and returns a small JSON-able
config that its ``load`` gets back. Detection never imports a library the model does not come from, and a
flavor whose library is missing refuses with what to ``pip install``.

Built in:

- ``sklearn``: scikit-learn estimators and pipelines, stored with joblib.
- ``xgboost``, ``lightgbm``: a ``Booster`` in the library's own format, their scikit-learn wrappers with
  joblib.
- ``onnx``: an ``onnx.ModelProto`` (or its serialized bytes), run with onnxruntime on the CPU.
- ``python``: any object with ``predict`` (joblib); or an object whose class has ``load(path)`` and whose
  instance has ``save(path)`` (its import path and the folder it saves); or such a class itself, with the
  folder it loads from given as ``model_files``.
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any, ClassVar

from loopml.errors import InvalidArgumentError, MissingDependencyError, UnsupportedOperationError

__all__ = [
    "Flavor",
    "LightGBMFlavor",
    "OnnxFlavor",
    "PythonFlavor",
    "SklearnFlavor",
    "XGBoostFlavor",
    "detect",
    "get",
    "names",
    "register",
    "unregister",
]

JOBLIB_FILE = "model.joblib"


class Flavor(abc.ABC):
    """One kind of model. Subclasses set ``name``, ``libraries`` (the distributions pinned in the bundle's
    requirements and compared on load) and ``module`` (the import name that must be installed)."""

    name: ClassVar[str]
    libraries: ClassVar[tuple[str, ...]] = ()
    module: ClassVar[str | None] = None
    pip_name: ClassVar[str | None] = None

    def available(self) -> bool:
        """True when the library this flavor needs is installed (checked without importing it)."""
        return self.module is None or importlib.util.find_spec(self.module) is not None

    def require(self) -> None:
        """``MissingDependencyError`` saying what to install when the library is missing."""
        if not self.available():
            raise MissingDependencyError(
                f"the {self.name} flavor needs {self.pip_name or self.module}, which is not installed here: "
                f"pip install {self.pip_name or self.module}"
            )

    @abc.abstractmethod
    def accepts(self, model: Any) -> bool:
        """Whether ``model`` is of this flavor; must not import a library ``model`` does not come from."""

    def can_save(self, model: Any) -> bool:
        """Whether this flavor can save ``model`` when asked for by name (at least what it accepts)."""
        return self.accepts(model)

    @abc.abstractmethod
    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        """Write ``model``'s files into ``folder``; return the config ``load`` gets back (JSON-able)."""

    @abc.abstractmethod
    def load(self, folder: Path, config: dict[str, Any]) -> Any:
        """The model object from ``folder`` (already verified against its digests)."""

    def predict(self, raw: Any, data: Any) -> Any:
        return raw.predict(data)

    def has_proba(self, raw: Any) -> bool:
        return callable(getattr(raw, "predict_proba", None))

    def predict_proba(self, raw: Any, data: Any) -> Any:
        if not self.has_proba(raw):
            raise UnsupportedOperationError(
                f"this {self.name} model ({_type_name(raw)}) has no predict_proba; use predict."
            )
        return raw.predict_proba(data)

    def describe(self, model: Any) -> str:
        return _type_name(model)


def _type_name(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _from_module(model: Any, prefix: str) -> bool:
    cls = model if isinstance(model, type) else type(model)
    module = getattr(cls, "__module__", "") or ""
    return module == prefix or module.startswith(prefix + ".")


def _joblib_dump(model: Any, folder: Path) -> dict[str, Any]:
    import joblib

    joblib.dump(model, folder / JOBLIB_FILE)
    return {"file": JOBLIB_FILE, "format": "joblib"}


def _joblib_load(folder: Path, config: dict[str, Any]) -> Any:
    import joblib

    return joblib.load(folder / str(config.get("file", JOBLIB_FILE)))


class SklearnFlavor(Flavor):
    name = "sklearn"
    libraries = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")
    module = "sklearn"
    pip_name = "scikit-learn"

    def accepts(self, model: Any) -> bool:
        base = sys.modules.get("sklearn.base")  # a scikit-learn estimator means scikit-learn is imported
        if base is None or isinstance(model, type) or not isinstance(model, base.BaseEstimator):
            return False
        # the scikit-learn wrappers of XGBoost and LightGBM belong to their own flavors
        return not (_from_module(model, "xgboost") or _from_module(model, "lightgbm"))

    def can_save(self, model: Any) -> bool:
        base = sys.modules.get("sklearn.base")
        return base is not None and not isinstance(model, type) and isinstance(model, base.BaseEstimator)

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        return _joblib_dump(model, folder)

    def load(self, folder: Path, config: dict[str, Any]) -> Any:
        self.require()
        return _joblib_load(folder, config)


class _BoosterFlavor(Flavor):
    """XGBoost and LightGBM: a Booster in the library's own file format, the scikit-learn wrappers with
    joblib (they pickle their booster with them)."""

    native_file: ClassVar[str]

    def accepts(self, model: Any) -> bool:
        return not isinstance(model, type) and _from_module(model, str(self.module))

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        self.require()
        if type(model).__name__ == "Booster":
            model.save_model(str(folder / self.native_file))
            return {"file": self.native_file, "format": "booster"}
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgumentError(f"{_type_name(model)} is not a model: it has no predict method.")
        return _joblib_dump(model, folder)

    def load(self, folder: Path, config: dict[str, Any]) -> Any:
        self.require()
        if config.get("format") == "booster":
            return self._load_booster(folder / str(config["file"]))
        return _joblib_load(folder, config)

    @abc.abstractmethod
    def _load_booster(self, path: Path) -> Any: ...


class XGBoostFlavor(_BoosterFlavor):
    name = "xgboost"
    libraries = ("xgboost", "numpy", "scipy", "pandas", "scikit-learn", "joblib")
    module = "xgboost"
    native_file = "model.ubj"

    def _load_booster(self, path: Path) -> Any:
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(str(path))
        return booster

    def predict(self, raw: Any, data: Any) -> Any:
        if type(raw).__name__ == "Booster":
            import xgboost

            return raw.predict(xgboost.DMatrix(data))
        return raw.predict(data)


class LightGBMFlavor(_BoosterFlavor):
    name = "lightgbm"
    libraries = ("lightgbm", "numpy", "scipy", "pandas", "scikit-learn", "joblib")
    module = "lightgbm"
    native_file = "model.txt"

    def _load_booster(self, path: Path) -> Any:
        import lightgbm

        return lightgbm.Booster(model_file=str(path))


class OnnxFlavor(Flavor):
    """An ONNX graph run by onnxruntime. A graph with one input gets the whole frame as one float (or the
    input's element type) tensor; a graph with several gets one column per input, by name. ``predict`` returns
    the first output, ``predict_proba`` the second when there is one."""

    name = "onnx"
    libraries = ("onnxruntime", "onnx", "numpy")
    module = "onnxruntime"
    FILE = "model.onnx"

    def accepts(self, model: Any) -> bool:
        return not isinstance(model, type) and _from_module(model, "onnx") and hasattr(model, "graph")

    def can_save(self, model: Any) -> bool:
        return isinstance(model, bytes) or self.accepts(model)

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        data = model if isinstance(model, bytes) else model.SerializeToString()
        (folder / self.FILE).write_bytes(data)
        return {"file": self.FILE, "format": "onnx"}

    def load(self, folder: Path, config: dict[str, Any]) -> Any:
        self.require()
        import onnxruntime

        return onnxruntime.InferenceSession(
            str(folder / str(config.get("file", self.FILE))), providers=["CPUExecutionProvider"]
        )

    def _run(self, session: Any, data: Any) -> list[Any]:
        import numpy as np

        inputs = session.get_inputs()
        frame = data
        if len(inputs) == 1:
            feed = {inputs[0].name: _as_tensor(np.asarray(frame), inputs[0].type)}
        else:
            feed = {}
            for spec in inputs:
                if spec.name not in getattr(frame, "columns", ()):
                    raise InvalidArgumentError(
                        f"the ONNX model takes an input named {spec.name!r}; send a column of that name."
                    )
                feed[spec.name] = _as_tensor(np.asarray(frame[spec.name]).reshape(-1, 1), spec.type)
        return list(session.run(None, feed))

    def predict(self, raw: Any, data: Any) -> Any:
        return self._run(raw, data)[0]

    def has_proba(self, raw: Any) -> bool:
        return len(raw.get_outputs()) > 1

    def predict_proba(self, raw: Any, data: Any) -> Any:
        if not self.has_proba(raw):
            raise UnsupportedOperationError(
                "this ONNX model has a single output and no probabilities; use predict."
            )
        return self._run(raw, data)[1]


_ONNX_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


def _as_tensor(array: Any, onnx_type: str) -> Any:
    return array.astype(_ONNX_TYPES.get(onnx_type, "float32"))


class PythonFlavor(Flavor):
    """Any Python model: an object with ``predict`` (stored with joblib), or a class with ``load(path)`` and
    ``predict`` (stored as its import path and a folder of files that ``load`` reads)."""

    name = "python"
    libraries = ("numpy", "pandas", "joblib", "cloudpickle")
    FILES = "files"

    def accepts(self, model: Any) -> bool:
        if isinstance(model, type):
            return callable(getattr(model, "load", None)) and callable(getattr(model, "predict", None))
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        model_files = options.get("model_files")
        cls = model if isinstance(model, type) else type(model)
        has_load = callable(getattr(cls, "load", None))
        if isinstance(model, type) or (has_load and callable(getattr(model, "save", None))):
            target = _import_path(cls)
            files = folder / self.FILES
            if isinstance(model, type):
                if model_files is None:
                    raise InvalidArgumentError(
                        f"saving the class {target} needs the folder its load(path) reads: "
                        "pass model_files=PATH."
                    )
                source = Path(model_files)
                if not source.is_dir():
                    raise InvalidArgumentError(f"model_files={str(source)!r} is not a folder.")
                shutil.copytree(source, files, symlinks=False)
            else:
                files.mkdir()
                model.save(str(files))
            return {"format": "class", "class": target, "files": self.FILES}
        return _joblib_dump(model, folder)

    def load(self, folder: Path, config: dict[str, Any]) -> Any:
        if config.get("format") != "class":
            return _joblib_load(folder, config)
        target = str(config["class"])
        module_name, _, qualname = target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise MissingDependencyError(
                f"the model's class {target} cannot be imported here ({exc}); install the package that "
                "defines it."
            ) from None
        return obj.load(str(folder / str(config.get("files", self.FILES))))


def _import_path(cls: type) -> str:
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise InvalidArgumentError(
            f"the class {qualname} is defined in {'a function' if '<locals>' in qualname else 'a script'}, "
            "so it cannot be imported when the model is loaded: define it at the top level of a module."
        )
    return f"{module}:{qualname}"


_BUILTIN: list[Flavor] = [SklearnFlavor(), XGBoostFlavor(), LightGBMFlavor(), OnnxFlavor(), PythonFlavor()]
_REGISTERED: list[Flavor] = []


def register(flavor: Flavor) -> None:
    """Add ``flavor`` (or replace the one of the same name); it is asked before the built-in ones."""
    _REGISTERED[:] = [f for f in _REGISTERED if f.name != flavor.name]
    _REGISTERED.insert(0, flavor)


def unregister(name: str) -> None:
    """Forget the registered flavor ``name`` (a built-in one of that name is used again)."""
    _REGISTERED[:] = [f for f in _REGISTERED if f.name != name]


def _all() -> list[Flavor]:
    mine = {f.name for f in _REGISTERED}
    return _REGISTERED + [f for f in _BUILTIN if f.name not in mine]


def names() -> list[str]:
    """Every flavor's name, in detection order."""
    return [f.name for f in _all()]


def get(name: str) -> Flavor:
    for flavor in _all():
        if flavor.name == name:
            return flavor
    raise InvalidArgumentError(f"no model flavor {name!r}; the flavors are {', '.join(names())}.")


def detect(model: Any) -> Flavor:
    """The first flavor that accepts ``model``; ``InvalidArgumentError`` saying what a model needs."""
    for flavor in _all():
        if flavor.accepts(model):
            return flavor
    raise InvalidArgumentError(
        f"{_type_name(model)} is not a model loopml can save: a model is a scikit-learn estimator or "
        "pipeline, an XGBoost or LightGBM model, an ONNX graph, any object with a predict(data) method, or a "
        "class with load(path) and predict(data). Pass flavor=... to choose one."
    )
