"""The metadata Store: experiments, runs and (later) every other entity, on SQLite or PostgreSQL."""

from loopml.store._base import DatasetRepository, RunRepository, Store
from loopml.store._entities import (
    Artifact,
    Dataset,
    DatasetStatus,
    DatasetVersion,
    Experiment,
    Metric,
    MetricRecord,
    Run,
    RunStatus,
)
from loopml.store._filter import parse_filter, parse_order_by
from loopml.store._sql import HEAD, REVISIONS, SqlStore

__all__ = [
    "Artifact",
    "Dataset",
    "DatasetRepository",
    "DatasetStatus",
    "DatasetVersion",
    "Experiment",
    "HEAD",
    "Metric",
    "MetricRecord",
    "REVISIONS",
    "Run",
    "RunRepository",
    "RunStatus",
    "SqlStore",
    "Store",
    "parse_filter",
    "parse_order_by",
]
