"""roles bound by proof: how a person's WeChat id was proven, one-time bind codes, failed
attempts, contacts the bot has seen, and the audit trail of role changes

Revision ID: 0009_roles
Revises: 0008_web_board

Existing people keep their ids but none counts as proven: an id learned from a display name
before this revision may belong to an impostor. Config entries with a wechat_id are marked
proven again at the next start; everyone else with a role above resident binds by code.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_roles"
down_revision = "0008_web_board"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bound_via", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("bound_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "contacts",
        sa.Column("wechat_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wechat_id", name=op.f("pk_contacts")),
    )
    op.create_table(
        "bind_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_bind_codes_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bind_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_bind_codes_code_hash")),
    )
    with op.batch_alter_table("bind_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bind_codes_person_id"), ["person_id"], unique=False)
    op.create_table(
        "bind_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wechat_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bind_failures")),
    )
    with op.batch_alter_table("bind_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bind_failures_wechat_id"), ["wechat_id"], unique=False)
    op.create_table(
        "role_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("person_name", sa.String(length=128), nullable=False),
        sa.Column("wechat_id", sa.String(length=128), nullable=True),
        sa.Column("old_role", sa.String(length=16), nullable=True),
        sa.Column("new_role", sa.String(length=16), nullable=True),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("actor_name", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_events")),
    )
    with op.batch_alter_table("role_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_events_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("role_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_events_at"))
    op.drop_table("role_events")
    with op.batch_alter_table("bind_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bind_failures_wechat_id"))
    op.drop_table("bind_failures")
    with op.batch_alter_table("bind_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bind_codes_person_id"))
    op.drop_table("bind_codes")
    op.drop_table("contacts")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("bound_at")
        batch_op.drop_column("bound_via")
