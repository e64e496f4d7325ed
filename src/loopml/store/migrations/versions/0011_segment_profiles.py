"""Prediction log: each segment's profile blob and its count of error rows (failed requests).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("prediction_segments", sa.Column("profile_digest", sa.String(64), nullable=True))
    # segments written before error rows existed hold none
    op.add_column(
        "prediction_segments", sa.Column("error_rows", sa.Integer, nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("prediction_segments") as batch:
        batch.drop_column("error_rows")
        batch.drop_column("profile_digest")
