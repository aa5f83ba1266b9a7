"""Initial schema: machines with their network and storage, users, tokens, events.

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=True),
        sa.Column("authoritative", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("name", name=op.f("uq_domains_name")),
    )
    op.create_table(
        "fabrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("class_type", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fabrics")),
        sa.UniqueConstraint("name", name=op.f("uq_fabrics_name")),
    )
    op.create_table(
        "resource_pools",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_pools")),
        sa.UniqueConstraint("name", name=op.f("uq_resource_pools_name")),
    )
    op.create_table(
        "spaces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spaces")),
        sa.UniqueConstraint("name", name=op.f("uq_spaces_name")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("kernel_opts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), nullable=False),
        sa.Column("is_local", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
        sa.UniqueConstraint("name", name=op.f("uq_zones_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("consumer_key", sa.String(length=64), nullable=False),
        sa.Column("token_key", sa.String(length=64), nullable=False),
        sa.Column("token_secret", sa.String(length=128), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_key", name=op.f("uq_api_tokens_token_key")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "machines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("system_id", sa.String(length=41), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("node_type", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("status_deadline", sa.DateTime(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("agent_name", sa.String(length=255), nullable=False),
        sa.Column("owner_data", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("osystem", sa.String(length=255), nullable=False),
        sa.Column("distro_series", sa.String(length=255), nullable=False),
        sa.Column("architecture", sa.String(length=64), nullable=True),
        sa.Column("hwe_kernel", sa.String(length=64), nullable=True),
        sa.Column("min_hwe_kernel", sa.String(length=64), nullable=False),
        sa.Column("cpu_count", sa.Integer(), nullable=False),
        sa.Column("cpu_speed", sa.Integer(), nullable=False),
        sa.Column("memory", sa.Integer(), nullable=False),
        sa.Column("power_type", sa.String(length=64), nullable=False),
        sa.Column("power_parameters", sa.JSON(), nullable=False),
        sa.Column("power_state", sa.String(length=16), nullable=False),
        sa.Column("netboot", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("disable_ipv4", sa.Boolean(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=True),
        sa.Column("boot_interface_id", sa.Integer(), nullable=True),
        sa.Column("boot_disk_id", sa.Integer(), nullable=True),
        sa.Column("hardware_info", sa.JSON(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_machines_domain_id_domains")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_machines_owner_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["resource_pools.id"], name=op.f("fk_machines_pool_id_resource_pools")
        ),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_machines_zone_id_zones")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_machines")),
        sa.UniqueConstraint("hostname", name=op.f("uq_machines_hostname")),
        sa.UniqueConstraint("system_id", name=op.f("uq_machines_system_id")),
    )
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machines_agent_name"), ["agent_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_machines_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_machines_pool_id"), ["pool_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_machines_status_deadline"), ["status_deadline"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_machines_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "vlans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fabric_id", sa.Integer(), nullable=False),
        sa.Column("vid", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("mtu", sa.Integer(), nullable=False),
        sa.Column("dhcp_on", sa.Boolean(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.Column("primary_rack", sa.String(length=64), nullable=True),
        sa.Column("secondary_rack", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["fabric_id"],
            ["fabrics.id"],
            name=op.f("fk_vlans_fabric_id_fabrics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name=op.f("fk_vlans_space_id_spaces"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vlans")),
        sa.UniqueConstraint("fabric_id", "vid", name=op.f("uq_vlans_fabric_id_vid")),
    )
    op.create_table(
        "block_devices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("id_path", sa.String(length=255), nullable=True),
        sa.Column("model", sa.String(length=255), nullable=True),
        sa.Column("serial", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("block_size", sa.Integer(), nullable=False),
        sa.Column("rotational", sa.Boolean(), nullable=False),
        sa.Column("uuid", sa.String(length=64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("fstype", sa.String(length=32), nullable=True),
        sa.Column("fs_uuid", sa.String(length=64), nullable=True),
        sa.Column("mount_point", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_block_devices_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_devices")),
        sa.UniqueConstraint("machine_id", "name", name=op.f("uq_block_devices_machine_id_name")),
    )
    with op.batch_alter_table("block_devices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_block_devices_machine_id"), ["machine_id"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=True),
        sa.Column("from_status", sa.Integer(), nullable=True),
        sa.Column("to_status", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_events_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_created"), ["created"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_machine_id"), ["machine_id"], unique=False)

    op.create_table(
        "interfaces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("mac_address", sa.String(length=17), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("mtu", sa.Integer(), nullable=False),
        sa.Column("link_speed", sa.Integer(), nullable=False),
        sa.Column("vlan_id", sa.Integer(), nullable=True),
        sa.Column("parents", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_interfaces_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vlan_id"], ["vlans.id"], name=op.f("fk_interfaces_vlan_id_vlans"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interfaces")),
        sa.UniqueConstraint("machine_id", "name", name=op.f("uq_interfaces_machine_id_name")),
    )
    with op.batch_alter_table("interfaces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interfaces_mac_address"), ["mac_address"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_interfaces_machine_id"), ["machine_id"], unique=False)

    op.create_table(
        "machine_tags",
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machines.id"],
            name=op.f("fk_machine_tags_machine_id_machines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_machine_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("machine_id", "tag_id", name=op.f("pk_machine_tags")),
    )
    with op.batch_alter_table("machine_tags", schema=None) as batch_op:
        batch_op.create_index("ix_machine_tags_tag_id", ["tag_id", "machine_id"], unique=False)

    op.create_table(
        "subnets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("vlan_id", sa.Integer(), nullable=False),
        sa.Column("space_id", sa.Integer(), nullable=True),
        sa.Column("gateway_ip", sa.String(length=64), nullable=True),
        sa.Column("dns_servers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name=op.f("fk_subnets_space_id_spaces"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["vlan_id"], ["vlans.id"], name=op.f("fk_subnets_vlan_id_vlans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subnets")),
        sa.UniqueConstraint("cidr", name=op.f("uq_subnets_cidr")),
    )
    op.create_table(
        "ip_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("interface_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("subnet_id", sa.Integer(), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["interface_id"],
            ["interfaces.id"],
            name=op.f("fk_ip_links_interface_id_interfaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"],
            ["subnets.id"],
            name=op.f("fk_ip_links_subnet_id_subnets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_links")),
    )
    with op.batch_alter_table("ip_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ip_links_interface_id"), ["interface_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ip_links_ip_address"), ["ip_address"], unique=False)

    op.create_table(
        "partitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("block_device_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uuid", sa.String(length=64), nullable=True),
        sa.Column("fstype", sa.String(length=32), nullable=True),
        sa.Column("fs_uuid", sa.String(length=64), nullable=True),
        sa.Column("mount_point", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["block_device_id"],
            ["block_devices.id"],
            name=op.f("fk_partitions_block_device_id_block_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partitions")),
    )
    with op.batch_alter_table("partitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partitions_block_device_id"), ["block_device_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("partitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partitions_block_device_id"))

    op.drop_table("partitions")
    with op.batch_alter_table("ip_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ip_links_ip_address"))
        batch_op.drop_index(batch_op.f("ix_ip_links_interface_id"))

    op.drop_table("ip_links")
    op.drop_table("subnets")
    with op.batch_alter_table("machine_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_machine_tags_tag_id")

    op.drop_table("machine_tags")
    with op.batch_alter_table("interfaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interfaces_machine_id"))
        batch_op.drop_index(batch_op.f("ix_interfaces_mac_address"))

    op.drop_table("interfaces")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_machine_id"))
        batch_op.drop_index(batch_op.f("ix_events_created"))

    op.drop_table("events")
    with op.batch_alter_table("block_devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_block_devices_machine_id"))

    op.drop_table("block_devices")
    op.drop_table("vlans")
    with op.batch_alter_table("machines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machines_zone_id"))
        batch_op.drop_index(batch_op.f("ix_machines_status_deadline"))
        batch_op.drop_index(batch_op.f("ix_machines_pool_id"))
        batch_op.drop_index(batch_op.f("ix_machines_owner_id"))
        batch_op.drop_index(batch_op.f("ix_machines_agent_name"))

    op.drop_table("machines")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("zones")
    op.drop_table("users")
    op.drop_table("tags")
    op.drop_table("spaces")
    op.drop_table("resource_pools")
    op.drop_table("fabrics")
    op.drop_table("domains")
