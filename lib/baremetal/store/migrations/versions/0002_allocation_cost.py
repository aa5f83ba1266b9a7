"""Allocation cost: a stored, indexed price per machine so allocation scans cheapest first.

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
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost", sa.Float(), nullable=False, server_default="0"))
    # Existing machines get their price from what they already record.
    op.execute("UPDATE machines SET cost = cpu_count + memory / 1024.0")
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.alter_column("cost", server_default=None)
        batch_op.create_index("ix_machines_status_cost", ["status", "cost", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.drop_index("ix_machines_status_cost")
        batch_op.drop_column("cost")
