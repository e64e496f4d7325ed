"""Models: bundles that carry a model with its flavor, signature, environment and the digest of every file.

    meta = lm.models.save_model(model, "bundle/", input_example=X.head(), metrics={"f1": 0.91})
    blob, meta = lm.models.log_model(model, artifacts, input_example=X.head(), personal=["email"])
    m = lm.models.load_model_blob(artifacts, blob.digest)    # every file checked before anything is unpickled
    m.predict(X_new)                                          # the signature is enforced first

Names resolve on first use: ``import loopml.models`` loads neither scikit-learn, pandas nor joblib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "META_FILE": "loopml.models._bundle",
    "LoadedModel": "loopml.models._bundle",
    "ModelEnvironmentWarning": "loopml.models._bundle",
    "ModelMeta": "loopml.models._bundle",
    "load_model_blob": "loopml.models._bundle",
    "load_model_dir": "loopml.models._bundle",
    "log_model": "loopml.models._bundle",
    "save_model": "loopml.models._bundle",
    "ColumnSpec": "loopml.models._signature",
    "Signature": "loopml.models._signature",
    "infer_signature": "loopml.models._signature",
    "flavors": "loopml.models.flavors",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from loopml.models import flavors
    from loopml.models._bundle import (
        META_FILE,
        LoadedModel,
        ModelEnvironmentWarning,
        ModelMeta,
        load_model_blob,
        load_model_dir,
        log_model,
        save_model,
    )
    from loopml.models._signature import ColumnSpec, Signature, infer_signature

__all__ = [
    "ColumnSpec",
    "LoadedModel",
    "META_FILE",
    "ModelEnvironmentWarning",
    "ModelMeta",
    "Signature",
    "flavors",
    "infer_signature",
    "load_model_blob",
    "load_model_dir",
    "log_model",
    "save_model",
]
