"""Reading and editing the objects machines are filed under and connected to: zones,
pools, tags, the network (fabrics, VLANs, subnets, spaces, domains), files, events."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from baremetal.models import VLAN, Domain, ResourcePool, Space, Subnet, Tag, Zone

from . import schema as t
from .engine import utcnow
from .references import network_index


def list_zones(conn: Connection) -> list[Zone]:
    rows = conn.execute(select(t.zones).order_by(t.zones.c.id))
    return [Zone(id=r.id, name=r.name, description=r.description) for r in rows]


def get_zone(conn: Connection, name: str) -> Zone | None:
    row = conn.execute(select(t.zones).where(t.zones.c.name == name)).first()
    return None if row is None else Zone(id=row.id, name=row.name, description=row.description)


def update_zone(conn: Connection, zone_id: int, **values: str) -> None:
    conn.execute(update(t.zones).where(t.zones.c.id == zone_id).values(**values))


def delete_zone(conn: Connection, zone_id: int) -> None:
    conn.execute(delete(t.zones).where(t.zones.c.id == zone_id))


def list_pools(conn: Connection) -> list[ResourcePool]:
    rows = conn.execute(select(t.resource_pools).order_by(t.resource_pools.c.id))
    return [ResourcePool(id=r.id, name=r.name, description=r.description) for r in rows]


def get_pool(conn: Connection, pool_id: int) -> ResourcePool | None:
    row = conn.execute(select(t.resource_pools).where(t.resource_pools.c.id == pool_id)).first()
    return None if row is None else ResourcePool(id=row.id, name=row.name,
                                                 description=row.description)


def machines_in(conn: Connection, column, value_id: int) -> int:  # type: ignore[no-untyped-def]
    return conn.execute(select(func.count()).where(column == value_id)).scalar_one()


def _tag(row) -> Tag:  # type: ignore[no-untyped-def]
    return Tag(id=row.id, name=row.name, definition=row.definition, comment=row.comment,
               kernel_opts=row.kernel_opts)


def list_tags(conn: Connection) -> list[Tag]:
    return [_tag(r) for r in conn.execute(select(t.tags).order_by(t.tags.c.name))]


def get_tag(conn: Connection, name: str) -> Tag | None:
    row = conn.execute(select(t.tags).where(t.tags.c.name == name)).first()
    return None if row is None else _tag(row)


def update_tag(conn: Connection, tag_id: int, **values: str) -> None:
    conn.execute(update(t.tags).where(t.tags.c.id == tag_id).values(**values))


def delete_tag(conn: Connection, tag_id: int) -> None:
    conn.execute(delete(t.tags).where(t.tags.c.id == tag_id))


def tag_machines(conn: Connection, tag_id: int, add: Sequence[int], remove: Sequence[int]) -> None:
    mt = t.machine_tags
    if remove:
        conn.execute(delete(mt).where(mt.c.tag_id == tag_id, mt.c.machine_id.in_(remove)))
    already = set(conn.execute(
        select(mt.c.machine_id).where(mt.c.tag_id == tag_id, mt.c.machine_id.in_(add))
    ).scalars()) if add else set()
    rows = [{"machine_id": m, "tag_id": tag_id} for m in dict.fromkeys(add) if m not in already]
    if rows:
        conn.execute(insert(mt), rows)


def machine_ids_for(conn: Connection, system_ids: Sequence[str]) -> dict[str, int]:
    if not system_ids:
        return {}
    rows = conn.execute(select(t.machines.c.system_id, t.machines.c.id)
                        .where(t.machines.c.system_id.in_(list(system_ids))))
    return {r.system_id: r.id for r in rows}


def list_fabrics(conn: Connection) -> list[tuple[int, str, str | None, list[VLAN]]]:
    vlans, _ = network_index(conn)
    by_fabric: dict[int, list[VLAN]] = {}
    for vlan in vlans.values():
        by_fabric.setdefault(vlan.fabric_id, []).append(vlan)
    return [(r.id, r.name, r.class_type, by_fabric.get(r.id, []))
            for r in conn.execute(select(t.fabrics).order_by(t.fabrics.c.id))]


def list_vlans(conn: Connection) -> list[VLAN]:
    return list(network_index(conn)[0].values())


def list_subnets(conn: Connection) -> list[Subnet]:
    return list(network_index(conn)[1].values())


def list_spaces(conn: Connection) -> list[Space]:
    rows = conn.execute(select(t.spaces).order_by(t.spaces.c.id))
    return [Space(id=r.id, name=r.name, description=r.description) for r in rows]


def list_domains(conn: Connection) -> list[tuple[Domain, int]]:
    counts = dict(conn.execute(
        select(t.machines.c.domain_id, func.count()).group_by(t.machines.c.domain_id)).all())
    return [(Domain(id=r.id, name=r.name, ttl=r.ttl, authoritative=r.authoritative,
                    is_default=r.is_default), counts.get(r.id, 0))
            for r in conn.execute(select(t.domains).order_by(t.domains.c.id))]


# Files: opaque blobs per user (Juju keeps provider state here).

def put_file(conn: Connection, owner_id: int, filename: str, content: bytes) -> None:
    f = t.files
    existing = conn.execute(select(f.c.id).where(f.c.owner_id == owner_id,
                                                 f.c.filename == filename)).first()
    if existing is None:
        conn.execute(insert(f).values(filename=filename, owner_id=owner_id, content=content,
                                      anon_key=secrets.token_hex(16), created=utcnow()))
    else:
        conn.execute(update(f).where(f.c.id == existing.id).values(content=content))


def file_by_key(conn: Connection, anon_key: str):  # type: ignore[no-untyped-def]
    return conn.execute(select(t.files.c.content).where(t.files.c.anon_key == anon_key)
                        ).first()


def get_file(conn: Connection, owner_id: int, filename: str):  # type: ignore[no-untyped-def]
    return conn.execute(select(t.files).where(t.files.c.owner_id == owner_id,
                                              t.files.c.filename == filename)).first()


def list_files(conn: Connection, owner_id: int, prefix: str = ""):  # type: ignore[no-untyped-def]
    query = select(t.files.c.filename, t.files.c.anon_key).where(t.files.c.owner_id == owner_id)
    if prefix:
        query = query.where(t.files.c.filename.startswith(prefix, autoescape=True))
    return conn.execute(query.order_by(t.files.c.filename)).all()


def delete_file(conn: Connection, owner_id: int, filename: str) -> bool:
    result = conn.execute(delete(t.files).where(t.files.c.owner_id == owner_id,
                                                t.files.c.filename == filename))
    return result.rowcount > 0


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")  # ascending; AUDIT apart


def query_events(conn: Connection, *, machine_ids: Sequence[int] | None, limit: int,
                 after: int | None = None, before: int | None = None,
                 level: str | None = None):  # type: ignore[no-untyped-def]
    e, m = t.events, t.machines
    query = (select(e, m.c.system_id, m.c.hostname)
             .outerjoin(m, e.c.machine_id == m.c.id))
    if machine_ids is not None:
        query = query.where(e.c.machine_id.in_(list(machine_ids)))
    if after is not None:
        query = query.where(e.c.id > after)
    if before is not None:
        query = query.where(e.c.id < before)
    if level is not None:  # a minimum, as in MAAS: DEBUG means DEBUG and above
        query = query.where(e.c.level.in_(LEVELS[LEVELS.index(level):]
                                          if level in LEVELS else [level]))
    order = e.c.id.asc() if after is not None else e.c.id.desc()
    return conn.execute(query.order_by(order).limit(limit)).all()


def record_event(conn: Connection, machine_id: int | None, type_: str, description: str,
                 username: str | None, level: str = "INFO", when: datetime | None = None) -> None:
    conn.execute(insert(t.events).values(
        machine_id=machine_id, type=type_, level=level, description=description,
        username=username, comment="", created=when or utcnow()))
