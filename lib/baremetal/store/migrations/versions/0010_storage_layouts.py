"""LVM volume groups and logical volumes (storage layouts).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volume_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("partition_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["machine_id"], ["machines.id"], ondelete="CASCADE",
                                name=op.f("fk_volume_groups_machine_id_machines")),
        sa.ForeignKeyConstraint(["partition_id"], ["partitions.id"], ondelete="CASCADE",
                                name=op.f("fk_volume_groups_partition_id_partitions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_groups")),
        sa.UniqueConstraint("machine_id", "name", name=op.f("uq_volume_groups_machine_id_name")),
    )
    op.create_index(op.f("ix_volume_groups_machine_id"), "volume_groups", ["machine_id"],
                    unique=False)
    op.create_table(
        "logical_volumes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("volume_group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("fstype", sa.String(length=32), nullable=True),
        sa.Column("fs_uuid", sa.String(length=64), nullable=True),
        sa.Column("mount_point", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["volume_group_id"], ["volume_groups.id"], ondelete="CASCADE",
                                name=op.f("fk_logical_volumes_volume_group_id_volume_groups")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logical_volumes")),
    )
    op.create_index(op.f("ix_logical_volumes_volume_group_id"), "logical_volumes",
                    ["volume_group_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_logical_volumes_volume_group_id"), table_name="logical_volumes")
    op.drop_table("logical_volumes")
    op.drop_index(op.f("ix_volume_groups_machine_id"), table_name="volume_groups")
    op.drop_table("volume_groups")
