"""recall of relayed notices: outbox actions, per-room recall state, the recall report

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("action", sa.String(length=16), nullable=False, server_default="say"))
        batch_op.add_column(sa.Column("recall_message_id", sa.String(length=128), nullable=True))
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recall_state", sa.String(length=16), nullable=True))
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recall_requested_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("recall_reply_room_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("recall_reported_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_column("recall_reported_at")
        batch_op.drop_column("recall_reply_room_id")
        batch_op.drop_column("recall_requested_by")
    with op.batch_alter_table("notice_deliveries", schema=None) as batch_op:
        batch_op.drop_column("recall_state")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("recall_message_id")
        batch_op.drop_column("action")
