"""Devices (node_type 1): things with MAC addresses that are not machines, such as
containers Juju places on a machine; and linking any node's interface to a subnet."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from baremetal.models import NodeType

from . import schema as t
from .machines import NewInterface, NewMachine, create_machines


def create_device(conn: Connection, *, hostname: str | None, mac_addresses: list[str],
                  parent_id: int | None, owner_id: int, username: str) -> str:
    [system_id] = create_machines(conn, [NewMachine(
        hostname=hostname, architecture="", pool=None,
        interfaces=[NewInterface(name=f"eth{n}", mac_address=mac)
                    for n, mac in enumerate(mac_addresses)],
    )], username=username)
    conn.execute(update(t.machines).where(t.machines.c.system_id == system_id).values(
        node_type=int(NodeType.DEVICE), parent_id=parent_id, owner_id=owner_id,
        architecture=None))
    return system_id


def link_subnet(conn: Connection, interface_id: int, *, mode: str, subnet_id: int | None,
                ip_address: str | None) -> None:
    """Replace the interface's link-only (link_up) entry, as MAAS does, then add this one."""
    conn.execute(delete(t.ip_links).where(t.ip_links.c.interface_id == interface_id,
                                          t.ip_links.c.mode == "link_up"))
    conn.execute(insert(t.ip_links).values(interface_id=interface_id, mode=mode,
                                           subnet_id=subnet_id, ip_address=ip_address))


def ip_in_use(conn: Connection, ip_address: str) -> bool:
    return conn.execute(select(t.ip_links.c.id)
                        .where(t.ip_links.c.ip_address == ip_address)).first() is not None
