"""Model bundles: a folder holding the model's files and ``loopml-model.json``, which lists the flavor, the
signature, an input example, metrics, the Python, loopml and library versions, pinned requirements and the
digest of every file. Stored in the blob store as a folder, so a bundle is addressed by one digest.

Loading checks every file against ``loopml-model.json`` (and, from the store, against the store's manifest)
before anything is unpickled, and warns, naming each, when the installed library versions differ from the
bundle's.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._version import package_versions
from loopml.errors import IntegrityError, InvalidArgumentError, LoopmlError
from loopml.models import flavors as _flavors
from loopml.models._signature import ARRAY, Signature, infer_signature, to_frame

if TYPE_CHECKING:
    import pandas as pd

    from loopml.artifacts import ArtifactStore, Blob

__all__ = [
    "META_FILE",
    "LoadedModel",
    "ModelEnvironmentWarning",
    "ModelMeta",
    "load_model_blob",
    "load_model_dir",
    "log_model",
    "save_model",
]

META_FILE = "loopml-model.json"
FORMAT = "loopml.model/1"
EXAMPLE_ROWS = 5  # rows of the input example kept in loopml-model.json


class ModelEnvironmentWarning(UserWarning):
    """A model was loaded where Python or its libraries have other versions than where it was saved."""


@dataclass(frozen=True)
class ModelMeta:
    """What ``loopml-model.json`` says about a bundle."""

    flavor: str
    flavor_config: dict[str, Any]
    model_class: str
    signature: Signature | None
    input_example: Any  # JSON: a list of row dicts (or of rows, for array input), at most EXAMPLE_ROWS
    metrics: dict[str, float]
    environment: dict[str, str]  # "python", "loopml" and each flavor library's distribution name -> version
    requirements: list[str]
    files: dict[str, str]  # relative POSIX path -> blake3 digest, every file but loopml-model.json
    # None for bundles loopml writes: a bundle is its content, so the same model saved twice is the same blob
    # (when it was registered is the registry's to say)
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT

    @property
    def loopml_version(self) -> str | None:
        return self.environment.get("loopml")

    @property
    def python_version(self) -> str | None:
        return self.environment.get("python")

    def example_frame(self) -> pd.DataFrame | None:
        """The input example as a DataFrame (None when the bundle has none)."""
        if self.input_example is None:
            return None
        names = self.signature.input_names if self.signature is not None else None
        frame = to_frame(self.input_example, names)
        if names is not None and set(names) <= set(frame.columns):  # JSON keeps keys sorted
            frame = frame[names]
        return frame

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "flavor": self.flavor,
            "flavor_config": self.flavor_config,
            "model_class": self.model_class,
            "signature": None if self.signature is None else self.signature.to_dict(),
            "input_example": self.input_example,
            "metrics": self.metrics,
            "environment": self.environment,
            "requirements": self.requirements,
            "files": self.files,
            "extra": self.extra,
            **({} if self.created_at is None else {"created_at": self.created_at.isoformat()}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMeta:
        try:
            fmt = str(data.get("format", ""))
            if fmt.split("/")[0] != FORMAT.split("/")[0]:
                raise InvalidArgumentError(f"not a loopml model description (format {fmt!r}).")
            if fmt != FORMAT:
                raise InvalidArgumentError(
                    f"the model bundle has format {fmt!r}, newer than this loopml reads ({FORMAT}): "
                    "upgrade loopml."
                )
            signature = data.get("signature")
            created = datetime.fromisoformat(str(data["created_at"])) if data.get("created_at") else None
            return cls(
                flavor=str(data["flavor"]),
                flavor_config=dict(data.get("flavor_config") or {}),
                model_class=str(data.get("model_class", "")),
                signature=None if signature is None else Signature.from_dict(signature),
                input_example=data.get("input_example"),
                metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
                environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
                requirements=[str(r) for r in data.get("requirements") or []],
                files={str(k): str(v) for k, v in dict(data["files"]).items()},
                created_at=created if created is None or created.tzinfo else created.replace(tzinfo=UTC),
                extra=dict(data.get("extra") or {}),
                format=fmt,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, LoopmlError):
                raise
            raise InvalidArgumentError(
                f"not a valid loopml model description ({type(exc).__name__}: {exc})."
            ) from None

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> ModelMeta:
        return cls.from_dict(json.loads(data) if isinstance(data, str | bytes) else data)


# -- saving


def save_model(
    model: Any,
    path: str | Path,
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Signature | bool | None = None,
    predictions: Any = None,
    metrics: Mapping[str, float] | None = None,
    requirements: Iterable[str] | None = None,
    personal: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    categorical: Iterable[str] = (),
    model_files: str | Path | None = None,
) -> ModelMeta:
    """Write ``model`` as a bundle into the folder ``path`` (created; it must not hold anything yet).

    ``flavor`` None detects it; ``signature`` None infers it from ``input_example`` and ``predictions`` (or
    the model's predictions on the example), False stores none; ``personal`` names input columns of personal
    data, ``categorical`` text columns whose example values are the only ones allowed; ``requirements`` lines
    are added to (or replace) the pinned versions of the flavor's libraries; ``model_files`` is the folder a
    class's ``load(path)`` reads (python flavor). Returns what ``loopml-model.json`` says.
    """
    chosen = _choose_flavor(model, flavor)
    personal = [personal] if isinstance(personal, str) else list(personal)
    sig = _signature(model, input_example, signature, predictions, personal, categorical)
    example = _example(input_example, sig)
    checked_metrics = _metrics(metrics)
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidArgumentError(f"{folder} already exists and is not an empty folder; save to a new path.")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        config = chosen.save(model, folder, {"model_files": model_files})
        if (folder / META_FILE).exists():
            raise InvalidArgumentError(f"the {chosen.name} flavor wrote {META_FILE}, a name loopml reserves.")
        meta = ModelMeta(
            flavor=chosen.name,
            flavor_config=config,
            model_class=chosen.describe(model),
            signature=sig,
            input_example=example,
            metrics=checked_metrics,
            environment=_environment(chosen),
            requirements=_requirements(chosen, model, requirements),
            files=_digests(folder),
            extra=_jsonable_extra(extra),
        )
        (folder / META_FILE).write_text(meta.to_json() + "\n", encoding="utf-8")
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        raise
    return meta


def log_model(
    model: Any,
    artifacts: ArtifactStore,
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Signature | bool | None = None,
    predictions: Any = None,
    metrics: Mapping[str, float] | None = None,
    requirements: Iterable[str] | None = None,
    personal: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    categorical: Iterable[str] = (),
    model_files: str | Path | None = None,
) -> tuple[Blob, ModelMeta]:
    """``save_model`` into a temporary folder and store that folder in ``artifacts``; the blob (of kind
    ``dir``) addresses the bundle."""
    with tempfile.TemporaryDirectory(prefix="loopml-model-") as tmp:
        meta = save_model(
            model,
            Path(tmp) / "model",
            flavor=flavor,
            input_example=input_example,
            signature=signature,
            predictions=predictions,
            metrics=metrics,
            requirements=requirements,
            personal=personal,
            extra=extra,
            categorical=categorical,
            model_files=model_files,
        )
        blob = artifacts.put_dir(Path(tmp) / "model")
    return blob, meta


def _choose_flavor(model: Any, name: str | None) -> _flavors.Flavor:
    if name is None:
        return _flavors.detect(model)
    chosen = _flavors.get(name)
    if not chosen.can_save(model):
        raise InvalidArgumentError(
            f"the {name} flavor cannot save a {_flavors._type_name(model)}; leave flavor=None to detect one."
        )
    return chosen


def _signature(
    model: Any,
    example: Any,
    given: Signature | bool | None,
    predictions: Any,
    personal: list[str],
    categorical: Iterable[str],
) -> Signature | None:
    if given is False:
        if personal:
            raise InvalidArgumentError(
                "personal columns are marked in the signature: do not pass signature=False."
            )
        return None
    if isinstance(given, Signature):
        return given.with_personal(personal) if personal else given
    if given is not None and given is not True:
        raise InvalidArgumentError(f"signature={given!r}: pass a Signature, None (infer it) or False (none).")
    if example is None:
        if personal:
            raise InvalidArgumentError(
                "personal columns need a signature: pass input_example (or signature) with them."
            )
        return None
    if predictions is None and not isinstance(model, type) and callable(getattr(model, "predict", None)):
        try:
            predictions = model.predict(example)
        except Exception:  # the example may not be enough to predict; the inputs are still known
            predictions = None
    return infer_signature(example, predictions, personal=personal, categorical=categorical)


def _example(example: Any, sig: Signature | None) -> Any:
    if example is None:
        return None
    frame = to_frame(example, sig.input_names if sig is not None else None).head(EXAMPLE_ROWS)
    if sig is not None and sig.input_format == ARRAY:
        return json.loads(frame.to_json(orient="values", date_format="iso"))
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _metrics(metrics: Mapping[str, float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"metric {key!r} = {value!r} is not a number.") from None
    return out


def _jsonable_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    data = dict(extra or {})
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"extra must be JSON-able: {exc}.") from None
    return data


def _environment(flavor: _flavors.Flavor) -> dict[str, str]:
    return {"python": platform.python_version(), **package_versions(*flavor.libraries)}


_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(flavor: _flavors.Flavor, model: Any, given: Iterable[str] | None) -> list[str]:
    versions = package_versions(*flavor.libraries, *_model_distribution(flavor, model))
    versions.pop("loopml")
    pinned = {_canonical(name): f"{name}=={version}" for name, version in versions.items()}
    for line in [given] if isinstance(given, str) else list(given or []):
        match = _NAME.match(line)
        if match is None:
            raise InvalidArgumentError(f"requirement {line!r} does not start with a package name.")
        pinned[_canonical(match.group(1))] = line.strip()
    return list(pinned.values())


def _model_distribution(flavor: _flavors.Flavor, model: Any) -> list[str]:
    """For the python flavor, the installed distribution that defines the model's class, if any."""
    if flavor.name != "python":
        return []
    cls = model if isinstance(model, type) else type(model)
    top = (cls.__module__ or "").split(".")[0]
    if top in ("", "__main__", "builtins"):
        return []
    from importlib.metadata import packages_distributions

    return packages_distributions().get(top, [])[:1]


def _digests(folder: Path) -> dict[str, str]:
    from loopml.artifacts import hash_file

    return {rel: hash_file(file) for rel, file in _files(folder)}


def _files(folder: Path) -> list[tuple[str, Path]]:
    """Every file under ``folder`` but ``loopml-model.json``, by relative POSIX path; links are refused."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        for name in dirnames:
            if (base / name).is_symlink():
                raise IntegrityError(
                    f"{base / name} is a symbolic link; a model bundle holds only plain files and folders."
                )
        for name in filenames:
            file = base / name
            rel = file.relative_to(folder).as_posix()
            if rel == META_FILE:
                continue
            if file.is_symlink():
                raise IntegrityError(
                    f"{rel!r} in the model bundle {folder} is a symbolic link; "
                    "a bundle holds only plain files."
                )
            found.append((rel, file))
    return sorted(found)


# -- loading


def load_model_dir(path: str | Path) -> LoadedModel:
    """The model of the bundle folder ``path``, after checking every file against its digest."""
    folder = Path(path)
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise InvalidArgumentError(f"{folder} is not a model bundle: it has no {META_FILE}.")
    meta = _parse_meta(meta_path.read_bytes(), str(folder))
    _verify_folder(folder, meta)
    return _open(meta, folder, digest=None, keep=None)


def load_model_blob(artifacts: ArtifactStore, digest: str, *, dest: str | Path | None = None) -> LoadedModel:
    """The model of the bundle stored as the folder ``digest``: its files are checked against
    ``loopml-model.json`` and the store's manifest before anything is unpickled. The bundle is restored into
    ``dest`` (an empty or new folder, kept) or a temporary folder removed with the model."""
    from loopml.artifacts import hash_bytes

    entries = artifacts.read_manifest(digest)
    if META_FILE not in entries:
        raise InvalidArgumentError(
            f"blob {digest} is a folder but not a model bundle: it has no {META_FILE}."
        )
    where = f"model bundle {digest}"
    try:
        raw = artifacts.get_bytes(entries[META_FILE].digest)
    except IntegrityError:
        raise _tampered(
            where, META_FILE, "its stored content no longer matches the store's manifest"
        ) from None
    if hash_bytes(raw) != entries[META_FILE].digest:  # a store that did not check
        raise _tampered(where, META_FILE, "its content does not match the store's manifest")
    meta = _parse_meta(raw, where)
    stored = {rel: e.digest for rel, e in entries.items() if rel != META_FILE}
    _compare(meta.files, stored, where, "the store's manifest")
    made = dest is None
    target = Path(tempfile.mkdtemp(prefix="loopml-model-")) if dest is None else Path(dest)
    if not made and target.exists() and any(target.iterdir()):
        raise InvalidArgumentError(f"dest={str(target)!r} is not empty; restore the model into a new folder.")
    try:
        try:
            artifacts.get_dir(digest, target)
        except IntegrityError:
            for rel, entry in sorted(entries.items()):
                if not artifacts.verify(entry.digest):
                    raise _tampered(
                        where, rel, "its stored content no longer matches its digest in the store"
                    ) from None
            raise
        return _open(meta, target, digest=digest, keep=None if not made else target)
    except BaseException:
        if made:
            shutil.rmtree(target, ignore_errors=True)
        raise


def _parse_meta(raw: bytes, where: str) -> ModelMeta:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise _tampered(where, META_FILE, "it is not valid JSON") from None
    if not isinstance(data, dict):
        raise _tampered(where, META_FILE, "it is not a JSON object")
    try:
        return ModelMeta.from_dict(data)
    except InvalidArgumentError as exc:
        if "upgrade loopml" in str(exc):
            raise
        raise _tampered(where, META_FILE, str(exc).rstrip(".")) from None


def _verify_folder(folder: Path, meta: ModelMeta) -> None:
    from loopml.artifacts import hash_file

    found = dict(_files(folder))
    where = f"model bundle {folder}"
    for rel in sorted(meta.files):
        if rel not in found:
            raise _tampered(where, rel, f"it is listed in {META_FILE} but missing")
    for rel in sorted(found):
        if rel not in meta.files:
            raise _tampered(where, rel, f"it is not listed in {META_FILE}")
        actual = hash_file(found[rel])
        if actual != meta.files[rel]:
            raise _tampered(
                where, rel, f"its digest is {actual[:12]}… but {META_FILE} lists {meta.files[rel][:12]}…"
            )


def _compare(listed: dict[str, str], stored: dict[str, str], where: str, other: str) -> None:
    for rel in sorted(set(listed) | set(stored)):
        if rel not in stored:
            raise _tampered(where, rel, f"{META_FILE} lists it but {other} does not")
        if rel not in listed:
            raise _tampered(where, rel, f"{other} lists it but {META_FILE} does not")
        if listed[rel] != stored[rel]:
            raise _tampered(
                where,
                rel,
                f"{META_FILE} lists digest {listed[rel][:12]}… but {other} has {stored[rel][:12]}…",
            )


def _tampered(where: str, rel: str, why: str) -> IntegrityError:
    return IntegrityError(
        f"{where}: file {rel!r} does not match: {why}. The bundle was changed after it was saved; "
        "it was refused before anything was loaded. Save or log the model again."
    )


def _open(meta: ModelMeta, folder: Path, digest: str | None, keep: Path | None) -> LoadedModel:
    flavor = _flavors.get(meta.flavor)
    flavor.require()
    model = LoadedModel(meta, folder, digest, flavor)
    differences = model.environment_differences()
    if differences:
        warnings.warn(
            ModelEnvironmentWarning(
                f"the model ({meta.flavor}, {meta.model_class}) was saved with other versions than this "
                f"environment has: {'; '.join(differences)}. Predictions may differ or fail; install the "
                f"bundle's requirements ({' '.join(meta.requirements)}) to match."
            ),
            stacklevel=3,
        )
    model._raw = flavor.load(folder, meta.flavor_config)
    if keep is not None:
        weakref.finalize(model, shutil.rmtree, str(keep), True)
    return model


class LoadedModel:
    """A model loaded from a bundle: ``predict`` enforces its signature first."""

    def __init__(self, meta: ModelMeta, path: Path, digest: str | None, flavor: _flavors.Flavor) -> None:
        self.meta = meta
        self.path = path  # the bundle folder (temporary when restored from the store without dest)
        self.digest = digest  # the bundle's blob digest, when it came from the store
        self._flavor = flavor
        self._raw: Any = None

    def __repr__(self) -> str:
        source = self.digest[:12] if self.digest else str(self.path)
        return f"<LoadedModel {self.flavor} {self.meta.model_class} from {source}>"

    @property
    def flavor(self) -> str:
        return self.meta.flavor

    @property
    def signature(self) -> Signature | None:
        return self.meta.signature

    @property
    def raw(self) -> Any:
        """The underlying model object (estimator, booster, session, your object)."""
        return self._raw

    @property
    def has_proba(self) -> bool:
        return self._flavor.has_proba(self._raw)

    def validate(self, data: Any) -> tuple[pd.DataFrame, list[str]]:
        """``data`` as the DataFrame the model gets, and notes on what was changed (extra columns ignored);
        ``SignatureError`` when it does not fit the signature."""
        if self.signature is None:
            return to_frame(data), []
        return self.signature.validate(data)

    def _input(self, data: Any, validate: bool) -> Any:
        sig = self.signature
        if sig is None:
            return data
        frame = sig.validate(data)[0] if validate else to_frame(data, sig.input_names)
        return frame.to_numpy() if sig.input_format == ARRAY else frame

    def predict(self, data: Any, *, validate: bool = True) -> Any:
        """Predictions for ``data`` after checking it against the signature (``validate=False`` when it came
        out of ``validate`` already)."""
        return self._flavor.predict(self._raw, self._input(data, validate))

    def predict_proba(self, data: Any, *, validate: bool = True) -> Any:
        """Class probabilities; ``UnsupportedOperationError`` when the model has none."""
        if not self.has_proba:
            self._flavor.predict_proba(self._raw, None)  # raises with the reason
        return self._flavor.predict_proba(self._raw, self._input(data, validate))

    def environment_differences(self) -> list[str]:
        """Each version that differs between this environment and the bundle's, in words."""
        here = {"python": platform.python_version(), **package_versions(*self._libraries())}
        out: list[str] = []
        for name, saved in self.meta.environment.items():
            current = here.get(name)
            label = "Python" if name == "python" else name
            if current is None:
                out.append(f"{label} not installed here, {saved} in the bundle")
            elif current != saved:
                out.append(f"{label} {current} here, {saved} in the bundle")
        return out

    def _libraries(self) -> list[str]:
        return [n for n in self.meta.environment if n not in ("python", "loopml")]
