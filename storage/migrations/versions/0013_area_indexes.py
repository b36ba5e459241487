"""indexes that lead with the area for what each area's bot asks most: today's sends and the
queue (the outbox's pacing inputs) and a period's reports (/汇总)

With many areas on one database, an index on sent_at or created_at alone made each area count
every area's rows of the day and drop the others': the count grew with the street, not the area.

Revision ID: 0013_area_indexes
Revises: 0012_delivery_outbox
"""

from alembic import op

revision = "0013_area_indexes"
down_revision = "0012_delivery_outbox"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_outbox_community_sent_at", "outbox", ["community", "sent_at"]),
    ("ix_outbox_community_state_due", "outbox", ["community", "state", "next_attempt_at"]),
    (
        "ix_reports_community_created_counts",
        "reports",
        ["community", "created_at", "kind", "category", "status", "people"],
    ),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
