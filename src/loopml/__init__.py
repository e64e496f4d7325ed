"""loopml: the whole machine-learning lifecycle in one install, with the loop closed.

    import loopml as lm

    with lm.start_run(experiment="maintenance") as run:
        lm.log_params({"n_estimators": 200})
        lm.log_metric("loss", 0.3, step=1)

    @lm.step
    def train(df: pd.DataFrame, n_estimators: int = 100) -> RandomForestClassifier: ...

Public names resolve on first use, so ``import loopml`` stays fast and heavy layers load only when needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    **{
        name: "loopml.tracking"
        for name in (
            "ActiveRun",
            "TrackingClient",
            "active_run",
            "autolog",
            "configure",
            "download_artifact",
            "end_run",
            "flush",
            "get_metric_history",
            "get_run",
            "get_settings",
            "log_artifact",
            "log_dict",
            "log_metric",
            "log_metrics",
            "log_param",
            "log_params",
            "log_text",
            "search_runs",
            "set_tag",
            "set_tags",
            "start_run",
        )
    },
    **{name: "loopml.store" for name in ("Experiment", "Metric", "Run", "RunStatus", "SqlStore")},
    **{name: "loopml.artifacts" for name in ("LocalArtifactStore", "MemoryArtifactStore")},
    **{name: "loopml.pipelines" for name in ("TuneResult", "tune")},
    "Settings": "loopml.config",
    "__version__": "loopml._version",  # package metadata: reading it costs 30 ms, so only when asked
    "DatasetVersion": "loopml.store",
    "data": "loopml.data",
    "errors": "loopml.errors",
    **{
        name: "loopml.registry"
        for name in ("evaluate", "gate", "get_model_version", "load_model", "register_model", "set_alias")
    },
    **{
        name: "loopml.serving"
        for name in ("deploy", "deployment_history", "get_deployment", "list_deployments")
    },
    "drift": "loopml.monitoring",
    "models": "loopml.models",
    "monitoring": "loopml.monitoring",
    "registry": "loopml.registry",
    "pipeline": "loopml.pipelines",
    "pipelines": "loopml.pipelines",
    "step": "loopml.pipelines",
}

__all__ = [
    "ActiveRun",
    "DatasetVersion",
    "Experiment",
    "LocalArtifactStore",
    "MemoryArtifactStore",
    "Metric",
    "Run",
    "RunStatus",
    "Settings",
    "SqlStore",
    "TrackingClient",
    "TuneResult",
    "__version__",
    "active_run",
    "autolog",
    "configure",
    "data",
    "deploy",
    "deployment_history",
    "download_artifact",
    "drift",
    "end_run",
    "errors",
    "evaluate",
    "flush",
    "gate",
    "get_deployment",
    "get_metric_history",
    "get_model_version",
    "get_run",
    "get_settings",
    "list_deployments",
    "load_model",
    "log_artifact",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "models",
    "monitoring",
    "pipeline",
    "pipelines",
    "register_model",
    "registry",
    "search_runs",
    "set_alias",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "tune",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from loopml import data, errors, models, pipelines, registry
    from loopml._version import __version__
    from loopml.artifacts import LocalArtifactStore, MemoryArtifactStore
    from loopml.config import Settings
    from loopml.monitoring import drift
    from loopml.pipelines import TuneResult, pipeline, step, tune
    from loopml.registry import evaluate, gate, get_model_version, load_model, register_model, set_alias
    from loopml.serving import deploy, deployment_history, get_deployment, list_deployments
    from loopml.store import DatasetVersion, Experiment, Metric, Run, RunStatus, SqlStore
    from loopml.tracking import (
        ActiveRun,
        TrackingClient,
        active_run,
        autolog,
        configure,
        download_artifact,
        end_run,
        flush,
        get_metric_history,
        get_run,
        get_settings,
        log_artifact,
        log_dict,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
