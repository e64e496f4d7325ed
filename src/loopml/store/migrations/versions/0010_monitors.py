"""Monitors: what each watches, the results of its windows, its alerts and their history.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigIntId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("route", sa.String(32), nullable=True),
        sa.Column("config_json", sa.Text, nullable=False),
        sa.Column("reference_json", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_monitors_model", "monitors", ["model"])
    op.create_table(
        "monitor_windows",
        sa.Column("monitor_id", sa.String(32), sa.ForeignKey("monitors.id"), primary_key=True),
        sa.Column("start_ms", sa.BigInteger, primary_key=True),
        sa.Column("end_ms", sa.BigInteger, primary_key=True),
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.Column("slice", sa.String(255), primary_key=True),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("details_json", sa.Text, nullable=False),
        sa.Column("computed_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("monitor_id", sa.String(32), sa.ForeignKey("monitors.id"), nullable=False),
        sa.Column("rule", sa.String(500), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("firing", sa.Boolean, nullable=True),
        sa.Column("opened_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("resolved_ms", sa.BigInteger, nullable=True),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("window_start_ms", sa.BigInteger, nullable=False),
        sa.Column("last_notified_ms", sa.BigInteger, nullable=True),
        sa.Column("details_json", sa.Text, nullable=False),
        sa.UniqueConstraint("monitor_id", "rule", "key", "firing", name="uq_monitor_alerts_open"),
    )
    op.create_index("ix_monitor_alerts_monitor_opened", "monitor_alerts", ["monitor_id", "opened_ms"])
    op.create_table(
        "monitor_alert_events",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32), sa.ForeignKey("monitor_alerts.id"), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("notifier", sa.String(128), nullable=False),
        sa.Column("details_json", sa.Text, nullable=False),
    )
    op.create_index("ix_monitor_alert_events_alert", "monitor_alert_events", ["alert_id", "at_ms"])


def downgrade() -> None:
    op.drop_index("ix_monitor_alert_events_alert", "monitor_alert_events")
    op.drop_table("monitor_alert_events")
    op.drop_index("ix_monitor_alerts_monitor_opened", "monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_windows")
    op.drop_index("ix_monitors_model", "monitors")
    op.drop_table("monitors")
