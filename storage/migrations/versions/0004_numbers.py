"""query log: whether whole phone numbers were shown (staff room or private chat with staff)

Revision ID: 0004_numbers
Revises: 0003_web
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_numbers"
down_revision = "0003_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.add_column(sa.Column("phones_whole", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.drop_column("phones_whole")
