"""Devices (node_type 1): things with MAC addresses that are not machines, such as
containers Juju places on a machine; and linking any node's interface to a subnet."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, update

from baremetal.models import NodeType

from . import schema as t
from .ipam import claim_address
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
                ip_address: str | None, auto_now: bool = False) -> str | None:
    """Replace the interface's link-only (link_up) entry, as MAAS does, then add this one.
    A STATIC link claims its address (the one given, checked, or the next free one), and
    so does an AUTO one with `auto_now` (a device: it is never deployed): the address."""
    conn.execute(delete(t.ip_links).where(t.ip_links.c.interface_id == interface_id,
                                          t.ip_links.c.mode == "link_up"))
    link_id = conn.execute(insert(t.ip_links).values(
        interface_id=interface_id, mode=mode, subnet_id=subnet_id)).inserted_primary_key[0]
    if subnet_id is None or not (mode == "static" or (mode == "auto" and auto_now)):
        return None
    ip = claim_address(conn, subnet_id, ip=ip_address, link_id=link_id)
    conn.execute(update(t.ip_links).where(t.ip_links.c.id == link_id).values(ip_address=ip))
    return ip


