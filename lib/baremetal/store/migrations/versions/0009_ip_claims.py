"""Address claims: one row per address handed out (links, reservations), unique; bond and
bridge parameters of interfaces and the addresses they were seen with; the link a
machine's default route goes through; static routes between subnets.

Revision ID: 0009
Revises: 0008
"""

import ipaddress

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _int(ip: str) -> int | None:
    address = ipaddress.ip_address(ip)
    return int(address) if address.version == 4 else None


def upgrade() -> None:
    claims = op.create_table(
        "ip_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subnet_id", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("ip_int", sa.BigInteger(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("reserved_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["subnet_id"], ["subnets.id"], ondelete="CASCADE",
                                name=op.f("fk_ip_claims_subnet_id_subnets")),
        sa.ForeignKeyConstraint(["link_id"], ["ip_links.id"], ondelete="CASCADE",
                                name=op.f("fk_ip_claims_link_id_ip_links")),
        sa.ForeignKeyConstraint(["reserved_id"], ["reserved_ips.id"], ondelete="CASCADE",
                                name=op.f("fk_ip_claims_reserved_id_reserved_ips")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_claims")),
        sa.UniqueConstraint("ip", name=op.f("uq_ip_claims_ip")),
    )
    op.create_index(op.f("ix_ip_claims_link_id"), "ip_claims", ["link_id"], unique=False)
    op.create_index(op.f("ix_ip_claims_reserved_id"), "ip_claims", ["reserved_id"],
                    unique=False)
    op.create_index("ix_ip_claims_subnet_id_ip_int", "ip_claims", ["subnet_id", "ip_int"],
                    unique=False)
    op.create_table(
        "static_routes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("destination_id", sa.Integer(), nullable=False),
        sa.Column("gateway_ip", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["subnets.id"], ondelete="CASCADE",
                                name=op.f("fk_static_routes_source_id_subnets")),
        sa.ForeignKeyConstraint(["destination_id"], ["subnets.id"], ondelete="CASCADE",
                                name=op.f("fk_static_routes_destination_id_subnets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_static_routes")),
        sa.UniqueConstraint("source_id", "destination_id", "gateway_ip",
                            name=op.f("uq_static_routes_source_id_destination_id_gateway_ip")),
    )
    op.create_index(op.f("ix_static_routes_source_id"), "static_routes", ["source_id"],
                    unique=False)
    with op.batch_alter_table("interfaces") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("discovered", sa.JSON(), nullable=True))
    with op.batch_alter_table("ip_links") as batch:
        batch.add_column(sa.Column("default_gateway", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    bind = op.get_bind()
    rows, seen = [], set()
    for link_id, subnet_id, ip in bind.execute(sa.text(
            "SELECT id, subnet_id, ip_address FROM ip_links WHERE ip_address IS NOT NULL "
            "AND subnet_id IS NOT NULL ORDER BY id")):
        if ip not in seen:
            seen.add(ip)
            rows.append({"subnet_id": subnet_id, "ip": ip, "ip_int": _int(ip),
                         "link_id": link_id, "reserved_id": None})
    for reserved_id, subnet_id, ip in bind.execute(sa.text(
            "SELECT id, subnet_id, ip FROM reserved_ips ORDER BY id")):
        if ip not in seen:
            seen.add(ip)
            rows.append({"subnet_id": subnet_id, "ip": ip, "ip_int": _int(ip),
                         "link_id": None, "reserved_id": reserved_id})
    if rows:
        op.bulk_insert(claims, rows)


def downgrade() -> None:
    op.drop_index(op.f("ix_static_routes_source_id"), table_name="static_routes")
    op.drop_table("static_routes")
    with op.batch_alter_table("ip_links") as batch:
        batch.drop_column("default_gateway")
    with op.batch_alter_table("interfaces") as batch:
        batch.drop_column("discovered")
        batch.drop_column("params")
    op.drop_index("ix_ip_claims_subnet_id_ip_int", table_name="ip_claims")
    op.drop_index(op.f("ix_ip_claims_reserved_id"), table_name="ip_claims")
    op.drop_index(op.f("ix_ip_claims_link_id"), table_name="ip_claims")
    op.drop_table("ip_claims")
