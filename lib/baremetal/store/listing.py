"""Selecting machines for listing: the filters MAAS's `GET machines/` takes, and who may
see what. Returns id SELECTs that `load_machines` turns into whole machines."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, and_, exists, func, or_, select

from baremetal.models import NodeStatus, NodeType, User

from . import schema as t


@dataclass(frozen=True)
class MachineFilter:
    system_ids: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()
    mac_addresses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    agent_name: str | None = None
    zones: tuple[str, ...] = ()
    pools: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    statuses: tuple[NodeStatus, ...] = ()
    owners: tuple[str, ...] = ()
    node_type: NodeType = NodeType.MACHINE
    power_states: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    text: str = ""  # free text: part of a hostname, MAC or system id
    extra: dict[str, str] = field(default_factory=dict)


def visible_to(user: User):  # type: ignore[no-untyped-def]
    """Admins see everything; others see their own machines and the unowned Ready pool."""
    m = t.machines
    if user.is_superuser:
        return m.c.id.is_not(None)
    return or_(m.c.owner_id == user.id,
               and_(m.c.owner_id.is_(None), m.c.status == int(NodeStatus.READY)))


def machine_ids(viewer: User, where: MachineFilter) -> Select:
    m = t.machines
    conditions = [m.c.node_type == int(where.node_type), visible_to(viewer)]
    if where.system_ids:
        conditions.append(m.c.system_id.in_(where.system_ids))
    if where.hostnames:
        conditions.append(m.c.hostname.in_([h.split(".", 1)[0] for h in where.hostnames]))
    if where.mac_addresses:
        conditions.append(exists().where(
            t.interfaces.c.machine_id == m.c.id,
            t.interfaces.c.mac_address.in_([mac.lower() for mac in where.mac_addresses])))
    for tag in where.tags:
        conditions.append(exists().where(
            t.machine_tags.c.machine_id == m.c.id, t.machine_tags.c.tag_id == t.tags.c.id,
            t.tags.c.name == tag))
    if where.agent_name is not None:
        conditions.append(m.c.agent_name == where.agent_name)
    if where.zones:
        conditions.append(m.c.zone_id.in_(
            select(t.zones.c.id).where(t.zones.c.name.in_(where.zones))))
    if where.pools:
        conditions.append(m.c.pool_id.in_(
            select(t.resource_pools.c.id).where(t.resource_pools.c.name.in_(where.pools))))
    if where.domains:
        conditions.append(m.c.domain_id.in_(
            select(t.domains.c.id).where(t.domains.c.name.in_(where.domains))))
    if where.statuses:
        conditions.append(m.c.status.in_([int(s) for s in where.statuses]))
    if where.owners:
        conditions.append(m.c.owner_id.in_(
            select(t.users.c.id).where(t.users.c.username.in_(where.owners))))
    if where.power_states:
        conditions.append(m.c.power_state.in_(where.power_states))
    if where.architectures:
        conditions.append(m.c.architecture.in_(where.architectures))
    if where.text:
        like = f"%{_escape_like(where.text.strip().lower())}%"
        conditions.append(or_(
            m.c.hostname.ilike(like, escape="\\"), m.c.system_id.ilike(like, escape="\\"),
            exists().where(t.interfaces.c.machine_id == m.c.id,
                           t.interfaces.c.mac_address.ilike(like, escape="\\"))))
    return select(m.c.id).where(*conditions)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


SORTABLE = ("hostname", "status", "power_state", "zone", "pool", "owner", "cpu_count",
            "memory", "architecture")


def machine_page(conn, viewer: User, where: MachineFilter, *, sort: str = "hostname",  # type: ignore[no-untyped-def]
                 descending: bool = False, offset: int = 0, limit: int = 50):
    """One page of the machines table and the number that match: two queries whatever
    the pool size (zone, pool and owner names joined; tags aggregated for the page)."""
    m, z, p, u = t.machines, t.zones, t.resource_pools, t.users
    ids = machine_ids(viewer, where)
    total = conn.execute(select(func.count()).select_from(ids.subquery())).scalar()
    columns = {"hostname": m.c.hostname, "status": m.c.status, "power_state": m.c.power_state,
               "zone": z.c.name, "pool": p.c.name, "owner": u.c.username,
               "cpu_count": m.c.cpu_count, "memory": m.c.memory,
               "architecture": m.c.architecture}
    key = columns.get(sort, m.c.hostname)
    order = [key.desc() if descending else key.asc(), m.c.id]
    rows = conn.execute(
        select(m.c.id, m.c.system_id, m.c.hostname, m.c.status, m.c.status_message,
               m.c.power_state, m.c.power_error, m.c.architecture, m.c.cpu_count, m.c.memory,
               m.c.locked, z.c.name.label("zone"), p.c.name.label("pool"),
               u.c.username.label("owner"))
        .join(z, z.c.id == m.c.zone_id).outerjoin(p, p.c.id == m.c.pool_id)
        .outerjoin(u, u.c.id == m.c.owner_id)
        .where(m.c.id.in_(ids)).order_by(*order).offset(offset).limit(limit)).all()
    return rows, total
