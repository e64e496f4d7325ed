"""Prediction log: the index of Parquet segments of logged requests, and labels by request id.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_segments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("num_rows", sa.Integer, nullable=False),
        sa.Column("min_ts", sa.BigInteger, nullable=False),
        sa.Column("max_ts", sa.BigInteger, nullable=False),
        sa.Column("versions_json", sa.Text, nullable=False),
        sa.Column("routes_json", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("model", "digest", name="uq_prediction_segments_digest"),
    )
    op.create_index("ix_prediction_segments_model_ts", "prediction_segments", ["model", "max_ts", "min_ts"])
    op.create_table(
        "prediction_labels",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("label_json", sa.Text, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_prediction_labels_model_at", "prediction_labels", ["model", "at_ms"])


def downgrade() -> None:
    op.drop_index("ix_prediction_labels_model_at", "prediction_labels")
    op.drop_table("prediction_labels")
    op.drop_index("ix_prediction_segments_model_ts", "prediction_segments")
    op.drop_table("prediction_segments")
