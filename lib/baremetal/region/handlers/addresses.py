"""What a subnet's addresses are doing (`subnets/{id}/?op=ip_addresses|statistics|
unreserved_ip_ranges`) and reserving addresses by hand (`ipaddresses/`), on the same
claims as everything else, so a reserved address is never handed to a machine."""

from __future__ import annotations

from flask import Response
from sqlalchemy import select

from baremetal.network.ipam import free_blocks, statistics, to_text
from baremetal.store import schema as t
from baremetal.store.boot import NetworkError, create_reserved_ip
from baremetal.store.ipam import subnet_addresses, subnet_plan
from baremetal.store.references import find_subnet

from ..errors import BadRequest, Forbidden, NotFound
from ..registry import registry
from .network import subnet

ipaddresses = registry.resource("IPAddressesHandler", "/ipaddresses/",
                                "Addresses reserved by hand.")


def _subnet_id(conn, value: str) -> int:  # type: ignore[no-untyped-def]
    row = find_subnet(conn, value)
    if row is None:
        raise NotFound("No Subnet matches the given query.")
    return row.id


def _taken(conn, subnet_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    return list(conn.execute(select(t.ip_claims.c.ip_int).where(
        t.ip_claims.c.subnet_id == subnet_id, t.ip_claims.c.ip_int.is_not(None))
        .order_by(t.ip_claims.c.ip_int)).scalars())


@subnet.action("GET", "ip_addresses")
def ip_addresses(call, subnet_id):  # type: ignore[no-untyped-def]
    """Every address handed out on the subnet, with what holds it."""
    with call.store.read() as conn:
        return subnet_addresses(conn, _subnet_id(conn, subnet_id))


@subnet.action("GET", "statistics")
def subnet_statistics(call, subnet_id):  # type: ignore[no-untyped-def]
    """Totals, available and unavailable addresses, the largest free run, usage."""
    with call.store.read() as conn:
        number = _subnet_id(conn, subnet_id)
        return statistics(subnet_plan(conn, number), _taken(conn, number))


@subnet.action("GET", "unreserved_ip_ranges")
def unreserved_ip_ranges(call, subnet_id):  # type: ignore[no-untyped-def]
    """The runs of addresses nothing holds or reserves: start, end, num_addresses."""
    with call.store.read() as conn:
        number = _subnet_id(conn, subnet_id)
        plan = subnet_plan(conn, number)
        blocks = free_blocks(plan, _taken(conn, number))
    return [{"start": to_text(plan, start), "end": to_text(plan, end),
             "num_addresses": end - start + 1} for start, end in blocks]


def _reserved_json(row) -> dict:  # type: ignore[no-untyped-def]
    return {"ip": row.ip, "alloc_type": 4, "alloc_type_name": "User reserved",
            "mac_address": row.mac_address, "comment": row.comment,
            "subnet": {"id": row.subnet_id}, "resource_uri": "/MAAS/api/2.0/ipaddresses/"}


@ipaddresses.action("GET")
def read_ipaddresses(call):  # type: ignore[no-untyped-def]
    """Addresses reserved by the caller (every one, for an admin)."""
    user = call.viewer
    r = t.reserved_ips
    with call.store.read() as conn:
        rows = conn.execute(select(r).order_by(r.c.id)).all()
    return [_reserved_json(row) for row in rows
            if user.is_superuser or row.comment == f"reserved by {user.username}"]


@ipaddresses.action("POST", "reserve")
def reserve(call):  # type: ignore[no-untyped-def]
    """Reserve an address: subnet (id or CIDR) and optionally ip (else the next free
    one); or ip alone (its subnet is found); mac (optional) makes it a DHCP host
    reservation too."""
    p = call.params
    ip = p.get("ip") or p.get("ip_address")
    with call.store.write() as conn:
        if p.get("subnet"):
            number = _subnet_id(conn, p.get("subnet"))
        elif ip:
            import ipaddress

            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                raise BadRequest(f"ip: '{ip}' is not an IP address.") from None
            number = next((row.id for row in conn.execute(select(t.subnets))
                           if address in ipaddress.ip_network(row.cidr, strict=False)), None)
            if number is None:
                raise BadRequest(f"ip: {ip} is in no known subnet.")
        else:
            raise BadRequest("subnet or ip: give one.")
        try:
            created = create_reserved_ip(conn, number, ip or None, p.get("mac") or None,
                                         f"reserved by {call.viewer.username}")
        except NetworkError as error:
            raise BadRequest(str(error)) from None
    return {**created, "alloc_type": 4, "alloc_type_name": "User reserved"}


@ipaddresses.action("POST", "release")
def release(call):  # type: ignore[no-untyped-def]
    """Release an address the caller reserved (an admin may release any)."""
    ip = call.params.required("ip")
    r = t.reserved_ips
    with call.store.write() as conn:
        row = conn.execute(select(r).where(r.c.ip == ip)).first()
        if row is None:
            raise NotFound(f"{ip} is not reserved.")
        user = call.viewer
        if not user.is_superuser and row.comment != f"reserved by {user.username}":
            raise Forbidden(f"{ip} was not reserved by you.")
        conn.execute(r.delete().where(r.c.id == row.id))
    return Response(status=204)
