"""What the dashboard shows, each in one query: machines by status, zone and pool; machines
whose power query fails; the latest events; work in progress with its step and since when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from baremetal.lifecycle import FAILURE_STATUS
from baremetal.models import NodeStatus, User

from . import schema as t
from .listing import visible_to


def counts(conn: Connection, viewer: User) -> dict[str, list[tuple[str, int]]]:
    m = t.machines
    mine = (m.c.node_type == 0, visible_to(viewer))
    by_status = [(NodeStatus(status).label, n) for status, n in conn.execute(
        select(m.c.status, func.count()).where(*mine).group_by(m.c.status)
        .order_by(m.c.status))]
    by_zone = [tuple(row) for row in conn.execute(
        select(t.zones.c.name, func.count()).join(m, m.c.zone_id == t.zones.c.id)
        .where(*mine).group_by(t.zones.c.name).order_by(t.zones.c.name))]
    by_pool = [tuple(row) for row in conn.execute(
        select(t.resource_pools.c.name, func.count())
        .join(m, m.c.pool_id == t.resource_pools.c.id).where(*mine)
        .group_by(t.resource_pools.c.name).order_by(t.resource_pools.c.name))]
    return {"status": by_status, "zone": by_zone, "pool": by_pool}


def power_failures(conn: Connection, viewer: User, limit: int = 20) -> list[Any]:
    m = t.machines
    return conn.execute(select(m.c.system_id, m.c.hostname, m.c.power_error,
                               m.c.power_state_updated)
                        .where(m.c.node_type == 0, visible_to(viewer),
                               m.c.power_error.is_not(None))
                        .order_by(m.c.power_state_updated.desc()).limit(limit)).all()


def in_progress(conn: Connection, viewer: User, now: datetime) -> list[dict[str, Any]]:
    """Machines in an in-progress state, with their last report and how long since the
    step began (the last status change)."""
    m, e = t.machines, t.events
    busy = [int(s) for s in FAILURE_STATUS]
    since = (select(e.c.machine_id, func.max(e.c.created).label("since"))
             .where(e.c.to_status.is_not(None),
                    e.c.machine_id.in_(select(m.c.id).where(m.c.status.in_(busy))))
             .group_by(e.c.machine_id).subquery())
    rows = conn.execute(
        select(m.c.system_id, m.c.hostname, m.c.status, m.c.status_message, since.c.since)
        .outerjoin(since, since.c.machine_id == m.c.id)
        .where(m.c.node_type == 0, visible_to(viewer),
               m.c.status.in_(busy))
        .order_by(since.c.since).limit(100)).all()
    return [{"system_id": r.system_id, "hostname": r.hostname,
             "status": NodeStatus(r.status).label, "step": r.status_message or "",
             "elapsed": int((now - r.since).total_seconds()) if r.since else None}
            for r in rows]


def latest_events(conn: Connection, viewer: User, limit: int = 15) -> list[Any]:
    m, e = t.machines, t.events
    return conn.execute(
        select(e.c.created, e.c.type, e.c.description, e.c.level, m.c.system_id, m.c.hostname)
        .join(m, m.c.id == e.c.machine_id).where(visible_to(viewer))
        .order_by(e.c.id.desc()).limit(limit)).all()
