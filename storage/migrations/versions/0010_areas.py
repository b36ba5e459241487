"""areas as tenants: every record that belongs to a residential area carries it (community);
keys that were unique in one area become unique per area

Rows already there get '' and are adopted by the first area that starts (storage/scoping.py).

Revision ID: 0010_areas
Revises: 0009_roles
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_areas"
down_revision = "0009_roles"
branch_labels = None
depends_on = None

TABLES = [
    "rooms",
    "people",
    "delegations",
    "incoming_messages",
    "incidents",
    "reports",
    "report_events",
    "pending_questions",
    "notices",
    "notice_deliveries",
    "notice_acks",
    "outbox",
    "query_log",
    "web_login_codes",
    "web_sessions",
]

# keys that were unique in the one area's database and are unique per area now (WeChat ids of
# messages and people come from different accounts; reply and 接龙 keys are built from them)
PER_AREA_KEYS = [
    ("people", "wechat_id"),
    ("incoming_messages", "message_id"),
    ("reports", "dedupe_key"),
    ("outbox", "dedupe_key"),
]


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("community", sa.String(length=64), nullable=False, server_default="")
            )
            batch_op.create_index(f"ix_{table}_community", ["community"], unique=False)
    for table, column in PER_AREA_KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_{column}", type_="unique")
            batch_op.create_unique_constraint(f"uq_{table}_community_{column}", ["community", column])
    with op.batch_alter_table("pending_questions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_pending_questions_room_person", type_="unique")
        batch_op.create_unique_constraint(
            "uq_pending_questions_room_person", ["community", "room_key", "person_id"]
        )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("community", sa.String(length=64), nullable=False, server_default=""))
        batch_op.drop_constraint("pk_job_runs", type_="primary")
        batch_op.create_primary_key("pk_job_runs", ["community", "job_id"])


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_constraint("pk_job_runs", type_="primary")
        batch_op.create_primary_key("pk_job_runs", ["job_id"])
        batch_op.drop_column("community")
    with op.batch_alter_table("pending_questions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_pending_questions_room_person", type_="unique")
        batch_op.create_unique_constraint("uq_pending_questions_room_person", ["room_key", "person_id"])
    for table, column in PER_AREA_KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_community_{column}", type_="unique")
            batch_op.create_unique_constraint(f"uq_{table}_{column}", [column])
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_community")
            batch_op.drop_column("community")
