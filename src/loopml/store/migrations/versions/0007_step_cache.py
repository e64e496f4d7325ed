"""Pipeline step cache: the step run that answers each cache key, and the outputs it stored.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_cache",
        sa.Column("cache_key", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("outputs_json", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_step_cache_run", "step_cache", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_step_cache_run", "step_cache")
    op.drop_table("step_cache")
