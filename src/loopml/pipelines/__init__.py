"""Pipelines: typed steps joined into a DAG, cached by code, parameters and inputs, run on an executor;
and tuning studies on Optuna.

    @lm.step
    def train(df: pd.DataFrame, n_estimators: int = 100) -> RandomForestClassifier: ...

    @lm.pipeline
    def training(n_estimators: int = 100) -> None:
        df = load(lm.data.ref("sensors@latest"))      # inside a pipeline, calls return handles
        train(df, n_estimators=n_estimators)

    run = training(n_estimators=200)                   # runs it; run.steps tell status and cache hits

Names load on first use: Optuna, pandas and the process pool come in only when a pipeline or study needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    **{
        name: "loopml.pipelines._tune"
        for name in (
            "StudyFailedError",
            "TrialHandle",
            "TrialResult",
            "TuneResult",
            "choice",
            "int_range",
            "log_uniform",
            "search_space",
            "tune",
            "uniform",
        )
    },
}

__all__: list[str] = [
    "StudyFailedError",
    "TrialHandle",
    "TrialResult",
    "TuneResult",
    "choice",
    "int_range",
    "log_uniform",
    "search_space",
    "tune",
    "uniform",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.pipelines._tune import (
        StudyFailedError,
        TrialHandle,
        TrialResult,
        TuneResult,
        choice,
        int_range,
        log_uniform,
        search_space,
        tune,
        uniform,
    )
