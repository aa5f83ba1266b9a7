"""Script sets and results (commissioning, testing), users' SSH keys.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "script_sets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("ended", sa.DateTime(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["machine_id"], ["machines.id"], ondelete="CASCADE",
                                name=op.f("fk_script_sets_machine_id_machines")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_script_sets")),
    )
    op.create_index("ix_script_sets_machine_id_kind", "script_sets", ["machine_id", "kind"],
                    unique=False)
    op.create_table(
        "script_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("runtime", sa.Float(), nullable=True),
        sa.Column("output", sa.LargeBinary(), nullable=True),
        sa.Column("started", sa.DateTime(), nullable=True),
        sa.Column("ended", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["set_id"], ["script_sets.id"], ondelete="CASCADE",
                                name=op.f("fk_script_results_set_id_script_sets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_script_results")),
        sa.UniqueConstraint("set_id", "name", name=op.f("uq_script_results_set_id_name")),
    )
    op.create_index(op.f("ix_script_results_set_id"), "script_results", ["set_id"],
                    unique=False)
    op.create_table(
        "ssh_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_ssh_keys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_keys")),
    )
    op.create_index(op.f("ix_ssh_keys_user_id"), "ssh_keys", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ssh_keys_user_id"), table_name="ssh_keys")
    op.drop_table("ssh_keys")
    op.drop_index(op.f("ix_script_results_set_id"), table_name="script_results")
    op.drop_table("script_results")
    op.drop_index("ix_script_sets_machine_id_kind", table_name="script_sets")
    op.drop_table("script_sets")
