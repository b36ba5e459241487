"""the indexes /查询, /待办 and the workbench's board ask lead with the area too

Every statement of an area's session says ``community = ?``. With ix_reports_category_created,
ix_reports_building_created and the status indexes starting at their own column, SQLite's planner
took the single-column community index and read every report of the area for /查询 返沪 or
/查询 3号楼. Each now starts with the area, then what it served before (0013 did the outbox and
/汇总's index).

Revision ID: 0014_area_query_indexes
Revises: 0013_area_indexes
"""

from alembic import op

revision = "0014_area_query_indexes"
down_revision = "0013_area_indexes"
branch_labels = None
depends_on = None

INDEXES = [  # name, its columns after the area
    ("ix_reports_status_created", ["status", "created_at"]),
    ("ix_reports_category_created", ["category", "created_at"]),
    ("ix_reports_building_created", ["building", "created_at"]),
    ("ix_reports_status_building_created", ["status", "building", "created_at"]),
]


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        for name, columns in INDEXES:
            batch_op.drop_index(name)
            batch_op.create_index(name, ["community", *columns])


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        for name, columns in INDEXES:
            batch_op.drop_index(name)
            batch_op.create_index(name, columns)
