"""the role and login tables carry their area too: contacts, one-time bind codes and their
failures, the role audit trail and web login locks (people, web login codes and sessions already do)

A contact one area's account has seen, a code issued in one area or a lock earned there says
nothing about another area on the same database. Rows already there get '' and are adopted by
the first area that starts (storage/scoping.py).

Revision ID: 0011_area_roles
Revises: 0010_areas
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_area_roles"
down_revision = "0010_areas"
branch_labels = None
depends_on = None

INDEXED = ["bind_codes", "bind_failures", "role_events"]
KEYED = [("contacts", "wechat_id"), ("web_login_locks", "subject")]  # the area joins the primary key


def _community() -> sa.Column:
    return sa.Column("community", sa.String(length=64), nullable=False, server_default="")


def upgrade() -> None:
    for table in INDEXED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_community())
            batch_op.create_index(f"ix_{table}_community", ["community"], unique=False)
    with op.batch_alter_table("bind_codes", schema=None) as batch_op:
        batch_op.drop_constraint("uq_bind_codes_code_hash", type_="unique")
        batch_op.create_unique_constraint("uq_bind_codes_community_code_hash", ["community", "code_hash"])
    for table, key in KEYED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_community())
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", ["community", key])


def downgrade() -> None:
    for table, key in KEYED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", [key])
            batch_op.drop_column("community")
    with op.batch_alter_table("bind_codes", schema=None) as batch_op:
        batch_op.drop_constraint("uq_bind_codes_community_code_hash", type_="unique")
        batch_op.create_unique_constraint("uq_bind_codes_code_hash", ["code_hash"])
    for table in reversed(INDEXED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_community")
            batch_op.drop_column("community")
