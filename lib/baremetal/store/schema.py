"""The database schema (SQLAlchemy Core). Alembic migrations build exactly this; a test
compares the two so they cannot drift."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column:
    return Column("id", Integer, primary_key=True, autoincrement=True)


zones = Table(
    "zones", metadata, _id(),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
)

resource_pools = Table(
    "resource_pools", metadata, _id(),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
)

domains = Table(
    "domains", metadata, _id(),
    Column("name", String(256), nullable=False, unique=True),
    Column("ttl", Integer, nullable=True),
    Column("authoritative", Boolean, nullable=False, default=True),
    Column("is_default", Boolean, nullable=False, default=False),
)

spaces = Table(
    "spaces", metadata, _id(),
    Column("name", String(256), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
)

fabrics = Table(
    "fabrics", metadata, _id(),
    Column("name", String(256), nullable=False, unique=True),
    Column("class_type", String(256), nullable=True),
)

vlans = Table(
    "vlans", metadata, _id(),
    Column("fabric_id", ForeignKey("fabrics.id", ondelete="CASCADE"), nullable=False),
    Column("vid", Integer, nullable=False, default=0),
    Column("name", String(256), nullable=True),
    Column("mtu", Integer, nullable=False, default=1500),
    Column("dhcp_on", Boolean, nullable=False, default=False),
    Column("space_id", ForeignKey("spaces.id", ondelete="SET NULL"), nullable=True),
    Column("primary_rack", String(64), nullable=True),
    Column("secondary_rack", String(64), nullable=True),
    UniqueConstraint("fabric_id", "vid"),
)

subnets = Table(
    "subnets", metadata, _id(),
    Column("name", String(256), nullable=False),
    Column("cidr", String(64), nullable=False, unique=True),
    Column("vlan_id", ForeignKey("vlans.id", ondelete="CASCADE"), nullable=False),
    Column("space_id", ForeignKey("spaces.id", ondelete="SET NULL"), nullable=True),
    Column("gateway_ip", String(64), nullable=True),
    Column("dns_servers", JSON, nullable=False, default=list),
)

tags = Table(
    "tags", metadata, _id(),
    Column("name", String(256), nullable=False, unique=True),
    Column("definition", Text, nullable=False, default=""),
    Column("comment", Text, nullable=False, default=""),
    Column("kernel_opts", Text, nullable=False, default=""),
)

users = Table(
    "users", metadata, _id(),
    Column("username", String(150), nullable=False, unique=True),
    Column("email", String(254), nullable=False, default=""),
    Column("password_hash", String(256), nullable=False, default=""),
    Column("is_superuser", Boolean, nullable=False, default=False),
    Column("is_local", Boolean, nullable=False, default=True),
    Column("created", DateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata, _id(),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(256), nullable=False, default=""),
    Column("consumer_key", String(64), nullable=False),
    Column("token_key", String(64), nullable=False, unique=True),
    Column("token_secret", String(128), nullable=False),
    Column("created", DateTime, nullable=False),
)

machines = Table(
    "machines", metadata, _id(),
    Column("system_id", String(41), nullable=False, unique=True),
    Column("hostname", String(255), nullable=False, unique=True),
    Column("domain_id", ForeignKey("domains.id"), nullable=False),
    Column("node_type", Integer, nullable=False, default=0),
    Column("status", Integer, nullable=False, default=0),
    Column("status_message", Text, nullable=True),
    Column("status_deadline", DateTime, nullable=True, index=True),
    Column("owner_id", ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("agent_name", String(255), nullable=False, default="", index=True),
    Column("owner_data", JSON, nullable=False, default=dict),
    Column("description", Text, nullable=False, default=""),
    Column("osystem", String(255), nullable=False, default=""),
    Column("distro_series", String(255), nullable=False, default=""),
    Column("architecture", String(64), nullable=True),
    Column("hwe_kernel", String(64), nullable=True),
    Column("min_hwe_kernel", String(64), nullable=False, default=""),
    Column("cpu_count", Integer, nullable=False, default=0),
    Column("cpu_speed", Integer, nullable=False, default=0),
    Column("memory", Integer, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("power_type", String(64), nullable=False, default=""),
    Column("power_parameters", JSON, nullable=False, default=dict),
    Column("power_state", String(16), nullable=False, default="unknown"),
    Column("netboot", Boolean, nullable=False, default=True),
    Column("locked", Boolean, nullable=False, default=False),
    Column("disable_ipv4", Boolean, nullable=False, default=False),
    Column("zone_id", ForeignKey("zones.id"), nullable=False, index=True),
    Column("pool_id", ForeignKey("resource_pools.id"), nullable=True, index=True),
    Column("boot_interface_id", Integer, nullable=True),
    Column("boot_disk_id", Integer, nullable=True),
    Column("hardware_info", JSON, nullable=True),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    # Devices (node_type 1) may belong to a machine.
    Column("parent_id", ForeignKey("machines.id", ondelete="CASCADE"), nullable=True),
    # When the power state was last read from the BMC, and why it could not be, if so.
    Column("power_state_updated", DateTime, nullable=True),
    Column("power_error", Text, nullable=True),
    # The user data of the current deployment, as the owner sent it (decoded).
    Column("user_data", LargeBinary, nullable=True),
    Index("ix_machines_node_type_status", "node_type", "status"),
    # The poller refreshes the stalest power states first.
    Index("ix_machines_power_state_updated", "power_type", "power_state_updated"),
    # Allocation walks Ready machines cheapest first: this index serves that scan.
    Index("ix_machines_status_cost", "status", "cost", "id"),
)

machine_tags = Table(
    "machine_tags", metadata,
    Column("machine_id", ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_machine_tags_tag_id", "tag_id", "machine_id"),
)

interfaces = Table(
    "interfaces", metadata, _id(),
    Column("machine_id", ForeignKey("machines.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("name", String(255), nullable=False),
    Column("type", String(16), nullable=False, default="physical"),
    Column("mac_address", String(17), nullable=True, index=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("mtu", Integer, nullable=False, default=1500),
    Column("link_speed", Integer, nullable=False, default=0),
    Column("vlan_id", ForeignKey("vlans.id", ondelete="SET NULL"), nullable=True),
    Column("parents", JSON, nullable=False, default=list),
    Column("tags", JSON, nullable=False, default=list),
    Column("params", JSON, nullable=True),  # bond mode, miimon, ...; bridge type, stp
    Column("discovered", JSON, nullable=True),  # [{ip_address, subnet_id}] seen booting
    UniqueConstraint("machine_id", "name"),
)

ip_links = Table(
    "ip_links", metadata, _id(),
    Column("interface_id", ForeignKey("interfaces.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("mode", String(16), nullable=False, default="link_up"),
    Column("subnet_id", ForeignKey("subnets.id", ondelete="SET NULL"), nullable=True),
    Column("ip_address", String(64), nullable=True, index=True),
    Column("default_gateway", Boolean, nullable=False, default=False),
)

block_devices = Table(
    "block_devices", metadata, _id(),
    Column("machine_id", ForeignKey("machines.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("name", String(255), nullable=False),
    Column("path", String(255), nullable=False, default=""),
    Column("id_path", String(255), nullable=True),
    Column("model", String(255), nullable=True),
    Column("serial", String(255), nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("block_size", Integer, nullable=False, default=512),
    Column("rotational", Boolean, nullable=False, default=False),
    Column("uuid", String(64), nullable=True),
    Column("tags", JSON, nullable=False, default=list),
    Column("fstype", String(32), nullable=True),
    Column("fs_uuid", String(64), nullable=True),
    Column("mount_point", String(255), nullable=True),
    UniqueConstraint("machine_id", "name"),
)

partitions = Table(
    "partitions", metadata, _id(),
    Column("block_device_id", ForeignKey("block_devices.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("uuid", String(64), nullable=True),
    Column("fstype", String(32), nullable=True),
    Column("fs_uuid", String(64), nullable=True),
    Column("mount_point", String(255), nullable=True),
)

# LVM: a volume group on a partition of a machine's disk, and its logical volumes.
volume_groups = Table(
    "volume_groups", metadata, _id(),
    Column("machine_id", ForeignKey("machines.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("name", String(64), nullable=False),
    Column("partition_id", ForeignKey("partitions.id", ondelete="CASCADE"), nullable=False),
    Column("size", BigInteger, nullable=False),
    UniqueConstraint("machine_id", "name"),
)

logical_volumes = Table(
    "logical_volumes", metadata, _id(),
    Column("volume_group_id", ForeignKey("volume_groups.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("fstype", String(32), nullable=True),
    Column("fs_uuid", String(64), nullable=True),
    Column("mount_point", String(255), nullable=True),
)

events = Table(
    "events", metadata, _id(),
    Column("machine_id", ForeignKey("machines.id", ondelete="CASCADE"), nullable=True,
           index=True),
    Column("type", String(255), nullable=False),
    Column("level", String(16), nullable=False, default="INFO"),
    Column("description", Text, nullable=False, default=""),
    Column("username", String(150), nullable=True),
    Column("from_status", Integer, nullable=True),
    Column("to_status", Integer, nullable=True),
    Column("comment", Text, nullable=False, default=""),
    Column("created", DateTime, nullable=False, index=True),
)

files = Table(
    "files", metadata, _id(),
    Column("filename", String(255), nullable=False),
    Column("owner_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("anon_key", String(64), nullable=False, unique=True),
    Column("created", DateTime, nullable=False),
    UniqueConstraint("owner_id", "filename"),
)

# Power actions requested through the API, executed by a worker (a rack, or the in-process
# worker of `baremetal up`). A job is claimed with a lease; a worker that dies lets the
# lease expire and the job is claimed again. Jobs of one machine run one at a time, in order.
power_jobs = Table(
    "power_jobs", metadata, _id(),
    Column("machine_id", ForeignKey("machines.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(16), nullable=False),  # on, off, cycle, query
    Column("status", String(16), nullable=False, default="queued"),  # queued running done failed
    Column("requested_by", String(150), nullable=True),
    Column("created", DateTime, nullable=False),
    Column("worker", String(128), nullable=True),
    Column("lease_expires", DateTime, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("result", String(16), nullable=True),
    Column("error", Text, nullable=True),
    Column("finished", DateTime, nullable=True),
    Index("ix_power_jobs_status_id", "status", "id"),
    Index("ix_power_jobs_machine_id_status", "machine_id", "status"),
)

# Region-wide settings created once (the rack shared secret, the enlistment token).
settings = Table(
    "settings", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Rack controllers registered with the region, and when each last said it was alive.
rack_controllers = Table(
    "rack_controllers", metadata, _id(),
    Column("system_id", String(41), nullable=False, unique=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("hostname", String(255), nullable=False),
    Column("version", String(64), nullable=False, default=""),
    Column("interfaces", JSON, nullable=False, default=list),
    Column("subnets", JSON, nullable=False, default=list),
    Column("registered", DateTime, nullable=False),
    Column("last_heartbeat", DateTime, nullable=False),
)

# Address ranges of a subnet: "dynamic" ranges are what DHCP hands out; "reserved" ranges
# are kept out of everything.
ip_ranges = Table(
    "ip_ranges", metadata, _id(),
    Column("subnet_id", ForeignKey("subnets.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("type", String(16), nullable=False),  # dynamic, reserved
    Column("start_ip", String(64), nullable=False),
    Column("end_ip", String(64), nullable=False),
    Column("comment", Text, nullable=False, default=""),
)

# Fixed addresses: a MAC that always gets this IP from DHCP (a host reservation).
reserved_ips = Table(
    "reserved_ips", metadata, _id(),
    Column("subnet_id", ForeignKey("subnets.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("ip", String(64), nullable=False, unique=True),
    Column("mac_address", String(17), nullable=True),
    Column("comment", Text, nullable=False, default=""),
)

# Routes between subnets (MAAS's static routes): machines with an address on `source` get a
# route to `destination` through `gateway_ip` (which is on `source`).
static_routes = Table(
    "static_routes", metadata, _id(),
    Column("source_id", ForeignKey("subnets.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("destination_id", ForeignKey("subnets.id", ondelete="CASCADE"), nullable=False),
    Column("gateway_ip", String(64), nullable=False),
    Column("metric", Integer, nullable=False),
    UniqueConstraint("source_id", "destination_id", "gateway_ip"),
)

# Every address handed out (a machine's or device's STATIC/AUTO link, a host reservation):
# one row per address, unique, so that two region processes can never hand out the same
# one; `ip_int` (IPv4) orders a subnet's addresses for picking the next free one.
ip_claims = Table(
    "ip_claims", metadata, _id(),
    Column("subnet_id", ForeignKey("subnets.id", ondelete="CASCADE"), nullable=False),
    Column("ip", String(64), nullable=False, unique=True),
    Column("ip_int", BigInteger, nullable=True),
    Column("link_id", ForeignKey("ip_links.id", ondelete="CASCADE"), nullable=True,
           index=True),
    Column("reserved_id", ForeignKey("reserved_ips.id", ondelete="CASCADE"), nullable=True,
           index=True),
    Index("ix_ip_claims_subnet_id_ip_int", "subnet_id", "ip_int"),
)

# Boot images, as MAAS models them: a resource (an OS or custom image for an architecture)
# has sets (versions), each with files (boot-kernel, boot-initrd, squashfs, root-tgz, ...).
# The bytes live on disk in the region's image directory, named by sha256 (images/files.py);
# a file is `complete` only once all its bytes are there and match its sha256.
boot_resources = Table(
    "boot_resources", metadata, _id(),
    Column("rtype", String(16), nullable=False),  # Synced, Uploaded, Generated
    Column("name", String(64), nullable=False),  # debian/bookworm, custom/foo, ephemeral
    Column("architecture", String(64), nullable=False),  # amd64/generic
    Column("title", String(255), nullable=False),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
    UniqueConstraint("name", "architecture"),
)

boot_resource_sets = Table(
    "boot_resource_sets", metadata, _id(),
    Column("resource_id", ForeignKey("boot_resources.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("version", String(64), nullable=False),
    Column("label", String(32), nullable=False),
    Column("created", DateTime, nullable=False),
    UniqueConstraint("resource_id", "version"),
)

boot_resource_files = Table(
    "boot_resource_files", metadata, _id(),
    Column("set_id", ForeignKey("boot_resource_sets.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("filename", String(64), nullable=False),
    Column("filetype", String(32), nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),  # bytes of an upload so far
    Column("complete", Boolean, nullable=False),
    UniqueConstraint("set_id", "filename"),
)

# Where images are imported from (simplestreams mirrors) and what is taken from each.
boot_sources = Table(
    "boot_sources", metadata, _id(),
    Column("url", String(1024), nullable=False),
    Column("keyring_filename", String(1024), nullable=False),
    Column("keyring_data", LargeBinary, nullable=False),
    Column("created", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
)

boot_source_selections = Table(
    "boot_source_selections", metadata, _id(),
    Column("boot_source_id", ForeignKey("boot_sources.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("os", String(32), nullable=False),
    Column("release", String(64), nullable=False),
    Column("arches", JSON, nullable=False),
    Column("subarches", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    UniqueConstraint("boot_source_id", "os", "release"),
)

# Long image work (an import, a build): its state and progress, for the API, CLI and UI.
image_activity = Table(
    "image_activity", metadata,
    Column("name", String(64), primary_key=True),  # import, build:debian/bookworm
    Column("state", String(16), nullable=False),  # running, stopping, done, failed, stopped
    Column("step", String(64), nullable=False),
    Column("done_bytes", BigInteger, nullable=False),
    Column("total_bytes", BigInteger, nullable=False),
    Column("message", Text, nullable=False),
    Column("started", DateTime, nullable=False),
    Column("updated", DateTime, nullable=False),
)

# The token a booting machine presents to the metadata API (on its kernel command line);
# never a user's API key.
machine_tokens = Table(
    "machine_tokens", metadata,
    Column("machine_id", ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True),
    Column("token", String(64), nullable=False, unique=True),
)

# One run of scripts on a machine (a commissioning, a testing, an enlistment), and each
# script's result: status, exit status, runtime and output.
script_sets = Table(
    "script_sets", metadata, _id(),
    Column("machine_id", ForeignKey("machines.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # commissioning, testing
    Column("created", DateTime, nullable=False),
    Column("ended", DateTime, nullable=True),
    Column("options", JSON, nullable=False, default=dict),
    Index("ix_script_sets_machine_id_kind", "machine_id", "kind"),
)

script_results = Table(
    "script_results", metadata, _id(),
    Column("set_id", ForeignKey("script_sets.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("exit_status", Integer, nullable=True),
    Column("runtime", Float, nullable=True),
    Column("output", LargeBinary, nullable=True),
    Column("started", DateTime, nullable=True),
    Column("ended", DateTime, nullable=True),
    UniqueConstraint("set_id", "name"),
)

# Users' public SSH keys, installed on the machines they deploy.
ssh_keys = Table(
    "ssh_keys", metadata, _id(),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("key", Text, nullable=False),
    Column("created", DateTime, nullable=False),
)
