"""Handing out addresses, race-free: every address given (a STATIC or AUTO link, a host
reservation) is a row of `ip_claims`, whose `ip` is unique, so two transactions, threads
or region processes can never both get one. The rules of which address may be given are
in `baremetal.network.ipam`; here are the queries: a constant number per address, with
one index lookup for the highest address of the subnet however many are taken."""

from __future__ import annotations

import ipaddress

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from baremetal.network.ipam import (
    AddressError,
    SubnetPlan,
    check_static,
    lowest_hole,
    next_above,
    to_text,
)

from . import schema as t

# Each lost race means another claimant got an address, so retries end when the subnet
# fills up; the cap is only a guard.
ATTEMPTS = 10_000


class SubnetFull(RuntimeError):
    """No free address is left in the subnet (a 409: the request was fine)."""


def subnet_plan(conn: Connection, subnet_id: int) -> SubnetPlan:
    row = conn.execute(select(t.subnets).where(t.subnets.c.id == subnet_id)).first()
    if row is None:
        raise AddressError(f"subnet: no subnet with id {subnet_id}.")
    ranges = conn.execute(select(t.ip_ranges.c.type, t.ip_ranges.c.start_ip,
                                 t.ip_ranges.c.end_ip)
                          .where(t.ip_ranges.c.subnet_id == subnet_id)).all()
    network = ipaddress.ip_network(row.cidr, strict=False)
    controllers = tuple(
        str(ipaddress.ip_interface(address).ip)
        for interfaces in conn.execute(select(t.rack_controllers.c.interfaces)).scalars()
        for nic in interfaces or [] for address in nic.get("addresses", [])
        if ipaddress.ip_interface(address).ip in network)
    return SubnetPlan(row.cidr, row.gateway_ip, tuple(row.dns_servers or ()),
                      tuple((r.type, r.start_ip, r.end_ip) for r in ranges), controllers)


def _insert(conn: Connection, subnet_id: int, ip: str, link_id: int | None,
            reserved_id: int | None) -> bool:
    address = ipaddress.ip_address(ip)
    try:
        with conn.begin_nested():
            conn.execute(insert(t.ip_claims).values(
                subnet_id=subnet_id, ip=str(address),
                ip_int=int(address) if address.version == 4 else None,
                link_id=link_id, reserved_id=reserved_id))
    except IntegrityError:
        return False
    return True


def claim_exact(conn: Connection, subnet_id: int, ip: str, *, link_id: int | None = None,
                reserved_id: int | None = None) -> str:
    """Claim this very address (already checked by the caller); AddressError if held."""
    if not _insert(conn, subnet_id, ip, link_id, reserved_id):
        raise AddressError(f"ip_address: {ip} is already in use.")
    return ip


def claim_address(conn: Connection, subnet_id: int, *, ip: str | None = None,
                  link_id: int | None = None, reserved_id: int | None = None,
                  plan: SubnetPlan | None = None) -> str:
    """Claim `ip` (checked against the subnet's rules and every other claim), or the next
    free address of the subnet. AddressError for an address that cannot be given,
    SubnetFull when none is left."""
    plan = plan or subnet_plan(conn, subnet_id)
    if ip is not None:
        return claim_exact(conn, subnet_id, to_text(plan, check_static(plan, ip)),
                           link_id=link_id, reserved_id=reserved_id)
    if plan.network.version != 4:
        raise AddressError(f"subnet {plan.cidr}: addresses are picked automatically on IPv4 "
                           "subnets only; give an ip_address.")
    c = t.ip_claims
    for _ in range(ATTEMPTS):
        highest = conn.execute(select(func.max(c.c.ip_int)).where(
            c.c.subnet_id == subnet_id)).scalar()
        value = next_above(plan, highest)
        if value is None:  # the top is used up: the lowest hole below
            taken = conn.execute(select(c.c.ip_int).where(
                c.c.subnet_id == subnet_id, c.c.ip_int.is_not(None)).order_by(c.c.ip_int)
            ).scalars()
            value = lowest_hole(plan, taken)
        if value is None:
            raise SubnetFull(f"Subnet {plan.cidr} has no free address left.")
        text = to_text(plan, value)
        if _insert(conn, subnet_id, text, link_id, reserved_id):
            return text
    raise SubnetFull(f"Subnet {plan.cidr}: could not claim an address after {ATTEMPTS} "
                     "tries (many claims at once); try again.")


def assign_auto_addresses(conn: Connection, machine_id: int) -> list[str]:
    """At deploy: every AUTO link of the machine without an address gets one (all or
    none: the caller's transaction rolls back on SubnetFull)."""
    i, link = t.interfaces, t.ip_links
    links = conn.execute(select(link.c.id, link.c.subnet_id).join(
        i, i.c.id == link.c.interface_id).where(
        i.c.machine_id == machine_id, link.c.mode == "auto", link.c.ip_address.is_(None),
        link.c.subnet_id.is_not(None)).order_by(link.c.id)).all()
    given, plans = [], {}
    for row in links:
        if row.subnet_id not in plans:
            plans[row.subnet_id] = subnet_plan(conn, row.subnet_id)
        ip = claim_address(conn, row.subnet_id, link_id=row.id, plan=plans[row.subnet_id])
        conn.execute(update(link).where(link.c.id == row.id).values(ip_address=ip))
        given.append(ip)
    return given


def release_auto_addresses(conn: Connection, machine_id: int) -> None:
    """At release: AUTO addresses go back to the pool (STATIC ones stay)."""
    i, link = t.interfaces, t.ip_links
    auto = select(link.c.id).join(i, i.c.id == link.c.interface_id).where(
        i.c.machine_id == machine_id, link.c.mode == "auto")
    conn.execute(delete(t.ip_claims).where(t.ip_claims.c.link_id.in_(auto)))
    conn.execute(update(link).where(link.c.id.in_(auto)).values(ip_address=None))


def subnet_addresses(conn: Connection, subnet_id: int) -> list[dict]:
    """Every claimed address of the subnet, with what holds it."""
    c, link, i, m = t.ip_claims, t.ip_links, t.interfaces, t.machines
    rows = conn.execute(
        select(c.c.ip, c.c.reserved_id, link.c.mode, m.c.hostname, m.c.system_id)
        .select_from(c.outerjoin(link, link.c.id == c.c.link_id)
                     .outerjoin(i, i.c.id == link.c.interface_id)
                     .outerjoin(m, m.c.id == i.c.machine_id))
        .where(c.c.subnet_id == subnet_id).order_by(c.c.ip_int, c.c.ip)).all()
    return [{"ip": r.ip, "alloc_type_name": "Reserved" if r.reserved_id else
             {"auto": "Automatic", "static": "User reserved", "sticky": "Sticky"}.get(
                 r.mode or "", "Automatic"),
             "node_summary": {"hostname": r.hostname, "system_id": r.system_id}
             if r.system_id else None} for r in rows]
