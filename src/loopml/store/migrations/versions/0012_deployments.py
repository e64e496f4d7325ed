"""Deployments (each route's reference, with every revision kept) and the loop's state and leases per model.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("champion", sa.String(160), nullable=False),
        sa.Column("canary", sa.String(160), nullable=True),
        sa.Column("canary_percent", sa.Float, nullable=False),
        sa.Column("shadow", sa.String(160), nullable=True),
        sa.Column("sticky", sa.String(255), nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_deployments_model", "deployments", ["model"])
    op.create_table(
        "deployment_revisions",
        sa.Column("deployment_id", sa.String(32), sa.ForeignKey("deployments.id"), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("champion", sa.String(160), nullable=False),
        sa.Column("canary", sa.String(160), nullable=True),
        sa.Column("canary_percent", sa.Float, nullable=False),
        sa.Column("shadow", sa.String(160), nullable=True),
        sa.Column("sticky", sa.String(255), nullable=True),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "loop_states",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("candidate", sa.Integer, nullable=True),
        sa.Column("data_json", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "loop_leases",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("loop_leases")
    op.drop_table("loop_states")
    op.drop_table("deployment_revisions")
    op.drop_index("ix_deployments_model", "deployments")
    op.drop_table("deployments")
