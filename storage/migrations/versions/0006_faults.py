"""text columns that hold what people type as long as they type it: a group's topic, the
buildings of a room or a leader (/绑定 1-300号楼), a notice's targets as written

PostgreSQL refused what SQLite accepted (SQLite does not enforce lengths): the same message
must give the same result on both.

Revision ID: 0006_faults
Revises: 0005_outbox_claims
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_faults"
down_revision = "0005_outbox_claims"
branch_labels = None
depends_on = None

WIDENED = [
    ("rooms", "topic", 256),
    ("rooms", "buildings", 512),
    ("people", "buildings", 512),
    ("notices", "targets", 256),
]


def upgrade() -> None:
    for table, column, length in WIDENED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, type_=sa.Text(), existing_type=sa.String(length=length))


def downgrade() -> None:
    for table, column, length in WIDENED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, type_=sa.String(length=length), existing_type=sa.Text())
