"""Durable power jobs, and when each machine's power state was last read.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "power_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=150), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("lease_expires", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_power_jobs_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_power_jobs")),
    )
    with op.batch_alter_table("power_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_power_jobs_machine_id_status", ["machine_id", "status"], unique=False
        )
        batch_op.create_index("ix_power_jobs_status_id", ["status", "id"], unique=False)

    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("power_state_updated", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("power_error", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_machines_power_state_updated", ["power_type", "power_state_updated"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.drop_index("ix_machines_power_state_updated")
        batch_op.drop_column("power_error")
        batch_op.drop_column("power_state_updated")

    with op.batch_alter_table("power_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_power_jobs_status_id")
        batch_op.drop_index("ix_power_jobs_machine_id_status")

    op.drop_table("power_jobs")
