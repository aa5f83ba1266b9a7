"""Files (Juju keeps provider state there) and devices that belong to a machine.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("anon_key", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_files_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("anon_key", name=op.f("uq_files_anon_key")),
        sa.UniqueConstraint("owner_id", "filename", name=op.f("uq_files_owner_id_filename")),
    )
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("user_data", sa.LargeBinary(), nullable=True))
        batch_op.create_index("ix_machines_node_type_status", ["node_type", "status"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_machines_parent_id_machines"),
            "machines",
            ["parent_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_machines_parent_id_machines"), type_="foreignkey")
        batch_op.drop_index("ix_machines_node_type_status")
        batch_op.drop_column("user_data")
        batch_op.drop_column("parent_id")

    op.drop_table("files")
