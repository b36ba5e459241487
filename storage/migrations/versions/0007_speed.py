"""indexes for the questions staff ask: /汇总 counts a period from one covering index, /查询 by
category or building reads its newest twenty from an index in date order

Revision ID: 0007_speed
Revises: 0006_faults
"""

from alembic import op

revision = "0007_speed"
down_revision = "0006_faults"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        # the period's rows and every column /汇总 groups and sums, without touching the table
        batch_op.create_index(
            "ix_reports_created_counts", ["created_at", "kind", "category", "status", "people"]
        )
        batch_op.drop_index("ix_reports_created")  # a prefix of the one above
        batch_op.create_index("ix_reports_category_created", ["category", "created_at"])
        batch_op.create_index("ix_reports_building_created", ["building", "created_at"])
        batch_op.drop_index("ix_reports_building")  # a prefix of the one above


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_building", ["building"])
        batch_op.drop_index("ix_reports_building_created")
        batch_op.drop_index("ix_reports_category_created")
        batch_op.create_index("ix_reports_created", ["created_at"])
        batch_op.drop_index("ix_reports_created_counts")
