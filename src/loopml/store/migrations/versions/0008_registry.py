"""Model registry: registered models, versions, aliases, evaluations, gate decisions, and the audit trail.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigIntId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("model_id", sa.String(32), sa.ForeignKey("registered_models.id"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model_id", sa.String(32), sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("bundle_digest", sa.String(64), nullable=False),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("source_run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_number"),
    )
    op.create_index("ix_model_versions_digest", "model_versions", ["bundle_digest"])
    op.create_index("ix_model_versions_run", "model_versions", ["source_run_id"])
    op.create_table(
        "model_version_datasets",
        sa.Column("version_id", sa.String(32), sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column(
            "dataset_version_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), primary_key=True
        ),
    )
    op.create_index("ix_model_version_datasets_dataset", "model_version_datasets", ["dataset_version_id"])
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.String(32), sa.ForeignKey("registered_models.id"), primary_key=True),
        sa.Column("alias", sa.String(128), primary_key=True),
        sa.Column("version_id", sa.String(32), sa.ForeignKey("model_versions.id"), nullable=False),
    )
    op.create_table(
        "model_evaluations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("version_id", sa.String(32), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("dataset_version_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("evaluation_json", sa.Text, nullable=False),
    )
    op.create_index("ix_model_evaluations_version", "model_evaluations", ["version_id", "created_ms"])
    op.create_table(
        "gate_decisions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model_id", sa.String(32), sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("candidate_version_id", sa.String(32), sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("baseline_version_id", sa.String(32), sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("decision_json", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
    )
    op.create_index("ix_gate_decisions_candidate", "gate_decisions", ["candidate_version_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("details_json", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_events_entity", "audit_events", ["entity_type", "entity", "at_ms"])


def downgrade() -> None:
    for table in (
        "audit_events",
        "gate_decisions",
        "model_evaluations",
        "model_aliases",
        "model_version_datasets",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        op.drop_table(table)
