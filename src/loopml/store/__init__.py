"""The metadata Store: experiments, runs and (later) every other entity, on SQLite or PostgreSQL.

Names resolve on first use: ``SqlStore`` loads SQLAlchemy, and a quick read-only lookup
(``find_dataset_version``) loads only the entities it hands out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    **{
        name: "loopml.store._base"
        for name in (
            "AuditRepository",
            "DatasetRepository",
            "DeploymentRepository",
            "LoopRepository",
            "ModelRepository",
            "MonitorRepository",
            "PredictionRepository",
            "RunRepository",
            "StepRepository",
            "Store",
        )
    },
    **{
        name: "loopml.store._entities"
        for name in (
            "Artifact",
            "CachedStep",
            "Experiment",
            "Metric",
            "MetricRecord",
            "Run",
            "RunStatus",
            "StepRecord",
        )
    },
    **{name: "loopml.store._deployment_entities" for name in ("Deployment", "Lease", "LoopState")},
    **{name: "loopml.store._dataset_entities" for name in ("Dataset", "DatasetStatus", "DatasetVersion")},
    **{
        name: "loopml.store._model_entities"
        for name in ("AuditEvent", "GateRecord", "ModelEvaluation", "ModelVersion", "RegisteredModel")
    },
    **{name: "loopml.store._monitor_entities" for name in ("Alert", "AlertEvent", "Monitor", "WindowResult")},
    **{name: "loopml.store._prediction_entities" for name in ("PredictionLabel", "PredictionSegment")},
    "parse_filter": "loopml.store._filter",
    "parse_order_by": "loopml.store._filter",
    "find_dataset_version": "loopml.store._readonly",
    "HEAD": "loopml.store._revisions",
    "REVISIONS": "loopml.store._revisions",
    "SqlStore": "loopml.store._sql",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from loopml.store._base import (
        AuditRepository,
        DatasetRepository,
        DeploymentRepository,
        LoopRepository,
        ModelRepository,
        MonitorRepository,
        PredictionRepository,
        RunRepository,
        StepRepository,
        Store,
    )
    from loopml.store._dataset_entities import Dataset, DatasetStatus, DatasetVersion
    from loopml.store._deployment_entities import Deployment, Lease, LoopState
    from loopml.store._entities import (
        Artifact,
        CachedStep,
        Experiment,
        Metric,
        MetricRecord,
        Run,
        RunStatus,
        StepRecord,
    )
    from loopml.store._filter import parse_filter, parse_order_by
    from loopml.store._model_entities import (
        AuditEvent,
        GateRecord,
        ModelEvaluation,
        ModelVersion,
        RegisteredModel,
    )
    from loopml.store._monitor_entities import Alert, AlertEvent, Monitor, WindowResult
    from loopml.store._prediction_entities import PredictionLabel, PredictionSegment
    from loopml.store._readonly import find_dataset_version
    from loopml.store._revisions import HEAD, REVISIONS
    from loopml.store._sql import SqlStore

__all__ = [
    "Alert",
    "AlertEvent",
    "Artifact",
    "AuditEvent",
    "AuditRepository",
    "CachedStep",
    "Dataset",
    "DatasetRepository",
    "DatasetStatus",
    "DatasetVersion",
    "Deployment",
    "DeploymentRepository",
    "Experiment",
    "GateRecord",
    "HEAD",
    "Lease",
    "LoopRepository",
    "LoopState",
    "Metric",
    "MetricRecord",
    "ModelEvaluation",
    "ModelRepository",
    "ModelVersion",
    "Monitor",
    "MonitorRepository",
    "PredictionLabel",
    "PredictionRepository",
    "PredictionSegment",
    "REVISIONS",
    "RegisteredModel",
    "Run",
    "RunRepository",
    "RunStatus",
    "SqlStore",
    "StepRecord",
    "StepRepository",
    "Store",
    "WindowResult",
    "find_dataset_version",
    "parse_filter",
    "parse_order_by",
]
