"""Machines: creating them, loading them whole in a constant number of queries, and
changing their status (always through the lifecycle table, always with an event)."""

from __future__ import annotations

import ipaddress
import secrets
import string
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Select, and_, delete, insert, select, update

from baremetal import lifecycle
from baremetal.models import (
    BlockDevice,
    Domain,
    Filesystem,
    Interface,
    InterfaceType,
    Link,
    LinkMode,
    Machine,
    NodeStatus,
    NodeType,
    Partition,
    PowerState,
    ResourcePool,
    Zone,
    allocation_cost,
)

from . import schema as t
from .engine import utcnow
from .references import (
    DEFAULT_POOL,
    DEFAULT_ZONE,
    default_domain,
    ids_by_name,
    network_index,
)

EVENT_STATUS_CHANGE = "Node changed status"
_SYSTEM_ID_ALPHABET = string.ascii_lowercase + string.digits


class MachineNotFound(LookupError):
    def __init__(self, system_id: str) -> None:
        super().__init__("No Machine matches the given query.")
        self.system_id = system_id


class ConcurrentChange(RuntimeError):
    """The machine changed status between reading and writing it; the caller may retry."""


def new_system_id() -> str:
    return "".join(secrets.choice(_SYSTEM_ID_ALPHABET) for _ in range(6))


class NewLink(BaseModel):
    mode: str = "link_up"
    subnet_id: int | None = None
    ip_address: str | None = None


class NewInterface(BaseModel):
    name: str
    mac_address: str | None = None
    type: str = "physical"
    link_speed: int = 0
    mtu: int = 1500
    vlan_id: int | None = None
    tags: list[str] = Field(default_factory=list)
    links: list[NewLink] = Field(default_factory=list)


class NewBlockDevice(BaseModel):
    name: str
    size: int
    path: str = ""
    model: str | None = None
    serial: str | None = None
    block_size: int = 512
    rotational: bool = False
    tags: list[str] = Field(default_factory=list)


class NewMachine(BaseModel):
    hostname: str | None = None
    architecture: str = "amd64/generic"
    cpu_count: int = 0
    cpu_speed: int = 0
    memory: int = 0
    zone: str = DEFAULT_ZONE
    pool: str | None = DEFAULT_POOL
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    power_type: str = ""
    power_parameters: dict[str, object] = Field(default_factory=dict)
    interfaces: list[NewInterface] = Field(default_factory=list)
    block_devices: list[NewBlockDevice] = Field(default_factory=list)


def _ipv4_int(ip: str) -> int | None:
    address = ipaddress.ip_address(ip)
    return int(address) if address.version == 4 else None


def create_machines(
    conn: Connection, specs: Sequence[NewMachine], *, username: str | None = None
) -> list[str]:
    """Insert machines as New (a recorded transition from nothing); returns their system_ids.

    Rows go in with one multi-row INSERT per table, so enlisting thousands is quick.
    """
    if not specs:
        return []
    now = utcnow()
    domain = default_domain(conn)
    zone_ids = ids_by_name(conn, t.zones, {s.zone for s in specs})
    pool_ids = ids_by_name(conn, t.resource_pools, {s.pool for s in specs if s.pool})
    tag_ids = ids_by_name(conn, t.tags, {tag for s in specs for tag in s.tags})
    for spec in specs:
        if spec.zone not in zone_ids:
            raise LookupError(f"No such zone: '{spec.zone}'.")
        if spec.pool and spec.pool not in pool_ids:
            raise LookupError(f"No such pool: '{spec.pool}'.")
        missing = [tag for tag in spec.tags if tag not in tag_ids]
        if missing:
            raise LookupError(f"No such tag(s): {', '.join(missing)}.")
    lifecycle.check_transition(None, NodeStatus.NEW)

    system_ids = [new_system_id() for _ in specs]
    machine_rows = [
        {
            "system_id": system_id,
            "hostname": spec.hostname or f"machine-{system_id}",
            "domain_id": domain.id, "node_type": 0, "status": int(NodeStatus.NEW),
            "agent_name": "", "owner_data": {}, "description": spec.description,
            "osystem": "", "distro_series": "", "architecture": spec.architecture,
            "min_hwe_kernel": "", "cpu_count": spec.cpu_count, "cpu_speed": spec.cpu_speed,
            "memory": spec.memory, "cost": allocation_cost(spec.cpu_count, spec.memory),
            "power_type": spec.power_type, "power_parameters": spec.power_parameters,
            "power_state": PowerState.UNKNOWN.value, "netboot": True, "locked": False,
            "disable_ipv4": False, "zone_id": zone_ids[spec.zone],
            "pool_id": pool_ids.get(spec.pool) if spec.pool else None,
            "created": now, "updated": now,
        }
        for system_id, spec in zip(system_ids, specs, strict=True)
    ]
    machine_ids = _insert_returning_ids(conn, t.machines, machine_rows)

    tag_rows = [
        {"machine_id": mid, "tag_id": tag_ids[tag]}
        for mid, spec in zip(machine_ids, specs, strict=True) for tag in set(spec.tags)
    ]
    if tag_rows:
        conn.execute(insert(t.machine_tags), tag_rows)

    nics = [(mid, nic) for mid, spec in zip(machine_ids, specs, strict=True)
            for nic in spec.interfaces]
    nic_ids = _insert_returning_ids(conn, t.interfaces, [
        {"machine_id": mid, "name": nic.name, "type": nic.type, "mac_address": nic.mac_address,
         "enabled": True, "mtu": nic.mtu, "link_speed": nic.link_speed, "vlan_id": nic.vlan_id,
         "parents": [], "tags": nic.tags}
        for mid, nic in nics
    ])
    link_rows = [
        {"interface_id": nic_id, "mode": link.mode, "subnet_id": link.subnet_id,
         "ip_address": link.ip_address}
        for nic_id, (_, nic) in zip(nic_ids, nics, strict=True) for link in nic.links
    ]
    if link_rows:
        link_ids = _insert_returning_ids(conn, t.ip_links, link_rows)
        # Addresses given with the links are claimed, as every handed-out address is.
        claims = [{"subnet_id": row["subnet_id"], "ip": row["ip_address"],
                   "ip_int": _ipv4_int(row["ip_address"]), "link_id": link_id,
                   "reserved_id": None}
                  for link_id, row in zip(link_ids, link_rows, strict=True)
                  if row["ip_address"] and row["subnet_id"]]
        if claims:
            conn.execute(insert(t.ip_claims), claims)

    disk_rows = [
        {"machine_id": mid, "name": d.name, "path": d.path or f"/dev/{d.name}",
         "id_path": None, "model": d.model, "serial": d.serial, "size": d.size,
         "block_size": d.block_size, "rotational": d.rotational, "tags": d.tags}
        for mid, spec in zip(machine_ids, specs, strict=True) for d in spec.block_devices
    ]
    if disk_rows:
        conn.execute(insert(t.block_devices), disk_rows)

    conn.execute(insert(t.events), [
        _status_event_row(mid, None, NodeStatus.NEW, username, "", now) for mid in machine_ids
    ])
    return system_ids


def _insert_returning_ids(conn: Connection, table, rows: list[dict]) -> list[int]:  # type: ignore[no-untyped-def]
    if not rows:
        return []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(conn.execute(statement, rows).scalars())


def machine_ids_query(*conditions) -> Select:  # type: ignore[no-untyped-def]
    return select(t.machines.c.id).where(*conditions)


def load_machines(conn: Connection, ids: Select | Sequence[int]) -> list[Machine]:
    """Whole machines (tags, interfaces, links, disks, partitions) for the ids selected.

    ``ids`` is a list or a SELECT of machine ids. The cost is eight queries whatever the
    number of machines: no query per machine.
    """
    id_query = ids if isinstance(ids, Select) else select(t.machines.c.id).where(
        t.machines.c.id.in_(list(ids)))
    m = t.machines
    # Power parameters (secrets) and user data are never needed to describe a machine.
    columns = [c for c in m.c if c.name not in ("power_parameters", "user_data")]
    rows = conn.execute(
        select(
            *columns, t.zones.c.name.label("zone_name"),
            t.zones.c.description.label("zone_description"),
            t.resource_pools.c.name.label("pool_name"),
            t.resource_pools.c.description.label("pool_description"),
            t.domains.c.name.label("domain_name"), t.domains.c.ttl.label("domain_ttl"),
            t.domains.c.authoritative.label("domain_authoritative"),
            t.domains.c.is_default.label("domain_is_default"),
            t.users.c.username.label("owner_name"),
        )
        .join(t.zones, m.c.zone_id == t.zones.c.id)
        .join(t.domains, m.c.domain_id == t.domains.c.id)
        .outerjoin(t.resource_pools, m.c.pool_id == t.resource_pools.c.id)
        .outerjoin(t.users, m.c.owner_id == t.users.c.id)
        .where(m.c.id.in_(id_query))
        .order_by(m.c.id)
    ).all()
    if not rows:
        return []

    tags_by_machine: dict[int, list[str]] = defaultdict(list)
    for machine_id, name in conn.execute(
        select(t.machine_tags.c.machine_id, t.tags.c.name)
        .join(t.tags, t.machine_tags.c.tag_id == t.tags.c.id)
        .where(t.machine_tags.c.machine_id.in_(id_query))
        .order_by(t.tags.c.name)
    ):
        tags_by_machine[machine_id].append(name)

    vlans, subnets = network_index(conn)
    links_by_nic: dict[int, list[Link]] = defaultdict(list)
    for row in conn.execute(
        select(t.ip_links).join(t.interfaces, t.ip_links.c.interface_id == t.interfaces.c.id)
        .where(t.interfaces.c.machine_id.in_(id_query)).order_by(t.ip_links.c.id)
    ):
        links_by_nic[row.interface_id].append(Link(
            id=row.id, mode=LinkMode(row.mode), ip_address=row.ip_address,
            subnet=subnets.get(row.subnet_id) if row.subnet_id else None,
            default_gateway=bool(row.default_gateway),
        ))
    nic_rows = conn.execute(
        select(t.interfaces).where(t.interfaces.c.machine_id.in_(id_query))
        .order_by(t.interfaces.c.id)
    ).all()
    children: dict[tuple[int, str], list[str]] = defaultdict(list)
    for row in nic_rows:
        for parent in row.parents or []:
            children[(row.machine_id, parent)].append(row.name)
    nics_by_machine: dict[int, list[Interface]] = defaultdict(list)
    for row in nic_rows:
        nics_by_machine[row.machine_id].append(Interface(
            id=row.id, name=row.name, type=InterfaceType(row.type), mac_address=row.mac_address,
            enabled=row.enabled, mtu=row.mtu, link_speed=row.link_speed,
            vlan=vlans.get(row.vlan_id) if row.vlan_id else None,
            links=links_by_nic.get(row.id, []), parents=list(row.parents or []),
            children=children.get((row.machine_id, row.name), []), tags=list(row.tags or []),
            params=dict(row.params or {}),
            discovered=[Link(id=0, mode=LinkMode.DHCP, ip_address=item["ip_address"],
                             subnet=subnets.get(item["subnet_id"]))
                        for item in row.discovered or []],
        ))

    parts_by_disk: dict[int, list[Partition]] = defaultdict(list)
    for row in conn.execute(
        select(t.partitions)
        .join(t.block_devices, t.partitions.c.block_device_id == t.block_devices.c.id)
        .where(t.block_devices.c.machine_id.in_(id_query)).order_by(t.partitions.c.number)
    ):
        parts_by_disk[row.block_device_id].append(Partition(
            id=row.id, number=row.number, size=row.size, uuid=row.uuid, path="",
            filesystem=_filesystem(row.fstype, row.fs_uuid, row.mount_point),
        ))
    disks_by_machine: dict[int, list[BlockDevice]] = defaultdict(list)
    for row in conn.execute(
        select(t.block_devices).where(t.block_devices.c.machine_id.in_(id_query))
        .order_by(t.block_devices.c.id)
    ):
        partitions = [
            p.model_copy(update={"path": f"{row.path}-part{p.number}"})
            for p in parts_by_disk.get(row.id, [])
        ]
        disks_by_machine[row.machine_id].append(BlockDevice(
            id=row.id, name=row.name, path=row.path, size=row.size, block_size=row.block_size,
            model=row.model, serial=row.serial, id_path=row.id_path, rotational=row.rotational,
            uuid=row.uuid, tags=list(row.tags or []),
            filesystem=_filesystem(row.fstype, row.fs_uuid, row.mount_point),
            partitions=partitions,
        ))

    # Zones, pools and domains are shared by many machines: one model each.
    zones = {}
    pools = {}
    domains = {}
    for row in rows:
        if row.zone_id not in zones:
            zones[row.zone_id] = Zone(id=row.zone_id, name=row.zone_name,
                                      description=row.zone_description)
        if row.pool_id is not None and row.pool_id not in pools:
            pools[row.pool_id] = ResourcePool(id=row.pool_id, name=row.pool_name,
                                              description=row.pool_description)
        if row.domain_id not in domains:
            domains[row.domain_id] = Domain(id=row.domain_id, name=row.domain_name,
                                            ttl=row.domain_ttl,
                                            authoritative=row.domain_authoritative,
                                            is_default=row.domain_is_default)
    return [
        Machine(
            id=row.id, system_id=row.system_id, hostname=row.hostname,
            domain=domains[row.domain_id],
            status=NodeStatus(row.status), status_message=row.status_message,
            status_deadline=row.status_deadline, node_type=NodeType(row.node_type),
            owner=row.owner_name,
            agent_name=row.agent_name, owner_data=dict(row.owner_data or {}),
            description=row.description, osystem=row.osystem, distro_series=row.distro_series,
            architecture=row.architecture, hwe_kernel=row.hwe_kernel,
            min_hwe_kernel=row.min_hwe_kernel, cpu_count=row.cpu_count,
            cpu_speed=row.cpu_speed, memory=row.memory, power_type=row.power_type,
            power_state=PowerState(row.power_state), netboot=row.netboot, locked=row.locked,
            disable_ipv4=row.disable_ipv4,
            zone=zones[row.zone_id], pool=pools.get(row.pool_id),
            tags=tags_by_machine.get(row.id, []),
            interfaces=nics_by_machine.get(row.id, []),
            block_devices=disks_by_machine.get(row.id, []),
            boot_interface_id=row.boot_interface_id, boot_disk_id=row.boot_disk_id,
            hardware_info=row.hardware_info, created=row.created, updated=row.updated,
        )
        for row in rows
    ]


def _filesystem(fstype: str | None, uuid: str | None, mount_point: str | None) -> Filesystem | None:
    return None if fstype is None else Filesystem(fstype=fstype, uuid=uuid, mount_point=mount_point)


def update_machine(conn: Connection, machine_id: int, **values: object) -> None:
    """Write columns of one machine; its allocation cost follows cpu and memory."""
    m = t.machines
    if "status" in values:
        raise ValueError("Status changes go through transition_machines.")
    if "cpu_count" in values or "memory" in values:
        row = conn.execute(select(m.c.cpu_count, m.c.memory).where(m.c.id == machine_id)).one()
        cpu = values.get("cpu_count", row.cpu_count)
        memory = values.get("memory", row.memory)
        values["cost"] = allocation_cost(int(cpu), int(memory))  # type: ignore[arg-type]
    conn.execute(update(m).where(m.c.id == machine_id).values(updated=utcnow(), **values))


def delete_machine(conn: Connection, machine_id: int) -> None:
    conn.execute(delete(t.machines).where(t.machines.c.id == machine_id))


def get_machine(conn: Connection, system_id: str) -> Machine:
    found = load_machines(conn, machine_ids_query(t.machines.c.system_id == system_id))
    if not found:
        raise MachineNotFound(system_id)
    return found[0]


def _status_event_row(
    machine_id: int, current: NodeStatus | None, wanted: NodeStatus, username: str | None,
    comment: str, now: datetime,
) -> dict:
    origin = "nothing" if current is None else f"'{current.label}'"
    description = f"From {origin} to '{wanted.label}'"
    if comment:
        description += f": {comment}"
    return {
        "machine_id": machine_id, "type": EVENT_STATUS_CHANGE, "level": "INFO",
        "description": description, "username": username,
        "from_status": None if current is None else int(current),
        "to_status": int(wanted), "comment": comment, "created": now,
    }


def transition_machines(
    conn: Connection,
    machine_ids: Iterable[int],
    wanted: NodeStatus,
    *,
    username: str | None = None,
    comment: str = "",
    message: str | None = None,
    expected: NodeStatus | None = None,
    values: dict | None = None,
) -> int:
    """Move machines to ``wanted``: the lifecycle table is checked for each, each write is
    conditional on the status read (so a concurrent change is detected, not overwritten), the
    in-progress deadline is set, and an event is recorded per machine.

    Raises :class:`lifecycle.InvalidTransition` (nothing is written) if any machine may not
    make the move, :class:`ConcurrentChange` if one changed under us. Returns the count.
    """
    ids = list(machine_ids)
    if not ids:
        return 0
    m = t.machines
    current_by_id = dict(conn.execute(select(m.c.id, m.c.status).where(m.c.id.in_(ids))).all())
    missing = set(ids) - set(current_by_id)
    if missing:
        raise LookupError(f"No machine with id {sorted(missing)[0]}.")
    for status in {NodeStatus(s) for s in current_by_id.values()}:
        if expected is not None and status != expected:
            raise ConcurrentChange(
                f"Expected a machine in '{expected.label}', found '{status.label}'.")
        lifecycle.check_transition(status, wanted)
    now = utcnow()
    deadline = lifecycle.deadline_for(wanted, now)
    by_status: dict[int, list[int]] = defaultdict(list)
    for machine_id, status in current_by_id.items():
        by_status[status].append(machine_id)
    for status, group in by_status.items():
        result = conn.execute(
            update(m)
            .where(and_(m.c.id.in_(group), m.c.status == status))
            .values(status=int(wanted), status_deadline=deadline, status_message=message,
                    updated=now, **(values or {}))
        )
        if result.rowcount != len(group):
            raise ConcurrentChange("A machine changed status while it was being updated.")
    conn.execute(insert(t.events), [
        _status_event_row(mid, NodeStatus(current_by_id[mid]), wanted, username, comment, now)
        for mid in ids
    ])
    if values and "owner_id" in values:
        # A new owner (or none) gets a new metadata token, made at the machine's next boot:
        # what the last owner's machine knew no longer works.
        conn.execute(delete(t.machine_tokens).where(t.machine_tokens.c.machine_id.in_(ids)))
    return len(ids)


def set_status(conn: Connection, system_id: str, wanted: NodeStatus, **options) -> None:  # type: ignore[no-untyped-def]
    row = conn.execute(select(t.machines.c.id).where(t.machines.c.system_id == system_id)).first()
    if row is None:
        raise MachineNotFound(system_id)
    transition_machines(conn, [row.id], wanted, **options)


def fail_expired(conn: Connection, now: datetime | None = None) -> list[lifecycle.Expiry]:
    """The deadline monitor: every machine past its in-progress deadline is marked failed,
    with a message saying which step timed out. Uses the index on status_deadline."""
    now = now or utcnow()
    m = t.machines
    rows = conn.execute(
        select(m.c.id, m.c.system_id, m.c.status, m.c.status_deadline, m.c.status_message)
        .where(m.c.status_deadline.is_not(None), m.c.status_deadline <= now)
    ).all()
    expired: list[lifecycle.Expiry] = []
    for row in rows:
        expiry = lifecycle.expiry_for(row.system_id, NodeStatus(row.status), row.status_deadline,
                                      now, row.status_message)
        if expiry is None:
            continue
        transition_machines(conn, [row.id], expiry.failed, expected=expiry.current,
                            comment=expiry.message, message=expiry.message)
        expired.append(expiry)
    return expired


def list_events(conn: Connection, system_id: str) -> list[dict]:
    rows = conn.execute(
        select(t.events).join(t.machines, t.events.c.machine_id == t.machines.c.id)
        .where(t.machines.c.system_id == system_id).order_by(t.events.c.id)
    ).mappings().all()
    return [dict(row) for row in rows]
