"""What racks need to boot machines: address ranges and host reservations per subnet (the
DHCP configuration of the VLANs a rack serves), boot images, and the boot target of a MAC
(status, architecture and metadata token of the machine it belongs to)."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from baremetal.boot.decisions import BootTarget
from baremetal.boot.dhcp import check_range
from baremetal.models import NodeStatus
from baremetal.network.ipam import AddressError

from . import schema as t
from .engine import utcnow
from .ipam import SubnetFull, claim_address, claim_exact, subnet_plan
from .racks import get_or_create_setting, list_racks, serving_rack

ENLISTMENT_TOKEN = "enlistment_token"
RANGE_TYPES = ("dynamic", "reserved")


class NetworkError(ValueError):
    """Bad range or reservation; the message is for a person."""


def _subnet(conn: Connection, subnet_id: int):  # type: ignore[no-untyped-def]
    row = conn.execute(select(t.subnets).where(t.subnets.c.id == subnet_id)).first()
    if row is None:
        raise NetworkError(f"subnet: no subnet with id {subnet_id}.")
    return row


def _range_json(row) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"id": row.id, "type": row.type, "start_ip": row.start_ip, "end_ip": row.end_ip,
            "comment": row.comment, "subnet_id": row.subnet_id,
            "resource_uri": f"/MAAS/api/2.0/ipranges/{row.id}/"}


def create_ip_range(conn: Connection, subnet_id: int, type_: str, start_ip: str, end_ip: str,
                    comment: str = "") -> dict[str, Any]:
    if type_ not in RANGE_TYPES:
        raise NetworkError(f"type: '{type_}' is not one of {', '.join(RANGE_TYPES)}.")
    subnet = _subnet(conn, subnet_id)
    others = [(r.start_ip, r.end_ip) for r in conn.execute(
        select(t.ip_ranges).where(t.ip_ranges.c.subnet_id == subnet_id))]
    try:
        check_range(subnet.cidr, start_ip, end_ip, others)
    except ValueError as error:
        raise NetworkError(str(error)) from None
    range_id = conn.execute(insert(t.ip_ranges).values(
        subnet_id=subnet_id, type=type_, start_ip=str(ipaddress.ip_address(start_ip)),
        end_ip=str(ipaddress.ip_address(end_ip)), comment=comment)).inserted_primary_key[0]
    return _range_json(conn.execute(select(t.ip_ranges).where(t.ip_ranges.c.id == range_id))
                       .one())


def list_ip_ranges(conn: Connection) -> list[dict[str, Any]]:
    return [_range_json(r) for r in conn.execute(select(t.ip_ranges).order_by(t.ip_ranges.c.id))]


def delete_ip_range(conn: Connection, range_id: int) -> bool:
    return conn.execute(delete(t.ip_ranges).where(t.ip_ranges.c.id == range_id)).rowcount == 1


def _reserved_json(row) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"id": row.id, "ip": row.ip, "mac_address": row.mac_address,
            "comment": row.comment, "subnet_id": row.subnet_id,
            "resource_uri": f"/MAAS/api/2.0/reservedips/{row.id}/"}


def create_reserved_ip(conn: Connection, subnet_id: int, ip: str | None,
                       mac_address: str | None, comment: str = "") -> dict[str, Any]:
    """A host reservation claims its address as a machine's link does, so that nobody
    else is given it (it may be inside a dynamic range: DHCP hands it to that MAC only).
    Without `ip`, the subnet's next free address is claimed and reserved."""
    _subnet(conn, subnet_id)
    r, c = t.reserved_ips, t.ip_claims
    plan = subnet_plan(conn, subnet_id)
    if ip is None:
        try:
            text = claim_address(conn, subnet_id, plan=plan)
        except (AddressError, SubnetFull) as error:
            raise NetworkError(str(error)) from None
    else:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            raise NetworkError(f"ip: '{ip}' is not an IP address.") from None
        if address not in plan.network:
            raise NetworkError(f"ip: {address} is not in subnet {plan.cidr}.")
        text = str(address)
        if conn.execute(select(r.c.id).where(r.c.ip == text)).first() is not None:
            raise NetworkError(f"ip: {text} is already reserved.")
    reserved_id = conn.execute(insert(r).values(
        subnet_id=subnet_id, ip=text, mac_address=mac_address,
        comment=comment)).inserted_primary_key[0]
    if ip is None:
        conn.execute(update(c).where(c.c.ip == text).values(reserved_id=reserved_id))
    else:
        try:
            claim_exact(conn, subnet_id, text, reserved_id=reserved_id)
        except AddressError as error:
            raise NetworkError(str(error).replace("ip_address:", "ip:")) from None
    return _reserved_json(conn.execute(select(r).where(r.c.id == reserved_id)).one())


def list_reserved_ips(conn: Connection) -> list[dict[str, Any]]:
    return [_reserved_json(r) for r in
            conn.execute(select(t.reserved_ips).order_by(t.reserved_ips.c.id))]


def set_vlan_dhcp(conn: Connection, vlan_id: int, **values: Any) -> None:
    """dhcp_on, primary_rack, secondary_rack (rack system ids), mtu, name."""
    conn.execute(update(t.vlans).where(t.vlans.c.id == vlan_id).values(**values))


def dhcp_for_rack(conn: Connection, rack_system_id: str) -> list[dict[str, Any]]:
    """The subnets whose DHCP this rack serves now, with ranges and reservations: those on
    VLANs with DHCP on for which it is the serving rack (primary, secondary, failover).
    A constant number of queries, whatever the number of subnets."""
    now = utcnow()
    racks = list_racks(conn)
    vlans = {row.id: row for row in conn.execute(select(t.vlans).where(t.vlans.c.dhcp_on))}
    if not vlans:
        return []
    subnets = conn.execute(select(t.subnets).where(t.subnets.c.vlan_id.in_(vlans))).all()
    by_vlan: dict[int, list[Any]] = {}
    for subnet in subnets:
        by_vlan.setdefault(subnet.vlan_id, []).append(subnet)
    mine = [subnet for vlan_id, members in by_vlan.items()
            if serving_rack(vlans[vlan_id].primary_rack, vlans[vlan_id].secondary_rack,
                            [s.cidr for s in members], racks, now) == rack_system_id
            for subnet in members]
    ids = [s.id for s in mine]
    ranges = conn.execute(select(t.ip_ranges).where(t.ip_ranges.c.subnet_id.in_(ids))
                          .order_by(t.ip_ranges.c.id)).all()
    reserved = conn.execute(select(t.reserved_ips).where(
        t.reserved_ips.c.subnet_id.in_(ids), t.reserved_ips.c.mac_address.is_not(None))).all()
    # Machines' static, sticky and (deployed) AUTO addresses are host reservations too.
    i, link, m = t.interfaces, t.ip_links, t.machines
    static = conn.execute(
        select(link.c.subnet_id, link.c.ip_address, i.c.mac_address, m.c.hostname)
        .join(i, i.c.id == link.c.interface_id).join(m, m.c.id == i.c.machine_id)
        .where(link.c.subnet_id.in_(ids), link.c.ip_address.is_not(None),
               link.c.mode.in_(("static", "sticky", "auto")),
               i.c.mac_address.is_not(None))).all()
    out = []
    for subnet in mine:
        dynamic = [{"start": r.start_ip, "end": r.end_ip} for r in ranges
                   if r.subnet_id == subnet.id and r.type == "dynamic"]
        if not dynamic:
            continue  # DHCP on, but nothing to hand out on this subnet
        hosts = [{"mac": r.mac_address, "ip": r.ip, "hostname": ""} for r in reserved
                 if r.subnet_id == subnet.id]
        hosts += [{"mac": r.mac_address, "ip": r.ip_address, "hostname": r.hostname}
                  for r in static if r.subnet_id == subnet.id]
        out.append({"cidr": subnet.cidr, "gateway": subnet.gateway_ip,
                    "dns_servers": list(subnet.dns_servers or []), "ranges": dynamic,
                    "reservations": hosts})
    return out


# Booting machines.

def enlistment_token(conn: Connection, create: bool = True) -> str | None:
    if not create:
        row = conn.execute(select(t.settings.c.value).where(
            t.settings.c.name == ENLISTMENT_TOKEN)).first()
        return None if row is None else row.value
    return get_or_create_setting(conn, ENLISTMENT_TOKEN, lambda: secrets.token_urlsafe(24))


def rotate_enlistment_token(conn: Connection) -> str:
    token = secrets.token_urlsafe(24)
    enlistment_token(conn)
    conn.execute(update(t.settings).where(t.settings.c.name == ENLISTMENT_TOKEN)
                 .values(value=token))
    return token


def machine_token(conn: Connection, machine_id: int, create: bool = True) -> str | None:
    """The machine's metadata token, created on first use (None if absent and not
    `create`)."""
    mt = t.machine_tokens
    row = conn.execute(select(mt.c.token).where(mt.c.machine_id == machine_id)).first()
    if row is not None:
        return row.token
    if not create:
        return None
    token = secrets.token_urlsafe(30)
    conn.execute(insert(mt).values(machine_id=machine_id, token=token))
    return token


def boot_target(conn: Connection, mac: str | None, create_token: bool = True) -> BootTarget:
    """What the region knows about the machine with this MAC. Its metadata token is made
    on its first boot (on a write connection); with `create_token=False` a machine without
    one has token None, so that the caller can read first and write only when needed."""
    if mac is None:
        return BootTarget(mac="")
    i, m = t.interfaces, t.machines
    row = conn.execute(
        select(m.c.id, m.c.system_id, m.c.status, m.c.architecture, m.c.netboot)
        .join(i, i.c.machine_id == m.c.id).where(i.c.mac_address == mac.lower())
        .order_by(m.c.id).limit(1)).first()
    if row is None:
        return BootTarget(mac=mac)
    return BootTarget(
        mac=mac, architecture=row.architecture or "amd64/generic",
        status=NodeStatus(row.status), system_id=row.system_id, netboot=row.netboot,
        token=machine_token(conn, row.id, create_token))
