"""The tables of the metadata database as they are at the newest migration.

Migrations under ``migrations/versions`` create these tables step by step; a test checks that a database
migrated to head matches this metadata. Times are integer milliseconds since the epoch, UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid; PostgreSQL wants a 64-bit identity.
BigIntId = BigInteger().with_variant(Integer, "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", String(32), ForeignKey("experiments.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("user_name", String(255), nullable=False, default=""),
    Column("git_commit", String(64), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("entry_point", Text, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_runs_experiment_start", "experiment_id", "start_ms"),
    Index("ix_runs_parent", "parent_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    # the value as a number when it reads as one, so `params.n_estimators > 100` compares numbers
    Column("value_num", Float, nullable=True),
    Index("ix_params_key_num", "key", "value_num"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),  # SQLite turns NaN into NULL; read back as NaN
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

# The value at the highest step (then latest timestamp) of each metric of each run: what search filters on.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_run_artifacts_digest", "digest"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# One row per distinct content of a dataset: ``digest`` addresses a Parquet file (kind "file") or a manifest
# of Parquet files (kind "dir") in the blob store.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", String(32), ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_bytes", BigInteger, nullable=False),
    Column("schema_json", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("environment_json", Text, nullable=False),  # loopml and library versions that wrote it
    Column("created_ms", BigInteger, nullable=False),
    Column("checks_json", Text, nullable=True),  # the report of the checks it was added with
    Column("transform_json", Text, nullable=True),  # how a derived version was made from its parents
    Column("profile_digest", String(64), nullable=True),  # blob of its profile (column sketches)
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
    UniqueConstraint("dataset_id", "digest", name="uq_dataset_versions_digest"),
    Index("ix_dataset_versions_digest", "digest"),
)

# A tag names one version of a dataset and moves when set on another (``sensors@prod``).
dataset_tags = Table(
    "dataset_tags",
    metadata,
    Column("dataset_id", String(32), ForeignKey("datasets.id"), primary_key=True),
    Column("tag", String(128), primary_key=True),
    Column("version_id", String(32), ForeignKey("dataset_versions.id"), nullable=False),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("version_id", String(32), ForeignKey("dataset_versions.id"), primary_key=True),
    Column("direction", String(8), primary_key=True),  # "input" or "output"
    Index("ix_run_datasets_version", "version_id"),
)

# The versions a derived version was made from, in the order the transformation took them.
dataset_parents = Table(
    "dataset_parents",
    metadata,
    Column("version_id", String(32), ForeignKey("dataset_versions.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("parent_id", String(32), ForeignKey("dataset_versions.id"), nullable=False),
    Index("ix_dataset_parents_parent", "parent_id"),
)

# The step run that answers each pipeline cache key (the newest successful one), with its outputs described.
step_cache = Table(
    "step_cache",
    metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("outputs_json", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_step_cache_run", "run_id"),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("model_id", String(32), ForeignKey("registered_models.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per registered bundle of a model, numbered 1, 2, 3… per model.
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_id", String(32), ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("bundle_digest", String(64), nullable=False),  # a manifest: the bundle folder
    Column("flavor", String(64), nullable=False),
    Column("source_run_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("description", Text, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_versions_number"),
    Index("ix_model_versions_digest", "bundle_digest"),
    Index("ix_model_versions_run", "source_run_id"),
)

model_version_datasets = Table(
    "model_version_datasets",
    metadata,
    Column("version_id", String(32), ForeignKey("model_versions.id"), primary_key=True),
    Column("dataset_version_id", String(32), ForeignKey("dataset_versions.id"), primary_key=True),
    Index("ix_model_version_datasets_dataset", "dataset_version_id"),
)

# An alias names one version of a model and moves atomically (``champion``, ``challenger``).
model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", String(32), ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version_id", String(32), ForeignKey("model_versions.id"), nullable=False),
)

model_evaluations = Table(
    "model_evaluations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("version_id", String(32), ForeignKey("model_versions.id"), nullable=False),
    Column("dataset_version_id", String(32), ForeignKey("dataset_versions.id"), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("evaluation_json", Text, nullable=False),
    Index("ix_model_evaluations_version", "version_id", "created_ms"),
)

gate_decisions = Table(
    "gate_decisions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_id", String(32), ForeignKey("registered_models.id"), nullable=False),
    Column("candidate_version_id", String(32), ForeignKey("model_versions.id"), nullable=False),
    Column("baseline_version_id", String(32), ForeignKey("model_versions.id"), nullable=True),
    Column("passed", Boolean, nullable=False),
    Column("decision_json", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=False),
    Index("ix_gate_decisions_candidate", "candidate_version_id"),
)

# Every state change: who, what, when, why. Append-only.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details_json", Text, nullable=False),
    Index("ix_audit_events_entity", "entity_type", "entity", "at_ms"),
)

# The prediction log: each row indexes one Parquet segment (a blob) of logged requests of a model, with the
# time range and the versions and routes it holds, so a reader opens only the segments a window needs; and
# the blob of its profiles (one per version and route), so a window's statistics merge without its rows.
prediction_segments = Table(
    "prediction_segments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("num_rows", Integer, nullable=False),
    Column("min_ts", BigInteger, nullable=False),
    Column("max_ts", BigInteger, nullable=False),
    Column("versions_json", Text, nullable=False),  # the model versions in the segment, e.g. [3, 4]
    Column("routes_json", Text, nullable=False),  # the routes in the segment, e.g. ["canary", "champion"]
    Column("created_ms", BigInteger, nullable=False),
    Column("profile_digest", String(64), nullable=True),  # None: written before segments had profiles
    Column("error_rows", Integer, nullable=False, server_default="0"),  # of num_rows: failed requests
    # a segment written twice (a retry after the index write failed) is recorded once
    UniqueConstraint("model", "digest", name="uq_prediction_segments_digest"),
    Index("ix_prediction_segments_model_ts", "model", "max_ts", "min_ts"),
)

# Ground truth for logged requests, by request id; a newer label replaces an older one.
prediction_labels = Table(
    "prediction_labels",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("request_id", String(128), primary_key=True),
    Column("label_json", Text, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_prediction_labels_model_at", "model", "at_ms"),
)

# A monitor watches one registered model (and optionally one route) against a reference.
monitors = Table(
    "monitors",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("model", String(128), nullable=False),
    Column("route", String(32), nullable=True),
    Column("config_json", Text, nullable=False),
    Column("reference_json", Text, nullable=False),  # where the reference is: dataset, blob digests
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_monitors_model", "model"),
)

# One row per computed window of a monitor, model version and slice ("" = all rows): checking a window
# again replaces its row, so `monitor check` run twice stores the same rows.
monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("monitor_id", String(32), ForeignKey("monitors.id"), primary_key=True),
    Column("start_ms", BigInteger, primary_key=True),
    Column("end_ms", BigInteger, primary_key=True),
    Column("model_version", Integer, primary_key=True),
    Column("slice", String(255), primary_key=True),
    Column("metrics_json", Text, nullable=False),
    Column("details_json", Text, nullable=False),
    Column("computed_ms", BigInteger, nullable=False),
)

# One row per incident of a rule on a slice. ``firing`` is true while it fires and NULL once resolved:
# NULLs never collide in a unique constraint, so each (monitor, rule, slice) has at most one open alert
# even when two checks run at once.
monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("monitor_id", String(32), ForeignKey("monitors.id"), nullable=False),
    Column("rule", String(500), nullable=False),
    Column("key", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("firing", Boolean, nullable=True),
    Column("opened_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("resolved_ms", BigInteger, nullable=True),
    Column("value", Float, nullable=True),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("last_notified_ms", BigInteger, nullable=True),
    Column("details_json", Text, nullable=False),
    UniqueConstraint("monitor_id", "rule", "key", "firing", name="uq_monitor_alerts_open"),
    Index("ix_monitor_alerts_monitor_opened", "monitor_id", "opened_ms"),
)

# An alert's history, append-only: opened, notified, notify_failed (with the error), suppressed, resolved.
monitor_alert_events = Table(
    "monitor_alert_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("alert_id", String(32), ForeignKey("monitor_alerts.id"), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("notifier", String(128), nullable=False),
    Column("details_json", Text, nullable=False),
    Index("ix_monitor_alert_events_alert", "alert_id", "at_ms"),
)

# A deployment's current revision: what each route of a served model answers with, by reference ("@alias" or a
# version number as text), never a copy. ``revision`` counts the changes; every revision, the current one
# included, is also a row of ``deployment_revisions``.
deployments = Table(
    "deployments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("model", String(128), nullable=False),
    Column("champion", String(160), nullable=False),
    Column("canary", String(160), nullable=True),
    Column("canary_percent", Float, nullable=False),
    Column("shadow", String(160), nullable=True),
    Column("sticky", String(255), nullable=True),
    Column("revision", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_deployments_model", "model"),
)

# Every revision of every deployment, append-only: the history `loopml deploy history` shows.
deployment_revisions = Table(
    "deployment_revisions",
    metadata,
    Column("deployment_id", String(32), ForeignKey("deployments.id"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("champion", String(160), nullable=False),
    Column("canary", String(160), nullable=True),
    Column("canary_percent", Float, nullable=False),
    Column("shadow", String(160), nullable=True),
    Column("sticky", String(255), nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("reason", Text, nullable=False),
)

# The loop's state per model, written with compare-and-set on ``revision`` (the agent's memory of a rollout).
loop_states = Table(
    "loop_states",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("stage", String(32), nullable=False),
    Column("paused", Boolean, nullable=False),
    Column("candidate", Integer, nullable=True),
    Column("data_json", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# Who acts on a model's loop, until when: one row per model, so the primary key settles a race to create it.
loop_leases = Table(
    "loop_leases",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

# API tokens of the team server: the secret is stored only as its SHA-256 hash; a revoked or expired token is
# kept (with revoked_ms or expires_ms) so that the audit trail can still name whose it was.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),  # the user or service the token is for
    Column("role", String(16), nullable=False),  # reader | editor | admin
    Column("secret_hash", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("expires_ms", BigInteger, nullable=True),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("last_used_ms", BigInteger, nullable=True),
)

# Notes people leave on runs, model versions and alerts, so a decision carries its discussion.
notes = Table(
    "notes",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("entity_type", String(32), nullable=False),  # run | model_version | alert
    Column("entity", String(255), nullable=False),
    Column("author", String(255), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_notes_entity", "entity_type", "entity", "created_ms"),
)
