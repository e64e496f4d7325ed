"""Dataset lineage: a derived version records its parent versions and the transformation that made it.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dataset_versions", sa.Column("transform_json", sa.Text, nullable=True))
    op.create_table(
        "dataset_parents",
        sa.Column("version_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.String(32), sa.ForeignKey("dataset_versions.id"), nullable=False),
    )
    op.create_index("ix_dataset_parents_parent", "dataset_parents", ["parent_id"])


def downgrade() -> None:
    op.drop_table("dataset_parents")
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("transform_json")
