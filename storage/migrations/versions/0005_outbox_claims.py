"""outbox claims: who claimed a row and until when, so several senders on one database never
send one row twice

Revision ID: 0005_outbox_claims
Revises: 0004_numbers
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_outbox_claims"
down_revision = "0004_numbers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claim_expires_at")
        batch_op.drop_column("claimed_by")
