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
    **{name: "loopml.pipelines._step" for name in ("Handle", "PipelineDefinitionError", "Step", "step")},
    **{
        name: "loopml.pipelines._pipeline"
        for name in ("Pipeline", "get_pipeline_run", "load_pipeline", "pipeline", "resume")
    },
    **{name: "loopml.pipelines._runs" for name in ("PipelineRun", "StepRun", "StepStatus")},
    **{
        name: "loopml.pipelines._materializers"
        for name in ("Materializer", "StoredValue", "load_value", "materializers", "register_materializer")
    },
    **{
        name: "loopml.pipelines._executors"
        for name in ("Executor", "LocalExecutor", "ProcessExecutor", "get_executor")
    },
    **{name: "loopml.pipelines._worker" for name in ("StepResult", "StepTask", "StepTimeoutError")},
    "trace": "loopml.pipelines._lineage",
    "ArtifactLineage": "loopml.pipelines._lineage",
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

__all__ = [
    "ArtifactLineage",
    "Executor",
    "Handle",
    "LocalExecutor",
    "Materializer",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineRun",
    "ProcessExecutor",
    "Step",
    "StepResult",
    "StepRun",
    "StepStatus",
    "StepTask",
    "StepTimeoutError",
    "StoredValue",
    "StudyFailedError",
    "TrialHandle",
    "TrialResult",
    "TuneResult",
    "choice",
    "get_executor",
    "get_pipeline_run",
    "int_range",
    "load_pipeline",
    "load_value",
    "log_uniform",
    "materializers",
    "pipeline",
    "register_materializer",
    "resume",
    "search_space",
    "step",
    "trace",
    "tune",
    "uniform",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from loopml.pipelines._executors import Executor, LocalExecutor, ProcessExecutor, get_executor
    from loopml.pipelines._lineage import ArtifactLineage, trace
    from loopml.pipelines._materializers import (
        Materializer,
        StoredValue,
        load_value,
        materializers,
        register_materializer,
    )
    from loopml.pipelines._pipeline import Pipeline, get_pipeline_run, load_pipeline, pipeline, resume
    from loopml.pipelines._runs import PipelineRun, StepRun, StepStatus
    from loopml.pipelines._step import Handle, PipelineDefinitionError, Step, step
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
    from loopml.pipelines._worker import StepResult, StepTask, StepTimeoutError
