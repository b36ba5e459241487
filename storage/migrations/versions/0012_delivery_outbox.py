"""each notice delivery points at the outbox row of its relay (notice_deliveries.outbox_id, declared
since the first schema, is now written when the relay is queued): deliveries from before are
linked to their relay by its key, notice:<notice>:<room>, in the same area

Revision ID: 0012_delivery_outbox
Revises: 0011_area_roles
"""

from alembic import op

revision = "0012_delivery_outbox"
down_revision = "0011_area_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # '||' joins text to an integer on SQLite and PostgreSQL alike
    op.execute(
        "UPDATE notice_deliveries SET outbox_id = ("
        " SELECT outbox.id FROM outbox"
        " WHERE outbox.dedupe_key = 'notice:' || notice_deliveries.notice_id || ':' || notice_deliveries.room_id"
        " AND outbox.community = notice_deliveries.community)"
        " WHERE outbox_id IS NULL"
    )


def downgrade() -> None:
    pass  # the column stays; before this revision nothing read it
