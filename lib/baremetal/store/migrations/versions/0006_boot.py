"""Boot: subnet address ranges, host reservations, boot images, machine metadata tokens.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _subnet_child(name: str, *columns: sa.Column, unique: tuple[str, ...] = ()) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subnet_id", sa.Integer(), nullable=False),
        *columns,
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["subnet_id"], ["subnets.id"], ondelete="CASCADE",
                                name=op.f(f"fk_{name}_subnet_id_subnets")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        *(sa.UniqueConstraint(c, name=op.f(f"uq_{name}_{c}")) for c in unique),
    )
    op.create_index(op.f(f"ix_{name}_subnet_id"), name, ["subnet_id"], unique=False)


def upgrade() -> None:
    _subnet_child("ip_ranges",
                  sa.Column("type", sa.String(length=16), nullable=False),
                  sa.Column("start_ip", sa.String(length=64), nullable=False),
                  sa.Column("end_ip", sa.String(length=64), nullable=False))
    _subnet_child("reserved_ips",
                  sa.Column("ip", sa.String(length=64), nullable=False),
                  sa.Column("mac_address", sa.String(length=17), nullable=True),
                  unique=("ip",))
    op.create_table(
        "boot_resources",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("architecture", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_resources")),
        sa.UniqueConstraint("architecture", "name", "filename",
                            name=op.f("uq_boot_resources_architecture_name_filename")),
    )
    op.create_table(
        "machine_tokens",
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["machine_id"], ["machines.id"], ondelete="CASCADE",
                                name=op.f("fk_machine_tokens_machine_id_machines")),
        sa.PrimaryKeyConstraint("machine_id", name=op.f("pk_machine_tokens")),
        sa.UniqueConstraint("token", name=op.f("uq_machine_tokens_token")),
    )


def downgrade() -> None:
    op.drop_table("machine_tokens")
    op.drop_table("boot_resources")
    op.drop_index(op.f("ix_reserved_ips_subnet_id"), table_name="reserved_ips")
    op.drop_table("reserved_ips")
    op.drop_index(op.f("ix_ip_ranges_subnet_id"), table_name="ip_ranges")
    op.drop_table("ip_ranges")
