"""Rack controllers and the region's shared secrets."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from . import schema as t
from .engine import utcnow
from .machines import new_system_id

RACK_SECRET = "rack_secret"
HEARTBEAT_INTERVAL = timedelta(seconds=10)
DOWN_AFTER = timedelta(seconds=30)  # three missed heartbeats


def get_or_create_setting(conn: Connection, name: str, make) -> str:  # type: ignore[no-untyped-def]
    row = conn.execute(select(t.settings.c.value).where(t.settings.c.name == name)).first()
    if row is not None:
        return row.value
    value = make()
    conn.execute(insert(t.settings).values(name=name, value=value))
    return value


def rack_secret(conn: Connection) -> str:
    """The shared secret racks present; created on first use."""
    return get_or_create_setting(conn, RACK_SECRET, lambda: secrets.token_hex(32))


def secret_matches(conn: Connection, presented: str) -> bool:
    return hmac.compare_digest(rack_secret(conn).encode(), presented.encode())


@dataclass(frozen=True)
class Rack:
    system_id: str
    name: str
    hostname: str
    version: str
    interfaces: list[dict[str, Any]]
    subnets: list[str]
    registered: datetime
    last_heartbeat: datetime

    def is_up(self, now: datetime) -> bool:
        return now - self.last_heartbeat <= DOWN_AFTER


def register_rack(conn: Connection, *, name: str, hostname: str, version: str,
                  interfaces: list[dict[str, Any]], subnets: list[str]) -> str:
    """Register (or re-register, after a restart) the rack named `name`."""
    now = utcnow()
    r = t.rack_controllers
    values = {"hostname": hostname, "version": version, "interfaces": interfaces,
              "subnets": subnets, "last_heartbeat": now}
    existing = conn.execute(select(r.c.system_id).where(r.c.name == name)).first()
    if existing is not None:
        conn.execute(update(r).where(r.c.name == name).values(**values))
        return existing.system_id
    system_id = new_system_id()
    conn.execute(insert(r).values(system_id=system_id, name=name, registered=now, **values))
    return system_id


def heartbeat(conn: Connection, system_id: str) -> bool:
    r = t.rack_controllers
    done = conn.execute(update(r).where(r.c.system_id == system_id)
                        .values(last_heartbeat=utcnow()))
    return done.rowcount == 1


def list_racks(conn: Connection) -> list[Rack]:
    r = t.rack_controllers
    return [Rack(row.system_id, row.name, row.hostname, row.version, list(row.interfaces or []),
                 list(row.subnets or []), row.registered, row.last_heartbeat)
            for row in conn.execute(select(r).order_by(r.c.id))]


# Which rack does the work. Pure rules over the registered racks, so that one place decides
# for DHCP, boot and power alike.

def _up(racks: list[Rack], now: datetime) -> list[Rack]:
    return [rack for rack in racks if rack.is_up(now)]


def _reaches(rack: Rack, address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in rack.subnets)
    except ValueError:
        return False


def racks_for_address(racks: list[Rack], address: str | None, now: datetime) -> set[str] | None:
    """The racks that should talk to `address` (a BMC): the live ones on its subnet. None
    when no live rack is on its subnet, meaning any rack may try (the region cannot tell)."""
    if not address:
        return None
    found = {rack.system_id for rack in _up(racks, now) if _reaches(rack, address)}
    return found or None


def serving_rack(primary: str | None, secondary: str | None, cidrs: list[str],
                 racks: list[Rack], now: datetime) -> str | None:
    """Who serves DHCP and boot on a VLAN: its primary rack if up, else its secondary if up,
    else the first live rack on one of the VLAN's subnets (failover), else nobody."""
    up = _up(racks, now)
    live = {rack.system_id for rack in up}
    for chosen in (primary, secondary):
        if chosen in live:
            return chosen
    networks = [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]
    for rack in up:
        reported = [ipaddress.ip_network(c, strict=False) for c in rack.subnets]
        if any(n.version == r.version and n.overlaps(r) for n in networks for r in reported):
            return rack.system_id
    return None
