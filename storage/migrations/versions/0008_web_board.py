"""the workbench board: open reports per building read from one covering index

Revision ID: 0008_web_board
Revises: 0007_speed
"""

from alembic import op

revision = "0008_web_board"
down_revision = "0007_speed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_reports_status_building_created", "reports", ["status", "building", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_reports_status_building_created", table_name="reports")
